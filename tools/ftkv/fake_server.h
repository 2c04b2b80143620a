// An in-process kv server on UDP (the protocol of protocol.h, the semantics of KvStore), with
// faults: drop a fraction of requests or replies, pause (drop everything), forget all state.
// Used by the tests and by `ftkv serve` to exercise clients without a guest.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "tools/ftkv/kv_store.h"

namespace ftd::ftkv {

struct FakeServerOptions {
  std::string address = "127.0.0.1";  // IPv4 address to bind
  uint16_t port = 0;                  // 0: an ephemeral port (see FakeKvServer::port)
  double drop_requests = 0;           // fraction of received requests ignored
  double drop_replies = 0;            // fraction of replies computed (applied!) but not sent
  uint64_t seed = 1;
};

class FakeKvServer {
 public:
  explicit FakeKvServer(FakeServerOptions options) : options_(std::move(options)) {}
  ~FakeKvServer() { Stop(); }
  FakeKvServer(const FakeKvServer&) = delete;
  FakeKvServer& operator=(const FakeKvServer&) = delete;

  absl::Status Start();
  void Stop();
  uint16_t port() const { return port_; }

  void SetPaused(bool paused) { paused_ = paused; }
  void ClearState();  // a server that lost its state
  uint64_t requests_received() const { return received_; }
  uint64_t requests_dropped() const { return dropped_; }

 private:
  void Serve();

  FakeServerOptions options_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> paused_{false};
  std::atomic<uint64_t> received_{0};
  std::atomic<uint64_t> dropped_{0};
  std::mutex mu_;  // guards store_
  KvStore store_;
};

}  // namespace ftd::ftkv
