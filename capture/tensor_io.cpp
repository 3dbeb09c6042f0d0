// Tensor files: .npy (v1/v2/v3), .safetensors and HDF5 root datasets, and the two importers built
// on them (--inputs, --import-run). Every header field is checked before anything is allocated:
// a malformed file is one "FILE: problem" line naming the field, never a crash.
#include "capture/tensor_io.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "capture/hdf5_guard.h"
#include "capture/hdf5_util.h"
#include "capture/outside_timing.h"

namespace attnscope {

namespace {

namespace fs = std::filesystem;
using h5::kMaxElements;

constexpr uint64_t kMaxSafetensorsHeader = 100ull << 20;  // the safetensors format's own limit
constexpr uint64_t kMaxNpyHeader = 1ull << 20;
constexpr size_t kMaxTensorsPerFile = 4096;

// Element kinds found in files, with their size in bytes.
enum class Elem { F32, F16, BF16, Bool, I8, U8, I32, I64, F64 };
size_t elem_size(Elem e) {
  switch (e) {
    case Elem::F32: case Elem::I32: return 4;
    case Elem::F16: case Elem::BF16: return 2;
    case Elem::Bool: case Elem::I8: case Elem::U8: return 1;
    case Elem::I64: case Elem::F64: return 8;
  }
  return 1;
}

// Converts little-endian raw bytes to float values; the tensor's dtype says what they were.
void decode(Elem e, const unsigned char* p, int64_t n, Tensor* t) {
  t->data.resize(static_cast<size_t>(n));
  float* o = t->data.data();
  for (int64_t i = 0; i < n; ++i) {
    switch (e) {
      case Elem::F32: { float f; std::memcpy(&f, p + 4 * i, 4); o[i] = f; break; }
      case Elem::F16: { uint16_t h; std::memcpy(&h, p + 2 * i, 2); o[i] = f16_bits_to_f32(h); break; }
      case Elem::BF16: { uint16_t h; std::memcpy(&h, p + 2 * i, 2); o[i] = bf16_bits_to_f32(h); break; }
      case Elem::Bool: o[i] = p[i] ? 1.0f : 0.0f; break;
      case Elem::I8: o[i] = static_cast<float>(static_cast<int8_t>(p[i])); break;
      case Elem::U8: o[i] = static_cast<float>(p[i]); break;
      case Elem::I32: { int32_t v; std::memcpy(&v, p + 4 * i, 4); o[i] = static_cast<float>(v); break; }
      case Elem::I64: { int64_t v; std::memcpy(&v, p + 8 * i, 8); o[i] = static_cast<float>(v); break; }
      case Elem::F64: { double v; std::memcpy(&v, p + 8 * i, 8); o[i] = static_cast<float>(v); break; }
    }
  }
  t->dtype = e == Elem::F16 ? DType::F16 : e == Elem::BF16 ? DType::BF16 : DType::F32;
}

// The bytes of a tensor in its dtype (fp32, IEEE half, bf16), little-endian.
std::vector<unsigned char> encode(const Tensor& t) {
  size_t item = t.dtype == DType::F32 ? 4 : 2;
  std::vector<unsigned char> b(t.data.size() * item);
  for (size_t i = 0; i < t.data.size(); ++i) {
    if (t.dtype == DType::F32) {
      std::memcpy(b.data() + 4 * i, &t.data[i], 4);
    } else {
      uint16_t h = t.dtype == DType::F16 ? f32_to_f16_bits(t.data[i]) : f32_to_bf16_bits(t.data[i]);
      std::memcpy(b.data() + 2 * i, &h, 2);
    }
  }
  return b;
}

std::string sh(const std::vector<int64_t>& s) { return h5::shape_text(s); }

// An open file with its size, read at checked offsets only.
struct File {
  std::ifstream in;
  uint64_t size = 0;
  std::string open(const std::string& path) {
    std::error_code ec;
    if (!fs::exists(path, ec)) return path + ": no such file";
    if (fs::is_directory(path, ec)) return path + ": is a directory";
    in.open(path, std::ios::binary);
    if (!in) return path + ": cannot open";
    in.seekg(0, std::ios::end);
    std::streamoff s = in.tellg();
    if (s < 0) return path + ": cannot determine the file size";
    size = static_cast<uint64_t>(s);
    in.seekg(0);
    return "";
  }
  bool read(uint64_t off, void* buf, uint64_t n) {
    if (off > size || n > size - off) return false;
    in.seekg(static_cast<std::streamoff>(off));
    in.read(static_cast<char*>(buf), static_cast<std::streamsize>(n));
    return static_cast<uint64_t>(in.gcount()) == n;
  }
};

// Checked shape -> element count -> byte count.
std::string shape_bytes(const std::vector<int64_t>& shape, Elem e, int64_t* n, uint64_t* bytes) {
  if (shape.size() > 8) return "rank " + std::to_string(shape.size()) + " (at most 8 supported)";
  for (int64_t d : shape)
    if (d < 0) return "negative dimension in " + sh(shape);
  if (!h5::checked_count(shape, kMaxElements, n))
    return "shape " + sh(shape) + " exceeds the limit of " + std::to_string(kMaxElements) + " elements";
  *bytes = static_cast<uint64_t>(*n) * elem_size(e);
  return "";
}

// ---- .npy ----

// A Python literal dict as numpy writes it: {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
struct NpyHeader {
  std::string descr;
  bool fortran = false, has_descr = false, has_fortran = false, has_shape = false;
  std::vector<int64_t> shape;
};

struct Lit {
  const std::string& s;
  size_t i = 0;
  void ws() { while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i; }
  bool eat(char c) { ws(); if (i < s.size() && s[i] == c) { ++i; return true; } return false; }
  bool str(std::string* out) {
    ws();
    if (i >= s.size() || (s[i] != '\'' && s[i] != '"')) return false;
    char q = s[i++];
    size_t b = i;
    while (i < s.size() && s[i] != q) ++i;
    if (i >= s.size()) return false;
    *out = s.substr(b, i - b);
    ++i;
    return true;
  }
  bool word(const char* w) {
    ws();
    size_t n = std::strlen(w);
    if (s.compare(i, n, w) == 0) { i += n; return true; }
    return false;
  }
  bool integer(int64_t* v) {
    ws();
    size_t b = i;
    int64_t x = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      if (x > (INT64_MAX - 9) / 10) return false;
      x = x * 10 + (s[i] - '0');
      ++i;
    }
    if (i == b) return false;
    if (i < s.size() && s[i] == 'L') ++i;  // Python 2 longs
    *v = x;
    return true;
  }
};

std::string parse_npy_header(const std::string& text, NpyHeader* h) {
  Lit p{text};
  if (!p.eat('{')) return "header: expected a dict starting with '{'";
  while (true) {
    if (p.eat('}')) break;
    std::string key;
    if (!p.str(&key)) return "header: expected a quoted key";
    if (!p.eat(':')) return "header: expected ':' after '" + key + "'";
    if (key == "descr") {
      if (!p.str(&h->descr)) return "header field 'descr': expected a string (structured dtypes are not supported)";
      h->has_descr = true;
    } else if (key == "fortran_order") {
      if (p.word("True")) h->fortran = true;
      else if (p.word("False")) h->fortran = false;
      else return "header field 'fortran_order': expected True or False";
      h->has_fortran = true;
    } else if (key == "shape") {
      if (!p.eat('(')) return "header field 'shape': expected a tuple";
      while (!p.eat(')')) {
        int64_t d = 0;
        if (!p.integer(&d)) return "header field 'shape': expected non-negative integers";
        h->shape.push_back(d);
        if (h->shape.size() > 8) return "header field 'shape': more than 8 dimensions";
        if (!p.eat(',')) {
          if (!p.eat(')')) return "header field 'shape': expected ',' or ')'";
          break;
        }
      }
      h->has_shape = true;
    } else {
      return "header: unknown key '" + key + "'";
    }
    if (!p.eat(',')) {
      if (!p.eat('}')) return "header: expected ',' or '}'";
      break;
    }
  }
  if (!h->has_descr) return "header field 'descr': missing";
  if (!h->has_fortran) return "header field 'fortran_order': missing";
  if (!h->has_shape) return "header field 'shape': missing";
  return "";
}

std::string npy_elem(const std::string& d, Elem* e) {
  static const std::pair<const char*, Elem> table[] = {
      {"<f4", Elem::F32}, {"=f4", Elem::F32}, {"<f2", Elem::F16}, {"=f2", Elem::F16},
      // numpy has no bfloat16: attnscope writes bf16 as its bits ('<u2'), ml_dtypes as '<V2'.
      {"<u2", Elem::BF16}, {"=u2", Elem::BF16}, {"<V2", Elem::BF16}, {"|V2", Elem::BF16},
      {"|b1", Elem::Bool}, {"|i1", Elem::I8}, {"|u1", Elem::U8}, {"<i4", Elem::I32}, {"=i4", Elem::I32},
      {"<i8", Elem::I64}, {"=i8", Elem::I64}, {"<f8", Elem::F64}, {"=f8", Elem::F64}};
  for (auto& [n, v] : table)
    if (d == n) { *e = v; return ""; }
  if (!d.empty() && d[0] == '>') return "header field 'descr': big-endian '" + d + "' is not supported";
  return "header field 'descr': unsupported dtype '" + d + "' (supported: <f4 <f2 <u2 (bf16 bits) |b1 <i4 <i8 <f8)";
}

std::string read_npy_impl(const std::string& path, Tensor* t) {
  File f;
  if (std::string e = f.open(path); !e.empty()) return e;
  unsigned char pre[12] = {};
  if (f.size < 10 || !f.read(0, pre, 10)) return path + ": too short for a .npy file (" + std::to_string(f.size) + " bytes)";
  if (std::memcmp(pre, "\x93NUMPY", 6) != 0) return path + ": magic: not a .npy file (no \\x93NUMPY)";
  int major = pre[6];
  uint64_t hlen = 0, hstart = 0;
  if (major == 1) {
    hlen = pre[8] | (uint64_t{pre[9]} << 8);
    hstart = 10;
  } else if (major == 2 || major == 3) {
    if (!f.read(0, pre, 12)) return path + ": header length: file ends inside it";
    hlen = pre[8] | (uint64_t{pre[9]} << 8) | (uint64_t{pre[10]} << 16) | (uint64_t{pre[11]} << 24);
    hstart = 12;
  } else {
    return path + ": version: .npy format version " + std::to_string(major) + "." + std::to_string(pre[7]) +
           " is not supported (1, 2 or 3)";
  }
  if (hlen > kMaxNpyHeader) return path + ": header length " + std::to_string(hlen) + " exceeds 1 MiB";
  if (hlen > f.size - hstart)
    return path + ": header length " + std::to_string(hlen) + " runs past the end of the file (" + std::to_string(f.size) + " bytes)";
  std::string text(static_cast<size_t>(hlen), '\0');
  if (!f.read(hstart, text.data(), hlen)) return path + ": header: read failed";
  NpyHeader h;
  if (std::string e = parse_npy_header(text, &h); !e.empty()) return path + ": " + e;
  Elem el = Elem::F32;
  if (std::string e = npy_elem(h.descr, &el); !e.empty()) return path + ": " + e;
  if (h.fortran) return path + ": header field 'fortran_order': True is not supported (save np.ascontiguousarray(x))";
  int64_t n = 0;
  uint64_t bytes = 0;
  if (std::string e = shape_bytes(h.shape, el, &n, &bytes); !e.empty()) return path + ": header field 'shape': " + e;
  uint64_t data_off = hstart + hlen;
  if (f.size - data_off != bytes)
    return path + ": data: " + std::to_string(f.size - data_off) + " bytes after the header, shape " + sh(h.shape) +
           " of '" + h.descr + "' needs " + std::to_string(bytes) + (f.size - data_off < bytes ? " (truncated)" : " (trailing bytes)");
  std::vector<unsigned char> raw(static_cast<size_t>(bytes));
  if (!f.read(data_off, raw.data(), bytes)) return path + ": data: read failed";
  Tensor r;
  r.shape = h.shape;
  decode(el, raw.data(), n, &r);
  *t = std::move(r);
  return "";
}

// ---- .safetensors ----

std::string st_elem(const std::string& d, Elem* e) {
  static const std::pair<const char*, Elem> table[] = {
      {"F32", Elem::F32}, {"F16", Elem::F16}, {"BF16", Elem::BF16}, {"BOOL", Elem::Bool}, {"I8", Elem::I8},
      {"U8", Elem::U8},   {"I32", Elem::I32}, {"I64", Elem::I64},   {"F64", Elem::F64}};
  for (auto& [n, v] : table)
    if (d == n) { *e = v; return ""; }
  return "unsupported dtype '" + d + "' (supported: F32 F16 BF16 BOOL I8 U8 I32 I64 F64)";
}

bool json_u64(const nlohmann::json& j, uint64_t* v) {
  if (j.is_number_unsigned()) { *v = j.get<uint64_t>(); return true; }
  if (j.is_number_integer() && j.get<int64_t>() >= 0) { *v = static_cast<uint64_t>(j.get<int64_t>()); return true; }
  return false;
}

std::string read_safetensors_impl(const std::string& path, NamedTensors* out) {
  File f;
  if (std::string e = f.open(path); !e.empty()) return e;
  unsigned char lenb[8];
  if (f.size < 8 || !f.read(0, lenb, 8)) return path + ": too short for a .safetensors file (" + std::to_string(f.size) + " bytes)";
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | lenb[i];
  if (n > kMaxSafetensorsHeader) return path + ": header length " + std::to_string(n) + " exceeds the format's 100 MB limit";
  if (n > f.size - 8)
    return path + ": header length " + std::to_string(n) + " runs past the end of the file (" + std::to_string(f.size) + " bytes)";
  if (n < 2) return path + ": header length " + std::to_string(n) + " is too small for a JSON object";
  std::string text(static_cast<size_t>(n), '\0');
  if (!f.read(8, text.data(), n)) return path + ": header: read failed";
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) return path + ": header: not valid JSON";
  if (!j.is_object()) return path + ": header: not a JSON object";
  const uint64_t data_start = 8 + n, data_size = f.size - data_start;

