"""The MBPO agent: branched rollouts, exact step counts, real share, saving and loading."""

import numpy as np
import torch

from genenv.agents.mbpo import MBPO, MBPOConfig
from genenv.agents.sb3 import load_policy, save_agent
from genenv.data.transitions import Transitions
from genenv.envs.testing import random_world_model
from genenv.envs.vector import DreamVectorEnv

TINY = dict(net_arch=[16, 16], batch_size=32, gradient_steps=2, learning_starts=16)


def _dream(n=8, k=3):
    model = random_world_model("Hopper", terminate=False, num_starts=16)
    return DreamVectorEnv("Hopper", model, num_envs=n, start="states", max_episode_steps=k)


def _real(n=50, seed=0):
    rng = np.random.default_rng(seed)
    f = np.float32
    return Transitions(
        "Hopper",
        rng.normal(size=(n, 11)).astype(f),
        rng.uniform(-1, 1, size=(n, 3)).astype(f),
        rng.normal(size=n).astype(f),
        rng.normal(size=(n, 11)).astype(f),
        np.zeros(n, bool),
        np.zeros(n, bool),
        np.ones((n, 6), f),
        np.zeros(n, np.int64),
    )


def test_learn_counts_whole_dream_steps_and_fills_the_buffer():
    agent = MBPO(_dream(n=8), MBPOConfig(**TINY))
    agent.learn(20, reset_num_timesteps=False)  # 3 dream steps of 8 slots
    assert agent.num_timesteps == 24 and agent.buffer.size == 24
    agent.learn(8, reset_num_timesteps=False)
    assert agent.num_timesteps == 32
    assert agent.sac.updates == 3 * 2  # from the 2nd dream step on (16 stored), 2 per step


def test_rollout_schedule_sets_the_dream_horizon_from_real_steps():
    env = _dream(k=3)
    cfg = MBPOConfig(**TINY, rollout_schedule=[100, 200, 1, 11])
    agent = MBPO(env, cfg)
    assert env.max_episode_steps == 1  # no real data yet: k_a
    agent.observe_real(_real(150))
    assert env.max_episode_steps == 6 and agent.real.size == 150
    agent.observe_real(_real(500))
    assert env.max_episode_steps == 11
    assert MBPOConfig(rollout_schedule=None).rollout_length(10**6) is None


def test_batches_mix_real_transitions():
    agent = MBPO(_dream(), MBPOConfig(**TINY, real_ratio=0.25))
    agent.learn(16, reset_num_timesteps=False)
    agent.observe_real(_real(40))
    batch = agent._batch()
    real_obs = agent.real.data["obs"][:40]
    from_real = (batch["obs"][:, None, :] == real_obs[None]).all(-1).any(-1)  # (b,)
    assert int(from_real.sum()) == 8  # 25% of 32


def test_save_and_load_round_trip_without_pickle(tmp_path):
    agent = MBPO(_dream(), MBPOConfig(**TINY))
    agent.learn(24, reset_num_timesteps=False)
    path = save_agent(agent, tmp_path / "agent" / "policy", "MBPO")
    assert sorted(p.name for p in path.iterdir()) == ["mbpo.json", "mbpo.safetensors"]
    loaded = load_policy(tmp_path / "agent")
    obs = np.random.default_rng(0).normal(size=(5, 11)).astype(np.float32)
    a, _ = agent.predict(obs, deterministic=True)
    b, _ = loaded.predict(obs, deterministic=True)
    assert np.allclose(a, b) and a.shape == (5, 3)
    assert loaded.num_timesteps == agent.num_timesteps
    single, _ = loaded.predict(obs[0])
    assert single.shape == (3,) and np.all(np.abs(single) <= 1.0)


def test_truncated_rollouts_bootstrap_from_their_last_predicted_state():
    env = _dream(n=4, k=1)  # every step ends every rollout (truncation, not termination)
    agent = MBPO(env, MBPOConfig(**TINY))
    agent.learn(4, reset_num_timesteps=False)
    data = agent.buffer.data
    assert torch.all(data["done"][:4] == 0)  # truncation is not termination
    # next_obs is the model's prediction, not the fresh real start the slot was reset to
    assert not torch.equal(data["next_obs"][:4], env._obs)


def test_a_recipe_resolves_per_world_kind_top_level_then_task_then_the_task_s_kind(tmp_path):
    from pathlib import Path

    import pytest

    from genenv.agents.recipe import load_recipe

    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "algo: MBPO\nn_envs: 4\nhyperparams: {real_ratio: 0.05, gamma: 0.99}\n"
        "world_kinds: {latent: {n_envs: 8, hyperparams: {real_ratio: 0.2}}}\n"
        "tasks:\n  Reacher: {hyperparams: {gamma: 0.9}}\n"
        "  InvertedPendulum:\n    hyperparams: {gamma: 0.98}\n"
        "    world_kinds: {latent: {hyperparams: {real_ratio: 0.5}}}\n"
    )
    state = load_recipe(recipe, "InvertedPendulum")  # the default kind: a state world
    assert (state.n_envs, state.hyperparams) == (4, {"real_ratio": 0.05, "gamma": 0.98})
    pixel = load_recipe(recipe, "InvertedPendulum", "latent")
    assert (pixel.n_envs, pixel.hyperparams) == (8, {"real_ratio": 0.5, "gamma": 0.98})
    reacher = load_recipe(recipe, "Reacher", "latent")  # the top-level kind override only
    assert (reacher.n_envs, reacher.hyperparams) == (8, {"real_ratio": 0.2, "gamma": 0.9})
    with pytest.raises(ValueError, match="unknown world-model kind 'pixels'"):
        load_recipe(recipe, "InvertedPendulum", "pixels")
    # the shipped MBPO recipe: pixel InvertedPendulum runs take most of each batch from real data
    shipped = Path(__file__).resolve().parent.parent / "agents" / "mbpo.yaml"
    assert load_recipe(shipped, "InvertedPendulum", "latent").hyperparams["real_ratio"] == 0.8
    assert load_recipe(shipped, "InvertedPendulum").hyperparams["real_ratio"] == 0.05
