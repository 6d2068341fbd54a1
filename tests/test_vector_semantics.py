"""DreamVectorEnv's autoreset semantics held against gymnasium's SyncVectorEnv on the real env."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from genenv.envs.testing import random_world_model
from genenv.envs.vector import DreamVectorEnv
from genenv.models.ensemble import EnsembleConfig
from genenv.worlds.spec import WorldSpec

SMALL = EnsembleConfig(ensemble_size=3, num_elites=2, hidden_size=32, num_layers=2)
MODES = [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP]
AUTORESET_KEYS = ("final_obs", "_final_obs", "final_info", "_final_info")


def real_vec(task, n, steps, mode):
    fns = [lambda: WorldSpec(task).make_env(max_episode_steps=steps) for _ in range(n)]
    return SyncVectorEnv(fns, autoreset_mode=mode)


def dream_vec(task, n, steps, mode, terminate=None):
    model = random_world_model(task, SMALL, terminate=terminate)
    return DreamVectorEnv(task, model, num_envs=n, max_episode_steps=steps, autoreset_mode=mode)


def trace(env, num_steps, seed=0):
    """[(obs, rew, term, trunc, info)] for a seeded reset and seeded random actions."""
    obs, info = env.reset(seed=seed)
    env.action_space.seed(seed)
    out = [(obs, None, None, None, info)]
    for _ in range(num_steps):
        out.append(env.step(env.action_space.sample()))
    return out


def check_autoreset(tr, mode, n, obs_shape):
    """Gymnasium's autoreset rules, checked step by step on one trace."""
    prev_done = np.zeros(n, bool)
    for obs, rew, term, trunc, info in tr[1:]:
        assert obs.shape == (n, *obs_shape)
        assert rew.shape == term.shape == trunc.shape == (n,)
        assert rew.dtype == np.float64 and term.dtype == trunc.dtype == np.bool_
        done = term | trunc
        if mode is AutoresetMode.NEXT_STEP:
            # The step after an ending is the reset step: zero reward, no flags, no final obs.
            assert (rew[prev_done] == 0).all()
            assert not done[prev_done].any()
            assert not any(k in info for k in AUTORESET_KEYS)
        else:
            if done.any():
                assert info["_final_obs"].tolist() == done.tolist()
                assert info["final_obs"].dtype == object
                for i in range(n):
                    if done[i]:
                        assert info["final_obs"][i].shape == obs_shape
                    else:
                        assert info["final_obs"][i] is None
                assert info["_final_info"].tolist() == done.tolist()
            else:
                assert "final_obs" not in info or not info["_final_obs"].any()
        prev_done = done


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.name)
def test_time_limit_episodes_match_sync_vector_env(mode):
    """HalfCheetah never terminates: both envs must truncate on exactly the same steps."""
    n, steps, length = 3, 3, 8
    real = trace(real_vec("HalfCheetah", n, steps, mode), length)
    dream = trace(dream_vec("HalfCheetah", n, steps, mode, terminate=False), length)
    assert real[0][0].shape == dream[0][0].shape
    for r, d in zip(real[1:], dream[1:], strict=True):
        assert r[0].shape == d[0].shape
        assert r[0].dtype == np.float64 and d[0].dtype == np.float32  # each env's declared dtype
        for k in (1, 2, 3):  # reward, terminated, truncated
            assert r[k].dtype == d[k].dtype and r[k].shape == d[k].shape
        np.testing.assert_array_equal(r[2], d[2])
        np.testing.assert_array_equal(r[3], d[3])
        if mode is AutoresetMode.NEXT_STEP:  # reset steps have zero reward in both
            np.testing.assert_array_equal(r[1] == 0, d[1] == 0)
        for key in AUTORESET_KEYS:
            assert (key in r[4]) == (key in d[4]), key
            if key in r[4] and key.startswith("_"):
                np.testing.assert_array_equal(r[4][key], d[4][key])
    check_autoreset(real, mode, n, (17,))
    check_autoreset(dream, mode, n, (17,))


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.name)
def test_terminations_follow_the_same_rules_as_sync_vector_env(mode):
    """Hopper terminates at different times per slot; the rules hold in both envs."""
    n = 4
    real = trace(real_vec("Hopper", n, 40, mode), 60, seed=1)
    dream = trace(dream_vec("Hopper", n, 40, mode), 60, seed=1)
    for tr in (real, dream):
        terms = np.array([t[2] for t in tr[1:]])
        assert terms.any()  # the rules are exercised, not vacuous
        check_autoreset(tr, mode, n, (11,))


@pytest.mark.parametrize(
    "make", [real_vec, functools.partial(dream_vec, terminate=False)], ids=["real", "dream"]
)
def test_final_obs_of_same_step_equals_last_obs_of_next_step(make):
    """For a seeded first episode, SAME_STEP's final_obs is the obs NEXT_STEP returns on done."""
    n, steps = 2, 4
    nxt = trace(make("HalfCheetah", n, steps, AutoresetMode.NEXT_STEP), steps, seed=3)
    same = trace(make("HalfCheetah", n, steps, AutoresetMode.SAME_STEP), steps, seed=3)
    for t in range(1, steps):
        np.testing.assert_array_equal(nxt[t][0], same[t][0])
    info = same[steps][4]
    assert info["_final_obs"].all()
    for i in range(n):
        np.testing.assert_array_equal(info["final_obs"][i], nxt[steps][0][i])
    assert not np.array_equal(same[steps][0], nxt[steps][0])  # SAME_STEP already reset


def test_dream_reset_step_returns_a_real_start():
    env = dream_vec("HalfCheetah", 2, 2, AutoresetMode.NEXT_STEP, terminate=False)
    tr = trace(env, 3)
    starts = env.model.start_obs.numpy()
    for obs in (tr[0][0], tr[3][0]):  # after reset() and on the autoreset step
        for row in obs:
            assert any(np.array_equal(row, s) for s in starts)
    assert tr[3][4]["_uncertainty"].tolist() == [False, False]  # no model step on reset
