"""Backends behind the same adapters: a served Cosmos3 model (vLLM-Omni) and a local Diffusers pipeline."""

from cosmos3_gym.backends.diffusers_backend import DiffusersCosmos3
from cosmos3_gym.backends.errors import (
    RemoteConnectionError,
    RemoteError,
    RemoteHTTPError,
    RemoteJobError,
    RemoteProtocolError,
    RemoteTimeoutError,
)
from cosmos3_gym.backends.protocol import SamplingConfig
from cosmos3_gym.backends.remote import Cosmos3Result, RemoteCosmos3
from cosmos3_gym.backends.remote_env import RemoteCosmos3Env, make_remote_env

__all__ = [
    "Cosmos3Result",
    "DiffusersCosmos3",
    "RemoteConnectionError",
    "RemoteCosmos3",
    "RemoteCosmos3Env",
    "RemoteError",
    "RemoteHTTPError",
    "RemoteJobError",
    "RemoteProtocolError",
    "RemoteTimeoutError",
    "SamplingConfig",
    "make_remote_env",
]
