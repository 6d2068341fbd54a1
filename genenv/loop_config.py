"""The loop's configuration and progress: `LoopConfig` (every knob of `genenv run`, written
resolved to RUN_DIR/config.yaml) and `LoopState` (written to RUN_DIR/state.json after every phase),
with the atomic writers and the one-line-error readers the run folder uses."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from genenv.config_checks import finite_floats, positive_ints
from genenv.data.files import read_json
from genenv.worlds.cameras import PIXEL_SIZES
from genenv.worlds.spec import Context, WorldSpec

WORLD_KINDS = ("ensemble", "latent")  # genenv.models.kinds.KINDS (a test keeps them equal)
LATENT_REFITS = ("all", "dynamics")  # what a latent world's refit trains (LoopConfig.latent_refit)
REPO_AGENTS = Path(__file__).resolve().parent.parent / "agents"  # recipes of a source checkout


@dataclass
class LoopConfig:
    """Everything `genenv run` needs; written resolved to RUN_DIR/config.yaml."""

    task: str = "InvertedPendulum"
    real_steps: int = 5000  # budget of real steps whose data trains the world model
    initial_steps: int = 1000  # random-action real steps before the first world model
    steps_per_iteration: int = 1000  # real steps the agent collects per iteration
    recipe: str = "ppo"  # path to an agent recipe YAML, or a name in the repo's agents/ folder
    imagined_steps: int | None = None  # imagined steps per iteration (None: the recipe's)
    # Score dream steps with the stock task's own reward/termination instead of learned heads
    # (None: the recipe's env.known_reward_termination, default False).
    known_reward_termination: bool | None = None
    eval_every: int = 50_000  # imagined steps between transfer tests (K)
    eval_episodes: int = 5  # real (and imagined) episodes per transfer test (E)
    target_return: float | None = None  # stop early once a transfer test's real return reaches it
    train_epochs: int = 200  # cap on world-model epochs per (re)training
    context: dict[str, float] = field(default_factory=dict)  # physics context of the world
    device: str = "cpu"  # torch device for the world model and dream env
    seed: int = 0
    video: bool = True  # side-by-side video at the end (recordings/ and TensorBoard)
    video_steps: int = 200
    worlds: str | None = None  # curriculum spec (YAML) whose world schedule the dream follows
    schedule: str = "fixed"  # fixed | uniform | plr | accel (anything but fixed needs worlds)
    world_checkpoint: str | None = None  # start from this world model: no real data, no refit
    # "ensemble": a state world model; "latent": a pixel world learned from the task camera's
    # frames (the agent acts on latents, in the dream and, through the encoder, in the real env)
    world_kind: str = "ensemble"
    pixel_size: int = 64  # frame size of a latent world's data
    latent_steps: int = 3000  # gradient steps of a latent world's first fit
    latent_refit_steps: int = 1000  # gradient steps of each warm-started refit
    latent_dim: int | None = None  # size of a latent world's z (None: LatentConfig's default)
    latent_dynamics_steps: int = 500  # steps of the dynamics phase after every fit (0: none)
    # what a refit trains: "all" (encoder, predictors, heads, decoder; warm-started) or
    # "dynamics" (the first fit's encoder is kept, so the agent's latents keep their meaning;
    # only the dynamics phase runs, for latent_refit_steps steps)
    latent_refit: str = "all"
    # weight of the VICReg variance term in every latent fit (raise it where latents collapse:
    # genenv warns when a fit's smallest latent std ends below 0.1)
    latent_var_coef: float = 1.0

    def __post_init__(self) -> None:
        positive_ints(self, "real_steps", "initial_steps", "steps_per_iteration", "eval_every")
        positive_ints(self, "eval_episodes", "train_epochs", "video_steps")
        positive_ints(self, "pixel_size", "latent_steps", "latent_refit_steps")
        if self.latent_dim is not None:
            positive_ints(self, "latent_dim")
            if self.latent_dim % 2 or self.latent_dim < 2:
                raise ValueError(f"latent_dim must be even (two frames), got {self.latent_dim}")
        positive_ints(self, "seed", "latent_dynamics_steps", allow_zero=True)
        if self.latent_refit not in LATENT_REFITS:
            raise ValueError(
                f"latent_refit must be one of {', '.join(LATENT_REFITS)}, got {self.latent_refit!r}"
            )
        if self.imagined_steps is not None:
            positive_ints(self, "imagined_steps")
        finite_floats(self, "target_return", allow_none=True)
        finite_floats(self, "latent_var_coef", positive=True)
        if self.initial_steps > self.real_steps:
            raise ValueError(
                f"initial_steps ({self.initial_steps}) must be <= real_steps ({self.real_steps})"
            )
        if not isinstance(self.context, dict):
            raise ValueError(f"LoopConfig.context must be a mapping, got {self.context!r}")
        if not isinstance(self.video, bool):
            raise ValueError(f"LoopConfig.video must be true or false, got {self.video!r}")
        from genenv.curricula.spec import SCHEDULES

        if self.schedule not in SCHEDULES:
            raise ValueError(
                f"LoopConfig.schedule must be one of {SCHEDULES}, got {self.schedule!r}"
            )
        if self.schedule != "fixed" and self.worlds is None:
            raise ValueError(
                f"the {self.schedule!r} world schedule needs worlds (a curriculum spec)"
            )
        if self.world_kind not in WORLD_KINDS:
            raise ValueError(
                f"LoopConfig.world_kind must be one of {WORLD_KINDS}, got {self.world_kind!r}"
            )
        if self.world_kind == "latent":
            if self.pixel_size not in PIXEL_SIZES:
                raise ValueError(f"pixel_size must be one of {PIXEL_SIZES}, got {self.pixel_size}")
            if self.known_reward_termination:
                raise ValueError("known_reward_termination needs states; a pixel world has latents")
            if self.worlds is not None:
                raise ValueError("world schedules (worlds) run over state worlds only, for now")

    def spec(self) -> WorldSpec:
        return WorldSpec(self.task, Context.from_dict(self.context), seed=self.seed)

    def recipe_path(self) -> Path:
        path = Path(self.recipe)
        if path.is_file():
            return path
        for candidate in (REPO_AGENTS / self.recipe, REPO_AGENTS / f"{self.recipe}.yaml"):
            if candidate.is_file():
                return candidate
        raise FileNotFoundError(f"recipe {self.recipe!r} not found (looked in . and {REPO_AGENTS})")


def read_config(path: Path) -> LoopConfig:
    """The LoopConfig a run folder's config.yaml holds (validated; clear errors when broken)."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    loop = raw.get("loop") if isinstance(raw, dict) else None
    if not isinstance(loop, dict):
        raise ValueError(f"{path} is not a genenv run config (no 'loop' mapping)")
    unknown = sorted(set(loop) - {f.name for f in fields(LoopConfig)})
    if unknown:
        raise ValueError(f"{path}: unknown loop key(s) {unknown}")
    try:
        config = LoopConfig(**loop)
        config.spec()
        return config
    except (TypeError, ValueError) as err:
        raise ValueError(f"{path}: {err}") from None


@dataclass
class LoopState:
    """Progress of a run; written to RUN_DIR/state.json after every phase, read by --resume."""

    iteration: int = 0
    eval_real_env_steps: int = 0
    imagined_env_steps: int = 0  # dream steps the agent actually took, over the whole run
    iteration_imagined_steps: int = 0  # ... within the current iteration
    transfer: list[dict[str, Any]] = field(default_factory=list)
    world_real_steps: int = 0  # size of the dataset the saved world model was trained on
    eval: dict[str, Any] | None = None  # final evaluation on the schedule's held-out worlds
    done: bool = False


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)  # atomic: a kill leaves the old file or the new one, never half of one


def _write_json(path: Path, data: dict) -> None:
    _write_text(path, json.dumps(data, indent=2))


def read_state(path: Path, cls):
    """The dataclass `cls` from the JSON file `path`, with one-line errors for a damaged file."""
    data = read_json(path, f"{path} (the run folder was damaged)")
    known = {f.name for f in fields(cls)}
    if not isinstance(data, dict) or set(data) - known:
        raise ValueError(f"{path} is not a {cls.__name__} (keys {sorted(known)})")
    try:
        return cls(**data)
    except TypeError as err:
        raise ValueError(f"{path}: {err}") from None
