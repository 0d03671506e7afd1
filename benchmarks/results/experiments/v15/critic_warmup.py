"""Select-split screen: Push warm start with the critic trained alone for the first PPO updates after cloning.

The cloned actor meets a random critic, whose first advantages are noise; freezing the actor for ``WARMUP`` PPO
updates (50 steps × 256 envs each) lets the value function catch up first. An experiment, not a library option:
``python critic_warmup.py WARMUP SEED OUT`` runs the Push warm-start recipe of ``select_push_bc1000_*_eval.csv``
(1000 cloned episodes, 500k steps, MuJoCo evaluation on 50 select seeds every 125k steps) through ``cosmos3-gym rl``.
"""

import sys

import cosmos3_gym.rl.warmstart as warmstart
from cosmos3_gym.cli import main

warmup, seed, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
clone = warmstart.behaviour_clone


def clone_then_freeze(agent, *args, **kwargs):
    mse = clone(agent, *args, **kwargs)
    if not warmup:
        return mse
    critic = ("value_net", "mlp_extractor.value_net")
    actor = [p for n, p in agent.policy.named_parameters() if not n.startswith(critic)]
    for p in actor:
        p.requires_grad_(False)
    train, done = agent.train, [0]

    def train_critic_first() -> None:
        train()
        done[0] += 1
        if done[0] == warmup:
            for p in actor:
                p.requires_grad_(True)
            del agent.train  # the class's own update from now on

    agent.train = train_critic_first
    return mse


warmstart.behaviour_clone = clone_then_freeze
main(
    ["rl", "--env", "Cosmos3-Franka-Push-v0", "--num-envs", "256", "--steps", "500000", "--bc-episodes", "1000",
     "--eval-every", "125000", "--eval-episodes", "50", "--eval-seed", "200000", "--seed", seed, "--out", out,
     "--no-progress"]
)  # fmt: skip
