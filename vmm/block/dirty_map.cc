#include "vmm/block/dirty_map.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <iterator>
#include <span>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "spdlog/spdlog.h"
#include "vmm/envelope.h"

namespace ftd::vmm {
namespace {

constexpr uint64_t kPage = 4096;
constexpr std::string_view kMagic = "FTDDIRTY";
constexpr uint32_t kMaxSlots = 64;
// Header page.
constexpr size_t kHdrVersion = 8, kHdrBlockSize = 12, kHdrImageSize = 16, kHdrLineage = 24,
                 kHdrSlots = 40, kHdrChunks = 44, kHdrFirst = 48, kHdrCrc = 56;
// Slot page.
constexpr size_t kSlotGeneration = 0, kSlotIndex = 8, kSlotCrc = 12;
// Chunk page: the bits, then what binds them to their place.
constexpr size_t kChunkBitBytes = 4080;
constexpr uint64_t kBlocksPerChunk = kChunkBitBytes * 8;
constexpr size_t kChunkGeneration = 4080, kChunkIndex = 4088, kChunkCrc = 4092;

uint32_t ChunksFor(uint64_t image_size) {
  const uint64_t blocks = (image_size + DirtyBlockMap::kBlockSize - 1) / DirtyBlockMap::kBlockSize;
  return static_cast<uint32_t>(
      std::max<uint64_t>(1, (blocks + kBlocksPerChunk - 1) / kBlocksPerChunk));
}
uint64_t SlotOffset(uint32_t chunks, size_t s) { return kPage * (1 + s * (1 + uint64_t{chunks})); }
uint64_t FileSize(uint32_t chunks, uint32_t slots) { return SlotOffset(chunks, slots); }

void SealHeaderPage(uint8_t* p, uint64_t image_size, const DirtyBlockMap::LineageId& lineage,
                    uint32_t slots, uint32_t chunks, uint64_t first_generation) {
  std::memset(p, 0, kPage);
  std::memcpy(p, kMagic.data(), 8);
  Put32(p + kHdrVersion, DirtyBlockMap::kVersion);
  Put32(p + kHdrBlockSize, static_cast<uint32_t>(DirtyBlockMap::kBlockSize));
  Put64(p + kHdrImageSize, image_size);
  std::memcpy(p + kHdrLineage, lineage.data(), lineage.size());
  Put32(p + kHdrSlots, slots);
  Put32(p + kHdrChunks, chunks);
  Put64(p + kHdrFirst, first_generation);
  Put32(p + kHdrCrc, Crc32({p, kHdrCrc}));
}

void SealSlotPage(uint8_t* p, uint64_t generation, size_t index) {
  std::memset(p, 0, kPage);
  Put64(p + kSlotGeneration, generation);
  Put32(p + kSlotIndex, static_cast<uint32_t>(index));
  Put32(p + kSlotCrc, Crc32({p, kSlotCrc}));
}

void SealChunkPage(uint8_t* p, const uint8_t* bits, uint64_t generation, uint32_t index) {
  std::memcpy(p, bits, kChunkBitBytes);
  Put64(p + kChunkGeneration, generation);
  Put32(p + kChunkIndex, index);
  Put32(p + kChunkCrc, Crc32({p, kChunkCrc}));
}

absl::Status SyncDirOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "."
                          : slash == 0               ? "/"
                                                     : path.substr(0, slash);
  const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return absl::InternalError(absl::StrFormat("cannot open %s: %s", dir, strerror(errno)));
  const int rc = fsync(fd);
  const int e = errno;
  close(fd);
  if (rc != 0) return absl::InternalError(absl::StrFormat("fsync %s: %s", dir, strerror(e)));
  return absl::OkStatus();
}

// Unlinks a map file (a missing one is fine), durably.
absl::Status RemoveMapFile(const std::string& path) {
  if (unlink(path.c_str()) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return absl::InternalError(absl::StrFormat("cannot remove %s: %s", path, strerror(errno)));
  }
  return SyncDirOf(path);
}

std::vector<uint64_t> BlocksIn(const std::vector<uint8_t>& bits) {
  std::vector<uint64_t> out;
  for (size_t i = 0; i < bits.size(); ++i) {
    for (uint8_t b = bits[i]; b != 0; b &= static_cast<uint8_t>(b - 1))
      out.push_back(i * 8 + static_cast<uint64_t>(__builtin_ctz(b)));
  }
  return out;
}

}  // namespace

