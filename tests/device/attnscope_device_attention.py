"""Attention functions registered the way users plug their own kernels into transformers, for the
training device checks (tests/device/hf_training.py) and for `attnscope-env.py --import` to probe.

Importing this module registers, with AttentionInterface.register:

  triton_sink_fwd   a minimal Triton forward-only attention with learned sinks (causal, sliding
                    window, GQA), wrapped in a torch.autograd.Function without a backward, as the
                    gpt-oss Triton kernel's HF wrappers ship: the forward runs, the first backward
                    raises NotImplementedError. No mask function is registered for it.
  drop_dsinks       the GPT-OSS attention math (sink column, softmax, dropped column) in an
                    autograd.Function whose backward returns dQ, dK, dV and None for the sinks: the
                    model trains, its sinks never do. It builds its causal/window mask itself.
  no_mask_sdpa      transformers' sdpa_attention_forward registered under a new name and nothing
                    else: transformers then passes it attention_mask=None (no mask function).
  masked_sdpa       the same, with AttentionMaskInterface.register(name, sdpa_mask): the fix.

Our own code (the Triton kernel is written here, not taken from gpt-oss). Needs torch and
transformers; triton_sink_fwd needs triton and a GPU (it is not registered without them).
"""
import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward

try:
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask
except ImportError:  # transformers before masking_utils
    AttentionMaskInterface, sdpa_mask = None, None

try:
    import triton
    import triton.language as tl
except ImportError:
    triton = None


def _sinks_of(module, kwargs):
    s = kwargs.get("s_aux", kwargs.get("sinks"))
    return s if s is not None else getattr(module, "sinks", None)


# ---- triton_sink_fwd: Triton forward, no backward ----

if triton is not None:

    @triton.jit
    def _sink_attention_fwd(Q, K, V, S, O, sm_scale, N_Q, N_K, H, GROUP, WINDOW,
                            stride_qb, stride_qh, stride_qn, stride_kb, stride_kh, stride_kn,
                            stride_vb, stride_vh, stride_vn, stride_ob, stride_oh, stride_on,
                            BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, D: tl.constexpr):
        # One program per (query block, batch x head): the online softmax with the sink logit as
        # the running max's start and an extra term of the denominator.
        pid_m = tl.program_id(0)
        pid_bh = tl.program_id(1)
        b = pid_bh // H
        h = pid_bh % H
        hk = h // GROUP
        offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
        offs_d = tl.arange(0, D)
        q = tl.load(Q + b * stride_qb + h * stride_qh + offs_m[:, None] * stride_qn + offs_d[None, :],
                    mask=offs_m[:, None] < N_Q, other=0.0)
        sink = tl.load(S + h).to(tl.float32)
        m_i = tl.zeros([BLOCK_M], dtype=tl.float32) + sink
        l_i = tl.zeros([BLOCK_M], dtype=tl.float32)
        acc = tl.zeros([BLOCK_M, D], dtype=tl.float32)
        qpos = offs_m + (N_K - N_Q)  # bottom-right aligned, as HF with a cache
        for start_n in range(0, N_K, BLOCK_N):
            offs_n = start_n + tl.arange(0, BLOCK_N)
            k = tl.load(K + b * stride_kb + hk * stride_kh + offs_n[:, None] * stride_kn + offs_d[None, :],
                        mask=offs_n[:, None] < N_K, other=0.0)
            v = tl.load(V + b * stride_vb + hk * stride_vh + offs_n[:, None] * stride_vn + offs_d[None, :],
                        mask=offs_n[:, None] < N_K, other=0.0)
            s = tl.dot(q, tl.trans(k)) * sm_scale
            keep = (offs_n[None, :] <= qpos[:, None]) & (offs_n[None, :] < N_K)
            keep = keep & ((offs_n[None, :] > qpos[:, None] - WINDOW) | (WINDOW <= 0))
            s = tl.where(keep, s, float("-inf"))
            m_new = tl.maximum(m_i, tl.max(s, 1))
            alpha = tl.exp(m_i - m_new)
            p = tl.exp(s - m_new[:, None])
            l_i = l_i * alpha + tl.sum(p, 1)
            acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v)
            m_i = m_new
        l_i = l_i + tl.exp(sink - m_i)
        o = acc / l_i[:, None]
        tl.store(O + b * stride_ob + h * stride_oh + offs_m[:, None] * stride_on + offs_d[None, :],
                 o.to(O.dtype.element_ty), mask=offs_m[:, None] < N_Q)

    class TritonSinkAttention(torch.autograd.Function):
        """Forward only: no backward, as the kernels it stands for."""

        @staticmethod
        def forward(ctx, q, k, v, sinks, scale, window):
            q, k, v = q.contiguous(), k.contiguous(), v.contiguous()
            B, H, NQ, D = q.shape
            HK, NK = k.shape[1], k.shape[2]
            assert D in (16, 32, 64, 128), "this minimal kernel takes head dims 16/32/64/128"
            o = torch.empty_like(q)
            grid = (triton.cdiv(NQ, 16), B * H)
            _sink_attention_fwd[grid](q, k, v, sinks.float().contiguous(), o, float(scale), NQ, NK, H, H // HK,
                                      int(window or 0), q.stride(0), q.stride(1), q.stride(2), k.stride(0),
                                      k.stride(1), k.stride(2), v.stride(0), v.stride(1), v.stride(2),
                                      o.stride(0), o.stride(1), o.stride(2), BLOCK_M=16, BLOCK_N=16, D=D)
            return o

    def triton_sink_fwd(module, query, key, value, attention_mask, scaling=None, dropout=0.0, sliding_window=None,
                        **kwargs):
        sinks = _sinks_of(module, kwargs)
        if sinks is None:
            sinks = torch.zeros(query.shape[1], device=query.device)  # the gpt-oss kernel's zero-logit sink
        scale = scaling if scaling is not None else query.shape[-1] ** -0.5
        out = TritonSinkAttention.apply(query, key, value, sinks, scale, sliding_window)
        return out.transpose(1, 2).contiguous(), None

    if torch.cuda.is_available():
        AttentionInterface.register("triton_sink_fwd", triton_sink_fwd)


