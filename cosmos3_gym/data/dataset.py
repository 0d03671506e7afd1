"""Load collected datasets into contiguous numpy arrays (validated), and concatenate several of them.

``load_dataset(path)`` reads exactly what ``meta/info.json`` commits (see :mod:`.writer`) and checks the
metadata, the index columns and the shapes; ``concat`` joins datasets of different embodiments and
tasks (zero-padding the vector columns to the widest) so that one world model trains on all of them.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cosmos3_gym.data.format import (
    ACTION,
    CODEBASE_VERSION,
    DONE,
    GOAL,
    INFO_PATH,
    NEXT_STATE,
    RAW,
    REWARD,
    STATE,
    SUCCESS,
    TERMINATED,
    DatasetError,
    read_json,
    read_parquet,
    to_numpy,
)
from cosmos3_gym.data.stats import Stats, merge_stats, stats_from_episodes
from cosmos3_gym.embodiment import list_embodiments
from cosmos3_gym.tasks import TASKS
from cosmos3_gym.tokens import load_embodiment

#: Global task ids (the world model's task embedding order).
TASK_NAMES = tuple(TASKS)
_COSMOS3_KEYS = (
    "embodiment",
    "domain_name",
    "domain_id",
    "raw_action_dim",
    "native_action_dim",
    "chunk_size",
    "yaml_hash",
    "task",
    "policy",
    "env_id",
    "observation_layout",
    "seeds",
)
_VECTORS = (STATE, NEXT_STATE, GOAL, ACTION, RAW)
_SCALARS = (REWARD, DONE, TERMINATED, SUCCESS)


@dataclass(frozen=True)
class Source:
    """Metadata of one dataset folder: the ``cosmos3`` block of its info.json plus its global stats."""

    path: Path
    info: dict[str, Any]
    stats: Stats

    @property
    def cosmos3(self) -> dict[str, Any]:
        """The ``cosmos3`` block of info.json (embodiment, domain, task, policy, seeds, layout, ...)."""
        return self.info["cosmos3"]

    @property
    def embodiment(self) -> str:
        return str(self.cosmos3["embodiment"])

    @property
    def task(self) -> str:
        return str(self.cosmos3["task"])

    @property
    def policy(self) -> str:
        return str(self.cosmos3["policy"])

    @property
    def domain_id(self) -> int:
        return int(self.cosmos3["domain_id"])

    @property
    def chunk_size(self) -> int:
        return int(self.cosmos3["chunk_size"])

    @property
    def raw_action_dim(self) -> int:
        return int(self.cosmos3["raw_action_dim"])

    @property
    def native_action_dim(self) -> int:
        return int(self.cosmos3["native_action_dim"])

    @property
    def fps(self) -> int:
        return int(self.info["fps"])

    @property
    def task_id(self) -> int:
        return TASK_NAMES.index(self.task)

    @property
    def state_dim(self) -> int:
        return int(self.info["features"][STATE]["shape"][0])

    @property
    def layout(self) -> dict[str, tuple[int, int]]:
        return {k: (int(a), int(b)) for k, (a, b) in self.cosmos3["observation_layout"].items()}


@dataclass
class StateDataset:
    """Frame rows of one or more datasets in contiguous arrays (``N`` frames, ``E`` episodes).

    Frame row ``i`` is one step: ``state`` ``s_t`` and ``next_state`` ``s_{t+1}`` ``(N, S)`` float32, ``goal``
    ``(N, 3)`` float32, ``action`` (native, as executed) ``(N, A)`` float32, ``raw_action`` (Cosmos3 raw)
    ``(N, D)`` float64, ``reward`` ``(N,)`` float32, ``done``/``terminated``/``success`` ``(N,)`` bool,
    ``episode_index``/``frame_index`` ``(N,)`` int64. Episodes are contiguous: episode ``e`` is rows
    ``episode_start[e] : episode_start[e] + episode_length[e]`` and came from ``sources[episode_source[e]]``.
    After :func:`concat`, vectors are zero-padded to the widest source (see ``Source.state_dim`` etc.).
    """

    sources: list[Source]
    state: np.ndarray
    next_state: np.ndarray
    goal: np.ndarray
    action: np.ndarray
    raw_action: np.ndarray
    reward: np.ndarray
    done: np.ndarray
    terminated: np.ndarray
    success: np.ndarray
    episode_index: np.ndarray
    frame_index: np.ndarray
    episode_start: np.ndarray
    episode_length: np.ndarray
    episode_source: np.ndarray
    episode_seed: np.ndarray

    @property
    def num_episodes(self) -> int:
        return len(self.episode_start)

    @property
    def num_frames(self) -> int:
        return len(self.state)

    def __len__(self) -> int:
        return self.num_frames

    def episode(self, e: int) -> dict[str, Any]:
        """Episode ``e`` unpadded: ``states`` ``(T+1, S)`` (incl. the final one), ``raw_actions`` ``(T, D)``,
        ``actions`` ``(T, A)``, ``rewards``/``success`` ``(T,)``, ``goal`` ``(3,)``, ``seed``, ``source``."""
        if not 0 <= e < self.num_episodes:
            raise IndexError(f"episode {e} out of range [0, {self.num_episodes})")
        a, t, k = int(self.episode_start[e]), int(self.episode_length[e]), int(self.episode_source[e])
        src = self.sources[k]
        s, d, n = src.state_dim, src.raw_action_dim, src.native_action_dim
        rows = slice(a, a + t)
        return {
            "states": np.concatenate([self.state[rows, :s], self.next_state[a + t - 1 : a + t, :s]]),
            "raw_actions": self.raw_action[rows, :d],
            "actions": self.action[rows, :n],
            "rewards": self.reward[rows],
            "success": self.success[rows],
            "goal": self.goal[a],
            "seed": int(self.episode_seed[e]),
            "source": src,
        }


def _check_info(root: Path, info: dict[str, Any]) -> None:
    where = root / INFO_PATH
    if info.get("codebase_version") != CODEBASE_VERSION:
        raise DatasetError(f"{where}: codebase_version {info.get('codebase_version')!r}, expected {CODEBASE_VERSION!r}")
    missing = [k for k in ("fps", "features", "total_episodes", "total_frames", "cosmos3") if k not in info]
    missing += [f"cosmos3.{k}" for k in _COSMOS3_KEYS if k not in info.get("cosmos3", {})]
    missing += [f"features.{k}" for k in (*_VECTORS, *_SCALARS) if k not in info.get("features", {})]
    if missing:
        raise DatasetError(f"{where}: missing keys {missing} (not a cosmos3-gym dataset?)")
    if info["cosmos3"]["task"] not in TASK_NAMES:
        raise DatasetError(f"{where}: task {info['cosmos3']['task']!r} not one of {TASK_NAMES}")
    if int(info["total_episodes"]) < 1:
        raise DatasetError(f"{root}: no complete episodes (collection interrupted before the first finished?)")


def _read_episodes(root: Path, n_eps: int) -> pa.Table:
    paths = sorted((root / "meta/episodes").glob("chunk-*/file-*.parquet"))
    if not paths:
        raise DatasetError(f"{root}: no episode index under meta/episodes/")
    table = pa.concat_tables([read_parquet(p) for p in paths])
    table = table.filter(pc.less(table["episode_index"], n_eps))
    if not np.array_equal(to_numpy(table["episode_index"]), np.arange(n_eps)):
        raise DatasetError(f"{root}: meta/episodes does not hold episodes 0..{n_eps - 1} in order")
    return table


def _read_frames(root: Path, info: dict[str, Any], eps: pa.Table) -> dict[str, np.ndarray]:
    n = int(info["total_frames"])
    files = sorted(
        set(zip(to_numpy(eps["data/chunk_index"]).tolist(), to_numpy(eps["data/file_index"]).tolist(), strict=True))
    )
    cols = ["index", "episode_index", "frame_index", *_VECTORS, *_SCALARS]
    tables = []
    for chunk, file in files:
        path = root / info["data_path"].format(chunk_index=chunk, file_index=file)
        table = read_parquet(path, columns=cols)
        tables.append(table.filter(pc.less(table["index"], n)))  # rows past the commit point are ignored
    data = pa.concat_tables(tables)
    out = {c: to_numpy(data[c]) for c in cols}
    if not np.array_equal(out["index"], np.arange(n)):
        raise DatasetError(f"{root}: data files do not hold frames 0..{n - 1} in order (corrupt or mixed files)")
    for c in _VECTORS:
        want = (n, int(info["features"][c]["shape"][0]))
        if out[c].shape != want:
            raise DatasetError(f"{root}: column {c!r} has shape {out[c].shape}, info.json says {want}")
    return out


def load_dataset(path: str | Path) -> StateDataset:
    """Load and validate one dataset folder written by :func:`~cosmos3_gym.data.collect.collect`.

    Raises :class:`DatasetError` naming the file and the problem when the folder is missing, not a
    cosmos3-gym LeRobot v3.0 dataset, empty, or inconsistent (corrupt parquet/JSON, broken indices).
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DatasetError(f"{root}: no such dataset folder")
    info = read_json(root / INFO_PATH)
    _check_info(root, info)
    n_eps = int(info["total_episodes"])
    eps = _read_episodes(root, n_eps)
    frames = _read_frames(root, info, eps)
    start, length = to_numpy(eps["dataset_from_index"]), to_numpy(eps["length"])
    ep_of_row = np.repeat(np.arange(n_eps), length)
    if (
        len(ep_of_row) != len(frames["index"])
        or not np.array_equal(frames["episode_index"], ep_of_row)
        or not np.array_equal(frames["frame_index"], np.arange(len(ep_of_row)) - np.repeat(start, length))
    ):
        raise DatasetError(f"{root}: episode_index/frame_index columns disagree with meta/episodes")
    last = start + length - 1
    chained = np.setdiff1d(np.arange(len(ep_of_row)), last)  # rows whose successor is in the same episode
    if not np.array_equal(frames[NEXT_STATE][chained], frames[STATE][chained + 1]):
        raise DatasetError(f"{root}: {NEXT_STATE} does not match the next row's {STATE} (corrupt data)")
    emb_name = info["cosmos3"]["embodiment"]
    if emb_name in list_embodiments() and load_embodiment(emb_name).yaml_hash != info["cosmos3"]["yaml_hash"]:
        warnings.warn(
            f"{root}: collected with another version of embodiment {emb_name!r} (yaml_hash differs)", stacklevel=2
        )
    source = Source(root.resolve(), info, merge_stats(stats_from_episodes(eps)))
    return StateDataset(
        sources=[source],
        state=frames[STATE],
        next_state=frames[NEXT_STATE],
        goal=frames[GOAL],
        action=frames[ACTION],
        raw_action=frames[RAW],
        reward=frames[REWARD],
        done=frames[DONE],
        terminated=frames[TERMINATED],
        success=frames[SUCCESS],
        episode_index=frames["episode_index"],
        frame_index=frames["frame_index"],
        episode_start=start.astype(np.int64),
        episode_length=length.astype(np.int64),
        episode_source=np.zeros(n_eps, np.int64),
        episode_seed=to_numpy(eps["seed"]).astype(np.int64),
    )


