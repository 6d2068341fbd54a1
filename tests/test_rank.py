"""`genenv rank`: two tiny policies ranked in a tiny world model and in the real world."""

import json

import numpy as np
import pytest
from stable_baselines3 import PPO

from genenv.cli import main
from genenv.data import collect, load_transitions
from genenv.models.checkpoint import load_checkpoint, save_checkpoint
from genenv.models.ensemble import EnsembleConfig
from genenv.models.train import TrainConfig, train_world_model
from genenv.transfer import descending_ranks, run_real_episodes, transfer_test
from genenv.worlds import WorldSpec


@pytest.fixture(scope="module")
def world_and_policies(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rank")
    spec = WorldSpec("InvertedPendulum")
    collect(spec, 300, tmp / "data", seed=1, progress=False)
    small = EnsembleConfig(ensemble_size=2, num_elites=1, hidden_size=16, num_layers=1)
    model, _ = train_world_model(
        load_transitions(tmp / "data"), TrainConfig(max_epochs=2), progress=False, ensemble=small
    )
    world = save_checkpoint(model, tmp / "world")
    env = spec.make_env()
    paths = []
    for seed in (1, 2):  # two tiny untrained policies that act differently
        agent = PPO("MlpPolicy", env, n_steps=8, batch_size=8, seed=seed, device="cpu",
                    policy_kwargs={"net_arch": [4]})  # fmt: skip
        paths.append(tmp / f"p{seed}.zip")
        agent.save(paths[-1])
    env.close()
    return world, paths


def test_rank_two_tiny_policies(world_and_policies, tmp_path, capsys):
    world, (p1, p2) = world_and_policies
    out = tmp_path / "rank.json"
    argv = ["rank", "--world", str(world), "--policies", str(p1), str(p2), "random"]
    argv += ["--dream-samples", "3"]
    assert main([*argv, "--episodes", "2", "--max-steps", "30", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Spearman" in printed and "Pearson" in printed and str(p1) in printed
    result = json.loads(out.read_text())
    rows = {r["name"]: r for r in result["policies"]}
    assert set(rows) == {str(p1), str(p2), "random"}
    for r in rows.values():
        assert len(r["real_returns"]) == len(r["imagined_returns"]) == 2
        assert r["real_return"] == pytest.approx(np.mean(r["real_returns"]))
        assert all(0 <= x <= 30 for x in r["real_returns"])  # horizon honoured
    # The real returns are what the policy scores in the real env from those seeds.
    agent = PPO.load(p1, device="cpu")
    real, steps, _ = run_real_episodes(agent, WorldSpec("InvertedPendulum"), 2, 0, True, 30)
    assert rows[str(p1)]["real_returns"] == pytest.approx(real)
    assert result["real_env_steps"] >= steps
    # Ranks: 1 is best, ties share their mean rank, and they agree with the returns.
    names = list(rows)
    for key in ("imagined", "real"):
        expected = descending_ranks([rows[n][f"{key}_return"] for n in names])
        assert [rows[n][f"{key}_rank"] for n in names] == expected
    assert result["spearman"] is None or -1.0 <= result["spearman"] <= 1.0
    assert result["world_spec"]["task"] == "InvertedPendulum" and result["episodes"] == 2
    assert result["dream_samples"] == 3


def test_imagined_episodes_per_start_are_averaged(world_and_policies):
    world, (p1, _) = world_and_policies
    model = load_checkpoint(world)
    model.config.sample = False  # one elite and no noise: every imagined episode is the same
    agent, spec = PPO.load(p1, device="cpu"), WorldSpec("InvertedPendulum")
    one = transfer_test(agent, model, spec, episodes=2, max_episode_steps=20)
    many = transfer_test(agent, model, spec, episodes=2, max_episode_steps=20, imagined_per_start=4)
    assert len(many.imagined_returns) == 2
    assert many.imagined_returns == pytest.approx(one.imagined_returns)
    assert many.real_returns == one.real_returns
    with pytest.raises(ValueError, match="imagined_per_start"):
        transfer_test(agent, model, spec, episodes=1, imagined_per_start=0)


def test_rank_bad_input_is_one_line_exit_2(world_and_policies, tmp_path, capsys):
    world, (p1, p2) = world_and_policies
    base = ["rank", "--world", str(world), "--policies"]
    cases = [
        ([*base, str(p1)], "at least two"),
        ([*base, str(p1), str(p1)], "twice"),
        ([*base, str(p1), str(tmp_path / "missing.zip")], "not found"),
        ([*base, str(p1), str(p2), "--episodes", "0"], "--episodes"),
        (["rank", "--world", str(tmp_path), "--policies", "random", str(p1)], "missing its"),
        (["rank", "--world", str(tmp_path / "nowhere"), "--policies", "random"], "no such"),
    ]
    for argv, needle in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.startswith("genenv rank: error:") and needle in err, err
        assert len(err.splitlines()) == 1
    # A policy for another task's observations is refused before any episode runs.
    env = WorldSpec("Reacher").make_env()
    PPO("MlpPolicy", env, n_steps=8, batch_size=8, device="cpu").save(tmp_path / "reacher.zip")
    env.close()
    assert main([*base, str(p1), str(tmp_path / "reacher.zip")]) == 2
    assert "observations of shape" in capsys.readouterr().err
