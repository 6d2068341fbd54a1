"""DreamEnv / DreamVectorEnv: API checkers, registration, seeding, bad input, model failures."""

from __future__ import annotations

import copy
import warnings

import gymnasium
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env as gym_check_env
from gymnasium.wrappers import TimeLimit
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from genenv.envs.single import DreamEnv
from genenv.envs.testing import random_world_model
from genenv.envs.vector import DreamVectorEnv
from genenv.models.ensemble import EnsembleConfig
from genenv.worlds.spec import InitialState, WorldSpec
from genenv.worlds.tasks import TASKS

SMALL = EnsembleConfig(ensemble_size=3, num_elites=2, hidden_size=32, num_layers=2)


@pytest.fixture(scope="module")
def cheetah():
    return random_world_model("HalfCheetah", SMALL, terminate=False)


def _vec(model, n=4, **kwargs):
    return DreamVectorEnv("HalfCheetah", model, num_envs=n, **kwargs)


@pytest.mark.parametrize("task", list(TASKS))
def test_checkers_pass_on_every_registered_dream_id(task):
    model = random_world_model(task, SMALL)
    env = gymnasium.make(f"genenv/Dream-{task}-v0", world=model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SB3's advice on unbounded / asymmetric boxes
        gym_check_env(env.unwrapped, skip_render_check=True)
        sb3_check_env(env.unwrapped, warn=False)
        gym_check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    assert obs.dtype == np.float32 and obs in env.observation_space
    assert "torch" not in env.unwrapped.metadata


def test_make_adds_exactly_one_time_limit(cheetah):
    env = gymnasium.make("genenv/Dream-HalfCheetah-v0", world=cheetah)
    limits, e = [], env
    while hasattr(e, "env"):
        if isinstance(e, TimeLimit):
            limits.append(e._max_episode_steps)
        e = e.env
    assert limits == [1000]
    assert env.unwrapped.vector.max_episode_steps == -1
    env = gymnasium.make("genenv/Dream-HalfCheetah-v0", world=cheetah, max_episode_steps=3)
    env.reset(seed=0)
    flags = [env.step(env.action_space.sample())[3] for _ in range(3)]
    assert flags == [False, False, True]


def test_make_vec_builds_dream_vector_env(cheetah):
    venv = gymnasium.make_vec(
        "genenv/Dream-HalfCheetah-v0", num_envs=16, world=cheetah, device="cpu"
    )
    assert isinstance(venv, DreamVectorEnv)
    assert venv.num_envs == 16 and venv.max_episode_steps == 1000
    assert venv.metadata["autoreset_mode"] is gymnasium.vector.AutoresetMode.NEXT_STEP
    obs, _ = venv.reset(seed=1)
    assert obs.shape == (16, 17) and obs.dtype == np.float32
    assert venv.observation_space.shape == (16, 17) and venv.action_space.shape == (16, 6)
    venv = gymnasium.make_vec(
        "genenv/Dream-HalfCheetah-v0", num_envs=2, world=cheetah, max_episode_steps=7
    )
    assert venv.max_episode_steps == 7


def test_world_must_match_task_and_device(cheetah):
    with pytest.raises(ValueError, match="HalfCheetah, not Hopper"):
        DreamVectorEnv("Hopper", cheetah)
    with pytest.raises(ValueError, match="device"):
        DreamVectorEnv("HalfCheetah", cheetah, device="meta")
    with pytest.raises(ValueError, match="world must be"):
        DreamVectorEnv("HalfCheetah", world=42)
    with pytest.raises(ValueError, match="2 specs for 3"):
        DreamVectorEnv("HalfCheetah", cheetah, num_envs=3, specs=[WorldSpec("HalfCheetah")] * 2)


def _rollout(env, seed, actions):
    out = [env.reset_tensor(seed=seed).clone()]
    for a in actions:
        obs, rew, term, trunc, _ = env.step_tensor(a)
        out += [obs.clone(), rew.clone(), term.clone(), trunc.clone()]
    return out


def test_seeded_rollouts_repeat_and_differ_across_seeds(cheetah):
    env = _vec(cheetah, n=8, max_episode_steps=5)
    actions = [torch.rand(8, 6) * 2 - 1 for _ in range(12)]
    a, b, c = _rollout(env, 3, actions), _rollout(env, 3, actions), _rollout(env, 4, actions)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(torch.equal(x, y) for x, y in zip(a, c, strict=True))
    fresh = _rollout(_vec(cheetah, n=8, max_episode_steps=5), 3, actions)  # a second env instance
    assert all(torch.equal(x, y) for x, y in zip(a, fresh, strict=True))


def test_bad_actions_name_the_slot(cheetah):
    env = _vec(cheetah)
    env.reset(seed=0)
    actions = np.zeros((4, 6), np.float32)
    actions[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"slot\(s\) \[2\]"):
        env.step(actions)
    actions[2, 1], actions[0, 0] = 0.0, np.inf
    with pytest.raises(ValueError, match=r"\[0\]"):
        env.step_tensor(torch.as_tensor(actions))
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros((3, 6), np.float32))
    with pytest.raises(ValueError, match="shape"):
        env.step_tensor(torch.zeros(4, 5))
    single = DreamEnv("HalfCheetah", cheetah)
    single.reset(seed=0)
    with pytest.raises(ValueError, match="non-finite"):
        single.step(np.full(6, np.nan, np.float32))
    with pytest.raises(ValueError, match="shape"):
        single.step(np.zeros(5, np.float32))


