"""`WorldSpec`: a frozen, serialisable description of one world (task + physics context + seed)."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from genenv.worlds.tasks import get_task

# Context field -> (default, validity low, validity high, unit/meaning). Defaults mean the stock env.
CONTEXT_FIELDS: dict[str, tuple[float, float, float, str]] = {
    "gravity": (9.81, 0.0, 50.0, "m/s^2, magnitude of downward gravity"),
    "mass_scale": (1.0, 0.1, 10.0, "multiplier on every body mass"),
    "friction_scale": (1.0, 0.05, 10.0, "multiplier on sliding friction of every geom"),
    "damping_scale": (1.0, 0.0, 10.0, "multiplier on joint damping"),
    "actuator_scale": (1.0, 0.1, 5.0, "multiplier on actuator gear (motor strength)"),
    "length_scale": (1.0, 0.5, 2.0, "multiplier on pole/limb length (geometric; some tasks)"),
}
GEOMETRIC_FIELDS = ("length_scale",)
SPEC_FORMAT_VERSION = 1


@dataclass(frozen=True)
class Context:
    """Named physics scalars. Every default means the stock gymnasium environment."""

    gravity: float = 9.81
    mass_scale: float = 1.0
    friction_scale: float = 1.0
    damping_scale: float = 1.0
    actuator_scale: float = 1.0
    length_scale: float = 1.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            _, low, high, meaning = CONTEXT_FIELDS[f.name]
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not number or not math.isfinite(value):
                raise ValueError(f"context field {f.name!r} must be a finite number, got {value!r}")
            if not low <= value <= high:
                raise ValueError(
                    f"context field {f.name}={value} is outside its valid range [{low}, {high}] "
                    f"({meaning})"
                )
            object.__setattr__(self, f.name, float(value))

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> Context:
        values = dict(values or {})
        unknown = sorted(set(values) - set(CONTEXT_FIELDS))
        if unknown:
            raise ValueError(
                f"unknown context field(s) {unknown}; valid fields: {', '.join(CONTEXT_FIELDS)}"
            )
        return cls(**values)

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    def as_tuple(self) -> tuple[float, ...]:
        """Values in `CONTEXT_FIELDS` order (the world model's context input)."""
        return tuple(getattr(self, name) for name in CONTEXT_FIELDS)

    def is_default(self) -> bool:
        return self == Context()


@dataclass(frozen=True)
class InitialState:
    """An explicit MuJoCo pose to start episodes from (e.g. read off an image prompt)."""

    qpos: tuple[float, ...]
    qvel: tuple[float, ...] | None = None

    def to_dict(self) -> dict[str, list[float] | None]:
        return {"qpos": list(self.qpos), "qvel": None if self.qvel is None else list(self.qvel)}


@dataclass(frozen=True)
class WorldSpec:
    """One world: a task, a physics context and a seed. Round-trips through JSON and YAML."""

    task: str
    context: Context = field(default_factory=Context)
    seed: int = 0
    initial_state: InitialState | None = None

    def __post_init__(self) -> None:
        info = get_task(self.task)  # raises with the valid task names
        object.__setattr__(self, "task", info.name)
        if isinstance(self.context, dict):
            object.__setattr__(self, "context", Context.from_dict(self.context))
        for name in GEOMETRIC_FIELDS:
            if name not in info.geometric_fields and getattr(self.context, name) != 1.0:
                supported = [t for t in _tasks_with(name)]
                raise ValueError(
                    f"task {info.name} does not support the geometric field {name!r}; "
                    f"tasks that do: {', '.join(supported)}"
                )
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise ValueError(f"seed must be an int, got {self.seed!r}")
        if not 0 <= self.seed < 2**32:
            raise ValueError(f"seed must be in [0, 2**32 - 1], got {self.seed}")
        if isinstance(self.initial_state, dict):
            state = self.initial_state
            qvel = state.get("qvel")
            try:
                parsed = InitialState(
                    tuple(map(float, state["qpos"])),
                    None if qvel is None else tuple(map(float, qvel)),
                )
            except (KeyError, TypeError, ValueError):
                raise ValueError(
                    "initial_state needs 'qpos' (and optionally 'qvel') as lists of numbers"
                ) from None
            values = parsed.qpos + (parsed.qvel or ())
            if not all(math.isfinite(v) for v in values):
                raise ValueError("initial_state qpos/qvel must be finite numbers")
            object.__setattr__(self, "initial_state", parsed)

    # -- serialisation -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "task": self.task,
            "context": self.context.to_dict(),
            "seed": self.seed,
        }
        if self.initial_state is not None:
            out["initial_state"] = self.initial_state.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorldSpec:
        if not isinstance(data, dict) or "task" not in data:
            got = type(data).__name__ if not isinstance(data, dict) else f"keys {sorted(data)}"
            raise ValueError(f"a WorldSpec needs at least a 'task' key (a mapping), got {got}")
        unknown = sorted(set(data) - {"task", "context", "seed", "initial_state", "format_version"})
        if unknown:
            raise ValueError(
                f"unknown WorldSpec key(s) {unknown}; valid: task, context, seed, initial_state"
            )
        context, seed = data.get("context"), data.get("seed", 0)
        if context is not None and not isinstance(context, dict):
            raise ValueError(f"WorldSpec 'context' must be a mapping, got {type(context).__name__}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"WorldSpec 'seed' must be an integer, got {seed!r}")
        state = data.get("initial_state")
        if state is not None and not (isinstance(state, dict) and "qpos" in state):
            raise ValueError("WorldSpec 'initial_state' must be a mapping with 'qpos' (and 'qvel')")
        if not isinstance(data["task"], str):
            raise ValueError(f"WorldSpec 'task' must be a task name, got {data['task']!r}")
        return cls(
            task=data["task"],
            context=Context.from_dict(context),
            seed=seed,
            initial_state=state,
        )

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_json(cls, text: str) -> WorldSpec:
        return cls.from_dict(json.loads(text))

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_yaml(cls, text: str) -> WorldSpec:
        import yaml

        return cls.from_dict(yaml.safe_load(text))

    def with_context(self, **changes: float) -> WorldSpec:
        """A copy with some context fields changed (validated)."""
        return replace(self, context=Context.from_dict({**self.context.to_dict(), **changes}))

    def make_env(self, render_mode: str | None = None, **kwargs: Any):
        """Build the real MuJoCo env this spec describes (see `genenv.worlds.real.make_real_env`)."""
        from genenv.worlds.real import make_real_env

        return make_real_env(self, render_mode=render_mode, **kwargs)


def _tasks_with(field_name: str) -> list[str]:
    from genenv.worlds.tasks import TASKS

    return [t.name for t in TASKS.values() if field_name in t.geometric_fields]
