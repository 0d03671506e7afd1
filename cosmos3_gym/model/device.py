"""Torch devices checked up front: a device this machine lacks is one clear ``ValueError``, not torch's
traceback at the first tensor moved there (and before anything is written to disk)."""

from __future__ import annotations

import torch


class DeviceError(ValueError):
    """A requested torch device does not exist on this machine (or is not a device string)."""


def check_device(device: str | torch.device) -> torch.device:
    """The ``torch.device`` of ``device`` (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``, ...) if this machine
    has it; else raises :class:`DeviceError` saying what it has."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise DeviceError(f"device {device!r} is not a torch device ({str(exc).splitlines()[0]})") from None
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise DeviceError(f"device {str(device)!r}: CUDA is not available on this machine; use --device cpu")
        if dev.index is not None and dev.index >= count:
            raise DeviceError(f"device {str(device)!r}: this machine has {count} CUDA device(s) (cuda:0..{count - 1})")
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise DeviceError(f"device {str(device)!r}: MPS is not available on this machine; use --device cpu")
    return dev
