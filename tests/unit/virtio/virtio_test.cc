// virtio-mmio transport, split virtqueues, virtio-blk and virtio-net, driven as a guest
// driver would (tests/unit/virtio/virtio_driver.h): descriptors in GuestMemory, notify
// through the transport's QueueNotify register, host events applied like the vCPU loop.
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "spdlog/sinks/ringbuffer_sink.h"
#include "spdlog/spdlog.h"
#include "tests/unit/devices/test_util.h"
#include "tests/unit/virtio/virtio_driver.h"
#include "vmm/block/dirty_map.h"
#include "vmm/block/raw_image.h"
#include "vmm/devices/virtio_blk.h"
#include "vmm/devices/virtio_net.h"
#include "vmm/host_events.h"
#include "vmm/machine.h"
#include "vmm/net/in_process.h"

namespace ftd::vmm {
namespace {

using google::protobuf::util::MessageDifferencer;
using testing::Buf;
using testing::FakeIrq;
using testing::VirtioTestDriver;
namespace mm = virtio_mmio;

constexpr uint64_t kAllRing = (1ull << kVirtioFVersion1) | (1ull << kVirtioFRingEventIdx) |
                              (1ull << kVirtioFRingIndirectDesc);
constexpr uint64_t kData = 0x100000;  // guest buffers live from 1 MiB

GuestMemory NewMemory() {
  auto m = GuestMemory::Create(2 << 20);
  EXPECT_TRUE(m.ok());
  return std::move(*m);
}

// Records what the device asks of the disk; the test completes requests by hand.
class FakeBackend final : public BlockBackend {
 public:
  void Submit(BlockRequest r) override { requests.push_back(std::move(r)); }
  std::vector<BlockRequest> requests;
};

class QuietLogs : public ::testing::Test {
 protected:
  void SetUp() override { spdlog::set_level(spdlog::level::err); }
  void TearDown() override { spdlog::set_level(spdlog::level::info); }
};

// ---------------------------------------------------------------- transport

class TransportTest : public QuietLogs {
 protected:
  GuestMemory mem = NewMemory();
  FakeIrq irq;
  FakeBackend backend;
  VirtioBlk blk{&mem, &irq, 10, &backend, {1 << 20, false, "serial"}};
  VirtioTestDriver drv{blk.transport(), &mem};
};

TEST_F(TransportTest, IdentityRegisters) {
  EXPECT_EQ(drv.Reg(mm::kMagic), 0x74726976u);
  EXPECT_EQ(drv.Reg(mm::kVersion), 2u);
  EXPECT_EQ(drv.Reg(mm::kDeviceId), kVirtioIdBlock);
  EXPECT_EQ(drv.Reg(mm::kVendorId), kVirtioVendorId);
  drv.SetReg(mm::kDeviceFeaturesSel, 1);
  EXPECT_EQ(drv.Reg(mm::kDeviceFeatures), 1u);  // VERSION_1
  drv.SetReg(mm::kDeviceFeaturesSel, 0);
  uint32_t low = drv.Reg(mm::kDeviceFeatures);
  EXPECT_TRUE(low & (1u << kVirtioFRingEventIdx));
  EXPECT_TRUE(low & (1u << kVirtioBlkFFlush));
  EXPECT_FALSE(low & (1u << kVirtioBlkFRo));
  drv.SetReg(mm::kDeviceFeaturesSel, 7);
  EXPECT_EQ(drv.Reg(mm::kDeviceFeatures), 0u);
  EXPECT_EQ(drv.Reg(mm::kQueueNumMax), VirtioBlk::kQueueSize);
  drv.SetReg(mm::kQueueSel, 1);  // blk has one queue
  EXPECT_EQ(drv.Reg(mm::kQueueNumMax), 0u);
  // Capacity in the config space, byte by byte as well as whole.
  uint8_t cap[8];
  blk.transport()->Read(mm::kConfig, cap);
  uint64_t sectors;
  std::memcpy(&sectors, cap, 8);
  EXPECT_EQ(sectors, 2048u);
  uint8_t b;
  blk.transport()->Read(mm::kConfig + 1, {&b, 1});
  EXPECT_EQ(b, 0x08);
}

TEST_F(TransportTest, FeatureNegotiation) {
  // Without VERSION_1 there is no modern device: FEATURES_OK does not stick.
  EXPECT_FALSE(drv.Init(0) & kVirtioStatusFeaturesOk);
  // A feature the device does not offer.
  EXPECT_FALSE(drv.Init(kAllRing | (1ull << 40)) & kVirtioStatusFeaturesOk);
  uint32_t st = drv.Init(kAllRing | (1ull << kVirtioBlkFFlush));
  EXPECT_TRUE(st & kVirtioStatusFeaturesOk);
  EXPECT_TRUE(st & kVirtioStatusDriverOk);
  EXPECT_FALSE(st & kVirtioStatusNeedsReset);
  EXPECT_EQ(blk.transport()->driver_features(), kAllRing | (1ull << kVirtioBlkFFlush));
  // Features cannot change after FEATURES_OK.
  drv.SetReg(mm::kDriverFeaturesSel, 0);
  drv.SetReg(mm::kDriverFeatures, 0);
  EXPECT_EQ(blk.transport()->driver_features(), kAllRing | (1ull << kVirtioBlkFFlush));
}

TEST_F(TransportTest, QueueRegistersOfAReadyQueueAreFrozen) {
  drv.Init(kAllRing);
  drv.SetReg(mm::kQueueSel, 0);
  EXPECT_EQ(drv.Reg(mm::kQueueReady), 1u);
  drv.SetReg(mm::kQueueNum, 4);
  drv.SetReg(mm::kQueueDescLow, 0x1234);
  EXPECT_EQ(blk.transport()->queue(0).num(), 16);
  EXPECT_EQ(blk.transport()->queue(0).desc_addr(), drv.desc(0));
  drv.SetReg(mm::kQueueReady, 0);
  drv.SetReg(mm::kQueueNum, 4);
  EXPECT_EQ(blk.transport()->queue(0).num(), 4);
}

TEST_F(TransportTest, BadRingNeedsResetAndResetRecovers) {
  drv.Init(kAllRing, /*setup_queues=*/false);
  drv.SetReg(mm::kQueueSel, 0);
  drv.SetReg(mm::kQueueNum, 16);
  drv.SetReg(mm::kQueueDescLow, 0xfff00000);  // beyond 2 MiB of RAM
  drv.SetReg(mm::kQueueReady, 1);
  EXPECT_EQ(drv.Reg(mm::kQueueReady), 0u);
  EXPECT_TRUE(drv.Reg(mm::kStatus) & kVirtioStatusNeedsReset);
  EXPECT_EQ(drv.Reg(mm::kInterruptStatus), kVirtioIntConfigChange);
  EXPECT_TRUE(irq.levels[10]);
  EXPECT_GT(drv.Reg(mm::kConfigGeneration), 0u);
  drv.SetReg(mm::kStatus, 0);
  EXPECT_EQ(drv.Reg(mm::kStatus), 0u);
  EXPECT_EQ(drv.Reg(mm::kInterruptStatus), 0u);
  EXPECT_FALSE(irq.levels[10]);
  EXPECT_TRUE(drv.Init(kAllRing) & kVirtioStatusDriverOk);
  EXPECT_FALSE(drv.Reg(mm::kStatus) & kVirtioStatusNeedsReset);
}

TEST_F(TransportTest, NonPowerOfTwoQueueSizeIsRefused) {
  drv.Init(kAllRing, false);
  drv.qsize_ = 12;
  drv.SetupQueue(0);
  EXPECT_EQ(drv.Reg(mm::kQueueReady), 0u);
  EXPECT_TRUE(drv.Reg(mm::kStatus) & kVirtioStatusNeedsReset);
}

TEST_F(TransportTest, BadAccessesAreIgnored) {
  uint8_t one = 0x55;
  blk.transport()->Write(mm::kStatus, {&one, 1});  // registers are 32-bit only
  EXPECT_EQ(drv.Reg(mm::kStatus), 0u);
  uint8_t b2[2];
  blk.transport()->Read(mm::kMagic, b2);
  EXPECT_EQ(b2[0], 0xff);
  EXPECT_EQ(drv.Reg(0x0f0), 0xffffffffu);
  uint8_t cfg[4];
  blk.transport()->Read(mm::kConfig + VirtioBlk::kConfigSize - 2, cfg);  // straddles the end
  EXPECT_EQ(cfg[0], 0xff);
  drv.Notify(0);  // before DRIVER_OK: ignored
  drv.Notify(99);
  EXPECT_EQ(drv.Reg(mm::kStatus), 0u);
}

TEST_F(TransportTest, InterruptAckLowersTheLine) {
  drv.Init(kAllRing);
  drv.W16(drv.avail(0) + 4 + 2 * 16, 0);  // used_event 0: interrupt for the first entry
  drv.AddChain(0, {{kData, 16, false}, {kData + 0x1000, 20, true}, {kData + 0x2000, 1, true}});
  *reinterpret_cast<uint32_t*>(mem.host() + kData) = kVirtioBlkTGetId;
  drv.Notify(0);
  EXPECT_EQ(drv.UsedIdx(0), 1);
  EXPECT_EQ(drv.Reg(mm::kInterruptStatus), kVirtioIntUsedBuffer);
  EXPECT_TRUE(irq.levels[10]);
  drv.Ack();
  EXPECT_FALSE(irq.levels[10]);
  EXPECT_EQ(irq.rising[10], 1);
}

// ---------------------------------------------------------------- virtqueue

class VirtqueueTest : public QuietLogs {
 public:
  void SetUp() override {
    QuietLogs::SetUp();
    q.set_num(8);
    q.set_desc_addr(0x1000);
    q.set_driver_addr(0x2000);
    q.set_device_addr(0x3000);
    ASSERT_TRUE(q.SetReady(mem).ok());
    q.SetFeatures(true, true);
  }
  void Desc(uint64_t table, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
            uint16_t next) {
    uint8_t d[16];
    std::memcpy(d, &addr, 8);
    std::memcpy(d + 8, &len, 4);
    std::memcpy(d + 12, &flags, 2);
    std::memcpy(d + 14, &next, 2);
    ASSERT_TRUE(mem.Write(table + 16ull * i, d).ok());
  }
  void Publish(uint16_t head) {
    uint16_t idx = Avail();
    Put16(0x2000 + 4 + 2 * (idx % 8), head);
    Put16(0x2002, static_cast<uint16_t>(idx + 1));
  }
  uint16_t Avail() {
    uint16_t v;
    std::memcpy(&v, mem.host() + 0x2002, 2);
    return v;
  }
  void Put16(uint64_t a, uint16_t v) {
    ASSERT_TRUE(mem.Write(a, {reinterpret_cast<uint8_t*>(&v), 2}).ok());
  }
  uint16_t Get16(uint64_t a) {
    uint16_t v;
    std::memcpy(&v, mem.host() + a, 2);
    return v;
  }

