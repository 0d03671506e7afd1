"""``DiffusersCosmos3`` on the CPU with diffusers' own preprocessing (no GPU, no weights, no transformers).

The installed diffusers' ``pipeline_cosmos3_omni.py`` is read as source and its ``CosmosActionCondition``
(with its validation and domain tables) and ``Cosmos3OmniPipeline._prepare_action_video_conditioning``
(tier canvas, resize, pad) run as written; only the model is stood in for. What our backend hands the
pipeline must reach the model as pixels in [-1, 1], the range diffusers' image processor produces for
PIL input (numpy input is mapped with 2x - 1 as if it were floats in [0, 1]).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from fake_cosmos3_server import blocks
from upstream import load_definitions

from cosmos3_gym import load_embodiment
from cosmos3_gym.backends import DiffusersCosmos3

diffusers = pytest.importorskip("diffusers", reason="diffusers >= 0.39 (the [test] extra) runs the preprocessing")
PIPELINE_NAMES = [
    "_ACTION_RESOLUTION_BINS",
    "_EMBODIMENT_TO_DOMAIN_ID",
    "_EMBODIMENT_TO_RAW_ACTION_DIM",
    "CosmosActionCondition",
    "_prepare_action_video_conditioning",
]


@pytest.fixture(scope="module")
def pipeline_source() -> dict[str, Any]:
    """The installed diffusers' Cosmos3 definitions, executed from its source file."""
    from diffusers.video_processor import VideoProcessor
    from PIL import Image

    spec = importlib.util.find_spec("diffusers")
    path = Path(next(iter(spec.submodule_search_locations))) / "pipelines/cosmos/pipeline_cosmos3_omni.py"
    if not path.is_file():
        pytest.skip(f"diffusers {diffusers.__version__} has no Cosmos3OmniPipeline (needs >= 0.39)")
    ns = {"dataclass": dataclass, "Literal": Literal, "Any": Any, "torch": torch, "F": F, "np": np}
    return load_definitions(
        path.read_text(), str(path), PIPELINE_NAMES, {**ns, "Image": Image, "VideoProcessor": VideoProcessor}
    )


class StandInPipeline:
    """``Cosmos3OmniPipeline`` without the model: its real conditioning preprocessing, constant outputs."""

    source: dict[str, Any] = {}

    def __init__(self) -> None:
        from diffusers import UniPCMultistepScheduler
        from diffusers.video_processor import VideoProcessor

        self.scheduler = UniPCMultistepScheduler()
        self.video_processor = VideoProcessor(vae_scale_factor=16, resample="bilinear")  # as the pipeline's __init__
        self.calls: list[dict[str, Any]] = []

    @classmethod
    def from_pretrained(cls, model_id: str, torch_dtype: torch.dtype) -> StandInPipeline:
        return cls()

    def to(self, device: str) -> StandInPipeline:
        return self

    def __call__(self, *, prompt: str, action: Any, output_type: str, **kw: Any) -> SimpleNamespace:
        clip = [action.image] if action.image is not None else action.video  # as __call__ / prepare_latents
        prepare = self.source["_prepare_action_video_conditioning"]
        frames, image_size, _, _ = prepare(
            self, clip, action.resolution_tier, action.chunk_size + 1, "cpu", torch.float32
        )
        self.calls.append({"action": action, "frames": frames, "image_size": image_size.tolist(), **kw})
        h, w = (max(16, int(v) // 16 * 16) for v in image_size[2:])  # the output tracks the content
        video = np.full((1, action.chunk_size + 1, h, w, 3), 0.5, np.float32)  # "np": floats in [0, 1]
        out = None if action.mode == "forward_dynamics" else [torch.zeros(action.chunk_size, action.raw_action_dim)]
        return SimpleNamespace(video=video, action=out)


@pytest.fixture()
def backend(pipeline_source, monkeypatch) -> DiffusersCosmos3:
    monkeypatch.setattr(StandInPipeline, "source", pipeline_source)
    monkeypatch.setattr(diffusers, "Cosmos3OmniPipeline", StandInPipeline)
    monkeypatch.setattr(diffusers, "CosmosActionCondition", pipeline_source["CosmosActionCondition"])
    monkeypatch.setattr(diffusers.utils, "is_transformers_available", lambda: True)
    return DiffusersCosmos3("franka", device="cpu")


def _assert_pixels_as_diffusers_expects(frames: torch.Tensor, clip: np.ndarray) -> None:
    """Pipeline input ``(1, 3, T, H_canvas, W_canvas)`` vs our ``(T, h, w, 3)`` uint8 frames (not rescaled)."""
    assert float(frames.min()) >= -1.0 and float(frames.max()) <= 1.0
    t, h, w, _ = clip.shape
    want = torch.from_numpy(clip).permute(3, 0, 1, 2).float() / 127.5 - 1.0
    torch.testing.assert_close(frames[0, :, :t, :h, :w], want, atol=1e-5, rtol=0)


def test_conditioning_frames_reach_the_model_in_minus_one_to_one(backend):
    emb = load_embodiment("franka")
    img = blocks(64, 64)
    video = backend.forward_dynamics(img, np.zeros((16, 10)), "Lift the cube.")
    clip = np.stack([blocks(64, 64, i) for i in range(17)])
    backend.inverse_dynamics(clip, "Lift the cube.")
    raw, _ = backend.policy(img, "Lift the cube.")
    fd, idm, pol = backend.pipe.calls
    for call, frames in ((fd, img[None]), (idm, clip), (pol, img[None])):
        _assert_pixels_as_diffusers_expects(call["frames"], frames)
        assert call["image_size"] == [256.0, 256.0, 64.0, 64.0]  # 256 tier canvas, frame not rescaled
    assert (fd["action"].mode, fd["action"].raw_action_dim, fd["action"].domain_name) == (
        "forward_dynamics",
        10,
        emb.domain_name,
    )
    torch.testing.assert_close(
        fd["action"].raw_actions, torch.as_tensor(emb.normalize(np.zeros((16, 10))), dtype=torch.float32)
    )
    assert (fd["fps"], fd["num_inference_steps"], fd["use_system_prompt"]) == (emb.fps, 30, False)
    assert video.shape == (17, 64, 64, 3) and video.dtype == np.uint8 and raw.shape == (16, 10)


def test_the_old_numpy_path_is_what_goes_wrong(pipeline_source):
    """The contrast that makes the test above meaningful: uint8 numpy through the same code leaves [-1, 1]."""
    pipe = StandInPipeline()
    prepare = pipeline_source["_prepare_action_video_conditioning"]
    frames, *_ = prepare(pipe, [blocks(64, 64)], 256, 17, "cpu", torch.float32)
    assert float(frames.max()) > 400.0  # 2 · 255 − 1 = 509 for the brightest pixels
