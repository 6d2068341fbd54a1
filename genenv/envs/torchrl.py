"""`DreamTorchRLEnv`: a TorchRL `EnvBase` over a `DreamVectorEnv` (`pip install genenv[torchrl]`).

The TorchRL batch is the dream's batch, `batch_size=(num_envs,)`, and every tensor stays on the
dream env's device: actions go straight into `DreamVectorEnv.step_tensor`, observations come
straight out. The dream runs with same-step autoreset: when a slot's episode ends, the step
returns its final observation under "next" and the dream has already drawn that slot's next first
observation, which the following partial reset (the `"_reset"` mask TorchRL's `rollout` and
collectors send) hands out without stepping the model again. A reset that names a slot whose
episode is still running (e.g. after a `StepCounter` transform truncates it) starts that slot anew.

Entries: "observation" (obs_dim,), "uncertainty" (1,) (the ensemble's disagreement on the step
that led here; 0 after a reset), "action" (act_dim,) in the task's action box, "reward" (1,),
"done" / "terminated" / "truncated" (1,) bool.
"""

from __future__ import annotations

from typing import Any

import torch

try:
    from tensordict import TensorDict, TensorDictBase
    from torchrl.data import Bounded, Categorical, Composite, Unbounded
    from torchrl.envs import EnvBase
except ImportError as err:  # an optional extra
    raise ImportError(
        f"genenv.envs.torchrl needs TorchRL ({err}); install it with: pip install 'genenv[torchrl]'"
    ) from err

from genenv.envs.vector import DreamVectorEnv, same_step_env


class DreamTorchRLEnv(EnvBase):
    """TorchRL view of a `DreamVectorEnv`.

    Pass an existing env (`DreamTorchRLEnv(venv)`; a NEXT_STEP env is switched to SAME_STEP and
    the adapter then owns it) or the `DreamVectorEnv` kwargs
    (`DreamTorchRLEnv(task="HalfCheetah", world=ckpt, num_envs=64)`).
    """

    def __init__(self, venv: DreamVectorEnv | None = None, **kwargs: Any):
        venv = same_step_env(venv, kwargs, "DreamTorchRLEnv")
        n, dev = venv.num_envs, venv.device
        super().__init__(device=dev, batch_size=torch.Size([n]))
        self.venv = venv
        self._seed: int | None = None
        self._ended = torch.zeros(n, dtype=torch.bool, device=dev)  # done, next episode drawn
        obs_dim = venv.single_observation_space.shape[0]
        space = venv.single_action_space
        self.observation_spec = Composite(
            observation=Unbounded((n, obs_dim), dtype=torch.float32, device=dev),
            uncertainty=Unbounded((n, 1), dtype=torch.float32, device=dev),
            shape=(n,),
            device=dev,
        )
        self.action_spec = Bounded(
            low=torch.as_tensor(space.low, device=dev).expand(n, -1),
            high=torch.as_tensor(space.high, device=dev).expand(n, -1),
            shape=(n, space.shape[0]),
            dtype=torch.float32,
            device=dev,
        )
        self.reward_spec = Unbounded((n, 1), dtype=torch.float32, device=dev)
        flag = Categorical(2, (n, 1), dtype=torch.bool, device=dev)
        self.done_spec = Composite(
            done=flag, terminated=flag.clone(), truncated=flag.clone(), shape=(n,), device=dev
        )

    def _out(self, obs: torch.Tensor, uncertainty: torch.Tensor, **flags: torch.Tensor):
        return TensorDict(
            {"observation": obs, "uncertainty": uncertainty[:, None], **flags},
            batch_size=self.batch_size,
            device=self.device,
        )

    def _reset(self, tensordict: TensorDictBase | None = None, **kwargs: Any) -> TensorDictBase:
        mask = None if tensordict is None else tensordict.get("_reset", None)
        if mask is None:  # a full reset
            obs = self.venv.reset_tensor(seed=self._seed)
            self._seed = None
            self._ended = torch.zeros_like(self._ended)
        else:  # (n, 1) bool; slots that ended already hold their next first observation
            mask = mask.reshape(self.batch_size).to(self.device)
            running = mask & ~self._ended
            obs = self.venv.reset_slots(running) if bool(running.any()) else self.venv.observations
            self._ended = self._ended & ~mask
        false = torch.zeros(*self.batch_size, 1, dtype=torch.bool, device=self.device)
        zeros = torch.zeros(self.batch_size, device=self.device)
        return self._out(obs, zeros, done=false, terminated=false.clone(), truncated=false.clone())

    def _step(self, tensordict: TensorDictBase) -> TensorDictBase:
        _, reward, terminated, truncated, infos = self.venv.step_tensor(tensordict.get("action"))
        done = terminated | truncated  # (n,)
        self._ended = self._ended | done
        return self._out(
            infos["final_obs"],  # (n, obs_dim) this step's own outcome, before any autoreset
            infos["uncertainty"],
            reward=reward[:, None],
            done=done[:, None],
            terminated=terminated[:, None],
            truncated=truncated[:, None],
        )

    def _set_seed(self, seed: int | None) -> None:
        self._seed = seed  # used by the next full reset (the dream's torch.Generator)
