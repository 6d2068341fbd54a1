"""On-device PPO: recipe parsing, GAE and truncation bootstrapping, a tensor-only training loop,
save/load, and (expensive) learning InvertedPendulum in imagination to a real return >= 500."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
import yaml
from gymnasium.vector import AutoresetMode

from genenv.agents.ppo import OnDevicePPO, PPOConfig
from genenv.envs.vector import DreamVectorEnv
from genenv.models.ensemble import EnsembleConfig, EnsembleWorldModel
from genenv.worlds import CONTEXT_FIELDS, WorldSpec

RECIPE = Path(__file__).resolve().parents[1] / "agents" / "ppo.yaml"
TINY = dict(n_steps=8, batch_size=64, n_epochs=2, net_arch_pi=[16], net_arch_vf=[16])


def _dream(num_envs: int = 16, mode: str = "same_step") -> DreamVectorEnv:
    torch.manual_seed(0)
    model = EnsembleWorldModel(
        "InvertedPendulum",
        4,
        1,
        len(CONTEXT_FIELDS),
        EnsembleConfig(ensemble_size=2, num_elites=1, hidden_size=16),
        action_low=-3.0,
        action_high=3.0,
    )
    return DreamVectorEnv(
        "InvertedPendulum", model, num_envs, max_episode_steps=5, autoreset_mode=mode
    )


class CountingEnv:
    """n slots; obs = [steps into the episode]; reward 1; never terminates; truncates after 3
    steps. Its final observation (3) differs from every reset observation (0)."""

    def __init__(self, n: int, mode: str):
        self.num_envs, self.mode = n, mode
        auto = AutoresetMode.SAME_STEP if mode == "same_step" else AutoresetMode.NEXT_STEP
        self.metadata = {"autoreset_mode": auto}
        self.single_observation_space = gym.spaces.Box(-10, 10, (1,), np.float32)
        self.single_action_space = gym.spaces.Box(-1, 1, (1,), np.float32)

    def reset_tensor(self, seed=None):
        self.k = torch.zeros(self.num_envs)
        self.pending = torch.zeros(self.num_envs, dtype=torch.bool)
        return self.k[:, None].clone()

    def step_tensor(self, actions):
        n, false = self.num_envs, torch.zeros(self.num_envs, dtype=torch.bool)
        if self.mode == "next_step" and bool(self.pending.all()):
            self.k, self.pending = torch.zeros(n), false
            return self.k[:, None].clone(), torch.zeros(n), false, false, {}
        self.k = self.k + 1
        trunc = self.k >= 3
        obs = self.k[:, None].clone()
        if self.mode == "next_step":
            self.pending = trunc
            return obs, torch.ones(n), false, trunc, {}
        self.k = torch.where(trunc, 0.0, self.k)
        info = {"final_obs": obs, "_final_obs": trunc}
        return self.k[:, None].clone(), torch.ones(n), false, trunc, info


def test_from_recipe_reads_the_sb3_recipe():
    recipe = yaml.safe_load(RECIPE.read_text())
    cfg = PPOConfig.from_recipe(recipe)
    hp = recipe["hyperparams"]
    assert (cfg.n_steps, cfg.batch_size, cfg.n_epochs) == (
        hp["n_steps"],
        hp["batch_size"],
        hp["n_epochs"],
    )
    assert cfg.learning_rate == hp["learning_rate"] and cfg.gamma == hp["gamma"]
    assert cfg.net_arch_pi == cfg.net_arch_vf == list(recipe["policy_kwargs"]["net_arch"])
    cheetah = PPOConfig.from_recipe(recipe, task="HalfCheetah")
    assert cheetah.net_arch_pi == list(recipe["tasks"]["HalfCheetah"]["policy_kwargs"]["net_arch"])
    assert not cfg.normalize_obs  # SB3 runs without VecNormalize unless the recipe says so


def test_from_recipe_rejects_what_it_cannot_honour():
    with pytest.raises(ValueError, match="unknown PPO hyper-parameter"):
        PPOConfig.from_recipe({"algo": "PPO", "hyperparams": {"n_stepz": 8}})
    with pytest.raises(ValueError, match="gSDE"):
        PPOConfig.from_recipe({"algo": "PPO", "hyperparams": {"use_sde": True}})
    with pytest.raises(ValueError, match="algo"):
        PPOConfig.from_recipe({"algo": "SAC"})
    cfg = PPOConfig.from_recipe(
        {
            "algo": "PPO",
            "hyperparams": {"learning_rate": "lin_1e-3"},
            "policy_kwargs": {"net_arch": {"pi": [8], "vf": [32, 32]}},
        }
    )
    assert (cfg.learning_rate, cfg.lr_schedule) == (1e-3, "linear")
    assert (cfg.net_arch_pi, cfg.net_arch_vf) == ([8], [32, 32])


def test_gae_matches_hand_computation():
    agent = OnDevicePPO(_dream(1), PPOConfig(gamma=0.9, gae_lambda=0.5, **TINY))
    rew = torch.tensor([[1.0], [2.0], [3.0]])  # (T=3, n=1)
    val = torch.tensor([[0.5], [1.0], [1.5]])
    done = torch.tensor([[False], [True], [False]])
    adv = agent._gae(rew, val, done, torch.tensor([4.0]))
    d2 = 3.0 + 0.9 * 4.0 - 1.5
    d1 = 2.0 - 1.0  # episode ends at t=1: no bootstrap, no carry
    d0 = 1.0 + 0.9 * 1.0 - 0.5 + 0.9 * 0.5 * d1
    torch.testing.assert_close(adv.squeeze(1), torch.tensor([d0, d1, d2]))


@pytest.mark.parametrize("mode", ["same_step", "next_step"])
def test_truncation_bootstraps_from_the_final_observation(mode, monkeypatch):
    env = CountingEnv(2, mode)
    cfg = PPOConfig(gamma=0.5, normalize_obs=False, **{**TINY, "n_steps": 8})
    agent = OnDevicePPO(env, cfg)
    monkeypatch.setattr(agent.policy, "value", lambda obs: obs[:, 0])  # V(obs) = obs
    seen = {}
    real_gae, real_update = agent._gae, agent._update

    def spy_gae(rew, val, done, last):
        seen["rew"], seen["done"] = rew.clone(), done.clone()
        return real_gae(rew, val, done, last)

    def spy_update(obs, u, logp, val, adv, valid, lr):
        seen["valid"] = valid.clone()
        return real_update(obs, u, logp, val, adv, valid, lr)

    monkeypatch.setattr(agent, "_gae", spy_gae)
    monkeypatch.setattr(agent, "_update", spy_update)
    agent.learn(16, progress=False)
    rew, done, valid = seen["rew"][:, 0], seen["done"][:, 0], seen["valid"][:, 0]
    # Truncated steps carry reward 1 + gamma * V(final obs = 3), never V(reset obs = 0).
    assert torch.all(rew[done] == 1.0 + 0.5 * 3.0)
    assert torch.all(rew[valid & ~done] == 1.0)
    if mode == "next_step":  # the reset step after each truncation is not a transition
        expected = torch.tensor([True, True, True, False] * 2)
    else:
        expected = torch.ones(8, dtype=torch.bool)
    assert torch.equal(valid, expected)


@pytest.mark.parametrize("mode", ["same_step", "next_step"])
def test_learn_stays_on_tensors(mode, monkeypatch):
    env = _dream(16, mode)

    def no_numpy(*args, **kwargs):
        raise AssertionError("numpy used inside the on-device training loop")

    monkeypatch.setattr(torch.Tensor, "numpy", no_numpy)
    monkeypatch.setattr(torch.Tensor, "__array__", no_numpy)
    monkeypatch.setattr(env, "step", no_numpy)  # the env's numpy API
    monkeypatch.setattr(env, "reset", no_numpy)
    stats_seen = []
    agent = OnDevicePPO(env, PPOConfig(**TINY))
    agent.learn(16 * 8 * 2, progress=False, callback=lambda a, s: stats_seen.append(s))
    assert agent.num_timesteps == 256 and len(stats_seen) == 2
    assert all(np.isfinite(s["losses/value_loss"]) for s in stats_seen)


def test_callback_false_stops_training():
    agent = OnDevicePPO(_dream(8), PPOConfig(**TINY))
    agent.learn(8 * 8 * 5, progress=False, callback=lambda a, s: False)
    assert agent.num_timesteps == 64


def test_save_load_round_trip_gives_identical_predictions(tmp_path):
    cfg = PPOConfig(normalize_obs=True, **TINY)
    agent = OnDevicePPO(_dream(16), cfg).learn(16 * 8 * 2, progress=False)
    agent.save(tmp_path / "agent")
    loaded = OnDevicePPO.load(tmp_path / "agent")
    obs = np.random.default_rng(0).normal(size=(32, 4)).astype(np.float32)
    a1, _ = agent.predict(obs)
    a2, _ = loaded.predict(obs)
    assert isinstance(a2, np.ndarray) and a2.shape == (32, 1)
    np.testing.assert_array_equal(a1, a2)
    assert loaded.num_timesteps == agent.num_timesteps and loaded.config == agent.config
    single, _ = loaded.predict(obs[0])
    assert single.shape == (1,) and np.all(np.abs(single) <= 3.0)
    with pytest.raises(FileNotFoundError):
        OnDevicePPO.load(tmp_path / "missing")


@pytest.mark.expensive
def test_learns_inverted_pendulum_in_imagination(tmp_path):
    """2500 random real steps -> world model -> on-device PPO in imagination -> real return."""
    from genenv.data.collect import collect
    from genenv.data.load import load_transitions
    from genenv.models.train import TrainConfig, train_world_model

    data = load_transitions(
        collect("InvertedPendulum", 2500, tmp_path / "d", seed=0, progress=False)
    )
    model, _ = train_world_model(
        data, TrainConfig(max_epochs=100, max_time_s=None, seed=0), progress=False
    )
    env = DreamVectorEnv(
        "InvertedPendulum",
        model,
        256,
        max_episode_steps=100,
        start="states",
        autoreset_mode="same_step",
    )
    # More gradient steps per sample than the SB3 recipe (batch 512, 10 epochs): learns in ~100k.
    cfg = PPOConfig(
        n_steps=32, batch_size=512, n_epochs=10, learning_rate=1e-3, normalize_obs=True, seed=0
    )
    agent = OnDevicePPO(env, cfg).learn(120_000, progress=False)
    returns = []
    for ep in range(3):
        real = WorldSpec("InvertedPendulum").make_env()
        obs, _ = real.reset(seed=100 + ep)
        total, done = 0.0, False
        while not done:
            obs, r, term, trunc, _ = real.step(agent.predict(obs)[0])
            total, done = total + float(r), term or trunc
        returns.append(total)
    assert np.mean(returns) >= 500, returns


def test_recipe_api_continues_runs_and_swaps_envs(tmp_path):
    """What `genenv.agents.sb3.build_agent` and the loop call: from_recipe(Recipe, env, seed,
    tensorboard_log), SB3-style learn kwargs that continue a run, and set_dream_env."""
    from genenv.agents.recipe import load_recipe

    recipe = load_recipe(RECIPE, "InvertedPendulum")
    recipe.hyperparams.update(n_steps=4, batch_size=64, n_epochs=1)
    env = _dream(16)
    agent = OnDevicePPO.from_recipe(recipe, env, seed=3, tensorboard_log=str(tmp_path / "tb"))
    assert agent.config.seed == 3 and agent.config.n_steps == 4
    agent.learn(64, reset_num_timesteps=False, progress_bar=False)
    agent.learn(64, reset_num_timesteps=False, progress_bar=False)
    assert agent.num_timesteps == 128
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))
    agent.set_dream_env(_dream(8))
    agent.learn(32, reset_num_timesteps=False, progress_bar=False)
    assert agent.num_timesteps == 160 and agent.env.num_envs == 8
    agent.learn(32, progress_bar=False)  # SB3 default: the count starts again
    assert agent.num_timesteps == 32


@pytest.mark.parametrize(
    "options", [dict(squash="tanh"), dict(normalize_reward=True, clip_range_vf=0.2, target_kl=0.01)]
)
def test_optional_features_train_and_act_within_bounds(options):
    agent = OnDevicePPO(_dream(16), PPOConfig(**TINY, **options))
    stats = []
    agent.learn(16 * 8 * 2, progress=False, callback=lambda a, s: stats.append(s))
    assert all(np.isfinite(s["losses/policy_loss"]) for s in stats)
    obs = np.random.default_rng(1).normal(scale=5.0, size=(64, 4)).astype(np.float32)
    actions, _ = agent.predict(obs, deterministic=False)
    assert np.all(np.abs(actions) <= 3.0)


def test_load_rejects_corrupt_weights(tmp_path):
    agent = OnDevicePPO(_dream(4), PPOConfig(**TINY))
    folder = agent.save(tmp_path / "agent")
    (folder / "ppo.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="cannot load"):
        OnDevicePPO.load(folder)


def test_train_agent_saves_an_ondevice_agent_as_a_folder_not_a_zip(tmp_path):
    """`genenv train-agent` with an on-device recipe writes OUT/agent/policy/ (safetensors + JSON),
    and the run's agent folder loads back through agent.json."""
    from genenv.agents.sb3 import load_policy
    from genenv.cli import main
    from genenv.envs.testing import random_world_model
    from genenv.models.checkpoint import save_checkpoint

    world = save_checkpoint(
        random_world_model("InvertedPendulum", EnsembleConfig(2, 1, 16, 1)), tmp_path / "world"
    )
    recipe = yaml.safe_load(RECIPE.read_text())
    recipe.update(algo="OnDevicePPO", n_envs=8, total_timesteps=64, tasks={})
    recipe["hyperparams"].update(n_steps=4, batch_size=32, n_epochs=1)
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(recipe))
    out = tmp_path / "run"
    argv = ["train-agent", "--recipe", str(tmp_path / "tiny.yaml"), "--world", str(world)]
    assert main([*argv, "--out", str(out), "--eval-every", "64", "--eval-episodes", "1"]) == 0
    assert (out / "agent" / "policy").is_dir() and not (out / "agent" / "agent.zip").exists()
    assert isinstance(load_policy(out / "agent"), OnDevicePPO)
