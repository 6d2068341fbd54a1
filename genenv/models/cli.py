"""Train a world model on a genenv dataset and save a checkpoint.

--kind ensemble (default): a probabilistic ensemble over states. --kind latent: a JEPA-style
latent model on the frames of a pixel dataset (`genenv collect --pixels`), see models/latent.py.
Under `torchrun --nproc_per_node N` training runs with DistributedDataParallel (gloo on CPU, nccl
on GPU) and rank 0 writes the same checkpoint as one process would.

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
    from genenv.models import latent_cli
    from genenv.models.kinds import KINDS

    d, e = TrainConfig(), EnsembleConfig()
    parser.add_argument(
        "--kind", choices=sorted(KINDS), default="ensemble", help="which kind of world model"
    )
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
        "--max-time",
        type=ca.positive_float,
        default=None,
        help=f"time budget (s); default {d.max_time_s:g} (ensemble), 1800 (latent)",
    )
    parser.add_argument(
        "--batch-size",
        type=ca.positive_int,
        default=None,
        help=f"transitions per member per gradient step; default {d.batch_size} (ensemble), "
        "32 (latent)",
    )
    parser.add_argument(
        "--lr", type=ca.positive_float, default=None, help=f"AdamW learning rate; default {d.lr:g}"
    )
    parser.add_argument(
        "--holdout",
        type=ca.fraction,
        default=d.holdout_fraction,
        help="fraction of episodes held out",
    )
    parser.add_argument(
        "--rollout-steps",
        type=ca.int_between(1, 1000),
        default=d.rollout_steps,
        help="ensemble: train on k-step rollouts of each member's own predictions (1: one-step "
        "loss)",
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
        default=None,
        help=f"width of each hidden layer; default {e.hidden_size} (ensemble), 256 (latent)",
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
    latent_cli.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from genenv.models import latent_cli
    from genenv.models.distributed import init_from_env, shutdown

    ca.check_writable(args.out)  # fail now, not after the whole training
    rank, _ = init_from_env(args.device)
    try:
        if args.kind == "latent":
            return latent_cli.run(args, rank)
        return _run_ensemble(args, rank)
    finally:
        shutdown()


def _run_ensemble(args: argparse.Namespace, rank: int) -> int:
    from genenv.data import load_transitions
    from genenv.models.checkpoint import save_checkpoint
    from genenv.models.evaluate import format_open_loop, open_loop_errors
    from genenv.models.train import train_world_model

    d, e = TrainConfig(), EnsembleConfig()
    config = TrainConfig(
        lr=d.lr if args.lr is None else args.lr,
        batch_size=d.batch_size if args.batch_size is None else args.batch_size,
        max_epochs=args.epochs,
        patience=args.patience,
        holdout_fraction=args.holdout,
        max_time_s=d.max_time_s if args.max_time is None else args.max_time,
        rollout_steps=args.rollout_steps,
        seed=args.seed,
        device=args.device,
    )
    ensemble = EnsembleConfig(
        ensemble_size=args.ensemble_size,
        num_elites=args.elites,
        hidden_size=e.hidden_size if args.hidden is None else args.hidden,
        num_layers=args.layers,
    )
    transitions = load_transitions(args.data)
    say = print if rank == 0 else (lambda *a, **k: None)
    say(
        f"training on {len(transitions)} {transitions.task} transitions "
        f"({transitions.num_episodes} episodes) from {args.data}"
    )
    model, report = train_world_model(
        transitions, config, progress=not args.no_progress, ensemble=ensemble
    )
    if rank != 0:
        return 0
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