std::string DirtyBlockMap::PathFor(const std::string& image_path) {
  return image_path + ".ftd-dirty";
}

DirtyBlockMap::LineageId DirtyBlockMap::NewLineage() {
  LineageId id{};
  size_t got = 0;
  while (got < id.size()) {
    ssize_t n = getrandom(id.data() + got, id.size() - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // never on Linux >= 3.17 once the pool is ready: getrandom blocks
    got += static_cast<size_t>(n);
  }
  return id;
}

DirtyBlockMap::DirtyBlockMap(std::string path, int fd, uint64_t image_size, LineageId lineage,
                             uint32_t chunks, std::vector<Slot> slots, uint64_t first_generation)
    : path_(std::move(path)),
      fd_(fd),
      image_size_(image_size),
      lineage_(lineage),
      chunks_(chunks),
      slots_(std::move(slots)),
      first_generation_(first_generation) {}

DirtyBlockMap::~DirtyBlockMap() { close(fd_); }

absl::StatusOr<std::unique_ptr<DirtyBlockMap>> DirtyBlockMap::Create(const std::string& image_path,
                                                                     uint64_t image_size,
                                                                     const LineageId& lineage,
                                                                     uint32_t slots) {
  const std::string path = PathFor(image_path);
  if (image_size == 0)
    return absl::InvalidArgumentError(absl::StrFormat("%s: the image is empty", path));
  if (slots < 2 || slots > kMaxSlots)
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: %u slots (2 to %u)", path, slots, kMaxSlots));
  const uint32_t chunks = ChunksFor(image_size);
  // Every page written (no holes): later updates overwrite allocated blocks in place.
  std::vector<uint8_t> file(FileSize(chunks, slots), 0);
  SealHeaderPage(file.data(), image_size, lineage, slots, chunks, 0);
  for (size_t s = 0; s < slots; ++s) SealSlotPage(file.data() + SlotOffset(chunks, s), 0, s);
  if (auto st = WriteFileAtomically(path, file); !st.ok()) return st;
  if (auto st = SyncDirOf(path); !st.ok()) return st;
  const int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0)
    return absl::InternalError(absl::StrFormat("cannot open %s: %s", path, strerror(errno)));
  return std::unique_ptr<DirtyBlockMap>(
      new DirtyBlockMap(path, fd, image_size, lineage, chunks, std::vector<Slot>(slots), 0));
}

absl::StatusOr<std::unique_ptr<DirtyBlockMap>> DirtyBlockMap::OpenOrCreate(
    const std::string& image_path, uint64_t image_size) {
  auto map = Open(image_path, image_size);
  if (map.ok() || map.status().code() != absl::StatusCode::kNotFound) return map;
  return Create(image_path, image_size, NewLineage());
}

absl::StatusOr<std::unique_ptr<DirtyBlockMap>> DirtyBlockMap::Open(const std::string& image_path,
                                                                   uint64_t image_size) {
  return Parse(PathFor(image_path), image_size);
}

