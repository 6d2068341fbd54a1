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
import gc
import json
import os
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

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
    out: str = "benchmarks/results/throughput"  # writes <out>.json and <out>.md
    seed: int = 0
    note: str = ""  # free text printed under the machine line (e.g. how loaded the machine was)


def _rss() -> int:
    """Resident set size of this process in bytes (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_rss() -> int:
    """Peak resident set size (VmHWM) of this process in bytes (Linux)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def machine_info(cfg: BenchConfig) -> dict[str, Any]:
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            names = [ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    info = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": cfg.threads,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": cfg.device,
        "load_avg_at_start": list(os.getloadavg()),
    }
    if cfg.device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(torch.device(cfg.device))
    return info


def _model(task: str, device: str, hidden: int | None = None):
    """A random-init ensemble for `task`: the default size, or `hidden` units per layer."""
    from genenv.envs._world import task_spaces
    from genenv.models.ensemble import EnsembleConfig, EnsembleWorldModel
    from genenv.worlds.spec import CONTEXT_FIELDS

    obs_space, act_space = task_spaces(task)
    config = EnsembleConfig() if hidden is None else EnsembleConfig(hidden_size=hidden)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = EnsembleWorldModel(
            task,
            obs_space.shape[0],
            act_space.shape[0],
            len(CONTEXT_FIELDS),
            config,
            action_low=act_space.low.tolist(),
            action_high=act_space.high.tolist(),
        )
    return model.to(device)


def model_flops(model: Any) -> float:
    """Multiply-add FLOPs of one imagined step per env slot (all members, matmuls only)."""
    return float(
        sum(
            2 * p.shape[0] * p.shape[1] * p.shape[2]
            for n, p in model.named_parameters()
            if n.endswith("weight") and p.dim() == 3
        )
    )


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_dream(task: str, n: int, cfg: BenchConfig, hidden: int | None = None) -> dict:
    """Imagined steps/s of the tensor path at `n` envs."""
    from genenv.envs.vector import DreamVectorEnv

    model = _model(task, cfg.device, hidden)
    flops = model_flops(model)
    env = DreamVectorEnv(
        task,
        model,
        n,
        device=cfg.device,
        validate_actions=False,
        compile=cfg.compile,
    )
    dev = env.device
    low = torch.as_tensor(env.single_action_space.low, device=dev)
    high = torch.as_tensor(env.single_action_space.high, device=dev)
    gen = torch.Generator(device=dev).manual_seed(cfg.seed)
    actions = [
        low + (high - low) * torch.rand(n, low.numel(), generator=gen, device=dev) for _ in range(8)
    ]  # (n, act_dim) each
    env.reset_tensor(seed=cfg.seed)
    for i in range(3):  # warm-up (allocator, lazy init)
        env.step_tensor(actions[i])
    _sync(dev)
    iters, start = 0, time.perf_counter()
    while iters < cfg.max_iters and time.perf_counter() - start < cfg.min_seconds:
        env.step_tensor(actions[iters % 8])
        iters += 1
        if dev.type == "cuda" and iters % 50 == 0:
            _sync(dev)  # keep the timer honest without syncing every step
    _sync(dev)
    elapsed = time.perf_counter() - start
    env.close()
    rate = iters * n / elapsed
    return {
        "status": "ok",
        "steps_per_s": rate,
        "iters": iters,
        "seconds": elapsed,
        "model_flops_per_step": flops,
        "model_gflops_per_s": rate * flops / 1e9,
    }


def probe_real_env(task: str, k: int) -> dict[str, float]:
    """RSS bytes and build seconds per real env, from building `k` of them in this process."""
    import gymnasium as gym

    from genenv.worlds import WorldSpec

    spec = WorldSpec(task)
    spec.make_env().close()  # load MuJoCo and the task's XML once before measuring
    gc.collect()
    rss0, t0 = _rss(), time.perf_counter()
    env = gym.vector.SyncVectorEnv([spec.make_env for _ in range(k)])
    build_s = time.perf_counter() - t0
    env.reset(seed=0)
    rss = (_rss() - rss0) / k
    env.close()
    return {"rss_bytes": float(max(rss, 1.0)), "build_s": build_s / k}


