"""The world generator: seed levels from prompts, random levels, and ACCEL-style mutations.

A mutation makes `edits` small edits to a level's physics context: each edit picks one field with
a mutation step, adds a uniform change in [-step, +step] and clips to the field's range (the
task's `train_ranges`, or the spec's overrides). The child records its parent and the edits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from genenv.curricula.buffer import Level, Provenance
from genenv.worlds.spec import CONTEXT_FIELDS, WorldSpec
from genenv.worlds.tasks import get_task


@dataclass
class GeneratorConfig:
    """How new levels are made for one task."""

    task: str  # genenv task name
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)  # field -> (low, high);
    # empty means the task's train_ranges; fields not listed stay at the default
    mutation_steps: dict[str, float] = field(default_factory=dict)  # field -> max |change|/edit;
    # empty means 10% of each range's width
    edits: int = 3  # edits per mutation (ACCEL uses 3-20 small edits)
    mutation_prob: float = 0.5  # share of new levels that are mutations (the rest are random)

    def __post_init__(self) -> None:
        info = get_task(self.task)
        self.task = info.name
        ranges = dict(self.ranges) if self.ranges else dict(info.train_ranges)
        for name, bounds in ranges.items():
            if name not in CONTEXT_FIELDS:
                raise ValueError(
                    f"ranges: unknown context field {name!r}; valid: {', '.join(CONTEXT_FIELDS)}"
                )
            if name == "length_scale" and name not in info.geometric_fields:
                raise ValueError(f"ranges: task {info.name} has no geometric field {name!r}")
            low, high = (float(b) for b in bounds)
            _, vlow, vhigh, meaning = CONTEXT_FIELDS[name]
            if not (math.isfinite(low) and math.isfinite(high) and low <= high):
                raise ValueError(f"ranges: {name} needs finite low <= high, got {bounds!r}")
            if low < vlow or high > vhigh:
                raise ValueError(
                    f"ranges: {name}=[{low}, {high}] leaves its valid range [{vlow}, {vhigh}] "
                    f"({meaning})"
                )
            ranges[name] = (low, high)
        self.ranges = ranges
        steps = dict(self.mutation_steps) or {n: 0.1 * (hi - lo) for n, (lo, hi) in ranges.items()}
        for name, step in steps.items():
            if name not in ranges:
                raise ValueError(
                    f"mutation steps: field {name!r} has no range; ranged fields: "
                    f"{', '.join(ranges)}"
                )
            if not (math.isfinite(float(step)) and float(step) > 0):
                raise ValueError(f"mutation steps: {name} must be a positive number, got {step!r}")
            steps[name] = float(step)
        self.mutation_steps = steps
        if self.edits < 1:
            raise ValueError(f"mutation edits must be >= 1, got {self.edits}")
        if not 0.0 <= self.mutation_prob <= 1.0:
            raise ValueError(f"mutation prob must be in [0, 1], got {self.mutation_prob}")


class LevelGenerator:
    """Makes new levels: seeds from prompts, uniform random contexts, mutations of a parent."""

    def __init__(self, config: GeneratorConfig, rng: np.random.Generator):
        self.config = config
        self.rng = rng

    def _seed(self) -> int:
        return int(self.rng.integers(0, 2**31 - 1))

    def random_level(self) -> tuple[WorldSpec, Provenance]:
        """A context drawn uniformly from the ranges (domain randomisation)."""
        values = {
            name: float(self.rng.uniform(low, high))
            for name, (low, high) in self.config.ranges.items()
        }
        spec = WorldSpec(self.config.task, values, seed=self._seed())
        return spec, Provenance("random")

    def mutate(self, parent: Level) -> tuple[WorldSpec, Provenance]:
        """`edits` small clipped edits of the parent's context; records (old, new) per field."""
        values = parent.spec.context.to_dict()
        names = sorted(self.config.mutation_steps)
        changes: dict[str, tuple[float, float]] = {}
        for _ in range(self.config.edits):
            name = names[int(self.rng.integers(len(names)))]
            low, high = self.config.ranges[name]
            step = self.config.mutation_steps[name]
            old = values[name]
            new = float(np.clip(old + self.rng.uniform(-step, step), low, high))
            values[name] = new
            first_old = changes[name][0] if name in changes else old
            changes[name] = (first_old, new)
        spec = WorldSpec(
            self.config.task, values, seed=self._seed(), initial_state=parent.spec.initial_state
        )
        return spec, Provenance(
            "mutation", prompt=parent.provenance.prompt, parent=parent.id, mutation=changes
        )

    def clip(self, spec: WorldSpec) -> WorldSpec:
        """The spec with its ranged fields clipped into the ranges (prompts may leave them)."""
        values = spec.context.to_dict()
        for name, (low, high) in self.config.ranges.items():
            values[name] = float(np.clip(values[name], low, high))
        return spec.with_context(**values)

    def from_text(self, text: str) -> tuple[WorldSpec, Provenance]:
        """A seed level from a text prompt (through `genenv.prompts.spec_from_text`)."""
        from genenv import prompts

        spec_from_text = getattr(prompts, "spec_from_text", None)
        if spec_from_text is None:
            raise ValueError("text prompts need genenv.prompts.spec_from_text, not available")
        spec = spec_from_text(self.config.task, text)
        return self.clip(spec), Provenance("prompt", prompt=text)

    def from_image(self, path: str) -> tuple[WorldSpec, Provenance]:
        """A seed level from an image prompt (through `genenv.prompts.spec_from_image`)."""
        from genenv import prompts

        spec_from_image = getattr(prompts, "spec_from_image", None)
        if spec_from_image is None:
            raise ValueError("image prompts need genenv.prompts.spec_from_image, not available")
        spec = spec_from_image(self.config.task, path)
        return self.clip(spec), Provenance("image", prompt=str(path))
