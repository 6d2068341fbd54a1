"""Saving and loading on-device PPO agents: a folder of safetensors weights and JSON, no pickles."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genenv.agents.ppo_config import PPOConfig

if TYPE_CHECKING:
    from genenv.agents.ppo import OnDevicePPO

FORMAT_VERSION = 1
META_FILE, WEIGHTS_FILE = "ppo.json", "ppo.safetensors"  # what `save_ppo` writes into its folder


def save_ppo(agent: OnDevicePPO, path: str | Path) -> Path:
    """Write the folder `path`: ppo.safetensors (weights, normalisers) and ppo.json (config,
    spaces, step count). No optimizer state: a loaded agent predicts, or trains afresh."""
    from safetensors.torch import save_file

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tensors = {f"policy.{k}": v for k, v in agent.policy.state_dict().items()}
    tensors |= {f"obs_rms.{k}": v for k, v in agent.obs_rms.state_dict().items()}
    tensors |= {f"ret_rms.{k}": v for k, v in agent.ret_rms.state_dict().items()}
    save_file(
        {k: v.detach().cpu().contiguous() for k, v in tensors.items()},
        str(path / WEIGHTS_FILE),
    )
    meta = {
        "format_version": FORMAT_VERSION,
        "algo": "OnDevicePPO",
        "config": asdict(agent.config),
        "obs_dim": agent.obs_dim,
        "action_low": agent.low.tolist(),
        "action_high": agent.high.tolist(),
        "num_timesteps": agent.num_timesteps,
    }
    (path / META_FILE).write_text(json.dumps(meta, indent=2))
    return path


def load_ppo(
    cls: type[OnDevicePPO], path: str | Path, env: Any = None, device: str | None = None
) -> OnDevicePPO:
    """Load an agent saved by `save_ppo` (no unpickling); pass `env` to continue training."""
    from safetensors.torch import load_file

    path = Path(path)
    meta_file, weights = path / META_FILE, path / WEIGHTS_FILE
    if not meta_file.is_file() or not weights.is_file():
        raise FileNotFoundError(
            f"{path} is not a saved OnDevicePPO folder (needs {META_FILE} and {WEIGHTS_FILE})"
        )
    meta = json.loads(meta_file.read_text())
    if meta.get("algo") != "OnDevicePPO" or meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{meta_file}: not an OnDevicePPO save of format {FORMAT_VERSION}")
    agent = cls(
        env,
        PPOConfig(**meta["config"]),
        device,
        obs_dim=meta["obs_dim"],
        action_low=meta["action_low"],
        action_high=meta["action_high"],
    )
    if env is not None and agent.obs_dim != meta["obs_dim"]:
        raise ValueError(f"env has {agent.obs_dim} obs features, the save has {meta['obs_dim']}")
    try:
        state = load_file(str(weights), device=str(agent.device))
        for name, module in (
            ("policy", agent.policy),
            ("obs_rms", agent.obs_rms),
            ("ret_rms", agent.ret_rms),
        ):
            sub = {k[len(name) + 1 :]: v for k, v in state.items() if k.startswith(name + ".")}
            module.load_state_dict(sub)
    except Exception as err:  # corrupt file, or weights that do not match the config
        raise ValueError(f"{weights}: cannot load OnDevicePPO weights ({err})") from None
    agent.num_timesteps = int(meta.get("num_timesteps", 0))
    return agent
