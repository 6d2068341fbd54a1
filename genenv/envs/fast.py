"""The fast model step: evaluate only the ensemble members a step uses.

`EnsembleWorldModel.step` runs every member through the network but uses only the elites (for the
disagreement, the sampled member and the termination vote). `EliteStep` runs the elites alone,
with the same random draws in the same order, so the same rollouts as `model.step` (bit for bit at
64+ envs; at a few envs MKL may round a last bit differently for K members than for E), with (E-K)/E
less network work (20% for 5 members / 4 elites, 29% for MBPO's 7 / 5). Two things keep its fixed
cost per step low on a CPU:

- the elites' weights are gathered once and kept until the model's parameters or elites change
  (checked through torch's in-place version counters: an optimiser step, `load_state_dict`, a new
  `elites` tensor or `.to()` all count; a write through `param.data` does not, so call
  `refresh()` after one);
- the activations are written into buffers kept between steps (`out=`, in-place SiLU) instead of
  a fresh (K, n, hidden) tensor per layer: at 1024 envs a fresh 3 MB block per layer cost as much
  CPU time as the matmuls' bias copies and SiLUs together. Nothing the step returns points into
  those buffers.

`members="sampled"` is a different, opt-in step (`DreamConfig(members="sampled")`): each slot runs
only the elite it drew this step (trajectory sampling, TS1), slots grouped by member, so a quarter
of the network work for 4 elites. The chosen member, the Gaussian draw and hence the next
observation and reward are those of the full step for the same generator state (up to matmul
rounding); what changes: there is no disagreement (uncertainty is NaN) and termination is the
chosen member's own prediction instead of the elites' mean vote.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from genenv.models.base import ModelStep
from genenv.models.ensemble import EnsembleWorldModel

MEMBERS = ("elites", "sampled")  # which members a step runs (see the module docstring)

Layers = list[tuple[torch.Tensor, torch.Tensor]]  # per layer: weight (K, in, out), bias (K, 1, out)


def _mlp(h: torch.Tensor, layers: Layers) -> torch.Tensor:
    """The members' network on (K, m, in) inputs, as `EnsembleWorldModel.forward` computes it;
    returns the raw head output (K, m, 2*out+1). A pure function, for torch.compile."""
    for weight, bias in layers[:-1]:
        h = F.silu(torch.baddbmm(bias, h, weight))
    weight, bias = layers[-1]
    return torch.baddbmm(bias, h, weight)


def _version(t: torch.Tensor) -> object:
    """`t`'s in-place version counter (a fresh object, never equal, where it has none)."""
    try:
        return t._version
    except RuntimeError:  # an inference-mode tensor keeps no version counter
        return object()


