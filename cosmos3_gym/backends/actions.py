"""Action chunks between the agent, the Cosmos3 contract and a served model's JSON.

* :func:`native_chunk_to_raw` — a chunk of native actions ``(T, A)`` from a TCP pose → raw Cosmos3
  rows ``(T, D)``, composing each step's delta onto the previous *commanded* pose exactly as
  :class:`~cosmos3_gym.sim.controller.EEDeltaController` composes it onto the measured one.
* :func:`raw_chunk_to_native` — the inverse for policy outputs (see its docstring for what it
  approximates).
* :func:`parse_action` — the completed job's ``action`` object → validated model-space ``(T, D)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cosmos3_gym.backends.errors import RemoteProtocolError
from cosmos3_gym.tokens import Embodiment
from cosmos3_gym.tokens.native import NativeActionMap
from cosmos3_gym.tokens.rotation import matrix_to_axis_angle

MODES = ("policy", "forward_dynamics", "inverse_dynamics")


def check_tcp(emb: Embodiment, tcp: object) -> np.ndarray:
    """Validate the controlled arms' TCP poses ``(arms, 4, 4)`` (base frame, metres)."""
    arms = len(emb.spec.action.arms)
    arr = np.asarray(tcp, dtype=np.float64)
    if arr.shape != (arms, 4, 4) or not np.all(np.isfinite(arr)):
        raise ValueError(
            f"{emb.name}: tcp must be finite TCP poses of shape ({arms}, 4, 4) (one per controlled "
            f"arm: {[a.end_effector for a in emb.spec.action.arms]}), got {arr.shape}"
        )
    return arr


