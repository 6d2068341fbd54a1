"""Collect real MuJoCo transitions into a genenv (Minari) dataset, with exact step accounting."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from genenv.data.policies import RANDOM_POLICIES, resolve_policy
from genenv.data.storage import DatasetWriter, read_metadata
from genenv.progress import progress_bar
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
    """Keeps one real env; switches physics by `set_spec`, rebuilds when geometry changes."""

    def __init__(self, pixel_size: int | None = None) -> None:
        self.env: Any = None
        self.pixel_size = pixel_size  # render frames through the task's camera

    def get(self, spec: WorldSpec):
        if self.env is not None:
            have = self.env.world_spec
            if have.context.length_scale == spec.context.length_scale:
                self.env.set_spec(spec)
                return self.env
            self.env.close()
        if self.pixel_size is None:
            self.env = spec.make_env()
        else:
            from genenv.worlds.cameras import make_pixel_env

            self.env = make_pixel_env(spec, self.pixel_size)
        return self.env

    def close(self) -> None:
        if self.env is not None:
            self.env.close()


def _episode_rngs(seed: int, index: int) -> tuple[np.random.Generator, np.random.Generator]:
    """(world/reset rng, action rng) of episode `index` of the collection with `seed`: each
    episode is a pure function of (seed, index), so a collection can resume exactly."""
    return np.random.default_rng([seed, index, 0]), np.random.default_rng([seed, index, 1])


def _plan(
    writer: DatasetWriter,
    seed: int,
    policy_desc: str,
    steps: int | None,
    resume: bool,
    until_total: int | None,
) -> dict[str, Any] | None:
    """The collection record to work on (new or continued), or None when nothing is left."""
    meta = read_metadata(writer.path)
    records = meta["genenv"]["collections"]
    same = [r for r in records if r.get("seed") == seed]
    if same and not (resume or until_total is not None):
        r = same[-1]
        raise ValueError(
            f"the dataset at {writer.path} already holds collection {r['id']} with seed {seed} "
            f"({r['steps']} of {r['requested_steps']} steps, {r['status']}); collecting again "
            "with that seed would append the same episodes: resume it (--resume), extend it "
            "(--until-total N) or give another --seed"
        )
    if until_total is not None:
        need = int(until_total) - int(meta["total_steps"])
        if need <= 0:
            return None
    if same:
        record = dict(same[-1])
        if record["id"] != records[-1]["id"]:
            raise ValueError(
                f"the collection with seed {seed} in {writer.path} is not the dataset's last "
                "one, so it cannot be continued; give another --seed"
            )
        if record.get("policy") != policy_desc:
            raise ValueError(
                f"collection {record['id']} (seed {seed}) in {writer.path} used policy "
                f"{record.get('policy')!r}, not {policy_desc!r}; resume it with the same policy"
            )
        if until_total is not None:
            record["requested_steps"] = int(record["steps"]) + need
        elif steps is not None and steps != record["requested_steps"]:
            raise ValueError(
                f"collection {record['id']} (seed {seed}) asked for {record['requested_steps']} "
                f"steps, not {steps}; resume it without --steps or with the same number"
            )
        return record if record["steps"] < record["requested_steps"] else None
    want = need if until_total is not None else steps
    if want is None:
        raise ValueError("give steps (--steps), or until_total (--until-total)")
    return {
        "id": writer.next_collection_id(),
        "policy": policy_desc,
        "seed": int(seed),
        "requested_steps": int(want),
        "steps": 0,
        "episodes": 0,
        "first_episode": int(meta["total_episodes"]),
        "status": "running",
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def collect(
    spec_or_specs: SpecSource,
    steps: int | None,
    out_dir: str | Path,
    policy: Any = None,
    seed: int = 0,
    progress: bool = True,
    *,
    chunk_steps: int = 5000,
    deterministic: bool = False,
    pixels: int | None = None,
    resume: bool = False,
    until_total: int | None = None,
) -> Path:
    """Run `steps` real env steps and append the episodes to the dataset at `out_dir`.

    - `spec_or_specs`: a WorldSpec or task name (one world), a list of WorldSpecs (cycled, one per
      episode) or a sampler `rng -> WorldSpec` called once per episode (see `context_sampler`).
    - `policy`: None/"random" (uniform actions), "random-holds" (uniform actions alternating with
      stretches of the zero action, `genenv.data.policies.RandomHolds`), a callable obs -> action,
      or a path to an SB3 zip (`deterministic` picks its mode). Actions are clipped to the action
      box before the step (MuJoCo clamps controls to the same range) and the clipped action is
      stored.
    - Exactly `steps` transitions are added: an episode still running at the budget is stored
      truncated. The count is also recorded in the dataset metadata (`collection_info`).
    - Completed episodes are committed every `chunk_steps` steps; on an exception or Ctrl-C the
      completed episodes are committed, the unfinished one is dropped, and the error propagates.
    - Episode i of a collection draws its world, reset seed and random actions from (`seed`, i)
      alone. A seed already used in the dataset is refused (it would append the same episodes)
      unless `resume=True`, which finishes that collection up to its requested steps (a no-op
      when it is complete), or `until_total=N`, which continues that seed's stream until the
      dataset holds N steps (`steps` is then not needed). A random-action collection that was
      interrupted and resumed holds exactly the transitions of an uninterrupted one.
    `pixels`: also store size x size frames from the task's fixed camera (`genenv.data.pixels`).
    A policy with `reads_frames = True` (`genenv.transfer.LatentAgentPolicy`) is called
    as policy(obs, frames), with the frames of the episode so far; it needs `pixels`.
    """
    if steps is not None and (not isinstance(steps, (int, np.integer)) or steps < 1):
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    if until_total is not None and (
        not isinstance(until_total, (int, np.integer)) or until_total < 1
    ):
        raise ValueError(f"until_total must be a positive int, got {until_total!r}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    if steps is None and until_total is None and not resume:
        raise ValueError("give steps, or until_total, or resume=True")
    task, spec_for = _spec_stream(spec_or_specs)
    act_fn, policy_desc = resolve_policy(policy, deterministic=deterministic)
    reads_frames = bool(getattr(act_fn, "reads_frames", False))
    if reads_frames and pixels is None:
        raise ValueError(f"the policy {policy_desc!r} acts on frames: collect with pixels")
    cache = _EnvCache(pixels)
    env = cache.get(spec_for(0, _episode_rngs(seed, 0)[0]))
    inner_spec = env.unwrapped.spec
    try:
        spec_json = inner_spec.to_json() if inner_spec is not None else None
    except (TypeError, ValueError):
        spec_json = None
    low, high = env.action_space.low, env.action_space.high
    pixel_block = None
    if pixels is not None:
        from genenv.worlds.cameras import pixel_camera

        pixel_block = {"size": int(pixels), "camera": pixel_camera(task).describe()}
    writer = DatasetWriter(
        out_dir, task, env.observation_space, env.action_space, spec_json, pixel_block
    )
    with writer:
        record = _plan(writer, int(seed), policy_desc, steps, resume, until_total)
        if record is None:  # already complete
            cache.close()
            return Path(out_dir)
        pending: list[dict[str, Any]] = []

        def commit(status: str) -> None:
            new = dict(record)
            new["steps"] += int(sum(len(ep["rewards"]) for ep in pending))
            new["episodes"] += len(pending)
            new["status"] = status
            try:
                writer.append(pending, new)
            except BaseException:
                if writer.committed(new):  # interrupted after its commit point: it is in
                    record.update(new)
                    pending.clear()
                raise
            record.update(new)
            pending.clear()

        target = int(record["requested_steps"])
        taken, episode_index, status = int(record["steps"]), int(record["episodes"]), "interrupted"
        bar = progress_bar(
            total=target - taken, disable=not progress, unit="step", desc=f"collect {task}"
        )
        try:
            while taken < target:
                spec_rng, act_rng = _episode_rngs(seed, episode_index)
                spec = spec_for(episode_index, spec_rng)
                env = cache.get(spec)
                reset_seed = int(spec_rng.integers(2**31 - 1))
                obs, _ = env.reset(seed=reset_seed)
                ep = {"observations": [obs], "actions": [], "rewards": [], "terminations": []}
                ep.update(truncations=[], seed=reset_seed, world_spec=spec.to_dict())
                if pixels is not None:
                    ep["pixels"] = [env.render()]
                draw = None if act_fn is not None else RANDOM_POLICIES[policy_desc](act_rng)
                done = False
                while not done and taken < target:
                    if draw is not None:
                        action = draw(low, high)
                    else:  # a frame policy sees the episode's frames so far
                        action = act_fn(obs, ep["pixels"]) if reads_frames else act_fn(obs)
                    action = np.asarray(action, dtype=env.action_space.dtype).reshape(low.shape)
                    if not np.all(np.isfinite(action)):
                        raise ValueError(f"the policy returned a non-finite action {action}")
                    action = np.clip(action, low, high)
                    obs, reward, terminated, truncated, _ = env.step(action)
                    taken += 1
                    bar.update(1)
                    truncated = bool(truncated) or (taken == target and not terminated)
                    for key, value in zip(
                        ("observations", "actions", "rewards", "terminations", "truncations"),
                        (obs, action, float(reward), bool(terminated), truncated),
                        strict=True,
                    ):
                        ep[key].append(value)
                    if pixels is not None:
                        ep["pixels"].append(env.render())
                    done = bool(terminated) or truncated
                pending.append(ep)
                episode_index += 1
                if sum(len(e["rewards"]) for e in pending) >= chunk_steps and taken < target:
                    commit("running")
            status = "complete"
        finally:
            bar.close()
            cache.close()
            if pending or status == "complete" or record["status"] != status:
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
