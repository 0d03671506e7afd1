"""Building blocks: domain-aware projections, flow-time embedding, the Mixture-of-Transformers block.

Cosmos3's generator maps each 64-channel action row to the hidden size with a ``DomainAwareLinear``
(one weight + bias table per embodiment domain, X-VLA style); the same idea is used here for state
rows. A MoT block keeps separate weights per tower (reasoner, generator) but runs one shared
attention over the concatenated sequence, so the generator reads the reasoner in the same pass.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class DomainAwareLinear(nn.Module):
    """``y = x · W[domain] + b[domain]``; x ``(B, N, in)``, domain ``(B,)`` long (or one ``int`` for the
    whole batch) → ``(B, N, out)``."""

    def __init__(self, in_dim: int, out_dim: int, num_domains: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(num_domains, in_dim, out_dim) / math.sqrt(in_dim))
        self.bias = nn.Parameter(torch.zeros(num_domains, out_dim))

    def forward(self, x: torch.Tensor, domain: torch.Tensor | int) -> torch.Tensor:
        if isinstance(domain, int):  # known single domain (a simulator stepping one embodiment)
            return torch.addmm(self.bias[domain], x.reshape(-1, x.shape[-1]), self.weight[domain]).view(
                *x.shape[:-1], -1
            )
        # Group rows by domain: a batch holds few domains, and one matmul per domain is far cheaper
        # than gathering a (in, out) weight matrix per sample.
        ids = domain.unique()
        if ids.numel() == 1:
            return self.forward(x, int(ids))
        out = x.new_empty(*x.shape[:-1], self.weight.shape[-1])
        for d in ids.tolist():
            sel = (domain == d).nonzero(as_tuple=True)[0]
            out[sel] = torch.matmul(x[sel], self.weight[d]) + self.bias[d]
        return out


class TimeEmbedding(nn.Module):
    """Flow time τ ∈ [0, 1] ``(B, N)`` → ``(B, N, d)`` (sinusoidal features + MLP)."""

    def __init__(self, d: int, freqs: int = 32) -> None:
        super().__init__()
        self.register_buffer("freqs", torch.exp(torch.linspace(0.0, math.log(1000.0), freqs)), persistent=False)
        self.mlp = nn.Sequential(nn.Linear(2 * freqs, d), nn.SiLU(), nn.Linear(d, d))

    def forward(self, tau: torch.Tensor) -> torch.Tensor:
        arg = tau.unsqueeze(-1) * self.freqs
        return self.mlp(torch.cat([arg.sin(), arg.cos()], dim=-1))


class _Tower(nn.Module):
    """The per-tower weights of one MoT layer."""

    def __init__(self, d: int, ffn_mult: int) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ffn = nn.Sequential(nn.Linear(d, ffn_mult * d), nn.GELU(approximate="tanh"), nn.Linear(ffn_mult * d, d))


class MoTBlock(nn.Module):
    """One Mixture-of-Transformers layer over [reasoner tokens ; generator tokens].

    Reasoner tokens attend causally among themselves only; generator tokens attend to every reasoner
    token and causally to generator rows. The reasoner's keys/values are cacheable (:meth:`reasoner`),
    so stepping the generator one row at a time reuses the context (:meth:`generator`).
    """

    def __init__(self, d: int, n_heads: int, ffn_mult: int) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.r, self.g = _Tower(d, ffn_mult), _Tower(d, ffn_mult)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        return x.view(b, n, self.n_heads, d // self.n_heads).transpose(1, 2)

    def _merge(self, x: torch.Tensor) -> torch.Tensor:
        b, h, n, dh = x.shape
        return x.transpose(1, 2).reshape(b, n, h * dh)

    # Functional calls on the towers' parameters (same math as calling the modules): in the one-row
    # stepping pass the cost is per-op overhead, and nn.Module dispatch was a sizeable part of it.
    def _qkv(self, tower: _Tower, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        ln = tower.ln1
        x = F.layer_norm(h, ln.normalized_shape, ln.weight, ln.bias, ln.eps)
        q, k, v = F.linear(x, tower.qkv.weight, tower.qkv.bias).chunk(3, dim=-1)
        return self._split(q), self._split(k), self._split(v)

    @staticmethod
    def _finish(tower: _Tower, h: torch.Tensor, att: torch.Tensor) -> torch.Tensor:
        h = h + F.linear(att, tower.proj.weight, tower.proj.bias)
        ln, up, down = tower.ln2, tower.ffn[0], tower.ffn[2]
        x = F.layer_norm(h, ln.normalized_shape, ln.weight, ln.bias, ln.eps)
        return h + F.linear(F.gelu(F.linear(x, up.weight, up.bias), approximate="tanh"), down.weight, down.bias)

    def reasoner(self, hr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Reasoner pass ``(B, C, d)`` → (new hr, k ``(B, H, C, dh)``, v) with a causal mask."""
        q, k, v = self._qkv(self.r, hr)
        att = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self._finish(self.r, hr, self._merge(att)), k, v

    def generator(
        self, hg: torch.Tensor, k_ctx: torch.Tensor, v_ctx: torch.Tensor, mask: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Generator pass for rows ``hg (B, G, d)`` attending to cached context keys/values
        ``(B, H, M, dh)`` followed by these rows. ``mask (G, M + G)`` bool (True = attend) or None.

        Returns (new hg, this pass's k, v) so callers can extend their cache.
        """
        q, k, v = self._qkv(self.g, hg)
        keys, values = torch.cat([k_ctx, k], dim=2), torch.cat([v_ctx, v], dim=2)
        att = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask)
        return self._finish(self.g, hg, self._merge(att)), k, v

    def generator_step(
        self,
        hg: torch.Tensor,
        kbuf: torch.Tensor,
        vbuf: torch.Tensor,
        batch: torch.Tensor,
        pos: torch.Tensor | int,
        key_mask: torch.Tensor | None,
    ) -> torch.Tensor:
        """Stepping pass for one row per sample: ``hg (B, 1, d)``; its key/value is written into the
        preallocated cache ``(B, H, N, dh)`` at slot ``pos (B,)`` of samples ``batch = arange(B)``, then
        the row attends to the keys allowed by ``key_mask (B, 1, 1, N)``. ``pos`` an ``int`` (every
        sample at the same slot, as in a vector env reset together): slices instead of scatter and
        mask, slots up to ``pos`` only. Plain matmul attention: for one query row it is much cheaper on
        CPU than a fused kernel's setup."""
        q, k, v = self._qkv(self.g, hg)
        if isinstance(pos, int):
            kbuf[:, :, pos] = k[:, :, 0]
            vbuf[:, :, pos] = v[:, :, 0]
            keys, values = kbuf[:, :, : pos + 1], vbuf[:, :, : pos + 1]
            att = ((q @ keys.transpose(-1, -2)) * (q.shape[-1] ** -0.5)).softmax(-1) @ values
        else:
            kbuf[batch, :, pos] = k[:, :, 0]
            vbuf[batch, :, pos] = v[:, :, 0]
            scores = (q @ kbuf.transpose(-1, -2)) * (q.shape[-1] ** -0.5)
            att = scores.masked_fill(~key_mask, float("-inf")).softmax(-1) @ vbuf
        return self._finish(self.g, hg, self._merge(att))


def generator_mask(rows: int, context: int, past: int = 0, device: torch.device | None = None) -> torch.Tensor:
    """``(rows, context + past + rows)`` bool: every row sees the context, the ``past`` cached rows and
    the rows up to itself (causal in time)."""
    own = torch.ones(rows, rows, dtype=torch.bool, device=device).tril()
    full = torch.ones(rows, context + past, dtype=torch.bool, device=device)
    return torch.cat([full, own], dim=1)
