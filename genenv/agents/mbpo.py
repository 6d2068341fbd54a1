"""MBPO-style agent: soft actor-critic on short model rollouts branched from real states.

Janner et al. 2019 ("When to trust your model"), shaped to genenv's loop:
- The dream env (a `DreamVectorEnv` with `start: states`, SAME_STEP autoreset) starts each of its
  `n_envs` slots from a random REAL state of the run's dataset and truncates it after k steps:
  stepping it with the current policy is exactly branching k-step rollouts off real states. Every
  dream step adds `n_envs` imagined transitions to a FIFO model buffer (`buffer_size`).
- k follows `rollout_schedule` [real_a, real_b, k_a, k_b]: k_a until the dataset holds real_a real
  steps, then linearly to k_b at real_b (MBPO: Hopper 1 -> 15, Ant 1 -> 25; 1 for the others).
- After every dream step, `gradient_steps` SAC updates on batches that mix `real_ratio` real
  transitions (the loop hands the dataset over through `observe_real`) with model ones.
- MOPO-style pessimism lives in the dream env (`uncertainty_penalty`, `uncertainty_threshold`).

With `steps_per_iteration` real steps between model fits and `total_timesteps` imagined steps per
iteration, the update-to-data ratio is gradient_steps * total_timesteps / (n_envs * real steps).
A truncated (not terminated) rollout bootstraps from its last predicted state, as in MBPO.

Saved as a folder: mbpo.safetensors (actor, critics, targets, temperature) + mbpo.json (config,
spaces, counters); never pickled. The replay buffers are not saved: a resumed run refills them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genenv.agents.sac import SAC, SACConfig

FORMAT_VERSION = 1
META_FILE, WEIGHTS_FILE = "mbpo.json", "mbpo.safetensors"


@dataclass
class MBPOConfig:
    """MBPO hyper-parameters: SAC's (SB3 names) plus the branched-rollout scheme."""

    learning_rate: float = 3e-4
    batch_size: int = 256
    gamma: float = 0.99
    tau: float = 0.005
    ent_coef: str | float = "auto"
    target_entropy: float | None = None
    net_arch: list[int] = field(default_factory=lambda: [256, 256])
    gradient_steps: int = 20  # SAC updates after every dream step (n_envs transitions)
    real_ratio: float = 0.05  # share of real transitions in each batch
    buffer_size: int = 400_000  # imagined transitions kept (FIFO)
    learning_starts: int = 1000  # imagined transitions in the buffer before the first update
    # [real_a, real_b, k_a, k_b]: rollout length k over the real dataset size; None: the env's
    rollout_schedule: list[float] | None = None
    seed: int = 0

    def sac(self) -> SACConfig:
        names = {f.name for f in fields(SACConfig)}
        return SACConfig(**{k: v for k, v in asdict(self).items() if k in names})

    def rollout_length(self, real_steps: int) -> int | None:
        if self.rollout_schedule is None:
            return None
        a, b, k_a, k_b = self.rollout_schedule
        frac = min(max((real_steps - a) / max(b - a, 1), 0.0), 1.0)
        return max(1, int(round(k_a + frac * (k_b - k_a))))


