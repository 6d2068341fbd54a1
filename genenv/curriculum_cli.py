"""Run a curriculum: the one loop (`genenv.loop`) with a curriculum spec's world schedule and
budget. PLR replay by rank and staleness, ACCEL mutations of high-scoring worlds, scores from
regret gated by world-model uncertainty; an SB3 agent trains in the dream, each env slot getting
its world per episode; transfer tests run in the matching real MuJoCo worlds and the run ends
with a real evaluation on the spec's held-out worlds. The same run as
`genenv run --worlds SPEC --schedule KIND` with the spec's budget. Writes RUN_DIR/{config.yaml,
worlds.yaml, data/, world/, tb/, schedule.json, agent/, state.json, summary.json}."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from genenv import cli_args as ca


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--spec", type=ca.in_file, help="curriculum YAML (e.g. curricula/InvertedPendulum.yaml)"
    )
    parser.add_argument("--out", type=ca.out_dir, required=True, help="run folder")
    parser.add_argument(
        "--resume", action="store_true", help="continue the run in --out (reads its own spec)"
    )
    parser.add_argument(
        "--schedule",
        choices=("fixed", "uniform", "plr", "accel"),
        default="accel",
        help="world schedule: accel (PLR + mutations), plr (robust PLR, no mutation), uniform "
        "(domain randomisation), fixed (the stock world)",
    )
    parser.add_argument("--world", type=ca.in_dir, help="world checkpoint (overrides the spec's)")
    parser.add_argument(
        "--steps", type=ca.positive_int, help="imagined steps (overrides the spec's budget)"
    )
    parser.add_argument("--seed", type=ca.seed, help="seed (overrides the spec's)")
    ca.add_common(parser)


def loop_config(spec, schedule: str, out, video: bool = False):
    """The `LoopConfig` of a curriculum spec: its budget, world and seed, no agent collection."""
    from genenv.loop import LoopConfig

    budget, world = spec.budget, spec.world
    return LoopConfig(
        task=spec.task,
        real_steps=world.data_steps,
        initial_steps=world.data_steps,
        recipe=spec.agent.recipe,
        imagined_steps=budget.imagined_steps,
        eval_every=max(1, budget.imagined_steps // budget.iterations),
        eval_episodes=max(1, budget.transfer_episodes),
        train_epochs=world.train_epochs,
        device=spec.agent.device,
        seed=spec.seed,
        video=video,
        schedule=schedule,
        worlds=str(Path(out) / "worlds.yaml"),
        world_checkpoint=world.checkpoint,
    )


def run(args: argparse.Namespace) -> int:
    from genenv.curricula.spec import load_spec
    from genenv.loop import read_config, run_loop

    if args.resume:
        if args.spec is not None or any(x is not None for x in (args.world, args.steps, args.seed)):
            raise ValueError("--spec/--world/--steps/--seed change the run; --resume keeps its own")
        if not (args.out / "config.yaml").is_file():
            raise FileNotFoundError(f"{args.out} is not a run folder (no config.yaml)")
        summary = run_loop(args.out, read_config(args.out / "config.yaml"), resume=True)
    else:
        if args.spec is None:
            raise ValueError("give --spec (or --resume with --out holding a run)")
        spec = load_spec(args.spec)
        if args.world is not None:
            from genenv.models.checkpoint import read_checkpoint_metadata

            read_checkpoint_metadata(args.world)  # a clear error before the run folder is made
            spec.world.checkpoint = str(args.world.resolve())
        if args.steps is not None:
            if args.steps < spec.budget.iterations:
                raise ValueError(f"--steps must be >= budget.iterations ({spec.budget.iterations})")
            spec.budget.imagined_steps = args.steps
        if args.seed is not None:
            spec.seed = args.seed
        ca.check_writable(args.out)
        summary = run_loop(args.out, loop_config(spec, args.schedule, args.out), worlds=spec)
    ev = summary["eval"] or {"mean_return": float("nan"), "p10_return": float("nan")}
    print(
        f"[done] {summary['imagined_env_steps']:,} imagined steps | held-out real return "
        f"mean {ev['mean_return']:.1f}, p10 {ev['p10_return']:.1f} | {args.out}/summary.json"
    )
    print(json.dumps({k: summary[k] for k in ("task", "imagined_env_steps")}))
    return 0
