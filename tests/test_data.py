"""Datasets: collection into the LeRobot v3.0 layout, atomic episodes, loading, training windows, concat, CLI."""

from __future__ import annotations

import importlib
import json

import gymnasium as gym
import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from cosmos3_gym.cli import main as cli_main
from cosmos3_gym.data import DatasetError, collect, concat, load_dataset
from cosmos3_gym.data.dataset import TASK_NAMES
from cosmos3_gym.embodiment.spec import MAX_ACTION_DIM
from cosmos3_gym.model.config import STATE_DIM
from cosmos3_gym.sim.policies import make_policy
from cosmos3_gym.tokens import load_embodiment
from cosmos3_gym.training.episodes import episodes_from_datasets
from cosmos3_gym.training.windows import WindowSampler, compute_stats

collect_mod = importlib.import_module("cosmos3_gym.data.collect")
writer_mod = importlib.import_module("cosmos3_gym.data.writer")

STEPS = 20  # short episodes keep the module at a few seconds


def _collect(out, episodes=2, **kw):
    kw.setdefault("max_steps", STEPS)
    return collect("franka", "lift", episodes, "random-smooth", out, progress=False, **kw)


@pytest.fixture(scope="module")
def franka(tmp_path_factory):
    return _collect(tmp_path_factory.mktemp("franka") / "ds")


