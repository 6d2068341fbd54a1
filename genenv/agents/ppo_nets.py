"""The networks of on-device PPO: a Gaussian actor-critic with a state-independent log std, and
an on-device running mean/std (for observation and return normalisation)."""

from __future__ import annotations

import math

import torch
from torch import nn

from genenv.agents.ppo_config import PPOConfig

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "elu": nn.ELU, "silu": nn.SiLU}
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


class RunningMeanStd(nn.Module):
    """Parallel (Chan et al.) running mean/variance over a batch axis, kept as buffers."""

    def __init__(self, shape: tuple[int, ...] = ()):
        super().__init__()
        self.register_buffer("mean", torch.zeros(shape))
        self.register_buffer("var", torch.ones(shape))
        self.register_buffer("count", torch.tensor(1e-4))

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:  # x: (b, *shape)
        b_mean, b_var, b = x.mean(0), x.var(0, unbiased=False), x.shape[0]
        delta, total = b_mean - self.mean, self.count + b
        self.mean += delta * b / total
        m2 = self.var * self.count + b_var * b + delta.square() * self.count * b / total
        self.var.copy_(m2 / total)
        self.count.copy_(total)


def _mlp(sizes: list[int], act: type[nn.Module]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(a, b), act()]
    return nn.Sequential(*layers)


class ActorCritic(nn.Module):
    """Separate policy and value MLPs; Gaussian policy with a state-independent log std."""

    def __init__(self, obs_dim: int, act_dim: int, cfg: PPOConfig):
        super().__init__()
        act = ACTIVATIONS[cfg.activation_fn]
        self.pi_body = _mlp([obs_dim, *cfg.net_arch_pi], act)
        self.vf_body = _mlp([obs_dim, *cfg.net_arch_vf], act)
        self.pi_head = nn.Linear(([obs_dim] + cfg.net_arch_pi)[-1], act_dim)
        self.vf_head = nn.Linear(([obs_dim] + cfg.net_arch_vf)[-1], 1)
        self.log_std = nn.Parameter(torch.full((act_dim,), float(cfg.log_std_init)))
        if cfg.ortho_init:
            for body in (self.pi_body, self.vf_body):
                for m in body:
                    if isinstance(m, nn.Linear):
                        nn.init.orthogonal_(m.weight, math.sqrt(2))
                        nn.init.zeros_(m.bias)
            for head, gain in ((self.pi_head, 0.01), (self.vf_head, 1.0)):
                nn.init.orthogonal_(head.weight, gain)
                nn.init.zeros_(head.bias)

    def value(self, obs: torch.Tensor) -> torch.Tensor:  # (n, obs_dim) -> (n,)
        return self.vf_head(self.vf_body(obs)).squeeze(-1)

    def mean(self, obs: torch.Tensor) -> torch.Tensor:  # (n, obs_dim) -> (n, act_dim)
        return self.pi_head(self.pi_body(obs))

    def log_prob(self, mean: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """Summed diagonal-Gaussian log density of raw samples u (n, act_dim) -> (n,).

        Written out rather than via torch.distributions, whose argument validation costs a
        host sync per call on an accelerator."""
        z = (u - mean) * torch.exp(-self.log_std)
        return (-0.5 * z.square() - self.log_std - _HALF_LOG_2PI).sum(-1)

    def entropy(self) -> torch.Tensor:  # () summed over action dims (state-independent std)
        return (0.5 + _HALF_LOG_2PI + self.log_std).sum()
