"""Shared plumbing for the dream envs: spaces, world loading, per-slot specs and start poses."""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from gymnasium import spaces

from genenv.models.ensemble import EnsembleWorldModel
from genenv.worlds.spec import CONTEXT_FIELDS, WorldSpec
from genenv.worlds.tasks import get_task

_FORKED = False  # set in a child made by fork() from a process that imported genenv.envs


def _mark_forked() -> None:
    global _FORKED
    _FORKED = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_mark_forked)


def fork_safe_threads() -> None:
    """Run torch with one thread in a forked child.

    `gymnasium.make_vec(..., vectorization_mode="async")` forks its workers by default (Linux).
    torch's OpenMP thread pool, once the parent has used it, deadlocks in a forked child at the
    first parallel op; with one thread torch never enters that pool, so the worker runs. Workers
    started by spawn or forkserver import afresh and keep their thread count.
    """
    if _FORKED:
        torch.set_num_threads(1)


@functools.cache
def _real_facts(task: str) -> tuple[spaces.Box, spaces.Box, float]:
    env = WorldSpec(task).make_env()
    try:
        return env.observation_space, env.action_space, float(env.unwrapped.dt)
    finally:
        env.close()


def task_dt(task: str) -> float:
    """Seconds of simulated time per env step of the real task."""
    return _real_facts(get_task(task).name)[2]


def task_spaces(task: str) -> tuple[spaces.Box, spaces.Box]:
    """The task's (observation, action) spaces as float32 Boxes, read off the real env once.

    Fresh objects each call (callers seed and own their spaces).
    """
    obs_space, act_space, _ = _real_facts(get_task(task).name)
    obs = spaces.Box(
        obs_space.low.astype(np.float32), obs_space.high.astype(np.float32), dtype=np.float32
    )
    act = spaces.Box(
        act_space.low.astype(np.float32), act_space.high.astype(np.float32), dtype=np.float32
    )
    return obs, act


def resolve_device(device: str | torch.device | None, world: object) -> torch.device:
    if device is None:
        return world.device if isinstance(world, torch.nn.Module) else torch.device("cpu")
    return torch.device(device)


def load_world(
    world: EnsembleWorldModel | str | Path,
    task: str,
    device: torch.device,
    obs_dim: int,
    act_dim: int,
    pixels: bool = False,
) -> EnsembleWorldModel:
    """A world model instance, or one loaded from a checkpoint directory, checked against `task`
    (and, with `pixels`, a latent pixel world; without, a state world)."""
    if isinstance(world, (str, Path)):
        from genenv.models.checkpoint import load_checkpoint

        model = load_checkpoint(world, device=str(device), expect_task=task)
    elif isinstance(world, torch.nn.Module) and hasattr(world, "step"):
        model = world
    else:
        raise ValueError(
            f"world must be a checkpoint directory or a world model instance, got {type(world)}"
        )
    pixel_world = hasattr(getattr(model, "config", None), "image_size")
    if pixel_world and not pixels:  # a latent world asked for as a state dream (by its kind:
        # its z can have as many features as the task's state)
        raise ValueError(
            f"the world model is a pixel world (latent states); use "
            f"genenv/Dream-{task}-Pixels-v0 (genenv.envs.pixels) for it"
        )
    if get_task(model.task).name != task:
        raise ValueError(f"the world model is for task {model.task}, not {task}")
    if (model.obs_dim, model.act_dim, model.ctx_dim) != (obs_dim, act_dim, len(CONTEXT_FIELDS)):
        raise ValueError(
            f"the world model's (obs_dim, act_dim, ctx_dim) = "
            f"{(model.obs_dim, model.act_dim, model.ctx_dim)} do not match task {task}: "
            f"{(obs_dim, act_dim, len(CONTEXT_FIELDS))}"
        )
    have = model.device
    if have.type != device.type or (None not in (have.index, device.index) and have != device):
        raise ValueError(
            f"the world model is on {model.device} but the env was asked for device {device}; "
            f"move it first with model.to({str(device)!r})"
        )
    return model.eval()


def spec_list(specs: WorldSpec | Sequence[WorldSpec] | None, task: str, n: int) -> list[WorldSpec]:
    """One WorldSpec per slot (a single spec is shared by all slots)."""
    if specs is None:
        out = [WorldSpec(task)] * n
    elif isinstance(specs, WorldSpec):
        out = [specs] * n
    else:
        out = list(specs)
        if len(out) != n:
            raise ValueError(
                f"got {len(out)} specs for {n} env slots; give one spec or one per slot"
            )
    for i, spec in enumerate(out):
        check_spec(spec, task, i)
    return out


def check_spec(spec: WorldSpec, task: str, index: int) -> None:
    if not isinstance(spec, WorldSpec):
        raise ValueError(f"slot {index}: expected a WorldSpec, got {type(spec).__name__}")
    if spec.task != task:
        raise ValueError(f"slot {index}: spec is for task {spec.task}, this env is {task}")


@functools.lru_cache(maxsize=256)
def start_obs(spec: WorldSpec) -> np.ndarray | None:
    """The observation of `spec.initial_state` (a real env put in that pose), or None."""
    if spec.initial_state is None:
        return None
    from genenv.worlds.real import set_pose

    env = spec.make_env()
    try:
        env.reset(seed=spec.seed)
        obs = set_pose(env.unwrapped, spec.initial_state)
    finally:
        env.close()
    return np.asarray(obs, dtype=np.float32)


def spec_tensors(
    specs: Sequence[WorldSpec], obs_dim: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(context (n, ctx_dim), start obs (n, obs_dim), has start (n,) bool) for a list of specs."""
    ctx = torch.tensor([s.context.as_tuple() for s in specs], dtype=torch.float32, device=device)
    starts = np.zeros((len(specs), obs_dim), dtype=np.float32)
    has = np.zeros(len(specs), dtype=bool)
    for i, spec in enumerate(specs):
        obs = start_obs(spec)
        if obs is not None:
            starts[i], has[i] = obs, True
    return ctx, torch.as_tensor(starts, device=device), torch.as_tensor(has, device=device)