class EliteStep:
    """A drop-in for `model.step` that computes only the elite members (or, with
    `members="sampled"`, only each slot's sampled elite)."""

    def __init__(self, model: EnsembleWorldModel, members: str = "elites"):
        if members not in MEMBERS:
            raise ValueError(f"members must be one of {MEMBERS}, got {members!r}")
        self.model, self.members = model, members
        self._sources: list[torch.Tensor] = []  # what the gathered layers were taken from
        self._key: tuple = ()
        self._layers: Layers = []
        self._scratch: dict[int, torch.Tensor] = {}  # reused activation buffers, by role
        self._compiled = None

    def refresh(self) -> None:
        """Gather the elites' weights again on the next step (after writes through `.data`)."""
        self._key = ()

    def compile(self) -> None:
        """torch.compile the network (its own buffers then; see `DreamConfig.compile`)."""
        self._compiled = torch.compile(_mlp, dynamic=self.members == "sampled")

    def _elite_layers(self) -> Layers:
        m = self.model
        sources = [
            m.elites,
            *(p for layer in (*m.hidden, m.head) for p in (layer.weight, layer.bias)),
        ]
        key = tuple((t.data_ptr(), _version(t)) for t in sources)
        same = len(sources) == len(self._sources) and all(
            a is b for a, b in zip(sources, self._sources, strict=True)
        )
        if not same or key != self._key:
            e = m.elites
            self._layers = [
                (layer.weight.detach().index_select(0, e), layer.bias.detach().index_select(0, e))
                for layer in (*m.hidden, m.head)
            ]
            self._sources, self._key = sources, key
        return self._layers

    def _buffer(self, role: int, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        """A reused buffer of `shape` (its contents are overwritten by the caller)."""
        numel = 1
        for s in shape:
            numel *= s
        buf = self._scratch.get(role)
        if buf is None or buf.numel() < numel or buf.device != like.device:
            buf = self._scratch[role] = torch.empty(numel, dtype=like.dtype, device=like.device)
        return buf[:numel].view(shape)

    def _run(
        self, h: torch.Tensor, layers: Layers, out: torch.Tensor | None = None
    ) -> torch.Tensor:
        """`_mlp(h, layers)` written into reused buffers (or into `out` for the head)."""
        if self._compiled is not None:
            result = self._compiled(h, layers)
            return result if out is None else out.copy_(result)
        k, m = h.shape[0], h.shape[1]
        for i, (weight, bias) in enumerate(layers[:-1]):
            buf = self._buffer(i % 2, (k, m, weight.shape[-1]), h)  # ping-pong between two
            h = F.silu(torch.baddbmm(bias, h, weight, out=buf), inplace=True)
        weight, bias = layers[-1]
        if out is None:
            out = self._buffer(2, (k, m, weight.shape[-1]), h)
        return torch.baddbmm(bias, h, weight, out=out)

    @torch.no_grad()
    def __call__(
        self,
        obs: torch.Tensor,  # (n, obs_dim)
        action: torch.Tensor,  # (n, act_dim)
        context: torch.Tensor,  # (n, ctx_dim)
        generator: torch.Generator | None = None,
    ) -> ModelStep:
        m = self.model
        layers = self._elite_layers()
        x = torch.cat([m.obs_norm(obs), action, m.ctx_norm(context)], dim=-1)  # (n, in)
        if self.members == "sampled":
            return self._sampled(obs, x, layers, generator)
        raw = self._run(x.unsqueeze(0).expand(len(layers[0][0]), -1, -1), layers)
        mean, logvar, term_logit = m.split_head(raw)  # views of a reused buffer, read only
        return m.elite_step(obs, mean, logvar, term_logit, generator)

    def _sampled(
        self, obs: torch.Tensor, x: torch.Tensor, layers: Layers, generator: torch.Generator | None
    ) -> ModelStep:
        """TS1 only: each slot runs the elite it drew (the full step's first draw), grouped by
        member; the Gaussian draw follows as in the full step."""
        m, n = self.model, obs.shape[0]
        pick = torch.randint(len(layers[0][0]), (n,), generator=generator, device=obs.device)
        order = torch.argsort(pick, stable=True)  # slots grouped by member
        counts = torch.bincount(pick, minlength=len(layers[0][0])).tolist()  # one host sync
        xs = x.index_select(0, order)
        raw_sorted = x.new_empty(1, n, layers[-1][0].shape[-1])
        start = 0
        for k, count in enumerate(counts):
            if count:
                member = [(w[k : k + 1], b[k : k + 1]) for w, b in layers]
                rows = slice(start, start + count)
                self._run(xs[None, rows], member, out=raw_sorted[:, rows])
                start += count
        raw = torch.empty_like(raw_sorted).index_copy_(1, order, raw_sorted)  # slot order
        mean, logvar, term_logit = m.split_head(raw)  # (1, n, out) x2, (1, n)
        unknown = torch.full((n,), float("nan"), device=obs.device)  # no disagreement here
        return m.member_step(obs, mean[0], logvar[0], term_logit[0] > 0.0, unknown, generator)


def fast_step(model: torch.nn.Module, members: str = "elites"):
    """The fastest step function for `model`: `EliteStep` for ensembles (exact, or TS1-only with
    `members="sampled"`), else `model.step`."""
    if isinstance(model, EnsembleWorldModel):
        return EliteStep(model, members)  # checks `members`
    if members != "elites":
        raise ValueError(
            f"members='sampled' steps an ensemble's members one by one; {type(model).__name__} "
            "is not an EnsembleWorldModel"
        )
    return model.step
