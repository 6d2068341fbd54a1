"""The bad-input table: hundreds of wrong `genenv` command lines, each expected to fail cleanly.

A case is a command line with placeholders (``{out}``: a fresh path that must stay unwritten,
``{data}``, ``{world}``, ``{recipe}``, ...: fixtures that `make_fixtures` builds once). Every case
expects exit code 2 and exactly one stderr line ``genenv CMD: error: ...`` (no traceback, no hang,
nothing written), except the few marked `expect="note"` (a clamped value with a note, exit 0).

    fx = make_fixtures(tmp)                      # ~1 min: a tiny dataset, world model, agent
    outcome = run_case(CASES[0], fx)             # -> Outcome(result="clean", rc=2, ...)
    python tests/fault_cases.py [--filter TEXT] [--json FILE] [--mode fork|subprocess]

Results: clean | traceback | hang | garbage (exit 0 on bad input, or output written) | unclear
(a non-traceback failure that is not the one-line form). `benchmarks/drills.py` imports this
table; the CI test (tests/test_faults_inputs.py) runs a subset in process.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

RESULTS = ("clean", "traceback", "hang", "garbage", "unclear")


@dataclass(frozen=True)
class Case:
    """One bad command line and what a clean failure looks like."""

    id: str  # unique, readable: "train-world --epochs 0"
    command: str  # the genenv subcommand
    argv: tuple[str, ...]  # full argv after `genenv`, with {placeholders}
    kind: str  # the class of bad input (the list)
    expect: str = "error"  # "error": exit 2 + one line; "note": exit 0 with `note` in the output
    note: str = ""  # regex the output must contain when expect == "note"
    early: bool = True  # fails before any work: stderr is exactly the one error line
    stdout: str | None = None  # file the command's stdout goes to (e.g. /dev/full)
    timeout: float = 90.0


@dataclass
class Outcome:
    case: str
    result: str  # one of RESULTS
    rc: int | None
    seconds: float
    stderr_tail: str
    wrote: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


# -- the table -------------------------------------------------------------------------------------
# Base command lines: small enough that a wrongly accepted value finishes (as garbage) quickly.
BASE: dict[str, tuple[str, ...]] = {
    "collect": ("collect", "--task", "InvertedPendulum", "--steps", "50", "--out", "{out}"),
    "train-world": (
        "train-world",
        "--data",
        "{data}",
        "--out",
        "{out}",
        "--epochs",
        "1",
        "--hidden",
        "8",
        "--layers",
        "1",
        "--ensemble-size",
        "2",
        "--elites",
        "1",
        "--max-time",
        "20",
    ),  # fmt: skip
    "train-agent": (
        "train-agent",
        "--recipe",
        "{recipe}",
        "--world",
        "{world}",
        "--out",
        "{out}",
        "--steps",
        "64",
        "--eval-every",
        "64",
        "--eval-episodes",
        "1",
    ),  # fmt: skip
    "run": (
        "run",
        "--task",
        "InvertedPendulum",
        "--out",
        "{out}",
        "--real-steps",
        "120",
        "--initial-steps",
        "100",
        "--steps-per-iteration",
        "20",
        "--recipe",
        "{recipe}",
        "--eval-every",
        "64",
        "--eval-episodes",
        "1",
        "--train-epochs",
        "1",
        "--no-video",
    ),  # fmt: skip
    "record": (
        "record",
        "--task",
        "InvertedPendulum",
        "--steps",
        "5",
        "--kinds",
        "real",
        "--formats",
        "gif",
        "--size",
        "32",
        "--fast",
        "--out",
        "{out}",
    ),  # fmt: skip
    "world": ("world", "--task", "InvertedPendulum", "--prompt", "gravity 5", "--json"),
    "curriculum": ("curriculum", "--spec", "{curriculum}", "--out", "{out}"),
    "bench": (
        "bench",
        "--tasks",
        "InvertedPendulum",
        "--num-envs",
        "1",
        "--widths",
        "--skip",
        "real",
        "ppo",
        "memory",
        "--min-seconds",
        "0.05",
        "--max-iters",
        "5",
        "--out",
        "{out}/t",
    ),  # fmt: skip
    "eval": ("eval", "--policy", "{agent}", "--task", "InvertedPendulum", "--episodes", "1"),
    # a state world and a non-image goal: every plan case fails before any planning
    "plan": ("plan", "--world", "{world}", "--goal-image", "{file}", "--steps", "2"),
    "rank": (
        "rank",
        "--world",
        "{world}",
        "--policies",
        "{agent}",
        "random",
        "--episodes",
        "1",
        "--max-steps",
        "20",
    ),  # fmt: skip
}

# Bad values by the kind of number an option takes.
BAD_VALUES: dict[str, tuple[str, ...]] = {
    "positive int": ("0", "-5", "1.5", "abc", "nan", ""),
    "non-negative int": ("-1", "-5", "1.5", "abc", "nan"),
    "seed": ("-1", "4294967296", "1.5", "abc", "nan"),
    "positive number": ("0", "-1", "nan", "inf", "abc", ""),
    "fraction": ("0", "1", "1.5", "-0.1", "nan", "abc"),
    "finite number": ("nan", "inf", "-inf", "abc"),
    "bounded int": ("0", "-1", "100000000", "abc"),
    "threads": ("0", "-1", "100000", "abc"),
    "device": ("cuda", "cuda:7", "bogus", ""),
}

# Numeric options of every command -> the kind of number they take.
NUMBERS: dict[str, dict[str, str]] = {
    "collect": {
        "--steps": "positive int", "--seed": "seed", "--chunk-steps": "positive int",
        "--threads": "threads", "--size": "bounded int", "--until-total": "positive int",
    },
    "train-world": {
        "--epochs": "positive int", "--patience": "non-negative int",
        "--max-time": "positive number", "--batch-size": "positive int", "--lr": "positive number",
        "--holdout": "fraction", "--ensemble-size": "bounded int", "--elites": "bounded int",
        "--hidden": "bounded int", "--layers": "bounded int", "--seed": "seed",
        "--device": "device", "--threads": "threads", "--steps": "positive int",
        "--horizon": "positive int", "--latent-dim": "positive int", "--channels": "positive int",
        "--predictors": "positive int", "--eval-every": "positive int",
        "--dynamics-steps": "non-negative int", "--dynamics-horizon": "positive int",
    },
    "train-agent": {
        "--steps": "positive int", "--eval-every": "positive int", "--eval-episodes": "bounded int",
        "--seed": "seed", "--device": "device", "--threads": "threads",
    },
    "run": {
        "--real-steps": "positive int", "--initial-steps": "positive int",
        "--steps-per-iteration": "positive int", "--eval-every": "positive int",
        "--train-epochs": "positive int", "--imagined-steps": "positive int",
        "--eval-episodes": "bounded int", "--target-return": "finite number", "--seed": "seed",
        "--device": "device", "--threads": "threads", "--pixel-size": "bounded int",
        "--latent-steps": "positive int", "--latent-refit-steps": "positive int",
    },
    "record": {
        "--seed": "seed", "--steps": "bounded int", "--size": "bounded int", "--fps": "bounded int",
        "--step": "non-negative int", "--device": "device", "--threads": "threads",
    },
    "world": {"--seed": "seed", "--threads": "threads"},
    "curriculum": {"--steps": "positive int", "--seed": "seed", "--threads": "threads"},
    "bench": {
        "--num-envs": "bounded int", "--threads": "threads", "--widths": "bounded int",
        "--min-seconds": "positive number", "--max-iters": "positive int",
        "--real-mem-budget-gb": "positive number", "--real-build-budget-s": "positive number",
        "--ppo-steps": "positive int", "--ppo-target": "positive int", "--seed": "seed",
        "--device": "device",
    },
    "eval": {
        "--episodes": "bounded int", "--seed": "seed", "--device": "device", "--threads": "threads",
    },
    "plan": {
        "--steps": "positive int", "--seed": "seed", "--horizon": "positive int",
        "--samples": "positive int", "--iterations": "positive int", "--elites": "positive int",
        "--threads": "threads",
    },
    "rank": {
        "--episodes": "bounded int", "--seed": "seed", "--max-steps": "positive int",
        "--device": "device", "--threads": "threads",
    },
}  # fmt: skip

# Options that name an output folder.
OUT_FLAGS = {
    "collect": "--out",
    "train-world": "--out",
    "train-agent": "--out",
    "run": "--out",
    "record": "--out",
    "curriculum": "--out",
    "bench": "--out",
}

# Contexts given on the command line (FIELD=VALUE).
BAD_CONTEXTS = (
    "gravity", "gravity=abc", "gravity=nan", "gravity=1e999", "bogus=1", "gravity=-1", "=5",
    "gravity=1000",
)  # fmt: skip

# Recipe YAML texts (train-agent --recipe, run --recipe).
_TINY = "algo: PPO\nn_envs: 4\ntotal_timesteps: 64\nhyperparams: {n_steps: 16, batch_size: 32, n_epochs: 1}\npolicy_kwargs: {net_arch: [8]}\nenv: {max_episode_steps: 10}\n"
BAD_RECIPES: dict[str, str] = {
    "malformed YAML": "algo: PPO\nhyperparams: {n_steps: 16\n",
    "a list": "- algo\n- PPO\n",
    "a scalar": "PPO\n",
    "empty file": "",
    "unknown key": _TINY + "colour: blue\n",
    "unknown hyperparameter": _TINY.replace("n_epochs: 1}", "n_epochs: 1, warp_speed: 9}"),
    "net_arch [-5]": _TINY.replace("[8]", "[-5]"),
    "net_arch a string": _TINY.replace("[8]", "big"),
    "n_envs 0": _TINY.replace("n_envs: 4", "n_envs: 0"),
    "n_envs 2.5": _TINY.replace("n_envs: 4", "n_envs: 2.5"),
    "total_timesteps -1": _TINY.replace("total_timesteps: 64", "total_timesteps: -1"),
    "uncertainty_penalty nan": _TINY.replace("max_episode_steps: 10}", "max_episode_steps: 10, uncertainty_penalty: .nan}"),
    "uncertainty_threshold inf": _TINY.replace("max_episode_steps: 10}", "max_episode_steps: 10, uncertainty_threshold: .inf}"),
    "max_episode_steps 0": _TINY.replace("max_episode_steps: 10", "max_episode_steps: 0"),
    "unknown activation": _TINY.replace("[8]}", "[8], activation_fn: wiggle}"),
    "unknown algo": _TINY.replace("algo: PPO", "algo: Nope"),
    "hyperparams a list": _TINY.replace("hyperparams: {n_steps: 16, batch_size: 32, n_epochs: 1}", "hyperparams: [1, 2]"),
    "batch_size 0": _TINY.replace("batch_size: 32", "batch_size: 0"),
    "gamma 2": _TINY.replace("n_epochs: 1}", "n_epochs: 1, gamma: 2}"),
    "learning_rate -1": _TINY.replace("n_epochs: 1}", "n_epochs: 1, learning_rate: -1}"),
    "n_steps 0": _TINY.replace("n_steps: 16", "n_steps: 0"),
    "env a list": _TINY.replace("env: {max_episode_steps: 10}", "env: [1]"),
    "unknown task override": _TINY + "tasks: {Nope: {n_envs: 2}}\n",
    "task override a list": _TINY + "tasks: {InvertedPendulum: [1]}\n",
    "unknown world kind override": _TINY + "world_kinds: {pixels: {n_envs: 2}}\n",
    "world kind override a list": _TINY + "world_kinds: {latent: [1]}\n",
    "world kind override in a task a list": _TINY + "tasks: {InvertedPendulum: {world_kinds: [1]}}\n",
    "non-UTF-8 bytes": "algo: PPO\n# \udcff\udcfe\n",
}  # fmt: skip

# WorldSpec files (record --spec, eval --spec).
_SPEC = "task: InvertedPendulum\ncontext: {gravity: 9.81}\nseed: 0\n"
BAD_SPECS: dict[str, tuple[str, str]] = {  # name -> (suffix, text)
    "malformed YAML": (".yaml", "task: InvertedPendulum\ncontext: {gravity: 5\n"),
    "malformed JSON": (".json", '{"task": "InvertedPendulum",'),
    "a list": (".yaml", "- InvertedPendulum\n"),
    "a JSON list": (".json", '["InvertedPendulum"]'),
    "a scalar": (".yaml", "InvertedPendulum\n"),
    "empty file": (".yaml", ""),
    "missing task": (".yaml", "context: {gravity: 5}\n"),
    "unknown task": (".yaml", _SPEC.replace("InvertedPendulum", "Nope")),
    "task a number": (".yaml", _SPEC.replace("InvertedPendulum", "5")),
    "gravity true": (".yaml", _SPEC.replace("9.81", "true")),
    "gravity a string": (".yaml", _SPEC.replace("9.81", "heavy")),
    "gravity nan": (".yaml", _SPEC.replace("9.81", ".nan")),
    "gravity inf": (".yaml", _SPEC.replace("9.81", ".inf")),
    "gravity -1": (".yaml", _SPEC.replace("9.81", "-1")),
    "unknown field": (".yaml", _SPEC.replace("gravity", "colour")),
    "context a list": (".yaml", "task: InvertedPendulum\ncontext: [1, 2]\n"),
    "seed -1": (".yaml", _SPEC.replace("seed: 0", "seed: -1")),
    "seed a string": (".yaml", _SPEC.replace("seed: 0", "seed: abc")),
    "seed 1.5": (".yaml", _SPEC.replace("seed: 0", "seed: 1.5")),
    "initial_state a number": (".yaml", _SPEC + "initial_state: 5\n"),
    "initial_state qpos text": (".yaml", _SPEC + "initial_state: {qpos: abc}\n"),
    "initial_state qpos nan": (".yaml", _SPEC + "initial_state: {qpos: [.nan, 0]}\n"),
    "unknown top-level key": (".yaml", _SPEC + "colour: blue\n"),
    "non-UTF-8 bytes": (".yaml", "task: Inverted\udcffPendulum\n"),
    "JSON gravity true": (".json", '{"task": "InvertedPendulum", "context": {"gravity": true}}'),
}

# Checkpoint metadata edits (train-agent --world, record --world): name -> edit of the dict,
# or a raw text for metadata.json.
BAD_CHECKPOINTS: dict[str, object] = {
    "metadata malformed JSON": '{"task": ',
    "metadata a list": "[1, 2, 3]",
    "metadata empty mapping": "{}",
    "missing obs_dim": ("del", "obs_dim"),
    "obs_dim a string": ("set", "obs_dim", "abc"),
    "obs_dim negative": ("set", "obs_dim", -4),
    "negative hidden_size": ("ensemble", "hidden_size", -5),
    "zero ensemble_size": ("ensemble", "ensemble_size", 0),
    "ensemble a list": ("set", "ensemble", [1, 2]),
    "unknown task": ("set", "task", "Nope"),
    "format_version 99": ("set", "format_version", 99),
    "weights_file outside the folder": ("set", "weights_file", "../../../../etc/passwd"),
    "weights file missing": ("rmweights",),
    "weights file corrupted": ("zeroweights",),
}

# Dataset metadata edits (train-world --data; collect appends into it).
BAD_DATASETS: dict[str, object] = {
    "metadata malformed JSON": '{"total_episodes": ',
    "metadata a list": "[1]",
    "no genenv block": ("del", "genenv"),
    "total_episodes 1000000": ("set", "total_episodes", 1000000),
    "total_episodes -1": ("set", "total_episodes", -1),
    "genenv block a list": ("set", "genenv", [1]),
    "no metadata.json": ("rmmeta",),
}

# Run folders for `run --resume`: name -> config.yaml text (None: no config.yaml at all).
_LOOP = "loop:\n  task: InvertedPendulum\n  real_steps: 120\n  initial_steps: 100\n"
BAD_RUNS: dict[str, str | None] = {
    "no config.yaml": None,
    "malformed YAML": "loop: {task: InvertedPendulum\n",
    "a list": "- loop\n",
    "no loop key": "recipe: {}\n",
    "loop a list": "loop: [1, 2]\n",
    "real_steps -5": _LOOP.replace("real_steps: 120", "real_steps: -5"),
    "eval_every 0": _LOOP + "  eval_every: 0\n",
    "steps_per_iteration 0": _LOOP + "  steps_per_iteration: 0\n",
    "unknown key": _LOOP + "  colour: blue\n",
    "gravity true": _LOOP + "  context: {gravity: true}\n",
    "unknown task": _LOOP.replace("InvertedPendulum", "Nope"),
    "non-UTF-8 bytes": "loop:\n  task: \udcff\n",
}

# Curriculum spec edits (curriculum --spec): name -> YAML text replacing the tiny spec.
BAD_CURRICULA: dict[str, str] = {
    "malformed YAML": "task: InvertedPendulum\nbudget: {iterations: 1\n",
    "a list": "- InvertedPendulum\n",
    "unknown key": "task: InvertedPendulum\ncolour: blue\n",
    "unknown task": "task: Nope\n",
    "budget.iterations 0": "task: InvertedPendulum\nbudget: {iterations: 0}\n",
    "budget.imagined_steps -1": "task: InvertedPendulum\nbudget: {imagined_steps: -1}\n",
    "scoring kind bogus": "task: InvertedPendulum\nscoring: {kind: bogus}\n",
    "ranges unknown field": "task: InvertedPendulum\nranges: {colour: [0, 1]}\n",
    "seeds a list": "task: InvertedPendulum\nseeds: [1, 2]\n",
    "non-UTF-8 bytes": "task: Inverted\udcffPendulum\n",
}


def _num_cases() -> list[Case]:
    cases = []
    for cmd, flags in NUMBERS.items():
        for flag, kind in flags.items():
            for value in BAD_VALUES[kind]:
                argv = (*BASE[cmd], flag, value)
                if cmd == "bench" and flag in ("--num-envs", "--widths"):
                    argv = (*BASE[cmd], "--skip", "real", "ppo", "memory", flag, value)
                name = "device" if kind == "device" else "bad number"
                cases.append(Case(f"{cmd} {flag} {value!r}", cmd, argv, name))
    return cases


def _file_cases() -> list[Case]:
    c: list[Case] = []
    add = c.append
    for cmd, flag in OUT_FLAGS.items():
        add(
            Case(
                f"{cmd} {flag} <existing file>",
                cmd,
                _set(BASE[cmd], flag, "{file}"),
                "out is a file",
            )
        )
        add(
            Case(
                f"{cmd} {flag} <path under a file>",
                cmd,
                _set(BASE[cmd], flag, "{file}/sub"),
                "out is a file",
            )
        )
        add(
            Case(
                f"{cmd} {flag} <unwritable /sys>",
                cmd,
                _set(BASE[cmd], flag, "/sys/genenv-out"),
                "permission",
            )
        )
    missing = "/nonexistent/genenv-fault"
    for cmd, flag in (
        ("train-world", "--data"), ("train-agent", "--world"), ("train-agent", "--recipe"),
        ("run", "--recipe"), ("record", "--policy"), ("collect", "--policy"),
        ("curriculum", "--spec"), ("eval", "--policy"),
    ):  # fmt: skip
        add(Case(f"{cmd} {flag} <missing>", cmd, _set(BASE[cmd], flag, missing), "missing file"))
    for cmd, extra in (
        ("record", ("--spec", missing)), ("world", ("--image", missing)),
        ("run", ("--resume", missing)), ("eval", ("--spec", missing)),
        ("record", ("--world", missing, "--kinds", "imagined")),
    ):  # fmt: skip
        argv = _drop(BASE[cmd], "--task") if extra[0] == "--spec" else BASE[cmd]
        if extra[0] == "--image":
            argv = _drop(argv, "--prompt")
        if extra[0] == "--resume":
            argv = ("run",)
        add(Case(f"{cmd} {extra[0]} <missing>", cmd, (*argv, *extra), "missing file"))
    wrong = [
        ("train-world", "--data", "{file}"), ("train-world", "--data", "{world}"),
        ("train-agent", "--world", "{file}"), ("train-agent", "--world", "{data}"),
        ("train-agent", "--recipe", "{data}"), ("train-agent", "--recipe", "/proc/self/mem"),
        ("record", "--policy", "{file}"), ("record", "--policy", "{data}"),
        ("collect", "--policy", "{file}"), ("collect", "--policy", "{world}"),
        ("eval", "--policy", "{file}"), ("eval", "--policy", "{data}"),
        ("curriculum", "--spec", "{data}"), ("curriculum", "--world", "{data}"),
        ("curriculum", "--world", "{file}"),
    ]  # fmt: skip
    for cmd, flag, value in wrong:
        add(Case(f"{cmd} {flag} {value}", cmd, _set(BASE[cmd], flag, value), "wrong kind of file"))
    for value in ("{file}", "{data}"):
        add(Case(f"run --resume {value}", "run", ("run", "--resume", value), "wrong kind of file"))
    add(
        Case(
            "train-world --data /proc/self",
            "train-world",
            _set(BASE["train-world"], "--data", "/proc/self"),
            "wrong kind of file",
        )
    )
    # recipes
    for name in BAD_RECIPES:
        for cmd in ("train-agent", "run"):
            add(
                Case(
                    f"{cmd} recipe: {name}",
                    cmd,
                    _set(BASE[cmd], "--recipe", f"{{recipe:{name}}}"),
                    "bad recipe",
                )
            )
    # WorldSpec files
    for name in BAD_SPECS:
        add(
            Case(
                f"record spec: {name}",
                "record",
                (*_drop(BASE["record"], "--task"), "--spec", f"{{spec:{name}}}"),
                "bad spec",
            )
        )
        if name in ("malformed YAML", "a list", "gravity true", "seed -1", "missing task"):
            argv = (*_drop(BASE["eval"], "--task"), "--spec", f"{{spec:{name}}}")
            add(Case(f"eval spec: {name}", "eval", argv, "bad spec"))
    # checkpoints
    for name in BAD_CHECKPOINTS:
        add(
            Case(
                f"train-agent world: {name}",
                "train-agent",
                _set(BASE["train-agent"], "--world", f"{{world:{name}}}"),
                "bad checkpoint",
            )
        )
        argv = (*_set(BASE["record"], "--kinds", "imagined"), "--world", f"{{world:{name}}}")
        add(Case(f"record world: {name}", "record", argv, "bad checkpoint"))
    # datasets
    for name in BAD_DATASETS:
        add(
            Case(
                f"train-world data: {name}",
                "train-world",
                _set(BASE["train-world"], "--data", f"{{data:{name}}}"),
                "bad dataset",
            )
        )
        add(
            Case(
                f"collect into data: {name}",
                "collect",
                _set(BASE["collect"], "--out", f"{{data:{name}}}"),
                "bad dataset",
            )
        )
    add(
        Case(
            "collect --task HalfCheetah into an InvertedPendulum dataset",
            "collect",
            _set(_set(BASE["collect"], "--out", "{data:copy}"), "--task", "HalfCheetah"),
            "bad dataset",
        )
    )
    # run --resume
    for name in BAD_RUNS:
        add(
            Case(
                f"run --resume: {name}",
                "run",
                ("run", "--resume", f"{{run:{name}}}"),
                "bad run folder",
            )
        )
    add(
        Case(
            "run --resume with a broken state.json",
            "run",
            ("run", "--resume", "{run:broken state}"),
            "bad run folder",
        )
    )
    # curricula
    for name in BAD_CURRICULA:
        add(
            Case(
                f"curriculum spec: {name}",
                "curriculum",
                _set(BASE["curriculum"], "--spec", f"{{curriculum:{name}}}"),
                "bad curriculum",
            )
        )
    add(
        Case(
            "curriculum --resume of an empty folder",
            "curriculum",
            ("curriculum", "--resume", "--out", "{emptydir}"),
            "bad run folder",
        )
    )
    add(
        Case(
            "curriculum --resume with --steps",
            "curriculum",
            ("curriculum", "--resume", "--out", "{emptydir}", "--steps", "100"),
            "conflicting options",
        )
    )
    # contexts
    for value in BAD_CONTEXTS:
        for cmd in ("collect", "train-agent", "run"):
            add(
                Case(
                    f"{cmd} --context {value}", cmd, (*BASE[cmd], "--context", value), "bad context"
                )
            )
    add(
        Case(
            "collect --context length_scale=1.5 on Hopper",
            "collect",
            (*_set(BASE["collect"], "--task", "Hopper"), "--context", "length_scale=1.5"),
            "bad context",
        )
    )
    # prompts and images
    world = _drop(BASE["world"], "--prompt")
    add(
        Case(
            "world --prompt <non-UTF-8>",
            "world",
            (*world, "--prompt", "gravity \udcff\udcfe"),
            "non-UTF-8 text",
        )
    )
    add(Case("world --prompt ''", "world", (*world, "--prompt", ""), "bad text"))
    add(Case("world --prompt '   '", "world", (*world, "--prompt", "   "), "bad text"))
    add(
        Case(
            "world --prompt 'gravity 1e999 and mass 1e308'",
            "world",
            (*world, "--prompt", "gravity 1e999 and mass 1e308"),
            "absurd number",
            expect="note",
            note=r"clamped",
        )
    )
    add(
        Case(
            "world --prompt 'friction 1e-999'",
            "world",
            (*world, "--prompt", "friction 1e-999"),
            "absurd number",
            expect="note",
            note=r"clamped",
        )
    )
    add(
        Case(
            "world --prompt 'mass 99999999999999999999'",
            "world",
            (*world, "--prompt", "mass 99999999999999999999"),
            "absurd number",
            expect="note",
            note=r"clamped",
        )
    )
    add(Case("world --task Nope", "world", _set(BASE["world"], "--task", "Nope"), "unknown name"))
    for name in ("bomb", "text", "empty", "truncated"):
        add(
            Case(
                f"world --image <{name}>",
                "world",
                (*world, "--image", f"{{image:{name}}}"),
                "bad image",
            )
        )
    add(Case("world --image <a folder>", "world", (*world, "--image", "{data}"), "bad image"))
    add(
        Case(
            "world --image for Hopper",
            "world",
            (*_set(world, "--task", "Hopper"), "--image", "{image:text}"),
            "bad image",
        )
    )
    add(
        Case(
            "world --json > /dev/full",
            "world",
            BASE["world"],
            "no space left",
            early=False,
            stdout="/dev/full",
        )
    )
    # record choices
    rec = BASE["record"]
    add(Case("record --kinds bogus", "record", _set(rec, "--kinds", "bogus"), "bad choice"))
    add(Case("record --kinds ''", "record", _set(rec, "--kinds", ""), "bad choice"))
    add(Case("record --formats avi", "record", _set(rec, "--formats", "avi"), "bad choice"))
    add(
        Case(
            "record --kinds imagined without --world",
            "record",
            _set(rec, "--kinds", "imagined"),
            "missing option",
        )
    )
    add(Case("record --task Nope", "record", _set(rec, "--task", "Nope"), "unknown name"))
    # bench
    add(Case("bench --tasks Nope", "bench", _set(BASE["bench"], "--tasks", "Nope"), "unknown name"))
    add(Case("bench --skip bogus", "bench", (*BASE["bench"], "--skip", "bogus"), "bad choice"))
    add(
        Case(
            "bench --ppo-recipe <missing>",
            "bench",
            (
                "bench",
                "--tasks",
                "InvertedPendulum",
                "--num-envs",
                "1",
                "--skip",
                "real",
                "memory",
                "--ppo-recipe",
                missing,
                "--out",
                "{out}/t",
            ),
            "missing file",
        )
    )
    add(
        Case(
            "bench --out <a folder>",
            "bench",
            _set(BASE["bench"], "--out", "{emptydir}"),
            "out is a folder",
        )
    )
    # eval
    ev = BASE["eval"]
    add(Case("eval without --task or --spec", "eval", _drop(ev, "--task"), "missing option"))
    add(
        Case(
            "eval with --task and --spec",
            "eval",
            (*ev, "--spec", "{spec:ok}"),
            "conflicting options",
        )
    )
    add(Case("eval --task Nope", "eval", _set(ev, "--task", "Nope"), "unknown name"))
    add(
        Case(
            "eval --task HalfCheetah with an InvertedPendulum agent",
            "eval",
            _set(ev, "--task", "HalfCheetah"),
            "wrong kind of file",
        )
    )
    # newer options: collect --resume/--until-total, run --worlds
    col = BASE["collect"]
    c += [
        Case("collect --steps and --until-total", "collect", (*col, "--until-total", "100"), "conflicting options"),
        Case("collect without --steps", "collect", _drop(col, "--steps"), "missing option"),
        Case("collect --resume into a missing dataset", "collect", (*_drop(col, "--steps"), "--resume"), "missing file"),
        Case("run --worlds <missing>", "run", (*BASE["run"], "--worlds", missing), "missing file"),
        Case("run --schedule without --worlds", "run", (*BASE["run"], "--schedule", "plr"), "missing option"),
        Case("run --schedule bogus", "run", (*BASE["run"], "--schedule", "bogus"), "bad choice"),
    ]  # fmt: skip
    for name in ("malformed YAML", "a list", "unknown key", "budget.iterations 0"):
        add(Case(f"run --worlds: {name}", "run", (*BASE["run"], "--worlds", f"{{curriculum:{name}}}"), "bad curriculum"))  # fmt: skip
    # plan (a pixel world's planner)
    pl = BASE["plan"]
    c += [
        Case("plan --world <an ensemble, not a pixel world>", "plan", _set(pl, "--goal-image", "{image:goal}"), "wrong kind of file"),
        Case("plan --world {data}", "plan", _set(pl, "--world", "{data}"), "wrong kind of file"),
        Case("plan --world <missing>", "plan", _set(pl, "--world", missing), "missing file"),
        Case("plan --goal-image <text>", "plan", _set(pl, "--goal-image", "{image:text}"), "bad image"),
        Case("plan --goal-image <bomb>", "plan", _set(pl, "--goal-image", "{image:bomb}"), "bad image"),
        Case("plan --method bogus", "plan", (*pl, "--method", "bogus"), "bad choice"),
        Case("plan --video <existing file>", "plan", (*pl, "--video", "{file}"), "out is a file"),
    ]  # fmt: skip
    # rank
    rk = BASE["rank"]
    rank_one = ("rank", "--world", "{world}", "--episodes", "1", "--policies")
    c += [
        Case("rank --world <missing>", "rank", _set(rk, "--world", missing), "missing file"),
        Case("rank --world {file}", "rank", _set(rk, "--world", "{file}"), "wrong kind of file"),
        Case("rank --world {data}", "rank", _set(rk, "--world", "{data}"), "wrong kind of file"),
        Case("rank --policies <one>", "rank", (*rank_one, "random"), "missing option"),
        Case("rank --policies <missing>", "rank", (*rank_one, "random", missing), "missing file"),
        Case("rank --policies <a text file>", "rank", (*rank_one, "random", "{file}"), "wrong kind of file"),
        Case("rank --spec <missing>", "rank", (*rk, "--spec", missing), "missing file"),
        Case("rank --json <a folder>", "rank", (*rk, "--json", "{emptydir}"), "out is a folder"),
        Case("rank --json <under a file>", "rank", (*rk, "--json", "{file}/r.json"), "out is a file"),
    ]  # fmt: skip
    for name in ("malformed YAML", "gravity true", "unknown task", "seed -1"):
        add(Case(f"rank spec: {name}", "rank", (*rk, "--spec", f"{{spec:{name}}}"), "bad spec"))
    for name in (
        "metadata a list",
        "missing obs_dim",
        "negative hidden_size",
        "weights file corrupted",
    ):
        add(Case(f"rank world: {name}", "rank", _set(rk, "--world", f"{{world:{name}}}"), "bad checkpoint"))  # fmt: skip
    # unknown commands and options
    add(Case("genenv nope", "", ("nope",), "unknown name"))
    for cmd in BASE:
        add(Case(f"{cmd} --bogus", cmd, (*BASE[cmd], "--bogus"), "unknown option"))
        if cmd not in ("bench", "run"):  # these two have defaults for everything
            add(Case(f"{cmd} (no arguments)", cmd, (cmd,), "missing option"))
    add(
        Case(
            "collect --task Nope",
            "collect",
            _set(BASE["collect"], "--task", "Nope"),
            "unknown name",
        )
    )
    add(Case("run --task Nope", "run", _set(BASE["run"], "--task", "Nope"), "unknown name"))
    add(Case("run without --out", "run", _drop(BASE["run"], "--out"), "missing option"))
    add(
        Case(
            "run --out <non-empty folder>",
            "run",
            _set(BASE["run"], "--out", "{data}"),
            "out not empty",
        )
    )
    add(
        Case(
            "run --initial-steps > --real-steps",
            "run",
            (*BASE["run"], "--initial-steps", "500"),
            "inconsistent numbers",
        )
    )
    add(
        Case(
            "train-world --elites > --ensemble-size",
            "train-world",
            (*BASE["train-world"], "--elites", "3"),
            "inconsistent numbers",
        )
    )
    return c


def _set(argv: tuple[str, ...], flag: str, value: str) -> tuple[str, ...]:
    """argv with `flag`'s value replaced (or the flag appended)."""
    out = list(argv)
    if flag in out:
        out[out.index(flag) + 1] = value
        return tuple(out)
    return (*out, flag, value)


