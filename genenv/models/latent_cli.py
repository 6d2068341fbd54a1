"""`genenv train-world --kind latent`: the latent pixel model's options and run (see cli.py)."""

from __future__ import annotations

import argparse
import json
import sys

from genenv import cli_args as ca
from genenv.models.latent import LatentConfig
from genenv.models.latent_train import LatentTrainConfig, collapse_warning


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d, c = LatentTrainConfig(), LatentConfig()
    g = parser.add_argument_group("latent pixel model (--kind latent)")
    pos = ca.positive_int
    g.add_argument("--steps", type=pos, default=d.steps, help="gradient steps (latent)")
    g.add_argument("--horizon", type=pos, default=d.horizon, help="latent rollout-loss steps")
    g.add_argument("--latent-dim", type=pos, default=c.latent_dim, help="size of the latent z")
    g.add_argument("--channels", type=pos, default=c.channels, help="first conv layer width")
    g.add_argument(
        "--encoder-head",
        choices=("conv", "keypoints"),
        default=c.encoder_head,
        help="how a frame becomes its pose: 'conv' (conv net and a linear layer) or 'keypoints' "
        "(image coordinates of latent_dim / 4 learned points; latent distances are image "
        "distances, which goal-image planning descends)",
    )
    g.add_argument("--predictors", type=pos, default=c.num_predictors, help="predictor ensemble")
    g.add_argument(
        "--reward-coef",
        type=ca.non_negative_float,
        default=d.reward_coef,
        help="weight of the reward head's loss (latent)",
    )
    g.add_argument(
        "--var-coef",
        type=ca.positive_float,
        default=d.var_coef,
        help="weight of the VICReg variance term; raise it (e.g. 10) if training warns that the "
        "latent collapsed",
    )
    g.add_argument(
        "--state-coef",
        type=ca.non_negative_float,
        default=d.state_coef,
        help="weight of an auxiliary head from z to the true state stored beside the frames "
        "(training only; 0: off). It makes the encoder place the bodies precisely, which "
        "goal-image planning needs; the probe R² then no longer measures collapse alone",
    )
    g.add_argument("--eval-every", type=pos, default=d.eval_every, help="steps between metrics")
    g.add_argument(
        "--dynamics-steps",
        type=ca.nonneg_int,
        default=d.dynamics_steps,
        help="after the joint fit: steps of the predictors and reward/termination heads alone on "
        "the frozen encoder's latents, with a long rollout loss (0: skip)",
    )
    g.add_argument(
        "--dynamics-horizon",
        type=pos,
        default=d.dynamics_horizon,
        help="open-loop steps of that phase's rollout loss",
    )


def run(args: argparse.Namespace, rank: int) -> int:
    """Train a latent model on the pixel dataset `args.data`; rank 0 saves and prints."""
    from genenv.data import load_pixel_transitions
    from genenv.models.checkpoint import save_checkpoint
    from genenv.models.latent_train import train_latent_model

    px = load_pixel_transitions(args.data)
    d = LatentTrainConfig()
    config = LatentTrainConfig(
        steps=args.steps,
        batch_size=args.batch_size if args.batch_size is not None else d.batch_size,
        horizon=args.horizon,
        lr=args.lr if args.lr is not None else d.lr,
        holdout_fraction=args.holdout,
        eval_every=args.eval_every,
        reward_coef=args.reward_coef,
        var_coef=args.var_coef,
        state_coef=args.state_coef,
        dynamics_steps=args.dynamics_steps,
        dynamics_horizon=args.dynamics_horizon,
        max_time_s=args.max_time if args.max_time is not None else d.max_time_s,
        seed=args.seed,
        device=args.device,
    )
    hidden = args.hidden if args.hidden is not None else LatentConfig().hidden_size
    latent = LatentConfig(
        image_size=px.size,
        latent_dim=args.latent_dim,
        channels=args.channels,
        encoder_head=args.encoder_head,
        hidden_size=hidden,
        num_predictors=args.predictors,
    )
    t = px.transitions
    say = print if rank == 0 else (lambda *a, **k: None)
    say(f"training a latent pixel model on {len(t)} {t.task} transitions with {px.size}px frames")

    def log(step: int, row: dict) -> None:
        keys = ("collapse/probe_r2", "collapse/effective_rank", "collapse/latent_std_min")
        say(f"step {step}: " + ", ".join(f"{k.split('/')[1]} {row[k]:.3f}" for k in keys))

    model, report = train_latent_model(px, config, latent, not args.no_progress, log)
    if rank != 0:
        return 0
    training = {k: report[k] for k in ("config", "grad_steps", "stopped", "time_s", "world_size")}
    save_checkpoint(
        model,
        args.out,
        {
            "data_fingerprint": report["data_fingerprint"],
            "data_path": str(args.data),
            "validation": report["final"],
            "metrics_history": report["history"],
            "training": training | {"holdout_episodes": len(report["holdout_episode_ids"])},
        },
    )
    say(f"stopped after {report['grad_steps']} steps ({report['stopped']}), {report['time_s']} s")
    say("held-out metrics: " + json.dumps(report["final"]))
    say(f"checkpoint written to {args.out}")
    if warning := collapse_warning(report["final"]):
        print(f"warning: {warning}", file=sys.stderr, flush=True)
    return 0
