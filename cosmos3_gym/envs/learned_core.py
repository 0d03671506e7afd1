"""Batched learned-simulator core: N environments stepped by the world model, no physics.

Shared by the single env, the Gymnasium vector env and the SB3 adapter. Start states come from the
MuJoCo twin's reset distribution (same seed → same start as the twin); every step turns the native
action into a Cosmos3 trajectory token exactly as the twin's controller commands it
(:class:`~cosmos3_gym.tokens.native.NativeActionMap`) and asks the model for the next state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from cosmos3_gym.model import Checkpoint, CommandPrior, ForwardStepper, ModelSpace, check_device, get_checkpoint
from cosmos3_gym.model.config import STATE_DIM, TASK_NAMES
from cosmos3_gym.model.cube_motion import RESYNC_M
from cosmos3_gym.model.error_head import ErrorHead, error_features, feature_count
from cosmos3_gym.sim.twin_env import MujocoTwinEnv
from cosmos3_gym.tasks import compute_reward, effector, goal_distance, is_success, is_terminated
from cosmos3_gym.tokens.native import NativeActionMap
from cosmos3_gym.tokens.rotation import matrix_to_rot6d, rot6d_to_matrix


@dataclass(frozen=True)
class Guards:
    """Opt-in protections against an agent exploiting model error; the defaults of the single and the
    vector env alike.

    ``uncertainty_samples``: stochastic samples per env for the uncertainty estimate (0 = off, the
    default: each sample is another model pass per step). ``info["model_uncertainty"]`` (m) is then the
    checkpoint's learned error estimate (:mod:`cosmos3_gym.model.error_head`, fitted by ``cosmos3-gym
    calibrate-uncertainty``), or without one the samples' spread in the current chunk plus, in quadrature,
    what the chunks since the last anchor left (``benchmarks/results/uncertainty_report.md``);
    ``uncertainty_penalty``: reward −= penalty · uncertainty (m); ``max_uncertainty``: truncate when
    the estimate exceeds it (m); ``ood_sigma``: truncate when any state channel leaves the training
    distribution by more than this many standard deviations.
    """

    uncertainty_samples: int = 0
    uncertainty_penalty: float = 0.0
    max_uncertainty: float | None = None
    ood_sigma: float | None = None


class LearnedSimCore:
    """State and stepping for ``num_envs`` learned environments of one embodiment × task."""

    def __init__(
        self,
        embodiment: str,
        task: str,
        num_envs: int,
        model: str | Checkpoint | None = None,
        device: str = "cpu",
        reward_type: str = "dense",
        flow_steps: int = 1,
        guards: Guards | None = None,
        render_size: tuple[int, int] = (360, 480),
    ) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        check_device(device)  # a device this machine lacks fails here, in one line, before the twin is built
        self.twin = MujocoTwinEnv(
            embodiment, task, reward_type, render_mode=None, height=render_size[0], width=render_size[1]
        )
        self.emb, self.task, self.layout = self.twin.emb, self.twin.task, self.twin.layout
        self.reward_type, self.n, self.device = reward_type, num_envs, torch.device(device)
        self.guards = guards or Guards()
        self.ckpt = get_checkpoint(model, device)
        self.space = ModelSpace(self.ckpt, self.emb)
        self.nmap = NativeActionMap(self.emb)
        self.prior = CommandPrior(
            self.emb,
            self.nmap,
            self.ckpt.model.cfg.object_prior,
            self.space.kinematic_prior,
            self.space.servo_prior,
            self.space.table_depth,
            self.space.finger_servo,
            self.space.cube_motion,
        )
        self.residual_prior = self.ckpt.model.cfg.residual_prior
        k = 1 + self.guards.uncertainty_samples
        self.stepper = ForwardStepper(self.ckpt.model, num_envs * k, flow_steps, device)
        self._gen = torch.Generator(device=self.device)
        self._gen.manual_seed(0)
        self.state = np.zeros((num_envs, self.layout.size))
        self.chunk_start = np.zeros_like(self.state)
        self.history = np.zeros((num_envs, self.ckpt.model.cfg.history, self.layout.size))
        self.goal = np.zeros((num_envs, 3))
        self.elapsed = np.zeros(num_envs, dtype=np.int64)
        self.rngs: list[np.random.Generator] = [np.random.default_rng() for _ in range(num_envs)]
        self.state_mask = torch.as_tensor(self.space.state_mask, device=self.device)
        self.residual_scale = torch.as_tensor(self.space.residual_scale, device=self.device)
        self.uncertainty = np.zeros(num_envs)
        #: Variance (m²) inherited from the chunks since the last anchor (reset or a state set from the twin):
        #: the copies restart from the deterministic state each chunk, so their spread alone forgets it.
        self.carried_var = np.zeros(num_envs)
        self.spread = np.zeros(num_envs)  # the current chunk's sample disagreement (m), before carrying
        self.accumulated = np.zeros(num_envs)  # spread with the carried variance (m)
        # What the error head reads besides the state (kept only with uncertainty samples): steps and
        # commanded first-arm motion since the anchor, and the last action.
        self.since_anchor = np.zeros(num_envs)
        self.motion = np.zeros(num_envs)
        self.last_action = np.zeros((num_envs, self.emb.native_action_dim))
        head = self.ckpt.stats[self.emb.name].error_head
        self.error_head = ErrorHead(**head) if head else None
        if self.error_head is not None:
            self.error_head.check(feature_count(self.layout.size, self.emb.native_action_dim))
        #: Which arms hold the cube in the current state (an ``object_prior`` model's, CommandPrior.held).
        self.holding = np.zeros((num_envs, self.layout.num_arms), dtype=bool)
        #: Steps since each arm's gripper was open around the cube (CommandPrior.since_open).
        self.open_ago = np.zeros((num_envs, self.layout.num_arms), dtype=np.int64)
        #: Envs whose cube the last step's priors moved away from the generator's (:data:`RESYNC_M`).
        self.resync = np.zeros(num_envs, dtype=bool)

    # -- resets ----------------------------------------------------------------------------------------
    def reset(self, index: np.ndarray, seeds: list[int | None]) -> None:
        """Reset envs ``index`` from the twin's reset distribution (seed None continues each env's stream)."""
        for i, seed in zip(index, seeds, strict=True):
            if seed is not None:
                obs, _ = self.twin.reset(seed=int(seed))
                if i == index[0]:
                    self._gen.manual_seed(int(seed))  # the uncertainty samples are seeded too
                self.rngs[i] = self.twin.np_random
            else:
                self.twin.np_random = self.rngs[i]
                obs, _ = self.twin.reset()
            self.state[i], self.goal[i] = obs["observation"], obs["desired_goal"]
            self.history[i] = obs["observation"]
            self.elapsed[i] = 0
            self.holding[i] = self.prior.held(self.state[i]) if self.prior.object_prior else False
        self.restart_chunks(np.asarray(index))

    def restart_chunks(self, index: np.ndarray, carry: bool = False) -> None:
        """Restart the model chunk of envs ``index`` from their current state history. ``carry``: the state is
        the model's own (a chunk boundary), so the chunk's final spread joins the inherited variance;
        otherwise the state is an anchor (a reset, or a true state set by the caller) and that is cleared."""
        if len(index) == 0:
            return
        if carry:
            self.carried_var[index] = self.accumulated[index] ** 2
        else:
            if self.prior.object_prior:  # the grasp memory only an object_prior model keeps
                self.open_ago[index] = self.prior.since_open(self.state[index])
            self.carried_var[index] = self.since_anchor[index] = self.motion[index] = 0.0
            self.uncertainty[index] = self.spread[index] = self.accumulated[index] = 0.0
        self.chunk_start[index] = self.state[index]
        k = 1 + self.guards.uncertainty_samples
        rows = np.concatenate([index + j * self.n for j in range(k)])
        hist = np.tile(self.space.history(self.history[index]), (k, 1, 1))
        b = len(rows)
        self.stepper.begin(
            torch.as_tensor(rows, device=self.device),
            torch.as_tensor(hist, device=self.device),
            torch.full((b,), self.emb.domain_id, device=self.device),
            torch.full((b,), TASK_NAMES.index(self.task.name), device=self.device),
            # Forward dynamics of a goal_relative model ignores the goal (WorldModel.context); older
            # checkpoints read the raw goal.
            torch.as_tensor(np.tile(self.goal[index], (k, 1)), dtype=torch.float32, device=self.device),
            self.state_mask.expand(b, -1),
            self.residual_scale.expand(b, -1),
        )

    # -- stepping --------------------------------------------------------------------------------------
    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Advance all envs by one native action ``(N, A)`` in ``[-1, 1]`` (the env clipped it).

        Returns (rewards, terminated, success, info) and updates ``self.state``; truncation by time
        limit is the caller's business (``self.elapsed``), guards add ``info['guard_truncated']``.
        """
        tcp = self.prior.arm_tcp(self.state)
        target, raw = self.nmap.command(tcp, actions)
        target, joints = self.prior.reach(self.state, target)  # a kinematic prior: where the IK takes the arms
        k = 1 + self.guards.uncertainty_samples
        tokens = torch.as_tensor(np.tile(self.space.tokens(raw), (k, 1)), device=self.device)
        noise = None
        if k > 1:  # copies 1..k-1 start their flow from Gaussian noise; copy 0 is the deterministic state
            noise = torch.randn(self.stepper.batch, STATE_DIM, generator=self._gen, device=self.device)
            noise[: self.n] = 0.0
        prior = None
        if self.residual_prior:  # the row's prior: the arms at their commanded poses from the current state
            cmd = self.prior.from_poses(target, self.chunk_start, self.state, tcp, self.holding)
            prior = torch.as_tensor(np.tile(self.space.deltas(cmd, self.chunk_start), (k, 1)), device=self.device)
        delta = self.stepper.step(tokens, noise, prior).cpu().numpy()
        pred = self.prior.with_joints(self.space.states(self.chunk_start, delta[: self.n]), joints)
        pred = self.prior.fingers(self.state, pred, actions[:, 6::7])
        pred = self.prior.grasp(self.state, pred, self.holding, tcp)
        pred = self.prior.gripper(self.state, pred, actions[:, 6::7], self.holding)  # closed stays closed
        if self.space.contact_gate is not None:  # an untouched cube keeps its pose (model/contact_gate.py)
            gate = self.space.contact_gate
            pred = gate.apply(self.prior, self.history[:, -2], self.state, target, pred, self.holding, tcp)
        shown = self.layout.get(pred, "cube_pos")[:, :2].copy()
        pred = self.prior.fall(self.history[:, -2], self.state, pred, self.holding)  # nothing holds it: it falls
        pred = self.prior.floor(pred)  # nothing goes through the table
        self.state = self._project(pred)
        self.resync = np.linalg.norm(self.layout.get(self.state, "cube_pos")[:, :2] - shown, axis=-1) > RESYNC_M
        if self.prior.object_prior:
            self.open_ago = self.prior.since_open(self.state, self.open_ago)
            self.holding = self.prior.held(self.state, self.holding, self.open_ago)
        if k > 1:  # last: the error head reads the step's final state and holding, as features() does later
            copies = self.space.states(np.tile(self.chunk_start, (k - 1, 1)), delta[self.n :])
            self._estimate_uncertainty(pred, copies.reshape(k - 1, self.n, -1), actions)
        self.history = np.concatenate([self.history[:, 1:], self.state[:, None]], axis=1)
        self.elapsed += 1
        return self._outcome(raw)

    def _estimate_uncertainty(self, pred: np.ndarray, copies: np.ndarray, actions: np.ndarray) -> None:
        """Update the spread, its carried sum, what the error head reads, and ``self.uncertainty`` (m)."""
        self.spread = self._spread(pred, copies)
        self.accumulated = np.sqrt(self.carried_var + self.spread**2)
        self.since_anchor += 1
        self.last_action = actions
        self.motion += np.abs(actions[:, :3]).sum(-1)
        self.uncertainty = self.accumulated if self.error_head is None else self.error_head.predict(self.features())

    def features(self) -> np.ndarray:
        """The error head's inputs for the current step ``(N, F)`` (:func:`.error_features`)."""
        z = (self.state - self.space.mean) / self.space.std
        cube = np.linalg.norm(self.layout.get(self.state, "cube_rel_pos"), axis=-1)
        held, act = self.holding.any(-1), self.last_action
        return error_features(self.spread, self.accumulated, self.since_anchor, self.motion, cube, held, z, act)

    def _spread(self, pred: np.ndarray, copies: np.ndarray) -> np.ndarray:
        """Mean distance (m) between stochastic samples and the deterministic prediction, over the TCP and
        cube positions ``(N,)``: the disagreement within the current chunk. ``self.accumulated`` adds to it
        (in quadrature) what the earlier chunks since the last anchor left, as independent errors do."""
        parts = [self.layout.parts[p] for p in ("tcp_pos", "cube_pos")]
        idx = np.concatenate([np.arange(p.start, p.stop) for p in parts])
        return np.linalg.norm(copies[..., idx] - pred[None, :, idx], axis=-1).mean(0)

    def _project(self, state: np.ndarray) -> np.ndarray:
        """Keep a predicted state physically consistent: rotations on SO(3), gripper widths in range,
        cube-relative position derived from the predicted cube and TCP positions."""
        out = state.copy()
        lay = self.layout
        for part in ("tcp_rot6d", "cube_rot6d"):
            if part in lay.parts:
                sl = lay.parts[part]
                r6 = out[:, sl].reshape(len(out), -1, 6)
                out[:, sl] = matrix_to_rot6d(rot6d_to_matrix(r6)).reshape(len(out), -1)
        if "gripper_width" in lay.parts:
            widths = np.array([self.nmap.arm_gripper[a].max_width_m for a in range(lay.num_arms)])
            out[:, lay.parts["gripper_width"]] = np.clip(out[:, lay.parts["gripper_width"]], 0.0, widths)
        if "cube_rel_pos" in lay.parts:
            out[:, lay.parts["cube_rel_pos"]] = lay.get(out, "cube_pos") - lay.arm(out, "tcp_pos", 0)
        return out

    def achieved_goal(self, state: np.ndarray) -> np.ndarray:
        return self.layout.achieved(state, self.task.goal_part)

    def _outcome(self, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        achieved = self.achieved_goal(self.state)
        eff, ws = effector(self.layout, self.state), self.emb.spec.workspace
        reward = compute_reward(achieved, self.goal, self.task, self.reward_type, eff, ws)
        success = is_success(achieved, self.goal, self.task)
        terminated = is_terminated(self.layout.get(self.state, "cube_pos"), ws)
        info: dict[str, Any] = {
            "cosmos3_action": raw,
            "goal_distance": goal_distance(achieved, self.goal),
            "effector": eff,
        }
        guard = np.zeros(self.n, dtype=bool)
        if self.guards.uncertainty_samples:
            info["model_uncertainty"] = self.uncertainty.copy()
            reward = reward - self.guards.uncertainty_penalty * self.uncertainty
            if self.guards.max_uncertainty is not None:
                guard |= self.uncertainty > self.guards.max_uncertainty
        if self.guards.ood_sigma is not None:
            z = np.abs((self.state - self.space.mean) / self.space.std)
            guard |= (z > self.guards.ood_sigma).any(axis=1)
        info["guard_truncated"] = guard
        return reward, terminated, success, info

    def obs(self) -> dict[str, np.ndarray]:
        """Batched goal-conditioned observation dict."""
        return {
            "observation": self.state.copy(),
            "achieved_goal": self.achieved_goal(self.state),
            "desired_goal": self.goal.copy(),
        }

    def after_step(self) -> None:
        """Re-begin the chunk of every env that used up its 16 transitions, or whose cube a prior struck or slid
        (:data:`RESYNC_M`)."""
        done = (self.stepper.rows[: self.n] >= self.stepper.chunk).cpu().numpy()
        self.restart_chunks(np.flatnonzero(done | self.resync), carry=True)

    def qpos(self, i: int) -> np.ndarray:
        """A MuJoCo ``qpos`` of env ``i``'s predicted state (robot joints + cube pose) for rendering."""
        return self.twin.state_qpos(self.state[i])
