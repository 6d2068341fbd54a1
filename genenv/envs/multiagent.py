"""`DreamParallelEnv`: a PettingZoo `ParallelEnv` in which several agents share one dream body.

The task's action vector is split among agents, each controlling a group of actuators (as in
MaMuJoCo: HalfCheetah "2x3" gives the back leg to agent_0 and the front leg to agent_1). Every
agent observes the full observation (the world model's state; no per-agent observation masks), the
reward is shared, and the episode ends for all agents at once. Underneath is a batch-of-one
`DreamVectorEnv`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from pettingzoo import ParallelEnv

from genenv.envs.vector import DreamVectorEnv
from genenv.worlds.spec import WorldSpec
from genenv.worlds.tasks import get_task

# (task, partition name) -> action indices per agent. The first one listed is the task's default.
PARTITIONS: dict[tuple[str, str], tuple[tuple[int, ...], ...]] = {
    # actuators: bthigh, bshin, bfoot, fthigh, fshin, ffoot
    ("HalfCheetah", "2x3"): ((0, 1, 2), (3, 4, 5)),
    ("HalfCheetah", "6x1"): ((0,), (1,), (2,), (3,), (4,), (5,)),
    # actuators: hip_4, ankle_4, hip_1, ankle_1, hip_2, ankle_2, hip_3, ankle_3
    ("Ant", "2x4"): ((2, 3, 4, 5), (6, 7, 0, 1)),  # front legs (1, 2) / back legs (3, 4)
    ("Ant", "4x2"): ((2, 3), (4, 5), (6, 7), (0, 1)),  # one leg each, legs 1-4
    # actuators: thigh, leg, foot (right), thigh_left, leg_left, foot_left
    ("Walker2d", "2x3"): ((0, 1, 2), (3, 4, 5)),
    ("Hopper", "3x1"): ((0,), (1,), (2,)),
}


def resolve_partition(
    task: str, act_dim: int, partition: str | int | Sequence[Sequence[int]] | None
) -> tuple[tuple[int, ...], ...]:
    """Action indices per agent: a named partition, a number of agents (equal contiguous slices),
    explicit index lists, or None (the task's default, else one agent per actuator)."""
    if partition is None:
        named = [p for (t, _), p in PARTITIONS.items() if t == task]
        groups = named[0] if named else tuple((i,) for i in range(act_dim))
    elif isinstance(partition, str):
        if (task, partition) not in PARTITIONS:
            valid = [name for (t, name) in PARTITIONS if t == task]
            raise ValueError(
                f"no partition {partition!r} for {task}; named ones: {valid or 'none'} "
                f"(or give a number of agents or explicit index lists)"
            )
        groups = PARTITIONS[(task, partition)]
    elif isinstance(partition, int):
        if partition < 1 or act_dim % partition:
            raise ValueError(f"{act_dim} actions cannot be split equally among {partition} agents")
        k = act_dim // partition
        groups = tuple(tuple(range(a * k, (a + 1) * k)) for a in range(partition))
    else:
        groups = tuple(tuple(int(i) for i in g) for g in partition)
    flat = sorted(i for g in groups for i in g)
    if flat != list(range(act_dim)) or any(not g for g in groups):
        raise ValueError(
            f"a partition must use each of the {act_dim} action indices exactly once, got {groups}"
        )
    return groups


class DreamParallelEnv(ParallelEnv):
    """Agents `agent_0..agent_{k-1}` jointly act in one imagined `task` world.

    Args:
        task, world, device: as for `DreamVectorEnv`.
        partition: see `resolve_partition`.
        spec: the WorldSpec; max_episode_steps: default the task's. Other kwargs: `DreamConfig`.
    """

    metadata: dict[str, Any] = {"render_modes": [], "name": "genenv_dream_parallel_v0"}

    def __init__(
        self,
        task: str,
        world: Any,
        partition: str | int | Sequence[Sequence[int]] | None = None,
        device: str | torch.device | None = None,
        spec: WorldSpec | None = None,
        **config: Any,
    ):
        self.task = get_task(task).name
        self.vector = DreamVectorEnv(
            self.task, world, num_envs=1, device=device, specs=spec, **config
        )
        act_space = self.vector.single_action_space
        self.groups = resolve_partition(self.task, act_space.shape[0], partition)
        self.possible_agents = [f"agent_{i}" for i in range(len(self.groups))]
        self.agents: list[str] = []
        self._groups = dict(zip(self.possible_agents, self.groups, strict=True))
        self.observation_spaces = {
            a: self.vector.single_observation_space for a in self.possible_agents
        }
        self.action_spaces = {
            a: spaces.Box(act_space.low[list(g)], act_space.high[list(g)], dtype=np.float32)
            for a, g in zip(self.possible_agents, self.groups, strict=True)
        }
        self.state_space = self.vector.single_observation_space
        self._state = np.zeros(self.state_space.shape, dtype=np.float32)

    def observation_space(self, agent: str) -> spaces.Box:
        """The same object every call, as PettingZoo requires (the full observation space)."""
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Box:
        return self.action_spaces[agent]

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, dict]]:
        obs = self.vector.reset_tensor(seed=seed)[0].cpu().numpy()
        self.agents = list(self.possible_agents)
        self._state = obs.copy()
        return {a: obs.copy() for a in self.agents}, {a: {} for a in self.agents}

    def step(self, actions: dict[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        if not self.agents:
            raise RuntimeError("the episode is over; call reset()")
        missing = sorted(set(self.agents) - set(actions))
        if missing:
            raise ValueError(f"no action for agent(s) {missing}")
        joint = np.zeros(self.vector.single_action_space.shape, dtype=np.float32)
        for agent in self.agents:
            a = np.asarray(actions[agent], dtype=np.float32)
            if a.shape != self.action_spaces[agent].shape:
                raise ValueError(
                    f"{agent}: action must have shape {self.action_spaces[agent].shape}, "
                    f"got {a.shape}"
                )
            if not np.isfinite(a).all():
                raise ValueError(f"{agent}: non-finite (NaN/inf) action {a.tolist()}")
            joint[list(self._groups[agent])] = a
        obs, reward, term, trunc, infos = self.vector.step_tensor(torch.as_tensor(joint)[None])
        obs_np = obs[0].cpu().numpy()
        r, te, tr = float(reward[0]), bool(term[0]), bool(trunc[0])
        info = {
            "uncertainty": float(infos["uncertainty"][0]),
            "model_nonfinite": bool(infos["model_nonfinite"][0]),
        }
        agents = self.agents
        self._state = obs_np.copy()
        if te or tr:
            self.agents = []
        return (
            {a: obs_np.copy() for a in agents},
            {a: r for a in agents},
            {a: te for a in agents},
            {a: tr for a in agents},
            {a: dict(info) for a in agents},
        )

    def state(self) -> np.ndarray:
        """The global state: the full observation."""
        return self._state.copy()

    def close(self) -> None:
        self.vector.close()
