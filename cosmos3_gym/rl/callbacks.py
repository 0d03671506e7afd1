"""SB3 callbacks of an RL run: periodic twin + learned evaluation (CSV, TensorBoard), a tqdm progress bar.

The progress bar is our own because SB3's ``progress_bar=True`` needs ``rich``, which is not a
dependency of this package.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback
from tqdm import tqdm

from cosmos3_gym.rl.evaluate import Evaluator

EVAL_FIELDS = (
    "timesteps",
    "wall_s",
    "train_s",
    "twin_success_rate",
    "twin_mean_return",
    "twin_final_distance",
    "learned_success_rate",
    "learned_mean_return",
    "learned_final_distance",
)


class TqdmCallback(BaseCallback):
    """Progress over env steps (transitions summed over envs), resumed runs start at their step count."""

    def __init__(self, total: int, enabled: bool = True) -> None:
        super().__init__()
        self.total, self.enabled = total, enabled
        self.bar: tqdm | None = None

    def _on_training_start(self) -> None:
        if self.enabled:
            self.bar = tqdm(
                total=self.total,
                initial=self.model.num_timesteps,
                unit="step",
                desc="rl",
                dynamic_ncols=True,
                leave=False,
            )

    def _on_step(self) -> bool:
        if self.bar is not None:
            self.bar.update(self.training_env.num_envs)
        return True

    def _on_training_end(self) -> None:
        if self.bar is not None:
            self.bar.close()


class EvalCallback(BaseCallback):
    """Every ``every`` env steps: evaluate on the twin and (if a model is given) the learned env.

    Appends one row per evaluation to ``csv_path`` (columns :data:`EVAL_FIELDS`; learned columns empty
    without a model) and records ``eval/*`` in the SB3 logger, which writes TensorBoard when the run
    was created with a ``tensorboard_log`` folder. ``every=0`` evaluates only when :meth:`evaluate` is
    called (the run calls it once at the end).
    """

    def __init__(
        self,
        evaluator: Evaluator,
        seeds: list[int],
        every: int,
        csv_path: Path,
        learned: bool = True,
        wall_offset: float = 0.0,
        train_offset: float = 0.0,
    ) -> None:
        super().__init__()
        self.evaluator, self.seeds, self.every, self.csv_path = evaluator, seeds, every, Path(csv_path)
        self.learned, self.wall_offset = learned and evaluator.model is not None, wall_offset
        self.train_offset = train_offset
        self.next_at = 0
        self.start = time.perf_counter()
        self.rows: list[dict[str, Any]] = []
        self.seconds = 0.0  # spent evaluating, so that a run can report training throughput without it

    def train_seconds(self) -> float:
        """Training wall-clock so far (s), evaluations excluded, earlier runs of a resumed one included."""
        return self.train_offset + time.perf_counter() - self.start - self.seconds

    def _on_training_start(self) -> None:
        self.start = time.perf_counter()
        if self.every:
            self.next_at = (self.model.num_timesteps // self.every + 1) * self.every

    def _on_step(self) -> bool:
        if self.every and self.num_timesteps >= self.next_at:
            self.next_at = (self.num_timesteps // self.every + 1) * self.every
            self.evaluate(self.model)
        return True

    def evaluate(self, agent: Any) -> dict[str, Any]:
        """Run both evaluations now, log them, return the CSV row."""
        t0 = time.perf_counter()
        row: dict[str, Any] = {
            "timesteps": agent.num_timesteps,
            "wall_s": round(self.wall_offset + time.perf_counter() - self.start, 2),
            "train_s": round(self.train_seconds(), 2),
        }
        row.update(
            {k: v for k, v in self.evaluator.twin(agent, self.seeds).as_dict("twin_").items() if k in EVAL_FIELDS}
        )
        if self.learned:
            row.update(
                {
                    k: v
                    for k, v in self.evaluator.learned(agent, self.seeds).as_dict("learned_").items()
                    if k in EVAL_FIELDS
                }
            )
        fresh = not self.csv_path.exists()
        if not fresh:
            _upgrade_header(self.csv_path)
        with self.csv_path.open("a", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=EVAL_FIELDS)
            if fresh:
                writer.writeheader()
            writer.writerow({k: row.get(k, "") for k in EVAL_FIELDS})
        logger = getattr(agent, "_logger", None)  # absent on an agent loaded but never trained
        if logger is not None:
            for key, value in row.items():
                if key not in ("timesteps", "wall_s", "train_s"):
                    logger.record(f"eval/{key}", value)
            logger.dump(agent.num_timesteps)
        self.rows.append(row)
        self.seconds += time.perf_counter() - t0
        return row


def _upgrade_header(path: Path) -> None:
    """Rewrite an ``eval.csv`` of an older run (fewer columns) with :data:`EVAL_FIELDS`, its rows kept and the
    new columns empty, so a resumed run appends aligned rows."""
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        if tuple(reader.fieldnames or ()) == EVAL_FIELDS:
            return
        rows = list(reader)
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=EVAL_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


class TimeLimitCallback(BaseCallback):
    """Stop learning once ``evals.train_seconds()`` reaches ``limit_s`` (training wall-clock, evaluation
    excluded), so runs on two simulators can be given equal time."""

    def __init__(self, limit_s: float, evals: EvalCallback) -> None:
        super().__init__()
        self.limit_s, self.evals = limit_s, evals
        self.hit = False

    def _on_step(self) -> bool:
        self.hit = self.evals.train_seconds() >= self.limit_s
        return not self.hit
