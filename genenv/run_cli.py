"""`genenv run`: the command line of the loop (`genenv.loop.run_loop`)."""

from __future__ import annotations

import argparse
import json
import os

from genenv import cli_args as ca
from genenv.loop import run_loop
from genenv.loop_config import LATENT_REFITS, LoopConfig, read_config
from genenv.worlds.cameras import PIXEL_SIZES
from genenv.worlds.tasks import get_task


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = LoopConfig()
    parser.add_argument(
        "--task",
        default=None,
        help=f"task name (see genenv.worlds.TASKS; default {defaults.task}, or the --worlds "
        "spec's task)",
    )
    parser.add_argument(
        "--out", type=ca.out_dir, help="run folder (config, data, world, agent, tb, summary)"
    )
    parser.add_argument(
        "--resume",
        type=ca.in_dir,
        metavar="RUN_DIR",
        help="continue an interrupted run (its config.yaml decides everything)",
    )
    parser.add_argument(
        "--real-steps",
        type=ca.positive_int,
        default=defaults.real_steps,
        help="budget of training real steps",
    )
    parser.add_argument(
        "--initial-steps",
        type=ca.positive_int,
        default=defaults.initial_steps,
        help="random real steps first (<= --real-steps)",
    )
    parser.add_argument(
        "--steps-per-iteration",
        type=ca.positive_int,
        default=defaults.steps_per_iteration,
        help="real steps the agent collects per iteration",
    )
    parser.add_argument(
        "--recipe",
        default=defaults.recipe,
        help="agent recipe: ppo, sac, mbpo (names in agents/) or a YAML path",
    )
    parser.add_argument(
        "--imagined-steps",
        type=ca.positive_int,
        default=None,
        help="imagined steps per iteration (default: the recipe's total_timesteps)",
    )
    parser.add_argument(
        "--known-reward-termination",
        action="store_true",
        default=None,
        help="score dream steps with the stock task's own reward and termination functions "
        "instead of the world model's learned heads (stock MuJoCo tasks only)",
    )
    parser.add_argument(
        "--eval-every",
        type=ca.positive_int,
        default=defaults.eval_every,
        help="imagined steps between transfer tests",
    )
    parser.add_argument(
        "--eval-episodes",
        type=ca.int_between(1, 10_000),
        default=defaults.eval_episodes,
        help="episodes per transfer test",
    )
    parser.add_argument(
        "--target-return",
        type=ca.finite_float,
        default=None,
        help="stop once the real return reaches this",
    )
    parser.add_argument(
        "--train-epochs",
        type=ca.positive_int,
        default=defaults.train_epochs,
        help="max world-model epochs",
    )
    ca.add_context(parser, "physics context, e.g. gravity=5")
    parser.add_argument(
        "--device",
        type=ca.device,
        default=defaults.device,
        help="torch device for the model and dream env",
    )
    parser.add_argument(
        "--seed", type=ca.seed, default=defaults.seed, help="seed of every phase of the run"
    )
    parser.add_argument("--no-video", action="store_true", help="skip the side-by-side video")
    parser.add_argument(
        "--worlds",
        type=ca.in_file,
        help="curriculum spec (e.g. curricula/InvertedPendulum.yaml): the dream follows its "
        "world schedule, data is collected over its ranges, its agent recipe and held-out "
        "worlds are used (--recipe is then ignored)",
    )
    parser.add_argument(
        "--schedule",
        choices=("fixed", "uniform", "plr", "accel"),
        default=None,
        help="world schedule with --worlds: fixed (the run's world), uniform (domain "
        "randomisation), plr (robust PLR, no mutation), accel (default with --worlds)",
    )
    parser.add_argument(
        "--world",
        type=ca.in_dir,
        help="start from this world-model checkpoint: no real data is collected, no refit",
    )
    g = parser.add_argument_group("pixel worlds (--world-kind latent)")
    g.add_argument(
        "--world-kind",
        choices=("ensemble", "latent"),
        default=None,
        help="ensemble: a state world model (default); latent: a pixel world learned from the "
        "task camera's frames, whose agent acts on latents in the dream and, through the same "
        "encoder, in the real env (default with --world: the checkpoint's kind)",
    )
    g.add_argument(
        "--pixel-size",
        type=int,
        choices=PIXEL_SIZES,
        default=defaults.pixel_size,
        help="frame size of the pixel data",
    )
    g.add_argument(
        "--latent-steps",
        type=ca.positive_int,
        default=defaults.latent_steps,
        help="gradient steps of the latent world's first fit",
    )
    g.add_argument(
        "--latent-refit-steps",
        type=ca.positive_int,
        default=defaults.latent_refit_steps,
        help="gradient steps of each warm-started refit after new real data",
    )
    g.add_argument(
        "--latent-refit",
        choices=LATENT_REFITS,
        default=defaults.latent_refit,
        help="what each refit trains: all (the whole model, warm-started) or dynamics (the first "
        "fit's encoder is kept, so the agent's latents keep their meaning; only the predictors "
        "and reward/termination heads refit, for --latent-refit-steps steps)",
    )
    g.add_argument(
        "--latent-var-coef",
        type=ca.positive_float,
        default=defaults.latent_var_coef,
        help="weight of the VICReg variance term in every latent fit; raise it (e.g. 10) if a "
        "fit warns that its latent collapsed",
    )
    g.add_argument(
        "--latent-dynamics-steps",
        type=ca.nonneg_int,
        default=defaults.latent_dynamics_steps,
        help="steps of the dynamics phase after every fit (15-step rollouts on the frozen "
        "encoder; 0: none)",
    )
    g.add_argument(
        "--latent-dim",
        type=ca.positive_int,
        default=None,
        help="size of the latent world's z, even (default: the latent model's default)",
    )
    ca.add_common(parser)


