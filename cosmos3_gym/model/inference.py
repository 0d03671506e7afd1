"""The three Cosmos3 modes in physical units for one embodiment: numpy states and raw actions in/out.

Wraps normalization (state stats from the checkpoint, the Cosmos3 quantile map for actions) around
:meth:`WorldModel.sample`, so callers never touch model space.
"""

from __future__ import annotations

import numpy as np
import torch

from cosmos3_gym.embodiment.spec import MAX_ACTION_DIM
from cosmos3_gym.model.checkpoint import Checkpoint
from cosmos3_gym.model.config import STATE_DIM, TASK_NAMES
from cosmos3_gym.model.goal import goal_input
from cosmos3_gym.model.prior import CommandPrior
from cosmos3_gym.model.stepper import ForwardStepper
from cosmos3_gym.tokens import Embodiment, load_embodiment


class ModeRunner:
    """Forward dynamics, inverse dynamics and policy for one embodiment of a loaded checkpoint.

    Shapes: states ``(B, S)`` (the observation vector), raw Cosmos3 actions ``(B, G, D)``, G = chunk.
    """

    def __init__(self, ckpt: Checkpoint, embodiment: str | Embodiment) -> None:
        self.emb = embodiment if isinstance(embodiment, Embodiment) else load_embodiment(embodiment)
        if self.emb.name not in ckpt.stats:
            raise ValueError(f"checkpoint not trained on {self.emb.name!r}; it covers {sorted(ckpt.stats)}")
        self.model = ckpt.model
        self.device = next(self.model.parameters()).device
        self.mean, self.std, self.dstd = ckpt.stats[self.emb.name].arrays()
        self.rscale = np.ones(STATE_DIM, np.float32)
        self.rscale[: len(self.mean)] = ckpt.stats[self.emb.name].residual_scale()
        self.ascale = ckpt.stats[self.emb.name].action_residual_scale(MAX_ACTION_DIM).astype(np.float32)
        self.id_gate = ckpt.stats[self.emb.name].id_residual_gate
        self.size = len(self.mean)
        self.chunk, self.history_len = self.model.cfg.chunk, self.model.cfg.history
        self.prior = CommandPrior(self.emb, self.emb.layout)

    def _t(self, x: np.ndarray, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return torch.as_tensor(np.ascontiguousarray(x), dtype=dtype, device=self.device)

    def _common(self, history: np.ndarray, goal: np.ndarray, task: str) -> tuple[torch.Tensor, ...]:
        b = history.shape[0]
        hist = np.zeros((b, self.history_len, STATE_DIM), np.float32)
        h = history[:, -self.history_len :]
        if h.shape[1] < self.history_len:  # too short: repeat the oldest state, as at an episode start
            h = np.concatenate([np.repeat(h[:, :1], self.history_len - h.shape[1], 1), h], 1)
        hist[..., : self.size] = (h - self.mean) / self.std
        am = torch.zeros(b, MAX_ACTION_DIM, device=self.device)
        am[:, : self.emb.raw_action_dim] = 1
        sm = torch.zeros(b, STATE_DIM, device=self.device)
        sm[:, : self.size] = 1
        return (
            self._t(hist),
            torch.full((b,), self.emb.domain_id, device=self.device),
            torch.full((b,), TASK_NAMES.index(task), device=self.device),
            self._t(goal_input(self.model.cfg.goal_relative, self.prior.layout, task, h[:, -1], goal)),
            am,
            sm,
        )

    def _tokens(self, raw: np.ndarray) -> torch.Tensor:
        return self._t(self.emb.to_tokens(raw)[0])

    def _states_out(self, current: np.ndarray, s: torch.Tensor) -> np.ndarray:
        return current[:, None] + s.cpu().numpy()[..., : self.size] * self.dstd

    def forward_dynamics(
        self,
        history: np.ndarray,
        raw: np.ndarray,
        goal: np.ndarray,
        task: str = "lift",
        steps: int = 1,
        seed: int | None = None,
    ) -> np.ndarray:
        """History ``(B, H, S)`` + raw actions ``(B, G, D)`` → predicted states ``(B, G, S)``.

        Generated row by row (:class:`ForwardStepper`, identical to chunk sampling): a
        ``residual_prior`` model needs each row's commanded-pose prior from the state before it.
        """
        hist, dom, tsk, g, _, sm = self._common(history, goal, task)
        b, rows = raw.shape[:2]
        stepper = ForwardStepper(self.model, b, steps, self.device)
        scale = self._t(np.tile(self.rscale, (b, 1)))
        stepper.begin(torch.arange(b, device=self.device), hist, dom, tsk, g, sm, scale)
        tokens, gen = self._tokens(raw), self._gen(seed)
        start = history[:, -1].astype(np.float64)
        state, out = start, np.zeros((b, rows, self.size))
        for i in range(rows):
            prior = None
            if self.model.cfg.residual_prior:
                pad = np.zeros((b, STATE_DIM), np.float32)
                pad[:, : self.size] = (self.prior.commanded(state, raw[:, i], start) - start) / self.dstd
                prior = self._t(pad)
            noise = None if gen is None else torch.randn(b, STATE_DIM, generator=gen, device=self.device)
            delta = stepper.step(tokens[:, i], noise, prior).cpu().numpy()[:, : self.size]
            state = out[:, i] = start + delta * self.dstd
        return out

    def inverse_dynamics(
        self, states: np.ndarray, goal: np.ndarray, task: str = "lift", steps: int = 1, seed: int | None = None
    ) -> np.ndarray:
        """True state sequence ``(B, G+1, S)`` → inferred raw actions ``(B, G, D)``."""
        hist, dom, tsk, g, am, sm = self._common(states[:, :1], goal, task)
        b = states.shape[0]
        fut = np.zeros((b, self.chunk, STATE_DIM), np.float32)
        fut[..., : self.size] = (states[:, 1:] - states[:, :1]) / self.dstd
        prior = scale = None
        if self.model.cfg.id_prior:
            prior = self._tokens(self.prior.inverse(states[:, :-1], states[:, 1:]))
            scale = self._t(np.tile(self.ascale * self.id_gate, (b, 1)))
        a, _ = self.model.sample(
            "inverse_dynamics",
            hist,
            dom,
            tsk,
            g,
            am,
            sm,
            states=self._t(fut),
            steps=steps,
            generator=self._gen(seed),
            act_prior=prior,
            act_scale=scale,
        )
        return self.emb.from_tokens(a.cpu().numpy().astype(np.float64))

    def policy(
        self, history: np.ndarray, goal: np.ndarray, task: str, steps: int = 1, seed: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """History ``(B, H, S)`` + goal ``(B, 3)`` → (raw action chunk ``(B, G, D)``, expected states ``(B, G, S)``)."""
        hist, dom, tsk, g, am, sm = self._common(history, goal, task)
        a, s = self.model.sample("policy", hist, dom, tsk, g, am, sm, steps=steps, generator=self._gen(seed))
        return self.emb.from_tokens(a.cpu().numpy().astype(np.float64)), self._states_out(history[:, -1], s)

    def _gen(self, seed: int | None) -> torch.Generator | None:
        return None if seed is None else torch.Generator(device=self.device).manual_seed(seed)
