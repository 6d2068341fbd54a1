"""Level samplers: the PLR/ACCEL curriculum, and the two baselines it is compared with.

A sampler answers two calls, independent of any agent library:
  `next()` -> `Assignment`: the world for the next episode of one env slot;
  `record(assignment, stats)`: that episode finished; update scores (returns the score).

`Curriculum` serves its seed levels first (prompts, images, random), then for each episode either
replays a buffer level (probability `replay_prob`, PLR distribution) or makes a new one: a mutation
of a parent drawn by score rank (probability `mutation_prob`, ACCEL) or a uniform random level.
A new level enters the buffer after its first episode if its score beats the lowest (seeds always
enter). `UniformSampler` is domain randomisation over the ranges; `FixedSampler` is one world.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from genenv.curricula.buffer import (
    LevelBuffer,
    PLRConfig,
    Provenance,
    atomic_write_json,
    rank_weights,
)
from genenv.curricula.generator import GeneratorConfig, LevelGenerator
from genenv.curricula.scoring import EpisodeStats, ScoringConfig, score_episode
from genenv.worlds.spec import WorldSpec


@dataclass(frozen=True)
class Assignment:
    """The world one env slot plays for one episode."""

    spec: WorldSpec
    provenance: Provenance
    level_id: int | None = None  # buffer id when replayed; None for a level not yet in the buffer
    kind: str = "new"  # "replay" | "new" | "seed" | "fixed"


class LevelSampler(Protocol):
    def next(self) -> Assignment: ...

    def record(self, assignment: Assignment, stats: EpisodeStats) -> float: ...


class Curriculum:
    """PLR replay + ACCEL mutation over a `LevelBuffer`."""

    def __init__(
        self,
        plr: PLRConfig,
        generator: GeneratorConfig,
        scoring: ScoringConfig,
        seed: int = 0,
        seeds: list[tuple[WorldSpec, Provenance]] | None = None,
    ):
        self.buffer = LevelBuffer(plr, seed=seed)
        self.generator = LevelGenerator(generator, self.buffer.rng)  # one rng, one checkpoint
        self.scoring = scoring
        self.pending_seeds: list[tuple[WorldSpec, Provenance]] = list(seeds or [])
        self.counts = {"replay": 0, "new": 0, "seed": 0, "accepted": 0, "rejected": 0}

    # -- choosing -------------------------------------------------------------------------------
    def next(self) -> Assignment:
        if self.pending_seeds:
            spec, provenance = self.pending_seeds.pop(0)
            self.buffer.mark_sampled(-1)
            self.counts["seed"] += 1
            return Assignment(spec, provenance, None, "seed")
        if self.buffer.should_replay():
            level = self.buffer.sample()
            self.counts["replay"] += 1
            return Assignment(level.spec, level.provenance, level.id, "replay")
        use_mutation = len(self.buffer) > 0 and (
            self.buffer.rng.random() < self.generator.config.mutation_prob
        )
        if use_mutation:
            ids = list(self.buffer.levels)
            p = rank_weights(
                np.array([self.buffer[i].score for i in ids]), self.buffer.config.temperature
            )
            parent = self.buffer[ids[int(self.buffer.rng.choice(len(ids), p=p))]]
            spec, provenance = self.generator.mutate(parent)
        else:
            spec, provenance = self.generator.random_level()
        self.buffer.mark_sampled(-1)
        self.counts["new"] += 1
        return Assignment(spec, provenance, None, "new")

    # -- learning from episodes ------------------------------------------------------------------
    def record(self, assignment: Assignment, stats: EpisodeStats) -> float:
        level = (
            self.buffer.levels.get(assignment.level_id) if assignment.level_id is not None else None
        )
        best = level.best_return if level is not None else None
        previous = None
        if self.scoring.kind == "learning_progress":  # the only kind that needs it
            previous = self._previous_return(assignment)
        score = score_episode(stats, self.scoring, best, previous)
        if assignment.level_id is not None:
            self.buffer.update(assignment.level_id, score, stats.episode_return)
            return score
        if assignment.kind == "seed" and not self.buffer.would_accept(score):
            # Seeds always enter: evict the lowest by adding with a score just above it.
            entered = self._force_add(assignment, score)
        else:
            entered = self.buffer.add(assignment.spec, assignment.provenance, score)
        if entered is None:
            self.counts["rejected"] += 1
        else:
            self.counts["accepted"] += 1
            self.buffer.update(entered.id, score, stats.episode_return)
        return score

    def _force_add(self, assignment: Assignment, score: float):
        worst = min(self.buffer.levels.values(), key=lambda lv: (lv.score, -lv.id))
        del self.buffer.levels[worst.id]
        self.buffer.evicted += 1
        return self.buffer.add(assignment.spec, assignment.provenance, score)

    def _previous_return(self, assignment: Assignment) -> float | None:
        """Learning progress baseline: this level's last return, else its parent's, else the
        return of the nearest level in (range-normalised) context space."""
        levels = self.buffer.levels
        if assignment.level_id in levels and levels[assignment.level_id].last_return is not None:
            return levels[assignment.level_id].last_return
        parent = assignment.provenance.parent
        if parent in levels and levels[parent].last_return is not None:
            return levels[parent].last_return
        known = [lv for lv in levels.values() if lv.last_return is not None]
        if not known:
            return None
        ranges = self.generator.config.ranges
        names = list(ranges)
        width = np.array([max(hi - lo, 1e-9) for lo, hi in ranges.values()])  # (f,)
        points = np.array([[getattr(lv.spec.context, n) for n in names] for lv in known])  # (k, f)
        here = np.array([getattr(assignment.spec.context, n) for n in names])  # (f,)
        dists = (np.abs(points - here) / width).sum(1)  # (k,) range-normalised L1
        return known[int(np.argmin(dists))].last_return

    # -- checkpoints ----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "buffer": self.buffer.state_dict(),
            "pending_seeds": [
                {"spec": s.to_dict(), "provenance": p.to_dict()} for s, p in self.pending_seeds
            ],
            "counts": dict(self.counts),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.buffer = LevelBuffer.from_state_dict(state["buffer"])
        self.generator.rng = self.buffer.rng
        self.pending_seeds = [
            (WorldSpec.from_dict(d["spec"]), Provenance.from_dict(d["provenance"]))
            for d in state["pending_seeds"]
        ]
        self.counts = dict(state["counts"])

    def save(self, path: str | Path) -> None:
        atomic_write_json(Path(path), self.state_dict())

    def load(self, path: str | Path) -> None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no curriculum checkpoint at {path}")
        self.load_state_dict(json.loads(path.read_text()))


class UniformSampler:
    """Domain randomisation: every episode a fresh context uniform over the ranges."""

    def __init__(self, generator: GeneratorConfig, seed: int = 0):
        self.generator = LevelGenerator(generator, np.random.default_rng(seed))

    def next(self) -> Assignment:
        spec, provenance = self.generator.random_level()
        return Assignment(spec, provenance, None, "new")

    def record(self, assignment: Assignment, stats: EpisodeStats) -> float:
        return 0.0


class FixedSampler:
    """One world for every episode (default: the stock task)."""

    def __init__(self, spec: WorldSpec):
        self.spec = spec

    def next(self) -> Assignment:
        return Assignment(self.spec, Provenance("default"), None, "fixed")

    def record(self, assignment: Assignment, stats: EpisodeStats) -> float:
        return 0.0
