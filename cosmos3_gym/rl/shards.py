"""Many MuJoCo twins on a few cores: one worker process per core, each stepping its shard of envs in a
``DummyVecEnv``.

SB3's ``SubprocVecEnv`` starts one process per env; at the 256 envs of the massively parallel PPO recipe
that is 256 interpreters, each with its own torch and MuJoCo, on a 2-core machine. Here env ``i`` lives
in worker ``i * workers // num_envs`` and everything SB3 calls (step, reset with seeds, attributes,
``env_method`` such as HER's ``compute_reward``) is forwarded to the shards and gathered in env order.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv
from stable_baselines3.common.vec_env.base_vec_env import CloudpickleWrapper, VecEnvIndices, VecEnvStepReturn


def _worker(remote: Any, env_fns: CloudpickleWrapper) -> None:
    venv = DummyVecEnv(env_fns.var)
    while True:
        cmd, data = remote.recv()
        if cmd == "step":
            venv.step_async(data)
            remote.send(venv.step_wait())
        elif cmd == "reset":
            seeds, options = data
            for i, s in enumerate(seeds):
                venv._seeds[i] = s
            venv._options = list(options)
            remote.send(venv.reset())
        elif cmd == "get_attr":
            remote.send(venv.get_attr(*data))
        elif cmd == "set_attr":
            remote.send(venv.set_attr(*data))
        elif cmd == "env_method":
            name, args, kwargs, idx = data
            remote.send(venv.env_method(name, *args, indices=idx, **kwargs))
        elif cmd == "is_wrapped":
            remote.send(venv.env_is_wrapped(*data))
        elif cmd == "close":
            venv.close()
            remote.close()
            return


class ShardedVecEnv(VecEnv):
    """``len(env_fns)`` envs in ``workers`` processes (``spawn``: safe with torch and MuJoCo loaded).

    Args:
        env_fns: one factory per env (sent with cloudpickle, as SB3's ``SubprocVecEnv`` does).
        workers: worker processes (at most one per env).
    """

    def __init__(self, env_fns: Sequence[Callable[[], gym.Env]], workers: int) -> None:
        n = len(env_fns)
        if n < 1 or workers < 1:
            raise ValueError(f"ShardedVecEnv needs at least one env and one worker, got {n} envs, {workers} workers")
        workers = min(workers, n)
        self.bounds = [(w * n // workers, (w + 1) * n // workers) for w in range(workers)]
        ctx = mp.get_context("spawn")
        self.remotes, self.procs = [], []
        for lo, hi in self.bounds:
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_worker, args=(child, CloudpickleWrapper(list(env_fns[lo:hi]))), daemon=True)
            proc.start()
            child.close()
            self.remotes.append(parent)
            self.procs.append(proc)
        probe = env_fns[0]()
        super().__init__(n, probe.observation_space, probe.action_space)
        probe.close()
        self.closed = False

    def step_async(self, actions: np.ndarray) -> None:
        for remote, (lo, hi) in zip(self.remotes, self.bounds, strict=True):
            remote.send(("step", actions[lo:hi]))

    def step_wait(self) -> VecEnvStepReturn:
        parts = [remote.recv() for remote in self.remotes]
        obs = self._cat([p[0] for p in parts])
        rewards, dones = (np.concatenate([p[k] for p in parts]) for k in (1, 2))
        infos = [info for p in parts for info in p[3]]
        return obs, rewards, dones, infos

    def reset(self) -> Any:
        for remote, (lo, hi) in zip(self.remotes, self.bounds, strict=True):
            remote.send(("reset", (self._seeds[lo:hi], self._options[lo:hi])))
        obs = self._cat([remote.recv() for remote in self.remotes])
        self._reset_seeds()
        self._reset_options()
        return obs

    @staticmethod
    def _cat(parts: list[Any]) -> Any:
        if isinstance(parts[0], dict):
            return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        return np.concatenate(parts)

    def _by_shard(self, indices: VecEnvIndices) -> list[tuple[int, list[int]]]:
        """``(worker, local indices)`` for the global ``indices``, in global order."""
        out: list[tuple[int, list[int]]] = []
        for i in self._get_indices(indices):
            w = next(k for k, (lo, hi) in enumerate(self.bounds) if lo <= i < hi)
            if out and out[-1][0] == w:
                out[-1][1].append(i - self.bounds[w][0])
            else:
                out.append((w, [i - self.bounds[w][0]]))
        return out

    def _gather(self, cmd: str, make: Callable[[list[int]], Any], indices: VecEnvIndices) -> list[Any]:
        jobs = self._by_shard(indices)
        for w, local in jobs:
            self.remotes[w].send((cmd, make(local)))
        return [x for w, _ in jobs for x in self.remotes[w].recv()]

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return self._gather("get_attr", lambda local: (attr_name, local), indices)

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        for w, local in self._by_shard(indices):
            self.remotes[w].send(("set_attr", (attr_name, value, local)))
            self.remotes[w].recv()

    def env_method(self, method_name: str, *args: Any, indices: VecEnvIndices = None, **kwargs: Any) -> list[Any]:
        return self._gather("env_method", lambda local: (method_name, args, kwargs, local), indices)

    def env_is_wrapped(self, wrapper_class: type, indices: VecEnvIndices = None) -> list[bool]:
        return self._gather("is_wrapped", lambda local: (wrapper_class, local), indices)

    def close(self) -> None:
        if self.closed:
            return
        for remote in self.remotes:
            remote.send(("close", None))
        for proc in self.procs:
            proc.join()
        self.closed = True
