"""The vLLM-Omni ``/v1/videos`` request for Cosmos3 action modes (contract §5.3), as plain data.

Form fields: ``prompt``, ``num_frames`` (= chunk + 1), ``fps``, ``num_inference_steps``,
``guidance_scale``, ``flow_shift``, ``seed`` (+ ``model`` when set), and ``extra_params`` = a JSON
string with ``action_mode``, ``domain_name``, ``action_chunk_size``, ``raw_action_dim`` (policy /
inverse dynamics), ``action`` (forward dynamics only: model space, raw width, not padded — the server
pads to 64), ``image_size``, ``view_point``, ``guardrails``.

No ``size``: vLLM-Omni 0.30.0 uses a given size as the canvas as is (floored to multiples of 16, so a
640×540 DROID view comes back 528 high) and ignores ``image_size``; without it the server picks the
``image_size`` tier's canvas closest in aspect (:func:`action_canvas`), as NVIDIA's notebooks rely on.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np

from cosmos3_gym.backends.actions import MODES
from cosmos3_gym.tokens import Embodiment

#: The view point each domain's training data used (contract §2.1–2.6; UMI's cookbook sends
#: ``ego_view``). vLLM-Omni ignores the field in the version read (§8.8); the framework CLI uses it.
DOMAIN_VIEW_POINTS = {
    "droid_lerobot": "concat_view",
    "robomind-franka": "concat_view",
    "robomind-ur": "third_person_view",
    "bridge_orig_lerobot": "ego_view",
    "agibotworld": "concat_view",
    "umi": "wrist_view",
    "fractal": "ego_view",
}
#: flow_shift per mode: NVIDIA's FD/ID examples use 10.0; vLLM-Omni's action default and its policy
#: notebook use 5.0 (contract §5.2–5.3).
DEFAULT_FLOW_SHIFT = {"forward_dynamics": 10.0, "inverse_dynamics": 10.0, "policy": 5.0}
#: Canvases ``(W, H)`` of each ``image_size`` tier (contract §3 step 4; vLLM-Omni 0.30.0
#: ``diffusion/models/cosmos3/utils.py::VIDEO_RES_SIZE_INFO``, diffusers' ``_ACTION_RESOLUTION_BINS``).
ACTION_CANVASES: dict[int, tuple[tuple[int, int], ...]] = {
    256: ((256, 256), (320, 256), (256, 320), (320, 192), (192, 320)),
    480: ((640, 640), (736, 544), (544, 736), (832, 480), (480, 832)),
    704: ((960, 960), (1088, 832), (832, 1088), (1280, 704), (704, 1280)),
    720: ((960, 960), (1104, 832), (832, 1104), (1280, 720), (720, 1280)),
}
#: Resolution tiers of the action canvas (contract §3 step 4, §5.2).
IMAGE_SIZE_TIERS = tuple(ACTION_CANVASES)
#: Request bounds of vLLM-Omni's ``VideoGenerationRequest`` (``protocol/videos.py``); past them the
#: server rejects the job, so they are checked here, before anything is sent.
MAX_INFERENCE_STEPS = 200
MAX_GUIDANCE_SCALE = 20.0


@dataclass(frozen=True)
class ActionCanvas:
    """Where a conditioning frame lands on the server's action canvas (pixels).

    The frame is downscaled (never upscaled) to ``content_h × content_w`` and padded at the bottom and
    right to ``canvas_h × canvas_w``; the generated clip has the canvas size, its content in the top-left.
    """

    height: int
    width: int
    canvas_h: int
    canvas_w: int
    content_h: int
    content_w: int

    @property
    def rescaled(self) -> bool:
        """True when the server resizes the frame (it is larger than the canvas): content ≠ frame size."""
        return (self.content_h, self.content_w) != (self.height, self.width)


def action_canvas(height: int, width: int, image_size: int) -> ActionCanvas:
    """The canvas of a ``height × width`` frame at tier ``image_size``: the tier's canvas closest in aspect
    ratio (first one on ties), and the content size ``int(scale · side + 0.5)`` with ``scale = min(canvas /
    frame, 1)``, as vLLM-Omni's ``find_closest_target_size`` + ``_resize_and_pad_action_image`` compute it."""
    if image_size not in ACTION_CANVASES:
        raise ValueError(f"image_size must be one of the tiers {IMAGE_SIZE_TIERS}, got {image_size}")
    if height < 1 or width < 1:
        raise ValueError(f"frame size must be positive, got {height}x{width} (HxW)")
    ratio = height / width
    canvas_w, canvas_h = min(ACTION_CANVASES[image_size], key=lambda wh: abs(ratio - wh[1] / wh[0]))
    scale = min(canvas_w / width, canvas_h / height, 1.0)
    content_h, content_w = max(1, int(scale * height + 0.5)), max(1, int(scale * width + 0.5))
    return ActionCanvas(int(height), int(width), canvas_h, canvas_w, content_h, content_w)