absl::StatusOr<std::unique_ptr<DirtyBlockMap>> DirtyBlockMap::Parse(const std::string& path,
                                                                    uint64_t image_size) {
  const uint32_t chunks = ChunksFor(image_size);
  auto file = ReadWholeFile(path, FileSize(chunks, kMaxSlots));
  if (!file.ok()) return file.status();
  auto bad = [&path](absl::StatusCode code, const std::string& what) {
    return absl::Status(
        code, absl::StrFormat("disk map %s: %s; the replica needs a full copy", path, what));
  };
  const std::vector<uint8_t>& f = *file;
  if (f.size() < kPage) {
    return bad(absl::StatusCode::kDataLoss,
               absl::StrFormat("truncated (%u bytes, the header alone is %u)", f.size(), kPage));
  }
  const uint8_t* h = f.data();
  if (std::memcmp(h, kMagic.data(), 8) != 0)
    return bad(absl::StatusCode::kInvalidArgument, "not a dirty-block map (wrong magic)");
  if (Get32(h + kHdrCrc) != Crc32({h, kHdrCrc}))
    return bad(absl::StatusCode::kDataLoss, "header is corrupted (CRC mismatch)");
  if (Get32(h + kHdrVersion) != kVersion) {
    return bad(absl::StatusCode::kFailedPrecondition,
               absl::StrFormat("format version %u, this ftd reads version %u only",
                               Get32(h + kHdrVersion), kVersion));
  }
  if (Get32(h + kHdrBlockSize) != kBlockSize) {
    return bad(absl::StatusCode::kFailedPrecondition,
               absl::StrFormat("block size %u, expected %u", Get32(h + kHdrBlockSize), kBlockSize));
  }
  if (Get64(h + kHdrImageSize) != image_size) {
    return bad(absl::StatusCode::kFailedPrecondition,
               absl::StrFormat("made for an image of %u bytes, the image has %u",
                               Get64(h + kHdrImageSize), image_size));
  }
  const uint32_t slots = Get32(h + kHdrSlots);
  if (slots < 2 || slots > kMaxSlots || Get32(h + kHdrChunks) != chunks) {
    return bad(absl::StatusCode::kDataLoss,
               absl::StrFormat("%u slots of %u chunks, expected 2 to %u of %u", slots,
                               Get32(h + kHdrChunks), kMaxSlots, chunks));
  }
  if (f.size() != FileSize(chunks, slots)) {
    return bad(absl::StatusCode::kDataLoss,
               absl::StrFormat("%u bytes, its header says %u (truncated?)", f.size(),
                               FileSize(chunks, slots)));
  }
  LineageId lineage;
  std::memcpy(lineage.data(), h + kHdrLineage, lineage.size());
  std::vector<Slot> table(slots);
  const uint64_t blocks = (image_size + kBlockSize - 1) / kBlockSize;
  for (size_t s = 0; s < slots; ++s) {
    const uint8_t* sp = f.data() + SlotOffset(chunks, s);
    if (Get32(sp + kSlotCrc) != Crc32({sp, kSlotCrc}) || Get32(sp + kSlotIndex) != s)
      return bad(absl::StatusCode::kDataLoss, absl::StrFormat("slot %u is corrupted", s));
    const uint64_t g = Get64(sp + kSlotGeneration);
    if (g == 0) continue;
    for (size_t o = 0; o < s; ++o) {
      if (table[o].generation == g)
        return bad(absl::StatusCode::kDataLoss, absl::StrFormat("generation %u twice", g));
    }
    table[s].generation = g;
    table[s].bits.resize(size_t{chunks} * kChunkBitBytes);
    for (uint32_t c = 0; c < chunks; ++c) {
      const uint8_t* cp = sp + kPage * (1 + c);
      if (Get32(cp + kChunkCrc) != Crc32({cp, kChunkCrc}) || Get64(cp + kChunkGeneration) != g ||
          Get32(cp + kChunkIndex) != c) {
        return bad(absl::StatusCode::kDataLoss,
                   absl::StrFormat("chunk %u of generation %u is corrupted", c, g));
      }
      std::memcpy(table[s].bits.data() + size_t{c} * kChunkBitBytes, cp, kChunkBitBytes);
    }
    const std::vector<uint64_t> set = BlocksIn(table[s].bits);
    if (!set.empty() && set.back() >= blocks) {
      return bad(
          absl::StatusCode::kDataLoss,
          absl::StrFormat("generation %u names block %u of an image of %u", g, set.back(), blocks));
    }
  }
  const int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0)
    return absl::InternalError(absl::StrFormat("cannot open %s: %s", path, strerror(errno)));
  return std::unique_ptr<DirtyBlockMap>(new DirtyBlockMap(path, fd, image_size, lineage, chunks,
                                                          std::move(table), Get64(h + kHdrFirst)));
}

absl::Status DirtyBlockMap::Discard(const std::string& image_path) {
  return RemoveMapFile(PathFor(image_path));
}