  struct Entry { std::string name; Elem el; std::vector<int64_t> shape; int64_t count; uint64_t b, e; };
  std::vector<Entry> entries;
  NamedTensors r;
  int64_t total = 0;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& name = it.key();
    const auto& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) return path + ": __metadata__: not an object";
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string()) return path + ": __metadata__." + m.key() + ": not a string";
        r.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    if (entries.size() >= kMaxTensorsPerFile) return path + ": more than " + std::to_string(kMaxTensorsPerFile) + " tensors";
    std::string w = path + ": tensor '" + name + "': ";
    if (!v.is_object()) return w + "not an object";
    for (auto k = v.begin(); k != v.end(); ++k)
      if (k.key() != "dtype" && k.key() != "shape" && k.key() != "data_offsets") return w + "unknown field '" + k.key() + "'";
    if (!v.contains("dtype") || !v["dtype"].is_string()) return w + "field 'dtype': missing or not a string";
    Entry en;
    en.name = name;
    if (std::string e = st_elem(v["dtype"].get<std::string>(), &en.el); !e.empty()) return w + "field 'dtype': " + e;
    if (!v.contains("shape") || !v["shape"].is_array()) return w + "field 'shape': missing or not a list";
    if (v["shape"].size() > 8) return w + "field 'shape': more than 8 dimensions";
    for (const auto& d : v["shape"]) {
      uint64_t x = 0;
      if (!json_u64(d, &x) || x > static_cast<uint64_t>(kMaxElements)) return w + "field 'shape': not a list of non-negative integers below 2^31";
      en.shape.push_back(static_cast<int64_t>(x));
    }
    if (!v.contains("data_offsets") || !v["data_offsets"].is_array() || v["data_offsets"].size() != 2)
      return w + "field 'data_offsets': missing or not [begin, end]";
    if (!json_u64(v["data_offsets"][0], &en.b) || !json_u64(v["data_offsets"][1], &en.e))
      return w + "field 'data_offsets': not non-negative integers";
    if (en.b > en.e) return w + "field 'data_offsets': begin " + std::to_string(en.b) + " > end " + std::to_string(en.e);
    if (en.e > data_size)
      return w + "field 'data_offsets': end " + std::to_string(en.e) + " lies beyond the data area (" + std::to_string(data_size) + " bytes)";
    uint64_t bytes = 0;
    if (std::string e = shape_bytes(en.shape, en.el, &en.count, &bytes); !e.empty()) return w + "field 'shape': " + e;
    if (bytes != en.e - en.b)
      return w + "field 'data_offsets': span of " + std::to_string(en.e - en.b) + " bytes, shape " + sh(en.shape) + " of " +
             v["dtype"].get<std::string>() + " needs " + std::to_string(bytes);
    if (total > kMaxElements - en.count) return path + ": more than " + std::to_string(kMaxElements) + " elements in all";
    total += en.count;
    entries.push_back(std::move(en));
  }
  std::vector<const Entry*> order;
  for (const auto& e : entries) order.push_back(&e);
  std::sort(order.begin(), order.end(), [](const Entry* a, const Entry* b) { return a->b < b->b; });
  const Entry* reach = nullptr;  // the non-empty tensor ending furthest so far
  for (const Entry* en : order) {
    if (en->e == en->b) continue;
    if (reach && en->b < reach->e)
      return path + ": tensor '" + en->name + "': field 'data_offsets': [" + std::to_string(en->b) + ", " +
             std::to_string(en->e) + ") overlaps tensor '" + reach->name + "'";
    if (!reach || en->e > reach->e) reach = en;
  }
  for (const auto& en : entries) {
    std::vector<unsigned char> raw(static_cast<size_t>(en.e - en.b));
    if (!raw.empty() && !f.read(data_start + en.b, raw.data(), raw.size())) return path + ": tensor '" + en.name + "': read failed";
    Tensor t;
    t.shape = en.shape;
    decode(en.el, raw.data(), en.count, &t);
    r.tensors[en.name] = std::move(t);
  }
  *out = std::move(r);
  return "";
}