def bench_real(task: str, n: int, cfg: BenchConfig, per_env: dict[str, float]) -> dict[str, Any]:
    """Real MuJoCo steps/s of gymnasium's SyncVectorEnv at `n` envs (or why it was not run)."""
    import gymnasium as gym

    from genenv.worlds import WorldSpec

    if not per_env:  # cost of one env, measured on a clean heap (freed memory would hide it)
        per_env.update(_in_fresh_process(probe_real_env, task, 32))
    est_gb, est_s = n * per_env["rss_bytes"] / 1e9, n * per_env["build_s"]
    if est_gb > cfg.real_mem_budget_gb or est_s > cfg.real_build_budget_s:
        return {
            "status": "not run",
            "reason": (
                f"building {n} envs needs ~{est_gb:.1f} GB RSS and ~{est_s:.0f} s (measured "
                f"{per_env['rss_bytes'] / 1e6:.2f} MB, "
                f"{per_env['build_s'] * 1e3:.1f} ms per env); "
                f"budget {cfg.real_mem_budget_gb} GB / {cfg.real_build_budget_s:.0f} s"
            ),
        }
    spec = WorldSpec(task)
    gc.collect()
    rss0, t0 = _rss(), time.perf_counter()
    env = gym.vector.SyncVectorEnv([spec.make_env for _ in range(n)])
    build_s = time.perf_counter() - t0
    env.reset(seed=cfg.seed)
    rss_bytes = (_rss() - rss0) / n
    rng = np.random.default_rng(cfg.seed)
    space = env.single_action_space
    actions = [
        rng.uniform(space.low, space.high, (n, *space.shape)).astype(space.dtype) for _ in range(8)
    ]
    env.step(actions[0])  # warm-up
    iters, start = 0, time.perf_counter()
    while iters < cfg.max_iters and time.perf_counter() - start < cfg.min_seconds:
        env.step(actions[iters % 8])
        iters += 1
    elapsed = time.perf_counter() - start
    env.close()
    del env
    gc.collect()
    per_env["build_s"] = max(per_env["build_s"], build_s / n)
    per_env["rss_bytes"] = max(per_env["rss_bytes"], rss_bytes)
    return {
        "status": "ok",
        "steps_per_s": iters * n / elapsed,
        "iters": iters,
        "seconds": elapsed,
        "build_s": build_s,
        "rss_bytes_per_env": rss_bytes,
    }


def bench_memory(task: str, n: int, cfg: BenchConfig) -> dict[str, Any]:
    """Bytes per slot: the env's per-slot state tensors, and the measured RSS (or CUDA) delta."""
    from genenv.envs.vector import DreamVectorEnv

    torch.set_num_threads(cfg.threads)
    model = _model(task, cfg.device)
    dev = torch.device(cfg.device)
    warm = DreamVectorEnv(task, model, 1, device=cfg.device)  # load lazy kernels/libraries first
    warm.reset_tensor(seed=0)
    warm.step_tensor(torch.zeros(1, warm.single_action_space.shape[0], device=dev))
    gc.collect()
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
        base = torch.cuda.memory_allocated(dev)
    rss0, hwm0 = _rss(), _peak_rss()
    env = DreamVectorEnv(task, model, n, device=cfg.device, validate_actions=False)
    env.reset_tensor(seed=cfg.seed)
    act = torch.zeros(n, env.single_action_space.shape[0], device=dev)
    for _ in range(3):
        env.step_tensor(act)
    _sync(dev)
    state = sum(
        v.numel() * v.element_size()
        for v in vars(env).values()
        if isinstance(v, torch.Tensor) and v.dim() >= 1 and v.shape[0] == n
    )
    out = {
        "num_envs": n,
        "state_bytes_per_slot": state / n,
        "rss_delta_bytes_per_slot": (_rss() - rss0) / n,  # what stays resident
        # Peak RSS growth (includes the model's transient activations during a step).
        "peak_rss_delta_bytes_per_slot": (_peak_rss() - max(hwm0, rss0)) / n,
    }
    if dev.type == "cuda":
        out["cuda_peak_bytes_per_slot"] = (torch.cuda.max_memory_allocated(dev) - base) / n
    env.close()
    return out


