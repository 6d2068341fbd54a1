"""The command surface: progress output, `genenv eval`, `genenv bench`'s output folder, threads."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from genenv import progress
from genenv.cli import main


def test_progress_is_plain_lines_off_a_terminal(capsys, monkeypatch):
    monkeypatch.setenv("GENENV_LOG_INTERVAL", "0")
    bar = progress.progress_bar(total=4, desc="collect InvertedPendulum", unit="step")
    for _ in range(4):
        bar.update(1)
    bar.close()
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 5 and "\r" not in "".join(lines)  # one per update, one at the end
    assert lines[-1].startswith("[collect InvertedPendulum] 4/4 step (100%)")


def test_no_progress_silences_every_bar(capsys):
    progress.set_enabled(False)
    try:
        for _ in progress.progress_bar(range(3), desc="x"):
            pass
    finally:
        progress.set_enabled(True)
    assert capsys.readouterr().err == ""


def test_learn_steps_counts_what_the_agent_really_ran():
    from stable_baselines3 import PPO

    from genenv.agents.progress import learn_steps, planned_steps
    from genenv.envs.sb3 import DreamSB3VecEnv
    from genenv.envs.testing import random_world_model

    model = random_world_model("InvertedPendulum")
    env = DreamSB3VecEnv(task="InvertedPendulum", world=model, num_envs=4)
    agent = PPO("MlpPolicy", env, n_steps=16, batch_size=32, n_epochs=1, device="cpu")
    assert planned_steps(agent, 100) == 128  # two rollouts of 4 envs x 16 steps
    progress.set_enabled(False)
    try:
        assert learn_steps(agent, 100) == 128 == agent.num_timesteps
    finally:
        progress.set_enabled(True)


def test_eval_runs_a_saved_agent_in_the_real_world(tmp_path, capsys):
    import gymnasium as gym
    from stable_baselines3 import PPO

    agent = PPO("MlpPolicy", gym.make("InvertedPendulum-v5"), n_steps=64, device="cpu")
    agent.save(tmp_path / "agent.zip")
    argv = ["eval", "--policy", str(tmp_path / "agent.zip"), "--task", "InvertedPendulum"]
    assert main([*argv, "--episodes", "3", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["episodes"] == 3 and len(result["returns"]) == 3
    assert result["real_env_steps"] >= sum(result["returns"]) > 0  # IP: reward <= 1 per step
    assert main([*argv[:-1], "HalfCheetah"]) == 2  # an agent for another task
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not fit HalfCheetah" in err[0]


def test_bench_writes_a_new_run_folder_by_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = ["bench", "--tasks", "InvertedPendulum", "--num-envs", "2", "--widths"]
    argv += ["--skip", "real", "ppo", "memory", "--min-seconds", "0.01", "--max-iters", "2"]
    assert main([*argv, "--no-progress"]) == 0
    assert main([*argv, "--no-progress"]) == 0
    runs = sorted(Path("runs").glob("bench-*/throughput.json"))
    assert len(runs) == 2  # two runs, two folders: nothing overwritten
    assert not Path("benchmarks").exists()
    torch.set_num_threads(1)


@pytest.mark.parametrize("command", ["collect", "train-world", "train-agent", "run", "record"])
def test_threads_default_is_one(command):
    import importlib

    from genenv.cli import COMMANDS, CommandParser
    from genenv.cli_args import DEFAULT_THREADS

    parser = CommandParser(prog=f"genenv {command}")
    importlib.import_module(COMMANDS[command][0]).add_arguments(parser)
    assert DEFAULT_THREADS == 1
    assert parser.get_default("threads") == DEFAULT_THREADS


def test_a_text_prompt_does_not_import_torch_and_threads_still_apply():
    """`genenv world` with a text prompt never needs torch (seconds of import); --threads still
    sizes torch's pool for whatever imports it later in the process."""
    import subprocess
    import sys

    code = (
        "import sys; from genenv.cli import main\n"
        "rc = main(['world', '--task', 'HalfCheetah', '--prompt', 'a heavy cheetah on ice',"
        " '--threads', '1', '--json'])\n"
        "print('TORCH', 'torch' in sys.modules)\n"
        "import torch; print('THREADS', torch.get_num_threads())\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "TORCH False" in out.stdout
    assert "THREADS 1" in out.stdout
