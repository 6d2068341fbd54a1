"""Rollouts to record: a policy in the real MuJoCo world, and the same policy (or the same
actions, open loop) inside a world model, each with rendered frames."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mujoco
import numpy as np
import torch

from genenv.progress import progress_bar
from genenv.worlds import WorldSpec
from genenv.worlds.drawing import (
    PoseRenderer,
    close_env,
    get_decoder,
    make_render_env,
    render_env,
)

Policy = Callable[[np.ndarray], np.ndarray]  # one observation (obs_dim,) -> one action (act_dim,)


@dataclass
class Rollout:
    """One recorded episode (or part of one): T steps, T + 1 observations and frames."""

    task: str
    frames: np.ndarray  # (T+1, H, W, 3) uint8; frame t shows obs[t]
    obs: np.ndarray  # (T+1, obs_dim) float64
    actions: np.ndarray  # (T, act_dim) float32, as applied (clipped to the action space)
    rewards: np.ndarray  # (T,) float64
    terminated: bool  # the episode (real) or the model (imagined) said it ended
    root: np.ndarray  # (num_root,) root coordinates the observations leave out, at obs[0]
    dt: float  # seconds of simulated time per step
    uncertainty: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (T,) imagined only

    @property
    def steps(self) -> int:
        return len(self.actions)


def make_policy(policy: Any, action_space, seed: int = 0) -> Policy:
    """A `Policy` from "random", an agent with SB3's `predict` (SB3, `OnDevicePPO`, `Planner`),
    a saved agent (SB3 zip or a run's agent folder, see `genenv.agents.sb3.load_policy`), or a
    callable obs -> action. Actions are deterministic and clipped to `action_space`; each call
    of `make_policy` starts a new episode for agents that keep state between steps."""
    if isinstance(policy, (str, Path)) and str(policy) == "random":
        rng = np.random.default_rng(seed)
        low, high = action_space.low, action_space.high

        def act(obs: np.ndarray) -> np.ndarray:
            return rng.uniform(low, high).astype(np.float32)

        return act
    if isinstance(policy, (str, Path)):
        from genenv.agents.sb3 import load_policy

        policy = load_policy(policy)
    if hasattr(policy, "predict"):
        model, first = policy, [True]

        def act(obs: np.ndarray) -> np.ndarray:
            start = np.array([first[0]])  # lets planners drop a plan warm-started elsewhere
            first[0] = False
            obs = np.asarray(obs, np.float32)
            action, _ = model.predict(obs, episode_start=start, deterministic=True)
            return np.asarray(action, np.float32)

        inner = act
    elif callable(policy):
        inner = policy
    else:
        raise ValueError(
            f"policy must be 'random', an SB3 model, a .zip path or a callable: {policy!r}"
        )

    def clipped(obs: np.ndarray) -> np.ndarray:
        action = np.asarray(inner(obs), dtype=np.float32).reshape(action_space.shape)
        return np.clip(action, action_space.low, action_space.high)

    return clipped


def rollout_real(
    spec: WorldSpec,
    policy: Any = "random",
    steps: int = 200,
    width: int = 128,
    height: int = 128,
    camera_name: str | None = "auto",
    render: bool = True,
    progress: bool = False,
    fast: bool = False,
) -> Rollout:
    """Run `policy` in the real env of `spec` (reset with `spec.seed`) for up to `steps` steps.

    Each frame is rendered after `mj_forward`, so it shows exactly the recorded observation
    (MuJoCo's `mj_step` leaves positions one substep stale); the trajectory is unaffected.
    """
    env = make_render_env(spec, width, height, camera_name, fast)
    try:
        act = make_policy(policy, env.action_space, seed=spec.seed)
        obs, _ = env.reset(seed=spec.seed)
        raw = env.unwrapped
        root = raw.data.qpos[: get_decoder(spec.task).num_root].copy()
        observations, actions, rewards, frames = [obs], [], [], []
        terminated = False

        def snap() -> None:
            if render:
                mujoco.mj_forward(raw.model, raw.data)
                frames.append(render_env(env))

        snap()
        for _ in progress_bar(
            range(steps),
            desc=f"real {spec.task} steps",
            unit="step",
            disable=not progress,
            leave=False,
        ):
            action = act(obs)
            obs, reward, terminated, truncated, _ = env.step(action)
            observations.append(obs)
            actions.append(action)
            rewards.append(reward)
            snap()
            if terminated or truncated:
                break
    finally:
        close_env(env)
    return Rollout(
        spec.task,
        np.stack(frames) if frames else np.zeros((0, height, width, 3), np.uint8),
        np.asarray(observations, np.float64),
        np.asarray(actions, np.float32).reshape(len(actions), -1),
        np.asarray(rewards, np.float64),
        bool(terminated),
        root,
        float(raw.dt),
    )


@torch.no_grad()
def rollout_imagined(
    spec: WorldSpec,
    model,
    policy: Any = "random",
    steps: int = 200,
    actions: np.ndarray | None = None,
    init_obs: np.ndarray | None = None,
    root0: np.ndarray | None = None,
    width: int = 128,
    height: int = 128,
    camera_name: str | None = "auto",
    stop_on_termination: bool = True,
    render: bool = True,
    progress: bool = False,
    fast: bool = False,
) -> Rollout:
    """Step the world model `model` in world `spec` and render each imagined state via MuJoCo.

    Closed loop with `policy`, or open loop when `actions` (T, act_dim) is given. Starts from
    `init_obs` (obs_dim,) or a real start state drawn by `model.initial`; `root0` seeds the
    root coordinates the observation leaves out (default zeros). Randomness: `spec.seed`.
    """
    if model.task != spec.task:
        raise ValueError(f"world model is for task {model.task}, the spec is {spec.task}")
    device = model.device
    gen = torch.Generator(device=device).manual_seed(spec.seed)
    context = torch.tensor([spec.context.as_tuple()], dtype=torch.float32, device=device)
    if init_obs is None:
        obs = model.initial(1, generator=gen)  # (1, obs_dim)
    else:
        obs = torch.as_tensor(np.asarray(init_obs), dtype=torch.float32, device=device)[None]
    if actions is not None:
        actions = np.asarray(actions, np.float32).reshape(-1, model.act_dim)
        steps = len(actions)
    renderer = PoseRenderer(spec, width, height, camera_name=camera_name, fast=fast)
    try:
        space = renderer.env.action_space
        act = make_policy(policy, space, seed=spec.seed) if actions is None else None
        # The first observation is the real one (float64) when given, as the real rollout saw it.
        first = np.asarray(init_obs, np.float64) if init_obs is not None else obs[0].cpu().numpy()
        observations, taken, rewards, uncert = [first], [], [], []
        terminated = False
        bar = progress_bar(
            range(steps),
            desc=f"imagined {spec.task} steps",
            unit="step",
            disable=not progress,
            leave=False,
        )
        for t in bar:
            action = actions[t] if actions is not None else act(observations[-1])
            a = torch.as_tensor(action, dtype=torch.float32, device=device)[None]
            out = model.step(obs, a, context, generator=gen)
            if not bool(out.finite[0]):  # the model blew up: end the rollout before this step
                break
            obs = out.obs  # (1, obs_dim)
            observations.append(obs[0].double().cpu().numpy())
            taken.append(np.asarray(action, np.float32))
            rewards.append(float(out.reward[0]))
            uncert.append(float(out.uncertainty[0]))
            terminated = bool(out.terminated[0])
            if terminated and stop_on_termination:
                break
        obs_arr = np.asarray(observations, np.float64)  # (T+1, obs_dim)
        root = np.zeros(renderer.decoder.num_root) if root0 is None else np.asarray(root0, float)
        if render:
            anchor = renderer.decode(obs_arr[0], root)
            renderer.render_state(*anchor)  # aim the free camera as the real env's first render
            frames = renderer.render_trajectory(obs_arr, root, progress=progress)
        else:
            frames = np.zeros((0, height, width, 3), np.uint8)
    finally:
        renderer.close()
    return Rollout(
        spec.task,
        frames,
        obs_arr,
        np.asarray(taken, np.float32).reshape(len(taken), -1),
        np.asarray(rewards, np.float64),
        terminated,
        root,
        renderer.dt,
        np.asarray(uncert, np.float64),
    )
