"""The three Cosmos3 modes in physical units for one embodiment: numpy states and raw actions in/out.

Wraps normalization (state stats from the checkpoint, the Cosmos3 quantile map for actions) around
:meth:`WorldModel.sample`, so callers never touch model space.
"""

from __future__ import annotations

import numpy as np
import torch

from cosmos3_gym.model.checkpoint import Checkpoint
from cosmos3_gym.model.config import STATE_DIM, TASK_NAMES
from cosmos3_gym.model.cube_motion import RESYNC_M
from cosmos3_gym.model.goal import goal_input, relation_input
from cosmos3_gym.model.prior import CommandPrior
from cosmos3_gym.model.space import ModelSpace
from cosmos3_gym.model.stepper import ForwardStepper
from cosmos3_gym.tokens import Embodiment, load_embodiment


class ModeRunner:
    """Forward dynamics, inverse dynamics and policy for one embodiment of a loaded checkpoint.

    Shapes: states ``(B, S)`` (the observation vector), raw Cosmos3 actions ``(B, G, D)``, G = chunk.
    """

    def __init__(self, ckpt: Checkpoint, embodiment: str | Embodiment) -> None:
        self.emb = embodiment if isinstance(embodiment, Embodiment) else load_embodiment(embodiment)
        self.space = ModelSpace(ckpt, self.emb)
        self.model = ckpt.model
        self.device = next(self.model.parameters()).device
        self.size, self.chunk = self.space.size, self.model.cfg.chunk
        space = self.space
        flags = (space.kinematic_prior, space.servo_prior, space.table_depth, space.finger_servo, space.cube_motion)
        self.prior = CommandPrior(self.emb, None, self.model.cfg.object_prior, *flags)

    def _t(self, x: np.ndarray, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return torch.as_tensor(np.ascontiguousarray(x), dtype=dtype, device=self.device)

    def _common(self, history: np.ndarray, goal: np.ndarray, task: str) -> tuple[torch.Tensor, ...]:
        b, sp = history.shape[0], self.space
        return (
            self._t(sp.history(history)),
            torch.full((b,), self.emb.domain_id, device=self.device),
            torch.full((b,), TASK_NAMES.index(task), device=self.device),
            self._t(goal_input(self.model.cfg.goal_relative, self.prior.layout, task, history[:, -1], goal)),
            self._t(np.tile(sp.action_mask, (b, 1))),
            self._t(np.tile(sp.state_mask, (b, 1))),
        )

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
        scale = self._t(np.tile(self.space.residual_scale, (b, 1)))
        stepper.begin(torch.arange(b, device=self.device), hist, dom, tsk, g, sm, scale)
        tokens, gen = self._t(self.space.tokens(raw)), self._gen(seed)
        start = history[:, -1].astype(np.float64)  # each rollout's chunk start
        state, out, past = start, np.zeros((b, rows, self.size)), history.astype(np.float64)
        before = history[:, -2].astype(np.float64) if history.shape[1] > 1 else start
        holding = self.prior.held(start) if self.prior.object_prior else None
        open_ago = self.prior.since_open(start) if holding is not None else None
        gate = self.space.contact_gate
        for i in range(rows):
            prior = joints = None
            if self.model.cfg.residual_prior or gate is not None:
                tcp = self.prior.arm_tcp(state)
                reached, joints = self.prior.reach(state, self.prior.targets(state, raw[:, i], tcp))
                cmd = self.prior.from_poses(reached, start, state, tcp, holding)
                prior = self._t(self.space.deltas(cmd, start)) if self.model.cfg.residual_prior else None
            noise = None if gen is None else torch.randn(b, STATE_DIM, generator=gen, device=self.device)
            delta = stepper.step(tokens[:, i], noise, prior).cpu().numpy()
            grip = None  # the native gripper commands, where a prior reads them
            if holding is not None or self.prior.finger_servos is not None:
                grip = self.prior.nmap.from_raw(self.prior.arm_tcp(state), raw[:, i])[:, 6::7]
            nxt = self.prior.fingers(state, self.prior.with_joints(self.space.states(start, delta), joints), grip)
            nxt = self.prior.grasp(state, nxt, holding)
            if holding is not None:  # a gripper commanded closed stays closed
                nxt = self.prior.gripper(state, nxt, grip, holding)
            if gate is not None:  # an untouched cube keeps its pose (model/contact_gate.py)
                nxt = gate.apply(self.prior, before, state, self.prior.arm_tcp(cmd), nxt, holding)
            resync = np.zeros(b, dtype=bool)
            if holding is not None:  # nothing holds it: it falls
                shown = self.prior.layout.get(nxt, "cube_pos")[:, :2].copy()
                nxt = self.prior.floor(self.prior.fall(before, state, nxt, holding))  # nor through the table
                resync = np.linalg.norm(self.prior.layout.get(nxt, "cube_pos")[:, :2] - shown, axis=-1) > RESYNC_M
            before, state = state, nxt
            out[:, i] = state
            past = np.concatenate([past[:, 1:], state[:, None]], axis=1)
            redo = np.flatnonzero(resync | (stepper.rows.cpu().numpy() >= stepper.chunk))
            if len(redo) and i + 1 < rows:  # as the env does (LearnedSimCore.after_step)
                start = start.copy()
                start[redo] = state[redo]
                idx = torch.as_tensor(redo, device=self.device)
                stepper.begin(
                    idx, self._t(self.space.history(past[redo])), dom[idx], tsk[idx], g[idx], sm[idx], scale[idx]
                )
            if holding is not None:
                open_ago = self.prior.since_open(state, open_ago)
                holding = self.prior.held(state, holding, open_ago)
        return out

    def inverse_dynamics(
        self, states: np.ndarray, goal: np.ndarray, task: str = "lift", steps: int = 1, seed: int | None = None
    ) -> np.ndarray:
        """True state sequence ``(B, G+1, S)`` → inferred raw actions ``(B, G, D)``."""
        hist, dom, tsk, g, am, sm = self._common(states[:, :1], goal, task)
        b = states.shape[0]
        fut = self.space.deltas(states[:, 1:], states[:, :1])
        prior = scale = None
        if self.model.cfg.id_prior:
            prior = self._t(self.space.tokens(self.prior.inverse(states[:, :-1], states[:, 1:])))
            scale = self._t(np.tile(self.space.action_residual_scale * self.space.id_gate, (b, 1)))
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
        rel = self._t(relation_input(self.prior.layout, history[:, -1]))
        a, s = self.model.sample("policy", hist, dom, tsk, g, am, sm, steps=steps, generator=self._gen(seed), rel=rel)
        states = self.space.states(history[:, -1, None], s.cpu().numpy())
        return self.emb.from_tokens(a.cpu().numpy().astype(np.float64)), states

    def _gen(self, seed: int | None) -> torch.Generator | None:
        return None if seed is None else torch.Generator(device=self.device).manual_seed(seed)
