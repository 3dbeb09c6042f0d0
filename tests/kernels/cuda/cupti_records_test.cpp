// The CUPTI record decoding (kernels/cuda/cupti_records.h) on synthetic activity buffers: the
// records are CUPTI's own structs, packed one after another as CUPTI packs them, and walked with
// CUPTI's cuptiActivityGetNextRecord (which needs no GPU or driver), exactly as buffer_completed
// walks a real buffer. What a run of the harness produces: NVTX markers of the attnscope domain and
// of another domain, launch API records with their external correlation records (repeat + 2),
// kernels, a memset and an overhead record.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "kernels/cuda/cupti_records.h"
#include "kernels/cuda/nvtx_ranges.h"

namespace attnscope::cuda {
namespace {

// An activity buffer: records appended back to back, 8-byte aligned as CUPTI hands them out.
class Buffer {
 public:
  template <typename T>
  void add(const T& rec) {
    const size_t at = bytes_.size();
    bytes_.resize(at + sizeof(T));
    std::memcpy(bytes_.data() + at, &rec, sizeof(T));
  }
  // Walks the buffer with CUPTI's own iterator into decode_record.
  RawTrace decode() {
    std::vector<uint64_t> aligned((bytes_.size() + 7) / 8);
    std::memcpy(aligned.data(), bytes_.data(), bytes_.size());
    auto* p = reinterpret_cast<uint8_t*>(aligned.data());
    RawTrace raw;
    CUpti_Activity* rec = nullptr;
    int n = 0;
    while (cuptiActivityGetNextRecord(p, bytes_.size(), &rec) == CUPTI_SUCCESS) {
      decode_record(rec, &raw);
      ++n;
    }
    walked = n;
    return raw;
  }
  int walked = 0;

