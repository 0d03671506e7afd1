"""World-model fidelity against MuJoCo, per embodiment, on held-out seeds (world-model issue targets).

For every embodiment:

1. open loop: noisy-expert episodes of Push and Lift in the twin (held-out seeds); from true states
   at t0 ∈ {0, 16, 32} the model replays the same native actions for 64 steps; errors at horizons
   1, 16 and 64 for TCP position (mm), TCP rotation (deg), gripper opening (mm), cube position (mm);
2. inverse dynamics: actions inferred from a true 17-state sequence, executed in MuJoCo from the same
   start state (each raw row converted to a native action at the current TCP), TCP error at the end
   of the chunk (mm); beside it the same replay of the analytic contract inverse (observed pose deltas);
3. policy head: Lift success rate in MuJoCo with the policy mode as the agent;
4. holding still: from held-out Lift reset states, every arm commanded zero motion with its gripper
   open for 96 steps (what an RL agent does near its goal); the model's TCP error at 16 and 64 steps
   (from t0 ∈ {0, 16, 32}, as in 1.). MuJoCo's arm stays put, so this is the model's drift.

These four (``--sections classic``, the default) keep their seeds 50 000+, which predate the seed splits.
The contact and held-out-action suite (:mod:`cosmos3_gym.validation.suite`) runs on a seed split
(``cosmos3_gym.tasks.splits``), given explicitly:

5. ``expert``: closed-loop expert agreement on every embodiment × task (success in each, agreement,
   TCP / cube error at 16 and 64 steps);
6. ``contact``: contact-anchored open-loop windows (cube, gripper error 1 / 16 steps after a window that
   starts 4 steps before first move, push onset, lift-off, release) and open-loop success agreement,
   both from the same noisy-expert twin episodes of Push and Lift;
7. ``families``: open-loop TCP error at 16 / 64 steps from reset under held-out action families
   (reversals, biased-expert, slow-sine) beside the in-distribution noisy expert, on every task.

    python benchmarks/fidelity.py --model default --episodes 50
    python benchmarks/fidelity.py --model default --sections expert contact families --split report
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from hardware import hardware_label
from tqdm import tqdm

import cosmos3_gym
from cosmos3_gym.envs.learned_core import LearnedSimCore
from cosmos3_gym.model import checkpoint_digest, load_checkpoint
from cosmos3_gym.model.inference import ModeRunner
from cosmos3_gym.model.policy_agent import PolicyHeadAgent
from cosmos3_gym.sim.policies import make_policy
from cosmos3_gym.sim.twin_env import MujocoTwinEnv
from cosmos3_gym.tasks import SPLITS, split_seeds
from cosmos3_gym.tokens.native import NativeActionMap
from cosmos3_gym.tokens.rotation import rot6d_to_matrix, rotation_angle
from cosmos3_gym.validation import suite, suite_report

RESULTS = Path(__file__).resolve().parent / "results"
HORIZONS = (1, 16, 64)
STARTS = (0, 16, 32)
SEED0 = 50_000  # held out: training data uses seeds < 10_000
SECTIONS = ("classic", "expert", "contact", "families")


def twin_episode(env: MujocoTwinEnv, policy_kind: str, seed: int) -> dict[str, np.ndarray]:
    obs, _ = env.reset(seed=seed)
    policy = make_policy(policy_kind, env, seed)
    policy.reset(obs)
    states, actions, physics = [obs["observation"]], [], [env.get_state()]
    for _ in range(env.task.max_episode_steps):
        a = policy(obs)
        obs, _, term, _, _ = env.step(a)
        states.append(obs["observation"])
        actions.append(a)
        physics.append(env.get_state())
        if term:
            break
    return {"states": np.array(states), "actions": np.array(actions), "goal": obs["desired_goal"], "physics": physics}


def hold_episode(env: MujocoTwinEnv, seed: int, steps: int = 96) -> dict[str, np.ndarray]:
    """Zero motion command, grippers open (+1), for ``steps`` steps from the reset state of ``seed``."""
    obs, _ = env.reset(seed=seed)
    action = np.zeros(env.action_space.shape, np.float32)
    action[6::7] = 1.0
    states = [obs["observation"]]
    for _ in range(steps):
        obs, *_ = env.step(action)
        states.append(obs["observation"])
    return {"states": np.array(states), "actions": np.repeat(action[None], steps, 0), "goal": obs["desired_goal"]}


def errors(lay, pred: np.ndarray, true: np.ndarray) -> dict[str, np.ndarray]:
    """Per-sample errors between state batches ``(..., S)``."""
    rot = rotation_angle(
        np.swapaxes(rot6d_to_matrix(lay.arm(pred, "tcp_rot6d", 0)), -1, -2)
        @ rot6d_to_matrix(lay.arm(true, "tcp_rot6d", 0))
    )
    return {
        "tcp_pos_mm": 1e3 * np.linalg.norm(lay.arm(pred, "tcp_pos", 0) - lay.arm(true, "tcp_pos", 0), axis=-1),
        "tcp_rot_deg": np.rad2deg(rot),
        "gripper_mm": 1e3 * np.abs(lay.arm(pred, "gripper_width", 0) - lay.arm(true, "gripper_width", 0))[..., 0],
        "cube_pos_mm": 1e3 * np.linalg.norm(lay.get(pred, "cube_pos") - lay.get(true, "cube_pos"), axis=-1),
    }


def open_loop(
    model, emb_name: str, task: str, episodes: list[dict], flow_steps: int = 1
) -> dict[str, dict[str, float]]:
    """Model replays of the twin's actions from true states; median/p90 error per horizon."""
    windows = [(e, t0) for e in episodes for t0 in STARTS if len(e["actions"]) >= t0 + max(HORIZONS)]
    core = LearnedSimCore(emb_name, task, len(windows), model, flow_steps=flow_steps)
    lay = core.layout
    hist = core.ckpt.model.cfg.history
    for i, (e, t0) in enumerate(windows):
        core.state[i] = e["states"][t0]
        core.history[i] = e["states"][np.clip(np.arange(t0 - hist + 1, t0 + 1), 0, None)]
        core.goal[i] = e["goal"]
    core.restart_chunks(np.arange(len(windows)))
    out: dict[str, dict[str, float]] = {}
    for h in range(1, max(HORIZONS) + 1):
        core.step(np.stack([e["actions"][t0 + h - 1] for e, t0 in windows]))
        core.after_step()
        if h in HORIZONS:
            true = np.stack([e["states"][t0 + h] for e, t0 in windows])
            for name, v in errors(lay, core.state, true).items():
                out[f"{name}@{h}"] = {"median": float(np.median(v)), "p90": float(np.percentile(v, 90)), "n": len(v)}
    return out


