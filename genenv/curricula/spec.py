"""Curriculum specs: the YAML files under `curricula/`, validated into typed dataclasses.

Top-level keys (all but `task` optional; see curricula/InvertedPendulum.yaml for a full example):
  task, seed, world, seeds, ranges, mutation, plr, scoring, agent, budget, eval.
Unknown keys, out-of-range values and unknown tasks or fields are errors that name the key.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from genenv.curricula.buffer import PLRConfig
from genenv.curricula.generator import GeneratorConfig
from genenv.curricula.scoring import NEEDS_VALUES, ScoringConfig
from genenv.worlds.spec import WorldSpec
from genenv.worlds.tasks import get_task

SB3_ALGOS = ("PPO", "SAC", "TD3")
SCHEDULES = ("fixed", "uniform", "plr", "accel")  # world schedule kinds (genenv.curricula.schedule)
REPO_AGENTS = Path(__file__).resolve().parents[2] / "agents"  # recipes of a source checkout


@dataclass
class WorldConfig:
    """Which world model the agent dreams in."""

    checkpoint: str | None = None  # path to a saved world model; None trains one at the start
    data_steps: int = 5000  # real transitions collected over the ranges when training one
    train_epochs: int = 30  # world-model training epochs when training one


@dataclass
class SeedsConfig:
    """The levels the buffer starts from."""

    prompts: list[str] = field(default_factory=list)  # text prompts -> spec_from_text
    images: list[str] = field(default_factory=list)  # image paths -> spec_from_image
    random: int = 4  # extra uniform random levels
    default: bool = True  # include the stock world


@dataclass
class MutationConfig:
    """ACCEL edits."""

    edits: int = 3  # edits per mutation
    prob: float = 0.5  # share of new levels made by mutation (the rest are random)
    steps: dict[str, float] = field(default_factory=dict)  # field -> max change per edit


@dataclass
class AgentConfig:
    """The agent that learns in the dream: an agent recipe (agents/*.yaml) with overrides."""

    recipe: str = "ppo"  # a recipe name in the repo's agents/ folder, or a YAML path (SB3 algos)
    n_envs: int | None = None  # override the recipe's number of dream env slots
    horizon: int | None = None  # override the imagined episode length (env.max_episode_steps)
    hyperparams: dict[str, Any] = field(default_factory=dict)  # merged over the recipe's
    device: str = "cpu"  # torch device of the world model and dream env


@dataclass
class BudgetConfig:
    """How much to run."""

    imagined_steps: int = 200_000  # total agent steps in the dream
    iterations: int = 4  # chunks of imagined steps, each followed by a transfer test
    transfer_episodes: int = 2  # real episodes per world in each transfer test
    transfer_worlds: int = 3  # top-scoring buffer levels tested in real MuJoCo each time


@dataclass
class EvalConfig:
    """Held-out real worlds for the final evaluation."""

    worlds: list[dict[str, Any]] = field(default_factory=list)  # WorldSpec dicts (task implied)
    episodes: int = 2  # real episodes per world


@dataclass
class CurriculumSpec:
    """A whole curriculum run."""

    task: str
    seed: int = 0
    world: WorldConfig = field(default_factory=WorldConfig)
    seeds: SeedsConfig = field(default_factory=SeedsConfig)
    ranges: dict[str, list[float]] = field(default_factory=dict)
    mutation: MutationConfig = field(default_factory=MutationConfig)
    plr: PLRConfig = field(default_factory=PLRConfig)
    scoring: ScoringConfig = field(default_factory=ScoringConfig)
    agent: AgentConfig = field(default_factory=AgentConfig)
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def generator_config(self) -> GeneratorConfig:
        return GeneratorConfig(
            self.task,
            ranges={k: tuple(v) for k, v in self.ranges.items()},
            mutation_steps=dict(self.mutation.steps),
            edits=self.mutation.edits,
            mutation_prob=self.mutation.prob,
        )

    def recipe(self):
        """The agent recipe for this task, with the spec's overrides applied."""
        from genenv.agents.recipe import load_recipe

        recipe = load_recipe(recipe_path(self.agent.recipe), self.task)
        if self.agent.n_envs is not None:
            recipe.n_envs = self.agent.n_envs
        if self.agent.horizon is not None:
            recipe.env = {**recipe.env, "max_episode_steps": self.agent.horizon}
        recipe.hyperparams = {**recipe.hyperparams, **self.agent.hyperparams}
        return recipe

    def eval_specs(self) -> list[WorldSpec]:
        return [WorldSpec.from_dict({"task": self.task, **w}) for w in self.eval.worlds]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_SECTIONS = {
    "world": WorldConfig,
    "seeds": SeedsConfig,
    "mutation": MutationConfig,
    "plr": PLRConfig,
    "scoring": ScoringConfig,
    "agent": AgentConfig,
    "budget": BudgetConfig,
    "eval": EvalConfig,
}


def _section(name: str, cls: type, data: Any) -> Any:
    if data is None:
        return cls()
    if not isinstance(data, dict):
        raise ValueError(f"curriculum spec: {name!r} must be a mapping, got {data!r}")
    valid = [f.name for f in fields(cls)]
    unknown = sorted(set(data) - set(valid))
    if unknown:
        raise ValueError(f"curriculum spec: unknown key(s) {unknown} in {name!r}; valid: {valid}")
    try:
        return cls(**data)
    except (TypeError, ValueError) as err:
        message = str(err)
        prefix = "" if message.startswith(f"{name}:") else f"{name}: "
        raise ValueError(f"curriculum spec: {prefix}{message}") from err


def _positive(name: str, value: Any, minimum: float = 1) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value >= minimum:
        raise ValueError(f"curriculum spec: {name} must be a number >= {minimum}, got {value!r}")


def spec_from_dict(data: dict[str, Any], base_dir: Path | None = None) -> CurriculumSpec:
    """Validate a parsed YAML mapping. Relative image/checkpoint paths resolve from `base_dir`."""
    if not isinstance(data, dict):
        raise ValueError(f"a curriculum spec must be a mapping, got {type(data).__name__}")
    valid = ["task", "seed", "ranges", *_SECTIONS]
    unknown = sorted(set(data) - set(valid))
    if unknown:
        raise ValueError(f"curriculum spec: unknown top-level key(s) {unknown}; valid: {valid}")
    if "task" not in data:
        raise ValueError("curriculum spec: missing 'task'")
    task = get_task(str(data["task"])).name  # raises with the valid task names
    sections = {name: _section(name, cls, data.get(name)) for name, cls in _SECTIONS.items()}
    ranges = data.get("ranges") or {}
    if not isinstance(ranges, dict) or not all(
        isinstance(v, (list, tuple)) and len(v) == 2 for v in ranges.values()
    ):
        raise ValueError(f"curriculum spec: 'ranges' maps fields to [low, high], got {ranges!r}")
    spec = CurriculumSpec(task=task, seed=int(data.get("seed", 0)), ranges=dict(ranges), **sections)
    try:
        spec.generator_config()  # validates ranges and mutation against the task
    except ValueError as err:
        raise ValueError(f"curriculum spec: {err}") from err
    _check(spec, base_dir)
    return spec


def _check(spec: CurriculumSpec, base_dir: Path | None) -> None:
    w, a, b, s = spec.world, spec.agent, spec.budget, spec.seeds
    _positive("world.data_steps", w.data_steps)
    _positive("world.train_epochs", w.train_epochs)
    if a.n_envs is not None:
        _positive("agent.n_envs", a.n_envs)
    if a.horizon is not None:
        _positive("agent.horizon", a.horizon)
    _positive("budget.imagined_steps", b.imagined_steps)
    _positive("budget.iterations", b.iterations)
    _positive("budget.transfer_episodes", b.transfer_episodes, 0)
    _positive("budget.transfer_worlds", b.transfer_worlds, 0)
    _positive("eval.episodes", spec.eval.episodes)
    _positive("seeds.random", s.random, 0)
    recipe = spec.recipe()  # validates the recipe and the overrides
    if recipe.algo not in SB3_ALGOS:
        raise ValueError(
            f"curriculum spec: agent recipe algo {recipe.algo!r} is not supported by the "
            f"curriculum (it assigns worlds through an SB3 callback); use one of {SB3_ALGOS}"
        )
    if recipe.algo != "PPO" and spec.scoring.kind in NEEDS_VALUES:
        raise ValueError(
            f"curriculum spec: scoring.kind {spec.scoring.kind!r} needs PPO's state values; "
            f"with {recipe.algo} use 'learning_progress'"
        )
    if b.imagined_steps < b.iterations * recipe.n_envs:
        raise ValueError("curriculum spec: budget.imagined_steps < iterations * n_envs")
    if not (s.prompts or s.images or s.random or s.default):
        raise ValueError(
            "curriculum spec: seeds are empty; give prompts, images, random or default"
        )
    for i, text in enumerate(s.prompts):
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"curriculum spec: seeds.prompts[{i}] must be a non-empty string")
    base = base_dir or Path.cwd()
    s.images = [str(_resolve(base, p, f"seeds.images[{i}]")) for i, p in enumerate(s.images)]
    if w.checkpoint is not None:
        w.checkpoint = str(_resolve(base, w.checkpoint, "world.checkpoint"))
    for i, world in enumerate(spec.eval.worlds):
        if not isinstance(world, dict) or "task" in world and world["task"] != spec.task:
            raise ValueError(f"curriculum spec: eval.worlds[{i}] must be a mapping for {spec.task}")
        try:
            WorldSpec.from_dict({"task": spec.task, **world})
        except ValueError as err:
            raise ValueError(f"curriculum spec: eval.worlds[{i}]: {err}") from err
    if not math.isfinite(spec.scoring.kappa):
        raise ValueError("curriculum spec: scoring.kappa must be finite")


def _resolve(base: Path, path: str, name: str) -> Path:
    p = Path(path).expanduser()
    if not p.is_absolute():
        # Relative to the spec file first, then to the working directory.
        p = (base / p) if (base / p).exists() else p.resolve()
    if not p.exists():
        raise FileNotFoundError(f"curriculum spec: {name}: no such file {path!r}")
    return p.resolve()


def recipe_path(name: str) -> Path:
    """A recipe file: an existing path, or a name in the repo's agents/ folder."""
    path = Path(name)
    if path.is_file():
        return path
    for candidate in (REPO_AGENTS / name, REPO_AGENTS / f"{name}.yaml"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"agent recipe {name!r} not found (looked in . and {REPO_AGENTS})")


def load_spec(path: str | Path) -> CurriculumSpec:
    """Read and validate a curriculum YAML file."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no curriculum spec at {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ValueError(f"curriculum spec {path} is not valid YAML: {err}") from err
    return spec_from_dict(data, base_dir=path.parent)
