"""Closed-loop forward dynamics one transition at a time, with context reuse.

A per-step environment gets one action per step, but the model works in chunks of 16 transitions.
The stepper runs the reasoner once per chunk and keeps its keys/values in a preallocated cache; each
step runs the generator on the new row only (the generator is causal over rows) and commits the
row's final flow pass to the cache. Rows never change once computed, so stepping a chunk one action
at a time gives what :meth:`WorldModel.sample` gives for the whole chunk at once (one flow step), at
the cost of one token per step and flow step instead of a chunk forward.

Each sample has its own position in its chunk, so environments that reset at different times
restart their own chunk (:meth:`begin` on a subset) without disturbing the others.
"""

from __future__ import annotations

import numpy as np
import torch

from cosmos3_gym.model.config import MODES
from cosmos3_gym.model.row_kernel import RowKernel
from cosmos3_gym.model.world_model import KV, WorldModel

FD = MODES.index("forward_dynamics")
#: Largest batch stepped by the NumPy :class:`RowKernel` on the CPU. Measured per step (begin included,
#: one thread, shipped model, 2-core Xeon under load): batch 1 / 4 / 8 0.67 / 0.85 / 1.09 ms against
#: torch's 1.20 / 1.56 / 2.02; at 16 NumPy's matmuls fall behind (5.4 against 2.1).
KERNEL_MAX_BATCH = 8


