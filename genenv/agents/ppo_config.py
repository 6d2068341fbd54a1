"""`PPOConfig`: on-device PPO's hyper-parameters, named as in stable-baselines3's PPO, and their
parsing from the SB3-form YAML recipes under `agents/` (so one recipe drives both agents)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from genenv.agents.recipe import deep_merge

ACTIVATION_NAMES = ("tanh", "relu", "elu", "silu")
# SB3 keys that carry no meaning for this agent and are accepted silently in recipes.
_IGNORED_KEYS = {"verbose", "device", "tensorboard_log", "stats_window_size", "seed"}


@dataclass
class PPOConfig:
    """PPO hyper-parameters; names follow stable-baselines3's PPO where they overlap."""

    n_steps: int = 2048  # rollout length per env between updates
    batch_size: int = 64  # minibatch size (transitions)
    n_epochs: int = 10  # passes over each rollout
    gamma: float = 0.99  # discount
    gae_lambda: float = 0.95  # GAE(lambda)
    clip_range: float = 0.2  # policy ratio clip
    clip_range_vf: float | None = None  # value clip around the old value (None: no clipping)
    normalize_advantage: bool = True  # per-minibatch advantage normalisation
    ent_coef: float = 0.0  # entropy bonus weight
    vf_coef: float = 0.5  # value loss weight
    max_grad_norm: float = 0.5  # global gradient-norm clip
    learning_rate: float = 3e-4  # Adam step size
    lr_schedule: str = "constant"  # "constant" or "linear" (to 0 over the run; SB3 zoo "lin_")
    target_kl: float | None = None  # stop an update's epochs early past this approx KL
    net_arch_pi: list[int] = field(default_factory=lambda: [64, 64])  # policy MLP hidden sizes
    net_arch_vf: list[int] = field(default_factory=lambda: [64, 64])  # value MLP hidden sizes
    activation_fn: str = "tanh"  # hidden activation: tanh | relu | elu | silu
    log_std_init: float = 0.0  # initial state-independent log std
    ortho_init: bool = True  # orthogonal init (gains sqrt 2 / 0.01 / 1, as SB3 and CleanRL)
    squash: str = "clip"  # "clip": clip Gaussian samples to the bounds; "tanh": tanh-rescale
    normalize_obs: bool = True  # running on-device observation normalisation (VecNormalize style)
    normalize_reward: bool = False  # scale rewards by the running std of discounted returns
    clip_obs: float = 10.0  # clip normalised observations to +-clip_obs
    seed: int = 0  # seeds the network init and the action-sampling generator

    def __post_init__(self) -> None:
        if self.n_steps < 1 or self.batch_size < 1 or self.n_epochs < 1:
            raise ValueError("n_steps, batch_size and n_epochs must be >= 1")
        if self.activation_fn not in ACTIVATION_NAMES:
            raise ValueError(f"activation_fn must be one of {ACTIVATION_NAMES}")
        if self.squash not in ("clip", "tanh"):
            raise ValueError("squash must be 'clip' or 'tanh'")
        if self.lr_schedule not in ("constant", "linear"):
            raise ValueError("lr_schedule must be 'constant' or 'linear'")

    @classmethod
    def from_recipe(cls, recipe: dict[str, Any], task: str | None = None) -> PPOConfig:
        """Build from an SB3-form recipe: {algo, policy, hyperparams, policy_kwargs, normalize}.

        With `task`, the recipe's `tasks: {<task>: {...}}` overrides are deep-merged first; other
        top-level keys (n_envs, total_timesteps, env, ...) are the caller's business.
        """
        if task is not None:
            recipe = deep_merge(recipe, (recipe.get("tasks") or {}).get(task) or {})
        algo = str(recipe.get("algo", "PPO")).upper()
        if algo not in ("PPO", "ONDEVICEPPO"):
            raise ValueError(f"on-device PPO cannot run a recipe for algo {algo!r}")
        if recipe.get("policy", "MlpPolicy") != "MlpPolicy":
            raise ValueError("on-device PPO supports policy: MlpPolicy only")
        hp = dict(recipe.get("hyperparams") or {})
        pk = dict(recipe.get("policy_kwargs") or hp.pop("policy_kwargs", None) or {})
        if hp.pop("use_sde", False):
            raise ValueError("on-device PPO does not implement gSDE (use_sde)")
        hp.pop("sde_sample_freq", None)
        kw: dict[str, Any] = {}
        for key in (*_IGNORED_KEYS, "normalize"):
            hp.pop(key, None)
        lr = hp.pop("learning_rate", None)
        if isinstance(lr, str):  # SB3 zoo style "lin_3e-4"
            if not lr.startswith("lin_"):
                raise ValueError(f"learning_rate {lr!r}: use a number or 'lin_<number>'")
            kw["learning_rate"], kw["lr_schedule"] = float(lr[4:]), "linear"
        elif lr is not None:
            kw["learning_rate"] = float(lr)
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(hp) - names)
        if unknown:
            raise ValueError(f"unknown PPO hyper-parameter(s) {unknown}; valid: {sorted(names)}")
        kw.update(hp)
        arch = pk.pop("net_arch", None)
        if isinstance(arch, dict):
            kw["net_arch_pi"], kw["net_arch_vf"] = list(arch["pi"]), list(arch["vf"])
        elif arch is not None:
            kw["net_arch_pi"], kw["net_arch_vf"] = list(arch), list(arch)
        act = pk.pop("activation_fn", None)
        if act is not None:
            kw["activation_fn"] = str(act).split(".")[-1].lower()  # "nn.ReLU" -> "relu"
        for key in ("log_std_init", "ortho_init", "squash"):
            if key in pk:
                kw[key] = pk.pop(key)
        if pk:
            raise ValueError(f"unsupported policy_kwargs {sorted(pk)} for on-device PPO")
        # As in the SB3 zoo, `normalize` (VecNormalize) is off unless the recipe asks for it.
        norm = recipe.get("normalize", False)
        if isinstance(norm, dict):
            kw.setdefault("normalize_obs", bool(norm.get("norm_obs", True)))
            kw.setdefault("normalize_reward", bool(norm.get("norm_reward", True)))
        else:
            kw.setdefault("normalize_obs", bool(norm))
            kw.setdefault("normalize_reward", bool(norm))
        return cls(**kw)
