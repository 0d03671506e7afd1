"""``policy-head`` against a served Cosmos3 (the loopback fake of vLLM-Omni, 127.0.0.1 only): the same kind and
adapters as the local policy mode, on the twin and inside the learned simulator."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fake_cosmos3_server import FakeCosmos3Server, decode_png

from cosmos3_gym.backends.remote_policy import FRAME
from cosmos3_gym.model.prior import CommandPrior
from cosmos3_gym.sim.policies import make_policy, policy_from_spec
from cosmos3_gym.sim.twin_env import MujocoTwinEnv
from cosmos3_gym.tokens.native import NativeActionMap


def served_rows(cap) -> np.ndarray:
    """The fake's policy answer (model space): a different chunk for every request seed."""
    extra = cap.extra
    rng = np.random.default_rng(int(cap.fields["seed"]))
    return rng.uniform(-0.6, 0.6, (extra["action_chunk_size"], extra["raw_action_dim"]))


@pytest.fixture()
def server():
    with FakeCosmos3Server(in_progress_polls=0) as srv:
        srv.model_actions = served_rows
        yield srv


def test_served_policy_head_runs_the_answers_through_the_same_adapters(server):
    twin = MujocoTwinEnv("ur5e", "lift")
    camera = MujocoTwinEnv("ur5e", "lift", render_mode="rgb_array", width=FRAME, height=FRAME)
    prior, nmap = CommandPrior(twin.emb), NativeActionMap(twin.emb)
    agent = make_policy("policy-head", twin, seed=7, checkpoint=server.url, replan=4)
    obs, _ = twin.reset(seed=7)
    agent.reset(obs)
    states = []
    for t in range(6):
        action = agent(obs)
        states.append(obs["observation"])
        posts = server.posts()
        raw = twin.emb.denormalize(served_rows(posts[-1]))
        expected = nmap.from_raw(prior.arm_tcp(obs["observation"][None]), raw[t % 4][None])[0]
        np.testing.assert_allclose(action, expected, rtol=1e-6, atol=1e-6)
        assert action.dtype == np.float32 and twin.action_space.contains(action)
        obs, *_ = twin.step(action)
    posts = server.posts()
    assert len(posts) == 2 and len(agent.requests) == 2  # replans at steps 0 and 4
    for post, t in zip(posts, (0, 4), strict=True):
        assert post.extra["action_mode"] == "policy" and post.extra["domain_name"] == twin.emb.domain_name
        assert post.fields["seed"] == str(7 + t) and post.fields["prompt"] == "Pick up the cube and lift it."
        # The frame it saw is the state the env reported at that step, rendered by the twin.
        frame = decode_png(post.files["input_reference"][2])
        np.testing.assert_array_equal(frame, camera.render_qpos(camera.state_qpos(states[t])))
    assert server.count("DELETE", "/v1/videos/") == 2


def test_served_policy_head_acts_inside_the_learned_simulator_and_through_specs(server, make):
    env = make("Cosmos3-Franka-Push-v0")
    twin = MujocoTwinEnv("franka", "push")
    agent = policy_from_spec(f"policy-head:{server.url}", twin)(3)
    obs, _ = env.reset(seed=3)
    agent.reset(obs)
    for _ in range(5):
        action = agent(obs)
        assert env.action_space.contains(action)
        obs, *_ = env.step(action)
    assert [p.fields["seed"] for p in server.posts()] == ["3", "7"]


def test_validate_runs_a_served_policy_head(server, tiny_model, tmp_path, capsys):
    from cosmos3_gym.cli import main

    policy = ["--policy", f"policy-head:{server.url}"]
    args = ["validate", "--env", "Cosmos3-WidowX-Reach-v0", "--model", tiny_model, *policy]
    rest = ["--episodes", "1", "--horizon", "3", "--out", str(tmp_path), "--ranking-policies", "--scenarios"]
    flags = ["--video-episodes", "0", "--no-plots", "--no-id", "--uncertainty-samples", "0", "--json"]
    assert main([*args, *rest, *flags]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["closed_loop"]["outcome"]["episodes"] == 1 and server.posts()


def test_served_policy_head_fails_in_one_line():
    twin = MujocoTwinEnv("franka", "reach")
    with FakeCosmos3Server() as srv:
        url = srv.url
    cases = [
        ({"checkpoint": url}, f"policy 'policy-head' at {url}:"),  # nothing listens there any more
        ({"checkpoint": url, "replan": 17}, "replan must be an integer in [1, 16]"),
        ({"checkpoint": url, "flow_steps": 0}, "num_inference_steps must be in [1,"),
        ({"checkpoint": url, "stochastic": True}, "stochastic applies to a local checkpoint"),
    ]
    for options, message in cases:
        with pytest.raises(ValueError) as info:
            make_policy("policy-head", twin, 0, **options)
        assert message in str(info.value) and "\n" not in str(info.value), str(info.value)