 private:
  std::vector<uint8_t> bytes_;
};

MarkerActivity marker(uint32_t id, uint64_t t, bool start, const char* name, const char* domain) {
  MarkerActivity m{};
  m.kind = CUPTI_ACTIVITY_KIND_MARKER;
  m.flags = start ? CUPTI_ACTIVITY_FLAG_MARKER_START : CUPTI_ACTIVITY_FLAG_MARKER_END;
  m.timestamp = t;
  m.id = id;
  m.objectKind = CUPTI_ACTIVITY_OBJECT_THREAD;
  m.name = start ? name : nullptr;  // CUPTI: NULL for an end marker
  m.domain = domain;
  return m;
}

KernelActivity kernel(const char* name, uint32_t correlation, uint64_t start, uint64_t end) {
  KernelActivity k{};
  k.kind = CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL;
  k.name = name;
  k.correlationId = correlation;
  k.start = start;
  k.end = end;
  k.gridX = 4, k.gridY = 64, k.gridZ = 1;
  k.blockX = 128, k.blockY = 1, k.blockZ = 1;
  k.registersPerThread = 162;
  k.staticSharedMemory = 0;
  k.dynamicSharedMemory = 27648;
  k.streamId = 13;
  return k;
}

ApiActivity launch_api(uint32_t correlation, uint64_t t) {
  ApiActivity a{};
  a.kind = CUPTI_ACTIVITY_KIND_RUNTIME;
  a.cbid = CUPTI_RUNTIME_TRACE_CBID_cudaLaunchKernel_v7000;
  a.start = t;
  a.end = t + 3000;
  a.correlationId = correlation;
  return a;
}

ExternalCorrelationActivity external(uint32_t correlation, int repeat) {
  ExternalCorrelationActivity e{};
  e.kind = CUPTI_ACTIVITY_KIND_EXTERNAL_CORRELATION;
  e.externalKind = CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0;
  e.externalId = external_id_of_repeat(repeat);
  e.correlationId = correlation;
  return e;
}

// One sink run as the harness records it: times in ns on CUPTI's clock, t0 (first warm-up launch)
// at 2,000,000 ns.
constexpr uint64_t kT0 = 2'000'000;
constexpr const char* kKernel = "_ZN9attnscope4cuda16flash_fwd_kernelEv";  // attnscope::cuda::flash_fwd_kernel()

Buffer harness_run() {
  Buffer b;
  const char* d = kNvtxDomain;
  b.add(marker(1, 1'000'000, true, "sink", d));
  b.add(marker(2, 1'100'000, true, "upload", d));
  b.add(marker(2, 1'900'000, false, nullptr, d));
  b.add(marker(90, 1'200'000, true, "cublasLt internal", nullptr));  // NVTX's default domain: not ours
  b.add(marker(90, 1'300'000, false, nullptr, nullptr));
  b.add(marker(3, 2'000'000, true, "warm-up", d));
  b.add(marker(4, 2'010'000, true, "warm-up 0", d));
  b.add(external(11, -1));  // CUPTI puts the external correlation record before its API record
  b.add(launch_api(11, 2'020'000));
  b.add(marker(4, 2'100'000, false, nullptr, d));
  b.add(marker(3, 2'110'000, false, nullptr, d));
  b.add(marker(5, 2'200'000, true, "timed repeats", d));
  for (int i = 0; i < 2; ++i) {
    const uint64_t t = 2'210'000 + i * 100'000;
    b.add(marker(6 + i, t, true, i == 0 ? "repeat 0" : "repeat 1", d));
    b.add(external(12 + i, i));
    b.add(launch_api(12 + i, t + 10'000));
    b.add(marker(6 + i, t + 90'000, false, nullptr, d));
  }
  b.add(marker(5, 2'410'000, false, nullptr, d));
  b.add(marker(42, 2'500'000, false, nullptr, d));  // an end whose start was never delivered
  // Kernels arrive in their own buffer order, not in time order.
  b.add(kernel(kKernel, 13, 2'330'000, 2'347'000));
  b.add(kernel(kKernel, 11, 2'050'000, 2'066'500));
  b.add(kernel(kKernel, 12, 2'230'000, 2'247'500));
  b.add(kernel("flush_like_kernel", 99, 2'600'000, 2'601'000));  // launched outside every repeat
  CUpti_ActivityMemset4 ms{};
  ms.kind = CUPTI_ACTIVITY_KIND_MEMSET;
  ms.start = 2'205'000;
  ms.end = 2'206'000;
  b.add(ms);
  CUpti_ActivityOverhead3 ov{};
  ov.kind = CUPTI_ACTIVITY_KIND_OVERHEAD;
  b.add(ov);
  b.add(marker(1, 5'000'000, false, nullptr, d));
  return b;
}

TEST(CuptiRecords, CuptisWalkerReadsEveryRecordOfTheSyntheticBuffer) {
  Buffer b = harness_run();
  RawTrace raw = b.decode();
  EXPECT_EQ(b.walked, 29);
  EXPECT_EQ(raw.counts.kernels, 4);
  EXPECT_EQ(raw.counts.api, 3);
  EXPECT_EQ(raw.counts.external, 3);
  EXPECT_EQ(raw.counts.memsets, 1);
  EXPECT_EQ(raw.counts.overhead, 1);
  EXPECT_EQ(raw.counts.markers, 17);
  EXPECT_EQ(raw.counts.other, 0);
  EXPECT_EQ(raw.external.size(), 3u);
  EXPECT_EQ(raw.external.at(11), 1u);  // warm-up: -1 + 2
}

TEST(CuptiRecords, KernelsAreAttributedToTheirRepeatThroughExternalCorrelation) {
  AssembledTrace a = assemble(harness_run().decode(), kT0, kNvtxDomain);
  ASSERT_EQ(a.kernels.size(), 4u);
  // Start order, times in us since t0, repeats from the external ids; the flush-like kernel has none.
  const int want_repeat[] = {-1, 0, 1, -2};
  const double want_start[] = {50.0, 230.0, 330.0, 600.0};
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(a.kernels[i].repeat, want_repeat[i]) << i;
    EXPECT_DOUBLE_EQ(a.kernels[i].start_us, want_start[i]) << i;
  }
  EXPECT_EQ(a.untagged, 1);
  const KernelRecord& k = a.kernels[0];
  EXPECT_EQ(k.name, "attnscope::cuda::flash_fwd_kernel()");  // demangled
  EXPECT_DOUBLE_EQ(k.dur_us, 16.5);
  EXPECT_EQ(k.grid[1], 64);
  EXPECT_EQ(k.block[0], 128);
  EXPECT_EQ(k.registers, 162);
  EXPECT_EQ(k.shared_dynamic, 27648);
  EXPECT_EQ(k.stream, 13);
  EXPECT_EQ(k.correlation, 11u);
  EXPECT_EQ(a.kernels[3].name, "flush_like_kernel");  // not a mangled name: kept as it is
}

TEST(CuptiRecords, NvtxMarkersOfTheDomainPairIntoNestedRanges) {
  AssembledTrace a = assemble(harness_run().decode(), kT0, kNvtxDomain);
  struct Want {
    const char* name;
    double start, dur;
    int depth;
  };
  const Want want[] = {{"sink", -1000, 4000, 0},        {"upload", -900, 800, 1},
                       {"warm-up", 0, 110, 1},          {"warm-up 0", 10, 90, 2},
                       {"timed repeats", 200, 210, 1},  {"repeat 0", 210, 90, 2},
                       {"repeat 1", 310, 90, 2}};
  ASSERT_EQ(a.ranges.size(), 7u) << "the default domain's range is not attnscope's";
  for (size_t i = 0; i < 7; ++i) {
    EXPECT_EQ(a.ranges[i].name, want[i].name) << i;
    EXPECT_DOUBLE_EQ(a.ranges[i].start_us, want[i].start) << want[i].name;
    EXPECT_DOUBLE_EQ(a.ranges[i].dur_us, want[i].dur) << want[i].name;
    EXPECT_EQ(a.ranges[i].depth, want[i].depth) << want[i].name;
  }
  EXPECT_EQ(a.unpaired_markers, 1);
  // Each timed kernel starts inside the range of the repeat it is attributed to.
  for (const KernelRecord& k : a.kernels) {
    if (k.repeat < 0) continue;
    const RangeRecord& r = a.ranges[5 + k.repeat];
    EXPECT_GE(k.start_us, r.start_us);
  }
}

TEST(CuptiRecords, WithoutApiRecordsNoExternalCorrelationArrivesAndNothingIsTagged) {
  // What the committed H100 fixture came from: the harness enabled no API activity kind, and CUPTI
  // emits an external correlation record only beside an API record, so every kernel came untagged
  // (repeats were then assigned by launch order).
  Buffer b;
  b.add(kernel(kKernel, 21, 2'050'000, 2'060'000));
  b.add(kernel(kKernel, 22, 2'150'000, 2'160'000));
  AssembledTrace a = assemble(b.decode(), kT0, kNvtxDomain);
  ASSERT_EQ(a.kernels.size(), 2u);
  EXPECT_EQ(a.untagged, 2);
  for (const KernelRecord& k : a.kernels) EXPECT_EQ(k.repeat, -2);
}

TEST(CuptiRecords, AnotherExternalKindIsNotARepeat) {
  Buffer b;
  ExternalCorrelationActivity e = external(31, 4);
  e.externalKind = CUPTI_EXTERNAL_CORRELATION_KIND_OPENACC;
  b.add(e);
  b.add(kernel(kKernel, 31, 2'050'000, 2'060'000));
  AssembledTrace a = assemble(b.decode(), kT0, kNvtxDomain);
  ASSERT_EQ(a.kernels.size(), 1u);
  EXPECT_EQ(a.kernels[0].repeat, -2);
}

}  // namespace
}  // namespace attnscope::cuda
