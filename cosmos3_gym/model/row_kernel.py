"""The stepper's one-row generator pass in NumPy, for a few environments on the CPU.

Stepping one row costs about a hundred tiny tensor ops (4 layers of layer norm, four matrix-vector
products, a cached attention over at most 20 slots). For one or a few environments that is all
per-op dispatch: torch spends ~5–13 µs per op on this 2-core CPU, NumPy 1–3 µs, with the same float32
arithmetic. :class:`RowKernel` runs the exact math of :meth:`WorldModel.generate_step` on NumPy views
of the stepper's own cache (``Tensor.numpy()`` shares memory), so it and the torch path read and write
the same keys/values and can be mixed freely; ``tests/test_model.py`` checks they agree.

The kernel copies the weights once: like the stepper's constants, it assumes the weights stay fixed.
"""

from __future__ import annotations

import numpy as np
import torch

from cosmos3_gym.model.world_model import KV, WorldModel

_GELU_C = np.float32(np.sqrt(2.0 / np.pi))
_GELU_C3 = np.float32(np.sqrt(2.0 / np.pi) * 0.044715)


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().float().numpy().copy()


def _normalize(x: np.ndarray, eps: float) -> np.ndarray:
    """Layer norm without its affine part (folded into the next matmul), over the last axis."""
    inv_d = np.float32(1.0 / x.shape[-1])
    xc = x - np.add.reduce(x, axis=-1, keepdims=True) * inv_d
    return xc / np.sqrt(np.add.reduce(xc * xc, axis=-1, keepdims=True) * inv_d + np.float32(eps))


def _twice_gelu_tanh(x: np.ndarray) -> np.ndarray:
    """``2 · gelu_tanh(x)`` (the ½ is folded into the next matmul's weights): fewer passes over ``x``."""
    return x * (1.0 + np.tanh(x * (_GELU_C + _GELU_C3 * (x * x))))


def _folded(
    ln: torch.nn.LayerNorm, w: torch.Tensor, b: torch.Tensor, scale: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, float]:
    """``ln(x) @ w + b`` (``w (in, out)``) as ``normalize(x) @ W + B``: the norm's gain and bias folded
    into ``W``, ``B``; ``scale (out,)`` multiplies the outputs (the attention's 1/√d_head on the queries).
    Folded in float64, run in float32."""
    w_ln, b_ln = _np(ln.weight).astype(np.float64), _np(ln.bias).astype(np.float64)
    w64, b64 = _np(w).astype(np.float64), _np(b).astype(np.float64)
    w64, b64 = w_ln[:, None] * w64, b64 + b_ln @ w64
    if scale is not None:
        w64, b64 = w64 * scale, b64 * scale
    return w64.astype(np.float32), b64.astype(np.float32), ln.eps


class RowKernel:
    """Generator layers + state read-out of ``model`` for one embodiment domain, as NumPy float32.

    :meth:`flow` runs a stepper row's flow passes; :meth:`velocity` maps rows ``(B, d)`` → state
    velocities ``(B, state_dim)``, writing each layer's key/value of the row into the cache at slot
    ``pos`` (one slot per sample).
    """

    def __init__(self, model: WorldModel, domain: int, cache: KV, const: list[torch.Tensor]) -> None:
        cfg = model.cfg
        self.domain, self.heads, self.dh = domain, cfg.n_heads, cfg.d_model // cfg.n_heads
        d = cfg.d_model
        # Fold 1/√d_head into the query third of qkv (float64 while folding, float32 to run).
        q_scale = np.concatenate([np.full(d, self.dh**-0.5), np.ones(2 * d)])
        self.layers = [
            (
                _folded(blk.g.ln1, blk.g.qkv.weight.T, blk.g.qkv.bias, q_scale),
                (_np(blk.g.proj.weight).T.copy(), _np(blk.g.proj.bias)),
                _folded(blk.g.ln2, blk.g.ffn[0].weight.T, blk.g.ffn[0].bias),
                (0.5 * _np(blk.g.ffn[2].weight).T, _np(blk.g.ffn[2].bias)),  # takes 2·gelu
            )
            for blk in model.blocks
        ]
        self.out = _folded(model.ln_out, model.state_out.weight[domain], model.state_out.bias[domain])
        self.in_w, self.in_b = _np(model.state_in.weight[domain]), _np(model.state_in.bias[domain])
        self.act_w, self.act_b = _np(model.act_in.weight[domain]), _np(model.act_in.bias[domain])
        self.row_pos = _np(model.row_pos)
        self.const = [_np(c.reshape(-1)) for c in const]  # the stepper's per-flow-pass row terms
        self.cache = [(k.numpy(), v.numpy()) for k, v in cache]  # views: writes land in the torch cache

    def flow(
        self, action: np.ndarray, s: np.ndarray, row: np.ndarray, pos: np.ndarray, state_mask: np.ndarray
    ) -> np.ndarray:
        """:meth:`ForwardStepper.step`'s flow passes: action tokens ``(B, action_dim)``, flow start
        ``s (B, state_dim)``, row in chunk and cache slot ``(B,)`` int, state mask ``(B, state_dim)`` →
        the generated normalized state delta ``(B, state_dim)`` (masked)."""
        n = len(self.const)
        given = action @ self.act_w + self.act_b + self.row_pos[row]  # the same on every pass
        for c in self.const:
            h = given + c + (s * state_mask) @ self.in_w + self.in_b
            s = s + self.velocity(h, pos) * state_mask / np.float32(n)
        return s

    def velocity(self, h: np.ndarray, pos: np.ndarray) -> np.ndarray:
        """Rows ``h (B, d)`` at cache slots ``pos (B,)`` int → state velocities ``(B, state_dim)`` (unmasked)."""
        b, nh, dh = len(h), self.heads, self.dh
        d = nh * dh
        idx = np.arange(b)
        last = int(pos.max()) + 1  # slots past the furthest row are never attended: leave them out
        # Samples at different rows of their chunks: each must not see the slots after its own.
        masked = (np.arange(last) > pos[:, None])[:, None, None, :] if pos.min() != pos.max() else None
        for (w_qkv, b_qkv, eps1), (w_proj, b_proj), (w_up, b_up, eps2), (w_down, b_down), (kbuf, vbuf) in (
            (*layer, c) for layer, c in zip(self.layers, self.cache, strict=True)
        ):
            qkv = _normalize(h, eps1) @ w_qkv + b_qkv
            kbuf[idx, :, pos] = qkv[:, d : 2 * d].reshape(b, nh, dh)
            vbuf[idx, :, pos] = qkv[:, 2 * d :].reshape(b, nh, dh)
            q = qkv[:, :d].reshape(b, nh, 1, dh)
            scores = q @ kbuf[:, :, :last].swapaxes(-1, -2)  # (B, H, 1, N)
            if masked is not None:
                scores = np.where(masked, -np.inf, scores)
            p = np.exp(scores - scores.max(-1, keepdims=True))
            att = (p / np.add.reduce(p, axis=-1, keepdims=True)) @ vbuf[:, :, :last]  # (B, H, 1, dh)
            h = h + att.reshape(b, d) @ w_proj + b_proj
            h = h + _twice_gelu_tanh(_normalize(h, eps2) @ w_up + b_up) @ w_down + b_down
        w_out, b_out, eps = self.out
        return _normalize(h, eps) @ w_out + b_out
