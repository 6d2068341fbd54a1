"""Throughput, side by side in one run: imagined `DreamVectorEnv` steps/s against the real MuJoCo
gymnasium vector env (1, 64, 1024, 16384 envs; InvertedPendulum, HalfCheetah, Ant), wall-clock of
on-device PPO against SB3 PPO through the adapter, and memory per env slot.

Usage:  python benchmarks/throughput.py [genenv bench options]   (same as `genenv bench`)
Writes benchmarks/results/throughput.json and .md (the machine is named in the table).
The measuring code lives in `genenv.bench`; this script only fixes the output location.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("MUJOCO_GL", "egl")
    from genenv import bench

    parser = argparse.ArgumentParser(description=bench.__doc__)
    bench.add_arguments(parser)
    parser.set_defaults(
        out=str(ROOT / "benchmarks" / "results" / "throughput"),
        ppo_recipe=str(ROOT / "agents" / "ppo.yaml"),
    )
    return bench.run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
