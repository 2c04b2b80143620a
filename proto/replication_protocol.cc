#include "proto/replication_protocol.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace ftd::repl {
namespace {

template <typename T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using KeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using StorePtr = std::unique_ptr<X509_STORE, Deleter<X509_STORE, X509_STORE_free>>;
using StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, Deleter<X509_STORE_CTX, X509_STORE_CTX_free>>;

absl::StatusOr<std::string> ReadFile(const std::string& path, const char* what) {
  if (path.empty()) return absl::InvalidArgumentError(absl::StrCat("no ", what, " file given"));
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat("cannot read ", what, " ", path, " (make one with deploy/make-certs.sh)"));
  }
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string OpenSslError() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "no detail";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

BioPtr MemBio(const std::string& pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

}  // namespace

absl::StatusOr<TlsMaterial> LoadTlsMaterial(const TlsFiles& files) {
  TlsMaterial m;
  auto ca = ReadFile(files.ca_cert, "CA certificate");
  if (!ca.ok()) return ca.status();
  auto cert = ReadFile(files.cert, "certificate");
  if (!cert.ok()) return cert.status();
  auto key = ReadFile(files.key, "private key");
  if (!key.ok()) return key.status();
  m.ca_cert = *std::move(ca);
  m.cert = *std::move(cert);
  m.key = *std::move(key);

  X509Ptr ca_x(PEM_read_bio_X509(MemBio(m.ca_cert).get(), nullptr, nullptr, nullptr));
  if (!ca_x) {
    return absl::InvalidArgumentError(
        absl::StrCat(files.ca_cert, ": not a PEM certificate: ", OpenSslError()));
  }
  X509Ptr cert_x(PEM_read_bio_X509(MemBio(m.cert).get(), nullptr, nullptr, nullptr));
  if (!cert_x) {
    return absl::InvalidArgumentError(
        absl::StrCat(files.cert, ": not a PEM certificate: ", OpenSslError()));
  }
  KeyPtr key_p(PEM_read_bio_PrivateKey(MemBio(m.key).get(), nullptr, nullptr, nullptr));
  if (!key_p) {
    return absl::InvalidArgumentError(
        absl::StrCat(files.key, ": not a PEM private key (or it is encrypted): ", OpenSslError()));
  }
  if (X509_check_private_key(cert_x.get(), key_p.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        absl::StrCat(files.key, " is not the key of ", files.cert, ": use the pair made together"));
  }
  StorePtr store(X509_STORE_new());
  StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!store || !ctx || X509_STORE_add_cert(store.get(), ca_x.get()) != 1 ||
      X509_STORE_CTX_init(ctx.get(), store.get(), cert_x.get(), nullptr) != 1) {
    return absl::InternalError(absl::StrCat("OpenSSL: ", OpenSslError()));
  }
  if (X509_verify_cert(ctx.get()) != 1) {
    int err = X509_STORE_CTX_get_error(ctx.get());
    ERR_clear_error();
    return absl::InvalidArgumentError(
        absl::StrCat(files.cert, " does not verify against ", files.ca_cert, ": ",
                     X509_verify_cert_error_string(err), " (remake it with deploy/make-certs.sh)"));
  }
  return m;
}

int64_t SteadyNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

uint64_t UnixNowNs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

}  // namespace ftd::repl
