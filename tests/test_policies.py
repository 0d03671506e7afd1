"""The one policy registry: every kind builds through ``make_policy`` and acts in the env's action space, with
the same actions from the same seed; ``collect`` and ``validate`` accept every kind that applies, by the
registry's names; a bad kind or option fails with one line naming what is allowed.

Kinds are discovered from the registry: a new kind is covered without editing this file, and a new required
option fails here until the test knows a value for it.
"""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
import torch

import cosmos3_gym
from cosmos3_gym.cli import main
from cosmos3_gym.data import collect, load_dataset
from cosmos3_gym.model.checkpoint import load_checkpoint
from cosmos3_gym.registration import robot_name
from cosmos3_gym.sim.policies import get_policy_kind, make_policy, policy_from_spec, policy_kinds
from cosmos3_gym.sim.twin_env import MujocoTwinEnv
from cosmos3_gym.validation import api

EMBODIMENTS = cosmos3_gym.list_embodiments()


def _untrained_agent(env: MujocoTwinEnv) -> object:
    from stable_baselines3 import PPO

    return PPO("MultiInputPolicy", env, n_steps=8, batch_size=8, seed=0, device="cpu")


@pytest.fixture(scope="module")
def shipped():
    return load_checkpoint("default")


def _options(kind: str, env: MujocoTwinEnv, shipped) -> dict:
    """Values for the options ``kind`` takes, by option name; every required option must have one here."""
    values = {"agent": lambda: _untrained_agent(env), "checkpoint": lambda: shipped}
    spec = get_policy_kind(kind)
    missing = [o.name for o in spec.options if o.required and o.name not in values]
    assert not missing, f"the test has no value for required option(s) {missing} of policy {kind!r}"
    return {o.name: values[o.name]() for o in spec.options if o.name in values}


def _actions(policy, env: gym.Env, seed: int, steps: int = 5) -> np.ndarray:
    obs, _ = env.reset(seed=seed)
    policy.reset(obs)
    out = []
    for _ in range(steps):
        out.append(policy(obs))
        assert out[-1].dtype == np.float32 and out[-1].shape == env.action_space.shape
        assert env.action_space.contains(out[-1]), f"action {out[-1]} outside the box"
        obs, *_ = env.step(out[-1])
    return np.stack(out)


@pytest.mark.parametrize("embodiment", EMBODIMENTS)
@pytest.mark.parametrize("kind", policy_kinds())
def test_every_kind_acts_in_the_action_space(embodiment, kind, shipped):
    env = gym.make(f"Cosmos3-{robot_name(embodiment)}-Push-MuJoCo-v0")
    twin = env.unwrapped
    _actions(make_policy(kind, twin, seed=0, **_options(kind, twin, shipped)), env, seed=0)
    env.close()


@pytest.mark.parametrize("kind", policy_kinds())
def test_same_seed_same_actions(kind, shipped):
    env = MujocoTwinEnv("franka", "lift")
    opts = _options(kind, env, shipped)
    first, second = (_actions(make_policy(kind, env, seed=3, **opts), env, seed=3, steps=8) for _ in range(2))
    np.testing.assert_array_equal(first, second)


