"""Imagined steps per second of `DreamVectorEnv.step_tensor` (the on-device fast path).

    python -m genenv.envs.throughput --task HalfCheetah --num-envs 1024 --steps 200

Uses an untrained ensemble of the default architecture (stepping cost does not depend on the
weights) unless `--world CKPT` is given. Actions are fixed tensors on the device, so the figure is
the env alone, with no policy.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass

import torch

from genenv.envs.testing import random_world_model
from genenv.envs.vector import DreamVectorEnv


@dataclass
class ThroughputResult:
    """One measurement."""

    task: str
    num_envs: int
    device: str
    steps: int  # timed vector steps (after warm-up)
    seconds: float
    steps_per_second: float  # imagined env steps per second = num_envs * steps / seconds
    cpu_seconds: float  # process CPU time over the timed steps (robust to a shared machine)
    steps_per_cpu_second: float  # num_envs * steps / cpu_seconds (CPU devices, 1 thread)
    threads: int  # torch intra-op threads
    validate_actions: bool
    compile: bool


def measure(
    task: str,
    num_envs: int,
    steps: int = 200,
    warmup: int = 10,
    device: str = "cpu",
    world: str | None = None,
    validate_actions: bool = False,
    compile: bool = False,
) -> ThroughputResult:
    model = random_world_model(task) if world is None else world
    if isinstance(model, torch.nn.Module):
        model = model.to(device)
    env = DreamVectorEnv(
        task,
        model,
        num_envs=num_envs,
        device=device,
        validate_actions=validate_actions,
        compile=compile,
    )
    env.reset_tensor(seed=0)
    g = torch.Generator(device=env.device).manual_seed(0)
    act_dim = env.single_action_space.shape[0]
    actions = torch.rand(num_envs, act_dim, generator=g, device=env.device) * 2 - 1
    for _ in range(warmup):
        env.step_tensor(actions)
    _sync(env.device)
    start, cpu_start = time.perf_counter(), time.process_time()
    for _ in range(steps):
        env.step_tensor(actions)
    _sync(env.device)
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_start
    return ThroughputResult(
        task,
        num_envs,
        str(env.device),
        steps,
        seconds,
        num_envs * steps / seconds,
        cpu_seconds,
        num_envs * steps / cpu_seconds,
        torch.get_num_threads(),
        validate_actions,
        compile,
    )


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", default="HalfCheetah")
    p.add_argument("--num-envs", type=int, nargs="+", default=[1024])
    p.add_argument("--steps", type=int, default=200, help="timed vector steps")
    p.add_argument("--device", default="cpu")
    p.add_argument("--world", default=None, help="checkpoint dir (default: untrained ensemble)")
    p.add_argument("--threads", type=int, default=1, help="torch threads on CPU")
    p.add_argument("--validate", action="store_true", help="keep the NaN check on actions")
    p.add_argument("--compile", action="store_true", help="torch.compile the model network")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    for n in args.num_envs:
        result = measure(
            args.task,
            n,
            args.steps,
            device=args.device,
            world=args.world,
            validate_actions=args.validate,
            compile=args.compile,
        )
        print(json.dumps(asdict(result)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
