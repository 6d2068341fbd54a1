"""Train a probabilistic ensemble world model on a genenv dataset and save a checkpoint.

Holds out whole episodes for validation and early stopping, then reports the held-out
validation error and the open-loop errors of imagined rollouts after 1, 5 and 20 steps (also
written into the checkpoint's metadata.json).
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from genenv import cli_args as ca
from genenv.models.ensemble import EnsembleConfig
from genenv.models.train import TrainConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d, e = TrainConfig(), EnsembleConfig()
    parser.add_argument(
        "--data", required=True, type=ca.in_dir, help="dataset folder written by `genenv collect`"
    )
    parser.add_argument(
        "--out", required=True, type=ca.out_dir, help="checkpoint folder to write (created)"
    )
    parser.add_argument(
        "--epochs", type=ca.positive_int, default=d.max_epochs, help="maximum epochs"
    )
    parser.add_argument(
        "--patience",
        type=ca.nonneg_int,
        default=d.patience,
        help="early stop after this many epochs without a 1%% held-out improvement",
    )
    parser.add_argument(
        "--max-time", type=ca.positive_float, default=d.max_time_s, help="time budget (s)"
    )
    parser.add_argument(
        "--batch-size",
        type=ca.positive_int,
        default=d.batch_size,
        help="transitions per ensemble member per gradient step",
    )
    parser.add_argument("--lr", type=ca.positive_float, default=d.lr, help="AdamW learning rate")
    parser.add_argument(
        "--holdout",
        type=ca.fraction,
        default=d.holdout_fraction,
        help="fraction of episodes held out",
    )
    parser.add_argument(
        "--ensemble-size",
        type=ca.int_between(1, 64),
        default=e.ensemble_size,
        help="ensemble members, each trained on a bootstrap resample",
    )
    parser.add_argument(
        "--elites",
        type=ca.int_between(1, 64),
        default=e.num_elites,
        help="members with the lowest validation error, used when stepping (<= --ensemble-size)",
    )
    parser.add_argument(
        "--hidden",
        type=ca.int_between(1, 8192),
        default=e.hidden_size,
        help="width of each hidden layer",
    )
    parser.add_argument(
        "--layers",
        type=ca.int_between(1, 32),
        default=e.num_layers,
        help="hidden layers per member",
    )
    parser.add_argument(
        "--seed",
        type=ca.seed,
        default=d.seed,
        help="seed of the split, bootstrap, init and batches",
    )
    parser.add_argument(
        "--device", type=ca.device, default=d.device, help="torch device, e.g. cpu or cuda"
    )
    ca.add_common(parser)


def run(args: argparse.Namespace) -> int:
    from genenv.data import load_transitions
    from genenv.models.checkpoint import save_checkpoint
    from genenv.models.evaluate import format_open_loop, open_loop_errors
    from genenv.models.train import train_world_model

    transitions = load_transitions(args.data)
    config = TrainConfig(
        lr=args.lr,
        batch_size=args.batch_size,
        max_epochs=args.epochs,
        patience=args.patience,
        holdout_fraction=args.holdout,
        max_time_s=args.max_time,
        seed=args.seed,
        device=args.device,
    )
    ensemble = EnsembleConfig(
        ensemble_size=args.ensemble_size,
        num_elites=args.elites,
        hidden_size=args.hidden,
        num_layers=args.layers,
    )
    ca.check_writable(args.out)  # fail now, not after the whole training
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