  GuestMemory mem = NewMemory();
  Virtqueue q{8};
};

TEST_F(VirtqueueTest, ChainWithReadableThenWritable) {
  Desc(0x1000, 3, kData, 16, kVirtqDescFNext, 5);
  Desc(0x1000, 5, kData + 100, 0, kVirtqDescFNext, 6);  // zero-length: skipped
  Desc(0x1000, 6, kData + 200, 8, kVirtqDescFWrite, 0);
  Publish(3);
  auto c = q.Pop(mem);
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE(c->has_value());
  EXPECT_EQ((*c)->head, 3);
  EXPECT_EQ((*c)->readable_len, 16u);
  EXPECT_EQ((*c)->writable_len, 8u);
  EXPECT_EQ((*c)->readable.size(), 1u);
  EXPECT_EQ(Get16(0x3000 + 4 + 8 * 8), 1);  // avail_event follows
  auto none = q.Pop(mem);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  ASSERT_TRUE(q.PushUsed(mem, 3, 8).ok());
  EXPECT_EQ(Get16(0x3002), 1);
}

TEST_F(VirtqueueTest, IndicesWrapAround) {
  proto::VirtqueueState s = q.Save();
  s.set_last_avail_idx(0xfffe);
  s.set_used_idx(0xfffe);
  auto r = Virtqueue::Restore(8, s, mem);
  ASSERT_TRUE(r.ok()) << r.status();
  q = std::move(*r);
  q.SetFeatures(true, false);
  Put16(0x2002, 0xfffe);
  Desc(0x1000, 0, kData, 4, 0, 0);
  for (int i = 0; i < 4; ++i) Publish(0);
  EXPECT_EQ(Avail(), 2);
  for (int i = 0; i < 4; ++i) {
    auto c = q.Pop(mem);
    ASSERT_TRUE(c.ok() && c->has_value()) << i;
    ASSERT_TRUE(q.PushUsed(mem, 0, 0).ok());
  }
  EXPECT_EQ(q.last_avail_idx(), 2);
  EXPECT_EQ(Get16(0x3002), 2);
  auto none = q.Pop(mem);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
}

TEST_F(VirtqueueTest, EventIdxSuppressesInterrupts) {
  Put16(0x2000 + 4 + 2 * 8, 2);  // used_event: interrupt when entry #2 is used
  for (uint16_t i = 0; i < 4; ++i) ASSERT_TRUE(q.PushUsed(mem, 0, 0).ok());
  // First decision is always yes (nothing signalled yet), then only past used_event.
  EXPECT_TRUE(*q.ShouldInterrupt(mem));
  ASSERT_TRUE(q.PushUsed(mem, 0, 0).ok());
  EXPECT_FALSE(*q.ShouldInterrupt(mem));  // 4 -> 5, event 2 already passed
  Put16(0x2000 + 4 + 2 * 8, 5);
  ASSERT_TRUE(q.PushUsed(mem, 0, 0).ok());
  EXPECT_TRUE(*q.ShouldInterrupt(mem));  // 5 -> 6 passes event 5
  // Without EVENT_IDX the avail flags decide.
  q.SetFeatures(false, false);
  Put16(0x2000, kVirtqAvailFNoInterrupt);
  EXPECT_FALSE(*q.ShouldInterrupt(mem));
  Put16(0x2000, 0);
  EXPECT_TRUE(*q.ShouldInterrupt(mem));
}

TEST_F(VirtqueueTest, IndirectTable) {
  Desc(0x5000, 0, kData, 16, kVirtqDescFNext, 1);
  Desc(0x5000, 1, kData + 64, 32, kVirtqDescFWrite, 0);
  Desc(0x1000, 0, 0x5000, 32, kVirtqDescFIndirect, 0);
  Publish(0);
  auto c = q.Pop(mem);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)->readable_len, 16u);
  EXPECT_EQ((*c)->writable_len, 32u);
}