def _drop(argv: tuple[str, ...], flag: str) -> tuple[str, ...]:
    out = list(argv)
    i = out.index(flag)
    del out[i : i + 2]
    return tuple(out)


CASES: list[Case] = _num_cases() + _file_cases()
assert len({c.id for c in CASES}) == len(CASES), "case ids must be unique"


# -- fixtures --------------------------------------------------------------------------------------
def _genenv(*argv: str, inprocess: bool = False) -> None:
    """Run a good genenv command line, in a child process unless `inprocess`."""
    if inprocess:
        from genenv.cli import main

        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(list(argv))
        if code != 0:
            raise RuntimeError(
                f"fixture `genenv {' '.join(argv)}` failed:\n{err.getvalue()[-3000:]}"
            )
        return
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}
    code = "import sys; from genenv.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.run(
        [sys.executable, "-c", code, *argv], env=env, capture_output=True, text=True, timeout=600
    )
    if proc.returncode != 0:
        raise RuntimeError(f"fixture `genenv {' '.join(argv)}` failed:\n{proc.stderr[-3000:]}")


def _png(width: int, height: int) -> bytes:
    """A PNG header announcing width x height pixels with a tiny (truncated) body."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    return path


def _edit_json(folder: Path, edit: object) -> None:
    meta_file = folder / "metadata.json"
    if isinstance(edit, str):
        meta_file.write_text(edit)
        return
    op, *rest = edit  # type: ignore[misc]
    if op == "rmmeta":
        meta_file.unlink()
        return
    meta = json.loads(meta_file.read_text())
    if op in ("rmweights", "zeroweights"):
        weights = folder / meta["weights_file"]
        if op == "rmweights":
            weights.unlink()
        else:
            weights.write_bytes(b"\0" * weights.stat().st_size)
        return
    if op == "del":
        meta.pop(rest[0], None)
    elif op == "set":
        meta[rest[0]] = rest[1]
    elif op == "ensemble":
        meta["ensemble"][rest[0]] = rest[1]
    meta_file.write_text(json.dumps(meta))


def make_fixtures(root: str | os.PathLike, inprocess: bool = False) -> dict[str, str]:
    """Build every file the table's placeholders name under `root`; returns placeholder -> path.
    `inprocess` runs the fixture commands in this process (faster; for tests)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    fx: dict[str, str] = {}
    fx["file"] = str(_write(root / "a-file.txt", "not a folder\n"))
    (root / "empty-dir").mkdir(exist_ok=True)
    fx["emptydir"] = str(root / "empty-dir")
    fx["recipe"] = str(_write(root / "tiny-recipe.yaml", _TINY))
    data, world, agent_run = root / "data", root / "world", root / "agent-run"
    if not (data / "metadata.json").exists():
        _genenv(
            "collect",
            "--task",
            "InvertedPendulum",
            "--steps",
            "300",
            "--out",
            str(data),
            "--no-progress",
            inprocess=inprocess,
        )
    if not (world / "metadata.json").exists():
        _genenv("train-world", "--data", str(data), "--out", str(world), "--epochs", "2", "--hidden", "16", "--layers", "1", "--ensemble-size", "2", "--elites", "1", "--no-progress", inprocess=inprocess)  # fmt: skip
    if not (agent_run / "agent").exists():
        _genenv("train-agent", "--recipe", fx["recipe"], "--world", str(world), "--out", str(agent_run), "--steps", "64", "--eval-every", "64", "--eval-episodes", "1", inprocess=inprocess)  # fmt: skip
    fx["data"], fx["world"], fx["agent"] = str(data), str(world), str(agent_run / "agent")
    for name, text in BAD_RECIPES.items():
        fx[f"recipe:{name}"] = str(_write(root / "recipes" / f"{_slug(name)}.yaml", text))
    fx["spec:ok"] = str(_write(root / "specs" / "ok.yaml", _SPEC))
    for name, (suffix, text) in BAD_SPECS.items():
        fx[f"spec:{name}"] = str(_write(root / "specs" / f"{_slug(name)}{suffix}", text))
    for name, edit in BAD_CHECKPOINTS.items():
        folder = root / "worlds" / _slug(name)
        if not folder.exists():
            shutil.copytree(world, folder)
            _edit_json(folder, edit)
        fx[f"world:{name}"] = str(folder)
    fx["data:copy"] = str(root / "datasets" / "copy")
    for name in BAD_DATASETS:
        fx[f"data:{name}"] = str(root / "datasets" / _slug(name))
    for name, text in BAD_RUNS.items():
        folder = root / "runs" / _slug(name)
        folder.mkdir(parents=True, exist_ok=True)
        if text is not None:
            _write(folder / "config.yaml", text)
        fx[f"run:{name}"] = str(folder)
    broken = root / "runs" / "broken-state"
    _write(broken / "config.yaml", _LOOP + f"  recipe: {fx['recipe']}\n  video: false\n")
    _write(broken / "state.json", '{"iteration": ')
    fx["run:broken state"] = str(broken)
    tiny_curriculum = (
        f"task: InvertedPendulum\nseed: 0\nworld: {{checkpoint: {world}}}\n"
        "seeds: {prompts: [], random: 1, default: true}\n"
        f"agent: {{recipe: {fx['recipe']}, n_envs: 4, horizon: 10}}\n"
        "budget: {imagined_steps: 64, iterations: 1, transfer_episodes: 1, transfer_worlds: 1}\n"
        "eval: {episodes: 1, worlds: [{context: {}}]}\n"
    )
    fx["curriculum"] = str(_write(root / "curricula" / "tiny.yaml", tiny_curriculum))
    for name, text in BAD_CURRICULA.items():
        fx[f"curriculum:{name}"] = str(_write(root / "curricula" / f"{_slug(name)}.yaml", text))
    images = root / "images"
    images.mkdir(exist_ok=True)
    (images / "bomb.png").write_bytes(_png(20000, 20000))
    (images / "text.png").write_text("not an image\n")
    (images / "empty.png").write_bytes(b"")
    (images / "truncated.png").write_bytes(_png(64, 64)[:40])
    for name in ("bomb", "text", "empty", "truncated"):
        fx[f"image:{name}"] = str(images / f"{name}.png")
    from PIL import Image

    Image.new("RGB", (64, 64), (120, 120, 120)).save(images / "goal.png")
    fx["image:goal"] = str(images / "goal.png")
    return fx


