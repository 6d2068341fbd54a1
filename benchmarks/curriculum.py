"""World schedules of the one loop against each other, on held-out real worlds outside the
training ranges (issue 11's protocol).

Per task, one world model (collected over the task's training ranges with the first reported
seed, then trained once) is shared by every method and seed. Methods differ only in the world
schedule of the loop's dream (`genenv.curricula.schedule`), all at the same imagined budget and
all starting from the same seed worlds (the stock world + `random` uniform levels; no prompts):
  default          the stock world only (schedule fixed)
  uniform DR       a fresh context uniform over the ranges every episode
  PLR-perp         robust PLR, scored by positive value loss (regret), no mutation
  ACCEL            robust PLR + mutations, scored by positive value loss
  ACCEL + unc      ACCEL, score gated by world-model uncertainty: R * exp(-kappa * U)
  ACCEL + unc + prompts   (ablation) the same, with the spec's text prompts as extra seed worlds
Evaluation: each agent's deterministic policy in real MuJoCo, `--episodes` episodes on each
held-out world. Held-out worlds come from `genenv.curricula.heldout` (a seeded procedure, region
stated in the table), written to benchmarks/data/curriculum_heldout_TASK.yaml by `--draw` and
committed before any result; a run refuses to start without that file.
Per method: mean and 10th percentile of the pooled held-out returns of each seed; the table
gives their mean +- std over seeds and a bootstrap 95% CI (resampling seeds, 10,000 draws).

  python benchmarks/curriculum.py --draw --task InvertedPendulum     # fix the held-out worlds
  python benchmarks/curriculum.py --task InvertedPendulum --seeds 100 101 102   # resumable; a
  python benchmarks/curriculum.py --task InvertedPendulum --seeds 103 104       # 2nd core: merges
Runs are resumable and results merge across invocations (benchmarks/results/curriculum.json).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "curriculum"
DATA = ROOT / "benchmarks" / "data"
HELDOUT_SEED = {"InvertedPendulum": 11_001, "HalfCheetah": 11_002}  # fixed before any result
N_HELDOUT = 10
METHODS = {  # name -> (schedule, kappa or None = spec's, prompts)
    "default": ("fixed", 0.0, False),
    "uniform DR": ("uniform", 0.0, False),
    "PLR-perp": ("plr", 0.0, False),
    "ACCEL": ("accel", 0.0, False),
    "ACCEL + unc": ("accel", None, False),
    "ACCEL + unc + prompts": ("accel", None, True),
}
BUDGETS = {  # task -> imagined steps, transfer tests, real data steps, world-model epochs
    "InvertedPendulum": {"steps": 150_000, "iterations": 3, "data_steps": 4000, "epochs": 100},
    "HalfCheetah": {"steps": 200_000, "iterations": 2, "data_steps": 20_000, "epochs": 40},
}


def heldout_path(task: str) -> Path:
    return DATA / f"curriculum_heldout_{task}.yaml"


def draw(task: str) -> Path:
    from genenv.curricula.heldout import HeldOutRegion, draw_heldout_worlds

    region = HeldOutRegion()
    worlds = draw_heldout_worlds(task, N_HELDOUT, HELDOUT_SEED[task], region)
    path = heldout_path(task)
    if path.exists():
        raise FileExistsError(f"{path} exists: held-out worlds are never redrawn")
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(
        {
            "task": task,
            "procedure": f"genenv.curricula.heldout.draw_heldout_worlds({task!r}, {N_HELDOUT}, "
            f"seed={HELDOUT_SEED[task]})",
            "region": region.describe(),
            "worlds": [{"context": w.context.to_dict()} for w in worlds],
        },
        sort_keys=False,
    )
    path.write_text(
        "# Held-out worlds of benchmarks/curriculum.py, fixed before any result.\n" + text
    )
    return path


def _spec(task: str, args, method: str, world_dir: Path):
    from genenv.curricula.spec import load_spec

    schedule, kappa, prompts = METHODS[method]
    spec = load_spec(ROOT / "curricula" / f"{task}.yaml")
    budget = BUDGETS[task]
    spec.budget.imagined_steps = args.steps or budget["steps"]
    spec.budget.iterations = budget["iterations"]
    spec.world.data_steps, spec.world.train_epochs = budget["data_steps"], budget["epochs"]
    spec.world.checkpoint = str(world_dir)
    if not prompts:
        spec.seeds.prompts, spec.seeds.images = [], []
    if kappa is not None:
        spec.scoring.kappa = kappa
    held = yaml.safe_load(heldout_path(task).read_text())
    spec.eval.worlds, spec.eval.episodes = held["worlds"], args.episodes
    return spec, schedule


def world_model(task: str, args, out: Path) -> Path:
    """The task's shared world model (collected with the first reported seed), trained once."""
    from genenv.data import collect, context_sampler, count_steps, load_transitions
    from genenv.models.checkpoint import save_checkpoint
    from genenv.models.train import TrainConfig, train_world_model
    from genenv.worlds import WorldSpec

    world_dir, data_dir = out / task / "world", out / task / "data"
    if (world_dir / "metadata.json").is_file():
        return world_dir
    budget, seed = BUDGETS[task], args.seeds[0]
    have = count_steps(data_dir) if (data_dir / "metadata.json").is_file() else 0
    if have < budget["data_steps"]:
        sampler = context_sampler(WorldSpec(task))  # the task's training ranges
        collect(sampler, None, data_dir, seed=seed, until_total=budget["data_steps"])
    config = TrainConfig(max_epochs=budget["epochs"], seed=seed)
    model, report = train_world_model(load_transitions(data_dir), config, progress=True)
    save_checkpoint(model, world_dir, metadata={"report": report})
    return world_dir


