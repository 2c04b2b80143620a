#include "cli/pair_common.h"

#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace ftd::cli {

absl::Status CheckPairOptions(const PairOptions& pair) {
  if (pair.disk_mode != "replicated" && pair.disk_mode != "shared") {
    return absl::InvalidArgumentError(
        absl::StrFormat("--disk-mode '%s': expected 'replicated' or 'shared'", pair.disk_mode));
  }
  if (pair.insecure && (!pair.ca.empty() || !pair.cert.empty() || !pair.key.empty())) {
    return absl::InvalidArgumentError("--insecure and --ca/--cert/--key exclude each other");
  }
  if (!pair.insecure && (pair.ca.empty() || pair.cert.empty() || pair.key.empty())) {
    return absl::InvalidArgumentError(
        "the replication stream needs mutual TLS: give --ca, --cert and --key "
        "(deploy/make-certs.sh "
        "makes them), or --insecure for a trusted lab");
  }
  if (pair.heartbeat_ms == 0 || pair.peer_timeout_ms < 2 * pair.heartbeat_ms) {
    return absl::InvalidArgumentError(
        "--peer-timeout-ms must be at least twice --heartbeat-ms (and the heartbeat positive)");
  }
  if (pair.vm_id.empty()) return absl::InvalidArgumentError("--vm-id must not be empty");
  return absl::OkStatus();
}

std::string WithDefaultPort(const std::string& address) {
  // HOST:PORT, [V6]:PORT; a bare IPv6 address has several colons and no brackets.
  const size_t colon = address.rfind(':');
  const bool has_port =
      colon != std::string::npos &&
      (address.find(':') == colon || (address[0] == '[' && address[colon - 1] == ']'));
  return has_port ? address : absl::StrCat(address, ":", kDefaultReplicationPort);
}

repl::TlsFiles TlsFilesOf(const PairOptions& pair) {
  return repl::TlsFiles{pair.ca, pair.cert, pair.key};
}

std::string NodeName(const PairOptions& pair) {
  if (!pair.node.empty()) return pair.node;
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') return "localhost";
  return host;
}

std::string StatusPath(const PairOptions& pair) {
  if (!pair.status_file.empty()) return pair.status_file;
  mkdir("/run/ftd", 0755);
  return absl::StrCat("/run/ftd/ftd-", pair.role, ".status");
}

}  // namespace ftd::cli