DirtyBlockMap::Slot* DirtyBlockMap::SlotOf(uint64_t g) {
  for (Slot& s : slots_) {
    if (s.generation == g && g != 0) return &s;
  }
  return nullptr;
}

const DirtyBlockMap::Slot* DirtyBlockMap::SlotOf(uint64_t g) const {
  return const_cast<DirtyBlockMap*>(this)->SlotOf(g);
}

uint64_t DirtyBlockMap::CurrentLocked() const {
  uint64_t g = 0;
  for (const Slot& s : slots_) g = std::max(g, s.generation);
  return g;
}

uint64_t DirtyBlockMap::current_generation() const {
  std::lock_guard l(mu_);
  return CurrentLocked();
}

uint64_t DirtyBlockMap::first_generation() const {
  std::lock_guard l(mu_);
  return first_generation_;
}

bool DirtyBlockMap::intact() const {
  std::lock_guard l(mu_);
  return !discarded_ && !broken_;
}

absl::Status DirtyBlockMap::WriteHeader() {
  uint8_t p[kPage];
  SealHeaderPage(p, image_size_, lineage_, static_cast<uint32_t>(slots_.size()), chunks_,
                 first_generation_);
  return PwriteAll(fd_, p, 0, path_);
}

absl::Status DirtyBlockMap::WriteChunk(size_t s, uint32_t chunk) {
  uint8_t p[kPage];
  SealChunkPage(p, slots_[s].bits.data() + size_t{chunk} * kChunkBitBytes, slots_[s].generation,
                chunk);
  return PwriteAll(fd_, p, SlotOffset(chunks_, s) + kPage * (1 + chunk), path_);
}

absl::Status DirtyBlockMap::WriteSlot(size_t s, bool with_chunks) {
  // The chunks first and durable, then the slot page that makes them count.
  if (with_chunks) {
    for (uint32_t c = 0; c < chunks_; ++c) {
      if (auto st = WriteChunk(s, c); !st.ok()) return st;
    }
    if (auto st = Sync(); !st.ok()) return st;
  }
  uint8_t p[kPage];
  SealSlotPage(p, slots_[s].generation, s);
  return PwriteAll(fd_, p, SlotOffset(chunks_, s), path_);
}

absl::Status DirtyBlockMap::Sync() {
  if (fdatasync(fd_) != 0)
    return absl::InternalError(absl::StrFormat("fdatasync %s: %s", path_, strerror(errno)));
  return absl::OkStatus();
}

absl::Status DirtyBlockMap::DiscardAfter(absl::Status error) {
  if (auto st = RemoveMapFile(path_); !st.ok()) {
    broken_ = true;  // every later update tries again; none trusts what memory holds
    return absl::InternalError(
        absl::StrCat(error.message(), "; and the map cannot be discarded: ", st.message()));
  }
  spdlog::warn(
      "disk map {}: {}; discarded it (the next rejoin of this replica is a full copy), "
      "writes go on untracked",
      path_, std::string(error.message()));
  discarded_ = true;
  broken_ = false;
  return absl::OkStatus();
}

absl::Status DirtyBlockMap::RetryDiscard() {
  return DiscardAfter(absl::InternalError(
      absl::StrFormat("disk map %s: an earlier update failed and it could not be removed", path_)));
}

