// Capture <-> HDF5 file. The layout (format_version 3; what a version lacks is marked with the
// version that added it: [2] gradients, [3] the GPU environment, NVTX ranges, untraced times):
//
//   /                    attrs format_version (int), generator, spec (JSON, --spec format),
//                        acceptance_baseline (double), inputs_stored (int),
//                        acceptance_baseline_{dq,dk,dv,dsinks} [2] (double; with a backward)
//   /env                 attrs attnscope_version, created, host, os, cpu, backend, device,
//                        gpu_backend_status, command_line, seed (uint64), distribution
//   /env/gpu         [3] GPU captures only: attrs name, cc_major, cc_minor, sm_count, memory_bytes,
//                        sm_clock_mhz, memory_clock_mhz, sm_clock_max_mhz, memory_clock_max_mhz,
//                        driver, cuda_driver, cuda_runtime, cublas, cudnn, cupti, nvtx
//   /inputs              attr origin; datasets q, k, v [B,H,N,D], sinks [Hq] (fp32), mask,
//                        do [2] [B,Hq,Nq,Dv] (the backward's dO)
//   /reference           a run group (below), label "reference"
//   /runs/<label>        one group per run, '/' and '%' in labels escaped as %2F / %25;
//                        attr index gives the run order
//
// A run group: attrs impl, label, backend, device, ran, error, sdpa_backend, what_if_dropped
// (JSON list), verdict_supported, peak_bytes, model_bytes, median_ms, median_untraced_ms [3],
// tensors (comma list of the tensor datasets written), intermediates ("whole" | "rows" | "none");
// datasets verdict (compound severity/code/text/source), out, lse, times_ms, times_untraced_ms [3],
// spans (compound), kernels (compound), ranges [3] (compound name/start_us/dur_us/depth: NVTX
// ranges and profiler annotations), memory (compound), scores/probs (whole) or scores_rows/probs_rows +
// rows + scores_overview/probs_overview (over budget), probe/{p,row_max,row_sum,tile_used};
// with a backward [2]: dq [B,Hq,Nq,D], dk [B,Hkv,Nk,D], dv [B,Hkv,Nk,Dv], dsinks [Hq] beside out (listed
// in `tensors`), and a group backward (attrs ran, error, peak_bytes, model_bytes, median_ms;
// datasets times_ms, spans, kernels, memory: the backward's costs, apart from the forward's).
// Tensors are stored in their dtype: fp32 native, fp16 IEEE half, bf16 as uint16 with attribute
// dtype="bfloat16" (HDF5 1.10 has no bf16 type).
#include "capture/store.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "capture/hdf5_guard.h"
#include "capture/hdf5_util.h"
#include "capture/spec_io.h"

