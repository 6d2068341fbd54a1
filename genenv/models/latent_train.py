"""Train a `LatentWorldModel` on a pixel dataset, JEPA-style, with collapse measured throughout.

One gradient step on a batch of windows of `horizon` consecutive real transitions (never crossing
an episode boundary; shorter windows are masked):
- z0 = encoder(frames of the first observation); the predictors roll z forward open-loop with the
  real actions (the next latent is the predictors' mean);
- latent loss: each predictor's z_h against the EMA *target* encoder's latent of the real
  observation h steps on (no gradient through the target), summed over h: the multi-step rollout
  loss;
- anti-collapse: VICReg variance (hinge on each dimension's batch std) and covariance
  (off-diagonal squares) terms on z0;
- reward head on (z_{h-1}, a) and termination head on z_h along the rollout, against the real ones;
- inverse dynamics: the action from (z_{h-1}, z_h) along the rollout and from (z0, target z1), so
  both the predictor and the encoder keep what the actions change;
- decoder: the real newest frame from the *detached* latents (z0 and an equal number of rollout
  latents picked at random): pixels never shape the latent space.
- state head (only with `state_coef` > 0): an MLP z0 -> the true MuJoCo state stored beside the
  frames, part of the objective (not of the saved model), so its gradient shapes the encoder.
Then the dynamics phase (`fit_dynamics`, `dynamics_steps`): the encoder frozen, its poses of every
frame computed once, the predictors and the reward/termination heads train on `dynamics_horizon`-
step open-loop rollouts (far longer than the joint fit's: a slow drift shows only over many steps).
Every `eval_every` steps the held-out episodes are scored: per-dimension latent std, effective rank
(exp of the entropy of the normalised singular values), a ridge probe z -> true MuJoCo state (fit on
training latents, R² on held-out), one-step latent error, reward error and decoded PSNR.
A final smallest std below `COLLAPSED_STD` marks the world collapsed (`report["collapsed"]`,
`collapse_warning`): a probe still reads the state from such a z, so R² alone does not show it.

Distributed: under torchrun (`torch.distributed` initialised) every rank draws the same global
batch and takes its own slice of it; DistributedDataParallel averages the gradients, so the
update is that of the global batch, as in one process. Rank 0 alone evaluates.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from genenv.data.pixels import PixelTransitions
from genenv.data.transitions import Transitions
from genenv.models.distributed import rank_world, wrap
from genenv.models.ensemble import Normaliser
from genenv.models.latent import LatentConfig, LatentWorldModel
from genenv.models.train import split_episodes
from genenv.progress import progress_bar
from genenv.worlds import CONTEXT_FIELDS, get_task


@dataclass
class LatentTrainConfig:
    """How to train the latent pixel model (the architecture lives in `LatentConfig`)."""

    steps: int = 3000  # joint gradient steps (0 on a given model: its dynamics phase alone)
    batch_size: int = 32  # windows per step (global, split across DDP ranks)
    horizon: int = 3  # open-loop steps of the latent rollout loss
    lr: float = 1e-3  # AdamW learning rate
    weight_decay: float = 1e-5  # AdamW decoupled weight decay
    ema: float = 0.99  # target encoder <- ema * target + (1 - ema) * online, every step
    var_coef: float = 1.0  # VICReg variance term weight
    cov_coef: float = 0.04  # VICReg covariance term weight
    reward_coef: float = 1.0  # reward head MSE weight
    termination_coef: float = 0.5  # termination head BCE weight
    decoder_coef: float = 1.0  # decoder MSE weight (on detached latents)
    inverse_coef: float = 1.0  # inverse-dynamics MSE weight (keeps the actions' effect in z)
    # Weight of an auxiliary head z -> the true MuJoCo state stored beside the frames (training
    # only, dropped after; 0: off). Its gradient makes the encoder place the bodies precisely: a
    # goal-image planner needs the pose to a few hundredths of a radian, which the self-supervised
    # terms alone do not demand. The latent-probe R² then no longer measures collapse alone.
    state_coef: float = 0.0
    holdout_fraction: float = 0.1  # fraction of episodes held out for the collapse metrics
    eval_every: int = 250  # steps between held-out evaluations (and log lines)
    max_eval: int = 1500  # at most this many held-out / probe-fit transitions per evaluation
    max_time_s: float | None = 1800.0  # wall-clock budget (None: no limit)
    real_obs_cap: int = 20_000  # encoded real states kept for branched starts
    # After the joint fit: the predictors and the reward/termination heads alone, on the frozen
    # encoder's latents (cheap: no conv pass), with a long rollout loss. A slow drift (a pole
    # starting to fall) moves the pose less per step than the frames resolve it; it shows over
    # many steps, and a 3-step loss sees little of it.
    dynamics_steps: int = 500  # gradient steps (0: skip the phase)
    dynamics_horizon: int = 15  # open-loop steps of its rollout loss
    dynamics_batch_size: int = 128  # windows per step
    seed: int = 0
    device: str = "cpu"


class _Windows:
    """Index arithmetic over a pixel dataset: frame stacks and `horizon`-step windows."""

    def __init__(self, px: PixelTransitions, device: torch.device):
        t = px.transitions
        self.n = len(t)
        starts = np.zeros(self.n, dtype=bool)
        starts[t.episode_starts()] = True
        cur = px.obs_frame
        self.prev = torch.as_tensor(np.where(starts, cur, cur - 1), device=device)  # (N,)
        self.cur = torch.as_tensor(cur, device=device)  # (N,)
        self.frames = torch.as_tensor(px.frames, device=device)  # (F, H, W, 3) uint8
        self.ep = torch.as_tensor(t.episode_ids, device=device)
        f = lambda x: torch.as_tensor(np.ascontiguousarray(x), dtype=torch.float32, device=device)  # noqa: E731
        self.act, self.rew, self.ctx = f(t.actions), f(t.rewards), f(t.contexts)
        self.term, self.state = f(t.terminations.astype(np.float32)), f(t.obs)
        starts_t = torch.as_tensor(starts, device=device)
        prev_act = torch.cat([torch.zeros_like(self.act[:1]), self.act[:-1]])
        self.prev_act = torch.where(starts_t[:, None], 0.0, prev_act)  # (N, act_dim) 0 at starts

    def stack(self, i: torch.Tensor) -> torch.Tensor:
        """(..., 2, H, W, 3) frames [previous, current] of the observations of transitions i."""
        return torch.stack([self.frames[self.prev[i]], self.frames[self.cur[i]]], dim=-4)

    def next_stack(self, i: torch.Tensor) -> torch.Tensor:
        """(..., 2, H, W, 3) frames of the NEXT observations of transitions i."""
        return torch.stack([self.frames[self.cur[i]], self.frames[self.cur[i] + 1]], dim=-4)

    def window(self, i: torch.Tensor, horizon: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, H) transition indices from each start i and (B, H) mask of those in i's episode."""
        idx = i[:, None] + torch.arange(horizon, device=i.device)  # (B, H)
        clipped = idx.clamp_max(self.n - 1)
        return clipped, (idx < self.n) & (self.ep[clipped] == self.ep[i][:, None])


