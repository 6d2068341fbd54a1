"""Policy ranking: does the dream order policies as the real world does?

Per task:
1. World: `--data-steps` random-action real steps in the default world (collect seed 100), one
   world model trained with the default `TrainConfig`/`EnsembleConfig` (the same as `genenv
   train-world`).
2. Population: PPO runs with the repo's recipe (agents/ppo.yaml, the task's overrides) trained
   entirely in that world's dream, seeds 100, 101, 102 (never tuning seeds), each saving
   checkpoints at the imagined steps of `CHECKPOINTS[task]` (0 = the untrained initial network),
   plus the uniform random policy: 3 x 7 + 1 = 22 policies (HalfCheetah: 3 x 8 + 1 = 25).
3. Each policy: `--episodes` real episodes (start seeds 1000..) and, from the very same start
   observations, DREAM_SAMPLES imagined episodes each (averaged per start), the task's full
   horizon, deterministic actions (`genenv.transfer.transfer_test`, what `genenv rank` runs).
4. Spearman (average ranks for ties) and Pearson of mean dream return vs mean real return over the
   population. Goal: Spearman >= 0.9 on every task.

Resumable: data, world, checkpoints and each policy's evaluation are kept in --workdir and reused;
the table merges tasks across invocations (a task's row is replaced when it is rerun).

Usage:  python benchmarks/policy_ranking.py --workdir /tmp/genenv_rank --tasks InvertedPendulum
Writes benchmarks/results/policy_ranking.json and .md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from genenv.agents.recipe import load_recipe
from genenv.agents.sb3 import RandomPolicy, build_agent, load_policy, save_agent, set_agent_env
from genenv.bench.measure import machine_line, provenance
from genenv.data import collect, load_transitions
from genenv.envs.vector import DreamVectorEnv
from genenv.models.checkpoint import load_checkpoint, read_checkpoint_metadata, save_checkpoint
from genenv.models.train import TrainConfig, train_world_model
from genenv.transfer import descending_ranks, pearson, spearman, transfer_test
from genenv.worlds import WorldSpec

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
RECIPE = ROOT / "agents" / "ppo.yaml"
RUN_SEEDS = (100, 101, 102)
DATA_SEED, EVAL_SEED = 100, 1000
DREAM_SAMPLES = 8  # imagined episodes per real start, averaged (as `genenv rank` defaults to)
# Imagined steps at which each run keeps a checkpoint (SB3 rounds up to whole rollouts).
CHECKPOINTS = {
    "InvertedPendulum": (0, 8_192, 16_384, 32_768, 49_152, 65_536, 98_304),
    "HalfCheetah": (0, 16_384, 65_536, 131_072, 262_144, 393_216, 524_288, 786_432),
    "Hopper": (0, 8_192, 16_384, 32_768, 65_536, 131_072, 196_608),
    "Walker2d": (0, 8_192, 16_384, 32_768, 65_536, 131_072, 196_608),
}
DATA_STEPS = {"InvertedPendulum": 5_000, "HalfCheetah": 10_000, "Hopper": 10_000}


def add_time(work: Path, stage: str, seconds: float) -> None:
    """Accumulate the wall time each stage really took (cached stages cost nothing on reruns)."""
    path = work / "times.json"
    times = json.loads(path.read_text()) if path.exists() else {}
    times[stage] = round(times.get(stage, 0.0) + seconds, 1)
    path.write_text(json.dumps(times))


def ensure_world(task: str, work: Path, steps: int) -> Path:
    data, world = work / "data", work / "world"
    if not data.exists():
        collect(WorldSpec(task), steps, data, seed=DATA_SEED, progress=False)
    if not (world / "metadata.json").exists():
        t0 = time.monotonic()
        model, report = train_world_model(
            load_transitions(data), TrainConfig(seed=DATA_SEED), progress=False
        )
        save_checkpoint(model, world, metadata={"report": report})
        add_time(work, "world", time.monotonic() - t0)
        print(f"[{task}] world model: {report['epochs']} epochs, {time.monotonic() - t0:.0f} s")
    return world


def ensure_population(task: str, work: Path, world: Path) -> dict[str, Path]:
    """name -> checkpoint path, training each seed's run as far as its last checkpoint."""
    recipe = load_recipe(RECIPE, task)
    out = {}
    for seed in RUN_SEEDS:
        run_dir = work / "runs" / f"seed{seed}"
        wanted = {s: run_dir / f"step{s}.zip" for s in CHECKPOINTS[task]}
        out |= {f"ppo-s{seed}-{s // 1000}k": p for s, p in wanted.items()}
        if all(p.exists() for p in wanted.values()):
            continue
        model = load_checkpoint(world)
        dream = DreamVectorEnv(
            task=task, world=model, num_envs=recipe.n_envs, specs=WorldSpec(task), **recipe.env
        )
        done = [s for s, p in wanted.items() if p.exists()]
        if done:  # resume from the latest checkpoint kept (an earlier, shorter schedule)
            agent = load_policy(wanted[max(done)])
            set_agent_env(agent, dream)
        else:
            agent = build_agent(recipe, dream, seed=seed)
        t0 = time.monotonic()
        for target, path in wanted.items():
            if path.exists():
                continue
            if target > agent.num_timesteps:
                agent.learn(target - agent.num_timesteps, reset_num_timesteps=False)
            save_agent(agent, path, recipe.algo)  # the first checkpoint at or past `target`
        dream.close()
        add_time(work, "agents", time.monotonic() - t0)
        print(f"[{task}] seed {seed}: {agent.num_timesteps:,} imagined steps in "
              f"{time.monotonic() - t0:.0f} s", flush=True)  # fmt: skip
    return out