def _in_fresh_process(fn: Any, *args: Any) -> Any:
    """Run `fn(*args)` in a spawned process, so RSS deltas start from a clean heap."""
    import multiprocessing as mp

    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply(fn, args)


def bench_ppo(cfg: BenchConfig) -> dict[str, Any]:
    """Wall-clock of on-device PPO and SB3 PPO (through the SB3 adapter) on the same dream env."""
    import yaml

    from genenv.agents.ppo import OnDevicePPO
    from genenv.agents.ppo_config import PPOConfig, deep_merge
    from genenv.envs.vector import DreamVectorEnv

    recipe = yaml.safe_load(Path(cfg.ppo_recipe).read_text())
    merged = deep_merge(recipe, (recipe.get("tasks") or {}).get(cfg.ppo_task) or {})
    n_envs = int(merged.get("n_envs", 256))
    # SB3 needs same-step autoreset; both agents get the very same env settings.
    env_kw = {**(merged.get("env") or {}), "autoreset_mode": "same_step"}
    ppo_cfg = PPOConfig.from_recipe(recipe, task=cfg.ppo_task)
    shared = {
        "n_envs": n_envs,
        "n_steps": ppo_cfg.n_steps,
        "batch_size": ppo_cfg.batch_size,
        "n_epochs": ppo_cfg.n_epochs,
        "net_arch": ppo_cfg.net_arch_pi,
        "env": env_kw,
    }

    def make_env():
        return DreamVectorEnv(
            cfg.ppo_task, _model(cfg.ppo_task, cfg.device), n_envs, device=cfg.device, **env_kw
        )

    out: dict[str, Any] = {
        "task": cfg.ppo_task,
        "recipe": _display_path(cfg.ppo_recipe),
        "settings": shared,
        "measured_steps": cfg.ppo_steps,
        "target_steps": cfg.ppo_target,
    }
    env = make_env()
    env_time = _time_env_steps(env)
    agent = OnDevicePPO(env, ppo_cfg, cfg.device)
    start = time.perf_counter()
    agent.learn(cfg.ppo_steps, progress=False)
    _sync(torch.device(cfg.device))
    out["ondevice"] = _ppo_row(agent.num_timesteps, time.perf_counter() - start, env_time, cfg)
    try:
        from stable_baselines3 import PPO

        from genenv.envs.sb3 import DreamSB3VecEnv
    except ImportError as err:
        out["sb3"] = {"status": "not run", "reason": f"SB3 adapter unavailable: {err}"}
        return out
    env = make_env()
    env_time = _time_env_steps(env)
    vec = DreamSB3VecEnv(env)
    hp = {k: v for k, v in (merged.get("hyperparams") or {}).items()}
    pk = dict(merged.get("policy_kwargs") or {})
    if isinstance(pk.get("activation_fn"), str):
        pk["activation_fn"] = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}[pk["activation_fn"]]
    model = PPO("MlpPolicy", vec, policy_kwargs=pk, device=cfg.device, seed=cfg.seed, **hp)
    start = time.perf_counter()
    model.learn(cfg.ppo_steps)
    out["sb3"] = _ppo_row(model.num_timesteps, time.perf_counter() - start, env_time, cfg)
    ours, peer = out["ondevice"], out["sb3"]
    out["ratio_sb3_over_ondevice"] = peer["seconds_for_target"] / ours["seconds_for_target"]
    if ours["env_seconds"] is not None:
        out["ratio_agent_side_sb3_over_ondevice"] = peer["agent_seconds"] / ours["agent_seconds"]
    return out


def _display_path(path: str) -> str:
    p = Path(path).resolve()
    return str(p.relative_to(Path.cwd())) if p.is_relative_to(Path.cwd()) else str(p)


def _time_env_steps(env: Any) -> list[float]:
    """Accumulate the wall time spent inside `env.step_tensor` (CPU only: on an accelerator the
    timer would need a sync per step, which would change what is measured)."""
    total = [0.0]
    if env.device.type != "cpu":
        return []
    inner = env.step_tensor

    def timed(actions):
        t0 = time.perf_counter()
        result = inner(actions)
        total[0] += time.perf_counter() - t0
        return result

    env.step_tensor = timed
    return total


