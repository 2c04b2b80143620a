#include "replay/digest.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <string.h>
#include <unistd.h>

#include <memory>
#include <vector>

#include "absl/strings/str_format.h"

namespace ftd::replay {
namespace {
struct CtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
std::string Final(EVP_MD_CTX* c) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_DigestFinal_ex(c, out, &n);
  return std::string(reinterpret_cast<char*>(out), n);
}
}  // namespace

std::string Sha256(std::span<const uint8_t> data) {
  std::unique_ptr<EVP_MD_CTX, CtxFree> c(EVP_MD_CTX_new());
  EVP_DigestInit_ex(c.get(), EVP_sha256(), nullptr);
  EVP_DigestUpdate(c.get(), data.data(), data.size());
  return Final(c.get());
}

absl::StatusOr<std::string> Sha256File(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return absl::NotFoundError(absl::StrFormat("cannot open %s: %s", path, strerror(errno)));
  std::unique_ptr<EVP_MD_CTX, CtxFree> c(EVP_MD_CTX_new());
  EVP_DigestInit_ex(c.get(), EVP_sha256(), nullptr);
  std::vector<uint8_t> buf(1 << 20);
  for (;;) {
    ssize_t n = read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      close(fd);
      return absl::InternalError(absl::StrFormat("reading %s: %s", path, strerror(e)));
    }
    if (n == 0) break;
    EVP_DigestUpdate(c.get(), buf.data(), static_cast<size_t>(n));
  }
  close(fd);
  return Final(c.get());
}

std::string Hex(const std::string& bytes) {
  std::string out;
  for (unsigned char b : bytes) out += absl::StrFormat("%02x", b);
  return out;
}

}  // namespace ftd::replay