// ---- HDF5 ----

std::string read_h5_group(hid_t g, const std::string& where, NamedTensors* out) {
  H5G_info_t gi;
  if (H5Gget_info(g, &gi) < 0) return where + ": unreadable group";
  if (gi.nlinks > kMaxTensorsPerFile) return where + ": more than " + std::to_string(kMaxTensorsPerFile) + " objects";
  for (hsize_t i = 0; i < gi.nlinks; ++i) {
    ssize_t len = H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    if (len <= 0 || len > 4096) return where + ": unreadable link name";
    std::string name(static_cast<size_t>(len) + 1, '\0');
    H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size(), H5P_DEFAULT);
    name.resize(static_cast<size_t>(len));
    H5O_info_t info;
    if (H5Oget_info_by_name(g, name.c_str(), &info, H5P_DEFAULT) < 0 || info.type != H5O_TYPE_DATASET) continue;
    h5::Id d(H5Dopen2(g, name.c_str(), H5P_DEFAULT));
    if (!d.ok()) continue;
    h5::Id ft(H5Dget_type(d));
    H5T_class_t cls = ft.ok() ? H5Tget_class(ft) : H5T_NO_CLASS;
    if (cls != H5T_FLOAT && cls != H5T_INTEGER && cls != H5T_ENUM) continue;  // strings, records: not tensors
    Tensor t;
    if (std::string e = h5::read_tensor(g, name, nullptr, true, &t); !e.empty()) return where + "/" + e;
    out->tensors[name] = std::move(t);
  }
  return "";
}

