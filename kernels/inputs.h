// The tensors one layer runs on, and the seeded random generator for them.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "layer_spec.h"
#include "tensor.h"

namespace attnscope {

// Layout of q/k/v/out in files: [batch, heads, seq, dim] (SDPA, HF attention functions) or
// [batch, seq, heads, dim] (FlashAttention). In memory attnscope always uses bhnd.
enum class Layout { BHND, BNHD };

struct Inputs {
  Tensor q;                  // [B, Hq, Nq, D]   values representable in spec.dtype
  Tensor k;                  // [B, Hkv, Nk, D]
  Tensor v;                  // [B, Hkv, Nk, Dv]
  std::vector<float> sinks;  // [Hq] sink logits (spec.sinks)
  Tensor mask;               // explicit mask [B|1, H|1, Nq, Nk] (1/0 for bool, else additive); else empty
  Tensor dout;               // dO [B, Hq, Nq, Dv] for the backward pass (`do` in files); else empty
  std::string origin;        // "random normal seed=1", "inputs.safetensors", ...

  // "" when the shapes agree with the spec, else what differs (names both shapes).
  std::string check_against(const LayerSpec& spec) const;
  // The explicit mask's value for (b, h, i, j): 1/0 or additive; 1 (or 0 additive) when none.
  float mask_at(int b, int h, int64_t i, int64_t j) const;
};

enum class Distribution {
  Normal,   // q, k, v ~ N(0, 1)
  Outliers  // N(0, 1) plus a few massive channels in q and k (x20), where low precision breaks first
};
const char* distribution_name(Distribution d);

// Deterministic for a given (spec shape, seed, distribution) on every machine.
Inputs random_inputs(const LayerSpec& spec, uint64_t seed, Distribution dist);

// Does query row (b, h, i) see at least one key: the layer's structure (LayerSpec::visible_range) and
// an explicit mask, where a boolean 0 or an additive infinity masks the key. Rows that see none follow
// conventions that differ between libraries (0, uniform, NaN): analysis and tests leave them out.
bool row_attended(const LayerSpec& spec, const Inputs& in, int b, int h, int64_t i);
// The same for every row, [B*Hq*Nq] in (b, h, i) order.
std::vector<uint8_t> attended_rows(const LayerSpec& spec, const Inputs& in);

// dO for the backward pass from the same seed machinery (its own generator, so q, k, v do not
// change): N(0, 1) rounded to the spec dtype. Rows where `attended` [B*Hq*Nq] is 0 (no visible
// key) get dO = 0, as a training loss gives padded positions no gradient: their outputs follow
// conventions that differ between libraries, and would otherwise leak into dK/dV through HF
// eager's uniform fallback. An empty `attended` keeps every row.
Tensor random_dout(const LayerSpec& spec, uint64_t seed, const std::vector<uint8_t>& attended);

}  // namespace attnscope
