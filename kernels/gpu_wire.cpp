#include "kernels/gpu_wire.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace attnscope::wire {

namespace {
// Fields of an aggregate (arrays count per element): T{Any, Any, ...} compiles up to that many.
struct Any {
  template <class T>
  operator T() const;
};
template <class T, class... A>
constexpr int field_count() {
  if constexpr (requires { T{A{}..., Any{}}; })
    return field_count<T, A..., Any>();
  else
    return sizeof...(A);
}
}  // namespace

// A new field in one of these structs must cross the process boundary too: the counts (and the
// sizes, x86-64 libstdc++) below fail the build until put/get here carry it; then bump
// kGpuBackendAbi.
static_assert(field_count<LayerSpec>() == 24 && sizeof(LayerSpec) == 232, "LayerSpec changed: carry it in put/get(LayerSpec)");
static_assert(field_count<DeviceInfo>() == 10 && sizeof(DeviceInfo) == 104, "DeviceInfo changed: update put/get(DeviceInfo)");
static_assert(field_count<Reason>() == 4 && field_count<Verdict>() == 2, "Verdict changed: update put/get(Verdict)");
static_assert(field_count<Inputs>() == 7 && sizeof(Inputs) == 336, "Inputs changed: carry it in put/get(Inputs)");
static_assert(field_count<RunOptions>() == 9 && field_count<ProbeSpec>() == 5,
              "RunOptions changed: carry it in put/get(RunOptions)");
static_assert(field_count<RunResult>() == 28 && sizeof(RunResult) == 1304 && field_count<RangeRecord>() == 4 &&
                  field_count<Gradients>() == 13 && sizeof(Gradients) == 384 && field_count<ProbeData>() == 7 &&
                  field_count<HostSpan>() == 4 && field_count<KernelRecord>() == 15 && field_count<MemoryEvent>() == 3,
              "RunResult changed: carry it in put/get(RunResult)");

namespace {
constexpr uint64_t kMaxFrame = uint64_t{1} << 36;  // 64 GiB: larger than any capture's run
}

void Writer::str(const std::string& s) {
  u64(s.size());
  raw(s.data(), s.size());
}

void Reader::raw(void* out, size_t n) {
  if (static_cast<size_t>(end_ - p_) < n) throw WireError("message ends early");
  if (n) std::memcpy(out, p_, n);
  p_ += n;
}
uint8_t Reader::u8() { uint8_t v; raw(&v, 1); return v; }
int32_t Reader::i32() { int32_t v; raw(&v, sizeof v); return v; }
int64_t Reader::i64() { int64_t v; raw(&v, sizeof v); return v; }
uint64_t Reader::u64() { uint64_t v; raw(&v, sizeof v); return v; }
float Reader::f32() { float v; raw(&v, sizeof v); return v; }
double Reader::f64() { double v; raw(&v, sizeof v); return v; }
size_t Reader::count(size_t item_bytes) {
  const uint64_t n = u64();
  if (item_bytes && n > static_cast<uint64_t>(end_ - p_) / item_bytes) throw WireError("count beyond the message");
  return static_cast<size_t>(n);
}
std::string Reader::str() {
  std::string s(count(1), '\0');
  raw(s.data(), s.size());
  return s;
}

namespace {
template <class E>
E enum_of(Reader& r, int count) {
  const int v = r.u8();
  if (v >= count) throw WireError("enum value out of range");
  return static_cast<E>(v);
}
void put_ints(Writer& w, const std::vector<int>& v) {
  w.u64(v.size());
  for (int x : v) w.i32(x);
}
std::vector<int> get_ints(Reader& r) {
  std::vector<int> v(r.count(4));
  for (int& x : v) x = r.i32();
  return v;
}
template <class T>
void put_pod_vec(Writer& w, const std::vector<T>& v) {
  w.u64(v.size());
  w.raw(v.data(), v.size() * sizeof(T));
}
template <class T>
std::vector<T> get_pod_vec(Reader& r) {
  std::vector<T> v(r.count(sizeof(T)));
  r.raw(v.data(), v.size() * sizeof(T));
  return v;
}
}  // namespace

