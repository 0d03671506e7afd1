"""The demo: progress while it runs, and a video whose halves say which is physics and which the model."""

from __future__ import annotations

import numpy as np

from cosmos3_gym.demo import LABELS, run_demo, side_by_side


def test_video_frames_label_the_mujoco_and_the_model_half():
    gray = np.full((60, 200, 3), 128, np.uint8)
    frame = side_by_side(gray, gray)
    assert frame.shape == (60, 400, 3) and frame.dtype == np.uint8
    assert "MuJoCo" in LABELS[0] and "model" in LABELS[1]
    for half in (frame[:, :200], frame[:, 200:]):
        corner = half[:16, :100]
        assert (corner > 200).any() and (corner == 0).any()  # light text on a dark box
        np.testing.assert_array_equal(half[30:], gray[30:])  # the rest of the picture is untouched


def test_demo_shows_progress(tmp_path, capsys):
    result = run_demo("franka", "reach", out=tmp_path, video=False, progress=True)
    assert result.steps > 0 and "demo Cosmos3-Franka-Reach-v0" in capsys.readouterr().err
