"""Real return at a real-step budget: genenv (MBPO-style agent trained in imagination, with learned
reward/termination heads or with the task's own functions) against stable-baselines3 SAC trained
on the real env directly, same evaluation, side by side.

For each task and seed, every method is evaluated every `steps_per_iteration` real training steps
on the same real env with the same protocol: 5 episodes, deterministic actions, episode seeds
10,000 + i for the i-th evaluation. Evaluation steps are counted apart and train nothing.
- genenv / genenv-known: `genenv run --recipe mbpo` (genenv-known adds
  `--known-reward-termination`); an evaluation is the loop's transfer test after each iteration.
- SAC: SB3 SAC with the rl-baselines3-zoo MuJoCo hyper-parameters (SB3 defaults, i.e. lr 3e-4,
  batch 256, buffer 1e6, tau 0.005, gamma 0.99, one update per step, [256, 256]; zoo's
  learning_starts 10,000 is cut to the random steps genenv starts with, so that both begin
  learning at the same point of a cut budget). IDP and Reacher have no zoo entry: SB3 defaults.

Reported: the final return at the budget (mean +- std over seeds), steps to the threshold where
there is one, the curve, wall-clock per run. Resumable: the table is rewritten after every run
from the JSON of all runs so far, merging invocations; a rerun of (task, method, seed) replaces it.

Usage:  python benchmarks/sample_efficiency.py --tasks Hopper --seeds 100 101 102 --budget 8000
Writes benchmarks/results/sample_efficiency.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from genenv.bench.measure import machine_line
from genenv.loop import LoopConfig, run_loop
from genenv.transfer import run_real_episodes
from genenv.worlds import WorldSpec, make_real_env

# task -> (threshold or None, issue-8 budget, genenv loop settings); eval every steps_per_iteration
TASKS = {
    "InvertedPendulum": (1000.0, 20_000, dict(initial_steps=1000, steps_per_iteration=1000)),
    "InvertedDoublePendulum": (
        9000.0,
        20_000,
        dict(initial_steps=2000, steps_per_iteration=1000),
    ),
    "Reacher": (-6.0, 20_000, dict(initial_steps=2000, steps_per_iteration=1000)),
    "HalfCheetah": (None, 100_000, dict(initial_steps=1000, steps_per_iteration=1000)),
    "Hopper": (None, 100_000, dict(initial_steps=1000, steps_per_iteration=1000)),
    "Walker2d": (None, 100_000, dict(initial_steps=2000, steps_per_iteration=1000)),
    "Ant": (None, 100_000, dict(initial_steps=2000, steps_per_iteration=1000)),
}
METHODS = {
    "genenv": "genenv MBPO, learned reward/termination heads",
    "genenv-known": "genenv MBPO, the task's own reward/termination (extra information)",
    "SAC": "SB3 SAC, rl-zoo MuJoCo settings (learning_starts = genenv's random steps)",
}
ISSUE_TASKS = ("HalfCheetah", "Hopper", "Walker2d", "Ant", "InvertedDoublePendulum", "Reacher")
EVAL_EPISODES = 5
RESULTS = Path(__file__).parent / "results"


class EvalCallback:
    """SB3 callback (built lazily): evaluates every `every` real steps like the loop's tests."""

    def __new__(cls, spec, every: int):
        from stable_baselines3.common.callbacks import BaseCallback

        class _Eval(BaseCallback):
            def __init__(self):
                super().__init__()
                self.curve: list[tuple[int, float]] = []

            def _on_step(self) -> bool:
                if self.num_timesteps % every == 0:
                    returns, _, _ = run_real_episodes(
                        self.model, spec, EVAL_EPISODES, seed=10_000 + len(self.curve)
                    )
                    self.curve.append((self.num_timesteps, float(np.mean(returns))))
                return True

        return _Eval()