void put(Writer& w, const std::vector<std::string>& v) {
  w.u64(v.size());
  for (const auto& s : v) w.str(s);
}
void get(Reader& r, std::vector<std::string>* v) {
  v->assign(r.count(8), {});
  for (auto& s : *v) s = r.str();
}

void put(Writer& w, const GpuEnvironment& e) {
  w.str(e.name);
  for (int x : {e.cc_major, e.cc_minor, e.sm_count, e.sm_clock_mhz, e.memory_clock_mhz, e.sm_clock_max_mhz,
                e.memory_clock_max_mhz})
    w.i32(x);
  w.i64(e.memory_bytes);
  for (const std::string* s : {&e.driver, &e.cuda_driver, &e.cuda_runtime, &e.cublas, &e.cudnn, &e.cupti, &e.nvtx})
    w.str(*s);
}
void get(Reader& r, GpuEnvironment* e) {
  e->name = r.str();
  for (int* x : {&e->cc_major, &e->cc_minor, &e->sm_count, &e->sm_clock_mhz, &e->memory_clock_mhz,
                 &e->sm_clock_max_mhz, &e->memory_clock_max_mhz})
    *x = r.i32();
  e->memory_bytes = r.i64();
  for (std::string* s : {&e->driver, &e->cuda_driver, &e->cuda_runtime, &e->cublas, &e->cudnn, &e->cupti, &e->nvtx})
    *s = r.str();
}

void put(Writer& w, const LayerSpec& s) {
  w.str(s.name);
  w.str(s.source);
  for (int x : {s.batch, s.seq_q, s.seq_k, s.heads_q, s.heads_kv, s.head_dim, s.head_dim_v}) w.i32(x);
  w.u8(static_cast<uint8_t>(s.dtype));
  w.f64(s.scale);
  w.u8(s.causal);
  w.u8(static_cast<uint8_t>(s.align));
  w.i32(s.window_left);
  w.i32(s.window_right);
  w.i32(s.sliding_window);
  w.u8(s.sinks);
  w.f32(s.softcap);
  w.u8(static_cast<uint8_t>(s.mask));
  put_ints(w, s.kv_lengths);
  w.str(s.mask_file);
  w.u8(static_cast<uint8_t>(s.softmax_dtype));
  put_ints(w, s.cu_seqlens);
  w.i32(s.max_context);
}
void get(Reader& r, LayerSpec* s) {
  s->name = r.str();
  s->source = r.str();
  for (int* x : {&s->batch, &s->seq_q, &s->seq_k, &s->heads_q, &s->heads_kv, &s->head_dim, &s->head_dim_v}) *x = r.i32();
  s->dtype = enum_of<DType>(r, 3);
  s->scale = r.f64();
  s->causal = r.u8();
  s->align = enum_of<CausalAlign>(r, 2);
  s->window_left = r.i32();
  s->window_right = r.i32();
  s->sliding_window = r.i32();
  s->sinks = r.u8();
  s->softcap = r.f32();
  s->mask = enum_of<MaskKind>(r, 4);
  s->kv_lengths = get_ints(r);
  s->mask_file = r.str();
  s->softmax_dtype = enum_of<DType>(r, 3);
  s->cu_seqlens = get_ints(r);
  s->max_context = r.i32();
}

void put(Writer& w, const DeviceInfo& d) {
  w.u8(static_cast<uint8_t>(d.kind));
  w.str(d.name);
  w.i32(d.cc_major);
  w.i32(d.cc_minor);
  w.i64(d.mem_total);
  w.i64(d.mem_free);
  w.i32(d.sm_count);
  w.u8(d.bf16);
  w.u8(d.named);
  w.str(d.driver);
}
void get(Reader& r, DeviceInfo* d) {
  d->kind = enum_of<DeviceInfo::Kind>(r, 2);
  d->name = r.str();
  d->cc_major = r.i32();
  d->cc_minor = r.i32();
  d->mem_total = r.i64();
  d->mem_free = r.i64();
  d->sm_count = r.i32();
  d->bf16 = r.u8();
  d->named = r.u8();
  d->driver = r.str();
}

