"""A loopback fake of vLLM-Omni 0.30.0's ``/v1/videos`` protocol for Cosmos3 actions (contract §5.3).

Binds 127.0.0.1 on a free port, records every request (parsed multipart form, files, headers) for the
tests to assert on, and answers as the real server's code does (``entrypoints/openai/api_server.py``,
``video/generation/helpers.py``, the Cosmos3 pipeline): ``POST /v1/videos`` → job JSON, 400 when
``model`` is not the served name; ``GET /v1/videos/{id}`` → ``in_progress`` a few times, then
``completed`` with ``action = {data, shape, dtype, raw_action_dim, action_mode, domain_id}`` for every
action mode (forward dynamics: its conditioning rows in bf16), or ``failed`` under the error's HTTP
status with the job JSON as the body; ``GET /v1/videos/{id}/content`` → an MP4 of ``num_frames`` frames
on the ``image_size`` canvas (the conditioning frame resized and padded as the server pads it, a given
``size`` used as is, floored to multiples of 16); ``DELETE /v1/videos/{id}``. Knobs on the instance
emulate older servers and inject failures. Whether the fake's bodies fit the real pydantic models is
checked in ``test_remote_real_schema.py``.
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import imageio.v3 as iio
import numpy as np

from cosmos3_gym.backends import RemoteCosmos3
from cosmos3_gym.backends.protocol import action_canvas  # checked against the real server's code elsewhere

SERVED_MODEL = "nvidia/Cosmos3-Nano"
#: Client settings that keep tests fast against the loopback fake (seconds).
FAST = {"poll_interval_s": 0.005, "backoff_s": 0.005, "timeout_s": 5.0}
DOMAIN_IDS = {"droid_lerobot": 8, "robomind-ur": 13, "bridge_orig_lerobot": 7, "agibotworld": 15, "umi": 6}


@dataclass
class Captured:
    """One request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]
    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, tuple[str, str, bytes]] = field(default_factory=dict)  # name -> (filename, type, bytes)

    @property
    def extra(self) -> dict[str, Any]:
        return json.loads(self.fields["extra_params"])


def bf16(x: np.ndarray) -> np.ndarray:
    """Round to bfloat16 (nearest even), as the server's action tensor holds values; returned as float32."""
    u = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000
    return u.astype(np.uint32).view(np.float32)


def failure_status(error: dict[str, Any]) -> int:
    """HTTP status of a failed job's status GET (``_status_code_for_video_failure`` for int codes)."""
    code = error.get("code")
    return code if isinstance(code, int) and 400 <= code < 600 else 500