def _ppo_row(steps: int, seconds: float, env_time: list[float], cfg: BenchConfig) -> dict:
    env_s = env_time[0] if env_time else None
    return {
        "status": "ok",
        "steps": steps,
        "seconds": seconds,
        "steps_per_s": steps / seconds,
        "seconds_for_target": seconds * cfg.ppo_target / steps,
        "extrapolated": steps < cfg.ppo_target,
        "env_seconds": env_s,  # inside DreamVectorEnv.step_tensor (the shared model step)
        "agent_seconds": None if env_s is None else seconds - env_s,  # everything else
    }


def run_all(cfg: BenchConfig) -> dict[str, Any]:
    """Every section of the benchmark, with a tqdm bar; returns the JSON-ready results."""
    from tqdm.auto import tqdm

    torch.set_num_threads(cfg.threads)
    res: dict[str, Any] = {"machine": machine_info(cfg), "config": asdict(cfg), "throughput": {}}
    points = [(t, n) for t in cfg.tasks for n in cfg.num_envs]
    bar = tqdm(total=len(points), desc="throughput", unit="point")
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
            res["throughput"].setdefault(task, {})[str(n)] = row
            bar.update(1)
    bar.close()
    if "dream" not in cfg.skip and "HalfCheetah" in cfg.tasks and 1024 in cfg.num_envs:
        # How the imagined rate scales with model width (HalfCheetah, 1024 envs).
        res["model_width"] = {str(h): bench_dream("HalfCheetah", 1024, cfg, h) for h in cfg.widths}
    if "memory" not in cfg.skip:
        res["memory"] = {
            t: _in_fresh_process(bench_memory, t, max(cfg.num_envs), cfg) for t in cfg.tasks
        }
    if "ppo" not in cfg.skip:
        res["ppo"] = bench_ppo(cfg)
    res["machine"]["load_avg_at_end"] = list(os.getloadavg())
    return res


