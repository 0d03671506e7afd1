"""Closed-loop forward dynamics one transition at a time, with context reuse.

A per-step environment gets one action per step, but the model works in chunks of 16 transitions.
The stepper runs the reasoner once per chunk and keeps its keys/values in a preallocated cache; each
step runs the generator on the new row only (the generator is causal over rows) and commits the
row's final flow pass to the cache. Rows never change once computed, so stepping a chunk one action
at a time gives exactly what :meth:`WorldModel.sample` gives for the whole chunk at once (one flow
step), at the cost of one token per step and flow step instead of a chunk forward.
"""

from __future__ import annotations

import torch

from cosmos3_gym.model.config import MODES
from cosmos3_gym.model.world_model import KV, WorldModel

FD = MODES.index("forward_dynamics")


class ForwardStepper:
    """Batched per-step forward dynamics for ``B`` environments.

    Call :meth:`begin` at the start of every chunk (and after resets), then :meth:`step` up to
    ``chunk`` times. Deterministic when no ``generator`` is given (the flow starts at ε = 0).
    """

    def __init__(self, model: WorldModel, flow_steps: int = 1) -> None:
        if flow_steps < 1:
            raise ValueError(f"flow_steps must be >= 1, got {flow_steps}")
        self.model, self.flow_steps = model, flow_steps
        self.chunk = model.cfg.chunk
        self.row = 0

    @torch.inference_mode()
    def begin(self, history: torch.Tensor, domain: torch.Tensor, task: torch.Tensor, goal: torch.Tensor,
              act_mask: torch.Tensor, state_mask: torch.Tensor) -> None:
        """Encode the context: history ``(B, H, state_dim)`` normalized, domain/task ``(B,)``, goal ``(B, 3)``."""
        ctx = self.model.context(history, domain, task, goal)
        b, h, c, dh = ctx[0][0].shape
        self.cache: KV = []
        for k, v in ctx:
            kbuf, vbuf = k.new_empty(b, h, c + self.chunk, dh), v.new_empty(b, h, c + self.chunk, dh)
            kbuf[:, :, :c], vbuf[:, :, :c] = k, v
            self.cache.append((kbuf, vbuf))
        self.context_len = c
        self.domain, self.act_mask, self.state_mask = domain, act_mask, state_mask
        self._mode = torch.full_like(domain, FD)
        self._ones = torch.ones(b, 1, device=history.device)
        self.row = 0

    @torch.inference_mode()
    def step(self, action: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """One transition: action tokens ``(B, action_dim)`` (model space) → predicted normalized state
        delta ``(B, state_dim)`` of the next state relative to the chunk's current state s_t."""
        if self.row >= self.chunk:
            raise RuntimeError(f"chunk of {self.chunk} steps used up: call begin() with the new history first")
        m, b = self.model, action.shape[0]
        act = (action * self.act_mask).unsqueeze(1)
        if generator is None:
            s = action.new_zeros(b, 1, m.cfg.state_dim)
        else:
            s = torch.randn(b, 1, m.cfg.state_dim, device=action.device, generator=generator)
        # The row is written at the same cache slot on every flow pass; the last pass stays committed.
        length = self.context_len + self.row
        for k in range(self.flow_steps):
            tau = torch.full_like(self._ones, k / self.flow_steps)
            rows = m.embed_rows(act, self._ones, s * self.state_mask.unsqueeze(1), tau, self.domain, self._mode,
                                self.row)
            s = s + m.generate_cached(rows, self.cache, length, self.domain, self.state_mask) / self.flow_steps
        self.row += 1
        return s[:, 0] * self.state_mask
