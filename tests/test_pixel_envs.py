"""Pixel dream envs meet the dream-env contracts: checkers, SB3 adapter, seeding, autoreset, NaN."""

import copy

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env as gym_check_env
from gymnasium.vector import AutoresetMode
from stable_baselines3.common.env_checker import check_env as sb3_check_env
from stable_baselines3.common.vec_env.base_vec_env import VecEnv

import genenv  # noqa: F401  (registers the ids)
from genenv.envs.pixel_testing import random_latent_model
from genenv.envs.pixels import PixelDreamEnv, PixelDreamVectorEnv
from genenv.envs.sb3 import DreamSB3VecEnv
from genenv.envs.testing import random_world_model
from genenv.models.checkpoint import save_checkpoint
from genenv.worlds import InitialState, WorldSpec


@pytest.fixture(scope="module")
def reacher():
    return random_latent_model("Reacher")


@pytest.mark.parametrize("obs_type", ["latent", "pixels"])
def test_checkers_pass_on_the_registered_pixel_ids(reacher, obs_type, tmp_path):
    save_checkpoint(reacher, tmp_path / "w")
    env = gym.make("genenv/Dream-Reacher-Pixels-v0", world=str(tmp_path / "w"), obs_type=obs_type)
    gym_check_env(env.unwrapped, skip_render_check=True)
    sb3_check_env(env.unwrapped, warn=False)
    obs, _ = env.reset(seed=0)
    assert obs.shape == ((8 + 2,) if obs_type == "latent" else (16, 16, 3))  # + the last action
    assert env.spec.max_episode_steps == 50
    vec = gym.make_vec("genenv/Dream-Reacher-Pixels-v0", num_envs=3, world=reacher,
                       obs_type=obs_type)  # fmt: skip
    assert isinstance(vec, PixelDreamVectorEnv)
    obs, _ = vec.reset(seed=1)
    assert obs.shape[0] == 3 and vec.observation_space.contains(obs)
    env.close()


def test_render_returns_the_decoded_frame(reacher):
    env = PixelDreamEnv("Reacher", reacher, render_mode="rgb_array", obs_type="pixels")
    obs, _ = env.reset(seed=0)
    assert np.array_equal(env.render(), obs) and obs.dtype == np.uint8


@pytest.mark.parametrize("obs_type", ["latent", "pixels"])
@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
def test_seeding_and_autoreset_modes(reacher, obs_type, mode):
    def trace(seed):
        env = PixelDreamVectorEnv("Reacher", reacher, num_envs=3, max_episode_steps=4,
                                  autoreset_mode=mode, obs_type=obs_type)  # fmt: skip
        out = [env.reset(seed=seed)[0]]
        for t in range(9):
            obs, rew, term, trunc, info = env.step(np.full((3, 2), 0.3 * (t % 3 - 1), np.float32))
            out.append(obs)
            same = mode is AutoresetMode.SAME_STEP
            ends = (3, 7) if same else (3, 8)  # NEXT_STEP spends step 4 on the reset
            assert trunc.all() == (t in ends) and not term.any()  # the 4-step time limit
            if same and t in ends:
                assert info["_final_obs"].all() and info["final_obs"][0].shape == obs[0].shape
            if not same and t == 4:
                assert (rew == 0).all()  # the reset step
        return out

    a, b, c = trace(0), trace(0), trace(5)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))


def test_sb3_adapter_over_a_pixel_dream(reacher):
    venv = DreamSB3VecEnv(PixelDreamVectorEnv("Reacher", reacher, num_envs=2, max_episode_steps=3))
    assert isinstance(venv, VecEnv)
    obs = venv.reset()
    for _ in range(3):
        venv.step_async(np.zeros((2, 2), np.float32))
        obs, rew, done, infos = venv.step_wait()
    assert done.all() and infos[0]["terminal_observation"].shape == (10,) and obs.shape == (2, 10)
    assert infos[0]["TimeLimit.truncated"]


