"""Kill-and-resume drills shared by tests/test_faults.py (a few, tiny) and benchmarks/drills.py
(the full loop): start a real `genenv` command, kill it by a signal at a random moment, resume it
the way a user would, and check what is on disk against an uninterrupted reference.

Every function returns a `Tally` of what it saw; nothing is asserted here.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SIGNALS = (signal.SIGKILL, signal.SIGTERM, signal.SIGINT)
TASK = "InvertedPendulum"
TINY_RECIPE = """algo: PPO
policy: MlpPolicy
n_envs: 16
total_timesteps: 512
hyperparams: {n_steps: 32, batch_size: 256, n_epochs: 1}
policy_kwargs: {net_arch: [16, 16]}
env: {max_episode_steps: 16, start: states}
"""
TINY_CURRICULUM = {
    "task": TASK,
    "seed": 3,
    "world": {"data_steps": 1500, "train_epochs": 2},
    "seeds": {"prompts": [], "random": 2, "default": True},
    "plr": {"capacity": 64, "replay_prob": 0.5, "min_replay_levels": 2},
    "agent": {"n_envs": 4, "horizon": 5, "hyperparams": {"n_steps": 16, "batch_size": 32}},
    "budget": {"imagined_steps": 128, "iterations": 2, "transfer_episodes": 0},
    "eval": {"episodes": 1, "worlds": [{"context": {"gravity": 12.0}}]},
}


@dataclass
class Tally:
    """Counts of one drill (summed over drills by benchmarks/drills.py)."""

    kills: int = 0  # signals delivered to a running process
    resumes: int = 0  # resume commands run
    tracebacks: int = 0  # Python tracebacks on stderr of any command
    hangs: int = 0  # commands that ran past their timeout
    stranded: int = 0  # runs that no resume could finish
    garbage: int = 0  # finished runs whose results contradict what was asked
    lost: int = 0  # transitions of the reference missing after resume
    duplicated: int = 0  # transitions stored more than once after resume
    notes: list[str] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        for key, value in asdict(other).items():
            if key == "notes":
                self.notes.extend(value)
            else:
                setattr(self, key, getattr(self, key) + value)


def genenv(*args: str) -> list[str]:
    return [sys.executable, "-m", "genenv.cli", *args]


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl"),
        "PYTHONPATH": str(REPO),
        "GENENV_LOG_INTERVAL": "3600",
    }


def run(cmd: list[str], tally: Tally, timeout: float = 600, cwd: Path | None = None):
    """Run to completion; count tracebacks and hangs. Returns the CompletedProcess or None."""
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, env=_env(), cwd=cwd
        )
    except subprocess.TimeoutExpired:
        tally.hangs += 1
        tally.notes.append(f"hang: {' '.join(cmd[2:])}")
        return None
    if "Traceback (most recent call last)" in done.stderr:
        tally.tracebacks += 1
        tally.notes.append(f"traceback: {' '.join(cmd[2:])}: {done.stderr.strip()[-300:]}")
    return done


def sigint_as_at_a_terminal() -> None:
    """`preexec_fn` for a child that a drill will Ctrl-C: SIGINT back to its default. A suite or
    drill started in the background (`cmd &`, nohup, some CI runners) has SIGINT ignored, which
    children inherit; Python then keeps ignoring it and the Ctrl-C would test nothing."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_and_kill(cmd: list[str], delay: float, sig: int, tally: Tally, cwd: Path | None = None):
    """Start `cmd`, deliver `sig` after `delay` seconds if it still runs; wait for it to end."""
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=_env(), cwd=cwd,
        preexec_fn=sigint_as_at_a_terminal,
    )  # fmt: skip
    try:
        proc.wait(timeout=delay)
        killed = False
    except subprocess.TimeoutExpired:
        proc.send_signal(sig)
        killed = True
        tally.kills += 1
    try:
        _, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        tally.hangs += 1
        tally.notes.append(f"hang after signal {sig}: {' '.join(cmd[2:])}")
        return killed
    if "Traceback (most recent call last)" in (err or "") and sig != signal.SIGINT:
        tally.tracebacks += 1
        tally.notes.append(f"traceback after signal {sig}: {err.strip()[-300:]}")
    if sig == signal.SIGINT and "Traceback (most recent call last)" in (err or ""):
        tally.tracebacks += 1
        tally.notes.append(f"traceback on Ctrl-C: {err.strip()[-300:]}")
    return killed


# -- comparing datasets ------------------------------------------------------------------------------
def episode_table(path: Path) -> list[tuple[int, int, str, int]]:
    """(collection-free) rows (index, reset seed, checksum, steps) of a dataset's episodes."""
    meta = json.loads((path / "metadata.json").read_text())
    rows = []
    for i in range(int(meta["total_episodes"])):
        m = json.loads((path / str(i) / "metadata.json").read_text())
        rows.append((i, int(m["seed"]), m["checksum"], int(m["total_steps"])))
    return rows


