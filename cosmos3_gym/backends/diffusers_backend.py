"""In-process Cosmos3 through Hugging Face Diffusers (``Cosmos3OmniPipeline``, diffusers >= 0.39, §5.2).

Never run on the real model: that needs a CUDA GPU and the ``nvidia/Cosmos3-Nano`` weights, which the
project's CI does not have. The call follows diffusers 0.39.0's ``pipeline_cosmos3_omni.py``; the tests
run it on the CPU with a stand-in pipeline and diffusers' real ``VideoProcessor``, which shows the
conditioning pixels reach the model in [-1, 1]. Normalization is the caller's job here too: actions go
in and come out in model space (§3).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cosmos3_gym.backends.media import check_frames, check_image
from cosmos3_gym.backends.protocol import DEFAULT_FLOW_SHIFT, DOMAIN_VIEW_POINTS, SamplingConfig
from cosmos3_gym.tokens import Embodiment, load_embodiment


def conditioning_media(image: np.ndarray | None = None, frames: np.ndarray | None = None) -> dict[str, Any]:
    """``CosmosActionCondition`` media: ``{"image": PIL}`` from ``(H, W, 3)`` uint8, or ``{"video": [PIL, ...]}``
    from ``(N, H, W, 3)`` uint8.

    PIL, not numpy: diffusers' image processor divides PIL pixels by 255 but maps numpy input straight
    with ``2x − 1``, assuming floats in [0, 1], so uint8 arrays would reach the model in [−1, 509].
    """
    from PIL import Image

    if (image is None) == (frames is None):
        raise ValueError("pass exactly one of image (policy / forward dynamics) or frames (inverse dynamics)")
    if image is not None:
        return {"image": Image.fromarray(check_image(image))}
    return {"video": [Image.fromarray(f) for f in check_frames(frames)]}


class DiffusersCosmos3:
    """Forward dynamics / inverse dynamics / policy with a local ``Cosmos3OmniPipeline``.

    Args:
        embodiment: shipped name, YAML path or :class:`Embodiment`.
        model_id: Hugging Face repo or local folder of the Diffusers checkpoint.
        device: torch device (CUDA required). sampling: steps, guidance, flow shift, seed, tier, view point.
    Raises:
        ImportError: diffusers (with Cosmos3 support), torch or a CUDA device is missing.
    """

    def __init__(
        self,
        embodiment: str | Embodiment,
        model_id: str = "nvidia/Cosmos3-Nano",
        *,
        device: str = "cuda",
        sampling: SamplingConfig | None = None,
    ) -> None:
        try:  # imported here so that the package never needs diffusers unless this class is used
            import diffusers
            import torch
        except ImportError as err:
            raise ImportError(
                "DiffusersCosmos3 needs torch and diffusers with Cosmos3 support "
                "(pip install -U diffusers transformers accelerate)"
            ) from err
        condition = getattr(diffusers, "CosmosActionCondition", None)
        if condition is None:
            try:
                from diffusers.pipelines.cosmos.pipeline_cosmos3_omni import CosmosActionCondition as condition
            except ImportError as err:
                raise ImportError(
                    f"diffusers {diffusers.__version__} has no Cosmos3OmniPipeline / "
                    "CosmosActionCondition; upgrade diffusers"
                ) from err
        if not diffusers.utils.is_transformers_available():  # without it the pipeline classes are dummies
            raise ImportError("diffusers' Cosmos3OmniPipeline needs transformers: pip install transformers")
        if str(device).startswith("cuda") and not torch.cuda.is_available():
            raise ImportError(
                "DiffusersCosmos3 needs a CUDA GPU (torch.cuda.is_available() is False); "
                "use RemoteCosmos3 against a served model instead"
            )
        self.torch, self._condition = torch, condition
        self.emb = embodiment if isinstance(embodiment, Embodiment) else load_embodiment(embodiment)
        self.sampling = sampling or SamplingConfig()
        pipe = diffusers.Cosmos3OmniPipeline.from_pretrained(model_id, torch_dtype=torch.bfloat16)
        self.pipe = pipe.to(device)
        self.device = device

    def _call(
        self, mode: str, prompt: str, chunk: int, media: dict[str, Any], raw: np.ndarray | None, seed: int | None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        from diffusers import UniPCMultistepScheduler

        s = self.sampling
        shift = s.flow_shift if s.flow_shift is not None else DEFAULT_FLOW_SHIFT[mode]
        self.pipe.scheduler = UniPCMultistepScheduler.from_config(
            self.pipe.scheduler.config, flow_shift=shift, use_karras_sigmas=False
        )
        actions = None if raw is None else self.torch.as_tensor(self.emb.normalize(raw), dtype=self.torch.float32)
        cond = self._condition(
            mode=mode,
            chunk_size=chunk,
            domain_name=self.emb.domain_name,
            resolution_tier=s.image_size,
            raw_actions=actions,
            view_point=s.view_point or DOMAIN_VIEW_POINTS.get(self.emb.domain_name, "ego_view"),
            **media,
        )
        gen = self.torch.Generator(device=self.device).manual_seed(int(s.seed if seed is None else seed))
        out = self.pipe(
            prompt=prompt,
            action=cond,
            fps=s.fps or self.emb.fps,
            num_inference_steps=s.num_inference_steps,
            guidance_scale=s.guidance_scale,
            use_system_prompt=False,
            generator=gen,
            output_type="np",
        )
        video = np.asarray(out.video)
        video = video[0] if video.ndim == 5 else video
        if video.dtype != np.uint8:  # "np" output is float in [0, 1]
            video = (np.clip(video, 0.0, 1.0) * 255.0).round().astype(np.uint8)
        model = None if out.action is None else out.action[0].float().cpu().numpy()
        return video, model

    def forward_dynamics(
        self, image: np.ndarray, raw_actions: np.ndarray, prompt: str, seed: int | None = None
    ) -> np.ndarray:
        """Start frame ``(H, W, 3)`` uint8 + raw actions ``(T, D)`` → predicted clip ``(T+1, H', W', 3)`` (diffusers
        cuts the canvas back to the content; H', W' are multiples of 16)."""
        raw = np.asarray(raw_actions, dtype=np.float64)
        video, _ = self._call("forward_dynamics", prompt, raw.shape[0], conditioning_media(image=image), raw, seed)
        return video

    def inverse_dynamics(self, frames: np.ndarray, prompt: str, seed: int | None = None) -> np.ndarray:
        """Clip ``(T+1, H, W, 3)`` uint8 → raw actions ``(T, D)`` (de-normalized)."""
        chunk = check_frames(frames).shape[0] - 1
        _, model = self._call("inverse_dynamics", prompt, chunk, conditioning_media(frames=frames), None, seed)
        return self.emb.denormalize(self._check(model, chunk))

    def policy(
        self, image: np.ndarray, prompt: str, chunk: int | None = None, seed: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Start frame + task → (raw actions ``(T, D)``, predicted clip)."""
        chunk = int(chunk or self.emb.chunk_size)
        video, model = self._call("policy", prompt, chunk, conditioning_media(image=image), None, seed)
        return self.emb.denormalize(self._check(model, chunk)), video

    def _check(self, model: np.ndarray | None, chunk: int) -> np.ndarray:
        want = (chunk, self.emb.raw_action_dim)
        if model is None or model.shape != want:
            raise RuntimeError(
                f"Cosmos3OmniPipeline returned actions of shape "
                f"{None if model is None else model.shape}, expected {want}"
            )
        return model
