"""The on-disk format: LeRobot v3.0 layout, column names, feature specs, Arrow schema, atomic writes.

See ``cosmos3_gym/data/README.md`` for the layout and the cosmos3-gym extras.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from cosmos3_gym.tokens import Embodiment

CODEBASE_VERSION = "v3.0"
#: Files per chunk folder (LeRobot's default).
CHUNKS_SIZE = 1000
#: A data file takes episodes until its in-memory size reaches this, then the next file starts. Smaller
#: than LeRobot's 100 MB because each finished episode rewrites the current file (that is the atomic
#: commit), so the per-episode cost grows with the file; a 100-step Franka episode is ~50 kB.
DATA_FILE_MB = 4.0
#: Same for the episode index (~3 kB per episode with its per-episode stats columns).
EPISODES_FILE_MB = 1.0

INFO_PATH = "meta/info.json"
STATS_PATH = "meta/stats.json"
TASKS_PATH = "meta/tasks.parquet"
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
EPISODES_PATH = "meta/episodes/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"

# Frame columns (one row per environment step t: s_t, a_t and what the step returned).
STATE = "observation.state"
GOAL = "observation.goal"
ACTION = "action"
RAW = "action.cosmos3_raw"
NEXT_STATE = "next.observation.state"
REWARD = "next.reward"
DONE = "next.done"
TERMINATED = "next.terminated"
SUCCESS = "next.success"
#: Features with per-episode and global min/max/mean/std/count and quantile statistics.
STATS_FEATURES = (STATE, GOAL, ACTION, RAW, NEXT_STATE, REWARD)
#: LeRobot's quantiles (``compute_stats.DEFAULT_QUANTILES``) under its key names ``q01`` … ``q99``, which its
#: QUANTILES / QUANTILE10 normalization and Cosmos3's quantile map read.
QUANTILES = {"q01": 0.01, "q10": 0.10, "q50": 0.50, "q90": 0.90, "q99": 0.99}
STAT_NAMES = ("min", "max", "mean", "std", "count", *QUANTILES)

#: The natural-language task strings of ``meta/tasks.parquet`` (LeRobot stores instructions, not ids).
TASK_INSTRUCTIONS = {
    "reach": "move the gripper to the goal position",
    "push": "push the cube to the goal position on the table",
    "lift": "pick up the cube and hold it at the goal position",
}

_NATIVE_ARM_NAMES = ("dx", "dy", "dz", "rx", "ry", "rz", "gripper")
_RAW_POSE_NAMES = ("dx", "dy", "dz", "r6d_0", "r6d_1", "r6d_2", "r6d_3", "r6d_4", "r6d_5")


class DatasetError(ValueError):
    """A dataset folder is missing, corrupt, or incompatible; the message names the file and the problem."""


def _vec(dtype: str, names: list[str]) -> dict[str, Any]:
    return {"dtype": dtype, "shape": [len(names)], "names": names}


def _scalar(dtype: str) -> dict[str, Any]:
    return {"dtype": dtype, "shape": [1], "names": None}


def frame_features(emb: Embodiment, layout: dict[str, tuple[int, int]]) -> dict[str, dict[str, Any]]:
    """LeRobot ``features`` of a frame row for ``emb`` with observation ``layout`` (part -> [start, stop])."""
    state_names = [f"{part}.{i}" for part, (a, b) in layout.items() for i in range(b - a)]
    native = [f"{arm.end_effector}.{n}" for arm in emb.spec.action.arms for n in _NATIVE_ARM_NAMES]
    raw = []
    for block in emb.spec.cosmos3.layout:
        raw += [f"{block}.{n}" for n in _RAW_POSE_NAMES] if block in emb.contract.pose_names else [block]
    if len(raw) != emb.raw_action_dim:
        raise ValueError(f"{emb.name}: raw action names {len(raw)} != raw_action_dim {emb.raw_action_dim}")
    return {
        "index": _scalar("int64"),
        "episode_index": _scalar("int64"),
        "frame_index": _scalar("int64"),
        "task_index": _scalar("int64"),
        "timestamp": _scalar("float32"),
        STATE: _vec("float32", state_names),
        GOAL: _vec("float32", ["x", "y", "z"]),
        ACTION: _vec("float32", native),
        RAW: _vec("float64", raw),
        NEXT_STATE: _vec("float32", state_names),
        REWARD: _scalar("float32"),
        DONE: _scalar("bool"),
        TERMINATED: _scalar("bool"),
        SUCCESS: _scalar("bool"),
    }


def arrow_type(feature: dict[str, Any]) -> pa.DataType:
    """Arrow type of one feature: a scalar for shape ``[1]``, else a fixed-size list (HF ``Sequence(length=n)``)."""
    base = pa.from_numpy_dtype(np.dtype(feature["dtype"]))
    shape = list(feature["shape"])
    return base if shape == [1] else pa.list_(base, shape[0])


def arrow_schema(features: dict[str, dict[str, Any]]) -> pa.Schema:
    return pa.schema([(name, arrow_type(ft)) for name, ft in features.items()])


def to_arrow(column: np.ndarray, typ: pa.DataType) -> pa.Array:
    """``(N,)`` or ``(N, n)`` numpy -> Arrow array of ``typ`` (no Python objects on the way)."""
    if pa.types.is_fixed_size_list(typ):
        flat = pa.array(np.ascontiguousarray(column).reshape(-1), type=typ.value_type)
        return pa.FixedSizeListArray.from_arrays(flat, typ.list_size)
    return pa.array(column, type=typ)


def to_numpy(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Arrow column -> ``(N,)`` or ``(N, n)`` numpy (fixed-size lists become 2-D)."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_fixed_size_list(arr.type):
        return arr.flatten().to_numpy(zero_copy_only=False).reshape(len(arr), arr.type.list_size)
    return arr.to_numpy(zero_copy_only=False)


def chunk_file(counter: int) -> tuple[int, int]:
    """The ``counter``-th file of a sequence -> ``(chunk_index, file_index)``."""
    return divmod(counter, CHUNKS_SIZE)


def _file_mode() -> int:
    """The mode ``open()`` would give a new file under the current umask (``mkstemp`` ignores it: 0600)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write to a temp file beside ``path``, then ``os.replace`` it: readers see the old or the new file,
    never a partial one (atomic against interruption and crashes of this process). The file gets the
    usual permissions (umask), so other users and containers can read datasets and checkpoints."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        os.chmod(tmp, _file_mode())
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, obj: Any) -> None:
    atomic_write(path, lambda p: p.write_text(json.dumps(obj, indent=2) + "\n"))


