"""The ``policy-head`` kind on either backend: the shipped world model's policy mode, or a served Cosmos3's.

``checkpoint`` names the model: a checkpoint folder or ``"default"`` runs the local world model's policy mode
(:mod:`cosmos3_gym.model.policy_agent`); an ``http://`` or ``https://`` URL asks a served Cosmos3 (vLLM-Omni,
:class:`RemoteCosmos3`) for each chunk. Both go through the same adapters: the served model sees the state
the environment reports rendered by the MuJoCo twin (the image a real camera would give), answers raw
Cosmos3 rows in the embodiment's contract, and each row is executed as the native action at the TCP pose the
environment reports at that step (:class:`ChunkAgent`). So the same policy runs on the twin, inside the
learned simulator, and against the real model, and ``collect`` / ``validate --policy policy-head:URL`` work.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from cosmos3_gym.backends.errors import RemoteError
from cosmos3_gym.backends.protocol import SamplingConfig
from cosmos3_gym.backends.remote import RemoteCosmos3
from cosmos3_gym.backends.remote_env import TASK_PROMPTS
from cosmos3_gym.model.checkpoint import Checkpoint
from cosmos3_gym.model.policy_agent import ChunkAgent
from cosmos3_gym.model.policy_agent import policy_head_policy as local_policy_head
from cosmos3_gym.sim.policies import PolicyFactory
from cosmos3_gym.sim.twin_env import MujocoTwinEnv

#: Side of the square frame the served policy sees (pixels; fits the default ``image_size`` canvas).
FRAME = 256


def is_endpoint(checkpoint: object) -> bool:
    """Whether a ``checkpoint`` option names a served model (an http(s) URL) rather than a folder."""
    return isinstance(checkpoint, str) and checkpoint.startswith(("http://", "https://"))


class ServedPolicyAgent(ChunkAgent):
    """A served Cosmos3's policy mode as a :class:`ChunkAgent`: every plan renders the latest state the
    environment reports (``camera``: a twin with ``render_mode="rgb_array"``) and sends it with the task's
    prompt; request ``k`` of an episode is seeded ``seed + t`` (t: the step it starts at)."""

    def __init__(self, client: RemoteCosmos3, camera: MujocoTwinEnv, task: str, replan: int, seed: int) -> None:
        super().__init__(client.emb, 1, client.emb.chunk_size, replan)
        self.client, self.camera, self.prompt, self.seed = client, camera, TASK_PROMPTS[task], seed
        self.requests: list[str] = []  # the server's job ids, in order

    def plan(self, history: np.ndarray, goal: np.ndarray) -> np.ndarray:
        frame = self.camera.render_qpos(self.camera.state_qpos(history[-1]))
        result = self.client.policy(frame, self.prompt, seed=self.seed + self.t)
        self.requests.append(result.request_id)
        return result.raw_actions


def served_policy_head(
    env: MujocoTwinEnv, endpoint: str, replan: int = 4, flow_steps: int | None = None, **client_kw: Any
) -> PolicyFactory:
    """Factory of ``policy-head`` against the served Cosmos3 at ``endpoint``: one health check now (a dead or
    wrong endpoint fails here in one line), then one :class:`ServedPolicyAgent` per episode. ``flow_steps``:
    the server's ``num_inference_steps`` (default :class:`SamplingConfig`'s); ``client_kw``: as
    :class:`RemoteCosmos3` (timeouts, retries, ``api_key``)."""
    label = f"policy 'policy-head' at {endpoint}"
    if isinstance(replan, bool) or not isinstance(replan, int | np.integer) or not 1 <= replan <= env.emb.chunk_size:
        raise ValueError(f"{label}: replan must be an integer in [1, {env.emb.chunk_size}], got {replan!r}")
    try:
        sampling = SamplingConfig() if flow_steps is None else SamplingConfig(num_inference_steps=flow_steps)
        client = RemoteCosmos3(env.emb, endpoint, sampling=sampling, **client_kw)
        client.health(retries=0)
    except (RemoteError, ValueError) as exc:
        raise ValueError(f"{label}: {exc}") from None
    camera = MujocoTwinEnv(env.emb, env.task.name, render_mode="rgb_array", width=FRAME, height=FRAME)

    def make(seed: int) -> ServedPolicyAgent:
        return ServedPolicyAgent(client, camera, env.task.name, int(replan), seed)

    return make


def policy_head_policy(
    env: MujocoTwinEnv,
    checkpoint: str | Path | Checkpoint = "default",
    replan: int = 4,
    flow_steps: int | None = None,
    device: str = "cpu",
    stochastic: bool = False,
) -> PolicyFactory:
    """Builder of kind ``policy-head``: a served Cosmos3 when ``checkpoint`` is a URL (``device`` does not
    apply; its sampling is always seeded noise, so ``stochastic`` cannot be switched off or on), else the
    local world model's policy mode (``flow_steps`` default 1)."""
    if not is_endpoint(checkpoint):
        return local_policy_head(env, checkpoint, replan, 1 if flow_steps is None else flow_steps, device, stochastic)
    if stochastic:
        raise ValueError("policy 'policy-head': stochastic applies to a local checkpoint; a served model samples")
    return served_policy_head(env, str(checkpoint), replan, flow_steps)
