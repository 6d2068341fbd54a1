"""Read a genenv dataset back: flat `Transitions` for model training, the WorldSpec per episode."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from genenv.data.storage import episode_checksum, read_metadata
from genenv.data.transitions import Transitions
from genenv.worlds import WorldSpec


def _open(path: str | os.PathLike):
    from minari import MinariDataset

    read_metadata(path)  # clear errors for a missing or foreign folder
    try:
        return MinariDataset(Path(path))
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"the dataset at {path} cannot be opened ({err})") from None


def _episode_metadata(path: str | os.PathLike, dataset) -> list[dict]:
    try:
        metas = list(dataset.storage.get_episode_metadata(range(dataset.total_episodes)))
    except (OSError, ValueError, KeyError) as err:
        raise ValueError(f"the dataset at {path} has unreadable episode metadata ({err})") from None
    if not all(isinstance(m, dict) and "world_spec" in m for m in metas):
        raise ValueError(f"the dataset at {path} has episodes without their world_spec")
    return metas


def episode_specs(path: str | os.PathLike) -> list[WorldSpec]:
    """The WorldSpec (task, physics context, seed) each episode of the dataset was collected in."""
    dataset = _open(path)
    return [WorldSpec.from_dict(m["world_spec"]) for m in _episode_metadata(path, dataset)]


def _verify(path, index: int, ep, meta: dict, legacy: bool) -> None:
    """Compare episode `index` with its stored checksum (see genenv.data.storage)."""
    want = meta.get("checksum")
    if want is None:
        if legacy:
            return
        raise ValueError(f"episode {index} of the dataset at {path} has no checksum")
    have = episode_checksum(
        ep.observations, ep.actions, ep.rewards, ep.terminations, ep.truncations
    )
    if have != want:
        raise ValueError(
            f"episode {index} of the dataset at {path} is corrupt: its data does not match "
            "its checksum (the file was damaged or edited)"
        )


def _episodes(path, dataset):
    """Minari's episode iterator with unreadable arrow files turned into clear errors."""
    import pyarrow as pa

    bad = (pa.ArrowException, OSError, ValueError, KeyError, IndexError)
    i = 0
    try:
        it = iter(dataset.iterate_episodes())
    except bad as err:
        raise ValueError(
            f"the dataset at {path} has an unreadable episode file ({type(err).__name__}: "
            f"{err}); the file is damaged"
        ) from None
    while True:
        try:
            ep = next(it)
        except StopIteration:
            return
        except bad as err:
            raise ValueError(
                f"episode {i} of the dataset at {path} is unreadable ({type(err).__name__}: "
                f"{err}); the file is damaged"
            ) from None
        yield ep
        i += 1


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
    metas = _episode_metadata(path, dataset)
    specs = [WorldSpec.from_dict(m["world_spec"]) for m in metas]
    legacy = int(meta["genenv"].get("format_version", 1)) < 2
    if legacy and any("checksum" not in m for m in metas):
        warnings.warn(
            f"the dataset at {path} predates episode checksums (format 1): its older episodes "
            "are read unverified",
            stacklevel=2,
        )
    parts: dict[str, list[np.ndarray]] = {
        k: [] for k in ("o", "a", "r", "no", "te", "tr", "c", "e")
    }
    for i, ep in enumerate(_episodes(path, dataset)):
        _verify(path, i, ep, metas[i], legacy)
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
