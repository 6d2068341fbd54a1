"""Collect real MuJoCo transitions into a Minari dataset (arrow format) in the folder --out.

Runs exactly --steps env steps with random actions or a saved stable-baselines3 policy. An
existing dataset is appended to (its episodes are never rewritten); Ctrl-C keeps every completed
episode. Each episode's WorldSpec (task, physics context) is stored in its metadata.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from genenv import cli_args as ca
from genenv.worlds.cameras import PIXEL_SIZES
from genenv.worlds.tasks import TASKS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", required=True, help=f"task name: {', '.join(TASKS)}")
    parser.add_argument(
        "--steps",
        type=ca.positive_int,
        help="real env steps to collect (needed unless --until-total, or --resume of an "
        "existing collection)",
    )
    parser.add_argument(
        "--out", required=True, type=ca.out_dir, help="dataset folder (created or appended to)"
    )
    parser.add_argument(
        "--policy",
        default="random",
        help="'random' (uniform actions), 'random-holds' (uniform actions in stretches of 5-20 "
        "steps alternating with stretches of the zero action, so the data sees bodies come to "
        "rest) or a path to an SB3 .zip (loaded without unpickling anything; a zip that needs "
        "pickled code is refused)",
    )
    parser.add_argument(
        "--deterministic", action="store_true", help="use the SB3 policy's deterministic action"
    )
    parser.add_argument("--seed", type=ca.seed, default=0, help="seed of resets and random actions")
    ca.add_context(parser, "physics context, e.g. gravity=5 mass_scale=1.5")
    parser.add_argument(
        "--sample-contexts",
        action="store_true",
        help="draw each episode's context uniformly from the task's train ranges "
        "(fields given with --context stay fixed)",
    )
    parser.add_argument(
        "--chunk-steps",
        type=ca.positive_int,
        default=5000,
        help="commit completed episodes every this many steps",
    )
    parser.add_argument(
        "--pixels",
        action="store_true",
        help="also store rendered RGB frames (uint8, arrow) from the task's fixed camera",
    )
    parser.add_argument(
        "--size",
        type=ca.int_between(8, 1024),
        default=64,
        help="frame height and width with --pixels (pixels; a pixel world model reads "
        f"{', '.join(map(str, PIXEL_SIZES))})",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="finish the collection with this --seed up to the steps it asked for (a no-op when "
        "complete; without it, a --seed already used in the dataset is refused, never duplicated)",
    )
    parser.add_argument(
        "--until-total",
        type=ca.positive_int,
        metavar="N",
        help="collect until the dataset holds N steps, continuing this --seed's episode stream",
    )
    ca.add_common(parser)


def run(args: argparse.Namespace) -> int:
    from genenv.data import collect, collection_info, context_sampler, count_steps
    from genenv.worlds import Context, WorldSpec, get_task

    if args.steps is not None and args.until_total is not None:
        raise ValueError("give --steps or --until-total, not both")
    if args.steps is None and args.until_total is None and not args.resume:
        raise ValueError("give --steps N (or --until-total N, or --resume)")
    no_data = not (Path(args.out) / "metadata.json").is_file()
    if args.resume and args.steps is None and args.until_total is None and no_data:
        raise FileNotFoundError(f"--resume: {args.out} holds no dataset to resume (give --steps N)")
    fixed = dict(args.context)
    spec = WorldSpec(args.task, Context.from_dict(fixed), seed=args.seed)
    source = spec
    ca.check_writable(args.out)
    if args.sample_contexts:
        ranges = {k: v for k, v in get_task(args.task).train_ranges.items() if k not in fixed}
        source = context_sampler(spec, ranges)
    before = count_steps(args.out) if (Path(args.out) / "metadata.json").is_file() else 0
    collect(
        source,
        args.steps,
        args.out,
        policy=args.policy,
        seed=args.seed,
        progress=not args.no_progress,
        chunk_steps=args.chunk_steps,
        deterministic=args.deterministic,
        pixels=args.size if args.pixels else None,
        resume=args.resume,
        until_total=args.until_total,
    )
    info = collection_info(args.out)
    mine = [c for c in info["collections"] if c["seed"] == args.seed]
    added = info["total_steps"] - before
    status = f" (collection {mine[-1]['id']}, {mine[-1]['status']})" if mine else ""
    print(
        f"collected {added} steps{status}; {args.out} now holds {info['total_steps']} steps in "
        f"{info['total_episodes']} {info['task']} episodes"
    )
    return 0
