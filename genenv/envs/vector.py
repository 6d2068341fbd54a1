"""`DreamVectorEnv`: a batched, device-resident `gymnasium.vector.VectorEnv` over a world model.

All state lives on one torch device as whole-batch tensors: observations (n, obs_dim), physics
contexts (n, ctx_dim), episode step counters and returns. A step is a fixed sequence of tensor ops
(model step, masks with `torch.where`), with no per-slot Python loop and no host round trip, so the
tensor API (`reset_tensor` / `step_tensor`) can feed an on-device agent. The numpy API
(`reset` / `step`) is a thin shell over it that returns gymnasium vector infos (`envs.infos`).

Speed: constants (masks, zeros, action bounds) are preallocated; each step's outputs are new
tensors that the env never writes to again, so agents may keep references. Ensembles step only
their elite members, in activation buffers kept between steps (`genenv.envs.fast`, identical
rollouts), or with `members="sampled"` only each slot's drawn elite (opt-in: no disagreement). Run
`genenv bench --skip real ppo memory` to measure steps per second.

Autoreset follows gymnasium: NEXT_STEP (default; the step after an episode ends resets that slot,
returning its first observation with zero reward and False flags) or SAME_STEP (the ending step
returns the first observation of the next episode; the last one is in `info["final_obs"]`).

Actions outside the action Box are clipped to it, as MuJoCo clamps `ctrl` to `ctrlrange` for the
limited actuators of the real tasks. NaN/inf actions or a wrong shape raise ValueError naming the
slot(s). A model output that is not finite ends that slot's episode as truncated, flags it in
`info["model_nonfinite"]` and returns the slot's last finite observation (reward 0), so NaN never
reaches the agent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from genenv.envs import _world
from genenv.envs.config import DreamConfig
from genenv.envs.fast import EliteStep, fast_step
from genenv.envs.infos import vector_infos
from genenv.worlds.spec import WorldSpec
from genenv.worlds.tasks import get_task


def _is_int(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


class DreamVectorEnv(VectorEnv):
    """`num_envs` imagined episodes of `task`, stepped together in a world model on `device`.

    Args:
        task: task name (e.g. "HalfCheetah").
        world: a world model instance or a checkpoint directory.
        num_envs: batch size.
        device: torch device; default the model's (cpu for a checkpoint path).
        specs: one WorldSpec for all slots or one per slot (default: the task's stock spec).
        render_mode: None (imagined worlds are rendered by `genenv.recording`).
        Other kwargs: see `DreamConfig`.
    """

    metadata: dict[str, Any] = {"render_modes": [], "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(
        self,
        task: str,
        world: Any,
        num_envs: int = 1,
        device: str | torch.device | None = None,
        specs: WorldSpec | Sequence[WorldSpec] | None = None,
        render_mode: str | None = None,
        **config: Any,
    ):
        self.config = cfg = DreamConfig(**config)
        self.task = get_task(task).name
        if not _is_int(num_envs) or num_envs < 1:
            raise ValueError(f"num_envs must be an integer >= 1, got {num_envs!r}")
        _world.fork_safe_threads()  # an async (forked) gymnasium worker: see _world
        if render_mode is not None:
            raise ValueError("DreamVectorEnv has no render modes; use genenv.recording for videos")
        self.num_envs, self.render_mode = int(num_envs), render_mode
        self.metadata = {**self.metadata, "autoreset_mode": cfg.autoreset_mode}
        self.single_observation_space, self.single_action_space = _world.task_spaces(self.task)
        self.device = _world.resolve_device(device, world)
        self.model = self._load_model(world)  # (a subclass may set its observation space here)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        obs_dim = self.model.obs_dim  # size of the imagined state (= the observation here)
        self.device = dev = self.model.device  # concrete ("cuda" -> "cuda:0")
        self._model_step = fast_step(self.model, cfg.members) if cfg.elite_only else self.model.step
        if cfg.compile:
            self._compile()
        if cfg.known_reward_termination:
            from genenv.envs.known import known_step

            self._model_step = known_step(self.task, self._model_step)
        steps = cfg.max_episode_steps
        self.max_episode_steps = get_task(self.task).max_episode_steps if steps is None else steps
        n = self.num_envs
        # Per-slot specs: `_specs` is what each slot runs now; `_next` what it runs after its next
        # reset (set_spec writes there). `_spec_resets[i]` is the slot's reset count at set time.
        self._specs = _world.spec_list(specs, self.task, n)
        self._next: dict[int, WorldSpec] = {}
        self._spec_resets: dict[int, int] = {}
        # (n, ctx_dim) contexts now; next-reset contexts, start poses (n, obs_dim) and their mask.
        self._next_ctx, self._next_starts, self._next_has_start = self._spec_tensors(self._specs)
        self._ctx = self._next_ctx.clone()
        self._low = torch.as_tensor(self.single_action_space.low, device=dev)  # (act_dim,)
        self._high = torch.as_tensor(self.single_action_space.high, device=dev)
        self._generator = torch.Generator(device=dev)
        self._seeded = False
        self._obs = torch.zeros(n, obs_dim, device=dev)  # (n, obs_dim)
        self._steps = torch.zeros(n, dtype=torch.int64, device=dev)  # episode step counters
        self._returns = torch.zeros(n, device=dev)  # episode returns so far
        self._needs_reset = torch.zeros(n, dtype=torch.bool, device=dev)  # NEXT_STEP pending resets
        self._resets = torch.zeros(n, dtype=torch.int64, device=dev)  # resets per slot
        self._zeros = torch.zeros(n, device=dev)
        self._false = torch.zeros(n, dtype=torch.bool, device=dev)
        self._started = False

    # -- tensor API ---------------------------------------------------------------------------
    @torch.no_grad()
    def reset_tensor(self, seed: int | None = None, options: dict | None = None) -> torch.Tensor:
        """Reset every slot; returns the (n, obs_dim) first observations (on the device).

        `seed` re-seeds the env's torch.Generator: the same seed and actions give the same rollout.
        Returned tensors are never written to afterwards, so they may be stored as they are.
        """
        if seed is not None:
            self._generator.manual_seed(int(seed))
            self._seeded = True
        elif not self._seeded:
            self._generator.seed()
            self._seeded = True
        everyone = ~self._false
        self._apply_next_specs(everyone)
        self._obs = self._initial(everyone)
        self._steps = torch.zeros_like(self._steps)
        self._returns = torch.zeros_like(self._returns)
        self._needs_reset = self._false
        self._started = True
        return self._obs

    @torch.no_grad()
    def step_tensor(
        self, actions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """One imagined step of every slot. `actions`: (n, act_dim), any float dtype/device.

        Returns (obs (n, obs_dim), reward (n,), terminated (n,), truncated (n,), infos) on the
        device. Infos: "uncertainty" (n,), "model_nonfinite" (n,) bool, "episode_return" and
        "episode_length" (n,) with mask "_episode" (slots whose episode ended this step); NEXT_STEP
        adds "autoreset" (n,) bool (slots reset this step: not a real transition); SAME_STEP adds
        "final_obs" (n, obs_dim) with mask "_final_obs". With `validate_actions` (default) a NaN/inf
        check costs one reduction and one host sync; turn it off for maximum speed.
        """
        if not self._started:
            raise RuntimeError("call reset() / reset_tensor() before step()")
        actions = self._check_actions(actions)
        cfg = self.config
        out = self._model_step(self._obs, actions, self._ctx, self._generator)
        uncertainty = out.uncertainty  # NaN throughout with members="sampled" (not computed)
        ok = out.finite if cfg.members == "sampled" else out.finite & torch.isfinite(uncertainty)
        uncertainty = torch.where(ok, uncertainty, self._zeros)
        # (n, obs_dim); a slot whose model output is not finite keeps its last finite obs
        obs = torch.where(ok[:, None], out.obs, self._obs)
        reward = out.reward
        if cfg.uncertainty_penalty:
            reward = reward - cfg.uncertainty_penalty * uncertainty
        reward = torch.where(ok, reward, self._zeros)
        terminated = out.terminated & ok
        steps = self._steps + 1
        truncated = ~ok
        if self.max_episode_steps != -1:
            truncated = truncated | (steps >= self.max_episode_steps)
        if cfg.uncertainty_threshold is not None:
            truncated = truncated | (uncertainty > cfg.uncertainty_threshold)
        returns = self._returns + reward
        infos: dict[str, torch.Tensor] = {"uncertainty": uncertainty, "model_nonfinite": ~ok}
        if cfg.autoreset_mode is AutoresetMode.NEXT_STEP:
            reset = self._needs_reset  # (n,) slots whose episode ended last step
            self._apply_next_specs(reset)
            obs = torch.where(reset[:, None], self._initial(reset), obs)
            reward = torch.where(reset, self._zeros, reward)
            terminated, truncated = terminated & ~reset, truncated & ~reset
            uncertainty = infos["uncertainty"] = torch.where(reset, self._zeros, uncertainty)
            infos["model_nonfinite"] = infos["model_nonfinite"] & ~reset
            infos["autoreset"] = reset
            steps = torch.where(reset, torch.zeros_like(steps), steps)
            returns = torch.where(reset, self._zeros, returns)
            done = terminated | truncated
            self._needs_reset = done
            self._obs = obs
        else:
            done = terminated | truncated
            infos["final_obs"], infos["_final_obs"] = obs, done
            self._apply_next_specs(done)
            self._obs = torch.where(done[:, None], self._initial(done), obs)
        infos["episode_return"], infos["episode_length"], infos["_episode"] = returns, steps, done
        if cfg.autoreset_mode is AutoresetMode.SAME_STEP:
            steps = torch.where(done, torch.zeros_like(steps), steps)
            returns = torch.where(done, self._zeros, returns)
        self._steps, self._returns = steps, returns
        return self._obs, reward, terminated, truncated, infos

    @torch.no_grad()
    def reset_slots(self, mask: torch.Tensor) -> torch.Tensor:
        """Start new episodes in the slots where `mask` (n,) bool is True, whether their episodes
        ended or not; the other slots go on. Returns every slot's observation (n, obs_dim).

        For callers that decide resets themselves (TorchRL's partial `"_reset"`); the random
        stream is drawn for the whole batch, as at an autoreset.
        """
        if not self._started:
            return self.reset_tensor()
        mask = torch.as_tensor(mask, device=self.device, dtype=torch.bool).reshape(self.num_envs)
        self._apply_next_specs(mask)
        self._obs = torch.where(mask[:, None], self._initial(mask), self._obs)
        self._steps = torch.where(mask, torch.zeros_like(self._steps), self._steps)
        self._returns = torch.where(mask, self._zeros, self._returns)
        self._needs_reset = self._needs_reset & ~mask
        return self._obs

    # -- gymnasium API ------------------------------------------------------------------------
    def reset(
        self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset all slots. One generator drives the batch: a list of seeds uses its first."""
        if isinstance(seed, (list, tuple)):
            seed = seed[0] if seed else None
        if options and "reset_mask" in options:
            raise ValueError(
                "reset_mask is for AutoresetMode.DISABLED, which this env does not use"
            )
        super().reset(seed=seed)  # gymnasium's np_random bookkeeping
        return _to_numpy(self.reset_tensor(seed=seed)), {}

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        obs, reward, terminated, truncated, t_infos = self.step_tensor(
            torch.as_tensor(np.asarray(actions, dtype=np.float32))
        )
        return (
            _to_numpy(obs),
            _to_numpy(reward).astype(np.float64),
            _to_numpy(terminated),
            _to_numpy(truncated),
            vector_infos(
                {k: _to_numpy(v) for k, v in t_infos.items()},
                self.config.autoreset_mode is AutoresetMode.SAME_STEP,
            ),
        )

    def set_autoreset_mode(self, mode: AutoresetMode | str) -> None:
        """Switch between NEXT_STEP and SAME_STEP; the env must be reset before stepping again."""
        self.config.autoreset_mode = mode
        self.config.__post_init__()  # validates and parses names like "same_step"
        self.metadata = {**self.metadata, "autoreset_mode": self.config.autoreset_mode}
        self._started = False

    # -- per-slot worlds ----------------------------------------------------------------------
    def set_spec(self, index: int, spec: WorldSpec) -> None:
        """Give slot `index` a new WorldSpec from its next reset on (curricula use this)."""
        if not 0 <= index < self.num_envs:
            raise IndexError(f"slot {index} out of range for {self.num_envs} envs")
        _world.check_spec(spec, self.task, index)
        ctx, starts, has = self._spec_tensors([spec])
        self._next_ctx[index], self._next_starts[index] = ctx[0], starts[0]
        self._next_has_start[index] = has[0]
        self._resolve_specs()
        self._next[index] = spec
        self._spec_resets[index] = int(self._resets[index])

    def set_specs(self, specs: Sequence[WorldSpec]) -> None:
        """One new WorldSpec per slot, each from that slot's next reset on."""
        specs = _world.spec_list(specs, self.task, self.num_envs)
        ctx, starts, has = self._spec_tensors(specs)
        self._next_ctx, self._next_starts, self._next_has_start = ctx, starts, has
        self._resolve_specs()
        counts = self._resets.tolist()
        self._next = dict(enumerate(specs))
        self._spec_resets = dict(enumerate(counts))

    @property
    def specs(self) -> list[WorldSpec]:
        """The WorldSpec each slot is running now (one host sync)."""
        self._resolve_specs()
        return list(self._specs)

    def get_spec(self, index: int) -> WorldSpec:
        return self.specs[index]

    @property
    def observations(self) -> torch.Tensor:
        """(n, obs_dim) every slot's current observation on the device (after any autoreset)."""
        return self._obs

    @property
    def contexts(self) -> torch.Tensor:
        """(n, ctx_dim) the physics context of each slot now, on the device."""
        return self._ctx

    def _load_model(self, world: Any) -> torch.nn.Module:
        """The world model (instance or checkpoint), checked against the task's spaces."""
        obs_dim, act_dim = self.single_observation_space.shape[0], self.single_action_space.shape[0]
        return _world.load_world(world, self.task, self.device, obs_dim, act_dim)

    def _spec_tensors(self, specs: Sequence[WorldSpec]):
        """(contexts, start states, has-start mask) of `specs` (see `_world.spec_tensors`)."""
        return _world.spec_tensors(specs, self.model.obs_dim, self.device)

    def _resolve_specs(self) -> None:
        if not self._next:
            return
        counts = self._resets.tolist()
        for i in [i for i in self._next if counts[i] > self._spec_resets[i]]:
            self._specs[i] = self._next.pop(i)
            del self._spec_resets[i]

    def _apply_next_specs(self, mask: torch.Tensor) -> None:
        """Slots in `mask` (n,) are resetting: they take up their next context and start pose."""
        self._ctx = torch.where(mask[:, None], self._next_ctx, self._ctx)
        self._resets = self._resets + mask

    def _initial(self, mask: torch.Tensor) -> torch.Tensor:
        """(n, obs_dim) first observations for every slot (callers keep those in `mask`).

        Draws for the whole batch so the random stream never depends on which slots reset.
        """
        drawn = self.model.initial(self.num_envs, self._generator, self.config.start)
        has = self._next_has_start & mask
        return torch.where(has[:, None], self._next_starts, drawn)

    # -- checks and speed ---------------------------------------------------------------------
    def _check_actions(self, actions: Any) -> torch.Tensor:
        actions = torch.as_tensor(actions, device=self.device, dtype=torch.float32)
        shape = (self.num_envs, *self.single_action_space.shape)
        if actions.shape != shape:
            raise ValueError(f"actions must have shape {shape}, got {tuple(actions.shape)}")
        if self.config.validate_actions:
            bad = ~torch.isfinite(actions).all(-1)  # (n,)
            if bool(bad.any()):
                slots = bad.nonzero().flatten().tolist()
                raise ValueError(f"non-finite (NaN/inf) action in env slot(s) {slots[:20]}")
        return torch.clamp(actions, self._low, self._high)

    def _compile(self) -> None:
        """torch.compile the network the env steps (`EliteStep`'s, else the model's own).

        Measured on a 2-core CPU it does not pay (HalfCheetah, 1024 envs: no gain, ~1 min to
        compile), hence off by default; meant for GPUs.
        """
        if isinstance(self._model_step, EliteStep):
            self._model_step.compile()
        else:
            self.model.forward = torch.compile(self.model.forward, dynamic=False)

    def close_extras(self, **kwargs: Any) -> None:
        self._started = False

    def __repr__(self) -> str:
        return (
            f"DreamVectorEnv({self.task}, num_envs={self.num_envs}, device={self.device}, "
            f"autoreset_mode={self.config.autoreset_mode.name})"
        )


def _to_numpy(t: torch.Tensor) -> np.ndarray:
    """A fresh numpy copy (never a view of env state)."""
    return t.detach().cpu().numpy().copy()


def same_step_env(venv: DreamVectorEnv | None, kwargs: dict[str, Any], adapter: str):
    """The same-step-autoreset `DreamVectorEnv` an adapter (SB3, TorchRL) wraps: `venv` itself (a
    NEXT_STEP one is switched over, and the adapter then owns it), or one built from `kwargs`."""
    if venv is None:
        return DreamVectorEnv(**{**kwargs, "autoreset_mode": AutoresetMode.SAME_STEP})
    if kwargs:
        raise ValueError("pass either a DreamVectorEnv or its constructor kwargs, not both")
    if not isinstance(venv, DreamVectorEnv):
        raise ValueError(f"{adapter} wraps a DreamVectorEnv, got {type(venv).__name__}")
    if venv.config.autoreset_mode is not AutoresetMode.SAME_STEP:
        venv.set_autoreset_mode(AutoresetMode.SAME_STEP)
    return venv
