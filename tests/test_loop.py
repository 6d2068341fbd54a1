"""The `genenv run` loop: summary schema, exact real-step accounting, resume, and learnability."""

import json

import numpy as np
import pytest
import yaml

from genenv.data import count_steps, load_transitions
from genenv.loop import LoopConfig, run_loop
from genenv.transfer import transfer_test

TINY_RECIPE = """
algo: PPO
policy: MlpPolicy
n_envs: 16
total_timesteps: 1024
hyperparams: {n_steps: 32, batch_size: 256, n_epochs: 1}
policy_kwargs: {net_arch: [16, 16]}
env: {max_episode_steps: 16, start: states}
"""

SUMMARY_KEYS = {
    "task": str,
    "real_env_steps": int,
    "eval_real_env_steps": int,
    "imagined_env_steps": int,
    "transfer": list,
    "final_real_return": float,
}
TRANSFER_KEYS = {"imagined_steps", "real_env_steps", "imagined_return", "real_return", "gap"}


def _tiny_config(tmp_path, **kw):
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(TINY_RECIPE)
    base = dict(
        task="InvertedPendulum",
        real_steps=700,
        initial_steps=300,
        steps_per_iteration=250,
        recipe=str(recipe),
        eval_every=512,
        eval_episodes=2,
        train_epochs=2,
        video=False,
    )
    return LoopConfig(**{**base, **kw})


def test_summary_schema_and_exact_real_step_accounting(tmp_path):
    out = tmp_path / "run"
    summary = run_loop(out, _tiny_config(tmp_path))
    on_disk = json.loads((out / "summary.json").read_text())
    for key, kind in SUMMARY_KEYS.items():
        assert isinstance(on_disk[key], kind), key
    assert on_disk["task"] == "InvertedPendulum"
    # 300 random + 250 agent + 150 agent (the last iteration takes only what the budget leaves).
    assert (
        on_disk["real_env_steps"]
        == 700
        == count_steps(out / "data")
        == len(load_transitions(out / "data"))
    )
    assert on_disk["iterations"] == 3
    assert on_disk["imagined_env_steps"] == 3 * 1024
    rows = on_disk["transfer"]
    assert len(rows) == 3 * 2  # eval_every=512 -> two tests per 1024-step iteration
    assert all(set(r) >= TRANSFER_KEYS for r in rows)
    assert [r["real_env_steps"] for r in rows] == [300, 300, 550, 550, 700, 700]
    # Evaluation steps are counted apart. InvertedPendulum-v5 pays 1 per step except 0 on the
    # step that terminates, so an episode that falls took (its return + 1) real steps.
    assert all(r["real_return"] < 999 for r in rows)  # an untrained agent falls in every episode
    assert on_disk["eval_real_env_steps"] == round(sum(2 * r["real_return"] + 2 for r in rows))
    assert on_disk["final_real_return"] == rows[-1]["real_return"]
    assert summary["real_env_steps"] == 700
    for name in ("config.yaml", "state.json", "world/metadata.json", "agent/agent.zip"):
        assert (out / name).exists(), name
    assert list((out / "tb").glob("events.out.tfevents.*"))
    # Fidelity: a transfer ratio per test and the correlations across all tests, in both places.
    fid = on_disk["fidelity"]
    assert fid["tests"] == len(rows) and len(fid["transfer_ratio"]) == len(rows)
    assert fid["transfer_ratio"][-1] == pytest.approx(
        rows[-1]["real_return"] / rows[-1]["imagined_return"]
    )
    assert set(fid) >= {"spearman", "pearson", "final_transfer_ratio"}
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(out / "tb"))
    acc.Reload()
    assert "transfer/ratio" in acc.Tags()["scalars"]


def test_imagined_steps_count_what_the_agent_stepped(tmp_path):
    """A chunk that is not a whole number of rollouts: SB3 PPO (16 envs x 32 steps = 512 per
    rollout) asked for 300 steps runs 512; the summary counts the 512, not the 300."""
    import zipfile

    out = tmp_path / "run"
    config = _tiny_config(tmp_path, real_steps=550, eval_every=300, imagined_steps=700)
    summary = run_loop(out, config)
    # per iteration: ask 300 -> 512 stepped; ask min(300, 700 - 512) = 188 -> 512 stepped
    assert summary["iterations"] == 2
    assert summary["imagined_env_steps"] == 2 * 1024
    assert [r["imagined_steps"] for r in summary["transfer"]] == [512, 1024, 1536, 2048]
    with zipfile.ZipFile(out / "agent" / "agent.zip") as zf:  # the agent's own counter
        assert json.loads(zf.read("data"))["num_timesteps"] == summary["imagined_env_steps"]
    assert json.loads((out / "state.json").read_text())["imagined_env_steps"] == 2048


def test_resume_after_interruption_loses_no_data(tmp_path, monkeypatch, capsys):
    import genenv.loop as loop

    out, config = tmp_path / "run", _tiny_config(tmp_path)
    real_train = loop.Run.train_world
    calls = {"n": 0}

    def crash_on_second_training(self, previous=None):
        calls["n"] += 1
        if calls["n"] == 2:  # after the agent's first real collection, before the refit
            raise KeyboardInterrupt
        return real_train(self, previous)

    monkeypatch.setattr(loop.Run, "train_world", crash_on_second_training)
    with pytest.raises(KeyboardInterrupt):
        run_loop(out, config)
    before = load_transitions(out / "data")
    assert len(before) == 550  # the random steps and the agent's first collection are on disk
    monkeypatch.setattr(loop.Run, "train_world", real_train)
    # the recipe file changes while the run is stopped: the run goes on with the one it began with
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(recipe.read_text().replace("net_arch: [16, 16]", "net_arch: [32, 32]"))
    capsys.readouterr()
    summary = run_loop(out, config, resume=True)
    assert "this run keeps the recipe it started with" in capsys.readouterr().out
    started = yaml.safe_load((out / "config.yaml").read_text())["recipe"]
    assert started["policy_kwargs"] == {"net_arch": [16, 16]}
    after = load_transitions(out / "data")
    assert summary["real_env_steps"] == len(after) == 700
    assert np.array_equal(after.obs[:550], before.obs)  # nothing collected earlier was lost
    assert summary["done"] is True
    recipe.unlink()  # the recipe file gone: the run still resumes, on the recipe it recorded
    assert run_loop(out, config, resume=True)["real_env_steps"] == 700
    assert "keeps the recipe it started with" in capsys.readouterr().out


@pytest.mark.expensive
def test_learns_inverted_pendulum_in_imagination(tmp_path):
    """Trained only in imagination, with at most 3,000 real training steps, the agent reaches a
    real return of at least 500 (the stock task's maximum is 1000)."""
    config = LoopConfig(
        task="InvertedPendulum",
        real_steps=3000,
        initial_steps=2000,
        steps_per_iteration=1000,
        recipe="ppo",
        eval_every=50_000,
        eval_episodes=3,
        target_return=500.0,
        video=False,
    )
    summary = run_loop(tmp_path / "run", config)
    assert summary["real_env_steps"] <= 3000
    assert summary["final_real_return"] >= 500.0
    from genenv.agents.sb3 import load_policy
    from genenv.models.checkpoint import load_checkpoint

    agent = load_policy(tmp_path / "run" / "agent" / "agent.zip")
    model = load_checkpoint(tmp_path / "run" / "world")
    fresh = transfer_test(agent, model, config.spec(), episodes=3, seed=123)
    assert fresh.real_return >= 500.0  # holds on unseen start states too
