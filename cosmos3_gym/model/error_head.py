"""A learned estimate of the model's own open-loop error: a ridge regression on what the env can see.

The stochastic copies' spread alone barely ranks which rollouts go wrong (it restarts every chunk, and
it knows nothing of where the model errs). Regressing the logarithm of the real error (mean of first-arm
TCP and cube position errors, m, as validation measures it) on per-step features — the spread and its
carried sum, the steps and the commanded motion since the last anchor, the normalized state and the
action magnitudes — learns where the model is usually wrong. One head per embodiment, fitted by
:mod:`cosmos3_gym.validation.uncertainty_head` on training-range seeds and kept in the checkpoint's stats
(``StateStats.error_head``); the learned core reports its prediction as ``info["model_uncertainty"]``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

#: Added before the logarithm (m): errors and spreads below ~0.1 mm are all "exact".
EPS_M = 1e-4
#: Steps since the anchor enter in units of this horizon, the fitted rollouts' length.
STEP_SCALE = 64


def error_features(
    spread: np.ndarray,
    accumulated: np.ndarray,
    since_anchor: np.ndarray,
    motion: np.ndarray,
    cube_distance: np.ndarray,
    holding: np.ndarray,
    state_z: np.ndarray,
    action: np.ndarray,
) -> np.ndarray:
    """Per-env features ``(N, 6 + 2 S + A)``: log spread and log carried spread (m), steps since the anchor /
    :data:`STEP_SCALE`, log(1 + commanded first-arm translation since the anchor, action units), log of the
    cube's distance to the first TCP (m) and whether an arm holds it (contact is where the model errs), the
    state normalized by the checkpoint's stats ``(N, S)`` and its magnitude (how far from the data), and
    the native action's magnitudes ``(N, A)``."""
    head = np.stack(
        [
            np.log(spread + EPS_M),
            np.log(accumulated + EPS_M),
            since_anchor / STEP_SCALE,
            np.log1p(motion),
            np.log(cube_distance + 1e-3),
            holding.astype(np.float64),
        ],
        axis=-1,
    )
    return np.concatenate([head, state_z, np.abs(state_z), np.abs(action)], axis=-1)


def feature_count(state_size: int, action_dim: int) -> int:
    """Length of :func:`error_features` rows for a state of ``state_size`` and a native action of ``action_dim``."""
    return 6 + 2 * state_size + action_dim


@dataclass(frozen=True)
class ErrorHead:
    """``log(error + EPS_M) ≈ [(x − mean) / std, 1] · weights``; lists so that it is stored as JSON."""

    mean: list[float]
    std: list[float]
    weights: list[float]
    fit: dict | None = None  # how it was fitted: seeds, samples, in-sample Spearman

    def check(self, features: int) -> None:
        """Refuse a head fitted on another feature set (an older package, another robot's layout)."""
        if len(self.mean) != features or len(self.weights) != features + 1:
            raise ValueError(
                f"the checkpoint's error head reads {len(self.mean)} features, this package computes {features}: "
                "fit it again with 'cosmos3-gym calibrate-uncertainty --model CKPT'"
            )

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Predicted error (m, >= 0) per row of ``features`` ``(N, F)``."""
        x = (features - np.asarray(self.mean)) / np.asarray(self.std)
        w = np.asarray(self.weights)
        return np.maximum(np.exp(x @ w[:-1] + w[-1]) - EPS_M, 0.0)

    def to_dict(self) -> dict:
        return asdict(self)


def fit_ridge(features: np.ndarray, error_m: np.ndarray, alpha: float = 10.0, fit: dict | None = None) -> ErrorHead:
    """Ridge regression of ``log(error_m + EPS_M)`` on standardized ``features`` ``(M, F)`` (``error_m``
    ``(M,)``, m); ``alpha`` shrinks the weights, not the intercept."""
    if len(features) <= features.shape[1]:
        raise ValueError(f"fit_ridge needs more samples than features, got {len(features)} for {features.shape[1]}")
    mean, std = features.mean(0), features.std(0) + 1e-6
    x = np.c_[(features - mean) / std, np.ones(len(features))]
    reg = alpha * np.eye(x.shape[1])
    reg[-1, -1] = 0.0
    w = np.linalg.solve(x.T @ x + reg, x.T @ np.log(error_m + EPS_M))
    return ErrorHead(mean.tolist(), std.tolist(), w.tolist(), fit)
