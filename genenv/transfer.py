"""Transfer tests: the same agent, in the real MuJoCo world and in the dream, from the same starts.

A transfer test runs E real episodes of the world a `WorldSpec` describes, then E imagined episodes
that start from the very same initial observations, and reports both mean returns and their gap.
Real steps spent here are evaluation steps: they never train the world model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from genenv.worlds.spec import WorldSpec


@dataclass
class TransferResult:
    """One transfer test (returns are means over episodes)."""

    imagined_return: float
    real_return: float
    gap: float  # imagined - real: positive means the agent exploits the model
    real_env_steps: int  # real steps this test spent (evaluation only)
    real_returns: list[float]
    imagined_returns: list[float]
    mean_uncertainty: float  # mean ensemble disagreement along the imagined episodes

    def to_dict(self) -> dict:
        return asdict(self)


def run_real_episodes(
    policy, spec: WorldSpec, episodes: int, seed: int = 0, deterministic: bool = True
) -> tuple[list[float], int, np.ndarray]:
    """Returns (episode returns, real steps taken, (E, obs_dim) initial observations)."""
    env = spec.make_env()
    returns, starts, steps = [], [], 0
    try:
        for ep in range(episodes):
            obs, _ = env.reset(seed=seed + ep)
            starts.append(obs)
            total, done = 0.0, False
            while not done:
                action, _ = policy.predict(obs, deterministic=deterministic)
                obs, reward, terminated, truncated, _ = env.step(action)
                total += float(reward)
                steps += 1
                done = terminated or truncated
            returns.append(total)
    finally:
        env.close()
    return returns, steps, np.asarray(starts, dtype=np.float32)


@torch.no_grad()
def run_imagined_episodes(
    policy,
    model,
    spec: WorldSpec,
    start_obs: np.ndarray,
    max_episode_steps: int,
    seed: int = 0,
    deterministic: bool = True,
) -> tuple[list[float], float]:
    """Imagined episodes from the given starts, batched. Returns (returns, mean uncertainty)."""
    device = model.device
    gen = torch.Generator(device=device).manual_seed(seed)
    n = len(start_obs)
    obs = torch.as_tensor(start_obs, dtype=torch.float32, device=device)  # (E, obs_dim)
    ctx = torch.tensor(spec.context.as_tuple(), dtype=torch.float32, device=device)
    ctx = ctx.expand(n, -1)  # (E, ctx_dim)
    low, high = model.action_low, model.action_high
    totals = torch.zeros(n, device=device)
    alive = torch.ones(n, dtype=torch.bool, device=device)
    unc_sum, unc_count = 0.0, 0
    for _ in range(max_episode_steps):
        action, _ = policy.predict(obs.cpu().numpy(), deterministic=deterministic)
        action = torch.as_tensor(np.asarray(action), dtype=torch.float32, device=device)
        action = torch.clamp(action.reshape(n, -1), low, high)
        out = model.step(obs, action, ctx, gen)
        totals += torch.where(alive, out.reward, torch.zeros_like(out.reward))
        unc_sum += float(out.uncertainty[alive].sum())
        unc_count += int(alive.sum())
        alive &= ~out.terminated & out.finite
        obs = out.obs
        if not alive.any():
            break
    return totals.cpu().tolist(), unc_sum / max(unc_count, 1)


def transfer_test(
    policy,
    model,
    spec: WorldSpec,
    episodes: int = 5,
    seed: int = 0,
    max_episode_steps: int | None = None,
) -> TransferResult:
    """Real vs imagined return of `policy` in `spec`'s world, from the same start states."""
    from genenv.worlds.tasks import get_task

    horizon = max_episode_steps or get_task(spec.task).max_episode_steps
    real, steps, starts = run_real_episodes(policy, spec, episodes, seed=seed)
    imagined, unc = run_imagined_episodes(policy, model, spec, starts, horizon, seed=seed)
    real_mean, imag_mean = float(np.mean(real)), float(np.mean(imagined))
    return TransferResult(imag_mean, real_mean, imag_mean - real_mean, steps, real, imagined, unc)
