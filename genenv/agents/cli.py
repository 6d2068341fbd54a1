"""Train an agent from a YAML recipe entirely inside a world model (no real training steps), with
transfer tests in the matching real MuJoCo world every --eval-every imagined steps.

Writes OUT/agent/ (the agent and agent.json), OUT/tb/ (TensorBoard) and OUT/summary.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from genenv.worlds.spec import Context, WorldSpec


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--recipe", required=True, help="agent recipe YAML, e.g. agents/ppo.yaml")
    parser.add_argument("--world", required=True, type=Path, help="world-model checkpoint folder")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument(
        "--steps", type=int, default=None, help="imagined steps (default: recipe's)"
    )
    parser.add_argument("--eval-every", type=int, default=50_000, help="imagined steps per test")
    parser.add_argument("--eval-episodes", type=int, default=5, help="episodes per transfer test")
    parser.add_argument("--context", nargs="*", default=[], metavar="FIELD=VALUE")
    parser.add_argument("--device", default="cpu", help="torch device of the world model")
    parser.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    from torch.utils.tensorboard import SummaryWriter

    from genenv.agents.recipe import load_recipe
    from genenv.agents.sb3 import agent_file_name, build_agent, save_agent
    from genenv.envs.vector import DreamVectorEnv
    from genenv.models.checkpoint import load_checkpoint
    from genenv.transfer import transfer_test

    model = load_checkpoint(args.world, device=args.device)
    context = dict(item.split("=", 1) for item in args.context)
    spec = WorldSpec(
        model.task, Context.from_dict({k: float(v) for k, v in context.items()}), args.seed
    )
    recipe = load_recipe(args.recipe, model.task)
    total = args.steps or recipe.total_timesteps
    args.out.mkdir(parents=True, exist_ok=True)
    writer = SummaryWriter(str(args.out / "tb"))
    dream = DreamVectorEnv(
        task=model.task,
        world=model,
        num_envs=recipe.n_envs,
        device=args.device,
        specs=spec,
        **recipe.env,
    )
    agent = build_agent(recipe, dream, seed=args.seed, tensorboard_log=str(args.out / "tb"))
    done, rows, eval_steps = 0, [], 0
    while done < total:
        chunk = min(args.eval_every, total - done)
        agent.learn(chunk, reset_num_timesteps=False, progress_bar=True)
        done += chunk
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
