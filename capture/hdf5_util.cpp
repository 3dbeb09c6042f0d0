// HDF5 helpers shared by the capture store and the tensor readers (see hdf5_util.h).
#include "capture/hdf5_util.h"

#include <algorithm>
#include <cstring>
#include <mutex>

namespace attnscope::h5 {

void Id::reset() {
  if (id_ < 0) return;
  switch (H5Iget_type(id_)) {
    case H5I_FILE: H5Fclose(id_); break;
    case H5I_GROUP: H5Gclose(id_); break;
    case H5I_DATASET: H5Dclose(id_); break;
    case H5I_DATASPACE: H5Sclose(id_); break;
    case H5I_DATATYPE: H5Tclose(id_); break;
    case H5I_ATTR: H5Aclose(id_); break;
    case H5I_GENPROP_LST: H5Pclose(id_); break;
    default: break;
  }
  id_ = -1;
}

void silence_errors() {
  static std::once_flag once;
  std::call_once(once, [] { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); });
}

std::recursive_mutex& library_mutex() {
  static std::recursive_mutex m;
  return m;
}

Id make_half_type() {
  // binary16: sign bit 15, exponent bits 10..14 (bias 15), mantissa bits 0..9.
  Id t(H5Tcopy(H5T_IEEE_F32LE));
  if (!t.ok()) return t;
  if (H5Tset_fields(t, 15, 10, 5, 0, 10) < 0 || H5Tset_size(t, 2) < 0 || H5Tset_ebias(t, 15) < 0)
    return Id();
  return t;
}

bool checked_count(const std::vector<int64_t>& shape, int64_t cap, int64_t* n) {
  int64_t c = 1;
  for (int64_t d : shape) {
    if (d < 0) return false;
    if (d != 0 && c > cap / d) return false;
    c *= d;
  }
  if (c > cap) return false;
  *n = c;
  return true;
}

std::string check_storage(hid_t dataset, uint64_t need_bytes) {
  if (need_bytes == 0) return "";
  Id dcpl(H5Dget_create_plist(dataset));
  const H5D_layout_t layout = dcpl.ok() ? H5Pget_layout(dcpl) : H5D_LAYOUT_ERROR;
  const uint64_t stored = H5Dget_storage_size(dataset);
  H5D_space_status_t status = H5D_SPACE_STATUS_ERROR;
  H5Dget_space_status(dataset, &status);
  switch (layout) {
    case H5D_COMPACT:
      if (stored != need_bytes)
        return "compact storage holds " + std::to_string(stored) + " bytes, the shape needs " + std::to_string(need_bytes);
      return "";
    case H5D_CONTIGUOUS: {
      if (status == H5D_SPACE_STATUS_NOT_ALLOCATED) return "";  // never written: reads the fill value
      const haddr_t at = H5Dget_offset(dataset);
      hsize_t file_size = 0;
      Id f(H5Iget_file_id(dataset));
      if (at == HADDR_UNDEF || !f.ok() || H5Fget_filesize(f, &file_size) < 0 || stored < need_bytes ||
          at > file_size || need_bytes > file_size - at)
        return "contiguous storage of " + std::to_string(need_bytes) + " bytes lies outside the file";
      return "";
    }
    case H5D_CHUNKED: return "";  // each chunk is checked by its filters (Fletcher32 in captures)
    default: return "unsupported storage layout";
  }
}

std::string last_error() {
  std::string msg;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_UPWARD,
      [](unsigned n, const H5E_error2_t* e, void* out) -> herr_t {
        if (n == 0 && e->desc) *static_cast<std::string*>(out) = e->desc;
        return 0;
      },
      &msg);
  return msg;
}

