"""Text and image prompts -> WorldSpec (committed weights; nothing trains here)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from genenv.cli import main
from genenv.prompts import spec_from_image, spec_from_text
from genenv.prompts.generate import GeneratorConfig, chunk, generate_prompts
from genenv.prompts.rules import parse_explicit
from genenv.worlds.spec import CONTEXT_FIELDS, WorldSpec

DEFAULTS = {name: spec[0] for name, spec in CONTEXT_FIELDS.items()}


def _moved(spec: WorldSpec) -> dict[str, int]:
    """Fields that left their default -> direction (+1 / -1)."""
    out = {}
    for name, default in DEFAULTS.items():
        value = getattr(spec.context, name)
        if value != default:
            out[name] = 1 if value > default else -1
    return out


# -- text -----------------------------------------------------------------------------------------
def test_text_prompt_round_trips_through_json():
    spec = spec_from_text("HalfCheetah", "a heavy cheetah on ice", seed=3)
    assert spec.seed == 3 and spec.task == "HalfCheetah"
    data = json.loads(spec.to_json())
    assert set(data["context"]) == set(CONTEXT_FIELDS)
    assert WorldSpec.from_json(spec.to_json()) == spec
    assert WorldSpec.from_yaml(spec.to_yaml()) == spec


@pytest.mark.parametrize(
    "task, text, expected",
    [
        ("HalfCheetah", "a heavy cheetah on ice", {"mass_scale": 1, "friction_scale": -1}),
        ("HalfCheetah", "slippery floor", {"friction_scale": -1}),
        ("Hopper", "on the moon", {"gravity": -1}),
        ("HalfCheetah", "twice as heavy", {"mass_scale": 1}),
        ("Walker2d", "rusty joints", {"damping_scale": 1}),
        ("Ant", "weak motors", {"actuator_scale": -1}),
        ("Hopper", "low gravity", {"gravity": -1}),
        ("HalfCheetah", "super strong actuators", {"actuator_scale": 1}),
    ],
)
def test_canonical_paraphrases_move_the_right_fields(task, text, expected):
    assert _moved(spec_from_text(task, text)) == expected


def test_moon_gravity_is_near_the_moons():
    gravity = spec_from_text("Hopper", "on the moon").context.gravity
    assert 0.8 <= gravity <= 3.0  # the Moon: 1.62 m/s^2


@pytest.mark.parametrize(
    "text", ["a blue cheetah at sunset", "a happy cheetah in a painting", "a cheetah named Bob"]
)
def test_non_physical_words_leave_defaults(text):
    assert spec_from_text("HalfCheetah", text).context.is_default()


def test_explicit_numbers_are_exact():
    assert spec_from_text("HalfCheetah", "gravity 3.7").context.gravity == 3.7
    assert spec_from_text("HalfCheetah", "twice as heavy").context.mass_scale == 2.0
    assert spec_from_text("Ant", "half the friction").context.friction_scale == 0.5
    assert spec_from_text("Ant", "motors at 150% strength").context.actuator_scale == 1.5


def test_rules_cut_what_they_read():
    values, rest = parse_explicit("a cheetah on ice, twice as heavy")
    assert values == {"mass_scale": 2.0}
    assert "heavy" not in rest and "ice" in rest
    assert parse_explicit("a walker with 2 legs") == ({}, "a walker with 2 legs")


def test_values_are_clamped_to_valid_or_training_range():
    assert spec_from_text("Hopper", "gravity 500").context.gravity == CONTEXT_FIELDS["gravity"][2]
    clamped = spec_from_text("Hopper", "gravity 500", clamp_to_train_range=True)
    assert clamped.context.gravity == 16.0  # Hopper's training range tops out at 16


def test_length_is_ignored_for_tasks_without_geometry():
    assert spec_from_text("Hopper", "gravity 3.7 and length scale 1.5").context.length_scale == 1.0
    assert spec_from_text("HalfCheetah", "length scale 1.5").context.length_scale == 1.5


@pytest.mark.parametrize("text", ["", "   ", None])
def test_empty_prompt_is_a_clear_error(text):
    with pytest.raises(ValueError, match="empty"):
        spec_from_text("HalfCheetah", text)


def test_unknown_task_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown task"):
        spec_from_text("Cheetah3000", "a heavy cheetah")


def test_generated_training_text_is_labelled_consistently():
    prompts = generate_prompts(GeneratorConfig(n=300, seed=1))
    assert prompts == generate_prompts(GeneratorConfig(n=300, seed=1))  # deterministic
    assert any(not p.log_factors for p in prompts) and any(len(p.log_factors) >= 2 for p in prompts)
    for p in prompts:
        assert set(p.log_factors) <= set(CONTEXT_FIELDS)
        assert all(-4.0 < v < 1.7 for v in p.log_factors.values())
    assert chunk("a heavy cheetah on ice, with weak motors") == [
        "a heavy cheetah",
        "ice",
        "weak motors",
    ]


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
def test_cli_world_prints_worldspec_json(capsys):
    code = main(["world", "--task", "HalfCheetah", "--prompt", "twice as heavy", "--json",
                 "--seed", "7"])  # fmt: skip
    assert code == 0
    spec = WorldSpec.from_json(capsys.readouterr().out)
    assert spec.context.mass_scale == 2.0 and spec.seed == 7


def test_cli_world_summary_and_errors(capsys, tmp_path):
    assert main(["world", "--task", "Hopper", "--prompt", "on the moon"]) == 0
    out = capsys.readouterr().out
    assert "gravity" in out and "outside the training range" in out
    assert main(["world", "--task", "Hopper", "--prompt", " "]) == 2
    assert "empty" in capsys.readouterr().err
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
    spec = WorldSpec.from_json(captured.out)
    assert spec.task == "InvertedPendulum" and len(spec.initial_state.qpos) == 2
    assert abs(spec.initial_state.qpos[1] - 0.5) < 0.1  # the pole angle
    assert "cannot be seen in a still frame" in captured.err
    assert main(["world", "--task", "HalfCheetah", "--image", str(path)]) == 2
    assert "does not look like a rendered HalfCheetah" in capsys.readouterr().err
