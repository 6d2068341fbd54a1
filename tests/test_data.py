"""Real worlds and data: physics contexts change trajectories; datasets round-trip, append
without loss and survive interruption."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import minari
import numpy as np
import pytest

from genenv.cli import main as cli_main
from genenv.data import (
    collect,
    collection_info,
    context_sampler,
    count_steps,
    episode_specs,
    load_transitions,
)
from genenv.data.policies import sb3_algorithm_name
from genenv.worlds import WorldSpec, get_task


def _rollout(spec: WorldSpec, actions: np.ndarray, seed: int = 0) -> np.ndarray:
    env = spec.make_env()
    obs, _ = env.reset(seed=seed)
    states = [obs]
    for a in actions:
        obs, *_ = env.step(a)
        states.append(obs)
    env.close()
    return np.array(states)


@pytest.mark.parametrize("task", ["InvertedPendulum", "HalfCheetah"])
def test_context_really_changes_a_real_trajectory(task):
    base = WorldSpec(task)
    act_dim = base.make_env().action_space.shape[0]
    actions = np.random.default_rng(0).uniform(-1, 1, (15, act_dim)).astype(np.float32)
    ref = _rollout(base, actions)
    np.testing.assert_array_equal(ref, _rollout(WorldSpec(task), actions))  # same spec: identical
    for change in ({"gravity": 4.0}, {"mass_scale": 2.0}):
        other = _rollout(base.with_context(**change), actions)
        np.testing.assert_array_equal(other[0], ref[0])  # same seed: same start
        assert np.abs(other[-1] - ref[-1]).max() > 1e-3, change


def _episodes(path: Path) -> list[dict[str, np.ndarray]]:
    ds = minari.MinariDataset(path)
    return [
        {k: np.asarray(getattr(ep, k)) for k in ("observations", "actions", "rewards")}
        for ep in ds.iterate_episodes()
    ]


def _file_hashes(path: Path) -> dict[str, str]:
    return {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.glob("[0-9]*/*"))
    }


def test_collect_load_round_trip_exact_steps_and_replay(tmp_path):
    spec = WorldSpec("InvertedPendulum").with_context(gravity=7.0)
    out = collect(spec, 157, tmp_path / "ds", seed=3, progress=False, chunk_steps=40)
    t = load_transitions(out)
    assert len(t) == 157 == count_steps(out) == minari.MinariDataset(out).total_steps
    info = collection_info(out)
    assert info["collections"][-1]["steps"] == 157
    assert info["collections"][-1]["status"] == "complete"
    assert t.terminations[-1] or t.truncations[-1]  # the last episode ends at the budget
    assert t.obs.dtype == np.float32 and t.contexts.shape == (157, len(spec.context.as_tuple()))
    np.testing.assert_allclose(t.contexts, np.tile(spec.context.as_tuple(), (157, 1)), rtol=1e-6)
    same_ep = t.episode_ids[1:] == t.episode_ids[:-1]
    np.testing.assert_array_equal(t.next_obs[:-1][same_ep], t.obs[1:][same_ep])
    # The stored spec and reset seed reproduce the stored episode in the real world exactly.
    specs = episode_specs(out)
    assert specs[0] == spec
    ds = minari.MinariDataset(out)
    first = next(iter(ds.iterate_episodes()))
    seed = next(iter(ds.storage.get_episode_metadata([0])))["seed"]
    replay = _rollout(specs[0], first.actions, seed=seed)
    np.testing.assert_array_equal(replay, first.observations)


def test_per_episode_contexts_from_a_list_and_a_sampler(tmp_path):
    a = WorldSpec("InvertedPendulum").with_context(gravity=5.0)
    b = WorldSpec("InvertedPendulum").with_context(mass_scale=2.0, length_scale=1.2)
    out = collect([a, b], 60, tmp_path / "ds", progress=False)
    specs = episode_specs(out)
    assert specs[0] == a and specs[1] == b and specs[2] == a
    t = load_transitions(out)
    for i in np.unique(t.episode_ids):
        np.testing.assert_allclose(t.contexts[t.episode_ids == i][0], specs[i].context.as_tuple())
    sampled = collect(
        context_sampler("InvertedPendulum"), 60, tmp_path / "s", seed=1, progress=False
    )
    ranges = get_task("InvertedPendulum").train_ranges
    specs = episode_specs(sampled)
    assert len({s.context.gravity for s in specs}) == len(specs) > 2
    for s in specs:
        for key, (lo, hi) in ranges.items():
            assert lo <= getattr(s.context, key) <= hi


def test_append_never_rewrites_or_loses_episodes(tmp_path):
    path = tmp_path / "ds"
    collect("InvertedPendulum", 100, path, seed=0, progress=False)
    before, hashes = _episodes(path), _file_hashes(path)
    collect("InvertedPendulum", 80, path, seed=1, progress=False)
    after = _episodes(path)
    assert count_steps(path) == 180
    assert len(after) > len(before)
    for old, new in zip(before, after[: len(before)], strict=True):
        for key in old:
            assert old[key].tobytes() == new[key].tobytes()
    after_hashes = _file_hashes(path)
    assert {k: after_hashes[k] for k in hashes} == hashes  # old files untouched, byte for byte
    assert sum(len(e["rewards"]) for e in after[len(before) :]) == 80
    assert [c["steps"] for c in collection_info(path)["collections"]] == [100, 80]


class _Boom(RuntimeError):
    pass


@pytest.mark.parametrize("error", [_Boom, KeyboardInterrupt])
def test_interrupted_collection_keeps_completed_episodes(tmp_path, error):
    path = tmp_path / "ds"
    calls = {"n": 0}

    def policy(obs):
        calls["n"] += 1
        if calls["n"] > 150:
            raise error("stop")
        return np.zeros(1, dtype=np.float32)

    with pytest.raises(error):
        collect("InvertedPendulum", 1000, path, policy=policy, progress=False, chunk_steps=30)
    t = load_transitions(path)  # readable
    assert 0 < len(t) <= 150 and len(t) == count_steps(path)
    assert t.terminations[-1] or t.truncations[-1]  # only whole episodes were kept
    assert collection_info(path)["collections"][-1]["status"] == "interrupted"
    # A later collection appends after them and completes normally.
    collect("InvertedPendulum", 20, path, seed=1, progress=False)
    assert count_steps(path) == len(t) + 20


def test_leftovers_of_a_crash_mid_commit_are_invisible_then_removed(tmp_path):
    path = tmp_path / "ds"
    collect("InvertedPendulum", 50, path, progress=False)
    n_ep = minari.MinariDataset(path).total_episodes
    stray = path / str(n_ep)  # as if a crash hit between the rename and the metadata update
    stray.mkdir()
    (stray / "part-0.arrow").write_bytes(b"garbage")
    (path / ".genenv-staging-dead").mkdir()
    assert len(load_transitions(path)) == 50  # still readable, garbage unseen
    collect("InvertedPendulum", 10, path, seed=1, progress=False)
    assert len(load_transitions(path)) == 60
    assert not (path / ".genenv-staging-dead").exists()


def test_bad_inputs_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="steps"):
        collect("InvertedPendulum", 0, tmp_path / "a", progress=False)
    collect("InvertedPendulum", 5, tmp_path / "a", progress=False)
    with pytest.raises(ValueError, match="task InvertedPendulum"):
        collect("Reacher", 5, tmp_path / "a", progress=False)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty"):
        collect("InvertedPendulum", 5, tmp_path / "b", progress=False)
    with pytest.raises(FileNotFoundError):
        load_transitions(tmp_path / "nothing")
    with pytest.raises(ValueError, match="non-finite"):
        collect("InvertedPendulum", 5, tmp_path / "c", policy=lambda o: [np.nan], progress=False)


def test_sb3_zip_policy_is_loaded_by_its_own_algorithm(tmp_path):
    from stable_baselines3 import PPO, SAC

    env = WorldSpec("InvertedPendulum").make_env()
    PPO("MlpPolicy", env, n_steps=64, batch_size=64).save(tmp_path / "ppo.zip")
    SAC("MlpPolicy", env, buffer_size=100).save(tmp_path / "sac.zip")
    assert sb3_algorithm_name(tmp_path / "ppo.zip") == "PPO"
    assert sb3_algorithm_name(tmp_path / "sac.zip") == "SAC"
    collect("InvertedPendulum", 30, tmp_path / "ds", policy=tmp_path / "sac.zip", progress=False)
    assert collection_info(tmp_path / "ds")["collections"][0]["policy"] == "sb3:SAC:sac.zip"
    (tmp_path / "x.zip").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="stable-baselines3"):
        sb3_algorithm_name(tmp_path / "x.zip")


def test_collect_cli(tmp_path, capsys):
    out = tmp_path / "ds"
    argv = ["collect", "--task", "InvertedPendulum", "--steps", "40", "--out", str(out)]
    assert cli_main([*argv, "--context", "gravity=5", "--no-progress"]) == 0
    assert "collected 40 steps" in capsys.readouterr().out
    assert {s.context.gravity for s in episode_specs(out)} == {5.0}
    argv += ["--seed", "1"]  # (the same seed again would be refused: no duplicate episodes)
    assert cli_main([*argv, "--sample-contexts", "--context", "gravity=5", "--no-progress"]) == 0
    specs = episode_specs(out)
    assert count_steps(out) == 80 and {s.context.gravity for s in specs} == {5.0}
    assert len({s.context.mass_scale for s in specs}) > 1
    assert cli_main([*argv, "--context", "gravity=500"]) == 2
    assert "gravity" in capsys.readouterr().err
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["genenv"]["task"] == "InvertedPendulum" and meta["data_format"] == "arrow"
