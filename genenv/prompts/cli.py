"""Turn a text or image prompt into a WorldSpec: `genenv world --task HalfCheetah --prompt "a heavy
cheetah on ice" --json`, or `--image frame.png` with a rendered InvertedPendulum or HalfCheetah
frame. Text sets physics fields (gravity, mass, friction, damping, motor strength, lengths); fields
it does not mention keep their defaults; the notes say what was understood, clamped and ignored
(`--json` prints {"spec": ..., "notes": ...}). An image sets the start pose (initial_state.qpos) and
length_scale; a still frame does not show the other physics fields, so they keep their defaults.
With `--world CKPT` of a pixel world (`genenv train-world --kind latent`), the image is encoded as
the dream's first state instead: any frame of the task's pixel camera works (the latent, how well
the world redraws the image, and its probe's state estimate are printed).
"""

from __future__ import annotations

import argparse
import json
import sys

from genenv import cli_args as ca
from genenv.worlds.spec import CONTEXT_FIELDS
from genenv.worlds.tasks import TASKS, get_task


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", required=True, help=f"task name: {', '.join(TASKS)}")
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--prompt",
        type=ca.utf8_text,
        help="a text description, e.g. 'a heavy cheetah on ice'; stated numbers are read and "
        "clamped into each field's valid range (with a note)",
    )
    src.add_argument(
        "--image",
        type=ca.in_file,
        help=f"path to a rendered frame of the task (PNG/JPEG, at most {MAX_IMAGE_PIXELS:,} pixels)",
    )
    parser.add_argument(
        "--world",
        type=ca.in_dir,
        default=None,
        help="with --image: a pixel world checkpoint (kind latent) that encodes the image as "
        "its first state",
    )
    parser.add_argument("--seed", type=ca.seed, default=0, help="the WorldSpec's seed")
    parser.add_argument(
        "--json",
        action="store_true",
        help='print JSON only: {"spec": WorldSpec, "notes": what was understood, clamped, ignored}',
    )
    parser.add_argument(
        "--clamp-to-train-range",
        action="store_true",
        help="clamp text-prompt values to the task's training ranges instead of validity bounds",
    )
    ca.add_common(parser, progress=False)


MAX_IMAGE_PIXELS = 4096 * 4096  # an image prompt is one rendered frame, not a poster


def _summary(spec, notes: list[str], extra: list[str]) -> str:
    info = get_task(spec.task)
    lines = [f"WorldSpec: task {spec.task}, seed {spec.seed}"]
    for name, (default, _, _, _) in CONTEXT_FIELDS.items():
        value = getattr(spec.context, name)
        if name in ("length_scale",) and name not in info.geometric_fields:
            continue
        marks = [] if value == default else [f"default {default:g}"]
        rng = info.train_ranges.get(name)
        if rng and not rng[0] <= value <= rng[1]:
            marks.append(f"outside the training range [{rng[0]:g}, {rng[1]:g}]")
        mark = f"  ({'; '.join(marks)})" if marks else ""
        lines.append(f"  {name:<15} {value:>7g}{mark}")
    if spec.initial_state is not None:
        qpos = ", ".join(f"{q:.3f}" for q in spec.initial_state.qpos)
        lines.append(f"  initial qpos    [{qpos}]")
    lines += [f"  note: {n}" for n in notes + extra]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    info = get_task(args.task)  # clear error for an unknown task
    if args.world is not None:
        return _run_pixel_world(args, info.name)
    extra: list[str] = []
    if args.prompt is not None:
        from genenv.prompts.text import read_text, spec_from_reading

        reading = read_text(info.name, args.prompt, args.clamp_to_train_range)
        spec = spec_from_reading(reading, args.seed)
        notes = reading.note_lines()
        json_notes: dict = reading.notes()
    else:
        from PIL import Image

        from genenv.prompts.image import predict_image, spec_from_prediction

        Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS  # larger images raise DecompressionBombError
        pred = predict_image(info.name, args.image)
        spec = spec_from_prediction(info.name, pred, args.seed)
        notes = list(pred.notes)
        json_notes = {"image": list(pred.notes)}
        extra.append(f"task classifier P({info.name}) = {pred.task_probs[info.name]:.2f}")
    if args.json:
        print(json.dumps({"spec": spec.to_dict(), "notes": json_notes}, indent=2))
        for note in notes:
            print(f"genenv world: note: {note}", file=sys.stderr)
    else:
        print(_summary(spec, notes, extra))
    return 0


def _run_pixel_world(args: argparse.Namespace, task: str) -> int:
    """--image with --world: the pixel world reads the image as its first state."""
    from PIL import Image

    from genenv.models.checkpoint import load_checkpoint
    from genenv.models.latent import LatentWorldModel
    from genenv.prompts.image_latent import read_image_prompt

    if args.image is None:
        raise ValueError("--world reads an image prompt; give --image")
    model = load_checkpoint(args.world, expect_task=task)
    if not isinstance(model, LatentWorldModel):
        raise ValueError(f"{args.world} is a state world; --world takes a pixel (latent) world")
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    prompt = read_image_prompt(model, args.image)
    if args.json:
        print(json.dumps({**prompt.to_dict(), "world": str(args.world)}, indent=2))
    else:
        state = ", ".join(f"{v:.3f}" for v in prompt.state_estimate)
        print(f"pixel world {args.world} ({task}): the image is the dream's first state")
        print(f"  redraw error {prompt.score:.4f} (limit {prompt.limit:.4f})")
        print(f"  latent: {len(prompt.latent)} dims; probe's state estimate [{state}]")
        print(f"  record it: genenv record --task {task} --world {args.world} --image {args.image}")
    return 0
