"""Images and videos on the wire: PNG conditioning frames, MP4 clips (imageio + imageio-ffmpeg).

imageio is an optional dependency (``pip install 'cosmos3-gym[media]'``); it is imported on first use
so that the rest of the package works without it.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np


def _imageio() -> ModuleType:
    try:
        import imageio.v3 as iio
    except ImportError as err:
        raise ImportError(
            "the remote Cosmos3 backend encodes PNG/MP4 with imageio; install it with "
            "pip install 'cosmos3-gym[media]' (imageio + imageio-ffmpeg)"
        ) from err
    return iio


def check_image(image: object, what: str = "image") -> np.ndarray:
    """Validate one RGB frame: uint8 ``(H, W, 3)``."""
    arr = np.asarray(image)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[-1] != 3:
        raise ValueError(f"{what} must be an RGB uint8 array of shape (H, W, 3), got {arr.dtype} {arr.shape}")
    return arr


def check_frames(frames: object, what: str = "frames") -> np.ndarray:
    """Validate a clip: uint8 ``(N, H, W, 3)`` with N >= 2."""
    arr = np.asarray(frames)
    if arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[-1] != 3 or arr.shape[0] < 2:
        raise ValueError(f"{what} must be an RGB uint8 array of shape (N >= 2, H, W, 3), got {arr.dtype} {arr.shape}")
    return arr


def encode_png(image: np.ndarray) -> bytes:
    """RGB uint8 ``(H, W, 3)`` → PNG bytes (lossless)."""
    return bytes(_imageio().imwrite("<bytes>", check_image(image), extension=".png"))


def decode_png(data: bytes) -> np.ndarray:
    """PNG bytes → RGB uint8 ``(H, W, 3)``."""
    return np.asarray(_imageio().imread(data, extension=".png"))[..., :3]


def encode_mp4(frames: np.ndarray, fps: float) -> bytes:
    """RGB uint8 ``(N, H, W, 3)`` → H.264 MP4 bytes (lossy), at exactly ``H × W``: H and W must be even
    (yuv420p). imageio-ffmpeg would otherwise resize to multiples of 16 (a 640×540 view to 544)."""
    frames = check_frames(frames)
    if frames.shape[1] % 2 or frames.shape[2] % 2:
        raise ValueError(f"frames need an even height and width for H.264, got {frames.shape[1]}x{frames.shape[2]}")
    return bytes(_imageio().imwrite("<bytes>", frames, extension=".mp4", fps=float(fps), macro_block_size=2))


def decode_video(data: bytes) -> np.ndarray:
    """MP4 bytes → RGB uint8 ``(N, H, W, 3)``."""
    if not data:
        raise ValueError("video bytes are empty")
    frames = np.asarray(_imageio().imread(data, extension=".mp4"))
    if frames.ndim != 4:
        raise ValueError(f"decoded video has shape {frames.shape}, expected (N, H, W, 3)")
    return frames[..., :3].astype(np.uint8, copy=False)
