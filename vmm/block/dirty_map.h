// The dirty-block map of a replicated disk image (docs/pair.md "Incremental disk for a
// rejoin"): IMAGE.ftd-dirty records, per generation, which 4 KiB blocks this node wrote to
// the image while it ran at that generation (as primary, live backup, or a backup replaying
// writes into its replica), so that a rejoining node gets only the blocks the two images may
// differ in instead of a full copy.
//
// The one invariant: the map never under-reports. A block's bit is durable in the file before
// the write it covers is issued to the image (MarkWrite returns only then), so a SIGKILL or a
// power loss at any moment leaves no write the map does not name. Over-reporting is always
// safe (a block sent that did not differ) and is what every doubtful case turns into.
//
// File (little endian, in 4 KiB pages, fixed layout so every update is one page in place):
//   page 0          header: magic "FTDDIRTY", version, block size, image size, the lineage
//                   id, slot count S, chunks per slot C, first generation; CRC-32
//   per slot s      1 + C pages at 4096 * (1 + s * (1 + C)):
//                   the slot page: the generation it holds (0: free), its index; CRC-32
//                   C chunk pages: 4080 bytes of bits (32640 blocks), then the slot's
//                   generation and the chunk's index, then a CRC-32 over all of it
// The lineage id (128 random bits) names an unbroken tracked history of one disk: made when a
// map is created, carried to a backup with a full copy of the image (Create with the
// primary's id). A map that was lost, damaged or replaced gets a new one, so it never matches
// a partner again: that replica needs a full copy.
//
// Generations only grow in a map: a smaller one than the current means a new arbiter history,
// and the map starts over (its history is then complete from that generation only). The
// history is complete from first_generation() on: queries reaching further back fail (the
// caller sends a full copy), as do all queries of a map none of whose generations began.
//
// Cost: the first write to a block in a generation is one pwrite of a 4 KiB page (two when a
// request spans a chunk boundary, i.e. every 128 MiB of disk) and one fdatasync of the map
// file, before the data write; every later write to that block in that generation touches no
// file. BeginGeneration, Prune and creation cost a few fdatasyncs each (rare: generations
// change at failovers and joins). Memory: the bitmaps of the slots in use (32 KiB per GiB of
// disk per slot).
//
// An I/O error while updating the file makes the map discard itself (the file is unlinked: no
// later reader can trust a map that missed a write) and pass every later write through
// untracked; only when even the unlink fails does MarkWrite fail, and the caller must then
// not issue the write. All methods are thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace ftd::vmm {

class DirtyBlockMap {
 public:
  static constexpr uint64_t kBlockSize = 4096;
  static constexpr uint32_t kVersion = 1;
  static constexpr uint32_t kDefaultSlots = 8;
  using LineageId = std::array<uint8_t, 16>;

  // IMAGE.ftd-dirty.
  static std::string PathFor(const std::string& image_path);
  // Opens the map of `image_path` (an image of `image_size` bytes), or creates one (a new
  // lineage, no generation begun) when there is none. A damaged, truncated, foreign-version
  // or wrong-size map is an error (DataLoss, FailedPrecondition) naming the file: the replica
  // then needs a full copy, and the caller may Create a new map in its place.
  static absl::StatusOr<std::unique_ptr<DirtyBlockMap>> OpenOrCreate(const std::string& image_path,
                                                                     uint64_t image_size);
  // Opens an existing map only (NotFound when there is none).
  static absl::StatusOr<std::unique_ptr<DirtyBlockMap>> Open(const std::string& image_path,
                                                             uint64_t image_size);
  // Replaces any map of `image_path` (atomically) with an empty one of `lineage`: after the
  // image became a full copy of the disk that lineage names.
  static absl::StatusOr<std::unique_ptr<DirtyBlockMap>> Create(const std::string& image_path,
                                                               uint64_t image_size,
                                                               const LineageId& lineage,
                                                               uint32_t slots = kDefaultSlots);
  // A new random lineage id.
  static LineageId NewLineage();
  // Removes the map of `image_path` (none is fine): before the image is overwritten whole,
  // so that a crash halfway leaves no map describing it.
  static absl::Status Discard(const std::string& image_path);

  ~DirtyBlockMap();
  DirtyBlockMap(const DirtyBlockMap&) = delete;
  DirtyBlockMap& operator=(const DirtyBlockMap&) = delete;