std::string shape_text(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

// ---- attributes ----

bool has_attr(hid_t obj, const char* name) { return H5Aexists(obj, name) > 0; }

static bool write_attr_raw(hid_t obj, const char* name, hid_t ftype, hid_t mtype, const void* buf) {
  if (has_attr(obj, name) && H5Adelete(obj, name) < 0) return false;
  Id space(H5Screate(H5S_SCALAR));
  if (!space.ok()) return false;
  Id a(H5Acreate2(obj, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT));
  if (!a.ok()) return false;
  return H5Awrite(a, mtype, buf) >= 0;
}

// Fixed-length (exactly the string's size), never variable-length: VL strings live in the global
// heap, which carries no checksum, and HDF5 crashes on a damaged one.
bool write_attr_str(hid_t obj, const char* name, const std::string& v) {
  Id t(H5Tcopy(H5T_C_S1));
  if (!t.ok() || H5Tset_size(t, std::max<size_t>(1, v.size())) < 0 || H5Tset_strpad(t, H5T_STR_NULLPAD) < 0 ||
      H5Tset_cset(t, H5T_CSET_UTF8) < 0)
    return false;
  std::string buf = v.empty() ? std::string(1, '\0') : v;
  return write_attr_raw(obj, name, t, t, buf.data());
}
bool write_attr_i64(hid_t obj, const char* name, int64_t v) {
  return write_attr_raw(obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &v);
}
bool write_attr_u64(hid_t obj, const char* name, uint64_t v) {
  return write_attr_raw(obj, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, &v);
}
bool write_attr_f64(hid_t obj, const char* name, double v) {
  return write_attr_raw(obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &v);
}

// Opens a scalar (or one-element) attribute of the given class.
static Id open_scalar_attr(hid_t obj, const char* name, H5T_class_t cls, Id* ftype) {
  if (!has_attr(obj, name)) return Id();
  Id a(H5Aopen(obj, name, H5P_DEFAULT));
  if (!a.ok()) return Id();
  Id space(H5Aget_space(a));
  if (!space.ok()) return Id();
  hssize_t n = H5Sget_simple_extent_npoints(space);
  if (n != 1) return Id();
  Id t(H5Aget_type(a));
  if (!t.ok() || H5Tget_class(t) != cls) return Id();
  *ftype = std::move(t);
  return a;
}

bool read_attr_str(hid_t obj, const char* name, std::string* v) {
  Id ft;
  Id a = open_scalar_attr(obj, name, H5T_STRING, &ft);
  if (!a.ok()) return false;
  htri_t var = H5Tis_variable_str(ft);
  if (var < 0) return false;
  if (var > 0) {
    Id mt(H5Tcopy(H5T_C_S1));
    if (!mt.ok() || H5Tset_size(mt, H5T_VARIABLE) < 0) return false;
    H5Tset_cset(mt, H5Tget_cset(ft));
    char* p = nullptr;
    if (H5Aread(a, mt, &p) < 0) return false;
    *v = p ? std::string(p) : std::string();
    if (p) H5free_memory(p);
    return true;
  }
  size_t sz = H5Tget_size(ft);
  if (sz == 0 || sz > (64u << 20)) return false;
  std::vector<char> buf(sz + 1, 0);
  Id mt(H5Tcopy(ft));
  if (!mt.ok() || H5Aread(a, mt, buf.data()) < 0) return false;
  *v = std::string(buf.data(), strnlen(buf.data(), sz));
  return true;
}

bool read_attr_i64(hid_t obj, const char* name, int64_t* v) {
  Id ft;
  Id a = open_scalar_attr(obj, name, H5T_INTEGER, &ft);
  if (!a.ok()) return false;
  return H5Aread(a, H5T_NATIVE_INT64, v) >= 0;
}
bool read_attr_u64(hid_t obj, const char* name, uint64_t* v) {
  Id ft;
  Id a = open_scalar_attr(obj, name, H5T_INTEGER, &ft);
  if (!a.ok()) return false;
  return H5Aread(a, H5T_NATIVE_UINT64, v) >= 0;
}
bool read_attr_f64(hid_t obj, const char* name, double* v) {
  Id ft;
  Id a = open_scalar_attr(obj, name, H5T_FLOAT, &ft);
  if (!a.ok()) return false;
  return H5Aread(a, H5T_NATIVE_DOUBLE, v) >= 0;
}

bool link_exists(hid_t loc, const std::string& name) {
  if (name.empty() || name.find('/') != std::string::npos) return false;
  return H5Lexists(loc, name.c_str(), H5P_DEFAULT) > 0;
}

// ---- datasets ----

Id checksummed_dcpl(const std::vector<hsize_t>& dims, size_t item) {
  Id dcpl(H5Pcreate(H5P_DATASET_CREATE));
  if (!dcpl.ok()) return dcpl;
  uint64_t n = 1;
  for (hsize_t d : dims) n *= d;
  if (dims.empty() || n == 0) return dcpl;  // nothing stored, nothing to damage
  // Fletcher32 needs chunks: a small dataset is one chunk; anything over 64 KiB is cut into
  // ~1 MiB chunks along the last dimensions (a row of a map is one chunk read) and compressed.
  const bool big = n * item >= (64u << 10);
  std::vector<hsize_t> chunk(dims.begin(), dims.end());
  if (big) {
    const uint64_t target = std::max<uint64_t>(1, (1u << 20) / item);  // elements per chunk
    uint64_t have = 1;
    std::fill(chunk.begin(), chunk.end(), 1);
    for (size_t i = dims.size(); i-- > 0;) {
      uint64_t room = std::max<uint64_t>(1, target / have);
      chunk[i] = std::min<uint64_t>(dims[i], room);
      have *= chunk[i];
      if (chunk[i] < dims[i]) break;
    }
  }
  if (H5Pset_chunk(dcpl, static_cast<int>(dims.size()), chunk.data()) < 0) return Id();
  if (big && H5Zfilter_avail(H5Z_FILTER_SHUFFLE) > 0) H5Pset_shuffle(dcpl);
  if (big && H5Zfilter_avail(H5Z_FILTER_DEFLATE) > 0) H5Pset_deflate(dcpl, 1);
  // Last, so it checksums the bytes as they lie in the file.
  if (H5Pset_fletcher32(dcpl) < 0) return Id();
  return dcpl;
}

static std::string write_raw(hid_t loc, const std::string& name, const std::vector<int64_t>& shape,
                             hid_t ftype, hid_t mtype, const void* buf, size_t item, Id* out = nullptr) {
  std::vector<hsize_t> dims(shape.begin(), shape.end());
  Id space(dims.empty() ? H5Screate(H5S_SCALAR)
                        : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr));
  if (!space.ok()) return name + ": cannot create dataspace " + shape_text(shape);
  Id dcpl = checksummed_dcpl(dims, item);
  if (!dcpl.ok()) return name + ": cannot set up chunking";
  Id d(H5Dcreate2(loc, name.c_str(), ftype, space, H5P_DEFAULT, dcpl, H5P_DEFAULT));
  if (!d.ok()) return name + ": cannot create dataset";
  uint64_t n = 1;
  for (hsize_t x : dims) n *= x;
  if (n > 0 && H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
    return name + ": write failed";
  if (out) *out = std::move(d);
  return "";
}

std::string write_tensor(hid_t loc, const std::string& name, const Tensor& t) {
  int64_t n = 0;
  if (!checked_count(t.shape, INT64_MAX, &n) || n != t.numel())
    return name + ": shape " + shape_text(t.shape) + " does not match its " +
           std::to_string(t.numel()) + " values";
  Id d;
  std::string err;
  switch (t.dtype) {
    case DType::F32:
      err = write_raw(loc, name, t.shape, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, t.data.data(), 4, &d);
      if (err.empty() && !write_attr_str(d, "dtype", "float32")) err = name + ": cannot write dtype";
      return err;
    case DType::F16: {
      std::vector<uint16_t> bits(t.data.size());
      for (size_t i = 0; i < bits.size(); ++i) bits[i] = f32_to_f16_bits(t.data[i]);
      Id half = make_half_type();
      if (!half.ok()) return name + ": cannot create the float16 type";
      err = write_raw(loc, name, t.shape, half, half, bits.data(), 2, &d);
      if (err.empty() && !write_attr_str(d, "dtype", "float16")) err = name + ": cannot write dtype";
      return err;
    }
    case DType::BF16: {
      std::vector<uint16_t> bits(t.data.size());
      for (size_t i = 0; i < bits.size(); ++i) bits[i] = f32_to_bf16_bits(t.data[i]);
      err = write_raw(loc, name, t.shape, H5T_STD_U16LE, H5T_NATIVE_UINT16, bits.data(), 2, &d);
      if (err.empty() && !write_attr_str(d, "dtype", "bfloat16")) err = name + ": cannot write dtype";
      return err;
    }
  }
  return name + ": unknown dtype";
}

std::string write_i64_vec(hid_t loc, const std::string& name, const std::vector<int64_t>& v) {
  return write_raw(loc, name, {static_cast<int64_t>(v.size())}, H5T_STD_I64LE, H5T_NATIVE_INT64,
                   v.data(), 8);
}
std::string write_u8_vec(hid_t loc, const std::string& name, const std::vector<uint8_t>& v) {
  return write_raw(loc, name, {static_cast<int64_t>(v.size())}, H5T_STD_U8LE, H5T_NATIVE_UINT8,
                   v.data(), 1);
}
std::string write_f64_vec(hid_t loc, const std::string& name, const std::vector<double>& v) {
  return write_raw(loc, name, {static_cast<int64_t>(v.size())}, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE,
                   v.data(), 8);
}

// Opens dataset `name`, returning its shape after checking rank and the element cap.
std::string with_cause(const std::string& what) {
  const std::string why = last_error();
  return what + (why.empty() ? std::string() : " (" + why + ")");
}

static std::string open_checked(hid_t loc, const std::string& name, Id* d, Id* ftype,
                                std::vector<int64_t>* shape, int64_t* n) {
  if (!link_exists(loc, name)) return name + ": missing";
  H5O_info_t info;
  if (H5Oget_info_by_name(loc, name.c_str(), &info, H5P_DEFAULT) < 0 || info.type != H5O_TYPE_DATASET)
    return with_cause(name + ": not a dataset");
  *d = Id(H5Dopen2(loc, name.c_str(), H5P_DEFAULT));
  if (!d->ok()) return with_cause(name + ": cannot open dataset");
  Id space(H5Dget_space(*d));
  if (!space.ok()) return name + ": unreadable dataspace";
  H5S_class_t sc = H5Sget_simple_extent_type(space);
  if (sc == H5S_NULL) return name + ": empty (null) dataspace";
  int rank = H5Sget_simple_extent_ndims(space);
  if (rank < 0 || rank > 8) return name + ": rank " + std::to_string(rank) + " (at most 8 supported)";
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  if (rank > 0 && H5Sget_simple_extent_dims(space, dims.data(), nullptr) < 0)
    return name + ": unreadable dimensions";
  shape->assign(dims.begin(), dims.end());
  for (hsize_t x : dims)
    if (x > static_cast<hsize_t>(INT64_MAX)) return name + ": dimension too large";
  if (!checked_count(*shape, kMaxElements, n))
    return name + ": shape " + shape_text(*shape) + " exceeds the limit of " +
           std::to_string(kMaxElements) + " elements";
  *ftype = Id(H5Dget_type(*d));
  if (!ftype->ok()) return name + ": unreadable datatype";
  const size_t item = H5Tget_size(*ftype);
  if (item == 0 || item > 64) return name + ": datatype of " + std::to_string(item) + " bytes";
  if (std::string e = check_storage(*d, static_cast<uint64_t>(*n) * item); !e.empty()) return name + ": " + e;
  return "";
}

std::string read_tensor(hid_t loc, const std::string& name, const std::vector<int64_t>* expect,
                        bool any_numeric, Tensor* t) {
  Id d, ft;
  std::vector<int64_t> shape;
  int64_t n = 0;
  std::string err = open_checked(loc, name, &d, &ft, &shape, &n);
  if (!err.empty()) return err;
  if (expect && shape != *expect)
    return name + ": shape " + shape_text(shape) + ", expected " + shape_text(*expect);
  H5T_class_t cls = H5Tget_class(ft);
  size_t size = H5Tget_size(ft);
  std::string dt;
  read_attr_str(d, "dtype", &dt);
  Tensor r;
  r.shape = shape;
  r.data.assign(static_cast<size_t>(n), 0.0f);
  auto rd = [&](hid_t mt, void* buf) { return n == 0 || H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0; };
  if (cls == H5T_FLOAT && size == 4) {
    r.dtype = DType::F32;
    if (!rd(H5T_NATIVE_FLOAT, r.data.data())) return with_cause(name + ": read failed");
  } else if (cls == H5T_FLOAT && size == 2) {
    r.dtype = DType::F16;
    Id half = make_half_type();
    std::vector<uint16_t> bits(static_cast<size_t>(n));
    if (!half.ok() || !rd(half, bits.data())) return with_cause(name + ": read failed");
    for (size_t i = 0; i < bits.size(); ++i) r.data[i] = f16_bits_to_f32(bits[i]);
  } else if (cls == H5T_INTEGER && size == 2 && dt == "bfloat16") {
    r.dtype = DType::BF16;
    std::vector<uint16_t> bits(static_cast<size_t>(n));
    // Same bits whichever sign the writer chose (int16 would clamp through a uint16 conversion).
    hid_t mt = H5Tget_sign(ft) == H5T_SGN_2 ? H5T_NATIVE_INT16 : H5T_NATIVE_UINT16;
    if (!rd(mt, bits.data())) return with_cause(name + ": read failed");
    for (size_t i = 0; i < bits.size(); ++i) r.data[i] = bf16_bits_to_f32(bits[i]);
  } else if (any_numeric && (cls == H5T_FLOAT || cls == H5T_INTEGER)) {
    r.dtype = DType::F32;
    std::vector<double> buf(static_cast<size_t>(n));
    if (!rd(H5T_NATIVE_DOUBLE, buf.data())) return with_cause(name + ": read failed");
    for (size_t i = 0; i < buf.size(); ++i) r.data[i] = static_cast<float>(buf[i]);
  } else if (any_numeric && cls == H5T_ENUM) {
    // h5py writes numpy bool as an enum over int8 {FALSE=0, TRUE=1}: read the base integers.
    Id base(H5Tget_super(ft));
    if (!base.ok() || H5Tget_class(base) != H5T_INTEGER || H5Tget_size(base) > 8)
      return name + ": unsupported enum type";
    Id mt(H5Tget_native_type(ft, H5T_DIR_ASCEND));
    if (!mt.ok()) return name + ": unsupported enum type";
    size_t bs = H5Tget_size(mt);
    if (bs == 0 || bs > 8) return name + ": unsupported enum type";
    std::vector<unsigned char> raw(static_cast<size_t>(n) * bs);
    if (!rd(mt, raw.data())) return with_cause(name + ": read failed");
    bool sgn = H5Tget_sign(base) == H5T_SGN_2;
    for (size_t i = 0; i < static_cast<size_t>(n); ++i) {
      int64_t v = 0;
      uint64_t u = 0;
      std::memcpy(&u, raw.data() + i * bs, bs);  // little-endian hosts only (x86-64, aarch64)
      if (sgn && bs < 8 && (u >> (bs * 8 - 1)) & 1u) u |= ~uint64_t{0} << (bs * 8);
      std::memcpy(&v, &u, 8);
      r.data[i] = static_cast<float>(sgn ? v : static_cast<int64_t>(u));
    }
    r.dtype = DType::F32;
  } else {
    std::string what = cls == H5T_FLOAT ? "float" : cls == H5T_INTEGER ? "integer" : "non-numeric";
    return name + ": unsupported datatype (" + what + ", " + std::to_string(size) +
           " bytes); expected float32, float16 or uint16 with dtype=\"bfloat16\"";
  }
  *t = std::move(r);
  return "";
}

template <typename T>
static std::string read_vec(hid_t loc, const std::string& name, int64_t max_len, hid_t mt,
                            H5T_class_t want, std::vector<T>* v) {
  Id d, ft;
  std::vector<int64_t> shape;
  int64_t n = 0;
  std::string err = open_checked(loc, name, &d, &ft, &shape, &n);
  if (!err.empty()) return err;
  if (shape.size() != 1) return name + ": rank " + std::to_string(shape.size()) + ", expected 1";
  if (n > max_len) return name + ": " + std::to_string(n) + " entries, at most " + std::to_string(max_len) + " expected";
  H5T_class_t cls = H5Tget_class(ft);
  if (cls != want && !(want == H5T_FLOAT && cls == H5T_INTEGER))
    return name + ": unexpected datatype";
  std::vector<T> r(static_cast<size_t>(n));
  if (n > 0 && H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, r.data()) < 0) return with_cause(name + ": read failed");
  *v = std::move(r);
  return "";
}

std::string read_i64_vec(hid_t loc, const std::string& name, int64_t max_len, std::vector<int64_t>* v) {
  return read_vec(loc, name, max_len, H5T_NATIVE_INT64, H5T_INTEGER, v);
}
std::string read_u8_vec(hid_t loc, const std::string& name, int64_t max_len, std::vector<uint8_t>* v) {
  return read_vec(loc, name, max_len, H5T_NATIVE_UINT8, H5T_INTEGER, v);
}
std::string read_f64_vec(hid_t loc, const std::string& name, int64_t max_len, std::vector<double>* v) {
  return read_vec(loc, name, max_len, H5T_NATIVE_DOUBLE, H5T_FLOAT, v);
}

}  // namespace attnscope::h5