std::string read_h5_impl(const std::string& path, NamedTensors* out) {
  std::lock_guard<std::recursive_mutex> lock(h5::library_mutex());
  h5::silence_errors();
  std::error_code ec;
  if (!fs::exists(path, ec)) return path + ": no such file";
  // libhdf5 1.10 can crash or hang on a damaged file: a child process walks it first.
  if (Hdf5Check c = check_hdf5_file(path); !c.ok()) return c.message;
  if (H5Fis_hdf5(path.c_str()) <= 0) return path + ": not an HDF5 file";
  h5::Id f(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  if (!f.ok()) return path + ": cannot open the HDF5 file (truncated or damaged)";
  NamedTensors r;
  if (std::string e = read_h5_group(f, "", &r); !e.empty()) return path + ": " + e;
  // An attnscope capture keeps its inputs in /inputs: replay them directly.
  if (!r.tensors.count("q") && h5::link_exists(f, "inputs") && h5::has_attr(f, "format_version")) {
    h5::Id g(H5Gopen2(f, "inputs", H5P_DEFAULT));
    if (g.ok())
      if (std::string e = read_h5_group(g, "/inputs", &r); !e.empty()) return path + ": " + e;
  }
  *out = std::move(r);
  return "";
}

bool ends_with(const std::string& s, const std::string& suf) {
  if (s.size() < suf.size()) return false;
  return std::equal(suf.rbegin(), suf.rend(), s.rbegin(),
                    [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; });
}

std::string names_of(const NamedTensors& nt) {
  std::string r;
  for (const auto& [k, v] : nt.tensors) r += (r.empty() ? "" : ", ") + k + " " + sh(v.shape);
  return r.empty() ? "none" : r;
}

// [B, N, H, D] -> [B, H, N, D] (or back: the permutation is its own inverse).
Tensor swap_12(const Tensor& t) {
  int64_t B = t.dim(0), X = t.dim(1), Y = t.dim(2), D = t.dim(3);
  Tensor r(t.dtype, {B, Y, X, D});
  for (int64_t b = 0; b < B; ++b)
    for (int64_t x = 0; x < X; ++x)
      for (int64_t y = 0; y < Y; ++y)
        std::copy_n(t.data.data() + ((b * X + x) * Y + y) * D, D, r.data.data() + ((b * Y + y) * X + x) * D);
  return r;
}

const char* layout_name(Layout l) { return l == Layout::BHND ? "bhnd" : "bnhd"; }

std::vector<int64_t> in_layout(const std::vector<int64_t>& bhnd, Layout l) {
  if (l == Layout::BHND || bhnd.size() != 4) return bhnd;
  return {bhnd[0], bhnd[2], bhnd[1], bhnd[3]};
}

}  // namespace

