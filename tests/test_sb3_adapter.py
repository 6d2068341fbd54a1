"""DreamSB3VecEnv: SB3 semantics, per-slot specs through env_method, PPO and SAC train on it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode
from gymnasium.wrappers import TimeLimit
from stable_baselines3 import PPO, SAC
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import VecNormalize

from genenv.envs.sb3 import DreamSB3VecEnv
from genenv.envs.testing import random_world_model
from genenv.envs.vector import DreamVectorEnv
from genenv.models.ensemble import EnsembleConfig
from genenv.worlds.spec import WorldSpec

SMALL = EnsembleConfig(ensemble_size=3, num_elites=2, hidden_size=32, num_layers=2)


@pytest.fixture(scope="module")
def cheetah():
    return random_world_model("HalfCheetah", SMALL, terminate=False)


def adapter(model, n=4, steps=3, **kwargs):
    return DreamSB3VecEnv(
        task="HalfCheetah", world=model, num_envs=n, max_episode_steps=steps, **kwargs
    )


def test_truncation_gives_terminal_observation_and_timelimit_flag(cheetah):
    env = adapter(cheetah)
    env.seed(0)
    obs = env.reset()
    assert obs.shape == (4, 17) and obs.dtype == np.float32
    actions = np.zeros((4, 6), np.float32)
    last = None
    for t in range(3):
        last = obs
        obs, rew, dones, infos = env.step(actions)
        assert rew.dtype == np.float32 and dones.dtype == np.bool_ and len(infos) == 4
        assert dones.tolist() == [t == 2] * 4
    for i, info in enumerate(infos):
        assert info["TimeLimit.truncated"] is True
        term = info["terminal_observation"]
        assert term.shape == (17,) and term.dtype == np.float32
        assert not np.array_equal(term, obs[i])  # obs is already the next episode's first
        assert not np.array_equal(term, last[i])
        assert info["episode"]["l"] == 3
    starts = cheetah.start_obs.numpy()
    assert all(any(np.array_equal(o, s) for s in starts) for o in obs)


def test_termination_is_not_a_time_limit():
    model = random_world_model("HalfCheetah", SMALL, terminate=True)
    env = adapter(model, steps=1)  # terminates and hits the limit on the same step
    env.reset()
    _, _, dones, infos = env.step(np.zeros((4, 6), np.float32))
    assert dones.all()
    assert all(info["TimeLimit.truncated"] is False for info in infos)
    assert all("terminal_observation" in info for info in infos)


def test_adapter_runs_its_env_in_same_step_mode(cheetah):
    venv = DreamVectorEnv("HalfCheetah", cheetah, num_envs=2, max_episode_steps=1)
    venv.reset(seed=0)
    env = DreamSB3VecEnv(venv)
    assert venv.metadata["autoreset_mode"] is AutoresetMode.SAME_STEP
    with pytest.raises(RuntimeError, match="reset"):
        venv.step_tensor(torch.zeros(2, 6))  # switching modes needs a fresh start
    env.reset()
    _, _, dones, infos = env.step(np.zeros((2, 6), np.float32))
    assert dones.all() and all("terminal_observation" in i for i in infos)
    with pytest.raises(ValueError, match="not both"):
        DreamSB3VecEnv(venv, num_envs=3)


def test_env_method_set_spec_reaches_the_slots(cheetah):
    env = adapter(cheetah, n=3, steps=2)
    env.reset()
    low_g = WorldSpec("HalfCheetah").with_context(gravity=3.0)
    env.env_method("set_spec", low_g, indices=[2])
    assert env.venv.contexts[2, 0].item() == pytest.approx(9.81)  # from the next reset on
    env.step(np.zeros((3, 6), np.float32))
    env.step(np.zeros((3, 6), np.float32))  # SAME_STEP: the reset happens here
    assert env.venv.contexts[:, 0].tolist() == pytest.approx([9.81, 9.81, 3.0])
    assert env.get_attr("world_spec") == [WorldSpec("HalfCheetah")] * 2 + [low_g]
    assert env.env_method("get_spec", indices=[2]) == [low_g]
    env.set_attr("world_spec", low_g, indices=[0])
    env.reset()
    assert env.venv.contexts[0, 0].item() == pytest.approx(3.0)


def test_sb3_plumbing(cheetah):
    env = adapter(cheetah)
    assert env.get_attr("render_mode") == [None] * 4
    assert env.render_mode is None
    assert env.env_is_wrapped(TimeLimit) == [False] * 4
    assert env.seed(5) == [5, 6, 7, 8]
    a = env.reset()
    env.seed(5)
    b = env.reset()
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="shared"):
        env.set_attr("max_episode_steps", 9, indices=[0])


def test_ppo_learns_through_adapter(cheetah):
    torch.manual_seed(0)
    env = VecNormalize(adapter(cheetah, n=8, steps=16))
    model = PPO("MlpPolicy", env, n_steps=32, batch_size=64, n_epochs=1, seed=0, device="cpu")
    model.learn(256)
    assert model.num_timesteps == 256
    assert len(model.ep_info_buffer) > 0  # episode stats reach SB3's logger
    mean, _ = evaluate_policy(model, env, n_eval_episodes=4, warn=False)
    assert np.isfinite(mean)


def test_sac_trains_through_adapter(cheetah):
    env = adapter(cheetah, n=2, steps=8)
    model = SAC(
        "MlpPolicy",
        env,
        learning_starts=16,
        batch_size=16,
        buffer_size=256,
        policy_kwargs={"net_arch": [32, 32]},
        seed=0,
        device="cpu",
    )
    model.learn(64)
    assert model.num_timesteps == 64 and model.replay_buffer.size() > 0