def test_nonfinite_latent_ends_only_that_slot(reacher):
    broken = copy.deepcopy(reacher)
    env = PixelDreamVectorEnv("Reacher", broken, num_envs=2, max_episode_steps=50,
                              obs_type="pixels")  # fmt: skip
    env.reset(seed=0)
    env._obs = env._obs.clone()
    env._obs[1] = float("nan")  # slot 1's imagined state went bad
    obs, rew, term, trunc, info = env.step(np.zeros((2, 2), np.float32))
    assert info["model_nonfinite"].tolist() == [False, True] and trunc.tolist() == [False, True]
    assert np.isfinite(rew).all() and obs.dtype == np.uint8
    with pytest.raises(ValueError, match="slot"):
        env.step(np.array([[0.0, np.nan], [0.0, 0.0]], np.float32))


def test_wrong_kind_of_world_and_start_poses(reacher):
    with pytest.raises(ValueError, match="state world model"):
        PixelDreamVectorEnv("Reacher", random_world_model("Reacher"))
    with pytest.raises(ValueError, match="obs_type"):
        PixelDreamVectorEnv("Reacher", reacher, obs_type="depth")
    # a WorldSpec pose starts the dream from that pose's frame, encoded
    pose = InitialState(qpos=(0.5, -1.0, 0.1, 0.1))
    env = PixelDreamVectorEnv("Reacher", reacher, specs=WorldSpec("Reacher", initial_state=pose))
    from genenv.envs.pixels import _pose_frame

    want = reacher.encode(torch.as_tensor(_pose_frame(env.specs[0], 16)[None]))
    assert torch.allclose(env.reset_tensor(seed=0), want)


def test_start_frames_straight_from_render(reacher):
    from genenv.worlds.cameras import make_pixel_env

    env = make_pixel_env("Reacher", 16)
    env.reset(seed=3)
    frame = env.render()  # MuJoCo's frames are flipped views (negative strides)
    env.close()
    venv = PixelDreamVectorEnv("Reacher", reacher, num_envs=2, start_frames=frame[None])
    want = reacher.encode(torch.as_tensor(np.array(frame[None])))
    assert torch.allclose(venv.reset_tensor(seed=0), want.expand(2, -1))


def test_a_pixel_world_is_not_a_state_dream_and_agents_transfer_through_the_encoder(reacher):
    from stable_baselines3 import PPO

    from genenv.agents.pixel_eval import evaluate_pixel_policy
    from genenv.envs.vector import DreamVectorEnv

    with pytest.raises(ValueError, match="Dream-Reacher-Pixels-v0"):
        DreamVectorEnv("Reacher", reacher)
    dream = DreamSB3VecEnv(PixelDreamVectorEnv("Reacher", reacher, num_envs=2))
    agent = PPO("MlpPolicy", dream, n_steps=8, batch_size=16, seed=0, device="cpu")
    agent.learn(16)  # SB3 on latent observations in the pixel dream
    returns = evaluate_pixel_policy(reacher, agent, episodes=2, seed=7, max_steps=4)
    assert len(returns) == 2 and all(np.isfinite(returns))


def test_a_latent_agent_sees_the_action_it_took_last_clipped_and_zero_at_a_new_episode():
    from genenv.transfer import LatentAgentPolicy

    model = random_latent_model("InvertedPendulum")  # actions in [-3, 3]
    seen, plan = [], iter([5.0, -1.0, 2.0, 0.5])

    class Agent:
        def predict(self, z, deterministic=True):
            seen.append(z[-1])
            return np.array([next(plan)], np.float32), None

    policy = LatentAgentPolicy(model, Agent())
    frame = np.zeros((16, 16, 3), np.uint8)
    actions = [policy(None, [frame]), policy(None, [frame, frame]), policy(None, [frame, frame])]
    assert [float(a[0]) for a in actions] == [3.0, -1.0, 2.0]  # clipped to the box
    assert seen == [0.0, 3.0, -1.0]  # z ends with the action applied last
    policy(None, [frame])  # a new episode starts at rest
    assert seen[-1] == 0.0
