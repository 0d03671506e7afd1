"""Client for a served Cosmos3 model (vLLM-Omni OpenAI-compatible server, contract §5.3).

One :class:`RemoteCosmos3` per embodiment. Each call is an async job: multipart ``POST /v1/videos``
→ poll ``GET /v1/videos/{id}`` until ``completed``/``failed`` (bounded by ``job_timeout_s``) → clip
bytes from ``GET /v1/videos/{id}/content`` → ``DELETE /v1/videos/{id}`` (the server keeps every job's
clip until deleted). Actions go out normalized (:meth:`Embodiment.normalize`) and come back
de-normalized (:meth:`Embodiment.denormalize`): every front-end of the real model leaves normalization
to the caller (contract §3).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cosmos3_gym.backends.actions import check_tcp, parse_action, raw_chunk_to_native
from cosmos3_gym.backends.errors import (
    RemoteError,
    RemoteHTTPError,
    RemoteJobError,
    RemoteProtocolError,
    RemoteTimeoutError,
)
from cosmos3_gym.backends.http import FilePart, HttpTransport
from cosmos3_gym.backends.media import check_frames, check_image, decode_video, encode_mp4, encode_png
from cosmos3_gym.backends.protocol import ActionCanvas, SamplingConfig, action_canvas, build_form
from cosmos3_gym.tokens import Embodiment, load_embodiment

log = logging.getLogger("cosmos3_gym.backends")

_PENDING = ("queued", "in_progress")


def _is_failed_job(status: int, body: bytes) -> bool:
    """A status GET's error answer that is the failed job itself: vLLM-Omni (0.30.0) answers a failed job
    with a 4xx/5xx status (its error code) and the job JSON, older versions with 200."""
    try:
        job = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(job, dict) and job.get("status") == "failed"


@dataclass
class Cosmos3Result:
    """What one request gave back.

    Attributes:
        request_id: the server's job id. mode: the action mode.
        frames: generated clip ``(N, h, w, 3)`` uint8 (N = chunk + 1; frame 0 ≈ the conditioning image):
            the content region of the served canvas, ``h × w`` = the input's size unless the input was larger
            than the ``image_size`` canvas (then the server's downscaled size, see :func:`action_canvas`).
        canvas: where the input sat on the server's canvas (the served clip is ``canvas_h × canvas_w``).
        model_actions: ``(T, D)`` model space as served (policy / ID: predicted; FD: the conditioning rows).
        raw_actions: ``(T, D)`` de-normalized raw Cosmos3 actions (FD: the ones sent).
        poses: ID: absolute native TCP poses ``(T+1, [P,] 4, 4)`` from the given initial pose.
        gripper: ID / policy: Cosmos3 gripper values ``(T,)`` (``(T, G)`` for G > 1).
        native: policy with ``tcp`` given: native chunk ``(T, 7·arms)`` (see ``raw_chunk_to_native``).
        timings: seconds: ``submit``, ``wait``, ``download``, ``total``. polls: status GETs made.
        job: the completed job JSON. deleted: whether the job was deleted on the server afterwards.
    """

    request_id: str
    mode: str
    frames: np.ndarray | None = None
    canvas: ActionCanvas | None = None
    model_actions: np.ndarray | None = None
    raw_actions: np.ndarray | None = None
    poses: np.ndarray | None = None
    gripper: np.ndarray | None = None
    native: np.ndarray | None = None
    timings: dict[str, float] = field(default_factory=dict)
    polls: int = 0
    job: dict[str, Any] = field(default_factory=dict)
    deleted: bool = False


class RemoteCosmos3:
    """Forward dynamics, inverse dynamics and policy requests for one embodiment.

    Args:
        embodiment: shipped name, YAML path or :class:`Embodiment`.
        endpoint: server URL, e.g. ``http://gpu-host:8000``.
        sampling: :class:`SamplingConfig` (steps, guidance, flow shift, seed, image_size tier, fps ...).
        timeout_s: per HTTP request. job_timeout_s: bound on one job's polling. poll_interval_s: between polls.
        retries, backoff_s, max_backoff_s: retry policy (:class:`HttpTransport`).
        api_key: bearer key; default ``$COSMOS3_API_KEY``. Never logged, never in errors or repr.
        delete_jobs: delete each job on the server once its answer is read (or it failed / timed out).
    """

    def __init__(
        self,
        embodiment: str | Embodiment,
        endpoint: str,
        *,
        sampling: SamplingConfig | None = None,
        timeout_s: float = 60.0,
        job_timeout_s: float = 1800.0,
        poll_interval_s: float = 1.0,
        retries: int = 3,
        backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
        api_key: str | None = None,
        delete_jobs: bool = True,
    ) -> None:
        self.emb = embodiment if isinstance(embodiment, Embodiment) else load_embodiment(embodiment)
        self.sampling = sampling or SamplingConfig()
        if job_timeout_s <= 0 or poll_interval_s < 0:
            raise ValueError(f"need job_timeout_s > 0 and poll_interval_s >= 0, got {job_timeout_s}, {poll_interval_s}")
        self.job_timeout_s, self.poll_interval_s = float(job_timeout_s), float(poll_interval_s)
        self.delete_jobs = bool(delete_jobs)
        self.http = HttpTransport(
            endpoint,
            timeout_s=timeout_s,
            retries=retries,
            backoff_s=backoff_s,
            max_backoff_s=max_backoff_s,
            api_key=api_key,
        )

    def __repr__(self) -> str:
        return f"RemoteCosmos3({self.emb.name!r}, {self.http!r})"

    # -- health ------------------------------------------------------------------------------------
    def health(self, retries: int | None = None) -> list[str]:
        """``GET /v1/models`` → served model ids; raises if the server is down or answers off-protocol.
        ``retries`` overrides the client's retry bound (0: one attempt, to fail fast on a dead endpoint)."""
        body = self.http.get_json("/v1/models", retries=retries)
        data = body.get("data")
        if not isinstance(data, list) or not all(isinstance(m, dict) and "id" in m for m in data):
            raise RemoteProtocolError(
                f"GET /v1/models: expected {{'data': [{{'id': ...}}, ...]}}, got keys {sorted(body)}"
            )
        return [str(m["id"]) for m in data]

    # -- the three modes ---------------------------------------------------------------------------
    def forward_dynamics(
        self, image: np.ndarray, raw_actions: np.ndarray, prompt: str, seed: int | None = None
    ) -> Cosmos3Result:
        """Start frame ``(H, W, 3)`` uint8 + raw actions ``(T, D)`` → predicted clip ``(T+1, H, W, 3)``
        (smaller if the frame exceeds the ``image_size`` canvas, see :class:`Cosmos3Result`)."""
        image = check_image(image)
        raw = np.asarray(raw_actions, dtype=np.float64)
        if raw.ndim != 2 or raw.shape[1] != self.emb.raw_action_dim or raw.shape[0] < 1:
            raise ValueError(
                f"{self.emb.name}: raw_actions must have shape (T >= 1, {self.emb.raw_action_dim}), got {raw.shape}"
            )
        chunk = raw.shape[0]
        form = build_form(self.emb, "forward_dynamics", prompt, chunk, self.sampling, self.emb.normalize(raw), seed)
        png = FilePart("input_reference", "frame.png", "image/png", encode_png(image))
        result = self._run("forward_dynamics", form, png, chunk, image.shape[:2])
        result.raw_actions = raw  # exact; model_actions holds the server's (bf16) echo of them
        return result

    def inverse_dynamics(
        self, frames: np.ndarray, prompt: str, initial_pose: np.ndarray | None = None, seed: int | None = None
    ) -> Cosmos3Result:
        """Clip ``(T+1, H, W, 3)`` uint8 → raw actions ``(T, D)``; with ``initial_pose`` (native TCP pose
        of frame 0, ``(4, 4)`` or ``(P, 4, 4)``) also the absolute poses ``(T+1, [P,] 4, 4)``."""
        frames = check_frames(frames)
        chunk = frames.shape[0] - 1
        fps = self.sampling.fps or self.emb.fps
        form = build_form(self.emb, "inverse_dynamics", prompt, chunk, self.sampling, None, seed)
        result = self._run(
            "inverse_dynamics",
            form,
            FilePart("input_reference", "clip.mp4", "video/mp4", encode_mp4(frames, fps)),
            chunk,
            frames.shape[1:3],
        )
        if initial_pose is not None:
            result.poses = self.emb.actions_to_poses(result.raw_actions, np.asarray(initial_pose, dtype=np.float64))
        return result

    def policy(
        self,
        image: np.ndarray,
        prompt: str,
        tcp: np.ndarray | None = None,
        chunk: int | None = None,
        seed: int | None = None,
    ) -> Cosmos3Result:
        """Start frame + task → raw actions ``(T, D)`` and a predicted clip; with ``tcp`` (arm TCP poses
        ``(arms, 4, 4)``) also the native chunk ``(T, 7·arms)``."""
        image = check_image(image)
        chunk = int(chunk or self.emb.chunk_size)
        form = build_form(self.emb, "policy", prompt, chunk, self.sampling, None, seed)
        result = self._run(
            "policy",
            form,
            FilePart("input_reference", "frame.png", "image/png", encode_png(image)),
            chunk,
            image.shape[:2],
        )
        if tcp is not None:
            result.native, _ = raw_chunk_to_native(self.emb, check_tcp(self.emb, tcp), result.raw_actions)
        return result

    # -- job plumbing ------------------------------------------------------------------------------
    def submit(self, form: dict[str, str], media: FilePart) -> str:
        """``POST /v1/videos`` → the job id."""
        try:
            job = self.http.post_multipart("/v1/videos", form, [media])
        except RemoteHTTPError as err:
            if err.status == 400 and "model mismatch" in str(err).lower():  # vLLM-Omni's check of the `model` field
                raise RemoteHTTPError(
                    f"POST /v1/videos: the server does not serve model {form.get('model')!r} (HTTP 400 Model "
                    "mismatch); leave SamplingConfig.model unset or use a name GET /v1/models lists",
                    err.status,
                    err.method,
                    err.path,
                    err.attempts,
                ) from None
            raise
        job_id = job.get("id")
        if not isinstance(job_id, str) or not job_id or "/" in job_id:
            raise RemoteProtocolError(
                f"POST /v1/videos: answer has no usable job 'id' (got {job_id!r}); keys {sorted(job)}"
            )
        return job_id

    def wait(self, job_id: str) -> tuple[dict[str, Any], int]:
        """Poll ``GET /v1/videos/{id}`` until ``completed`` → (job JSON, polls). Raises
        :class:`RemoteJobError` on ``failed`` (answered with 200 or, as vLLM-Omni 0.30.0 does, with a 4xx/5xx
        status and the job JSON: a failed job is not retried), :class:`RemoteTimeoutError` past ``job_timeout_s``."""
        deadline = time.monotonic() + self.job_timeout_s
        polls = 0
        while True:
            resp = self.http.get(f"/v1/videos/{job_id}", accept_error=_is_failed_job)
            job = self.http.parse_json(resp, "GET", f"/v1/videos/{job_id}")
            polls += 1
            status = job.get("status")
            if status == "completed":
                return job, polls
            if status == "failed":
                err = job.get("error") or {}
                detail = f"{err.get('code', '?')}: {err.get('message', '')}" if isinstance(err, dict) else str(err)
                raise RemoteJobError(
                    f"job {job_id!r} failed on the server (HTTP {resp.status}; {self.http.safe_text(detail.encode())})"
                )
            if status not in _PENDING:
                raise RemoteProtocolError(
                    f"job {job_id!r}: unknown status {status!r}; expected one of {[*_PENDING, 'completed', 'failed']}"
                )
            if time.monotonic() + self.poll_interval_s > deadline:
                raise RemoteTimeoutError(
                    f"job {job_id!r} still {status!r} after {polls} polls; "
                    f"gave up at job_timeout_s={self.job_timeout_s:g}"
                )
            time.sleep(self.poll_interval_s)

    def content(self, job_id: str) -> np.ndarray:
        """``GET /v1/videos/{id}/content`` → decoded clip ``(N, H, W, 3)`` uint8."""
        resp = self.http.get(f"/v1/videos/{job_id}/content")
        try:
            return decode_video(resp.body)
        except (ValueError, OSError, RuntimeError) as err:
            raise RemoteProtocolError(
                f"GET /v1/videos/{job_id}/content: not a decodable MP4 ({len(resp.body)} bytes): {err}"
            ) from None

    def delete(self, job_id: str) -> bool:
        """``DELETE /v1/videos/{id}`` (one attempt) → whether the server deleted it. Never raises: a job
        left behind costs server storage, not this answer; failures are logged."""
        try:
            self.http.delete(f"/v1/videos/{job_id}", retries=0)
            return True
        except RemoteError as err:
            log.warning("could not delete job %s on the server: %s", job_id, err)
            return False

    def _run(self, mode: str, form: dict[str, str], media: FilePart, chunk: int, hw: tuple[int, ...]) -> Cosmos3Result:
        """Submit, wait, validate the action object, fetch the clip and cut it to the content; always delete."""
        canvas = action_canvas(int(hw[0]), int(hw[1]), self.sampling.image_size)
        t0 = time.perf_counter()
        job_id = self.submit(form, media)
        result = Cosmos3Result(job_id, mode, canvas=canvas)
        try:
            t1 = time.perf_counter()
            job, result.polls = self.wait(job_id)
            result.job = job
            # validate before downloading: a wrong answer fails fast
            result.model_actions = parse_action(self.emb, job, mode, chunk)
            if mode != "forward_dynamics":
                result.raw_actions = self.emb.denormalize(result.model_actions)
                result.gripper = self.emb.gripper_from_actions(result.raw_actions)
            t2 = time.perf_counter()
            clip = self.content(job_id)
            t3 = time.perf_counter()
        finally:
            result.deleted = self.delete_jobs and self.delete(job_id)
        want = (chunk + 1, canvas.canvas_h, canvas.canvas_w, 3)
        if clip.shape != want:
            raise RemoteProtocolError(
                f"job {job_id!r}: clip has shape {clip.shape}, expected {want} (num_frames = chunk + 1 on the "
                f"image_size={self.sampling.image_size} canvas of a {hw[0]}x{hw[1]} input)"
            )
        result.frames = clip[:, : canvas.content_h, : canvas.content_w].copy()  # the padding is not the scene
        result.timings = {"submit": t1 - t0, "wait": t2 - t1, "download": t3 - t2, "total": t3 - t0}
        log.info("%s job %s: %d polls, %.2f s", mode, job_id, result.polls, result.timings["total"])
        return result