struct BadChain {
  const char* name;
  std::function<void(VirtqueueTest&)> build;
};

TEST_F(VirtqueueTest, MalformedChainsAreErrorsNotCrashes) {
  const BadChain cases[] = {
      {"buffer outside RAM",
       [](VirtqueueTest& t) {
         t.Desc(0x1000, 0, (2 << 20) - 4, 8, 0, 0);
         t.Publish(0);
       }},
      {"huge address",
       [](VirtqueueTest& t) {
         t.Desc(0x1000, 0, ~0ull - 2, 8, 0, 0);
         t.Publish(0);
       }},
      {"oversized length",
       [](VirtqueueTest& t) {
         t.Desc(0x1000, 0, kData, 0xffffffff, 0, 0);
         t.Publish(0);
       }},
      {"loop",
       [](VirtqueueTest& t) {
         t.Desc(0x1000, 0, kData, 1, kVirtqDescFNext, 1);
         t.Desc(0x1000, 1, kData, 1, kVirtqDescFNext, 0);
         t.Publish(0);
       }},
      {"self loop of zero-length descriptors",
       [](VirtqueueTest& t) {
         t.Desc(0x1000, 2, kData, 0, kVirtqDescFNext, 2);
         t.Publish(2);
       }},
      {"next beyond the table",
       [](VirtqueueTest& t) {
         t.Desc(0x1000, 0, kData, 1, kVirtqDescFNext, 8);
         t.Publish(0);
       }},
      {"head beyond the table", [](VirtqueueTest& t) { t.Publish(9); }},
      {"readable after writable",
       [](VirtqueueTest& t) {
         t.Desc(0x1000, 0, kData, 1, kVirtqDescFNext | kVirtqDescFWrite, 1);
         t.Desc(0x1000, 1, kData, 1, 0, 0);
         t.Publish(0);
       }},
      {"avail index jumps past the queue size", [](VirtqueueTest& t) { t.Put16(0x2002, 9); }},
      {"nested indirect",
       [](VirtqueueTest& t) {
         t.Desc(0x5000, 0, 0x6000, 16, kVirtqDescFIndirect, 0);
         t.Desc(0x1000, 0, 0x5000, 16, kVirtqDescFIndirect, 0);
         t.Publish(0);
       }},
      {"indirect with NEXT",
       [](VirtqueueTest& t) {
         t.Desc(0x1000, 0, 0x5000, 16, kVirtqDescFIndirect | kVirtqDescFNext, 1);
         t.Publish(0);
       }},
      {"indirect table too long",
       [](VirtqueueTest& t) {
         t.Desc(0x1000, 0, 0x5000, 16 * 2000, kVirtqDescFIndirect, 0);
         t.Publish(0);
       }},
      {"indirect table of odd size",
       [](VirtqueueTest& t) {
         t.Desc(0x1000, 0, 0x5000, 17, kVirtqDescFIndirect, 0);
         t.Publish(0);
       }},
      {"indirect loop",
       [](VirtqueueTest& t) {
         t.Desc(0x5000, 0, kData, 1, kVirtqDescFNext, 1);
         t.Desc(0x5000, 1, kData, 1, kVirtqDescFNext, 0);
         t.Desc(0x1000, 0, 0x5000, 32, kVirtqDescFIndirect, 0);
         t.Publish(0);
       }},
  };
  for (const BadChain& bc : cases) {
    SCOPED_TRACE(bc.name);
    std::memset(mem.host() + 0x1000, 0, 0x6000);
    q.Reset();
    SetUp();
    bc.build(*this);
    auto c = q.Pop(mem);
    EXPECT_FALSE(c.ok());
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST_F(VirtqueueTest, IndirectWithoutTheFeatureIsRefused) {
  q.SetFeatures(true, false);
  Desc(0x1000, 0, 0x5000, 16, kVirtqDescFIndirect, 0);
  Publish(0);
  EXPECT_FALSE(q.Pop(mem).ok());
}

// ---------------------------------------------------------------- virtio-blk

class BlkTest : public QuietLogs {
 protected:
  void SetUp() override {
    QuietLogs::SetUp();
    char tmpl[] = "/tmp/ftd-blk-XXXXXX";
    int fd = mkstemp(tmpl);
    ASSERT_GE(fd, 0);
    path_ = tmpl;
    std::vector<uint8_t> content(64 * 512);
    for (size_t i = 0; i < content.size(); ++i) content[i] = static_cast<uint8_t>(i / 512 + i);
    ASSERT_EQ(write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
    close(fd);
    Open(false);
  }
  void TearDown() override {
    blk_.reset();
    image_.reset();
    unlink(path_.c_str());
    QuietLogs::TearDown();
  }
  void Open(bool ro) {
    blk_.reset();
    image_.reset();
    auto img = RawImage::Open(path_, ro, &events_);
    ASSERT_TRUE(img.ok()) << img.status();
    image_ = std::move(*img);
    blk_ = std::make_unique<VirtioBlk>(&mem_, &irq_, 10, image_.get(), image_->config());
    drv_ = std::make_unique<VirtioTestDriver>(blk_->transport(), &mem_);
    ASSERT_TRUE(drv_->Init(kAllRing | (1ull << kVirtioBlkFFlush)) & kVirtioStatusDriverOk);
  }
  // Applies host events as the vCPU loop does, until nothing is in flight.
  void Settle() {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (blk_->in_flight() > 0 && std::chrono::steady_clock::now() < deadline) {
      pollfd p{events_.fd(), POLLIN, 0};
      poll(&p, 1, 100);
      events_.ClearWake();
      for (HostEvent& e : events_.TakeAll()) blk_->Complete(std::get<BlockCompletionEvent>(e));
    }
    ASSERT_EQ(blk_->in_flight(), 0u);
  }
  // Builds a request: header at kData, data at kData+0x1000, status at kData+0x800.
  uint16_t Request(uint32_t type, uint64_t sector, uint32_t len, bool data_writable) {
    uint8_t hdr[16] = {};
    std::memcpy(hdr, &type, 4);
    std::memcpy(hdr + 8, &sector, 8);
    EXPECT_TRUE(mem_.Write(kData, hdr).ok());
    mem_.host()[kData + 0x800] = 0xee;
    std::vector<Buf> bufs = {{kData, 16, false}};
    if (len) bufs.push_back({kData + 0x1000, len, data_writable});
    bufs.push_back({kData + 0x800, 1, true});
    uint16_t head = drv_->AddChain(0, bufs);
    drv_->Notify(0);
    return head;
  }
  uint8_t Status() { return mem_.host()[kData + 0x800]; }

  std::string path_;
  GuestMemory mem_ = NewMemory();
  FakeIrq irq_;
  HostEventQueue events_;
  std::unique_ptr<RawImage> image_;
  std::unique_ptr<VirtioBlk> blk_;
  std::unique_ptr<VirtioTestDriver> drv_;
};

TEST_F(BlkTest, ReadCompletesAtTheNextPointOnly) {
  uint16_t head = Request(kVirtioBlkTIn, 3, 1024, true);
  // Nothing reaches guest memory before the completion is applied.
  EXPECT_EQ(drv_->UsedIdx(0), 0);
  EXPECT_EQ(Status(), 0xee);
  mem_.TakeVmmDirtyPages();
  Settle();
  EXPECT_EQ(Status(), kVirtioBlkSOk);
  ASSERT_EQ(drv_->UsedIdx(0), 1);
  EXPECT_EQ(drv_->UsedElem(0, 0), std::make_pair(uint32_t{head}, 1025u));
  for (size_t i = 0; i < 1024; ++i) {
    size_t off = 3 * 512 + i;
    ASSERT_EQ(mem_.host()[kData + 0x1000 + i], static_cast<uint8_t>(off / 512 + off)) << i;
  }
  // The VMM's own writes are in the VMM-dirty set (epoch hashes need them).
  auto dirty = mem_.TakeVmmDirtyPages();
  EXPECT_NE(std::find(dirty.begin(), dirty.end(), (kData + 0x1000) / kPageSize), dirty.end());
  EXPECT_TRUE(irq_.levels[10]);
}

TEST_F(BlkTest, WriteThenFlushReachesTheFile) {
  std::memset(mem_.host() + kData + 0x1000, 0xab, 512);
  Request(kVirtioBlkTOut, 63, 512, false);
  // The data was copied at the notify: the guest may scribble over its buffer now.
  std::memset(mem_.host() + kData + 0x1000, 0, 512);
  Settle();
  EXPECT_EQ(Status(), kVirtioBlkSOk);
  Request(kVirtioBlkTFlush, 0, 0, false);
  Settle();
  EXPECT_EQ(Status(), kVirtioBlkSOk);
  EXPECT_EQ(drv_->UsedIdx(0), 2);
  std::ifstream f(path_, std::ios::binary);
  f.seekg(63 * 512);
  char c[512];
  f.read(c, 512);
  for (char x : c) ASSERT_EQ(static_cast<uint8_t>(x), 0xab);
}

TEST_F(BlkTest, GetIdIsDerivedFromThePath) {
  Request(kVirtioBlkTGetId, 0, 20, true);
  EXPECT_EQ(blk_->in_flight(), 0u);  // answered at the notify
  EXPECT_EQ(Status(), kVirtioBlkSOk);
  std::string id(reinterpret_cast<char*>(mem_.host() + kData + 0x1000), 20);
  EXPECT_EQ(id, BlockSerialForPath(path_));
  EXPECT_EQ(BlockSerialForPath(path_), BlockSerialForPath(path_));
  EXPECT_NE(BlockSerialForPath(path_), BlockSerialForPath(path_ + "x"));
}

TEST_F(BlkTest, OutOfBoundsAndMalformedRequestsFail) {
  Request(kVirtioBlkTIn, 63, 1024, true);  // crosses the end
  EXPECT_EQ(Status(), kVirtioBlkSIoErr);
  Request(kVirtioBlkTIn, ~0ull / 512, 512, true);  // sector*512 overflows
  EXPECT_EQ(Status(), kVirtioBlkSIoErr);
  Request(kVirtioBlkTIn, 0, 100, true);  // not whole sectors
  EXPECT_EQ(Status(), kVirtioBlkSIoErr);
  Request(77, 0, 0, false);
  EXPECT_EQ(Status(), kVirtioBlkSUnsupp);
  // Header too short.
  drv_->AddChain(0, {{kData, 8, false}, {kData + 0x800, 1, true}});
  drv_->Notify(0);
  EXPECT_EQ(Status(), kVirtioBlkSIoErr);
  // No status byte at all: returned with length 0.
  drv_->AddChain(0, {{kData, 16, false}});
  drv_->Notify(0);
  EXPECT_EQ(blk_->in_flight(), 0u);
  uint16_t n = drv_->UsedIdx(0);
  EXPECT_EQ(n, 6);
  EXPECT_EQ(drv_->UsedElem(0, n - 1).second, 0u);
  EXPECT_FALSE(blk_->transport()->status() & kVirtioStatusNeedsReset);
}

// A tracked disk (docs/pair.md "Incremental disk for a rejoin"): the guest's writes are in
// the map; a write beyond the end still gets the device's own error and touches no map.
TEST_F(BlkTest, TrackedWritesAreMarkedAndBadOnesStillFail) {
  auto map = DirtyBlockMap::OpenOrCreate(path_, 64 * 512);
  ASSERT_TRUE(map.ok()) << map.status();
  ASSERT_TRUE((*map)->BeginGeneration(1).ok());
  image_->set_dirty_map(map->get());
  auto sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(16);
  spdlog::default_logger()->sinks().push_back(sink);
  spdlog::set_level(spdlog::level::warn);
  Request(kVirtioBlkTOut, 63, 512, false);  // the last sector: block 7
  Settle();
  EXPECT_EQ(Status(), kVirtioBlkSOk);
  Request(kVirtioBlkTOut, 63, 1024, false);  // crosses the end
  EXPECT_EQ(Status(), kVirtioBlkSIoErr);
  EXPECT_EQ(blk_->in_flight(), 0u);  // refused by the device, never submitted
  spdlog::default_logger()->sinks().pop_back();
  spdlog::set_level(spdlog::level::err);
  const std::vector<std::string> logged = sink->last_formatted();
  ASSERT_EQ(logged.size(), 1u);
  EXPECT_NE(logged[0].find("request beyond the disk's capacity at sector: 63"), std::string::npos)
      << logged[0];
  auto blocks = (*map)->BlocksOf(1);
  ASSERT_TRUE(blocks.ok()) << blocks.status();
  EXPECT_EQ(*blocks, std::vector<uint64_t>{7});
  image_->set_dirty_map(nullptr);
  map->reset();
  unlink(DirtyBlockMap::PathFor(path_).c_str());
}

TEST_F(BlkTest, ReadOnlyImage) {
  Open(true);
  drv_->SetReg(mm::kDeviceFeaturesSel, 0);
  EXPECT_TRUE(drv_->Reg(mm::kDeviceFeatures) & (1u << kVirtioBlkFRo));
  Request(kVirtioBlkTOut, 0, 512, false);
  EXPECT_EQ(Status(), kVirtioBlkSIoErr);
  Request(kVirtioBlkTIn, 0, 512, true);
  Settle();
  EXPECT_EQ(Status(), kVirtioBlkSOk);
}

TEST_F(BlkTest, ImageSizeMustBeWholeSectors) {
  std::string odd = path_ + ".odd";
  { std::ofstream(odd) << "abc"; }
  auto img = RawImage::Open(odd, false, &events_);
  EXPECT_EQ(img.status().code(), absl::StatusCode::kInvalidArgument);
  unlink(odd.c_str());
  EXPECT_EQ(RawImage::Open("/nonexistent/disk.img", false, &events_).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(BlkTest, ResetDropsInFlightCompletions) {
  Request(kVirtioBlkTIn, 0, 512, true);
  drv_->SetReg(mm::kStatus, 0);
  EXPECT_EQ(blk_->in_flight(), 0u);
  // The completion arrives for a request the driver gave up on: ignored.
  pollfd p{events_.fd(), POLLIN, 0};
  poll(&p, 1, 5000);
  for (HostEvent& e : events_.TakeAll()) blk_->Complete(std::get<BlockCompletionEvent>(e));
  EXPECT_EQ(Status(), 0xee);
}

TEST_F(BlkTest, SaveRestoreSave) {
  Request(kVirtioBlkTIn, 1, 512, true);
  Settle();
  auto first = blk_->Save();
  auto restored = VirtioBlk::Restore(&mem_, &irq_, 10, image_.get(), image_->config(), first);
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_TRUE(MessageDifferencer::Equals(first, (*restored)->Save()));
  // A different image size is refused with a message.
  VirtioBlkConfig other = image_->config();
  other.capacity_bytes += 512;
  auto bad = VirtioBlk::Restore(&mem_, &irq_, 10, image_.get(), other, first);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  // The restored device continues the ring where the first left it.
  blk_ = std::move(*restored);
  drv_->t_ = blk_->transport();
  Request(kVirtioBlkTIn, 2, 512, true);
  Settle();
  EXPECT_EQ(drv_->UsedIdx(0), 2);
}

// ---------------------------------------------------------------- virtio-net

class NetTest : public QuietLogs {
 protected:
  void SetUp() override {
    QuietLogs::SetUp();
    auto [a, b] = MakeInProcessNetPair(&events_, nullptr);
    backend_ = std::move(a);
    peer_ = std::move(b);
    net_ = std::make_unique<VirtioNet>(&mem_, &irq_, 11, kMac,
                                       [this](std::vector<uint8_t> f) { backend_->Send(f); });
    drv_ = std::make_unique<VirtioTestDriver>(net_->transport(), &mem_);
    ASSERT_TRUE(drv_->Init(kAllRing | (1ull << kVirtioNetFMac) | (1ull << kVirtioNetFStatus)) &
                kVirtioStatusDriverOk);
  }
  void ApplyEvents() {
    for (HostEvent& e : events_.TakeAll())
      net_->ReceiveFrame(std::get<FrameReceivedEvent>(e).frame);
  }
  void AddRxBuffer(int i, uint32_t len = 2048) {
    drv_->AddChain(VirtioNet::kRxQueue, {{kData + 0x10000 + 0x1000ull * i, len, true}});
  }
  static std::vector<uint8_t> Frame(size_t n, uint8_t seed) {
    std::vector<uint8_t> f(n);
    for (size_t i = 0; i < n; ++i) f[i] = static_cast<uint8_t>(seed + i);
    return f;
  }
  static constexpr MacAddress kMac = {2, 0, 0, 0, 0, 7};
  GuestMemory mem_ = NewMemory();
  FakeIrq irq_;
  HostEventQueue events_;
  std::unique_ptr<InProcessNetEndpoint> backend_, peer_;
  std::unique_ptr<VirtioNet> net_;
  std::unique_ptr<VirtioTestDriver> drv_;
};

TEST_F(NetTest, ConfigHasMacAndLinkUp) {
  uint8_t cfg[8];
  net_->transport()->Read(mm::kConfig, cfg);
  EXPECT_EQ(std::memcmp(cfg, kMac.data(), 6), 0);
  EXPECT_EQ(cfg[6], 1);
}

TEST_F(NetTest, TransmitReachesThePeer) {
  std::vector<uint8_t> hdr(kVirtioNetHeaderBytes, 0);
  auto frame = Frame(60, 1);
  ASSERT_TRUE(mem_.Write(kData, hdr).ok());
  ASSERT_TRUE(mem_.Write(kData + 0x100, frame).ok());
  // Header and frame in separate descriptors, as Linux sends them.
  drv_->AddChain(VirtioNet::kTxQueue, {{kData, 12, false}, {kData + 0x100, 60, false}});
  drv_->Notify(VirtioNet::kTxQueue);
  auto got = peer_->TakeReceived();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], frame);
  EXPECT_EQ(drv_->UsedIdx(VirtioNet::kTxQueue), 1);
  // Garbage from the guest: too short, and oversized.
  drv_->AddChain(VirtioNet::kTxQueue, {{kData, 12, false}});
  drv_->AddChain(VirtioNet::kTxQueue, {{kData, 12 + 70000, false}});
  drv_->Notify(VirtioNet::kTxQueue);
  EXPECT_TRUE(peer_->TakeReceived().empty());
  EXPECT_EQ(net_->tx_dropped(), 2u);
  EXPECT_EQ(drv_->UsedIdx(VirtioNet::kTxQueue), 3);
}

TEST_F(NetTest, ReceiveIntoAvailableBuffer) {
  AddRxBuffer(0);
  drv_->Notify(VirtioNet::kRxQueue);
  auto frame = Frame(100, 9);
  peer_->Send(frame);
  EXPECT_EQ(drv_->UsedIdx(VirtioNet::kRxQueue), 0);  // not before a point
  ApplyEvents();
  ASSERT_EQ(drv_->UsedIdx(VirtioNet::kRxQueue), 1);
  EXPECT_EQ(drv_->UsedElem(VirtioNet::kRxQueue, 0).second, 112u);
  uint8_t* buf = mem_.host() + kData + 0x10000;
  EXPECT_EQ(buf[10], 1);  // num_buffers
  EXPECT_EQ(std::memcmp(buf + 12, frame.data(), frame.size()), 0);
  EXPECT_TRUE(irq_.levels[11]);
}

TEST_F(NetTest, FramesWaitForRxBuffersBounded) {
  for (int i = 0; i < 300; ++i) peer_->Send(Frame(60, static_cast<uint8_t>(i)));
  ApplyEvents();
  EXPECT_EQ(net_->rx_pending(), VirtioNet::kMaxRxPending);
  EXPECT_EQ(net_->rx_dropped(), 300u - VirtioNet::kMaxRxPending);
  AddRxBuffer(0);
  drv_->Notify(VirtioNet::kRxQueue);
  ASSERT_EQ(drv_->UsedIdx(VirtioNet::kRxQueue), 1);
  // The oldest were dropped: the first delivered is frame #44.
  EXPECT_EQ(mem_.host()[kData + 0x10000 + 12], 300 - VirtioNet::kMaxRxPending);
  EXPECT_EQ(net_->rx_pending(), VirtioNet::kMaxRxPending - 1);
}

TEST_F(NetTest, GarbageFramesAreDroppedNotFatal) {
  AddRxBuffer(0, 200);
  AddRxBuffer(1, 200);
  drv_->Notify(VirtioNet::kRxQueue);
  peer_->Send({});               // empty
  peer_->Send(Frame(5, 0));      // shorter than an Ethernet header
  peer_->Send(Frame(70000, 0));  // larger than any frame
  peer_->Send(Frame(1500, 0));   // larger than the 200-byte buffer
  peer_->Send(Frame(64, 0));     // fine
  ApplyEvents();
  EXPECT_EQ(net_->rx_dropped(), 4u);
  ASSERT_EQ(drv_->UsedIdx(VirtioNet::kRxQueue), 2);
  EXPECT_EQ(drv_->UsedElem(VirtioNet::kRxQueue, 0).second, 0u);  // buffer returned empty
  EXPECT_EQ(drv_->UsedElem(VirtioNet::kRxQueue, 1).second, 76u);
  EXPECT_FALSE(net_->transport()->status() & kVirtioStatusNeedsReset);
}

TEST_F(NetTest, MalformedRxChainNeedsReset) {
  drv_->WriteDesc(VirtioNet::kRxQueue, 0, kData, 100, kVirtqDescFNext | kVirtqDescFWrite,
                  0);  // loop
  drv_->PublishHead(VirtioNet::kRxQueue, 0);
  drv_->Notify(VirtioNet::kRxQueue);
  peer_->Send(Frame(60, 0));
  ApplyEvents();
  EXPECT_TRUE(net_->transport()->status() & kVirtioStatusNeedsReset);
  EXPECT_TRUE(irq_.levels[11]);
  // Reset and reinitialise: the queued frame is still there and gets delivered.
  drv_ = std::make_unique<VirtioTestDriver>(net_->transport(), &mem_);
  ASSERT_TRUE(drv_->Init(kAllRing) & kVirtioStatusDriverOk);
  AddRxBuffer(0);
  drv_->Notify(VirtioNet::kRxQueue);
  EXPECT_EQ(drv_->UsedIdx(VirtioNet::kRxQueue), 1);
}

TEST_F(NetTest, SaveRestoreSaveWithPendingFrames) {
  peer_->Send(Frame(60, 1));
  peer_->Send(Frame(61, 2));
  ApplyEvents();
  auto first = net_->Save();
  EXPECT_EQ(first.rx_pending_size(), 2);
  auto restored = VirtioNet::Restore(&mem_, &irq_, 11, nullptr, first);
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_TRUE(MessageDifferencer::Equals(first, (*restored)->Save()));
  auto bad = first;
  bad.set_mac("abc");
  EXPECT_FALSE(VirtioNet::Restore(&mem_, &irq_, 11, nullptr, bad).ok());
  bad = first;
  bad.mutable_transport()->mutable_queues()->RemoveLast();
  EXPECT_FALSE(VirtioNet::Restore(&mem_, &irq_, 11, nullptr, bad).ok());
  bad = first;
  bad.mutable_transport()->mutable_queues(0)->set_desc_addr(1ull << 40);
  EXPECT_FALSE(VirtioNet::Restore(&mem_, &irq_, 11, nullptr, bad).ok());
}

TEST(GuestCmdlineTest, AnnouncesVirtioDevicesLikeLinux) {
  MachineConfig c;
  EXPECT_EQ(GuestCmdline(c), "");  // no devices: the command line is the user's, unchanged
  c.cmdline = "quiet";
  EXPECT_EQ(GuestCmdline(c), "quiet");
  c.disk_path = "/tmp/d.img";
  EXPECT_EQ(GuestCmdline(c), "quiet virtio_mmio.device=512@0xd0000000:10");
  c.net = "tap:ftd0";
  EXPECT_EQ(GuestCmdline(c),
            "quiet virtio_mmio.device=512@0xd0000000:10 virtio_mmio.device=512@0xd0000200:11");
  c.cmdline.clear();
  c.disk_path.clear();
  EXPECT_EQ(GuestCmdline(c), "virtio_mmio.device=512@0xd0000200:11");
}

TEST(GuestCmdlineTest, ParseMac) {
  auto m = ParseMac("52:54:00:12:34:5F");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ((*m)[5], 0x5f);
  EXPECT_FALSE(ParseMac("52:54:00:12:34").has_value());
  EXPECT_FALSE(ParseMac("52-54-00-12-34-56").has_value());
  EXPECT_FALSE(ParseMac("52:54:00:12:34:5g").has_value());
}

TEST(HostEventQueueTest, PostWakesAndKeepsOrder) {
  HostEventQueue q;
  ASSERT_TRUE(q.status().ok());
  int woken = 0;
  q.SetWaker([&] { ++woken; });
  q.Post(SerialInputEvent{{'a'}});
  q.Post(FrameReceivedEvent{{1, 2}});
  EXPECT_EQ(woken, 2);
  pollfd p{q.fd(), POLLIN, 0};
  EXPECT_EQ(poll(&p, 1, 0), 1);
  q.ClearWake();
  EXPECT_EQ(poll(&p, 1, 0), 0);
  auto all = q.TakeAll();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_TRUE(std::holds_alternative<SerialInputEvent>(all[0]));
  EXPECT_TRUE(q.empty());
}

}  // namespace
}  // namespace ftd::vmm