// --what-if drops travel as their enum values (kernels/what_if.h).
void put(Writer& w, const std::vector<WhatIfDrop>& v) {
  w.u64(v.size());
  for (WhatIfDrop d : v) w.u8(static_cast<uint8_t>(d));
}
void get(Reader& r, std::vector<WhatIfDrop>* v) {
  v->assign(r.count(1), WhatIfDrop::Sinks);
  for (auto& d : *v) d = enum_of<WhatIfDrop>(r, static_cast<int>(WhatIfDrop::PackedBoundaries) + 1);
}

void put(Writer& w, const Verdict& v) {
  w.u8(v.supported);
  w.u64(v.reasons.size());
  for (const auto& x : v.reasons) {
    w.u8(static_cast<uint8_t>(x.severity));
    w.str(x.code);
    w.str(x.text);
    w.str(x.source);
  }
}
void get(Reader& r, Verdict* v) {
  v->supported = r.u8();
  v->reasons.assign(r.count(25), {});
  for (auto& x : v->reasons) {
    x.severity = enum_of<Severity>(r, 4);
    x.code = r.str();
    x.text = r.str();
    x.source = r.str();
  }
}

void put(Writer& w, const Tensor& t) {
  w.u8(static_cast<uint8_t>(t.dtype));
  put_pod_vec(w, t.shape);
  put_pod_vec(w, t.data);
}
void get(Reader& r, Tensor* t) {
  t->dtype = enum_of<DType>(r, 3);
  t->shape = get_pod_vec<int64_t>(r);
  t->data = get_pod_vec<float>(r);
  if (!t->data.empty() && Tensor::count(t->shape) != t->numel()) throw WireError("tensor shape and data disagree");
}

void put(Writer& w, const Inputs& in) {
  for (const Tensor* t : {&in.q, &in.k, &in.v, &in.mask, &in.dout}) put(w, *t);
  put_pod_vec(w, in.sinks);
  w.str(in.origin);
}
void get(Reader& r, Inputs* in) {
  for (Tensor* t : {&in->q, &in->k, &in->v, &in->mask, &in->dout}) get(r, t);
  in->sinks = get_pod_vec<float>(r);
  in->origin = r.str();
}

namespace {
void put_probe_spec(Writer& w, const ProbeSpec& p) {
  w.u8(p.enabled);
  for (int x : {p.batch, p.head, p.row_begin, p.row_end}) w.i32(x);
}
void get_probe_spec(Reader& r, ProbeSpec* p) {
  p->enabled = r.u8();
  for (int* x : {&p->batch, &p->head, &p->row_begin, &p->row_end}) *x = r.i32();
}
}  // namespace

void put(Writer& w, const RunOptions& o) {
  put_probe_spec(w, o.probe);
  w.u8(o.keep_intermediates);
  w.i32(o.threads);
  w.i32(o.warmup);
  w.i32(o.repeats);
  w.i32(o.kv_tile);
  w.u8(o.backward);
}
void get(Reader& r, RunOptions* o) {
  get_probe_spec(r, &o->probe);
  o->keep_intermediates = r.u8();
  o->threads = r.i32();
  o->warmup = r.i32();
  o->repeats = r.i32();
  o->kv_tile = r.i32();
  o->backward = r.u8();
}