def run(args: argparse.Namespace) -> int:
    if args.resume:
        out = args.resume
        cfg_file = out / "config.yaml"
        if not cfg_file.is_file():
            raise FileNotFoundError(f"{out} is not a run folder (no config.yaml)")
        config = read_config(cfg_file)
        summary = run_loop(out, config, resume=True)
    else:
        if args.out is None:
            raise ValueError("give --out RUN_DIR (or --resume RUN_DIR)")
        context = dict(args.context)
        if args.task is None:
            if args.worlds is not None:
                from genenv.curricula.spec import load_spec

                args.task = load_spec(args.worlds).task
            else:
                args.task = LoopConfig().task
        get_task(args.task)
        if args.imagined_steps is not None and args.imagined_steps < 1:
            raise ValueError("--imagined-steps must be a positive integer")
        if args.known_reward_termination:
            from genenv.worlds.known import known_task

            known_task(args.task)  # a clear error for a task without known functions
        schedule = args.schedule or ("accel" if args.worlds else "fixed")
        if args.worlds is None and schedule != "fixed":
            raise ValueError(f"--schedule {schedule} needs --worlds (a curriculum spec)")
        if args.worlds is not None:
            from genenv.curricula.spec import load_spec

            worlds_task = load_spec(args.worlds).task
            if worlds_task != get_task(args.task).name:
                raise ValueError(f"--worlds {args.worlds} is for {worlds_task}, not {args.task}")
        world_kind = args.world_kind or "ensemble"
        if args.world is not None:
            from genenv.models.checkpoint import read_checkpoint_metadata

            kind = read_checkpoint_metadata(args.world)["kind"]  # (checked: a known kind)
            if args.world_kind is not None and args.world_kind != kind:
                raise ValueError(
                    f"--world {args.world} is a {kind} world, not --world-kind {args.world_kind}"
                )
            world_kind = kind
        config = LoopConfig(
            task=args.task,
            real_steps=args.real_steps,
            initial_steps=args.initial_steps,
            steps_per_iteration=args.steps_per_iteration,
            recipe=args.recipe,
            imagined_steps=args.imagined_steps,
            known_reward_termination=args.known_reward_termination,
            eval_every=args.eval_every,
            eval_episodes=args.eval_episodes,
            target_return=args.target_return,
            train_epochs=args.train_epochs,
            context=context,
            device=args.device,
            seed=args.seed,
            video=not args.no_video,
            worlds=None if args.worlds is None else str(args.worlds.resolve()),
            schedule=schedule,
            world_checkpoint=None if args.world is None else str(args.world.resolve()),
            world_kind=world_kind,
            pixel_size=args.pixel_size,
            latent_steps=args.latent_steps,
            latent_refit_steps=args.latent_refit_steps,
            latent_dim=args.latent_dim,
            latent_dynamics_steps=args.latent_dynamics_steps,
            latent_refit=args.latent_refit,
            latent_var_coef=args.latent_var_coef,
        )
        config.spec()  # validate the context before any work
        from genenv.agents.recipe import load_recipe
        from genenv.loop import check_recipe

        # and the recipe, before any folder exists
        check_recipe(config, load_recipe(config.recipe_path(), config.task, config.world_kind))
        litter = (".tmp", ".genenv-write-test")  # what a run killed in its first second leaves
        if args.out.exists() and any(
            not (p.name.endswith(litter[0]) or p.name.startswith(litter[1]))
            for p in args.out.iterdir()
        ):
            raise ValueError(
                f"{args.out} exists and is not empty; use --resume {args.out} or a new --out"
            )
        ca.check_writable(args.out)
        summary = run_loop(args.out, config)
    print(
        json.dumps(
            {
                k: summary[k]
                for k in (
                    "task",
                    "real_env_steps",
                    "eval_real_env_steps",
                    "imagined_env_steps",
                    "final_real_return",
                )
            },
            indent=2,
        )
    )
    print(
        f"run folder: {os.fspath(args.resume or args.out)}  (tensorboard --logdir {os.fspath(args.resume or args.out)}/tb)"
    )
    return 0
