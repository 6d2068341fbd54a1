"""Transfer tests: the same agent, in the real MuJoCo world and in the dream, from the same starts.

A transfer test runs E real episodes of the world a `WorldSpec` describes, then E imagined episodes
that start from the very same initial observations, and reports both mean returns and their gap.
Real steps spent here are evaluation steps: they never train the world model. With a latent pixel
world the agent acts on latents: in the real env it reads the model's encoding of the real camera
frames (`LatentAgentPolicy`, `run_real_episodes(..., pixel_world=model)`).

Fidelity of a run (`fidelity`, `log_fidelity`): the transfer ratio real / imagined return of each
test, and the Spearman (rank) and Pearson correlation of imagined against real return across all
tests so far. High correlation means the dream orders policies as the real world does, which is
what lets a user pick checkpoints without spending real steps (`genenv rank`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

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


class LatentAgentPolicy:
    """A real-env policy from a pixel world's `model` and an `agent` (SB3-style `predict` on
    latents z): each call encodes the episode's last two real frames [previous, current] and the
    action this policy took between them (zeros at an episode's first frame).

    `reads_frames` tells `genenv.data.collect` to call it as policy(obs, frames), with the frames
    of the episode so far (the first frame stands in for its own previous one); a call with one
    frame starts a new episode."""

    reads_frames = True

    def __init__(self, model: Any, agent: Any, deterministic: bool = True):
        self.model, self.agent, self.deterministic = model, agent, deterministic
        self.description = f"latent-agent:{type(agent).__name__}"
        self._last = np.zeros(model.act_dim, np.float32)  # (act_dim,) the action taken last
        self._low, self._high = (b.cpu().numpy() for b in (model.action_low, model.action_high))

    def __call__(self, obs: np.ndarray, frames: Sequence[np.ndarray]) -> np.ndarray:
        if len(frames) == 1:
            self._last = np.zeros_like(self._last)
        prev = frames[-2] if len(frames) > 1 else frames[-1]
        stack = torch.as_tensor(np.stack([prev, frames[-1]])[None], device=self.model.device)
        z = self.model.encode(stack, self._last[None])[0].cpu().numpy()  # (D,)
        action, _ = self.agent.predict(z, deterministic=self.deterministic)
        # the action as the env applies it (clipped to the box, as the collected data holds it)
        action = np.asarray(action, np.float32).reshape(self._last.shape)
        self._last = np.clip(action, self._low, self._high)
        return self._last.copy()


def run_real_episodes(
    policy,
    spec: WorldSpec,
    episodes: int,
    seed: int = 0,
    deterministic: bool = True,
    max_episode_steps: int | None = None,
    pixel_world: Any = None,
) -> tuple[list[float], int, np.ndarray]:
    """Returns (episode returns, real steps taken, (E, obs_dim) initial observations).

    Episodes end at termination, the env's time limit, or `max_episode_steps` if given.
    With `pixel_world` (a latent model) the policy acts on its latents: every step it reads the
    encoding of the last two real frames of the task's pixel camera (`LatentAgentPolicy`), and
    the initial observations are the (E, D) latents of the first frames."""
    if pixel_world is None:
        env = spec.make_env()
        act = lambda obs, frames: policy.predict(obs, deterministic=deterministic)[0]  # noqa: E731
    else:
        from genenv.worlds.cameras import make_pixel_env

        env = make_pixel_env(spec, pixel_world.config.image_size)
        act = LatentAgentPolicy(pixel_world, policy, deterministic)
    returns, starts, steps = [], [], 0
    try:
        for ep in range(episodes):
            obs, _ = env.reset(seed=seed + ep)
            frames = None if pixel_world is None else [env.render().copy()]
            starts.append(obs if frames is None else _encode_first(pixel_world, frames[0]))
            total, done, t = 0.0, False, 0
            while not done:
                obs, reward, terminated, truncated, _ = env.step(act(obs, frames))
                total += float(reward)
                steps, t = steps + 1, t + 1
                done = terminated or truncated or t == max_episode_steps
                if frames is not None:
                    frames = [frames[-1], env.render().copy()]  # the policy reads the last two
            returns.append(total)
    finally:
        env.close()
    return returns, steps, np.asarray(starts, dtype=np.float32)


def _encode_first(model: Any, frame: np.ndarray) -> np.ndarray:
    """(D,) the latent a pixel world gives an episode's first frame (a pose at rest)."""
    return model.encode(torch.as_tensor(frame[None]))[0].cpu().numpy()


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
    deterministic: bool = True,
    imagined_per_start: int = 1,
) -> TransferResult:
    """Real vs imagined return of `policy` in `spec`'s world, from the same start states.

    With a latent pixel world the policy acts on latents: in the real env it reads the model's
    encoding of the real camera frames, and the dream starts from the encoded first frames.
    `imagined_per_start` > 1 runs that many imagined episodes from each real start (the model
    samples a member and noise every step, so they differ) and reports their mean per start:
    imagined episodes are cheap, and averaging them lowers the dream's sampling noise.
    """
    from genenv.models.latent import LatentWorldModel
    from genenv.worlds.tasks import get_task

    if imagined_per_start < 1:
        raise ValueError(f"imagined_per_start must be >= 1, got {imagined_per_start}")
    horizon = max_episode_steps or get_task(spec.task).max_episode_steps
    pixels = model if isinstance(model, LatentWorldModel) else None  # it reads real frames
    real, steps, starts = run_real_episodes(
        policy, spec, episodes, seed, deterministic, horizon, pixel_world=pixels
    )
    starts = np.repeat(starts, imagined_per_start, axis=0)  # (E * M, obs_dim), start-major
    imagined, unc = run_imagined_episodes(
        policy, model, spec, starts, horizon, seed=seed, deterministic=deterministic
    )
    imagined = np.asarray(imagined).reshape(episodes, imagined_per_start).mean(1).tolist()
    real_mean, imag_mean = float(np.mean(real)), float(np.mean(imagined))
    return TransferResult(imag_mean, real_mean, imag_mean - real_mean, steps, real, imagined, unc)