namespace {
// What a run cost: its host spans, GPU kernels and allocation timeline (forward and backward alike).
void put_costs(Writer& w, const std::vector<HostSpan>& spans, const std::vector<KernelRecord>& kernels,
               const std::vector<MemoryEvent>& memory) {
  w.u64(spans.size());
  for (const auto& s : spans) {
    w.str(s.name);
    w.f64(s.start_us);
    w.f64(s.dur_us);
    w.i32(s.thread);
  }
  w.u64(kernels.size());
  for (const auto& k : kernels) {
    w.str(k.name);
    w.f64(k.start_us);
    w.f64(k.dur_us);
    for (int x : {k.grid[0], k.grid[1], k.grid[2], k.block[0], k.block[1], k.block[2], k.registers, k.shared_static,
                  k.shared_dynamic, k.stream, k.repeat})
      w.i32(x);
    w.u64(k.correlation);
  }
  w.u64(memory.size());
  for (const auto& m : memory) {
    w.f64(m.t_us);
    w.i64(m.bytes);
    w.str(m.what);
  }
}
void get_costs(Reader& r, std::vector<HostSpan>* spans, std::vector<KernelRecord>* kernels,
               std::vector<MemoryEvent>* memory) {
  spans->assign(r.count(28), {});
  for (auto& s : *spans) {
    s.name = r.str();
    s.start_us = r.f64();
    s.dur_us = r.f64();
    s.thread = r.i32();
  }
  kernels->assign(r.count(68), {});
  for (auto& k : *kernels) {
    k.name = r.str();
    k.start_us = r.f64();
    k.dur_us = r.f64();
    for (int* x : {&k.grid[0], &k.grid[1], &k.grid[2], &k.block[0], &k.block[1], &k.block[2], &k.registers,
                   &k.shared_static, &k.shared_dynamic, &k.stream, &k.repeat})
      *x = r.i32();
    k.correlation = r.u64();
  }
  memory->assign(r.count(24), {});
  for (auto& m : *memory) {
    m.t_us = r.f64();
    m.bytes = r.i64();
    m.what = r.str();
  }
}

void put_grad(Writer& w, const Gradients& g) {
  w.u8(g.ran);
  w.str(g.error);
  for (const auto& t : kGradientTensors) put(w, g.*t.member);
  put_costs(w, g.spans, g.kernels, g.memory);
  w.i64(g.peak_bytes);
  w.i64(g.model_bytes);
  w.f64(g.median_ms);
  put_pod_vec(w, g.times_ms);
}
void get_grad(Reader& r, Gradients* g) {
  g->ran = r.u8();
  g->error = r.str();
  for (const auto& t : kGradientTensors) get(r, &(g->*t.member));
  get_costs(r, &g->spans, &g->kernels, &g->memory);
  g->peak_bytes = r.i64();
  g->model_bytes = r.i64();
  g->median_ms = r.f64();
  g->times_ms = get_pod_vec<double>(r);
}
}  // namespace

