"""Policies: one registry of named kinds for data collection, validation and evaluation.

A :class:`Policy` is ``reset(obs)`` at episode start, then ``policy(obs) -> action`` (float32, the env's native
action space). ``make_policy(kind, env, seed, **options)`` builds one; ``policy_factory(kind, env, **options)``
checks the options and loads what the kind needs (an agent zip, a checkpoint) once and returns ``seed -> Policy``,
one fresh, identically seeded policy per episode. Kinds (:func:`policy_kinds`):

- ``expert``: the scripted expert of the env's task (:mod:`cosmos3_gym.sim.experts`);
- ``noisy-expert`` (``sigma``, default 0.3): the expert plus temporally correlated Gaussian noise (wider
  state coverage);
- ``random-smooth``: low-pass filtered uniform noise (exploration-like, no task knowledge);
- ``stop-and-go``: the expert interrupted by pauses: stretches of zero motion command and of small random
  commands (the regime of an RL agent near its goal, which the other kinds never visit);
- ``contact-mix``: contact the experts never vary: carries to many heights, pushes from many angles and
  speeds, drops, and an open or closed gripper passing near the cube (:mod:`cosmos3_gym.sim.contact_policies`);
- ``agent`` (``agent``: an SB3 ``.zip`` or loaded model, required; ``noise``, default 0.05): a trained
  stable-baselines3 agent (deterministic actions) plus small correlated noise: the states an agent actually
  visits, for on-policy data aggregation;
- ``policy-head`` (``checkpoint``, default the shipped model, or a served Cosmos3's ``http(s)://`` URL;
  ``replan``; ``flow_steps``; ``device``; ``stochastic``): the world model's policy mode
  (:mod:`cosmos3_gym.model.policy_agent`) or the served model's (:mod:`cosmos3_gym.backends.remote_policy`);
- ``planner`` (``checkpoint``; ``samples``; ``iterations``; ``noise``; ``replan``; ``device``; ``margin``;
  ``guard``): sampling MPC inside the world model around the policy mode's proposals (:mod:`cosmos3_gym.model.planner`);
- ``sine-sweep``, ``abrupt-reversal``, ``reversals``, ``biased-expert``, ``slow-sine``: unusual action sequences
  of the held-out validation scenarios and action families (:mod:`cosmos3_gym.validation.policies`), validation
  only: no training mixture may contain them.

A kind names its builder ``builder(env, **options) -> PolicyFactory`` by an entry-point string
``"module:function"`` resolved with importlib when a policy is built (as Gymnasium's ``entry_point``), so kinds
of later layers live in their own layer and this module imports none of them.

Spec strings (``validate --policy``, ranking policies, scenarios): ``KIND`` or ``KIND:VALUE``, where VALUE sets
the kind's first option (``noisy-expert:0.6``, ``agent:PATH.zip``, ``policy-head:CKPT``,
``policy-head:http://host:8000``); a bare ``PATH.zip`` is an SB3 agent acting without noise.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    from cosmos3_gym.sim.twin_env import MujocoTwinEnv

#: Noise std of the ``agent`` kind: small, so that near the goal the agent's own small actions still dominate.
AGENT_NOISE = 0.05
#: The commands that take a policy kind.
USES = ("collect", "validate")


class Policy(Protocol):
    """``reset(obs)`` at episode start, then ``policy(obs) -> action`` every step."""

    def reset(self, obs: dict[str, np.ndarray]) -> None: ...

    def __call__(self, obs: dict[str, np.ndarray]) -> np.ndarray: ...


#: ``factory(seed) -> Policy``: a fresh policy per episode (seed = episode seed, so paired runs match).
PolicyFactory = Callable[[int], Policy]


class RandomSmooth:
    """``a_t = α a_{t-1} + (1 − α) u_t``, ``u_t ~ U(-1, 1)``, rescaled so that |a| spans the box."""

    def __init__(self, dim: int, seed: int, alpha: float = 0.8) -> None:
        self.dim, self.alpha = dim, alpha
        self.rng = np.random.default_rng(seed)
        self.state = np.zeros(dim)
        # Std of the filtered process is σ_u · sqrt((1 − α) / (1 + α)); undo that shrinkage.
        self.gain = np.sqrt((1 + alpha) / (1 - alpha))

    def reset(self, obs: dict[str, np.ndarray]) -> None:
        self.state = np.zeros(self.dim)

    def __call__(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        self.state = self.alpha * self.state + (1 - self.alpha) * self.rng.uniform(-1, 1, self.dim)
        return np.clip(self.gain * self.state, -1, 1).astype(np.float32)


class NoisyExpert:
    """A base policy's action (the expert, or an agent) plus AR(1) Gaussian noise of std ``sigma``
    (clipped to the box)."""

    def __init__(self, expert: Policy, dim: int, seed: int, sigma: float = 0.3, alpha: float = 0.7) -> None:
        self.expert, self.sigma, self.alpha = expert, sigma, alpha
        self.rng = np.random.default_rng(seed)
        self.noise = np.zeros(dim)

    def reset(self, obs: dict[str, np.ndarray]) -> None:
        self.expert.reset(obs)
        self.noise[:] = 0.0

    def __call__(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        self.noise = self.alpha * self.noise + np.sqrt(1 - self.alpha**2) * self.rng.normal(
            0, self.sigma, self.noise.shape
        )
        return np.clip(self.expert(obs) + self.noise, -1, 1).astype(np.float32)


class StopAndGo:
    """The expert, with pauses: a Markov chain over ``go`` (expert action), ``hold`` (zero motion) and
    ``jitter`` (motion ~ N(0, ``small``²) per channel). Grippers always follow the expert, so a grasped
    cube stays grasped through a pause. Segments last ``mean_steps`` on average; an episode starts in a
    pause half the time (an arm held still at its reset pose)."""

    MODES = ("go", "hold", "jitter")

    def __init__(self, expert: Policy, dim: int, seed: int, mean_steps: float = 10.0, small: float = 0.05) -> None:
        self.expert, self.small = expert, small
        self.rng = np.random.default_rng(seed)
        self.p_end = 1.0 / mean_steps
        # Every channel but each arm's gripper ([dx dy dz rx ry rz g] per arm).
        self.motion = np.flatnonzero(np.arange(dim) % 7 != 6)
        self.mode = "go"

    def reset(self, obs: dict[str, np.ndarray]) -> None:
        self.expert.reset(obs)
        self.mode = "go" if self.rng.random() < 0.5 else str(self.rng.choice(self.MODES[1:]))

    def __call__(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        action = np.asarray(self.expert(obs), dtype=np.float64)  # advances the expert's phase every step
        if self.rng.random() < self.p_end:  # a pause resumes the expert; the expert pauses either way
            self.mode = str(self.rng.choice(self.MODES[1:])) if self.mode == "go" else "go"
        if self.mode == "hold":
            action[self.motion] = 0.0
        elif self.mode == "jitter":
            action[self.motion] = self.rng.normal(0.0, self.small, len(self.motion))
        return np.clip(action, -1, 1).astype(np.float32)


@dataclass(frozen=True)
class Option:
    """A keyword option of a kind. ``metavar`` names its value in specs and messages; ``parse`` turns the
    VALUE of a ``KIND:VALUE`` spec into it (first option only)."""

    name: str
    help: str
    metavar: str
    required: bool = False
    parse: Callable[[str], Any] = str


@dataclass(frozen=True)
class PolicyKind:
    """A registered kind: ``entry_point`` (``"module:function"`` or the function) is called as
    ``builder(env, **options) -> PolicyFactory``; ``uses``: the commands that accept the kind."""

    name: str
    entry_point: str | Callable[..., PolicyFactory]
    summary: str
    options: tuple[Option, ...] = ()
    uses: tuple[str, ...] = USES

    def form(self) -> str:
        """The kind as a spec pattern, e.g. ``noisy-expert[:SIGMA]`` or ``agent:PATH.zip``."""
        if not self.options:
            return self.name
        first = self.options[0]
        return f"{self.name}:{first.metavar}" if first.required else f"{self.name}[:{first.metavar}]"


_REGISTRY: dict[str, PolicyKind] = {}


def register_policy(kind: PolicyKind) -> None:
    """Add a kind to the registry (names are unique; ``uses`` only from :data:`USES`)."""
    if kind.name in _REGISTRY:
        raise ValueError(f"policy {kind.name!r} is already registered")
    if bad := sorted(set(kind.uses) - set(USES)):
        raise ValueError(f"policy {kind.name!r}: unknown uses {bad}; allowed: {', '.join(USES)}")
    _REGISTRY[kind.name] = kind


def policy_kinds(use: str | None = None) -> tuple[str, ...]:
    """Registered kind names in registration order; with ``use``, only those that command accepts."""
    return tuple(name for name, k in _REGISTRY.items() if use is None or use in k.uses)


def get_policy_kind(name: str, use: str | None = None) -> PolicyKind:
    """The registered kind ``name``; raises a one-line ``ValueError`` naming the allowed kinds."""
    if use is not None and use not in USES:
        raise ValueError(f"unknown use {use!r}; allowed: {', '.join(USES)}")
    allowed = ", ".join(policy_kinds(use))
    if name not in _REGISTRY:
        raise ValueError(f"unknown policy {name!r}; allowed: {allowed}")
    if use is not None and use not in _REGISTRY[name].uses:
        raise ValueError(
            f"policy {name!r} is not for {use} (only {', '.join(_REGISTRY[name].uses)}); allowed: {allowed}"
        )
    return _REGISTRY[name]


def check_policy(kind: str, use: str | None = None, **options: Any) -> dict[str, Any]:
    """Check a kind's name and option names without loading anything; returns the options given (an option
    set to None counts as not given). Raises a one-line ``ValueError`` naming what is allowed."""
    spec = get_policy_kind(kind, use)
    given = {k: v for k, v in options.items() if v is not None}
    names = [o.name for o in spec.options]
    for name in given:
        if name not in names:
            owners = [k.name for k in _REGISTRY.values() if name in {o.name for o in k.options}]
            hint = f" (only policy {', '.join(map(repr, owners))} takes it)" if owners else ""
            raise ValueError(
                f"policy {kind!r} takes no option {name!r}{hint}; its options: {', '.join(names) or 'none'}"
            )
    for o in spec.options:
        if o.required and o.name not in given:
            raise ValueError(
                f"policy {kind!r} needs {o.help}: pass {o.name}={o.metavar} (as a spec: {kind}:{o.metavar})"
            )
    return given


def _resolve(entry_point: str | Callable[..., PolicyFactory]) -> Callable[..., PolicyFactory]:
    if callable(entry_point):
        return entry_point
    module, _, attr = entry_point.partition(":")
    return getattr(importlib.import_module(module), attr)


def policy_factory(kind: str, env: MujocoTwinEnv, **options: Any) -> PolicyFactory:
    """Check ``kind`` and ``options``, load what the kind needs once, return ``seed -> Policy``.

    ``env``: an (unwrapped) :class:`~cosmos3_gym.sim.twin_env.MujocoTwinEnv`. A bad kind or option raises a
    one-line ``ValueError`` naming what is allowed, before any policy acts."""
    given = check_policy(kind, **options)
    return _resolve(_REGISTRY[kind].entry_point)(env, **given)


def make_policy(kind: str, env: MujocoTwinEnv, seed: int, **options: Any) -> Policy:
    """One policy of ``kind`` for ``env`` seeded ``seed``; ``options`` as the kind takes them (see the module doc)."""
    return policy_factory(kind, env, **options)(seed)


def spec_forms(use: str | None = None) -> str:
    """The accepted spec strings, for help texts and messages."""
    return ", ".join([get_policy_kind(k).form() for k in policy_kinds(use)] + ["PATH.zip (an SB3 agent, no noise)"])


def parse_spec(spec: str, use: str | None = None) -> tuple[str, dict[str, Any]]:
    """``KIND`` or ``KIND:VALUE`` (VALUE sets the kind's first option) or a bare ``PATH.zip`` (an SB3 agent
    without noise) → ``(kind, options)``; raises a one-line ``ValueError`` naming the forms ``use`` allows."""
    name, sep, value = spec.partition(":")
    if name not in _REGISTRY:
        if spec.endswith(".zip"):
            return "agent", {"agent": spec, "noise": 0.0}
        raise ValueError(f"unknown policy {spec!r}; allowed: {spec_forms(use)}")
    if not sep:
        return name, {}
    kind = _REGISTRY[name]
    if not kind.options:
        raise ValueError(f"policy {spec!r}: {name!r} takes no value; allowed: {spec_forms(use)}")
    first = kind.options[0]
    try:
        return name, {first.name: first.parse(value)}
    except ValueError as exc:
        raise ValueError(f"policy {spec!r}: {first.metavar} {exc}") from None


def policy_from_spec(spec: str, env: MujocoTwinEnv, use: str | None = "validate", **defaults: Any) -> PolicyFactory:
    """:func:`policy_factory` of a spec string. ``defaults``: options applied where the kind takes them and the
    spec does not set them (``validate`` gives ``policy-head`` the validated checkpoint this way)."""
    kind, options = parse_spec(spec, use)
    taken = {o.name for o in get_policy_kind(kind, use).options}
    return policy_factory(kind, env, **{**{k: v for k, v in defaults.items() if k in taken}, **options})


def number(text: str) -> float:
    """Spec text → float (``parse`` of number options)."""
    try:
        return float(text)
    except ValueError:
        raise ValueError("must be a number") from None


def non_negative(kind: str, name: str, value: object) -> float:
    """``value`` as a float >= 0, else a one-line ``ValueError`` naming the kind and option."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating) or not value >= 0:
        raise ValueError(f"policy {kind!r}: {name} must be a number >= 0, got {value!r}")
    return float(value)


