"""Record rollouts to video files and TensorBoard: real, imagined, side by side, open loop.

Side by side runs the same policy twice from the same real start: in the real world, and closed
loop in the world model (the policy acts on the dream's own states, as in training), and shows
`real | dream | traces` with each panel's running return. Open loop replays the real rollout's
actions in the world model instead, which shows how far the model's predictions drift on their
own. Both hold an episode's last frame once it ends and say so on the panel.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from genenv.recording.frames import hstack, label, trace_panel
from genenv.recording.rollout import Rollout, rollout_imagined, rollout_real
from genenv.recording.video import log_video_to_tensorboard, write_video
from genenv.worlds import WorldSpec
from genenv.worlds.drawing import get_decoder

# Every kind of video; `genenv record` writes DEFAULT_KINDS unless told otherwise.
KINDS = ("real", "imagined", "side-by-side", "open-loop")
DEFAULT_KINDS = ("real", "imagined", "side-by-side")
DREAM_NAMES = {"side-by-side": "dream (closed loop)", "open-loop": "dream (open-loop replay)"}


@dataclass
class RecordConfig:
    """How recordings are rendered and written."""

    out_dir: str | Path = "recordings"  # folder the video files go to (created if missing)
    # Height and width in pixels of each panel. 256 keeps the trace panel's tick labels and thin
    # limbs legible; on the 2-core CPU a 100-step HalfCheetah side by side took 38 s at 256 px
    # against 29 s at 128 px (rendering and stepping cost about the same at both sizes).
    size: int = 256
    fps: int | None = None  # frames per second; None: real time (1 / the task's step dt)
    formats: tuple[str, ...] = ("mp4", "gif")  # file types to write
    # MuJoCo camera name; "auto": "track" (follows the body) where the root moves, else the env's
    # default view; None: the env's default view.
    camera_name: str | None = "auto"
    max_traces: int = 4  # observation dimensions plotted in the trace panel
    labels: bool = True  # write "real" / "imagined" on the panels
    progress: bool = True  # tqdm bars while stepping and rendering
    fast: bool = False  # no shadows/reflections: ~10x faster renders on software OpenGL (CPU)

    def __post_init__(self) -> None:
        if self.size < 16:
            raise ValueError(f"size must be at least 16 pixels, got {self.size}")
        bad = [f for f in self.formats if f not in ("mp4", "gif")]
        if bad or not self.formats:
            raise ValueError(f"formats must be a non-empty subset of mp4, gif; got {self.formats}")


def video_name(spec: WorldSpec, kind: str, step: int | None = None) -> str:
    """File stem, e.g. 'HalfCheetah-side-by-side-step5000-seed0' (plus '-ctx<hash>' when the
    physics context is not the stock one)."""
    parts = [spec.task, kind]
    if step is not None:
        parts.append(f"step{step}")
    parts.append(f"seed{spec.seed}")
    if not spec.context.is_default():
        text = json.dumps(spec.context.to_dict(), sort_keys=True)
        parts.append("ctx" + hashlib.sha1(text.encode()).hexdigest()[:6])
    return "-".join(parts)


def _resolve(config: RecordConfig | None, overrides: dict[str, Any]) -> RecordConfig:
    """`config` (or the defaults) with the keyword overrides that were given; None means "not
    given" (to choose the env's default camera, pass `RecordConfig(camera_name=None)`)."""
    config = config or RecordConfig()
    given = {k: v for k, v in overrides.items() if v is not None}
    valid = [f.name for f in fields(RecordConfig)]
    unknown = sorted(set(given) - set(valid))
    if unknown:
        raise ValueError(f"unknown recording option(s) {unknown}; valid: {', '.join(valid)}")
    return replace(config, **given) if given else config


def _fps(config: RecordConfig, dt: float) -> int:
    return config.fps if config.fps is not None else max(1, round(1.0 / dt))


def _emit(
    frames: np.ndarray,
    spec: WorldSpec,
    kind: str,
    config: RecordConfig,
    fps: int,
    step: int | None,
    tensorboard: Any,
) -> dict[str, Path]:
    stem = Path(config.out_dir) / video_name(spec, kind, step)
    paths = {fmt: write_video(frames, stem.with_suffix(f".{fmt}"), fps) for fmt in config.formats}
    if tensorboard is not None:
        log_video_to_tensorboard(tensorboard, f"videos/{kind}", frames, step or 0, fps)
    return paths


def _emit_rollout(
    rollout: Rollout, spec: WorldSpec, kind: str, config: RecordConfig, step, tensorboard
) -> dict[str, Path]:
    """One rollout's video, labelled with its kind and running return."""
    frames = _panel(rollout, kind, len(rollout.frames), config)
    return _emit(frames, spec, kind, config, _fps(config, rollout.dt), step, tensorboard)


def _pad_to(frames: np.ndarray, n: int) -> np.ndarray:
    """Repeat the last frame so an early-ended rollout lasts n frames."""
    extra = n - len(frames)
    return frames[:n] if extra <= 0 else np.concatenate([frames, np.repeat(frames[-1:], extra, 0)])


