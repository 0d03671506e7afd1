"""World-model training windows over a :class:`~cosmos3_gym.data.dataset.StateDataset`.

One window per frame row (step ``t`` of an episode of length ``T``): the state history ending at
``s_t``, the next ``G`` actions (raw Cosmos3 and native) and the ``G`` states they lead to. Everything
is gathered with vectorized indexing from contiguous arrays built once, so a batch costs a few
``np.take``\\ s (use :meth:`WindowDataset.batch`; ``__getitem__`` is there for ``torch`` DataLoaders).
"""

from __future__ import annotations

import numpy as np
import torch

from cosmos3_gym.data.dataset import StateDataset


class WindowDataset(torch.utils.data.Dataset):
    """Windows of ``history`` states and ``chunk`` future steps; ``len`` = number of frame rows.

    Fields of a window (``batch`` adds a leading ``B``; ``S``/``D``/``A`` = state/raw/native width, the
    widest source after :func:`~cosmos3_gym.data.dataset.concat`, zero-padded; ``H`` = history,
    ``G`` = chunk):

    - ``history`` ``(H, S)``: ``s_{t-H+1} .. s_t``; before the episode start the first state repeats.
    - ``raw_actions`` ``(G, D)``: raw Cosmos3 actions ``a_t .. a_{t+G-1}``; ``native_actions`` ``(G, A)``.
    - ``future`` ``(G, S)``: ``s_{t+1} .. s_{t+G}``.
    - ``valid`` ``(G,)`` 1/0: row ``k`` exists (``t + k < T``). Past the end, states repeat the final
      state ``s_T`` and actions are zero.
    - ``goal`` ``(3,)``; ``domain_id``, ``source`` (index into ``sources``), ``task`` (index into
      :data:`~cosmos3_gym.data.dataset.TASK_NAMES`), ``episode``, ``t``: int64 scalars; ``expert``: bool.
    - ``state_mask`` ``(S,)``, ``raw_mask`` ``(D,)``, ``native_mask`` ``(A,)``: 1 on the source's real channels.

    Float fields are float32.
    """

    def __init__(self, data: StateDataset, history: int = 2, chunk: int | None = None) -> None:
        sizes = {s.chunk_size for s in data.sources}
        if chunk is None and len(sizes) != 1:
            raise ValueError(f"sources disagree on chunk_size {sorted(sizes)}; pass chunk explicitly")
        chunk = sizes.pop() if chunk is None else chunk
        for name, v in (("history", history), ("chunk", chunk)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
        self.data, self.history, self.chunk = data, history, chunk
        self.sources = data.sources
        ep = data.episode_index
        start, length = data.episode_start, data.episode_length
        # Episode e's states s_0..s_T live at rows start[e] + e .. start[e] + e + T of `states`.
        self.states = np.empty((data.num_frames + data.num_episodes, data.state.shape[1]), np.float32)
        self.states[np.arange(data.num_frames) + ep] = data.state
        last = start + length - 1
        self.states[last + np.arange(data.num_episodes) + 1] = data.next_state[last]
        self.raw = data.raw_action.astype(np.float32)
        self.native = data.action.astype(np.float32, copy=False)
        self.goal = data.goal.astype(np.float32, copy=False)
        self.t = data.frame_index
        self.length = length[ep]
        self.state_base = start[ep] + ep
        self.action_base = start[ep]
        self.source = data.episode_source[ep]
        self.domain_of = np.array([s.domain_id for s in data.sources], np.int64)
        self.task_of = np.array([s.task_id for s in data.sources], np.int64)
        self.expert_of = np.array([s.policy == "expert" for s in data.sources])
        self.state_mask = self._masks([s.state_dim for s in data.sources], self.states.shape[1])
        self.raw_mask = self._masks([s.raw_action_dim for s in data.sources], self.raw.shape[1])
        self.native_mask = self._masks([s.native_action_dim for s in data.sources], self.native.shape[1])

    @staticmethod
    def _masks(widths: list[int], width: int) -> np.ndarray:
        return (np.arange(width)[None, :] < np.array(widths)[:, None]).astype(np.float32)

    def __len__(self) -> int:
        return len(self.t)

    def batch(self, index: np.ndarray, as_tensors: bool = False) -> dict[str, np.ndarray | torch.Tensor]:
        """Windows at frame rows ``index`` ``(B,)``, each field with a leading ``B`` (see the class doc)."""
        i = np.asarray(index, dtype=np.int64).reshape(-1)
        if i.size and (i.min() < 0 or i.max() >= len(self)):
            raise IndexError(f"window index out of range [0, {len(self)})")
        t, length, src = self.t[i, None], self.length[i, None], self.source[i]
        hist = np.maximum(t + np.arange(1 - self.history, 1), 0)
        k = np.arange(1, self.chunk + 1)
        valid = t + k <= length
        base = self.state_base[i, None]
        act_rows = self.action_base[i, None] + np.minimum(t + k - 1, length - 1)
        out = {
            "history": self.states[base + hist],
            "future": self.states[base + np.minimum(t + k, length)],
            "raw_actions": self.raw[act_rows] * valid[..., None],
            "native_actions": self.native[act_rows] * valid[..., None],
            "valid": valid.astype(np.float32),
            "goal": self.goal[i],
            "domain_id": self.domain_of[src],
            "source": src,
            "task": self.task_of[src],
            "episode": self.data.episode_index[i],
            "t": self.t[i],
            "expert": self.expert_of[src],
            "state_mask": self.state_mask[src],
            "raw_mask": self.raw_mask[src],
            "native_mask": self.native_mask[src],
        }
        return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in out.items()} if as_tensors else out

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        return {k: v[0] for k, v in self.batch(np.array([index])).items()}

    def sample(self, size: int, rng: np.random.Generator, as_tensors: bool = False) -> dict:
        """``size`` windows drawn uniformly (with replacement) over all frame rows."""
        return self.batch(rng.integers(0, len(self), size), as_tensors)
