"""Train an agent from a YAML recipe entirely inside a world model (no real training steps), with
transfer tests in the matching real MuJoCo world every --eval-every imagined steps.

Writes OUT/agent/ (the agent and agent.json), OUT/tb/ (TensorBoard) and OUT/summary.json.
"""

from __future__ import annotations

import argparse
import json

from genenv import cli_args as ca
from genenv.worlds.spec import Context, WorldSpec


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--recipe", required=True, type=ca.in_file, help="agent recipe YAML, e.g. agents/ppo.yaml"
    )
    parser.add_argument(
        "--world", required=True, type=ca.in_dir, help="world-model checkpoint folder"
    )
    parser.add_argument("--out", required=True, type=ca.out_dir, help="output folder")
    parser.add_argument(
        "--steps",
        type=ca.positive_int,
        default=None,
        help="imagined steps (default: the recipe's total_timesteps); the algorithm rounds up "
        "to whole rollouts and the summary reports the steps it really ran",
    )
    parser.add_argument(
        "--eval-every",
        type=ca.positive_int,
        default=50_000,
        help="imagined steps per transfer test",
    )
    parser.add_argument(
        "--eval-episodes",
        type=ca.int_between(1, 10_000),
        default=5,
        help="real (and imagined) episodes per transfer test",
    )
    ca.add_context(parser, "physics context of the dream and the real test world, e.g. gravity=5")
    parser.add_argument(
        "--device", type=ca.device, default="cpu", help="torch device of the world model"
    )
    parser.add_argument(
        "--seed", type=ca.seed, default=0, help="seed of the agent, the dream and the world spec"
    )
    ca.add_common(parser)


def run(args: argparse.Namespace) -> int:
    from torch.utils.tensorboard import SummaryWriter

    from genenv.agents.progress import learn_steps, planned_steps
    from genenv.agents.recipe import load_recipe
    from genenv.agents.sb3 import agent_file_name, build_agent, save_agent
    from genenv.envs.vector import DreamVectorEnv
    from genenv.models.checkpoint import load_checkpoint
    from genenv.models.kinds import kind_of
    from genenv.progress import progress_bar
    from genenv.transfer import transfer_test

    model = load_checkpoint(args.world, device=args.device)
    spec = WorldSpec(model.task, Context.from_dict(dict(args.context)), args.seed)
    recipe = load_recipe(args.recipe, model.task, kind_of(model).name)
    total = args.steps or recipe.total_timesteps
    ca.check_writable(args.out)
    dream = DreamVectorEnv(
        task=model.task,
        world=model,
        num_envs=recipe.n_envs,
        device=args.device,
        specs=spec,
        **recipe.env,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    writer = SummaryWriter(str(args.out / "tb"))
    agent = build_agent(recipe, dream, seed=args.seed, tensorboard_log=str(args.out / "tb"))
    planned, left = 0, total
    while left > 0:  # what the chunks below will really run (whole rollouts)
        chunk = planned_steps(agent, min(args.eval_every, left))
        planned, left = planned + chunk, left - chunk
    bar = progress_bar(total=planned, desc=f"train {recipe.algo}: imagined steps", unit="step")
    done, rows, eval_steps = 0, [], 0
    while done < total:
        done += learn_steps(agent, min(args.eval_every, total - done), bar=bar)
        result = transfer_test(
            agent, model, spec, episodes=args.eval_episodes, seed=10_000 + len(rows)
        )
        eval_steps += result.real_env_steps
        rows.append({"imagined_steps": done, "real_env_steps": 0, **result.to_dict()})
        for key in ("imagined_return", "real_return", "gap"):
            writer.add_scalar(f"transfer/{key}", getattr(result, key), done)
        print(
            f"[transfer] {done:,} imagined steps | real {result.real_return:.1f} | "
            f"imagined {result.imagined_return:.1f} | gap {result.gap:+.1f}",
            flush=True,
        )
    bar.close()
    save_agent(agent, args.out / "agent" / agent_file_name(recipe.algo), recipe.algo)
    summary = {
        "task": model.task,
        "real_env_steps": 0,
        "eval_real_env_steps": eval_steps,
        "imagined_env_steps": done,
        "transfer": rows,
        "final_real_return": rows[-1]["real_return"],
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    writer.close()
    print(f"agent saved to {args.out / 'agent'}; summary in {args.out / 'summary.json'}")
    return 0
