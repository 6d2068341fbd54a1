"""Write rollout videos (mp4/gif) of a policy: in the real MuJoCo world ("real"), in a world model
("imagined"), both from the same real start side by side with state traces ("side-by-side": the
policy drives the dream too, closed loop, as in training), or with the real actions replayed open
loop in the model ("open-loop": how far its predictions drift on their own). Optionally also to
TensorBoard as animated GIFs."""

from __future__ import annotations

import argparse
from pathlib import Path

from genenv import cli_args as ca
from genenv.recording.record import (
    DEFAULT_KINDS,
    KINDS,
    RecordConfig,
    record_imagined,
    record_real,
    record_side_by_side,
)
from genenv.worlds import WorldSpec


def add_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--task", help="task name, e.g. InvertedPendulum (stock physics)")
    where.add_argument("--spec", type=ca.in_file, help="WorldSpec file (.json, .yaml or .yml)")
    parser.add_argument("--seed", type=ca.seed, default=None, help="override the spec's seed")
    parser.add_argument("--world", type=ca.in_dir, help="world-model checkpoint folder")
    parser.add_argument(
        "--device", type=ca.device, default="cpu", help="torch device for the world model"
    )
    parser.add_argument(
        "--policy",
        default="random",
        help="'random', a stable-baselines3 .zip, or a run's agent folder (with agent.json); "
        "zips load without unpickling anything, and one that needs pickled code is refused",
    )
    parser.add_argument(
        "--steps", type=ca.int_between(1, 100_000), default=200, help="steps per rollout"
    )
    parser.add_argument("--out", type=ca.out_dir, default=Path("recordings"), help="output folder")
    parser.add_argument(
        "--kinds",
        default=",".join(DEFAULT_KINDS),
        help=f"comma-separated videos to write, from: {', '.join(KINDS)} (side-by-side: the "
        "policy closed loop in the dream; open-loop: the real actions replayed in the dream)",
    )
    parser.add_argument(
        "--size",
        type=ca.int_between(16, 2048),
        default=RecordConfig.size,
        help="panel height and width in pixels (128: about 25%% faster on CPU, less legible)",
    )
    parser.add_argument(
        "--fps",
        type=ca.int_between(1, 240),
        default=None,
        help="frames per second (default: the task's real time)",
    )
    parser.add_argument("--formats", default="mp4,gif", help="comma-separated: mp4, gif")
    parser.add_argument(
        "--camera",
        default="auto",
        help="MuJoCo camera name; 'auto': the body-following 'track' camera for locomotion "
        "tasks, else the env's own view; 'default': the env's own view",
    )
    parser.add_argument(
        "--image",
        type=ca.in_file,
        default=None,
        help="pixel worlds: an image (any frame of the task's pixel camera) that becomes the "
        "dream's first frame; the video shows the world's own decoded frames",
    )
    parser.add_argument(
        "--step", type=ca.nonneg_int, default=None, help="training step, for names and tags"
    )
    parser.add_argument(
        "--tensorboard", type=ca.out_dir, default=None, help="also log to this log dir"
    )
    parser.add_argument(
        "--fast",
        action="store_true",
        help="render without shadows and reflections (about 10x faster on CPU)",
    )
    ca.add_common(parser)


def _spec(args: argparse.Namespace) -> WorldSpec:
    if args.task is not None:
        spec = WorldSpec(args.task)
    else:
        text = args.spec.read_text(encoding="utf-8")
        yaml = args.spec.suffix in (".yaml", ".yml")
        spec = WorldSpec.from_yaml(text) if yaml else WorldSpec.from_json(text)
    if args.seed is not None:
        spec = WorldSpec(spec.task, spec.context, args.seed, spec.initial_state)
    return spec


def _split(text: str, allowed: tuple[str, ...], what: str) -> list[str]:
    items = [s.strip() for s in text.split(",") if s.strip()]
    bad = [s for s in items if s not in allowed]
    if bad or not items:
        raise ValueError(f"--{what} must list some of {', '.join(allowed)}; got {text!r}")
    return items


def run(args: argparse.Namespace) -> int:
    spec = _spec(args)
    kinds = _split(args.kinds, KINDS, "kinds")
    formats = tuple(_split(args.formats, ("mp4", "gif"), "formats"))
    model = None
    if any(k != "real" for k in kinds):
        if args.world is None:
            raise ValueError("imagined and side-by-side videos need --world CHECKPOINT_DIR")
        from genenv.models.checkpoint import load_checkpoint

        model = load_checkpoint(args.world, args.device, expect_task=spec.task)
    elif args.image is not None:
        raise ValueError("--image needs --world, a pixel world checkpoint (kind latent)")
    ca.check_writable(args.out)
    from genenv.models.latent import LatentWorldModel

    if isinstance(model, LatentWorldModel):
        return _run_pixel(args, spec, kinds, formats, model)
    if args.image is not None:
        raise ValueError(f"--image needs a pixel world; {args.world} is a state world")
    policy = args.policy
    if policy != "random":
        from genenv.agents.sb3 import load_policy

        policy = load_policy(policy)  # once, not once per video
    camera = None if args.camera == "default" else args.camera
    config = RecordConfig(
        out_dir=args.out,
        size=args.size,
        fps=args.fps,
        formats=formats,
        camera_name=camera,
        progress=not args.no_progress,
        fast=args.fast,
    )
    common = {"config": config, "step": args.step, "tensorboard": args.tensorboard}
    for kind in kinds:
        if kind == "real":
            paths = record_real(spec, policy, args.steps, **common)
        elif kind == "imagined":
            paths = record_imagined(spec, model, policy, args.steps, **common)
        else:
            open_loop = kind == "open-loop"
            paths = record_side_by_side(
                spec, model, policy, args.steps, open_loop=open_loop, **common
            )
        for path in paths.values():
            print(f"wrote {path}")
    if args.tensorboard is not None:
        print(f"logged {len(kinds)} video(s) under videos/ in {args.tensorboard}")
    return 0


def _run_pixel(args, spec: WorldSpec, kinds, formats, model) -> int:
    """Videos of a pixel world: its decoded frames (from --image or a real start), or
    side-by-side with the real camera frames."""
    from genenv.recording.pixels import pixel_side_by_side_frames, record_pixel_dream
    from genenv.recording.record import video_name
    from genenv.recording.video import write_video

    policy = args.policy
    if policy != "random":
        from genenv.agents.sb3 import load_policy

        policy = load_policy(policy)
    frame = None
    if args.image is not None:
        from genenv.prompts.image_latent import read_image_prompt

        frame = read_image_prompt(model, args.image).frame
        kinds = ["imagined"]
    from genenv.envs._world import task_dt

    fps = args.fps or max(1, round(1.0 / task_dt(spec.task)))
    kinds = [k for k in kinds if k in ("imagined", "side-by-side")]
    if not kinds:
        raise ValueError("a pixel world records --kinds imagined and/or side-by-side")
    for kind in kinds:
        if kind == "imagined":
            frames = record_pixel_dream(model, frame, policy, args.steps, args.size)
            name = "image-prompt" if frame is not None else "imagined"
        else:
            frames = pixel_side_by_side_frames(model, spec, policy, args.steps, args.size, 0)
            name = kind
        stem = Path(args.out) / video_name(spec, name, args.step)
        for fmt in formats:
            print(f"wrote {write_video(frames, stem.with_suffix(f'.{fmt}'), fps)}")
    return 0
