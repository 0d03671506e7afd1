"""The job life cycle as vLLM-Omni 0.30.0's code runs it, against the loopback fake (127.0.0.1 only).

Failed jobs in both answer styles, DELETE after every outcome, the forward-dynamics action object, the
request bounds and the served-model name checked before or at sending, and the action canvas the server
puts a frame on (no ``size`` is sent; the clip comes back on the canvas and is cut back to the frame).
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
from fake_cosmos3_server import SERVED_MODEL, blocks, client

from cosmos3_gym.backends import (
    RemoteHTTPError,
    RemoteJobError,
    RemoteProtocolError,
    RemoteTimeoutError,
    SamplingConfig,
    make_remote_env,
)


@pytest.mark.parametrize(
    ("style", "error", "status"),
    [
        ("status", {"code": 500, "message": "CUDA out of memory"}, 500),  # 0.30.0: retried as a 5xx before
        ("status", {"code": 400, "message": "action_chunk_size must equal num_frames - 1"}, 400),
        ("status", {"code": "EngineDeadError", "message": "engine died"}, 500),
        ("ok", {"code": 500, "message": "CUDA out of memory"}, 200),  # older servers: 200 + status failed
    ],
)
def test_failed_job_reaches_the_job_failure_path_without_retries(server, style, error, status):
    server.final_status, server.failure_style, server.failure_error = "failed", style, error
    with pytest.raises(RemoteJobError, match=rf"failed on the server \(HTTP {status};.*{error['message']}"):
        client(server, retries=3).forward_dynamics(blocks(64, 64), np.zeros((16, 10)), "go")
    polls = server.count("GET", "/v1/videos/video_gen_0000")
    assert polls == server.in_progress_polls + 1  # each status read once: a failed job is an answer, not a fault
    assert server.count("GET", "/v1/videos/video_gen_0000/content") == 0
    assert server.deleted == ["video_gen_0000"]  # the failed record is removed too


def test_jobs_are_deleted_after_every_outcome(server, caplog):
    c = client(server)
    r = c.policy(blocks(64, 64), "go")
    r2 = c.inverse_dynamics(np.stack([blocks(64, 64, i) for i in range(17)]), "go")
    assert r.deleted and r2.deleted and server.deleted == [r.request_id, r2.request_id] and not server.jobs
    server.in_progress_polls = 10**6  # a job that never finishes: DELETE aborts it on the server
    with pytest.raises(RemoteTimeoutError):
        client(server, job_timeout_s=0.05, poll_interval_s=0.01).policy(blocks(64, 64), "go")
    assert server.deleted[-1] == "video_gen_0002" and not server.jobs
    server.in_progress_polls = 0
    kept = client(server, delete_jobs=False).policy(blocks(64, 64), "go")
    assert not kept.deleted and kept.request_id in server.jobs and server.count("DELETE", "/") == 3
    with caplog.at_level(logging.WARNING, "cosmos3_gym"):
        assert c.delete("video_gen_9999") is False  # a failed DELETE is logged, never raised
    assert "could not delete job video_gen_9999" in caplog.text and "HTTP 404" in caplog.text


@pytest.mark.parametrize(
    ("patch", "match"),
    [
        (None, r"no 'action' object .*ignored extra_params"),
        (lambda a: a.update(action_mode="policy"), "action_mode = 'policy', expected 'forward_dynamics'"),
        (lambda a: a.update(domain_id=7), "domain_id = 7, expected 8"),
        (lambda a: a.update(data=a["data"][:8], shape=[8, 10]), r"shape \(8, 10\), expected \(16, 10\)"),
    ],
)
def test_forward_dynamics_checks_the_action_object(server, patch, match):
    server.fd_action, server.action_patch = patch is not None, patch
    with pytest.raises(RemoteProtocolError, match=match):
        client(server).forward_dynamics(blocks(64, 64), np.zeros((16, 10)), "go")
    assert server.count("GET", "/v1/videos/video_gen_0000/content") == 0


def test_a_server_that_ignores_extra_params_is_named(server):
    server.read_extra_params = False  # plain image-to-video: a clip, no action object, for every mode
    for call in (
        lambda c: c.forward_dynamics(blocks(64, 64), np.zeros((16, 10)), "go"),
        lambda c: c.policy(blocks(64, 64), "go"),
    ):
        with pytest.raises(RemoteProtocolError, match="ignored extra_params and ran plain video generation"):
            call(client(server))


def test_request_bounds_are_checked_before_sending(server):
    for bad, match in [
        ({"num_inference_steps": 201}, r"num_inference_steps must be in \[1, 200\]"),
        ({"num_inference_steps": 0}, r"num_inference_steps must be in \[1, 200\]"),
        ({"guidance_scale": 20.5}, r"guidance_scale must be in \[0, 20\]"),
        ({"guidance_scale": -1.0}, r"guidance_scale must be in \[0, 20\]"),
        ({"flow_shift": float("nan")}, "flow_shift"),
    ]:
        with pytest.raises(ValueError, match=match):
            SamplingConfig(**bad)
    edge = SamplingConfig(num_inference_steps=200, guidance_scale=20.0)  # the bounds themselves are allowed
    client(server, sampling=edge).policy(blocks(64, 64), "go")
    (post,) = server.posts()
    assert (post.fields["num_inference_steps"], post.fields["guidance_scale"]) == ("200", "20.0")


def test_served_model_name_is_checked_by_the_server_and_named(server):
    with pytest.raises(RemoteHTTPError, match=r"does not serve model 'nvidia/Cosmos3-Super' \(HTTP 400") as err:
        client(server, sampling=SamplingConfig(model="nvidia/Cosmos3-Super")).policy(blocks(64, 64), "go")
    assert err.value.attempts == 1 and server.count("POST", "/v1/videos") == 1
    client(server, sampling=SamplingConfig(model=SERVED_MODEL)).policy(blocks(64, 64), "go")
    assert server.posts()[-1].fields["model"] == SERVED_MODEL


@pytest.mark.parametrize(
    ("h", "w", "tier", "canvas", "content"),
    [
        (64, 64, 256, (256, 256), (64, 64)),  # small frame: padded, never upscaled
        (540, 640, 480, (544, 736), (540, 640)),  # DROID concat view: 540 high, not 528
        (480, 640, 256, (256, 320), (240, 320)),  # larger than the canvas: the server halves it
    ],
)
def test_no_size_is_sent_and_the_canvas_is_cut_back_to_the_frame(server, h, w, tier, canvas, content):
    img = blocks(h, w)
    r = client(server, sampling=SamplingConfig(image_size=tier)).forward_dynamics(img, np.zeros((16, 10)), "go")
    post = server.posts()[0]
    assert "size" not in post.fields and post.extra["image_size"] == tier
    assert server.served[r.request_id].shape == (17, *canvas, 3)  # the server answers on its canvas
    assert (r.canvas.canvas_h, r.canvas.canvas_w, r.canvas.content_h, r.canvas.content_w) == (*canvas, *content)
    assert r.frames.shape == (17, *content, 3) and r.canvas.rescaled == ((h, w) != content)
    if (h, w) == content:  # frame 0 of the fake is the conditioning frame itself, through H.264
        assert np.abs(r.frames[0].astype(int) - img).mean() < 4


def test_inverse_dynamics_keeps_a_540_high_clip_at_540(server):
    clip = np.stack([blocks(540, 640, i) for i in range(17)])
    r = client(server, sampling=SamplingConfig(image_size=480)).inverse_dynamics(clip, "go")
    assert "size" not in server.posts()[0].fields
    assert r.frames.shape == (17, 540, 640, 3) and r.canvas.canvas_h == 544  # not resized to 544 by the encoder


def test_remote_env_rejects_frames_larger_than_the_canvas(server):
    with pytest.raises(ValueError, match=r"512x512 frame exceeds the image_size=256 canvas 256x256"):
        make_remote_env("franka", "lift", server.url, width=512, height=512)
    env = make_remote_env("franka", "lift", server.url, width=512, height=512, sampling=SamplingConfig(image_size=480))
    env.close()
