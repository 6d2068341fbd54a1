"""Real training steps to a return threshold: genenv (agent trained in imagination) against
stable-baselines3 PPO and SAC trained on the real env directly, side by side in one run.

For each task and seed:
- genenv: `genenv run` with `target_return` = threshold and the task's real-step budget; its steps
  are the run's training real steps at the first transfer test whose real return reaches the
  threshold (evaluation steps are counted apart and not included, as for the baselines).
- SB3 PPO / SAC: trained on the real env; every `eval_freq` real steps the deterministic policy is
  evaluated for `eval_episodes` episodes (evaluation steps not counted); steps to threshold is the
  first evaluation that reaches it. HalfCheetah has no threshold: best return within the budget.

Usage:  python benchmarks/sample_efficiency.py --tasks InvertedPendulum --seeds 0 1 2
Writes benchmarks/results/sample_efficiency.json and .md (machine named in the table).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from stable_baselines3 import PPO, SAC
from stable_baselines3.common.callbacks import BaseCallback

from genenv.bench.measure import machine_line
from genenv.loop import LoopConfig, run_loop
from genenv.transfer import run_real_episodes
from genenv.worlds import WorldSpec, make_real_env

# task -> (threshold or None for "best within budget", real-step budget for each method,
#          genenv loop settings)
TASKS = {
    "InvertedPendulum": (1000.0, 50_000, {"initial_steps": 1000, "steps_per_iteration": 1000}),
    "InvertedDoublePendulum": (
        9000.0,
        100_000,
        {"initial_steps": 2000, "steps_per_iteration": 2000},
    ),
    "Reacher": (-6.0, 100_000, {"initial_steps": 2000, "steps_per_iteration": 2000}),
    "HalfCheetah": (None, 100_000, {"initial_steps": 10_000, "steps_per_iteration": 5000}),
}
RESULTS = Path(__file__).parent / "results"


class ThresholdCallback(BaseCallback):
    """Evaluates on a separate real env every `eval_freq` steps; stops at the threshold."""

    def __init__(self, spec, threshold, eval_freq, eval_episodes, seed):
        super().__init__()
        self.spec, self.threshold, self.eval_freq = spec, threshold, eval_freq
        self.eval_episodes, self.seed = eval_episodes, seed
        self.curve: list[tuple[int, float]] = []

    def _on_step(self) -> bool:
        if self.num_timesteps % self.eval_freq:
            return True
        returns, _, _ = run_real_episodes(self.model, self.spec, self.eval_episodes, seed=self.seed)
        self.curve.append((self.num_timesteps, float(np.mean(returns))))
        return self.threshold is None or self.curve[-1][1] < self.threshold


def run_sb3(algo: str, task: str, seed: int, threshold, budget: int, eval_freq: int) -> dict:
    spec = WorldSpec(task, seed=seed)
    cls = {"PPO": PPO, "SAC": SAC}[algo]
    model = cls("MlpPolicy", make_real_env(spec), seed=seed, verbose=0, device="cpu")
    cb = ThresholdCallback(spec, threshold, eval_freq, 5, seed=10_000 + seed)
    t0 = time.time()
    model.learn(budget, callback=cb)
    return _result(cb.curve, threshold, time.time() - t0)


def run_genenv(task: str, seed: int, threshold, budget: int, loop_kwargs: dict) -> dict:
    out = Path(tempfile.mkdtemp(prefix=f"genenv-bench-{task}-{seed}-"))
    config = LoopConfig(
        task=task,
        real_steps=budget,
        target_return=threshold,
        seed=seed,
        video=False,
        **loop_kwargs,
    )
    t0 = time.time()
    summary = run_loop(out, config)
    curve = [(row["real_env_steps"], row["real_return"]) for row in summary["transfer"]]
    result = _result(curve, threshold, time.time() - t0)
    result["imagined_env_steps"] = summary["imagined_env_steps"]
    return result


def _result(curve, threshold, seconds) -> dict:
    reached = next((s for s, r in curve if threshold is not None and r >= threshold), None)
    best = max((r for _, r in curve), default=float("nan"))
    return {"steps_to_threshold": reached, "best_return": best, "curve": curve, "seconds": seconds}


def _fmt(results: list[dict], threshold) -> str:
    if not results:
        return "not run"
    budget = "/".join(f"{b:,}" for b in sorted({r["budget"] for r in results}))
    if threshold is None:
        best = [r["best_return"] for r in results]
        return f"best {statistics.median(best):.0f} in {budget} (median of {len(best)})"
    steps = [r["steps_to_threshold"] for r in results if r["steps_to_threshold"] is not None]
    if not steps:
        best = max(r["best_return"] for r in results)
        return f"not reached in {budget} (0/{len(results)}; best {best:.1f})"
    return f"{statistics.median(steps):,.0f} ({len(steps)}/{len(results)} reached)"


def _ratio(cells: dict[str, list[dict]], threshold) -> str:
    """Best SB3 baseline's median steps (or best return) over genenv's, as 'N.Nx'."""
    ours = cells.get("genenv") or []
    peers = [cells[m] for m in ("PPO", "SAC") if cells.get(m)]
    if not ours or not peers:
        return "-"
    if threshold is None:  # HalfCheetah: return within the budget, higher is better
        best_peer = max(statistics.median(r["best_return"] for r in p) for p in peers)
        mine = statistics.median(r["best_return"] for r in ours)
        return f"{mine / best_peer:.2f}x the return" if best_peer > 0 else "-"

    def median_steps(rs):  # a seed that never reached the threshold counts as the budget
        return statistics.median(r["steps_to_threshold"] or r["budget"] for r in rs)

    if all(r["steps_to_threshold"] is None for r in ours):
        return "genenv did not reach it"
    best_peer = min(median_steps(p) for p in peers)
    return f"{best_peer / median_steps(ours):.1f}x fewer"  # budgets for misses: conservative


def write_tables(raw: dict, machine: str) -> str:
    """benchmarks/results/sample_efficiency.{json,md} from every result measured so far."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "sample_efficiency.json").write_text(
        json.dumps({"machine": machine, "results": raw}, indent=2)
    )
    methods = ["genenv", "PPO", "SAC"]
    lines = [
        "# Real training steps to a return threshold",
        "",
        f"Machine: {machine}. Commands (each adds its runs to the table):",
        *sorted({f"- `{r['command']}`" for c in raw.values() for rs in c.values() for r in rs}),
        "",
        "Cells: median real training steps to the threshold over the seeds run (a seed that never",
        "reaches it counts as the budget in the ratio); HalfCheetah: best real return in the budget.",
        "Evaluation steps are not counted for any method.",
        "",
        "| task | threshold | budget | seeds | " + " | ".join(methods) + " | genenv vs best SB3 |",
        "|---|---|---|---|" + "---|" * len(methods) + "---|",
    ]
    for task, cells in raw.items():
        threshold, budget, _ = TASKS[task]
        budgets = {r["budget"] for rs in cells.values() for r in rs} or {budget}
        seeds = sorted({r["seed"] for rs in cells.values() for r in rs})
        thr = "best in budget" if threshold is None else f"{threshold:g}"
        row = " | ".join(_fmt(cells.get(m, []), threshold) for m in methods)
        lines.append(
            f"| {task} | {thr} | {', '.join(f'{b:,}' for b in sorted(budgets))} | "
            f"{', '.join(map(str, seeds))} | {row} | {_ratio(cells, threshold)} |"
        )
    text = "\n".join(lines) + "\n"
    (RESULTS / "sample_efficiency.md").write_text(text)
    return text


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", nargs="*", default=["InvertedPendulum"], choices=list(TASKS))
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    parser.add_argument(
        "--methods", nargs="*", default=["genenv", "PPO", "SAC"], choices=["genenv", "PPO", "SAC"]
    )
    parser.add_argument("--budget", type=int, default=None, help="override every task's budget")
    parser.add_argument("--eval-freq", type=int, default=1000, help="baseline evaluation period")
    parser.add_argument(
        "--fresh", action="store_true", help="start a new table instead of adding to the saved one"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    saved = RESULTS / "sample_efficiency.json"
    if args.fresh:
        saved.unlink(missing_ok=True)
    machine = machine_line()
    command = "python benchmarks/sample_efficiency.py " + " ".join(sys.argv[1:])
    for task in args.tasks:
        threshold, budget, loop_kwargs = TASKS[task]
        budget = args.budget or budget
        for method in args.methods:
            for seed in args.seeds:
                print(f"== {task} {method} seed {seed} (budget {budget:,})", flush=True)
                if method == "genenv":
                    result = run_genenv(task, seed, threshold, budget, loop_kwargs)
                else:
                    result = run_sb3(method, task, seed, threshold, budget, args.eval_freq)
                result.update(seed=seed, budget=budget, command=command)
                # Re-read before adding: several invocations may fill one table side by side.
                raw = json.loads(saved.read_text())["results"] if saved.is_file() else {}
                runs = raw.setdefault(task, {}).setdefault(method, [])
                runs[:] = [r for r in runs if r["seed"] != seed] + [result]  # rerun replaces
                print(write_tables(raw, machine), flush=True)  # after every run: nothing is lost
    return 0


if __name__ == "__main__":
    sys.exit(main())
