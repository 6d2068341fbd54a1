"""DreamTorchRLEnv (the `torchrl` extra): TorchRL's own `check_env_specs`, the same rollouts as the
dream env it wraps, partial resets, tensors on the dream's device. Skipped without torchrl."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("torchrl")

from torchrl.envs.utils import check_env_specs  # noqa: E402

from genenv.envs.testing import random_world_model  # noqa: E402
from genenv.envs.torchrl import DreamTorchRLEnv  # noqa: E402
from genenv.envs.vector import DreamVectorEnv  # noqa: E402
from genenv.models.ensemble import EnsembleConfig  # noqa: E402

SMALL = EnsembleConfig(ensemble_size=3, num_elites=2, hidden_size=32, num_layers=2)


@pytest.fixture(scope="module")
def cheetah():
    return random_world_model("HalfCheetah", SMALL, terminate=False)


def _env(model, n=4, **kwargs) -> DreamTorchRLEnv:
    return DreamTorchRLEnv(task="HalfCheetah", world=model, num_envs=n, **kwargs)


@pytest.mark.parametrize("task", ["HalfCheetah", "Hopper"])  # Hopper's random heads terminate
def test_torchrl_checker_passes(task):
    env = DreamTorchRLEnv(task=task, world=random_world_model(task, SMALL), num_envs=3)
    check_env_specs(env, seed=0, break_when_any_done="both")
    assert env.batch_size == torch.Size([3]) and env.device == torch.device("cpu")


def test_rollout_matches_the_dream_env_and_resets_ended_slots(cheetah):
    env = _env(cheetah, max_episode_steps=2)
    twin = DreamVectorEnv(
        "HalfCheetah", cheetah, 4, max_episode_steps=2, autoreset_mode="same_step"
    )
    actions = [torch.rand(4, 6) * 2 - 1 for _ in range(5)]
    env.set_seed(7)
    td = env.reset()
    obs = twin.reset_tensor(seed=7)
    for t, action in enumerate(actions):
        torch.testing.assert_close(td["observation"], obs)
        td["action"] = action
        out, td = env.step_and_maybe_reset(td)
        obs, reward, terminated, truncated, infos = twin.step_tensor(action)
        torch.testing.assert_close(out["next", "observation"], infos["final_obs"])
        torch.testing.assert_close(out["next", "reward"], reward[:, None])
        assert torch.equal(out["next", "truncated"][:, 0], truncated)
        assert bool(truncated.all()) == (t % 2 == 1)  # episodes of two steps
        for value in out.values(True, True):
            assert value.device == env.device  # nothing left the dream's device


def test_a_reset_of_a_running_slot_starts_it_anew(cheetah):
    env = _env(cheetah)
    td = env.reset()
    td["action"] = torch.zeros(4, 6)
    td = env.step(td)
    first = td["next", "observation"].clone()
    mask = torch.tensor([[True], [False], [False], [False]])
    reset = env.reset(td["next"].clone().set("_reset", mask))
    assert torch.equal(reset["observation"][1:], first[1:])  # the others go on
    assert not torch.equal(reset["observation"][0], first[0])
    torch.testing.assert_close(reset["observation"], env.venv.observations)
    assert int(env.venv._steps[0]) == 0 and int(env.venv._steps[1]) == 1


def test_wraps_an_existing_env_and_rejects_others(cheetah):
    venv = DreamVectorEnv("HalfCheetah", cheetah, 2)  # NEXT_STEP: switched to SAME_STEP
    env = DreamTorchRLEnv(venv)
    assert env.venv is venv and venv.config.autoreset_mode.name == "SAME_STEP"
    with pytest.raises(ValueError, match="not both"):
        DreamTorchRLEnv(venv, num_envs=2)
    with pytest.raises(ValueError, match="wraps a DreamVectorEnv"):
        DreamTorchRLEnv(object())
