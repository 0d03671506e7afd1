"""``cosmos3-gym validate``: arguments and entry point (wired into :mod:`cosmos3_gym.cli`)."""

from __future__ import annotations

import argparse
import json
import sys
import warnings

from cosmos3_gym.envs.registry import add_embodiment_option
from cosmos3_gym.sim.policies import spec_forms
from cosmos3_gym.tasks import SPLITS
from cosmos3_gym.validation.api import DEFAULT_SEED
from cosmos3_gym.validation.metrics import HorizonWarning
from cosmos3_gym.validation.policies import RANKING_POLICIES
from cosmos3_gym.validation.scenarios import SCENARIOS


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--env", required=True, help="learned id, e.g. Cosmos3-Franka-Lift-v0")
    add_embodiment_option(p)
    p.add_argument("--model", default="default", metavar="CKPT", help="checkpoint folder (default: the shipped model)")
    p.add_argument(
        "--policy",
        default="random-smooth",
        metavar="POLICY",
        help=f"one of: {spec_forms('validate')} (default random-smooth; policy-head: the --model's)",
    )
    p.add_argument("--episodes", type=int, default=50, help="paired episodes (default 50)")
    p.add_argument(
        "--horizon", type=int, default=None, help="steps per episode (default: min(64, the id's max_episode_steps))"
    )
    p.add_argument("--out", default="validation_out", metavar="DIR", help="report folder (default validation_out)")
    p.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        help=f"first episode seed (default {DEFAULT_SEED}: held out, training data uses seeds < 10000)",
    )
    p.add_argument("--device", default="cpu", help="torch device of the model: cpu, cuda, cuda:0, ...")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    p.add_argument(
        "--ranking-policies",
        nargs="*",
        default=list(RANKING_POLICIES),
        metavar="POLICY",
        help="policies of differing quality for the ranking check, as --policy (none: skip)",
    )
    p.add_argument(
        "--ranking-episodes", type=int, default=None, help="episodes per ranking policy (default --episodes)"
    )
    p.add_argument(
        "--scenarios",
        nargs="*",
        default=list(SCENARIOS),
        metavar="NAME",
        help=f"held-out scenarios (none: skip); allowed: {', '.join(SCENARIOS)}",
    )
    p.add_argument("--scenario-episodes", type=int, default=None, help="episodes per scenario (default --episodes)")
    p.add_argument(
        "--uncertainty-samples",
        type=int,
        default=2,
        help="stochastic samples per step for the uncertainty estimate (0 = no calibration check)",
    )
    p.add_argument(
        "--split",
        choices=SPLITS,
        default="select",
        help="seed split of the contact and held-out-action sections (default select: for choices; "
        "report: for results no choice saw)",
    )
    p.add_argument(
        "--contact-episodes",
        type=int,
        default=10,
        help="episodes of the closed-loop expert agreement, contact windows and open-loop success "
        "agreement (default 10; 0 = skip; the benchmark uses 50)",
    )
    p.add_argument(
        "--family-episodes",
        type=int,
        default=5,
        help="episodes per held-out action family (default 5; 0 = skip)",
    )
    p.add_argument(
        "--workers", type=int, default=1, help="run the contact / action-family suite as Ray tasks on N local CPUs"
    )
    p.add_argument("--address", default=None, help="run the suite on this Ray cluster (default $RAY_ADDRESS)")
    p.add_argument("--video-episodes", type=int, default=2, help="episodes in the side-by-side MP4 (0 = no video)")
    p.add_argument("--no-id", action="store_true", help="skip the inverse-dynamics check")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def summary(r: dict) -> str:
    """A few lines for the terminal; the full report is in report.md / report.json."""
    ol, cl = r["open_loop"], r["closed_loop"]
    h = "16" if "16" in ol["errors"]["tcp_pos_mm"] else "end"
    lines = [
        f"{r['env_id']}: model {r['model']} vs MuJoCo, policy {r['policy']}, {r['episodes']} episodes x "
        f"{r['horizon']} steps ({r['wall_s']:.0f} s)",
        f"  open loop @{h}: TCP {ol['errors']['tcp_pos_mm'][h]['median']:.1f} mm, cube "
        f"{ol['errors']['cube_pos_mm'][h]['median']:.1f} mm, TCP rot "
        f"{ol['errors']['tcp_rot_deg'][h]['median']:.1f} deg (medians)",
        f"  closed loop: success MuJoCo {cl['outcome']['success_mujoco']:.2f} / model "
        f"{cl['outcome']['success_model']:.2f}, agreement {cl['outcome']['success_agreement']:.2f}, return gap "
        f"{cl['outcome']['return_gap']:+.2f}",
    ]
    rk = r["ranking"]
    if "success" in rk:
        lines.append(f"  ranking: Spearman success {rk['success']['spearman']}, return {rk['return']['spearman']}")
    if "expert_agreement" in r.get("suite", {}):
        ea = r["suite"]["expert_agreement"]
        lines.append(
            f"  expert closed loop ({r['suite']['split']} seeds): success MuJoCo {ea['success_mujoco']:.2f} / model "
            f"{ea['success_model']:.2f}, agreement {ea['success_agreement']:.2f}"
        )
    if "contact" in r.get("suite", {}):
        c = r["suite"]["contact"]
        cube = c["contact_windows"]["overall"].get("cube_pos_mm", {}).get("16", {}).get("median")
        lines.append(
            f"  contact windows: {c['contact_windows']['windows']} windows, cube @16 "
            f"{'–' if cube is None else f'{cube:.1f} mm'}; open-loop success agreement "
            f"{c['open_loop_success']['success_agreement']:.2f}"
        )
    lines += [f"  warning: {w}" for w in r.get("warnings", [])]
    if "files" in r:
        lines.append(f"  wrote {r.get('out', '')}/report.md")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    import torch

    from cosmos3_gym.data.fanout import FanoutError
    from cosmos3_gym.validation.api import ValidationArgumentError, validate

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        with warnings.catch_warnings():  # the summary (or the JSON) lists the horizon warnings
            warnings.simplefilter("ignore", HorizonWarning)
            report = validate(
                args.env,
                args.model,
                args.policy,
                args.episodes,
                args.horizon,
                args.out,
                seed=args.seed,
                device=args.device,
                ranking_policies=args.ranking_policies,
                ranking_episodes=args.ranking_episodes,
                scenarios=args.scenarios,
                scenario_episodes=args.scenario_episodes,
                inverse_dynamics=not args.no_id,
                uncertainty_samples=args.uncertainty_samples,
                video_episodes=args.video_episodes,
                plots=not args.no_plots,
                progress=not (args.no_progress or args.json),
                split=args.split,
                contact_episodes=args.contact_episodes,
                family_episodes=args.family_episodes,
                workers=args.workers,
                address=args.address,
            )
    except (ValidationArgumentError, ValueError, FanoutError) as e:
        print(f"cosmos3-gym validate: error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=1) if args.json else summary({**report, "out": args.out}))
    return 0
