// HDF5 tensor reader (--inputs FILE.h5, --import-run): damaged or foreign HDF5 files are read or
// refused with the file named, never a crash, and nothing of the file is left open. A file that
// crashes or hangs libhdf5 itself is refused by the HDF5 check (capture/hdf5_guard.h), whose own
// walk must never fail.
#include "capture/hdf5_guard.h"
#include "capture/tensor_io.h"
#include "tests/fuzz/fuzz_input.h"

using namespace attnscope;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::init_hdf5_check();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::MemFile in(data, size);
  const Hdf5Check check = fuzz::require_hdf5_check(in.path());
  NamedTensors nt;
  std::string err = read_h5_tensors(in.path(), &nt);
  fuzz::require(check.ok() || err == check.message, "the check refused the file (" + check.message +
                                                        "), read_h5_tensors said: " + err);
  fuzz::require_names(err, in.path());
  for (const auto& [name, t] : nt.tensors)
    fuzz::require(static_cast<int64_t>(t.data.size()) == t.numel(), name + ": data size != product of the shape");
  fuzz::require_h5_closed();
  return 0;
}
