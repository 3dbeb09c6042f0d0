#include "kernels/cuda/cupti_records.h"

#include <cxxabi.h>

#include <algorithm>
#include <cstdlib>
#include <map>

namespace attnscope::cuda {

namespace {

std::string demangle(const char* name) {
  if (!name) return "?";
  int status = 0;
  char* d = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  std::string out = status == 0 && d ? d : name;
  std::free(d);
  return out;
}

// CUPTI timestamps are unsigned nanoseconds; before t0 (the upload) is negative on the run's axis.
double us_since(uint64_t t, uint64_t t0) {
  return t >= t0 ? static_cast<double>(t - t0) / 1000.0 : -static_cast<double>(t0 - t) / 1000.0;
}

}  // namespace

void decode_record(const CUpti_Activity* rec, RawTrace* out) {
  TraceCounts& c = out->counts;
  switch (rec->kind) {
    case CUPTI_ACTIVITY_KIND_KERNEL:
    case CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL: {
      auto* k = reinterpret_cast<const KernelActivity*>(rec);
      RawKernel r;
      r.name = demangle(k->name);
      r.start = k->start;
      r.end = k->end;
      r.grid[0] = k->gridX, r.grid[1] = k->gridY, r.grid[2] = k->gridZ;
      r.block[0] = k->blockX, r.block[1] = k->blockY, r.block[2] = k->blockZ;
      r.regs = k->registersPerThread;
      r.smem_static = static_cast<int>(k->staticSharedMemory);
      r.smem_dynamic = static_cast<int>(k->dynamicSharedMemory);
      r.stream = k->streamId;
      r.correlation = k->correlationId;
      out->kernels.push_back(std::move(r));
      c.kernels++;
      break;
    }
    case CUPTI_ACTIVITY_KIND_MEMCPY: c.memcpys++; break;
    case CUPTI_ACTIVITY_KIND_MEMSET: c.memsets++; break;
    case CUPTI_ACTIVITY_KIND_MEMORY2: {
      auto* m = reinterpret_cast<const CUpti_ActivityMemory4*>(rec);
      if (m->memoryOperationType == CUPTI_ACTIVITY_MEMORY_OPERATION_TYPE_ALLOCATION)
        c.memory_alloc_bytes += static_cast<int64_t>(m->bytes);
      c.memory++;
      break;
    }
    case CUPTI_ACTIVITY_KIND_OVERHEAD: c.overhead++; break;
    case CUPTI_ACTIVITY_KIND_RUNTIME:
    case CUPTI_ACTIVITY_KIND_DRIVER: c.api++; break;
    case CUPTI_ACTIVITY_KIND_EXTERNAL_CORRELATION: {
      auto* e = reinterpret_cast<const ExternalCorrelationActivity*>(rec);
      if (e->externalKind == CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0) out->external[e->correlationId] = e->externalId;
      c.external++;
      break;
    }
    case CUPTI_ACTIVITY_KIND_MARKER: {
      auto* m = reinterpret_cast<const MarkerActivity*>(rec);
      c.markers++;
      // Instantaneous markers and the synchronisation flavours are not ranges.
      const bool start = (m->flags & CUPTI_ACTIVITY_FLAG_MARKER_START) != 0;
      const bool end = (m->flags & CUPTI_ACTIVITY_FLAG_MARKER_END) != 0;
      if (!start && !end) break;
      RawMarker r;
      r.id = m->id;
      r.timestamp = m->timestamp;
      r.start = start;
      if (start) r.name = m->name ? m->name : "";
      r.domain = m->domain ? m->domain : "";
      out->markers.push_back(std::move(r));
      break;
    }
    default: c.other++; break;
  }
}

AssembledTrace assemble(const RawTrace& raw, uint64_t t0_ns, const std::string& domain) {
  AssembledTrace a;
  for (const RawKernel& r : raw.kernels) {
    KernelRecord k;
    k.name = r.name;
    k.start_us = us_since(r.start, t0_ns);
    k.dur_us = r.end >= r.start ? static_cast<double>(r.end - r.start) / 1000.0 : 0.0;
    for (int i = 0; i < 3; ++i) k.grid[i] = r.grid[i], k.block[i] = r.block[i];
    k.registers = r.regs;
    k.shared_static = r.smem_static;
    k.shared_dynamic = r.smem_dynamic;
    k.stream = static_cast<int>(r.stream);
    k.correlation = r.correlation;
    auto it = raw.external.find(r.correlation);
    k.repeat = it == raw.external.end() ? -2 : static_cast<int>(static_cast<int64_t>(it->second) - 2);
    if (k.repeat == -2) a.untagged++;
    a.kernels.push_back(std::move(k));
  }
  std::stable_sort(a.kernels.begin(), a.kernels.end(),
                   [](const KernelRecord& x, const KernelRecord& y) { return x.start_us < y.start_us; });

  // Ranges: a start and an end marker share the id; the domain's only.
  struct Open {
    uint64_t start;
    std::string name;
  };
  std::map<uint32_t, Open> open;
  struct Closed {
    uint64_t start, end;
    std::string name;
  };
  std::vector<Closed> closed;
  for (const RawMarker& m : raw.markers) {
    if (m.domain != domain) continue;
    if (m.start) {
      if (open.count(m.id)) a.unpaired_markers++;  // a start repeated: keep the later one
      open[m.id] = {m.timestamp, m.name.empty() ? "(unnamed)" : m.name};
    } else {
      auto it = open.find(m.id);
      if (it == open.end()) {
        a.unpaired_markers++;
        continue;
      }
      closed.push_back({it->second.start, std::max(m.timestamp, it->second.start), it->second.name});
      open.erase(it);
    }
  }
  a.unpaired_markers += static_cast<int>(open.size());
  // Depth from nesting: push/pop ranges of one thread nest, so a range's depth is the number of
  // ranges still open at its start (earlier start; the longer first where two start together).
  std::stable_sort(closed.begin(), closed.end(), [](const Closed& x, const Closed& y) {
    return x.start != y.start ? x.start < y.start : x.end > y.end;
  });
  std::vector<uint64_t> ends;
  for (const Closed& c : closed) {
    while (!ends.empty() && ends.back() <= c.start) ends.pop_back();
    RangeRecord r;
    r.name = c.name;
    r.start_us = us_since(c.start, t0_ns);
    r.dur_us = static_cast<double>(c.end - c.start) / 1000.0;
    r.depth = static_cast<int>(ends.size());
    a.ranges.push_back(std::move(r));
    ends.push_back(c.end);
  }
  return a;
}

}  // namespace attnscope::cuda
