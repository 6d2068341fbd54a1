"""Imagined-step training with an honest progress bar: `learn_steps(agent, n)` trains any agent
(SB3 or genenv's on-device ones) for n more imagined steps and returns how many it really ran
(algorithms round up to whole rollouts), while a labelled bar counts them against that total."""

from __future__ import annotations

import math
from typing import Any

from genenv.progress import progress_bar


def steps_per_rollout(agent: Any) -> int:
    """Imagined steps an agent takes between checks of its step budget."""
    config = getattr(agent, "config", None)
    if config is not None and hasattr(config, "n_steps") and hasattr(agent, "env"):
        return int(agent.env.num_envs * config.n_steps)  # on-device PPO
    n_envs = int(getattr(agent, "n_envs", 1) or 1)
    if hasattr(agent, "n_steps"):  # SB3 on-policy (PPO, A2C)
        return int(agent.n_steps) * n_envs
    train_freq = getattr(agent, "train_freq", None)  # SB3 off-policy: TrainFreq(frequency, unit)
    frequency = getattr(train_freq, "frequency", 1)
    unit = str(getattr(getattr(train_freq, "unit", None), "value", "step"))
    return (int(frequency) if unit == "step" else 1) * n_envs


def planned_steps(agent: Any, steps: int) -> int:
    """The imagined steps `agent.learn(steps, reset_num_timesteps=False)` will really run."""
    per = max(1, steps_per_rollout(agent))
    return math.ceil(steps / per) * per


def learn_steps(
    agent: Any, steps: int, desc: str = "imagined steps", bar: Any = None, callbacks: list = ()
) -> int:
    """Train `agent` for `steps` more imagined steps (its count and episodes continue); returns
    the steps it really ran. Progress goes to `bar` if given, else to a new bar of its own.
    `callbacks`: extra SB3 callbacks (a world schedule's); SB3 agents only."""
    own = bar is None
    if own:
        bar = progress_bar(total=planned_steps(agent, steps), desc=desc, unit="step")
    before = agent.num_timesteps
    if hasattr(agent, "set_dream_env"):  # on-device agents: callback(agent, stats) per update
        last = [before]

        def on_update(a: Any, stats: dict) -> None:
            bar.update(a.num_timesteps - last[0])
            last[0] = a.num_timesteps

        if callbacks:
            raise ValueError("SB3 callbacks (a world schedule) need an SB3 agent")
        agent.learn(steps, callback=on_update, reset_num_timesteps=False, progress=False)
    else:
        agent.learn(
            steps,
            callback=[*callbacks, sb3_bar_callback(bar)],
            reset_num_timesteps=False,
            progress_bar=False,
        )
    if own:
        bar.close()
    return int(agent.num_timesteps - before)


def sb3_bar_callback(bar: Any):
    """An SB3 callback that counts each vector step's env steps on `bar`."""
    from stable_baselines3.common.callbacks import BaseCallback

    class BarCallback(BaseCallback):
        def _on_step(self) -> bool:
            bar.update(self.training_env.num_envs)
            return True

    return BarCallback()
