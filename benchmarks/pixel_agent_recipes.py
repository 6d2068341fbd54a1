"""Agent recipes on finished pixel worlds: is a pixel loop's failure the world's or the agent's?

A pixel loop (`benchmarks/pixel_world.py --parts loop`, i.e. `genenv run --world-kind latent`)
trains its world and its agent together, and one InvertedPendulum run costs ~38 min of one core.
This script holds the world fixed instead. For each finished loop run directory given (its final
world in RUN/world, its real frames in RUN/data), and each recipe, it trains fresh agents (agent
seeds --agent-seeds) in that world's dream exactly as the loop's last iteration hands it over
(`PixelDreamVectorEnv` with the recipe's env options; MBPO's real share is RUN/data encoded by the
world), and tests each in the real env through the same encoder after --tests imagined steps
(deterministic, --episodes episodes reset with seeds 100, 101, ...). Nothing here feeds back into
the world. Each fresh agent costs ~1-2 min of one core, so recipes can be compared on many worlds.

The worlds are tuning material: pass only runs of tuning seeds, or of seeds whose report is already
committed; a recipe picked here is reported on fresh loop seeds by pixel_world.py.

Usage:  python benchmarks/pixel_agent_recipes.py --runs W1/InvertedPendulum-loop,W2/... \
            --recipe rr0.5=agents/mbpo.yaml:real_ratio=0.5 \
            --recipe rr0.8=agents/mbpo.yaml:real_ratio=0.8 --agent-seeds 0,1
Results merge into benchmarks/results/pixel_agent_recipes.json (+ .md) after every agent, under a
file lock: a stopped invocation resumes where it was (entries already there are skipped), and
invocations side by side (one per core) lose nothing. --tables-only rewrites the .md from the .json.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from genenv.bench.measure import machine_line, provenance

RESULTS = Path(__file__).resolve().parent / "results"
OUT = "pixel_agent_recipes"
SOLVED = 950.0  # a real InvertedPendulum return counted as balanced (the maximum is 1000)


def train_and_test(
    run: Path, recipe_path: Path, hyper: dict, seed: int, tests: list[int], episodes: int
):
    """A fresh agent of `recipe_path` (its hyperparams updated by `hyper`) in `run`'s final
    world: real returns after each test."""
    from genenv.agents.pixel_eval import evaluate_pixel_policy
    from genenv.agents.progress import learn_steps
    from genenv.agents.recipe import load_recipe
    from genenv.agents.sb3 import build_agent
    from genenv.loop import dream_env, real_data_for_agent
    from genenv.models.checkpoint import load_checkpoint

    model = load_checkpoint(run / "world")
    recipe = load_recipe(recipe_path, model.task, "latent")
    recipe.hyperparams.update(hyper)
    dream = dream_env(model, recipe, model.task)  # as the loop builds a pixel run's dream
    agent = build_agent(recipe, dream, seed=seed, tensorboard_log=None)
    if hasattr(agent, "observe_real"):
        agent.observe_real(real_data_for_agent(model, run / "data"))
    done, out = 0, []
    for at in tests:
        done += learn_steps(agent, at - done, desc=f"{run.parent.name} seed {seed}")
        returns = evaluate_pixel_policy(model, agent, episodes=episodes, seed=100)
        out.append({"imagined_steps": done, "real_returns": [float(r) for r in returns]})
    dream.close()
    return out


def world_facts(run: Path) -> dict:
    """The loop run's seed, setting and its own agent's real return at its last transfer test."""
    loop = yaml.safe_load((run / "config.yaml").read_text())["loop"]
    summary = json.loads((run / "summary.json").read_text())
    return {
        "loop_seed": loop["seed"],
        "pixel_size": loop["pixel_size"],
        "latent_var_coef": loop["latent_var_coef"],
        "latent_refit": loop["latent_refit"],
        "loop_final_real_return": summary["final_real_return"],
    }


def _setting(world: dict) -> str:
    """The loop setting a world was trained with (frame size, variance weight, refit mode)."""
    out = f"{world['pixel_size']} px, --latent-var-coef {world['latent_var_coef']:g}"
    return out + (
        "" if world["latent_refit"] == "all" else f", --latent-refit {world['latent_refit']}"
    )


def to_markdown(res: dict) -> str:
    h = res["header"]
    recipes = sorted({e["recipe"] for e in res["entries"]})
    runs = sorted(
        {e["run"]: e["world"] for e in res["entries"]}.items(),
        key=lambda rw: (_setting(rw[1]), rw[1]["loop_seed"]),
    )
    lines = [
        "# Agent recipes on finished InvertedPendulum pixel worlds",
        "",
        "Commands (each entry also records its own):",
        "",
        *sorted({f"- `{e['ran']['command']}` at {e['ran']['git']}" for e in res["entries"]}),
        "",
        f"Machine: {h['machine']}; 1 torch thread. Last written: {h['date']} at {h['git']}.",
        "",
        "Each cell: real return of fresh agents (mean over --episodes real episodes each, one "
        "number per agent seed) after the last test; in brackets the tests before it. The loop "
        "column is the loop's own agent at its last transfer test in that world (summary.json). "
        f"Balanced: >= {SOLVED:.0f}. "
        "The worlds are of tuning seeds or of seeds already reported; nothing here is a report.",
        "",
        "| world: loop seed, setting | loop's last transfer test | " + " | ".join(recipes) + " |",
        "|---|---|" + "---|" * len(recipes),
    ]
    for run, world in runs:
        ent = [e for e in res["entries"] if e["run"] == run]
        cells = []
        for r in recipes:
            mine = sorted((e for e in ent if e["recipe"] == r), key=lambda e: e["agent_seed"])
            cells.append(
                "; ".join(
                    f"{np.mean(e['tests'][-1]['real_returns']):.0f} ("
                    + ", ".join(f"{np.mean(t['real_returns']):.0f}" for t in e["tests"][:-1])
                    + ")"
                    for e in mine
                )
                or "-"
            )
        own = world["loop_final_real_return"]
        name = f"{world['loop_seed']}, {_setting(world)}"
        lines.append(f"| {name} | {own:.0f} | " + " | ".join(cells) + " |")
    lines += ["", "Agents balanced at the last test, per world setting, over its worlds and seeds:"]
    for setting in sorted({_setting(w) for _, w in runs}):
        lines += ["", f"{setting}:"]
        for r in recipes:
            mine = [
                e for e in res["entries"] if e["recipe"] == r and _setting(e["world"]) == setting
            ]
            if not mine:
                continue
            ok = sum(np.mean(e["tests"][-1]["real_returns"]) >= SOLVED for e in mine)
            sets = "".join(f", {k} = {v}" for k, v in mine[0]["hyperparams_set"].items())
            lines.append(f"- {r} (`{mine[0]['recipe_path']}`{sets}): {ok}/{len(mine)}")
    tests = res["entries"][0]["tests"] if res["entries"] else []
    lines += [
        "",
        "Tests after " + ", ".join(f"{t['imagined_steps']:,}" for t in tests) + " imagined steps.",
    ]
    return "\n".join(lines) + "\n"


def merge(results: Path, entry: dict, header: dict) -> None:
    """Add one agent's entry to the tables on disk under a file lock."""
    results.mkdir(parents=True, exist_ok=True)
    out_json = results / f"{OUT}.json"
    with open(Path(tempfile.gettempdir()) / f"genenv-{OUT}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        res = json.loads(out_json.read_text()) if out_json.exists() else {"entries": []}
        res["header"] = header
        res["entries"] = [e for e in res["entries"] if _key(e) != _key(entry)] + [entry]
        out_json.write_text(json.dumps(res, indent=1))
        (results / f"{OUT}.md").write_text(to_markdown(res))


def _key(e: dict) -> tuple:
    return (e["run"], e["recipe"], e["agent_seed"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", default="", help="comma-separated finished loop run directories")
    p.add_argument(
        "--recipe",
        action="append",
        default=[],
        help="NAME=PATH[:KEY=VALUE...]: an agent recipe YAML and hyperparams set over it "
        "(e.g. rr0.8=agents/mbpo.yaml:real_ratio=0.8); repeat for each recipe",
    )
    p.add_argument("--agent-seeds", default="0", help="comma-separated agent seeds")
    p.add_argument(
        "--tests",
        default="30000,60000,90000,150000",
        help="imagined-step counts at which each agent is tested (the last one ends it)",
    )
    p.add_argument("--episodes", type=int, default=3, help="real episodes per test")
    p.add_argument("--results", type=Path, default=RESULTS, help="folder of the tables")
    p.add_argument(
        "--tables-only", action="store_true", help="rewrite the markdown table from the JSON only"
    )
    args = p.parse_args()
    out_json = args.results / f"{OUT}.json"
    if args.tables_only:
        if not out_json.is_file():
            p.error(f"--tables-only: no {out_json} to rewrite the table from")
        (args.results / f"{OUT}.md").write_text(to_markdown(json.loads(out_json.read_text())))
        return
    if not args.runs or not args.recipe:
        p.error("give --runs and at least one --recipe (or --tables-only)")
    torch.set_num_threads(1)
    try:
        tests = sorted(int(t) for t in args.tests.split(","))
        seeds = [int(s) for s in args.agent_seeds.split(",")]
    except ValueError:
        p.error("--tests and --agent-seeds take comma-separated integers")
    recipes = {}
    for spec in args.recipe:
        name, _, rest = spec.partition("=")
        path, *sets = rest.split(":")
        if not name or not Path(path).is_file() or not all("=" in x for x in sets):
            p.error(f"--recipe {spec!r}: give NAME=PATH[:KEY=VALUE...] with an existing PATH")
        recipes[name] = (path, {k: yaml.safe_load(v) for k, v in (x.split("=", 1) for x in sets)})
    runs = [Path(r) for r in args.runs.split(",")]
    for run in runs:
        needed = ("world/metadata.json", "data", "config.yaml", "summary.json")
        if not all((run / n).exists() for n in needed):
            p.error(f"{run} is not a finished loop run (it needs {', '.join(needed)})")
    header = provenance() | {"machine": machine_line()}
    done = set()
    if out_json.exists():
        done = {_key(e) for e in json.loads(out_json.read_text())["entries"]}
    for run in runs:
        for name, (path, hyper) in recipes.items():
            for seed in seeds:
                if (str(run), name, seed) in done:
                    continue
                t0 = time.perf_counter()
                entry = {
                    "run": str(run),
                    "recipe": name,
                    "recipe_path": path,
                    "hyperparams_set": hyper,
                    "agent_seed": seed,
                    "world": world_facts(run),
                    "tests": train_and_test(run, Path(path), hyper, seed, tests, args.episodes),
                    "wall_s": round(time.perf_counter() - t0, 1),
                    "ran": header,
                }
                merge(args.results, entry, header)
                last = entry["tests"][-1]["real_returns"]
                print(f"{run} {name} seed {seed}: {np.mean(last):.0f}", flush=True)


if __name__ == "__main__":
    main()
