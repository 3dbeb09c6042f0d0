"""A minimal Triton attention forward with a sink logit, registered as a transformers attention.

It stands for the gpt-oss Triton attention kernel as REFERENCE.md describes it (that source is not
installed on the GPU machine; this is our own code): causal only, bottom-right aligned; the running
max starts at the sink value; masked scores get -1e6; the epilogue divides by l + exp(sink - m);
the LSE it stores is m + log(l) and leaves the sink out; with no sinks passed the sink logit is 0,
not "no sink".

`triton_sink_attention` is registered the way the seed's HF wrapper registers the gpt-oss kernel
(AttentionInterface.register) and calls it the way that wrapper does: sinks=None (a model's learned
sinks are dropped and a zero-logit sink is added) and attention_mask ignored. Unlike that wrapper
it reads HF's [B, H, N, D] layout and returns (output [B, N, H, D], None), so a Llama forward runs
and what attnscope measures is the sink and mask behaviour alone.

    import triton_sink_attention            # registers "triton_sink"
    model = LlamaForCausalLM._from_config(cfg, attn_implementation="triton_sink")
"""
import torch
import triton
import triton.language as tl

NAME = "triton_sink"
BLOCK_M = 64
BLOCK_N = 64


@triton.jit
def _sink_attn_fwd(Q, K, V, Sinks, Out, Lse, sm_scale,
                   stride_qb, stride_qh, stride_qm,
                   stride_kb, stride_kh, stride_kn,
                   stride_vb, stride_vh, stride_vn,
                   stride_ob, stride_oh, stride_om,
                   H, GROUP, N_Q, N_K,
                   HAS_SINKS: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                   HEAD_DIM: tl.constexpr):
    start_m = tl.program_id(0)
    bh = tl.program_id(1)
    b = bh // H
    h = bh % H
    kvh = h // GROUP  # GQA: query head h reads kv head h / (Hq / Hkv)
    rows = start_m * BLOCK_M + tl.arange(0, BLOCK_M)
    cols0 = tl.arange(0, BLOCK_N)
    dims = tl.arange(0, HEAD_DIM)
    q = tl.load(Q + b * stride_qb + h * stride_qh + rows[:, None] * stride_qm + dims[None, :],
                mask=rows[:, None] < N_Q, other=0.0)
    if HAS_SINKS:
        sink = tl.load(Sinks + h).to(tl.float32)
    else:
        sink = 0.0  # the gpt-oss kernel without sinks: a sink logit of 0
    m_i = tl.zeros([BLOCK_M], dtype=tl.float32) + sink  # the running max starts at the sink value
    l_i = tl.zeros([BLOCK_M], dtype=tl.float32)
    acc = tl.zeros([BLOCK_M, HEAD_DIM], dtype=tl.float32)
    # Causal, bottom-right aligned: query i sees keys j <= i + N_K - N_Q; later KV tiles are skipped.
    end = tl.minimum(N_K, (start_m + 1) * BLOCK_M + N_K - N_Q)
    for start_n in range(0, end, BLOCK_N):
        cols = start_n + cols0
        k = tl.load(K + b * stride_kb + kvh * stride_kh + cols[None, :] * stride_kn + dims[:, None],
                    mask=cols[None, :] < N_K, other=0.0)
        s = tl.dot(q, k) * sm_scale
        visible = (cols[None, :] <= rows[:, None] + (N_K - N_Q)) & (cols[None, :] < N_K)
        s = tl.where(visible, s, -1.0e6)  # masked scores, as the gpt-oss kernel writes them
        m_new = tl.maximum(m_i, tl.max(s, 1))
        p = tl.exp(s - m_new[:, None])
        alpha = tl.exp(m_i - m_new)
        l_i = l_i * alpha + tl.sum(p, 1)
        v = tl.load(V + b * stride_vb + kvh * stride_vh + cols[:, None] * stride_vn + dims[None, :],
                    mask=cols[:, None] < N_K, other=0.0)
        acc = acc * alpha[:, None]
        acc = tl.dot(p.to(v.dtype), v, acc)
        m_i = m_new
    acc = acc / (l_i + tl.exp(sink - m_i))[:, None]  # the sink's share of the denominator
    tl.store(Lse + bh * N_Q + rows, m_i + tl.log(l_i), mask=rows < N_Q)  # LSE without the sink
    tl.store(Out + b * stride_ob + h * stride_oh + rows[:, None] * stride_om + dims[None, :],
             acc.to(Out.dtype.element_ty), mask=rows[:, None] < N_Q)


def sink_attention(q, k, v, sinks=None, scale=None):
    """q [B, Hq, Nq, D], k/v [B, Hkv, Nk, D] (contiguous last dim) -> out [B, Hq, Nq, D], lse [B, Hq, Nq]."""
    B, H, NQ, D = q.shape
    HKV, NK = k.shape[1], k.shape[2]
    assert D in (16, 32, 64, 128) and H % HKV == 0, (D, H, HKV)
    q, k, v = (t if t.stride(-1) == 1 else t.contiguous() for t in (q, k, v))
    out = torch.empty_like(q)
    lse = torch.empty((B, H, NQ), device=q.device, dtype=torch.float32)
    grid = (triton.cdiv(NQ, BLOCK_M), B * H)
    _sink_attn_fwd[grid](q, k, v, sinks if sinks is not None else q, out, lse, scale or D ** -0.5,
                         q.stride(0), q.stride(1), q.stride(2), k.stride(0), k.stride(1), k.stride(2),
                         v.stride(0), v.stride(1), v.stride(2), out.stride(0), out.stride(1), out.stride(2),
                         H, H // HKV, NQ, NK, HAS_SINKS=sinks is not None, BLOCK_M=BLOCK_M, BLOCK_N=BLOCK_N,
                         HEAD_DIM=D)
    return out, lse


def triton_sink_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """As the seed's wrapper calls the kernel: no sinks (sinks=None), attention_mask ignored."""
    out, _ = sink_attention(query, key, value, sinks=None, scale=scaling)
    return out.transpose(1, 2).contiguous(), None


def register():
    from transformers import AttentionInterface
    AttentionInterface.register(NAME, triton_sink_attention)


register()
