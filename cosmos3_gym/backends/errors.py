"""Errors of the served-model backends. Messages never contain the API key (see :func:`redact`)."""

from __future__ import annotations


class RemoteError(RuntimeError):
    """Base class: a served Cosmos3 model could not give a usable answer."""


class RemoteConnectionError(RemoteError):
    """The server could not be reached (refused, reset, DNS) after the retry bound."""


class RemoteTimeoutError(RemoteError):
    """A request, or a whole generation job, took longer than its timeout."""


class RemoteHTTPError(RemoteError):
    """The server answered with an HTTP error status (after retries for 5xx/429; at once for 4xx).

    Attributes: ``status`` (int), ``method``, ``path``, ``attempts`` (requests made).
    """

    def __init__(self, message: str, status: int, method: str, path: str, attempts: int) -> None:
        super().__init__(message)
        self.status, self.method, self.path, self.attempts = status, method, path, attempts


class RemoteProtocolError(RemoteError):
    """The server answered, but not in the documented protocol (non-JSON body, missing field, wrong
    action shape, wrong domain id, wrong frame count ...)."""


class RemoteJobError(RemoteError):
    """The generation job ended with status ``failed``; the message carries the server's error."""


def redact(text: str, secret: str | None) -> str:
    """``text`` with every occurrence of ``secret`` replaced, so server echoes cannot leak the key."""
    if secret:
        text = text.replace(secret, "<redacted>")
    return text
