"""Checkpoints: a folder with ``model.safetensors`` + ``config.json`` (config, normalization stats, hashes),
and ``policy.safetensors`` where the model has a policy expert.

Loading never unpickles anything: weights come from safetensors, everything else from JSON. The
sha256 of each weights file is recorded in ``config.json`` and checked on load, so a truncated or
corrupted checkpoint is refused with a clear error, as is one whose embodiment YAMLs changed. The policy
expert's weights live in their own file so that ``model.safetensors`` (and its digest, which names the
dynamics in every result) stays byte-identical when only the policy is trained.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from cosmos3_gym.model.config import WorldModelConfig
from cosmos3_gym.model.device import check_device
from cosmos3_gym.model.world_model import WorldModel

FORMAT_VERSION = 1
WEIGHTS, CONFIG, POLICY_WEIGHTS = "model.safetensors", "config.json", "policy.safetensors"
#: State-dict prefix of the policy expert's tensors (they go to ``POLICY_WEIGHTS``).
POLICY_PREFIX = "policy_expert."


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupted, or does not match this package's embodiments."""


@dataclass(frozen=True)
class StateStats:
    """Per-embodiment normalization: states ``(s − mean) / std``; future-state deltas ``Δs / delta_std``;
    ``residual_std``: RMS of the one-step residual from the commanded-pose prior (the scale of what a
    ``residual_prior`` model generates; None in checkpoints trained before the prior existed);
    ``action_residual_std``: RMS per raw action channel of the recorded action minus the contract
    inverse, in model-space (token) units (the scale an ``id_prior`` model generates; None before it);
    ``id_residual_gate``: factor on that generated residual at inference, chosen per embodiment by MuJoCo
    replay on training-range seeds (:mod:`cosmos3_gym.validation.calibrate`; 1 = uncalibrated, 0 = the
    contract inverse alone); ``tcp_residual_gate``: factor on the generated TCP residual of forward dynamics
    (pose and rotation), chosen per embodiment by open-loop MuJoCo replay on select seeds
    (:mod:`cosmos3_gym.validation.calibrate_fd`; 1 = as trained, 0 = the commanded-pose prior alone);
    ``kinematic_prior``: the TCP prior is where the controller's IK step takes the arm from the state's
    joints, not the commanded pose itself (:meth:`~cosmos3_gym.model.prior.CommandPrior.reach`; chosen with
    the gate); ``servo_prior``: with the kinematic prior, the arms move toward the IK targets through their
    position servos' dynamics (:class:`~cosmos3_gym.embodiment.servo.JointServo`), not straight onto them;
    ``table_depth_m``: with the kinematic prior, an arm stops where its gripper's lowest point is this deep (m)
    below the table (:func:`~cosmos3_gym.embodiment.hull.rest_on_table`; None: it passes through);
    ``finger_servo``: each gripper opens and closes as its actuator drives the fingers
    (:class:`~cosmos3_gym.embodiment.finger_servo.FingerServo`), not as the generator predicts;
    ``cube_motion``: with the finger servo, an opening finger strikes the cube and a struck cube slides
    (:class:`~cosmos3_gym.model.cube_motion.CubeMotion`; False: the generator moves the cube there);
    ``error_head``: the learned error estimate of the env's ``model_uncertainty``
    (:class:`~cosmos3_gym.model.error_head.ErrorHead` as a dict; None = the carried sample spread);
    ``contact_gate``: the learned "does the cube move" mode (:class:`~cosmos3_gym.model.contact_gate.ContactGate`
    as a dict; None = the generator alone moves the cube)."""

    embodiment: str
    domain_id: int
    dynamics_hash: str
    mean: list[float]
    std: list[float]
    delta_std: list[float]
    residual_std: list[float] | None = None
    action_residual_std: list[float] | None = None
    id_residual_gate: float = 1.0
    tcp_residual_gate: float = 1.0
    kinematic_prior: bool = False
    servo_prior: bool = False
    table_depth_m: float | None = None
    finger_servo: bool = False
    cube_motion: bool = True
    error_head: dict | None = None
    contact_gate: dict | None = None

    @property
    def size(self) -> int:
        return len(self.mean)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return np.asarray(self.mean), np.asarray(self.std), np.asarray(self.delta_std)

    def residual_scale(self) -> np.ndarray:
        """``residual_std / delta_std (S,)``: residual units → normalized state-delta units (1 if unknown)."""
        if self.residual_std is None:
            return np.ones(self.size)
        return np.asarray(self.residual_std) / np.asarray(self.delta_std)

    def action_residual_scale(self, width: int) -> np.ndarray:
        """``action_residual_std`` padded with ones to ``width`` token channels (1 if unknown)."""
        out = np.ones(width)
        if self.action_residual_std is not None:
            out[: len(self.action_residual_std)] = self.action_residual_std
        return out


