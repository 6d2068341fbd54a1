"""Model-predictive control in a batched world model: CEM or MPPI over action sequences.

At every real step the planner samples `num_samples` action sequences of length `horizon` around
its current plan, rolls them all out in the world model in one batch (one `WorldModel.step` call per
horizon step over `(batch * num_samples)` rows, the context repeated), scores each by its summed
discounted predicted reward (minus an uncertainty penalty, stopping at a predicted termination,
which costs `termination_penalty`), refits the plan (CEM: mean/std of the elites; MPPI:
reward-weighted average), iterates, and executes the first action of the plan. The rest of the
plan, shifted by one step, warm-starts the next call. `predict` has SB3's numpy signature, so the
planner is tested in the real world like any other agent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from genenv.worlds.spec import Context, WorldSpec


@dataclass
class PlannerConfig:
    """Planner settings."""

    method: str = "cem"  # "cem" (elite refit) or "mppi" (exponentially weighted refit)
    horizon: int = 15  # planned steps per candidate sequence
    num_samples: int = 256  # candidate sequences per iteration
    num_iterations: int = 3  # refits per real step
    num_elites: int = 32  # CEM: best candidates the plan is refit to
    temperature: float = 0.5  # MPPI: softmax temperature over (return - max) / return std
    momentum: float = 0.1  # weight of the previous plan in each refit
    init_std: float = 0.5  # initial std, as a fraction of the action half-range
    min_std: float = 0.05  # floor on the std, as a fraction of the action half-range
    discount: float = 0.99  # per-step discount on predicted reward
    uncertainty_penalty: float = 0.0  # reward minus this x ensemble disagreement (MOPO style)
    termination_penalty: float = 0.0  # subtracted once when a rollout is predicted to terminate
    warm_start: bool = True  # reuse the shifted previous plan as the next initial mean
    seed: int = 0  # seeds the sampling generator

    def __post_init__(self) -> None:
        if self.method not in ("cem", "mppi"):
            raise ValueError(f"planner method must be 'cem' or 'mppi', got {self.method!r}")
        if min(self.horizon, self.num_samples, self.num_iterations) < 1:
            raise ValueError("horizon, num_samples and num_iterations must be >= 1")
        if not 1 <= self.num_elites <= self.num_samples:
            raise ValueError("need 1 <= num_elites <= num_samples")
        if self.temperature <= 0 or not 0.0 <= self.momentum < 1.0:
            raise ValueError("need temperature > 0 and 0 <= momentum < 1")


class Planner:
    """CEM/MPPI controller over a `WorldModel` (e.g. `EnsembleWorldModel`)."""

    def __init__(
        self,
        model: Any,
        config: PlannerConfig | None = None,
        spec: WorldSpec | None = None,
        device: str | torch.device | None = None,
    ):
        self.model, self.config = model, config or PlannerConfig()
        self.device = torch.device(device) if device is not None else model.device
        if str(self.device) != str(model.device):
            raise ValueError(
                f"planner device {self.device} differs from the model's {model.device}"
            )
        if spec is not None and spec.task != model.task:
            raise ValueError(f"spec is for task {spec.task} but the model is for {model.task}")
        ctx = (spec.context if spec is not None else Context()).as_tuple()
        self.context = torch.tensor(ctx, dtype=torch.float32, device=self.device)  # (ctx_dim,)
        act_dim = model.act_dim
        self.low = model.action_low.to(self.device).float().expand(act_dim)  # (act_dim,)
        self.high = model.action_high.to(self.device).float().expand(act_dim)
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(self.config.seed)
        self._plan: torch.Tensor | None = None  # (b, horizon, act_dim) warm-start mean

    def reset(self) -> None:
        """Forget the warm-start plan (call at the start of each real episode)."""
        self._plan = None

    @torch.no_grad()
    def score(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Predicted return of action sequences: obs (b, obs_dim), actions (b, m, H, act_dim) ->
        (b, m)."""
        cfg = self.config
        b, m, H, A = actions.shape
        x = obs.repeat_interleave(m, dim=0)  # (b*m, obs_dim)
        ctx = self.context.expand(b * m, -1)  # (b*m, ctx_dim)
        acts = actions.reshape(b * m, H, A)
        ret = torch.zeros(b * m, device=self.device)
        alive = torch.ones(b * m, dtype=torch.bool, device=self.device)
        for t in range(H):
            step = self.model.step(x, acts[:, t], ctx, generator=self.generator)
            w = cfg.discount**t
            gain = step.reward - cfg.uncertainty_penalty * step.uncertainty
            ret += w * torch.where(alive, gain, 0.0)
            ends = alive & (step.terminated | ~step.finite)
            ret -= w * cfg.termination_penalty * ends.float()
            alive = alive & ~ends
            x = step.obs
        return ret.view(b, m)

    @torch.no_grad()
    def plan(self, obs: torch.Tensor) -> torch.Tensor:
        """Refit and return the plan mean (b, horizon, act_dim) for observations (b, obs_dim)."""
        cfg, b = self.config, obs.shape[0]
        H, A, N = cfg.horizon, self.low.numel(), cfg.num_samples
        half = (self.high - self.low) / 2  # (A,)
        mid = (self.high + self.low) / 2
        if self._plan is None or self._plan.shape[0] != b or not cfg.warm_start:
            mean = mid.expand(b, H, A).clone()
        else:
            mean = torch.cat([self._plan[:, 1:], mid.expand(b, 1, A)], dim=1)
        std = (cfg.init_std * half).expand(b, H, A).clone()
        for _ in range(cfg.num_iterations):
            eps = torch.randn(b, N, H, A, generator=self.generator, device=self.device)
            samples = mean[:, None] + std[:, None] * eps  # (b, N, H, A)
            samples[:, 0] = mean  # the current plan always competes
            samples = torch.maximum(torch.minimum(samples, self.high), self.low)
            ret = self.score(obs, samples)  # (b, N)
            if cfg.method == "cem":
                idx = ret.topk(cfg.num_elites, dim=1).indices  # (b, K)
                elites = samples.gather(1, idx[:, :, None, None].expand(-1, -1, H, A))
                new_mean, new_std = elites.mean(1), elites.std(1, unbiased=False)
            else:
                scale = ret.std(1, keepdim=True).clamp(min=1e-6) * cfg.temperature
                w = torch.softmax((ret - ret.max(1, keepdim=True).values) / scale, dim=1)
                w = w[:, :, None, None]  # (b, N, 1, 1)
                new_mean = (w * samples).sum(1)
                new_std = (w * (samples - new_mean[:, None]).square()).sum(1).sqrt()
            mean = cfg.momentum * mean + (1 - cfg.momentum) * new_mean
            std = (cfg.momentum * std + (1 - cfg.momentum) * new_std).clamp(min=cfg.min_std * half)
        self._plan, self._std = mean, std
        return mean

    def predict(
        self,
        observation: Any,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = True,
    ) -> tuple[Any, None]:
        """SB3-style: obs (obs_dim,) or (b, obs_dim), numpy or tensor -> (action, None).

        `episode_start` (bool or (b,) array): rows where it is true drop their warm-start plan.
        """
        is_tensor = isinstance(observation, torch.Tensor)
        obs = torch.as_tensor(observation, dtype=torch.float32, device=self.device)
        single = obs.dim() == 1
        obs = obs.reshape(-1, obs.shape[-1])
        if obs.shape[-1] != self.model.obs_dim:
            raise ValueError(
                f"observation has {obs.shape[-1]} features, model expects {self.model.obs_dim}"
            )
        if episode_start is not None and self._plan is not None:
            starts = torch.as_tensor(episode_start, dtype=torch.bool, device=self.device)
            mid = (self.high + self.low) / 2
            self._plan = torch.where(starts.reshape(-1, 1, 1), mid, self._plan)
        plan = self.plan(obs)
        action = plan[:, 0]  # (b, act_dim)
        if not deterministic:
            noise = torch.randn(action.shape, generator=self.generator, device=self.device)
            action = torch.maximum(
                torch.minimum(action + self._std[:, 0] * noise, self.high), self.low
            )
        action = action[0] if single else action
        return (action if is_tensor else action.cpu().numpy()), None