class ForwardStepper:
    """Batched per-step forward dynamics for ``batch`` environments.

    :meth:`begin` (re)starts the chunk of the selected samples from their state history; :meth:`step`
    advances every sample by one transition. A sample whose chunk is used up (``rows == chunk``) must
    be re-begun before its next step. Deterministic when no ``generator`` is given (ε = 0).
    """

    def __init__(self, model: WorldModel, batch: int, flow_steps: int = 1, device: str | torch.device = "cpu") -> None:
        if flow_steps < 1:
            raise ValueError(f"flow_steps must be >= 1, got {flow_steps}")
        self.model, self.flow_steps, self.batch = model, flow_steps, batch
        cfg = model.cfg
        self.chunk, self.context_len = cfg.chunk, cfg.history + 2
        dh = cfg.d_model // cfg.n_heads
        slots = self.context_len + self.chunk
        self.cache: KV = [
            (
                torch.zeros(batch, cfg.n_heads, slots, dh, device=device),
                torch.zeros(batch, cfg.n_heads, slots, dh, device=device),
            )
            for _ in range(cfg.n_layers)
        ]
        self.rows = torch.full((batch,), self.chunk, dtype=torch.long, device=device)  # all need a begin()
        self.domain = torch.zeros(batch, dtype=torch.long, device=device)
        self._domain: torch.Tensor | int = self.domain
        self.state_mask = torch.zeros(batch, cfg.state_dim, device=device)
        self.residual_scale = torch.ones(batch, cfg.state_dim, device=device)
        # The row-embedding terms shared by every sample and step, one per flow pass: action flow time 1
        # (actions are given), state flow time k / flow_steps, the forward-dynamics mode. Computed once:
        # a stepper assumes the model's weights stay fixed while it steps.
        with torch.inference_mode():
            one = torch.ones(1, 1, device=device)
            mode = model.mode_emb(torch.full((1,), FD, dtype=torch.long, device=device)).unsqueeze(1)
            self._const = [model.t_act(one) + model.t_state(one * k / flow_steps) + mode for k in range(flow_steps)]
        # Small CPU batches step through NumPy (per-op dispatch dominates there); one kernel per domain.
        self._use_kernel = torch.device(device).type == "cpu" and batch <= KERNEL_MAX_BATCH
        self._kernels: dict[int, RowKernel] = {}

    @torch.inference_mode()
    def begin(
        self,
        index: torch.Tensor,
        history: torch.Tensor,
        domain: torch.Tensor,
        task: torch.Tensor,
        goal: torch.Tensor,
        state_mask: torch.Tensor,
        residual_scale: torch.Tensor | None = None,
    ) -> None:
        """(Re)start the chunk of samples ``index (K,)``: history ``(K, H, state_dim)`` normalized,
        domain/task ``(K,)`` long, goal ``(K, 3)``, state_mask and residual_scale ``(K, state_dim)``
        (the latter: :meth:`StateStats.residual_scale`, for a ``residual_prior`` model)."""
        ctx = self.model.context(history, domain, task, goal)
        for (kbuf, vbuf), (k, v) in zip(self.cache, ctx, strict=True):
            kbuf[index, :, : self.context_len] = k
            vbuf[index, :, : self.context_len] = v
        self.rows[index] = 0
        self.domain[index], self.state_mask[index] = domain, state_mask
        ids = self.domain.unique()  # one embodiment (the usual case): skip per-call grouping by domain
        self._domain = int(ids) if ids.numel() == 1 else self.domain
        if residual_scale is not None:
            self.residual_scale[index] = residual_scale

    @torch.inference_mode()
    def step(
        self, action: torch.Tensor, noise: torch.Tensor | None = None, prior: torch.Tensor | None = None
    ) -> torch.Tensor:
        """One transition for every sample: action tokens ``(B, action_dim)`` (model space, masked) →
        predicted normalized state delta ``(B, state_dim)`` relative to the sample's chunk-start state.

        ``noise (B, state_dim)`` is where each sample's flow starts: None (zeros) is the deterministic
        mode; Gaussian rows give stochastic samples. ``prior (B, state_dim)``: the normalized
        commanded-pose prior of this row, required by a ``residual_prior`` model (the cache keeps the
        residual, as in training; the prior is added to what is returned).
        """
        if bool((self.rows >= self.chunk).any()):
            raise RuntimeError("some samples used up their chunk: begin() them with their new history first")
        if self.model.cfg.residual_prior and prior is None:
            raise ValueError("this model predicts residuals from the commanded-pose prior: pass prior (B, state_dim)")
        if self._use_kernel and isinstance(self._domain, int):
            return self._kernel_step(action, noise, prior)
        s = self._torch_step(action, noise)
        self.rows += 1
        out = prior + s * self.residual_scale if self.model.cfg.residual_prior else s
        return out * self.state_mask

    def _kernel_step(
        self, action: torch.Tensor, noise: torch.Tensor | None, prior: torch.Tensor | None
    ) -> torch.Tensor:
        """:meth:`step` on the NumPy kernel, the small tensor arithmetic around it in NumPy too."""
        kernel = self._kernels.get(self._domain)
        if kernel is None:
            kernel = self._kernels[self._domain] = RowKernel(self.model, self._domain, self.cache, self._const)
        mask = self.state_mask.numpy()
        s = np.zeros(mask.shape, np.float32) if noise is None else noise.numpy()
        rows = self.rows.numpy()
        out = kernel.flow(action.numpy(), s, rows, self.context_len + rows, mask)
        self.rows += 1
        if self.model.cfg.residual_prior:
            out = prior.numpy() + out * self.residual_scale.numpy()
        return torch.from_numpy(out * mask)

    def _torch_step(self, action: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        m, b = self.model, self.batch
        act = action.unsqueeze(1)
        s = action.new_zeros(b, 1, m.cfg.state_dim) if noise is None else noise.unsqueeze(1).clone()
        pos = self.context_len + self.rows
        given = m.act_in(act, self._domain) + m.row_pos[self.rows].unsqueeze(1)  # the same on every pass
        # The row is rewritten at the same cache slot on every flow pass; the last pass stays committed.
        for k in range(self.flow_steps):
            rows = given + self._const[k] + m.state_in(s * self.state_mask.unsqueeze(1), self._domain)
            s = s + m.generate_step(rows, self.cache, pos, self._domain, self.state_mask) / self.flow_steps
        return s[:, 0]