def _fmt(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


def to_markdown(res: dict[str, Any]) -> str:
    m, cfg = res["machine"], res["config"]
    lines = [
        "# Throughput: imagined (DreamVectorEnv) vs real (MuJoCo) steps per second",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']} ({m['torch_threads']} "
        f"thread(s)), Python {m['python']}, device `{m['device']}`"
        + (f" ({m['gpu']})" if "gpu" in m else "")
        + ".",
        f"Load average at start {m['load_avg_at_start'][0]:.2f}, at end "
        f"{m.get('load_avg_at_end', [float('nan')])[0]:.2f} (shared machine). {cfg['note']}",
        "",
        "Imagined: tensor API, random-init default-size `EnsembleWorldModel` (5 members, 3x200), "
        f"random actions, torch.compile {'on' if cfg['compile'] else 'off'}. Real: gymnasium "
        "`SyncVectorEnv` of `WorldSpec(task).make_env`. Each point "
        f"runs >= {cfg['min_seconds']} s or {cfg['max_iters']} vector steps, whichever first.",
        "",
        "| task | envs | real steps/s | imagined steps/s | imagined / real | model GFLOP/s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for task, rows in res["throughput"].items():
        for n, row in rows.items():
            real, dream = row.get("real", {}), row.get("dream", {})
            real_s = (
                _fmt(real.get("steps_per_s"))
                if real.get("status") == "ok"
                else (f"not run: {real['reason']}" if real else "-")
            )
            ratio = row.get("ratio_dream_over_real")
            lines.append(
                f"| {task} | {n} | {real_s} | {_fmt(dream.get('steps_per_s'))} | "
                f"{'-' if ratio is None else f'{ratio:.2f}x'} | "
                f"{_fmt(dream.get('model_gflops_per_s'))} |"
            )
    if m["device"] == "cpu":
        lines += ["| GPU | - | - | not measured (no device lent) | - | - |"]
    if res.get("model_width"):
        real = res["throughput"]["HalfCheetah"]["1024"].get("real", {})
        lines += [
            "",
            "## Model width (HalfCheetah, 1024 envs, 5 members x 3 hidden layers)",
            "",
            "| hidden units | model MFLOP per step | imagined steps/s | imagined / real |",
            "|---:|---:|---:|---:|",
        ]
        default = res["throughput"]["HalfCheetah"]["1024"].get("dream")
        rows = {"200 (default)": default} if default else {}
        for width, row in {**rows, **res["model_width"]}.items():
            ratio = (
                f"{row['steps_per_s'] / real['steps_per_s']:.2f}x"
                if real.get("status") == "ok"
                else "-"
            )
            lines.append(
                f"| {width} | {row['model_flops_per_step'] / 1e6:.2f} | "
                f"{_fmt(row['steps_per_s'])} | {ratio} |"
            )
    if "memory" in res:
        lines += [
            "",
            "## Memory per env slot",
            "",
            "| task | envs | state tensors (bytes/slot) | RSS delta (bytes/slot) | "
            "peak RSS delta (bytes/slot) | real env RSS (bytes/env) |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for task, mem in res["memory"].items():
            real_rss = [
                r["real"].get("rss_bytes_per_env")
                for r in res["throughput"][task].values()
                if r.get("real", {}).get("status") == "ok"
            ]
            lines.append(
                f"| {task} | {mem['num_envs']} | {_fmt(mem['state_bytes_per_slot'])} | "
                f"{_fmt(mem['rss_delta_bytes_per_slot'])} | "
                f"{_fmt(mem['peak_rss_delta_bytes_per_slot'])} | "
                f"{_fmt(real_rss[-1]) if real_rss else '-'} |"
            )
    if "ppo" in res:
        p = res["ppo"]
        lines += [
            "",
            f"## PPO wall-clock for {p['target_steps']:,} imagined steps ({p['task']})",
            "",
            f"Same dream env and recipe (`{p['recipe']}`): {p['settings']}. Measured "
            f"{p['measured_steps']:,} steps each"
            + (", then extrapolated linearly." if p["measured_steps"] < p["target_steps"] else "."),
            "",
            "| agent | steps measured | seconds | in env.step_tensor | agent side | steps/s "
            "| seconds for target |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for name, key in (("on-device PPO (genenv)", "ondevice"), ("SB3 PPO via adapter", "sb3")):
            r = p.get(key, {})
            if r.get("status") == "ok":
                env_s, agent_s = r.get("env_seconds"), r.get("agent_seconds")
                lines.append(
                    f"| {name} | {r['steps']:,} | {r['seconds']:.1f} | "
                    f"{'-' if env_s is None else f'{env_s:.1f}'} | "
                    f"{'-' if agent_s is None else f'{agent_s:.1f}'} | "
                    f"{_fmt(r['steps_per_s'])} | {r['seconds_for_target']:.0f} |"
                )
            else:
                lines.append(f"| {name} | not run: {r.get('reason', '-')} | | | | | |")
        if "ratio_sb3_over_ondevice" in p:
            lines.append(
                f"\nSpeed-up of on-device PPO over SB3 PPO, end to end: "
                f"{p['ratio_sb3_over_ondevice']:.2f}x"
                + (
                    f"; agent side only (total minus time inside the shared env step): "
                    f"{p['ratio_agent_side_sb3_over_ondevice']:.2f}x."
                    if "ratio_agent_side_sb3_over_ondevice" in p
                    else "."
                )
            )
    lines += ["", "## Goals", ""] + goal_lines(res)
    return "\n".join(lines) + "\n"


def goal_lines(res: dict[str, Any]) -> list[str]:
    out = []
    hc = res["throughput"].get("HalfCheetah", {}).get("1024", {})
    ratio = hc.get("ratio_dream_over_real")
    out.append(
        "- CPU, HalfCheetah at 1024 envs, imagined >= 10x real steps/s: "
        + (
            "not measured"
            if ratio is None
            else f"{ratio:.2f}x ({'met' if ratio >= 10 else 'not met'})"
        )
    )
    dream = hc.get("dream", {})
    if dream.get("status") == "ok":
        out.append(
            f"  Limit: one imagined HalfCheetah step costs "
            f"{dream['model_flops_per_step'] / 1e6:.2f} MFLOP of ensemble matmuls (all members "
            f"are evaluated, for the disagreement); this run sustained "
            f"{dream['model_gflops_per_s']:.1f} GFLOP/s, so the rate is bounded by model size "
            f"and CPU FLOPs (see the model-width table), not by per-step overhead."
        )
    sp = res.get("ppo", {}).get("ratio_sb3_over_ondevice")
    out.append(
        "- On-device PPO >= 5x faster than SB3 PPO: "
        + ("not measured" if sp is None else f"{sp:.2f}x ({'met' if sp >= 5 else 'not met'})")
    )
    ours, peer = res.get("ppo", {}).get("ondevice", {}), res.get("ppo", {}).get("sb3", {})
    if ours.get("env_seconds") is not None and sp is not None:
        share = ours["env_seconds"] / ours["seconds"]
        out.append(
            f"  Limit: {share:.0%} of on-device PPO's time is the world-model step, which both "
            f"agents pay alike, and the updates are the same gradient math in both. On a CPU the "
            f"on-device path removes only SB3's host copies and per-env Python (agent side "
            f"{res['ppo'].get('ratio_agent_side_sb3_over_ondevice', float('nan')):.2f}x faster); "
            f"even a free agent side could not beat SB3 by more than "
            f"{peer['seconds'] / ours['env_seconds']:.2f}x (SB3 time / env-step time)."
        )
    if res["machine"]["device"] == "cpu":
        out.append(
            "- GPU goals (10M imagined steps/s at 65k+ envs; PPO 1M+ steps/s): not measured "
            "(no device lent)."
        )
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = BenchConfig()
    parser.add_argument("--tasks", nargs="+", default=d.tasks, help="task names")
    parser.add_argument("--num-envs", nargs="+", type=int, default=d.num_envs, help="batch sizes")
    parser.add_argument("--device", default=d.device, help="torch device for imagined envs and PPO")
    parser.add_argument("--threads", type=int, default=d.threads, help="torch threads")
    parser.add_argument(
        "--compile", action="store_true", help="torch.compile the dream env's model network"
    )
    parser.add_argument(
        "--widths",
        nargs="*",
        type=int,
        default=d.widths,
        help="extra ensemble widths timed at HalfCheetah x 1024 envs",
    )
    parser.add_argument(
        "--min-seconds", type=float, default=d.min_seconds, help="measure each point this long ..."
    )
    parser.add_argument(
        "--max-iters",
        type=int,
        default=d.max_iters,
        help="... or this many vector steps, whichever first",
    )
    parser.add_argument(
        "--real-mem-budget-gb",
        type=float,
        default=d.real_mem_budget_gb,
        help="skip real vector envs whose estimated RSS exceeds this",
    )
    parser.add_argument(
        "--real-build-budget-s",
        type=float,
        default=d.real_build_budget_s,
        help="skip real vector envs whose estimated build time exceeds this",
    )
    parser.add_argument("--ppo-task", default=d.ppo_task, help="task of the PPO comparison")
    parser.add_argument("--ppo-recipe", default=d.ppo_recipe, help="SB3-form PPO recipe (YAML)")
    parser.add_argument(
        "--ppo-steps", type=int, default=d.ppo_steps, help="imagined steps measured per PPO"
    )
    parser.add_argument(
        "--ppo-target",
        type=int,
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
    parser.add_argument("--out", default=d.out, help="output path stem (.json and .md)")
    parser.add_argument("--seed", type=int, default=d.seed, help="seed")
    parser.add_argument("--note", default=d.note, help="free text for the table's header")


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
        out=args.out,
        seed=args.seed,
        note=args.note,
    )
    if any(n < 1 for n in cfg.num_envs) or any(w < 1 for w in cfg.widths):
        raise ValueError("--num-envs and --widths values must be >= 1")
    from genenv.worlds.tasks import get_task

    cfg.tasks = [get_task(t).name for t in cfg.tasks]  # unknown names fail here, listing tasks
    if "ppo" not in cfg.skip and not Path(cfg.ppo_recipe).is_file():
        raise FileNotFoundError(f"PPO recipe {cfg.ppo_recipe} not found (or pass --skip ppo)")
    res = run_all(cfg)
    out = Path(cfg.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(res, indent=2))
    text = to_markdown(res)
    out.with_suffix(".md").write_text(text)
    print(text)
    print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.md')}")
    return 0
