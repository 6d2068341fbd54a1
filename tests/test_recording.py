"""Recordings: video files read back, TensorBoard GIFs read back, the side-by-side video as the
same policy closed loop in the dream, the open-loop replay as its own kind, trace panels with
scales, the `genenv record` CLI."""

from __future__ import annotations

import io

import imageio.v2 as imageio
import numpy as np
import pytest
import torch
from PIL import Image, ImageSequence

from genenv.models.ensemble import EnsembleConfig, EnsembleWorldModel
from genenv.recording import (
    RecordConfig,
    gif_bytes,
    hstack,
    log_video_to_sb3_logger,
    log_video_to_tensorboard,
    make_policy,
    record_real,
    record_side_by_side,
    rollout_real,
    side_by_side_frames,
    trace_panel,
    write_video,
)
from genenv.recording.frames import pick_dims
from genenv.worlds import CONTEXT_FIELDS, WorldSpec

SIZE = 64


def _frames(T: int, H: int, W: int, seed: int = 0) -> np.ndarray:
    """(T, H, W, 3) uint8 frames of flat 8x8 blocks in 16 colours, each frame different (GIF
    encoders merge identical frames; few colours keep GIF lossless, flat blocks suit H.264)."""
    rng = np.random.default_rng(seed)
    palette = rng.integers(0, 256, size=(16, 3), dtype=np.uint8)
    blocks = rng.integers(0, 16, size=(T, -(-H // 8), -(-W // 8)))
    return palette[blocks].repeat(8, axis=1).repeat(8, axis=2)[:, :H, :W]


def _gif_frames(data: bytes | str) -> list[Image.Image]:
    src = io.BytesIO(data) if isinstance(data, bytes) else data
    with Image.open(src) as im:
        assert im.format == "GIF"
        return [f.convert("RGB") for f in ImageSequence.Iterator(im)]


def _mp4_frames(path) -> np.ndarray:
    with imageio.get_reader(str(path), format="ffmpeg") as reader:
        return np.stack([frame for frame in reader])  # list(reader) trips on nframes=inf


def _tiny_model(task: str, seed: int = 0) -> EnsembleWorldModel:
    """An untrained (randomly initialised) ensemble whose start bank holds real reset states."""
    torch.manual_seed(seed)
    env = WorldSpec(task).make_env()
    starts = np.stack([env.reset(seed=s)[0] for s in range(4)])
    config = EnsembleConfig(ensemble_size=2, num_elites=1, hidden_size=16, num_layers=1)
    space = env.action_space
    model = EnsembleWorldModel(
        task, starts.shape[1], space.shape[0], len(CONTEXT_FIELDS), config,
        action_low=space.low.tolist(), action_high=space.high.tolist(),
    )  # fmt: skip
    model.start_obs = torch.as_tensor(starts, dtype=torch.float32)
    env.close()
    return model


# -- writing videos -------------------------------------------------------------------------------
def test_mp4_and_gif_read_back_with_frame_count_and_size(tmp_path):
    frames = _frames(7, 48, 64)
    mp4 = write_video(frames, tmp_path / "v.mp4", fps=10)
    gif = write_video(frames, tmp_path / "sub" / "v.gif", fps=10)
    video = _mp4_frames(mp4)
    assert video.shape == (7, 48, 64, 3)
    back = _gif_frames(str(gif))
    assert len(back) == 7 and back[0].size == (64, 48)
    assert np.array_equal(np.asarray(back[3]), frames[3])  # GIF: lossless for 16 colours
    assert np.abs(video.astype(int) - frames).mean() < 10  # H.264: lossy but the same picture


def test_every_frame_is_written_once_and_in_order(tmp_path):
    # moviepy's ImageSequenceClip drops the last of 101 frames at 20 fps and, under NumPy 2,
    # repeats one frame in five from the 44th on; a moving bar shows any such slip.
    n = 101
    frames = np.zeros((n, 16, 112, 3), np.uint8)
    for i in range(n):
        frames[i, :, i : i + 2] = 255
    video = _mp4_frames(write_video(frames, tmp_path / "bar.mp4", fps=20))
    assert [int(np.argmax(f[8, :, 1] > 128)) for f in video] == list(range(n))
    gif = _gif_frames(str(write_video(frames, tmp_path / "bar.gif", fps=20)))
    assert len(gif) == n and all(np.array_equal(g, f) for g, f in zip(gif, frames, strict=True))


def test_mp4_pads_odd_sizes_and_rejects_bad_input(tmp_path):
    video = _mp4_frames(write_video(_frames(3, 33, 45), tmp_path / "odd.mp4", fps=5))
    assert video.shape == (3, 34, 46, 3)
    with pytest.raises(ValueError, match="mp4"):
        write_video(_frames(2, 8, 8), tmp_path / "v.avi")
    with pytest.raises(ValueError, match="uint8"):
        write_video(np.zeros((2, 8, 8, 3), np.float32), tmp_path / "v.gif")


# -- TensorBoard ----------------------------------------------------------------------------------
def _tb_images(logdir, tag):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(logdir), size_guidance={"images": 0})
    acc.Reload()
    assert tag in acc.Tags()["images"], acc.Tags()
    return acc.Images(tag)


def test_tensorboard_event_file_holds_the_gif(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    frames = _frames(6, 32, 40)
    log_video_to_tensorboard(tmp_path / "a", "videos/test", frames, step=3, fps=10)
    with SummaryWriter(str(tmp_path / "b")) as writer:  # an open writer works too
        log_video_to_tensorboard(writer, "videos/test", frames[:4], step=5, fps=10)
    for logdir, n, step in ((tmp_path / "a", 6, 3), (tmp_path / "b", 4, 5)):
        (event,) = _tb_images(logdir, "videos/test")
        assert event.step == step and (event.width, event.height) == (40, 32)
        back = _gif_frames(event.encoded_image_string)
        assert len(back) == n and back[0].size == (40, 32)


def test_sb3_logger_route_writes_the_gif(tmp_path):
    from stable_baselines3.common.logger import configure

    logger = configure(str(tmp_path), ["tensorboard"])
    assert log_video_to_sb3_logger(logger, "videos/sb3", _frames(5, 16, 16), step=1, fps=5) == 1
    logger.close()
    (event,) = _tb_images(tmp_path, "videos/sb3")
    assert len(_gif_frames(event.encoded_image_string)) == 5
    assert log_video_to_sb3_logger(configure(None, ["stdout"]), "x", _frames(2, 8, 8), 0) == 0


def test_gif_bytes_frame_count():
    assert len(_gif_frames(gif_bytes(_frames(9, 32, 32), fps=20))) == 9


# -- rollouts and side by side --------------------------------------------------------------------
def test_real_rollout_frames_do_not_change_the_trajectory():
    spec = WorldSpec("InvertedPendulum", seed=2)
    rec = rollout_real(spec, "random", steps=6, width=32, height=32)
    assert rec.frames.shape == (rec.steps + 1, 32, 32, 3) and len(rec.obs) == rec.steps + 1
    env = spec.make_env()
    obs, _ = env.reset(seed=2)
    replay = [obs] + [env.step(a)[0] for a in rec.actions]
    env.close()
    np.testing.assert_array_equal(np.asarray(replay), rec.obs)


class Tilt:
    """A policy that acts on what it sees: push against the pole's angle (obs[1])."""

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return np.array([-3.0 * np.sign(obs[1])], np.float32)


def test_side_by_side_is_the_same_policy_closed_loop_in_the_dream(tmp_path):
    spec = WorldSpec("InvertedPendulum", seed=1)
    model = _tiny_model("InvertedPendulum")
    config = RecordConfig(out_dir=tmp_path, size=SIZE, fps=10)
    frames, real, dream = side_by_side_frames(spec, model, Tilt(), 5, config)
    n = max(len(real.obs), len(dream.obs))
    assert frames.shape == (n, SIZE, 3 * SIZE, 3)  # real | dream | traces
    np.testing.assert_array_equal(dream.obs[0], real.obs[0])  # from the same real start
    # Closed loop: every dream action is the policy's answer to the dream's own state.
    policy = Tilt()
    for obs, action in zip(dream.obs, dream.actions, strict=False):
        np.testing.assert_array_equal(action, policy(obs))
    assert not np.array_equal(dream.obs[1:3], real.obs[1:3])  # not a replay of the real states
    # At t = 0 both panels show the same real state through the same camera (below the labels).
    assert np.array_equal(frames[0, 24:, :SIZE], frames[0, 24:, SIZE : 2 * SIZE])
    ended = len(dream.obs)
    assert ended < n  # this untrained model ends its episode early; its last state is held
    held = frames[ended:, 40:, SIZE : 2 * SIZE]  # below the labels
    assert (held == held[:1]).all()

    paths = record_side_by_side(spec, model, Tilt(), 5, config, step=7, tensorboard=tmp_path)
    assert paths["mp4"].name == "InvertedPendulum-side-by-side-step7-seed1.mp4"
    assert _mp4_frames(paths["mp4"]).shape == frames.shape
    assert len(_gif_frames(str(paths["gif"]))) == len(frames)
    (event,) = _tb_images(tmp_path, "videos/side-by-side")
    assert event.step == 7 and len(_gif_frames(event.encoded_image_string)) == len(frames)


def test_open_loop_is_its_own_kind_replaying_the_real_actions(tmp_path):
    spec = WorldSpec("InvertedPendulum", seed=1)
    model = _tiny_model("InvertedPendulum")
    config = RecordConfig(out_dir=tmp_path, size=SIZE, formats=("gif",))
    frames, real, dream = side_by_side_frames(spec, model, Tilt(), 5, config, open_loop=True)
    np.testing.assert_array_equal(dream.actions, real.actions[: len(dream.actions)])
    np.testing.assert_array_equal(dream.obs[0], real.obs[0])
    closed, *_ = side_by_side_frames(spec, model, Tilt(), 5, config)
    dream_panel = slice(SIZE, 2 * SIZE)
    assert not np.array_equal(closed[0, :16, dream_panel], frames[0, :16, dream_panel])  # labels
    paths = record_side_by_side(spec, model, Tilt(), 5, config, open_loop=True)
    assert paths["gif"].name == "InvertedPendulum-open-loop-seed1.gif"


def test_panel_labels_name_the_kind_and_its_running_return():
    from genenv.recording.record import _panel
    from genenv.recording.rollout import Rollout

    frames = np.zeros((3, 64, 64, 3), np.uint8)
    rollout = Rollout("InvertedPendulum", frames, np.zeros((3, 4)), np.zeros((2, 1), np.float32),
                      np.array([1.0, 1.0]), True, np.zeros(0), 0.04)  # fmt: skip
    panel = _panel(rollout, "dream (closed loop)", 5, RecordConfig())
    assert panel.shape == (5, 64, 64, 3)
    assert np.array_equal(panel[4], panel[3])  # held after the end, the label too
    assert not np.array_equal(panel[0], panel[2])  # return 0.0 -> 2.0
    assert not np.array_equal(panel[2], panel[3])  # + "ended at t=2"
    assert not _panel(rollout, "x", 5, RecordConfig(labels=False)).any()


def test_trace_panel_has_scales_and_keeps_lines_inside():
    t = np.linspace(0.0, 6.0, 40)
    real = np.stack([np.sin(t), 3 * np.cos(t)], axis=1)
    pred = real[:25] + np.stack([t[:25], np.zeros(25)], axis=1)  # leaves the real range, ends early
    panel = trace_panel(real, pred, height=256, width=256, names=("real", "dream"))
    assert panel.shape == (40, 256, 256, 3) and panel.dtype == np.uint8
    assert not np.array_equal(panel[0], panel[-1])  # the traces grow with time
    last = panel[-1].astype(int)
    orange = (abs(last[..., 0] - 230) < 40) & (abs(last[..., 1] - 110) < 40) & (last[..., 2] < 80)
    # The dream's first trace climbs past the real one: its strip's scale holds it, so its peak
    # is a point inside the strip, not a plateau flattened against the strip's top edge.
    top_strip = orange[30:128]
    peak_row = np.nonzero(top_strip.any(axis=1))[0].min()
    assert peak_row > 0 and len(np.nonzero(top_strip[peak_row])[0]) < 12
    # Tick labels: dark grey text left of the plot area and along the time axis.
    grey = (abs(last - 90) < 30).all(axis=-1)
    assert grey[:, :24].sum() > 30 and grey[-16:].sum() > 20
    with pytest.raises(ValueError, match="obs_dim"):
        trace_panel(real, pred[:, :1], 64, 64)


def test_hstack_needs_one_height():
    panel = np.zeros((10, SIZE, 48, 3), np.uint8)
    with pytest.raises(ValueError, match="height"):
        hstack(panel, np.zeros((10, 32, 8, 3), np.uint8))


# -- policies and the CLI -------------------------------------------------------------------------
def test_saved_sb3_agents_drive_rollouts(tmp_path):
    from stable_baselines3 import PPO, SAC

    env = WorldSpec("InvertedPendulum").make_env()
    PPO("MlpPolicy", env, n_steps=8, batch_size=8, device="cpu").save(tmp_path / "ppo.zip")
    SAC("MlpPolicy", env, buffer_size=10, device="cpu").save(tmp_path / "sac.zip")
    for algo in (PPO, SAC):
        agent = algo.load(tmp_path / f"{algo.__name__.lower()}.zip", device="cpu")
        rec = rollout_real(
            WorldSpec("InvertedPendulum"),
            tmp_path / f"{algo.__name__.lower()}.zip",
            3,
            render=False,
        )
        assert rec.steps == 3 and rec.frames.shape[0] == 0
        expected = agent.predict(rec.obs[0].astype(np.float32), deterministic=True)[0]
        np.testing.assert_allclose(rec.actions[0], np.clip(expected, -3, 3), rtol=1e-6)
    env.close()
    with pytest.raises(FileNotFoundError):
        make_policy(tmp_path / "missing.zip", env.action_space)


def test_cli_record_real_and_its_errors(tmp_path, capsys):
    from genenv.cli import main

    out = tmp_path / "rec"
    args = ["record", "--task", "InvertedPendulum", "--kinds", "real", "--steps", "3"]
    assert main([*args, "--size", "32", "--out", str(out), "--formats", "gif"]) == 0
    (gif,) = out.glob("*.gif")
    assert gif.name == "InvertedPendulum-real-seed0.gif"
    assert main(["record", "--task", "InvertedPendulum", "--steps", "3"]) == 2  # needs --world
    assert "--world" in capsys.readouterr().err
    assert main([*args, "--kinds", "dream"]) == 2


def test_cli_records_every_kind_from_a_saved_world(tmp_path):
    from genenv.cli import main
    from genenv.models.checkpoint import save_checkpoint

    world = save_checkpoint(_tiny_model("InvertedPendulum"), tmp_path / "world")
    out, tb = tmp_path / "rec", tmp_path / "tb"
    argv = ["record", "--task", "InvertedPendulum", "--world", str(world), "--steps", "3"]
    argv += ["--size", "32", "--out", str(out), "--tensorboard", str(tb), "--step", "9"]
    assert main(argv) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(
        f"InvertedPendulum-{kind}-step9-seed0.{fmt}"
        for kind in ("real", "imagined", "side-by-side")
        for fmt in ("mp4", "gif")
    )
    assert main([*argv, "--kinds", "open-loop", "--formats", "gif"]) == 0
    assert (out / "InvertedPendulum-open-loop-step9-seed0.gif").is_file()
    assert _mp4_frames(out / "InvertedPendulum-side-by-side-step9-seed0.mp4").shape[1:] == (
        32,
        96,
        3,
    )
    for kind in ("real", "imagined", "side-by-side"):
        (event,) = _tb_images(tb, f"videos/{kind}")
        assert event.step == 9


def test_keyword_overrides_as_the_run_loop_passes_them(tmp_path):
    spec = WorldSpec("InvertedPendulum")
    paths = record_real(spec, "random", 2, out_dir=tmp_path / "videos", size=32, formats=("gif",))
    assert list(paths) == ["gif"] and paths["gif"].parent == tmp_path / "videos"
    with pytest.raises(ValueError, match="unknown recording option"):
        record_real(spec, "random", 2, out_dri=tmp_path)


def test_trace_dims_prefer_positions_then_spread():
    real = np.array([[0.0, 0.0, 0.0, 0.0, 0.0], [1.0, 5.0, 0.1, 9.0, 3.0]])
    assert pick_dims(real, 2, num_preferred=3).tolist() == [0, 1]
    assert pick_dims(real, 4, num_preferred=3).tolist() == [0, 1, 2, 3]
    assert pick_dims(real, 2).tolist() == [1, 3]


def test_cli_reads_a_spec_file_and_names_its_context(tmp_path):
    from genenv.cli import main

    spec = WorldSpec("InvertedPendulum").with_context(gravity=5.0)
    (tmp_path / "world.yaml").write_text(spec.to_yaml())
    argv = ["record", "--spec", str(tmp_path / "world.yaml"), "--kinds", "real", "--seed", "4"]
    assert (
        main([*argv, "--steps", "2", "--size", "32", "--out", str(tmp_path), "--formats", "gif"])
        == 0
    )
    (gif,) = tmp_path.glob("*.gif")
    assert gif.name.startswith("InvertedPendulum-real-seed4-ctx")
    assert main(["record", "--spec", str(tmp_path / "nope.json"), "--kinds", "real"]) == 2