def run_sac(task: str, seed: int, budget: int, settings: dict) -> dict:
    from stable_baselines3 import SAC

    spec = WorldSpec(task, seed=seed)
    model = SAC(
        "MlpPolicy",
        make_real_env(spec),
        seed=seed,
        verbose=0,
        device="cpu",
        learning_starts=settings["initial_steps"],
    )
    callback = EvalCallback(spec, settings["steps_per_iteration"])
    t0 = time.time()
    model.learn(budget, callback=callback)
    return {"curve": callback.curve, "seconds": time.time() - t0}


def run_genenv(task: str, seed: int, budget: int, settings: dict, known: bool) -> dict:
    out = Path(tempfile.mkdtemp(prefix=f"genenv-bench-{task}-{seed}-")) / "run"
    config = LoopConfig(
        task=task,
        real_steps=budget,
        recipe="mbpo",
        known_reward_termination=known,
        eval_every=10**12,  # one transfer test per iteration
        eval_episodes=EVAL_EPISODES,
        train_epochs=settings.get("train_epochs", 30),
        initial_steps=settings["initial_steps"],
        steps_per_iteration=settings["steps_per_iteration"],
        seed=seed,
        video=False,
    )
    t0 = time.time()
    summary = run_loop(out, config)
    return {
        "curve": [(r["real_env_steps"], r["real_return"]) for r in summary["transfer"]],
        "imagined_curve": [
            (r["real_env_steps"], r["imagined_return"]) for r in summary["transfer"]
        ],
        "seconds": time.time() - t0,
        "imagined_env_steps": summary["imagined_env_steps"],
        "run_dir": str(out),
    }


def _final(result: dict) -> float:
    return result["curve"][-1][1] if result["curve"] else float("nan")


def _reached(result: dict, threshold: float | None) -> int | None:
    if threshold is None:
        return None
    return next((s for s, r in result["curve"] if r >= threshold), None)


def _cell(runs: list[dict], threshold: float | None) -> str:
    if not runs:
        return "not run"
    finals = [_final(r) for r in runs]
    std = statistics.stdev(finals) if len(finals) > 1 else 0.0
    text = f"{statistics.mean(finals):,.0f} ± {std:,.0f} (n={len(finals)})"
    if threshold is not None:
        hits = [s for s in (_reached(r, threshold) for r in runs) if s is not None]
        text += f"; ≥{threshold:g} in {len(hits)}/{len(runs)}"
        if hits:
            text += f" (median {statistics.median(hits):,.0f} steps)"
    minutes = statistics.mean(r["seconds"] for r in runs) / 60
    return text + f"; {minutes:.1f} min/run"


def _curve_rows(task: str, cells: dict[str, list[dict]]) -> list[str]:
    steps = sorted({s for runs in cells.values() for r in runs for s, _ in r["curve"]})
    lines = [
        f"| {task}: real steps | " + " | ".join(METHODS) + " |",
        "|---|" + "---|" * len(METHODS),
    ]
    for s in steps:
        row = []
        for m in METHODS:
            vals = [dict(r["curve"]).get(s) for r in cells.get(m, [])]
            vals = [v for v in vals if v is not None]
            row.append(f"{statistics.mean(vals):,.0f}" if vals else "")
        lines.append(f"| {s:,} | " + " | ".join(row) + " |")
    return lines