def vicreg_terms(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(variance hinge, covariance) terms of VICReg on a (B, D) batch."""
    zc = z - z.mean(0)
    std = torch.sqrt(zc.var(0) + 1e-4)
    var = F.relu(1.0 - std).mean()
    cov = (zc.T @ zc) / max(z.shape[0] - 1, 1)  # (D, D)
    off = cov - torch.diag(torch.diag(cov))
    return var, (off**2).sum() / z.shape[1]


class _Objective(nn.Module):
    """All the losses of one batch in one forward (so DDP sees every parameter used)."""

    def __init__(
        self,
        model: LatentWorldModel,
        target: nn.Module,
        cfg: LatentTrainConfig,
        state: torch.Tensor | None = None,
    ):
        super().__init__()
        self.model, self.cfg = model, cfg
        self._target = [target]  # not a submodule: DDP must not sync it, EMA updates it
        self.pos_weight = 1.0
        self.state_head = None  # z -> standardised true state (cfg.state_coef > 0 only)
        if cfg.state_coef > 0:
            if state is None:
                raise ValueError("state_coef > 0 needs the training states")
            self.state_norm = Normaliser(state.shape[1]).to(state.device)
            self.state_norm.fit(state)  # (N, state_dim) training rows
            h = model.config.hidden_size
            self.state_head = nn.Sequential(
                nn.Linear(model.obs_dim, h), nn.SiLU(), nn.Linear(h, state.shape[1])
            )  # fmt: skip

    def forward(self, w: _Windows, i: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        m, cfg, H = self.model, self.cfg, self.cfg.horizon
        idx, mask = w.window(i, H)  # (B, H)
        z0 = m.embed(w.stack(i), w.prev_act[i])  # (B, D)
        with torch.no_grad():  # the target encoder's next poses (B, H, pose_dim)
            nxt = w.next_stack(idx) if m.config.encoder == "stack" else w.frames[w.cur[idx] + 1]
            tz = self._target[0](nxt.flatten(0, 1)).view(*idx.shape, -1)
        var, cov = vicreg_terms(m.pose(z0))
        pred_loss, rew_loss, term_loss, zs = _rollout(m, w, z0, idx, mask, tz, self.pos_weight)
        maskf, inv_loss = mask.float(), z0.new_zeros(())
        for h, (z_prev, z) in enumerate(zip([z0, *zs[:-1]], zs, strict=True)):
            pair = torch.cat([m.frames_part(z_prev), m.frames_part(z)], -1)
            inv = ((m.inverse_head(pair) - w.act[idx[:, h]]) ** 2).mean(-1)  # (B,)
            inv_loss = inv_loss + (inv * maskf[:, h]).sum() / maskf[:, h].sum().clamp_min(1.0)
        # decode z0 and as many rollout latents (a random subset: decoding is the costly part)
        dz = torch.cat([z.detach()[mask[:, h]] for h, z in enumerate(zs)])
        df = torch.cat([w.frames[w.cur[idx[mask[:, h], h]] + 1] for h in range(H)])
        sub = torch.randperm(len(dz), device=dz.device)[: len(i)]
        recon = m.decoder(m.frames_part(torch.cat([z0.detach(), dz[sub]])))  # (M, 3, H, W)
        real = torch.cat([w.frames[w.cur[i]], df[sub]]).permute(0, 3, 1, 2).float() / 127.5 - 1.0
        dec_loss = F.mse_loss(recon, real)
        a0 = w.act[idx[:, 0]]
        z1 = m.next_latent(tz[:, 0], z0, a0)  # the target's next state
        pair = torch.cat([m.frames_part(z0), m.frames_part(z1)], -1)
        inv_loss = inv_loss / H + ((m.inverse_head(pair) - a0) ** 2).mean()
        state_loss = z0.new_zeros(())
        if self.state_head is not None:
            true = self.state_norm(w.state[i])  # (B, state_dim)
            state_loss = F.mse_loss(self.state_head(z0), true)
        loss = (
            cfg.inverse_coef * inv_loss
            + cfg.state_coef * state_loss
            + pred_loss
            + cfg.var_coef * var
            + cfg.cov_coef * cov
            + cfg.reward_coef * rew_loss
            + cfg.termination_coef * term_loss
            + cfg.decoder_coef * dec_loss
        )
        parts = {"latent": pred_loss, "var": var, "cov": cov, "reward": rew_loss}
        parts |= {"termination": term_loss, "decoder": dec_loss, "inverse": inv_loss}
        if self.state_head is not None:
            parts["state"] = state_loss
        return loss, {f"losses/{k}": float(v.detach()) for k, v in parts.items()}


def ridge_fit(x: torch.Tensor, y: torch.Tensor, lam: float = 1e-3):
    """(W (D, k), b (k,)) of a ridge regression y ~ x @ W + b on standardised x."""
    xm, ym = x.mean(0), y.mean(0)
    xs = x.std(0).clamp_min(1e-6)
    a = (x - xm) / xs
    w = torch.linalg.solve(a.T @ a + lam * len(a) * torch.eye(a.shape[1]), a.T @ (y - ym))
    w = w / xs[:, None]
    return w, ym - xm @ w


def _ridge_r2(x_fit, y_fit, x_eval, y_eval, lam: float = 1e-3) -> float:
    """R² (averaged over state dimensions) of a ridge regression x -> y fit on (x_fit, y_fit)."""
    w, b = ridge_fit(x_fit, y_fit, lam)
    pred = x_eval @ w + b
    ss_res = ((y_eval - pred) ** 2).sum(0)
    ss_tot = ((y_eval - y_eval.mean(0)) ** 2).sum(0).clamp_min(1e-8)
    return float((1.0 - ss_res / ss_tot).mean())


def effective_rank(z: torch.Tensor) -> float:
    """exp(entropy) of the normalised singular values of the centred (n, D) latents."""
    s = torch.linalg.svdvals(z - z.mean(0))
    p = s / s.sum().clamp_min(1e-12)
    return float(torch.exp(-(p * (p + 1e-12).log()).sum()))


@torch.no_grad()
def collapse_metrics(
    model: LatentWorldModel, w: _Windows, fit_idx: torch.Tensor, eval_idx: torch.Tensor
) -> dict[str, float]:
    """Latent std per dimension, effective rank, probe R², one-step error, reward error, PSNR."""
    model.eval()
    a, ctx = w.act[eval_idx], w.ctx[eval_idx]
    z_fit = model.encode(w.stack(fit_idx), w.prev_act[fit_idx]).cpu()
    z = model.encode(w.stack(eval_idx), w.prev_act[eval_idx])  # (n, D)
    z_next = model.encode(w.next_stack(eval_idx), a)
    pred = model.predict_all(z, a, ctx).mean(0)
    std = model.frames_part(z).std(0)  # of what the encoder reads (not the previous action)
    recon = model.render(z).float()
    mse = ((recon - w.frames[w.cur[eval_idx]].float()) ** 2).mean()
    out = {
        "collapse/latent_std_min": float(std.min()),
        "collapse/latent_std_mean": float(std.mean()),
        "collapse/effective_rank": effective_rank(model.frames_part(z).cpu()),
        "collapse/probe_r2": _ridge_r2(
            z_fit, w.state[fit_idx].cpu(), z.cpu(), w.state[eval_idx].cpu()
        ),
        "eval/one_step_latent_rel_mse": float(
            ((model.pose(pred) - model.pose(z_next)) ** 2).mean() / model.pose(z_next).var(0).mean()
        ),
        "eval/reward_mse": float(((model.reward(z, a, ctx) - w.rew[eval_idx]) ** 2).mean()),
        "eval/decoded_psnr": float(10 * torch.log10(255.0**2 / mse.clamp_min(1e-8))),
    }
    model.train()
    return out


# Below this smallest per-dimension latent std (the VICReg hinge aims at 1) a world has collapsed:
# its latents still carry the state (a linear probe with huge weights reads it), but at a scale
# where the predictors' errors dwarf a step's change, so its dream is noise. Seen on 128-px
# InvertedPendulum loop worlds: 0.0001-0.007 (one-step error 180-10^6x the latents' variance) in
# three of four, 0.72 in the fourth, whose agent balanced.
COLLAPSED_STD = 0.1


def collapse_warning(metrics: dict) -> str | None:
    """One line when a `collapse_metrics` row shows a collapsed latent, else None."""
    std = metrics.get("collapse/latent_std_min")
    if std is None or std >= COLLAPSED_STD:
        return None
    err = metrics.get("eval/one_step_latent_rel_mse", float("nan"))
    return (
        f"the latent world collapsed: its smallest latent std is {std:.2g} (below "
        f"{COLLAPSED_STD}) and its one-step error {err:.3g}x the latents' variance, so its dream "
        "is noise; train it again with a larger variance weight (train-world --var-coef, "
        "run --latent-var-coef; 10 kept a collapsing 128-px fit whole) or another seed"
    )


def latent_health(model: LatentWorldModel, px: PixelTransitions, seed: int = 0) -> dict[str, float]:
    """`collapse_metrics` of a trained model on a pixel dataset (probe fit on 90% of its episodes,
    scored on the rest): what training logs, for any checkpoint and data."""
    train_mask, held_mask = split_episodes(px.transitions, 0.1, seed)
    w = _Windows(px, model.device)
    fit_idx = torch.as_tensor(np.flatnonzero(train_mask), device=model.device)
    held_idx = torch.as_tensor(np.flatnonzero(held_mask), device=model.device)
    was_training = model.training
    out = collapse_metrics(model, w, fit_idx, held_idx if len(held_idx) else fit_idx)
    model.train(was_training)
    return out


def new_latent_model(task: str, config: LatentConfig | None = None) -> LatentWorldModel:
    """An untrained latent model for `task` (action bounds from the real env)."""
    import gymnasium as gym

    info = get_task(task)
    env = gym.make(info.gym_id, **info.make_kwargs)
    low, high = env.action_space.low.tolist(), env.action_space.high.tolist()
    env.close()
    return LatentWorldModel(info.name, len(low), len(CONTEXT_FIELDS), config, low, high)


def train_latent_model(
    px: PixelTransitions,
    config: LatentTrainConfig | None = None,
    latent: LatentConfig | None = None,
    progress: bool = True,
    log: Any = None,
    model: LatentWorldModel | None = None,
) -> tuple[LatentWorldModel, dict[str, Any]]:
    """Train a latent world model on the frames of `px`; returns (model, report).

    `model`: continue training this model (its architecture; `latent` is then ignored) instead
    of a fresh one: the refit of a loop that adds data to the dataset it was trained on.

    `log(step, metrics)` (optional) receives the losses and collapse metrics at every evaluation;
    the report holds their history, the final metrics, the split and the cost.
    """
    cfg = config or LatentTrainConfig()
    t0 = time.monotonic()
    rank, world = rank_world()
    device = torch.device(cfg.device)
    if model is not None:
        if model.task != get_task(px.transitions.task).name:
            raise ValueError(
                f"the model is a {model.task} world, the data is {px.transitions.task}"
            )
        latent = model.config
    latent = latent or LatentConfig(image_size=px.size)
    if latent.image_size != px.size:
        raise ValueError(f"the data has {px.size}x{px.size} frames, the model reads {latent}")
    get_task(px.transitions.task)
    if cfg.batch_size < world:
        raise ValueError(f"batch_size {cfg.batch_size} is smaller than the {world} DDP ranks")
    train_mask, held_mask = split_episodes(px.transitions, cfg.holdout_fraction, cfg.seed)
    w = _Windows(px, device)
    train_idx = torch.as_tensor(np.flatnonzero(train_mask), device=device)
    held_idx = torch.as_tensor(np.flatnonzero(held_mask), device=device)
    gen = torch.Generator(device="cpu").manual_seed(cfg.seed)
    fit_idx = train_idx[torch.randperm(len(train_idx), generator=gen)[: cfg.max_eval].to(device)]
    eval_idx = held_idx[torch.randperm(len(held_idx), generator=gen)[: cfg.max_eval].to(device)]
    warm = model is not None
    if model is None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            model = new_latent_model(px.transitions.task, latent).to(device)
    model = model.to(device).train()
    if not warm:  # a refit keeps the normalisation its predictors learned under
        model.ctx_norm.fit(w.ctx[train_idx])
    target = copy.deepcopy(model.encoder).requires_grad_(False)
    objective = _Objective(model, target, cfg, w.state[train_idx])
    pos = float(w.term[train_idx].sum())
    objective.pos_weight = min(max((len(train_idx) - pos) / max(pos, 1.0), 1.0), 100.0)
    step_fn = wrap(objective)  # DDP under torchrun (it broadcasts rank 0's weights)
    # the objective's parameters: the model's and the training-only state head's
    opt = torch.optim.AdamW(objective.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    history: list[dict[str, float]] = []
    bar = progress_bar(
        total=cfg.steps,
        disable=not progress or rank != 0 or cfg.steps == 0,  # 0: the dynamics phase alone
        unit="step",
        desc="train latent model",
    )
    stop, step, losses = "steps", 0, {}
    for step in range(1, cfg.steps + 1):
        pick = torch.randint(len(train_idx), (cfg.batch_size,), generator=gen).to(device)
        batch = train_idx[pick][rank::world]  # this rank's slice of the global batch
        loss, losses = step_fn(w, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            for p_t, p in zip(target.parameters(), model.encoder.parameters(), strict=True):
                p_t.lerp_(p, 1.0 - cfg.ema)
        bar.update(1)
        out_of_time = cfg.max_time_s is not None and time.monotonic() - t0 > cfg.max_time_s
        if world > 1:  # every rank stops at the same step
            flag = torch.tensor(float(out_of_time), device=device)
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
            out_of_time = bool(flag > 0)
        if rank == 0 and (step % cfg.eval_every == 0 or step == cfg.steps or out_of_time):
            row = {"step": step, "time_s": round(time.monotonic() - t0, 1), **losses}
            row |= collapse_metrics(model, w, fit_idx, eval_idx if len(eval_idx) else fit_idx)
            history.append(row)
            bar.set_postfix(
                r2=f"{row['collapse/probe_r2']:.2f}",
                std=f"{row['collapse/latent_std_min']:.2g}",  # a probe reads even a collapsed z
                loss=f"{float(loss.detach()):.3f}",
            )
            if log is not None:
                log(step, row)
        if out_of_time:
            stop = "time"
            break
    bar.close()
    dynamics = fit_dynamics(model, w, train_idx, held_idx, cfg, progress and rank == 0)
    model.eval()
    _fill_latent_banks(model, w, px, train_idx, cfg)
    _fit_probe_and_prompt_limit(model, w, fit_idx, eval_idx if len(eval_idx) else fit_idx)
    report = {
        "config": asdict(cfg),
        "latent": asdict(model.config),
        "train_transitions": int(len(train_idx)),
        "holdout_episode_ids": sorted(
            int(e) for e in np.unique(px.transitions.episode_ids[held_mask])
        ),
        "grad_steps": step,
        "warm_start": warm,
        "stopped": stop,
        "time_s": round(time.monotonic() - t0, 2),
        "world_size": world,
        "history": history,
        "final": history[-1] if history else {},
        # (None after a dynamics-only fit: the encoder, and so the collapse, is the given model's)
        "collapsed": collapse_warning(history[-1]) is not None if history else None,
        "dynamics": dynamics,
        "data_fingerprint": px.transitions.fingerprint(),
    }
    return model, report


def _rollout(model: LatentWorldModel, w: _Windows, z, idx, mask, target, pos_weight: float = 1.0):
    """Open-loop rollout of latents z (B, D) with the real actions of windows idx (B, H) (mask:
    (B, H) steps in the start's episode), scored against target poses (B, H, pose_dim). Returns
    the (pose, reward, termination) losses averaged over the horizon and the rollout's latents
    [z_1, ..., z_H], each (B, D): the next latent is the predictors' mean."""
    maskf, H = mask.float(), idx.shape[1]
    pred = rew = term = z.new_zeros(())
    pw, zs = torch.tensor(pos_weight, device=z.device), []
    for h in range(H):
        a, ctx = w.act[idx[:, h]], w.ctx[idx[:, h]]
        r_hat = model.reward(z, a, ctx)  # (B,)
        members = model.predict_all(z, a, ctx)  # (K, B, D)
        err = ((model.pose(members) - target[None, :, h]) ** 2).mean(-1).mean(0)  # (B,)
        z = members.mean(0)
        zs.append(z)
        bce = F.binary_cross_entropy_with_logits(
            model.termination_logit(z, ctx), w.term[idx[:, h]], pos_weight=pw, reduction="none"
        )
        m, denom = maskf[:, h], maskf[:, h].sum().clamp_min(1.0)
        pred = pred + (err * m).sum() / denom
        rew = rew + (((r_hat - w.rew[idx[:, h]]) ** 2) * m).sum() / denom
        term = term + (bce * m).sum() / denom
    return pred / H, rew / H, term / H, zs


def _rollout_losses(model: LatentWorldModel, w: _Windows, poses: torch.Tensor, i, horizon: int):
    """`_rollout` from transitions i (B,) against the frozen encoder's poses (F, pose_dim) of the
    real frames, with plain BCE: the dream's threshold (logit 0) is then p = 0.5 at the data's
    base rate."""
    idx, mask = w.window(i, horizon)  # (B, H)
    z = model.with_action(torch.cat([poses[w.cur[i]], poses[w.prev[i]]], -1), w.prev_act[i])
    return _rollout(model, w, z, idx, mask, poses[w.cur[idx] + 1])[:3]


def fit_dynamics(
    model: LatentWorldModel, w: _Windows, train_idx, held_idx, cfg: LatentTrainConfig, progress
) -> dict[str, Any]:
    """The dynamics phase (`LatentTrainConfig.dynamics_steps`): the predictors and the reward and
    termination heads on the frozen encoder's poses of every frame, with a `dynamics_horizon`-step
    rollout loss. Keeps the weights with the best held-out loss (checked every `eval_every`
    steps, and before the first). Every DDP rank runs it alike: same data, same draws."""
    if cfg.dynamics_steps == 0:
        return {"steps": 0}
    t0, H = time.monotonic(), cfg.dynamics_horizon
    model.eval()
    with torch.no_grad():
        poses = torch.cat(
            [model.encoder(w.frames[j : j + 1024]) for j in range(0, len(w.frames), 1024)]
        )
    heads = (model.predictors, model.reward_head, model.termination_head)
    params = [p for head in heads for p in head.parameters()]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    gen = torch.Generator(device="cpu").manual_seed(cfg.seed + 1)
    check = held_idx if len(held_idx) else train_idx
    check = check[torch.randperm(len(check), generator=gen)[: cfg.max_eval].to(check.device)]

    def held_loss() -> float:
        with torch.no_grad():
            pred, rew, term = _rollout_losses(model, w, poses, check, H)
        return float(pred + cfg.reward_coef * rew + cfg.termination_coef * term)

    best = before = held_loss()
    keep = copy.deepcopy([h.state_dict() for h in heads])
    bar = progress_bar(total=cfg.dynamics_steps, disable=not progress, unit="step",
                       desc="fit latent dynamics")  # fmt: skip
    for step in range(1, cfg.dynamics_steps + 1):
        pick = torch.randint(len(train_idx), (cfg.dynamics_batch_size,), generator=gen)
        pred, rew, term = _rollout_losses(model, w, poses, train_idx[pick.to(train_idx.device)], H)
        loss = pred + cfg.reward_coef * rew + cfg.termination_coef * term
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        bar.update(1)
        if step % cfg.eval_every == 0 or step == cfg.dynamics_steps:
            now = held_loss()
            if now < best:
                best, keep = now, copy.deepcopy([h.state_dict() for h in heads])
            bar.set_postfix(held=f"{now:.3f}")
    bar.close()
    for head, state in zip(heads, keep, strict=True):
        head.load_state_dict(state)
    return {
        "steps": cfg.dynamics_steps,
        "horizon": H,
        "held_loss_before": round(before, 5),
        "held_loss_after": round(best, 5),
        "time_s": round(time.monotonic() - t0, 2),
    }


@torch.no_grad()
def latent_transitions(model: LatentWorldModel, px: PixelTransitions) -> Transitions:
    """The real transitions of `px` as an agent in the real env sees them through `model`: obs
    and next_obs become (N, D) latents of their frame stacks, with the action taken between the
    two frames (0 at an episode's first frame), exactly as `LatentAgentPolicy` encodes them.
    What a pixel run hands MBPO as the real share of its batches; redo it after every refit (the
    encoder moved)."""
    w = _Windows(px, model.device)
    i = torch.arange(w.n, device=model.device)
    z = model.encode(w.stack(i), w.prev_act[i])  # (N, D)
    z_next = model.encode(w.next_stack(i), w.act[i])  # (N, D)
    return replace(px.transitions, obs=z.cpu().numpy(), next_obs=z_next.cpu().numpy())


@torch.no_grad()
def _fill_latent_banks(model, w: _Windows, px: PixelTransitions, train_idx, cfg) -> None:
    starts = torch.as_tensor(px.transitions.episode_starts(), device=w.cur.device)
    model.start_obs = model.encode(w.stack(starts), w.prev_act[starts])  # (k, D)
    rng = np.random.default_rng(cfg.seed)
    n = len(train_idx)
    keep = (
        np.arange(n) if n <= cfg.real_obs_cap else np.sort(rng.choice(n, cfg.real_obs_cap, False))
    )
    idx = train_idx[torch.as_tensor(keep, device=w.cur.device)]
    model.real_obs = model.encode(w.stack(idx), w.prev_act[idx])  # (m, D)


@torch.no_grad()
def _fit_probe_and_prompt_limit(model, w: _Windows, fit_idx, eval_idx) -> None:
    """The state probe (fit on training latents) and the prompt limit: 1.5x the worst
    `prompt_score` of held-out real frames (single frames, as image prompts are read)."""
    z = model.encode(w.stack(fit_idx), w.prev_act[fit_idx])
    weight, bias = ridge_fit(z.cpu(), w.state[fit_idx].cpu())
    model.probe_weight, model.probe_bias = weight.to(w.cur.device), bias.to(w.cur.device)
    scores = model.prompt_score(w.frames[w.cur[eval_idx]])
    model.prompt_limit = (1.5 * scores.max()).reshape(())


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio (dB) between uint8 images."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)
