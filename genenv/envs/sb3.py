"""`DreamSB3VecEnv`: a stable-baselines3 `VecEnv` over a `DreamVectorEnv`.

SB3 semantics (same-step autoreset): when slot i's episode ends, `obs[i]` is already the first
observation of its next episode, `infos[i]["terminal_observation"]` is the last one and
`infos[i]["TimeLimit.truncated"]` is `truncated and not terminated`. Finished episodes also carry
`infos[i]["episode"] = {"r", "l", "t"}`, so SB3's `rollout/ep_rew_mean` works without a VecMonitor.

Per-slot worlds go through SB3's usual indirection: `env_method("set_spec", spec, indices=[...])`
changes those slots' WorldSpec from their next reset on; `get_attr("world_spec")` reads them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.vec_env.base_vec_env import (
    VecEnv,
    VecEnvIndices,
    VecEnvObs,
    VecEnvStepReturn,
)

from genenv.envs.vector import DreamVectorEnv, same_step_env

# Methods and attributes that address one slot: called with the slot index first.
_SLOT_METHODS = {"set_spec": "set_spec", "get_spec": "get_spec"}


class DreamSB3VecEnv(VecEnv):
    """SB3 view of a same-step-autoreset `DreamVectorEnv`.

    Pass an existing env (`DreamSB3VecEnv(venv)`) or the `DreamVectorEnv` kwargs
    (`DreamSB3VecEnv(task="HalfCheetah", world=ckpt, num_envs=64)`), which builds one in
    SAME_STEP mode. A NEXT_STEP env handed in is switched to SAME_STEP (SB3's semantics); the
    adapter then owns it and SB3's `reset()` starts it afresh.
    """

    def __init__(self, venv: DreamVectorEnv | None = None, **kwargs: Any):
        self.venv = venv = same_step_env(venv, kwargs, "DreamSB3VecEnv")
        self._actions: torch.Tensor | None = None
        self._seed: int | None = None
        self._t0 = time.time()
        super().__init__(venv.num_envs, venv.single_observation_space, venv.single_action_space)

    # -- stepping -----------------------------------------------------------------------------
    def reset(self) -> VecEnvObs:
        obs = self.venv.reset_tensor(seed=self._seed)
        self._seed = None
        self._reset_seeds()
        self._reset_options()
        return obs.cpu().numpy().copy()

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = torch.as_tensor(np.asarray(actions, dtype=np.float32))

    def step_wait(self) -> VecEnvStepReturn:
        if self._actions is None:
            raise RuntimeError("step_wait() called without step_async()")
        actions, self._actions = self._actions, None
        obs, reward, terminated, truncated, t_infos = self.venv.step_tensor(actions)
        # One transfer for everything the infos need.
        n, d = obs.shape
        scalars = torch.stack(
            [
                reward,
                terminated.float(),
                truncated.float(),
                t_infos["uncertainty"],
                t_infos["model_nonfinite"].float(),
                t_infos["episode_return"],
                t_infos["episode_length"].float(),
            ],
            dim=1,
        )  # (n, 7)
        packed = torch.cat([obs, t_infos["final_obs"], scalars], dim=1).cpu().numpy()
        obs_np = packed[:, :d].copy()
        final_np = packed[:, d : 2 * d]
        rew, term, trunc, unc, nonfinite, ep_r, ep_l = packed[:, 2 * d :].T
        term, trunc = term > 0.5, trunc > 0.5
        dones = term | trunc
        infos: list[dict[str, Any]] = [
            {"uncertainty": float(unc[i]), "model_nonfinite": bool(nonfinite[i] > 0.5)}
            for i in range(n)
        ]
        elapsed = round(time.time() - self._t0, 6)
        for i in np.flatnonzero(dones):
            infos[i]["terminal_observation"] = final_np[i].copy()
            infos[i]["TimeLimit.truncated"] = bool(trunc[i] and not term[i])
            infos[i]["episode"] = {"r": float(ep_r[i]), "l": int(ep_l[i]), "t": elapsed}
        return obs_np, rew.astype(np.float32), dones, infos

    def close(self) -> None:
        self.venv.close()

    def seed(self, seed: int | None = None) -> Sequence[int | None]:
        """Seed the batch's generator at the next reset (one generator drives all slots)."""
        if seed is None:
            seed = int(np.random.default_rng().integers(2**32))
        self._seed = int(seed)
        return [self._seed + i for i in range(self.num_envs)]

    def get_images(self) -> Sequence[np.ndarray | None]:
        return [None] * self.num_envs

    # -- SB3's per-env indirection ------------------------------------------------------------
    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        idx = self._get_indices(indices)
        if attr_name in ("world_spec", "spec_of_slot"):
            specs = self.venv.specs
            return [specs[i] for i in idx]
        value = getattr(self.venv, attr_name)
        return [value for _ in idx]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        idx = self._get_indices(indices)
        if attr_name == "world_spec":
            for i in idx:
                self.venv.set_spec(i, value)
            return
        if len(list(idx)) != self.num_envs:
            raise ValueError(f"{attr_name!r} is shared by all slots; it cannot be set per slot")
        setattr(self.venv, attr_name, value)

    def env_method(
        self, method_name: str, *method_args: Any, indices: VecEnvIndices = None, **method_kwargs
    ) -> list[Any]:
        """Per-slot methods (`set_spec`, `get_spec`) get each slot's index; any other method of
        the DreamVectorEnv is called once and its result repeated for each index."""
        idx = list(self._get_indices(indices))
        if method_name in _SLOT_METHODS:
            method = getattr(self.venv, _SLOT_METHODS[method_name])
            return [method(i, *method_args, **method_kwargs) for i in idx]
        result = getattr(self.venv, method_name)(*method_args, **method_kwargs)
        return [result for _ in idx]

    def env_is_wrapped(self, wrapper_class: type, indices: VecEnvIndices = None) -> list[bool]:
        """Dream slots are never wrapped in gymnasium wrappers."""
        return [False for _ in self._get_indices(indices)]
