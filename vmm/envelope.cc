#include "vmm/envelope.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cstring>

#include "absl/strings/str_format.h"

namespace ftd::vmm {
uint32_t Crc32(std::span<const uint8_t> d) {
  uLong c = crc32(0L, Z_NULL, 0);
  // zlib takes uInt lengths: feed large payloads in pieces.
  for (size_t off = 0; off < d.size();) {
    size_t n = std::min<size_t>(d.size() - off, 1u << 30);
    c = crc32(c, d.data() + off, static_cast<uInt>(n));
    off += n;
  }
  return static_cast<uint32_t>(c);
}

std::vector<uint8_t> WrapEnvelope(const EnvelopeKind& kind, std::span<const uint8_t> payload) {
  std::vector<uint8_t> out(kEnvelopeHeaderSize + payload.size());
  std::memcpy(out.data(), kind.magic.data(), 8);
  Put32(&out[8], kind.version);
  Put32(&out[12], 0);
  Put64(&out[16], payload.size());
  Put32(&out[24], Crc32(payload));
  Put32(&out[28], Crc32({out.data(), 28}));
  std::memcpy(out.data() + kEnvelopeHeaderSize, payload.data(), payload.size());
  return out;
}

absl::StatusOr<std::span<const uint8_t>> UnwrapEnvelope(const EnvelopeKind& kind,
                                                        std::span<const uint8_t> file,
                                                        std::string_view what) {
  if (file.size() < kEnvelopeHeaderSize) {
    return absl::DataLossError(absl::StrFormat("%s: truncated (%u bytes, the header alone is %u)",
                                               what, file.size(), kEnvelopeHeaderSize));
  }
  if (std::memcmp(file.data(), kind.magic.data(), 8) != 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: not a %s file (wrong magic)", what,
                        std::string(kind.magic.data(), strnlen(kind.magic.data(), 8))));
  }
  if (Get32(&file[28]) != Crc32(file.first(28))) {
    return absl::DataLossError(absl::StrFormat("%s: header is corrupted (CRC mismatch)", what));
  }
  uint32_t version = Get32(&file[8]);
  if (version != kind.version) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s: format version %u, this ftd reads version %u only", what, version, kind.version));
  }
  if (Get32(&file[12]) != 0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: reserved header field is not zero", what));
  }
  uint64_t len = Get64(&file[16]);
  if (len > kind.max_payload) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "%s: payload of %u bytes exceeds the limit of %u bytes", what, len, kind.max_payload));
  }
  if (len != file.size() - kEnvelopeHeaderSize) {
    return absl::DataLossError(
        absl::StrFormat("%s: header says %u payload bytes, file has %u (truncated?)", what, len,
                        file.size() - kEnvelopeHeaderSize));
  }
  std::span<const uint8_t> payload = file.subspan(kEnvelopeHeaderSize);
  if (Get32(&file[24]) != Crc32(payload)) {
    return absl::DataLossError(absl::StrFormat("%s: payload is corrupted (CRC mismatch)", what));
  }
  return payload;
}

absl::Status PwriteAll(int fd, std::span<const uint8_t> data, uint64_t offset,
                       std::string_view what) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n =
        pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return absl::InternalError(absl::StrFormat("writing %s at offset %u: %s", what, offset + done,
                                                 n == 0 ? "no progress" : strerror(errno)));
    }
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status WriteFileAtomically(const std::string& path, std::span<const uint8_t> data) {
  std::string tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return absl::InternalError(absl::StrFormat("cannot create %s: %s", tmp, strerror(errno)));
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      close(fd);
      unlink(tmp.c_str());
      return absl::InternalError(absl::StrFormat("writing %s: %s", tmp, strerror(e)));
    }
    off += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0 || close(fd) != 0) {
    unlink(tmp.c_str());
    return absl::InternalError(absl::StrFormat("flushing %s: %s", tmp, strerror(errno)));
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::InternalError(
        absl::StrFormat("renaming %s to %s: %s", tmp, path, strerror(errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<uint8_t>> ReadWholeFile(const std::string& path, uint64_t max_size) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    if (e == ENOENT) return absl::NotFoundError(absl::StrFormat("%s: no such file", path));
    return absl::PermissionDeniedError(absl::StrFormat("cannot open %s: %s", path, strerror(e)));
  }
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return absl::InvalidArgumentError(absl::StrFormat("%s: not a regular file", path));
  }
  if (static_cast<uint64_t>(st.st_size) > max_size) {
    close(fd);
    return absl::ResourceExhaustedError(
        absl::StrFormat("%s: %u bytes, larger than the limit of %u", path, st.st_size, max_size));
  }
  std::vector<uint8_t> buf(static_cast<size_t>(st.st_size));
  size_t off = 0;
  while (off < buf.size()) {
    ssize_t n = read(fd, buf.data() + off, buf.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  close(fd);
  buf.resize(off);
  return buf;
}

}  // namespace ftd::vmm