def test_actions_are_clipped_to_the_box(cheetah):
    env = _vec(cheetah)
    env.reset_tensor(seed=5)
    big = env.step_tensor(torch.full((4, 6), 7.0))[0].clone()
    env.reset_tensor(seed=5)
    one = env.step_tensor(torch.ones(4, 6))[0]
    assert torch.equal(big, one)


def test_nonfinite_model_output_ends_only_that_slot(cheetah):
    broken = copy.deepcopy(cheetah)
    with torch.no_grad():  # a huge input weight on obs feature 0
        broken.hidden[0].weight[:, 0, :] = 3e38
    env = DreamVectorEnv("HalfCheetah", broken, num_envs=4, max_episode_steps=50)
    obs = env.reset_tensor(seed=0)
    # Feature 0 normalised to exactly 0 in slots 0 and 2 (finite), to 10 in slots 1 and 3 (inf).
    mean, std = broken.obs_norm.mean[0], broken.obs_norm.std[0]
    env._obs = obs.clone()
    env._obs[[0, 2], 0] = mean
    env._obs[[1, 3], 0] = mean + 10 * std
    before = env._obs.clone()
    obs, rew, term, trunc, info = env.step(np.zeros((4, 6), np.float32))
    assert (
        np.isfinite(obs).all() and np.isfinite(rew).all() and np.isfinite(info["uncertainty"]).all()
    )
    assert info["model_nonfinite"].tolist() == [False, True, False, True]
    assert trunc.tolist() == [False, True, False, True] and not term.any()
    assert np.array_equal(obs[1], before[1].numpy()) and rew[1] == 0.0
    # The next step resets the failed slots and the batch goes on.
    obs, rew, term, trunc, info = env.step(np.zeros((4, 6), np.float32))
    assert info["_uncertainty"].tolist() == [True, False, True, False]
    assert np.isfinite(obs).all()


def test_uncertainty_penalty_and_threshold(cheetah):
    actions = torch.rand(4, 6) * 2 - 1
    plain = _vec(cheetah)
    plain.reset_tensor(seed=2)
    _, r0, _, trunc0, info0 = plain.step_tensor(actions)
    assert (info0["uncertainty"] > 0).all() and not trunc0.any()
    penal = _vec(cheetah, uncertainty_penalty=2.5)
    penal.reset_tensor(seed=2)
    _, r1, _, _, info1 = penal.step_tensor(actions)
    torch.testing.assert_close(r1, r0 - 2.5 * info0["uncertainty"])
    threshold = float(info0["uncertainty"].median())
    capped = _vec(cheetah, uncertainty_threshold=threshold)
    capped.reset_tensor(seed=2)
    _, _, _, trunc2, info2 = capped.step_tensor(actions)
    assert trunc2.tolist() == (info0["uncertainty"] > threshold).tolist()
    assert trunc2.any() and not trunc2.all()


