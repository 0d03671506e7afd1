"""A Cosmos3-shaped world model: reasoner tower + flow-matching generator tower (Mixture-of-Transformers).

Sequence layout (one sample, batch-first everywhere):

- reasoner (context, causal): ``[domain token, task+goal token, s_{t-H+1} … s_t]``;
- generator (causal over rows): row i = one transition ``(a_{t+i}, s_{t+i+1})``; each part enters as
  a flow-matching sample ``x_τ = (1 − τ)·ε + τ·x₁`` with its own flow time τ (τ = 1 means clean).

The three Cosmos3 modes are patterns of clean and noisy parts: forward dynamics (actions clean, states
generated), inverse dynamics (states clean, actions generated), policy (both generated, conditioned
on history + task). Action parts are 64-channel model-space tokens (Cosmos3 trajectory tokens) through
domain-aware projections with the channel mask applied; state parts are normalized state deltas
``(s_{t+i+1} − s_t) / delta_std`` padded to ``state_dim``. The network predicts velocities ``x₁ − ε``.
"""

from __future__ import annotations

import copy
import dataclasses

import torch
from torch import nn

from cosmos3_gym.model.config import MODES, WorldModelConfig
from cosmos3_gym.model.layers import DomainAwareLinear, MoTBlock, TimeEmbedding, generator_mask

KV = list[tuple[torch.Tensor, torch.Tensor]]


class PolicyExpert(nn.Module):
    """The policy mode's own transformer layers (both towers) and action read-out, Mixture-of-Transformers
    style: the policy shares the input embeddings and the state read-out with the dynamics but none of the
    weights in between, so it can be trained on its own data without moving the dynamics by a bit. Its task
    token also reads the cube relative to the gripper (``rel_in``, zero-initialized: a fresh expert computes
    what the shared weights do)."""

    def __init__(self, cfg: WorldModelConfig) -> None:
        super().__init__()
        d = cfg.d_model
        self.blocks = nn.ModuleList(MoTBlock(d, cfg.n_heads, cfg.ffn_mult) for _ in range(cfg.n_layers))
        self.ln_out = nn.LayerNorm(d)
        self.act_out = DomainAwareLinear(d, cfg.action_dim, cfg.num_domains)
        self.rel_in = nn.Linear(3, d)
        nn.init.zeros_(self.rel_in.weight)
        nn.init.zeros_(self.rel_in.bias)