def _panel(rollout: Rollout, name: str, n: int, config: RecordConfig) -> np.ndarray:
    """The rollout's frames padded to n, labelled with its name, running return and end."""
    frames = _pad_to(rollout.frames, n)
    if not config.labels:
        return frames
    returns = np.concatenate([[0.0], np.cumsum(rollout.rewards)])  # (T+1,) return up to frame t
    ended = len(rollout.obs) - 1  # the last step it took
    texts = [
        f"{name}\nreturn {returns[min(t, ended)]:.1f}"
        + (f"\nended at t={ended}" if t > ended else "")
        for t in range(n)
    ]
    return label(frames, texts)


def side_by_side_frames(
    spec: WorldSpec,
    model,
    policy: Any = "random",
    steps: int = 200,
    config: RecordConfig | None = None,
    open_loop: bool = False,
) -> tuple[np.ndarray, Rollout, Rollout]:
    """(T+1, size, 3*size, 3) frames `real | dream | traces`, and the two rollouts.

    Both start from the real rollout's first state. Closed loop (default): `policy` drives the
    dream too, acting on the imagined states. `open_loop`: the real actions are replayed. Each
    episode ends where its world (real or model) says so; T is the longer of the two.
    """
    config = config or RecordConfig()
    size, cam = config.size, config.camera_name
    if isinstance(policy, (str, Path)) and str(policy) != "random":
        from genenv.agents.sb3 import load_policy

        policy = load_policy(policy)  # once for both rollouts
    real = rollout_real(
        spec, policy, steps, size, size, cam, progress=config.progress, fast=config.fast
    )
    dream = rollout_imagined(
        spec,
        model,
        policy,
        steps,
        actions=real.actions if open_loop else None,
        init_obs=real.obs[0],
        root0=real.root,
        width=size,
        height=size,
        camera_name=cam,
        # Past the model's own termination the dream has left its data (an open-loop pendulum
        # state grows without bound): hold its last state and say so, as a real episode ends there.
        stop_on_termination=True,
        progress=config.progress,
        fast=config.fast,
    )
    name = DREAM_NAMES["open-loop" if open_loop else "side-by-side"]
    n = max(len(real.obs), len(dream.obs))
    positions = get_decoder(spec.task).num_position_obs
    traces = trace_panel(
        real.obs, dream.obs, size, size, max_dims=config.max_traces, num_preferred=positions,
        names=("real", "dream"),
    )  # fmt: skip
    panels = (_panel(real, "real", n, config), _panel(dream, name, n, config))
    return hstack(*panels, traces), real, dream


def record_real(
    spec: WorldSpec,
    policy: Any = "random",
    steps: int = 200,
    config: RecordConfig | None = None,
    step: int | None = None,
    tensorboard: Any = None,
    **overrides: Any,
) -> dict[str, Path]:
    """Run `policy` in the real world of `spec`; write its video. Returns {format: path}.

    `tensorboard`: a SummaryWriter or log folder to also log the video to (tag 'videos/real').
    Keyword `overrides` replace `config` fields, e.g. `out_dir=run / "videos"`, `size=64`.
    """
    config = _resolve(config, overrides)
    rollout = rollout_real(
        spec, policy, steps, config.size, config.size, config.camera_name,
        progress=config.progress, fast=config.fast,
    )  # fmt: skip
    return _emit_rollout(rollout, spec, "real", config, step, tensorboard)


def record_imagined(
    spec: WorldSpec,
    model,
    policy: Any = "random",
    steps: int = 200,
    config: RecordConfig | None = None,
    step: int | None = None,
    tensorboard: Any = None,
    init_obs: np.ndarray | None = None,
    **overrides: Any,
) -> dict[str, Path]:
    """Run `policy` inside the world model from a real start state (or `init_obs`) until the model
    predicts termination or `steps` steps; write the video of the imagined states."""
    config = _resolve(config, overrides)
    size = config.size
    rollout = rollout_imagined(
        spec, model, policy, steps, init_obs=init_obs, width=size, height=size,
        camera_name=config.camera_name, progress=config.progress, fast=config.fast,
    )  # fmt: skip
    return _emit_rollout(rollout, spec, "imagined", config, step, tensorboard)


def record_side_by_side(
    spec: WorldSpec,
    model,
    policy: Any = "random",
    steps: int = 200,
    config: RecordConfig | None = None,
    step: int | None = None,
    tensorboard: Any = None,
    open_loop: bool = False,
    **overrides: Any,
) -> dict[str, Path]:
    """`policy` in the real world and closed loop in the world model, from the same real start:
    writes `real | dream | traces` (kind "side-by-side"; tag 'videos/side-by-side'). With
    `open_loop`, the dream replays the real actions instead (kind "open-loop"). Returns
    {format: path}. A latent pixel world draws its own frames: `real | generated`
    (`genenv.recording.pixels.pixel_side_by_side_frames`, closed loop only)."""
    from genenv.models.latent import LatentWorldModel

    config = _resolve(config, overrides)
    if isinstance(model, LatentWorldModel):
        from genenv.envs._world import task_dt
        from genenv.recording.pixels import pixel_side_by_side_frames

        if open_loop:
            raise ValueError("a pixel world records side-by-side closed loop only")
        frames = pixel_side_by_side_frames(model, spec, policy, steps, config.size)
        fps = _fps(config, task_dt(spec.task))
        return _emit(frames, spec, "side-by-side", config, fps, step, tensorboard)
    frames, real, _ = side_by_side_frames(spec, model, policy, steps, config, open_loop)
    kind = "open-loop" if open_loop else "side-by-side"
    return _emit(frames, spec, kind, config, _fps(config, real.dt), step, tensorboard)
