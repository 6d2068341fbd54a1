"""Timing and memory probes: imagined (DreamVectorEnv) and real (SyncVectorEnv) steps/s, bytes per
env slot, and the machine's description."""

from __future__ import annotations

import datetime
import gc
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

if TYPE_CHECKING:
    from genenv.bench import BenchConfig


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


def cpu_name() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    try:
        with open("/proc/cpuinfo") as f:
            names = [ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")]
        if names:
            return names[0]
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def machine_line(device: str = "cpu") -> str:
    """One line naming the machine for a benchmark table: CPU, cores, GPU in use, torch."""
    on_gpu = str(device).startswith("cuda") and torch.cuda.is_available()
    gpu = torch.cuda.get_device_name(torch.device(device)) if on_gpu else "no GPU used"
    return f"{cpu_name()}, {os.cpu_count()} CPU cores, {gpu}, torch {torch.__version__}"


def provenance(argv: list[str] | None = None) -> dict[str, str]:
    """What a table's header names besides the machine: the command line that wrote it, the UTC
    date, and the git short hash of the code measured ("-dirty" with uncommitted changes)."""
    argv = list(sys.argv if argv is None else argv)
    if Path(argv[0]).name == "genenv":
        command = shlex.join(["genenv", *argv[1:]])
    else:
        script = Path(argv[0])
        if script.is_absolute() and script.is_relative_to(Path.cwd()):
            script = script.relative_to(Path.cwd())
        command = shlex.join(["python", str(script), *argv[1:]])
    root = Path(__file__).resolve().parents[2]

    def git(*args: str) -> str:
        try:
            done = subprocess.run(
                ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.TimeoutExpired):
            return ""
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    if commit != "unknown" and git("status", "--porcelain", "--untracked-files=no"):
        commit += "-dirty"
    now = datetime.datetime.now(datetime.timezone.utc)
    return {"command": command, "date": now.strftime("%Y-%m-%d %H:%M UTC"), "git": commit}


def machine_info(cfg: BenchConfig) -> dict[str, Any]:
    info = {
        "line": machine_line(cfg.device),
        "cpu": cpu_name(),
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


def model_for(task: str, device: str, hidden: int | None = None):
    """A random-init ensemble for `task` on `device`: the default size, or `hidden` units."""
    from genenv.envs.testing import random_world_model
    from genenv.models.ensemble import EnsembleConfig

    config = None if hidden is None else EnsembleConfig(hidden_size=hidden)
    return random_world_model(task, config).to(device)


def model_flops(model: Any, members: str = "elites") -> float:
    """Matmul FLOPs (2 per multiply-add) of one imagined step per env slot.

    Only the members that run count: a dream env steps an ensemble's elites alone
    (`genenv.envs.fast.EliteStep`), so each (E, in, out) layer costs 2 * K * in * out; with
    `members="sampled"` one member runs per slot.
    """
    elites = getattr(model, "elites", None)
    total = 0
    for name, p in model.named_parameters():
        if name.endswith("weight") and p.dim() == 3:
            members_run = p.shape[0] if elites is None else int(elites.numel())
            members_run = 1 if members == "sampled" else members_run
            total += 2 * members_run * p.shape[1] * p.shape[2]
    return float(total)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_dream(
    task: str,
    n: int,
    cfg: BenchConfig,
    hidden: int | None = None,
    model: Any = None,
    members: str = "elites",
) -> dict:
    """Imagined steps/s of the tensor path at `n` envs (a random-init ensemble unless `model`);
    `members`: the env's `DreamConfig.members` (the default "elites", or "sampled")."""
    from genenv.envs.vector import DreamVectorEnv

    model = model_for(task, cfg.device, hidden) if model is None else model.to(cfg.device)
    flops = model_flops(model, members)
    env = DreamVectorEnv(
        task,
        model,
        n,
        device=cfg.device,
        validate_actions=False,
        compile=cfg.compile,
        members=members,
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
    sync(dev)
    iters, start, cpu0 = 0, time.perf_counter(), time.process_time()
    while iters < cfg.max_iters and time.perf_counter() - start < cfg.min_seconds:
        env.step_tensor(actions[iters % 8])
        iters += 1
        if dev.type == "cuda" and iters % 50 == 0:
            sync(dev)  # keep the timer honest without syncing every step
    sync(dev)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu0
    env.close()
    rate = iters * n / elapsed
    return {
        "status": "ok",
        "members": members,
        "steps_per_s": rate,
        "iters": iters,
        "seconds": elapsed,
        # Per second of this process's CPU time: less moved by other load on a shared machine.
        "steps_per_cpu_s": iters * n / cpu if dev.type == "cpu" and cpu > 0 else None,
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
        per_env.update(in_fresh_process(probe_real_env, task, 32))
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
    iters, start, cpu0 = 0, time.perf_counter(), time.process_time()
    while iters < cfg.max_iters and time.perf_counter() - start < cfg.min_seconds:
        env.step(actions[iters % 8])
        iters += 1
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu0
    env.close()
    del env
    gc.collect()
    per_env["build_s"] = max(per_env["build_s"], build_s / n)
    per_env["rss_bytes"] = max(per_env["rss_bytes"], rss_bytes)
    return {
        "status": "ok",
        "steps_per_s": iters * n / elapsed,
        "steps_per_cpu_s": iters * n / cpu if cpu > 0 else None,
        "iters": iters,
        "seconds": elapsed,
        "build_s": build_s,
        "rss_bytes_per_env": rss_bytes,
    }


def bench_memory(task: str, n: int, cfg: BenchConfig) -> dict[str, Any]:
    """Bytes per slot: the env's per-slot state tensors, and the measured RSS (or CUDA) delta."""
    from genenv.envs.vector import DreamVectorEnv

    torch.set_num_threads(cfg.threads)
    model = model_for(task, cfg.device)
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
    sync(dev)
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


def in_fresh_process(fn: Any, *args: Any) -> Any:
    """Run `fn(*args)` in a spawned process, so RSS deltas start from a clean heap."""
    import multiprocessing as mp

    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply(fn, args)