def evaluate(task: str, work: Path, world: Path, population: dict, episodes: int) -> dict:
    cache_file = work / f"evaluations_m{DREAM_SAMPLES}.json"
    cache = json.loads(cache_file.read_text()) if cache_file.exists() else {}
    model, spec = load_checkpoint(world), WorldSpec(task)
    env = spec.make_env()
    policies = {"random": RandomPolicy(env.action_space, seed=EVAL_SEED)}
    env.close()
    policies |= population
    for name, policy in policies.items():
        if name in cache:
            continue
        t0 = time.monotonic()
        if isinstance(policy, Path):
            policy = load_policy(policy)
        res = transfer_test(
            policy, model, spec, episodes, EVAL_SEED, imagined_per_start=DREAM_SAMPLES
        )
        cache[name] = {"dream": res.imagined_return, "real": res.real_return,
                       "real_env_steps": res.real_env_steps}  # fmt: skip
        cache_file.write_text(json.dumps(cache, indent=1))
        add_time(work, f"evaluation_m{DREAM_SAMPLES}", time.monotonic() - t0)
        print(f"[{task}] {name}: dream {res.imagined_return:.1f} real {res.real_return:.1f}")
    return {name: cache[name] for name in policies}


def task_row(task: str, evals: dict, episodes: int, data_steps: int, times: dict) -> dict:
    names = list(evals)
    dream = [evals[n]["dream"] for n in names]
    real = [evals[n]["real"] for n in names]
    rho = spearman(dream, real)
    return {
        "task": task,
        "policies": len(names),
        "world_data": f"{data_steps:,} random steps",
        "episodes": episodes,
        "spearman": rho,
        "pearson": pearson(dream, real),
        "goal_met": rho is not None and rho >= 0.9,
        "real_eval_steps": sum(evals[n]["real_env_steps"] for n in names),
        "real_return_range": [min(real), max(real)],
        "dream_return_range": [min(dream), max(dream)],
        "wall_s": {k: round(v) for k, v in times.items()},
        "detail": [
            {"policy": n, "dream": d, "real": r, "dream_rank": dr, "real_rank": rr}
            for n, d, r, dr, rr in zip(
                names, dream, real, descending_ranks(dream), descending_ranks(real), strict=True
            )
        ],
    }