def test_layout_and_meta(franka):
    for rel in (
        "meta/info.json",
        "meta/stats.json",
        "meta/tasks.parquet",
        "meta/episodes/chunk-000/file-000.parquet",
        "data/chunk-000/file-000.parquet",
    ):
        assert (franka / rel).is_file(), rel
    info = json.loads((franka / "meta/info.json").read_text())
    emb = load_embodiment("franka")
    assert info["codebase_version"] == "v3.0" and info["robot_type"] == "franka" and info["fps"] == emb.fps
    assert (info["total_episodes"], info["total_frames"], info["splits"]) == (2, 2 * STEPS, {"train": "0:2"})
    c = info["cosmos3"]
    assert (c["domain_name"], c["domain_id"], c["raw_action_dim"], c["chunk_size"], c["yaml_hash"]) == (
        emb.domain_name,
        emb.domain_id,
        emb.raw_action_dim,
        emb.chunk_size,
        emb.yaml_hash,
    )
    assert (c["task"], c["policy"], c["env_id"], c["seeds"]) == (
        "lift",
        "random-smooth",
        "Cosmos3-Franka-Lift-MuJoCo-v0",
        [0, 1],
    )
    env = gym.make("Cosmos3-Franka-Lift-MuJoCo-v0")
    assert c["observation_layout"] == {k: [s.start, s.stop] for k, s in env.unwrapped.layout.parts.items()}
    feats = info["features"]
    assert feats["observation.state"]["shape"] == [env.unwrapped.layout.size]
    assert feats["action"]["shape"] == [7] and feats["action.cosmos3_raw"]["shape"] == [emb.raw_action_dim]
    tasks = pq.read_table(franka / "meta/tasks.parquet").to_pylist()
    assert tasks == [{"task": c["task_instruction"], "task_index": 0}]
    eps = pq.read_table(franka / "meta/episodes/chunk-000/file-000.parquet").to_pydict()
    assert eps["dataset_from_index"] == [0, STEPS] and eps["dataset_to_index"] == [STEPS, 2 * STEPS]
    assert eps["seed"] == [0, 1] and eps["tasks"] == [[c["task_instruction"]]] * 2
    stats = json.loads((franka / "meta/stats.json").read_text())
    assert stats["observation.state"]["count"] == [2 * STEPS]
    ds = load_dataset(franka)
    np.testing.assert_allclose(stats["observation.state"]["mean"], ds.state.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(stats["action"]["std"], ds.action.std(0), rtol=1e-4, atol=1e-6)


def test_stats_have_lerobots_quantiles(franka):
    """stats.json and the episodes table carry q01 … q99 under LeRobot's key names (its quantile
    normalization reads them): exact per episode, merged as LeRobot's count-weighted mean."""
    stats = json.loads((franka / "meta/stats.json").read_text())
    eps = pq.read_table(franka / "meta/episodes/chunk-000/file-000.parquet").to_pydict()
    ds = load_dataset(franka)
    for feature, by_stat in stats.items():
        assert {"q01", "q10", "q50", "q90", "q99"} <= set(by_stat), feature
        q = np.array([by_stat[k] for k in ("min", "q01", "q10", "q50", "q90", "q99", "max")])
        assert (np.diff(q, axis=0) >= -1e-12).all(), feature
    actions = [ds.episode(e)["actions"] for e in range(ds.num_episodes)]
    per_episode = [np.quantile(a.astype(np.float64), 0.9, axis=0) for a in actions]
    np.testing.assert_allclose(eps["stats/action/q90"], per_episode, rtol=1e-6)
    counts = np.array([len(a) for a in actions], float)
    np.testing.assert_allclose(stats["action"]["q90"], counts @ np.array(per_episode) / counts.sum(), rtol=1e-6)


def test_columns_equal_an_independent_rollout(franka):
    """Rows hold exactly what the twin returned: s_t, a_t, info['cosmos3_action'], s_{t+1}, reward, flags."""
    ds = load_dataset(franka)
    assert ds.state.dtype == np.float32 and ds.raw_action.dtype == np.float64 and ds.action.dtype == np.float32
    np.testing.assert_array_equal(ds.frame_index, np.tile(np.arange(STEPS), 2))
    np.testing.assert_array_equal(ds.episode_index, np.repeat([0, 1], STEPS))
    env = gym.make("Cosmos3-Franka-Lift-MuJoCo-v0", max_episode_steps=STEPS)
    for e, seed in enumerate(ds.episode_seed):
        ep = ds.episode(e)
        obs, _ = env.reset(seed=int(seed))
        policy = make_policy("random-smooth", env.unwrapped, int(seed))
        policy.reset(obs)
        states, raws, rewards, success = [obs["observation"]], [], [], []
        for t in range(STEPS):
            action = policy(obs)
            np.testing.assert_array_equal(ep["actions"][t], action)
            obs, reward, terminated, truncated, info = env.step(action)
            states.append(obs["observation"])
            raws.append(info["cosmos3_action"])
            rewards.append(reward)
            success.append(info["is_success"])
        assert truncated and not terminated
        np.testing.assert_array_equal(ep["raw_actions"], np.array(raws))  # float64, bit-exact
        np.testing.assert_array_equal(ep["states"], np.array(states, np.float32))  # incl. the final state
        np.testing.assert_array_equal(ep["rewards"], np.array(rewards, np.float32))
        np.testing.assert_array_equal(ep["success"], success)
        np.testing.assert_array_equal(ep["goal"], obs["desired_goal"].astype(np.float32))
    done = ds.done.reshape(2, STEPS)
    assert done[:, -1].all() and not done[:, :-1].any() and not ds.terminated.any()


def _reference_window(ds, row, h, g):
    """Loop implementation of one window, straight from the definition."""
    e = int(ds.episode_index[row])
    t = int(ds.frame_index[row])
    ep = ds.episode(e)
    s, big_t = ep["states"], len(ep["raw_actions"])
    hist = np.stack([s[max(t - h + 1 + j, 0)] for j in range(h)])
    fut = np.stack([s[min(t + k, big_t)] for k in range(1, g + 1)])
    raw = np.stack(
        [
            ep["raw_actions"][t + k - 1] if t + k <= big_t else np.zeros(ep["raw_actions"].shape[1])
            for k in range(1, g + 1)
        ]
    )
    valid = np.array([t + k <= big_t for k in range(1, g + 1)], np.float32)
    return hist, fut, raw, valid


def test_datasets_load_into_training_windows(franka):
    """A LeRobot dataset read the way ``train`` reads it (episodes → WindowSampler): every window equals its
    definition from the dataset's rows, zero-padded to the model's widths."""
    ds = load_dataset(franka)
    episodes = episodes_from_datasets([franka])
    sampler = WindowSampler(episodes, compute_stats(episodes), history=3)
    assert len(sampler) == ds.num_frames and sampler.chunk == 16
    rows = np.array([0, 1, 2, STEPS - 16, STEPS - 5, STEPS - 1, STEPS, 2 * STEPS - 1])
    w = sampler.physical(rows)
    s, d = ds.state.shape[1], ds.raw_action.shape[1]
    assert w["history"].shape == (8, 3, STATE_DIM) and w["future"].shape == (8, 16, STATE_DIM)
    assert w["raw"].shape == (8, 16, MAX_ACTION_DIM) and w["valid"].shape == (8, 16) and w["goal"].shape == (8, 3)
    for i, row in enumerate(rows):
        hist, fut, raw, valid = _reference_window(ds, row, 3, 16)
        ok = valid.astype(bool)
        np.testing.assert_array_equal(w["history"][i, :, :s], hist)
        np.testing.assert_array_equal(w["future"][i, :, :s], fut)
        np.testing.assert_array_equal(w["valid"][i], ok)
        np.testing.assert_array_equal(w["raw"][i, ok, :d], raw[ok])  # float64, bit-exact
        np.testing.assert_array_equal(w["goal"][i], ds.goal[row])
    assert not w["history"][..., s:].any() and not w["raw"][..., d:].any()
    assert w["valid"][5].sum() == 1  # last step of episode 0
    emb = load_embodiment("franka")
    b = sampler.batch(0, index=rows)
    assert b["history"].shape == (8, 3, STATE_DIM) and b["history"].dtype == torch.float32
    assert b["states"].shape == (8, 16, STATE_DIM) and b["actions"].shape == (8, 16, MAX_ACTION_DIM)
    assert (b["domain"] == emb.domain_id).all() and (b["task"] == TASK_NAMES.index("lift")).all()
    assert not b["expert"].any()  # random-smooth data teaches the dynamics only
    tokens = emb.to_tokens(w["raw"][:, :, :d].reshape(-1, d))[0].reshape(8, 16, -1)
    np.testing.assert_allclose(b["actions"].numpy(), tokens, atol=1e-6)  # the Cosmos3 tokens of the raw actions


@pytest.mark.parametrize("exc", [KeyboardInterrupt, RuntimeError])
def test_interrupted_collection_keeps_only_finished_episodes(tmp_path, monkeypatch, exc):
    real = collect_mod.policy_factory

    def failing_factory(kind, env, **options):
        make = real(kind, env, **options)

        def make_failing(seed):
            policy = make(seed)
            if seed != 1:
                return policy
            calls = iter(range(10**6))

            class Failing:
                def reset(self, obs):
                    policy.reset(obs)

                def __call__(self, obs):
                    if next(calls) == 7:
                        raise exc("stop in the middle of episode 2")
                    return policy(obs)

            return Failing()

        return make_failing

    monkeypatch.setattr(collect_mod, "policy_factory", failing_factory)
    with pytest.raises(exc):
        _collect(tmp_path / "ds", episodes=3)
    ds = load_dataset(tmp_path / "ds")
    assert ds.num_episodes == 1 and ds.num_frames == STEPS
    assert pq.read_table(tmp_path / "ds/data/chunk-000/file-000.parquet").num_rows == STEPS  # no partial rows
    assert not list((tmp_path / "ds").rglob("*.tmp"))
    monkeypatch.setattr(collect_mod, "policy_factory", real)
    _collect(tmp_path / "ds", episodes=2, append=True)  # resumes with the next seed
    ds = load_dataset(tmp_path / "ds")
    assert ds.num_episodes == 3 and ds.episode_seed.tolist() == [0, 1, 2]


@pytest.mark.parametrize("rollover", [False, True])
def test_crash_inside_a_commit_leaves_the_last_committed_state(tmp_path, monkeypatch, rollover):
    """Data and episode files already replaced, info.json not: readers ignore the extra rows, and reopening
    for append removes them (also when the lost episode had started a new data file)."""
    if rollover:
        monkeypatch.setattr(writer_mod, "DATA_FILE_MB", 1e-6)  # every episode starts a new data file
    real = writer_mod.write_json

    def crash_on_second_info(path, obj):
        if path.name == "info.json" and obj["total_episodes"] == 2:
            raise OSError("disk full")
        real(path, obj)

    monkeypatch.setattr(writer_mod, "write_json", crash_on_second_info)
    with pytest.raises(OSError, match="disk full"):
        _collect(tmp_path / "ds", episodes=2)
    files = sorted((tmp_path / "ds/data/chunk-000").iterdir())
    assert sum(pq.read_metadata(f).num_rows for f in files) == 2 * STEPS  # the lost episode is on disk
    assert load_dataset(tmp_path / "ds").num_frames == STEPS
    monkeypatch.setattr(writer_mod, "write_json", real)
    writer_mod.DatasetWriter.open(tmp_path / "ds")  # repairs: only committed rows stay
    files = sorted((tmp_path / "ds/data/chunk-000").iterdir())
    assert len(files) == 1 and pq.read_metadata(files[0]).num_rows == STEPS
    _collect(tmp_path / "ds", episodes=1, append=True)
    ds = load_dataset(tmp_path / "ds")
    assert ds.num_episodes == 2 and ds.num_frames == 2 * STEPS and ds.episode_seed.tolist() == [0, 1]
    files = sorted((tmp_path / "ds/data/chunk-000").iterdir())
    assert len(files) == (2 if rollover else 1)
    assert sum(pq.read_metadata(f).num_rows for f in files) == 2 * STEPS


def test_existing_folder_rules(tmp_path, franka):
    with pytest.raises(FileExistsError, match="--append"):
        _collect(franka, episodes=1)
    with pytest.raises(ValueError, match="already in"):
        _collect(franka, episodes=1, append=True, seed=1)
    with pytest.raises(DatasetError, match="task"):
        collect("franka", "push", 1, "random-smooth", franka, max_steps=STEPS, progress=False, append=True)
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match=r"no meta/info\.json"):
        _collect(other, episodes=1, overwrite=True)
    assert (other / "notes.txt").read_text() == "keep me"
    copy = _collect(tmp_path / "copy", episodes=2)
    _collect(copy, episodes=1, overwrite=True, seed=5)
    assert load_dataset(copy).episode_seed.tolist() == [5]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"embodiment": "kuka"}, "unknown embodiment 'kuka'; allowed: agibot, franka"),
        ({"task": "stack"}, "unknown task 'stack'"),
        ({"policy": "greedy"}, "unknown policy 'greedy'; allowed: expert"),
        ({"episodes": 0}, "episodes must be an integer >= 1"),
        ({"episodes": 1.5}, "episodes must be an integer >= 1"),
        ({"max_steps": 0}, "max_steps must be None or an integer >= 1"),
        ({"append": True, "overwrite": True}, "exclude each other"),
    ],
)
def test_bad_input(tmp_path, kwargs, match):
    args = {
        "embodiment": "franka",
        "task": "lift",
        "episodes": 1,
        "policy": "random-smooth",
        "out_dir": tmp_path / "ds",
        **kwargs,
    }
    with pytest.raises(ValueError, match=match):
        collect(**args, progress=False)
    assert not (tmp_path / "ds").exists()


