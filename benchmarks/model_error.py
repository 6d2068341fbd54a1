"""World-model quality: open-loop errors of `genenv train-world` models on real episodes.

Part 1 (data size): per task and size, collect N random-action steps in the default world
(`genenv collect --seed 100`), train with `genenv train-world --seed 100` (default settings) and
report the open-loop errors it prints for its held-out validation episodes, plus the same metrics
on a fresh test set (default world, collect seed 101) that played no part in training or early
stopping.

Part 2 (contexts): one context-conditioned model per task, trained on random-action data whose
episodes draw every context field uniformly from the task's train ranges (`genenv collect
--sample-contexts`), evaluated on fresh test episodes with contexts (a) drawn from the same ranges
and (b) outside them: one field at a time drawn from (high + 0.1 w, high + 0.5 w) or
(low - 0.5 w, low - 0.1 w) (w = train-range width, clipped to the field's validity bounds),
the other fields still drawn from their train ranges.

Errors are normalised by the per-dimension std of each test set's own observations, so compare
each set's model error with its copy baseline (the `ratio` column: model / copy).

Test sets of tasks whose random-action episodes are too short for 20-step windows (TEST_POLICY:
InvertedPendulum's last ~6 steps) are collected with a partly trained policy instead: SB3 PPO
(default settings, seed 100) trained for TEST_POLICY[task] steps on the real default world, acting
stochastically. Training data stay random-action data.

Usage:  python benchmarks/model_error.py --workdir /tmp/olerr/work --threads 1
Existing datasets and checkpoints in --workdir are reused. Writes
benchmarks/results/model_error.json and .md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from genenv.bench.measure import machine_line, provenance
from genenv.data import collect, context_sampler, load_transitions
from genenv.models import (
    EnsembleConfig,
    TrainConfig,
    load_checkpoint,
    open_loop_errors,
    read_checkpoint_metadata,
)
from genenv.worlds import CONTEXT_FIELDS, WorldSpec, get_task

RESULTS = Path(__file__).resolve().parent / "results"
GENENV = str(Path(sys.executable).with_name("genenv"))
# Reported seeds are 100+ (tuning, e.g. benchmarks/model_variants.py, uses seeds below 10).
TRAIN_SEED, DATA_SEED, TEST_SEED, CONTEXT_TEST_SEED = 100, 100, 101, 200
TEST_POLICY = {"InvertedPendulum": 10_000}  # task -> real PPO steps of its test-set policy
OOD_FIELDS = ("gravity", "mass_scale", "actuator_scale", "damping_scale", "length_scale")


def ensure_data(path: Path, source, steps: int, seed: int, policy=None) -> Path:
    if not path.exists():
        collect(source, steps, path, policy=policy, seed=seed, progress=False)
    return path


def test_policy(task: str, work: Path) -> Path | None:
    """The SB3 PPO zip that collects `task`'s test sets (None: random actions; see TEST_POLICY)."""
    if task not in TEST_POLICY:
        return None
    path = work / "policies" / f"{task}_ppo.zip"
    if not path.exists():
        from stable_baselines3 import PPO

        env = WorldSpec(task).make_env()
        agent = PPO("MlpPolicy", env, seed=100, device="cpu", verbose=0)
        agent.learn(TEST_POLICY[task])
        agent.save(path)
        env.close()
    return path


def ensure_model(data: Path, out: Path, threads: int, extra: list[str] | None = None) -> dict:
    """Train with `genenv train-world` unless `out` already holds a checkpoint."""
    if not (out / "metadata.json").exists():
        cmd = [GENENV, "train-world", "--data", str(data), "--out", str(out)]
        cmd += ["--seed", str(TRAIN_SEED), *(extra or [])]
        t0 = time.monotonic()
        subprocess.run(cmd + ["--threads", str(threads), "--no-progress"], check=True)
        print(f"trained {out.name} in {time.monotonic() - t0:.1f} s wall", flush=True)
    return read_checkpoint_metadata(out)


def evaluate(model_dir: Path, data: Path, seed: int = 0) -> dict:
    model = load_checkpoint(model_dir)
    return open_loop_errors(model, load_transitions(data), generator=np.random.default_rng(seed))


def ood_ranges(task: str) -> dict[str, tuple[float, float]]:
    """name -> the field's out-of-range interval (see the module docstring)."""
    out = {}
    for field, (lo, hi) in get_task(task).train_ranges.items():
        if field not in OOD_FIELDS:
            continue
        _, valid_lo, valid_hi, _ = CONTEXT_FIELDS[field]
        w = hi - lo
        out[f"{field} high"] = (hi + 0.1 * w, min(hi + 0.5 * w, valid_hi))
        if field == "gravity" and lo - 0.1 * w > valid_lo:
            out[f"{field} low"] = (max(lo - 0.5 * w, valid_lo), lo - 0.1 * w)
    return out


def row(name: str, errors: dict, extra: dict) -> dict:
    r = {"set": name, **extra}
    for h, e in errors.items():
        r[f"obs_{h}"], r[f"copy_{h}"] = e["obs_error"], e["copy_baseline"]
        r[f"reward_{h}"], r[f"starts_{h}"] = e["reward_error"], e["n_starts"]
    return r