# -- fidelity ------------------------------------------------------------------------------------
MIN_CORRELATION_POINTS = 3  # fewer points than this: a correlation says nothing, report None


def rankdata(x: Sequence[float]) -> np.ndarray:
    """Ranks 1..n of `x`, ties getting the mean of the ranks they span (scipy's 'average')."""
    a = np.asarray(x, dtype=np.float64)  # (n,)
    order = np.argsort(a, kind="mergesort")
    sorted_a = a[order]
    # Start of each run of equal values in sorted order; each run gets its mean rank.
    starts = np.flatnonzero(np.r_[True, sorted_a[1:] != sorted_a[:-1]])
    ends = np.r_[starts[1:], a.size]  # exclusive
    mean_rank = (starts + ends + 1) / 2.0  # mean of ranks starts+1 .. ends
    ranks = np.empty(a.size, dtype=np.float64)
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


def _paired(name: str, x: Sequence[float], y: Sequence[float]):
    """(x, y) as float64 arrays for a correlation, or None where it is undefined (fewer than 3
    points, a non-finite value); ValueError unless two 1-D sequences of one length."""
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(
            f"{name} needs two 1-D sequences of one length, got {a.shape} and {b.shape}"
        )
    if a.size < MIN_CORRELATION_POINTS or not (np.isfinite(a).all() and np.isfinite(b).all()):
        return None
    return a, b