def write_tables(raw: dict, machine: str) -> str:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "sample_efficiency.json").write_text(
        json.dumps({"machine": machine, "results": raw}, indent=2)
    )
    runs = [r for cells in raw.values() for rs in cells.values() for r in rs]
    commands = sorted({r["command"] for r in runs})
    versions = sorted({r.get("git", "?") for r in runs})
    dates = sorted({r.get("date", "?")[:10] for r in runs})
    lines = [
        "# Real return at a cut real-step budget (issue 8 protocol)",
        "",
        f"Machine: {machine}; 1 torch thread per run, on a shared, loaded machine (wall-clock is",
        "indicative only). Dates: " + ", ".join(dates) + "; code: " + ", ".join(versions) + ".",
        "Commands (each adds its runs; the table is rebuilt from all of them):",
        *[f"- `{c}`" for c in commands],
        "",
        "**Cut to fit the 2-core CPU:** the issue asks 100k real steps on HalfCheetah, Hopper,",
        "Walker2d and Ant and IDP/Reacher to threshold; budgets here are the `budget` column",
        "(the whole table had to fit ~1.5 core-hours of a shared machine). Not run: "
        + (", ".join(t for t in ISSUE_TASKS if t not in raw) or "none")
        + ".",
        "MBPO's update-to-data ratio 20 is cut to 2.5, its 400 imagined transitions per real step",
        "to 100, its 256-wide nets to 128 (agents/mbpo.yaml); world-model refits capped at 30",
        "epochs; genenv and SAC both start from 1,000 random steps. Seeds 100+ (never tuned on).",
        "",
        "Methods: " + "; ".join(f"**{k}**: {v}" for k, v in METHODS.items()) + ".",
        f"Evaluation for every method: every `steps_per_iteration` real steps, {EVAL_EPISODES}",
        "episodes, deterministic, on the stock real env. Cell: final real return at the budget,",
        "mean ± std over seeds (n), steps to threshold where there is one, mean wall-clock per run.",
        "",
        "| task | threshold | budget (real steps) | seeds | " + " | ".join(METHODS) + " |",
        "|---|---|---|---|" + "---|" * len(METHODS),
    ]
    for task, cells in raw.items():
        threshold = TASKS[task][0]
        thr = "-" if threshold is None else f"{threshold:g}"
        for budget in sorted({r["budget"] for rs in cells.values() for r in rs}):
            at = {m: [r for r in rs if r["budget"] == budget] for m, rs in cells.items()}
            seeds = sorted({r["seed"] for rs in at.values() for r in rs})
            row = " | ".join(_cell(at.get(m, []), threshold) for m in METHODS)
            lines.append(f"| {task} | {thr} | {budget:,} | {', '.join(map(str, seeds))} | {row} |")
    lines += ["", "## Curves (mean real return over the seeds run, by real training steps)", ""]
    for task, cells in raw.items():
        lines += [*_curve_rows(task, cells), ""]
    text = "\n".join(lines)
    (RESULTS / "sample_efficiency.md").write_text(text)
    return text


def _git() -> str:
    if os.environ.get("GENENV_GIT_HASH"):  # runs from an exported snapshot of a commit
        return os.environ["GENENV_GIT_HASH"]
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        )
        return out.stdout.strip() or "?"
    except OSError:
        return "?"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", nargs="*", default=["Hopper"], choices=list(TASKS))
    parser.add_argument("--seeds", nargs="*", type=int, default=[100, 101, 102])
    parser.add_argument("--methods", nargs="*", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--budget", type=int, default=None, help="override every task's budget")
    parser.add_argument(
        "--fresh", action="store_true", help="start a new table instead of adding to the saved one"
    )
    parser.add_argument(
        "--rewrite", action="store_true", help="only rebuild the .md from the saved .json"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    saved = RESULTS / "sample_efficiency.json"
    if args.rewrite:
        data = json.loads(saved.read_text())
        print(write_tables(data["results"], data["machine"]))
        return 0
    if args.fresh:
        saved.unlink(missing_ok=True)
    machine = machine_line()
    command = "python benchmarks/sample_efficiency.py " + " ".join(sys.argv[1:])
    for task in args.tasks:
        threshold, budget, settings = TASKS[task]
        budget = args.budget or budget
        for seed in args.seeds:  # every method per seed first: a cut-off run stays balanced
            for method in args.methods:
                print(f"== {task} {method} seed {seed} (budget {budget:,})", flush=True)
                if method == "SAC":
                    result = run_sac(task, seed, budget, settings)
                else:
                    result = run_genenv(task, seed, budget, settings, method == "genenv-known")
                result.update(
                    seed=seed,
                    budget=budget,
                    command=command,
                    git=_git(),
                    date=datetime.now(timezone.utc).isoformat(timespec="minutes"),
                )
                raw = json.loads(saved.read_text())["results"] if saved.is_file() else {}
                runs = raw.setdefault(task, {}).setdefault(method, [])
                runs[:] = [r for r in runs if (r["seed"], r["budget"]) != (seed, budget)] + [result]
                print(write_tables(raw, machine), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