def test_load_errors(tmp_path, franka):
    with pytest.raises(DatasetError, match="no such dataset folder"):
        load_dataset(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"info\.json missing"):
        load_dataset(tmp_path / "empty")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "meta").mkdir()
    (bad / "meta/info.json").write_text("{not json")
    with pytest.raises(DatasetError, match="corrupt JSON"):
        load_dataset(bad)
    (bad / "meta/info.json").write_text(json.dumps({"codebase_version": "v2.1"}))
    with pytest.raises(DatasetError, match=r"codebase_version 'v2\.1'"):
        load_dataset(bad)
    broken = _collect(tmp_path / "broken", episodes=1)
    data = broken / "data/chunk-000/file-000.parquet"
    data.write_bytes(data.read_bytes()[:100])
    with pytest.raises(DatasetError, match="corrupt parquet"):
        load_dataset(broken)
    data.unlink()
    with pytest.raises(DatasetError, match="missing"):
        load_dataset(broken)


def test_files_roll_over_and_append_across_them(tmp_path, monkeypatch):
    monkeypatch.setattr(writer_mod, "DATA_FILE_MB", 1e-6)  # every episode starts a new data file
    out = _collect(tmp_path / "ds", episodes=2)
    _collect(out, episodes=1, append=True)
    assert sorted(p.name for p in (out / "data/chunk-000").iterdir()) == [f"file-00{i}.parquet" for i in range(3)]
    ds = load_dataset(out)
    assert ds.num_episodes == 3 and ds.num_frames == 3 * STEPS