class WorldModel(nn.Module):
    """Reasoner + generator towers; see the module docstring for the token layout."""

    def __init__(self, cfg: WorldModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d, nd = cfg.d_model, cfg.num_domains
        self.domain_emb = nn.Embedding(nd, d)
        self.task_emb = nn.Embedding(cfg.num_tasks, d)
        self.goal_in = nn.Linear(3, d)
        self.ctx_state_in = DomainAwareLinear(cfg.state_dim, d, nd)
        self.ctx_pos = nn.Parameter(torch.zeros(cfg.history + 2, d))
        self.act_in = DomainAwareLinear(cfg.action_dim, d, nd)
        self.state_in = DomainAwareLinear(cfg.state_dim, d, nd)
        self.t_act, self.t_state = TimeEmbedding(d), TimeEmbedding(d)
        self.row_pos = nn.Parameter(torch.zeros(cfg.chunk, d))
        self.mode_emb = nn.Embedding(len(MODES), d)
        self.blocks = nn.ModuleList(MoTBlock(d, cfg.n_heads, cfg.ffn_mult) for _ in range(cfg.n_layers))
        self.ln_out = nn.LayerNorm(d)
        self.act_out = DomainAwareLinear(d, cfg.action_dim, nd)
        self.state_out = DomainAwareLinear(d, cfg.state_dim, nd)
        nn.init.normal_(self.ctx_pos, std=0.02)
        nn.init.normal_(self.row_pos, std=0.02)
        self.policy_expert = PolicyExpert(cfg) if cfg.policy_expert else None

    def add_policy_expert(self) -> None:
        """Give the policy mode weights of its own, initialized as copies of the shared ones (so the policy
        starts where the shared weights left it); the config gains ``policy_expert=True``."""
        if self.policy_expert is not None:
            raise ValueError("this model already has a policy expert")
        expert = PolicyExpert(self.cfg).to(self.ctx_pos.device)
        expert.blocks = copy.deepcopy(self.blocks)
        expert.ln_out, expert.act_out = copy.deepcopy(self.ln_out), copy.deepcopy(self.act_out)
        self.policy_expert = expert
        self.cfg = dataclasses.replace(self.cfg, policy_expert=True)

    def _routes_expert(self, policy: torch.Tensor | bool | None) -> bool:
        """Whether a batch with these policy-mode flags runs through the policy expert: all of it or none."""
        if self.policy_expert is None or policy is None or policy is False:
            return False
        if policy is True:
            return True
        if bool(policy.all()):
            return True
        if bool(policy.any()):
            raise ValueError("a model with a policy expert runs policy-mode and dynamics samples in separate batches")
        return False

    def __repr__(self) -> str:
        n = sum(p.numel() for p in self.parameters())
        c = self.cfg
        return f"WorldModel(d={c.d_model}, layers={c.n_layers}, heads={c.n_heads}, params={n / 1e6:.2f}M)"

    # -- towers ------------------------------------------------------------------------------------
    def context(
        self,
        history: torch.Tensor,
        domain: torch.Tensor,
        task: torch.Tensor,
        goal: torch.Tensor,
        policy: torch.Tensor | None = None,
        rel: torch.Tensor | None = None,
    ) -> KV:
        """Run the reasoner once and return its per-layer keys/values (the cache the generator reads).

        Args:
            history: ``(B, H, state_dim)`` normalized states, zero-padded.
            domain: ``(B,)`` long Cosmos3 domain ids. task: ``(B,)`` long.
            goal: ``(B, 3)`` the goal input (:func:`~cosmos3_gym.model.goal.goal_input`).
            policy: ``(B,)`` bool, rows run in policy mode (None: none). A ``goal_relative`` model reads
                the goal in policy mode only, a ``task_blind`` one the task too: dynamics depend on
                neither, and either in the dynamics' context becomes a shortcut (predicted motion drifts
                toward the goal, or toward the task's usual motion).
            rel: ``(B, 3)`` the cube relative to the gripper (:func:`~cosmos3_gym.model.goal.relation_input`),
                read by the policy expert only (None: zeros).
        """
        keep = torch.zeros_like(goal[:, :1]) if policy is None else policy.to(goal.dtype).unsqueeze(1)
        if self.cfg.goal_relative:
            goal = goal * keep
        task_vec = self.task_emb(task) * keep if self.cfg.task_blind else self.task_emb(task)
        expert = self._routes_expert(policy)
        if expert and rel is not None:
            task_vec = task_vec + self.policy_expert.rel_in(rel)
        tokens = (
            torch.cat(
                [
                    self.domain_emb(domain).unsqueeze(1),
                    (task_vec + self.goal_in(goal)).unsqueeze(1),
                    self.ctx_state_in(history, domain),
                ],
                dim=1,
            )
            + self.ctx_pos
        )
        kv: KV = []
        blocks = self.policy_expert.blocks if expert else self.blocks
        for blk in blocks:
            tokens, k, v = blk.reasoner(tokens)
            kv.append((k, v))
        return kv

    def embed_rows(
        self,
        act: torch.Tensor,
        tau_a: torch.Tensor,
        state: torch.Tensor,
        tau_s: torch.Tensor,
        domain: torch.Tensor,
        mode: torch.Tensor,
        row0: int = 0,
    ) -> torch.Tensor:
        """Generator input tokens ``(B, G, d)`` for rows ``row0 … row0+G-1``.

        act ``(B, G, action_dim)``, state ``(B, G, state_dim)``, tau_a / tau_s ``(B, G)``, mode ``(B,)``.
        """
        g = act.shape[1]
        return (
            self.act_in(act, domain)
            + self.t_act(tau_a)
            + self.state_in(state, domain)
            + self.t_state(tau_s)
            + self.row_pos[row0 : row0 + g]
            + self.mode_emb(mode).unsqueeze(1)
        )

    def generate(
        self,
        rows: torch.Tensor,
        ctx: KV,
        domain: torch.Tensor,
        past: KV | None = None,
        act_mask: torch.Tensor | None = None,
        state_mask: torch.Tensor | None = None,
        policy: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor, KV]:
        """Generator pass over ``rows (B, G, d)`` after ``past`` cached rows (``policy``: rows of the policy
        mode, through the policy expert where the model has one).

        Returns velocities ``(B, G, action_dim)``, ``(B, G, state_dim)`` (padded channels zeroed by the
        masks ``(B, action_dim)`` / ``(B, state_dim)``) and this pass's per-layer keys/values.
        """
        expert = self.policy_expert if self._routes_expert(policy) else None
        blocks = self.blocks if expert is None else expert.blocks
        ln_out = self.ln_out if expert is None else expert.ln_out
        act_out = self.act_out if expert is None else expert.act_out
        g = rows.shape[1]
        past_len = 0 if past is None else past[0][0].shape[2]
        mask = generator_mask(g, ctx[0][0].shape[2], past_len, rows.device)
        new: KV = []
        h = rows
        for i, blk in enumerate(blocks):
            k_ctx, v_ctx = ctx[i]
            if past is not None:
                k_ctx, v_ctx = torch.cat([k_ctx, past[i][0]], dim=2), torch.cat([v_ctx, past[i][1]], dim=2)
            h, k, v = blk.generator(h, k_ctx, v_ctx, mask)
            new.append((k, v))
        h = ln_out(h)
        v_act, v_state = act_out(h, domain), self.state_out(h, domain)
        if act_mask is not None:
            v_act = v_act * act_mask.unsqueeze(1)
        if state_mask is not None:
            v_state = v_state * state_mask.unsqueeze(1)
        return v_act, v_state, new

    def generate_step(
        self, rows: torch.Tensor, cache: KV, pos: torch.Tensor, domain: torch.Tensor | int, state_mask: torch.Tensor
    ) -> torch.Tensor:
        """One stepping row per sample, ``rows (B, 1, d)``, at cache slot ``pos (B,)`` of per-layer
        key/value buffers ``(B, H, N, dh)``; attends to slots ``<= pos``. Returns state velocities
        ``(B, 1, state_dim)``."""
        n = cache[0][0].shape[2]
        batch = torch.arange(rows.shape[0], device=rows.device)
        key_mask = None
        if bool(pos.min() == pos.max()):  # the usual vector env: every sample at the same slot
            pos = int(pos[0])
        else:
            key_mask = (torch.arange(n, device=rows.device) <= pos.unsqueeze(1)).view(-1, 1, 1, n)
        h = rows
        for blk, (kbuf, vbuf) in zip(self.blocks, cache, strict=True):
            h = blk.generator_step(h, kbuf, vbuf, batch, pos, key_mask)
        return self.state_out(self.ln_out(h), domain) * state_mask.unsqueeze(1)

    def forward(
        self,
        history: torch.Tensor,
        domain: torch.Tensor,
        task: torch.Tensor,
        goal: torch.Tensor,
        act: torch.Tensor,
        tau_a: torch.Tensor,
        state: torch.Tensor,
        tau_s: torch.Tensor,
        mode: torch.Tensor,
        act_mask: torch.Tensor,
        state_mask: torch.Tensor,
        rel: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Training pass over a whole chunk: velocities for the action and state parts of every row."""
        policy = mode == MODES.index("policy")
        ctx = self.context(history, domain, task, goal, policy, rel)
        rows = self.embed_rows(act * act_mask.unsqueeze(1), tau_a, state * state_mask.unsqueeze(1), tau_s, domain, mode)
        v_act, v_state, _ = self.generate(rows, ctx, domain, None, act_mask, state_mask, self._routes_expert(policy))
        return v_act, v_state

    # -- sampling ------------------------------------------------------------------------------------
    @torch.inference_mode()
    def sample(
        self,
        mode: str,
        history: torch.Tensor,
        domain: torch.Tensor,
        task: torch.Tensor,
        goal: torch.Tensor,
        act_mask: torch.Tensor,
        state_mask: torch.Tensor,
        actions: torch.Tensor | None = None,
        states: torch.Tensor | None = None,
        steps: int = 1,
        generator: torch.Generator | None = None,
        prior: torch.Tensor | None = None,
        residual_scale: torch.Tensor | None = None,
        act_prior: torch.Tensor | None = None,
        act_scale: torch.Tensor | None = None,
        rel: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Generate a whole chunk in one of the Cosmos3 modes (Euler integration of the flow, ``steps``).

        forward_dynamics needs ``actions (B, G, action_dim)`` and, for a ``residual_prior`` model, each
        row's normalized commanded-pose ``prior (B, G, state_dim)`` from the true previous states
        (teacher forcing) and ``residual_scale (B, state_dim)``: the generator predicts the residual
        in those units, returned as ``prior + residual · residual_scale``;
        inverse_dynamics needs ``states (B, G, state_dim)`` (normalized deltas of s_{t+1..t+G}) and, for
        an ``id_prior`` model, the contract inverse ``act_prior (B, G, action_dim)`` in tokens and
        ``act_scale (B, action_dim)``: returned as ``act_prior + residual · act_scale``;
        policy needs neither (a policy expert reads ``rel (B, 3)``, the cube relative to the gripper). Deterministic
        when ``generator`` is None (ε = 0);
        otherwise ε ~ N(0, I) from ``generator``. Returns ``(actions, states)`` with the given parts
        passed through unchanged.
        """
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; allowed: {', '.join(MODES)}")
        b, g = history.shape[0], self.cfg.chunk
        dev = history.device
        gen_act, gen_state = mode != "forward_dynamics", mode != "inverse_dynamics"
        if not gen_act and actions is None:
            raise ValueError("forward_dynamics needs actions (B, chunk, action_dim)")
        if not gen_state and states is None:
            raise ValueError("inverse_dynamics needs states (B, chunk, state_dim)")
        if mode == "forward_dynamics" and self.cfg.residual_prior and (prior is None or residual_scale is None):
            raise ValueError(
                "a residual_prior model needs each row's prior (B, G, state_dim) in FD mode; "
                "without the true previous states, generate row by row (ForwardStepper / ModeRunner)"
            )

        if mode == "inverse_dynamics" and self.cfg.id_prior and (act_prior is None or act_scale is None):
            raise ValueError(
                "an id_prior model needs the contract inverse act_prior (B, G, action_dim) and act_scale "
                "(B, action_dim) in ID mode (ModeRunner.inverse_dynamics computes them)"
            )

        def noise(dim: int) -> torch.Tensor:
            if generator is None:
                return torch.zeros(b, g, dim, device=dev)
            return torch.randn(b, g, dim, device=dev, generator=generator)

        a = noise(self.cfg.action_dim) if gen_act else actions
        s = noise(self.cfg.state_dim) if gen_state else states
        ctx = self.context(history, domain, task, goal, torch.full((b,), mode == "policy", device=dev), rel)
        mode_t = torch.full((b,), MODES.index(mode), dtype=torch.long, device=dev)
        ones = torch.ones(b, g, device=dev)
        for k in range(steps):
            tau = torch.full((b, g), k / steps, device=dev)
            rows = self.embed_rows(
                a * act_mask.unsqueeze(1),
                tau if gen_act else ones,
                s * state_mask.unsqueeze(1),
                tau if gen_state else ones,
                domain,
                mode_t,
            )
            v_a, v_s, _ = self.generate(rows, ctx, domain, None, act_mask, state_mask, mode == "policy")
            if gen_act:
                a = a + v_a / steps
            if gen_state:
                s = s + v_s / steps
        if mode == "forward_dynamics" and self.cfg.residual_prior:
            s = prior + s * residual_scale.unsqueeze(1)
        if mode == "inverse_dynamics" and self.cfg.id_prior:
            a = act_prior + a * act_scale.unsqueeze(1)
        return a * act_mask.unsqueeze(1), s * state_mask.unsqueeze(1)
