"""Which default for `--threads`? Dream stepping and PPO at 1 torch thread against torch's default
(one per core), on a quiet machine and next to one competing busy process (another torch job with
its own default threads, as when a researcher runs several seeds at once).

Usage:  python benchmarks/threads.py [--seconds S] [--ppo-steps N] [--repeats R]
Writes benchmarks/results/threads.json and .md; rows are merged across invocations (a killed run
keeps what it measured). Every point runs in a fresh process that sets its threads first.

Workloads (the two the issue timed):
- dream: `DreamVectorEnv` HalfCheetah x 1024 envs, random-init default-size ensemble (throughput
  does not depend on training), random actions, steps/s over S seconds after a warm-up;
- ppo:   SB3 PPO from agents/ppo.yaml (InvertedPendulum override) inside a random-init dream env,
  wall-clock for N imagined steps.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "threads"


def _dream(seconds: float) -> dict:
    import torch

    from genenv.envs.testing import random_world_model
    from genenv.envs.vector import DreamVectorEnv

    env = DreamVectorEnv("HalfCheetah", random_world_model("HalfCheetah"), 1024, device="cpu")
    env.reset_tensor(seed=0)
    gen = torch.Generator().manual_seed(0)
    act = lambda: torch.rand(1024, env.single_action_space.shape[0], generator=gen) * 2 - 1  # noqa: E731
    for _ in range(5):
        env.step_tensor(act())
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        env.step_tensor(act())
        steps += 1024
    return {"value": steps / (time.perf_counter() - start), "unit": "steps/s"}


def _ppo(steps: int) -> dict:
    from genenv.agents.recipe import load_recipe
    from genenv.agents.sb3 import build_agent
    from genenv.envs.testing import random_world_model
    from genenv.envs.vector import DreamVectorEnv

    recipe = load_recipe(ROOT / "agents" / "ppo.yaml", "InvertedPendulum")
    model = random_world_model("InvertedPendulum")
    env = DreamVectorEnv(
        "InvertedPendulum",
        model,
        recipe.n_envs,
        device="cpu",
        **recipe.env,
        autoreset_mode="same_step",
    )
    agent = build_agent(recipe, env, seed=100)
    start = time.perf_counter()
    agent.learn(steps, progress_bar=False)
    return {"value": time.perf_counter() - start, "unit": "s", "steps": int(agent.num_timesteps)}


def _busy(stop_file: str) -> None:
    """The competitor: torch matmuls at torch's default threads until `stop_file` appears."""
    import torch

    a = torch.randn(512, 512)
    while not os.path.exists(stop_file):
        for _ in range(20):
            a = torch.tanh(a @ a)


def _child(kind: str, threads: int, arg: float) -> dict:
    """Run one measurement in a fresh process with `threads` torch threads (0: torch default)."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    code = (
        "import json, sys, torch; sys.path.insert(0, 'benchmarks'); import threads as t; "
        f"n = {threads}; n and torch.set_num_threads(n); "
        f"r = t._{kind}({arg!r}); r['torch_threads'] = torch.get_num_threads(); print(json.dumps(r))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(kind: str, threads: int, busy: bool, arg: float) -> dict:
    stop = f"/tmp/genenv-threads-stop-{os.getpid()}"
    competitor = None
    if busy:
        env = {
            k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
        }
        code = (
            f"import sys; sys.path.insert(0, 'benchmarks'); import threads as t; t._busy({stop!r})"
        )
        competitor = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env)
        time.sleep(3)  # let it get going
    load = os.getloadavg()[0]
    try:
        row = _child(kind, threads, arg)
    finally:
        if competitor is not None:
            Path(stop).touch()
            competitor.wait(timeout=60)
            Path(stop).unlink(missing_ok=True)
    return row | {"load_1min": round(load, 2)}


def _table(res: dict) -> str:
    lines = [
        "# Torch threads: 1 against torch's default, alone and next to one busy process",
        "",
        f"Command: `{res['provenance']['command']}`  ",
        f"Machine: {res['machine']}  ",
        f"Date: {res['provenance']['date']}, git {res['provenance']['git']}  ",
        f"Cut: {res['cut']}",
        "",
        "Each point: a fresh process. 'none added' = only what else ran on the machine (its load "
        "average is the last column; this is a shared 2-core machine, never idle), 'one busy "
        "process' = plus one competing process doing torch matmuls at torch's default threads. dream = HalfCheetah x 1024 imagined envs (steps/s, higher is "
        "better); ppo = SB3 PPO (agents/ppo.yaml, InvertedPendulum) wall-clock for the imagined "
        "steps given (s, lower is better). Values: mean over repeats (min-max).",
        "",
        "| workload | competitor | threads | result | load (1 min) at start |",
        "|---|---|---:|---:|---:|",
    ]
    order = sorted(res["rows"].values(), key=lambda r: (r["kind"], r["busy"], r["threads"] != 1))
    for r in order:
        vals = r["values"]
        mean = sum(vals) / len(vals)
        spread = f" ({min(vals):,.1f}-{max(vals):,.1f})" if len(vals) > 1 else ""
        lines.append(
            f"| {r['kind']} | {'one busy process' if r['busy'] else 'none added'} | "
            f"{r['threads_label']} | "
            f"{mean:,.1f} {r['unit']}{spread} | {r['load']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="dream measurement length")
    parser.add_argument("--ppo-steps", type=int, default=16384, help="imagined PPO steps timed")
    parser.add_argument("--repeats", type=int, default=2, help="measurements per point")
    parser.add_argument("--kinds", nargs="+", default=["dream", "ppo"], help="workloads")
    parser.add_argument("--note", default="", help="appended to the table's 'Cut' line")
    parser.add_argument(
        "--table-only", action="store_true", help="rewrite the .md from the .json, measure nothing"
    )
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from genenv.bench.measure import machine_line, provenance

    path = OUT.with_suffix(".json")
    res = json.loads(path.read_text()) if path.exists() else {"rows": {}}
    if args.table_only:
        if args.note:
            res["cut"] = f"{res.get('cut', '')}. {args.note}".strip(". ")
            path.write_text(json.dumps(res, indent=2))
        OUT.with_suffix(".md").write_text(_table(res))
        return 0
    res |= {
        "machine": machine_line(),
        "provenance": provenance(),
        "cut": f"dream {args.seconds:g} s per point, PPO {args.ppo_steps} imagined steps, "
        f"{args.repeats} repeats (the issue's PPO figure was 20k steps). {args.note}".strip(),
    }
    default = os.cpu_count() or 1
    for kind in args.kinds:
        arg = args.seconds if kind == "dream" else args.ppo_steps
        for busy in (False, True):
            for threads in (1, 0):
                label = "1" if threads == 1 else f"torch default ({default})"
                key = f"{kind}|{'busy' if busy else 'quiet'}|{threads}"
                values, loads = [], []
                for _ in range(args.repeats):
                    row = measure(kind, threads, busy, arg)
                    values.append(row["value"])
                    loads.append(row["load_1min"])
                    print(f"{key}: {row}", flush=True)
                res["rows"][key] = {
                    "kind": kind,
                    "busy": busy,
                    "threads": threads,
                    "threads_label": label,
                    "values": values,
                    "unit": row["unit"],
                    "load": ", ".join(f"{x:.1f}" for x in loads),
                }
                OUT.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(res, indent=2))
                OUT.with_suffix(".md").write_text(_table(res))
    print(_table(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