std::string read_npy(const std::string& path, Tensor* t) { return read_npy_impl(path, t); }

std::string write_npy(const std::string& path, const Tensor& t) {
  int64_t n = 0;
  if (!h5::checked_count(t.shape, INT64_MAX, &n) || n != t.numel())
    return path + ": shape " + sh(t.shape) + " does not match the tensor's " + std::to_string(t.numel()) + " values";
  const char* descr = t.dtype == DType::F32 ? "<f4" : t.dtype == DType::F16 ? "<f2" : "<u2";
  std::string shape = "(";
  for (size_t i = 0; i < t.shape.size(); ++i) shape += std::to_string(t.shape[i]) + (t.shape.size() == 1 ? "," : i + 1 < t.shape.size() ? ", " : "");
  shape += ")";
  std::string h = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  // Version 1 header, padded with spaces and a newline so the data starts 64-byte aligned.
  size_t total = 10 + h.size() + 1;
  size_t pad = (64 - total % 64) % 64;
  h += std::string(pad, ' ') + "\n";
  if (h.size() > 65535) return path + ": header too long for .npy version 1";
  std::ofstream o(path, std::ios::binary | std::ios::trunc);
  if (!o) return path + ": cannot create";
  unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, static_cast<unsigned char>(h.size() & 0xff),
                           static_cast<unsigned char>(h.size() >> 8)};
  o.write(reinterpret_cast<const char*>(pre), 10);
  o.write(h.data(), static_cast<std::streamsize>(h.size()));
  std::vector<unsigned char> b = encode(t);
  o.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  o.close();
  if (!o) return path + ": write failed";
  return "";
}

std::string read_safetensors(const std::string& path, NamedTensors* out) { return read_safetensors_impl(path, out); }

std::string write_safetensors(const std::string& path, const NamedTensors& in) {
  nlohmann::json j = nlohmann::json::object();
  if (!in.metadata.empty()) j["__metadata__"] = in.metadata;
  uint64_t off = 0;
  for (const auto& [name, t] : in.tensors) {
    if (name == "__metadata__") return path + ": a tensor cannot be named __metadata__";
    int64_t n = 0;
    if (!h5::checked_count(t.shape, INT64_MAX, &n) || n != t.numel())
      return path + ": tensor '" + name + "': shape " + sh(t.shape) + " does not match its " + std::to_string(t.numel()) + " values";
    uint64_t bytes = static_cast<uint64_t>(n) * (t.dtype == DType::F32 ? 4 : 2);
    j[name] = {{"dtype", t.dtype == DType::F32 ? "F32" : t.dtype == DType::F16 ? "F16" : "BF16"},
               {"shape", t.shape},
               {"data_offsets", {off, off + bytes}}};
    off += bytes;
  }
  std::string h = j.dump();
  h += std::string((8 - h.size() % 8) % 8, ' ');  // data 8-byte aligned, as the reference writer does
  std::ofstream o(path, std::ios::binary | std::ios::trunc);
  if (!o) return path + ": cannot create";
  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>((static_cast<uint64_t>(h.size()) >> (8 * i)) & 0xff);
  o.write(reinterpret_cast<const char*>(len), 8);
  o.write(h.data(), static_cast<std::streamsize>(h.size()));
  for (const auto& [name, t] : in.tensors) {
    std::vector<unsigned char> b = encode(t);
    o.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  }
  o.close();
  if (!o) return path + ": write failed";
  return "";
}

std::string read_h5_tensors(const std::string& path, NamedTensors* out) { return read_h5_impl(path, out); }

