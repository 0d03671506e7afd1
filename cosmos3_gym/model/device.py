"""Torch devices: checked up front (a device this machine lacks is one clear ``ValueError``, not torch's
traceback at the first tensor moved there, and before anything is written to disk), and torch made safe
in forked worker processes."""

from __future__ import annotations

import os

import torch


def _one_thread_after_fork() -> None:
    # torch's intra-op pool (GNU OpenMP) is not fork-safe: a child forked after the parent ran a parallel
    # op waits forever for the parent's pool threads, which the child does not have. This is what hung
    # gym.make_vec(learned id, vectorization_mode="async") under Linux's default fork start method. One
    # thread per worker process is also the right count when the workers already fill the cores.
    torch.set_num_threads(1)


if hasattr(os, "register_at_fork"):  # POSIX; Windows has no fork
    os.register_at_fork(after_in_child=_one_thread_after_fork)


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
