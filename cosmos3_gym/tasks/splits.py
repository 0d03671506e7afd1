"""Seed splits: which episode and RL seeds may train, select, or report (defined once, checked everywhere).

- training data: episode seeds ``< TRAIN_SEED_LIMIT`` (100 000);
- ``select`` (validation): episode seeds 200 000–299 999, RL (PPO) seeds 100–199 — checkpoints, gates,
  recipes and hyperparameters are chosen here;
- ``report`` (test): episode seeds 300 000–399 999, RL seeds 1000–1099 — what README reports; never
  used for a choice.

Episode seeds are ``reset(seed=...)`` seeds of the twin / learned env (they fix start state and goal,
and the policy's noise where a policy is seeded with the episode seed). It lives in ``tasks/`` so that
data collection can check its seeds against it.
"""

from __future__ import annotations

SPLITS = ("select", "report")
#: Data collection uses episode seeds below this.
TRAIN_SEED_LIMIT = 100_000
EPISODE_SEEDS: dict[str, range] = {"select": range(200_000, 300_000), "report": range(300_000, 400_000)}
RL_SEEDS: dict[str, range] = {"select": range(100, 200), "report": range(1000, 1100)}


def check_split(split: str) -> str:
    """Return ``split`` if it is a known split; else ``ValueError`` naming the allowed ones."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; allowed: {', '.join(SPLITS)}")
    return split


def _take(pool: range, what: str, split: str, n: int, offset: int) -> list[int]:
    if n < 0 or offset < 0 or offset + n > len(pool):
        raise ValueError(
            f"{what} seeds of split {split!r}: {n} from offset {offset} do not fit in {pool.start}..{pool.stop - 1}"
        )
    return list(pool[offset : offset + n])


def split_seeds(split: str, n: int, offset: int = 0) -> list[int]:
    """``n`` episode seeds of ``split``, starting ``offset`` into its range (``select`` → 200 000 + offset …)."""
    return _take(EPISODE_SEEDS[check_split(split)], "episode", split, n, offset)


def rl_seeds(split: str, n: int, offset: int = 0) -> list[int]:
    """``n`` RL (PPO) training seeds of ``split`` (``select`` → 100 + offset …, ``report`` → 1000 + offset …)."""
    return _take(RL_SEEDS[check_split(split)], "RL", split, n, offset)


def seed_split(seed: int) -> str:
    """Which use an episode seed belongs to: ``train``, ``select``, ``report`` or ``unassigned``."""
    if 0 <= seed < TRAIN_SEED_LIMIT:
        return "train"
    return next((s for s, pool in EPISODE_SEEDS.items() if seed in pool), "unassigned")