std::string read_tensor_file(const std::string& path, NamedTensors* out) {
  std::error_code ec;
  if (path.empty()) return "(empty path): no such file";
  if (fs::is_directory(path, ec)) {
    NamedTensors r;
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(path, ec))
      if (e.is_regular_file() && ends_with(e.path().string(), ".npy")) files.push_back(e.path());
    if (ec) return path + ": cannot list the folder";
    if (files.empty()) return path + ": folder holds no .npy files";
    if (files.size() > kMaxTensorsPerFile) return path + ": too many .npy files";
    std::sort(files.begin(), files.end());
    for (const auto& p : files) {
      Tensor t;
      if (std::string e = read_npy(p.string(), &t); !e.empty()) return e;
      r.tensors[p.stem().string()] = std::move(t);
    }
    *out = std::move(r);
    return "";
  }
  if (!fs::exists(path, ec)) return path + ": no such file";
  if (ends_with(path, ".npy")) {
    Tensor t;
    if (std::string e = read_npy(path, &t); !e.empty()) return e;
    NamedTensors r;
    r.tensors[fs::path(path).stem().string()] = std::move(t);
    *out = std::move(r);
    return "";
  }
  if (ends_with(path, ".safetensors")) return read_safetensors(path, out);
  if (ends_with(path, ".h5") || ends_with(path, ".hdf5")) return read_h5_tensors(path, out);
  // Unknown extension: look at the magic bytes.
  File f;
  if (std::string e = f.open(path); !e.empty()) return e;
  unsigned char m[8] = {};
  f.read(0, m, std::min<uint64_t>(8, f.size));
  if (std::memcmp(m, "\x93NUMPY", 6) == 0) {
    Tensor t;
    if (std::string e = read_npy(path, &t); !e.empty()) return e;
    NamedTensors r;
    r.tensors[fs::path(path).stem().string()] = std::move(t);
    *out = std::move(r);
    return "";
  }
  if (std::memcmp(m, "\x89HDF\r\n\x1a\n", 8) == 0) return read_h5_tensors(path, out);
  return read_safetensors(path, out);
}

std::string load_inputs(const std::string& path, Layout layout, const LayerSpec& spec, Inputs* in) {
  NamedTensors nt;
  if (std::string e = read_tensor_file(path, &nt); !e.empty()) return e;
  const LayerSpec& s = spec;
  Inputs r;
  int64_t changed = 0;
  auto take = [&](const char* name, std::vector<int64_t> want_bhnd, Tensor* dst) -> std::string {
    auto it = nt.tensors.find(name);
    if (it == nt.tensors.end())
      return path + ": no tensor named '" + name + "' (found: " + names_of(nt) + ")";
    Tensor t = it->second;
    std::vector<int64_t> want = in_layout(want_bhnd, layout);
    if (t.shape != want)
      return path + ": tensor '" + name + "' has shape " + sh(t.shape) + ", the layer expects " + sh(want) + " (" +
             layout_name(layout) + ": " + (layout == Layout::BHND ? "batch, heads, seq, head_dim" : "batch, seq, heads, head_dim") + ")";
    if (layout == Layout::BNHD) t = swap_12(t);
    for (float& x : t.data) {
      float y = round_to(s.dtype, x);
      if (std::memcmp(&x, &y, 4) != 0 && !(x != x && y != y)) ++changed;
      x = y;
    }
    t.dtype = s.dtype;
    *dst = std::move(t);
    return "";
  };
  if (std::string e = take("q", {s.batch, s.heads_q, s.seq_q, s.head_dim}, &r.q); !e.empty()) return e;
  if (std::string e = take("k", {s.batch, s.heads_kv, s.seq_k, s.head_dim}, &r.k); !e.empty()) return e;
  if (std::string e = take("v", {s.batch, s.heads_kv, s.seq_k, s.head_dim_v}, &r.v); !e.empty()) return e;
  std::vector<std::string> notes;
  // The backward's dO, when the file has one (the dump's `do`, or a capture's /inputs/do).
  if (nt.tensors.count("do"))
    if (std::string e = take("do", {s.batch, s.heads_q, s.seq_q, s.head_dim_v}, &r.dout); !e.empty()) return e;
  auto sk = nt.tensors.find("sinks");
  if (s.sinks) {
    if (sk == nt.tensors.end()) return path + ": the layer has sinks but the file has no tensor named 'sinks'";
    std::vector<int64_t> want{s.heads_q};
    if (sk->second.shape != want)
      return path + ": tensor 'sinks' has shape " + sh(sk->second.shape) + ", the layer expects " + sh(want) + " (one logit per query head)";
    for (float x : sk->second.data) {
      float y = round_to(s.dtype, x);
      if (std::memcmp(&x, &y, 4) != 0 && !(x != x && y != y)) ++changed;
      r.sinks.push_back(y);
    }
  } else if (sk != nt.tensors.end()) {
    notes.push_back("sinks ignored: the layer has none");
  }
  auto mk = nt.tensors.find("mask");
  bool explicit_mask = s.mask == MaskKind::ExplicitBool || s.mask == MaskKind::ExplicitAdditive;
  if (explicit_mask) {
    if (mk == nt.tensors.end()) return path + ": the layer has an explicit " + mask_kind_name(s.mask) + " mask but the file has no tensor named 'mask'";
    Tensor m = mk->second;
    if (m.shape.size() == 2) m.shape = {1, 1, m.shape[0], m.shape[1]};
    if (m.shape.size() != 4 || (m.shape[0] != 1 && m.shape[0] != s.batch) || (m.shape[1] != 1 && m.shape[1] != s.heads_q) ||
        m.shape[2] != s.seq_q || m.shape[3] != s.seq_k)
      return path + ": tensor 'mask' has shape " + sh(mk->second.shape) + ", the layer expects [" + std::to_string(s.batch) + "|1, " +
             std::to_string(s.heads_q) + "|1, " + std::to_string(s.seq_q) + ", " + std::to_string(s.seq_k) + "] or [" +
             std::to_string(s.seq_q) + ", " + std::to_string(s.seq_k) + "]";
    if (s.mask == MaskKind::ExplicitBool)
      for (float x : m.data)
        if (x != 0.0f && x != 1.0f) return path + ": tensor 'mask': a bool mask holds a value other than 0/1 (" + std::to_string(x) + ")";
    m.dtype = DType::F32;
    r.mask = std::move(m);
  } else if (mk != nt.tensors.end()) {
    notes.push_back(std::string("mask ignored: the layer's mask is ") + mask_kind_name(s.mask));
  }
  r.origin = path + " (" + layout_name(layout) + "; " + std::to_string(changed) + " value" + (changed == 1 ? "" : "s") +
             " changed by rounding to " + dtype_name(s.dtype);
  for (const auto& n : notes) r.origin += "; " + n;
  r.origin += ")";
  *in = std::move(r);
  return "";
}

