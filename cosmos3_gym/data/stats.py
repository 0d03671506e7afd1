"""Per-episode and global feature statistics as LeRobot writes them: ``min/max/mean/std/count`` (merged
exactly) and the quantiles ``q01/q10/q50/q90/q99`` (exact per episode; merged as LeRobot's
``aggregate_feature_stats`` does, the count-weighted mean of the episodes' quantiles)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pyarrow as pa

from cosmos3_gym.data.format import QUANTILES, STAT_NAMES, STATS_FEATURES, to_numpy

Stats = dict[str, dict[str, np.ndarray]]


def episode_stats(columns: Mapping[str, np.ndarray]) -> Stats:
    """Stats of one episode's frame columns: per feature ``min/max/mean/std`` and ``q01 … q99`` ``(d,)``,
    ``count`` ``(1,)``."""
    out: Stats = {}
    for name in STATS_FEATURES:
        x = np.asarray(columns[name], dtype=np.float64)
        x = x[:, None] if x.ndim == 1 else x
        out[name] = {
            "min": x.min(0),
            "max": x.max(0),
            "mean": x.mean(0),
            "std": x.std(0),
            "count": np.array([len(x)], dtype=np.int64),
            **dict(zip(QUANTILES, np.quantile(x, list(QUANTILES.values()), axis=0), strict=True)),
        }
    return out


def merge_stats(parts: Sequence[Stats]) -> Stats:
    """Exact merge (pooled mean and variance) of several stats, e.g. every episode's into the global one."""
    if not parts:
        return {}
    out: Stats = {}
    for name in parts[0]:
        count = np.array([p[name]["count"][0] for p in parts], dtype=np.float64)
        mean = np.stack([p[name]["mean"] for p in parts])
        std = np.stack([p[name]["std"] for p in parts])
        total = count.sum()
        gmean = (count[:, None] * mean).sum(0) / total
        second = (count[:, None] * (std**2 + mean**2)).sum(0) / total
        out[name] = {
            "min": np.stack([p[name]["min"] for p in parts]).min(0),
            "max": np.stack([p[name]["max"] for p in parts]).max(0),
            "mean": gmean,
            "std": np.sqrt(np.maximum(second - gmean**2, 0.0)),
            "count": np.array([int(total)], dtype=np.int64),
        }
        for q in QUANTILES:  # only where every part has it (datasets written before the quantiles lack them)
            if all(q in p[name] for p in parts):
                out[name][q] = (count[:, None] * np.stack([p[name][q] for p in parts])).sum(0) / total
    return out


def stats_to_json(stats: Stats) -> dict[str, dict[str, list]]:
    return {k: {s: v.tolist() for s, v in d.items()} for k, d in stats.items()}


def stats_columns(stats: Stats) -> dict[str, pa.Array]:
    """One episode's stats as the v3 ``stats/<feature>/<stat>`` columns of the episodes table (1 row)."""
    cols = {}
    for name, d in stats.items():
        for s in (s for s in STAT_NAMES if s in d):
            v = d[s]
            typ = pa.list_(pa.int64() if s == "count" else pa.float64(), len(v))
            cols[f"stats/{name}/{s}"] = pa.FixedSizeListArray.from_arrays(pa.array(v, type=typ.value_type), len(v))
    return cols


def stats_from_episodes(table: pa.Table) -> list[Stats]:
    """Read back the per-episode stats columns of an episodes table (one :data:`Stats` per row)."""
    names = [s for s in STAT_NAMES if f"stats/{STATS_FEATURES[0]}/{s}" in table.column_names]  # older: no quantiles
    arrays = {(f, s): to_numpy(table.column(f"stats/{f}/{s}")) for f in STATS_FEATURES for s in names}
    return [{f: {s: arrays[f, s][i] for s in names} for f in STATS_FEATURES} for i in range(table.num_rows)]
