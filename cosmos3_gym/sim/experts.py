"""Scripted experts for Reach, Push and Lift that work on every embodiment without per-robot code.

Each expert reads only the observation (through ``env.layout``) and the embodiment spec (workspace,
action scales, arm count). It is a proportional controller of the first arm's TCP in the base frame:
a desired displacement ``Δp`` (m) becomes the native action ``Δp / max_translation_m``, scaled down as a
vector so the largest component is at most 1 (keeps the direction). The orientation is held at the
TCP's orientation at reset (rotation feedback ``log(R* Rᵀ) / max_rotation_rad``, so drift cannot pile up);
only the Lift expert turns it about the base z axis to square the fingers with the cube. Other arms
(AgiBot's left arm) get zero motion with the gripper open. Experts are deterministic functions of the
observation and their internal phase.
"""

from __future__ import annotations

import numpy as np

from cosmos3_gym.tokens.rotation import axis_angle_to_matrix, matrix_to_axis_angle, rot6d_to_matrix

#: Proportional gain on position errors (fraction of the error commanded per control step).
GAIN = 1.0
#: Gripper commands (native): open / closed.
OPEN, CLOSED = 1.0, -1.0


def _yaw_of(rot: np.ndarray, axis: int) -> float:
    """Heading (rad) of column ``axis`` of a rotation matrix projected onto the base xy plane."""
    return float(np.arctan2(rot[1, axis], rot[0, axis]))


def _wrap(angle: float, period: float) -> float:
    """Wrap ``angle`` into ``[-period/2, period/2)``."""
    return float((angle + period / 2) % period - period / 2)


