"""Level scores: regret or learning progress, down-weighted where the world model is unsure.

For one finished imagined episode on a level, with per-step rewards r_t, value estimates V(s_t),
GAE advantages A_t (gamma, lambda of the agent) and the ensemble disagreement u_t reported by the
dream env (`info["uncertainty"]`):

    regret, kind "pvl"  (positive value loss):  R = mean_t max(A_t, 0)
    regret, kind "maxmc":                       R = mean_t (G_max - V(s_t)),  G_max = best episode
                                                    return seen on this level (this one included)
    regret, kind "learning_progress":           R = |G - G_prev|,  G_prev = the level's previous
                                                    return (first visit: its parent's, or the
                                                    nearest level's in context space; else 0)
    uncertainty U = mean_t u_t

    score = R * exp(-kappa * U)      combine "gate"     (default; a multiplicative gate;
                                                        R / exp(-kappa * U) when R < 0)
    score = R - kappa * U            combine "subtract"

so levels whose return the model cannot be trusted on rank lower and are replayed less. With
kappa = 0 this is plain PLR / ACCEL scoring. A non-finite input (the model diverged) scores the
lowest possible value for the kind instead of poisoning the buffer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SCORE_KINDS = ("pvl", "maxmc", "learning_progress")
COMBINES = ("gate", "subtract")
NEEDS_VALUES = ("pvl", "maxmc")


@dataclass
class ScoringConfig:
    """How a finished episode becomes a level score."""

    kind: str = "pvl"  # one of SCORE_KINDS (pvl and maxmc need a value function, e.g. PPO)
    combine: str = "gate"  # one of COMBINES: regret*exp(-kappa*U) or regret - kappa*U
    kappa: float = 1.0  # weight of the world model's uncertainty (0 ignores it)

    def __post_init__(self) -> None:
        if self.kind not in SCORE_KINDS:
            raise ValueError(
                f"scoring: unknown kind {self.kind!r}; valid: {', '.join(SCORE_KINDS)}"
            )
        if self.combine not in COMBINES:
            raise ValueError(
                f"scoring: unknown combine {self.combine!r}; valid: {', '.join(COMBINES)}"
            )
        if not (math.isfinite(self.kappa) and self.kappa >= 0):
            raise ValueError(f"scoring: kappa must be a finite number >= 0, got {self.kappa}")


@dataclass
class EpisodeStats:
    """What the agent side measured over one finished episode on one level."""

    episode_return: float  # undiscounted sum of rewards
    length: int  # steps
    uncertainty: float  # mean ensemble disagreement over the episode (0 for real worlds)
    positive_advantage: float | None = None  # mean_t max(A_t, 0), or None without values
    mean_value: float | None = None  # mean_t V(s_t), or None without values


def gae(
    rewards: np.ndarray,  # (T,)
    values: np.ndarray,  # (T,) V(s_t)
    last_value: float,  # V(s_T) for a truncated episode, 0 for a terminated one
    gamma: float,
    lam: float,
) -> np.ndarray:
    """(T,) generalised advantage estimates of one episode."""
    rewards = np.asarray(rewards, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    next_values = np.append(values[1:], last_value)  # (T,)
    deltas = rewards + gamma * next_values - values  # (T,)
    adv = np.empty_like(deltas)
    running = 0.0
    for t in range(len(deltas) - 1, -1, -1):
        running = deltas[t] + gamma * lam * running
        adv[t] = running
    return adv


def regret(
    stats: EpisodeStats,
    config: ScoringConfig,
    best_return: float | None = None,
    previous_return: float | None = None,
) -> float:
    """The regret / learning-progress term R (see the module docstring)."""
    if config.kind == "pvl":
        if stats.positive_advantage is None:
            raise ValueError(
                "scoring kind 'pvl' needs advantages (a value-based agent such as PPO)"
            )
        return float(stats.positive_advantage)
    if config.kind == "maxmc":
        if stats.mean_value is None:
            raise ValueError("scoring kind 'maxmc' needs value estimates (an agent such as PPO)")
        best = (
            stats.episode_return if best_return is None else max(best_return, stats.episode_return)
        )
        return float(best - stats.mean_value)
    previous = 0.0 if previous_return is None else previous_return
    return float(abs(stats.episode_return - previous))


def combine(regret_term: float, uncertainty: float, config: ScoringConfig) -> float:
    """The score from R and U (see the module docstring)."""
    if config.combine == "gate":
        g = math.exp(-config.kappa * max(uncertainty, 0.0))  # in (0, 1]
        return regret_term * g if regret_term >= 0 else regret_term / g
    return regret_term - config.kappa * uncertainty


def score_episode(
    stats: EpisodeStats,
    config: ScoringConfig,
    best_return: float | None = None,
    previous_return: float | None = None,
) -> float:
    """The level score of one finished episode; always finite."""
    r = regret(stats, config, best_return, previous_return)
    u = stats.uncertainty
    if not (math.isfinite(r) and math.isfinite(u)):
        return WORST_SCORE
    score = combine(r, u, config)
    return score if math.isfinite(score) else WORST_SCORE


WORST_SCORE = -1e9  # what a diverged episode scores: finite, below any real score
