"""RemoteCosmos3Env and ``cosmos3-gym remote-check`` against the loopback fake server (127.0.0.1 only)."""

from __future__ import annotations

import json
import logging
import socket

import gymnasium as gym
import numpy as np
import pytest
from fake_cosmos3_server import FakeCosmos3Server, decode_png
from scipy.spatial.transform import Rotation

from cosmos3_gym import list_embodiments, load_embodiment
from cosmos3_gym.backends import make_remote_env
from cosmos3_gym.backends.actions import native_chunk_to_raw
from cosmos3_gym.cli import main
from cosmos3_gym.tokens.native import NativeActionMap

FAST = {"poll_interval_s": 0.005, "backoff_s": 0.005, "width": 64, "height": 64}


@pytest.fixture()
def server():
    with FakeCosmos3Server(in_progress_polls=1) as srv:
        yield srv


def expected_raw(emb, tcp_blocks: np.ndarray, chunk: np.ndarray) -> np.ndarray:
    """Independent replay of the controller's target rule (scipy rotations) → raw Cosmos3 actions."""
    amap = NativeActionMap(emb)
    act = emb.spec.action
    poses = [tcp_blocks.copy()]
    grip = np.zeros((len(chunk), len(emb.spec.grippers)))
    for k, a in enumerate(chunk):
        nxt = poses[-1].copy()
        for arm, block in enumerate(amap.arm_block):
            d = a[7 * arm : 7 * arm + 7]
            nxt[block, :3, 3] += d[:3] * act.max_translation_m
            nxt[block, :3, :3] = Rotation.from_rotvec(d[3:6] * act.max_rotation_rad).as_matrix() @ nxt[block, :3, :3]
            g = emb.spec.grippers[amap.gripper_slot[arm]]
            frac = (d[6] + 1) / 2
            grip[k, amap.gripper_slot[arm]] = frac * g.max_width_m if g.convention == "width_m" else frac
        poses.append(nxt)
    poses = np.stack(poses)
    return emb.poses_to_actions(poses[:, 0], grip[:, 0]) if emb.num_poses == 1 else emb.poses_to_actions(poses, grip)


@pytest.mark.parametrize("name", list_embodiments())
def test_native_chunk_to_raw_replays_the_controller_rule(name):
    emb = load_embodiment(name)
    q = emb.make_model().key("home").qpos[: emb.dof]
    blocks = np.asarray(emb.forward_kinematics(q)).reshape(emb.num_poses, 4, 4)
    tcp = blocks[NativeActionMap(emb).arm_block]
    chunk = np.random.default_rng(1).uniform(-1, 1, (emb.chunk_size, emb.native_action_dim))
    raw, commanded = native_chunk_to_raw(emb, tcp, chunk)
    np.testing.assert_allclose(raw, expected_raw(emb, blocks, chunk), atol=1e-12)
    assert commanded.shape == (emb.chunk_size + 1, *tcp.shape)


@pytest.mark.parametrize("name", ["franka", "agibot"])  # one- and two-arm; rendering is the slow part
def test_remote_env_steps_chunks_through_forward_dynamics(server, name):
    env = make_remote_env(name, "lift", server.url, reward_fn=lambda f: float(f.mean()), **FAST)
    emb = env.emb
    assert env.action_space.shape == (emb.chunk_size, emb.native_action_dim)
    obs, info = env.reset(seed=3)
    assert env.observation_space.contains(obs)
    np.testing.assert_array_equal(obs, env.twin.render())  # the start frame is the twin's
    blocks = np.asarray(emb.forward_kinematics(env.twin.data.qpos[: emb.dof])).reshape(emb.num_poses, 4, 4)
    rng = np.random.default_rng(0)
    chunk = rng.uniform(-1.2, 1.2, env.action_space.shape)  # out-of-box values are clipped, as the twin does
    obs2, reward, terminated, truncated, info = env.step(chunk)
    post = server.posts()[0]
    np.testing.assert_array_equal(decode_png(post.files["input_reference"][2]), obs)
    want = expected_raw(emb, blocks, np.clip(chunk, -1, 1))
    np.testing.assert_allclose(np.array(post.extra["action"]), emb.normalize(want), atol=1e-9)
    assert post.extra["action_mode"] == "forward_dynamics" and post.fields["seed"] == "3"
    assert info["frames"].shape == (emb.chunk_size + 1, 64, 64, 3) and info["request_id"] == "video_gen_0000"
    np.testing.assert_array_equal(obs2, info["frames"][-1])
    assert reward == pytest.approx(float(info["frames"].mean())) and not terminated and not truncated
    env.step(np.zeros(env.action_space.shape))  # the next request starts from the predicted frame
    second = server.posts()[1]
    np.testing.assert_array_equal(decode_png(second.files["input_reference"][2]), obs2)
    assert second.fields["seed"] == "4"
    np.testing.assert_allclose(env._tcp, info["commanded_tcp_poses"][-1])  # zero chunk: pose held
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros(emb.native_action_dim))
    env.close()


def test_gym_make_remote_backend_and_default_reward(server):
    env = gym.make("Cosmos3-Franka-v0", backend="remote", endpoint=server.url, **FAST)
    obs, _ = env.reset(seed=0)
    _, reward, *_ = env.step(env.action_space.sample())
    assert obs.shape == (64, 64, 3) and reward == 0.0
    env.close()


def test_remote_env_needs_an_endpoint():
    with pytest.raises(ValueError, match="endpoint"):
        make_remote_env("franka", "lift", None)


def test_remote_check_cli(server, capsys):
    argv = [
        "remote-check",
        "--endpoint",
        server.url,
        "--embodiment",
        "ur5e",
        "--size",
        "64",
        "--poll-interval",
        "0.005",
        "--json",
    ]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["domain_id"] == 13 and report["health"]["models"] == ["nvidia/Cosmos3-Nano"]
    assert report["forward_dynamics"]["frames_shape"] == [17, 64, 64, 3]
    assert report["policy"]["action_shape"] == [16, 10] and report["policy"]["domain_id"] == 13
    assert report["policy"]["native_shape"] == [16, 7]
    assert report["inverse_dynamics"]["action_mode"] == "inverse_dynamics"
    assert report["inverse_dynamics"]["translation_error_vs_sent_m"] > 0  # the fake answers zeros, not the truth
    assert [p.extra["action_mode"] for p in server.posts()] == ["forward_dynamics", "inverse_dynamics", "policy"]


def test_remote_check_dead_endpoint_fails_fast_in_one_line(capsys, caplog):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    argv = ["remote-check", "--endpoint", f"http://127.0.0.1:{port}", "--size", "64"]  # default --retries 3
    with caplog.at_level(logging.WARNING, "cosmos3_gym"):
        assert main(argv) == 1
        header, line, *rest = capsys.readouterr().out.splitlines()
        assert main([*argv, "--json"]) == 1
    assert not rest and header.startswith(f"http://127.0.0.1:{port}")
    assert line.split()[:2] == ["health", "FAIL"] and "RemoteConnectionError" in line and "after 1 attempt" in line
    assert line.endswith("forward_dynamics, inverse_dynamics, policy not run")
    assert not caplog.records  # no retry lines: one attempt, then nothing else is tried
    report = json.loads(capsys.readouterr().out)
    assert not report["ok"] and not report["health"]["ok"]
    assert all(report[m]["skipped"] and not report[m]["ok"] for m in ("forward_dynamics", "inverse_dynamics", "policy"))
