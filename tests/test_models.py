"""World-model training, checkpoints (round trip and every refusal) and open-loop evaluation."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch

from genenv.cli import main as cli_main
from genenv.data import collect, load_transitions
from genenv.models import (
    EnsembleConfig,
    TrainConfig,
    load_checkpoint,
    open_loop_errors,
    save_checkpoint,
    train_world_model,
)
from genenv.models.evaluate import _window_starts
from genenv.models.train import split_episodes

TINY = EnsembleConfig(ensemble_size=3, num_elites=2, hidden_size=32, num_layers=2)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "ip"
    collect("InvertedPendulum", 800, path, seed=0, progress=False)
    return path


@pytest.fixture(scope="module")
def trained(data):
    t = load_transitions(data)
    cfg = TrainConfig(max_epochs=25, patience=25, batch_size=128, lr=3e-3)
    model, report = train_world_model(t, cfg, progress=False, ensemble=TINY)
    return t, model, report


def test_split_is_by_whole_episodes(data):
    t = load_transitions(data)
    train, held = split_episodes(t, 0.2, seed=0)
    assert held.any() and train.any() and not (train & held).any()
    assert not set(t.episode_ids[train]) & set(t.episode_ids[held])


def test_training_reduces_held_out_error(trained):
    t, model, report = trained
    assert report["val_mse"] < 0.3 * report["val_mse_initial"]
    assert report["val_mse_obs"] < 0.1 * report["val_mse_initial"]
    held = t.select(np.isin(t.episode_ids, report["holdout_episode_ids"]))
    majority = max(held.terminations.mean(), 1 - held.terminations.mean())
    assert report["termination_accuracy"] > majority  # beats always guessing the common class
    assert len(report["elites"]) == 2 and model.elites.tolist() == report["elites"]
    starts = t.obs[t.episode_starts()]
    assert model.start_obs.shape == starts.shape
    np.testing.assert_array_equal(model.start_obs.numpy(), starts)
    assert model.real_obs.shape == t.obs.shape
    errors = open_loop_errors(model, held, horizons=(1, 3))
    assert errors["1"]["obs_error"] < 0.2 * errors["1"]["copy_baseline"]


def test_warm_start_keeps_normalisers_and_trains(trained):
    t, model, _ = trained
    mean = model.obs_norm.mean.clone()
    cfg = TrainConfig(max_epochs=2, batch_size=128)
    again, report = train_world_model(t, cfg, model=model, progress=False)
    assert report["warm_start"] and torch.equal(again.obs_norm.mean, mean)
    assert report["val_mse"] <= report["val_mse_initial"] * 1.05


def test_checkpoint_round_trip_steps_identically(trained, tmp_path):
    t, model, _ = trained
    path = save_checkpoint(model, tmp_path / "ck", {"data_fingerprint": t.fingerprint()})
    loaded = load_checkpoint(path, expect_task="InvertedPendulum", expect_obs_dim=4)
    meta = json.loads((path / "metadata.json").read_text())
    assert meta["task"] == "InvertedPendulum" and meta["data_fingerprint"] == t.fingerprint()
    outs = []
    for m in (model, loaded):
        g = torch.Generator().manual_seed(7)
        obs = m.initial(16, g)
        action = torch.rand(16, 1, generator=g) * 6 - 3
        ctx = torch.as_tensor(t.contexts[:1]).repeat(16, 1)
        outs.append((obs, *m.step(obs, action, ctx, g)))
    for a, b in zip(*outs, strict=True):
        assert torch.equal(a, b)
    for name, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[name]), name


def test_save_is_atomic_and_keeps_one_weights_file(trained, tmp_path, monkeypatch):
    _, model, _ = trained
    path = save_checkpoint(model, tmp_path / "ck")
    save_checkpoint(model, path)
    assert len(list(path.glob("weights-*.safetensors"))) == 1
    before = (path / "metadata.json").read_text()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(json, "dump", crash)  # dies after the new weights, before the metadata
    other = _perturbed_copy(model)
    with pytest.raises(OSError):
        save_checkpoint(other, path)
    monkeypatch.undo()
    assert (path / "metadata.json").read_text() == before
    loaded = load_checkpoint(path)  # still the old, whole checkpoint
    assert torch.equal(loaded.head.weight, model.head.weight)


def _perturbed_copy(model):  # a copy with different weights
    other = copy.deepcopy(model)
    with torch.no_grad():
        other.head.weight.add_(1.0)
    return other


@pytest.fixture
def saved(trained, tmp_path):
    return save_checkpoint(trained[1], tmp_path / "ck")


def _edit_meta(path, **changes):
    meta = json.loads((path / "metadata.json").read_text())
    meta.update(changes)
    (path / "metadata.json").write_text(json.dumps(meta))


def _weights(path):
    return next(path.glob("weights-*.safetensors"))


def test_refuses_missing_files(saved, tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_checkpoint(tmp_path / "absent")
    _weights(saved).unlink()
    with pytest.raises(FileNotFoundError, match="missing its weights"):
        load_checkpoint(saved)
    (saved / "metadata.json").unlink()
    with pytest.raises(FileNotFoundError, match="metadata.json"):
        load_checkpoint(saved)


def test_refuses_corrupt_weights(saved):
    w = _weights(saved)
    data = w.read_bytes()
    w.write_bytes(data[: len(data) // 2])  # truncated
    with pytest.raises(ValueError, match="corrupt"):
        load_checkpoint(saved)
    import hashlib

    _edit_meta(saved, weights_sha256=hashlib.sha256(w.read_bytes()).hexdigest())
    with pytest.raises(ValueError, match="corrupt"):  # even when the hash was forged
        load_checkpoint(saved)


def test_refuses_wrong_task_and_spaces(saved):
    with pytest.raises(ValueError, match="task InvertedPendulum, not HalfCheetah"):
        load_checkpoint(saved, expect_task="HalfCheetah")
    with pytest.raises(ValueError, match="observation dimension 4, but 17"):
        load_checkpoint(saved, expect_obs_dim=17)
    with pytest.raises(ValueError, match="action dimension 1, but 6"):
        load_checkpoint(saved, expect_act_dim=6)


def test_refuses_unknown_format_version(saved):
    _edit_meta(saved, format_version=99)
    with pytest.raises(ValueError, match="format_version 99"):
        load_checkpoint(saved)


def test_refuses_tensor_shape_mismatch(saved):
    meta = json.loads((saved / "metadata.json").read_text())
    _edit_meta(saved, ensemble={**meta["ensemble"], "hidden_size": 48})
    with pytest.raises(ValueError, match="shape mismatch"):
        load_checkpoint(saved)


def test_open_loop_windows_stay_inside_episodes(data):
    t = load_transitions(data)
    for h in (1, 3, 20):
        for i in _window_starts(t, h):
            assert t.episode_ids[i] == t.episode_ids[i + h - 1]
    lengths = np.bincount(t.episode_ids)
    assert _window_starts(t, 1).size == len(t)
    assert _window_starts(t, 3).size == int(np.clip(lengths - 2, 0, None).sum())


def test_train_world_cli_writes_checkpoint_with_open_loop_errors(data, tmp_path, capsys):
    out = tmp_path / "world"
    argv = ["train-world", "--data", str(data), "--out", str(out), "--epochs", "2"]
    argv += ["--ensemble-size", "2", "--elites", "1", "--hidden", "16", "--no-progress"]
    assert cli_main(argv) == 0
    printed = capsys.readouterr().out
    assert "open-loop error" in printed and "checkpoint written" in printed
    meta = json.loads((out / "metadata.json").read_text())
    assert set(meta["open_loop"]) == {"1", "5", "20"}
    assert meta["validation"]["val_mse"] > 0 and meta["data_fingerprint"]
    model = load_checkpoint(out, expect_task="InvertedPendulum")
    assert model.config.ensemble_size == 2


def test_rollout_loss_of_one_step_is_the_one_step_loss(trained):
    from genenv.models.train import _rollout_loss, _step_loss, _tensors

    t, model, _ = trained
    tr = _tensors(t, model.device)
    idx = torch.arange(12).reshape(3, 4)  # (E, B)
    beta = torch.zeros(model.out_dim)
    one = _step_loss(model, tr, idx, model.target_norm(tr["target"])[idx], beta, torch.tensor(2.0))
    roll = _rollout_loss(model, model, tr, idx, 1, beta, torch.tensor(2.0))
    for a, b in zip(one, roll, strict=True):
        assert a.item() == pytest.approx(b.item(), rel=1e-6)


def test_multi_step_training_runs_on_windows_and_refuses_bad_k(data):
    t = load_transitions(data)
    cfg = TrainConfig(max_epochs=3, batch_size=64, rollout_steps=3)
    model, report = train_world_model(t, cfg, progress=False, ensemble=TINY)
    assert report["config"]["rollout_steps"] == 3 and report["grad_steps"] > 0
    assert np.isfinite(report["val_mse"]) and report["val_mse"] < report["val_mse_initial"]
    assert report["train_transitions"] == int(t.select(~np.isin(
        t.episode_ids, report["holdout_episode_ids"])).obs.shape[0])  # fmt: skip
    with pytest.raises(ValueError, match="rollout_steps"):
        train_world_model(t, TrainConfig(max_epochs=1, rollout_steps=0), progress=False)
    with pytest.raises(ValueError, match="no training episode has 500 steps"):
        train_world_model(t, TrainConfig(max_epochs=1, rollout_steps=500), progress=False)


def test_stopping_at_the_epoch_cap_while_improving_is_reported(data):
    """A model cut off by max_epochs while its held-out error still falls is undertrained: the
    report says so and a warning names the option; early stopping by patience does not warn."""
    import warnings

    t = load_transitions(data)
    with pytest.warns(UserWarning, match="still falling"):
        _, report = train_world_model(
            t, TrainConfig(max_epochs=2, batch_size=128, lr=3e-3), progress=False, ensemble=TINY
        )
    assert report["stopped"] == "max_epochs" and report["still_improving"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, report = train_world_model(
            t, TrainConfig(max_epochs=5, patience=0, batch_size=128), progress=False, ensemble=TINY
        )
    assert report["stopped"] == "patience" and not report["still_improving"]
