"""The served-model client against a loopback fake of the vLLM-Omni protocol (127.0.0.1 only).

What the client sends (fields, extra_params, model-space actions = Embodiment.normalize(raw), frame
counts) is asserted for every shipped embodiment; inverse dynamics round-trips a known trajectory;
retries, errors, timeouts and the API key's secrecy are exercised against injected failures. Job
life-cycle behaviour of the real server (failures, DELETE, canvas) is in test_remote_jobs.py.
"""

from __future__ import annotations

import logging
import socket

import numpy as np
import pytest
from fake_cosmos3_server import blocks, client, decode_mp4, decode_png
from scipy.spatial.transform import Rotation

from cosmos3_gym import list_embodiments, load_embodiment
from cosmos3_gym.backends import (
    DiffusersCosmos3,
    RemoteConnectionError,
    RemoteCosmos3,
    RemoteHTTPError,
    RemoteProtocolError,
    RemoteTimeoutError,
    SamplingConfig,
)
from cosmos3_gym.backends.actions import native_chunk_to_raw, raw_chunk_to_native
from cosmos3_gym.backends.protocol import DOMAIN_VIEW_POINTS, ActionCanvas
from cosmos3_gym.tokens.native import NativeActionMap

EMBODIMENTS = list_embodiments()
KEY = "sk-test-S3CRET-0123456789"


def image(seed: int = 0) -> np.ndarray:
    return blocks(64, 64, seed)


def start_poses(emb) -> np.ndarray:
    """Home-pose FK: ``(P, 4, 4)`` native TCP poses of every pose block."""
    q = emb.make_model().key("home").qpos[: emb.dof]
    return np.asarray(emb.forward_kinematics(q)).reshape(emb.num_poses, 4, 4)


