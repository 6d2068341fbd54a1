"""DreamParallelEnv: PettingZoo's own API test, partitions, shared reward and joint actions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pettingzoo.test import parallel_api_test, parallel_seed_test

from genenv.envs.multiagent import DreamParallelEnv, resolve_partition
from genenv.envs.testing import random_world_model
from genenv.envs.vector import DreamVectorEnv
from genenv.models.ensemble import EnsembleConfig

SMALL = EnsembleConfig(ensemble_size=3, num_elites=2, hidden_size=32, num_layers=2)


@pytest.mark.parametrize(("task", "partition"), [("HalfCheetah", "2x3"), ("Ant", "4x2")])
def test_parallel_api_test_passes(task, partition):
    env = DreamParallelEnv(task, random_world_model(task, SMALL), partition=partition)
    parallel_api_test(env, num_cycles=30)


def test_parallel_seed_test_passes():
    model = random_world_model("HalfCheetah", SMALL)
    parallel_seed_test(lambda: DreamParallelEnv("HalfCheetah", model, max_episode_steps=20), 30)


def test_api_test_with_time_limit_and_terminations():
    model = random_world_model("Hopper", SMALL)  # random termination head
    parallel_api_test(DreamParallelEnv("Hopper", model, max_episode_steps=5), num_cycles=50)


def test_partitions():
    assert resolve_partition("HalfCheetah", 6, None) == ((0, 1, 2), (3, 4, 5))
    assert resolve_partition("Ant", 8, "2x4") == ((2, 3, 4, 5), (6, 7, 0, 1))
    assert resolve_partition("Reacher", 2, None) == ((0,), (1,))
    assert resolve_partition("HalfCheetah", 6, 3) == ((0, 1), (2, 3), (4, 5))
    with pytest.raises(ValueError, match="named ones"):
        resolve_partition("HalfCheetah", 6, "3x2")
    with pytest.raises(ValueError, match="exactly once"):
        resolve_partition("HalfCheetah", 6, [[0, 1], [1, 2, 3, 4, 5]])
    with pytest.raises(ValueError, match="equally"):
        resolve_partition("HalfCheetah", 6, 4)


def test_joint_action_shared_reward_and_full_observation():
    model = random_world_model("Ant", SMALL, terminate=False)
    env = DreamParallelEnv("Ant", model, partition="2x4")
    obs, infos = env.reset(seed=4)
    assert env.agents == ["agent_0", "agent_1"]
    assert all(o.shape == (27,) and o.dtype == np.float32 for o in obs.values())
    assert env.observation_space("agent_0") is env.observation_space("agent_0")
    assert env.action_space("agent_1").shape == (4,)
    front, back = np.full(4, 0.5, np.float32), np.full(4, -0.25, np.float32)
    obs, rew, term, trunc, infos = env.step({"agent_0": front, "agent_1": back})
    assert rew["agent_0"] == rew["agent_1"]
    np.testing.assert_array_equal(obs["agent_0"], obs["agent_1"])
    np.testing.assert_array_equal(env.state(), obs["agent_0"])
    # The same joint action in the vector env gives the same step.
    joint = np.zeros(8, np.float32)
    joint[[2, 3, 4, 5]], joint[[6, 7, 0, 1]] = front, back
    venv = DreamVectorEnv("Ant", model, num_envs=1)
    venv.reset_tensor(seed=4)
    v_obs, v_rew, *_ = venv.step_tensor(torch.as_tensor(joint)[None])
    np.testing.assert_array_equal(obs["agent_0"], v_obs[0].numpy())
    assert rew["agent_0"] == pytest.approx(float(v_rew[0]))
    with pytest.raises(ValueError, match="agent_1"):
        env.step({"agent_0": front})
    with pytest.raises(ValueError, match="non-finite"):
        env.step({"agent_0": front, "agent_1": np.full(4, np.nan, np.float32)})
