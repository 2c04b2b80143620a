#include "tools/ftkv/kv_store.h"

#include <vector>

#include "fmt/format.h"

namespace ftd::ftkv {

Reply KvStore::Apply(const Request& req) {
  auto it = last_.find(req.client);
  if (it != last_.end()) {
    if (req.seq == it->second.seq) return it->second.reply;
    if (req.seq < it->second.seq) return Reply{req.client, req.seq, Status::kErr, "stale-request"};
  }
  Reply r = Execute(req);
  last_[req.client] = LastReply{req.seq, r};
  return r;
}

Reply KvStore::Execute(const Request& req) {
  Reply r{req.client, req.seq, Status::kOk, ""};
  switch (req.op) {
    case Op::kSet:
      data_[req.key] = req.value;
      break;
    case Op::kGet: {
      auto it = data_.find(req.key);
      if (it == data_.end()) {
        r.status = Status::kNotFound;
      } else {
        r.value = it->second;
      }
      break;
    }
    case Op::kIncr: {
      uint64_t n = 0;
      auto it = data_.find(req.key);
      if (it != data_.end()) {
        auto v = ParseDecimalU64(it->second);
        if (!v || *v == UINT64_MAX)
          return Reply{req.client, req.seq, Status::kErr, "not-a-counter"};
        n = *v;
      }
      r.value = std::to_string(n + 1);
      data_[req.key] = r.value;
      break;
    }
    case Op::kDel:
      if (data_.erase(req.key) == 0) r.status = Status::kNotFound;
      break;
  }
  return r;
}

std::string KvStore::ApplyDatagram(std::string_view datagram) {
  auto req = ParseRequest(datagram);
  if (req.ok()) return FormatReply(Apply(*req));
  // Echo the ids when they parse, so the client can match the error to its request.
  std::vector<std::string_view> f = SplitFields(datagram, ' ', 3);
  uint32_t client = 0;
  uint64_t seq = 0;
  if (f.size() >= 2) {
    auto c = ParseDecimalU64(f[0]);
    auto s = ParseDecimalU64(f[1]);
    if (c && *c >= 1 && *c <= UINT32_MAX && s) {
      client = static_cast<uint32_t>(*c);
      seq = *s;
    }
  }
  return fmt::format("{} {} ERR bad-request", client, seq);
}

void KvStore::Clear() {
  data_.clear();
  last_.clear();
}

}  // namespace ftd::ftkv
