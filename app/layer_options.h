// The contract's layer and input flags, shared by run, bench and diagnose.
#pragma once
#include <set>
#include <string>

#include "app/cli_args.h"
#include "capture/session.h"
#include "kernels/inputs.h"

namespace attnscope {

// --spec FILE | --config FILE [--layer N], then --seq --seq-q --seq-k --batch --dtype.
extern const std::set<std::string> kLayerFlags;
// --inputs FILE --layout bhnd|bnhd --seed N --dist normal|outliers
extern const std::set<std::string> kInputFlags;

// "" or the error. Without --spec/--config the embedded default sample is used.
std::string layer_from_args(const Args& a, LayerSpec* spec);
std::string inputs_from_args(const Args& a, const LayerSpec& spec, Inputs* in, uint64_t* seed,
                             std::string* dist);
std::string layout_from_args(const Args& a, Layout* layout);
// --backward: dO from the inputs file (`do`), else seeded from --seed (zero on rows that see no
// key, as random_dout says); the inputs' origin says which.
void dout_for_backward(const LayerSpec& spec, uint64_t seed, Inputs* in);

}  // namespace attnscope
