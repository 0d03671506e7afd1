"""``cosmos3-gym demo``: one episode in the learned simulator, the same actions in the MuJoCo twin.

The scripted expert acts on the learned environment's own observations (closed loop in the model);
its actions are replayed in the twin from the identical start state. Prints a per-step error table
and success in both, and writes a side-by-side video (twin | model) and an error plot.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
from tqdm import tqdm

TABLE_EVERY = 10
#: The labels of the video's halves: which is physics and which is the model.
LABELS = ("MuJoCo twin (physics)", "world model (learned)")


def side_by_side(twin: np.ndarray, model: np.ndarray) -> np.ndarray:
    """Two ``(H, W, 3)`` uint8 frames → one ``(H, 2W, 3)`` frame, each half labelled (:data:`LABELS`) in its
    top-left corner, white on a dark box (Pillow ships with the ``media`` extra, via matplotlib)."""
    from PIL import Image, ImageDraw

    image = Image.fromarray(np.concatenate([twin, model], axis=1))
    draw = ImageDraw.Draw(image)
    for x, text in zip((0, twin.shape[1]), LABELS, strict=True):
        left, top, right, bottom = draw.textbbox((x + 6, 4), text)
        draw.rectangle((left - 3, top - 2, right + 3, bottom + 2), fill=(0, 0, 0))
        draw.text((x + 6, 4), text, fill=(255, 255, 255))
    return np.asarray(image)


@dataclass
class DemoResult:
    env_id: str
    steps: int
    success_model: bool
    success_mujoco: bool
    tcp_error_mm: list[float]
    cube_error_mm: list[float]
    video: str | None
    plot: str | None
    wall_s: float


def run_demo(
    embodiment: str = "franka",
    task: str = "lift",
    model: str = "default",
    seed: int = 0,
    out: str | Path = "demo_out",
    video: bool = True,
    progress: bool = True,
) -> DemoResult:
    """Run the demo episode and write ``out/demo.mp4``, ``out/demo.png`` and ``out/demo.json``."""
    import cosmos3_gym  # noqa: F401  (registers ids)
    from cosmos3_gym.registration import robot_name
    from cosmos3_gym.sim.experts import make_expert

    t0 = time.time()
    env_id = f"Cosmos3-{robot_name(embodiment)}-{task.capitalize()}-v0"
    render = "rgb_array" if video else None
    learned = gym.make(env_id, model=model, render_mode=render, width=320, height=240)
    twin = gym.make(env_id.replace("-v0", "-MuJoCo-v0"), render_mode=render, width=320, height=240)
    obs, _ = learned.reset(seed=seed)
    tobs, _ = twin.reset(seed=seed)
    expert = make_expert(twin.unwrapped)  # the expert only reads the spaces and layout from the env it is given
    expert.reset(obs)
    lay = twin.unwrapped.layout
    frames, tcp_err, cube_err = [], [], []
    info, tinfo = {}, {}
    what = "episode + video frames" if video else "episode"
    bar = tqdm(range(learned.spec.max_episode_steps), desc=f"demo {env_id} ({what})", unit="step", disable=not progress)
    for _ in bar:
        action = expert(obs)
        obs, _, term, trunc, info = learned.step(action)
        tobs, _, tterm, ttrunc, tinfo = twin.step(action)
        s, ts = obs["observation"], tobs["observation"]
        tcp_err.append(1000 * float(np.linalg.norm(lay.arm(s, "tcp_pos", 0) - lay.arm(ts, "tcp_pos", 0))))
        cube_err.append(1000 * float(np.linalg.norm(lay.get(s, "cube_pos") - lay.get(ts, "cube_pos"))))
        if video:
            frames.append(side_by_side(twin.render(), learned.render()))
        if term or trunc or tterm or ttrunc:
            break
    bar.close()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    video_path = plot_path = None
    if video:
        import imageio.v3 as iio

        video_path = str(out / "demo.mp4")
        if progress:
            print(f"demo: encoding {len(frames)} frames into {video_path}", file=sys.stderr)
        iio.imwrite(video_path, np.stack(frames), fps=learned.unwrapped.emb.fps, codec="libx264")
    plot_path = str(out / "demo.png")
    _plot(plot_path, env_id, tcp_err, cube_err)
    learned.close()
    twin.close()
    result = DemoResult(
        env_id,
        len(tcp_err),
        bool(info.get("is_success")),
        bool(tinfo.get("is_success")),
        tcp_err,
        cube_err,
        video_path,
        plot_path,
        round(time.time() - t0, 2),
    )
    (out / "demo.json").write_text(json.dumps(asdict(result), indent=1))
    return result


def _plot(path: str, env_id: str, tcp: list[float], cube: list[float]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.2), dpi=110)
    ax.plot(tcp, label="TCP position error")
    ax.plot(cube, label="cube position error")
    ax.set_xlabel("step")
    ax.set_ylabel("model − MuJoCo (mm)")
    ax.set_title(f"{env_id}: world model vs MuJoCo, same actions")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def format_table(r: DemoResult) -> str:
    """The per-step error table printed by the CLI."""
    lines = [
        f"{r.env_id}: {r.steps} steps, world model vs MuJoCo twin (same actions)",
        "",
        f"{'step':>5} {'TCP err (mm)':>13} {'cube err (mm)':>14}",
    ]
    for i in [*list(range(0, r.steps, TABLE_EVERY)), r.steps - 1]:
        lines.append(f"{i + 1:>5} {r.tcp_error_mm[i]:>13.1f} {r.cube_error_mm[i]:>14.1f}")
    lines += [
        "",
        f"success: model {'yes' if r.success_model else 'no'}, MuJoCo {'yes' if r.success_mujoco else 'no'}",
        f"median TCP error {np.median(r.tcp_error_mm):.1f} mm, cube {np.median(r.cube_error_mm):.1f} mm",
        f"wrote {r.video or '(no video)'}, {r.plot} in {r.wall_s:.1f} s",
    ]
    return "\n".join(lines)
