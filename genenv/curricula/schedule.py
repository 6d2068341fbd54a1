"""World schedules of the one loop (`genenv.loop`): which world each dream env slot plays.

Kinds (`SCHEDULES`):
  fixed    the spec's task in its stock world, every episode
  uniform  domain randomisation: a fresh context uniform over the ranges every episode
  plr      robust PLR (PLR-perp): replay buffer levels by score rank and staleness; new levels
           are uniform random and only scored (no gradient from their episodes); no mutation
  accel    ACCEL: robust PLR whose new levels are mostly mutations of high-scoring ones
plr and accel start from the spec's seed levels (prompts, images, the default world, random).

A schedule is built from a curriculum spec (`curricula/*.yaml`); the loop asks it for the SB3
callback that assigns worlds, for the worlds of each transfer test, for the held-out worlds of the
final evaluation, and saves/loads its state with the run (RUN_DIR/schedule.json).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from genenv.curricula.buffer import Provenance
from genenv.curricula.callback import CurriculumCallback
from genenv.curricula.curriculum import Curriculum, FixedSampler, UniformSampler
from genenv.curricula.spec import SCHEDULES, CurriculumSpec
from genenv.data.files import atomic_write_json
from genenv.worlds.spec import WorldSpec

__all__ = ["SCHEDULES", "WorldSchedule", "build_sampler", "evaluate_worlds", "seed_levels"]
STATE_FILE = "schedule.json"


def seed_levels(spec: CurriculumSpec, sampler: Curriculum) -> list[tuple[WorldSpec, Provenance]]:
    """The spec's seed levels: text prompts, images, the default world, uniform random levels."""
    gen, seeds = sampler.generator, []
    for text in spec.seeds.prompts:
        seeds.append(gen.from_text(text))
    for path in spec.seeds.images:
        seeds.append(gen.from_image(path))
    if spec.seeds.default:
        seeds.append((WorldSpec(spec.task, seed=spec.seed), Provenance("default")))
    seeds.extend(gen.random_level() for _ in range(spec.seeds.random))
    return seeds


def build_sampler(spec: CurriculumSpec, kind: str, fixed: WorldSpec | None = None):
    """The level sampler of a schedule kind (`fixed`: the world of the fixed kind, default the
    stock world of the spec's task)."""
    if kind not in SCHEDULES:
        raise ValueError(f"unknown world schedule {kind!r}; valid: {', '.join(SCHEDULES)}")
    if kind == "fixed":
        return FixedSampler(fixed or WorldSpec(spec.task, seed=spec.seed))
    if kind == "uniform":
        return UniformSampler(spec.generator_config(), seed=spec.seed)
    generator = spec.generator_config()
    if kind == "plr":
        generator = replace(generator, mutation_prob=0.0)
    sampler = Curriculum(spec.plr, generator, spec.scoring, seed=spec.seed)
    sampler.pending_seeds = seed_levels(spec, sampler)
    return sampler


class WorldSchedule:
    """A curriculum spec and a schedule kind, as the loop uses them."""

    def __init__(self, spec: CurriculumSpec, kind: str, fixed: WorldSpec | None = None):
        self.spec, self.kind = spec, kind
        self.sampler = build_sampler(spec, kind, fixed)
        self.callback: CurriculumCallback | None = None
        self.episodes_before = 0  # episodes scored before this process (resume)

    @property
    def robust(self) -> bool:
        return self.kind in ("plr", "accel")

    def ranges(self) -> dict[str, tuple[float, float]]:
        """The context ranges real data is collected over (the spec's, else the task's)."""
        return dict(self.spec.generator_config().ranges)

    def attach(self, agent, sb3_venv) -> CurriculumCallback:
        """Prime the agent's dream env with the first worlds; returns the callback for learn()."""
        self.callback = CurriculumCallback(
            self.sampler,
            gamma=getattr(agent, "gamma", 0.99),
            gae_lambda=getattr(agent, "gae_lambda", 0.95),
            robust=self.robust,
        )
        self.callback.prime(sb3_venv)
        return self.callback

    def transfer_worlds(self, default: WorldSpec) -> list[WorldSpec]:
        """Worlds of a transfer test: the default world, then the top-scoring buffer levels."""
        worlds = [default]
        if isinstance(self.sampler, Curriculum):
            worlds += [lv.spec for lv in self.sampler.buffer.top(self.spec.budget.transfer_worlds)]
        return worlds

    def eval_worlds(self) -> list[WorldSpec]:
        """Held-out real worlds of the final evaluation (empty: none)."""
        return self.spec.eval_specs()

    @property
    def episodes_scored(self) -> int:
        return self.episodes_before + (self.callback.episodes if self.callback else 0)

    # -- state ----------------------------------------------------------------------------------
    def save(self, out: Path) -> None:
        state: dict[str, Any] = {"kind": self.kind, "episodes_scored": self.episodes_scored}
        if isinstance(self.sampler, Curriculum):
            state["curriculum"] = self.sampler.state_dict()
        atomic_write_json(out / STATE_FILE, state)

    def load(self, out: Path) -> None:
        path = out / STATE_FILE
        if not path.is_file():
            return  # killed before the first save: start from the seeds again
        state = json.loads(path.read_text())
        if state.get("kind") != self.kind:
            raise ValueError(f"{path} holds a {state.get('kind')!r} schedule, not {self.kind!r}")
        self.episodes_before = int(state.get("episodes_scored", 0))
        if "curriculum" in state and isinstance(self.sampler, Curriculum):
            self.sampler.load_state_dict(state["curriculum"])

    def summary(self) -> dict[str, Any]:
        """summary.json's "schedule" entry."""
        out: dict[str, Any] = {
            "kind": self.kind,
            "episodes_scored": self.episodes_scored,
            "masked_share": None,
        }
        cb = self.callback
        if cb is not None and cb.rollout_steps:
            out["masked_share"] = cb.masked_steps / cb.rollout_steps
        if isinstance(self.sampler, Curriculum):
            out["counts"] = dict(self.sampler.counts)
            out["buffer_size"] = len(self.sampler.buffer)
            out["top_levels"] = [lv.to_dict() for lv in self.sampler.buffer.top(5)]
        return out


def evaluate_worlds(agent, worlds: list[WorldSpec], episodes: int, seed: int = 20_000):
    """Real returns (deterministic actions) per held-out world: mean, 10th percentile, per world;
    and the real steps spent."""
    from genenv.transfer import run_real_episodes

    per_world, total = [], 0
    for k, world in enumerate(worlds):
        returns, steps, _ = run_real_episodes(agent, world, episodes, seed=seed + 100 * k)
        per_world.append([float(r) for r in returns])
        total += steps
    pooled = np.concatenate([np.asarray(r, dtype=np.float64) for r in per_world])
    result = {
        "mean_return": float(pooled.mean()),
        "p10_return": float(np.percentile(pooled, 10)),
        "episodes_per_world": episodes,
        "worlds": [
            {"world": w.to_dict(), "returns": r, "mean": float(np.mean(r))}
            for w, r in zip(worlds, per_world, strict=True)
        ],
    }
    return result, total