absl::Status DirtyBlockMap::BeginGeneration(uint64_t g) {
  if (g == 0) return absl::InvalidArgumentError("disk map: generations start at 1");
  std::lock_guard l(mu_);
  if (discarded_) return absl::OkStatus();
  if (broken_) return RetryDiscard();
  const uint64_t current = CurrentLocked();
  if (g == current) return absl::OkStatus();
  // Every step that loses information first makes the header claim less (first_generation_
  // up), durably, so a crash between the steps leaves a map that over-reports at worst.
  auto step = [&]() -> absl::Status {
    if (g < current) {  // a new history: the old numbers mean nothing now
      first_generation_ = g;
      if (auto st = WriteHeader(); !st.ok()) return st;
      if (auto st = Sync(); !st.ok()) return st;
      for (size_t s = 0; s < slots_.size(); ++s) {
        if (slots_[s].generation == 0) continue;
        slots_[s] = Slot{};
        if (auto st = WriteSlot(s, false); !st.ok()) return st;
      }
      if (auto st = Sync(); !st.ok()) return st;
    }
    auto slot =
        std::find_if(slots_.begin(), slots_.end(), [](const Slot& s) { return s.generation == 0; });
    if (slot == slots_.end()) {  // full: the oldest generation goes
      slot = std::min_element(slots_.begin(), slots_.end(), [](const Slot& a, const Slot& b) {
        return a.generation < b.generation;
      });
      first_generation_ = std::max(first_generation_, slot->generation + 1);
      if (auto st = WriteHeader(); !st.ok()) return st;
      if (auto st = Sync(); !st.ok()) return st;
      *slot = Slot{};
      if (auto st = WriteSlot(slot - slots_.begin(), false); !st.ok()) return st;
      if (auto st = Sync(); !st.ok()) return st;
    }
    slot->generation = g;
    slot->bits.assign(size_t{chunks_} * kChunkBitBytes, 0);
    if (auto st = WriteSlot(slot - slots_.begin(), true); !st.ok()) return st;
    if (auto st = Sync(); !st.ok()) return st;
    if (first_generation_ == 0) {  // the first generation of a new map: its history starts
      first_generation_ = g;
      if (auto st = WriteHeader(); !st.ok()) return st;
      if (auto st = Sync(); !st.ok()) return st;
    }
    return absl::OkStatus();
  };
  if (auto st = step(); !st.ok()) return DiscardAfter(st);
  return absl::OkStatus();
}

absl::Status DirtyBlockMap::MarkWrite(uint64_t offset, uint64_t len) {
  if (offset > image_size_ || len > image_size_ - offset) {
    return absl::OutOfRangeError(absl::StrFormat(
        "disk map %s: a write of %u bytes at offset %u is beyond the image's %u bytes", path_, len,
        offset, image_size_));
  }
  if (len == 0) return absl::OkStatus();
  std::lock_guard l(mu_);
  if (discarded_) return absl::OkStatus();
  if (broken_) return RetryDiscard();
  Slot* slot = SlotOf(CurrentLocked());
  if (slot == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrFormat("disk map %s: a write before any generation began", path_));
  }
  const uint64_t first = offset / kBlockSize, last = (offset + len - 1) / kBlockSize;
  std::vector<uint32_t> changed;  // chunks, ascending
  for (uint64_t b = first; b <= last; ++b) {
    uint8_t& byte = slot->bits[b / 8];
    const uint8_t bit = static_cast<uint8_t>(1u << (b % 8));
    if (byte & bit) continue;
    byte |= bit;
    const auto chunk = static_cast<uint32_t>(b / kBlocksPerChunk);
    if (changed.empty() || changed.back() != chunk) changed.push_back(chunk);
  }
  if (changed.empty()) return absl::OkStatus();  // the common case: no I/O at all
  const size_t s = static_cast<size_t>(slot - slots_.data());
  for (uint32_t c : changed) {
    if (auto st = WriteChunk(s, c); !st.ok()) return DiscardAfter(st);
  }
  if (auto st = Sync(); !st.ok()) return DiscardAfter(st);
  return absl::OkStatus();
}