def test_set_spec_changes_context_after_that_slots_reset(cheetah):
    env = _vec(cheetah, n=3, max_episode_steps=2)
    env.reset_tensor(seed=0)
    heavy = WorldSpec("HalfCheetah").with_context(gravity=4.0, mass_scale=2.0)
    env.set_spec(1, heavy)
    assert env.contexts[1, 0].item() == pytest.approx(9.81)  # not before the reset
    assert env.specs[1] == WorldSpec("HalfCheetah")
    zeros = torch.zeros(3, 6)
    env.step_tensor(zeros)
    env.step_tensor(zeros)  # time limit: episodes end
    assert env.contexts[1, 0].item() == pytest.approx(9.81)
    _, _, _, _, info = env.step_tensor(zeros)  # NEXT_STEP: the reset happens here
    assert info["autoreset"].all()
    assert env.contexts[1].tolist()[:2] == pytest.approx([4.0, 2.0])
    assert env.contexts[0, 0].item() == pytest.approx(9.81)
    assert env.specs[1] == heavy and env.specs[0] == WorldSpec("HalfCheetah")
    env.set_specs([heavy] * 3)
    env.reset_tensor()
    assert env.contexts[:, 0].tolist() == pytest.approx([4.0] * 3)
    with pytest.raises(ValueError, match="task Hopper"):
        env.set_spec(0, WorldSpec("Hopper"))


def test_initial_state_spec_starts_from_that_pose(cheetah):
    qpos = tuple([0.0, 0.3] + [0.1] * 7)
    spec = WorldSpec("HalfCheetah", initial_state=InitialState(qpos))
    env = _vec(cheetah, n=2, specs=[spec, WorldSpec("HalfCheetah")])
    obs = env.reset_tensor(seed=0)
    expected = np.asarray(qpos[1:] + (0.0,) * 9, np.float32)
    np.testing.assert_allclose(obs[0].numpy(), expected, atol=1e-6)
    assert any(torch.equal(obs[1], s) for s in cheetah.start_obs)


def test_tensor_outputs_feed_autograd(cheetah):
    env = _vec(cheetah)
    obs = env.reset_tensor(seed=0)
    policy = torch.nn.Linear(17, 6)
    obs, *_ = env.step_tensor(torch.tanh(policy(obs)).detach())
    policy(obs).sum().backward()  # not an inference tensor
    assert policy.weight.grad is not None


def test_numpy_outputs_are_fresh_copies(cheetah):
    env = _vec(cheetah)
    obs, _ = env.reset(seed=0)
    obs[:] = 1e9
    obs2, *_ = env.step(np.zeros((4, 6), np.float32))
    assert np.abs(obs2).max() < 1e9


