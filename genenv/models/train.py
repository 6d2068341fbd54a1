"""Fit an `EnsembleWorldModel` to real transitions (PETS/MBPO recipe).

Each member sees its own bootstrap resample of the training episodes' transitions and minimises
the Gaussian negative log-likelihood of the normalised (change of state, reward) target -- plain
NLL on the state change; beta-NLL (beta=1) on the reward, since with plain NLL a large predicted
variance excuses a wrong mean on rare, discontinuous rewards (InvertedPendulum's 0 at the fall)
-- plus a class-weighted binary cross-entropy on the termination flag and a small penalty that keeps
the learned log-variance bounds tight. With `rollout_steps` k > 1 the loss is averaged over k-step
open-loop rollouts instead: each member feeds its own predicted mean state back in (gradients flow
through the rollout) and is scored at every step against the real next state, so it learns to
correct the drift it will compound in imagination. Validation uses whole held-out *episodes*; training stops
when no member's held-out error (geometric mean over dimensions of the MSE) improved for
`patience` epochs, or at the epoch/time budget; each member keeps its best weights, and the
members with the lowest held-out error become the elites.
"""

from __future__ import annotations

import copy
import math
import time
import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from genenv.config_checks import finite_floats, positive_ints
from genenv.data.transitions import Transitions
from genenv.models.distributed import rank_world, wrap
from genenv.models.ensemble import EnsembleConfig, EnsembleWorldModel
from genenv.models.evaluate import _window_starts
from genenv.progress import progress_bar
from genenv.worlds import CONTEXT_FIELDS, get_task


@dataclass
class TrainConfig:
    """How to train the world model (the architecture lives in `EnsembleConfig`)."""

    lr: float = 1e-3  # AdamW learning rate
    weight_decay: float = 1e-5  # AdamW decoupled weight decay
    batch_size: int = 256  # transitions per member per gradient step
    max_epochs: int = 100  # one epoch = one pass over each member's bootstrap sample
    patience: int = 8  # stop after this many epochs without a >1% held-out improvement
    holdout_fraction: float = 0.1  # fraction of EPISODES held out for validation (>= 1 episode)
    max_holdout: int = 5000  # at most this many held-out transitions are scored per epoch
    max_time_s: float | None = 600.0  # wall-clock budget for the epochs (None: no limit)
    nll_beta_obs: float = 0.0  # beta-NLL (Seitzer et al. 2022) on state changes; 0: plain NLL
    nll_beta_reward: float = 1.0  # beta-NLL on the reward (1: its mean is fitted as by MSE)
    logvar_bound_coef: float = 0.01  # weight of the (max_logvar - min_logvar) penalty
    termination_coef: float = 1.0  # weight of the termination BCE
    rollout_steps: int = 1  # k > 1: loss over k-step rollouts of each member's own predictions
    real_obs_cap: int = 50_000  # real states kept in the model for branched starts
    seed: int = 0  # bootstrap, split, init and batch order
    device: str = "cpu"  # torch device to train on

    def __post_init__(self) -> None:
        positive_ints(
            self, "batch_size", "max_epochs", "max_holdout", "real_obs_cap", "rollout_steps"
        )
        positive_ints(self, "patience", "seed", allow_zero=True)
        finite_floats(self, "lr", positive=True)
        finite_floats(self, "max_time_s", positive=True, allow_none=True)
        finite_floats(self, "weight_decay", "nll_beta_obs", "nll_beta_reward")
        finite_floats(self, "logvar_bound_coef", "termination_coef")
        if not 0.0 < self.holdout_fraction < 1.0:
            raise ValueError(f"holdout_fraction must be in (0, 1), got {self.holdout_fraction}")


