"""Does on-device PPO learn as well as stable-baselines3 PPO? Side by side in one run.

For each task: collect random real steps, train one world model, then for each seed train SB3 PPO
(through the SB3 VecEnv adapter) and `OnDevicePPO` from the very same recipe on the very same
dream env settings and imagined budget, and test both in the real MuJoCo world (deterministic
policy, `--episodes` episodes). Reports real return (mean over seeds, and each seed) and the
wall-clock of each agent's training.

Usage:  python benchmarks/ppo_learning.py --tasks InvertedPendulum HalfCheetah --seeds 0 1 2
Writes benchmarks/results/ppo_learning.json and .md (the machine is named in the table).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from genenv.agents.recipe import load_recipe
from genenv.agents.sb3 import build_agent
from genenv.bench.measure import machine_line
from genenv.data import collect, load_transitions
from genenv.envs.vector import DreamVectorEnv
from genenv.models.train import TrainConfig, train_world_model
from genenv.transfer import run_real_episodes
from genenv.worlds import WorldSpec

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
# task -> (random real steps for the world model, imagined steps per agent)
TASKS = {"InvertedPendulum": (2000, 150_000), "HalfCheetah": (10_000, 400_000)}
AGENTS = {"SB3 PPO": "PPO", "on-device PPO": "OnDevicePPO"}


def train_and_test(task, model, recipe, algo, seed, steps, episodes) -> dict:
    recipe = dataclasses.replace(recipe, algo=algo)
    env = DreamVectorEnv(task, model, recipe.n_envs, specs=WorldSpec(task), **recipe.env)
    agent = build_agent(recipe, env, seed=seed)
    start = time.perf_counter()
    agent.learn(steps)
    seconds = time.perf_counter() - start
    returns, _, _ = run_real_episodes(agent, WorldSpec(task, seed=seed), episodes, seed=1000 + seed)
    env.close()
    return {"seed": seed, "real_return": float(np.mean(returns)), "train_s": round(seconds, 1)}


def to_markdown(res: dict) -> str:
    lines = [
        "# On-device PPO against SB3 PPO: learning in imagination, tested in real MuJoCo",
        "",
        f"Machine: {res['machine']}. Command: `{res['command']}`.",
        "Both agents: the same recipe (`agents/ppo.yaml`), world model, dream env settings and",
        "imagined budget. Real return: deterministic policy, mean over episodes; then mean ± std",
        "over seeds.",
        "",
        "| task | real data | imagined steps | agent | real return | per seed | train wall-clock (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for task, r in res["tasks"].items():
        for name, runs in r["agents"].items():
            rets = [x["real_return"] for x in runs]
            spread = statistics.stdev(rets) if len(rets) > 1 else 0.0
            secs = statistics.mean(x["train_s"] for x in runs)
            lines.append(
                f"| {task} | {r['real_steps']:,} | {r['imagined_steps']:,} | {name} | "
                f"{statistics.mean(rets):.1f} ± {spread:.1f} | "
                f"{', '.join(f'{x:.0f}' for x in rets)} | {secs:.0f} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--episodes", type=int, default=5, help="real test episodes per agent")
    parser.add_argument("--imagined-steps", type=int, help="override each task's imagined budget")
    parser.add_argument("--recipe", default=str(ROOT / "agents" / "ppo.yaml"))
    parser.add_argument("--out", default=str(RESULTS / "ppo_learning"), help="output path stem")
    args = parser.parse_args(argv)
    os.environ.setdefault("MUJOCO_GL", "egl")
    torch.set_num_threads(1)
    machine = machine_line()
    res = {"machine": machine, "command": " ".join(["python", *sys.argv]), "tasks": {}}
    for task in args.tasks:
        real_steps, steps = TASKS[task]
        steps = args.imagined_steps or steps
        data_dir = Path(tempfile.mkdtemp(prefix=f"ppo-learning-{task}-"))
        data = load_transitions(collect(task, real_steps, data_dir, seed=0, progress=True))
        model, _ = train_world_model(data, TrainConfig(seed=0), progress=True)
        recipe = load_recipe(args.recipe, task)
        row = {"real_steps": real_steps, "imagined_steps": steps, "agents": {}}
        res["tasks"][task] = row
        for seed in args.seeds:
            for name, algo in AGENTS.items():
                print(f"== {task} {name} seed {seed}", flush=True)
                run = train_and_test(task, model, recipe, algo, seed, steps, args.episodes)
                print(f"   real return {run['real_return']:.1f} in {run['train_s']} s", flush=True)
                row["agents"].setdefault(name, []).append(run)
                Path(args.out + ".json").write_text(json.dumps(res, indent=2))
                Path(args.out + ".md").write_text(to_markdown(res))
    print(to_markdown(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
