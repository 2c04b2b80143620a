#include "tools/ftkv/fake_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

#include "fmt/format.h"

namespace ftd::ftkv {

absl::Status FakeKvServer::Start() {
  if (fd_ >= 0) return absl::FailedPreconditionError("fake kv server already started");
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(options_.port);
  if (inet_pton(AF_INET, options_.address.c_str(), &sa.sin_addr) != 1) {
    return absl::InvalidArgumentError(
        fmt::format("fake kv server: '{}' is not an IPv4 address", options_.address));
  }
  fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return absl::InternalError(fmt::format("socket: {}", strerror(errno)));
  if (bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    int e = errno;
    close(fd_);
    fd_ = -1;
    return absl::UnavailableError(fmt::format("fake kv server: bind {}:{}: {}", options_.address,
                                              options_.port, strerror(e)));
  }
  socklen_t len = sizeof sa;
  getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len);
  port_ = ntohs(sa.sin_port);
  stop_ = false;
  thread_ = std::thread([this] { Serve(); });
  return absl::OkStatus();
}

void FakeKvServer::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

void FakeKvServer::ClearState() {
  std::lock_guard<std::mutex> lock(mu_);
  store_.Clear();
}

void FakeKvServer::Serve() {
  std::mt19937_64 rng(options_.seed);
  std::uniform_real_distribution<double> coin(0.0, 1.0);
  char buf[kMaxDatagram + 1];
  // Bounded by stop_: every poll waits at most 20 ms.
  while (!stop_) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 20) <= 0) continue;
    sockaddr_in from{};
    socklen_t flen = sizeof from;
    ssize_t n =
        recvfrom(fd_, buf, sizeof buf, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &flen);
    if (n < 0) continue;
    ++received_;
    if (paused_ || (options_.drop_requests > 0 && coin(rng) < options_.drop_requests)) {
      ++dropped_;
      continue;
    }
    std::string reply;
    {
      std::lock_guard<std::mutex> lock(mu_);
      reply = store_.ApplyDatagram(std::string_view(buf, static_cast<size_t>(n)));
    }
    if (options_.drop_replies > 0 && coin(rng) < options_.drop_replies) {
      ++dropped_;
      continue;
    }
    sendto(fd_, reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&from), flen);
  }
}

}  // namespace ftd::ftkv
