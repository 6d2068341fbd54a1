"""Wall-clock of on-device PPO against SB3 PPO (through the SB3 adapter) on the same dream env."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from genenv.bench import BenchConfig

from genenv.bench.measure import model_for, sync


def bench_ppo(cfg: BenchConfig) -> dict[str, Any]:
    """Wall-clock of on-device PPO and SB3 PPO (through the SB3 adapter) on the same dream env."""
    import yaml

    from genenv.agents.ppo import OnDevicePPO
    from genenv.agents.ppo_config import PPOConfig
    from genenv.agents.recipe import deep_merge
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
            cfg.ppo_task, model_for(cfg.ppo_task, cfg.device), n_envs, device=cfg.device, **env_kw
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
    sync(torch.device(cfg.device))
    out["ondevice"] = _ppo_row(agent.num_timesteps, time.perf_counter() - start, env_time, cfg)
    try:
        import stable_baselines3  # noqa: F401
    except ImportError as err:
        out["sb3"] = {"status": "not run", "reason": f"SB3 adapter unavailable: {err}"}
        return out
    from genenv.agents.recipe import Recipe
    from genenv.agents.sb3 import build_agent

    env = make_env()
    env_time = _time_env_steps(env)
    sb3_recipe = Recipe(
        algo="PPO",
        n_envs=n_envs,
        hyperparams=dict(merged.get("hyperparams") or {}),
        policy_kwargs=dict(merged.get("policy_kwargs") or {}),
    )
    model = build_agent(sb3_recipe, env, seed=cfg.seed, device=cfg.device)
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
