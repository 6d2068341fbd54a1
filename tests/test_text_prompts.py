"""Text prompts -> WorldSpec through the deterministic reader (examples of these tests' own)."""

from __future__ import annotations

import json

import pytest

from genenv.cli import main
from genenv.prompts import spec_from_text
from genenv.prompts.text import read_text, read_texts, specs_from_texts
from genenv.worlds.spec import CONTEXT_FIELDS, WorldSpec

DEFAULTS = {name: spec[0] for name, spec in CONTEXT_FIELDS.items()}


def _moved(task: str, text: str) -> dict[str, float]:
    ctx = read_text(task, text).context
    return {k: v for k, v in ctx.items() if v != DEFAULTS[k]}


@pytest.mark.parametrize(
    "task, text",
    [
        ("Hopper", "the hopper is certainly not light"),
        ("Walker2d", "its feet are not grippy"),
        ("Ant", "an ant that isn't on Neptune"),
        ("HalfCheetah", "the motors are not feeble"),
    ],
)
def test_negated_adjectives_leave_the_field_at_its_default(task, text):
    reading = read_text(task, text)
    assert _moved(task, text) == {}
    assert reading.understood and reading.understood[0]["how"] == "negated"


def test_no_or_without_a_field_sets_its_lowest_value():
    assert _moved("Hopper", "a world with no gravity whatsoever") == {"gravity": 0.0}
    assert _moved("Walker2d", "joints without damping") == {"damping_scale": 0.0}
    low = CONTEXT_FIELDS["friction_scale"][1]
    assert _moved("Ant", "zero friction") == {"friction_scale": low}


@pytest.mark.parametrize(
    "task, text, expected",
    [
        ("Ant", "gravity 35% weaker than normal", {"gravity": 6.38}),
        ("Walker2d", "25 percent more torque", {"actuator_scale": 1.25}),
        ("Hopper", "a third less grip", {"friction_scale": 0.67}),
        ("HalfCheetah", "masses increased by half", {"mass_scale": 1.5}),
        ("Reacher", "damping cut by a factor of 4", {"damping_scale": 0.25}),
        ("InvertedPendulum", "a pole two times shorter", {"length_scale": 0.5}),
        ("Walker2d", "four times the weight", {"mass_scale": 4.0}),
        ("Ant", "half of Earth's gravitational pull", {"gravity": 4.91}),
        ("Hopper", "motor strength at 70%", {"actuator_scale": 0.7}),
    ],
)
def test_relative_quantities(task, text, expected):
    assert _moved(task, text) == expected


@pytest.mark.parametrize(
    "task, text, expected",
    [
        ("Hopper", "0.5 g", {"gravity": 4.91}),
        ("Walker2d", "gravity 6.2 m/s^2", {"gravity": 6.2}),
        ("Ant", "12 m s^-2", {"gravity": 12.0}),
        ("HalfCheetah", "friction = 0.8, mass 1.3", {"friction_scale": 0.8, "mass_scale": 1.3}),
    ],
)
def test_absolute_quantities(task, text, expected):
    assert _moved(task, text) == expected


@pytest.mark.parametrize(
    "task, text, field, low, high",
    [
        ("Hopper", "hopping around on Ganymede", "gravity", 1.4, 1.5),
        ("Walker2d", "a jovian stroll", "gravity", 24.0, 25.0),
        ("Ant", "an ant carved out of granite", "mass_scale", 2.5, 3.0),
        ("HalfCheetah", "sprinting across a skating rink", "friction_scale", 0.05, 0.2),
        ("Walker2d", "wading through molasses", "damping_scale", 6.0, 10.0),
        ("Reacher", "an arm moving under water", "damping_scale", 2.0, 4.0),
    ],
)
def test_world_knowledge(task, text, field, low, high):
    moved = _moved(task, text)
    assert set(moved) == {field} and low <= moved[field] <= high


def test_several_fields_in_one_prompt():
    moved = _moved("InvertedPendulum", "a lanky pole of oak on Callisto, motors slightly weaker")
    assert set(moved) == {"length_scale", "mass_scale", "gravity", "actuator_scale"}
    assert moved["length_scale"] > 1 and moved["mass_scale"] < 1 and moved["gravity"] < 2
    assert 0.8 < moved["actuator_scale"] < 1


@pytest.mark.parametrize(
    "text", ["a purple hopper that likes jazz", "the hopper has a name tag", "standard friction"]
)
def test_prompts_that_change_nothing(text):
    reading = read_text("Hopper", text)
    assert reading.context == DEFAULTS
    assert reading.not_understood or reading.understood  # says which


def test_non_english_is_not_understood():
    for text in ["un saltador muy pesado", "ein schwerer Läufer"]:
        reading = read_text("Hopper", text)
        assert reading.context == DEFAULTS and "English" in reading.not_understood


def test_length_only_for_tasks_with_geometry():
    assert _moved("HalfCheetah", "legs 30% longer") == {"length_scale": 1.3}
    reading = read_text("Hopper", "legs 30% longer")
    assert reading.context == DEFAULTS and "has no length_scale" in reading.ignored[0]


def test_values_are_clamped_with_a_note():
    reading = read_text("Walker2d", "gravity 80")
    assert reading.context["gravity"] == CONTEXT_FIELDS["gravity"][2]
    assert reading.clamped[0]["field"] == "gravity" and reading.clamped[0]["asked"] == 80
    clamped = read_text("Walker2d", "gravity 80", clamp_to_train_range=True)
    assert clamped.context["gravity"] == 16.0  # the top of Walker2d's training range


def test_batch_api_is_deterministic_and_matches_single_reads():
    texts = ["heavier legs", "on Io", "a blue walker"]
    specs = specs_from_texts("Walker2d", texts, seed=10)
    assert [s.seed for s in specs] == [10, 11, 12]
    assert [s.context for s in specs] == [spec_from_text("Walker2d", t).context for t in texts]
    assert read_texts(["Ant", "Hopper"], ["on Io", "on Io"])[1].task == "Hopper"
    with pytest.raises(ValueError, match="2 tasks for 3 prompts"):
        read_texts(["Ant", "Hopper"], texts)


@pytest.mark.parametrize("text", ["", "   ", None])
def test_empty_prompt_is_a_clear_error(text):
    with pytest.raises(ValueError, match="empty"):
        spec_from_text("HalfCheetah", text)


def test_unknown_task_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown task"):
        spec_from_text("Cheetah3000", "a heavy cheetah")


def test_cli_world_json_carries_the_notes(capsys):
    args = ["world", "--task", "Ant", "--prompt", "70 m/s^2, legs twice as long", "--json"]
    assert main([*args, "--seed", "4"]) == 0
    out = json.loads(capsys.readouterr().out)
    spec = WorldSpec.from_dict(out["spec"])
    assert spec.seed == 4 and spec.context.gravity == CONTEXT_FIELDS["gravity"][2]
    notes = out["notes"]
    assert notes["understood"][0]["field"] == "gravity" and notes["clamped"]
    assert "has no length_scale" in notes["ignored"][0] and notes["not_understood"] is None
    assert main(["world", "--task", "Ant", "--prompt", "a bright green ant", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["notes"]["not_understood"]


def test_cli_world_summary_and_errors(capsys):
    assert main(["world", "--task", "Walker2d", "--prompt", "on Pluto"]) == 0
    out = capsys.readouterr().out
    assert "gravity" in out and "outside the training range" in out and "understood" in out
    assert main(["world", "--task", "Walker2d", "--prompt", " "]) == 2
    assert "empty" in capsys.readouterr().err