absl::Status DirtyBlockMap::CheckHistory(uint64_t from, const char* query) const {
  if (discarded_ || broken_) {
    return absl::FailedPreconditionError(
        absl::StrFormat("disk map %s was discarded after an I/O error", path_));
  }
  if (first_generation_ == 0 || from < first_generation_) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "disk map %s: %s needs generation %u on, its history is complete from %s", path_, query,
        from,
        first_generation_ == 0 ? "no generation" : absl::StrCat("generation ", first_generation_)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<uint64_t>> DirtyBlockMap::BlocksOf(uint64_t g) const {
  std::lock_guard l(mu_);
  if (auto st = CheckHistory(g, "BlocksOf"); !st.ok()) return st;
  const Slot* slot = SlotOf(g);
  if (slot == nullptr) return std::vector<uint64_t>{};  // this node did not run at g
  return BlocksIn(slot->bits);
}

absl::StatusOr<std::vector<uint64_t>> DirtyBlockMap::BlocksSince(uint64_t g) const {
  std::lock_guard l(mu_);
  if (auto st = CheckHistory(g + 1, "BlocksSince"); !st.ok()) return st;
  std::vector<uint8_t> all(size_t{chunks_} * kChunkBitBytes, 0);
  for (const Slot& s : slots_) {
    if (s.generation <= g) continue;
    for (size_t i = 0; i < all.size(); ++i) all[i] |= s.bits[i];
  }
  return BlocksIn(all);
}

absl::Status DirtyBlockMap::Prune(uint64_t keep_from) {
  std::lock_guard l(mu_);
  if (discarded_) return absl::OkStatus();
  if (broken_) return RetryDiscard();
  if (keep_from > CurrentLocked()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("disk map %s: cannot prune up to generation %u, the current one is %u",
                        path_, keep_from, CurrentLocked()));
  }
  if (keep_from <= first_generation_) return absl::OkStatus();
  auto step = [&]() -> absl::Status {
    first_generation_ = keep_from;
    if (auto st = WriteHeader(); !st.ok()) return st;
    if (auto st = Sync(); !st.ok()) return st;
    for (size_t s = 0; s < slots_.size(); ++s) {
      if (slots_[s].generation == 0 || slots_[s].generation >= keep_from) continue;
      slots_[s] = Slot{};
      if (auto st = WriteSlot(s, false); !st.ok()) return st;
    }
    return Sync();
  };
  if (auto st = step(); !st.ok()) return DiscardAfter(st);
  return absl::OkStatus();
}

absl::Status WriteTracked(int fd, DirtyBlockMap* map, uint64_t offset,
                          std::span<const uint8_t> data, std::string_view what) {
  if (map != nullptr) {
    if (auto st = map->MarkWrite(offset, data.size()); !st.ok()) return st;
  }
  return PwriteAll(fd, data, offset, what);
}

absl::StatusOr<ReplicaHistory> HistoryOf(const DirtyBlockMap& map) {
  ReplicaHistory h;
  h.lineage = map.lineage_id();
  h.image_size = map.image_size();
  h.generation = map.current_generation();
  if (h.generation == 0) {
    return absl::FailedPreconditionError(
        absl::StrFormat("disk map %s: no generation began", map.path()));
  }
  auto blocks = map.BlocksSince(h.generation - 1);
  if (!blocks.ok()) return blocks.status();
  h.blocks = *std::move(blocks);
  return h;
}

absl::StatusOr<std::vector<uint64_t>> RejoinDelta(const DirtyBlockMap& primary,
                                                  const ReplicaHistory& rejoiner) {
  auto refuse = [](const std::string& why) {
    return absl::FailedPreconditionError(
        absl::StrCat("no incremental disk for this rejoin (", why, "): a full copy is needed"));
  };
  if (rejoiner.lineage != primary.lineage_id())
    return refuse("the replica's disk map is of another lineage");
  if (rejoiner.image_size != primary.image_size()) {
    return refuse(absl::StrFormat("the replica has %u bytes, the primary's image %u",
                                  rejoiner.image_size, primary.image_size()));
  }
  if (rejoiner.generation == 0) return refuse("the replica's map began no generation");
  const uint64_t current = primary.current_generation();
  if (rejoiner.generation > current) {
    return refuse(absl::StrFormat("the replica is at generation %u, newer than the primary's %u",
                                  rejoiner.generation, current));
  }
  auto ours = primary.BlocksSince(rejoiner.generation - 1);
  if (!ours.ok()) return refuse(std::string(ours.status().message()));
  std::vector<uint64_t> theirs = rejoiner.blocks;
  std::sort(theirs.begin(), theirs.end());
  theirs.erase(std::unique(theirs.begin(), theirs.end()), theirs.end());
  if (!theirs.empty() && theirs.back() >= primary.block_count()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("the replica names block %u of an image of %u blocks", theirs.back(),
                        primary.block_count()));
  }
  std::vector<uint64_t> out;
  out.reserve(ours->size() + theirs.size());
  std::set_union(ours->begin(), ours->end(), theirs.begin(), theirs.end(), std::back_inserter(out));
  return out;
}

}  // namespace ftd::vmm