def native_chunk_to_raw(emb: Embodiment, tcp: np.ndarray, native: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Native chunk → raw Cosmos3 rows and the commanded TCP trajectory.

    Args:
        tcp: current arm TCP poses ``(arms, 4, 4)``.
        native: ``(T, 7·arms)``, clipped to ``[-1, 1]`` like the controller does.
    Returns:
        raw ``(T, raw_action_dim)``; commanded poses ``(T+1, arms, 4, 4)`` (row 0 = ``tcp``).
        Pose blocks no arm moves (AgiBot head camera) get zero-motion rows.
    """
    amap = NativeActionMap(emb)
    cur = check_tcp(emb, tcp)
    native = np.asarray(native, dtype=np.float64)
    if native.ndim != 2 or native.shape[1] != emb.native_action_dim or native.shape[0] < 1:
        raise ValueError(
            f"{emb.name}: native chunk must have shape (T >= 1, {emb.native_action_dim}), got {native.shape}"
        )
    rows, poses = [], [cur]
    for a in np.clip(native, -1.0, 1.0):
        cur, raw_row = amap.command(cur, a)
        rows.append(raw_row)
        poses.append(cur)
    return np.stack(rows), np.stack(poses)


def raw_chunk_to_native(emb: Embodiment, tcp: np.ndarray, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Raw Cosmos3 rows (e.g. a policy's output) → a native chunk that replays them from ``tcp``.

    The model's rows define absolute targets ``T_{k+1} = T_k · ΔT_k`` (contract frames, composed by
    :meth:`Embodiment.actions_to_poses` from ``tcp``). Native action k moves the *commanded* pose
    ``C_k`` toward ``T_{k+1}``: ``d = (p_T − p_C) / max_translation_m``, ``r = log(R_T · R_Cᵀ) /
    max_rotation_rad`` (base frame, the controller's convention), clipped to ``[-1, 1]``; then
    ``C_{k+1}`` is the controller's commanded pose for that clipped action.

    Approximations (documented, not hidden):
      * Inside the action box the replay reproduces the model's poses exactly (to float rounding);
        a row asking for more than one step's reach is clipped and later steps catch up on the
        absolute target (pursuit), instead of re-applying the model's frame-relative delta at a pose
        it never reached.
      * Open loop: the real controller starts each step from the *measured* TCP pose, so IK tracking
        error (and contacts) make the executed trajectory deviate from the commanded one.
      * Pose blocks no arm controls (AgiBot head camera) have no native action; their motion is dropped.
      * Gripper: Cosmos3 value (open fraction, UMI width in m) → ``2·frac − 1``, clipped.

    Returns:
        native ``(T, 7·arms)`` in ``[-1, 1]``; commanded poses ``(T+1, arms, 4, 4)``.
    """
    amap = NativeActionMap(emb)
    cur = check_tcp(emb, tcp)
    raw = np.asarray(raw, dtype=np.float64)
    if raw.ndim != 2 or raw.shape[1] != emb.raw_action_dim or raw.shape[0] < 1:
        raise ValueError(f"{emb.name}: raw chunk must have shape (T >= 1, {emb.raw_action_dim}), got {raw.shape}")
    start = np.broadcast_to(np.eye(4), (emb.num_poses, 4, 4)).copy()
    for arm, block in enumerate(amap.arm_block):
        start[block] = cur[arm]
    targets = emb.actions_to_poses(raw, start if emb.num_poses > 1 else start[0])
    targets = targets if emb.num_poses > 1 else targets[:, None]  # (T+1, P, 4, 4)
    grip = emb.gripper_from_actions(raw)
    grip = grip[:, None] if grip.ndim == 1 else grip  # (T, G)
    native = np.empty((raw.shape[0], amap.num_arms, 7))
    poses = [cur]
    for k in range(raw.shape[0]):
        for arm, block in enumerate(amap.arm_block):
            goal = targets[k + 1, block]
            native[k, arm, :3] = (goal[:3, 3] - cur[arm, :3, 3]) / amap.max_t
            native[k, arm, 3:6] = matrix_to_axis_angle(goal[:3, :3] @ cur[arm, :3, :3].T) / amap.max_r
            native[k, arm, 6] = amap.gripper_from_cosmos3(grip[k, amap.gripper_slot[arm]], arm)
        native[k] = np.clip(native[k], -1.0, 1.0)
        cur = amap.commanded_poses(cur, native[k].reshape(-1))
        poses.append(cur)
    return native.reshape(raw.shape[0], -1), np.stack(poses)


def parse_action(emb: Embodiment, job: dict[str, Any], mode: str, chunk: int) -> np.ndarray:
    """The completed job's ``action`` object → model-space actions ``(chunk, raw_action_dim)``.

    Every mode has one: policy / ID the predicted rows, forward dynamics the conditioning rows as the
    model saw them (vLLM-Omni 0.30.0 returns them in the model's dtype, bf16). A missing object means the
    server never took the action path (it did not read ``extra_params``) and ran plain image-to-video.

    Checks (each failure raises :class:`RemoteProtocolError` naming the field, the value and what was
    expected): ``action`` present; ``data`` numeric, finite and of ``shape``; shape == ``(chunk,
    raw_action_dim)``; ``action_mode`` and ``domain_id`` present and equal to the request's;
    ``raw_action_dim`` (when present) equal to it.
    """
    where = f"job {job.get('id', '?')!r}"
    action = job.get("action")
    if not isinstance(action, dict):
        raise RemoteProtocolError(
            f"{where}: completed {mode} job has no 'action' object (got {type(action).__name__}): the server "
            "ignored extra_params and ran plain video generation (a vLLM-Omni without Cosmos3 action modes?)"
        )
    want = (chunk, emb.raw_action_dim)
    try:
        data = np.asarray(action.get("data"), dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise RemoteProtocolError(f"{where}: action.data is not a numeric array ({err})") from None
    shape = action.get("shape")
    if shape is not None:
        if not isinstance(shape, list) or not all(isinstance(s, int) for s in shape):
            raise RemoteProtocolError(f"{where}: action.shape must be a list of ints, got {shape!r}")
        if data.size == int(np.prod(shape)) and data.ndim == 1 and len(shape) == 2:
            data = data.reshape(shape)  # tolerate a flat data list with its shape
        if tuple(shape) != data.shape:
            raise RemoteProtocolError(f"{where}: action.shape {shape} disagrees with action.data of shape {data.shape}")
    if data.shape != want:
        raise RemoteProtocolError(
            f"{where}: action has shape {data.shape}, expected {want} "
            f"(action_chunk_size, raw_action_dim of {emb.domain_name!r})"
        )
    if not np.all(np.isfinite(data)):
        raise RemoteProtocolError(f"{where}: action.data contains NaN or inf")
    for key, expected in (("action_mode", mode), ("domain_id", emb.domain_id)):
        if action.get(key) is None:
            raise RemoteProtocolError(f"{where}: action.{key} is missing; expected {expected!r} ({emb.domain_name!r})")
    checks = (("raw_action_dim", emb.raw_action_dim), ("domain_id", emb.domain_id), ("action_mode", mode))
    for key, expected in checks:
        got = action.get(key)
        if got is not None and got != expected:
            raise RemoteProtocolError(
                f"{where}: action.{key} = {got!r}, expected {expected!r} "
                f"(embodiment {emb.name!r}, domain {emb.domain_name!r})"
            )
    return data