def _pad(arrays: Sequence[np.ndarray]) -> np.ndarray:
    width = max(a.shape[1] for a in arrays)
    return np.concatenate([np.pad(a, ((0, 0), (0, width - a.shape[1]))) for a in arrays])


def concat(datasets: Sequence[StateDataset]) -> StateDataset:
    """Join datasets (any embodiments/tasks) into one; vector columns are zero-padded to the widest."""
    if not datasets:
        raise ValueError("concat needs at least one dataset")
    frames = np.cumsum([0] + [d.num_frames for d in datasets])[:-1]
    eps = np.cumsum([0] + [d.num_episodes for d in datasets])[:-1]
    srcs = np.cumsum([0] + [len(d.sources) for d in datasets])[:-1]
    cat = np.concatenate
    return StateDataset(
        sources=[s for d in datasets for s in d.sources],
        **{k: _pad([getattr(d, k) for d in datasets]) for k in ("state", "next_state", "goal", "action", "raw_action")},
        **{
            k: cat([getattr(d, k) for d in datasets])
            for k in ("reward", "done", "terminated", "success", "frame_index", "episode_length", "episode_seed")
        },
        episode_index=cat([d.episode_index + o for d, o in zip(datasets, eps, strict=True)]),
        episode_start=cat([d.episode_start + o for d, o in zip(datasets, frames, strict=True)]),
        episode_source=cat([d.episode_source + o for d, o in zip(datasets, srcs, strict=True)]),
    )