@dataclass
class Checkpoint:
    """A loaded world model with what it needs to run: stats per embodiment and free-form metadata."""

    model: WorldModel
    stats: dict[str, StateStats]
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _save_tensors(path: Path, name: str, tensors: dict[str, torch.Tensor]) -> str:
    """Write ``tensors`` to ``path/name`` atomically (temp file + rename); returns the file's sha256."""
    fd, tmp = tempfile.mkstemp(dir=path, suffix=".tmp")
    os.close(fd)
    save_file(tensors, tmp)
    os.chmod(tmp, _file_mode())  # after: safetensors replaces the file it writes
    digest = _sha256(Path(tmp))
    os.replace(tmp, path / name)
    return digest


def save_checkpoint(
    path: str | Path, model: WorldModel, stats: dict[str, StateStats], meta: dict[str, Any] | None = None
) -> Path:
    """Write ``path/model.safetensors`` (and ``path/policy.safetensors`` for a policy expert) and
    ``path/config.json``, each atomically (temp files + rename)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()}
    policy = {k: tensors.pop(k) for k in [k for k in tensors if k.startswith(POLICY_PREFIX)]}
    digest = _save_tensors(path, WEIGHTS, tensors)
    policy_digest = _save_tensors(path, POLICY_WEIGHTS, policy) if policy else None
    _write_config(path, model.cfg.to_dict(), digest, stats, meta or {}, policy_digest)
    return path


def _file_mode() -> int:
    """The mode ``open()`` gives a new file under the current umask (``mkstemp`` makes 0600 files, which
    other users and containers could not read)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _write_config(
    path: Path,
    model_cfg: dict[str, Any],
    digest: str,
    stats: dict[str, StateStats],
    meta: dict[str, Any],
    policy_digest: str | None = None,
) -> None:
    config = {
        "format_version": FORMAT_VERSION,
        "model": model_cfg,
        "weights_sha256": digest,
        **({} if policy_digest is None else {"policy_weights_sha256": policy_digest}),
        "stats": {k: asdict(v) for k, v in stats.items()},
        "meta": meta,
    }
    fd, tmp = tempfile.mkstemp(dir=path, suffix=".tmp")
    os.chmod(tmp, _file_mode())
    with os.fdopen(fd, "w") as f:
        json.dump(config, f, indent=1)
    os.replace(tmp, path / CONFIG)


def update_stats(ckpt: Checkpoint, stats: dict[str, StateStats], meta: dict[str, Any]) -> None:
    """Rewrite a loaded checkpoint's ``config.json`` with new stats and meta (weights untouched, atomic)."""
    if ckpt.path is None:
        raise CheckpointError("this checkpoint was not loaded from a folder; save it first")
    recorded = checkpoint_digest(ckpt.path)
    if _sha256(ckpt.path / WEIGHTS) != recorded:  # the weights changed since loading: do not bless them
        raise CheckpointError(f"{ckpt.path / WEIGHTS}: changed since it was loaded; reload and retry")
    policy_digest = json.loads((ckpt.path / CONFIG).read_text()).get("policy_weights_sha256")
    _write_config(ckpt.path, ckpt.model.cfg.to_dict(), recorded, stats, meta, policy_digest)
    # Envs made later in this process must see the new stats, not the copy get_checkpoint cached.
    for key in [k for k, v in _CACHE.items() if v.path is not None and v.path.resolve() == ckpt.path.resolve()]:
        del _CACHE[key]