class _Expert:
    """Shared machinery: observation access, orientation hold, action assembly."""

    def __init__(self, env) -> None:
        spec = env.emb.spec
        self.layout = env.layout
        self.ws = spec.workspace
        self.max_t = spec.action.max_translation_m
        self.max_r = spec.action.max_rotation_rad
        self.dim = int(env.action_space.shape[0])
        self.num_arms = self.dim // 7
        self.rot_ref = np.eye(3)
        self.yaw_axis = 0

    # -- observation helpers --------------------------------------------------------------------------
    def tcp(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        return self.layout.arm(obs["observation"], "tcp_pos", 0)

    def tcp_rot(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        return rot6d_to_matrix(self.layout.arm(obs["observation"], "tcp_rot6d", 0))

    def cube(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        return self.layout.get(obs["observation"], "cube_pos")

    def width(self, obs: dict[str, np.ndarray]) -> float:
        return float(self.layout.arm(obs["observation"], "gripper_width", 0)[0])

    def tcp_yaw(self, obs: dict[str, np.ndarray]) -> float:
        """TCP heading relative to reset (rad), measured on the TCP axis most horizontal at reset."""
        return _wrap(_yaw_of(self.tcp_rot(obs), self.yaw_axis) - _yaw_of(self.rot_ref, self.yaw_axis), 2 * np.pi)

    # -- episode -------------------------------------------------------------------------------------
    def reset(self, obs: dict[str, np.ndarray]) -> None:
        self.rot_ref = self.tcp_rot(obs)
        # The axis with the smallest vertical component gives the best-conditioned heading.
        self.yaw_axis = int(np.argmin(np.abs(self.rot_ref[2, :])))
        self._reset(obs)

    def _reset(self, obs: dict[str, np.ndarray]) -> None:
        """Task-specific phase reset."""

    def action(self, obs: dict[str, np.ndarray], delta: np.ndarray, gripper: float, yaw: float = 0.0) -> np.ndarray:
        """Native action ``(dim,)`` float32: move the task arm's TCP by ``delta`` (m, base frame) towards
        the reset orientation turned by ``yaw`` (rad) about base z; other arms hold with grippers open."""
        a = np.zeros(self.dim, dtype=np.float64)
        move = GAIN * np.asarray(delta, dtype=np.float64) / self.max_t
        a[:3] = move / max(1.0, float(np.max(np.abs(move))))
        target = axis_angle_to_matrix(np.array([0.0, 0.0, yaw])) @ self.rot_ref
        rot = matrix_to_axis_angle(target @ self.tcp_rot(obs).T) / self.max_r
        a[3:6] = rot / max(1.0, float(np.max(np.abs(rot))))
        a[6] = gripper
        for arm in range(1, self.num_arms):
            a[7 * arm + 6] = OPEN
        return a.astype(np.float32)


class ReachExpert(_Expert):
    """Move the TCP straight to the goal, gripper open."""

    def __call__(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        return self.action(obs, obs["desired_goal"] - self.tcp(obs), OPEN)


class PushExpert(_Expert):
    """Fetch-style push: get behind the cube on the goal→cube line, down at the cube, then push.

    Phases: ``approach`` (above the pre-push point, then down) and ``push`` (advance along the line by the
    cube's remaining error, correcting sideways drift). Falls back to ``approach`` if the TCP loses the
    line. Fingers are closed so the gripper is a compact pusher.
    """

    #: TCP distance (m) behind the cube face at the pre-push point (room for the closed fingers).
    CLEARANCE = 0.03
    #: Height (m) above the cube centre at which the TCP travels to the pre-push point.
    HOVER = 0.06
    #: TCP height above the table while pushing, in cube half-sizes.
    PUSH_HEIGHT = 1.5

    def _reset(self, obs: dict[str, np.ndarray]) -> None:
        self.phase = "approach"

    def __call__(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        tcp, cube, goal = self.tcp(obs), self.cube(obs), obs["desired_goal"]
        half = self.ws.cube_half_size
        to_goal = goal[:2] - cube[:2]
        dist = float(np.linalg.norm(to_goal))
        if dist < 1e-6:
            return self.action(obs, np.zeros(3), CLOSED)
        d = to_goal / dist
        rel = tcp[:2] - cube[:2]
        along, lateral = float(rel @ d), rel - float(rel @ d) * d
        # Push on the cube's upper half: finger pads reach below the grasp point and would drag on the table.
        push_z = self.ws.table_z + self.PUSH_HEIGHT * half
        if self.phase == "push" and (along > -half or np.linalg.norm(lateral) > 0.6 * half):
            self.phase = "approach"  # the cube slipped off the pusher: go around again
        if self.phase == "approach":
            pre = cube[:2] - d * (half + self.CLEARANCE)
            err_xy = pre - tcp[:2]
            hover_z = push_z + self.HOVER
            if np.linalg.norm(err_xy) > 0.01:
                # Travel high; rise first when low so the fingers do not sweep the cube.
                if tcp[2] < hover_z - 0.02 and np.linalg.norm(err_xy) > 0.02:
                    return self.action(obs, np.array([0.0, 0.0, hover_z - tcp[2]]), CLOSED)
                return self.action(obs, np.array([*err_xy, hover_z - tcp[2]]), CLOSED)
            if abs(tcp[2] - push_z) > 0.006:
                return self.action(obs, np.array([*err_xy, push_z - tcp[2]]), CLOSED)
            self.phase = "push"
        # Advance by the cube's remaining error; pull the TCP back onto the line behind the cube.
        step_xy = to_goal - lateral
        return self.action(obs, np.array([*step_xy, push_z - tcp[2]]), CLOSED)


class LiftExpert(_Expert):
    """Top-down grasp: above the cube with the fingers squared to it, descend, close, lift to the goal.

    Phases: ``above`` → ``descend`` → ``close`` (until the width stops shrinking) → ``lift`` (to the goal
    and hold). If the cube is lost while lifting, the gripper opens and the expert starts over.
    """

    #: Height (m) above the cube centre of the pre-grasp point.
    HOVER = 0.06
    #: Yaw alignment tolerance (rad) before descending.
    YAW_TOL = np.deg2rad(4.0)

    def _reset(self, obs: dict[str, np.ndarray]) -> None:
        self.phase, self.yaw, self.close_steps, self.last_width = "above", 0.0, 0, np.inf

    def cube_yaw_target(self, obs: dict[str, np.ndarray]) -> float:
        """TCP yaw (rel. to reset) nearest to the current one that squares the fingers with the cube."""
        cube_rot = rot6d_to_matrix(self.layout.get(obs["observation"], "cube_rot6d"))
        cur = self.tcp_yaw(obs)
        # A cube is 90°-symmetric: any heading congruent mod 90° grasps the same.
        return cur + _wrap(_yaw_of(cube_rot, 0) - cur, np.pi / 2)

    def __call__(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        tcp, cube, goal = self.tcp(obs), self.cube(obs), obs["desired_goal"]
        if self.phase in ("above", "descend"):
            self.yaw = self.cube_yaw_target(obs)
            yaw_ok = abs(self.tcp_yaw(obs) - self.yaw) < self.YAW_TOL
            err_xy = cube[:2] - tcp[:2]
            if self.phase == "above":
                above = cube + np.array([0.0, 0.0, self.HOVER])
                if np.linalg.norm(err_xy) < 0.01 and abs(above[2] - tcp[2]) < 0.02 and yaw_ok:
                    self.phase = "descend"
                else:
                    return self.action(obs, above - tcp, OPEN, self.yaw)
            if np.linalg.norm(err_xy) > 0.02:
                self.phase = "above"  # the cube moved away (bumped): re-approach
                return self.action(obs, cube + np.array([0.0, 0.0, self.HOVER]) - tcp, OPEN, self.yaw)
            if np.linalg.norm(cube - tcp) > 0.005:
                return self.action(obs, cube - tcp, OPEN, self.yaw)
            self.phase, self.close_steps, self.last_width = "close", 0, np.inf
        if self.phase == "close":
            width = self.width(obs)
            self.close_steps += 1
            # Closed when the fingers stopped moving (> 2 steps so the command has taken effect).
            if self.close_steps > 2 and self.last_width - width < 5e-4:
                self.phase = "lift"
            else:
                self.last_width = width
                return self.action(obs, np.zeros(3), CLOSED, self.yaw)
        if np.linalg.norm(cube - tcp) > 2 * self.ws.cube_half_size:
            self.phase = "above"  # dropped it: open and start over
            return self.action(obs, np.array([0.0, 0.0, self.HOVER]), OPEN, self.yaw)
        # Carry the cube (not the TCP) to the goal: the grasp point may sit a little off the cube centre.
        return self.action(obs, goal - cube, CLOSED, self.yaw)


_EXPERTS = {"reach": ReachExpert, "push": PushExpert, "lift": LiftExpert}


def make_expert(env) -> _Expert:
    """The scripted expert of an (unwrapped) :class:`~cosmos3_gym.sim.twin_env.MujocoTwinEnv`'s task."""
    name = env.task.name
    if name not in _EXPERTS:
        raise ValueError(f"no expert for task {name!r}; experts exist for: {', '.join(_EXPERTS)}")
    return _EXPERTS[name](env)