def _fresh_datasets(fx: dict[str, str]) -> None:
    """Datasets are appended to by `collect` cases: rebuild the edited copies before each run."""
    for name, edit in BAD_DATASETS.items():
        folder = Path(fx[f"data:{name}"])
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(fx["data"], folder)
        _edit_json(folder, edit)
    shutil.rmtree(fx["data:copy"], ignore_errors=True)
    shutil.copytree(fx["data"], fx["data:copy"])


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


# -- running and classifying -----------------------------------------------------------------------
def fill(case: Case, fx: dict[str, str], out: Path) -> list[str]:
    """The case's argv with placeholders filled; {out} is `out` (which must not exist)."""
    values = {**fx, "out": str(out)}
    return [
        re.sub(r"\{([^{}]+)\}", lambda m: values.get(m.group(1), m.group(0)), a) for a in case.argv
    ]


def classify(
    case: Case, rc: int | None, stdout: str, stderr: str, timed_out: bool, wrote: bool
) -> str:
    if timed_out:
        return "hang"
    if "Traceback (most recent call last)" in stderr:
        return "traceback"
    if case.expect == "note":
        if rc == 0:
            return "clean" if re.search(case.note, stdout + stderr) else "garbage"
        return "unclear"
    if rc == 0 or wrote:
        return "garbage"
    lines = [line for line in stderr.splitlines() if line.strip()]
    prefix = f"genenv {case.command}: error:" if case.command else "genenv: error:"
    errors = [line for line in lines if line.startswith(prefix)]
    one_line = len(errors) == 1 and lines[-1] == errors[0] and (not case.early or len(lines) == 1)
    return "clean" if rc == 2 and one_line else "unclear"


