"""Dream steps scored by the task's own reward and termination (`genenv.worlds.known`).

The world model still predicts the next observation (and its uncertainty); the reward and the
termination of that predicted transition come from the stock task's definitions instead of the
model's learned heads. Used by `DreamVectorEnv(known_reward_termination=True)` and, for transfer
tests and videos, by `KnownRewardTermination(model)`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from genenv.models.base import ModelStep
from genenv.worlds.known import known_task

StepFn = Callable[..., ModelStep]


def known_step(task: str, step: StepFn) -> StepFn:
    """Wrap a model step function so its reward/termination are the task's own."""
    fn = known_task(task).fn

    @torch.no_grad()
    def stepped(obs, action, context, generator=None) -> ModelStep:
        out = step(obs, action, context, generator)
        reward, terminated = fn(obs, action, out.obs, context)  # (n,), (n,)
        # A diverged prediction (finite but huge) can overflow the reward: treat it as the model
        # treats a non-finite output (the env truncates the slot; transfer tests stop there).
        ok = out.finite & torch.isfinite(reward)
        reward = torch.where(ok, reward.float(), torch.zeros_like(out.reward))
        return out._replace(reward=reward, terminated=terminated & ok, finite=ok)

    return stepped


class KnownRewardTermination:
    """A world model view whose `step` uses the task's own reward and termination.

    Everything else (`initial`, `device`, action bounds, normalisers...) is the wrapped model's.
    """

    def __init__(self, model: Any):
        self.model = model
        self._step = known_step(model.task, model.step)

    def step(self, obs, action, context, generator=None) -> ModelStep:
        return self._step(obs, action, context, generator)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)