def part1(args, work: Path) -> list[dict]:
    rows = []
    for task in args.tasks:
        policy = test_policy(task, work)
        test = ensure_data(
            work / "data" / f"{task}_test", WorldSpec(task), args.test_steps, TEST_SEED, policy
        )
        for n in args.sizes:
            data = ensure_data(work / "data" / f"{task}_{n}", WorldSpec(task), n, DATA_SEED)
            meta = ensure_model(data, work / "models" / f"{task}_{n}", args.threads)
            tr = meta["training"]
            extra = {"task": task, "steps": n, "train_time_s": tr["time_s"]}
            extra |= {"epochs": tr["epochs"], "stopped": tr["stopped"]}
            rows.append(row("validation holdout", meta["open_loop"], extra))
            rows.append(row("fresh test", evaluate(work / "models" / f"{task}_{n}", test), extra))
            print(json.dumps(rows[-2:]), flush=True)
    return rows


def part2(args, work: Path) -> list[dict]:
    rows, n = [], args.context_steps
    for task in args.context_tasks:
        ranges = dict(get_task(task).train_ranges)
        data = work / "data" / f"{task}_ctx_{n}"
        ensure_data(data, context_sampler(WorldSpec(task)), n, DATA_SEED)
        model = work / "models" / f"{task}_ctx_{n}"
        tr = ensure_model(data, model, args.threads)["training"]
        extra = {"task": task, "steps": n, "train_time_s": tr["time_s"]}
        sets = {"in range": ranges} | {
            name: ranges | {name.split()[0]: rng} for name, rng in ood_ranges(task).items()
        }
        for i, (name, rngs) in enumerate(sets.items()):
            slug = name.replace(" ", "_")
            test = work / "data" / f"{task}_ctx_test_{slug}"
            source = context_sampler(WorldSpec(task), rngs)
            seed = CONTEXT_TEST_SEED + i
            ensure_data(test, source, args.test_steps, seed, test_policy(task, work))
            changed = {k: [round(v, 3) for v in r] for k, r in rngs.items() if r != ranges.get(k)}
            rows.append(row(name, evaluate(model, test), extra | {"ranges": changed or "train"}))
            print(json.dumps(rows[-1]), flush=True)
    return rows


def table(rows: list[dict], first: list[str]) -> list[str]:
    head = first + ["obs 1", "obs 5", "obs 20", "copy 1", "copy 5", "copy 20", "ratio 20"]
    head += ["reward 1", "reward 5", "reward 20", "starts 20", "train s"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def f(x):
        return "-" if x is None else f"{x:.4g}"

    for r in rows:
        o, c = r["obs_20"], r["copy_20"]
        cells = [str(r[k]) for k in first]
        cells += [f(r[f"obs_{h}"]) for h in (1, 5, 20)] + [f(r[f"copy_{h}"]) for h in (1, 5, 20)]
        cells += [f(o / c if o is not None and c else None)]
        cells += [f(r[f"reward_{h}"]) for h in (1, 5, 20)] + [str(r["starts_20"])]
        out.append("| " + " | ".join(cells + [f(r["train_time_s"])]) + " |")
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workdir", default="/tmp/genenv_model_error", help="datasets + checkpoints")
    p.add_argument("--tasks", nargs="*", default=["InvertedPendulum", "HalfCheetah"])
    p.add_argument("--sizes", nargs="*", type=int, default=[10_000, 50_000])
    p.add_argument("--context-tasks", nargs="*", default=["InvertedPendulum"])
    p.add_argument("--context-steps", type=int, default=50_000)
    p.add_argument("--test-steps", type=int, default=5000, help="steps per test set")
    p.add_argument("--threads", type=int, default=1, help="torch threads of train-world")
    args = p.parse_args()
    work = Path(args.workdir)
    payload = {"machine": machine_line(), "command": " ".join(["python"] + sys.argv)}
    prov = provenance()
    payload |= {"date": prov["date"], "git": prov["git"]}
    payload |= {"defaults": {"train": asdict(TrainConfig()), "ensemble": asdict(EnsembleConfig())}}
    payload |= {"part1": part1(args, work), "part2": part2(args, work)}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "model_error.json").write_text(json.dumps(payload, indent=1) + "\n")
    md = ["# World-model open-loop error", ""]
    md += [f"Machine: {payload['machine']}. Date: {payload['date']}. Code: {payload['git']}.  "]
    md += [f"Command: `{payload['command']}`.  "]
    e = payload["defaults"]["ensemble"]
    md += [f"Models: `genenv train-world` defaults ({e['ensemble_size']} members, "
           f"{e['num_elites']} elites, {e['num_layers']}x{e['hidden_size']} hidden, "
           f"{payload['defaults']['train']['max_epochs']} epochs max).  "]  # fmt: skip
    tp = ", ".join(f"{t} ({n:,} real PPO steps)" for t, n in TEST_POLICY.items())
    md += [f"Test sets collected by a partly trained stochastic PPO policy: {tp}; all other test"]
    md += ["sets and all training sets: random actions. Cut to fit 2 cores: two data sizes,"]
    md += ["5,000-step test sets, at most 1,000 windows per horizon.  "]
    md += ["obs h: mean |pred - real| / std after h steps (test set's own std); copy h: same for"]
    md += ["predicting no change; ratio 20 = obs 20 / copy 20; reward h: mean |error| in reward"]
    md += ["units; starts 20: windows with 20 more steps; train s: train-world's own time.", ""]
    md += ["## Random-action data, default world", ""]
    md += table(payload["part1"], ["task", "steps", "set", "epochs", "stopped"])
    md += ["", "## Context-conditioned model: test contexts in vs outside the train ranges", ""]
    md += table(payload["part2"], ["task", "steps", "set", "ranges"])
    (RESULTS / "model_error.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