def test_concat_pads_embodiments_and_keeps_ids(tmp_path, franka):
    agibot = collect("agibot", "reach", 1, "random-smooth", tmp_path / "agibot", max_steps=10, progress=False)
    a, b = load_dataset(franka), load_dataset(agibot)
    both = concat([a, b])
    s_a, s_b = a.state.shape[1], b.state.shape[1]
    assert both.num_episodes == 3 and both.num_frames == 2 * STEPS + 10
    assert both.state.shape[1] == max(s_a, s_b) and both.action.shape[1] == 14
    np.testing.assert_array_equal(both.episode(2)["states"], b.episode(0)["states"])
    np.testing.assert_array_equal(both.episode(1)["raw_actions"], a.episode(1)["raw_actions"])
    # Training windows over both datasets keep each embodiment's ids and real channels.
    episodes = episodes_from_datasets([franka, agibot])
    sampler = WindowSampler(episodes, compute_stats(episodes))
    rows = np.array([0, 2 * STEPS])
    batch = sampler.batch(0, index=rows)
    embs = [load_embodiment("franka"), load_embodiment("agibot")]
    assert batch["domain"].tolist() == [e.domain_id for e in embs]
    assert batch["task"].tolist() == [TASK_NAMES.index("lift"), TASK_NAMES.index("reach")]
    assert batch["state_mask"][0].sum() == s_a and batch["state_mask"][1].sum() == s_b
    assert batch["act_mask"].sum(1).tolist() == [e.raw_action_dim for e in embs]
    assert not sampler.physical(rows)["history"][0, :, s_a:].any()


