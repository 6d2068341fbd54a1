"""Evaluate a saved agent in the real MuJoCo world: `genenv eval --policy P (--task T | --spec S)
[--episodes N] [--json]`. P is an agent folder (with agent.json, as `genenv run`, `train-agent` and
`curriculum` write it) or a stable-baselines3 .zip, loaded without unpickling anything. Prints the
mean and spread of the real episode returns; real steps spent here train nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from genenv import cli_args as ca
from genenv.worlds.tasks import TASKS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--policy",
        required=True,
        help="a saved agent: a run's agent folder (with agent.json) or an SB3 .zip",
    )
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--task", help=f"task name, stock physics: {', '.join(TASKS)}")
    where.add_argument(
        "--spec", type=ca.in_file, help="WorldSpec file (.json, .yaml or .yml) of the world"
    )
    parser.add_argument(
        "--episodes", type=ca.int_between(1, 100_000), default=10, help="real episodes to run"
    )
    parser.add_argument(
        "--seed",
        type=ca.seed,
        default=None,
        help="seed of the first episode's reset (episode i uses seed + i); default: the spec's",
    )
    parser.add_argument(
        "--stochastic",
        action="store_true",
        help="sample the policy's actions (default: its deterministic action)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the result as one JSON object only"
    )
    parser.add_argument(
        "--device", type=ca.device, default="cpu", help="torch device of the policy network"
    )
    ca.add_common(parser)


def _spec(args: argparse.Namespace):
    from genenv.worlds import WorldSpec

    if args.task is not None:
        return WorldSpec(args.task)
    text = args.spec.read_text(encoding="utf-8")
    yaml = args.spec.suffix in (".yaml", ".yml")
    return WorldSpec.from_yaml(text) if yaml else WorldSpec.from_json(text)


def _check_spaces(policy: Any, spec) -> None:
    """A clear error when the agent was trained for other observations or actions."""
    env = spec.make_env()
    obs_space, act_space = env.observation_space, env.action_space
    env.close()
    for what, mine, theirs in (
        ("observation", getattr(policy, "observation_space", None), obs_space),
        ("action", getattr(policy, "action_space", None), act_space),
    ):
        shape = getattr(mine, "shape", None)
        if shape is not None and tuple(shape) != tuple(theirs.shape):
            raise ca.InputError(
                f"the agent's {what} shape {tuple(shape)} does not fit {spec.task} "
                f"({tuple(theirs.shape)}); was it trained for another task?"
            )


def evaluate(policy: Any, spec, episodes: int, seed: int, deterministic: bool) -> dict[str, Any]:
    """Real returns of `policy` over `episodes` episodes of `spec`'s world."""
    from genenv.transfer import run_real_episodes

    returns, steps, _ = run_real_episodes(
        policy, spec, episodes, seed=seed, deterministic=deterministic
    )
    mean = sum(returns) / len(returns)
    std = math.sqrt(sum((r - mean) ** 2 for r in returns) / len(returns))
    return {
        "task": spec.task,
        "world_spec": spec.to_dict(),
        "episodes": len(returns),
        "deterministic": deterministic,
        "seed": seed,
        "mean_return": mean,
        "std_return": std,
        "min_return": min(returns),
        "max_return": max(returns),
        "mean_episode_length": steps / len(returns),
        "real_env_steps": steps,
        "returns": returns,
    }


def run(args: argparse.Namespace) -> int:
    from genenv.agents.sb3 import load_policy

    spec = _spec(args)
    policy = load_policy(args.policy, device=args.device)
    _check_spaces(policy, spec)
    seed = spec.seed if args.seed is None else args.seed
    result = evaluate(policy, spec, args.episodes, seed, deterministic=not args.stochastic)
    result["policy"] = str(args.policy)
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{result['task']}: real return {result['mean_return']:.1f} +- "
            f"{result['std_return']:.1f} over {result['episodes']} episodes "
            f"(min {result['min_return']:.1f}, max {result['max_return']:.1f}, mean length "
            f"{result['mean_episode_length']:.0f}, {result['real_env_steps']} real steps; "
            f"{'deterministic' if result['deterministic'] else 'stochastic'} actions, "
            f"seeds {seed}..{seed + result['episodes'] - 1})"
        )
    sys.stdout.flush()
    return 0