def checkpoint_digest(path: str | Path) -> str:
    """The recorded sha256 of a checkpoint's weights (``"default"`` = shipped): names a model in results."""
    path = default_checkpoint_path() if str(path) == "default" else Path(path)
    try:
        return str(json.loads((path / CONFIG).read_text())["weights_sha256"])
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{path / CONFIG}: cannot read the weights digest ({exc})") from exc


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu", check_yaml: bool = True) -> Checkpoint:
    """Load and verify a checkpoint folder (or the name ``"default"`` for the shipped one)."""
    check_device(device)  # before the work: a missing GPU is one line, not torch's traceback at .to()
    path = default_checkpoint_path() if str(path) == "default" else Path(path)
    if not (path / CONFIG).is_file() or not (path / WEIGHTS).is_file():
        raise CheckpointError(f"{path}: not a checkpoint (needs {CONFIG} and {WEIGHTS})")
    try:
        config = json.loads((path / CONFIG).read_text())
        cfg = WorldModelConfig.from_dict(config["model"])
        stats = {k: StateStats(**v) for k, v in config["stats"].items()}
        expected = config["weights_sha256"]
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path / CONFIG}: malformed checkpoint config ({exc})") from exc
    if config.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: format_version {config.get('format_version')!r}, expected {FORMAT_VERSION}")
    files = {WEIGHTS: expected}
    if cfg.policy_expert:
        files[POLICY_WEIGHTS] = config.get("policy_weights_sha256", "")
    for name, recorded in files.items():
        if not (path / name).is_file():
            raise CheckpointError(f"{path}: the config has a policy expert but there is no {name}")
        actual = _sha256(path / name)
        if actual != recorded:
            raise CheckpointError(
                f"{path / name}: sha256 {actual[:12]}… does not match the recorded "
                f"{recorded[:12]}… (corrupted or replaced weights)"
            )
    if check_yaml:
        from cosmos3_gym.embodiment import list_embodiments
        from cosmos3_gym.tokens import load_embodiment

        for name, st in stats.items():
            if name in list_embodiments() and load_embodiment(name).dynamics_hash != st.dynamics_hash:
                raise CheckpointError(
                    f"{path}: trained on a different {name} MJCF / action contract / controller / "
                    "observation than this package ships (dynamics_hash differs); retrain, or pass "
                    "check_yaml=False to load it anyway"
                )
    model = WorldModel(cfg)
    try:
        model.load_state_dict({k: v for name in files for k, v in load_file(path / name).items()})
    except (RuntimeError, OSError) as exc:
        raise CheckpointError(f"{path / WEIGHTS}: weights do not fit the recorded config ({exc})") from exc
    model.to(device).eval()
    return Checkpoint(model, stats, config.get("meta", {}), path)


def default_checkpoint_path() -> Path:
    """The checkpoint shipped inside the package (``cosmos3_gym/assets/default``)."""
    return Path(str(resources.files("cosmos3_gym"))) / "assets" / "default"


_CACHE: dict[tuple[str, str], Checkpoint] = {}


def get_checkpoint(model: str | Path | Checkpoint | None, device: str) -> Checkpoint:
    """Resolve ``model=`` (None/"default", a checkpoint folder, or a loaded Checkpoint), loaded once per
    process and device: every env of a vector, and every env an RL run makes, shares one model."""
    if isinstance(model, Checkpoint):
        return model
    key = (str(model or "default"), str(device))
    if key not in _CACHE:
        _CACHE[key] = load_checkpoint(key[0], device)
    return _CACHE[key]