namespace attnscope {

using h5::Id;

namespace {

constexpr int64_t kMaxRuns = 4096;
constexpr int64_t kMaxRecords = int64_t{1} << 24;  // spans, kernels, memory events per run
constexpr int64_t kOverview = 512;                 // overview maps are at most 512 x 512

const char* kSeverityNames[] = {"error", "warning", "silent", "note"};

std::string severity_text(Severity s) { return kSeverityNames[static_cast<int>(s)]; }
bool severity_from(const std::string& s, Severity* out) {
  for (int i = 0; i < 4; ++i)
    if (s == kSeverityNames[i]) { *out = static_cast<Severity>(i); return true; }
  return false;
}

std::string escape_label(const std::string& l) {
  std::string r;
  for (char c : l) {
    if (c == '%') r += "%25";
    else if (c == '/') r += "%2F";
    else r += c;
  }
  if (r.empty() || r == "." || r == "..") r = "%2E" + r;  // names HDF5 cannot hold as links
  return r;
}

// ---- record tables (compound datasets) ----
//
// Strings are fixed-length (sized to the longest in the table), never variable-length: VL data
// lives in HDF5's global heap, which has no checksum, and a damaged heap crashes the library.

enum class Kind { Str, I32, I64, U64, F64, I32x3 };

struct Column {
  std::string name;
  Kind kind;
  std::vector<std::string> s;
  std::vector<int64_t> i;  // I32, I64 (and U64 through a cast)
  std::vector<double> f;
  std::vector<std::array<int32_t, 3>> a;
};

struct Table {
  std::vector<Column> cols;
  size_t rows = 0;
  Column& add(const std::string& n, Kind k) { cols.push_back({n, k, {}, {}, {}, {}}); return cols.back(); }
  const Column& col(const std::string& n) const {
    for (const auto& c : cols)
      if (c.name == n) return c;
    return cols.front();  // not reached: read_table fills every requested column
  }
};

size_t kind_size(Kind k) {
  switch (k) {
    case Kind::I32: return 4;
    case Kind::I64: case Kind::U64: case Kind::F64: return 8;
    case Kind::I32x3: return 12;
    case Kind::Str: return 0;
  }
  return 0;
}

Id fixed_str(size_t n) {
  Id t(H5Tcopy(H5T_C_S1));
  if (t.ok()) {
    H5Tset_size(t, n);
    H5Tset_strpad(t, H5T_STR_NULLPAD);
    H5Tset_cset(t, H5T_CSET_UTF8);
  }
  return t;
}

Id member_type(Kind k, size_t str_size) {
  hsize_t three = 3;
  switch (k) {
    case Kind::Str: return fixed_str(str_size);
    case Kind::I32: return Id(H5Tcopy(H5T_STD_I32LE));
    case Kind::I64: return Id(H5Tcopy(H5T_STD_I64LE));
    case Kind::U64: return Id(H5Tcopy(H5T_STD_U64LE));
    case Kind::F64: return Id(H5Tcopy(H5T_IEEE_F64LE));
    case Kind::I32x3: return Id(H5Tarray_create2(H5T_STD_I32LE, 1, &three));
  }
  return Id();
}

// File and memory share one packed little-endian layout (attnscope runs on little-endian hosts).
std::string write_table(hid_t loc, const char* name, const Table& t) {
  std::vector<size_t> size(t.cols.size()), off(t.cols.size());
  size_t row = 0;
  for (size_t c = 0; c < t.cols.size(); ++c) {
    const Column& col = t.cols[c];
    size[c] = kind_size(col.kind);
    if (col.kind == Kind::Str) {
      size[c] = 1;
      for (const auto& x : col.s) size[c] = std::max(size[c], x.size());
    }
    off[c] = row;
    row += size[c];
  }
  Id type(H5Tcreate(H5T_COMPOUND, row));
  if (!type.ok()) return std::string(name) + ": cannot create the record type";
  for (size_t c = 0; c < t.cols.size(); ++c) {
    Id m = member_type(t.cols[c].kind, size[c]);
    if (!m.ok() || H5Tinsert(type, t.cols[c].name.c_str(), off[c], m) < 0)
      return std::string(name) + ": cannot create the record type";
  }
  std::vector<unsigned char> buf(t.rows * row, 0);
  for (size_t r = 0; r < t.rows; ++r)
    for (size_t c = 0; c < t.cols.size(); ++c) {
      const Column& col = t.cols[c];
      unsigned char* p = buf.data() + r * row + off[c];
      switch (col.kind) {
        case Kind::Str: std::memcpy(p, col.s[r].data(), col.s[r].size()); break;
        case Kind::I32: { int32_t v = static_cast<int32_t>(col.i[r]); std::memcpy(p, &v, 4); break; }
        case Kind::I64: case Kind::U64: std::memcpy(p, &col.i[r], 8); break;
        case Kind::F64: std::memcpy(p, &col.f[r], 8); break;
        case Kind::I32x3: std::memcpy(p, col.a[r].data(), 12); break;
      }
    }
  hsize_t dims[1] = {t.rows};
  Id space(H5Screate_simple(1, dims, nullptr));
  Id dcpl = h5::checksummed_dcpl({t.rows}, row);  // long kernel names pad well: big tables compress
  if (!space.ok() || !dcpl.ok()) return std::string(name) + ": cannot create dataspace";
  Id d(H5Dcreate2(loc, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT));
  if (!d.ok()) return std::string(name) + ": cannot create dataset";
  if (t.rows > 0 && H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()) < 0)
    return std::string(name) + ": write failed";
  return "";
}

// Reads the named columns of a 1-D compound dataset, checking each member's class and size.
std::string read_table(hid_t loc, const char* name, Table* t) {
  std::string n = name;
  if (!h5::link_exists(loc, n)) return n + ": missing";
  H5O_info_t info;
  if (H5Oget_info_by_name(loc, name, &info, H5P_DEFAULT) < 0 || info.type != H5O_TYPE_DATASET) return h5::with_cause(n + ": not a dataset");
  Id d(H5Dopen2(loc, name, H5P_DEFAULT));
  if (!d.ok()) return h5::with_cause(n + ": cannot open");
  Id ft(H5Dget_type(d));
  if (!ft.ok() || H5Tget_class(ft) != H5T_COMPOUND) return n + ": not a compound (record) dataset";
  Id space(H5Dget_space(d));
  if (!space.ok() || H5Sget_simple_extent_type(space) != H5S_SIMPLE || H5Sget_simple_extent_ndims(space) != 1)
    return n + ": expected a 1-D dataset";
  hsize_t rows = 0;
  H5Sget_simple_extent_dims(space, &rows, nullptr);
  if (rows > static_cast<hsize_t>(kMaxRecords)) return n + ": too many records (" + std::to_string(rows) + ")";
  std::vector<size_t> size(t->cols.size()), off(t->cols.size());
  size_t row = 0;
  for (size_t c = 0; c < t->cols.size(); ++c) {
    Column& col = t->cols[c];
    int idx = H5Tget_member_index(ft, col.name.c_str());
    if (idx < 0) return n + ": field '" + col.name + "' missing";
    Id mt(H5Tget_member_type(ft, static_cast<unsigned>(idx)));
    if (!mt.ok()) return n + ": field '" + col.name + "' unreadable";
    H5T_class_t cls = H5Tget_class(mt);
    bool good = false;
    switch (col.kind) {
      case Kind::Str:
        good = cls == H5T_STRING && H5Tis_variable_str(mt) == 0 && H5Tget_size(mt) >= 1 && H5Tget_size(mt) <= (1u << 20);
        size[c] = good ? H5Tget_size(mt) : 0;
        break;
      case Kind::I32: case Kind::I64: case Kind::U64: good = cls == H5T_INTEGER; break;
      case Kind::F64: good = cls == H5T_FLOAT || cls == H5T_INTEGER; break;
      case Kind::I32x3:
        if (cls == H5T_ARRAY && H5Tget_array_ndims(mt) == 1) {
          hsize_t dim = 0;
          H5Tget_array_dims2(mt, &dim);
          Id base(H5Tget_super(mt));
          good = dim == 3 && base.ok() && H5Tget_class(base) == H5T_INTEGER;
        }
        break;
    }
    if (!good) return n + ": field '" + col.name + "' has the wrong type";
    if (col.kind != Kind::Str) size[c] = kind_size(col.kind);
    off[c] = row;
    row += size[c];
  }
  if (rows > 0 && row > (size_t{1} << 30) / rows) return n + ": records too large";
  if (std::string e = h5::check_storage(d, rows * H5Tget_size(ft)); !e.empty()) return n + ": " + e;
  Id mem(H5Tcreate(H5T_COMPOUND, std::max<size_t>(row, 1)));
  for (size_t c = 0; c < t->cols.size(); ++c) {
    Id m = member_type(t->cols[c].kind, size[c]);
    if (t->cols[c].kind == Kind::I32) m = Id(H5Tcopy(H5T_NATIVE_INT32));
    if (!m.ok() || H5Tinsert(mem, t->cols[c].name.c_str(), off[c], m) < 0) return n + ": cannot build the record type";
  }
  std::vector<unsigned char> buf(rows * row, 0);
  if (rows > 0 && H5Dread(d, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()) < 0) return h5::with_cause(n + ": read failed");
  t->rows = rows;
  for (size_t c = 0; c < t->cols.size(); ++c) {
    Column& col = t->cols[c];
    for (size_t r = 0; r < rows; ++r) {
      const unsigned char* p = buf.data() + r * row + off[c];
      switch (col.kind) {
        case Kind::Str: col.s.emplace_back(reinterpret_cast<const char*>(p), strnlen(reinterpret_cast<const char*>(p), size[c])); break;
        case Kind::I32: { int32_t v; std::memcpy(&v, p, 4); col.i.push_back(v); break; }
        case Kind::I64: case Kind::U64: { int64_t v; std::memcpy(&v, p, 8); col.i.push_back(v); break; }
        case Kind::F64: { double v; std::memcpy(&v, p, 8); col.f.push_back(v); break; }
        case Kind::I32x3: { std::array<int32_t, 3> v; std::memcpy(v.data(), p, 12); col.a.push_back(v); break; }
      }
    }
  }
  return "";
}

Table reason_table(const std::vector<Reason>& v) {
  Table t;
  for (const char* n : {"severity", "code", "text", "source"}) t.add(n, Kind::Str);
  for (const Reason& x : v) {
    t.cols[0].s.push_back(severity_text(x.severity));
    t.cols[1].s.push_back(x.code);
    t.cols[2].s.push_back(x.text);
    t.cols[3].s.push_back(x.source);
  }
  t.rows = v.size();
  return t;
}

// Records of a name, a start, a duration and one integer: host spans (thread), ranges (depth).
template <typename T>
Table timed_table(const std::vector<T>& v, const char* int_name, int T::*int_field) {
  Table t;
  t.add("name", Kind::Str);
  t.add("start_us", Kind::F64);
  t.add("dur_us", Kind::F64);
  t.add(int_name, Kind::I32);
  for (const T& x : v) {
    t.cols[0].s.push_back(x.name);
    t.cols[1].f.push_back(x.start_us);
    t.cols[2].f.push_back(x.dur_us);
    t.cols[3].i.push_back(x.*int_field);
  }
  t.rows = v.size();
  return t;
}
Table span_table(const std::vector<HostSpan>& v) { return timed_table(v, "thread", &HostSpan::thread); }
Table range_table(const std::vector<RangeRecord>& v) { return timed_table(v, "depth", &RangeRecord::depth); }

Table kernel_table(const std::vector<KernelRecord>& v) {
  Table t;
  t.add("name", Kind::Str);
  t.add("start_us", Kind::F64);
  t.add("dur_us", Kind::F64);
  t.add("grid", Kind::I32x3);
  t.add("block", Kind::I32x3);
  for (const char* n : {"registers", "shared_static", "shared_dynamic", "stream"}) t.add(n, Kind::I32);
  t.add("correlation", Kind::U64);
  t.add("repeat", Kind::I32);
  for (const KernelRecord& k : v) {
    t.cols[0].s.push_back(k.name);
    t.cols[1].f.push_back(k.start_us);
    t.cols[2].f.push_back(k.dur_us);
    t.cols[3].a.push_back({k.grid[0], k.grid[1], k.grid[2]});
    t.cols[4].a.push_back({k.block[0], k.block[1], k.block[2]});
    t.cols[5].i.push_back(k.registers);
    t.cols[6].i.push_back(k.shared_static);
    t.cols[7].i.push_back(k.shared_dynamic);
    t.cols[8].i.push_back(k.stream);
    t.cols[9].i.push_back(static_cast<int64_t>(k.correlation));
    t.cols[10].i.push_back(k.repeat);
  }
  t.rows = v.size();
  return t;
}

Table memory_table(const std::vector<MemoryEvent>& v) {
  Table t;
  t.add("t_us", Kind::F64);
  t.add("bytes", Kind::I64);
  t.add("what", Kind::Str);
  for (const MemoryEvent& m : v) {
    t.cols[0].f.push_back(m.t_us);
    t.cols[1].i.push_back(m.bytes);
    t.cols[2].s.push_back(m.what);
  }
  t.rows = v.size();
  return t;
}

// ---- expected shapes ----

struct Shapes {
  std::vector<int64_t> q, k, v, out, lse, map, sinks;
  // The gradient tensor named `n` has the shape of the input it is the gradient of.
  const std::vector<int64_t>* of_input(const std::string& n) const {
    return n == "q" ? &q : n == "k" ? &k : n == "v" ? &v : n == "sinks" ? &sinks : nullptr;
  }
};
Shapes shapes_of(const LayerSpec& s) {
  Shapes r;
  r.q = {s.batch, s.heads_q, s.seq_q, s.head_dim};
  r.k = {s.batch, s.heads_kv, s.seq_k, s.head_dim};
  r.v = {s.batch, s.heads_kv, s.seq_k, s.head_dim_v};
  r.out = {s.batch, s.heads_q, s.seq_q, s.head_dim_v};
  r.lse = {s.batch, s.heads_q, s.seq_q};
  r.map = {s.batch, s.heads_q, s.seq_q, s.seq_k};
  r.sinks = {s.heads_q};
  return r;
}

std::string check_mask_shape(const LayerSpec& s, const std::vector<int64_t>& m) {
  if (m.size() != 4 || (m[0] != 1 && m[0] != s.batch) || (m[1] != 1 && m[1] != s.heads_q) ||
      m[2] != s.seq_q || m[3] != s.seq_k)
    return "shape " + h5::shape_text(m) + ", expected [" + std::to_string(s.batch) + "|1, " +
           std::to_string(s.heads_q) + "|1, " + std::to_string(s.seq_q) + ", " + std::to_string(s.seq_k) + "]";
  return "";
}

// The probe's tensors must agree with each other and with the spec.
std::string check_probe(const LayerSpec& s, const ProbeData& p) {
  if (p.p.empty() && p.row_max.empty() && p.row_sum.empty() && p.tile_used.empty()) return "";
  int64_t rows = static_cast<int64_t>(p.where.row_end) - p.where.row_begin;
  if (rows <= 0) return "probe: row range [" + std::to_string(p.where.row_begin) + ", " +
                        std::to_string(p.where.row_end) + ") is empty but probe data is present";
  if (p.n_tiles < 0 || p.kv_tile < 0) return "probe: negative n_tiles/kv_tile";
  std::vector<int64_t> ep{rows, s.seq_k}, et{rows, p.n_tiles};
  if (p.p.shape != ep) return "probe/p: shape " + h5::shape_text(p.p.shape) + ", expected " + h5::shape_text(ep);
  if (p.row_max.shape != et) return "probe/row_max: shape " + h5::shape_text(p.row_max.shape) + ", expected " + h5::shape_text(et);
  if (p.row_sum.shape != et) return "probe/row_sum: shape " + h5::shape_text(p.row_sum.shape) + ", expected " + h5::shape_text(et);
  if (static_cast<int64_t>(p.tile_used.size()) != p.n_tiles)
    return "probe/tile_used: " + std::to_string(p.tile_used.size()) + " entries, expected n_tiles = " + std::to_string(p.n_tiles);
  return "";
}

size_t item_size(DType d) { return d == DType::F32 ? 4 : 2; }

// Max-pools map [B,H,Nq,Nk] to [B,H,ceil(Nq/fq),ceil(Nk/fk)], at most side x side per head
// (NaN propagates, so it stays visible).
Tensor overview(const Tensor& m, int64_t side, int64_t* fq, int64_t* fk) {
  int64_t B = m.dim(0), H = m.dim(1), Nq = m.dim(2), Nk = m.dim(3);
  *fq = (Nq + side - 1) / side;
  *fk = (Nk + side - 1) / side;
  int64_t oq = (Nq + *fq - 1) / *fq, ok = (Nk + *fk - 1) / *fk;
  Tensor o(DType::F32, {B, H, oq, ok}, -INFINITY);
  for (int64_t bh = 0; bh < B * H; ++bh)
    for (int64_t i = 0; i < Nq; ++i) {
      const float* row = m.data.data() + (bh * Nq + i) * Nk;
      float* orow = o.data.data() + (bh * oq + i / *fq) * ok;
      for (int64_t j = 0; j < Nk; ++j) {
        float x = row[j], &y = orow[j / *fk];
        if (std::isnan(x) || x > y) y = std::isnan(y) ? y : x;
      }
    }
  return o;
}

Tensor gather_rows(const Tensor& m, const std::vector<int64_t>& rows) {
  int64_t B = m.dim(0), H = m.dim(1), Nq = m.dim(2), Nk = m.dim(3), R = static_cast<int64_t>(rows.size());
  Tensor g(m.dtype, {B, H, R, Nk});
  for (int64_t bh = 0; bh < B * H; ++bh)
    for (int64_t r = 0; r < R; ++r)
      std::copy_n(m.data.data() + (bh * Nq + rows[r]) * Nk, Nk, g.data.data() + (bh * R + r) * Nk);
  return g;
}

bool has_tensor(const Tensor& t) { return !t.shape.empty() || !t.data.empty(); }

// ---- the GPU environment (/env/gpu) ----

struct GpuEnvFields {  // every attribute of /env/gpu, named once for the writer and the reader
  std::vector<std::pair<const char*, std::string*>> strs;
  std::vector<std::pair<const char*, int*>> ints;
  int64_t* memory;
};
GpuEnvFields gpu_env_fields(GpuEnvironment* m) {
  return {{{"name", &m->name},
           {"driver", &m->driver},
           {"cuda_driver", &m->cuda_driver},
           {"cuda_runtime", &m->cuda_runtime},
           {"cublas", &m->cublas},
           {"cudnn", &m->cudnn},
           {"cupti", &m->cupti},
           {"nvtx", &m->nvtx}},
          {{"cc_major", &m->cc_major},
           {"cc_minor", &m->cc_minor},
           {"sm_count", &m->sm_count},
           {"sm_clock_mhz", &m->sm_clock_mhz},
           {"memory_clock_mhz", &m->memory_clock_mhz},
           {"sm_clock_max_mhz", &m->sm_clock_max_mhz},
           {"memory_clock_max_mhz", &m->memory_clock_max_mhz}},
          &m->memory_bytes};
}

std::string write_gpu_env(hid_t env, const GpuEnvironment& g) {
  Id gg(H5Gcreate2(env, "gpu", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  if (!gg.ok()) return "env/gpu: cannot create group";
  GpuEnvironment copy = g;
  GpuEnvFields f = gpu_env_fields(&copy);
  bool ok = h5::write_attr_i64(gg, "memory_bytes", *f.memory);
  for (auto [n, v] : f.strs) ok = ok && h5::write_attr_str(gg, n, *v);
  for (auto [n, v] : f.ints) ok = ok && h5::write_attr_i64(gg, n, *v);
  return ok ? "" : "env/gpu: cannot write attributes";
}

std::string read_gpu_env(hid_t env, GpuEnvironment* g) {
  Id gg(H5Gopen2(env, "gpu", H5P_DEFAULT));
  if (!gg.ok()) return "/env/gpu: not a group";
  GpuEnvFields f = gpu_env_fields(g);
  if (!h5::read_attr_i64(gg, "memory_bytes", f.memory)) return "/env/gpu: attribute memory_bytes missing or mistyped";
  for (auto [n, v] : f.strs)
    if (!h5::read_attr_str(gg, n, v)) return std::string("/env/gpu: attribute ") + n + " missing or not a string";
  for (auto [n, v] : f.ints) {
    int64_t x = 0;
    if (!h5::read_attr_i64(gg, n, &x) || x < INT32_MIN || x > INT32_MAX)
      return std::string("/env/gpu: attribute ") + n + " missing, mistyped or out of range";
    *v = static_cast<int>(x);
  }
  return "";
}

// ---- writer ----

struct Writer {
  const Capture& cap;
  const StoreOptions& opt;
  Shapes sh;
  int64_t share = 0;               // intermediate bytes allowed per run that has S/P
  std::vector<int64_t> probe_rows; // rows kept when over budget (probe rows when known)

  std::string tensor(hid_t g, const std::string& where, const std::string& name, const Tensor& t,
                     std::vector<std::string>* written) {
    std::string e = h5::write_tensor(g, name, t);
    if (!e.empty()) return where + "/" + e;
    if (written) written->push_back(name);
    return "";
  }

  std::string expect(const std::string& where, const Tensor& t, const std::vector<int64_t>& s) {
    if (!has_tensor(t) || t.shape == s) return "";
    return where + ": shape " + h5::shape_text(t.shape) + ", expected " + h5::shape_text(s);
  }

  std::string run(hid_t parent, const std::string& gname, const std::string& where, const RunResult& r,
                  int64_t index) {
    const LayerSpec& spec = cap.spec;
    // Refuse what the loader would refuse: a file that saved must load.
    for (auto [n, t, s] : {std::tuple{"out", &r.out, &sh.out}, {"lse", &r.lse, &sh.lse},
                           {"scores", &r.scores, &sh.map}, {"probs", &r.probs, &sh.map}}) {
      std::string e = expect(where + "/" + n, *t, *s);
      if (!e.empty()) return e;
    }
    for (const auto& gt : kGradientTensors)
      if (std::string e = expect(where + "/" + gt.name, r.grad.*gt.member, *sh.of_input(gt.of)); !e.empty()) return e;
    if (std::string e = check_probe(spec, r.probe); !e.empty()) return where + "/" + e;

    Id g(H5Gcreate2(parent, gname.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    if (!g.ok()) return where + ": cannot create group";
    nlohmann::json dropped = what_if_drop_words(r.what_if_dropped);
    bool ok = h5::write_attr_i64(g, "index", index) && h5::write_attr_str(g, "impl", r.impl) &&
              h5::write_attr_str(g, "label", r.label) && h5::write_attr_str(g, "backend", r.backend) &&
              h5::write_attr_str(g, "device", r.device) && h5::write_attr_i64(g, "ran", r.ran ? 1 : 0) &&
              h5::write_attr_str(g, "error", r.error) && h5::write_attr_str(g, "sdpa_backend", r.sdpa_backend) &&
              h5::write_attr_str(g, "what_if_dropped", dropped.dump()) &&
              h5::write_attr_i64(g, "verdict_supported", r.verdict.supported ? 1 : 0) &&
              h5::write_attr_i64(g, "peak_bytes", r.peak_bytes) &&
              h5::write_attr_i64(g, "model_bytes", r.model_bytes) &&
              h5::write_attr_f64(g, "median_ms", r.median_ms) &&
              h5::write_attr_f64(g, "median_untraced_ms", r.median_untraced_ms);
    if (!ok) return where + ": cannot write attributes";

    Table vt = reason_table(r.verdict.reasons);
    if (std::string e = write_table(g, "verdict", vt); !e.empty()) return where + "/" + e;

    std::vector<std::string> written;
    for (auto [n, t] : {std::pair{"out", &r.out}, {"lse", &r.lse}})
      if (has_tensor(*t))
        if (std::string e = tensor(g, where, n, *t, &written); !e.empty()) return e;
    for (const auto& gt : kGradientTensors)
      if (has_tensor(r.grad.*gt.member))
        if (std::string e = tensor(g, where, gt.name, r.grad.*gt.member, &written); !e.empty()) return e;
    if (std::string e = h5::write_f64_vec(g, "times_ms", r.times_ms); !e.empty()) return where + "/" + e;
    if (std::string e = h5::write_f64_vec(g, "times_untraced_ms", r.times_untraced_ms); !e.empty())
      return where + "/" + e;

    // Intermediates: whole within the budget share, else chosen rows + a max-pooled overview.
    std::string mode = "none";
    if (has_tensor(r.scores) || has_tensor(r.probs)) {
      int64_t whole = (r.scores.numel() * static_cast<int64_t>(item_size(r.scores.dtype))) +
                      (r.probs.numel() * static_cast<int64_t>(item_size(r.probs.dtype)));
      if (whole <= share) {
        mode = "whole";
        for (auto [n, t] : {std::pair{"scores", &r.scores}, {"probs", &r.probs}})
          if (has_tensor(*t))
            if (std::string e = tensor(g, where, n, *t, &written); !e.empty()) return e;
      } else {
        mode = "rows";
        const Tensor& ref = has_tensor(r.scores) ? r.scores : r.probs;
        int64_t B = ref.dim(0), H = ref.dim(1), Nq = ref.dim(2), Nk = ref.dim(3);
        int64_t n_maps = (has_tensor(r.scores) ? 1 : 0) + (has_tensor(r.probs) ? 1 : 0);
        // The overview takes at most half the share: 512 x 512 per head, halved until it fits.
        auto pooled = [](int64_t n, int64_t side) { int64_t f = (n + side - 1) / side; return (n + f - 1) / f; };
        int64_t side = kOverview, ov_bytes = 0;
        while (true) {
          ov_bytes = n_maps * B * H * pooled(Nq, side) * pooled(Nk, side) * 4;
          if (ov_bytes <= share / 2 || side <= 8) break;
          side /= 2;
        }
        int64_t per_row = 0;
        for (const Tensor* t : {&r.scores, &r.probs})
          if (has_tensor(*t)) per_row += B * H * Nk * static_cast<int64_t>(item_size(t->dtype));
        per_row = std::max<int64_t>(1, per_row);
        int64_t R = std::clamp<int64_t>((share - ov_bytes) / per_row, 1, Nq);
        std::vector<int64_t> rows;
        std::string source = "first";
        if (!probe_rows.empty()) {
          source = "probe";
          for (int64_t x : probe_rows)
            if (x < Nq && static_cast<int64_t>(rows.size()) < R) rows.push_back(x);
        }
        if (rows.empty()) {
          source = "first";
          for (int64_t i = 0; i < R; ++i) rows.push_back(i);
        }
        if (std::string e = h5::write_i64_vec(g, "rows", rows); !e.empty()) return where + "/" + e;
        if (!h5::write_attr_str(g, "rows_source", source)) return where + ": cannot write rows_source";
        for (auto [n, t] : {std::pair{"scores", &r.scores}, {"probs", &r.probs}}) {
          if (!has_tensor(*t)) continue;
          std::string name = n;
          if (std::string e = tensor(g, where, name + "_rows", gather_rows(*t, rows), &written); !e.empty())
            return e;
          int64_t fq = 1, fk = 1;
          Tensor ov = overview(*t, side, &fq, &fk);
          if (std::string e = tensor(g, where, name + "_overview", ov, &written); !e.empty()) return e;
          Id d(H5Dopen2(g, (name + "_overview").c_str(), H5P_DEFAULT));
          if (!d.ok() || !h5::write_attr_i64(d, "pool_q", fq) || !h5::write_attr_i64(d, "pool_k", fk) ||
              !h5::write_attr_str(d, "pooling", "max"))
            return where + "/" + name + "_overview: cannot write pooling attributes";
          if (!h5::write_attr_str(d, "source_dtype", dtype_name(t->dtype)))
            return where + "/" + name + "_overview: cannot write source_dtype";
        }
      }
    }
    if (!h5::write_attr_str(g, "intermediates", mode)) return where + ": cannot write intermediates";

    // Probe.
    Id pg(H5Gcreate2(g, "probe", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    if (!pg.ok()) return where + "/probe: cannot create group";
    const ProbeData& p = r.probe;
    ok = h5::write_attr_i64(pg, "enabled", p.where.enabled ? 1 : 0) && h5::write_attr_i64(pg, "batch", p.where.batch) &&
         h5::write_attr_i64(pg, "head", p.where.head) && h5::write_attr_i64(pg, "row_begin", p.where.row_begin) &&
         h5::write_attr_i64(pg, "row_end", p.where.row_end) && h5::write_attr_i64(pg, "kv_tile", p.kv_tile) &&
         h5::write_attr_i64(pg, "n_tiles", p.n_tiles);
    if (!ok) return where + "/probe: cannot write attributes";
    std::vector<std::string> probe_written;
    for (auto [n, t] : {std::pair{"p", &p.p}, {"row_max", &p.row_max}, {"row_sum", &p.row_sum}})
      if (has_tensor(*t))
        if (std::string e = tensor(pg, where + "/probe", n, *t, &probe_written); !e.empty()) return e;
    if (!p.tile_used.empty()) {
      if (std::string e = h5::write_u8_vec(pg, "tile_used", p.tile_used); !e.empty()) return where + "/probe/" + e;
      probe_written.push_back("tile_used");
    }
    std::string pl;
    for (const auto& s : probe_written) pl += (pl.empty() ? "" : ",") + s;
    if (!h5::write_attr_str(pg, "tensors", pl)) return where + "/probe: cannot write tensors";

    // Timeline records.
    if (std::string e = write_timeline(g, where, r.spans, r.kernels, r.memory); !e.empty()) return e;
    if (std::string e = write_table(g, "ranges", range_table(r.ranges)); !e.empty()) return where + "/" + e;
    if (std::string e = write_backward(g, where, r.grad); !e.empty()) return e;

    std::string tl;
    for (const auto& s : written) tl += (tl.empty() ? "" : ",") + s;
    if (!h5::write_attr_str(g, "tensors", tl)) return where + ": cannot write tensors";
    return "";
  }

  std::string write_timeline(hid_t g, const std::string& where, const std::vector<HostSpan>& spans,
                             const std::vector<KernelRecord>& kernels, const std::vector<MemoryEvent>& memory) {
    if (std::string e = write_table(g, "spans", span_table(spans)); !e.empty()) return where + "/" + e;
    if (std::string e = write_table(g, "kernels", kernel_table(kernels)); !e.empty()) return where + "/" + e;
    if (std::string e = write_table(g, "memory", memory_table(memory)); !e.empty()) return where + "/" + e;
    return "";
  }

  // The backward's costs, apart from the forward's: a group `backward` in the run's group when
  // a backward ran or was asked for (its gradient tensors sit beside `out`).
  std::string write_backward(hid_t g, const std::string& where, const Gradients& b) {
    if (!b.ran && b.error.empty() && b.empty() && b.spans.empty() && b.kernels.empty()) return "";
    const std::string w = where + "/backward";
    Id bg(H5Gcreate2(g, "backward", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    if (!bg.ok()) return w + ": cannot create group";
    if (!h5::write_attr_i64(bg, "ran", b.ran ? 1 : 0) || !h5::write_attr_str(bg, "error", b.error) ||
        !h5::write_attr_i64(bg, "peak_bytes", b.peak_bytes) || !h5::write_attr_i64(bg, "model_bytes", b.model_bytes) ||
        !h5::write_attr_f64(bg, "median_ms", b.median_ms))
      return w + ": cannot write attributes";
    if (std::string e = h5::write_f64_vec(bg, "times_ms", b.times_ms); !e.empty()) return w + "/" + e;
    return write_timeline(bg, w, b.spans, b.kernels, b.memory);
  }

  std::string all(hid_t f) {
    const LayerSpec& spec = cap.spec;
    sh = shapes_of(spec);
    bool ok = h5::write_attr_i64(f, "format_version", Capture::kFormatVersion) &&
              h5::write_attr_str(f, "generator", "attnscope") &&
              h5::write_attr_str(f, "spec", spec_to_json(spec)) &&
              h5::write_attr_f64(f, "acceptance_baseline", cap.acceptance_baseline) &&
              h5::write_attr_i64(f, "inputs_stored", opt.store_inputs ? 1 : 0);
    if (!ok) return "root: cannot write attributes";
    for (const auto& [name, value] : cap.gradient_baseline)
      if (!h5::write_attr_f64(f, ("acceptance_baseline_" + name).c_str(), value))
        return "root: cannot write acceptance_baseline_" + name;

    Id env(H5Gcreate2(f, "env", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    if (!env.ok()) return "env: cannot create group";
    const EnvInfo& e = cap.env;
    ok = h5::write_attr_str(env, "attnscope_version", e.attnscope_version) && h5::write_attr_str(env, "created", e.created) &&
         h5::write_attr_str(env, "host", e.host) && h5::write_attr_str(env, "os", e.os) &&
         h5::write_attr_str(env, "cpu", e.cpu) && h5::write_attr_str(env, "backend", e.backend) &&
         h5::write_attr_str(env, "device", e.device) && h5::write_attr_str(env, "gpu_backend_status", e.gpu_backend_status) &&
         h5::write_attr_str(env, "command_line", e.command_line) && h5::write_attr_u64(env, "seed", e.seed) &&
         h5::write_attr_str(env, "distribution", e.distribution);
    if (!ok) return "env: cannot write attributes";
    if (!e.gpu.empty())
      if (std::string er = write_gpu_env(env, e.gpu); !er.empty()) return er;

    Id in(H5Gcreate2(f, "inputs", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    if (!in.ok() || !h5::write_attr_str(in, "origin", cap.inputs.origin)) return "inputs: cannot create group";
    std::vector<std::string> written;
    if (opt.store_inputs) {
      const Inputs& x = cap.inputs;
      for (auto [n, t, s] : {std::tuple{"q", &x.q, &sh.q}, {"k", &x.k, &sh.k}, {"v", &x.v, &sh.v}}) {
        if (std::string er = expect(std::string("inputs/") + n, *t, *s); !er.empty()) return er;
        if (has_tensor(*t))
          if (std::string er = tensor(in, "inputs", n, *t, &written); !er.empty()) return er;
      }
      if (!x.sinks.empty()) {
        if (static_cast<int64_t>(x.sinks.size()) != spec.heads_q)
          return "inputs/sinks: " + std::to_string(x.sinks.size()) + " values, expected heads_q = " + std::to_string(spec.heads_q);
        Tensor s(DType::F32, {static_cast<int64_t>(x.sinks.size())});
        s.data = x.sinks;
        if (std::string er = tensor(in, "inputs", "sinks", s, &written); !er.empty()) return er;
      }
      if (has_tensor(x.mask)) {
        if (std::string er = check_mask_shape(spec, x.mask.shape); !er.empty()) return "inputs/mask: " + er;
        if (std::string er = tensor(in, "inputs", "mask", x.mask, &written); !er.empty()) return er;
      }
      if (has_tensor(x.dout)) {
        if (std::string er = expect("inputs/do", x.dout, sh.out); !er.empty()) return er;
        if (std::string er = tensor(in, "inputs", "do", x.dout, &written); !er.empty()) return er;
      }
    }
    std::string tl;
    for (const auto& s : written) tl += (tl.empty() ? "" : ",") + s;
    if (!h5::write_attr_str(in, "tensors", tl)) return "inputs: cannot write tensors";

    // Budget: split evenly among the runs that carry S/P.
    int64_t with_maps = 0;
    for (const RunResult& r : cap.runs) with_maps += (has_tensor(r.scores) || has_tensor(r.probs)) ? 1 : 0;
    with_maps += (has_tensor(cap.reference.scores) || has_tensor(cap.reference.probs)) ? 1 : 0;
    share = with_maps ? opt.intermediate_budget / with_maps : opt.intermediate_budget;
    for (const RunResult& r : cap.runs)
      if (r.probe.where.enabled && probe_rows.empty())
        for (int64_t i = std::max(0, r.probe.where.row_begin); i < r.probe.where.row_end; ++i) probe_rows.push_back(i);

    if (std::string er = run(f, "reference", "reference", cap.reference, -1); !er.empty()) return er;
    Id runs(H5Gcreate2(f, "runs", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    if (!runs.ok()) return "runs: cannot create group";
    if (static_cast<int64_t>(cap.runs.size()) > kMaxRuns) return "runs: more than " + std::to_string(kMaxRuns) + " runs";
    for (size_t i = 0; i < cap.runs.size(); ++i) {
      std::string g = escape_label(cap.runs[i].label);
      if (h5::link_exists(runs, g)) return "runs/" + g + ": two runs share the label \"" + cap.runs[i].label + "\"";
      if (std::string er = run(runs, g, "runs/" + g, cap.runs[i], static_cast<int64_t>(i)); !er.empty()) return er;
    }
    return "";
  }
};

// ---- reader ----

struct Reader {
  std::string path;
  int version = Capture::kFormatVersion;  // the file's: what it lacks stays empty
  Shapes sh;
  LayerSpec spec;

  std::vector<std::string> list(const std::string& s) {
    std::vector<std::string> r;
    size_t a = 0;
    while (a < s.size()) {
      size_t b = s.find(',', a);
      if (b == std::string::npos) b = s.size();
      if (b > a) r.push_back(s.substr(a, b - a));
      a = b + 1;
    }
    return r;
  }
  static bool contains(const std::vector<std::string>& v, const std::string& x) {
    return std::find(v.begin(), v.end(), x) != v.end();
  }

  std::string tensor(hid_t g, const std::string& where, const std::string& name,
                     const std::vector<int64_t>* expect, Tensor* t) {
    std::string e = h5::read_tensor(g, name, expect, false, t);
    return e.empty() ? "" : where + "/" + e;
  }

  std::string run(hid_t parent, const std::string& gname, const std::string& where, RunResult* r, int64_t* index) {
    if (!h5::link_exists(parent, gname)) return where + ": missing";
    Id g(H5Gopen2(parent, gname.c_str(), H5P_DEFAULT));
    if (!g.ok()) return h5::with_cause(where + ": not a group");
    int64_t ran = 0, supported = 0;
    std::string dropped, tl, mode;
    bool ok = h5::read_attr_i64(g, "index", index) && h5::read_attr_str(g, "impl", &r->impl) &&
              h5::read_attr_str(g, "label", &r->label) && h5::read_attr_str(g, "backend", &r->backend) &&
              h5::read_attr_str(g, "device", &r->device) && h5::read_attr_i64(g, "ran", &ran) &&
              h5::read_attr_str(g, "error", &r->error) && h5::read_attr_str(g, "sdpa_backend", &r->sdpa_backend) &&
              h5::read_attr_str(g, "what_if_dropped", &dropped) &&
              h5::read_attr_i64(g, "verdict_supported", &supported) &&
              h5::read_attr_i64(g, "peak_bytes", &r->peak_bytes) && h5::read_attr_i64(g, "model_bytes", &r->model_bytes) &&
              h5::read_attr_f64(g, "median_ms", &r->median_ms) && h5::read_attr_str(g, "tensors", &tl) &&
              h5::read_attr_str(g, "intermediates", &mode);
    if (!ok) return where + ": missing or mistyped attribute (index, impl, label, backend, device, ran, error, "
                            "sdpa_backend, what_if_dropped, verdict_supported, peak_bytes, model_bytes, "
                            "median_ms, tensors or intermediates)";
    r->ran = ran != 0;
    auto dj = nlohmann::json::parse(dropped, nullptr, false);
    if (dj.is_discarded() || !dj.is_array()) return where + ": what_if_dropped is not a JSON list";
    for (const auto& x : dj) {
      if (!x.is_string()) return where + ": what_if_dropped holds a non-string";
      auto d = parse_what_if_drop(x.get<std::string>());
      if (!d) return where + ": what_if_dropped names an unknown feature '" + x.get<std::string>() + "'";
      r->what_if_dropped.push_back(*d);
    }
    r->verdict.supported = supported != 0;
    std::string bad_sev;
    Table vt = reason_table({});
    std::string e = read_table(g, "verdict", &vt);
    if (!e.empty()) return where + "/" + e;
    for (size_t i = 0; i < vt.rows; ++i) {
      Reason x;
      if (!severity_from(vt.cols[0].s[i], &x.severity)) bad_sev = vt.cols[0].s[i];
      x.code = vt.cols[1].s[i];
      x.text = vt.cols[2].s[i];
      x.source = vt.cols[3].s[i];
      r->verdict.reasons.push_back(std::move(x));
    }
    if (!bad_sev.empty()) return where + "/verdict: unknown severity \"" + bad_sev + "\"";

    std::vector<std::string> tensors = list(tl);
    if (contains(tensors, "out")) if (e = tensor(g, where, "out", &sh.out, &r->out); !e.empty()) return e;
    if (contains(tensors, "lse")) if (e = tensor(g, where, "lse", &sh.lse, &r->lse); !e.empty()) return e;
    for (const auto& gt : kGradientTensors)
      if (contains(tensors, gt.name))
        if (e = tensor(g, where, gt.name, sh.of_input(gt.of), &(r->grad.*gt.member)); !e.empty()) return e;
    if (mode == "whole") {
      if (contains(tensors, "scores")) if (e = tensor(g, where, "scores", &sh.map, &r->scores); !e.empty()) return e;
      if (contains(tensors, "probs")) if (e = tensor(g, where, "probs", &sh.map, &r->probs); !e.empty()) return e;
    } else if (mode != "rows" && mode != "none") {
      return where + ": intermediates \"" + mode + "\" is not whole, rows or none";
    }
    if (e = h5::read_f64_vec(g, "times_ms", kMaxRecords, &r->times_ms); !e.empty()) return where + "/" + e;
    if (version >= 3) {  // CUPTI's overhead: the repeats timed again without tracing
      if (!h5::read_attr_f64(g, "median_untraced_ms", &r->median_untraced_ms))
        return where + ": attribute median_untraced_ms missing or not a float";
      if (e = h5::read_f64_vec(g, "times_untraced_ms", kMaxRecords, &r->times_untraced_ms); !e.empty())
        return where + "/" + e;
    }

    // Probe.
    if (!h5::link_exists(g, "probe")) return where + "/probe: missing";
    Id pg(H5Gopen2(g, "probe", H5P_DEFAULT));
    if (!pg.ok()) return h5::with_cause(where + "/probe: not a group");
    ProbeData& p = r->probe;
    int64_t en = 0, b = 0, h = 0, rb = 0, re = 0, kt = 0, nt = 0;
    std::string pl;
    ok = h5::read_attr_i64(pg, "enabled", &en) && h5::read_attr_i64(pg, "batch", &b) && h5::read_attr_i64(pg, "head", &h) &&
         h5::read_attr_i64(pg, "row_begin", &rb) && h5::read_attr_i64(pg, "row_end", &re) &&
         h5::read_attr_i64(pg, "kv_tile", &kt) && h5::read_attr_i64(pg, "n_tiles", &nt) &&
         h5::read_attr_str(pg, "tensors", &pl);
    if (!ok) return where + "/probe: missing or mistyped attribute";
    auto fits = [](int64_t x) { return x >= INT32_MIN && x <= INT32_MAX; };
    if (!fits(b) || !fits(h) || !fits(rb) || !fits(re) || !fits(kt) || !fits(nt))
      return where + "/probe: attribute out of range";
    p.where = {en != 0, static_cast<int>(b), static_cast<int>(h), static_cast<int>(rb), static_cast<int>(re)};
    p.kv_tile = static_cast<int>(kt);
    p.n_tiles = static_cast<int>(nt);
    std::vector<std::string> pt = list(pl);
    for (auto [n, t] : {std::pair{"p", &p.p}, {"row_max", &p.row_max}, {"row_sum", &p.row_sum}})
      if (contains(pt, n))
        if (e = tensor(pg, where + "/probe", n, nullptr, t); !e.empty()) return e;
    if (contains(pt, "tile_used"))
      if (e = h5::read_u8_vec(pg, "tile_used", kMaxRecords, &p.tile_used); !e.empty()) return where + "/probe/" + e;
    if (e = check_probe(spec, p); !e.empty()) return where + "/" + e;

    if (e = read_timeline(g, where, &r->spans, &r->kernels, &r->memory); !e.empty()) return e;
    if (e = read_ranges(g, where, &r->ranges); !e.empty()) return e;
    return read_backward(g, where, &r->grad);
  }

  std::string read_ranges(hid_t g, const std::string& where, std::vector<RangeRecord>* ranges) {
    if (version < 3) return "";  // NVTX ranges came with version 3
    Table rt = range_table({});
    if (std::string e = read_table(g, "ranges", &rt); !e.empty()) return where + "/" + e;
    for (size_t i = 0; i < rt.rows; ++i) {
      const int64_t depth = rt.cols[3].i[i];
      if (depth < 0 || depth > 64) return where + "/ranges: depth " + std::to_string(depth) + " out of range";
      ranges->push_back({rt.cols[0].s[i], rt.cols[1].f[i], rt.cols[2].f[i], static_cast<int>(depth)});
    }
    return "";
  }

  std::string read_backward(hid_t g, const std::string& where, Gradients* b) {
    if (!h5::link_exists(g, "backward")) return "";  // no backward (and every version 1 file)
    const std::string w = where + "/backward";
    Id bg(H5Gopen2(g, "backward", H5P_DEFAULT));
    if (!bg.ok()) return w + ": not a group";
    int64_t ran = 0;
    if (!h5::read_attr_i64(bg, "ran", &ran) || !h5::read_attr_str(bg, "error", &b->error) ||
        !h5::read_attr_i64(bg, "peak_bytes", &b->peak_bytes) || !h5::read_attr_i64(bg, "model_bytes", &b->model_bytes) ||
        !h5::read_attr_f64(bg, "median_ms", &b->median_ms))
      return w + ": missing or mistyped attribute (ran, error, peak_bytes, model_bytes or median_ms)";
    b->ran = ran != 0;
    if (std::string e = h5::read_f64_vec(bg, "times_ms", kMaxRecords, &b->times_ms); !e.empty()) return w + "/" + e;
    return read_timeline(bg, w, &b->spans, &b->kernels, &b->memory);
  }

  std::string read_timeline(hid_t g, const std::string& where, std::vector<HostSpan>* spans,
                            std::vector<KernelRecord>* kernels, std::vector<MemoryEvent>* memory) {
    std::string e;
    Table st = span_table({});
    if (e = read_table(g, "spans", &st); !e.empty()) return where + "/" + e;
    for (size_t i = 0; i < st.rows; ++i)
      spans->push_back({st.cols[0].s[i], st.cols[1].f[i], st.cols[2].f[i], static_cast<int>(st.cols[3].i[i])});
    Table ktab = kernel_table({});
    if (e = read_table(g, "kernels", &ktab); !e.empty()) return where + "/" + e;
    for (size_t i = 0; i < ktab.rows; ++i) {
      KernelRecord x;
      x.name = ktab.col("name").s[i];
      x.start_us = ktab.col("start_us").f[i];
      x.dur_us = ktab.col("dur_us").f[i];
      for (int j = 0; j < 3; ++j) {
        x.grid[j] = ktab.col("grid").a[i][j];
        x.block[j] = ktab.col("block").a[i][j];
      }
      x.registers = static_cast<int>(ktab.col("registers").i[i]);
      x.shared_static = static_cast<int>(ktab.col("shared_static").i[i]);
      x.shared_dynamic = static_cast<int>(ktab.col("shared_dynamic").i[i]);
      x.stream = static_cast<int>(ktab.col("stream").i[i]);
      x.correlation = static_cast<uint64_t>(ktab.col("correlation").i[i]);
      x.repeat = static_cast<int>(ktab.col("repeat").i[i]);
      kernels->push_back(std::move(x));
    }
    Table mt = memory_table({});
    if (e = read_table(g, "memory", &mt); !e.empty()) return where + "/" + e;
    for (size_t i = 0; i < mt.rows; ++i) memory->push_back({mt.cols[0].f[i], mt.cols[1].i[i], mt.cols[2].s[i]});
    return "";
  }

  std::string all(hid_t f, Capture* cap) {
    std::string text;
    if (!h5::read_attr_str(f, "spec", &text)) return "/: attribute spec missing or not a string";
    if (std::string e = spec_from_json_text(text, path, &spec); !e.empty()) return "/spec: " + e;
    cap->spec = spec;
    sh = shapes_of(spec);
    for (int64_t d : {int64_t{spec.batch}, int64_t{spec.heads_q}, int64_t{spec.heads_kv}, int64_t{spec.seq_q},
                      int64_t{spec.seq_k}, int64_t{spec.head_dim}, int64_t{spec.head_dim_v}})
      if (d < 0) return "/spec: negative dimension";
    if (!h5::read_attr_f64(f, "acceptance_baseline", &cap->acceptance_baseline))
      return "/: attribute acceptance_baseline missing or not a float";
    int64_t stored = 0;
    if (!h5::read_attr_i64(f, "inputs_stored", &stored)) return "/: attribute inputs_stored missing";
    for (const auto& gt : kGradientTensors) {
      const std::string attr = std::string("acceptance_baseline_") + gt.name;
      if (!h5::has_attr(f, attr.c_str())) continue;
      double v = 0;
      if (!h5::read_attr_f64(f, attr.c_str(), &v)) return "/: attribute " + attr + " is not a float";
      cap->gradient_baseline[gt.name] = v;
    }

    if (!h5::link_exists(f, "env")) return "/env: missing";
    Id env(H5Gopen2(f, "env", H5P_DEFAULT));
    if (!env.ok()) return h5::with_cause("/env: not a group");
    EnvInfo& e = cap->env;
    bool ok = h5::read_attr_str(env, "attnscope_version", &e.attnscope_version) && h5::read_attr_str(env, "created", &e.created) &&
              h5::read_attr_str(env, "host", &e.host) && h5::read_attr_str(env, "os", &e.os) &&
              h5::read_attr_str(env, "cpu", &e.cpu) && h5::read_attr_str(env, "backend", &e.backend) &&
              h5::read_attr_str(env, "device", &e.device) && h5::read_attr_str(env, "gpu_backend_status", &e.gpu_backend_status) &&
              h5::read_attr_str(env, "command_line", &e.command_line) && h5::read_attr_u64(env, "seed", &e.seed) &&
              h5::read_attr_str(env, "distribution", &e.distribution);
    if (!ok) return "/env: missing or mistyped attribute";
    if (h5::link_exists(env, "gpu"))
      if (std::string er = read_gpu_env(env, &e.gpu); !er.empty()) return er;

    if (!h5::link_exists(f, "inputs")) return "/inputs: missing";
    Id in(H5Gopen2(f, "inputs", H5P_DEFAULT));
    std::string tl;
    if (!in.ok() || !h5::read_attr_str(in, "origin", &cap->inputs.origin) || !h5::read_attr_str(in, "tensors", &tl))
      return "/inputs: not a group, or attributes origin/tensors missing";
    std::vector<std::string> tensors = list(tl);
    if (stored)
      for (const char* need : {"q", "k", "v"})
        if (!contains(tensors, need)) return std::string("/inputs: tensor ") + need + " not listed";
    Inputs& x = cap->inputs;
    for (auto [n, t, s] : {std::tuple{"q", &x.q, &sh.q}, {"k", &x.k, &sh.k}, {"v", &x.v, &sh.v}})
      if (contains(tensors, n))
        if (std::string er = tensor(in, "/inputs", n, s, t); !er.empty()) return er;
    if (contains(tensors, "sinks")) {
      Tensor s;
      if (std::string er = tensor(in, "/inputs", "sinks", &sh.sinks, &s); !er.empty()) return er;
      x.sinks = std::move(s.data);
    }
    if (contains(tensors, "do"))
      if (std::string er = tensor(in, "/inputs", "do", &sh.out, &x.dout); !er.empty()) return er;
    if (contains(tensors, "mask")) {
      if (std::string er = tensor(in, "/inputs", "mask", nullptr, &x.mask); !er.empty()) return er;
      if (std::string er = check_mask_shape(spec, x.mask.shape); !er.empty()) return "/inputs/mask: " + er;
    }

    int64_t idx = 0;
    if (std::string er = run(f, "reference", "/reference", &cap->reference, &idx); !er.empty()) return er;
    if (!h5::link_exists(f, "runs")) return "/runs: missing";
    Id runs(H5Gopen2(f, "runs", H5P_DEFAULT));
    if (!runs.ok()) return h5::with_cause("/runs: not a group");
    H5G_info_t gi;
    if (H5Gget_info(runs, &gi) < 0) return "/runs: unreadable";
    if (gi.nlinks > static_cast<hsize_t>(kMaxRuns)) return "/runs: too many runs";
    std::vector<std::pair<int64_t, RunResult>> got;
    for (hsize_t i = 0; i < gi.nlinks; ++i) {
      ssize_t len = H5Lget_name_by_idx(runs, ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
      if (len <= 0 || len > 4096) return "/runs: unreadable link name";
      std::string name(static_cast<size_t>(len) + 1, '\0');
      H5Lget_name_by_idx(runs, ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size(), H5P_DEFAULT);
      name.resize(static_cast<size_t>(len));
      RunResult r;
      if (std::string er = run(runs, name, "/runs/" + name, &r, &idx); !er.empty()) return er;
      got.emplace_back(idx, std::move(r));
    }
    std::stable_sort(got.begin(), got.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    for (size_t i = 0; i < got.size(); ++i) {
      if (got[i].first != static_cast<int64_t>(i))
        return "/runs: run indices are not 0.." + std::to_string(got.size() - 1) + " (found " + std::to_string(got[i].first) + ")";
      cap->runs.push_back(std::move(got[i].second));
    }
    return "";
  }
};

LoadStatus fail(LoadError c, std::string m) { return {c, std::move(m)}; }

// Opens a capture file for reading with the version checked.
LoadStatus open_capture(const std::string& path, Id* f, int* version_out = nullptr) {
  h5::silence_errors();
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return fail(LoadError::NotFound, path + ": no such file");
  if (!S_ISREG(st.st_mode)) return fail(LoadError::NotFound, path + ": not a regular file");
  // libhdf5 1.10 can crash or hang on a damaged file: a child process walks it first.
  if (Hdf5Check c = check_hdf5_file(path); !c.ok()) return fail(LoadError::Malformed, c.message);
  htri_t is = H5Fis_hdf5(path.c_str());
  if (is <= 0) return fail(LoadError::NotHdf5, path + ": not an HDF5 file");
  *f = Id(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  if (!f->ok()) {
    const std::string why = h5::last_error();  // "truncated file: eof = ...", "incorrect metadata checksum ..."
    return fail(LoadError::Malformed, path + ": cannot open the HDF5 file (truncated or damaged" +
                                          (why.empty() ? std::string() : ": " + why) + ")");
  }
  int64_t version = 0;
  if (!h5::has_attr(*f, "format_version"))
    return fail(LoadError::Malformed, path + ": not an attnscope capture (no format_version attribute)");
  if (!h5::read_attr_i64(*f, "format_version", &version))
    return fail(LoadError::Malformed, path + ": format_version is not an integer");
  if (version < Capture::kOldestReadable || version > Capture::kFormatVersion)
    return fail(LoadError::UnsupportedVersion,
                path + ": capture format_version " + std::to_string(version) + " is not supported (this attnscope reads versions " +
                    std::to_string(Capture::kOldestReadable) + " to " + std::to_string(Capture::kFormatVersion) +
                    (version > Capture::kFormatVersion ? "; the file is from a newer attnscope)" : ")"));
  if (version_out) *version_out = static_cast<int>(version);
  return {};
}

// A writer killed mid-write (kill -9, a crash, power) leaves its "<path>.tmp-<pid>-XXXXXX"
// behind, never a half file under `path`; the next save of `path` removes those whose writer is
// gone.
void remove_stale_temps(const std::string& path) {
  namespace fs = std::filesystem;
  const fs::path p(path);
  const std::string prefix = p.filename().string() + ".tmp-";
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(p.has_parent_path() ? p.parent_path() : fs::path("."), ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    char* end = nullptr;
    const long pid = std::strtol(name.c_str() + prefix.size(), &end, 10);
    if (pid <= 0 || *end != '-' || std::strlen(end) != 7) continue;
    if (kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) fs::remove(e.path(), ec);
  }
}

// Data and name on disk before the save reports success.
bool sync_path(const std::string& path, bool directory) {
  int fd = open(path.c_str(), O_RDONLY | (directory ? O_DIRECTORY : 0));
  if (fd < 0) return false;
  bool ok = fsync(fd) == 0;
  close(fd);
  return ok;
}

}  // namespace

std::string save_capture(const Capture& cap, const std::string& path, const StoreOptions& opt) {
  std::lock_guard<std::recursive_mutex> lock(h5::library_mutex());
  h5::silence_errors();
  if (path.empty()) return "save: empty file name";
  remove_stale_temps(path);
  std::string tmpl = path + ".tmp-" + std::to_string(getpid()) + "-XXXXXX";
  std::vector<char> name(tmpl.begin(), tmpl.end());
  name.push_back('\0');
  int fd = mkstemp(name.data());
  if (fd < 0) return path + ": cannot create a temporary file beside it: " + std::strerror(errno);
  // mkstemp makes the file 0600; a capture is meant to be shared: the usual 0666 & ~umask.
  mode_t mask = umask(0);
  umask(mask);
  fchmod(fd, 0666 & ~mask);
  close(fd);
  std::string tmp(name.data());
  std::string err;
  {
    // The 1.10 file format: checksummed object headers, B-trees and chunk indexes, so a damaged
    // file is refused by the library rather than read as garbage (h5py and h5dump of HDF5 >= 1.10 read it).
    Id fapl(H5Pcreate(H5P_FILE_ACCESS));
    if (fapl.ok()) H5Pset_libver_bounds(fapl, H5F_LIBVER_V110, H5F_LIBVER_V110);
    Id f(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.ok() ? fapl.get() : H5P_DEFAULT));
    if (!f.ok()) {
      err = "cannot create HDF5 file";
    } else {
      Writer w{cap, opt, {}, 0, {}};
      err = w.all(f);
      if (err.empty() && H5Fflush(f, H5F_SCOPE_GLOBAL) < 0) err = "flush failed (disk full?)";
      if (err.empty() && H5Fclose(f.release()) < 0) err = "close failed (disk full?)";
    }
  }
  if (err.empty() && !sync_path(tmp, false)) err = std::string("sync failed: ") + std::strerror(errno);
  if (err.empty() && std::rename(tmp.c_str(), path.c_str()) != 0)
    err = std::string("cannot rename the temporary file into place: ") + std::strerror(errno);
  if (err.empty()) {
    const std::filesystem::path parent = std::filesystem::path(path).parent_path();
    sync_path(parent.empty() ? "." : parent.string(), true);  // the rename itself; best effort
  }
  if (!err.empty()) {
    std::remove(tmp.c_str());
    return path + ": " + err;
  }
  return "";
}

LoadStatus load_capture(const std::string& path, Capture* cap) {
  std::lock_guard<std::recursive_mutex> lock(h5::library_mutex());
  Id f;
  int version = 0;
  LoadStatus st = open_capture(path, &f, &version);
  if (!st.ok()) return st;
  Capture c;
  Reader r{path, version, {}, {}};
  std::string e;
  try {
    e = r.all(f, &c);
  } catch (const std::exception& ex) {  // allocation failure or a JSON library error
    e = std::string("unexpected error: ") + ex.what();
  }
  if (!e.empty()) return fail(LoadError::Malformed, path + ": " + e);
  c.format_version = version;  // the file's: 1 predates gradients, 2 the GPU environment and NVTX ranges
  *cap = std::move(c);
  return {};
}

LoadStatus load_intermediates(const std::string& path, const std::string& label, StoredIntermediates* out) {
  std::lock_guard<std::recursive_mutex> lock(h5::library_mutex());
  Id f;
  LoadStatus st = open_capture(path, &f);
  if (!st.ok()) return st;
  std::string text;
  LayerSpec spec;
  if (!h5::read_attr_str(f, "spec", &text) || !spec_from_json_text(text, path, &spec).empty())
    return fail(LoadError::Malformed, path + ": /spec: missing or invalid");
  std::string gpath = label == "reference" ? "reference" : "runs/" + escape_label(label);
  std::string where = "/" + gpath;
  if (label != "reference" && !h5::link_exists(f, "runs"))
    return fail(LoadError::Malformed, path + ": /runs: missing");
  if (H5Lexists(f, gpath.c_str(), H5P_DEFAULT) <= 0)
    return fail(LoadError::Malformed, path + ": no run labelled \"" + label + "\"");
  Id g(H5Gopen2(f, gpath.c_str(), H5P_DEFAULT));
  StoredIntermediates s;
  if (!g.ok() || !h5::read_attr_str(g, "intermediates", &s.storage))
    return fail(LoadError::Malformed, path + ": " + where + ": attribute intermediates missing");
  Shapes sh = shapes_of(spec);
  std::string e;
  auto rd = [&](const char* n, const std::vector<int64_t>* ex, Tensor* t) {
    if (e.empty() && h5::link_exists(g, n)) {
      std::string er = h5::read_tensor(g, n, ex, false, t);
      if (!er.empty()) e = where + "/" + er;
    }
  };
  if (s.storage == "whole") {
    rd("scores", &sh.map, &s.scores);
    rd("probs", &sh.map, &s.probs);
  } else if (s.storage == "rows") {
    e = h5::read_i64_vec(g, "rows", spec.seq_q, &s.rows);
    if (!e.empty()) e = where + "/" + e;
    for (int64_t x : s.rows)
      if (e.empty() && (x < 0 || x >= spec.seq_q)) e = where + "/rows: row " + std::to_string(x) + " outside [0, Nq)";
    h5::read_attr_str(g, "rows_source", &s.rows_source);
    std::vector<int64_t> rs{spec.batch, spec.heads_q, static_cast<int64_t>(s.rows.size()), spec.seq_k};
    rd("scores_rows", &rs, &s.scores);
    rd("probs_rows", &rs, &s.probs);
    rd("scores_overview", nullptr, &s.scores_overview);
    rd("probs_overview", nullptr, &s.probs_overview);
    for (const char* n : {"scores_overview", "probs_overview"}) {
      if (!e.empty() || !h5::link_exists(g, n)) continue;
      Id d(H5Dopen2(g, n, H5P_DEFAULT));
      if (!d.ok() || !h5::read_attr_i64(d, "pool_q", &s.pool_q) || !h5::read_attr_i64(d, "pool_k", &s.pool_k) ||
          s.pool_q < 1 || s.pool_k < 1)
        e = where + "/" + n + ": pool_q/pool_k missing or invalid";
    }
    for (const Tensor* t : {&s.scores_overview, &s.probs_overview}) {
      if (!e.empty() || t->empty()) continue;
      std::vector<int64_t> ex{spec.batch, spec.heads_q, (spec.seq_q + s.pool_q - 1) / s.pool_q,
                              (spec.seq_k + s.pool_k - 1) / s.pool_k};
      if (t->shape != ex) e = where + ": overview shape " + h5::shape_text(t->shape) + ", expected " + h5::shape_text(ex);
    }
  } else if (s.storage != "none") {
    e = where + ": intermediates \"" + s.storage + "\" is not whole, rows or none";
  }
  if (!e.empty()) return fail(LoadError::Malformed, path + ": " + e);
  *out = std::move(s);
  return {};
}

}  // namespace attnscope
