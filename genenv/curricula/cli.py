"""Run a curriculum that spawns and replays worlds: PLR replay by rank and staleness, ACCEL
mutations of high-scoring worlds, scores from regret gated by world-model uncertainty. An SB3
agent trains in the dream, each env slot getting its world per episode; transfer tests run in
the matching real MuJoCo worlds. Writes RUN_DIR/{spec.yaml, tb/, curriculum.json, agent/,
state.json, summary.json}."""

from __future__ import annotations

import argparse
import json

from genenv import cli_args as ca


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--spec", type=ca.in_file, help="curriculum YAML (e.g. curricula/InvertedPendulum.yaml)"
    )
    parser.add_argument("--out", type=ca.out_dir, required=True, help="run folder")
    parser.add_argument(
        "--resume", action="store_true", help="continue the run in --out (reads its spec.yaml)"
    )
    parser.add_argument(
        "--sampler",
        choices=("curriculum", "uniform", "default"),
        default="curriculum",
        help="level sampler; 'uniform' (domain randomisation) and 'default' are baselines",
    )
    parser.add_argument("--world", type=ca.in_dir, help="world checkpoint (overrides the spec's)")
    parser.add_argument(
        "--steps", type=ca.positive_int, help="imagined steps (overrides the spec's budget)"
    )
    parser.add_argument("--seed", type=ca.seed, help="seed (overrides the spec's)")
    ca.add_common(parser)


def run(args: argparse.Namespace) -> int:
    from genenv.curricula.runner import run_curriculum
    from genenv.curricula.spec import load_spec

    spec_path = args.spec
    if spec_path is None:
        if not args.resume:
            raise ValueError("give --spec (or --resume with --out holding a run)")
        spec_path = args.out / "spec.yaml"
    if args.resume and any(x is not None for x in (args.world, args.steps, args.seed)):
        raise ValueError("--world/--steps/--seed change the spec; a resumed run keeps its own")
    spec = load_spec(spec_path)
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
    if not args.resume:
        ca.check_writable(args.out)
    summary = run_curriculum(spec, args.out, resume=args.resume, sampler=args.sampler)
    ev = summary["eval"]
    print(
        f"[done] {summary['imagined_steps']:,} imagined steps | held-out real return "
        f"mean {ev['mean_return']:.1f}, p10 {ev['p10_return']:.1f} | {args.out}/summary.json"
    )
    print(json.dumps({k: summary[k] for k in ("task", "sampler", "imagined_steps")}))
    return 0