def inverse_dynamics(ckpt, env: MujocoTwinEnv, episodes: list[dict], chunk: int) -> dict[str, dict[str, float]]:
    """ID replay: infer actions from true 17-state sequences, execute them in MuJoCo, TCP error at the end;
    for the model's inverse-dynamics mode and for the analytic contract inverse (:meth:`CommandPrior.inverse`)."""
    runner, nmap, lay = ModeRunner(ckpt, env.emb), NativeActionMap(env.emb), env.layout
    errs: dict[str, list[float]] = {"model": [], "contract": []}
    for e in episodes:
        for t0 in STARTS:
            if len(e["actions"]) < t0 + chunk:
                continue
            seq = e["states"][t0 : t0 + chunk + 1]
            inferred = {
                "model": runner.inverse_dynamics(seq[None], e["goal"][None], env.task.name)[0],
                "contract": runner.prior.inverse(seq[:-1], seq[1:]),
            }
            for name, raw in inferred.items():
                env.set_state(e["physics"][t0])
                for r in raw:
                    tcp = env.controller.arm_tcp(env.data)[None]
                    obs, *_ = env.step(nmap.from_raw(tcp, r[None])[0])
                end = lay.arm(obs["observation"], "tcp_pos", 0)
                errs[name].append(1e3 * np.linalg.norm(end - lay.arm(seq[-1], "tcp_pos", 0)))
    return {
        k: {"median": float(np.median(v)), "p90": float(np.percentile(v, 90)), "n": len(v)} for k, v in errs.items()
    }