class Buffer:
    """A FIFO ring of transitions on one device (actions stored in the squashed [-1, 1] space)."""

    def __init__(self, capacity: int, obs_dim: int, act_dim: int, device: torch.device):
        self.capacity, self.size, self.pos = int(capacity), 0, 0
        self.data = {
            "obs": torch.zeros(capacity, obs_dim, device=device),
            "action": torch.zeros(capacity, act_dim, device=device),
            "reward": torch.zeros(capacity, device=device),
            "next_obs": torch.zeros(capacity, obs_dim, device=device),
            "done": torch.zeros(capacity, device=device),
        }

    def add(self, **batch: torch.Tensor) -> None:
        n = next(iter(batch.values())).shape[0]
        if n > self.capacity:  # keep the newest
            batch, n = {k: v[-self.capacity :] for k, v in batch.items()}, self.capacity
        idx = (self.pos + torch.arange(n, device=self.data["obs"].device)) % self.capacity
        for key, value in batch.items():
            self.data[key][idx] = value.to(self.data[key].dtype)
        self.pos = (self.pos + n) % self.capacity
        self.size = min(self.size + n, self.capacity)

    def sample(self, n: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        idx = torch.randint(self.size, (n,), generator=generator, device=self.data["obs"].device)
        return {k: v[idx] for k, v in self.data.items()}


class MBPO:
    """SAC trained on branched dream rollouts plus a share of real transitions.

    `env`: a `DreamVectorEnv` (tensor API); None for a loaded agent that only predicts.
    """

    def __init__(
        self,
        env: Any,
        config: MBPOConfig | None = None,
        device: str | None = None,
        *,
        obs_dim: int | None = None,
        action_low: Any = None,
        action_high: Any = None,
        tensorboard_log: str | None = None,
    ):
        self.config = cfg = config or MBPOConfig()
        if env is not None:
            obs_dim = int(env.single_observation_space.shape[0])
            action_low, action_high = env.single_action_space.low, env.single_action_space.high
            device = device or str(getattr(env, "device", "cpu"))
        if obs_dim is None or action_low is None or action_high is None:
            raise ValueError("MBPO needs an env, or obs_dim and action bounds")
        if not 0.0 <= cfg.real_ratio <= 1.0:
            raise ValueError(f"real_ratio must be in [0, 1], got {cfg.real_ratio}")
        self.device = torch.device(device or "cpu")
        act_dim = int(np.asarray(action_low).size)
        self.obs_dim, self.act_dim = obs_dim, act_dim
        self.sac = SAC(obs_dim, act_dim, action_low, action_high, cfg.sac()).to(self.device)
        self.generator = torch.Generator(device=self.device).manual_seed(cfg.seed)
        self.buffer = Buffer(cfg.buffer_size, obs_dim, act_dim, self.device)
        self.real: Buffer | None = None
        self.num_timesteps, self.real_steps = 0, 0
        self.tensorboard_log, self._writer = tensorboard_log, None
        self.env, self._obs, self.n_envs = None, None, 1
        if env is not None:
            self.set_dream_env(env)

    @classmethod
    def from_recipe(
        cls, recipe: Any, env: Any, seed: int = 0, tensorboard_log: str | None = None
    ) -> MBPO:
        """An agent for a recipe: `hyperparams` are MBPOConfig fields, `policy_kwargs.net_arch`
        the widths of actor and critics."""
        raw = recipe.to_dict() if hasattr(recipe, "to_dict") else dict(recipe)
        params = dict(raw.get("hyperparams") or {})
        arch = (raw.get("policy_kwargs") or {}).get("net_arch")
        if arch is not None:
            params["net_arch"] = list(arch)
        names = {f.name for f in fields(MBPOConfig)}
        unknown = sorted(set(params) - names)
        if unknown:
            raise ValueError(f"unknown MBPO hyperparams {unknown}; valid: {sorted(names)}")
        return cls(env, MBPOConfig(**{**params, "seed": seed}), tensorboard_log=tensorboard_log)

    # -- the dream and the real data ----------------------------------------------------------
    def set_dream_env(self, env: Any) -> None:
        """Branch rollouts in `env` from the next `learn` on (SAME_STEP autoreset)."""
        if int(env.single_observation_space.shape[0]) != self.obs_dim:
            raise ValueError(
                f"env has {env.single_observation_space.shape[0]} obs features, "
                f"agent expects {self.obs_dim}"
            )
        if hasattr(env, "set_autoreset_mode"):
            env.set_autoreset_mode("same_step")  # final_obs of each ending rollout in infos
        self.env, self._obs, self.n_envs = env, None, int(env.num_envs)
        self._apply_rollout_length()

    def observe_real(self, transitions: Any) -> None:
        """The run's real dataset (`genenv.data.Transitions`): the real share of every batch,
        and the real-step count that sets the rollout length."""
        n = len(transitions)
        self.real = Buffer(max(n, 1), self.obs_dim, self.act_dim, self.device)

        def t(x: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(np.asarray(x, np.float32), device=self.device)

        self.real.add(
            obs=t(transitions.obs),
            action=self.sac.unscale(t(transitions.actions)),
            reward=t(transitions.rewards),
            next_obs=t(transitions.next_obs),
            done=t(transitions.terminations),
        )
        self.real_steps = n
        self._apply_rollout_length()

    def _apply_rollout_length(self) -> None:
        k = self.config.rollout_length(self.real_steps)
        if k is not None and self.env is not None and hasattr(self.env, "max_episode_steps"):
            self.env.max_episode_steps = k

    # -- training -----------------------------------------------------------------------------
    def _batch(self) -> dict[str, torch.Tensor]:
        cfg = self.config
        n_real = (
            0
            if self.real is None or self.real.size == 0
            else round(cfg.batch_size * cfg.real_ratio)
        )
        parts = [self.buffer.sample(cfg.batch_size - n_real, self.generator)]
        if n_real:
            parts.append(self.real.sample(n_real, self.generator))
        return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}

    def learn(
        self,
        total_timesteps: int,
        callback: Callable[[Any, dict], Any] | None = None,
        reset_num_timesteps: bool = True,
        progress: bool = False,
        progress_bar: bool = False,
    ) -> MBPO:
        """At least `total_timesteps` more dream steps (whole dream steps of n_envs slots), each
        followed by `gradient_steps` updates; `callback(agent, stats)` after each dream step."""
        if self.env is None:
            raise RuntimeError("MBPO.learn needs a dream env (set_dream_env)")
        if reset_num_timesteps:
            self.num_timesteps = 0
        env, cfg, n = self.env, self.config, self.n_envs
        if self._obs is None:
            seed = int(torch.randint(2**31 - 1, (1,), generator=self.generator))
            self._obs = env.reset_tensor(seed=seed)
        stats: dict[str, Any] = {}
        for _ in range(math.ceil(total_timesteps / n)):
            obs = self._obs
            with torch.no_grad():
                a, _ = self.sac.actor(obs, generator=self.generator)  # (n, act_dim) in [-1, 1]
            nxt, reward, terminated, _, info = env.step_tensor(self.sac.scale(a))
            final = nxt
            if "final_obs" in info:  # SAME_STEP: ending slots' last predicted state
                final = torch.where(info["_final_obs"][:, None], info["final_obs"], nxt)
            keep = ~info["model_nonfinite"]  # (n,)
            self.buffer.add(
                obs=obs[keep],
                action=a[keep],
                reward=reward[keep],
                next_obs=final[keep],
                done=terminated[keep],
            )
            self._obs = nxt
            self.num_timesteps += n
            if self.buffer.size >= cfg.learning_starts:
                for _ in range(cfg.gradient_steps):
                    stats = self.sac.update(self._batch(), self.generator)
            if callback is not None:
                callback(self, stats)
        self._log(stats)
        return self

    def _log(self, stats: dict[str, Any]) -> None:
        if self.tensorboard_log is None or not stats:
            return
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(Path(self.tensorboard_log) / "MBPO"))
        for key, value in stats.items():
            self._writer.add_scalar(key, float(value), self.num_timesteps)
        self._writer.add_scalar("charts/gradient_steps", self.sac.updates, self.num_timesteps)
        if self.env is not None and hasattr(self.env, "max_episode_steps"):
            self._writer.add_scalar(
                "charts/rollout_length", self.env.max_episode_steps, self.num_timesteps
            )

    # -- inference ----------------------------------------------------------------------------
    def predict(
        self,
        observation: Any,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = True,
    ) -> tuple[Any, None]:
        """SB3-style: numpy in -> numpy out, tensor in -> tensor out; (obs_dim,) or (b, obs_dim)."""
        is_tensor = isinstance(observation, torch.Tensor)
        obs = torch.as_tensor(observation, dtype=torch.float32, device=self.device)
        if obs.shape[-1] != self.obs_dim:
            raise ValueError(
                f"observation has {obs.shape[-1]} features, agent expects {self.obs_dim}"
            )
        action = self.sac.act(obs.reshape(-1, self.obs_dim), deterministic, self.generator)
        action = action[0] if obs.dim() == 1 else action
        return (action if is_tensor else action.cpu().numpy()), None

    # -- saving -------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the folder `path`: mbpo.safetensors and mbpo.json (no optimizer state)."""
        from safetensors.torch import save_file

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        save_file(self.sac.weights(), str(path / WEIGHTS_FILE))
        meta = {
            "format_version": FORMAT_VERSION,
            "algo": "MBPO",
            "config": asdict(self.config),
            "obs_dim": self.obs_dim,
            "action_low": self.sac.action_low.tolist(),
            "action_high": self.sac.action_high.tolist(),
            "num_timesteps": self.num_timesteps,
            "gradient_steps": self.sac.updates,
        }
        (path / META_FILE).write_text(json.dumps(meta, indent=2))
        return path

    @classmethod
    def load(cls, path: str | Path, env: Any = None, device: str | None = None) -> MBPO:
        """Load an agent saved by `save` (no unpickling); pass `env` to continue training."""
        from safetensors.torch import load_file

        path = Path(path)
        meta_file, weights = path / META_FILE, path / WEIGHTS_FILE
        if not meta_file.is_file() or not weights.is_file():
            raise FileNotFoundError(
                f"{path} is not a saved MBPO folder (needs {META_FILE} and {WEIGHTS_FILE})"
            )
        try:
            meta = json.loads(meta_file.read_text())
            config = MBPOConfig(**meta["config"])
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise ValueError(f"{meta_file}: not an MBPO save ({err})") from None
        if meta.get("algo") != "MBPO" or meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{meta_file}: not an MBPO save of format {FORMAT_VERSION}")
        agent = cls(
            env,
            config,
            device,
            obs_dim=meta["obs_dim"],
            action_low=meta["action_low"],
            action_high=meta["action_high"],
        )
        try:
            agent.sac.load_state_dict(load_file(str(weights), device=str(agent.device)))
        except Exception as err:  # corrupt file, or weights that do not match the config
            raise ValueError(f"{weights}: cannot load MBPO weights ({err})") from None
        agent.num_timesteps = int(meta.get("num_timesteps", 0))
        agent.sac.updates = int(meta.get("gradient_steps", 0))
        return agent
