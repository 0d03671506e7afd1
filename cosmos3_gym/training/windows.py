"""Episodes → normalization stats → random training windows, all in contiguous arrays (fast on CPU).

A window starting at state index t of an episode holds: the state history ``s_{t-H+1..t}`` (clamped
at the episode start), the Cosmos3 action tokens ``a_t..a_{t+G-1}`` (model space, padded to 64),
future states ``s_{t+1..t+G}``, the commanded-pose prior of each of them from the recorded state
before it (:class:`~cosmos3_gym.model.prior.CommandPrior`), and a validity mask for rows past the
episode end.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from cosmos3_gym.embodiment.spec import MAX_ACTION_DIM
from cosmos3_gym.model.checkpoint import StateStats
from cosmos3_gym.model.config import STATE_DIM, TASK_NAMES
from cosmos3_gym.model.goal import goal_input, relation_input
from cosmos3_gym.model.prior import CommandPrior
from cosmos3_gym.tokens import load_embodiment
from cosmos3_gym.training.episodes import Episode

#: Floor of the per-channel delta scale: 5 mm, 5 mrad, 0.005 rot6d units (a channel that barely moves
#: in the data must not turn tiny prediction errors into huge normalized ones).
DELTA_STD_FLOOR = 5e-3
#: Same for the one-step residual from the commanded-pose prior: 0.5 mm, 0.5 mrad.
RESIDUAL_STD_FLOOR = 5e-4
#: Same for the action residual from the contract inverse, in token units (1 % of the q01-q99 half-range).
ACTION_RESIDUAL_STD_FLOOR = 1e-2


def compute_stats(episodes: Sequence[Episode], chunk: int = 16, object_prior: bool = False) -> dict[str, StateStats]:
    """Per-embodiment state mean/std, the RMS of ``s_{t+k} − s_t`` over ``k = 1..chunk``, the RMS
    of the one-step residual ``s_{t+1} − prior(s_t, a_t)`` from the commanded-pose prior, and the RMS of
    the recorded action minus the contract inverse ``a_t − inverse(s_t, s_{t+1})`` in token units."""
    stats = {}
    for name in sorted({e.embodiment for e in episodes}):
        eps = [e for e in episodes if e.embodiment == name]
        allstates = np.concatenate([e.states for e in eps])
        deltas = np.concatenate(
            [e.states[k:] - e.states[:-k] for e in eps for k in range(1, chunk + 1) if len(e.states) > k]
        )
        emb = load_embodiment(name)
        prior = CommandPrior(emb, object_prior=object_prior)
        resid = np.concatenate([e.states[1:] - prior.commanded(e.states[:-1], e.raw_actions) for e in eps])
        act_resid = np.concatenate(
            [emb.normalize(e.raw_actions) - emb.normalize(prior.inverse(e.states[:-1], e.states[1:])) for e in eps]
        )
        std = np.maximum(allstates.std(0), 1e-3)
        dstd = np.maximum(np.sqrt((deltas**2).mean(0)), DELTA_STD_FLOOR)
        rstd = dstd.copy()  # channels without a prior keep the plain delta scale
        ch = prior.channels
        rstd[ch] = np.minimum(np.maximum(np.sqrt((resid[:, ch] ** 2).mean(0)), RESIDUAL_STD_FLOOR), dstd[ch])
        stats[name] = StateStats(
            name,
            emb.domain_id,
            emb.dynamics_hash,
            allstates.mean(0).tolist(),
            std.tolist(),
            dstd.tolist(),
            rstd.tolist(),
            np.maximum(np.sqrt((act_resid**2).mean(0)), ACTION_RESIDUAL_STD_FLOOR).tolist(),
        )
    return stats


class WindowSampler:
    """Uniformly samples training windows from many episodes of several embodiments."""

    def __init__(
        self,
        episodes: Sequence[Episode],
        stats: dict[str, StateStats],
        history: int = 2,
        chunk: int = 16,
        seed: int = 0,
        object_prior: bool = False,
    ) -> None:
        if not episodes:
            raise ValueError("no episodes to sample windows from")
        self.history, self.chunk = history, chunk
        self.rng = np.random.default_rng(seed)
        names = sorted(stats)
        emb_index = {n: i for i, n in enumerate(names)}
        embs = {n: load_embodiment(n) for n in names}
        self.domain_of = np.array([embs[n].domain_id for n in names])
        self.mean, self.std, self.dstd = (np.zeros((len(names), STATE_DIM), np.float32) for _ in range(3))
        self.state_mask = np.zeros((len(names), STATE_DIM), np.float32)
        self.rscale = np.ones((len(names), STATE_DIM), np.float32)
        self.ascale = np.ones((len(names), MAX_ACTION_DIM), np.float32)
        self.act_mask = np.zeros((len(names), MAX_ACTION_DIM), np.float32)
        for n, i in emb_index.items():
            mean, std, dstd = stats[n].arrays()
            s = stats[n].size
            self.mean[i, :s], self.std[i, :s], self.dstd[i, :s] = mean, std, dstd
            self.std[i, s:] = self.dstd[i, s:] = 1.0
            self.rscale[i, :s] = stats[n].residual_scale()
            self.ascale[i] = stats[n].action_residual_scale(MAX_ACTION_DIM)
            self.state_mask[i, :s] = 1.0
            self.act_mask[i, : embs[n].raw_action_dim] = 1.0
        self.priors = [CommandPrior(embs[n], object_prior=object_prior) for n in names]
        self.sizes = [stats[n].size for n in names]
        self.raw_dims = [embs[n].raw_action_dim for n in names]
        states, tokens, raws, starts = [], [], [], []
        s_off = a_off = 0
        for e in episodes:
            if e.embodiment not in emb_index:
                raise ValueError(f"episode of {e.embodiment!r} has no stats; stats cover {names}")
            if e.states.shape[1] != stats[e.embodiment].size:
                raise ValueError(
                    f"{e.embodiment}: state size {e.states.shape[1]} != stats size "
                    f"{stats[e.embodiment].size} (dataset from another embodiment version?)"
                )
            t_len = len(e.raw_actions)
            pad = np.zeros((t_len + 1, STATE_DIM), np.float32)
            pad[:, : e.states.shape[1]] = e.states
            states.append(pad)
            tokens.append(embs[e.embodiment].to_tokens(e.raw_actions)[0].astype(np.float32))
            raw = np.zeros((t_len, MAX_ACTION_DIM))
            raw[:, : e.raw_actions.shape[1]] = e.raw_actions
            raws.append(raw)
            ei, ti = emb_index[e.embodiment], TASK_NAMES.index(e.task)
            for t in range(t_len):
                starts.append((s_off, a_off, t, t_len, ei, ti, int(e.expert)))
            s_off += t_len + 1
            a_off += t_len
        self.states = np.concatenate(states)
        self.tokens = np.concatenate(tokens)
        self.raw = np.concatenate(raws)  # float64: the prior composes poses exactly
        self.starts = np.array(starts, dtype=np.int64)
        # Expert windows per (embodiment, task): policy-mode windows are drawn evenly over these groups,
        # so short Reach demos weigh as much as long Lift ones.
        keys = self.starts[:, 4:7]
        expert = keys[:, 2] == 1
        groups = [np.flatnonzero(expert & (keys[:, 0] == e) & (keys[:, 1] == k)) for e in range(len(names)) for k in
                  range(len(TASK_NAMES))]  # fmt: skip
        self.policy_groups = [g for g in groups if len(g)]
        self.policy_cdf: list[np.ndarray] | None = None  # set by weight_policy_windows
        self.goals = np.concatenate(
            [np.repeat(e.goal[None].astype(np.float32), len(e.raw_actions), 0) for e in episodes]
        )

    def __len__(self) -> int:
        return len(self.starts)

    def weight_policy_windows(self, weights: np.ndarray) -> None:
        """Draw policy-mode windows inside each (embodiment, task) group in proportion to ``weights``
        ``(len(self),)`` (one per window start, in episode order), instead of uniformly; groups stay even."""
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (len(self.starts),) or not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError(f"window weights must be {len(self.starts)} finite numbers >= 0, got shape {w.shape}")
        cdfs = [np.cumsum(w[g]) for g in self.policy_groups]
        if any(c[-1] <= 0 for c in cdfs):
            raise ValueError("every (embodiment, task) group of expert windows needs a positive total weight")
        self.policy_cdf = [c / c[-1] for c in cdfs]

    def batch(
        self, size: int, index: np.ndarray | None = None, policy: int = 0, rows: np.ndarray | None = None
    ) -> dict[str, torch.Tensor]:
        """A batch of windows: ``size`` uniform ones (or ``index``), then ``policy`` expert windows drawn
        evenly over the (embodiment, task) groups and flagged ``policy`` (B,) for the policy mode;
        B = size + policy (or len(index) + policy). Shapes: history ``(B, H, 128)``,
        states and prior ``(B, G, 128)`` normalized deltas, residual_scale ``(B, 128)``, actions and
        act_prior (contract inverse) ``(B, G, 64)`` tokens, act_residual_scale ``(B, 64)``, valid
        ``(B, G)``, masks ``(B, 128)`` / ``(B, 64)``, domain/task/expert ``(B,)``, goal ``(B, 3)`` (m) and
        goal_rel ``(B, 3)`` (:func:`~cosmos3_gym.model.goal.goal_input` of a ``goal_relative`` model), rel
        ``(B, 3)`` the cube relative to the gripper (:func:`~cosmos3_gym.model.goal.relation_input`).
        ``rows``: build only these rows of that batch (a data-parallel shard; the draws stay the whole
        batch's, so every rank consumes the same random stream)."""
        idx = self.rng.integers(0, len(self.starts), size) if index is None else np.asarray(index)
        n_uniform = len(idx)
        if policy:
            if not self.policy_groups:
                raise ValueError("policy windows requested but no episode is an expert demonstration")
            groups = self.rng.integers(0, len(self.policy_groups), policy)
            if self.policy_cdf is None:
                picks = [self.policy_groups[g][self.rng.integers(len(self.policy_groups[g]))] for g in groups]
            else:
                cdf = self.policy_cdf
                picks = [self.policy_groups[g][np.searchsorted(cdf[g], self.rng.random(), "right")] for g in groups]
            idx = np.concatenate([idx, np.asarray(picks, dtype=np.int64)])
        is_policy = np.arange(len(idx)) >= n_uniform
        if rows is not None:
            idx, is_policy = idx[rows], is_policy[rows]
        s_off, a_off, t, t_len, ei, ti, expert = self.starts[idx].T
        hist_t = np.clip(t[:, None] + np.arange(-self.history + 1, 1), 0, None)
        fut_k = np.arange(1, self.chunk + 1)
        valid = (t[:, None] + fut_k) <= t_len[:, None]
        fut_t = np.minimum(t[:, None] + fut_k, t_len[:, None])
        act_t = np.minimum(t[:, None] + fut_k - 1, t_len[:, None] - 1)
        cur = self.states[s_off + t]
        hist = (self.states[s_off[:, None] + hist_t] - self.mean[ei][:, None]) / self.std[ei][:, None]
        fut = (self.states[s_off[:, None] + fut_t] - cur[:, None]) / self.dstd[ei][:, None]
        sm, am = self.state_mask[ei], self.act_mask[ei]
        # Each row's priors from the recorded states around it (teacher forcing): the commanded-pose
        # prior (forward dynamics) and the contract inverse (inverse dynamics, token units).
        prior = np.zeros_like(fut)
        act_prior = np.zeros((len(idx), self.chunk, MAX_ACTION_DIM), np.float32)
        goal = self.goals[a_off + t]
        goal_rel, rel = np.zeros_like(goal), np.zeros_like(goal)
        prev = self.states[s_off[:, None] + act_t].astype(np.float64)
        nxt = self.states[s_off[:, None] + fut_t].astype(np.float64)
        for i, cp in enumerate(self.priors):
            sel = np.flatnonzero(ei == i)
            if len(sel):
                s, d = self.sizes[i], self.raw_dims[i]
                start = np.broadcast_to(cur[sel, None, :s], prev[sel, :, :s].shape).astype(np.float64)
                raw = self.raw[a_off[sel, None] + act_t[sel], :d]
                cmd = cp.commanded(prev[sel, :, :s], raw, start)
                prior[sel, :, :s] = (cmd - cur[sel, None, :s]) / self.dstd[i, :s]
                act_prior[sel, :, :d] = cp.emb.normalize(cp.inverse(prev[sel, :, :s], nxt[sel, :, :s]))
                rel[sel] = relation_input(cp.layout, cur[sel, :s])
                for k, task in enumerate(TASK_NAMES):
                    sub = sel[ti[sel] == k]
                    goal_rel[sub] = goal_input(True, cp.layout, task, cur[sub, :s], goal[sub])
        return {
            "prior": torch.from_numpy(prior.astype(np.float32)),
            "residual_scale": torch.from_numpy(self.rscale[ei]),
            "act_prior": torch.from_numpy(act_prior * am[:, None]),
            "act_residual_scale": torch.from_numpy(self.ascale[ei]),
            "history": torch.from_numpy(hist * sm[:, None]),
            "states": torch.from_numpy(fut * sm[:, None]),
            "actions": torch.from_numpy(self.tokens[a_off[:, None] + act_t] * am[:, None]),
            "valid": torch.from_numpy(valid.astype(np.float32)),
            "state_mask": torch.from_numpy(sm),
            "act_mask": torch.from_numpy(am),
            "domain": torch.from_numpy(self.domain_of[ei]),
            "task": torch.from_numpy(ti),
            "expert": torch.from_numpy(expert.astype(bool)),
            "policy": torch.from_numpy(is_policy),
            "goal": torch.from_numpy(goal),
            "goal_rel": torch.from_numpy(goal_rel),
            "rel": torch.from_numpy(rel),
        }

    def physical(self, index: np.ndarray) -> dict[str, np.ndarray]:
        """Windows ``index`` in physical units, padded: history ``(B, H, 128)``, raw actions
        ``(B, G, 64)``, future states ``(B, G, 128)``, goal ``(B, 3)``, valid ``(B, G)``, and the
        embodiment / task indices ``(B,)`` (into ``sorted(stats)`` / ``TASK_NAMES``)."""
        s_off, a_off, t, t_len, ei, ti, _ = self.starts[index].T
        fut_k = np.arange(1, self.chunk + 1)
        fut_t = np.minimum(t[:, None] + fut_k, t_len[:, None])
        act_t = np.minimum(t[:, None] + fut_k - 1, t_len[:, None] - 1)
        hist_t = np.clip(t[:, None] + np.arange(-self.history + 1, 1), 0, None)
        return {
            "history": self.states[s_off[:, None] + hist_t].astype(np.float64),
            "raw": self.raw[a_off[:, None] + act_t],
            "future": self.states[s_off[:, None] + fut_t].astype(np.float64),
            "goal": self.goals[a_off + t].astype(np.float64),
            "valid": (t[:, None] + fut_k) <= t_len[:, None],
            "embodiment": ei,
            "task": ti,
        }
