"""Building and loading agents from recipes: stable-baselines3 algorithms and genenv's own.

SB3 is customised only through its callbacks and the VecEnv adapter (`genenv.envs.sb3`), never by
subclassing its algorithms. genenv's on-device agents take the `DreamVectorEnv` itself.
"""

from __future__ import annotations

import importlib
import json
import zipfile
from pathlib import Path

from genenv.agents.recipe import Recipe

# Explicit registry: recipe `algo` -> (module, class, kind). kind "sb3" trains through the VecEnv
# adapter; kind "ondevice" takes the DreamVectorEnv and keeps everything on its device.
ALGOS: dict[str, tuple[str, str, str]] = {
    "PPO": ("stable_baselines3", "PPO", "sb3"),
    "SAC": ("stable_baselines3", "SAC", "sb3"),
    "TD3": ("stable_baselines3", "TD3", "sb3"),
    "OnDevicePPO": ("genenv.agents.ppo", "OnDevicePPO", "ondevice"),
}
AGENT_META = "agent.json"  # written beside every saved agent: which class loads it


def algo_class(name: str):
    if name not in ALGOS:
        raise ValueError(f"unknown algo {name!r}; valid: {sorted(ALGOS)}")
    module, cls, _ = ALGOS[name]
    return getattr(importlib.import_module(module), cls)


def build_agent(recipe: Recipe, dream_env, seed: int = 0, tensorboard_log: str | None = None):
    """A fresh agent for `recipe`, training on `dream_env` (a `DreamVectorEnv`)."""
    cls = algo_class(recipe.algo)
    if ALGOS[recipe.algo][2] == "ondevice":
        return cls.from_recipe(recipe, dream_env, seed=seed, tensorboard_log=tensorboard_log)
    from genenv.envs.sb3 import DreamSB3VecEnv

    return cls(
        recipe.policy,
        DreamSB3VecEnv(dream_env),
        seed=seed,
        verbose=0,
        device="cpu" if recipe.algo == "PPO" else "auto",
        tensorboard_log=tensorboard_log,
        policy_kwargs=recipe.sb3_policy_kwargs(),
        **recipe.hyperparams,
    )


def set_agent_env(agent, dream_env) -> None:
    """Point an existing agent at a new dream env (e.g. after the world model was refined)."""
    if hasattr(agent, "set_dream_env"):
        agent.set_dream_env(dream_env)
        return
    from genenv.envs.sb3 import DreamSB3VecEnv

    agent.set_env(DreamSB3VecEnv(dream_env))


def save_agent(agent, path: str | Path, algo: str) -> Path:
    """Save an agent to `path` (a .zip for SB3) with an `agent.json` naming its class."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    agent.save(str(path))
    (path.parent / AGENT_META).write_text(json.dumps({"algo": algo, "file": path.name}))
    return path


def load_policy(path: str | Path, device: str = "cpu"):
    """Load a saved agent (anything with SB3's `predict`) from a file or a run's agent folder.

    The class comes from the `agent.json` beside the file; for a bare SB3 zip without one, from
    the zip's own metadata (SB3 stores the policy class and the algorithm's hyper-parameters).
    """
    path = Path(path)
    if path.is_dir():
        meta = path / AGENT_META
        if not meta.is_file():
            raise FileNotFoundError(f"{path} has no {AGENT_META}; pass the agent file itself")
        path = path / json.loads(meta.read_text())["file"]
    if not path.exists():
        raise FileNotFoundError(f"agent file {path} not found")
    meta = path.parent / AGENT_META
    if meta.is_file() and json.loads(meta.read_text()).get("file") == path.name:
        algo = json.loads(meta.read_text())["algo"]
    else:
        algo = _sb3_algo_from_zip(path)
    return algo_class(algo).load(str(path), device=device)


def _sb3_algo_from_zip(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as zf:
            data = json.loads(zf.read("data"))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError) as err:
        raise ValueError(f"{path} is not a stable-baselines3 agent zip ({err})") from None
    policy_module = str(data.get("policy_class", {}).get("__module__", ""))
    for name in ("sac", "td3"):
        if f"stable_baselines3.{name}." in policy_module:
            return name.upper()
    if "clip_range" in data:
        return "PPO"
    raise ValueError(f"cannot tell which SB3 algorithm saved {path}; add an {AGENT_META}")