def test_bad_kinds_and_options_fail_in_one_line(shipped):
    env = MujocoTwinEnv("franka", "reach")
    cases = [
        (lambda: make_policy("scripted", env, 0), f"unknown policy 'scripted'; allowed: {', '.join(policy_kinds())}"),
        (lambda: make_policy("expert", env, 0, sigma=0.1), "policy 'expert' takes no option 'sigma'"),
        (lambda: make_policy("noisy-expert", env, 0, agent="a.zip"), "its options: sigma"),
        (lambda: make_policy("agent", env, 0), "policy 'agent' needs the trained agent"),
        (lambda: make_policy("agent", env, 0, agent="/nonexistent/a.zip"), "no such file"),
        (lambda: make_policy("noisy-expert", env, 0, sigma=-1), "sigma must be a number >= 0"),
        (lambda: make_policy("policy-head", env, 0, checkpoint="/nonexistent"), "not a checkpoint"),
        (lambda: make_policy("policy-head", env, 0, checkpoint=shipped, replan=0), "replan must be an integer"),
        (lambda: make_policy("planner", env, 0, checkpoint=shipped, samples=1), "samples >= 2"),
        (lambda: make_policy("planner", env, 0, checkpoint=shipped, noise=-0.1), "noise >= 0"),
        (lambda: make_policy("planner", env, 0, checkpoint=shipped, replan=17), "replan must be in [1, 16]"),
        (lambda: policy_from_spec("greedy", env), "unknown policy 'greedy'; allowed: expert, noisy-expert[:SIGMA]"),
        (lambda: policy_from_spec("expert:2", env), "'expert' takes no value"),
        (lambda: policy_from_spec("noisy-expert:lots", env), "SIGMA must be a number"),
        (lambda: policy_from_spec("sine-sweep", env, use="collect"), "policy 'sine-sweep' is not for collect"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError) as info:
            call()
        assert message in str(info.value) and "\n" not in str(info.value), str(info.value)


def test_specs_name_the_same_policies_as_kinds():
    """``noisy-expert:0.6`` is ``noisy-expert`` with ``sigma=0.6``; a bare zip is the agent without noise."""
    env = MujocoTwinEnv("franka", "lift")
    a = _actions(policy_from_spec("noisy-expert:0.6", env)(4), env, 4)
    np.testing.assert_array_equal(a, _actions(make_policy("noisy-expert", env, 4, sigma=0.6), env, 4))
    assert not np.array_equal(a, _actions(make_policy("noisy-expert", env, 4), env, 4))


# -- collect --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def franka_reach_zip(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("agent") / "agent"
    _untrained_agent(MujocoTwinEnv("franka", "reach")).save(out)
    return f"{out}.zip"


def test_collect_cli_accepts_every_collecting_kind(tmp_path, capsys, franka_reach_zip, tiny_model):
    kinds = policy_kinds("collect")
    assert set(kinds) < set(policy_kinds()) and "sine-sweep" not in kinds  # held-out kinds never collect
    with pytest.raises(SystemExit):
        main(["collect", "--help"])
    assert "{" + ",".join(kinds) + "}" in capsys.readouterr().out  # the choices are the registry's
    values = {"agent": franka_reach_zip, "checkpoint": tiny_model}
    for kind in kinds:
        flags = [x for o in get_policy_kind(kind).options if o.name in values for x in (f"--{o.name}", values[o.name])]
        out = tmp_path / kind
        args = ["collect", "--embodiment", "franka", "--task", "reach", "--episodes", "1", "--max-steps", "3"]
        assert main([*args, "--policy", kind, "--out", str(out), "--json", *flags]) == 0, kind
        assert json.loads(capsys.readouterr().out)["policy"] == kind
        meta = load_dataset(out).sources[0].cosmos3
        assert meta["policy"] == kind
        takes_checkpoint = any(o.name == "checkpoint" for o in get_policy_kind(kind).options)
        assert meta["policy_options"] == ({"checkpoint": tiny_model} if takes_checkpoint else None)
    with pytest.raises(SystemExit):
        main(["collect", "--embodiment", "franka", "--task", "reach", "--episodes", "1", "--policy", "sine-sweep"])
    with pytest.raises(ValueError, match="policy 'sine-sweep' is not for collect"):
        collect("franka", "reach", 1, "sine-sweep", tmp_path / "held_out", progress=False)


# -- validate -------------------------------------------------------------------------------------------
def test_validate_accepts_every_kind(tiny_model, franka_reach_zip, capsys):
    env_id = "Cosmos3-Franka-Reach-v0"
    twin = MujocoTwinEnv("franka", "reach")
    with pytest.raises(SystemExit):
        main(["validate", "--help"])
    help_text = "".join(capsys.readouterr().out.split())  # argparse wraps lines at hyphens too
    values = {"agent": franka_reach_zip}
    for kind in policy_kinds("validate"):
        spec_kind = get_policy_kind(kind)
        assert spec_kind.form() in help_text
        first = spec_kind.options[0] if spec_kind.options else None
        spec = f"{kind}:{values[first.name]}" if first is not None and first.required else kind
        p = api.plan(env_id, tiny_model, spec, 1, 4, ranking_policies=(spec, "expert"), scenarios=("nominal",))
        _actions(p.policy_factory(0), twin, 0)
        _actions(p.ranking[0][1](0), twin, 0)
    # A bare zip is the agent acting without noise; policy-head is the validated model's policy head.
    p = api.plan(env_id, tiny_model, franka_reach_zip, 1, 4, ranking_policies=(), scenarios=())
    assert p.policy == "agent.zip" and type(p.policy_factory(0)).__name__ == "SB3Policy"
    head = api.plan(env_id, tiny_model, "policy-head", 1, 4, ranking_policies=(), scenarios=()).policy_factory(0)
    tiny = next(load_checkpoint(tiny_model).model.parameters())
    assert torch.equal(next(head.runner.model.parameters()), tiny)


def test_validate_cli_runs_the_policy_head(tiny_model, tmp_path, capsys):
    args = ["validate", "--env", "Cosmos3-Franka-Reach-v0", "--model", tiny_model, "--policy", "policy-head"]
    rest = ["--episodes", "1", "--horizon", "3", "--out", str(tmp_path), "--ranking-policies", "--scenarios"]
    flags = ["--video-episodes", "0", "--no-plots", "--no-id", "--uncertainty-samples", "0", "--json"]
    assert main([*args, *rest, *flags]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["policy"] == "policy-head" and report["closed_loop"]["outcome"]["episodes"] == 1
    bad = main(["validate", "--env", "Cosmos3-Franka-Reach-v0", "--model", tiny_model, "--policy", "greedy"])
    assert bad == 2 and "unknown policy 'greedy'; allowed: expert" in capsys.readouterr().err