@dataclass(frozen=True)
class SamplingConfig:
    """Sampling settings of every request (framework inference defaults, contract §1.2).

    ``fps`` None → the embodiment's fps; ``view_point`` None → :data:`DOMAIN_VIEW_POINTS`;
    ``flow_shift`` None → :data:`DEFAULT_FLOW_SHIFT` of the mode; ``model`` None → the server's.
    """

    num_inference_steps: int = 30
    guidance_scale: float = 1.0
    flow_shift: float | None = None
    seed: int = 0
    image_size: int = 256
    fps: int | None = None
    view_point: str | None = None
    guardrails: bool = False
    model: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.num_inference_steps <= MAX_INFERENCE_STEPS:
            raise ValueError(
                f"num_inference_steps must be in [1, {MAX_INFERENCE_STEPS}] (the server's bound), "
                f"got {self.num_inference_steps}"
            )
        if not 0.0 <= self.guidance_scale <= MAX_GUIDANCE_SCALE:
            raise ValueError(
                f"guidance_scale must be in [0, {MAX_GUIDANCE_SCALE:g}] (the server's bound), got {self.guidance_scale}"
            )
        if self.flow_shift is not None and not (math.isfinite(self.flow_shift) and self.flow_shift > 0):
            raise ValueError(f"flow_shift must be a finite number > 0, got {self.flow_shift}")
        if self.image_size not in IMAGE_SIZE_TIERS:
            raise ValueError(f"image_size must be one of the tiers {IMAGE_SIZE_TIERS}, got {self.image_size}")
        if self.fps is not None and self.fps < 1:
            raise ValueError(f"fps must be >= 1, got {self.fps}")


def build_form(
    emb: Embodiment,
    mode: str,
    prompt: str,
    chunk: int,
    sampling: SamplingConfig,
    model_actions: np.ndarray | None = None,
    seed: int | None = None,
) -> dict[str, str]:
    """Multipart form fields (all strings) of one request.

    Args:
        mode: ``policy`` | ``forward_dynamics`` | ``inverse_dynamics``.
        chunk: action rows T; the clip has T + 1 frames.
        model_actions: forward dynamics only, model space ``(T, raw_action_dim)``.
        seed: overrides ``sampling.seed`` for this request.
    """
    if mode not in MODES:
        raise ValueError(f"action_mode must be one of {MODES}, got {mode!r}")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError("prompt must be a non-empty string (the server requires it)")
    if chunk < 1:
        raise ValueError(f"action_chunk_size must be >= 1, got {chunk}")
    extra: dict[str, object] = {"action_mode": mode, "domain_name": emb.domain_name, "action_chunk_size": int(chunk)}
    if mode == "forward_dynamics":
        if model_actions is None:
            raise ValueError("forward_dynamics needs the action chunk (model space)")
        x = np.asarray(model_actions, dtype=np.float64)
        if x.shape != (chunk, emb.raw_action_dim) or not np.all(np.isfinite(x)):
            raise ValueError(
                f"{emb.name}: FD actions must be finite, shape ({chunk}, {emb.raw_action_dim}) "
                f"(raw width, not padded), got {x.shape}"
            )
        extra["action"] = x.tolist()
    elif model_actions is not None:
        raise ValueError(f"only forward_dynamics sends an action chunk, not {mode}")
    else:
        extra["raw_action_dim"] = emb.raw_action_dim
    extra["image_size"] = sampling.image_size
    extra["view_point"] = sampling.view_point or DOMAIN_VIEW_POINTS.get(emb.domain_name, "ego_view")
    extra["guardrails"] = bool(sampling.guardrails)
    shift = sampling.flow_shift if sampling.flow_shift is not None else DEFAULT_FLOW_SHIFT[mode]
    form = {
        "prompt": prompt,
        "num_frames": str(chunk + 1),
        "fps": str(sampling.fps or emb.fps),
        "num_inference_steps": str(sampling.num_inference_steps),
        "guidance_scale": repr(float(sampling.guidance_scale)),
        "flow_shift": repr(float(shift)),
        "seed": str(int(sampling.seed if seed is None else seed)),
        "extra_params": json.dumps(extra),
    }
    if sampling.model:
        form["model"] = sampling.model
    return form
