"""The world-model protocol: a small verb surface, batched over a leading dimension, torch in/out."""

from __future__ import annotations

from typing import NamedTuple, Protocol, runtime_checkable

import torch


class ModelStep(NamedTuple):
    """What one imagined step returns (all tensors on the model's device, batch first)."""

    obs: torch.Tensor  # (n, obs_dim) next observation
    reward: torch.Tensor  # (n,) float32
    terminated: torch.Tensor  # (n,) bool, the model's termination prediction
    uncertainty: torch.Tensor  # (n,) float32, ensemble disagreement in normalised units
    finite: torch.Tensor  # (n,) bool, False where the model produced NaN/inf (obs is then zeroed)


def draw_initial(
    start_obs: torch.Tensor,  # (n_starts, D) real episode starts
    real_obs: torch.Tensor,  # (n_states, D) any real state
    n: int,
    generator: torch.Generator | None,
    source: str,
) -> torch.Tensor:
    """(n, D) initial states drawn uniformly from one of a model's real-state banks: the shared body
    of `WorldModel.initial` ("starts" or "states")."""
    bank = {"starts": start_obs, "states": real_obs}.get(source)
    if bank is None:
        raise ValueError(f"unknown initial-state source {source!r}; use 'starts' or 'states'")
    idx = torch.randint(len(bank), (n,), generator=generator, device=bank.device)
    return bank[idx]


@runtime_checkable
class WorldModel(Protocol):
    """A learned, steppable world. The state of an imagined world is its observation.

    `context` is the (n, ctx_dim) tensor of physics context values in
    `genenv.worlds.spec.CONTEXT_FIELDS` order (see `Context.as_tuple`).
    """

    task: str
    obs_dim: int
    act_dim: int
    ctx_dim: int

    @property
    def device(self) -> torch.device: ...

    def initial(
        self, n: int, generator: torch.Generator | None = None, source: str = "starts"
    ) -> torch.Tensor:
        """(n, obs_dim) initial observations drawn from real data ("starts": real episode
        starts; "states": any real state, for branched rollouts as in MBPO)."""
        ...

    def step(
        self,
        obs: torch.Tensor,  # (n, obs_dim)
        action: torch.Tensor,  # (n, act_dim)
        context: torch.Tensor,  # (n, ctx_dim)
        generator: torch.Generator | None = None,
    ) -> ModelStep: ...
