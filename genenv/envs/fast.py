"""The fast model step: evaluate only an ensemble's elite members.

`EnsembleWorldModel.step` runs every member through the network but uses only the elites (for the
disagreement, the sampled member and the termination vote). `EliteStep` keeps a K-member view of
the model whose layers hold the elites' weights (refreshed by one gather per layer each step, so a
model trained in place, or with new elites, is followed) and steps that view: the same random
draws in the same order, so the same rollouts as `model.step`, with (E-K)/E less network work
(20% for 5 members / 4 elites, 29% for MBPO's 7 / 5).
"""

from __future__ import annotations

from dataclasses import replace

import torch

from genenv.models.base import ModelStep
from genenv.models.ensemble import EnsembleWorldModel


class EliteStep:
    """A drop-in for `model.step` that computes only the elite members."""

    def __init__(self, model: EnsembleWorldModel):
        self.model = model
        self._build()

    def _build(self) -> None:
        m = self.model
        k = int(m.elites.numel())
        config = replace(m.config, ensemble_size=k, num_elites=k)
        view = EnsembleWorldModel(m.task, m.obs_dim, m.act_dim, m.ctx_dim, config).to(m.device)
        # Normalisers and log-variance bounds are shared with the model, not copied.
        view.obs_norm, view.ctx_norm, view.target_norm = m.obs_norm, m.ctx_norm, m.target_norm
        view.max_logvar, view.min_logvar = m.max_logvar, m.min_logvar
        self.view = view.eval()
        self._k = k
        self._pairs = [
            (src, dst)
            for src, dst in zip([*m.hidden, m.head], [*view.hidden, view.head], strict=True)
        ]

    @torch.no_grad()
    def __call__(
        self,
        obs: torch.Tensor,  # (n, obs_dim)
        action: torch.Tensor,  # (n, act_dim)
        context: torch.Tensor,  # (n, ctx_dim)
        generator: torch.Generator | None = None,
    ) -> ModelStep:
        m = self.model
        if m.elites.numel() != self._k:
            self._build()
        for src, dst in self._pairs:
            dst.weight.copy_(src.weight.index_select(0, m.elites))  # (K, in, out)
            dst.bias.copy_(src.bias.index_select(0, m.elites))
        self.view.config.sample = m.config.sample
        return self.view.step(obs, action, context, generator)


def fast_step(model: torch.nn.Module):
    """The fastest exact step function for `model` (elite-only for ensembles with spare members)."""
    if isinstance(model, EnsembleWorldModel) and model.elites.numel() < model.config.ensemble_size:
        return EliteStep(model)
    return model.step