def trajectory(emb, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A random smooth pose trajectory ``(T+1, [P,] 4, 4)`` and gripper ``(T, [G])`` (Cosmos3 convention)."""
    rng = np.random.default_rng(seed)
    poses = [start_poses(emb)]
    for _ in range(emb.chunk_size):
        nxt = poses[-1].copy()
        nxt[:, :3, 3] += rng.uniform(-0.01, 0.01, (emb.num_poses, 3))
        nxt[:, :3, :3] = Rotation.from_rotvec(rng.normal(0, 0.02, (emb.num_poses, 3))).as_matrix() @ nxt[:, :3, :3]
        poses.append(nxt)
    scale = np.array([g.max_width_m if g.convention == "width_m" else 1.0 for g in emb.spec.grippers])
    grip = rng.uniform(0, 1, (emb.chunk_size, len(scale))) * scale
    poses = np.stack(poses)
    return (poses[:, 0], grip[:, 0]) if emb.num_poses == 1 else (poses, grip)


@pytest.mark.parametrize("name", EMBODIMENTS)
def test_forward_dynamics_request_follows_the_contract(server, name):
    emb = load_embodiment(name)
    poses, grip = trajectory(emb)
    raw = emb.poses_to_actions(poses, grip)
    img = image()
    r = client(server, name).forward_dynamics(img, raw, "Pick up the cube.", seed=7)
    (post,) = server.posts()
    assert post.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert post.fields == {
        "prompt": "Pick up the cube.",
        "num_frames": "17",
        "fps": str(emb.fps),
        "num_inference_steps": "30",
        "guidance_scale": "1.0",
        "flow_shift": "10.0",
        "seed": "7",
        "extra_params": post.fields["extra_params"],
    }
    extra = post.extra
    assert set(extra) == {
        "action_mode",
        "domain_name",
        "action_chunk_size",
        "action",
        "image_size",
        "view_point",
        "guardrails",
    }
    assert (extra["action_mode"], extra["domain_name"], extra["action_chunk_size"]) == (
        "forward_dynamics",
        emb.domain_name,
        16,
    )
    assert (extra["image_size"], extra["view_point"], extra["guardrails"]) == (
        256,
        DOMAIN_VIEW_POINTS[emb.domain_name],
        False,
    )
    sent = np.array(extra["action"])
    assert sent.shape == (emb.chunk_size, emb.raw_action_dim)  # raw width: the server pads to 64, not us
    np.testing.assert_allclose(sent, emb.normalize(raw), rtol=0, atol=1e-12)
    filename, ctype, data = post.files["input_reference"]
    assert (filename, ctype, data[:8]) == ("frame.png", "image/png", b"\x89PNG\r\n\x1a\n")
    np.testing.assert_array_equal(decode_png(data), img)  # PNG is lossless
    assert r.canvas == ActionCanvas(64, 64, 256, 256, 64, 64)  # the 256 tier's square canvas, frame at top-left
    served = server.served[r.request_id]
    assert served.shape == (17, 256, 256, 3) and r.frames.shape == (17, 64, 64, 3) and r.frames.dtype == np.uint8
    assert np.abs(r.frames.astype(int) - served[:, :64, :64]).mean() < 4  # the served content, through H.264
    assert r.polls == 3 and server.count("GET", f"/v1/videos/{r.request_id}") == 4  # 2 in_progress + done + content
    assert r.deleted and server.deleted == [r.request_id] and server.count("DELETE", "/v1/videos/") == 1
    np.testing.assert_array_equal(r.raw_actions, raw)
    np.testing.assert_allclose(r.model_actions, emb.normalize(raw), rtol=2**-8)  # the server's bf16 echo
    assert set(r.timings) == {"submit", "wait", "download", "total"}


@pytest.mark.parametrize("name", EMBODIMENTS)
def test_inverse_dynamics_round_trips_a_known_trajectory(server, name):
    emb = load_embodiment(name)
    poses, grip = trajectory(emb, seed=1)
    server.model_actions = lambda cap: emb.normalize(emb.poses_to_actions(poses, grip))
    clip = np.stack([image(i) // 2 + 60 for i in range(emb.chunk_size + 1)])
    r = client(server, name).inverse_dynamics(clip, "Push the cube.", initial_pose=poses[0])
    (post,) = server.posts()
    extra = post.extra
    assert set(extra) == {
        "action_mode",
        "domain_name",
        "action_chunk_size",
        "raw_action_dim",
        "image_size",
        "view_point",
        "guardrails",
    }
    assert (extra["action_mode"], extra["raw_action_dim"], extra["action_chunk_size"]) == (
        "inverse_dynamics",
        emb.raw_action_dim,
        emb.chunk_size,
    )
    assert post.fields["num_frames"] == "17" and post.fields["flow_shift"] == "10.0"
    filename, ctype, data = post.files["input_reference"]
    assert (filename, ctype) == ("clip.mp4", "video/mp4") and decode_mp4(data).shape == clip.shape
    assert r.model_actions.shape == (emb.chunk_size, emb.raw_action_dim)
    np.testing.assert_allclose(r.poses, poses, atol=1e-6)
    np.testing.assert_allclose(r.gripper, grip, atol=1e-9)


@pytest.mark.parametrize("name", EMBODIMENTS)
def test_policy_returns_raw_and_native_actions(server, name):
    emb = load_embodiment(name)
    amap = NativeActionMap(emb)
    tcp = start_poses(emb)[amap.arm_block]
    native = np.random.default_rng(2).uniform(-0.9, 0.9, (emb.chunk_size, emb.native_action_dim))
    raw, _ = native_chunk_to_raw(emb, tcp, native)
    server.model_actions = lambda cap: emb.normalize(raw)
    r = client(server, name).policy(image(), "Lift the cube.", tcp=tcp)
    extra = server.posts()[0].extra
    assert "action" not in extra and extra["raw_action_dim"] == emb.raw_action_dim
    assert extra["action_mode"] == "policy" and server.posts()[0].fields["flow_shift"] == "5.0"
    np.testing.assert_allclose(r.raw_actions, raw, atol=1e-12)
    np.testing.assert_allclose(r.native, native, atol=1e-9)  # inside the box the inverse map is exact


def test_policy_native_map_clips_and_then_catches_up():
    emb = load_embodiment("franka")
    tcp = start_poses(emb)
    step = emb.spec.action.max_translation_m
    poses = np.repeat(tcp, 4, axis=0)
    poses[1:, 0, 3] += 2 * step  # the model asks for two steps' reach at once, then holds
    native, commanded = raw_chunk_to_native(emb, tcp, emb.poses_to_actions(poses, np.ones(3)))
    np.testing.assert_allclose(native[:, 0], [1.0, 1.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(native[:, 1:6], 0.0, atol=1e-9)
    np.testing.assert_allclose(commanded[-1, 0], poses[-1], atol=1e-12)
    assert np.all(native[:, 6] == 1.0)  # open fraction 1 -> fully open


def test_health_and_bearer_key(server, monkeypatch):
    monkeypatch.setenv("COSMOS3_API_KEY", KEY)
    assert client(server).health() == ["nvidia/Cosmos3-Nano"]
    assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"
    monkeypatch.delenv("COSMOS3_API_KEY")
    client(server).health()
    assert "authorization" not in server.requests[1].headers


@pytest.mark.parametrize(("statuses", "posts"), [([500], 2), ([429, 503], 3)])
def test_server_errors_are_retried_then_succeed(server, statuses, posts):
    server.post_statuses = list(statuses)
    r = client(server).forward_dynamics(image(), np.zeros((16, 10)), "go")
    assert r.frames.shape[0] == 17 and server.count("POST", "/v1/videos") == posts


def test_persistent_500_gives_up_after_the_retry_bound(server):
    server.post_status_forever = 500
    with pytest.raises(RemoteHTTPError, match="HTTP 500") as err:
        client(server, retries=3).forward_dynamics(image(), np.zeros((16, 10)), "go")
    assert (err.value.status, err.value.attempts) == (500, 4) and server.count("POST", "/v1/videos") == 4


def test_client_errors_are_not_retried(server):
    server.post_status_forever = 400
    with pytest.raises(RemoteHTTPError, match=r"HTTP 400.*not retried") as err:
        client(server, retries=3).forward_dynamics(image(), np.zeros((16, 10)), "go")
    assert err.value.attempts == 1 and server.count("POST", "/v1/videos") == 1


@pytest.mark.parametrize(
    ("patch", "match"),
    [
        (lambda a: a.update(data=a["data"][:-1], shape=[15, 10]), r"shape \(15, 10\), expected \(16, 10\)"),
        (lambda a: a.update(shape=[16, 64]), "disagrees"),
        (lambda a: a.update(domain_id=7), "domain_id = 7, expected 8"),
        (lambda a: a.update(domain_id=None), "domain_id is missing"),
        (lambda a: a.update(raw_action_dim=64), "raw_action_dim = 64"),
        (lambda a: a.update(action_mode="forward_dynamics"), "action_mode"),
        (lambda a: a.update(action_mode=None), "action_mode is missing"),
        (lambda a: a["data"][0].__setitem__(0, "x"), "not a numeric array"),
    ],
)
def test_malformed_actions_raise_protocol_errors(server, patch, match):
    server.action_patch = patch
    with pytest.raises(RemoteProtocolError, match=match):
        client(server).policy(image(), "go")
    assert server.count("GET", "/v1/videos/video_gen_0000/content") == 0  # validated before downloading
    assert server.deleted == ["video_gen_0000"]  # a rejected answer still frees the server's storage


def test_non_json_and_unknown_status_and_bad_video(server):
    server.job_body = b"<html>502 Bad Gateway</html>"
    with pytest.raises(RemoteProtocolError, match=r"non-JSON.*Bad Gateway"):
        client(server).policy(image(), "go")
    server.job_body, server.final_status, server.in_progress_polls = None, "exploded", 0
    with pytest.raises(RemoteProtocolError, match="unknown status 'exploded'"):
        client(server).policy(image(), "go")
    server.final_status, server.content_frames = "completed", 9
    with pytest.raises(RemoteProtocolError, match=r"clip has shape \(9, 256, 256, 3\), expected \(17, 256, 256"):
        client(server).policy(image(), "go")
    server.content_frames, server.content_body = None, b"not a video"
    with pytest.raises(RemoteProtocolError, match="not a decodable MP4"):
        client(server).policy(image(), "go")


def test_timeouts(server):
    server.stall_s = 0.4
    with pytest.raises(RemoteTimeoutError, match=r"no answer within 0\.1 s"):
        client(server, timeout_s=0.1, retries=2).health()
    assert server.count("GET", "/v1/models") == 3  # GETs retry on timeouts
    server.stall_s, server.post_stall_s = 0.0, 0.4
    with pytest.raises(RemoteTimeoutError):
        client(server, timeout_s=0.1, retries=2).policy(image(), "go")
    assert server.count("POST", "/v1/videos") == 1  # a timed-out POST may have started a job: no retry
    server.post_stall_s, server.in_progress_polls = 0.0, 10**6
    with pytest.raises(RemoteTimeoutError, match=r"still 'in_progress'.*job_timeout_s=0\.1"):
        client(server, job_timeout_s=0.1, poll_interval_s=0.02).policy(image(), "go")


def test_connection_refused_is_retried_then_reported(caplog):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with caplog.at_level(logging.WARNING, "cosmos3_gym"), pytest.raises(RemoteConnectionError, match="after 3 attempt"):
        RemoteCosmos3("franka", f"http://127.0.0.1:{port}", retries=2, backoff_s=0.001).health()
    assert sum("retry" in r.message for r in caplog.records) == 2


def test_redirects_are_not_followed(server):
    server.redirect_models = True
    with pytest.raises(RemoteHTTPError, match="redirects are not followed") as err:
        client(server).health()
    assert err.value.attempts == 1 and len(server.requests) == 1


def test_api_key_never_in_logs_errors_or_repr(server, monkeypatch, caplog):
    monkeypatch.setenv("COSMOS3_API_KEY", KEY)
    server.echo_auth = True  # error bodies repeat the Authorization header back
    c = client(server, retries=1)
    texts = [repr(c), repr(c.http), str(c.__dict__)]
    with caplog.at_level(logging.DEBUG, "cosmos3_gym"):
        for status in (400, 503):
            server.post_status_forever = status
            with pytest.raises(RemoteHTTPError) as err:
                c.policy(image(), "go")
            texts += [str(err.value), repr(err.value), str(err.value.args)]
        server.post_status_forever, server.job_body = None, f"<html>{KEY}</html>".encode()
        with pytest.raises(RemoteProtocolError) as err:
            c.policy(image(), "go")
        texts += [str(err.value), repr(err.value)]
    texts.append(caplog.text)
    assert all(KEY not in t for t in texts)
    assert sum("<redacted>" in t for t in texts) >= 3  # the echoes happened and were scrubbed
    assert all(r.headers["authorization"] == f"Bearer {KEY}" for r in server.requests)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="http"):
        RemoteCosmos3("franka", "localhost:8000")
    with pytest.raises(ValueError, match="tiers"):
        SamplingConfig(image_size=300)
    with pytest.raises(ValueError, match="even"):
        RemoteCosmos3("franka", "http://127.0.0.1:9").inverse_dynamics(np.zeros((17, 63, 64, 3), np.uint8), "go")
    c = RemoteCosmos3("franka", "http://127.0.0.1:9")
    with pytest.raises(ValueError, match=r"raw_actions must have shape \(T >= 1, 10\)"):
        c.forward_dynamics(image(), np.zeros((16, 64)), "go")  # padded tokens are not raw actions
    with pytest.raises(ValueError, match="uint8"):
        c.forward_dynamics(image().astype(np.float32), np.zeros((16, 10)), "go")
    with pytest.raises(ValueError, match="prompt"):
        c.forward_dynamics(image(), np.zeros((16, 10)), " ")


def test_diffusers_path_fails_clearly_without_diffusers_or_cuda():
    with pytest.raises(ImportError, match=r"diffusers|CUDA"):
        DiffusersCosmos3("franka")
