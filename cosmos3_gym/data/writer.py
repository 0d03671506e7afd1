"""Append finished episodes to a LeRobot v3.0 folder, one atomic commit per episode.

Commit order: data file -> episodes file -> ``stats.json`` -> ``info.json``. Every file is replaced
atomically, and ``info.json`` (``total_episodes`` / ``total_frames``) is the commit point: readers take
only the episodes and frame rows it counts, so a crash between two replaces leaves, at worst,
uncommitted tail rows that readers ignore and the next append drops. Ctrl-C during a commit is deferred
until the commit is done.
"""

from __future__ import annotations

import contextlib
import copy
import signal
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cosmos3_gym.data.format import (
    CHUNKS_SIZE,
    CODEBASE_VERSION,
    DATA_FILE_MB,
    DATA_PATH,
    EPISODES_FILE_MB,
    EPISODES_PATH,
    INFO_PATH,
    QUANTILES,
    STATE,
    STATS_PATH,
    SUCCESS,
    TASKS_PATH,
    DatasetError,
    arrow_schema,
    chunk_file,
    read_json,
    read_parquet,
    tasks_table,
    to_arrow,
    write_json,
    write_parquet,
)
from cosmos3_gym.data.stats import Stats, episode_stats, merge_stats, stats_columns, stats_from_episodes, stats_to_json


@contextlib.contextmanager
def deferred_sigint() -> Iterator[None]:
    """Hold Ctrl-C until the block ends (main thread only), so a commit is never cut in half."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    old = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
        if caught and old is signal.SIG_DFL:
            raise KeyboardInterrupt
        if caught and callable(old):
            old(signal.SIGINT, None)


class _FileSequence:
    """The chunked ``chunk-XXX/file-YYY.parquet`` files of one table; only the last one grows."""

    def __init__(self, root: Path, pattern: str, limit_mb: float, counter: int = 0, table: pa.Table | None = None):
        self.root, self.pattern, self.limit_mb = root, pattern, limit_mb
        self.counter, self.table = counter, table

    def path(self, counter: int) -> Path:
        chunk, file = chunk_file(counter)
        return self.root / self.pattern.format(chunk_index=chunk, file_index=file)

    def next_slot(self) -> int:
        """Counter of the file the next rows go to (a new file once the current one is full)."""
        if self.table is None:
            return self.counter
        # In-memory (uncompressed) size, like LeRobot: on-disk size depends on how well the data compresses.
        return self.counter + 1 if self.table.nbytes >= self.limit_mb * 2**20 else self.counter

    def append(self, rows: pa.Table) -> tuple[int, pa.Table]:
        """Write current rows + ``rows`` to the slot's file; returns ``(counter, table)`` to :meth:`accept`."""
        slot = self.next_slot()
        if slot != self.counter or self.table is None:
            table = rows
        else:  # one contiguous chunk: a table of many small chunks makes every later write slower
            table = pa.concat_tables([self.table, rows]).combine_chunks()
        write_parquet(self.path(slot), table)
        return slot, table

    def accept(self, counter: int, table: pa.Table) -> None:
        self.counter, self.table = counter, table

    def restore(self, counter: int, key: str, committed: int) -> None:
        """Resume at file ``counter`` keeping rows with ``key < committed``; files past it and uncommitted
        tail rows (left by a crash inside a commit) are removed, so that readers that glob every file
        (LeRobot) see only committed rows too. ``counter = -1``: nothing is committed."""
        for path in self.root.glob(self.pattern.split("/chunk-")[0] + "/chunk-*/file-*.parquet"):
            chunk, file = int(path.parent.name[6:]), int(path.stem[5:])
            if chunk * CHUNKS_SIZE + file > counter:
                path.unlink()
        if counter < 0:
            return
        table = read_parquet(self.path(counter))
        kept = table.filter(pc.less(table[key], committed))
        if kept.num_rows != table.num_rows:
            write_parquet(self.path(counter), kept)
        self.accept(counter, kept)


