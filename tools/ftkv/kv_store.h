// The kv service's state machine on the host: the reference model of the guest's kv service,
// served by FakeKvServer. Not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "tools/ftkv/protocol.h"

namespace ftd::ftkv {

class KvStore {
 public:
  // Applies a request exactly once: a retry of the client's last request-no gets the stored
  // reply again without re-applying; an older request-no gets ERR stale-request.
  Reply Apply(const Request& req);
  // Parses and applies one datagram; a request that does not parse gets ERR with client 0 /
  // request-no 0 unless its ids parsed.
  std::string ApplyDatagram(std::string_view datagram);
  // Forgets everything (data and the per-client replay table): a server that lost its state.
  void Clear();
  size_t size() const { return data_.size(); }

 private:
  Reply Execute(const Request& req);
  struct LastReply {
    uint64_t seq = 0;
    Reply reply;
  };
  std::map<std::string, std::string> data_;
  std::map<uint32_t, LastReply> last_;
};

}  // namespace ftd::ftkv
