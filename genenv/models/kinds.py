"""The explicit registry of world-model kinds: what a checkpoint's "kind" names and how to build it.

- "ensemble": `EnsembleWorldModel`, a probabilistic ensemble over proprioceptive states.
- "latent": `LatentWorldModel`, a JEPA-style latent model learned from frames.
Each kind names its model class, its architecture config (stored under `config_key` in the
checkpoint metadata), the buffers whose sizes depend on the training data, and how to build an
empty model from the metadata. Nothing is tried in turn: the kind decides.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any

from torch import nn

from genenv.models.ensemble import EnsembleConfig, EnsembleWorldModel
from genenv.models.latent import LatentConfig, LatentWorldModel


@dataclass(frozen=True)
class ModelKind:
    """How one kind of world model is stored and rebuilt."""

    name: str
    model_class: type[nn.Module]
    config_class: type
    config_key: str  # metadata key of the architecture config
    variable_buffers: tuple[str, ...]  # buffers sized by the training data
    build: Callable[[dict[str, Any], Any], nn.Module]  # (metadata, config) -> empty model
    describe: Callable[[nn.Module], dict[str, Any]]  # extra, informative metadata


def _build_ensemble(meta: dict[str, Any], config: EnsembleConfig) -> EnsembleWorldModel:
    return EnsembleWorldModel(
        meta["task"],
        meta["obs_dim"],
        meta["act_dim"],
        meta["ctx_dim"],
        config,
        meta["action_low"],
        meta["action_high"],
    )


def _describe_ensemble(model: EnsembleWorldModel) -> dict[str, Any]:
    norms = (("obs", model.obs_norm), ("context", model.ctx_norm), ("target", model.target_norm))
    return {
        "normalisers": {  # informative copy; the weights file is authoritative
            name: {"mean": norm.mean.tolist(), "std": norm.std.tolist()} for name, norm in norms
        },
        "elites": model.elites.tolist(),
    }


# what a latent checkpoint written before a LatentConfig field existed was built with
_LATENT_BEFORE = {"encoder": "stack", "decoder_output": "tanh", "previous_action": False}


def _build_latent(meta: dict[str, Any], config: LatentConfig) -> LatentWorldModel:
    old = {k: v for k, v in _LATENT_BEFORE.items() if k not in meta["latent"]}
    config = replace(config, **old)
    return LatentWorldModel(
        meta["task"],
        meta["act_dim"],
        meta["ctx_dim"],
        config,
        meta["action_low"],
        meta["action_high"],
    )


def _describe_latent(model: LatentWorldModel) -> dict[str, Any]:
    from genenv.worlds.cameras import pixel_camera

    return {
        "image_size": model.config.image_size,
        "camera": pixel_camera(model.task).describe(),
        "observation": (
            "latent z: frames' part (latent_dim), then the previous action if"
            " latent.previous_action; frames via render(z)"
        ),
    }


KINDS: dict[str, ModelKind] = {
    "ensemble": ModelKind(
        "ensemble",
        EnsembleWorldModel,
        EnsembleConfig,
        "ensemble",
        ("start_obs", "real_obs", "elites"),
        _build_ensemble,
        _describe_ensemble,
    ),
    "latent": ModelKind(
        "latent",
        LatentWorldModel,
        LatentConfig,
        "latent",
        ("start_obs", "real_obs", "probe_weight", "probe_bias"),
        _build_latent,
        _describe_latent,
    ),
}


def kind_of(model: nn.Module) -> ModelKind:
    """The registered kind of a model instance."""
    for kind in KINDS.values():
        if type(model) is kind.model_class:
            return kind
    raise ValueError(f"{type(model).__name__} is not a registered world-model kind")


def get_kind(name: Any) -> ModelKind:
    if name not in KINDS:
        raise ValueError(f"unknown world-model kind {name!r}; known kinds: {sorted(KINDS)}")
    return KINDS[name]


def config_from_meta(kind: ModelKind, meta: dict[str, Any]) -> Any:
    """The kind's architecture config from checkpoint metadata (unknown keys ignored)."""
    known = {f.name for f in fields(kind.config_class)}
    return kind.config_class(**{k: v for k, v in meta[kind.config_key].items() if k in known})
