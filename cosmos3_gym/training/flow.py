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

import torch

from cosmos3_gym.model.config import MODES
from cosmos3_gym.model.world_model import WorldModel

FD, ID, POLICY = (MODES.index(m) for m in ("forward_dynamics", "inverse_dynamics", "policy"))
P_DETERMINISTIC, P_SHARED = 0.4, 0.3


def _draw_tau(b: int, g: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Flow times ``(B, G)`` and a ``(B, 1, 1)`` noise scale (0 on the deterministic path)."""
    u = torch.rand(b, generator=gen)
    shared = torch.rand(b, 1, generator=gen).expand(b, g)
    per_row = torch.rand(b, g, generator=gen)
    deterministic = (u < P_DETERMINISTIC).unsqueeze(1)
    tau = torch.where(
        deterministic, torch.zeros(b, g), torch.where((u < P_DETERMINISTIC + P_SHARED).unsqueeze(1), shared, per_row)
    )
    return tau, (~deterministic).float().unsqueeze(-1)


def flow_loss(
    model: WorldModel,
    batch: dict[str, torch.Tensor],
    gen: torch.Generator,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Loss for one batch from :class:`~cosmos3_gym.training.windows.WindowSampler`; returns (loss, parts)."""
    dev = next(model.parameters()).device
    b = {k: v.to(dev) for k, v in batch.items()}
    n, g = b["valid"].shape
    r = torch.rand(n, generator=gen)
    mode = torch.where(r < 0.5, FD, torch.where(r < 0.75, ID, POLICY))
    mode = torch.where((mode == POLICY) & ~b["expert"].cpu(), FD, mode)
    mode = torch.where(b["policy"].cpu(), POLICY, mode).to(dev)
    gen_act = (mode != FD).float().view(n, 1)
    gen_state = (mode != ID).float().view(n, 1)

    states, actions = b["states"], b["actions"]
    if model.cfg.residual_prior:
        fd = (mode == FD).view(n, 1, 1)
        states = torch.where(fd, (states - b["prior"]) / b["residual_scale"].unsqueeze(1), states)
    if model.cfg.id_prior:
        inv = (mode == ID).view(n, 1, 1)
        actions = torch.where(inv, (actions - b["act_prior"]) / b["act_residual_scale"].unsqueeze(1), actions)
    goal = b["goal_rel"] if model.cfg.goal_relative else b["goal"]
    tau, noise_on = _draw_tau(n, g, gen)
    tau, noise_on = tau.to(dev), noise_on.to(dev)
    eps_a = torch.randn(actions.shape, generator=gen).to(dev) * noise_on * b["act_mask"].unsqueeze(1)
    eps_s = torch.randn(states.shape, generator=gen).to(dev) * noise_on * b["state_mask"].unsqueeze(1)
    tau_a = torch.where(gen_act.bool(), tau, torch.ones_like(tau))
    tau_s = torch.where(gen_state.bool(), tau, torch.ones_like(tau))
    x_a = (1 - tau_a).unsqueeze(-1) * eps_a + tau_a.unsqueeze(-1) * actions
    x_s = (1 - tau_s).unsqueeze(-1) * eps_s + tau_s.unsqueeze(-1) * states
    v_a, v_s = model(
        b["history"], b["domain"], b["task"], goal, x_a, tau_a, x_s, tau_s, mode, b["act_mask"], b["state_mask"]
    )
    row_w = b["valid"]
    w_a = (row_w * gen_act).unsqueeze(-1) * b["act_mask"].unsqueeze(1)
    w_s = (row_w * gen_state).unsqueeze(-1) * b["state_mask"].unsqueeze(1)
    err_a = ((v_a - (actions - eps_a)) ** 2 * w_a).sum() / w_a.sum().clamp(min=1.0)
    err_s = ((v_s - (states - eps_s)) ** 2 * w_s).sum() / w_s.sum().clamp(min=1.0)
    loss = err_s + err_a
    return loss, {"loss": loss.item(), "loss_state": err_s.item(), "loss_action": err_a.item()}