void put(Writer& w, const RunResult& rr) {
  for (const std::string* s : {&rr.impl, &rr.label, &rr.backend, &rr.device}) w.str(*s);
  put(w, rr.verdict);
  w.u8(rr.ran);
  w.str(rr.error);
  put(w, rr.what_if_dropped);
  w.str(rr.sdpa_backend);
  w.str(rr.kernel_path);
  w.i32(rr.kv_tile);
  w.i32(rr.block_m);
  for (const Tensor* t : {&rr.out, &rr.lse, &rr.scores, &rr.probs}) put(w, *t);
  put_probe_spec(w, rr.probe.where);
  w.i32(rr.probe.kv_tile);
  w.i32(rr.probe.n_tiles);
  for (const Tensor* t : {&rr.probe.p, &rr.probe.row_max, &rr.probe.row_sum}) put(w, *t);
  put_pod_vec(w, rr.probe.tile_used);
  put_costs(w, rr.spans, rr.kernels, rr.memory);
  w.i64(rr.peak_bytes);
  w.i64(rr.model_bytes);
  w.f64(rr.median_ms);
  put_pod_vec(w, rr.times_ms);
  w.u64(rr.ranges.size());
  for (const auto& g : rr.ranges) {
    w.str(g.name);
    w.f64(g.start_us);
    w.f64(g.dur_us);
    w.i32(g.depth);
  }
  put_pod_vec(w, rr.times_untraced_ms);
  w.f64(rr.median_untraced_ms);
  put_grad(w, rr.grad);
}
void get(Reader& r, RunResult* rr) {
  for (std::string* s : {&rr->impl, &rr->label, &rr->backend, &rr->device}) *s = r.str();
  get(r, &rr->verdict);
  rr->ran = r.u8();
  rr->error = r.str();
  get(r, &rr->what_if_dropped);
  rr->sdpa_backend = r.str();
  rr->kernel_path = r.str();
  rr->kv_tile = r.i32();
  rr->block_m = r.i32();
  for (Tensor* t : {&rr->out, &rr->lse, &rr->scores, &rr->probs}) get(r, t);
  get_probe_spec(r, &rr->probe.where);
  rr->probe.kv_tile = r.i32();
  rr->probe.n_tiles = r.i32();
  for (Tensor* t : {&rr->probe.p, &rr->probe.row_max, &rr->probe.row_sum}) get(r, t);
  rr->probe.tile_used = get_pod_vec<uint8_t>(r);
  get_costs(r, &rr->spans, &rr->kernels, &rr->memory);
  rr->peak_bytes = r.i64();
  rr->model_bytes = r.i64();
  rr->median_ms = r.f64();
  rr->times_ms = get_pod_vec<double>(r);
  rr->ranges.assign(r.count(28), {});
  for (auto& g : rr->ranges) {
    g.name = r.str();
    g.start_us = r.f64();
    g.dur_us = r.f64();
    g.depth = r.i32();
  }
  rr->times_untraced_ms = get_pod_vec<double>(r);
  rr->median_untraced_ms = r.f64();
  get_grad(r, &rr->grad);
}

namespace {
std::string write_all(int fd, const void* p, size_t n) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    // MSG_NOSIGNAL: a worker that died is an error here, not a SIGPIPE for the whole process.
    ssize_t k = send(fd, c, n, MSG_NOSIGNAL);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0 && errno == ENOTSOCK) k = write(fd, c, n);
    if (k <= 0) return std::string("write failed: ") + (k < 0 ? std::strerror(errno) : "peer closed");
    c += k;
    n -= static_cast<size_t>(k);
  }
  return "";
}
// "" when all n bytes came; "eof" when the peer closed before the first byte.
std::string read_all(int fd, void* p, size_t n) {
  char* c = static_cast<char*>(p);
  size_t got = 0;
  while (got < n) {
    ssize_t k = read(fd, c + got, n - got);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) return std::string("read failed: ") + std::strerror(errno);
    if (k == 0) return got == 0 ? "eof" : "the peer closed in the middle of a message";
    got += static_cast<size_t>(k);
  }
  return "";
}
}  // namespace

std::string send_frame(int fd, uint32_t type, const std::string& payload) {
  char head[12];
  const uint64_t n = payload.size();
  std::memcpy(head, &type, 4);
  std::memcpy(head + 4, &n, 8);
  if (std::string e = write_all(fd, head, sizeof head); !e.empty()) return e;
  return write_all(fd, payload.data(), payload.size());
}

std::string recv_frame(int fd, uint32_t* type, std::string* payload) {
  char head[12];
  if (std::string e = read_all(fd, head, sizeof head); !e.empty()) return e;
  uint64_t n = 0;
  std::memcpy(type, head, 4);
  std::memcpy(&n, head + 4, 8);
  if (n > kMaxFrame) return "a message of " + std::to_string(n) + " bytes (garbled stream)";
  payload->assign(static_cast<size_t>(n), '\0');
  std::string e = read_all(fd, payload->data(), payload->size());
  return e == "eof" ? "the peer closed in the middle of a message" : e;
}

}  // namespace attnscope::wire
