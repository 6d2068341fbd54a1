"""The one loop with world schedules: fixed, uniform DR, robust PLR (PLR-perp), ACCEL; `genenv run
--worlds` and `genenv curriculum` share its transfer test, state/resume and summary schema."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from genenv.cli import main
from genenv.curricula.heldout import HeldOutRegion, draw_heldout_worlds, inside_ranges
from genenv.curricula.schedule import SCHEDULES, WorldSchedule
from genenv.curricula.spec import spec_from_dict
from genenv.curriculum_cli import loop_config
from genenv.loop import run_loop
from genenv.worlds.tasks import get_task

TASK = "InvertedPendulum"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    import torch

    from genenv.models.checkpoint import save_checkpoint
    from genenv.models.ensemble import EnsembleConfig, EnsembleWorldModel

    torch.manual_seed(0)
    model = EnsembleWorldModel(TASK, 4, 1, 6, EnsembleConfig(3, 2, 16, 1), [-3.0], [3.0])
    model.start_obs = torch.randn(8, 4) * 0.01
    model.real_obs = torch.randn(8, 4) * 0.01
    return save_checkpoint(model, tmp_path_factory.mktemp("w") / "world")


def _spec_dict(world, **overrides):
    return {
        "task": TASK,
        "world": {"checkpoint": str(world)},
        "seeds": {"prompts": [], "random": 2, "default": True},
        "plr": {"capacity": 64, "replay_prob": 0.5, "min_replay_levels": 2},
        "agent": {"n_envs": 4, "horizon": 5, "hyperparams": {"n_steps": 16, "batch_size": 32}},
        "budget": {"imagined_steps": 256, "iterations": 2, "transfer_episodes": 1,
                   "transfer_worlds": 1},
        "eval": {"episodes": 1, "worlds": [{"context": {"gravity": 18.0}}]},
        **overrides,
    }  # fmt: skip


def _run(tmp_path, world, kind):
    spec = spec_from_dict(_spec_dict(world))
    out = tmp_path / kind
    return run_loop(out, loop_config(spec, kind, out), worlds=spec), out


@pytest.fixture(scope="module")
def runs(tmp_path_factory, world):
    tmp = tmp_path_factory.mktemp("runs")
    return {kind: _run(tmp, world, kind) for kind in SCHEDULES}


def test_every_schedule_kind_runs_in_the_one_loop_with_one_summary_schema(runs):
    keys = {kind: set(summary) for kind, (summary, _) in runs.items()}
    assert len({frozenset(k) for k in keys.values()}) == 1  # one schema
    for kind, (summary, out) in runs.items():
        assert summary["schedule"]["kind"] == kind and summary["done"]
        assert summary["imagined_env_steps"] >= 256 and summary["real_env_steps"] == 0
        assert np.isfinite(summary["eval"]["mean_return"])
        assert summary["eval"]["worlds"][0]["world"]["context"]["gravity"] == 18.0
        assert {r["test"] for r in summary["transfer"]} == {1, 2}  # a test per budget iteration
        for name in (
            "config.yaml",
            "worlds.yaml",
            "schedule.json",
            "state.json",
            "agent/agent.zip",
        ):
            assert (out / name).is_file(), (kind, name)


def test_schedule_kinds_differ_as_they_should(runs):
    fixed, uniform, plr, accel = (runs[k][0]["schedule"] for k in SCHEDULES)
    assert fixed["masked_share"] == 0.0 and uniform["masked_share"] == 0.0
    assert 0.0 < plr["masked_share"] < 1.0 and 0.0 < accel["masked_share"] < 1.0  # robust PLR
    assert plr["counts"]["replay"] > 0 and accel["counts"]["replay"] > 0
    plr_sources = {lv["provenance"]["source"] for lv in plr["top_levels"]}
    state = json.loads((runs["plr"][1] / "schedule.json").read_text())["curriculum"]
    plr_sources |= {lv["provenance"]["source"] for lv in state["buffer"]["levels"]}
    assert "mutation" not in plr_sources  # PLR-perp never mutates
    accel_state = json.loads((runs["accel"][1] / "schedule.json").read_text())["curriculum"]
    sources = {lv["provenance"]["source"] for lv in accel_state["buffer"]["levels"]}
    assert accel_state["buffer"]["levels"] and sources <= {"default", "random", "mutation"}
    # transfer tests: the run's world, plus the top buffer level for plr/accel
    assert {r["world_index"] for r in runs["fixed"][0]["transfer"]} == {0}
    assert {r["world_index"] for r in runs["accel"][0]["transfer"]} == {0, 1}


def test_robust_plr_trains_nothing_on_new_levels(world):
    from genenv.agents.sb3 import build_agent
    from genenv.envs.vector import DreamVectorEnv
    from genenv.models.checkpoint import load_checkpoint

    spec = spec_from_dict(_spec_dict(world))
    recipe = spec.recipe()
    dream = DreamVectorEnv(task=TASK, world=load_checkpoint(world), num_envs=4, **recipe.env)
    agent = build_agent(recipe, dream, seed=0)
    schedule = WorldSchedule(spec, "plr")
    callback = schedule.attach(agent, agent.get_env())
    agent.learn(64, callback=callback)
    mask = np.stack(callback._explore_rows)  # (n_steps, n_envs) of the last rollout
    mask = mask.swapaxes(0, 1).reshape(-1)  # as SB3 flattens its buffer for training
    buffer = agent.rollout_buffer
    adv, returns, values = (
        x.reshape(-1) for x in (buffer.advantages, buffer.returns, buffer.values)
    )
    assert mask.any() and not agent.normalize_advantage
    assert np.all(adv[mask] == 0.0)
    np.testing.assert_array_equal(returns[mask], values[mask])
    trained = adv[~mask]
    if trained.size > 1:
        assert abs(trained.mean()) < 1e-5  # normalised over the steps that train


def test_resume_continues_the_schedule_and_loses_no_levels(tmp_path, world):
    summary, out = _run(tmp_path, world, "accel")
    state = json.loads((out / "state.json").read_text())
    before = json.loads((out / "schedule.json").read_text())["curriculum"]["buffer"]
    # As if killed after the first transfer test.
    state.update(done=False, eval=None, iteration=0, iteration_imagined_steps=128,
                 transfer=state["transfer"][:2])  # fmt: skip
    (out / "state.json").write_text(json.dumps(state))
    config = yaml.safe_load((out / "config.yaml").read_text())["loop"]
    from genenv.loop import LoopConfig

    resumed = run_loop(out, LoopConfig(**config), resume=True)
    after = json.loads((out / "schedule.json").read_text())["curriculum"]["buffer"]
    assert resumed["done"] and resumed["eval"] is not None
    assert after["episode_count"] > before["episode_count"]
    assert resumed["schedule"]["episodes_scored"] > summary["schedule"]["episodes_scored"]
    with pytest.raises(ValueError, match="already holds a run"):
        run_loop(out, LoopConfig(**config))


def test_run_worlds_and_curriculum_are_the_same_loop(tmp_path, world):
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(_spec_dict(world)))
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["curriculum", "--spec", str(spec_file), "--out", str(a), "--schedule", "plr",
                 "--no-progress"]) == 0  # fmt: skip
    assert main(["run", "--worlds", str(spec_file), "--schedule", "plr", "--world", str(world),
                 "--imagined-steps", "256", "--eval-every", "128", "--eval-episodes", "1",
                 "--out", str(b), "--no-video", "--no-progress"]) == 0  # fmt: skip
    sa = json.loads((a / "summary.json").read_text())
    sb = json.loads((b / "summary.json").read_text())
    assert set(sa) == set(sb) and set(sa["schedule"]) == set(sb["schedule"])
    assert sa["schedule"]["kind"] == sb["schedule"]["kind"] == "plr"
    assert sa["transfer"][0].keys() == sb["transfer"][0].keys()
    assert main(["curriculum", "--out", str(a), "--resume", "--no-progress"]) == 0
    assert main(["run", "--schedule", "plr", "--out", str(tmp_path / "c"), "--no-progress"]) == 2


def test_heldout_worlds_are_outside_the_training_box_and_not_seed_worlds():
    for task in ("InvertedPendulum", "HalfCheetah"):
        ranges = get_task(task).train_ranges
        worlds = draw_heldout_worlds(task, 12, seed=7)
        assert worlds == draw_heldout_worlds(task, 12, seed=7)  # a seeded procedure
        assert len(set(worlds)) == 12
        for w in worlds:
            assert not inside_ranges(w, ranges)
            outside = [k for k, (lo, hi) in ranges.items() if not lo <= getattr(w.context, k) <= hi]
            assert len(outside) == HeldOutRegion().outside
        spec = spec_from_dict({"task": task, "seeds": {"random": 8, "default": True}})
        seeds = [s for s, _ in WorldSchedule(spec, "accel").sampler.pending_seeds]
        assert all(inside_ranges(s, ranges) for s in seeds if s.context != s.context.__class__())
        assert not set(seeds) & set(worlds)
