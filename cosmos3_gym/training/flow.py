"""Rectified-flow training loss over the three Cosmos3 modes.

Per sample a mode is drawn (forward dynamics 50 %, inverse dynamics 25 %, policy 25 % — policy only on
expert windows, whose actions are worth imitating); windows the sampler flagged ``policy`` (expert
windows drawn evenly over embodiment × task) always train the policy mode. The generated parts get
flow times τ from one of three patterns: the deterministic stepping path (τ = 0 and ε = 0 on every
row: plain regression, which is what the environment runs), one shared τ for the chunk (chunk
sampling), or an independent τ per row (diffusion-forcing style, so rows learn from partly denoised
history). Clean parts get τ = 1. The loss is the masked MSE between predicted and true velocities
``x₁ − ε``. For a ``residual_prior`` model the forward-dynamics state target x₁ is the residual from
the commanded-pose prior (the batch's ``prior``) in units of its RMS (``residual_scale``); for an
``id_prior`` model the inverse-dynamics action target is the residual from the contract inverse
(``act_prior``) in units of its RMS (``act_residual_scale``); policy keeps plain actions and state
deltas. A ``goal_relative`` model reads the batch's ``goal_rel`` instead of the raw ``goal`` (in policy
mode only).
"""

from __future__ import annotations

import numpy as np
import torch

from cosmos3_gym.model.config import MODES
from cosmos3_gym.model.world_model import WorldModel
from cosmos3_gym.training.distributed import Shard

FD, ID, POLICY = (MODES.index(m) for m in ("forward_dynamics", "inverse_dynamics", "policy"))
P_DETERMINISTIC, P_SHARED = 0.4, 0.3


def _draw_tau(
    b: int, g: int, gen: torch.Generator, p_det: float = P_DETERMINISTIC
) -> tuple[torch.Tensor, torch.Tensor]:
    """Flow times ``(B, G)`` and a ``(B, 1, 1)`` noise scale (0 on the deterministic path, drawn with
    probability ``p_det``; the rest splits between shared and per-row τ as 3 : 3)."""
    u = torch.rand(b, generator=gen)
    shared = torch.rand(b, 1, generator=gen).expand(b, g)
    per_row = torch.rand(b, g, generator=gen)
    deterministic = (u < p_det).unsqueeze(1)
    p_shared = (1 - p_det) * P_SHARED / (1 - P_DETERMINISTIC)
    tau = torch.where(
        deterministic, torch.zeros(b, g), torch.where((u < p_det + p_shared).unsqueeze(1), shared, per_row)
    )
    return tau, (~deterministic).float().unsqueeze(-1)


def flow_loss(
    model: WorldModel | torch.nn.Module,
    batch: dict[str, torch.Tensor],
    gen: torch.Generator,
    shard: Shard | None = None,
    rows: np.ndarray | None = None,
    p_deterministic: float = P_DETERMINISTIC,
    state_weight: float = 1.0,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Loss for one batch from :class:`~cosmos3_gym.training.windows.WindowSampler`; returns (loss, parts).

    ``p_deterministic``: the share of samples on the deterministic path; ``state_weight``: the weight of the
    state part in the loss (``parts`` report both parts unweighted).

    Data-parallel (``shard``, a DDP-wrapped ``model``): ``batch`` holds the rows ``rows`` of the global
    batch; the random draws are the global batch's, and the returned loss is scaled so that DDP's mean
    of the ranks' gradients is the gradient of the global loss, which ``parts`` report."""
    shard = shard or Shard()
    cfg = getattr(model, "module", model).cfg  # a DistributedDataParallel wrapper keeps the model as .module
    dev = next(model.parameters()).device
    b = {k: v.to(dev) for k, v in batch.items()}
    n, g = b["valid"].shape
    pick = slice(None) if rows is None else torch.from_numpy(rows)
    total = n if rows is None else n * shard.world  # rows of the global batch: draws are made for all of them
    r = torch.rand(total, generator=gen)[pick]
    mode = torch.where(r < 0.5, FD, torch.where(r < 0.75, ID, POLICY))
    mode = torch.where((mode == POLICY) & ~b["expert"].cpu(), FD, mode)
    mode = torch.where(b["policy"].cpu(), POLICY, mode).to(dev)
    gen_act = (mode != FD).float().view(n, 1)
    gen_state = (mode != ID).float().view(n, 1)

    states, actions = b["states"], b["actions"]
    if cfg.residual_prior:
        fd = (mode == FD).view(n, 1, 1)
        states = torch.where(fd, (states - b["prior"]) / b["residual_scale"].unsqueeze(1), states)
    if cfg.id_prior:
        inv = (mode == ID).view(n, 1, 1)
        actions = torch.where(inv, (actions - b["act_prior"]) / b["act_residual_scale"].unsqueeze(1), actions)
    goal = b["goal_rel"] if cfg.goal_relative else b["goal"]
    tau, noise_on = _draw_tau(total, g, gen, p_deterministic)
    tau, noise_on = tau[pick].to(dev), noise_on[pick].to(dev)
    eps_a = torch.randn((total, *actions.shape[1:]), generator=gen)[pick].to(dev)
    eps_s = torch.randn((total, *states.shape[1:]), generator=gen)[pick].to(dev)
    eps_a = eps_a * noise_on * b["act_mask"].unsqueeze(1)
    eps_s = eps_s * noise_on * b["state_mask"].unsqueeze(1)
    tau_a = torch.where(gen_act.bool(), tau, torch.ones_like(tau))
    tau_s = torch.where(gen_state.bool(), tau, torch.ones_like(tau))
    x_a = (1 - tau_a).unsqueeze(-1) * eps_a + tau_a.unsqueeze(-1) * actions
    x_s = (1 - tau_s).unsqueeze(-1) * eps_s + tau_s.unsqueeze(-1) * states
    v_a, v_s = model(
        b["history"],
        b["domain"],
        b["task"],
        goal,
        x_a,
        tau_a,
        x_s,
        tau_s,
        mode,
        b["act_mask"],
        b["state_mask"],
        b["rel"],
    )
    row_w = b["valid"]
    w_a = (row_w * gen_act).unsqueeze(-1) * b["act_mask"].unsqueeze(1)
    w_s = (row_w * gen_state).unsqueeze(-1) * b["state_mask"].unsqueeze(1)
    # Each shard's share of the global masked means: its squared-error sum over the global weight count.
    err_a = ((v_a - (actions - eps_a)) ** 2 * w_a).sum() / shard.all_sum(w_a.sum()).clamp(min=1.0)
    err_s = ((v_s - (states - eps_s)) ** 2 * w_s).sum() / shard.all_sum(w_s.sum()).clamp(min=1.0)
    loss = (state_weight * err_s + err_a) * shard.world  # DDP averages the ranks' gradients; this makes it their sum
    parts = shard.all_sum(torch.stack([err_s.detach(), err_a.detach()])).tolist()
    return loss, {"loss": parts[0] + parts[1], "loss_state": parts[0], "loss_action": parts[1]}
