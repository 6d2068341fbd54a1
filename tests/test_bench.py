"""The throughput tool (genenv.bench): FLOPs of the members that run, the measurement itself, and
a table header that names its command line, machine, date and code version."""

from __future__ import annotations

import copy

import pytest

from genenv.bench import BenchConfig
from genenv.bench.measure import bench_dream, model_flops, provenance
from genenv.bench.report import header_lines, limit_text, to_markdown
from genenv.envs.testing import random_world_model
from genenv.models.ensemble import EnsembleConfig

SMALL = EnsembleConfig(ensemble_size=3, num_elites=2, hidden_size=32, num_layers=2)
TINY = BenchConfig(tasks=["HalfCheetah"], num_envs=[4], min_seconds=0.01, max_iters=3)


@pytest.fixture(scope="module")
def cheetah():
    return random_world_model("HalfCheetah", SMALL, terminate=False)


def test_flops_count_only_the_elites(cheetah):
    # HalfCheetah: 17 obs + 6 actions + contexts in, 32 -> 32 hidden, 2 * (17 + 1) out.
    layers = [p.shape for n, p in cheetah.named_parameters() if n.endswith("weight")]
    per_member = sum(2 * s[1] * s[2] for s in layers if len(s) == 3)
    assert model_flops(cheetah) == 2 * per_member  # 2 elites of 3 members run
    assert model_flops(cheetah, "sampled") == per_member  # one member per slot
    every = copy.deepcopy(cheetah)
    del every.elites  # a model without elites runs all its members
    assert model_flops(every) == 3 * per_member


def test_dream_measurement_reports_rate_and_flops(cheetah):
    row = bench_dream("HalfCheetah", 4, TINY, model=cheetah)
    assert row["status"] == "ok" and 1 <= row["iters"] <= 3 and row["steps_per_s"] > 0
    assert row["steps_per_cpu_s"] > 0  # the load-robust rate beside the wall-clock one
    assert row["model_flops_per_step"] == model_flops(cheetah)
    assert row["model_gflops_per_s"] == pytest.approx(
        row["steps_per_s"] * model_flops(cheetah) / 1e9
    )


def test_provenance_names_the_command_line_and_code():
    prov = provenance(["/venv/bin/genenv", "bench", "--note", "quiet machine"])
    assert prov["command"] == "genenv bench --note 'quiet machine'"
    assert prov["date"].endswith("UTC") and prov["git"]
    assert provenance(["benchmarks/throughput.py", "--skip", "ppo"])["command"] == (
        "python benchmarks/throughput.py --skip ppo"
    )


def _result(rates: dict[int, float], real: float) -> dict:
    """A results dict as run_all writes it: HalfCheetah at 1024 envs and a width sweep."""
    cfg = {**vars(BenchConfig()), "skip": ["memory", "ppo"]}

    def row(width: int) -> dict:
        flops = 2 * 4 * (31 * width + 2 * width * width + width * 36)
        rate = rates[width]
        return {
            "status": "ok",
            "steps_per_s": rate,
            "model_flops_per_step": flops,
            "model_gflops_per_s": rate * flops / 1e9,
        }

    return {
        "provenance": {"command": "genenv bench", "date": "2026-01-01 00:00 UTC", "git": "abc1234"},
        "machine": {
            "line": "Some CPU, 2 CPU cores, no GPU used, torch 2.13.0",
            "torch_threads": 1,
            "python": "3.11",
            "device": "cpu",
            "load_avg_at_start": [0.1],
            "load_avg_at_end": [0.2],
        },
        "config": cfg,
        "throughput": {
            "HalfCheetah": {
                "1024": {
                    "real": {"status": "ok", "steps_per_s": real},
                    "dream": row(200),
                    "ratio_dream_over_real": rates[200] / real,
                }
            }
        },
        "model_width": {str(w): row(w) for w in rates if w != 200},
    }


def test_table_header_and_limit_follow_the_measurement():
    # Times per step fit 2 us fixed + FLOPs at 100 GFLOP/s exactly.
    flops = {w: 2 * 4 * (31 * w + 2 * w * w + w * 36) for w in (64, 128, 200)}
    rates = {w: 1.0 / (2e-6 + f / 100e9) for w, f in flops.items()}
    res = _result(rates, real=10_000.0)
    text = to_markdown(res)
    header = "\n".join(header_lines(res))
    for expected in ("Command: `genenv bench`", "Some CPU", "2026-01-01", "abc1234", "Cut to fit"):
        assert expected in header
    assert text.index("Command:") < text.index("| task |")
    limit = limit_text(res)
    assert "2.00 us" in limit and "100 GFLOP/s" in limit
    share = flops[200] / 100e9 * rates[200]
    assert f"matmuls are {share:.0%}" in limit
    assert "met" in text and "4 elites" in text
    for row in [res["throughput"]["HalfCheetah"]["1024"]["dream"], *res["model_width"].values()]:
        row["steps_per_cpu_s"] = 2 * row["steps_per_s"]  # as on a machine busy half the time
    res["throughput"]["HalfCheetah"]["1024"]["real"]["steps_per_cpu_s"] = 20_000.0
    assert "CPU time per imagined step fits 1.00 us" in limit_text(res)


def test_the_default_and_the_sampled_member_step_are_reported_apart():
    flops = {w: 2 * 4 * (31 * w + 2 * w * w + w * 36) for w in (64, 128, 200)}
    rates = {w: 1.0 / (2e-6 + f / 100e9) for w, f in flops.items()}
    res = _result(rates, real=20_000.0)  # default: 5.28x
    res["step_options"] = {
        "sampled": {
            "status": "ok",
            "steps_per_s": 300_000.0,
            "model_flops_per_step": flops[200] / 4,
        }
    }
    text = to_markdown(res)
    table = text[text.index("## Step options") : text.index("## Goals")]
    default_row, sampled_row = [ln for ln in table.splitlines() if ln.startswith("| ")][1:]
    assert default_row.startswith("| default") and default_row.endswith("| not met |")
    assert 'members="sampled"' in sampled_row and "15.00x" in sampled_row
    assert sampled_row.endswith("| met |")
    goals = text[text.index("## Goals") :]
    assert "default env 5.28x (not met)" in goals and "15.00x (met)" in goals


def test_a_run_saves_after_each_section_and_says_what_is_unfinished():
    from genenv.bench import run_all

    cfg = BenchConfig(
        tasks=["InvertedPendulum", "HalfCheetah"],
        num_envs=[2],
        min_seconds=0.01,
        max_iters=2,
        widths=[8],
        skip=["real", "memory", "ppo"],
    )
    saved = []
    res = run_all(cfg, save=lambda r: saved.append((list(r["unfinished"]), to_markdown(r))))
    assert [s[0] for s in saved][:3] == [
        ["throughput HalfCheetah", "model width"],
        ["model width"],
        [],
    ]
    assert saved[-1][0] == []  # the last save is the whole table
    assert "**Incomplete**: the run stopped before throughput HalfCheetah" in saved[0][1]
    assert "Incomplete" not in saved[-1][1] and "unfinished" not in res
