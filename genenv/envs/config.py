"""`DreamConfig`: the options of a dream env (every constructor kwarg that is not the world)."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode


def _is_int(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


def _is_real(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


@dataclass
class DreamConfig:
    """Options of a dream env (the constructor kwargs that are not the world itself)."""

    # Truncate an episode after this many steps; None: the task's stock limit; -1: never.
    max_episode_steps: int | None = None
    autoreset_mode: AutoresetMode = AutoresetMode.NEXT_STEP  # NEXT_STEP or SAME_STEP
    uncertainty_penalty: float = 0.0  # λ: reward -= λ * ensemble disagreement (MOPO)
    uncertainty_threshold: float | None = None  # truncate a slot whose disagreement exceeds this
    start: str = "starts"  # initial observations from real episode starts ("starts") or any state
    validate_actions: bool = True  # step_tensor: one reduction + host sync to reject NaN/inf
    elite_only: bool = True  # run only the ensemble's elite members (same rollouts, less work)
    # Which elites a step runs: "elites" (all of them: the disagreement in info["uncertainty"],
    # the elites' mean termination vote) or "sampled" (TS1 only: each slot's drawn elite, about
    # 1/K of the network work; no disagreement (NaN), that member's own termination). See
    # `genenv.envs.fast`.
    members: str = "elites"
    compile: bool = False  # torch.compile the model's network (pays on GPU; measure on CPU)
    # Score predicted transitions with the stock task's own reward/termination instead of the
    # model's learned heads (`genenv.worlds.known`; stock MuJoCo tasks only).
    known_reward_termination: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.autoreset_mode, str):
            names = {m.name.lower(): m for m in AutoresetMode} | {
                m.value.lower(): m for m in AutoresetMode
            }
            if self.autoreset_mode.lower() not in names:
                raise ValueError(f"unknown autoreset_mode {self.autoreset_mode!r}")
            self.autoreset_mode = names[self.autoreset_mode.lower()]
        if self.autoreset_mode not in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP):
            raise ValueError(
                f"autoreset_mode must be NEXT_STEP or SAME_STEP, got {self.autoreset_mode}"
            )
        if self.max_episode_steps is not None and not _is_int(self.max_episode_steps):
            raise ValueError(f"max_episode_steps must be an int, got {self.max_episode_steps!r}")
        if self.max_episode_steps is not None and not (
            self.max_episode_steps == -1 or self.max_episode_steps >= 1
        ):
            raise ValueError(f"max_episode_steps must be >= 1 or -1, got {self.max_episode_steps}")
        pen = self.uncertainty_penalty
        if not _is_real(pen) or not math.isfinite(pen) or pen < 0:
            raise ValueError(f"uncertainty_penalty must be a finite number >= 0, got {pen!r}")
        thr = self.uncertainty_threshold
        if thr is not None and (not _is_real(thr) or math.isnan(thr) or thr <= 0):
            raise ValueError(f"uncertainty_threshold must be a number > 0 or None, got {thr!r}")
        if self.members not in ("elites", "sampled"):
            raise ValueError(f"members must be 'elites' or 'sampled', got {self.members!r}")
        if self.members == "sampled" and (pen != 0 or thr is not None or not self.elite_only):
            raise ValueError(
                "members='sampled' computes no disagreement and needs elite_only: it cannot be "
                "combined with uncertainty_penalty, uncertainty_threshold or elite_only=False"
            )
        if self.start not in ("starts", "states"):
            raise ValueError(f"start must be 'starts' or 'states', got {self.start!r}")