class DatasetWriter:
    """Writes episodes into ``root``. Build with :meth:`create` (new folder) or :meth:`open` (append)."""

    def __init__(
        self, root: Path, info: dict[str, Any], data: _FileSequence, episodes: _FileSequence, stats: Stats
    ) -> None:
        self.root, self.info = root, info
        self.schema = arrow_schema(info["features"])
        self.data, self.episodes = data, episodes
        self.stats = stats  # global stats of the committed episodes, merged one episode at a time

    @classmethod
    def create(cls, root: Path, info: dict[str, Any]) -> DatasetWriter:
        """Start an empty dataset (``total_episodes`` 0) from a complete ``info`` without totals."""
        info = {**copy.deepcopy(info), "total_episodes": 0, "total_frames": 0, "splits": {}}
        write_parquet(root / TASKS_PATH, tasks_table([info["cosmos3"]["task_instruction"]]))
        write_json(root / STATS_PATH, {})
        write_json(root / INFO_PATH, info)
        return cls(
            root,
            info,
            _FileSequence(root, DATA_PATH, DATA_FILE_MB),
            _FileSequence(root, EPISODES_PATH, EPISODES_FILE_MB),
            {},
        )

    @classmethod
    def open(cls, root: Path) -> DatasetWriter:
        """Reopen a dataset for appending; uncommitted tail rows (from a crash) are dropped."""
        info = read_json(root / INFO_PATH)
        if info.get("codebase_version") != CODEBASE_VERSION or "cosmos3" not in info:
            raise DatasetError(f"{root}: not a cosmos3-gym LeRobot {CODEBASE_VERSION} dataset; cannot append")
        n_eps, n_frames = int(info["total_episodes"]), int(info["total_frames"])
        data, episodes = (
            _FileSequence(root, DATA_PATH, DATA_FILE_MB),
            _FileSequence(root, EPISODES_PATH, EPISODES_FILE_MB),
        )
        if n_eps == 0:
            data.restore(-1, "index", 0)
            episodes.restore(-1, "episode_index", 0)
            return cls(root, info, data, episodes, {})
        table = pa.concat_tables([read_parquet(p) for p in sorted((root / "meta/episodes").glob("chunk-*/*.parquet"))])
        table = table.filter(pc.less(table["episode_index"], n_eps))
        if table.num_rows != n_eps:
            raise DatasetError(f"{root}: episodes index has {table.num_rows} committed rows, info.json says {n_eps}")
        last = table.slice(n_eps - 1).to_pylist()[0]
        episodes.restore(
            last["meta/episodes/chunk_index"] * CHUNKS_SIZE + last["meta/episodes/file_index"], "episode_index", n_eps
        )
        data.restore(last["data/chunk_index"] * CHUNKS_SIZE + last["data/file_index"], "index", n_frames)
        return cls(root, info, data, episodes, merge_stats(stats_from_episodes(table)))

    @property
    def num_episodes(self) -> int:
        return int(self.info["total_episodes"])

    @property
    def num_frames(self) -> int:
        return int(self.info["total_frames"])

    def add_episode(self, columns: Mapping[str, np.ndarray], seed: int) -> None:
        """Commit one finished episode. ``columns`` maps every non-index feature to ``(T, ...)`` arrays."""
        ep, start = self.num_episodes, self.num_frames
        length = len(columns[SUCCESS])
        if length < 1:
            raise ValueError("an episode needs at least one step")
        frame = np.arange(length, dtype=np.int64)
        full = {
            "index": start + frame,
            "episode_index": np.full(length, ep, np.int64),
            "frame_index": frame,
            "task_index": np.zeros(length, np.int64),
            "timestamp": (frame / self.info["fps"]).astype(np.float32),
            **columns,
        }
        missing = set(self.schema.names) - set(full)
        if missing:
            raise ValueError(f"episode columns missing: {sorted(missing)}")
        rows = pa.table([to_arrow(np.asarray(full[f.name]), f.type) for f in self.schema], schema=self.schema)
        stats = episode_stats(columns)
        if self.stats and any(q not in self.stats[STATE] for q in QUANTILES):
            # A dataset written before the quantiles: its episodes table has no such columns to append to.
            stats = {f: {s: v for s, v in d.items() if s not in QUANTILES} for f, d in stats.items()}
        merged = merge_stats([self.stats, stats] if self.stats else [stats])
        d_slot = self.data.next_slot()
        e_slot = self.episodes.next_slot()
        (dc, df), (ec, ef) = chunk_file(d_slot), chunk_file(e_slot)
        meta = {
            "episode_index": pa.array([ep], pa.int64()),
            "tasks": pa.array([[self.info["cosmos3"]["task_instruction"]]], pa.list_(pa.string())),
            "length": pa.array([length], pa.int64()),
            "data/chunk_index": pa.array([dc], pa.int64()),
            "data/file_index": pa.array([df], pa.int64()),
            "dataset_from_index": pa.array([start], pa.int64()),
            "dataset_to_index": pa.array([start + length], pa.int64()),
            "meta/episodes/chunk_index": pa.array([ec], pa.int64()),
            "meta/episodes/file_index": pa.array([ef], pa.int64()),
            "seed": pa.array([seed], pa.int64()),
            "success": pa.array([bool(columns[SUCCESS][-1])]),
            **stats_columns(stats),
        }
        info = copy.deepcopy(self.info)
        info["total_episodes"], info["total_frames"] = ep + 1, start + length
        info["splits"] = {"train": f"0:{ep + 1}"}
        info["cosmos3"]["seeds"].append(int(seed))
        with deferred_sigint():
            d_state = self.data.append(rows)
            e_state = self.episodes.append(pa.table(meta))
            write_json(self.root / STATS_PATH, stats_to_json(merged))
            write_json(self.root / INFO_PATH, info)  # the commit point
            self.data.accept(*d_state)
            self.episodes.accept(*e_state)
            self.stats = merged
            self.info = info