# ---- drop_dsinks: right forward, a backward without the sinks' gradient ----

def _sink_math(q, k, v, sinks, mask, scale, window):
    """GPT-OSS's attention in fp32: sink column, softmax, column dropped; cast back."""
    g = q.shape[1] // k.shape[1]
    kr, vr = k.repeat_interleave(g, dim=1).float(), v.repeat_interleave(g, dim=1).float()
    s = torch.matmul(q.float(), kr.transpose(2, 3)) * scale
    nq, nk = q.shape[2], k.shape[2]
    i = torch.arange(nq, device=q.device)[:, None] + (nk - nq)
    j = torch.arange(nk, device=q.device)[None, :]
    keep = j <= i
    if window:
        keep = keep & (j > i - window)
    keep = keep[None, None]
    if mask is not None:
        keep = keep & (mask if mask.dtype == torch.bool else mask > -1e4)
    s = s.masked_fill(~keep, float("-inf"))
    col = sinks.float().reshape(1, -1, 1, 1).expand(s.shape[0], -1, nq, 1)
    p = torch.softmax(torch.cat([s, col], dim=-1), dim=-1)[..., :-1]
    return torch.matmul(p, vr).to(q.dtype)


class DropSinksGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, sinks, mask, scale, window):
        ctx.save_for_backward(q, k, v, sinks)
        ctx.mask, ctx.scale, ctx.window = mask, scale, window
        return _sink_math(q, k, v, sinks, mask, scale, window)

    @staticmethod
    def backward(ctx, grad):
        q, k, v, sinks = ctx.saved_tensors
        with torch.enable_grad():
            leaves = [t.detach().requires_grad_(True) for t in (q, k, v)]
            out = _sink_math(*leaves, sinks.detach(), ctx.mask, ctx.scale, ctx.window)
            dq, dk, dv = torch.autograd.grad(out, leaves, grad)
        return dq, dk, dv, None, None, None, None  # None: the sinks get no gradient


def drop_dsinks(module, query, key, value, attention_mask, scaling=None, dropout=0.0, sliding_window=None, **kwargs):
    sinks = _sinks_of(module, kwargs)
    scale = scaling if scaling is not None else query.shape[-1] ** -0.5
    out = DropSinksGradient.apply(query, key, value, sinks, attention_mask, scale, sliding_window)
    return out.transpose(1, 2).contiguous(), None


AttentionInterface.register("drop_dsinks", drop_dsinks)
if AttentionMaskInterface is not None:
    AttentionMaskInterface.register("drop_dsinks", sdpa_mask)  # its mask is right: only dsinks is wrong


# ---- no_mask_sdpa / masked_sdpa: the padding a registered name loses ----

def no_mask_sdpa(module, query, key, value, attention_mask, **kwargs):
    return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)


def masked_sdpa(module, query, key, value, attention_mask, **kwargs):
    return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)


AttentionInterface.register("no_mask_sdpa", no_mask_sdpa)
AttentionInterface.register("masked_sdpa", masked_sdpa)
if AttentionMaskInterface is not None:
    AttentionMaskInterface.register("masked_sdpa", sdpa_mask)