def write_tables(rows: dict, commands: list[str]) -> None:
    prov = provenance()
    payload = {"machine": machine_line(), "commands": commands, "git": prov["git"],
               "date": prov["date"], "tasks": rows}  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "policy_ranking.json").write_text(json.dumps(payload, indent=1) + "\n")

    def f(x):
        return "-" if x is None else f"{x:.3f}"

    md = ["# Policy ranking: dream return vs real return", ""]
    md += [f"Machine: {payload['machine']}. Date: {payload['date']}. Code: {payload['git']}.  "]
    md += ["Commands (each adds or replaces its tasks' rows):"]
    md += [f"- `{c}`" for c in commands]
    md += ["", "Population per task: 3 PPO runs (agents/ppo.yaml, seeds 100-102) trained only in",
           "the world model's dream, 7 checkpoints each (HalfCheetah 8; the first is the untrained",
           "network), plus uniform random actions. World model: default settings on random-action real data",
           "(collect seed 100). Each policy: mean return over the same real start states",
           "(seeds 1000..) in the real env and in the dream (8 imagined episodes per start), full",
           "task horizon, deterministic actions.",
           "Cut to fit 2 cores: 3 runs per task, short PPO budgets (see the checkpoint steps in",
           "the script), 5 episodes per policy, one world model per task. Stages (data, world,",
           "checkpoints, evaluations) are cached in --workdir and reused by later invocations.",
           "",
           "| task | policies | world data | world model | episodes | Spearman | Pearson | "
           "goal >= 0.9 | "
           "real range | dream range | real eval steps | wall s (world, agents, evaluation) |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows.values():
        md.append(
            f"| {r['task']} | {r['policies']} | {r['world_data']} | {r.get('world_model', '-')} | "
            f"{r['episodes']} | "
            f"{f(r['spearman'])} | {f(r['pearson'])} | {'met' if r['goal_met'] else 'not met'} | "
            f"{r['real_return_range'][0]:.0f} .. {r['real_return_range'][1]:.0f} | "
            f"{r['dream_return_range'][0]:.0f} .. {r['dream_return_range'][1]:.0f} | "
            f"{r['real_eval_steps']:,} | "
            + ", ".join(
                str(r["wall_s"].get(k, "-"))
                for k in ("world", "agents", f"evaluation_m{DREAM_SAMPLES}")
            )
            + " |"
        )
    for r in rows.values():
        md += ["", f"## {r['task']}: each policy", "",
               "| policy | dream return | real return | dream rank | real rank |",
               "|---|---|---|---|---|"]  # fmt: skip
        for d in sorted(r["detail"], key=lambda d: d["real_rank"]):
            md.append(f"| {d['policy']} | {d['dream']:.1f} | {d['real']:.1f} | "
                      f"{d['dream_rank']:g} | {d['real_rank']:g} |")  # fmt: skip
    (RESULTS / "policy_ranking.md").write_text("\n".join(md) + "\n")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workdir", default="/tmp/genenv_rank", help="data, worlds, checkpoints")
    p.add_argument("--tasks", nargs="+", default=["InvertedPendulum", "HalfCheetah"])
    p.add_argument("--episodes", type=int, default=5, help="real and dream episodes per policy")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    old = RESULTS / "policy_ranking.json"
    prev = json.loads(old.read_text()) if old.exists() else {"tasks": {}, "commands": []}
    rows, commands = prev["tasks"], prev["commands"]
    command = " ".join(["python", *sys.argv])
    for task in args.tasks:
        if task not in CHECKPOINTS:
            p.error(f"no checkpoint schedule for {task}; choose from {sorted(CHECKPOINTS)}")
        work = Path(args.workdir) / task
        steps = DATA_STEPS.get(task, 10_000)
        world = ensure_world(task, work, steps)
        population = ensure_population(task, work, world)
        evals = evaluate(task, work, world, population, args.episodes)
        times = json.loads((work / "times.json").read_text())
        rows[task] = task_row(task, evals, args.episodes, steps, times)
        e = read_checkpoint_metadata(world)["ensemble"]
        rows[task]["world_model"] = (
            f"{e['ensemble_size']} members / {e['num_elites']} elites, "
            f"{e['num_layers']}x{e['hidden_size']}"
        )
        np.set_printoptions(precision=3)
        print(f"[{task}] Spearman {rows[task]['spearman']} Pearson {rows[task]['pearson']}")
        if command not in commands:
            commands.append(command)
        write_tables(rows, commands)
    return 0


if __name__ == "__main__":
    sys.exit(main())