def pearson(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Pearson correlation, or None with fewer than 3 points, a constant side or a non-finite value."""
    pair = _paired("pearson", x, y)
    if pair is None:
        return None
    a, b = pair[0] - pair[0].mean(), pair[1] - pair[1].mean()
    denom = float(np.sqrt((a * a).sum() * (b * b).sum()))
    if denom <= 0.0:
        return None  # a constant side: the correlation is undefined
    return float(np.clip((a * b).sum() / denom, -1.0, 1.0))


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman rank correlation (Pearson of average ranks, so ties count correctly), or None."""
    pair = _paired("spearman", x, y)
    return None if pair is None else pearson(rankdata(pair[0]), rankdata(pair[1]))


def transfer_ratio(real_return: float, imagined_return: float) -> float | None:
    """real / imagined return; None when the imagined return is ~0 (the ratio means nothing).

    1 means the dream's promise held; below 1 the agent did worse in the real world (typically it
    exploited the model). Read it for tasks whose returns are positive; with negative returns
    (e.g. Reacher) the sign flips its meaning, and the correlations are the better measure.
    """
    if not (np.isfinite(real_return) and np.isfinite(imagined_return)):
        return None
    if abs(imagined_return) < 1e-8:
        return None
    return float(real_return / imagined_return)


def fidelity(tests: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Fidelity of a run from its transfer tests (dicts with `imagined_return`, `real_return`).

    Returns {"tests", "transfer_ratio" (one per test, None where undefined), "final_transfer_ratio",
    "spearman", "pearson"} -- the correlations over all tests, None below 3 tests or when either
    side is constant.
    """
    imagined = [float(t["imagined_return"]) for t in tests]
    real = [float(t["real_return"]) for t in tests]
    ratios = [transfer_ratio(r, i) for r, i in zip(real, imagined, strict=True)]
    return {
        "tests": len(tests),
        "transfer_ratio": ratios,
        "final_transfer_ratio": ratios[-1] if ratios else None,
        "spearman": spearman(imagined, real),
        "pearson": pearson(imagined, real),
    }


def log_fidelity(writer, tests: Sequence[dict[str, Any]], step: int) -> dict[str, Any]:
    """Write `transfer/ratio` (latest test) and `transfer/spearman`, `transfer/pearson` (over all
    tests so far) to a TensorBoard `SummaryWriter` at `step`; undefined values are skipped.
    Returns `fidelity(tests)`."""
    fid = fidelity(tests)
    for tag, value in (
        ("transfer/ratio", fid["final_transfer_ratio"]),
        ("transfer/spearman", fid["spearman"]),
        ("transfer/pearson", fid["pearson"]),
    ):
        if value is not None:
            writer.add_scalar(tag, value, step)
    return fid


# -- ranking ---------------------------------------------------------------------------------------
def descending_ranks(values: Sequence[float]) -> list[float]:
    """Rank 1 = the highest value; ties share their mean rank."""
    return rankdata(-np.asarray(values, dtype=np.float64)).tolist()


def rank_policies(
    policies: dict[str, Any],
    model,
    spec: WorldSpec,
    episodes: int = 5,
    seed: int = 0,
    max_episode_steps: int | None = None,
    deterministic: bool = True,
    imagined_per_start: int = 1,
) -> dict[str, Any]:
    """Evaluate each named policy in the dream and in the real world, from the same start states.

    Every policy meets the same E real starts (seeds `seed` .. `seed + E - 1`), and its imagined
    episodes start from the very observations its real episodes started from. Returns
    {"policies": [{"name", "imagined_return", "real_return", "imagined_rank", "real_rank",
    "imagined_returns", "real_returns", "real_env_steps"}], "spearman", "pearson",
    "real_env_steps"}; rank 1 is the best policy.
    """
    if episodes < 1:
        raise ValueError(f"episodes must be at least 1, got {episodes}")
    rows = []
    for name, policy in policies.items():
        res = transfer_test(
            policy,
            model,
            spec,
            episodes,
            seed,
            max_episode_steps,
            deterministic,
            imagined_per_start,
        )
        rows.append(
            {
                "name": name,
                "imagined_return": res.imagined_return,
                "real_return": res.real_return,
                "imagined_returns": res.imagined_returns,
                "real_returns": res.real_returns,
                "real_env_steps": res.real_env_steps,
            }
        )
    imagined = [r["imagined_return"] for r in rows]
    real = [r["real_return"] for r in rows]
    for row, i_rank, r_rank in zip(
        rows, descending_ranks(imagined), descending_ranks(real), strict=True
    ):
        row["imagined_rank"], row["real_rank"] = i_rank, r_rank
    return {
        "policies": rows,
        "spearman": spearman(imagined, real),
        "pearson": pearson(imagined, real),
        "real_env_steps": sum(r["real_env_steps"] for r in rows),
    }
