"""A small standard-library HTTP client: JSON and multipart requests with timeouts, bounded retries
and exponential backoff, and bearer authentication that never shows up in logs or errors.

Standard library only (``urllib.request``): a served-model client should not add a dependency.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cosmos3_gym.backends.errors import (
    RemoteConnectionError,
    RemoteHTTPError,
    RemoteProtocolError,
    RemoteTimeoutError,
    redact,
)

log = logging.getLogger("cosmos3_gym.backends")

#: Environment variable holding the API key sent as ``Authorization: Bearer <key>``.
API_KEY_ENV = "COSMOS3_API_KEY"
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
#: ``(status, body) -> bool``: which HTTP error answers a request hands back instead of raising.
ErrorFilter = Callable[[int, bytes], bool]


@dataclass(frozen=True)
class FilePart:
    """One file of a multipart form: field name, file name, MIME type, bytes."""

    field: str
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class HttpResponse:
    """A 2xx answer (or an error answer the caller accepted); ``attempts`` counts the requests it took."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    attempts: int


def encode_multipart(fields: Mapping[str, str], files: Sequence[FilePart]) -> tuple[bytes, str]:
    """``multipart/form-data`` body (RFC 7578) and its Content-Type header value (with the boundary)."""
    boundary = "cosmos3gym-" + secrets.token_hex(16)
    parts: list[bytes] = []

    def quoted(s: str) -> str:
        return s.replace("\\", "\\\\").replace('"', '\\"').replace("\r", " ").replace("\n", " ")

    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{quoted(name)}"\r\n\r\n'.encode()
            + str(value).encode("utf-8")
            + b"\r\n"
        )
    for f in files:
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{quoted(f.field)}"; '
            f'filename="{quoted(f.filename)}"\r\nContent-Type: {f.content_type}\r\n\r\n'
        )
        parts.append(head.encode() + f.data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are refused: following one would forward the bearer key to wherever it points."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        return None


class HttpTransport:
    """Requests against one server.

    Args:
        endpoint: ``http(s)://host:port`` of the server (a trailing ``/v1`` is accepted and dropped).
        timeout_s: per-request socket timeout (s).
        retries: extra attempts after the first on connection errors, HTTP 5xx and 429 (never on other
            4xx). Read timeouts are retried only for GET: a timed-out POST may have started a job.
        backoff_s, max_backoff_s: sleep ``min(backoff_s · 2^k, max_backoff_s)`` before retry k (or the
            server's numeric ``Retry-After`` on 429, capped the same way).
        api_key: bearer key; default: the ``COSMOS3_API_KEY`` environment variable (none if unset).
    """

    def __init__(
        self,
        endpoint: str,
        *,
        timeout_s: float = 60.0,
        retries: int = 3,
        backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
        api_key: str | None = None,
    ) -> None:
        url = urllib.parse.urlsplit(str(endpoint).strip())
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"endpoint must be an http(s) URL like 'http://host:8000', got {endpoint!r}")
        if timeout_s <= 0 or retries < 0 or backoff_s < 0 or max_backoff_s < 0:
            raise ValueError(
                f"need timeout_s > 0, retries >= 0, backoff_s >= 0, max_backoff_s >= 0; got "
                f"{timeout_s}, {retries}, {backoff_s}, {max_backoff_s}"
            )
        path = url.path.rstrip("/")
        path = path[:-3] if path.endswith("/v1") else path
        self.base_url = urllib.parse.urlunsplit((url.scheme, url.netloc, path, "", ""))
        self.timeout_s, self.retries = float(timeout_s), int(retries)
        self.backoff_s, self.max_backoff_s = float(backoff_s), float(max_backoff_s)
        self._api_key = api_key if api_key is not None else (os.environ.get(API_KEY_ENV) or None)
        handlers: list[urllib.request.BaseHandler] = [_NoRedirect()]
        if url.hostname in _LOOPBACK:  # a local server is never reached through an HTTP proxy
            handlers.append(urllib.request.ProxyHandler({}))
        self._opener = urllib.request.build_opener(*handlers)

    def __repr__(self) -> str:
        return f"HttpTransport({self.base_url!r}, api_key={'set' if self._api_key else 'unset'})"

    # -- public requests ---------------------------------------------------------------------------
    def get(self, path: str, *, retries: int | None = None, accept_error: ErrorFilter | None = None) -> HttpResponse:
        return self.request("GET", path, retries=retries, accept_error=accept_error)

    def get_json(
        self, path: str, *, retries: int | None = None, accept_error: ErrorFilter | None = None
    ) -> dict[str, Any]:
        return self.parse_json(self.get(path, retries=retries, accept_error=accept_error), "GET", path)

    def delete(self, path: str, *, retries: int | None = None) -> HttpResponse:
        return self.request("DELETE", path, retries=retries)

    def post_multipart(self, path: str, fields: Mapping[str, str], files: Sequence[FilePart]) -> dict[str, Any]:
        body, content_type = encode_multipart(fields, files)
        return self.parse_json(self.request("POST", path, body, content_type), "POST", path)

    def parse_json(self, resp: HttpResponse, method: str, path: str) -> dict[str, Any]:
        """The body as a JSON object, or :class:`RemoteProtocolError` naming what came instead."""
        try:
            data = json.loads(resp.body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise RemoteProtocolError(
                f"{method} {path}: expected a JSON object, got non-JSON "
                f"({err.__class__.__name__}): {self.safe_text(resp.body)}"
            ) from None
        if not isinstance(data, dict):
            raise RemoteProtocolError(f"{method} {path}: expected a JSON object, got {type(data).__name__}")
        return data

    # -- the retry loop ----------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        content_type: str | None = None,
        *,
        retries: int | None = None,
        accept_error: ErrorFilter | None = None,
    ) -> HttpResponse:
        """One request with the retry policy; returns a 2xx answer or raises a :class:`RemoteError`.

        ``retries`` overrides the transport's bound for this request (0 = one attempt). ``accept_error(status,
        body)`` returning True hands that error answer back as an :class:`HttpResponse` at once, without
        retrying: vLLM-Omni answers a failed job's status GET with the job JSON under a 4xx/5xx status.
        """
        headers = {"Accept": "application/json, video/mp4, */*", "User-Agent": "cosmos3-gym"}
        if content_type:
            headers["Content-Type"] = content_type
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        attempts = (self.retries if retries is None else max(0, int(retries))) + 1
        for attempt in range(1, attempts + 1):
            req = urllib.request.Request(self.base_url + path, data=body, headers=headers, method=method)
            t0 = time.perf_counter()
            try:
                with self._opener.open(req, timeout=self.timeout_s) as resp:
                    data = resp.read()
                    log.debug(
                        "%s %s -> %d (attempt %d, %.3f s)", method, path, resp.status, attempt, time.perf_counter() - t0
                    )
                    return HttpResponse(resp.status, dict(resp.headers.items()), data, attempt)
            except urllib.error.HTTPError as err:
                err_body = self._read_error_body(err)
                if accept_error is not None and accept_error(err.code, err_body):
                    log.debug("%s %s -> %d, accepted as an answer (attempt %d)", method, path, err.code, attempt)
                    return HttpResponse(err.code, dict(err.headers.items()) if err.headers else {}, err_body, attempt)
                error: Exception = self._http_error(err, err_body, method, path, attempt)
                retry = err.code == 429 or err.code >= 500
                delay = self._retry_after(err) if err.code == 429 else None
            except (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException, OSError) as err:
                reason = err.reason if isinstance(err, urllib.error.URLError) else err
                timed_out = isinstance(reason, TimeoutError)
                if timed_out:
                    error = RemoteTimeoutError(
                        f"{method} {path}: no answer within {self.timeout_s:g} s (attempt {attempt}/{attempts})"
                    )
                else:
                    error = RemoteConnectionError(
                        f"{method} {path}: cannot reach {self.base_url} "
                        f"({reason.__class__.__name__}: {redact(str(reason), self._api_key)})"
                        f" after {attempt} attempt(s)"
                    )
                retry, delay = (method == "GET" or not timed_out), None
            if not retry or attempt == attempts:
                raise error
            sleep = min(self.backoff_s * 2 ** (attempt - 1) if delay is None else delay, self.max_backoff_s)
            log.warning("%s %s failed (%s); retry %d/%d in %.2f s", method, path, error, attempt, attempts - 1, sleep)
            time.sleep(sleep)
        raise AssertionError("unreachable")  # the loop either returns or raises

    @staticmethod
    def _read_error_body(err: urllib.error.HTTPError) -> bytes:
        try:
            return err.read()
        except (OSError, http.client.HTTPException):
            return b""

    def _http_error(
        self, err: urllib.error.HTTPError, body: bytes, method: str, path: str, attempt: int
    ) -> RemoteHTTPError:
        if 300 <= err.code < 400:
            what = "redirects are not followed (the Authorization header would go along)"
        elif err.code == 429 or err.code >= 500:
            what = f"gave up after {attempt} attempt(s)"
        else:
            what = "client error, not retried"
        return RemoteHTTPError(
            f"{method} {path}: HTTP {err.code} {redact(str(err.reason), self._api_key)} ({what}): "
            f"{self.safe_text(body)}",
            err.code,
            method,
            path,
            attempt,
        )

    @staticmethod
    def _retry_after(err: urllib.error.HTTPError) -> float | None:
        value = err.headers.get("Retry-After") if err.headers else None
        try:
            return max(0.0, float(value)) if value is not None else None
        except ValueError:  # an HTTP date: fall back to exponential backoff
            return None

    def safe_text(self, body: bytes, limit: int = 300) -> str:
        """The start of ``body`` (e.g. a response) for an error message, with the API key redacted."""
        text = body[:limit].decode("utf-8", errors="replace")
        return redact(text + ("..." if len(body) > limit else ""), self._api_key) or "<empty body>"
