"""``contact-mix``: data-collection episodes that vary contact the way the experts alone never do.

The scripted experts grasp, lift and push one way per task: one speed, the goal height, no drops, and
their approach never hovers beside the cube. A world model trained on them learns that habit as physics
(``shared/reference/contact_failure_modes.md``). Each ``contact-mix`` episode is one of:

- ``varied`` (70 %): the task's expert chasing a goal that is shifted and re-drawn every 25–50 steps
  (carries to many heights and places, pushes from many angles), at a per-episode speed (the motion
  commands scaled by 0.35–1), with small AR(1) noise; in Lift, half the episodes open the gripper for
  3–8 steps once the cube is up (a drop from a random height; the expert then re-grasps);
- ``hover`` (30 %): the TCP moves between random points 3–10 cm around the cube at random speeds, its
  gripper opening or closing per segment: passes near the cube, brushes and misses it, and holds still.

Deterministic per seed. Grippers of other arms (AgiBot's left) follow the expert (open).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from cosmos3_gym.sim.experts import OPEN, ReachExpert, make_expert

if TYPE_CHECKING:
    from cosmos3_gym.sim.policies import PolicyFactory
    from cosmos3_gym.sim.twin_env import MujocoTwinEnv


class ContactMix:
    """One ``contact-mix`` episode policy (see the module docstring); ``env``: an unwrapped twin."""

    def __init__(self, env: MujocoTwinEnv, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.expert, self.mover = make_expert(env), ReachExpert(env)
        self.task, self.layout, self.ws = env.task.name, env.layout, env.emb.spec.workspace
        dim = int(env.action_space.shape[0])
        self.motion = np.flatnonzero(np.arange(dim) % 7 != 6)
        self.noise = np.zeros(len(self.motion))

    def reset(self, obs: dict[str, np.ndarray]) -> None:
        r = self.rng
        self.mode = "hover" if r.random() < 0.3 else "varied"
        self.speed = r.uniform(0.35, 1.0)
        self.drop_at_height = self.task == "lift" and r.random() < 0.5
        self.drop_steps, self.t, self.next_draw = 0, 0, 0
        self.offset, self.target, self.gripper = np.zeros(3), np.zeros(3), OPEN
        self.noise[:] = 0.0
        self.expert.reset(obs)
        self.mover.reset(obs)

    def _cube(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        return self.layout.get(obs["observation"], "cube_pos")

    def _draw(self, obs: dict[str, np.ndarray]) -> None:
        r, half = self.rng, self.ws.cube_half_size
        if self.mode == "varied":
            lift = self.task == "lift"
            self.offset = np.array([*r.uniform(-0.04, 0.04, 2), r.uniform(-0.03, 0.10) if lift else 0.0])
            self.next_draw = self.t + int(r.integers(25, 51))
        else:
            angle, radius = r.uniform(0, 2 * np.pi), r.uniform(0.03, 0.10)
            cube = self._cube(obs)
            height = self.ws.table_z + half + r.uniform(-0.5 * half, 0.08)
            self.target = np.array([cube[0] + radius * np.cos(angle), cube[1] + radius * np.sin(angle), height])
            self.gripper = float(r.choice([-1.0, 1.0]))
            self.speed = r.uniform(0.2, 1.0)
            self.next_draw = self.t + int(r.integers(10, 26))

    def __call__(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        if self.t >= self.next_draw:
            self._draw(obs)
        self.t += 1
        if self.mode == "hover":
            tcp = self.layout.arm(obs["observation"], "tcp_pos", 0)
            action = self.mover.action(obs, self.target - tcp, self.gripper).astype(np.float64)
        else:
            shifted = {**obs, "desired_goal": obs["desired_goal"] + self.offset}
            action = np.asarray(self.expert(shifted), dtype=np.float64)
            if self.drop_at_height and self._cube(obs)[2] > self.ws.table_z + 3 * self.ws.cube_half_size:
                self.drop_at_height, self.drop_steps = False, int(self.rng.integers(3, 9))
            if self.drop_steps > 0:
                self.drop_steps -= 1
                action[6] = OPEN
        self.noise = 0.7 * self.noise + np.sqrt(1 - 0.7**2) * self.rng.normal(0.0, 0.1, len(self.motion))
        action[self.motion] = self.speed * action[self.motion] + self.noise
        return np.clip(action, -1.0, 1.0).astype(np.float32)


def contact_mix_policy(env: MujocoTwinEnv) -> PolicyFactory:
    """The ``contact-mix`` kind's builder: ``seed -> ContactMix``."""
    make_expert(env)  # an env without an expert fails now, not mid-rollout
    return lambda seed: ContactMix(env, seed)
