"""The stock MuJoCo tasks' own reward and termination, as batched torch functions of (s, a, s').

These restate the gymnasium v5 definitions in terms of observations, so a world model's predicted
next observation can be scored by the task itself instead of by learned heads. They are an explicit
option (`known_reward_termination` on `genenv run` / the dream env): the agent then gets
information a learned world does not have, and results say so apart. Learned heads stay the
default, and the only choice for generated worlds.

Where the v5 reward is not a function of observations, the closest observable quantity is used,
and `KnownTask.exact_reward` says so (a test measures the gap on real transitions):
- forward velocity: v5 divides the root's displacement by `dt`; the observation holds the root
  velocity at the end of the step, so the reward uses a weighted mean of the root velocity before
  and after the step (MuJoCo's semi-implicit Euler moves the root by the substeps' velocities);
- Ant: the contact cost (weight 5e-4 on clipped external forces) is not observable without the
  contact forces in the observation and is left out;
- Hopper, Walker2d, InvertedDoublePendulum observe velocities clipped to [-10, 10].
Terminations are exact functions of the next observation (up to that clipping).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from genenv.worlds.spec import CONTEXT_FIELDS
from genenv.worlds.tasks import get_task

_LENGTH = list(CONTEXT_FIELDS).index("length_scale")

# fn(obs (n, o), action (n, a), next_obs (n, o), context (n, c)) -> (reward (n,), terminated (n,))
KnownFn = Callable[
    [torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]
]


@dataclass(frozen=True)
class KnownTask:
    """One task's reward/termination function and how exactly it matches the real env."""

    fn: KnownFn
    exact_reward: bool  # False: an observable approximation (see the module docstring)


def _ctrl(action: torch.Tensor, weight: float) -> torch.Tensor:
    return weight * action.square().sum(-1)  # (n,)


def _finite(x: torch.Tensor) -> torch.Tensor:
    return torch.isfinite(x).all(-1)  # (n,)


def _inverted_pendulum(obs, action, next_obs, context):
    # obs = [cart x, pole angle, cart v, pole angular v]
    terminated = ~_finite(next_obs) | (next_obs[:, 1].abs() > 0.2)
    return (~terminated).float(), terminated


def _inverted_double_pendulum(obs, action, next_obs, context):
    # obs = [x, sin q1, sin q2, cos q1, cos q2, v_cart, v1, v2 (clipped), constraint force]
    x, s1, s2, c1, c2 = next_obs[:, :5].unbind(-1)
    length = 0.6 * context[:, _LENGTH]  # each pole's length (the tip site sits at its end)
    tip_x = x + length * (s1 + (s1 * c2 + c1 * s2))  # sin(q1) + sin(q1 + q2)
    tip_y = length * (c1 + (c1 * c2 - s1 * s2))  # cos(q1) + cos(q1 + q2)
    terminated = tip_y <= 1.0
    v1, v2 = next_obs[:, 6], next_obs[:, 7]
    penalty = 0.01 * tip_x**2 + (tip_y - 2.0) ** 2 + 1e-3 * v1**2 + 5e-3 * v2**2
    return 10.0 * (~terminated).float() - penalty, terminated


def _reacher(obs, action, next_obs, context):
    # obs[8:10] = fingertip - target (x, y); both bodies sit at the same height
    reward = -next_obs[:, 8:10].norm(dim=-1) - _ctrl(action, 1.0)
    return reward, torch.zeros_like(reward, dtype=torch.bool)


def _half_cheetah(obs, action, next_obs, context):
    # root x velocity (obs = qpos[1:], qvel); 1:3 weights fit its 5 substeps best (MAE 0.08 vs 0.14)
    velocity = 0.25 * obs[:, 8] + 0.75 * next_obs[:, 8]
    reward = velocity - _ctrl(action, 0.1)
    return reward, torch.zeros_like(reward, dtype=torch.bool)


def _hopper(obs, action, next_obs, context):
    # obs = qpos[1:] (z, angle, 3 joints), clip(qvel) (6); state_vector()[2:] = obs[1:]
    z, angle = next_obs[:, 0], next_obs[:, 1]
    healthy = (
        (next_obs[:, 1:].abs() < 100.0).all(-1)
        & (z > 0.7)
        & (angle > -0.2)
        & (angle < 0.2)
        & _finite(next_obs)
    )
    velocity = 0.5 * (obs[:, 5] + next_obs[:, 5])
    return velocity + healthy.float() - _ctrl(action, 1e-3), ~healthy


def _walker2d(obs, action, next_obs, context):
    # obs = qpos[1:] (z, angle, 6 joints), clip(qvel) (9)
    z, angle = next_obs[:, 0], next_obs[:, 1]
    healthy = (z > 0.8) & (z < 2.0) & (angle > -1.0) & (angle < 1.0) & _finite(next_obs)
    velocity = 0.5 * (obs[:, 8] + next_obs[:, 8])
    return velocity + healthy.float() - _ctrl(action, 1e-3), ~healthy


def _ant(obs, action, next_obs, context):
    # obs = qpos[2:] (z, quaternion, 8 joints), qvel (14) -- no contact forces
    z = next_obs[:, 0]
    healthy = _finite(next_obs) & (z >= 0.2) & (z <= 1.0)
    velocity = 0.5 * (obs[:, 13] + next_obs[:, 13])
    return velocity + healthy.float() - _ctrl(action, 0.5), ~healthy


KNOWN: dict[str, KnownTask] = {
    "InvertedPendulum": KnownTask(_inverted_pendulum, exact_reward=True),
    "InvertedDoublePendulum": KnownTask(_inverted_double_pendulum, exact_reward=True),
    "Reacher": KnownTask(_reacher, exact_reward=True),
    "HalfCheetah": KnownTask(_half_cheetah, exact_reward=False),
    "Hopper": KnownTask(_hopper, exact_reward=False),
    "Walker2d": KnownTask(_walker2d, exact_reward=False),
    "Ant": KnownTask(_ant, exact_reward=False),
}


def known_task(task: str) -> KnownTask:
    """The known reward/termination of `task`; ValueError for a task without one."""
    name = get_task(task).name
    if name not in KNOWN:
        raise ValueError(f"no known reward/termination for task {name!r}; have {sorted(KNOWN)}")
    return KNOWN[name]


def known_reward_termination(
    task: str,
    obs: torch.Tensor,  # (n, obs_dim)
    action: torch.Tensor,  # (n, act_dim)
    next_obs: torch.Tensor,  # (n, obs_dim)
    context: torch.Tensor,  # (n, ctx_dim), CONTEXT_FIELDS order
) -> tuple[torch.Tensor, torch.Tensor]:
    """(reward (n,) float32, terminated (n,) bool) of the stock task for a batch of transitions."""
    reward, terminated = known_task(task).fn(obs, action, next_obs, context)
    return reward.float(), terminated
