"""Bad command lines fail cleanly: exit 2, one line `genenv CMD: error: ...`, no traceback, no hang,
nothing written. The table is tests/fault_cases.py; CI runs one case of every (command, kind of
input) pair in this process plus a few real subprocesses; the full table is `expensive`."""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fault_cases as fc  # noqa: E402

from genenv import progress  # noqa: E402
from genenv.cli import main  # noqa: E402


@pytest.fixture(scope="module")
def fx(tmp_path_factory):
    return fc.make_fixtures(tmp_path_factory.mktemp("faults"), inprocess=True)


def _representative() -> list[fc.Case]:
    """The first case of each (command, kind of input) pair."""
    seen, picked = set(), []
    for case in fc.CASES:
        key = (case.command, case.kind)
        if case.stdout is not None:
            continue  # needs its own stdout: run as a subprocess below
        if key not in seen:
            seen.add(key)
            picked.append(case)
    return picked


def run_inprocess(case: fc.Case, fx: dict[str, str], work: Path) -> str:
    out = work / "out"
    argv = fc.fill(case, fx, out)
    stdout, stderr = io.StringIO(), io.StringIO()
    rc = None
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            rc = main(argv)
    except Exception as err:  # a bug: main let it through
        return f"traceback ({type(err).__name__}: {err})"
    finally:
        torch.set_num_threads(1)  # --threads and --no-progress change this process
        progress.set_enabled(True)
    result = fc.classify(case, rc, stdout.getvalue(), stderr.getvalue(), False, out.exists())
    return result if result == "clean" else f"{result}: {stderr.getvalue()[-400:]!r}"


CI_CASES = _representative()


@pytest.mark.parametrize("case", CI_CASES, ids=[c.id for c in CI_CASES])
def test_bad_input_fails_cleanly(case, fx, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    if "{data:" in " ".join(case.argv):
        fc._fresh_datasets(fx)
    assert run_inprocess(case, fx, tmp_path) == "clean"


def test_table_covers_every_command_and_kind():
    from genenv.cli import COMMANDS

    assert len(fc.CASES) >= 300
    assert set(COMMANDS) <= {c.command for c in fc.CASES}
    kinds = {c.kind for c in fc.CASES}
    for kind in (
        "bad number", "out is a file", "bad recipe", "bad spec", "bad checkpoint", "device",
        "non-UTF-8 text", "bad image", "permission", "no space left", "absurd number",
        "bad run folder", "bad context",
    ):  # fmt: skip
        assert kind in kinds


SUBPROCESS_CASES = [
    "run --eval-every '0'",  # hung before
    "train-world --epochs '0'",  # wrote an untrained checkpoint before
    "world --prompt <non-UTF-8>",  # real argv bytes, decoded by Python
    "world --json > /dev/full",  # a full disk on stdout
]


@pytest.mark.parametrize("case_id", SUBPROCESS_CASES)
def test_bad_input_in_a_real_process(case_id, fx, tmp_path):
    case = next(c for c in fc.CASES if c.id == case_id)
    outcome = fc.run_case(case, fx, tmp_path, mode="subprocess", timeout=120)
    assert outcome.result == "clean", outcome


def test_prompt_with_absurd_numbers_is_clamped_with_a_note(capsys):
    assert main(["world", "--task", "InvertedPendulum", "--prompt", "gravity 1e999"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"gravity +50\b", out) and "clamped" in out


def test_one_line_error_for_os_errors(tmp_path, capsys):
    # a folder where a file must be read: IsADirectoryError, from deep inside a command
    spec = tmp_path / "spec.yaml"
    spec.mkdir()
    assert main(["record", "--spec", str(spec), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("genenv record: error:")


def test_every_option_has_help_text():
    import importlib

    from genenv.cli import COMMANDS, CommandParser

    for name, (module, _) in COMMANDS.items():
        parser = CommandParser(prog=f"genenv {name}")
        importlib.import_module(module).add_arguments(parser)
        for action in parser._actions:
            assert action.help, f"genenv {name} {action.option_strings} has no help text"
        assert any("--threads" in a.option_strings for a in parser._actions), name


@pytest.mark.expensive
def test_full_table(tmp_path):
    fx_full = fc.make_fixtures(tmp_path / "fixtures")
    outcomes = fc.run_table(fc.CASES, fx_full, tmp_path / "work", mode="fork", progress=False)
    bad = [(o.case, o.result, o.stderr_tail[-200:]) for o in outcomes if o.result != "clean"]
    assert not bad, bad


def test_fault_cases_script_runs(tmp_path):
    """The table's own runner (what benchmarks/drills.py uses) classifies a fork-mode case."""
    case = next(c for c in fc.CASES if c.id == "bench --max-iters '0'")
    outcome = fc.run_case(case, {}, tmp_path, mode="fork", timeout=60)
    assert outcome.result == "clean", outcome
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from genenv.cli import main; sys.exit(main())"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
