// Private helpers shared by store.cpp and tensor_io.cpp: RAII handles over HDF5 ids, the
// float16/bfloat16 conventions of the capture file, and tensor datasets read with every field
// checked. Not part of attnscope_capture's public API.
#pragma once
#include <hdf5.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "kernels/tensor.h"

namespace attnscope::h5 {

// An HDF5 id closed with the right H5?close on destruction.
class Id {
 public:
  Id() = default;
  explicit Id(hid_t id) : id_(id) {}
  Id(const Id&) = delete;
  Id& operator=(const Id&) = delete;
  Id(Id&& o) noexcept : id_(o.id_) { o.id_ = -1; }
  Id& operator=(Id&& o) noexcept {
    if (this != &o) { reset(); id_ = o.id_; o.id_ = -1; }
    return *this;
  }
  ~Id() { reset(); }
  hid_t get() const { return id_; }
  operator hid_t() const { return id_; }  // NOLINT: used directly in H5 calls
  bool ok() const { return id_ >= 0; }
  void reset();
  hid_t release() { hid_t i = id_; id_ = -1; return i; }

 private:
  hid_t id_ = -1;
};

// Turns off HDF5's automatic error-stack printing (once, process-wide): errors are returned.
void silence_errors();

// Held around every use of HDF5 in attnscope: HDF5 builds without --enable-threadsafe must not be
// entered from two threads (the GUI loads captures off its UI thread).
std::recursive_mutex& library_mutex();

// IEEE binary16 as a file/memory type (h5py reads it as numpy float16). Owned by the caller.
Id make_half_type();

// Element count of a shape, false on overflow or a negative/huge dimension (> `cap` elements).
bool checked_count(const std::vector<int64_t>& shape, int64_t cap, int64_t* n);

// Largest tensor read from any file (elements): 2^31 floats = 8 GiB in memory.
constexpr int64_t kMaxElements = int64_t{1} << 31;

std::string shape_text(const std::vector<int64_t>& s);  // "[2, 8, 128, 64]"

// Attribute helpers. Writers return false on failure; readers return false when the attribute
// is missing or has the wrong class/shape, and never allocate more than the attribute holds.
bool has_attr(hid_t obj, const char* name);
bool write_attr_str(hid_t obj, const char* name, const std::string& v);
bool write_attr_i64(hid_t obj, const char* name, int64_t v);
bool write_attr_u64(hid_t obj, const char* name, uint64_t v);
bool write_attr_f64(hid_t obj, const char* name, double v);
bool read_attr_str(hid_t obj, const char* name, std::string* v);
bool read_attr_i64(hid_t obj, const char* name, int64_t* v);
bool read_attr_u64(hid_t obj, const char* name, uint64_t* v);
bool read_attr_f64(hid_t obj, const char* name, double* v);

bool link_exists(hid_t loc, const std::string& name);  // a direct child of `loc`

// Before a dataset is read: its storage can hold what its shape and type say (`need_bytes` in
// the file's type). HDF5 1.10 trusts a damaged layout message and reads through a null or
// out-of-file address; this refuses such a dataset instead. "" or the problem.
std::string check_storage(hid_t dataset, uint64_t need_bytes);
// The innermost message on HDF5's error stack ("incorrect metadata checksum ...",
// "data error detected by Fletcher32 checksum"), "" when empty: the detail a damaged file's
// error line carries.
std::string last_error();
// `what` and, when HDF5 said why just now, " (last_error())": "NAME: read failed (data error
// detected by Fletcher32 checksum)". Call it right after the failed call, before anything closes.
std::string with_cause(const std::string& what);

// Creation properties of every dataset a capture holds: chunked with a Fletcher32 checksum, so
// a flipped bit in the data is refused on reading like one in the (checksummed) metadata;
// shuffle + deflate(1) over 64 KiB. `item`: bytes per element.
Id checksummed_dcpl(const std::vector<hsize_t>& dims, size_t item);

// Writes `t` as dataset `name` of `loc` in its dtype (fp32 native, fp16 IEEE half, bf16 as
// uint16 + attribute dtype="bfloat16") with checksummed_dcpl. "" or error.
std::string write_tensor(hid_t loc, const std::string& name, const Tensor& t);
// Generic numeric 1-D datasets (int64, uint8, double).
std::string write_i64_vec(hid_t loc, const std::string& name, const std::vector<int64_t>& v);
std::string write_u8_vec(hid_t loc, const std::string& name, const std::vector<uint8_t>& v);
std::string write_f64_vec(hid_t loc, const std::string& name, const std::vector<double>& v);

// Reads a numeric dataset into `t`. fp32 -> F32, 16-bit float -> F16, uint16 with attribute
// dtype="bfloat16" -> BF16; with `any_numeric` also fp64, integers and HDF5 enums (h5py bool),
// widened to float with dtype F32. Checks rank (<= 8), element cap, and `expect` when non-null.
// "" or "object: problem".
std::string read_tensor(hid_t loc, const std::string& name, const std::vector<int64_t>* expect,
                        bool any_numeric, Tensor* t);
std::string read_i64_vec(hid_t loc, const std::string& name, int64_t max_len, std::vector<int64_t>* v);
std::string read_u8_vec(hid_t loc, const std::string& name, int64_t max_len, std::vector<uint8_t>* v);
std::string read_f64_vec(hid_t loc, const std::string& name, int64_t max_len, std::vector<double>* v);

}  // namespace attnscope::h5