def run_one(task: str, method: str, seed: int, args, world_dir: Path) -> dict:
    from genenv.curriculum_cli import loop_config
    from genenv.loop import read_config, run_loop

    out = args.out / task / method.replace(" ", "").replace("+", "-") / f"seed{seed}"
    if (out / "summary.json").is_file():
        summary = json.loads((out / "summary.json").read_text())
        if summary.get("done") and summary.get("eval"):
            return summary
    if (out / "config.yaml").is_file():
        return run_loop(out, read_config(out / "config.yaml"), resume=True)
    spec, schedule = _spec(task, args, method, world_dir)
    spec.seed = seed
    return run_loop(out, loop_config(spec, schedule, out), worlds=spec)


def bootstrap_ci(values: list[float], draws: int = 10_000, seed: int = 0) -> tuple[float, float]:
    """95% CI of the mean, resampling the per-seed values with replacement."""
    x = np.asarray(values, dtype=np.float64)
    if len(x) < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, len(x), size=(draws, len(x)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def _load() -> dict:
    """Rows of earlier invocations (a table of the old single-orchestrator script is not merged)."""
    path = RESULTS.with_suffix(".json")
    raw = json.loads(path.read_text()) if path.is_file() else {}
    return raw if "rows" in raw else {"rows": {}, "commands": []}


def _write(raw: dict) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.with_suffix(".json").write_text(json.dumps(raw, indent=1) + "\n")
    RESULTS.with_suffix(".md").write_text(table(raw))


def _merge(update) -> dict:
    """Apply `update(raw)` to the table on disk under a file lock, so that invocations running
    side by side (different seeds, one per core) each add their rows and lose none."""

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    lock_path = Path(tempfile.gettempdir()) / f"genenv-{RESULTS.name}.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        raw = _load()
        update(raw)
        _write(raw)
    return raw


def _fmt(values: list[float]) -> str:
    x = np.asarray(values, dtype=np.float64)
    return f"{x.mean():.1f} ± {x.std():.1f}" if len(x) > 1 else f"{x.mean():.1f}"


def _ci(values: list[float]) -> str:
    lo, hi = bootstrap_ci(values)
    return "n/a" if np.isnan(lo) else f"[{lo:.1f}, {hi:.1f}]"


def table(raw: dict) -> str:
    lines = [
        "# World schedules on held-out real worlds (curriculum benchmark)",
        "",
        f"Machine: {raw.get('machine')}. Code: {raw.get('code')}. Last written: {raw.get('date')}.",
        "Commands (each merges its runs into this table):",
        *[f"- `{c}`" for c in raw["commands"]],
        "",
        "Protocol: one world model per task (random real data over the training ranges, "
        "collected with the first reported seed), shared by every method and seed; every method "
        "the same imagined budget, the same seed worlds (stock world + random levels, no "
        "prompts; prompts only in the ablation row), the same recipe; evaluation in real MuJoCo "
        "with deterministic actions on held-out worlds fixed before any result. Per seed: mean "
        "and 10th percentile (p10) of the pooled held-out episode returns; table: mean ± std "
        "over seeds, and a bootstrap 95% CI of the mean over seeds (10,000 resamples of seeds). "
        "Reported seeds are 100 and up (0-9 tune).",
        "",
    ]
    for task, info in raw.get("tasks", {}).items():
        rows = {k: v for k, v in raw["rows"].items() if v["task"] == task}
        lines += [
            f"## {task}",
            "",
            f"Held-out worlds ({len(info['worlds'])}, {info['episodes']} episodes each; "
            f"`{info['file']}`): {info['region']}.",
            f"Budget per agent: {info['budget']}. World model: {info['world_model']}.",
            f"Cut to fit the 2-core CPU: {info.get('cut') or 'nothing'}.",
            "",
            "| method | seeds | imagined steps | held-out mean | mean 95% CI | held-out p10 | "
            "p10 95% CI | wall clock per agent (s) |",
            "|---|---|---|---|---|---|---|---|",
        ]
        by_method: dict[str, list[dict]] = {}
        for row in rows.values():
            by_method.setdefault(row["method"], []).append(row)
        for method in METHODS:
            rs = sorted(by_method.get(method, []), key=lambda r: r["seed"])
            if not rs:
                lines.append(f"| {method} | 0 | not run | | | | | |")
                continue
            means, p10s = [r["mean_return"] for r in rs], [r["p10_return"] for r in rs]
            lines.append(
                f"| {method} | {len(rs)} ({', '.join(str(r['seed']) for r in rs)}) | "
                f"{rs[0]['imagined_steps']:,} | {_fmt(means)} | {_ci(means)} | {_fmt(p10s)} | "
                f"{_ci(p10s)} | {_fmt([r['wall_clock_s'] for r in rs])} |"
            )
        lines += ["", *_goal(by_method), "", *_per_world(by_method, info), ""]
    return "\n".join(lines) + "\n"


def _goal(by_method: dict[str, list[dict]]) -> list[str]:
    def p10s(method: str) -> list[float]:  # in seed order, as the table resamples them
        return [r["p10_return"] for r in sorted(by_method.get(method, []), key=lambda r: r["seed"])]

    dr = p10s("uniform DR")
    out = []
    for method in ("PLR-perp", "ACCEL", "ACCEL + unc"):
        cur = p10s(method)
        if len(cur) < 2 or len(dr) < 2:
            out.append(f"- Goal ({method} beats uniform DR on held-out p10, CIs apart): not "
                       "measured (fewer than 2 seeds).")  # fmt: skip
            continue
        (clo, chi), (dlo, dhi) = bootstrap_ci(cur), bootstrap_ci(dr)
        met = clo > dhi
        out.append(
            f"- Goal ({method} beats uniform DR on held-out p10 with non-overlapping 95% CIs): "
            f"{'MET' if met else 'NOT MET'} ({method} [{clo:.1f}, {chi:.1f}] vs uniform DR "
            f"[{dlo:.1f}, {dhi:.1f}])."
        )
    return out


def _per_world(by_method: dict[str, list[dict]], info: dict) -> list[str]:
    names = []
    for w in info["worlds"]:
        ctx = w["context"]
        names.append(", ".join(f"{k} {v:g}" for k, v in ctx.items()))
    lines = ["Mean real return per held-out world (mean over seeds):", "",
             "| method | " + " | ".join(f"W{i + 1}" for i in range(len(names))) + " |",
             "|---|" + "---|" * len(names)]  # fmt: skip
    for method in METHODS:
        rs = by_method.get(method, [])
        if rs:
            per = np.mean([r["per_world"] for r in rs], axis=0)
            lines.append(f"| {method} | " + " | ".join(f"{v:.0f}" for v in per) + " |")
    lines += ["", *[f"W{i + 1}: {n}" for i, n in enumerate(names)]]
    return lines


def main(argv: list[str] | None = None) -> int:
    global RESULTS
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="InvertedPendulum", choices=sorted(BUDGETS))
    parser.add_argument("--draw", action="store_true", help="draw and write the held-out worlds")
    parser.add_argument("--seeds", type=int, nargs="+", default=[100, 101, 102, 103, 104])
    parser.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS))
    parser.add_argument("--steps", type=int, help="imagined steps per agent (default: BUDGETS)")
    parser.add_argument("--episodes", type=int, default=2, help="episodes per held-out world")
    parser.add_argument("--cut", default="", help="what was cut to fit, for the table")
    parser.add_argument("--out", type=Path, default=Path("/tmp/genenv-bench-curriculum"))
    parser.add_argument("--results", type=Path, help="table path without suffix (default: "
                        "benchmarks/results/curriculum)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.results is not None:
        RESULTS = args.results
    if args.draw:
        print(f"wrote {draw(args.task)}")
        return 0
    if not heldout_path(args.task).is_file():
        raise SystemExit(f"no {heldout_path(args.task)}: run --draw and commit it first")
    if any(s < 100 for s in args.seeds):
        raise SystemExit("reported seeds are 100 and up (0-9 are for tuning)")
    os.environ.setdefault("MUJOCO_GL", "egl")
    import torch

    torch.set_num_threads(1)
    from genenv.bench.measure import machine_line

    command = "python benchmarks/curriculum.py " + " ".join(argv or sys.argv[1:])
    code = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                          text=True).stdout.strip()  # fmt: skip
    machine = machine_line()
    t0 = time.time()
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / f"{args.task}.lock", "w") as lock:  # side-by-side runs build it once
        fcntl.flock(lock, fcntl.LOCK_EX)
        world_dir = world_model(args.task, args, args.out)
    held = yaml.safe_load(heldout_path(args.task).read_text())
    budget = BUDGETS[args.task]
    built_s = time.time() - t0

    def header(raw: dict) -> None:
        if command not in raw["commands"]:
            raw["commands"].append(command)
        raw.update(machine=machine, code=code)
        tasks = raw.setdefault("tasks", {})
        tasks[args.task] = task_info(tasks.get(args.task, {}))

    def task_info(old: dict) -> dict:
        return {
            "worlds": held["worlds"],
            "region": held["region"],
            "file": str(heldout_path(args.task).relative_to(ROOT)),
            "episodes": args.episodes,
            "budget": f"{args.steps or budget['steps']:,} imagined steps, "
            f"{budget['iterations']} transfer tests; recipe `ppo` with the spec's agent overrides",
            "world_model": old["world_model"]
            if built_s < 1 and old.get("world_model")
            else f"{budget['data_steps']:,} random real steps, <= {budget['epochs']} epochs "
            f"(built in {built_s:.0f} s)",
            "cut": args.cut or old.get("cut", ""),
        }

    _merge(header)
    for seed in args.seeds:
        for method in args.methods:
            print(f"[bench] {args.task} | {method} | seed {seed}", flush=True)
            summary = run_one(args.task, method, seed, args, world_dir)
            ev = summary["eval"]
            row = {
                "task": args.task,
                "method": method,
                "seed": seed,
                "imagined_steps": summary["imagined_env_steps"],
                "mean_return": ev["mean_return"],
                "p10_return": ev["p10_return"],
                "per_world": [w["mean"] for w in ev["worlds"]],
                "wall_clock_s": summary.get("wall_clock_s", float("nan")),
                "schedule": summary["schedule"].get("counts"),
            }

            def add(raw: dict, key=f"{args.task}|{method}|{seed}", row=row) -> None:
                header(raw)
                raw["rows"][key] = row
                raw["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())

            _merge(add)  # after every agent: partial results survive
    print(RESULTS.with_suffix(".md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
