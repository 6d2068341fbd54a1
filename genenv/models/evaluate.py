"""Open-loop evaluation: how far imagined rollouts drift from real ones.

From a real state, the model is fed the real action sequence that followed it in the data, and
its predicted observation after h steps is compared with the real one. The model runs
deterministically: at each step the next state is the state plus the mean over the elites of
their predicted mean change (no sampling, no member choice), so the metric measures the model, not
its noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from genenv.data.transitions import Transitions
from genenv.models.ensemble import EnsembleWorldModel


@torch.no_grad()
def mean_step(
    model: EnsembleWorldModel, obs: torch.Tensor, action: torch.Tensor, context: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Deterministic step: (next obs (n, obs_dim), reward (n,)) from the elites' mean."""
    mean, _, _ = model(obs, action, context)  # (E, n, out)
    target = model.target_norm.inverse(mean[model.elites].mean(0))  # (n, out)
    return obs + target[:, :-1], target[:, -1]


def _window_starts(t: Transitions, h: int) -> np.ndarray:
    """Indices i such that transitions i .. i+h-1 are consecutive steps of one episode."""
    ep = t.episode_ids
    n = len(t)
    if n < h:
        return np.zeros(0, dtype=np.int64)
    i = np.arange(n - h + 1)
    same = ep[i] == ep[i + h - 1]  # episodes are stored contiguously, in order
    return i[same]


@torch.no_grad()
def open_loop_errors(
    model: EnsembleWorldModel,
    transitions: Transitions,
    horizons: Sequence[int] = (1, 5, 20),
    n_starts: int = 1000,
    generator: np.random.Generator | None = None,
) -> dict[str, Any]:
    """Open-loop errors of `model` on `transitions` (pass held-out episodes).

    For each horizon h, up to `n_starts` start indices are drawn uniformly (without replacement)
    among the real states that have h more steps in their episode. Reported per horizon:

    - `obs_error`: mean over starts and observation dimensions of |predicted - real| / std_d,
      where std_d is the standard deviation of dimension d over all observations in
      `transitions` (dimensions with std < 1e-6 use 1). 0 is perfect; predicting the mean state
      scores about 0.8 on Gaussian-like dimensions.
    - `obs_rmse`: the same errors squared, averaged, square-rooted.
    - `copy_baseline`: `obs_error` of predicting that the state does not change (real start
      state), to read the model's error against.
    - `reward_error`: mean |predicted - real| of the reward received at step h (reward units);
      `reward_error_normalised`: that divided by the std of the rewards in `transitions`.
    - `n_starts`: how many starts were usable (0 when no episode is long enough: values None).
    """
    rng = generator if generator is not None else np.random.default_rng(0)
    dev = model.device
    std = transitions.obs.std(0)
    std = np.where(std > 1e-6, std, 1.0).astype(np.float32)  # (obs_dim,)
    r_std = float(transitions.rewards.std()) or 1.0
    std_t = torch.as_tensor(std, device=dev)

    def f(x: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(x, dtype=torch.float32, device=dev)

    out: dict[str, Any] = {}
    for h in horizons:
        starts = _window_starts(transitions, h)
        if starts.size > n_starts:
            starts = np.sort(rng.choice(starts, n_starts, replace=False))
        row: dict[str, Any] = {"n_starts": int(starts.size)}
        if starts.size == 0:
            row.update(obs_error=None, obs_rmse=None, copy_baseline=None)
            row.update(reward_error=None, reward_error_normalised=None)
            out[str(h)] = row
            continue
        obs = f(transitions.obs[starts])  # (k, obs_dim)
        for j in range(h):
            step = starts + j
            obs, reward = mean_step(
                model, obs, f(transitions.actions[step]), f(transitions.contexts[step])
            )
        real = f(transitions.next_obs[starts + h - 1])  # (k, obs_dim)
        z = (obs - real) / std_t
        copy = (f(transitions.obs[starts]) - real) / std_t
        r_err = (reward - f(transitions.rewards[starts + h - 1])).abs().mean()
        finite = bool(torch.isfinite(z).all())
        row.update(
            obs_error=float(z.abs().mean()) if finite else float("inf"),
            obs_rmse=float(z.pow(2).mean().sqrt()) if finite else float("inf"),
            copy_baseline=float(copy.abs().mean()),
            reward_error=float(r_err),
            reward_error_normalised=float(r_err) / r_std,
        )
        out[str(h)] = row
    return out


def format_open_loop(errors: dict[str, Any]) -> str:
    """A small table of `open_loop_errors` output."""
    lines = ["horizon  starts  obs_error  obs_rmse  copy_baseline  reward_error"]
    for h, row in errors.items():
        if row["obs_error"] is None:
            lines.append(f"{h:>7}  {row['n_starts']:>6}  (no held-out episode is long enough)")
            continue
        lines.append(
            f"{h:>7}  {row['n_starts']:>6}  {row['obs_error']:>9.4f}  {row['obs_rmse']:>8.4f}  "
            f"{row['copy_baseline']:>13.4f}  {row['reward_error']:>12.4f}"
        )
    return "\n".join(lines)