def run_case(
    case: Case, fx: dict[str, str], workdir: str | os.PathLike | None = None, mode: str = "fork",
    timeout: float | None = None,
) -> Outcome:  # fmt: skip
    """Run one case in a child (`fork`: a forked copy of this process, fast; `subprocess`: a new
    Python) with a timeout, and classify what it did."""
    work = Path(workdir or tempfile.mkdtemp(prefix="genenv-fault-"))
    work.mkdir(parents=True, exist_ok=True)
    out = work / "out" / _slug(case.id)[:80]
    shutil.rmtree(out, ignore_errors=True)
    argv = fill(case, fx, out)
    limit = case.timeout if timeout is None else timeout
    start = time.monotonic()
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        so, se = Path(tmp) / "stdout", Path(tmp) / "stderr"
        if mode == "fork":
            rc, timed_out = _run_forked(argv, so, se, case.stdout, work, limit)
        else:
            rc, timed_out = _run_subprocess(argv, so, se, case.stdout, work, limit)
        stdout = so.read_text(errors="replace") if so.exists() else ""
        stderr = se.read_text(errors="replace")
    wrote = out.exists()
    result = classify(case, rc, stdout, stderr, timed_out, wrote)
    return Outcome(case.id, result, rc, round(time.monotonic() - start, 2), stderr[-600:], wrote)


