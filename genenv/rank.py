"""Rank saved policies by their return in a world model (the dream) and in the real MuJoCo world.

Each policy runs the same real episodes (same start seeds) and, from the very same start
observations, imagined episodes in the world model (--dream-samples per start, averaged). Prints both rankings and
the Spearman (rank) and Pearson correlation of imagined against real return: a high Spearman
means the dream picks the same checkpoints the real world would, without spending real steps.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from genenv import cli_args as ca
from genenv.worlds.spec import WorldSpec


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--world", required=True, type=ca.in_dir, help="world-model checkpoint folder (the dream)"
    )
    parser.add_argument(
        "--policies",
        required=True,
        nargs="+",
        metavar="POLICY",
        help="two or more policies: stable-baselines3 .zip files, run agent folders "
        "(with agent.json), or 'random'",
    )
    parser.add_argument(
        "--episodes",
        type=ca.int_between(1, 100_000),
        default=5,
        help="real and imagined episodes per policy",
    )
    parser.add_argument(
        "--dream-samples",
        type=ca.positive_int,
        default=8,
        help="imagined episodes from each real start, averaged (the dream samples a member and "
        "noise every step; imagined episodes are cheap)",
    )
    parser.add_argument(
        "--spec",
        type=ca.in_file,
        default=None,
        help="WorldSpec file (.json/.yaml) of the real world; default: the world model's task "
        "with stock physics",
    )
    parser.add_argument(
        "--seed", type=ca.seed, default=0, help="seed of the first episode's start state"
    )
    parser.add_argument(
        "--max-steps",
        type=ca.positive_int,
        default=None,
        help="episode horizon in both worlds (default: the task's own time limit)",
    )
    parser.add_argument(
        "--stochastic", action="store_true", help="sample actions (default: deterministic)"
    )
    parser.add_argument(
        "--device", type=ca.device, default="cpu", help="torch device of the world model"
    )
    parser.add_argument(
        "--json", type=ca.out_file, default=None, help="also write the results to this file"
    )
    ca.add_common(parser, progress=False)


def _spec(path: Path | None, task: str) -> WorldSpec:
    if path is None:
        return WorldSpec(task)
    text = path.read_text(encoding="utf-8")
    spec = (
        WorldSpec.from_yaml(text) if path.suffix in (".yaml", ".yml") else WorldSpec.from_json(text)
    )
    if spec.task != task:
        raise ValueError(f"--spec is a {spec.task} world but --world models {task}")
    return spec


def _load(policy: str, action_space, obs_dim: int):
    from genenv.agents.sb3 import RandomPolicy, load_policy

    if policy == "random":
        return RandomPolicy(action_space, seed=0)
    agent = load_policy(policy, device="cpu")
    shape = getattr(getattr(agent, "observation_space", None), "shape", None)
    if shape is not None and tuple(shape) != (obs_dim,):
        raise ValueError(
            f"policy {policy} takes observations of shape {tuple(shape)}, "
            f"the world has ({obs_dim},)"
        )
    return agent


def _table(result: dict) -> str:
    rows = result["policies"]
    width = max(len("policy"), *(len(r["name"]) for r in rows))
    lines = [
        f"{'policy':<{width}}  {'dream return':>12}  {'dream rank':>10}  "
        f"{'real return':>11}  {'real rank':>9}"
    ]
    for r in sorted(rows, key=lambda r: r["imagined_rank"]):
        lines.append(
            f"{r['name']:<{width}}  {r['imagined_return']:>12.1f}  {r['imagined_rank']:>10g}  "
            f"{r['real_return']:>11.1f}  {r['real_rank']:>9g}"
        )

    def f(x):
        return "undefined" if x is None else f"{x:.3f}"

    lines.append(
        f"Spearman {f(result['spearman'])}  Pearson {f(result['pearson'])}  "
        f"({len(rows)} policies, {result['real_env_steps']} real evaluation steps)"
    )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from genenv.models.checkpoint import load_checkpoint
    from genenv.transfer import rank_policies

    if len(args.policies) < 2:
        raise ValueError("--policies needs at least two policies to rank")
    if len(set(args.policies)) != len(args.policies):
        raise ValueError("--policies lists the same policy twice")
    model = load_checkpoint(args.world, device=args.device)
    spec = _spec(args.spec, model.task)
    env = spec.make_env()
    action_space = env.action_space
    env.close()
    policies = {p: _load(p, action_space, model.obs_dim) for p in args.policies}
    result = rank_policies(
        policies,
        model,
        spec,
        args.episodes,
        args.seed,
        args.max_steps,
        not args.stochastic,
        args.dream_samples,
    )
    print(_table(result))
    if args.json is not None:
        payload = {
            "world": str(args.world),
            "world_spec": spec.to_dict(),
            "episodes": args.episodes,
            "dream_samples": args.dream_samples,
            "seed": args.seed,
            "deterministic": not args.stochastic,
            **result,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0
