"""Collection is reproducible from its seed, also when contexts rebuild the env (geometry)."""

from __future__ import annotations

import minari
import numpy as np

from genenv.data import collect, context_sampler, episode_specs


def _episodes(path):
    return [
        {k: np.asarray(getattr(ep, k)) for k in ("observations", "actions", "rewards")}
        for ep in minari.MinariDataset(path).iterate_episodes()
    ]


def test_two_collections_with_contexts_are_identical(tmp_path):
    # length_scale changes the geometry, so the collector rebuilds its env between episodes.
    sampler = context_sampler("InvertedPendulum", {"length_scale": (0.6, 1.5), "gravity": (5, 15)})
    a = collect(sampler, 300, tmp_path / "a", seed=7, progress=False)
    b = collect(sampler, 300, tmp_path / "b", seed=7, progress=False)
    specs = episode_specs(a)
    assert len({s.context.length_scale for s in specs}) > 3  # several rebuilds happened
    assert specs == episode_specs(b)
    ea, eb = _episodes(a), _episodes(b)
    assert len(ea) == len(eb)
    for x, y in zip(ea, eb, strict=True):
        for key in x:
            np.testing.assert_array_equal(x[key], y[key])
    c = collect(sampler, 300, tmp_path / "c", seed=8, progress=False)
    assert episode_specs(c) != specs  # the seed matters
