// .safetensors reader (--inputs, --import-run, dumps of scripts/attnscope_dump.py): any bytes are
// read or refused with the file named; what it reads, written back and read again, is the same.
#include "capture/tensor_io.h"
#include "tests/fuzz/fuzz_input.h"

using namespace attnscope;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::MemFile in(data, size);
  NamedTensors nt;
  std::string err = read_safetensors(in.path(), &nt);
  fuzz::require_names(err, in.path());
  if (!err.empty()) return 0;
  for (const auto& [name, t] : nt.tensors)
    fuzz::require(static_cast<int64_t>(t.data.size()) == t.numel(), name + ": data size != product of the shape");
  fuzz::MemFile out;
  err = write_safetensors(out.path(), nt);
  fuzz::require(err.empty(), "write_safetensors failed on what read_safetensors read: " + err);
  NamedTensors back;
  err = read_safetensors(out.path(), &back);
  fuzz::require(err.empty(), "read_safetensors refused what write_safetensors wrote: " + err);
  fuzz::require(back.tensors.size() == nt.tensors.size() && back.metadata == nt.metadata,
                "tensor names or metadata changed in a round trip");
  for (const auto& [name, t] : nt.tensors) {
    auto it = back.tensors.find(name);
    fuzz::require(it != back.tensors.end() && it->second.shape == t.shape && it->second.dtype == t.dtype &&
                      fuzz::same_values(it->second.data, t.data),
                  name + ": changed in a round trip");
  }
  return 0;
}
