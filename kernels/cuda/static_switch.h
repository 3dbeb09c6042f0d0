// Runtime -> compile-time switches for the kernel launchers (FlashAttention's static_switch.h idea):
// each branch instantiates the body with a constexpr flag, so a Probe=false kernel carries no probe
// code and Sinks=false no sink term. The head-dim switch is generated from kernels/flash_head_dims.h
// (flash_instances.inc, see kernels/cuda/CMakeLists.txt).
#pragma once

// ATTNSCOPE_BOOL_SWITCH(cond, Name, [&] { f<Name>(); });
#define ATTNSCOPE_BOOL_SWITCH(COND, CONST_NAME, ...) \
  [&] {                                              \
    if (COND) {                                      \
      constexpr bool CONST_NAME = true;              \
      return __VA_ARGS__();                          \
    } else {                                         \
      constexpr bool CONST_NAME = false;             \
      return __VA_ARGS__();                          \
    }                                                \
  }()