def compare(path: Path, reference: Path, tally: Tally, first: int = 0) -> None:
    """Count transitions of `reference` missing from `path` and transitions stored twice.

    Episodes are matched by checksum; `first` skips that many episodes of `path` (none by
    default). Also checks the dataset's records and totals add up and that it loads.
    """
    from genenv.data import collection_info, load_transitions

    have = episode_table(path)[first:]
    want = episode_table(reference)
    lengths = {c: n for _, _, c, n in have + want}
    have_n: dict[str, int] = {}
    want_n: dict[str, int] = {}
    for rows, counts in ((have, have_n), (want, want_n)):
        for _, _, c, _ in rows:
            counts[c] = counts.get(c, 0) + 1
    for c, n in lengths.items():
        tally.lost += max(0, want_n.get(c, 0) - have_n.get(c, 0)) * n
        extra = have_n.get(c, 0) - want_n.get(c, 0)
        if extra > 0 and want_n.get(c, 0) > 0:
            tally.duplicated += extra * n
        elif extra > 0:  # an episode the uninterrupted run never made
            tally.garbage += 1
            tally.notes.append(f"{path}: an episode ({n} steps) that the reference lacks")
    info = collection_info(path)
    if sum(r["steps"] for r in info["collections"]) != info["total_steps"]:
        tally.garbage += 1
        tally.notes.append(f"{path}: collection records do not add up to total_steps")
    try:
        if len(load_transitions(path)) != info["total_steps"]:
            tally.garbage += 1
    except ValueError as err:
        tally.garbage += 1
        tally.notes.append(f"{path}: unreadable after resume ({err})")


