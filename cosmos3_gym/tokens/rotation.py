"""Rotation and rigid-transform helpers used by the Cosmos3 action contract.

All functions are numpy, float64, and accept arbitrary leading batch dimensions.
rot6d follows Cosmos3's `convert_rotation`: ``[R00, R10, R20, R01, R11, R21]``, i.e. rotation
column 0 then column 1 (not the row-major variant used by some other codebases).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "axis_angle_to_matrix",
    "invert",
    "make_transform",
    "matrix_to_axis_angle",
    "matrix_to_rot6d",
    "rot6d_to_matrix",
    "rotation_angle",
]


def matrix_to_rot6d(rot: np.ndarray) -> np.ndarray:
    """Rotation matrices ``(..., 3, 3)`` → rot6d ``(..., 6)``: column 0 then column 1."""
    return np.concatenate([rot[..., :, 0], rot[..., :, 1]], axis=-1)


def rot6d_to_matrix(r6: np.ndarray, orthonormalize: bool = True) -> np.ndarray:
    """rot6d ``(..., 6)`` → rotation matrices ``(..., 3, 3)``.

    With ``orthonormalize`` (default) the two columns are Gram-Schmidt projected onto SO(3), which a
    model's output needs; on an exact rot6d it changes nothing beyond float rounding. Without it the
    decode is Cosmos3's plain one: col2 = col0 × col1.
    """
    a, b = r6[..., 0:3], r6[..., 3:6]
    if orthonormalize:
        # sqrt(sum(x*x)) and the component cross product are what np.linalg.norm / np.cross compute,
        # minus their per-call overhead, which dominated this function in the per-step simulator.
        a = a / np.maximum(np.sqrt(np.sum(a * a, axis=-1, keepdims=True)), 1e-12)
        b = b - np.sum(a * b, axis=-1, keepdims=True) * a
        b = b / np.maximum(np.sqrt(np.sum(b * b, axis=-1, keepdims=True)), 1e-12)
    a0, a1, a2 = a[..., 0], a[..., 1], a[..., 2]
    b0, b1, b2 = b[..., 0], b[..., 1], b[..., 2]
    out = np.empty((*a.shape, 3), dtype=np.result_type(a, b))  # columns a, b, a × b (filled in place)
    out[..., 0], out[..., 1] = a, b
    out[..., 0, 2] = a1 * b2 - a2 * b1
    out[..., 1, 2] = a2 * b0 - a0 * b2
    out[..., 2, 2] = a0 * b1 - a1 * b0
    return out


def make_transform(rot: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Rotation ``(..., 3, 3)`` and translation ``(..., 3)`` → homogeneous ``(..., 4, 4)``."""
    batch = np.broadcast_shapes(rot.shape[:-2], pos.shape[:-1])
    out = np.zeros((*batch, 4, 4), dtype=np.float64)
    out[..., :3, :3] = rot
    out[..., :3, 3] = pos
    out[..., 3, 3] = 1.0
    return out


def invert(tf: np.ndarray) -> np.ndarray:
    """Rigid inverse of ``(..., 4, 4)`` transforms (uses Rᵀ, never a general matrix inverse)."""
    rot_t = np.swapaxes(tf[..., :3, :3], -1, -2)
    return make_transform(rot_t, -np.einsum("...ij,...j->...i", rot_t, tf[..., :3, 3]))


def axis_angle_to_matrix(rotvec: np.ndarray) -> np.ndarray:
    """Rotation vectors ``(..., 3)`` (axis × angle, rad) → matrices ``(..., 3, 3)`` (Rodrigues)."""
    theta = np.linalg.norm(rotvec, axis=-1, keepdims=True)
    small = theta < 1e-9
    axis = rotvec / np.where(small, 1.0, theta)
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    zero = np.zeros_like(x)
    k = np.stack([zero, -z, y, z, zero, -x, -y, x, zero], axis=-1).reshape(*rotvec.shape[:-1], 3, 3)
    s, c = np.sin(theta)[..., None], np.cos(theta)[..., None]
    eye = np.broadcast_to(np.eye(3), k.shape)
    rot = eye + s * k + (1.0 - c) * (k @ k)
    # First-order fallback keeps tiny rotations exact to float precision.
    k_small = np.stack(
        [
            zero,
            -rotvec[..., 2],
            rotvec[..., 1],
            rotvec[..., 2],
            zero,
            -rotvec[..., 0],
            -rotvec[..., 1],
            rotvec[..., 0],
            zero,
        ],
        axis=-1,
    ).reshape(k.shape)
    return np.where(small[..., None], eye + k_small, rot)


def matrix_to_axis_angle(rot: np.ndarray) -> np.ndarray:
    """Rotation matrices ``(..., 3, 3)`` → rotation vectors ``(..., 3)`` (rad), angle in [0, π]."""
    angle = rotation_angle(rot)
    vee = 0.5 * np.stack(
        [rot[..., 2, 1] - rot[..., 1, 2], rot[..., 0, 2] - rot[..., 2, 0], rot[..., 1, 0] - rot[..., 0, 1]], axis=-1
    )
    sin = np.sin(angle)[..., None]
    out = np.where(sin > 1e-6, vee * (angle[..., None] / np.where(sin > 1e-6, sin, 1.0)), vee)
    # Near π the skew part vanishes; recover the axis from the symmetric part instead.
    near_pi = (np.pi - angle) < 1e-3
    if np.any(near_pi):
        sym = (rot + np.swapaxes(rot, -1, -2)) / 2.0 - np.eye(3) * np.cos(angle)[..., None, None]
        diag_idx = np.argmax(np.diagonal(sym, axis1=-2, axis2=-1), axis=-1)
        col = np.take_along_axis(sym, diag_idx[..., None, None].repeat(3, -2), axis=-1)[..., 0]
        axis = col / np.maximum(np.linalg.norm(col, axis=-1, keepdims=True), 1e-12)
        sign = np.where(np.sum(axis * vee, axis=-1, keepdims=True) < 0, -1.0, 1.0)
        out = np.where(near_pi[..., None], sign * axis * angle[..., None], out)
    return out


def rotation_angle(rot: np.ndarray) -> np.ndarray:
    """Geodesic angle (rad) of rotation matrices ``(..., 3, 3)``, robust near 0 and π."""
    cos = (np.trace(rot, axis1=-2, axis2=-1) - 1.0) / 2.0
    vee = 0.5 * np.stack(
        [rot[..., 2, 1] - rot[..., 1, 2], rot[..., 0, 2] - rot[..., 2, 0], rot[..., 1, 0] - rot[..., 0, 1]], axis=-1
    )
    return np.arctan2(np.linalg.norm(vee, axis=-1), np.clip(cos, -1.0, 1.0))
