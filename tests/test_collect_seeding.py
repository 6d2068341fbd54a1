"""Collection is reproducible from its seed, also when contexts rebuild the env (geometry)."""

from __future__ import annotations

import minari
import numpy as np

from genenv.data import collect, collection_info, context_sampler, episode_specs


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


def test_random_holds_alternate_random_stretches_with_zero_actions_reproducibly(tmp_path):
    full = collect("Reacher", 120, tmp_path / "full", policy="random-holds", seed=3, progress=False)
    part = tmp_path / "part"
    collect("Reacher", 120, part, policy="random-holds", seed=3, progress=False, chunk_steps=50)
    zeros, inner = [], []
    for ep in _episodes(full):  # Reacher: 50-step episodes, each with its own stretches
        zero = np.all(ep["actions"] == 0.0, axis=1)  # (T,) uniform actions are never exactly 0
        runs = np.diff(np.flatnonzero(np.diff(np.r_[-1, zero.astype(int), -1]) != 0))
        zeros.append(zero)
        inner += list(runs[:-1])  # every stretch but the one the episode's end cuts
    assert 0.3 < np.concatenate(zeros).mean() < 0.7 and min(inner) >= 5 and max(inner) <= 20
    assert collection_info(full)["collections"][0]["policy"] == "random-holds"
    for x, y in zip(_episodes(full), _episodes(part), strict=True):
        np.testing.assert_array_equal(x["actions"], y["actions"])