def write_parquet(path: Path, table: pa.Table) -> None:
    # Dictionary encoding only for the repetitive id columns: on float vectors it finds no repeats and
    # made every commit ~5x slower (and the file larger) than plain encoding + snappy.
    dictionary = [c for c in ("episode_index", "task_index", "task") if c in table.column_names]
    atomic_write(path, lambda p: pq.write_table(table, p, use_dictionary=dictionary))


def read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise DatasetError(f"{path.parent.parent}: not a dataset ({path.name} missing at {path})")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DatasetError(f"{path}: corrupt JSON ({e})") from e


def read_parquet(path: Path, columns: list[str] | None = None) -> pa.Table:
    if not path.is_file():
        raise DatasetError(f"{path}: missing (dataset incomplete or files moved)")
    try:
        return pq.read_table(path, columns=columns)
    except (pa.ArrowException, OSError) as e:
        raise DatasetError(f"{path}: corrupt parquet ({e})") from e


def tasks_table(instructions: list[str]) -> pa.Table:
    """``meta/tasks.parquet``: column ``task`` (the instruction) + ``task_index``. The pandas metadata makes
    ``task`` the index, so ``pd.read_parquet`` gives the same frame LeRobot writes (index = task string)."""
    pandas_meta = {
        "index_columns": ["task"],
        "column_indexes": [],
        "columns": [
            {"name": "task", "field_name": "task", "pandas_type": "unicode", "numpy_type": "object", "metadata": None},
            {
                "name": "task_index",
                "field_name": "task_index",
                "pandas_type": "int64",
                "numpy_type": "int64",
                "metadata": None,
            },
        ],
        "creator": {"library": "pyarrow", "version": pa.__version__},
        "pandas_version": "2.2.0",
    }
    schema = pa.schema(
        [("task", pa.string()), ("task_index", pa.int64())], metadata={b"pandas": json.dumps(pandas_meta).encode()}
    )
    return pa.table({"task": instructions, "task_index": np.arange(len(instructions), dtype=np.int64)}, schema=schema)
