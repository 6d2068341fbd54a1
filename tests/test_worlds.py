"""WorldSpec, the task registry and the real env factory."""

import json

import numpy as np
import pytest

from genenv.worlds import CONTEXT_FIELDS, TASKS, Context, WorldSpec, get_task, make_real_env


def test_every_task_builds_with_stock_spaces():
    for name, info in TASKS.items():
        env = make_real_env(name)
        obs, info_ = env.reset(seed=0)
        assert env.observation_space.contains(obs), name
        assert info_["world_spec"]["task"] == name
        assert env.spec.max_episode_steps == info.max_episode_steps
        env.close()
    # Ant is built without the 78 contact-force dims, as model-based work does.
    assert make_real_env("Ant").observation_space.shape == (27,)


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_spec_round_trips(fmt):
    spec = WorldSpec("HalfCheetah", Context(gravity=3.7, mass_scale=2.0, length_scale=1.1), seed=7)
    text = spec.to_json() if fmt == "json" else spec.to_yaml()
    back = WorldSpec.from_json(text) if fmt == "json" else WorldSpec.from_yaml(text)
    assert back == spec and hash(back) == hash(spec)
    assert set(json.loads(spec.to_json())["context"]) == set(CONTEXT_FIELDS)


def test_gym_id_is_accepted_and_normalised():
    assert WorldSpec("Hopper-v5").task == "Hopper"
    assert get_task("Hopper-v5") is TASKS["Hopper"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"task": "Cheetah"}, "valid tasks: InvertedPendulum"),
        ({"task": "Hopper", "context": {"gravty": 1.0}}, "valid fields: gravity"),
        ({"task": "Hopper", "context": {"gravity": -1.0}}, "outside its valid range"),
        ({"task": "Hopper", "context": {"mass_scale": float("nan")}}, "finite number"),
        ({"task": "Hopper", "context": {"length_scale": 1.3}}, "does not support"),
        ({"task": "Hopper", "colour": "red"}, "unknown WorldSpec key"),
        ({"context": {}}, "needs at least a 'task'"),
    ],
)
def test_bad_specs_say_what_is_valid(data, message):
    with pytest.raises(ValueError, match=message):
        WorldSpec.from_dict(data)


def test_context_is_applied_to_the_compiled_model():
    spec = WorldSpec(
        "HalfCheetah",
        Context(
            gravity=4.0, mass_scale=2.0, friction_scale=0.5, damping_scale=3.0, actuator_scale=0.5
        ),
    )
    stock, env = make_real_env("HalfCheetah").unwrapped.model, spec.make_env().unwrapped.model
    assert np.allclose(env.opt.gravity, [0, 0, -4.0])
    assert np.allclose(env.body_mass, 2.0 * stock.body_mass)
    assert np.allclose(env.geom_friction[:, 0], 0.5 * stock.geom_friction[:, 0])
    assert np.allclose(env.dof_damping, 3.0 * stock.dof_damping)
    assert np.allclose(env.actuator_gear[:, 0], 0.5 * stock.actuator_gear[:, 0])


def test_length_scale_regenerates_geometry():
    stock = make_real_env("InvertedPendulum").unwrapped.model
    longer = make_real_env(WorldSpec("InvertedPendulum", Context(length_scale=1.5))).unwrapped.model
    pole = stock.geom("cpole").id
    assert longer.geom_size[pole][1] == pytest.approx(1.5 * stock.geom_size[pole][1], rel=1e-3)


def test_set_spec_applies_at_next_reset_and_does_not_drift():
    env = make_real_env("Hopper")
    stock_mass = env.unwrapped.model.body_mass.copy()
    for _ in range(3):  # re-applying must be relative to the stock model, not compound
        env.set_spec(WorldSpec("Hopper", Context(mass_scale=2.0)))
        assert np.allclose(env.unwrapped.model.body_mass, stock_mass * (2.0 if _ else 1.0))
        env.reset(seed=0)
        assert np.allclose(env.unwrapped.model.body_mass, 2.0 * stock_mass)
    with pytest.raises(ValueError, match="cannot switch"):
        env.set_spec(WorldSpec("Walker2d"))


def test_initial_state_pose_is_used_on_reset():
    qpos = (0.1, 0.15)
    spec = WorldSpec.from_dict({"task": "InvertedPendulum", "initial_state": {"qpos": qpos}})
    obs, _ = spec.make_env().reset(seed=0)
    assert np.allclose(obs, [0.1, 0.15, 0.0, 0.0])


def test_no_mujoco_log_is_left_behind(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_real_env("HalfCheetah").reset(seed=0)  # its XML triggers MuJoCo's settotalmass warning
    assert not (tmp_path / "MUJOCO_LOG.TXT").exists()
