// .npy reader (--inputs, --import-run): any bytes are read or refused with the file named; what
// it reads, written back and read again, is the same tensor.
#include "capture/tensor_io.h"
#include "tests/fuzz/fuzz_input.h"

using namespace attnscope;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::MemFile in(data, size);
  Tensor t;
  std::string err = read_npy(in.path(), &t);
  fuzz::require_names(err, in.path());
  if (!err.empty()) return 0;
  fuzz::require(static_cast<int64_t>(t.data.size()) == t.numel(), "data size != product of the shape");
  fuzz::MemFile out;
  fuzz::require(write_npy(out.path(), t).empty(), "write_npy failed on what read_npy read");
  Tensor back;
  err = read_npy(out.path(), &back);
  fuzz::require(err.empty(), "read_npy refused what write_npy wrote: " + err);
  fuzz::require(back.shape == t.shape && back.dtype == t.dtype, "shape or dtype changed in a round trip");
  fuzz::require(fuzz::same_values(back.data, t.data), "values changed in a round trip");
  return 0;
}
