"""Read a genenv dataset back: flat `Transitions` for model training, the WorldSpec per episode."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from genenv.data.storage import read_metadata
from genenv.data.transitions import Transitions
from genenv.worlds import WorldSpec


def _open(path: str | os.PathLike):
    from minari import MinariDataset

    read_metadata(path)  # clear errors for a missing or foreign folder
    return MinariDataset(Path(path))


def episode_specs(path: str | os.PathLike) -> list[WorldSpec]:
    """The WorldSpec (task, physics context, seed) each episode of the dataset was collected in."""
    dataset = _open(path)
    metas = dataset.storage.get_episode_metadata(range(dataset.total_episodes))
    return [WorldSpec.from_dict(m["world_spec"]) for m in metas]


def load_transitions(path: str | os.PathLike) -> Transitions:
    """All transitions of the dataset at `path`, in episode order (float32 arrays).

    `contexts[i]` is the physics context of transition i's episode (`Context.as_tuple()` order)
    and `episode_ids[i]` its episode index in the dataset.
    """
    meta = read_metadata(path)
    dataset = _open(path)
    n_ep = dataset.total_episodes
    if n_ep == 0:
        raise ValueError(f"the dataset at {path} has no episodes yet")
    specs = episode_specs(path)
    parts: dict[str, list[np.ndarray]] = {
        k: [] for k in ("o", "a", "r", "no", "te", "tr", "c", "e")
    }
    for i, ep in enumerate(dataset.iterate_episodes()):
        obs = np.asarray(ep.observations, dtype=np.float32)  # (T+1, obs_dim)
        t = len(ep.rewards)
        parts["o"].append(obs[:-1])
        parts["no"].append(obs[1:])
        parts["a"].append(np.asarray(ep.actions, dtype=np.float32).reshape(t, -1))
        parts["r"].append(np.asarray(ep.rewards, dtype=np.float32))
        parts["te"].append(np.asarray(ep.terminations, dtype=bool))
        parts["tr"].append(np.asarray(ep.truncations, dtype=bool))
        ctx = np.asarray(specs[i].context.as_tuple(), dtype=np.float32)
        parts["c"].append(np.broadcast_to(ctx, (t, ctx.size)))
        parts["e"].append(np.full(t, i, dtype=np.int64))
    cat = {k: np.concatenate(v) for k, v in parts.items()}
    out = Transitions(
        meta["genenv"]["task"],
        cat["o"],
        cat["a"],
        cat["r"],
        cat["no"],
        cat["te"],
        cat["tr"],
        np.ascontiguousarray(cat["c"]),
        cat["e"],
    )
    if len(out) != int(meta["total_steps"]):
        raise ValueError(
            f"the dataset at {path} says it holds {meta['total_steps']} steps but {len(out)} "
            "were read; it may have been edited by hand"
        )
    return out
