// The GPU environment of the open capture (kernels/gpu_environment.h) as one collapsible line:
// closed it reads "GPU environment: NVIDIA H200, sm90, 132 SMs, 139.8 GiB | SM 1980 MHz at start |
// driver 580.95.05 ..."; open, a table of every line report prints. Nothing for CPU captures.
#pragma once
#include "viewers/model.h"

namespace attnscope {

void environment_header(Model& m);

}  // namespace attnscope