def split_episodes(
    transitions: Transitions, holdout_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(train mask, held-out mask) over transitions, splitting by whole episodes.

    With a single episode, its last `holdout_fraction` of steps is held out instead.
    """
    if not 0.0 < holdout_fraction < 1.0:
        raise ValueError(f"holdout_fraction must be in (0, 1), got {holdout_fraction}")
    episodes = np.unique(transitions.episode_ids)
    if episodes.size < 2:
        n = len(transitions)
        k = max(1, int(round(n * holdout_fraction)))
        held = np.zeros(n, dtype=bool)
        held[n - k :] = True
        return ~held, held
    rng = np.random.default_rng(seed)
    k = min(max(1, int(round(episodes.size * holdout_fraction))), episodes.size - 1)
    held_eps = rng.choice(episodes, size=k, replace=False)
    held = np.isin(transitions.episode_ids, held_eps)
    return ~held, held


def _tensors(t: Transitions, device: torch.device) -> dict[str, torch.Tensor]:
    def f(x: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.ascontiguousarray(x), dtype=torch.float32, device=device)

    target = np.concatenate([t.next_obs - t.obs, t.rewards[:, None]], axis=1)  # (N, obs_dim+1)
    return {
        "obs": f(t.obs),
        "act": f(t.actions),
        "ctx": f(t.contexts),
        "target": f(target),
        "term": f(t.terminations.astype(np.float32)),
    }


def new_model(
    transitions: Transitions, ensemble: EnsembleConfig | None = None
) -> EnsembleWorldModel:
    """An untrained ensemble sized for `transitions`' task (action bounds from the real env)."""
    import gymnasium as gym

    info = get_task(transitions.task)
    env = gym.make(info.gym_id, **info.make_kwargs)
    low, high = env.action_space.low.tolist(), env.action_space.high.tolist()
    env.close()
    obs_dim, act_dim = transitions.obs.shape[1], transitions.actions.shape[1]
    return EnsembleWorldModel(
        transitions.task, obs_dim, act_dim, len(CONTEXT_FIELDS), ensemble, low, high
    )


@torch.no_grad()
def validation_mse(model: EnsembleWorldModel, data: dict[str, torch.Tensor]) -> torch.Tensor:
    """(E, out) mean squared error of each member's mean, per normalised target dimension
    (the change of each observation dimension, then the reward)."""
    total = torch.zeros(model.config.ensemble_size, model.out_dim, device=model.device)
    n = data["obs"].shape[0]
    for i in range(0, n, 8192):
        sl = slice(i, i + 8192)
        mean, _, _ = model(data["obs"][sl], data["act"][sl], data["ctx"][sl])  # (E, b, out)
        target = model.target_norm(data["target"][sl])  # (b, out)
        total += ((mean - target) ** 2).sum(1)
    return total / max(n, 1)


def validation_score(mse: torch.Tensor) -> torch.Tensor:
    """(E,) log of the geometric mean over dimensions of the per-dimension MSE.

    Early stopping and elite choice use this rather than the plain mean so that no single hard
    dimension (e.g. InvertedPendulum's 0/1 reward) hides progress on all the others.
    """
    return mse.clamp_min(1e-12).log().mean(-1)


@torch.no_grad()
def _termination_accuracy(model: EnsembleWorldModel, data: dict[str, torch.Tensor]) -> float:
    _, _, logit = model(data["obs"], data["act"], data["ctx"])  # (E, n)
    pred = logit[model.elites].mean(0) > 0
    return float((pred == (data["term"] > 0.5)).float().mean())


def _fill_real_states(model: EnsembleWorldModel, t: Transitions, cap: int, seed: int) -> None:
    dev = model.device
    starts = torch.as_tensor(t.obs[t.episode_starts()], dtype=torch.float32, device=dev)
    rng = np.random.default_rng(seed)
    idx = np.arange(len(t)) if len(t) <= cap else np.sort(rng.choice(len(t), cap, replace=False))
    model.start_obs = starts  # (k, obs_dim)
    model.real_obs = torch.as_tensor(t.obs[idx], dtype=torch.float32, device=dev)  # (m, obs_dim)


def _nll(mean, logvar, target, beta) -> torch.Tensor:
    """Mean Gaussian NLL with beta-NLL weights; all (E, B, out), beta (out,)."""
    nll = ((mean - target) ** 2) * torch.exp(-logvar) + logvar  # (E, B, out)
    return (nll * torch.exp(beta * logvar.detach())).mean()


def _step_loss(net, tr, idx, target, beta, pos_weight) -> tuple[torch.Tensor, torch.Tensor]:
    """One-step (NLL, termination BCE) for batch indices idx (E, B); target (E, B, out).
    `net` is the model or its DistributedDataParallel wrapper."""
    mean, logvar, logit = net(tr["obs"][idx], tr["act"][idx], tr["ctx"][idx])
    bce = F.binary_cross_entropy_with_logits(logit, tr["term"][idx], pos_weight=pos_weight)
    return _nll(mean, logvar, target, beta), bce


def _rollout_loss(net, model, tr, starts, k, beta, pos_weight) -> tuple[torch.Tensor, torch.Tensor]:
    """(NLL, BCE) averaged over k-step rollouts from window starts (E, B): each member steps its
    own predicted mean state and is scored against the real change from where it stands.
    `net` runs the forward pass (the model or its DDP wrapper), `model` holds the normalisers."""
    obs = tr["obs"][starts]  # (E, B, obs_dim)
    nll = bce = 0.0
    for j in range(k):
        idx = starts + j  # (E, B) consecutive steps of one episode
        mean, logvar, logit = net(obs, tr["act"][idx], tr["ctx"][idx])
        real = tr["target"][idx]  # (E, B, out): real (delta obs, reward) from the real state
        real_next = tr["obs"][idx] + real[..., :-1]  # (E, B, obs_dim)
        target = torch.cat([real_next - obs, real[..., -1:]], dim=-1)  # from where it stands
        nll = nll + _nll(mean, logvar, model.target_norm(target), beta)
        bce = bce + F.binary_cross_entropy_with_logits(
            logit, tr["term"][idx], pos_weight=pos_weight
        )
        obs = obs + model.target_norm.inverse(mean)[..., :-1]  # (E, B, obs_dim)
    return nll / k, bce / k


def train_world_model(
    transitions: Transitions,
    config: TrainConfig | None = None,
    model: EnsembleWorldModel | None = None,
    progress: bool = True,
    ensemble: EnsembleConfig | None = None,
) -> tuple[EnsembleWorldModel, dict[str, Any]]:
    """Train (or warm-start) an ensemble on `transitions`; returns (model, report).

    A new model gets normalisers fitted on the training split. A warm-started `model` (from an
    earlier iteration of the loop) KEEPS its normalisers: refitting them would silently change
    what its trained weights compute; the networks adapt to the new data instead. Either way the
    real start states and real-state bank are replaced by those of `transitions`.

    The report holds the split (held-out episode ids), the held-out MSE per member before and
    after training (normalised target units), the elites, the termination accuracy, the number
    of epochs and gradient steps, the wall time and why training stopped.
    """
    cfg = config or TrainConfig()
    t0 = time.monotonic()
    warm = model is not None
    if len(transitions) < 2:
        raise ValueError("need at least 2 transitions to train a world model")
    device = torch.device(cfg.device)
    gen = torch.Generator(device="cpu").manual_seed(cfg.seed)
    train_mask, held_mask = split_episodes(transitions, cfg.holdout_fraction, cfg.seed)
    train, held = transitions.select(train_mask), transitions.select(held_mask)
    if model is None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)  # member initialisation
            model = new_model(transitions, ensemble).to(device)
        tr = _tensors(train, device)
        model.obs_norm.fit(tr["obs"])
        model.ctx_norm.fit(tr["ctx"])
        model.target_norm.fit(tr["target"])
    else:
        if model.task != transitions.task or model.obs_dim != transitions.obs.shape[1]:
            raise ValueError(
                f"cannot warm-start a {model.task} model (obs_dim {model.obs_dim}) on "
                f"{transitions.task} data (obs_dim {transitions.obs.shape[1]})"
            )
        model = model.to(device)
        tr = _tensors(train, device)
    hv = _tensors(held, device)
    if held.obs.shape[0] > cfg.max_holdout:
        keep = torch.randperm(held.obs.shape[0], generator=gen)[: cfg.max_holdout].to(device)
        hv = {k: v[keep] for k, v in hv.items()}
    E, n = model.config.ensemble_size, tr["obs"].shape[0]
    n_transitions, k = n, cfg.rollout_steps
    if k < 1:
        raise ValueError(f"rollout_steps must be >= 1, got {k}")
    windows = None  # k > 1: starts of k consecutive steps of one training episode
    if k > 1:
        windows = torch.as_tensor(_window_starts(train, k), device=device)  # (W,)
        if windows.numel() == 0:
            raise ValueError(f"no training episode has {k} steps for rollout_steps={k}")
        n = windows.numel()  # bootstrap and epochs run over windows
    beta = torch.full((model.out_dim,), cfg.nll_beta_obs, device=device)  # (out,)
    beta[-1] = cfg.nll_beta_reward
    # Termination is rare: weight positives by neg/pos (clipped) so they are not ignored.
    pos = float(tr["term"].sum())
    neg_per_pos = (n_transitions - pos) / max(pos, 1.0)
    pos_weight = torch.tensor(min(max(neg_per_pos, 1.0), 100.0), device=device)
    target_n = model.target_norm(tr["target"])  # (n, out) normalised targets
    boot = torch.randint(n, (E, n), generator=gen).to(device)  # (E, n) bootstrap indices
    opt = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=cfg.lr, weight_decay=cfg.weight_decay
    )
    initial_mse = validation_mse(model, hv)  # (E, out)
    best = validation_score(initial_mse)  # (E,)
    best_state = copy.deepcopy(model.state_dict())
    since, steps, stop, epochs = 0, 0, "max_epochs", 0
    per_epoch = math.ceil(n / cfg.batch_size)
    rank, world = rank_world()  # under torchrun: each rank trains on its slice of every batch
    net = wrap(model)
    bar = progress_bar(
        total=cfg.max_epochs,
        disable=not progress or rank != 0,
        unit="epoch",
        desc="train world model (max epochs)",
    )
    model.train()
    for epoch in range(1, cfg.max_epochs + 1):
        order = torch.argsort(torch.rand(E, n, generator=gen), dim=1).to(device)
        shuffled = torch.gather(boot, 1, order)  # (E, n) this epoch's batch order per member
        for b in range(per_epoch):
            idx = shuffled[:, b * cfg.batch_size : (b + 1) * cfg.batch_size]  # (E, B)
            if idx.shape[1] >= world:  # (a last batch smaller than the world is shared)
                idx = idx[:, rank::world]  # (E, B / world) this rank's slice
            if k == 1:
                nll, bce = _step_loss(net, tr, idx, target_n[idx], beta, pos_weight)
            else:
                nll, bce = _rollout_loss(net, model, tr, windows[idx], k, beta, pos_weight)
            bound = (model.max_logvar - model.min_logvar).sum()
            loss = nll + cfg.termination_coef * bce + cfg.logvar_bound_coef * bound
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            steps += 1
        model.eval()
        score = validation_score(validation_mse(model, hv))  # (E,)
        model.train()
        improved = best - score > math.log(1.01)  # geometric-mean MSE down by more than 1%
        if improved.any():
            state = model.state_dict()
            for name, value in state.items():
                if name.startswith(("hidden.", "head.")):  # (E, ...) per-member tensors
                    best_state[name][improved] = value[improved]
                elif not name.startswith(("elites", "start_obs", "real_obs")):
                    best_state[name] = value.clone()
            best = torch.where(improved, score, best)
            since = 0
        else:
            since += 1
        epochs = epoch
        bar.update(1)
        bar.set_postfix(val_gmse=f"{float(best.mean().exp()):.2e}", loss=f"{loss.item():.3f}")
        if since >= cfg.patience:
            stop = "patience"
            break
        if cfg.max_time_s is not None and time.monotonic() - t0 > cfg.max_time_s:
            stop = "time"
            break
    bar.close()
    still_improving = stop == "max_epochs" and since == 0
    if still_improving:  # an undertrained model predicts worse and terminates falsely more often
        warnings.warn(
            f"world-model training stopped at its cap of {cfg.max_epochs} epochs while the "
            "held-out error was still falling; more epochs (train-world --epochs, run "
            "--train-epochs) would give a better model",
            stacklevel=2,
        )
    model.load_state_dict(best_state)
    model.eval()
    final_mse = validation_mse(model, hv)  # (E, out)
    final_score = validation_score(final_mse)  # (E,)
    model.elites = torch.argsort(final_score)[: model.config.num_elites].to(device)
    elite_mse = final_mse[model.elites].mean(0)  # (out,)
    _fill_real_states(model, transitions, cfg.real_obs_cap, cfg.seed)
    report = {
        "config": asdict(cfg),
        "ensemble": asdict(model.config),
        "train_transitions": int(n_transitions),
        "holdout_transitions": int(held.obs.shape[0]),
        "holdout_episode_ids": sorted(int(i) for i in np.unique(held.episode_ids)),
        "val_mse_initial": float(initial_mse.mean()),
        "val_mse_members": final_mse.mean(-1).tolist(),
        "val_gmse_members": final_score.exp().tolist(),
        "val_mse": float(elite_mse.mean()),  # elites' mean over all target dimensions
        "val_mse_obs": float(elite_mse[:-1].mean()),  # ... over the state-change dimensions
        "val_mse_reward": float(elite_mse[-1]),  # ... on the reward
        "termination_accuracy": _termination_accuracy(model, hv),
        "termination_pos_weight": float(pos_weight),
        "elites": model.elites.tolist(),
        "epochs": epochs,
        "grad_steps": steps,
        "stopped": stop,
        "still_improving": still_improving,  # stopped by max_epochs with the last epoch better
        "time_s": round(time.monotonic() - t0, 2),
        "data_fingerprint": transitions.fingerprint(),
        "warm_start": warm,
    }
    return model, report
