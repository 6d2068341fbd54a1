"""Building and loading agents from recipes: stable-baselines3 algorithms and genenv's own.

SB3 is customised only through its callbacks and the VecEnv adapter (`genenv.envs.sb3`), never by
subclassing its algorithms. genenv's on-device agents take the `DreamVectorEnv` itself.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from genenv.agents.recipe import Recipe
from genenv.data.files import read_json

# Explicit registry: recipe `algo` -> (module, class, kind). kind "sb3" trains through the VecEnv
# adapter; kind "ondevice" takes the DreamVectorEnv and keeps everything on its device.
ALGOS: dict[str, tuple[str, str, str]] = {
    "PPO": ("stable_baselines3", "PPO", "sb3"),
    "SAC": ("stable_baselines3", "SAC", "sb3"),
    "TD3": ("stable_baselines3", "TD3", "sb3"),
    "OnDevicePPO": ("genenv.agents.ppo", "OnDevicePPO", "ondevice"),
    "MBPO": ("genenv.agents.mbpo", "MBPO", "ondevice"),
}
SB3_RUNTIME = (  # runtime state SB3 would pickle into a zip: not saved
    "_last_obs",
    "_last_original_obs",
    "_last_episode_starts",
    "ep_info_buffer",
    "ep_success_buffer",
)
AGENT_META = "agent.json"  # written beside every saved agent: which class loads it


def algo_class(name: str):
    if name not in ALGOS:
        raise ValueError(f"unknown algo {name!r}; valid: {sorted(ALGOS)}")
    module, cls, _ = ALGOS[name]
    return getattr(importlib.import_module(module), cls)


def agent_file_name(algo: str) -> str:
    """Where a run keeps its agent inside RUN_DIR/agent/: an SB3 zip, or an on-device agent's
    folder (safetensors weights + JSON)."""
    if algo not in ALGOS:
        raise ValueError(f"unknown algo {algo!r}; valid: {sorted(ALGOS)}")
    return "agent.zip" if ALGOS[algo][2] == "sb3" else "policy"


def build_agent(
    recipe: Recipe,
    dream_env,
    seed: int = 0,
    tensorboard_log: str | None = None,
    device: str | None = None,
):
    """A fresh agent for `recipe`, training on `dream_env` (a `DreamVectorEnv`): the one agent
    builder (the loop, curricula and benchmarks all build their agents here). `device`: where an
    SB3 agent's networks live (default: CPU for PPO, SB3's choice for the others)."""
    cls = algo_class(recipe.algo)
    if ALGOS[recipe.algo][2] == "ondevice":
        return cls.from_recipe(recipe, dream_env, seed=seed, tensorboard_log=tensorboard_log)
    from genenv.envs.sb3 import DreamSB3VecEnv

    return cls(
        recipe.policy,
        DreamSB3VecEnv(dream_env),
        seed=seed,
        verbose=0,
        device=device or ("cpu" if recipe.algo == "PPO" else "auto"),
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

    venv = DreamSB3VecEnv(dream_env)
    if getattr(agent, "n_envs", venv.num_envs) != venv.num_envs:
        raise ValueError(
            f"the agent was trained with {agent.n_envs} envs, this run's recipe has "
            f"{venv.num_envs}; it is not this run's agent"
        )
    if agent.observation_space != venv.observation_space or agent.action_space != venv.action_space:
        raise ValueError(
            f"the agent's spaces ({agent.observation_space}, {agent.action_space}) are not this "
            f"run's ({venv.observation_space}, {venv.action_space})"
        )
    agent.set_env(venv)


def save_agent(agent, path: str | Path, algo: str) -> Path:
    """Save an agent to `path` (a .zip for SB3) with an `agent.json` naming its class."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if ALGOS.get(algo, ("", "", "sb3"))[2] == "sb3":
        # Runtime arrays SB3 would pickle: the safe loader refuses pickles, and `learn` after a
        # load resets the env when they are missing, so leave them out.
        agent.save(str(path), exclude=list(SB3_RUNTIME))
    else:
        agent.save(str(path))
    (path.parent / AGENT_META).write_text(json.dumps({"algo": algo, "file": path.name}))
    return path


def load_policy(
    path: str | Path, device: str = "cpu", env: Any = None, overrides: dict | None = None
):
    """Load a saved agent (anything with SB3's `predict`) from a file or a run's agent folder.

    SB3 zips go through `genenv.data.sb3_zip.load_sb3_model`: nothing pickled in the file runs,
    and a zip needing its own code is refused with a clear error. `env` (an SB3 VecEnv) attaches
    the agent for further training; `overrides` replace pickled entries by name (a recipe's
    hyperparams). genenv's own agents (agent.json says so) load from safetensors.
    """
    from genenv.data.sb3_zip import load_sb3_model

    path = Path(path)
    if path.is_dir() and not _names_agent(path.parent / AGENT_META, path.name):
        meta = path / AGENT_META  # a run's agent folder (an on-device agent's own folder is not)
        if not meta.is_file():
            raise FileNotFoundError(f"{path} has no {AGENT_META}; pass the agent file itself")
        path = path / _bare_name(_read_agent_meta(meta).get("file"), meta)
    if not path.exists():
        raise FileNotFoundError(f"agent file {path} not found")
    meta = path.parent / AGENT_META
    algo = None
    if meta.is_file():
        info = _read_agent_meta(meta)
        if info.get("file") == path.name:
            algo = info.get("algo")
    if algo in ALGOS and ALGOS[algo][2] == "ondevice":
        return algo_class(algo).load(str(path), device=device)
    return load_sb3_model(path, device=device, env=env, overrides=overrides)


def _names_agent(meta: Path, name: str) -> bool:
    """Whether the agent.json `meta` exists and names `name` as its agent."""
    return meta.is_file() and _read_agent_meta(meta).get("file") == name


def _read_agent_meta(meta: Path) -> dict[str, Any]:
    info = read_json(meta)
    if not isinstance(info, dict):
        raise ValueError(f"{meta} must hold a JSON object")
    return info


def _bare_name(name: Any, meta: Path) -> str:
    """`name` if it is a plain file name (no folder part), else a clear error."""
    if not isinstance(name, str) or not name or Path(name).name != name or name in (".", ".."):
        raise ValueError(f"{meta}: 'file' must be a bare file name inside its folder, got {name!r}")
    return name


class RandomPolicy:
    """Uniform random actions with SB3's `predict` signature (for collection and baselines)."""

    def __init__(self, action_space, seed: int = 0):
        self.action_space = action_space
        self.action_space.seed(seed)

    def predict(self, obs: np.ndarray, state: Any = None, episode_start=None, deterministic=False):
        batch = obs.shape[:-1] if obs.ndim > 1 else ()
        if batch:
            return np.stack([self.action_space.sample() for _ in range(batch[0])]), None
        return self.action_space.sample(), None
