"""Planning to a goal image in a pixel world: CEM/MPPI in latent space, receding horizon, real env.

The goal image is encoded to a latent g. `GoalLatentWorld` is a view of the latent world model
whose reward is the negative mean squared distance of the predicted next pose (the part of the
latent that reads the current frame alone, `LatentWorldModel.pose`) to g's (and which never
terminates), so the stock `Planner` (CEM or MPPI over action sequences) plans toward the goal: it
maximises -sum_t |pose(z_t) - pose(g)|^2 over its horizon. Comparing poses, not whole latents,
matters: a goal image is one frame, "at rest", while a state in motion has a velocity, and the
planner should arrive, not imitate rest. In the real env (frames from the task's pixel
camera), each step encodes the last two frames, plans, and executes the plan's first action.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from genenv.agents.planner import Planner, PlannerConfig
from genenv.models.base import ModelStep
from genenv.worlds.spec import WorldSpec


class GoalLatentWorld:
    """A latent world model whose reward is closeness to the pose of the goal latent `goal` (D,)."""

    def __init__(self, model: Any, goal: torch.Tensor):
        self.model = model
        self.goal = model.pose(goal.to(model.device).reshape(1, -1))  # (1, pose_dim)
        self.task, self.obs_dim = model.task, model.obs_dim
        self.act_dim, self.ctx_dim = model.act_dim, model.ctx_dim
        self.action_low, self.action_high = model.action_low, model.action_high

    @property
    def device(self) -> torch.device:
        return self.model.device

    def step(self, obs, action, context, generator=None) -> ModelStep:
        out = self.model.step(obs, action, context, generator)
        reward = -((self.model.pose(out.obs) - self.goal) ** 2).mean(-1)  # (n,)
        return out._replace(reward=reward, terminated=torch.zeros_like(out.terminated))


@dataclass
class GoalRun:
    """One receding-horizon episode toward a goal image."""

    latent_distance: list[float]  # |pose(z_t) - pose(g)|^2 (mean) after each real step, t = 0..T
    plan_seconds: list[float]  # wall time of each plan
    frames: np.ndarray  # (T+1, S, S, 3) real frames
    qpos: np.ndarray  # (T+1, nq) real poses
    fingertip: np.ndarray | None = None  # (T+1, 3) Reacher fingertip positions
    info: dict = field(default_factory=dict)

    @property
    def seconds_per_plan(self) -> float:
        return float(np.mean(self.plan_seconds)) if self.plan_seconds else 0.0


def fingertip(env) -> np.ndarray | None:
    """Reacher's fingertip position (world frame), or None for other tasks."""
    raw = env.unwrapped
    try:
        return raw.get_body_com("fingertip").copy()
    except (KeyError, ValueError):
        return None


def plan_to_goal(
    model: Any,
    goal_frame: np.ndarray,
    steps: int,
    config: PlannerConfig | None = None,
    spec: WorldSpec | None = None,
    seed: int = 0,
    policy: str = "planner",
) -> GoalRun:
    """Drive the real env of `spec` (reset with `seed`) toward `goal_frame` for `steps` steps.

    `policy="random"` replaces the planner by uniform random actions (the baseline).
    """
    from genenv.worlds.cameras import make_pixel_env

    spec = spec or WorldSpec(model.task)
    dev = model.device
    goal = model.encode(torch.as_tensor(np.array(goal_frame[None]), device=dev))[0]  # (D,)
    planner = Planner(GoalLatentWorld(model, goal), config or PlannerConfig(), spec, dev)
    env = make_pixel_env(spec, model.config.image_size)
    rng = np.random.default_rng(seed)
    try:
        env.reset(seed=seed)
        frames, qpos, tips = [env.render()], [env.unwrapped.data.qpos.copy()], [fingertip(env)]
        prev, last = frames[0], np.zeros(model.act_dim, np.float32)  # last: the action taken
        dist, secs = [], []
        for t in range(steps + 1):
            stack = torch.as_tensor(np.stack([prev, frames[-1]])[None], device=dev)  # (1,2,S,S,3)
            z = model.encode(stack, last[None])  # (1, D)
            dist.append(float(((model.pose(z[0]) - model.pose(goal)) ** 2).mean()))
            if t == steps:
                break
            t0 = time.perf_counter()
            if policy == "random":
                action = rng.uniform(env.action_space.low, env.action_space.high)
            else:
                action = planner.predict(z[0], episode_start=np.array([t == 0]))[0].cpu().numpy()
                secs.append(time.perf_counter() - t0)
            last = np.clip(np.asarray(action, np.float32), env.action_space.low,
                           env.action_space.high)  # fmt: skip
            _, _, term, trunc, _ = env.step(last)
            prev = frames[-1]
            frames.append(env.render())
            qpos.append(env.unwrapped.data.qpos.copy())
            tips.append(fingertip(env))
            if term:
                break
    finally:
        env.close()
    tip = None if tips[0] is None else np.stack(tips)
    return GoalRun(dist, secs, np.stack(frames), np.stack(qpos), tip)