def policy_success(ckpt, env: MujocoTwinEnv, episodes: int) -> float:
    agent = PolicyHeadAgent(ckpt, env.emb, env.task.name, replan=4)
    wins = 0
    for i in range(episodes):
        obs, _ = env.reset(seed=SEED0 + 5000 + i)
        agent.reset(obs)
        info = {}
        for _ in range(env.task.max_episode_steps):
            obs, _, term, _, info = env.step(agent(obs))
            if term:
                break
        wins += bool(info.get("is_success"))
    return wins / episodes


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="default")
    p.add_argument("--sections", nargs="+", choices=SECTIONS, default=["classic"], help="default: classic")
    p.add_argument("--episodes", type=int, default=50, help="held-out episodes per embodiment and task")
    p.add_argument("--policy-episodes", type=int, default=50)
    p.add_argument("--embodiments", nargs="+", default=cosmos3_gym.list_embodiments())
    p.add_argument("--policy", default="noisy-expert", help="policy that drives the twin episodes")
    p.add_argument("--out", type=Path, default=RESULTS / "fidelity.json")
    p.add_argument("--split", choices=SPLITS, help="seed split of the suite sections (required with them)")
    p.add_argument("--tasks", nargs="+", default=["reach", "push", "lift"], help="tasks of expert and families")
    p.add_argument("--expert-episodes", type=int, default=50, help="per embodiment × task")
    p.add_argument("--contact-episodes", type=int, default=50, help="noisy-expert episodes per Push / Lift row")
    p.add_argument("--family-episodes", type=int, default=20, help="per embodiment × task × family")
    p.add_argument("--suite-out", type=Path, help="default results/fidelity_v2.json (report), _select (select)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: more is slower here)")
    p.add_argument("--workers", type=int, default=1, help="suite rows as Ray tasks on N local CPUs (default 1: serial)")
    p.add_argument("--address", default=None, help="run the suite rows on this Ray cluster (default $RAY_ADDRESS)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    suite_sections = [s for s in args.sections if s != "classic"]
    if suite_sections and args.split is None:
        p.error(f"--sections {' '.join(suite_sections)} needs --split ({' or '.join(SPLITS)})")
    ckpt = load_checkpoint(args.model)
    if "classic" in args.sections:
        classic(args, ckpt)
    if suite_sections:
        run_suite(args, ckpt, suite_sections)


def classic(args: argparse.Namespace, ckpt) -> None:
    """Sections 1–4 (the original benchmark) → ``args.out``."""
    report = {
        "model": args.model,
        "weights_sha256": checkpoint_digest(args.model),
        "checkpoint_meta": ckpt.meta,
        "hardware": hardware_label(),
        "embodiments": {},
        "command": f"python benchmarks/fidelity.py --model {args.model} --episodes {args.episodes} "
        f"--policy-episodes {args.policy_episodes} --policy {args.policy}",
    }
    for name in args.embodiments:
        t0 = time.time()
        row: dict = {}
        for task in ("push", "lift"):
            env = MujocoTwinEnv(name, task)
            eps = [
                twin_episode(env, args.policy, SEED0 + i)
                for i in tqdm(range(args.episodes), desc=f"{name} {task} twin", leave=False)
            ]
            row[f"open_loop_{task}"] = open_loop(ckpt, name, task, eps)
            if task == "lift":
                ids = inverse_dynamics(ckpt, env, eps, ckpt.model.cfg.chunk)
                row["inverse_dynamics_tcp_mm@16"] = ids["model"]
                row["contract_inverse_tcp_mm@16"] = ids["contract"]
                row["policy_lift_success"] = policy_success(ckpt, env, args.policy_episodes)
                hold = open_loop(ckpt, name, task, [hold_episode(env, SEED0 + i) for i in range(args.episodes)])
                row["hold_tcp_mm"] = {f"@{h}": hold[f"tcp_pos_mm@{h}"] for h in HORIZONS[1:]}
        row["policy_reach_success"] = policy_success(ckpt, MujocoTwinEnv(name, "reach"), args.policy_episodes)
        row["wall_s"] = round(time.time() - t0, 1)
        report["embodiments"][name] = row
        print(
            name,
            json.dumps({k: v for k, v in row.items() if not k.startswith("open_loop")}),
            {k: round(v["median"], 1) for k, v in row["open_loop_lift"].items()},
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    _write_markdown(report, args.out.with_suffix(".md"))


def run_suite(args: argparse.Namespace, ckpt, sections: list[str]) -> None:
    """Sections 5–7 on ``args.split`` → ``args.suite_out`` (.json + .md)."""
    out = args.suite_out or RESULTS / ("fidelity_v2.json" if args.split == "report" else "fidelity_v2_select.json")
    report: dict = {
        "model": args.model,
        "weights_sha256": checkpoint_digest(args.model),
        "checkpoint_meta": ckpt.meta,
        "hardware": hardware_label(),
        "split": args.split,
        "command": f"python benchmarks/fidelity.py --model {args.model} --sections {' '.join(sections)} "
        f"--split {args.split} --expert-episodes {args.expert_episodes} --contact-episodes "
        f"{args.contact_episodes} --family-episodes {args.family_episodes} --embodiments {' '.join(args.embodiments)} "
        f"--tasks {' '.join(args.tasks)}",
        "wall_s": {},
    }

    tasks = {
        "expert": args.tasks,
        "contact": [t for t in args.tasks if t in suite.CONTACT_TASKS],
        "families": args.tasks,
    }
    n_episodes = {"expert": args.expert_episodes, "contact": args.contact_episodes, "families": args.family_episodes}
    for section in sections:
        seeds, t_section = tuple(split_seeds(args.split, n_episodes[section])), time.time()
        report.setdefault("seeds", {})[section] = [seeds[0], seeds[-1]]
        jobs = [
            suite.RowJob(section, name, task, args.model, seeds) for name in args.embodiments for task in tasks[section]
        ]
        rows = []
        for row in suite.run_rows(jobs, args.workers, args.address):  # one Ray task per row with --workers
            rows.append(row)
            print(section, row["embodiment"], row["task"], f"{row['wall_s']} s", flush=True)
        report[section] = rows
        report["wall_s"][section] = round(time.time() - t_section, 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    out.with_suffix(".md").write_text(suite_markdown(report))
    print(f"wrote {out} and {out.with_suffix('.md')}")


def suite_markdown(report: dict) -> str:
    """The suite's one-page summary: a table per section, what each measures, the issue-18 target."""
    hw = report["hardware"]
    lines = [
        f"# World-model fidelity under contact and held-out actions — split `{report['split']}`",
        "",
        f"Model `{report['model']}` (weights sha256 `{report['weights_sha256']}`). Command: `{report['command']}`. "
        f"Hardware: {hw['cpu']}, {hw['cores']} cores, {hw['torch_threads']} torch thread(s), torch {hw['torch']}, "
        f"{hw['date']}. Seeds per section: "
        + ", ".join(f"{k} {a}–{b}" for k, (a, b) in report["seeds"].items())
        + ". Wall time (s): "
        + ", ".join(f"{k} {v}" for k, v in report["wall_s"].items())
        + ". Model = the learned simulator (1 flow step, the env default), MuJoCo = its twin; medians in mm.",
        "",
    ]
    if "expert" in report:
        lines += [
            "## Closed-loop expert agreement",
            "",
            "The scripted expert acts on each simulator's own observations from the same seeds (full episodes); "
            "success at the episode end; TCP / cube = distance between the two simulators' states at that step. "
            "Target: model success within 0.1 of MuJoCo's on every row.",
            "",
            *suite_report.expert_table(report["expert"]),
            "",
        ]
    if "contact" in report:
        lines += [
            "## Contact-anchored windows",
            "",
            "Noisy-expert twin episodes; a 16-step open-loop window starts 4 steps before each contact event, from "
            "the twin's state and true history; `overall` pools distinct windows. Cells: median, (p90) at 16 steps. "
            "Target: cube ≤ 10 mm and gripper ≤ 2 mm at 16 steps on every row.",
            "",
            *suite_report.contact_table(report["contact"], per_event=False),
            "",
            "Per event:",
            "",
            *suite_report.contact_table(report["contact"], overall=False),
            "",
            "## Open-loop success agreement",
            "",
            "The same noisy-expert episodes' actions replayed in the model from the same start; success at the "
            "episode end. Target: agreement ≥ 0.9 on every row.",
            "",
            *suite_report.success_table(report["contact"]),
            "",
        ]
    if "families" in report:
        by_emb: dict[str, list[dict]] = {}
        for row in report["families"]:
            by_emb.setdefault(row["embodiment"], []).append(row)
        lines += [
            "## Held-out action families",
            "",
            "Open-loop TCP error (first arm) 16 / 64 steps after reset; the in-distribution noisy expert on the "
            "same seeds for reference. Pooled over the tasks per embodiment (task label as the model sees it). "
            "Targets: ≤ 5 mm @16 in distribution, ≤ 10 mm @16 under the held-out families, ≤ 15 mm @64 in "
            "distribution.",
            "",
            *suite_report.family_table({e: suite.pooled_families(rows) for e, rows in by_emb.items()}),
            "",
            "Per task:",
            "",
            *suite_report.family_table(
                {f"{r['embodiment']} {r['task']}": suite.pooled_families([r]) for r in report["families"]}
            ),
            "",
        ]
    return "\n".join(lines)


def _write_markdown(report: dict, path: Path) -> None:
    keys = [f"{m}@{h}" for h in HORIZONS for m in ("tcp_pos_mm", "tcp_rot_deg", "gripper_mm", "cube_pos_mm")]
    lines = ["| embodiment | task | " + " | ".join(keys) + " |", "|---|---|" + "---|" * len(keys)]
    for name, row in report["embodiments"].items():
        for task in ("push", "lift"):
            ol = row[f"open_loop_{task}"]
            lines.append(f"| {name} | {task} | " + " | ".join(f"{ol[k]['median']:.1f}" for k in keys) + " |")
    lines += [
        "",
        "| embodiment | inverse-dynamics replay TCP error @16 (mm, median) | analytic contract inverse (reference) "
        "| policy-head Lift success | policy-head Reach success | hold-still TCP drift error @16 / @64 (mm) |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in report["embodiments"].items():
        hold = row.get("hold_tcp_mm")
        lines.append(
            f"| {name} | {row['inverse_dynamics_tcp_mm@16']['median']:.1f} "
            f"| {row['contract_inverse_tcp_mm@16']['median']:.1f} | {100 * row['policy_lift_success']:.0f} % "
            f"| {100 * row['policy_reach_success']:.0f} % "
            + (f"| {hold['@16']['median']:.1f} / {hold['@64']['median']:.1f} |" if hold else "| – |")
        )
    hw = report["hardware"]
    head = (
        f"Model `{report['model']}` (weights sha256 {report['weights_sha256'][:12]}…). Command: `{report['command']}`. "
        f"Hardware: {hw['cpu']}, {hw['cores']} cores, torch {hw['torch']}, {hw['date']}. Medians over held-out "
        "windows; model = world model, truth = MuJoCo twin. The contract inverse replays the framewise deltas of "
        "the observed TCP poses; an `id_prior` model's inverse dynamics learns only the residual from it. "
        "Policy-head success: replanning every 4 steps, on the twin, seeds 55000+.\n\n"
    )
    path.write_text(head + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
