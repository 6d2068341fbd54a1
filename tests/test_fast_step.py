"""The fast model step (`genenv.envs.fast`): the default elite step equals `model.step` bit for bit
and follows a model that changes; the opt-in sampled-member step (TS1 only) makes the full step's
draws and predictions for the chosen members, without the disagreement."""

from __future__ import annotations

import pytest
import torch

from genenv.envs.fast import EliteStep, fast_step
from genenv.envs.testing import random_world_model
from genenv.envs.vector import DreamVectorEnv
from genenv.models.ensemble import EnsembleConfig

CONFIG = EnsembleConfig(ensemble_size=5, num_elites=3, hidden_size=48, num_layers=3)


@pytest.fixture()
def model():
    m = random_world_model("HalfCheetah", CONFIG)
    m.elites = torch.tensor([4, 0, 2])  # unordered, not the first members
    return m


def _inputs(model, n: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    obs = model.start_obs[torch.randint(len(model.start_obs), (n,), generator=g)]
    obs = obs + 0.1 * torch.randn(obs.shape, generator=g)
    action = torch.rand(n, model.act_dim, generator=g) * 2 - 1
    context = torch.ones(n, model.ctx_dim) + 0.2 * torch.rand(n, model.ctx_dim, generator=g)
    return obs, action, context


def _step(fn, model, n, seed=7, inputs_seed=0):
    return fn(*_inputs(model, n, inputs_seed), torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("n", [1, 9, 37, 64, 256])
@pytest.mark.parametrize("sample", [True, False])
def test_elite_step_equals_the_model_step(model, n, sample):
    """Bit for bit at 64+ envs; at a few envs MKL may round a last bit differently for K members
    than for E (as the earlier elite view did), so there the steps agree to float precision."""
    model.config.sample = sample
    fast = EliteStep(model)
    for seed in (1, 2):  # the second call reuses the cached weights and activation buffers
        want, got = _step(model.step, model, n, seed), _step(fast, model, n, seed)
        for a, b in zip(want, got, strict=True):
            if n >= 64 or not a.dtype.is_floating_point:
                assert torch.equal(a, b)
            else:
                torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_elite_step_follows_training_new_elites_and_loaded_weights(model):
    fast = EliteStep(model)
    _step(fast, model, 8)
    gathered = fast._layers
    _step(fast, model, 8)
    assert fast._layers is gathered  # unchanged model: no new gather
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    mean, *_ = model(*_inputs(model, 16))
    mean.square().mean().backward()
    opt.step()  # in place, as train_world does
    other = random_world_model("HalfCheetah", CONFIG, seed=5)
    other.elites = torch.tensor([2, 1, 3])
    checks = [
        lambda: None,  # the optimiser step above
        lambda: model.load_state_dict(other.state_dict()),  # weights and elites, copied in place
        lambda: setattr(model, "elites", torch.tensor([1, 3])),  # fewer elites
        lambda: model.elites.copy_(torch.tensor([3, 1])),  # in place
    ]
    for change in checks:
        change()
        want, got = _step(model.step, model, 32), _step(fast, model, 32)
        assert all(torch.equal(a, b) for a, b in zip(want, got, strict=True))
    # Writes through .data bypass torch's version counters: refresh() says so by hand.
    model.hidden[1].weight.data.mul_(2.0)
    fast.refresh()
    want, got = _step(model.step, model, 32), _step(fast, model, 32)
    assert all(torch.equal(a, b) for a, b in zip(want, got, strict=True))


def test_step_outputs_are_not_views_of_the_reused_buffers(model):
    fast = EliteStep(model)
    first = _step(fast, model, 64)
    kept = [t.clone() for t in first]
    _step(fast, model, 64, seed=3, inputs_seed=1)  # overwrites the activation buffers
    assert all(torch.equal(a, b) for a, b in zip(first, kept, strict=True))


@pytest.mark.parametrize("sample", [True, False])
def test_sampled_members_make_the_full_steps_draws_for_the_chosen_members(model, sample):
    """Same generator state: the same member per slot, the same Gaussian draw, so the next state
    and reward of the full step; termination is the chosen member's own; no disagreement."""
    model.config.sample = sample
    n = 300
    obs, action, context = _inputs(model, n)
    g_full, g_ts1 = torch.Generator().manual_seed(11), torch.Generator().manual_seed(11)
    full = model.step(obs, action, context, g_full)
    ts1 = EliteStep(model, "sampled")(obs, action, context, g_ts1)
    torch.testing.assert_close(ts1.obs, full.obs, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ts1.reward, full.reward, rtol=1e-5, atol=1e-5)
    assert torch.equal(ts1.finite, full.finite)
    # Both used the generator alike: the next draws agree.
    assert torch.equal(torch.rand(4, generator=g_full), torch.rand(4, generator=g_ts1))
    pick = model.elites[torch.randint(3, (n,), generator=torch.Generator().manual_seed(11))]
    _, _, logit = model(obs, action, context)  # (E, n)
    assert torch.equal(ts1.terminated, logit[pick, torch.arange(n)] > 0)
    assert torch.isnan(ts1.uncertainty).all() and ts1.uncertainty.shape == (n,)
    # Every elite is chosen somewhere, and the slots of each follow that member alone.
    assert set(pick.tolist()) == {4, 0, 2}


def test_sampled_members_env_option():
    model = random_world_model("HalfCheetah", CONFIG, terminate=False)
    env = DreamVectorEnv("HalfCheetah", model, 16, max_episode_steps=3, members="sampled")
    assert env._model_step.members == "sampled"
    env.reset_tensor(seed=0)
    ends = []
    for _ in range(4):
        obs, reward, terminated, truncated, infos = env.step_tensor(torch.zeros(16, 6))
        assert torch.isfinite(obs).all() and torch.isfinite(reward).all()
        assert not infos["model_nonfinite"].any() and not terminated.any()
        stepped = ~infos["autoreset"]
        assert torch.isnan(infos["uncertainty"][stepped]).all()  # not computed, and says so
        ends.append(bool(truncated.all()))
    assert ends == [False, False, True, False]  # the time limit, then the autoreset step
    # The default env computes the disagreement and steps every elite.
    default = DreamVectorEnv("HalfCheetah", model, 16)
    default.reset_tensor(seed=0)
    assert torch.isfinite(default.step_tensor(torch.zeros(16, 6))[4]["uncertainty"]).all()
    assert default._model_step.members == "elites"
    for bad in (
        {"uncertainty_penalty": 1.0},
        {"uncertainty_threshold": 0.5},
        {"elite_only": False},
    ):
        with pytest.raises(ValueError, match="sampled"):
            DreamVectorEnv("HalfCheetah", model, 2, members="sampled", **bad)
    with pytest.raises(ValueError, match="members"):
        DreamVectorEnv("HalfCheetah", model, 2, members="one")


def test_sampled_members_need_an_ensemble():
    class Other(torch.nn.Module):
        def step(self, *args):
            raise AssertionError

    assert fast_step(Other()).__self__.__class__ is Other  # other models step as they are
    with pytest.raises(ValueError, match="not an EnsembleWorldModel"):
        fast_step(Other(), "sampled")