def test_cli_collect(tmp_path, capsys):
    out = tmp_path / "cli"
    args = [
        "collect",
        "--embodiment",
        "franka",
        "--task",
        "reach",
        "--episodes",
        "1",
        "--policy",
        "random-smooth",
        "--out",
        str(out),
        "--max-steps",
        "5",
        "--json",
    ]
    assert cli_main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["total_frames"] == 5 and summary["episodes"] == 1 and summary["steps_per_s"] > 0
    assert cli_main(args) == 2
    assert "--append" in capsys.readouterr().err
    assert cli_main([*args, "--append"]) == 0
    assert load_dataset(out).num_episodes == 2


@pytest.fixture(scope="module")
def reach_agents(tmp_path_factory):
    """Two untrained SB3 agents with Franka Reach's spaces (different weights), and one with AgiBot's."""
    from stable_baselines3 import PPO

    from cosmos3_gym.sim.twin_env import MujocoTwinEnv

    out = tmp_path_factory.mktemp("agents")
    for name, emb, seed in (("a", "franka", 0), ("b", "franka", 1), ("agibot", "agibot", 0)):
        PPO("MultiInputPolicy", MujocoTwinEnv(emb, "reach"), n_steps=8, batch_size=8, seed=seed, device="cpu").save(
            out / name
        )
    return {name: out / f"{name}.zip" for name in ("a", "b", "agibot")}


def test_agent_policy_collects_the_agents_actions(tmp_path, reach_agents):
    from stable_baselines3 import PPO

    from cosmos3_gym.sim.policies import AGENT_NOISE

    out = collect("franka", "reach", 2, "agent", tmp_path / "ds", max_steps=15, progress=False, agent=reach_agents["a"])
    ds = load_dataset(out)
    meta = ds.sources[0].cosmos3
    assert meta["policy"] == "agent" and meta["agent"] == "a.zip" and len(meta["agent_sha256"]) == 64
    ep = ds.episode(0)
    agent = PPO.load(reach_agents["a"], device="cpu")
    states = ep["states"][:-1]
    obs = {"observation": states, "achieved_goal": states[:, :3], "desired_goal": np.tile(ep["goal"], (len(states), 1))}
    mean, _ = agent.predict(obs, deterministic=True)
    noise = ep["actions"] - np.clip(mean, -1, 1)
    # What was executed is the agent's action plus small noise: neither the bare agent nor anything else.
    assert 0.2 * AGENT_NOISE < noise.std() < 3 * AGENT_NOISE
    with pytest.raises(DatasetError, match="agent_sha256"):  # another agent is another policy
        collect("franka", "reach", 1, "agent", out, max_steps=15, progress=False, agent=reach_agents["b"], append=True)
    assert load_dataset(out).num_episodes == 2


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "policy 'agent' needs the trained agent"),
        ({"agent": "/nonexistent/agent.zip"}, "no such file"),
        ({"agent": "AGIBOT"}, r"spaces do not fit franka/reach.*action Box\(14,\)"),
        (
            {"agent": "A", "policy": "expert"},
            r"policy 'expert' takes no option 'agent' \(only policy 'agent' takes it\)",
        ),
    ],
)
def test_agent_policy_bad_input(tmp_path, reach_agents, kwargs, match):
    paths = {"AGIBOT": reach_agents["agibot"], "A": reach_agents["a"]}
    if "agent" in kwargs:
        kwargs["agent"] = paths.get(kwargs["agent"], kwargs["agent"])
    args = {"policy": "agent", **kwargs}
    with pytest.raises(ValueError, match=match):
        collect("franka", "reach", 1, out_dir=tmp_path / "ds", max_steps=5, progress=False, **args)
    assert not (tmp_path / "ds").exists()


def test_datasets_and_checkpoints_get_the_umask_permissions(tmp_path, tiny_model):
    """Atomic writes go through mkstemp (0600); the files must still be readable by others (umask 022)."""
    import os
    import stat

    from cosmos3_gym.model import load_checkpoint, save_checkpoint

    old = os.umask(0o022)
    try:
        out = collect("franka", "lift", 1, "expert", tmp_path / "data", progress=False, max_steps=5)
        ckpt = load_checkpoint(tiny_model)
        save_checkpoint(tmp_path / "ckpt", ckpt.model, ckpt.stats)
    finally:
        os.umask(old)
    files = [f for f in [*out.rglob("*"), *(tmp_path / "ckpt").iterdir()] if f.is_file()]
    assert len(files) > 3
    assert {oct(stat.S_IMODE(f.stat().st_mode)) for f in files} == {oct(0o644)}