def _dim(env: MujocoTwinEnv) -> int:
    return int(env.action_space.shape[0])


def _expert(env: MujocoTwinEnv) -> PolicyFactory:
    from cosmos3_gym.sim.experts import make_expert

    make_expert(env)  # an env without an expert fails now, not mid-rollout
    return lambda seed: make_expert(env)


def _noisy_expert(env: MujocoTwinEnv, sigma: float = 0.3) -> PolicyFactory:
    sigma, expert = non_negative("noisy-expert", "sigma", sigma), _expert(env)
    return lambda seed: NoisyExpert(expert(seed), _dim(env), seed, sigma=sigma)


def _random_smooth(env: MujocoTwinEnv) -> PolicyFactory:
    return lambda seed: RandomSmooth(_dim(env), seed)


def _stop_and_go(env: MujocoTwinEnv) -> PolicyFactory:
    expert = _expert(env)
    return lambda seed: StopAndGo(expert(seed), _dim(env), seed)


for _kind in (
    PolicyKind("expert", _expert, "the scripted expert of the task"),
    PolicyKind(
        "noisy-expert",
        _noisy_expert,
        "the expert plus AR(1) Gaussian noise",
        (Option("sigma", "the noise std (default 0.3)", "SIGMA", parse=number),),
    ),
    PolicyKind("random-smooth", _random_smooth, "low-pass filtered uniform noise"),
    PolicyKind("stop-and-go", _stop_and_go, "the expert with pauses (hold still, small jitter)"),
    PolicyKind(
        "contact-mix",
        "cosmos3_gym.sim.contact_policies:contact_mix_policy",
        "the expert at varied goals, speeds and drops, or hovering near the cube",
    ),
    PolicyKind(
        "agent",
        "cosmos3_gym.sim.agents:agent_policy",
        "a trained SB3 agent plus small AR(1) noise",
        (
            Option("agent", "the trained agent (a stable-baselines3 .zip or loaded model)", "PATH.zip", required=True),
            Option("noise", f"the noise std (default {AGENT_NOISE})", "STD", parse=number),
        ),
    ),
    PolicyKind(
        "policy-head",
        "cosmos3_gym.backends.remote_policy:policy_head_policy",
        "the world model's policy mode, or a served Cosmos3's",
        (
            Option("checkpoint", "a checkpoint folder (default: the shipped one) or a served model's URL", "CKPT|URL"),
            Option("replan", "steps between plans (default 4)", "N", parse=int),
            Option("flow_steps", "flow-matching steps per plan (default 1; served: the server's 30)", "N", parse=int),
            Option("device", "the torch device of a local model (default cpu)", "DEVICE"),
            Option("stochastic", "sample the flow's starting noise (default False: the deterministic path)", "BOOL"),
        ),
    ),
    PolicyKind(
        "planner",
        "cosmos3_gym.model.planner:planner_policy",
        "sampling MPC: chunks around the policy mode's proposal scored by the task reward inside the world model",
        (
            Option("checkpoint", "a world-model checkpoint folder (default: the shipped model)", "CKPT"),
            Option("samples", "candidate chunks per plan (default 64)", "N", parse=int),
            Option("iterations", "MPPI rounds per plan (default 2)", "N", parse=int),
            Option("noise", "std of the candidates' token noise (default 0.1)", "STD", parse=number),
            Option("replan", "steps between plans (default 4)", "N", parse=int),
            Option("device", "the torch device of the model (default cpu)", "DEVICE"),
            Option("margin", "return a candidate must gain over the policy's chunk (default 0)", "R", parse=number),
            Option("guard", "predicted share of the best return that skips search (default 0.9)", "F", parse=number),
        ),
    ),
    PolicyKind(
        "sine-sweep",
        "cosmos3_gym.validation.policies:sine_sweep_policy",
        "chirped sinusoidal actions (held-out scenario)",
        uses=("validate",),
    ),
    PolicyKind(
        "abrupt-reversal",
        "cosmos3_gym.validation.policies:abrupt_reversal_policy",
        "constant actions with sign flips (held-out scenario)",
        uses=("validate",),
    ),
    PolicyKind(
        "reversals",
        "cosmos3_gym.validation.policies:reversals_policy",
        "saturated commands flipping sign every 3-10 steps (held-out action family)",
        uses=("validate",),
    ),
    PolicyKind(
        "biased-expert",
        "cosmos3_gym.validation.policies:biased_expert_policy",
        "the expert plus a constant per-episode bias (held-out action family)",
        uses=("validate",),
    ),
    PolicyKind(
        "slow-sine",
        "cosmos3_gym.validation.policies:slow_sine_policy",
        "slow sinusoidal sweeps (held-out action family)",
        uses=("validate",),
    ),
):
    register_policy(_kind)