def reference_collection(path: Path, steps: int, seed: int, source=TASK) -> Path:
    from genenv.data import collect

    if not (path / "metadata.json").is_file():
        collect(source, steps, path, seed=seed, progress=False, chunk_steps=steps // 6)
    return path


# -- the drills ----------------------------------------------------------------------------------
def drill_collect(work: Path, rng: np.random.Generator, kills: int, ref: Path) -> Tally:
    """`genenv collect` killed `kills` times, resumed with --resume each time, then finished."""
    t = Tally()
    steps = int(json.loads((ref / "metadata.json").read_text())["total_steps"])
    out = work / "ds"
    base = ["collect", "--task", TASK, "--out", str(out), "--seed", "5", "--no-progress"]
    base += ["--steps", str(steps), "--chunk-steps", str(steps // 6)]
    cmd = genenv(*base)  # the first attempt; then `--resume` with the same arguments
    for k in range(kills):
        t.resumes += k > 0
        run_and_kill(
            cmd if k == 0 else genenv(*base, "--resume"),
            rng.uniform(0.5, 3.5),
            int(rng.choice(SIGNALS)),
            t,
        )
    done = run(genenv(*base, "--resume"), t)
    t.resumes += 1
    if done is None or done.returncode != 0:
        t.stranded += 1
        t.notes.append(f"collect stranded: {None if done is None else done.stderr[-300:]}")
        return t
    compare(out, ref, t)
    return t


def drill_train_world(work: Path, rng: np.random.Generator, kills: int, data: Path) -> Tally:
    """`genenv train-world` killed `kills` times; after each kill the checkpoint folder holds a
    whole checkpoint or none, the dataset is untouched; the same command then finishes."""
    from genenv.models.checkpoint import load_checkpoint

    t = Tally()
    before = episode_table(data)
    out = work / "world"
    cmd = genenv(
        "train-world",
        "--data",
        str(data),
        "--out",
        str(out),
        "--epochs",
        "30",
        "--patience",
        "1000",
        "--no-progress",
    )
    for _ in range(kills):
        run_and_kill(cmd, rng.uniform(2.0, 9.0), int(rng.choice(SIGNALS)), t)
        if (out / "metadata.json").exists():
            try:
                load_checkpoint(out)
            except (ValueError, FileNotFoundError) as err:
                t.garbage += 1
                t.notes.append(f"train-world left a broken checkpoint: {err}")
    done = run(cmd, t)
    t.resumes += 1
    if done is None or done.returncode != 0:
        t.stranded += 1
        t.notes.append(f"train-world stranded: {None if done is None else done.stderr[-300:]}")
    else:
        load_checkpoint(out)
        if list(out.glob("*.tmp")):
            t.garbage += 1
            t.notes.append("train-world left *.tmp files after a clean run")
    if episode_table(data) != before:
        t.lost += 1
        t.notes.append("train-world changed its dataset")
    return t


def drill_run(work: Path, rng: np.random.Generator, kills: int, ref: Path) -> Tally:
    """`genenv run` killed `kills` times, each time resumed with --resume (or rerun when the
    folder holds nothing yet); the finished run must hold exactly its budget of real steps,
    its first collection equal to the uninterrupted reference."""
    t = Tally()
    recipe = work / "tiny.yaml"
    recipe.write_text(TINY_RECIPE)
    out = work / "run"
    cmd = genenv(
        "run",
        "--task",
        TASK,
        "--out",
        str(out),
        "--real-steps",
        "1300",
        "--initial-steps",
        "1000",
        "--steps-per-iteration",
        "150",
        "--recipe",
        str(recipe),
        "--eval-every",
        "512",
        "--eval-episodes",
        "1",
        "--train-epochs",
        "2",
        "--no-video",
        "--seed",
        "2",
        "--no-progress",
    )
    resume = genenv("run", "--resume", str(out), "--no-progress")

    def next_cmd():
        started = (out / "config.yaml").exists()
        return resume if started else cmd

    for _ in range(kills):
        c = next_cmd()
        t.resumes += c is resume
        run_and_kill(c, rng.uniform(0.5, 10.0), int(rng.choice(SIGNALS)), t)
    c = next_cmd()
    t.resumes += c is resume
    done = run(c, t)
    if done is None or done.returncode != 0:
        t.stranded += 1
        t.notes.append(f"run stranded: {None if done is None else done.stderr[-400:]}")
        return t
    summary = json.loads((out / "summary.json").read_text())
    if not summary.get("done") or summary["real_env_steps"] != 1300:
        t.garbage += 1
        t.notes.append(f"run finished with {summary.get('real_env_steps')} of 1300 real steps")
    have = episode_table(out / "data")
    n_ref = len(episode_table(ref))
    # the first collection (random actions, seed 2*1000) must equal the reference exactly
    sub = work / "first"
    _copy_episodes(out / "data", sub, n_ref)
    compare(sub, ref, t)
    later: dict[str, int] = {}  # the agent's collections: no episode twice
    for _, _, c, n in have[n_ref:]:
        if c in later:
            t.duplicated += n
        later[c] = n
    return t


def drill_curriculum(work: Path, rng: np.random.Generator, kills: int, ref: Path) -> Tally:
    """`genenv curriculum` killed `kills` times and resumed; its world-model data must equal the
    uninterrupted reference collection and its summary the spec's budget."""
    import yaml

    t = Tally()
    spec = work / "spec.yaml"
    spec.write_text(yaml.safe_dump(TINY_CURRICULUM))
    out = work / "cur"
    cmd = genenv("curriculum", "--spec", str(spec), "--out", str(out), "--no-progress")
    resume = genenv("curriculum", "--out", str(out), "--resume", "--no-progress")

    def next_cmd():
        return resume if (out / "config.yaml").exists() else cmd

    for _ in range(kills):
        c = next_cmd()
        t.resumes += c is resume
        run_and_kill(c, rng.uniform(0.5, 10.0), int(rng.choice(SIGNALS)), t)
    c = next_cmd()
    t.resumes += c is resume
    done = run(c, t)
    if done is None or done.returncode != 0:
        t.stranded += 1
        t.notes.append(f"curriculum stranded: {None if done is None else done.stderr[-400:]}")
        return t
    summary = json.loads((out / "summary.json").read_text())
    want_steps = TINY_CURRICULUM["world"]["data_steps"]
    scored = (summary.get("schedule") or {}).get("episodes_scored") or 0
    if not summary.get("done") or summary["real_env_steps"] != want_steps or scored <= 0:
        t.garbage += 1
        t.notes.append(
            f"curriculum summary off: done={summary.get('done')} real "
            f"{summary['real_env_steps']} of {want_steps}, episodes_scored {scored}"
        )
    compare(out / "data", ref, t)
    return t


def curriculum_reference(path: Path) -> Path:
    """The curriculum's first collection uninterrupted: seed*1000, the spec's context ranges."""
    from genenv.curricula.spec import spec_from_dict
    from genenv.data import context_sampler
    from genenv.worlds import WorldSpec

    spec = spec_from_dict(dict(TINY_CURRICULUM))
    sampler = context_sampler(WorldSpec(TASK, seed=spec.seed), spec.generator_config().ranges)
    steps = TINY_CURRICULUM["world"]["data_steps"]
    return reference_collection(path, steps, spec.seed * 1000, source=sampler)


def _copy_episodes(src: Path, dst: Path, n: int) -> None:
    """A dataset folder holding the first `n` episodes of `src` (for comparison only)."""
    import shutil

    if dst.exists():
        shutil.rmtree(dst)
    dst.mkdir(parents=True)
    meta = json.loads((src / "metadata.json").read_text())
    steps = 0
    for i in range(n):
        shutil.copytree(src / str(i), dst / str(i))
        steps += json.loads((src / str(i) / "metadata.json").read_text())["total_steps"]
    first = meta["genenv"]["collections"][0]
    meta.update(total_episodes=n, total_steps=steps)
    meta["genenv"]["collections"] = [{**first, "steps": steps}]
    (dst / "metadata.json").write_text(json.dumps(meta))
