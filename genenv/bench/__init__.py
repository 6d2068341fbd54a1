"""Measure imagined against real steps per second, on-device PPO against SB3 PPO, and memory per
env slot; writes JSON and a markdown table that names the machine.

Imagined: `DreamVectorEnv` stepped through its tensor API with a random-init `EnsembleWorldModel`
of the default size (throughput does not depend on training). Real: gymnasium's `SyncVectorEnv`
of `WorldSpec(task).make_env`. Each point runs for `--min-seconds` or `--max-iters` vector steps,
whichever comes first, after a short warm-up; real envs too large to build on this machine are
reported as not run, with the reason. PPO: the same dream env, recipe and budget for both agents;
the time for `--ppo-target` steps is extrapolated from the measured budget when they differ.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from genenv import cli_args as ca
from genenv.bench.measure import (
    bench_dream,
    bench_memory,
    bench_real,
    in_fresh_process,
    machine_info,
    provenance,
)
from genenv.bench.ppo import bench_ppo
from genenv.bench.report import to_markdown
from genenv.config_checks import finite_floats, positive_ints

DEFAULT_TASKS = ["InvertedPendulum", "HalfCheetah", "Ant"]
DEFAULT_SIZES = [1, 64, 1024, 16384]


@dataclass
class BenchConfig:
    """What `genenv bench` measures."""

    tasks: list[str] = field(default_factory=lambda: list(DEFAULT_TASKS))  # task names
    num_envs: list[int] = field(default_factory=lambda: list(DEFAULT_SIZES))  # batch sizes
    device: str = "cpu"  # torch device of the dream env and on-device PPO
    threads: int = 1  # torch intra-op threads (the real vector env is single-threaded)
    compile: bool = False  # DreamVectorEnv(compile=True): torch.compile the model's network
    widths: list[int] = field(default_factory=lambda: [64, 128])  # extra ensemble widths to time
    min_seconds: float = 2.0  # measure each point for this long ...
    max_iters: int = 2000  # ... or this many vector steps, whichever comes first
    real_mem_budget_gb: float = 3.0  # skip real envs whose estimated RSS exceeds this
    real_build_budget_s: float = 120.0  # skip real envs whose estimated build time exceeds this
    ppo_task: str = "InvertedPendulum"  # task of the PPO comparison
    ppo_recipe: str = "agents/ppo.yaml"  # SB3-form recipe both PPOs use
    ppo_steps: int = 200_000  # imagined steps measured for each PPO
    ppo_target: int = 1_000_000  # steps the reported wall-clock is for (extrapolated if needed)
    skip: list[str] = field(default_factory=list)  # sections to skip: real, dream, ppo, memory
    out: str = "runs/bench/throughput"  # writes <out>.json and <out>.md (the CLI: a new folder)
    seed: int = 0
    note: str = ""  # free text printed under the machine line (e.g. how loaded the machine was)

    def __post_init__(self) -> None:
        positive_ints(self, "threads", "max_iters", "ppo_steps", "ppo_target")
        finite_floats(
            self, "min_seconds", "real_mem_budget_gb", "real_build_budget_s", positive=True
        )
        if any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in self.num_envs):
            raise ValueError(f"BenchConfig.num_envs must be positive integers, got {self.num_envs}")
        if any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in self.widths):
            raise ValueError(f"BenchConfig.widths must be positive integers, got {self.widths}")


def run_all(cfg: BenchConfig, save: Any = None) -> dict[str, Any]:
    """Every section of the benchmark, with a progress bar; returns the JSON-ready results.

    `save(res)` is called after each task and section with the results so far (their
    "unfinished" entry lists what is still to run), so a run stopped early keeps its rows.
    """
    from genenv.progress import progress_bar

    torch.set_num_threads(cfg.threads)
    res: dict[str, Any] = {
        "provenance": provenance(),
        "machine": machine_info(cfg),
        "config": asdict(cfg),
        "throughput": {},
        "unfinished": [f"throughput {t}" for t in cfg.tasks]
        + [s for s in ("model width", "memory", "ppo") if s.split()[0] not in cfg.skip],
    }

    def done(section: str) -> None:
        if section in res["unfinished"]:
            res["unfinished"].remove(section)
        res["machine"]["load_avg_at_end"] = list(os.getloadavg())
        if save is not None:
            save(res)

    points = [(t, n) for t in cfg.tasks for n in cfg.num_envs]
    bar = progress_bar(total=len(points), desc="throughput points", unit="point")
    for task in cfg.tasks:
        per_env: dict[str, float] = {}
        for n in sorted(cfg.num_envs):
            row: dict[str, Any] = {}
            if "real" not in cfg.skip:
                row["real"] = bench_real(task, n, cfg, per_env)
            if "dream" not in cfg.skip:
                row["dream"] = bench_dream(task, n, cfg)
            real, dream = row.get("real", {}), row.get("dream", {})
            if real.get("status") == "ok" and dream.get("status") == "ok":
                row["ratio_dream_over_real"] = dream["steps_per_s"] / real["steps_per_s"]
                if dream.get("steps_per_cpu_s") and real.get("steps_per_cpu_s"):
                    row["ratio_dream_over_real_cpu"] = (
                        dream["steps_per_cpu_s"] / real["steps_per_cpu_s"]
                    )
            res["throughput"].setdefault(task, {})[str(n)] = row
            bar.update(1)
        done(f"throughput {task}")
    bar.close()
    if "dream" not in cfg.skip and "HalfCheetah" in cfg.tasks and 1024 in cfg.num_envs:
        # How the imagined rate scales with model width (HalfCheetah, 1024 envs).
        res["model_width"] = {str(h): bench_dream("HalfCheetah", 1024, cfg, h) for h in cfg.widths}
        # The opt-in TS1-only step (DreamConfig(members="sampled")), beside the default row.
        res["step_options"] = {"sampled": bench_dream("HalfCheetah", 1024, cfg, members="sampled")}
    done("model width")
    if "memory" not in cfg.skip:
        res["memory"] = {
            t: in_fresh_process(bench_memory, t, max(cfg.num_envs), cfg) for t in cfg.tasks
        }
        done("memory")
    if "ppo" not in cfg.skip:
        res["ppo"] = bench_ppo(cfg)
    res["unfinished"] = []
    done("ppo")
    del res["unfinished"]
    return res


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = BenchConfig()
    parser.add_argument("--tasks", nargs="+", default=d.tasks, help="task names")
    parser.add_argument(
        "--num-envs",
        nargs="+",
        type=ca.int_between(1, 1 << 20),
        default=d.num_envs,
        help="batch sizes",
    )
    parser.add_argument(
        "--device",
        type=ca.device,
        default=d.device,
        help="torch device for imagined envs and PPO",
    )
    parser.add_argument(
        "--threads",
        type=ca.threads,
        default=d.threads,
        help="torch CPU threads of the measurements (the real vector env is single-threaded)",
    )
    parser.add_argument(
        "--compile", action="store_true", help="torch.compile the dream env's model network"
    )
    parser.add_argument(
        "--widths",
        nargs="*",
        type=ca.int_between(1, 8192),
        default=d.widths,
        help="extra ensemble widths timed at HalfCheetah x 1024 envs",
    )
    parser.add_argument(
        "--min-seconds",
        type=ca.positive_float,
        default=d.min_seconds,
        help="measure each point this long ...",
    )
    parser.add_argument(
        "--max-iters",
        type=ca.positive_int,
        default=d.max_iters,
        help="... or this many vector steps, whichever first",
    )
    parser.add_argument(
        "--real-mem-budget-gb",
        type=ca.positive_float,
        default=d.real_mem_budget_gb,
        help="skip real vector envs whose estimated RSS exceeds this",
    )
    parser.add_argument(
        "--real-build-budget-s",
        type=ca.positive_float,
        default=d.real_build_budget_s,
        help="skip real vector envs whose estimated build time exceeds this",
    )
    parser.add_argument("--ppo-task", default=d.ppo_task, help="task of the PPO comparison")
    parser.add_argument("--ppo-recipe", default=d.ppo_recipe, help="SB3-form PPO recipe (YAML)")
    parser.add_argument(
        "--ppo-steps",
        type=ca.positive_int,
        default=d.ppo_steps,
        help="imagined steps measured per PPO",
    )
    parser.add_argument(
        "--ppo-target",
        type=ca.positive_int,
        default=d.ppo_target,
        help="steps the PPO wall-clock is reported for (extrapolated)",
    )
    parser.add_argument(
        "--skip",
        nargs="*",
        default=[],
        choices=["real", "dream", "ppo", "memory"],
        help="sections to skip",
    )
    parser.add_argument(
        "--out",
        default=None,
        help="output path stem (writes STEM.json and STEM.md); default: a new run folder "
        "runs/bench-YYYYmmdd-HHMMSS/throughput, so committed results are never overwritten "
        "unless named (benchmarks/results/throughput)",
    )
    parser.add_argument("--seed", type=ca.seed, default=d.seed, help="seed")
    parser.add_argument("--note", default=d.note, help="free text for the table's header")
    parser.add_argument(
        "--no-progress", action="store_true", help="no progress bar or progress log lines"
    )


def default_out() -> str:
    """A fresh run folder for a bench run (never the committed benchmarks/results)."""
    import time

    stamp = time.strftime("%Y%m%d-%H%M%S")
    folder = Path("runs") / f"bench-{stamp}"
    n = 1
    while folder.exists():
        n += 1
        folder = Path("runs") / f"bench-{stamp}-{n}"
    return str(folder / "throughput")


def run(args: argparse.Namespace) -> int:
    cfg = BenchConfig(
        tasks=list(args.tasks),
        num_envs=list(args.num_envs),
        device=args.device,
        threads=args.threads,
        compile=args.compile,
        widths=list(args.widths),
        min_seconds=args.min_seconds,
        max_iters=args.max_iters,
        real_mem_budget_gb=args.real_mem_budget_gb,
        real_build_budget_s=args.real_build_budget_s,
        ppo_task=args.ppo_task,
        ppo_recipe=args.ppo_recipe,
        ppo_steps=args.ppo_steps,
        ppo_target=args.ppo_target,
        skip=list(args.skip),
        out=args.out or default_out(),
        seed=args.seed,
        note=args.note,
    )
    from genenv.worlds.tasks import get_task

    cfg.tasks = [get_task(t).name for t in cfg.tasks]  # unknown names fail here, listing tasks
    if "ppo" not in cfg.skip and not Path(cfg.ppo_recipe).is_file():
        raise FileNotFoundError(f"PPO recipe {cfg.ppo_recipe} not found (or pass --skip ppo)")
    out = Path(cfg.out)
    if out.suffix in (".json", ".md"):
        out = out.with_suffix("")
    if out.is_file():
        raise ValueError(f"--out {out} is a file; give a path stem (STEM.json and STEM.md)")
    if out.is_dir():
        raise ValueError(f"--out {out} is a folder; give a path stem, e.g. {out / 'throughput'}")
    ca.check_writable(out.parent)
    out.parent.mkdir(parents=True, exist_ok=True)

    def save(res: dict[str, Any]) -> str:
        out.with_suffix(".json").write_text(json.dumps(res, indent=2))
        text = to_markdown(res)
        out.with_suffix(".md").write_text(text)
        return text

    print(save(run_all(cfg, save)))
    print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.md')}")
    return 0
