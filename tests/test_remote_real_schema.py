"""The client against vLLM-Omni 0.30.0's own code, not our reading of it.

The wheel (pinned by SHA-256) comes from the package index at test time and is cached; its
``protocol/videos.py`` runs as written (pydantic only; its two imports are taken from the same wheel's
sources), as do the form signature of ``_parse_video_form``, the failed-job status function, and the
Cosmos3 pipeline's canvas functions. Requests the client sends are parsed the way the server parses
them into ``VideoGenerationRequest``; every job JSON the client reads from the fake passes through
``VideoResponse`` (and DELETE answers through ``VideoDeleteResponse``) first. Skipped, with the reason,
only when the wheel cannot be downloaded.
"""

from __future__ import annotations

import json
import zipfile
from http import HTTPStatus
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from fake_cosmos3_server import DOMAIN_IDS, blocks, client, failure_status
from upstream import fetch_wheel, function_parameters, load_definitions, load_module

from cosmos3_gym import list_embodiments, load_embodiment
from cosmos3_gym.backends import RemoteJobError
from cosmos3_gym.backends.protocol import (
    IMAGE_SIZE_TIERS,
    MAX_GUIDANCE_SCALE,
    MAX_INFERENCE_STEPS,
    action_canvas,
)

pydantic = pytest.importorskip("pydantic", reason="vLLM-Omni's request/response models are pydantic models")
PIL_Image = pytest.importorskip("PIL.Image", reason="vLLM-Omni's canvas padding works on PIL images")
PIL = pytest.importorskip("PIL")

WHEEL = ("vllm-omni", "0.30.0", "vllm_omni-0.30.0-py3-none-any.whl")
WHEEL_SHA256 = "141cb0c7b9c07970e5c92a99aab9696e81682dbfa3d2bfcde359c3c1533385f4"
OPENAI = "vllm_omni/entrypoints/openai/"
COSMOS3 = "vllm_omni/diffusion/models/cosmos3/"
#: Sent for the framework CLI and NVIDIA's cookbook; vLLM-Omni 0.30.0 does not read it (contract §8.8).
NOT_READ_BY_VLLM_OMNI = {"view_point"}


@pytest.fixture(scope="session")
def vllm(request, tmp_path_factory) -> SimpleNamespace:
    """The pieces of the vLLM-Omni 0.30.0 wheel the tests run (loaded once; the wheel is cached by pytest)."""
    cache = getattr(request.config, "cache", None)  # absent under -p no:cacheprovider
    loaded = _load(cache.mkdir("vllm-omni-wheel") if cache else tmp_path_factory.mktemp("vllm-omni-wheel"))
    if isinstance(loaded, str):
        pytest.skip(loaded)
    return loaded


def _load(cache: Path) -> SimpleNamespace | str:
    """The wheel's pieces, or why the wheel cannot be had."""
    wheel = fetch_wheel(*WHEEL, WHEEL_SHA256, cache, env="COSMOS3_VLLM_OMNI_WHEEL")
    if isinstance(wheel, str):
        return f"{wheel}; the real-schema tests need it (or $COSMOS3_VLLM_OMNI_WHEEL pointing at the wheel)"
    with zipfile.ZipFile(wheel) as zf:
        src = {name: zf.read(name).decode() for name in zf.namelist() if name.endswith(".py")}

    def defs(path: str, names: list[str], ns: dict) -> dict:
        return load_definitions(src[path], path, names, ns)

    provided = {
        **defs(OPENAI + "image_api_utils.py", ["parse_size"], {}),
        **defs("vllm_omni/inputs/data.py", ["DIFFUSION_QUALITY_LEVELS"], {}),
    }
    videos = load_module(
        src[OPENAI + "protocol/videos.py"],
        OPENAI + "protocol/videos.py",
        {k: provided[k] for k in ("parse_size", "DIFFUSION_QUALITY_LEVELS")},
        drop=["vllm_omni.entrypoints.openai.image_api_utils", "vllm_omni.inputs.data"],
    )
    helpers = OPENAI + "video/generation/helpers.py"
    canvas = defs(COSMOS3 + "utils.py", ["VIDEO_RES_SIZE_INFO"], {})
    canvas = defs(COSMOS3 + "action.py", ["find_closest_target_size"], canvas)
    pad = defs(COSMOS3 + "pipeline_cosmos3.py", ["_resize_and_pad_action_image"], {"PIL": PIL, "np": np})
    status = defs(
        helpers, ["_status_code_for_video_failure"], {"HTTPStatus": HTTPStatus, "VideoError": videos.VideoError}
    )
    return SimpleNamespace(
        videos=videos,
        form=function_parameters(src[helpers], helpers, "_parse_video_form"),
        pipeline_source=src[COSMOS3 + "pipeline_cosmos3.py"] + src[COSMOS3 + "guardrails.py"],
        find_closest_target_size=canvas["find_closest_target_size"],
        resize_and_pad=pad["_resize_and_pad_action_image"],
        failure_status=status["_status_code_for_video_failure"],
    )


