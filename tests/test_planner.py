"""CEM/MPPI planner: config checks, the SB3-style predict API, and that planning beats random
actions both in the model's own predictions and in the real InvertedPendulum."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genenv.agents.planner import Planner, PlannerConfig
from genenv.data.collect import collect
from genenv.data.load import load_transitions
from genenv.models.ensemble import EnsembleConfig
from genenv.models.train import TrainConfig, train_world_model
from genenv.worlds import WorldSpec

SMALL = dict(horizon=10, num_samples=128, num_iterations=2, num_elites=16, termination_penalty=1.0)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A small ensemble trained on 1500 random real InvertedPendulum steps (fixed epochs)."""
    path = collect(
        "InvertedPendulum", 1500, tmp_path_factory.mktemp("ip") / "data", seed=1, progress=False
    )
    ens = EnsembleConfig(ensemble_size=3, num_elites=2, hidden_size=64)
    cfg = TrainConfig(max_epochs=20, max_time_s=None, seed=0)
    model, _ = train_world_model(load_transitions(path), cfg, progress=False, ensemble=ens)
    return model


def _real_returns(act, episodes: int, cap: int, reset=lambda: None) -> list[float]:
    returns = []
    for ep in range(episodes):
        env = WorldSpec("InvertedPendulum").make_env(max_episode_steps=cap)
        obs, _ = env.reset(seed=100 + ep)
        reset()
        total, done = 0.0, False
        while not done:
            obs, r, term, trunc, _ = env.step(act(obs))
            total, done = total + float(r), term or trunc
        env.close()
        returns.append(total)
    return returns


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="method"):
        PlannerConfig(method="random-shooting")
    with pytest.raises(ValueError, match="num_elites"):
        PlannerConfig(num_samples=8, num_elites=16)
    with pytest.raises(ValueError, match="horizon"):
        PlannerConfig(horizon=0)


@pytest.mark.parametrize("method", ["cem", "mppi"])
def test_predict_api_shapes_bounds_and_types(model, method):
    planner = Planner(model, PlannerConfig(method=method, **SMALL))
    obs = model.real_obs[:5].numpy()  # (5, 4)
    action, state = planner.predict(obs[0])
    assert state is None and isinstance(action, np.ndarray) and action.shape == (1,)
    batch, _ = planner.predict(obs, deterministic=False)
    assert batch.shape == (5, 1) and np.all(np.abs(batch) <= 3.0)
    t_action, _ = planner.predict(torch.as_tensor(obs))
    assert isinstance(t_action, torch.Tensor) and t_action.shape == (5, 1)
    with pytest.raises(ValueError, match="features"):
        planner.predict(np.zeros(3, dtype=np.float32))


def test_seeded_planner_is_reproducible(model):
    obs = model.real_obs[:3]
    a1, _ = Planner(model, PlannerConfig(seed=3, **SMALL)).predict(obs)
    a2, _ = Planner(model, PlannerConfig(seed=3, **SMALL)).predict(obs)
    assert torch.equal(a1, a2)


def test_spec_task_must_match_model(model):
    with pytest.raises(ValueError, match="task"):
        Planner(model, spec=WorldSpec("HalfCheetah"))


@pytest.mark.parametrize("method", ["cem", "mppi"])
def test_plan_beats_random_actions_on_predicted_return(model, method):
    planner = Planner(model, PlannerConfig(method=method, **SMALL))
    gen = torch.Generator().manual_seed(0)
    obs = model.initial(16, gen, source="states")  # (16, 4) real states
    plan = planner.plan(obs)  # (16, H, 1)
    repeats = 32  # average over the model's stochastic steps
    planned = planner.score(obs, plan[:, None].expand(-1, repeats, -1, -1)).mean()
    random = torch.rand(16, repeats, SMALL["horizon"], 1, generator=gen) * 6.0 - 3.0
    assert planned > planner.score(obs, random).mean() + 1.0


def test_planner_balances_real_pendulum_longer_than_random(model):
    planner = Planner(model, PlannerConfig(**SMALL))
    planned = _real_returns(lambda o: planner.predict(o)[0], 2, 60, reset=planner.reset)
    rng = np.random.default_rng(0)
    random = _real_returns(lambda o: rng.uniform(-3.0, 3.0, 1), 10, 60)
    # Random actions drop the pole within ~5 steps on average; planning keeps it up far longer.
    assert np.mean(planned) > 3 * np.mean(random)
    assert np.mean(planned) >= 25