def _run_forked(argv, so: Path, se: Path, stdout_to, cwd: Path, limit: float):
    from genenv.cli import main  # imported once in the parent; children start warm

    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # child
        rc = 1
        try:
            os.setpgid(0, 0)
            fd_out = os.open(stdout_to or so, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            fd_err = os.open(se, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(fd_out, 1)
            os.dup2(fd_err, 2)
            sys.stdout = io.TextIOWrapper(os.fdopen(1, "wb", closefd=False), write_through=False)
            sys.stderr = io.TextIOWrapper(os.fdopen(2, "wb", closefd=False), write_through=True)
            os.chdir(cwd)
            rc = main(argv)
        except SystemExit as exit_:
            rc = exit_.code if isinstance(exit_.code, int) else 1
        except BaseException:
            traceback.print_exc()
            rc = 1
        try:
            sys.stdout.flush()
        except OSError:  # what CPython does when stdout cannot be flushed at exit
            print(
                "Exception ignored on flushing sys.stdout:\nOSError: flush failed", file=sys.stderr
            )
            rc = 120
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os._exit(rc if isinstance(rc, int) else 1)
    deadline = time.monotonic() + limit
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status), False
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return None, True
        time.sleep(0.02)


def _run_subprocess(argv, so: Path, se: Path, stdout_to, cwd: Path, limit: float):
    code = "import sys; from genenv.cli import main; sys.exit(main(sys.argv[1:]))"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = [os.fsencode(a) for a in [sys.executable, "-c", code, *argv]]
    with open(stdout_to or so, "wb") as fo, open(se, "wb") as fe:
        proc = subprocess.Popen(
            args, stdout=fo, stderr=fe, cwd=cwd, env=env, start_new_session=True
        )
        try:
            return proc.wait(timeout=limit), False
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return None, True


def run_table(
    cases: list[Case], fx: dict[str, str], workdir: str | os.PathLike, mode: str = "fork",
    progress: bool = True, timeout: float | None = None,
) -> list[Outcome]:  # fmt: skip
    """Run `cases` one after another; returns their outcomes."""
    os.environ.setdefault("GENENV_LOG_INTERVAL", "3600")
    _fresh_datasets(fx)
    outcomes = []
    for i, case in enumerate(cases):
        if "{data:" in " ".join(case.argv) and case.command == "collect":
            _fresh_datasets(fx)
        outcome = run_case(case, fx, workdir, mode, timeout)
        outcomes.append(outcome)
        if progress:
            print(
                f"[{i + 1}/{len(cases)}] {outcome.result:<9} {outcome.seconds:6.1f}s  {case.id}",
                file=sys.stderr,
                flush=True,
            )
    return outcomes


def counts(outcomes: list[Outcome]) -> dict[str, int]:
    return {"cases": len(outcomes)} | {r: sum(o.result == r for o in outcomes) for r in RESULTS}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fixtures", default=None, help="fixture folder (reused if present)")
    parser.add_argument("--filter", default="", help="only cases whose id contains this text")
    parser.add_argument(
        "--mode", choices=("fork", "subprocess"), default="fork", help="how to run a case"
    )
    parser.add_argument("--json", default=None, help="write every outcome to this JSON file")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per case (a hang)")
    parser.add_argument("--start", type=int, default=0, help="first case index (0-based)")
    parser.add_argument("--stop", type=int, default=None, help="stop before this case index")
    args = parser.parse_args(argv)
    os.environ.setdefault("MUJOCO_GL", "egl")
    import torch

    torch.set_num_threads(1)
    root = Path(args.fixtures or tempfile.mkdtemp(prefix="genenv-faults-"))
    fx = make_fixtures(root / "fixtures")
    cases = [c for c in CASES[args.start : args.stop] if args.filter in c.id]
    outcomes = run_table(cases, fx, root / "work", args.mode, timeout=args.timeout)
    summary = counts(outcomes)
    print(json.dumps(summary))
    for o in outcomes:
        if o.result != "clean":
            print(
                f"{o.result:<9} {o.case}\n    {o.stderr_tail.strip().splitlines()[-1] if o.stderr_tail.strip() else ''}"
            )
    if args.json:
        Path(args.json).write_text(
            json.dumps({"counts": summary, "outcomes": [o.to_dict() for o in outcomes]}, indent=1)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
