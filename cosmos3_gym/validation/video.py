"""Side-by-side MP4: the MuJoCo twin's render (left) beside the model's predicted state (right)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cosmos3_gym.sim.twin_env import MujocoTwinEnv
from cosmos3_gym.validation.rollouts import PairedRun

#: Frame size of each half (pixels).
HEIGHT, WIDTH = 240, 320


def side_by_side_frames(env: MujocoTwinEnv, truth_qpos: np.ndarray, pred_qpos: np.ndarray) -> np.ndarray:
    """Frames ``(T, H, 2W + 4, 3)`` uint8 from qpos sequences ``(T, nq)`` of both sides (white divider)."""
    frames = []
    for qt, qp in zip(truth_qpos, pred_qpos, strict=True):
        left, right = env.render_qpos(qt), env.render_qpos(qp)
        frames.append(np.concatenate([left, np.full((left.shape[0], 4, 3), 255, np.uint8), right], axis=1))
    return np.stack(frames)


def write_video(path: Path, run: PairedRun, embodiment: str, task: str) -> str:
    """Render the recorded episodes (truth vs open-loop replay) one after another; returns the file name."""
    import imageio.v3 as iio

    if run.truth.qpos is None or run.open_loop.qpos is None:
        raise ValueError("no qpos were recorded for video (video episodes = 0)")
    env = MujocoTwinEnv(embodiment, task, height=HEIGHT, width=WIDTH)
    try:
        clips = []
        for e in range(len(run.truth.qpos)):
            n = int(run.truth.length[e]) + 1
            clip = side_by_side_frames(env, run.truth.qpos[e, :n], run.open_loop.qpos[e, :n])
            clips.append(np.concatenate([clip, np.zeros((3, *clip.shape[1:]), np.uint8)]))  # black gap
        iio.imwrite(path, np.concatenate(clips), fps=env.emb.fps, codec="libx264", macro_block_size=1)
    finally:
        env.close()
    return path.name
