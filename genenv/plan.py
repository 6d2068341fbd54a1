"""Plan to a goal image in the real env with a pixel world: CEM or MPPI in latent space toward the
goal image's latent, receding horizon (plan, execute the first action, observe, plan again).

Prints the latent distance to the goal at the start and the end and the seconds per plan; with
--video, writes the real frames next to the goal. Needs a pixel world (genenv train-world --kind
latent); the goal image is any frame of the task's pixel camera.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from genenv import cli_args as ca
from genenv.agents.planner import PlannerConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = PlannerConfig()
    parser.add_argument("--world", type=ca.in_dir, required=True, help="pixel world checkpoint")
    parser.add_argument(
        "--goal-image", type=ca.in_file, required=True, help="goal frame (PNG) of the task camera"
    )
    parser.add_argument(
        "--steps", type=ca.positive_int, default=None, help="real steps (default: episode length)"
    )
    parser.add_argument("--seed", type=ca.seed, default=0, help="seed of the real env's reset")
    parser.add_argument("--method", choices=("cem", "mppi"), default=d.method, help="planner")
    # defaults: the planner of benchmarks/pixel_world.py's planning part (Reacher: 0.89 +- 0.03
    # of held-out goals over four state-head worlds at 0.03 s per plan; larger ones did no
    # better on tuning goals)
    parser.add_argument("--horizon", type=ca.positive_int, default=8, help="planned steps")
    parser.add_argument(
        "--samples", type=ca.positive_int, default=128, help="candidate sequences per iteration"
    )
    parser.add_argument(
        "--iterations", type=ca.positive_int, default=2, help="refits per real step"
    )
    parser.add_argument("--elites", type=ca.positive_int, default=16, help="CEM elites")
    parser.add_argument(
        "--video", type=ca.out_dir, default=None, help="write goal | real video here"
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    ca.add_common(parser, progress=False)


def run(args: argparse.Namespace) -> int:
    from genenv.agents.goal import plan_to_goal
    from genenv.models.checkpoint import load_checkpoint
    from genenv.models.latent import LatentWorldModel
    from genenv.prompts.image_latent import read_image_prompt
    from genenv.worlds.tasks import get_task

    model = load_checkpoint(args.world)
    if not isinstance(model, LatentWorldModel):
        raise ValueError(
            f"{args.world} is a state world; planning to a goal image needs a pixel world"
        )
    goal = read_image_prompt(model, args.goal_image)  # refuses a wrong-task image
    if args.elites > args.samples:
        raise ValueError(f"--elites {args.elites} exceeds --samples {args.samples}")
    config = PlannerConfig(
        method=args.method,
        horizon=args.horizon,
        num_samples=args.samples,
        num_iterations=args.iterations,
        num_elites=args.elites,
        seed=args.seed,
    )
    steps = args.steps or get_task(model.task).max_episode_steps
    run_ = plan_to_goal(model, goal.frame, steps, config, seed=args.seed)
    out = {
        "task": model.task,
        "steps": len(run_.plan_seconds),
        "latent_distance_start": round(run_.latent_distance[0], 5),
        "latent_distance_end": round(run_.latent_distance[-1], 5),
        "latent_distance_min": round(min(run_.latent_distance), 5),
        "seconds_per_plan": round(run_.seconds_per_plan, 4),
    }
    if args.video is not None:
        from genenv.recording.frames import hstack, label
        from genenv.recording.pixels import _upscale
        from genenv.recording.video import write_video

        real = label(_upscale(run_.frames, 128), "real")
        target = label(_upscale(np.repeat(goal.frame[None], len(real), 0), 128), "goal")
        path = write_video(hstack(target, real), Path(args.video) / f"plan-{model.task}.mp4", 20)
        out["video"] = str(path)
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(
            f"{model.task}: latent distance to the goal {out['latent_distance_start']} -> "
            f"{out['latent_distance_end']} (min {out['latent_distance_min']}) in {out['steps']} "
            f"steps; {out['seconds_per_plan']} s per plan"
        )
        if "video" in out:
            print(f"wrote {out['video']}")
    return 0
