"""Fidelity measures: rank/linear correlation (ties, degenerate input), transfer ratio, and the
TensorBoard keys a run writes."""

import math

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch.utils.tensorboard import SummaryWriter

from genenv.transfer import fidelity, log_fidelity, pearson, rankdata, spearman, transfer_ratio


def test_rankdata_averages_ties():
    assert rankdata([10, 20, 20, 5]).tolist() == [2.0, 3.5, 3.5, 1.0]
    assert rankdata([3, 3, 3]).tolist() == [2.0, 2.0, 2.0]
    assert rankdata([-1.0, 7.0, 0.5, 7.0, 7.0]).tolist() == [1.0, 4.0, 2.0, 4.0, 4.0]


def test_correlations_known_values():
    # Monotone but not linear: Spearman exactly 1, Pearson below 1.
    x = [1.0, 2.0, 3.0, 4.0, 5.0]
    y = [1.0, 4.0, 9.0, 16.0, 100.0]
    assert spearman(x, y) == pytest.approx(1.0)
    assert pearson(x, y) < 0.95
    assert spearman(x, y[::-1]) == pytest.approx(-1.0)
    # Hand-computed: ranks (1,2,3,4,5) vs (2,1,4,3,5): d^2 sums to 4, rho = 1 - 6*4/(5*24) = 0.8.
    assert spearman([1, 2, 3, 4, 5], [20, 10, 40, 30, 50]) == pytest.approx(0.8)
    # Pearson of (1,2,3) against (1,3,2): cov 0.5, var 1 each -> 0.5.
    assert pearson([1, 2, 3], [1, 3, 2]) == pytest.approx(0.5)
    # With ties: ranks of y are (1.5, 1.5, 3, 4); Pearson of (1,2,3,4) with them.
    a, b = np.array([1, 2, 3, 4.0]), np.array([1.5, 1.5, 3, 4])
    expected = ((a - a.mean()) * (b - b.mean())).sum() / math.sqrt(
        ((a - a.mean()) ** 2).sum() * ((b - b.mean()) ** 2).sum()
    )
    assert spearman([10, 20, 30, 40], [7, 7, 8, 9]) == pytest.approx(expected)


def test_correlations_match_scipy_with_ties():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(3)
    for _ in range(20):
        x = rng.integers(0, 6, size=15).astype(float)  # many ties
        y = x + rng.integers(-2, 3, size=15)
        assert spearman(x, y) == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)
        assert pearson(x, y) == pytest.approx(stats.pearsonr(x, y).statistic, abs=1e-12)


def test_correlations_undefined_cases_are_none():
    assert spearman([1, 2], [2, 1]) is None  # too few points
    assert pearson([1, 1, 1], [1, 2, 3]) is None  # constant side
    assert spearman([5, 5, 5, 5], [1, 2, 3, 4]) is None
    assert pearson([1, 2, float("nan")], [1, 2, 3]) is None
    with pytest.raises(ValueError, match="one length"):
        spearman([1, 2, 3], [1, 2])


def test_transfer_ratio_and_fidelity_summary():
    assert transfer_ratio(50.0, 100.0) == 0.5
    assert transfer_ratio(3.0, 0.0) is None
    tests = [
        {"imagined_return": 100.0, "real_return": 20.0},
        {"imagined_return": 200.0, "real_return": 150.0},
        {"imagined_return": 400.0, "real_return": 400.0},
        {"imagined_return": 0.0, "real_return": 10.0},
    ]
    fid = fidelity(tests)
    assert fid["tests"] == 4
    assert fid["transfer_ratio"] == [0.2, 0.75, 1.0, None]
    assert fid["final_transfer_ratio"] is None
    assert fid["spearman"] == pytest.approx(1.0)  # both orders are (0, 100, 200, 400)
    assert 0.9 < fid["pearson"] < 1.0
    empty = fidelity([])
    assert (
        empty["tests"] == 0 and empty["spearman"] is None and empty["final_transfer_ratio"] is None
    )


def test_log_fidelity_writes_tensorboard_keys(tmp_path):
    writer = SummaryWriter(str(tmp_path))
    tests = []
    for i, (imag, real) in enumerate([(10.0, 5.0), (20.0, 15.0), (30.0, 40.0), (40.0, 35.0)]):
        tests.append({"imagined_return": imag, "real_return": real})
        log_fidelity(writer, tests, step=100 * i)
    writer.close()
    acc = EventAccumulator(str(tmp_path))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {"transfer/ratio", "transfer/spearman", "transfer/pearson"} <= tags
    assert [e.value for e in acc.Scalars("transfer/ratio")] == pytest.approx(
        [0.5, 0.75, 40 / 30, 35 / 40]
    )
    # Correlations appear once there are 3 tests: at steps 200 and 300.
    spear = acc.Scalars("transfer/spearman")
    assert [e.step for e in spear] == [200, 300]
    assert spear[-1].value == pytest.approx(0.8)