def test_fast_path_gives_the_same_rollouts_as_the_plain_one():
    """Elite-only stepping, no validation: bit-identical to stepping every member."""
    model = random_world_model("HalfCheetah", EnsembleConfig(ensemble_size=5, num_elites=3))
    model.elites = torch.tensor([4, 0, 2])  # unordered, not the first members
    actions = [torch.rand(64, 6) * 2 - 1 for _ in range(8)]
    plain = DreamVectorEnv("HalfCheetah", model, 64, max_episode_steps=3, elite_only=False)
    fast = DreamVectorEnv("HalfCheetah", model, 64, max_episode_steps=3, validate_actions=False)
    assert fast._model_step is not model.step
    a, b = _rollout(plain, 9, actions), _rollout(fast, 9, actions)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    # The fast path follows the model when it is retrained in place (new weights, new elites).
    with torch.no_grad():
        model.hidden[0].weight.mul_(1.5)
    model.elites = torch.tensor([1, 3])
    a, b = _rollout(plain, 2, actions), _rollout(fast, 2, actions)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def test_make_and_make_vec_from_a_saved_checkpoint(cheetah, tmp_path):
    from genenv.models.checkpoint import save_checkpoint

    ckpt = save_checkpoint(cheetah, tmp_path / "world")
    env = gymnasium.make("genenv/Dream-HalfCheetah-v0", world=str(ckpt))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unbounded observation Box, as in the real task
        gym_check_env(env.unwrapped, skip_render_check=True)
    venv = gymnasium.make_vec(
        "genenv/Dream-HalfCheetah-v0", num_envs=1024, world=ckpt, device="cpu"
    )
    assert isinstance(venv, DreamVectorEnv) and venv.num_envs == 1024
    # The loaded world steps exactly like the one it was saved from.
    actions = [torch.rand(1024, 6) * 2 - 1 for _ in range(3)]
    a = _rollout(venv, 11, actions)
    b = _rollout(_vec(cheetah, n=1024), 11, actions)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    with pytest.raises(ValueError, match="not Hopper"):
        gymnasium.make("genenv/Dream-Hopper-v0", world=ckpt)


def test_rgb_array_render_draws_the_imagined_pose(cheetah):
    env = gymnasium.make(
        "genenv/Dream-HalfCheetah-v0", world=cheetah, render_mode="rgb_array", width=64, height=48
    )
    assert env.metadata["render_fps"] == 20  # HalfCheetah: dt = 0.05 s
    env.reset(seed=0)
    first = env.render()
    assert first.shape == (48, 64, 3) and first.dtype == np.uint8 and first.std() > 0
    for _ in range(3):
        env.step(np.ones(6, np.float32))
    assert not np.array_equal(env.render(), first)  # the pose moved
    env.close()
    with pytest.raises(ValueError, match="render_mode"):
        DreamEnv("HalfCheetah", cheetah, render_mode="human")


@pytest.mark.expensive
def test_compiled_step_matches_plain_step():
    """torch.compile (off by default; ~1 min to compile on 2 CPU cores) steps the same world."""
    model = random_world_model("HalfCheetah", SMALL, terminate=False)
    actions = [torch.rand(16, 6) * 2 - 1 for _ in range(4)]
    plain = _rollout(DreamVectorEnv("HalfCheetah", model, 16), 1, actions)
    fast = _rollout(DreamVectorEnv("HalfCheetah", model, 16, compile=True), 1, actions)
    for x, y in zip(plain, fast, strict=True):
        if x.dtype.is_floating_point:
            torch.testing.assert_close(x, y, rtol=1e-4, atol=1e-4)
        else:
            assert torch.equal(x, y)


def test_start_bank_choice(cheetah):
    model = copy.deepcopy(cheetah)
    model.real_obs = torch.full((3, 17), 0.25)  # a distinct "any real state" bank
    states = _vec(model, start="states").reset_tensor(seed=0)
    assert torch.equal(states, torch.full((4, 17), 0.25))
    starts = _vec(model).reset_tensor(seed=0)
    assert all(any(torch.equal(row, s) for s in model.start_obs) for row in starts)
    with pytest.raises(ValueError, match="start must be"):
        _vec(model, start="anywhere")


def test_single_env_set_spec_and_bad_options(cheetah):
    env = DreamEnv("HalfCheetah", cheetah, max_episode_steps=2)
    env.reset(seed=0)
    light = WorldSpec("HalfCheetah").with_context(gravity=2.0)
    env.set_spec(light)
    assert env.world_spec == WorldSpec("HalfCheetah")
    env.reset()
    assert env.world_spec == light
    assert env.vector.contexts[0, 0].item() == pytest.approx(2.0)
    assert [env.step(np.zeros(6, np.float32))[3] for _ in range(2)] == [False, True]
    with pytest.raises(ValueError, match="num_envs"):
        DreamEnv("HalfCheetah", cheetah, num_envs=4)
    with pytest.raises(ValueError, match="autoreset_mode"):
        _vec(cheetah, autoreset_mode="disabled")
