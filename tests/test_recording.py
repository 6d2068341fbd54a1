"""Recordings: video files read back, TensorBoard GIFs read back, obs->pose rendering proven
pixel-exact against the real env, side-by-side layout, the `genenv record` CLI."""

from __future__ import annotations

import io

import imageio.v2 as imageio
import mujoco
import numpy as np
import pytest
import torch
from PIL import Image, ImageSequence

from genenv.models.ensemble import EnsembleConfig, EnsembleWorldModel
from genenv.recording import (
    POSE_DECODERS,
    PoseRenderer,
    RecordConfig,
    close_env,
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
from genenv.recording.poses import make_render_env, render_env
from genenv.worlds import CONTEXT_FIELDS, TASKS, WorldSpec

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


# -- observation -> pose ---------------------------------------------------------------------------
def test_every_task_decodes_its_real_state_exactly():
    for task in TASKS:
        assert task in POSE_DECODERS
        env = WorldSpec(task).make_env()
        env.reset(seed=1)
        env.action_space.seed(1)
        for _ in range(3):
            obs, *_ = env.step(env.action_space.sample())
        data = env.unwrapped.data
        decoder = POSE_DECODERS[task]
        qpos, qvel = decoder.decode(obs, data.qpos[: decoder.num_root].copy())
        assert qpos.shape == data.qpos.shape and qvel.shape == data.qvel.shape, task
        np.testing.assert_allclose(qpos, data.qpos, atol=1e-9, err_msg=task)
        if task == "Reacher":  # the target does not move; its velocity is not observed
            np.testing.assert_allclose(qvel[:2], data.qvel[:2], atol=1e-9)
        elif task in ("InvertedDoublePendulum", "Hopper", "Walker2d"):  # obs clips qvel to +-10
            np.testing.assert_allclose(qvel, np.clip(data.qvel, -10, 10), atol=1e-9)
        else:
            np.testing.assert_allclose(qvel, data.qvel, atol=1e-9, err_msg=task)
        env.close()


@pytest.mark.parametrize(
    ("task", "camera", "fast"),
    [
        ("InvertedPendulum", "auto", False),
        ("HalfCheetah", "auto", False),  # the body-following "track" camera
        ("HalfCheetah", None, False),  # the env's own free camera, aimed at the first render
        ("HalfCheetah", "auto", True),  # no shadows or reflections
        ("InvertedDoublePendulum", "auto", False),
        ("Reacher", "auto", False),
    ],
)
def test_render_of_a_real_observation_matches_the_real_render(task, camera, fast):
    spec = WorldSpec(task, seed=3)
    env = make_render_env(spec, SIZE, SIZE, camera, fast)
    first, _ = env.reset(seed=3)
    raw = env.unwrapped
    anchor = (raw.data.qpos.copy(), raw.data.qvel.copy())
    render_env(env)  # the real env's camera aims itself now, at the reset pose
    renderer = PoseRenderer(spec, SIZE, SIZE, anchor=anchor, camera_name=camera, fast=fast)
    num_root = renderer.decoder.num_root
    env.action_space.seed(0)
    for _ in range(8):
        obs, *_ = env.step(env.action_space.sample())
    # mj_step leaves positions one substep stale; mj_forward shows the state the obs describes.
    mujoco.mj_forward(raw.model, raw.data)
    real = render_env(env)
    imagined = renderer.render_obs(obs, raw.data.qpos[:num_root].copy())
    stale = renderer.render_obs(first, anchor[0][:num_root])  # a different pose must differ
    renderer.close()
    close_env(env)
    assert np.array_equal(imagined, real)
    assert (stale != real).any(axis=-1).mean() > 0.005


def test_unknown_camera_is_a_clear_error():
    with pytest.raises(ValueError, match="no camera 'overhead'"):
        make_render_env(WorldSpec("HalfCheetah"), 32, 32, "overhead")


def test_root_coordinates_are_integrated_from_velocity():
    spec = WorldSpec("HalfCheetah", seed=0)
    env = spec.make_env()
    obs, _ = env.reset(seed=0)
    env.action_space.seed(0)
    x0, observations = env.unwrapped.data.qpos[0], [obs]
    for _ in range(20):
        observations.append(env.step(env.action_space.sample())[0])
    x_true = env.unwrapped.data.qpos[0]
    env.close()
    decoder = POSE_DECODERS["HalfCheetah"]
    dt = env.unwrapped.dt
    v = np.array([decoder.root_velocity(o)[0] for o in observations])
    x_est = x0 + 0.5 * dt * (v[1:] + v[:-1]).sum()  # PoseRenderer.render_trajectory's rule
    # Measured: the cheetah moves ~0.11 m; integration misses by ~0.01 m; holding would miss all.
    assert abs(x_true - x0) > 0.05
    assert abs(x_est - x_true) < 0.3 * abs(x_true - x0)


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


def test_side_by_side_layout_and_open_loop_replay(tmp_path):
    spec = WorldSpec("InvertedPendulum", seed=1)
    model = _tiny_model("InvertedPendulum")
    config = RecordConfig(out_dir=tmp_path, size=SIZE, fps=10)
    frames, real, dream = side_by_side_frames(spec, model, "random", 5, config)
    assert frames.shape == (real.steps + 1, SIZE, 3 * SIZE, 3)  # real | imagined | traces
    # Same actions, open loop, until the model ends its episode (then its last state is held).
    np.testing.assert_array_equal(dream.actions, real.actions[: len(dream.actions)])
    ended = len(dream.obs)
    assert ended < len(frames)  # this untrained model ends its episode early
    held = frames[ended:, 40:, SIZE : 2 * SIZE]  # below both labels
    assert (held == held[:1]).all()
    np.testing.assert_array_equal(dream.obs[0], real.obs[0])  # from the same real start
    # At t = 0 both panels show the same real state through the same camera (below the labels).
    assert np.array_equal(frames[0, 16:, :SIZE], frames[0, 16:, SIZE : 2 * SIZE])

    paths = record_side_by_side(spec, model, "random", 5, config, step=7, tensorboard=tmp_path)
    assert paths["mp4"].name == "InvertedPendulum-side-by-side-step7-seed1.mp4"
    assert _mp4_frames(paths["mp4"]).shape == frames.shape
    assert len(_gif_frames(str(paths["gif"]))) == len(frames)
    (event,) = _tb_images(tmp_path, "videos/side-by-side")
    assert event.step == 7 and len(_gif_frames(event.encoded_image_string)) == len(frames)


def test_trace_panel_and_hstack_shapes():
    real = np.cumsum(np.ones((10, 3)), axis=0)
    panel = trace_panel(real, real + 1.0, height=SIZE, width=48, max_dims=2)
    assert panel.shape == (10, SIZE, 48, 3) and panel.dtype == np.uint8
    assert not np.array_equal(panel[0], panel[-1])  # the traces grow with time
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