  // Writes from now on belong to generation `g` (>= 1). The same as the current: nothing.
  // Smaller: the map starts over at `g` (see above). With every slot in use the oldest
  // generation is dropped (the history is then complete from the next one).
  absl::Status BeginGeneration(uint64_t g);
  // Records a write of `len` bytes at `offset` in the current generation, durably before it
  // returns when it set a new bit. OutOfRange: not within the image (nothing recorded; the
  // write must not be issued). FailedPrecondition: no generation begun.
  absl::Status MarkWrite(uint64_t offset, uint64_t len);

  // The blocks (indices, ascending) written in generation `g`.
  absl::StatusOr<std::vector<uint64_t>> BlocksOf(uint64_t g) const;
  // The blocks written in any generation after `g`.
  absl::StatusOr<std::vector<uint64_t>> BlocksSince(uint64_t g) const;
  // Forgets the generations before `keep_from` (at most the current one): the history is
  // complete from `keep_from` on.
  absl::Status Prune(uint64_t keep_from);

  const LineageId& lineage_id() const { return lineage_; }
  uint64_t image_size() const { return image_size_; }
  uint64_t block_count() const { return (image_size_ + kBlockSize - 1) / kBlockSize; }
  // The generation writes go to (0: none begun).
  uint64_t current_generation() const;
  // Queries are complete for generations >= this (0: for none).
  uint64_t first_generation() const;
  // False once the map discarded itself after an I/O error.
  bool intact() const;
  const std::string& path() const { return path_; }

 private:
  struct Slot {
    uint64_t generation = 0;  // 0: free
    std::vector<uint8_t> bits;
  };
  DirtyBlockMap(std::string path, int fd, uint64_t image_size, LineageId lineage, uint32_t chunks,
                std::vector<Slot> slots, uint64_t first_generation);
  static absl::StatusOr<std::unique_ptr<DirtyBlockMap>> Parse(const std::string& path,
                                                              uint64_t image_size);

  // All with mu_ held.
  Slot* SlotOf(uint64_t g);
  const Slot* SlotOf(uint64_t g) const;
  uint64_t CurrentLocked() const;
  absl::Status CheckHistory(uint64_t from, const char* query) const;
  absl::Status WriteHeader();
  absl::Status WriteSlot(size_t s, bool with_chunks);
  absl::Status WriteChunk(size_t s, uint32_t chunk);
  absl::Status Sync();
  // An update failed with `error`: unlink the file and pass writes through from now on; the
  // error stays only when the unlink failed too.
  absl::Status DiscardAfter(absl::Status error);
  absl::Status RetryDiscard();

  const std::string path_;
  const int fd_;
  const uint64_t image_size_;
  const LineageId lineage_;
  const uint32_t chunks_;  // per slot
  mutable std::mutex mu_;
  std::vector<Slot> slots_;    // guarded by mu_
  uint64_t first_generation_;  // guarded by mu_
  bool discarded_ = false;     // guarded by mu_: the file is gone, writes pass untracked
  bool broken_ = false;        // guarded by mu_: an update failed and the unlink too
};

// The one way a disk image that a map may track is written: `map` (nullptr: untracked)
// records the blocks first, durably, then `data` goes to `fd` at `offset`. When the map
// refuses, nothing was written; the error says which step failed.
absl::Status WriteTracked(int fd, DirtyBlockMap* map, uint64_t offset,
                          std::span<const uint8_t> data, std::string_view what);

// What a rejoining node tells the primary about its replica (DirtyBlockMap::History).
struct ReplicaHistory {
  DirtyBlockMap::LineageId lineage{};
  uint64_t image_size = 0;
  uint64_t generation = 0;       // gR: the last generation the node ran at
  std::vector<uint64_t> blocks;  // its writes in generations >= gR, ascending
};
// The rejoiner's side of a rejoin. Fails when its map cannot vouch for its replica (no
// generation, history pruned, discarded): a full copy is needed.
absl::StatusOr<ReplicaHistory> HistoryOf(const DirtyBlockMap& map);

// The blocks the primary must send a rejoining node for its replica to equal the primary's
// image (docs/pair.md "Incremental disk for a rejoin"): with gR the rejoiner's last
// generation, P.BlocksSince(gR - 1) ∪ R's writes in generations >= gR. An error means only a
// full copy is safe (another lineage or image size, a rejoiner newer than the primary, the
// primary's history not reaching back to gR). Pure: reads the maps' memory only. The result
// must still be verified (a hash of both images) before the log starts.
absl::StatusOr<std::vector<uint64_t>> RejoinDelta(const DirtyBlockMap& primary,
                                                  const ReplicaHistory& rejoiner);

}  // namespace ftd::vmm
