"""Curriculum vs domain randomisation vs the default world, at the same imagined budget.

One world model (trained once over the task's ranges, or given with --world) is shared by three
SB3 agents that differ only in which world each dream env slot plays per episode:
  curriculum  PLR replay + ACCEL mutations, scored by regret gated by model uncertainty (the spec)
  uniform     domain randomisation: a fresh context uniform over the ranges every episode
  default     the stock world only
Each is then evaluated in real MuJoCo on the spec's held-out worlds (deterministic actions):
mean and 10th percentile over all held-out episode returns, per seed, then averaged over seeds.

Usage (small default budget, runs on 2 CPU cores):
  python benchmarks/curriculum.py                       # InvertedPendulum, 1 seed
  python benchmarks/curriculum.py --task HalfCheetah --steps 400000 --seeds 2
Writes benchmarks/results/curriculum.json and .md (the machine is named in the table).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="InvertedPendulum")
    parser.add_argument("--spec", type=Path, help="curriculum YAML (default curricula/TASK.yaml)")
    parser.add_argument("--steps", type=int, default=60_000, help="imagined steps per agent")
    parser.add_argument("--iterations", type=int, default=2, help="transfer tests per agent")
    parser.add_argument("--seeds", type=int, default=1, help="agent seeds per sampler")
    parser.add_argument("--world", type=Path, help="world checkpoint (default: train one)")
    parser.add_argument("--data-steps", type=int, help="override world.data_steps")
    parser.add_argument("--epochs", type=int, help="override world.train_epochs")
    parser.add_argument(
        "--scoring",
        nargs="+",
        choices=("pvl", "maxmc", "learning_progress"),
        help="one curriculum agent per scoring kind (default: the spec's)",
    )
    parser.add_argument("--kappa", type=float, help="override scoring.kappa")
    parser.add_argument("--no-prompts", action="store_true", help="drop text/image seed prompts")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-curriculum"))
    parser.add_argument("--results", type=Path, default=RESULTS / "curriculum")
    args = parser.parse_args(argv)
    os.environ.setdefault("MUJOCO_GL", "egl")
    import torch

    torch.set_num_threads(1)
    from genenv.curricula.runner import prepare_world, run_curriculum
    from genenv.curricula.spec import load_spec

    spec = load_spec(args.spec or ROOT / "curricula" / f"{args.task}.yaml")
    spec.budget.imagined_steps, spec.budget.iterations = args.steps, args.iterations
    if args.data_steps:
        spec.world.data_steps = args.data_steps
    if args.epochs:
        spec.world.train_epochs = args.epochs
    if args.no_prompts:
        spec.seeds.prompts, spec.seeds.images = [], []
    if args.world:
        spec.world.checkpoint = str(args.world.resolve())
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    model = prepare_world(spec, args.out)  # shared by all agents
    world_s = time.time() - t0
    if args.kappa is not None:
        spec.scoring.kappa = args.kappa
    kinds = args.scoring or [spec.scoring.kind]
    agents = [(f"curriculum ({k})", "curriculum", k) for k in kinds]
    agents += [("uniform", "uniform", None), ("default", "default", None)]
    raw: dict[str, list[dict]] = {name: [] for name, _, _ in agents}
    for seed in range(args.seeds):
        for name, sampler, kind in agents:
            spec.seed = seed
            if kind is not None:
                spec.scoring.kind = kind
            run_dir = args.out / f"{name.replace(' ', '').replace('(', '-').strip(')')}-seed{seed}"
            if (run_dir / "state.json").exists():
                raise ValueError(f"{run_dir} exists; remove it or pass another --out")
            print(f"[bench] {name} seed {seed}", flush=True)
            summary = run_curriculum(spec, run_dir, sampler=sampler, model=model)
            raw[name].append(
                {
                    "seed": seed,
                    "imagined_steps": summary["imagined_steps"],
                    "mean_return": summary["eval"]["mean_return"],
                    "p10_return": summary["eval"]["p10_return"],
                    "per_world": [w["mean"] for w in summary["eval"]["worlds"]],
                    "wall_clock_s": summary["wall_clock_s"],
                }
            )
            _write(args, argv, spec, world_s, raw)  # after every agent: partial results survive
    print(args.results.with_suffix(".md").read_text())
    return 0


def _write(args, argv, spec, world_s: float, raw: dict[str, list[dict]]) -> None:
    from genenv.bench.measure import machine_line

    machine = machine_line(spec.agent.device)
    command = "python benchmarks/curriculum.py " + " ".join(argv or sys.argv[1:])
    worlds = [w.to_dict()["context"] for w in spec.eval_specs()]
    payload = {
        "machine": machine,
        "command": command,
        "task": spec.task,
        "world_model_s": round(world_s, 1),
        "held_out_worlds": worlds,
        "eval_episodes_per_world": spec.eval.episodes,
        "results": raw,
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.with_suffix(".json").write_text(json.dumps(payload, indent=2))
    args.results.with_suffix(".md").write_text(_table(payload, spec))


def _fmt(values: list[float]) -> str:
    arr = np.asarray(values, dtype=np.float64)
    return f"{arr.mean():.1f}" if len(arr) == 1 else f"{arr.mean():.1f} ± {arr.std():.1f}"


def _table(payload: dict, spec) -> str:
    defaults = {"gravity": 9.81}
    names = []
    for ctx in payload["held_out_worlds"]:
        diff = {k: v for k, v in ctx.items() if v != defaults.get(k, 1.0)}
        names.append(", ".join(f"{k}={v:g}" for k, v in diff.items()) or "default")
    lines = [
        f"# Curriculum vs domain randomisation vs default world: {payload['task']}",
        "",
        f"Machine: {payload['machine']}.  ",
        f"Command: `{payload['command']}`.  ",
        f"One world model for all agents (trained in {payload['world_model_s']} s). Agent: "
        f"recipe `{spec.agent.recipe}`, {spec.recipe().n_envs} dream envs, horizon "
        f"{spec.recipe().env.get('max_episode_steps')}. Curriculum scoring combine "
        f"{spec.scoring.combine}, kappa {spec.scoring.kappa}; PLR temperature "
        f"{spec.plr.temperature}, staleness {spec.plr.staleness_coef}, replay prob "
        f"{spec.plr.replay_prob}, capacity {spec.plr.capacity}.  ",
        f"Held-out real worlds ({payload['eval_episodes_per_world']} episodes each): "
        + "; ".join(f"W{i + 1}: {n}" for i, n in enumerate(names))
        + ".",
        "",
        "| agent | seeds | imagined steps | held-out mean return | held-out p10 return | "
        + " | ".join(f"W{i + 1}" for i in range(len(names)))
        + " | wall clock (s) |",
        "|---|---|---|---|---|" + "---|" * len(names) + "---|",
    ]
    for sampler, rows in payload["results"].items():
        if not rows:
            continue
        per_world = np.mean([r["per_world"] for r in rows], axis=0)
        lines.append(
            f"| {sampler} | {len(rows)} | {rows[0]['imagined_steps']:,} | "
            f"{_fmt([r['mean_return'] for r in rows])} | {_fmt([r['p10_return'] for r in rows])} | "
            + " | ".join(f"{v:.1f}" for v in per_world)
            + f" | {_fmt([r['wall_clock_s'] for r in rows])} |"
        )
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
