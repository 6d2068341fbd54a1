"""The level buffer of Prioritized Level Replay (Jiang et al. 2021), with provenance per level.

Replay distribution over the levels in the buffer:

    P = (1 - rho) * P_score + rho * P_staleness
    P_score(i)     = rank_i^(-1/beta) / sum_j rank_j^(-1/beta)     (rank 1 = highest score)
    P_staleness(i) = (c - C_i) / sum_j (c - C_j)                   (c: episodes started so far,
                                                                     C_i: c when i was last sampled)

beta is the temperature (0.1-0.3 is typical), rho the staleness coefficient (0.3 typical). When
every level was sampled at the current count (all staleness 0) P_staleness is uniform, never 0/0.
Ties in score are ranked by insertion order (older level first), so the distribution is
deterministic. The buffer checkpoints to JSON with an atomic write and resumes exactly.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from genenv.data.files import atomic_write_json, read_json
from genenv.worlds.spec import WorldSpec

SOURCES = ("prompt", "image", "random", "mutation", "default")
BUFFER_FORMAT_VERSION = 1


@dataclass(frozen=True)
class Provenance:
    """Where a level came from."""

    source: str  # one of SOURCES
    prompt: str | None = None  # the text prompt or image path it was spawned from
    parent: int | None = None  # id of the level it was mutated from
    mutation: dict[str, tuple[float, float]] | None = None  # field -> (old, new) of the edits

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"unknown provenance source {self.source!r}; valid: {SOURCES}")
        if self.source == "mutation" and self.parent is None:
            raise ValueError("a mutated level must name its parent level id")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if self.mutation is not None:
            out["mutation"] = {k: [float(a), float(b)] for k, (a, b) in self.mutation.items()}
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Provenance:
        mutation = data.get("mutation")
        if mutation is not None:
            mutation = {k: (float(v[0]), float(v[1])) for k, v in mutation.items()}
        return cls(data["source"], data.get("prompt"), data.get("parent"), mutation)


@dataclass
class Level:
    """One level (world) in the buffer and its replay statistics."""

    id: int  # unique, never reused within a buffer
    spec: WorldSpec
    provenance: Provenance
    score: float = 0.0  # latest score (higher = more worth replaying)
    last_sampled: int = 0  # the buffer's episode count when this level was last sampled (C_i)
    visits: int = 0  # episodes whose score updated this level
    last_return: float | None = None  # return of its latest episode (for learning progress)
    best_return: float | None = None  # best return seen on it (for MaxMC)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "spec": self.spec.to_dict(),
            "provenance": self.provenance.to_dict(),
            "score": self.score,
            "last_sampled": self.last_sampled,
            "visits": self.visits,
            "last_return": self.last_return,
            "best_return": self.best_return,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Level:
        return cls(
            id=int(data["id"]),
            spec=WorldSpec.from_dict(data["spec"]),
            provenance=Provenance.from_dict(data["provenance"]),
            score=float(data["score"]),
            last_sampled=int(data["last_sampled"]),
            visits=int(data["visits"]),
            last_return=data.get("last_return"),
            best_return=data.get("best_return"),
        )


@dataclass
class PLRConfig:
    """Prioritized Level Replay parameters."""

    temperature: float = 0.3  # beta in rank^(-1/beta); lower = greedier on top-ranked levels
    staleness_coef: float = 0.3  # rho: weight of the staleness distribution in the mixture
    replay_prob: float = 0.8  # probability a new episode replays a buffer level (vs a new level)
    capacity: int = 256  # most levels kept; the lowest score is evicted beyond it
    min_replay_levels: int = 1  # replay only once the buffer holds at least this many levels

    def __post_init__(self) -> None:
        checks = [
            (self.temperature > 0 and math.isfinite(self.temperature), "temperature must be > 0"),
            (0.0 <= self.staleness_coef <= 1.0, "staleness_coef must be in [0, 1]"),
            (0.0 <= self.replay_prob <= 1.0, "replay_prob must be in [0, 1]"),
            (self.capacity >= 1, "capacity must be >= 1"),
            (self.min_replay_levels >= 1, "min_replay_levels must be >= 1"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"plr: {message}")


def rank_weights(scores: np.ndarray, temperature: float) -> np.ndarray:
    """(n,) P_score: rank^(-1/temperature), normalised. Rank 1 is the highest score."""
    scores = np.asarray(scores, dtype=np.float64)  # (n,)
    if scores.ndim != 1:
        raise ValueError(f"scores must be 1-D, got shape {scores.shape}")
    # Rank of each level = position in the descending order. `argsort` gives the *order*; ranks
    # need the inverse permutation (argsort of argsort) -- a classic bug is to use the order.
    order = np.argsort(-scores, kind="stable")  # (n,) level indices, best first
    ranks = np.empty(len(scores), dtype=np.float64)
    ranks[order] = np.arange(1, len(scores) + 1)
    weights = ranks ** (-1.0 / temperature)  # a power, not a division by the temperature
    return weights / weights.sum()


def staleness_weights(last_sampled: np.ndarray, count: int) -> np.ndarray:
    """(n,) P_staleness: (count - C_i), normalised; uniform when every staleness is 0."""
    stale = count - np.asarray(last_sampled, dtype=np.float64)  # (n,)
    if (stale < 0).any():
        raise ValueError("a level was sampled after the current episode count")
    total = stale.sum()
    if total <= 0:  # everything just sampled: no preference instead of 0/0
        return np.full(len(stale), 1.0 / len(stale))
    return stale / total


class LevelBuffer:
    """A bounded set of levels with PLR replay and lowest-score eviction."""

    def __init__(self, config: PLRConfig | None = None, seed: int = 0):
        self.config = config or PLRConfig()
        self.levels: dict[int, Level] = {}  # id -> level, in insertion order
        self.episode_count = 0  # c: episodes started from this buffer's decisions
        self.next_id = 0
        self.evicted = 0  # levels dropped by capacity
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.levels)

    def __contains__(self, level_id: int) -> bool:
        return level_id in self.levels

    def __getitem__(self, level_id: int) -> Level:
        return self.levels[level_id]

    # -- adding and evicting ---------------------------------------------------------------------
    def lowest_score(self) -> float:
        return min(level.score for level in self.levels.values()) if self.levels else -math.inf

    def would_accept(self, score: float) -> bool:
        """True if a level with this score would enter (room left, or it beats the lowest)."""
        return len(self.levels) < self.config.capacity or score > self.lowest_score()

    def add(self, spec: WorldSpec, provenance: Provenance, score: float = 0.0) -> Level | None:
        """Insert a level; when full, evict the lowest score if the newcomer beats it.

        Returns the new level, or None when the buffer is full and it does not beat the lowest.
        """
        score = _check_score(score)
        if not self.would_accept(score):
            return None
        if len(self.levels) >= self.config.capacity:
            worst = min(self.levels.values(), key=lambda lv: (lv.score, -lv.id))  # newest on ties
            del self.levels[worst.id]
            self.evicted += 1
        level = Level(self.next_id, spec, provenance, score, last_sampled=self.episode_count)
        self.levels[level.id] = level
        self.next_id += 1
        return level

    # -- sampling --------------------------------------------------------------------------------
    def replay_distribution(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids (n,), probabilities (n,)) of the PLR replay distribution over the buffer."""
        if not self.levels:
            raise ValueError("the level buffer is empty: add levels before replaying")
        levels = list(self.levels.values())
        ids = np.array([lv.id for lv in levels], dtype=np.int64)
        p_score = rank_weights(np.array([lv.score for lv in levels]), self.config.temperature)
        p_stale = staleness_weights(
            np.array([lv.last_sampled for lv in levels]), self.episode_count
        )
        rho = self.config.staleness_coef
        probs = (1.0 - rho) * p_score + rho * p_stale
        return ids, probs / probs.sum()

    def should_replay(self) -> bool:
        """The replay-or-new decision for the next episode."""
        if len(self.levels) < self.config.min_replay_levels:
            return False
        return bool(self.rng.random() < self.config.replay_prob)

    def sample(self) -> Level:
        """Draw a level from the replay distribution and mark it sampled (counts one episode)."""
        ids, probs = self.replay_distribution()
        level = self.levels[int(self.rng.choice(ids, p=probs))]
        self.mark_sampled(level.id)
        return level

    def mark_sampled(self, level_id: int) -> None:
        """Count one episode started on `level_id` (or on a new candidate if it is not stored)."""
        self.episode_count += 1
        if level_id in self.levels:
            self.levels[level_id].last_sampled = self.episode_count

    def update(self, level_id: int, score: float, episode_return: float | None = None) -> bool:
        """Record a finished episode's score on a level. False if the level was evicted since."""
        score = _check_score(score)
        level = self.levels.get(level_id)
        if level is None:
            return False
        level.score = score
        level.visits += 1
        if episode_return is not None and math.isfinite(episode_return):
            level.last_return = float(episode_return)
            best = level.best_return
            level.best_return = float(episode_return) if best is None else max(best, episode_return)
        return True

    def top(self, k: int = 5) -> list[Level]:
        return sorted(self.levels.values(), key=lambda lv: (-lv.score, lv.id))[:k]

    # -- checkpoints -----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "format_version": BUFFER_FORMAT_VERSION,
            "config": asdict(self.config),
            "episode_count": self.episode_count,
            "next_id": self.next_id,
            "evicted": self.evicted,
            "levels": [lv.to_dict() for lv in self.levels.values()],
            "rng": self.rng.bit_generator.state,
        }

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> LevelBuffer:
        version = state.get("format_version")
        if version != BUFFER_FORMAT_VERSION:
            raise ValueError(
                f"level buffer format version {version!r} is not {BUFFER_FORMAT_VERSION}"
            )
        buffer = cls(PLRConfig(**state["config"]))
        buffer.episode_count = int(state["episode_count"])
        buffer.next_id = int(state["next_id"])
        buffer.evicted = int(state.get("evicted", 0))
        for data in state["levels"]:
            level = Level.from_dict(data)
            buffer.levels[level.id] = level
        buffer.rng.bit_generator.state = state["rng"]
        return buffer

    def save(self, path: str | Path) -> None:
        """Write the buffer as JSON atomically (a crash mid-write keeps the previous file)."""
        atomic_write_json(Path(path), self.state_dict())

    @classmethod
    def load(cls, path: str | Path) -> LevelBuffer:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no level buffer checkpoint at {path}")
        return cls.from_state_dict(read_json(path, f"level buffer checkpoint {path}"))


def _check_score(score: float) -> float:
    score = float(score)
    if not math.isfinite(score):
        raise ValueError(f"level scores must be finite, got {score}")
    return score
