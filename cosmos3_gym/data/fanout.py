"""Fan work out over Ray (the optional extra ``distributed``), results back in submission order.

Ray runs each call as a task on a local Ray started on demand (``workers`` CPUs) or on a running
cluster (``address``, or the ``RAY_ADDRESS`` convention). A task whose worker process dies is rerun by
Ray (``max_retries``), so a caller that writes results in order never sees a half-done item. Without
Ray installed, :func:`require_ray` says in one line how to get it; callers run serially then.
"""

from __future__ import annotations

import logging
import os
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

#: Reruns of a task whose worker died (crash, OOM kill, lost node) before the run gives up.
MAX_RETRIES = 3
INSTALL_HINT = "pip install 'cosmos3-gym[distributed]' (or pip install ray)"


class FanoutError(RuntimeError):
    """Ray is missing or cannot be reached."""


def require_ray() -> Any:
    """Import Ray or raise :class:`FanoutError` saying how to install it."""
    try:
        import ray
    except ImportError:
        raise FanoutError(f"parallel workers need Ray, which is not installed: {INSTALL_HINT}") from None
    return ray


def check_workers(workers: int) -> None:
    """``workers`` must be an integer >= 1 (1 = serial, no Ray)."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an integer >= 1 (1 = serial), got {workers!r}")


def wants_ray(workers: int, address: str | None) -> bool:
    """Whether a run fans out: more than one worker, or a cluster address was given."""
    check_workers(workers)
    return workers > 1 or bool(address)


def _own_path_entries() -> list[str]:
    """This process's ``sys.path`` without the interpreter's own folders (stdlib, site-packages)."""
    system = tuple(str(Path(p).resolve()) for p in {sys.prefix, sys.base_prefix, sys.exec_prefix})
    entries = (str(Path(p or ".").resolve()) for p in sys.path)
    return list(dict.fromkeys(p for p in entries if not p.startswith(system) and "site-packages" not in p))


class _Session:
    """Ray for the duration of one fan-out: reuse a running ``ray.init``, else start (and later stop) one."""

    def __init__(self, workers: int, address: str | None) -> None:
        self.ray = require_ray()
        self.started = False
        if self.ray.is_initialized():
            return
        address = address or os.environ.get("RAY_ADDRESS") or None
        kwargs: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False}
        if address is None:
            # Local workers import what this process imports: its own path entries (a script's folder, the
            # working folder of ``python -m``, PYTHONPATH) go on theirs, so a checkout's code and a
            # benchmark's modules are found there too.
            env = {"PYTHONPATH": os.pathsep.join(_own_path_entries())}
            kwargs.update(num_cpus=workers, include_dashboard=False, runtime_env={"env_vars": env})
        try:
            self.ray.init(address=address, **kwargs)
        except ConnectionError as exc:
            raise FanoutError(f"cannot reach the Ray cluster at {address}: {exc}") from None
        self.started = True

    def close(self) -> None:
        if self.started:
            self.ray.shutdown()


def ordered_map(
    fn: Callable[[T], R], items: Iterable[T], workers: int, address: str | None = None, window: int | None = None
) -> Iterator[R]:
    """``fn(item)`` for every item as Ray tasks; yields the results in the order of ``items``.

    At most ``window`` tasks (default ``4 * workers``) are in flight, so memory stays bounded however many
    items there are. ``fn`` must be importable by the workers (a module-level function of an installed
    package). Ray is shut down afterwards if this call started it.
    """
    check_workers(workers)
    session = _Session(workers, address)
    ray = session.ray
    try:
        task = ray.remote(max_retries=MAX_RETRIES, num_cpus=1)(fn)
        pending: deque = deque()
        limit = window or 4 * workers
        for item in items:
            pending.append(task.remote(item))
            if len(pending) >= limit:
                yield ray.get(pending.popleft())
        while pending:
            yield ray.get(pending.popleft())
    finally:
        session.close()
