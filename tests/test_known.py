"""The stock tasks' own reward and termination (genenv.worlds.known) against the real envs."""

import numpy as np
import pytest
import torch

from genenv.envs.testing import random_world_model
from genenv.envs.vector import DreamVectorEnv
from genenv.worlds import WorldSpec
from genenv.worlds.known import KNOWN, known_reward_termination


def _real_transitions(task: str, steps: int = 600, seed: int = 3):
    env = WorldSpec(task).make_env()
    env.action_space.seed(seed)
    rows = {k: [] for k in ("obs", "act", "next", "rew", "term")}
    obs, _ = env.reset(seed=seed)
    for _ in range(steps):
        action = env.action_space.sample()
        nxt, rew, term, trunc, _ = env.step(action)
        for key, value in zip(rows, (obs, action, nxt, rew, term), strict=True):
            rows[key].append(value)
        obs = env.reset()[0] if term or trunc else nxt
    env.close()
    t = {k: torch.as_tensor(np.array(v), dtype=torch.float32) for k, v in rows.items()}
    ctx = torch.tensor(WorldSpec(task).context.as_tuple()).expand(steps, -1)
    return t, ctx


@pytest.mark.parametrize("task", sorted(KNOWN))
def test_known_functions_match_the_real_env(task):
    t, ctx = _real_transitions(task)
    reward, terminated = known_reward_termination(task, t["obs"], t["act"], t["next"], ctx)
    assert torch.equal(terminated, t["term"].bool())  # terminations are exact
    err = (reward - t["rew"]).abs()
    if KNOWN[task].exact_reward:
        # exact but where a velocity beyond the observation's clip at 10 enters (IDP falls)
        assert float((err < 1e-3).float().mean()) > 0.98 and float(err.mean()) < 1e-2
    else:  # velocity from observed velocities (and Ant without its contact cost)
        assert float(err.mean()) < 0.15 * float(t["rew"].std())
        assert float(np.corrcoef(reward.numpy(), t["rew"].numpy())[0, 1]) > 0.98


def test_dream_env_uses_the_known_functions():
    model = random_world_model("Hopper", terminate=False)
    env = DreamVectorEnv("Hopper", model, num_envs=8, known_reward_termination=True)
    obs = env.reset_tensor(seed=0)
    actions = torch.rand(8, 3) * 2 - 1
    nxt, reward, terminated, _, _ = env.step_tensor(actions)
    ctx = torch.tensor(WorldSpec("Hopper").context.as_tuple()).expand(8, -1)
    want_r, want_t = known_reward_termination("Hopper", obs, actions, nxt, ctx)
    assert torch.allclose(reward, want_r) and torch.equal(terminated, want_t)
    assert bool(terminated.any())  # an untrained model leaves the healthy range; heads say never
