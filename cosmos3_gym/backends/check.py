"""``cosmos3-gym remote-check``: one request of each action mode against a served Cosmos3 model.

The health check (``GET /v1/models``, one attempt) runs first; if it fails, nothing else is tried, so a
dead endpoint is reported at once in one line. The start frame is the MuJoCo twin's reset frame (seed 0).
Forward dynamics sends a constant native chunk (half-speed +x, gripper open); inverse dynamics runs on
the clip forward dynamics returned, so its recovered translation can be compared with what was sent (a
consistency number, not a benchmark); policy runs from the start frame.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from cosmos3_gym.backends.actions import native_chunk_to_raw
from cosmos3_gym.backends.errors import RemoteError
from cosmos3_gym.backends.protocol import SamplingConfig
from cosmos3_gym.backends.remote import Cosmos3Result, RemoteCosmos3
from cosmos3_gym.backends.remote_env import TASK_PROMPTS
from cosmos3_gym.sim.twin_env import MujocoTwinEnv


def add_arguments(p: argparse.ArgumentParser, embodiment_type: Callable[[str], str] = str) -> None:
    """Arguments of ``remote-check``; ``embodiment_type`` checks ``--embodiment`` (the CLI's registers a YAML path)."""
    p.add_argument("--endpoint", required=True, help="server URL, e.g. http://gpu-host:8000 (key: $COSMOS3_API_KEY)")
    p.add_argument(
        "--embodiment",
        default="franka",
        type=embodiment_type,
        help="a known embodiment name or a path to a robot YAML (default franka)",
    )
    p.add_argument("--size", type=int, default=256, help="square frame size in pixels, a multiple of 16 (default 256)")
    p.add_argument("--image-size", type=int, default=256, help="action canvas tier sent as image_size (default 256)")
    p.add_argument("--timeout", type=float, default=60.0, help="per HTTP request, seconds")
    p.add_argument("--job-timeout", type=float, default=1800.0, help="per generation job, seconds")
    p.add_argument("--poll-interval", type=float, default=1.0, help="seconds between status polls")
    p.add_argument("--retries", type=int, default=3, help="retries on connection errors, HTTP 5xx and 429")
    p.add_argument("--json", action="store_true", help="machine-readable output")


MODES = ("forward_dynamics", "inverse_dynamics", "policy")
NOT_RUN = "not run: the health check failed"


def _attempt(fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    t0 = time.perf_counter()
    try:
        out = {"ok": True, **fn()}
    except (RemoteError, ValueError) as err:
        out = {"ok": False, "error": f"{err.__class__.__name__}: {err}"}
    out["seconds"] = round(time.perf_counter() - t0, 3)
    return out


def _summary(r: Cosmos3Result) -> dict[str, Any]:
    action = r.job.get("action") if isinstance(r.job.get("action"), dict) else {}
    out: dict[str, Any] = {
        "request_id": r.request_id,
        "polls": r.polls,
        "frames_shape": None if r.frames is None else list(r.frames.shape),
        "timings": {k: round(v, 3) for k, v in r.timings.items()},
    }
    if r.model_actions is not None:
        out.update(
            action_shape=list(r.model_actions.shape),
            domain_id=action.get("domain_id"),
            action_mode=action.get("action_mode"),
        )
    return out


def run_check(args: argparse.Namespace) -> dict[str, Any]:
    """Run the four checks (the three modes only after a passing health check); JSON-serialisable report."""
    client = RemoteCosmos3(
        args.embodiment,
        args.endpoint,
        sampling=SamplingConfig(image_size=args.image_size),
        timeout_s=args.timeout,
        job_timeout_s=args.job_timeout,
        poll_interval_s=args.poll_interval,
        retries=args.retries,
    )
    emb = client.emb
    report: dict[str, Any] = {
        "endpoint": client.http.base_url,
        "embodiment": emb.name,
        "domain_name": emb.domain_name,
        "domain_id": emb.domain_id,
        "raw_action_dim": emb.raw_action_dim,
        "chunk_size": emb.chunk_size,
    }
    # one attempt: retrying a dead endpoint only delays the answer, and a down server fails every mode
    report["health"] = _attempt(lambda: {"models": client.health(retries=0)})
    if not report["health"]["ok"]:
        report.update({mode: {"ok": False, "skipped": True, "error": NOT_RUN, "seconds": 0.0} for mode in MODES})
        report["ok"] = False
        return report
    twin = MujocoTwinEnv(emb, "lift", render_mode="rgb_array", width=args.size, height=args.size)
    try:
        twin.reset(seed=0)
        frame, tcp = twin.render(), twin.controller.arm_tcp(twin.data)
    finally:
        twin.close()
    native = np.tile(np.tile([0.5, 0, 0, 0, 0, 0, 1.0], len(emb.spec.action.arms)), (emb.chunk_size, 1))
    raw, _ = native_chunk_to_raw(emb, tcp, native)
    prompt = TASK_PROMPTS["lift"]
    fd: dict[str, Cosmos3Result] = {}

    def forward() -> dict[str, Any]:
        fd["r"] = client.forward_dynamics(frame, raw, prompt)
        return _summary(fd["r"])

    def inverse() -> dict[str, Any]:
        clip = fd["r"].frames if "r" in fd else np.repeat(frame[None], emb.chunk_size + 1, axis=0)
        r = client.inverse_dynamics(clip, prompt)
        out = _summary(r)
        if "r" in fd:  # how far the recovered per-step translations are from the ones sent (m)
            out["translation_error_vs_sent_m"] = float(np.mean(np.abs(r.raw_actions[:, :3] - raw[:, :3])))
        return out

    def policy() -> dict[str, Any]:
        r = client.policy(frame, prompt, tcp=tcp)
        return {**_summary(r), "native_shape": list(r.native.shape)}

    report["forward_dynamics"] = _attempt(forward)
    report["inverse_dynamics"] = _attempt(inverse)
    report["policy"] = _attempt(policy)
    report["ok"] = all(report[k]["ok"] for k in ("health", *MODES))
    return report


def remote_check(args: argparse.Namespace) -> int:
    """CLI entry: print the report; exit status 0 when every check passed, else 1."""
    report = run_check(args)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0 if report["ok"] else 1
    print(
        f"{report['endpoint']}  embodiment={report['embodiment']}  domain={report['domain_name']}/"
        f"{report['domain_id']}  raw_dim={report['raw_action_dim']}  chunk={report['chunk_size']}"
    )
    for key in ("health", *MODES):
        r = report[key]
        if r.get("skipped"):
            continue  # said once on the health line
        if not r["ok"]:
            tail = f"; {', '.join(MODES)} not run" if key == "health" else ""
            print(f"  {key:<17} FAIL {r['seconds']:.2f} s  {r['error']}{tail}")
            continue
        shown = {
            k: r[k]
            for k in (
                "models",
                "request_id",
                "frames_shape",
                "action_shape",
                "domain_id",
                "native_shape",
                "translation_error_vs_sent_m",
            )
            if k in r
        }
        print(f"  {key:<17} ok   {r['seconds']:.2f} s  " + "  ".join(f"{k}={v}" for k, v in shown.items()))
    return 0 if report["ok"] else 1