def canvas_frames(cap: Captured, n: int) -> np.ndarray:
    """``(n, H, W, 3)`` uint8 as the server would frame them: the conditioning frame resized to the content
    size and padded at the bottom / right to the canvas (reflect, or edge when a pad exceeds the content),
    or resized to a given ``size`` floored to multiples of 16; brightness rises with the frame index."""
    _, ctype, data = cap.files["input_reference"]
    first = np.asarray(iio.imread(data, extension=".png" if ctype == "image/png" else ".mp4"))
    first = (first if first.ndim == 3 else first[0])[..., :3]
    h, w = first.shape[:2]
    if "size" in cap.fields:
        size_w, size_h = (int(v) for v in cap.fields["size"].split("x"))
        ch, cw = size_h // 16 * 16, size_w // 16 * 16
        canvas_h, canvas_w = ch, cw
    else:
        c = action_canvas(h, w, int(cap.extra.get("image_size", 480)))
        ch, cw, canvas_h, canvas_w = c.content_h, c.content_w, c.canvas_h, c.canvas_w
    content = first[(np.arange(ch) * h // ch)[:, None], (np.arange(cw) * w // cw)[None, :]]  # nearest resize
    pad_h, pad_w = canvas_h - ch, canvas_w - cw
    mode = "reflect" if pad_h < ch and pad_w < cw else "edge"
    base = np.pad(content, ((0, pad_h), (0, pad_w), (0, 0)), mode=mode).astype(np.int16)
    return np.stack([np.clip(base + 6 * i, 0, 255).astype(np.uint8) for i in range(n)])


def parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, tuple[str, str, bytes]]]:
    msg = BytesParser(policy=policy.HTTP).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    fields, files = {}, {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        data = part.get_payload(decode=True)
        if part.get_filename() is not None:
            files[name] = (part.get_filename(), part.get_content_type(), data)
        else:
            fields[name] = data.decode("utf-8")
    return fields, files


class FakeCosmos3Server:
    """Context manager; ``url`` is ``http://127.0.0.1:<port>``.

    Knobs: ``failure_style`` "status" (0.30.0: a failed job's GET answers its error's HTTP status) or
    "ok" (older: 200); ``fd_action`` False: no action object for forward dynamics; ``read_extra_params``
    False: a server that ignores ``extra_params`` (plain image-to-video, no action object at all);
    ``job_hook``: maps every job JSON before it is sent (the real-schema test round-trips them through
    vLLM-Omni's ``VideoResponse``); ``deleted_hook`` likewise for DELETE answers.
    """

    def __init__(self, in_progress_polls: int = 2) -> None:
        self.in_progress_polls = in_progress_polls
        self.requests: list[Captured] = []
        self.jobs: dict[str, dict[str, Any]] = {}
        self.deleted: list[str] = []
        self.served: dict[str, np.ndarray] = {}  # job id -> the frames its content MP4 encodes (canvas size)
        self.model_actions: Callable[[Captured], np.ndarray] | None = None  # policy / ID answer (model space)
        self.post_statuses: list[int] = []  # answer the next POSTs with these statuses, in order
        self.post_status_forever: int | None = None
        self.action_patch: Callable[[dict[str, Any]], None] | None = None
        self.job_body: bytes | None = None  # raw body for GET /v1/videos/{id} (malformed JSON tests)
        self.final_status = "completed"
        self.failure_style = "status"
        self.failure_error: dict[str, Any] = {"code": 500, "message": "CUDA out of memory"}
        self.fd_action = True
        self.read_extra_params = True
        self.job_hook: Callable[[dict[str, Any]], dict[str, Any]] | None = None
        self.deleted_hook: Callable[[dict[str, Any]], dict[str, Any]] | None = None
        self.stall_s = 0.0  # GET /v1/models sleeps this long
        self.post_stall_s = 0.0  # POST /v1/videos sleeps this long before answering
        self.content_frames: int | None = None  # serve this many frames instead of num_frames
        self.content_body: bytes | None = None  # raw body for .../content (undecodable video tests)
        self.redirect_models = False
        self.echo_auth = False  # error bodies repeat the Authorization header
        self._lock = threading.Lock()
        self._mp4_cache: dict[tuple[str, int, float], tuple[np.ndarray, bytes]] = {}
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.01,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def count(self, method: str, prefix: str) -> int:
        return sum(1 for r in self.requests if r.method == method and r.path.startswith(prefix))

    def posts(self) -> list[Captured]:
        return [r for r in self.requests if r.method == "POST"]

    def __enter__(self) -> FakeCosmos3Server:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    # -- protocol ----------------------------------------------------------------------------------
    def _job_json(self, job_id: str, cap: Captured, **fields: Any) -> dict[str, Any]:
        body = {"id": job_id, "object": "video", "model": SERVED_MODEL, "prompt": cap.fields.get("prompt", "")}
        body.update(fields)
        return self.job_hook(body) if self.job_hook else body

    def _create(self, cap: Captured) -> dict[str, Any]:
        with self._lock:
            job_id = f"video_gen_{len(self.jobs) + len(self.deleted):04d}"
            self.jobs[job_id] = {"cap": cap, "polls_left": self.in_progress_polls, "status": "queued"}
        return self._job_json(job_id, cap, status="queued", progress=0, size=cap.fields.get("size"))

    def _status(self, job_id: str) -> tuple[int, dict[str, Any]]:
        job = self.jobs[job_id]
        cap, extra = job["cap"], job["cap"].extra
        base = {"size": cap.fields.get("size"), "media_type": "video/mp4"}
        if job["polls_left"] > 0:
            job["polls_left"] -= 1
            return 200, self._job_json(job_id, cap, **base, status="in_progress", progress=50)
        job["status"] = self.final_status
        if self.final_status == "failed":
            error = dict(self.failure_error)
            status = failure_status(error) if self.failure_style == "status" else 200
            if self.failure_style == "status":
                error["code"] = status  # the real server overwrites the code with the status it answers
            return status, self._job_json(job_id, cap, **base, status="failed", progress=0, error=error)
        if self.final_status != "completed":
            return 200, self._job_json(job_id, cap, **base, status=self.final_status)
        body: dict[str, Any] = {**base, "status": "completed", "progress": 100, "inference_time_s": 0.01}
        mode = extra.get("action_mode") if self.read_extra_params else None
        if mode is not None and (mode != "forward_dynamics" or self.fd_action):
            if mode == "forward_dynamics":  # the conditioning rows, in the model's dtype
                data = bf16(np.asarray(extra["action"]))
            else:
                chunk, dim = extra["action_chunk_size"], extra["raw_action_dim"]
                # exactly what the test asks for, so that round trips are exact (the real values are bf16)
                data = np.asarray(self.model_actions(cap) if self.model_actions else np.zeros((chunk, dim)))
            action = {
                "data": data.tolist(),
                "shape": list(data.shape),
                "dtype": "torch.bfloat16",
                "raw_action_dim": int(data.shape[1]),
                "action_mode": mode,
                "domain_id": DOMAIN_IDS[extra["domain_name"]],
            }
            if self.action_patch:
                self.action_patch(action)
            body["action"] = action
        return 200, self._job_json(job_id, cap, **body)

    def _content(self, job_id: str) -> bytes:
        if self.content_body is not None:
            return self.content_body
        cap = self.jobs[job_id]["cap"]
        n = self.content_frames or int(cap.fields["num_frames"])
        digest = hashlib.sha256(json.dumps(cap.fields, sort_keys=True).encode() + cap.files["input_reference"][2])
        key = (digest.hexdigest(), n, float(cap.fields["fps"]))
        if key not in self._mp4_cache:  # encoding is the slow part of a request; clips repeat
            frames = canvas_frames(cap, n)
            self._mp4_cache[key] = (frames, bytes(iio.imwrite("<bytes>", frames, extension=".mp4", fps=key[2])))
        self.served[job_id] = self._mp4_cache[key][0]
        return self._mp4_cache[key][1]

    def _delete(self, job_id: str) -> dict[str, Any]:
        with self._lock:
            self.jobs.pop(job_id)
            self.deleted.append(job_id)
        body = {"id": job_id, "object": "video.deleted", "deleted": True}
        return self.deleted_hook(body) if self.deleted_hook else body

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def _send(
                self, status: int, body: bytes, ctype: str = "application/json", extra: dict | None = None
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def _json(self, status: int, obj: dict) -> None:
                if status >= 400 and server.echo_auth:
                    obj = {**obj, "you_sent": self.headers.get("Authorization", "")}
                self._send(status, json.dumps(obj).encode())

            def _error(self, status: int, message: str) -> None:  # vLLM's ErrorResponse shape
                self._json(status, {"error": {"message": message, "type": "BadRequestError", "code": status}})

            def _capture(self, body: bytes = b"") -> Captured:
                cap = Captured(self.command, self.path, {k.lower(): v for k, v in self.headers.items()})
                if body:
                    cap.fields, cap.files = parse_multipart(self.headers["Content-Type"], body)
                server.requests.append(cap)
                return cap

            def _job_id(self) -> tuple[str | None, list[str]]:
                parts = self.path.strip("/").split("/")
                ok = len(parts) >= 3 and parts[:2] == ["v1", "videos"] and parts[2] in server.jobs
                return (parts[2] if ok else None), parts

            def do_GET(self) -> None:
                self._capture()
                if self.path == "/v1/models":
                    time.sleep(server.stall_s)
                    if server.redirect_models:
                        return self._send(302, b"", extra={"Location": "http://127.0.0.1:9/v1/models"})
                    return self._json(200, {"object": "list", "data": [{"id": SERVED_MODEL, "object": "model"}]})
                job_id, parts = self._job_id()
                if job_id is None:
                    return self._error(404, "Video not found")
                if len(parts) == 4 and parts[3] == "content":
                    if server.jobs[job_id]["status"] == "failed":
                        return self._error(422, "Video generation failed. Check job status for error details.")
                    return self._send(200, server._content(job_id), "video/mp4")
                if len(parts) == 3:
                    if server.job_body is not None:
                        return self._send(200, server.job_body, "text/html")
                    return self._json(*server._status(job_id))
                return self._error(404, f"no route {self.path}")

            def do_DELETE(self) -> None:
                self._capture()
                job_id, parts = self._job_id()
                if job_id is None or len(parts) != 3:
                    return self._error(404, "Video not found")
                self._json(200, server._delete(job_id))

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                cap = self._capture(body)
                if self.path != "/v1/videos":
                    return self._error(404, "no route")
                time.sleep(server.post_stall_s)
                status = server.post_status_forever or (server.post_statuses.pop(0) if server.post_statuses else 200)
                if status != 200:
                    return self._error(status, f"injected {status}")
                for key in ("prompt", "extra_params"):
                    if key not in cap.fields:
                        return self._error(400, f"missing {key}")
                model = cap.fields.get("model")
                if model is not None and model != SERVED_MODEL:
                    msg = f"Model mismatch: request specifies '{model}' but server is running '{SERVED_MODEL}'."
                    return self._error(400, msg)
                self._json(200, server._create(cap))

        return Handler


def client(srv: FakeCosmos3Server, emb: str = "franka", **kw: Any) -> RemoteCosmos3:
    """A :class:`RemoteCosmos3` for ``srv`` with :data:`FAST` settings (overridable)."""
    return RemoteCosmos3(emb, srv.url, **{**FAST, **kw})


def blocks(h: int, w: int, seed: int = 0) -> np.ndarray:
    """``(h, w, 3)`` uint8 of random 8-pixel blocks: lossless in PNG, and H.264 keeps it to a few levels."""
    b = np.random.default_rng(seed).integers(0, 256, (-(-h // 8), -(-w // 8), 3), dtype=np.uint8)
    return b.repeat(8, axis=0).repeat(8, axis=1)[:h, :w]


def decode_png(data: bytes) -> np.ndarray:
    return np.asarray(iio.imread(io.BytesIO(data), extension=".png"))


def decode_mp4(data: bytes) -> np.ndarray:
    return np.asarray(iio.imread(data, extension=".mp4"))
