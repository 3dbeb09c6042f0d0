"""torch.profiler's Chrome trace of the calls attnscope_dump.time_attention profiles, made up.

The events carry what torch.profiler (Kineto) writes: CPU-side record_function ranges
(cat "user_annotation") and their GPU-side copies ("gpu_user_annotation"), the launch API calls
("cuda_runtime" / "cuda_driver", args.correlation) and the kernels ("kernel", args grid, block,
"registers per thread", "shared memory", stream, correlation), with absolute microsecond
timestamps. Between the repeats the L2 flush launches a fill kernel outside every launch range,
as time_attention's flush.zero_() does. Used by test_dump.py and by make_outside_fixture.py; the
device (tests/device/outside_llama.py) makes the real one.
"""

# Per call: (name, duration us, grid, block, registers, shared memory, launched through the driver)
TRITON_SINK_CALL = [
    ("_sink_attn_fwd", 11.6, [2, 8, 1], [128, 1, 1], 128, 32768, True),
    ("void at::native::elementwise_kernel<128, 4, at::native::gpu_kernel_impl_nocast<"
     "at::native::direct_copy_kernel_cuda(at::TensorIteratorBase&)::{lambda()#3}::operator()() const::"
     "{lambda()#7}::operator()() const::{lambda(c10::BFloat16)#1}>(at::TensorIteratorBase&, "
     "at::native::direct_copy_kernel_cuda(at::TensorIteratorBase&)::{lambda()#3}::operator()() const::"
     "{lambda()#7}::operator()() const::{lambda(c10::BFloat16)#1} const&)::{lambda(int)#1}>(int, "
     "at::native::gpu_kernel_impl_nocast<...>)", 2.4, [64, 1, 1], [128, 1, 1], 20, 0, False),
]
FLUSH = ("void at::native::vectorized_elementwise_kernel<4, at::native::FillFunctor<unsigned char>, "
         "std::array<char*, 1ul> >(int, at::native::FillFunctor<unsigned char>, std::array<char*, 1ul>)",
         38.0, [82944, 1, 1], [128, 1, 1], 16, 0, False)


def synthetic_trace(function="triton_sink", warmup=2, repeats=10, call=TRITON_SINK_CALL, base_us=1.7e12,
                    stream=7, launch_gap_us=6.0, jitter=None):
    """Events of `warmup` + `repeats` profiled calls, each launching `call`'s kernels in order.
    jitter(i) -> extra microseconds for the i-th kernel's duration (realistic spread)."""
    ev = []
    corr = [1000]
    t = [base_us]
    gpu_t = [base_us + 20.0]  # the GPU runs behind the CPU that launches

    def annotation(name, start, end, gpu=False):
        ev.append({"ph": "X", "cat": "gpu_user_annotation" if gpu else "user_annotation", "name": name,
                   "pid": 0 if gpu else 4242, "tid": stream if gpu else 4242, "ts": start, "dur": end - start,
                   "args": {"External id": len(ev)}})

    n_kernel = [0]

    def launch(kernel):
        name, dur, grid, block, regs, smem, driver = kernel
        corr[0] += 1
        api_start = t[0]
        ev.append({"ph": "X", "cat": "cuda_driver" if driver else "cuda_runtime",
                   "name": "cuLaunchKernelEx" if driver else "cudaLaunchKernel", "pid": 4242, "tid": 4242,
                   "ts": api_start, "dur": 4.0, "args": {"cbid": 652 if driver else 211, "correlation": corr[0]}})
        t[0] += launch_gap_us
        start = max(gpu_t[0], api_start + 5.0)
        d = dur + (jitter(n_kernel[0]) if jitter else 0.0)
        n_kernel[0] += 1
        ev.append({"ph": "X", "cat": "kernel", "name": name, "pid": 0, "tid": stream, "ts": start, "dur": d,
                   "args": {"queued": 0, "device": 0, "context": 1, "stream": stream, "correlation": corr[0],
                            "registers per thread": regs, "shared memory": smem, "blocks per SM": 0.12,
                            "warps per SM": 0.5, "grid": grid, "block": block,
                            "est. achieved occupancy %": 6}})
        gpu_t[0] = start + d + 1.5
        return start, start + d

    def one_call(label):
        c0 = t[0]
        t[0] += 2.0
        g0 = None
        for k in call:
            s, e = launch(k)
            g0 = s if g0 is None else g0
            g1 = e
        t[0] += 2.0
        annotation(label, c0, t[0])
        annotation(label, g0, g1, gpu=True)
        t[0] += 1.5  # leaving record_function

    f0 = t[0]
    t[0] += 3.0
    w0 = t[0]
    for w in range(warmup):
        one_call("warm-up %d" % w)
    annotation("warm-up", w0, t[0])
    r0 = t[0]
    for i in range(repeats):
        launch(FLUSH)  # flush.zero_() between repeats: outside every launch range
        t[0] += 3.0    # the start event's record
        one_call("repeat %d" % i)
    annotation("timed repeats", r0, t[0])
    t[0] += 5.0
    annotation(function, f0, t[0])
    return ev
