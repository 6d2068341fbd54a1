"""Train a probabilistic ensemble world model on a genenv dataset and save a checkpoint.

Holds out whole episodes for validation and early stopping, then reports the held-out
validation error and the open-loop errors of imagined rollouts after 1, 5 and 20 steps (also
written into the checkpoint's metadata.json).
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from genenv.models.ensemble import EnsembleConfig
from genenv.models.train import TrainConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d, e = TrainConfig(), EnsembleConfig()
    parser.add_argument("--data", required=True, help="dataset folder written by `genenv collect`")
    parser.add_argument("--out", required=True, help="checkpoint folder to write")
    parser.add_argument("--epochs", type=int, default=d.max_epochs, help="maximum epochs")
    parser.add_argument("--patience", type=int, default=d.patience, help="early-stop patience")
    parser.add_argument("--max-time", type=float, default=d.max_time_s, help="time budget (s)")
    parser.add_argument("--batch-size", type=int, default=d.batch_size)
    parser.add_argument("--lr", type=float, default=d.lr)
    parser.add_argument(
        "--holdout", type=float, default=d.holdout_fraction, help="fraction of episodes held out"
    )
    parser.add_argument(
        "--rollout-steps",
        type=int,
        default=d.rollout_steps,
        help="train on k-step rollouts of the model's own predictions (1: one-step loss)",
    )
    parser.add_argument("--ensemble-size", type=int, default=e.ensemble_size)
    parser.add_argument("--elites", type=int, default=e.num_elites)
    parser.add_argument("--hidden", type=int, default=e.hidden_size)
    parser.add_argument("--layers", type=int, default=e.num_layers)
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--device", default=d.device, help="torch device, e.g. cpu or cuda")
    parser.add_argument(
        "--threads", type=int, default=0, help="torch CPU threads (0: torch's default)"
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args: argparse.Namespace) -> int:
    import torch

    from genenv.data import load_transitions
    from genenv.models.checkpoint import save_checkpoint
    from genenv.models.evaluate import format_open_loop, open_loop_errors
    from genenv.models.train import train_world_model

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    transitions = load_transitions(args.data)
    config = TrainConfig(
        lr=args.lr,
        batch_size=args.batch_size,
        max_epochs=args.epochs,
        patience=args.patience,
        holdout_fraction=args.holdout,
        max_time_s=args.max_time,
        rollout_steps=args.rollout_steps,
        seed=args.seed,
        device=args.device,
    )
    ensemble = EnsembleConfig(
        ensemble_size=args.ensemble_size,
        num_elites=args.elites,
        hidden_size=args.hidden,
        num_layers=args.layers,
    )
    print(
        f"training on {len(transitions)} {transitions.task} transitions "
        f"({transitions.num_episodes} episodes) from {args.data}"
    )
    model, report = train_world_model(
        transitions, config, progress=not args.no_progress, ensemble=ensemble
    )
    held = transitions.select(np.isin(transitions.episode_ids, report["holdout_episode_ids"]))
    errors = open_loop_errors(model, held, generator=np.random.default_rng(args.seed))
    val = {k: report[k] for k in ("val_mse", "val_mse_obs", "val_mse_reward", "val_mse_initial")}
    val["termination_accuracy"] = report["termination_accuracy"]
    save_checkpoint(
        model,
        args.out,
        {
            "data_fingerprint": report["data_fingerprint"],
            "data_path": str(args.data),
            "validation": val,
            "open_loop": errors,
            "training": {
                k: report[k]
                for k in ("config", "epochs", "grad_steps", "stopped", "time_s", "elites")
            }
            | {"holdout_episodes": len(report["holdout_episode_ids"])},
        },
    )
    print(
        f"stopped after {report['epochs']} epochs ({report['stopped']}), {report['time_s']} s; "
        f"elites {report['elites']}"
    )
    print("held-out validation (normalised MSE): " + json.dumps(val))
    print(
        f"open-loop error on {len(report['holdout_episode_ids'])} held-out episodes "
        "(|pred - real| / per-dim std of real obs, mean over starts and dims):"
    )
    print(format_open_loop(errors))
    print(f"checkpoint written to {args.out}")
    return 0
