"""Collect real MuJoCo transitions into a genenv (Minari) dataset, with exact step accounting."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from genenv.data.policies import resolve_policy
from genenv.data.storage import DatasetWriter, read_metadata
from genenv.worlds import WorldSpec, get_task

SpecSource = WorldSpec | str | Sequence[WorldSpec] | Callable[[np.random.Generator], WorldSpec]


def context_sampler(
    base: WorldSpec | str, ranges: dict[str, tuple[float, float]] | None = None
) -> Callable[[np.random.Generator], WorldSpec]:
    """A sampler giving `base` with each context field in `ranges` drawn uniformly per episode.

    `ranges` defaults to the task's `TaskInfo.train_ranges`.
    """
    base = WorldSpec(base) if isinstance(base, str) else base
    ranges = dict(get_task(base.task).train_ranges if ranges is None else ranges)

    def sample(rng: np.random.Generator) -> WorldSpec:
        values = {k: float(rng.uniform(lo, hi)) for k, (lo, hi) in ranges.items()}
        return base.with_context(**values)

    return sample


def _spec_stream(source: SpecSource) -> tuple[str, Callable[[int, np.random.Generator], WorldSpec]]:
    """(task, episode index + rng -> WorldSpec) for any accepted spec source."""
    if isinstance(source, str):
        source = WorldSpec(source)
    if isinstance(source, WorldSpec):
        spec = source
        return spec.task, lambda i, rng: spec
    if callable(source):
        first = source(np.random.default_rng(0))
        if not isinstance(first, WorldSpec):
            raise ValueError(f"the spec sampler must return a WorldSpec, got {first!r}")
        return first.task, lambda i, rng: source(rng)  # type: ignore[misc]
    specs = list(source)
    if not specs or not all(isinstance(s, WorldSpec) for s in specs):
        raise ValueError(
            "give a WorldSpec, a task name, a non-empty list of WorldSpecs or a sampler"
        )
    return specs[0].task, lambda i, rng: specs[i % len(specs)]


class _EnvCache:
    """Keeps one real env; switches physics by `set_spec`, rebuilds when geometry changes.

    Every env it builds has its action space seeded from the run seed (the n-th build gets the
    n-th child of `SeedSequence(seed)`), so a collection whose contexts change the geometry is
    as reproducible as one in a single world.
    """

    def __init__(self, seed: int = 0) -> None:
        self.env: Any = None
        self._seeds = np.random.SeedSequence(seed)

    def get(self, spec: WorldSpec):
        if self.env is not None:
            have = self.env.world_spec
            if have.context.length_scale == spec.context.length_scale:
                self.env.set_spec(spec)
                return self.env
            self.env.close()
        self.env = spec.make_env()
        self.env.action_space.seed(int(self._seeds.spawn(1)[0].generate_state(1)[0]))
        return self.env

    def close(self) -> None:
        if self.env is not None:
            self.env.close()


def collect(
    spec_or_specs: SpecSource,
    steps: int,
    out_dir: str | Path,
    policy: Any = None,
    seed: int = 0,
    progress: bool = True,
    *,
    chunk_steps: int = 5000,
    deterministic: bool = False,
) -> Path:
    """Run `steps` real env steps and append the episodes to the dataset at `out_dir`.

    - `spec_or_specs`: a WorldSpec or task name (one world), a list of WorldSpecs (cycled, one per
      episode) or a sampler `rng -> WorldSpec` called once per episode (see `context_sampler`).
    - `policy`: None/"random" (uniform actions), a callable obs -> action, or a path to an SB3
      zip (`deterministic` picks its mode). Actions are clipped to the action box before the step
      (MuJoCo clamps controls to the same range) and the clipped action is stored.
    - Exactly `steps` transitions are added: an episode still running at the budget is stored
      truncated. The count is also recorded in the dataset metadata (`collection_info`).
    - Completed episodes are committed every `chunk_steps` steps; on an exception or Ctrl-C the
      completed episodes are committed, the unfinished one is dropped, and the error propagates.
    Episode resets and every env built (action sampling) are seeded from `seed` (each episode's
    reset seed is stored with it): the same call gives the same dataset.
    """
    if not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    task, spec_for = _spec_stream(spec_or_specs)
    act_fn, policy_desc = resolve_policy(policy, deterministic=deterministic)
    rng = np.random.default_rng(seed)
    cache = _EnvCache(seed)
    env = cache.get(spec_for(0, rng))
    inner_spec = env.unwrapped.spec
    try:
        spec_json = inner_spec.to_json() if inner_spec is not None else None
    except (TypeError, ValueError):
        spec_json = None
    low, high = env.action_space.low, env.action_space.high
    writer = DatasetWriter(out_dir, task, env.observation_space, env.action_space, spec_json)
    with writer:
        record = {
            "id": writer.next_collection_id(),
            "policy": policy_desc,
            "seed": int(seed),
            "requested_steps": int(steps),
            "steps": 0,
            "episodes": 0,
            "first_episode": int(read_metadata(out_dir)["total_episodes"]),
            "status": "running",
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        pending: list[dict[str, Any]] = []

        def commit(status: str) -> None:
            record["steps"] += int(sum(len(ep["rewards"]) for ep in pending))
            record["episodes"] += len(pending)
            record["status"] = status
            writer.append(pending, dict(record))
            pending.clear()

        taken, episode_index, status = 0, 0, "interrupted"
        bar = tqdm(total=steps, disable=not progress, unit="step", desc=f"collect {task}")
        try:
            while taken < steps:
                spec = spec_for(episode_index, rng) if episode_index > 0 else env.world_spec
                env = cache.get(spec)
                reset_seed = int(rng.integers(2**31 - 1))
                obs, _ = env.reset(seed=reset_seed)
                ep = {"observations": [obs], "actions": [], "rewards": [], "terminations": []}
                ep.update(truncations=[], seed=reset_seed, world_spec=spec.to_dict())
                done = False
                while not done and taken < steps:
                    action = env.action_space.sample() if act_fn is None else act_fn(obs)
                    action = np.asarray(action, dtype=env.action_space.dtype).reshape(low.shape)
                    if not np.all(np.isfinite(action)):
                        raise ValueError(f"the policy returned a non-finite action {action}")
                    action = np.clip(action, low, high)
                    obs, reward, terminated, truncated, _ = env.step(action)
                    taken += 1
                    bar.update(1)
                    truncated = bool(truncated) or (taken == steps and not terminated)
                    for key, value in zip(
                        ("observations", "actions", "rewards", "terminations", "truncations"),
                        (obs, action, float(reward), bool(terminated), truncated),
                        strict=True,
                    ):
                        ep[key].append(value)
                    done = bool(terminated) or truncated
                pending.append(ep)
                episode_index += 1
                if sum(len(e["rewards"]) for e in pending) >= chunk_steps and taken < steps:
                    commit("running")
            status = "complete"
        finally:
            bar.close()
            cache.close()
            commit(status)
    return Path(out_dir)


def collection_info(path: str | Path) -> dict[str, Any]:
    """Totals and collection records of a dataset: {"task", "total_steps", "total_episodes",
    "collections": [{"id", "policy", "seed", "requested_steps", "steps", "episodes",
    "first_episode", "status", ...}]} -- `steps` counts real env steps exactly."""
    meta = read_metadata(path)
    return {
        "task": meta["genenv"]["task"],
        "total_steps": int(meta["total_steps"]),
        "total_episodes": int(meta["total_episodes"]),
        "collections": list(meta["genenv"]["collections"]),
    }


def count_steps(path: str | Path) -> int:
    """Exactly how many real env steps (transitions) the dataset at `path` holds."""
    return int(read_metadata(path)["total_steps"])
