#include "replay/recording_header.h"

#include <algorithm>
#include <cstring>

#include "replay/digest.h"

namespace ftd::replay {

absl::StatusOr<proto::LogHeader> RecordingHeader(vmm::Machine& m, std::span<const uint8_t> image,
                                                 const std::string& disk_path) {
  proto::LogHeader h;
  const vmm::MachineConfig& c = m.config();
  auto* mc = h.mutable_config();
  mc->set_mem_size(c.mem_size);
  mc->set_cmdline(c.cmdline);
  mc->set_image_sha256(Sha256(image));
  mc->set_net(c.net);
  mc->set_mac(std::string(c.mac.begin(), c.mac.end()));
  const auto& cpuid = m.cpuid();
  h.set_cpuid(
      std::string(reinterpret_cast<const char*>(cpuid.data()), cpuid.size() * sizeof(cpuid[0])));
  if (auto geo = m.disk_geometry()) {
    auto digest = Sha256File(disk_path);
    if (!digest.ok()) return digest.status();
    h.set_disk_sha256(*digest);
    h.set_disk_capacity(geo->capacity_bytes);
    h.set_disk_read_only(geo->read_only);
    h.set_disk_serial(geo->serial);
    mc->set_disk_read_only(geo->read_only);
  }
  h.set_start_exit_index(m.exit_index());
  return h;
}

absl::StatusOr<vmm::MachineConfig> ConfigFromLog(const proto::LogHeader& h,
                                                 const HostResources& host) {
  vmm::MachineConfig c;
  c.mem_size = h.config().mem_size();
  c.cmdline = h.config().cmdline();
  c.net = host.net != "none" ? host.net : h.config().net();
  if (c.net.empty()) c.net = "none";
  const std::string& mac = h.config().mac();
  if (mac.size() == 6) std::copy(mac.begin(), mac.end(), c.mac.begin());
  const std::string& cpuid = h.cpuid();
  if (cpuid.size() % sizeof(kvm_cpuid_entry2) != 0) {
    return absl::DataLossError("the log's CPUID record is malformed");
  }
  c.cpuid.resize(cpuid.size() / sizeof(kvm_cpuid_entry2));
  std::memcpy(c.cpuid.data(), cpuid.data(), cpuid.size());
  if (h.disk_capacity() != 0) {
    c.disk_geometry = vmm::VirtioBlkConfig{h.disk_capacity(), h.disk_read_only(), h.disk_serial()};
    c.disk_path = host.disk;
    c.disk_read_only = h.disk_read_only();
  }
  c.replay_writes_disk = host.replay_writes_disk;
  // A replay: inputs at points only, from the log; the host's back ends wait for go-live.
  c.input_timing = vmm::MachineConfig::InputTiming::kAtPoints;
  c.backends = vmm::MachineConfig::Backends::kLog;
  return c;
}

}  // namespace ftd::replay
