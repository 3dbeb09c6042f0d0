// HDF5 tensor reader (--inputs FILE.h5, --import-run): damaged or foreign HDF5 files are read or
// refused with the file named, never a crash, and nothing of the file is left open.
#include "capture/tensor_io.h"
#include "tests/fuzz/fuzz_input.h"

using namespace attnscope;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::MemFile in(data, size);
  NamedTensors nt;
  std::string err = read_h5_tensors(in.path(), &nt);
  fuzz::require_names(err, in.path());
  for (const auto& [name, t] : nt.tensors)
    fuzz::require(static_cast<int64_t>(t.data.size()) == t.numel(), name + ": data size != product of the shape");
  fuzz::require_h5_closed();
  return 0;
}
