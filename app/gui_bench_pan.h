// `attnscope gui --bench-pan`: pans a 4k x 4k and a 16k x 16k synthetic map through the map
// widget and prints ms/frame per phase (GPU time included: each frame ends with glFinish).
#pragma once

struct GLFWwindow;

namespace attnscope {

// Runs in the shell's window and ImGui context (`width` x `height`); `frames` a phase. Returns 0.
int run_bench_pan(GLFWwindow* win, int width, int height, int frames);

}  // namespace attnscope