std::string load_outside_run(const std::string& name, const std::string& file_spec, Layout layout,
                             const LayerSpec& spec, RunResult* run) {
  std::string file = file_spec, tensor;
  std::error_code ec;
  if (!fs::exists(file_spec, ec)) {
    size_t c = file_spec.rfind(':');
    if (c != std::string::npos && c > 0 && c + 1 < file_spec.size()) {
      file = file_spec.substr(0, c);
      tensor = file_spec.substr(c + 1);
    }
  }
  if (name.empty()) return file_spec + ": --import-run needs NAME=FILE[:tensor] with a non-empty NAME";
  NamedTensors nt;
  if (std::string e = read_tensor_file(file, &nt); !e.empty()) return e;
  std::string tname = tensor;
  if (tname.empty()) {
    for (const char* c : {"out", "output", "attn_output", "o"})
      if (nt.tensors.count(c)) { tname = c; break; }
    if (tname.empty()) {
      std::vector<std::string> rank4;
      for (const auto& [k, v] : nt.tensors)
        if (v.shape.size() == 4) rank4.push_back(k);
      if (rank4.size() == 1) tname = rank4[0];
    }
    if (tname.empty())
      return file + ": no output tensor found (name one with " + name + "=" + file + ":TENSOR; found: " + names_of(nt) + ")";
  } else if (!nt.tensors.count(tname)) {
    return file + ": no tensor named '" + tname + "' (found: " + names_of(nt) + ")";
  }
  const LayerSpec& s = spec;
  Tensor out = nt.tensors[tname];
  std::vector<int64_t> bhnd{s.batch, s.heads_q, s.seq_q, s.head_dim_v}, bnhd{s.batch, s.seq_q, s.heads_q, s.head_dim_v};
  Layout other = layout == Layout::BHND ? Layout::BNHD : Layout::BHND;
  Layout used = layout;
  if (out.shape != in_layout(bhnd, layout)) {
    if (out.shape == in_layout(bhnd, other)) used = other;
    else
      return file + ": tensor '" + tname + "' has shape " + sh(out.shape) + ", the layer's output is " + sh(bhnd) +
             " (bhnd) or " + sh(bnhd) + " (bnhd)";
  }
  if (used == Layout::BNHD) out = swap_12(out);
  // An output that holds only values of the layer's dtype (a bf16 model's output upcast to fp32
  // on the way out) is that dtype: the acceptance rule and ULP counts then apply as to any run.
  if (out.dtype != s.dtype &&
      std::all_of(out.data.begin(), out.data.end(), [&](float x) { return x != x || round_to(s.dtype, x) == x; }))
    out.dtype = s.dtype;
  RunResult r;
  r.impl = "outside";
  r.label = name;
  r.backend = "outside";
  r.device = file;
  r.ran = true;
  r.out = std::move(out);
  std::string lse_name;
  for (const std::string& c : {tname + "_lse", std::string("lse")})
    if (nt.tensors.count(c)) { lse_name = c; break; }
  if (!lse_name.empty()) {
    Tensor l = nt.tensors[lse_name];
    std::vector<int64_t> want{s.batch, s.heads_q, s.seq_q}, alt{s.batch, s.seq_q, s.heads_q};
    if (l.shape == want) {
    } else if (l.shape == alt && used == Layout::BNHD) {
      Tensor t(DType::F32, want);
      for (int64_t b = 0; b < s.batch; ++b)
        for (int64_t i = 0; i < s.seq_q; ++i)
          for (int64_t h = 0; h < s.heads_q; ++h)
            t.data[(b * s.heads_q + h) * s.seq_q + i] = l.data[(b * s.seq_q + i) * s.heads_q + h];
      l = std::move(t);
    } else {
      return file + ": tensor '" + lse_name + "' has shape " + sh(l.shape) + ", the layer's LSE is " + sh(want) + " [batch, heads, seq]";
    }
    l.dtype = DType::F32;  // LSE is compared in fp32 (values widened from the file's dtype)
    r.lse = std::move(l);
  }
  // The attention probabilities the function returned (eager-style functions do), [B, Hq, Nq, Nk]:
  // drawn as the run's own attention map.
  std::string probs_name;
  for (const std::string& c : {tname + "_probs", std::string("probs"), std::string("attn_weights")})
    if (nt.tensors.count(c)) { probs_name = c; break; }
  if (!probs_name.empty()) {
    Tensor p = nt.tensors[probs_name];
    std::vector<int64_t> want{s.batch, s.heads_q, s.seq_q, s.seq_k};
    if (p.shape != want)
      return file + ": tensor '" + probs_name + "' has shape " + sh(p.shape) + ", the layer's attention probabilities are " +
             sh(want) + " [batch, heads, seq_q, seq_k]";
    if (std::all_of(p.data.begin(), p.data.end(), [&](float x) { return x != x || round_to(s.dtype, x) == x; }))
      p.dtype = s.dtype;
    r.probs = std::move(p);
  }
  // Gradients the outside function produced for the file's dO (`do`): dq/dk/dv in the layout of
  // the output, dsinks [Hq]; named "dq".. beside "out", "<tensor>_dq".. beside another tensor. A
  // function that has no backward says so in the file's metadata (attnscope_dump.py's
  // backward_error: the exception's type and message), kept as the run's gradient error.
  std::vector<std::string> grads_read;
  for (const auto& g : kGradientTensors) {
    std::string gname;
    for (const std::string& c : {tname + "_" + g.name, tname == "out" ? std::string(g.name) : std::string()})
      if (!c.empty() && nt.tensors.count(c)) { gname = c; break; }
    if (gname.empty()) continue;
    Tensor t = nt.tensors[gname];
    std::vector<int64_t> want = std::string(g.of) == "sinks" ? std::vector<int64_t>{s.heads_q}
                                : std::string(g.of) == "q"   ? std::vector<int64_t>{s.batch, s.heads_q, s.seq_q, s.head_dim}
                                : std::string(g.of) == "k"   ? std::vector<int64_t>{s.batch, s.heads_kv, s.seq_k, s.head_dim}
                                                             : std::vector<int64_t>{s.batch, s.heads_kv, s.seq_k, s.head_dim_v};
    if (want.size() == 4 && used == Layout::BNHD && t.shape == in_layout(want, Layout::BNHD)) t = swap_12(t);
    if (t.shape != want)
      return file + ": tensor '" + gname + "' has shape " + sh(t.shape) + ", the layer's " + g.name + " is " + sh(want) +
             (want.size() == 4 ? std::string(" (") + layout_name(Layout::BHND) + ")" : std::string());
    if (t.dtype != s.dtype &&
        std::all_of(t.data.begin(), t.data.end(), [&](float x) { return x != x || round_to(s.dtype, x) == x; }))
      t.dtype = s.dtype;
    r.grad.*g.member = std::move(t);
    grads_read.push_back(gname);
  }
  if (!grads_read.empty()) {
    r.grad.ran = true;
    if (s.sinks && r.grad.dsinks.empty()) {
      // The function gave the sinks no gradient (autograd's None): they would never train.
      r.grad.dsinks = Tensor(s.dtype, {s.heads_q}, 0.0f);
      r.verdict.add(Severity::Warning, "outside.dsinks_none",
                    "the function returned no gradient for the sinks (None): dsinks taken as 0", "attnscope");
    }
  }
  for (const char* key : {"backward_error", "attnscope.backward_error"}) {
    auto it = nt.metadata.find(key);
    if (it != nt.metadata.end() && !it->second.empty()) {
      r.grad.ran = false;
      r.grad.error = "no backward: " + it->second;
      r.verdict.add(Severity::Error, "outside.no_backward",
                    "the function's backward failed: " + it->second + " (it cannot train)", "attnscope");
    }
  }
  std::string text = "outside run: output '" + tname + "' (" + dtype_name(r.out.dtype) + ", " + layout_name(used) + ")";
  if (!grads_read.empty()) {
    text += ", gradients";
    for (const auto& g : grads_read) text += " '" + g + "'";
  }
  if (used != layout) text += std::string(", read as ") + layout_name(used) + " because its shape matches that layout";
  text += lse_name.empty() ? ", no LSE" : ", LSE '" + lse_name + "'";
  if (!probs_name.empty()) text += ", attention probabilities '" + probs_name + "'";
  // Its cost, where the dump timed it (attnscope_dump.py --time): the record beside the tensors.
  const auto timing = nt.metadata.find(kOutsideTimingKey);
  if (timing == nt.metadata.end())
    text += "; not timed (attnscope_dump.py --time, or record_attention(..., time=True), runs the function again "
            "for its time, kernels and peak memory)";
  text += " from " + file;
  r.verdict.add(Severity::Note, "outside.run", text, "attnscope");
  if (timing != nt.metadata.end())
    if (std::string e = apply_outside_timing(file, timing->second, &r); !e.empty()) return e;
  *run = std::move(r);
  return "";
}

}  // namespace attnscope