def _as_server_parses(vllm: SimpleNamespace, fields: dict[str, str], files: dict) -> object:
    """A captured multipart form → ``VideoGenerationRequest`` as ``_parse_video_form`` builds it."""
    data: dict[str, object] = {}
    for name, value in fields.items():
        assert name in vllm.form and vllm.form[name][1].startswith("Form("), f"{name!r} is not a form field"
        kind = vllm.form[name][0].split(" | ")[0]
        data[name] = {"int": int, "float": float}.get(kind, str)(value)  # what FastAPI's Form coercion yields
    for name in files:
        assert vllm.form.get(name, ("", ""))[0] == "UploadFile | None", f"{name!r} is not a file field"
    data["extra_params"] = json.loads(fields["extra_params"])
    return vllm.videos.VideoGenerationRequest(**data)


@pytest.mark.parametrize("name", list_embodiments())
def test_requests_and_answers_fit_vllm_omni_models(server, vllm, name):
    emb = load_embodiment(name)
    server.job_hook = lambda body: vllm.videos.VideoResponse.model_validate(body).model_dump(mode="json")
    server.deleted_hook = lambda body: vllm.videos.VideoDeleteResponse.model_validate(body).model_dump(mode="json")
    c = client(server, name)
    results = [
        c.forward_dynamics(blocks(64, 64), np.zeros((emb.chunk_size, emb.raw_action_dim)), "Lift the cube."),
        c.inverse_dynamics(np.stack([blocks(64, 64, i) for i in range(emb.chunk_size + 1)]), "Lift the cube."),
        c.policy(blocks(64, 64), "Lift the cube."),
    ]
    for post, r in zip(server.posts(), results, strict=True):
        req = _as_server_parses(vllm, post.fields, post.files)
        vp = req.resolve_video_params()
        assert (req.size, vp.width, vp.height) == (None, None, None)  # the server picks the image_size canvas
        assert (vp.num_frames, vp.fps, req.extra_params["action_mode"]) == (emb.chunk_size + 1, emb.fps, r.mode)
        unread = {k for k in req.extra_params if f'"{k}"' not in vllm.pipeline_source} - NOT_READ_BY_VLLM_OMNI
        assert not unread, f"extra_params keys the Cosmos3 pipeline never reads: {unread}"
        action = vllm.videos.VideoAction.model_validate(r.job["action"])  # what the client parsed, re-checked
        assert (action.action_mode, action.domain_id, action.shape) == (
            r.mode,
            DOMAIN_IDS[emb.domain_name],
            [emb.chunk_size, emb.raw_action_dim],
        )
        assert r.deleted and r.frames.shape == (emb.chunk_size + 1, 64, 64, 3)


@pytest.mark.parametrize("code", [500, 400, 422, 302, "EngineDeadError"])
def test_failed_jobs_fit_vllm_omni_and_its_status_codes(server, vllm, code):
    error = {"code": code, "message": "it broke"}
    assert failure_status(error) == vllm.failure_status(vllm.videos.VideoError(**error))  # the fake's status rule
    server.final_status, server.failure_error = "failed", error
    server.job_hook = lambda body: vllm.videos.VideoResponse.model_validate(body).model_dump(mode="json")
    with pytest.raises(RemoteJobError, match="failed on the server"):
        client(server).policy(blocks(64, 64), "go")
    assert server.deleted == ["video_gen_0000"]


def test_sampling_bounds_are_the_request_models(vllm):
    request = vllm.videos.VideoGenerationRequest
    request(prompt="x", num_inference_steps=MAX_INFERENCE_STEPS, guidance_scale=MAX_GUIDANCE_SCALE)
    for bad in ({"num_inference_steps": MAX_INFERENCE_STEPS + 1}, {"guidance_scale": MAX_GUIDANCE_SCALE + 0.5}):
        with pytest.raises(pydantic.ValidationError):
            request(prompt="x", **bad)


@pytest.mark.parametrize("tier", IMAGE_SIZE_TIERS)
@pytest.mark.parametrize("hw", [(64, 64), (256, 256), (540, 640), (480, 640), (720, 1280), (100, 30), (300, 301)])
def test_action_canvas_is_vllm_omnis(vllm, tier, hw):
    h, w = hw
    c = action_canvas(h, w, tier)
    assert vllm.find_closest_target_size(h, w, tier) == (c.canvas_w, c.canvas_h)
    img = PIL_Image.fromarray(blocks(h, w))
    padded = np.asarray(vllm.resize_and_pad(img, c.canvas_h, c.canvas_w))
    assert padded.shape == (c.canvas_h, c.canvas_w, 3)
    content = np.asarray(img.resize((c.content_w, c.content_h), PIL_Image.Resampling.BICUBIC) if c.rescaled else img)
    np.testing.assert_array_equal(padded[: c.content_h, : c.content_w], content)  # top-left, our content size
