// attnscope-gpu-worker: the process that owns the CUDA context (kernels/gpu_worker.h). attnscope
// starts it with its two sockets on descriptors 3 (verdicts) and 4 (runs); nobody else does.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "kernels/gpu_worker.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr,
                 "attnscope-gpu-worker: started by attnscope to run the GPU plugin (usage: %s CHECK_FD RUN_FD)\n",
                 argv[0]);
    return 2;
  }
  return attnscope::gpu_worker_main(std::atoi(argv[1]), std::atoi(argv[2]));
}
