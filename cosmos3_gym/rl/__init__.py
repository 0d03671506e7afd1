"""RL in the world model: train stable-baselines3 agents in the learned simulator, evaluate on MuJoCo.

``cosmos3-gym rl --env Cosmos3-Franka-Reach-v0 --algo ppo|sac|sac-her --steps N --out DIR`` trains in
the batched learned env (:class:`~cosmos3_gym.envs.sb3.LearnedSB3VecEnv`), evaluates periodically on
the MuJoCo twin and on the learned env (``DIR/eval.csv``), checkpoints, resumes, and saves
``DIR/final_model.zip``, which runs unchanged on the learned id and on its ``…-MuJoCo-v0`` twin.

Model-exploitation guards — an agent optimises whatever the model predicts, including its errors.
Which to use:

- ``--uncertainty-penalty L``: reward −= L · model_uncertainty (m, disagreement of 2 stochastic
  samples). Use first when success in the model is much higher than on the twin: it steers the policy
  towards states the model is sure about. L ≈ 1–10 puts 1 cm of disagreement on the scale of 1–10 cm
  of goal distance. Costs 3× the model compute per step.
- ``--max-uncertainty U``: end (truncate) an episode where the model disagrees by more than U m. Use
  when a few states blow up (the penalty would dominate the return there); pick U from the
  ``model_uncertainty`` seen on twin-like states, e.g. 2–3× its median.
- ``--ood-sigma K``: truncate when any state channel leaves the training data by more than K
  standard deviations (K ≈ 4–6). Cheap (no extra samples); use whenever the agent can push the
  robot where the dataset never went (fast joint velocities, cube thrown away).
- ``--imagination-horizon H``: model episodes last H steps and restart from fresh twin start
  states (MBPO-style short rollouts, H ≈ 5–20): compounding model error stays bounded by H steps.
  Use for long tasks (Push, Lift) when the model drifts over the full 100 steps. With SAC it is the
  natural fit (bootstraps through the truncation); PPO sees only the first H steps of each task
  unless combined with re-anchoring.
- ``--reanchor-every N``: every N env steps, every model env is moved to a state that a twin
  rollout of the *current* policy reached (random depth in the episode), see
  :mod:`cosmos3_gym.rl.reanchor`. Use with an imagination horizon to branch from on-policy true
  states (the MBPO recipe), or alone to keep the model's state distribution tied to reality. Costs
  twin steps (≈ K · episode/2 per re-anchor): keep N ≥ 10 · K · episode length.

All guards are training-time only: evaluation reports the plain learned env and the twin.
"""

from cosmos3_gym.rl.config import ALGOS, RLConfig, algo_kwargs, resolve_env
from cosmos3_gym.rl.evaluate import EvalResult, Evaluator
from cosmos3_gym.rl.train import train_agent

__all__ = ["ALGOS", "EvalResult", "Evaluator", "RLConfig", "algo_kwargs", "resolve_env", "train_agent"]
