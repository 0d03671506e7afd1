"""A loopback fake of the vLLM-Omni ``/v1/videos`` protocol for Cosmos3 actions (contract §5.3).

Binds 127.0.0.1 on a free port, records every request (parsed multipart form, files, headers) for
the tests to assert on, and answers as documented: ``POST /v1/videos`` → job JSON; ``GET
/v1/videos/{id}`` → ``in_progress`` a few times, then ``completed`` with ``action = {data, shape,
dtype, raw_action_dim, action_mode, domain_id}``; ``GET /v1/videos/{id}/content`` → an MP4 of
``num_frames`` synthetic frames. Knobs on the instance inject failures.
"""

from __future__ import annotations

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


def synthetic_frames(n: int, width: int, height: int) -> np.ndarray:
    """``(n, H, W, 3)`` uint8: a gradient whose brightness rises with the frame index."""
    x = np.linspace(0, 120, width)[None, :, None]
    y = np.linspace(0, 60, height)[:, None, None]
    base = (x + y + np.array([0, 30, 60])).astype(np.float64)
    return np.stack([np.clip(base + 8 * i, 0, 255).astype(np.uint8) for i in range(n)])


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
    """Context manager; ``url`` is ``http://127.0.0.1:<port>``."""

    def __init__(self, in_progress_polls: int = 2) -> None:
        self.in_progress_polls = in_progress_polls
        self.requests: list[Captured] = []
        self.jobs: dict[str, dict[str, Any]] = {}
        self.model_actions: Callable[[Captured], np.ndarray] | None = None  # policy / ID answer (model space)
        self.post_statuses: list[int] = []  # answer the next POSTs with these statuses, in order
        self.post_status_forever: int | None = None
        self.action_patch: Callable[[dict[str, Any]], None] | None = None
        self.job_body: bytes | None = None  # raw body for GET /v1/videos/{id} (malformed JSON tests)
        self.final_status = "completed"
        self.stall_s = 0.0  # GET /v1/models sleeps this long
        self.post_stall_s = 0.0  # POST /v1/videos sleeps this long before answering
        self.content_frames: int | None = None  # serve this many frames instead of num_frames
        self.content_body: bytes | None = None  # raw body for .../content (undecodable video tests)
        self.redirect_models = False
        self.echo_auth = False  # error bodies repeat the Authorization header
        self._lock = threading.Lock()
        self._mp4_cache: dict[tuple[int, int, int, float], bytes] = {}
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
    def _create(self, cap: Captured) -> dict[str, Any]:
        with self._lock:
            job_id = f"video_gen_{len(self.jobs):04d}"
            self.jobs[job_id] = {"cap": cap, "polls_left": self.in_progress_polls, "status": "queued"}
        return {
            "id": job_id,
            "object": "video",
            "status": "queued",
            "model": "nvidia/Cosmos3-Nano",
            "prompt": cap.fields.get("prompt", ""),
            "progress": 0,
        }

    def _status(self, job_id: str) -> dict[str, Any]:
        job = self.jobs[job_id]
        cap, extra = job["cap"], job["cap"].extra
        body: dict[str, Any] = {
            "id": job_id,
            "object": "video",
            "model": "nvidia/Cosmos3-Nano",
            "prompt": cap.fields["prompt"],
            "size": cap.fields["size"],
            "media_type": "video/mp4",
        }
        if job["polls_left"] > 0:
            job["polls_left"] -= 1
            return {**body, "status": "in_progress", "progress": 50}
        if self.final_status != "completed":
            return {**body, "status": self.final_status, "error": {"code": 500, "message": "CUDA out of memory"}}
        body.update(status="completed", progress=100, inference_time_s=0.01)
        if extra["action_mode"] != "forward_dynamics":
            chunk, dim = extra["action_chunk_size"], extra["raw_action_dim"]
            data = self.model_actions(cap) if self.model_actions else np.zeros((chunk, dim))
            action = {
                "data": np.asarray(data).tolist(),
                "shape": list(np.shape(data)),
                "dtype": "float32",
                "raw_action_dim": dim,
                "action_mode": extra["action_mode"],
                "domain_id": DOMAIN_IDS[extra["domain_name"]],
            }
            if self.action_patch:
                self.action_patch(action)
            body["action"] = action
        return body

    def _content(self, job_id: str) -> bytes:
        if self.content_body is not None:
            return self.content_body
        cap = self.jobs[job_id]["cap"]
        w, h = (int(v) for v in cap.fields["size"].split("x"))
        key = (self.content_frames or int(cap.fields["num_frames"]), w, h, float(cap.fields["fps"]))
        self.jobs[job_id]["frames"] = synthetic_frames(*key[:3])
        if key not in self._mp4_cache:  # encoding is the slow part of a request; clips repeat
            self._mp4_cache[key] = bytes(
                iio.imwrite("<bytes>", self.jobs[job_id]["frames"], extension=".mp4", fps=key[3])
            )
        return self._mp4_cache[key]

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

            def _capture(self, body: bytes = b"") -> Captured:
                cap = Captured(self.command, self.path, {k.lower(): v for k, v in self.headers.items()})
                if body:
                    cap.fields, cap.files = parse_multipart(self.headers["Content-Type"], body)
                server.requests.append(cap)
                return cap

            def do_GET(self) -> None:
                self._capture()
                parts = self.path.strip("/").split("/")
                if self.path == "/v1/models":
                    time.sleep(server.stall_s)
                    if server.redirect_models:
                        return self._send(302, b"", extra={"Location": "http://127.0.0.1:9/v1/models"})
                    models = [{"id": "nvidia/Cosmos3-Nano", "object": "model"}]
                    return self._json(200, {"object": "list", "data": models})
                if len(parts) >= 3 and parts[:2] == ["v1", "videos"] and parts[2] in server.jobs:
                    if len(parts) == 4 and parts[3] == "content":
                        return self._send(200, server._content(parts[2]), "video/mp4")
                    if len(parts) == 3:
                        if server.job_body is not None:
                            return self._send(200, server.job_body, "text/html")
                        return self._json(200, server._status(parts[2]))
                return self._json(404, {"error": {"message": f"no route {self.path}"}})

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                cap = self._capture(body)
                if self.path != "/v1/videos":
                    return self._json(404, {"error": {"message": "no route"}})
                time.sleep(server.post_stall_s)
                status = server.post_status_forever or (server.post_statuses.pop(0) if server.post_statuses else 200)
                if status != 200:
                    return self._json(status, {"error": {"message": f"injected {status}"}})
                for key in ("prompt", "extra_params"):
                    if key not in cap.fields:
                        return self._json(400, {"error": {"message": f"missing {key}"}})
                self._json(200, server._create(cap))

        return Handler


def decode_png(data: bytes) -> np.ndarray:
    return np.asarray(iio.imread(io.BytesIO(data), extension=".png"))


def decode_mp4(data: bytes) -> np.ndarray:
    return np.asarray(iio.imread(data, extension=".mp4"))
