"""Real MuJoCo worlds: build the gymnasium env a `WorldSpec` describes, with its physics applied.

Physics fields are applied to the compiled model at run time (see `apply_context`); the geometric
field `length_scale` regenerates the MJCF (see `genenv.worlds.geometry`), since link lengths are
baked into the compiled model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np

from genenv.worlds.spec import Context, WorldSpec
from genenv.worlds.tasks import get_task


@dataclass
class _StockPhysics:
    """The compiled model's original values, so contexts can be re-applied without drift."""

    body_mass: np.ndarray
    geom_friction: np.ndarray
    dof_damping: np.ndarray
    actuator_gear: np.ndarray

    @classmethod
    def read(cls, model: mujoco.MjModel) -> _StockPhysics:
        return cls(
            model.body_mass.copy(),
            model.geom_friction.copy(),
            model.dof_damping.copy(),
            model.actuator_gear.copy(),
        )


def apply_context(model: mujoco.MjModel, data: mujoco.MjData, context: Context, stock) -> None:
    """Write a context's physics scalars into a compiled MuJoCo model (relative to `stock`)."""
    model.opt.gravity[:] = (0.0, 0.0, -context.gravity)
    model.body_mass[:] = stock.body_mass * context.mass_scale
    model.geom_friction[:, 0] = stock.geom_friction[:, 0] * context.friction_scale
    model.dof_damping[:] = stock.dof_damping * context.damping_scale
    model.actuator_gear[:, 0] = stock.actuator_gear[:, 0] * context.actuator_scale
    mujoco.mj_setConst(model, data)


class WorldSpecWrapper(gym.Wrapper):
    """Holds the `WorldSpec` of a real env and lets it change between episodes.

    `set_spec(spec)` applies a new physics context (same task and geometry) from the next reset
    on; curricula call it through `VecEnv.env_method("set_spec", spec)`.
    """

    def __init__(self, env: gym.Env, spec: WorldSpec):
        super().__init__(env)
        self.world_spec = spec
        self._stock = _StockPhysics.read(env.unwrapped.model)
        self._pending: WorldSpec | None = None
        self._apply(spec)

    def _apply(self, spec: WorldSpec) -> None:
        raw = self.env.unwrapped
        apply_context(raw.model, raw.data, spec.context, self._stock)
        self.world_spec = spec

    def set_spec(self, spec: WorldSpec) -> None:
        if spec.task != self.world_spec.task:
            raise ValueError(f"cannot switch a {self.world_spec.task} env to task {spec.task}")
        if spec.context.length_scale != self.world_spec.context.length_scale:
            raise ValueError("length_scale changes the MJCF; build a new env with make_real_env")
        self._pending = spec

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if self._pending is not None:
            self._apply(self._pending)
            self._pending = None
        obs, info = self.env.reset(seed=seed, options=options)
        if self.world_spec.initial_state is not None:
            obs = set_pose(self.env.unwrapped, self.world_spec.initial_state)
        info["world_spec"] = self.world_spec.to_dict()
        return obs, info


def set_pose(raw_env, state) -> np.ndarray:
    """Put a MuJoCo gymnasium env into a given pose; returns the new observation."""
    qpos = np.asarray(state.qpos, dtype=np.float64)
    qvel = np.zeros(raw_env.model.nv) if state.qvel is None else np.asarray(state.qvel, np.float64)
    if qpos.shape != (raw_env.model.nq,) or qvel.shape != (raw_env.model.nv,):
        raise ValueError(
            f"initial_state needs qpos of length {raw_env.model.nq} and qvel of length "
            f"{raw_env.model.nv}, got {qpos.shape} and {qvel.shape}"
        )
    raw_env.set_state(qpos, qvel)
    return raw_env._get_obs()


def make_real_env(
    spec: WorldSpec | str,
    render_mode: str | None = None,
    max_episode_steps: int | None = None,
    **kwargs: Any,
) -> gym.Env:
    """The real gymnasium MuJoCo env for `spec` (a WorldSpec or a bare task name)."""
    if isinstance(spec, str):
        spec = WorldSpec(spec)
    info = get_task(spec.task)
    make_kwargs = {**info.make_kwargs, **kwargs}
    if spec.context.length_scale != 1.0:
        from genenv.worlds.geometry import scaled_xml_file

        make_kwargs["xml_file"] = scaled_xml_file(info, spec.context.length_scale)
    env = gym.make(
        info.gym_id,
        render_mode=render_mode,
        max_episode_steps=max_episode_steps or info.max_episode_steps,
        **make_kwargs,
    )
    return WorldSpecWrapper(env, spec)
