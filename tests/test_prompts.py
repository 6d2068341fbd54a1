"""Image prompts -> WorldSpec (committed weights; nothing trains here). Text: test_text_prompts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from genenv.cli import main
from genenv.prompts import spec_from_image
from genenv.worlds.spec import CONTEXT_FIELDS, WorldSpec

DEFAULTS = {name: spec[0] for name, spec in CONTEXT_FIELDS.items()}


# -- image ----------------------------------------------------------------------------------------
def _render(task: str, qpos, length_scale: float = 1.0) -> np.ndarray:
    """The first frame of a fresh env in pose `qpos` (its free camera aims at that pose)."""
    spec = WorldSpec(task).with_context(length_scale=length_scale)
    env = spec.make_env(render_mode="rgb_array", width=64, height=64)
    env.reset(seed=0)
    raw = env.unwrapped
    raw.set_state(np.asarray(qpos, dtype=np.float64), np.zeros(raw.model.nv))
    frame = env.render()
    env.close()
    return frame


def test_training_renders_match_a_fresh_env_render():
    """The training renders re-aim one env's camera per frame; that must be pixel-identical to
    the first render of a fresh env in that pose (the image-prompt round trip)."""
    from genenv.prompts.image_data import render_fresh_view

    cases = [
        ("InvertedPendulum", [[0.3, -0.4], [-0.5, 0.9]], 1.3),
        (
            "HalfCheetah",
            [[0.2, 0.05, -0.2, 0.4, -0.5, 0.3, -0.4, 0.5, -0.2], [-0.8] + [0.0] * 8],
            1,
        ),
    ]
    for task, poses, length in cases:
        env = (
            WorldSpec(task)
            .with_context(length_scale=length)
            .make_env(render_mode="rgb_array", width=64, height=64)
        )
        env.reset(seed=1)
        env.render()  # aims the camera at the reset pose first
        for qpos in poses:
            frame = render_fresh_view(env, np.asarray(qpos))
            assert np.array_equal(frame, _render(task, qpos, length)), (task, qpos)
        env.close()


def test_image_of_a_known_pendulum_pose_gives_that_pose():
    # The camera aims at the median geom (here the pole's centre, x = 0.15), and the rail's far
    # end stays just outside the frame: every cart position in about [0.15, 0.36] gives this same
    # frame, so the cart is read to within that interval (the model answers its middle).
    frame = _render("InvertedPendulum", [0.3, -0.4], length_scale=1.3)
    spec = spec_from_image("InvertedPendulum", frame, seed=5)
    qpos = np.asarray(spec.initial_state.qpos)
    assert np.abs(qpos - [0.3, -0.4]).max() < 0.1
    assert abs(spec.context.length_scale - 1.3) < 0.15
    assert spec.context.gravity == DEFAULTS["gravity"]  # invisible: left at the default
    assert WorldSpec.from_json(spec.to_json()) == spec and spec.seed == 5


def test_image_of_a_known_cheetah_pose_gives_that_pose(tmp_path):
    qpos = [0.2, 0.05, -0.2, 0.4, -0.5, 0.3, -0.4, 0.5, -0.2]
    path = tmp_path / "cheetah.png"
    from PIL import Image

    Image.fromarray(_render("HalfCheetah", qpos)).save(path)
    spec = spec_from_image("HalfCheetah", str(path))
    err = np.abs(np.asarray(spec.initial_state.qpos) - qpos)
    assert err.mean() < 0.15 and err.max() < 0.4


def test_a_file_that_is_not_an_image_is_a_clear_error(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("not a picture")
    with pytest.raises(ValueError, match="not an image"):
        spec_from_image("InvertedPendulum", str(path))
    with pytest.raises(FileNotFoundError):
        spec_from_image("InvertedPendulum", str(tmp_path / "missing.png"))


def test_an_image_of_the_wrong_task_is_a_clear_error():
    cheetah = _render("HalfCheetah", [0.0, 0.0, 0.1, 0.2, -0.3, 0.2, -0.2, 0.3, -0.1])
    with pytest.raises(ValueError, match="does not look like a rendered InvertedPendulum"):
        spec_from_image("InvertedPendulum", cheetah)
    pendulum = _render("InvertedPendulum", [0.1, 0.2])
    with pytest.raises(ValueError, match="does not look like a rendered HalfCheetah"):
        spec_from_image("HalfCheetah", pendulum)
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="does not look like"):
        spec_from_image("HalfCheetah", noise)


def test_image_prompts_name_their_supported_tasks():
    with pytest.raises(ValueError, match="InvertedPendulum, HalfCheetah"):
        spec_from_image("Reacher", np.zeros((64, 64, 3), np.uint8))


# -- CLI ------------------------------------------------------------------------------------------
def test_cli_world_image_errors(capsys, tmp_path):
    bad = tmp_path / "x.png"
    bad.write_bytes(b"\x00\x01")
    assert main(["world", "--task", "InvertedPendulum", "--image", str(bad), "--json"]) == 2
    assert "not an image" in capsys.readouterr().err


def test_cli_world_reads_an_image(capsys, tmp_path):
    from PIL import Image

    path = tmp_path / "pendulum.png"
    Image.fromarray(_render("InvertedPendulum", [-0.4, 0.5], length_scale=0.8)).save(path)
    assert main(["world", "--task", "InvertedPendulum", "--image", str(path), "--json"]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    spec = WorldSpec.from_dict(out["spec"])
    assert out["notes"]["image"]
    assert spec.task == "InvertedPendulum" and len(spec.initial_state.qpos) == 2
    assert abs(spec.initial_state.qpos[1] - 0.5) < 0.1  # the pole angle
    assert "cannot be seen in a still frame" in captured.err
    assert main(["world", "--task", "HalfCheetah", "--image", str(path)]) == 2
    assert "does not look like a rendered HalfCheetah" in capsys.readouterr().err


def test_a_mid_episode_frame_is_refused_not_misread():
    # The case: set_state to (0.5, 0.15) in an env whose camera aimed at the reset pose.
    env = WorldSpec("InvertedPendulum").make_env(render_mode="rgb_array", width=64, height=64)
    env.reset(seed=0)
    env.render()
    env.unwrapped.set_state(np.array([0.5, 0.15]), np.zeros(2))
    frame = env.render()
    env.close()
    with pytest.raises(ValueError, match="cannot read this InvertedPendulum frame"):
        spec_from_image("InvertedPendulum", frame)
