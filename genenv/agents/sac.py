"""A lean soft actor-critic in plain torch: the learner inside genenv's MBPO agent.

Kept small for the 2-core CPU, where SB3's per-step overhead dominates at many gradient steps
per real step: the twin critics are one batched network (weights (2, in, out), one `baddbmm` per
layer for both), an update is three optimizer steps (critics, actor, temperature) and no host
sync. Tanh-squashed Gaussian actor, clipped double-Q target, automatic entropy temperature with
target -act_dim (Haarnoja et al. 2018, as SB3's SAC and MBPO's).

`SACConfig` uses SB3's SAC hyper-parameter names where they exist.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


@dataclass
class SACConfig:
    """SAC hyper-parameters (SB3 names)."""

    learning_rate: float = 3e-4  # Adam, for actor, critics and temperature
    batch_size: int = 256  # transitions per gradient step
    gamma: float = 0.99
    tau: float = 0.005  # polyak averaging of the target critics
    ent_coef: str | float = "auto"  # "auto" (learned, optionally "auto_0.1" start) or fixed
    target_entropy: float | None = None  # None: -act_dim
    net_arch: list[int] = field(default_factory=lambda: [256, 256])  # actor and critic widths
    seed: int = 0


class TwinLinear(nn.Module):
    """`copies` independent linear layers on (copies, n, in) -> (copies, n, out)."""

    def __init__(self, copies: int, in_features: int, out_features: int):
        super().__init__()
        bound = 1.0 / math.sqrt(in_features)  # torch.nn.Linear's default init
        self.weight = nn.Parameter(torch.empty(copies, in_features, out_features))
        self.bias = nn.Parameter(torch.empty(copies, 1, out_features))
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


class Critics(nn.Module):
    """Two Q-networks evaluated together: Q(s, a) -> (2, n)."""

    def __init__(self, obs_dim: int, act_dim: int, arch: list[int], copies: int = 2):
        super().__init__()
        dims = [obs_dim + act_dim, *arch]
        self.layers = nn.ModuleList(
            TwinLinear(copies, a, b) for a, b in zip(dims, dims[1:], strict=False)
        )
        self.out = TwinLinear(copies, dims[-1], 1)
        self.copies = copies

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        x = torch.cat([obs, action], -1).unsqueeze(0).expand(self.copies, -1, -1)  # (2, n, in)
        for layer in self.layers:
            x = F.relu(layer(x))
        return self.out(x).squeeze(-1)  # (2, n)


class Actor(nn.Module):
    """Tanh-squashed Gaussian policy in [-1, 1]^act_dim (scaled to the env's bounds outside)."""

    def __init__(self, obs_dim: int, act_dim: int, arch: list[int]):
        super().__init__()
        dims, layers = [obs_dim, *arch], []
        for a, b in zip(dims, dims[1:], strict=False):
            layers += [nn.Linear(a, b), nn.ReLU()]
        self.body = nn.Sequential(*layers)
        self.mu = nn.Linear(dims[-1], act_dim)
        self.log_std = nn.Linear(dims[-1], act_dim)

    def forward(
        self, obs: torch.Tensor, deterministic: bool = False, generator=None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(squashed action (n, act_dim) in [-1, 1], log-probability (n,))."""
        h = self.body(obs)
        mu = self.mu(h)
        if deterministic:
            return torch.tanh(mu), torch.zeros(obs.shape[0], device=obs.device)
        log_std = self.log_std(h).clamp(LOG_STD_MIN, LOG_STD_MAX)
        std = log_std.exp()
        eps = torch.randn(mu.shape, generator=generator, device=mu.device)
        u = mu + std * eps
        a = torch.tanh(u)
        # log N(u) - log|d tanh(u)/du|, the second term in its stable form
        logp = (-0.5 * eps.square() - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        logp = logp - (2.0 * (math.log(2.0) - u - F.softplus(-2.0 * u))).sum(-1)
        return a, logp


class SAC(nn.Module):
    """Actor, twin critics, target critics and temperature, with one `update(batch)` step.

    Actions are handled in the squashed [-1, 1] space; `scale`/`unscale` map to the env's Box.
    """

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        action_low: Any,
        action_high: Any,
        config: SACConfig | None = None,
    ):
        super().__init__()
        self.config = cfg = config or SACConfig()
        self.obs_dim, self.act_dim = obs_dim, act_dim
        low = torch.as_tensor(action_low, dtype=torch.float32).flatten()
        high = torch.as_tensor(action_high, dtype=torch.float32).flatten()
        self.register_buffer("action_low", low)
        self.register_buffer("action_high", high)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            self.actor = Actor(obs_dim, act_dim, list(cfg.net_arch))
            self.critics = Critics(obs_dim, act_dim, list(cfg.net_arch))
        self.target = Critics(obs_dim, act_dim, list(cfg.net_arch))
        self.target.load_state_dict(self.critics.state_dict())
        self.target.requires_grad_(False)
        init_alpha, self.learn_alpha = _ent_coef(cfg.ent_coef)
        self.log_alpha = nn.Parameter(torch.tensor(math.log(init_alpha)))
        self.target_entropy = (
            -float(act_dim) if cfg.target_entropy is None else float(cfg.target_entropy)
        )
        lr = cfg.learning_rate
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=lr)
        self.critic_opt = torch.optim.Adam(self.critics.parameters(), lr=lr)
        self.alpha_opt = torch.optim.Adam([self.log_alpha], lr=lr)
        self.updates = 0

    # -- actions ------------------------------------------------------------------------------
    def scale(self, a: torch.Tensor) -> torch.Tensor:  # [-1, 1] -> env bounds
        return self.action_low + (a + 1.0) * 0.5 * (self.action_high - self.action_low)

    def unscale(self, a: torch.Tensor) -> torch.Tensor:  # env bounds -> [-1, 1]
        span = (self.action_high - self.action_low).clamp_min(1e-8)
        return ((a - self.action_low) * 2.0 / span - 1.0).clamp(-1.0, 1.0)

    @torch.no_grad()
    def act(self, obs: torch.Tensor, deterministic: bool = False, generator=None) -> torch.Tensor:
        """(n, obs_dim) -> (n, act_dim) env actions."""
        a, _ = self.actor(obs, deterministic, generator)
        return self.scale(a)

    # -- learning -----------------------------------------------------------------------------
    def update(self, batch: dict[str, torch.Tensor], generator=None) -> dict[str, torch.Tensor]:
        """One gradient step on a batch: obs (b, o), action (b, a) in [-1, 1], reward (b,),
        next_obs (b, o), done (b,) float (1: terminated, no bootstrap). Returns loss tensors."""
        cfg = self.config
        alpha = self.log_alpha.detach().exp()
        with torch.no_grad():
            next_a, next_logp = self.actor(batch["next_obs"], generator=generator)
            next_q = self.target(batch["next_obs"], next_a).min(0).values  # (b,)
            target = batch["reward"] + cfg.gamma * (1.0 - batch["done"]) * (
                next_q - alpha * next_logp
            )
        q = self.critics(batch["obs"], batch["action"])  # (2, b)
        critic_loss = 0.5 * (q - target).square().mean(1).sum()
        self.critic_opt.zero_grad(set_to_none=True)
        critic_loss.backward()
        self.critic_opt.step()

        self.critics.requires_grad_(False)
        a, logp = self.actor(batch["obs"], generator=generator)
        actor_loss = (alpha * logp - self.critics(batch["obs"], a).min(0).values).mean()
        self.actor_opt.zero_grad(set_to_none=True)
        actor_loss.backward()
        self.actor_opt.step()
        self.critics.requires_grad_(True)

        if self.learn_alpha:
            alpha_loss = -(self.log_alpha * (logp.detach() + self.target_entropy)).mean()
            self.alpha_opt.zero_grad(set_to_none=True)
            alpha_loss.backward()
            self.alpha_opt.step()
        with torch.no_grad():
            for p, tp in zip(self.critics.parameters(), self.target.parameters(), strict=True):
                tp.lerp_(p, cfg.tau)
        self.updates += 1
        return {
            "losses/critic_loss": critic_loss.detach(),
            "losses/actor_loss": actor_loss.detach(),
            "losses/ent_coef": alpha,
        }

    def weights(self) -> dict[str, torch.Tensor]:
        """Everything a saved agent needs (no optimizer state), for safetensors."""
        return {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}


def _ent_coef(value: str | float) -> tuple[float, bool]:
    """(initial temperature, learned?) from SB3's ent_coef: "auto", "auto_0.1" or a number."""
    if isinstance(value, str):
        if not value.startswith("auto"):
            raise ValueError(f"ent_coef must be a number, 'auto' or 'auto_X', got {value!r}")
        return (float(value.split("_", 1)[1]) if "_" in value else 1.0), True
    if value <= 0:
        raise ValueError(f"ent_coef must be > 0, got {value}")
    return float(value), False
