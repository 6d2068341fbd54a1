"""`genenv run --world-kind latent`: the loop over a pixel world, with the agent collecting real
data through the world's encoder and the world refit warm from the previous one."""

import json

import numpy as np
import pytest
import torch

from genenv.data import collect, collection_info, load_pixel_transitions
from genenv.loop import LoopConfig, run_loop
from genenv.models.checkpoint import read_checkpoint_metadata

TINY_RECIPE = """
algo: PPO
policy: MlpPolicy
n_envs: 16
total_timesteps: 512
hyperparams: {n_steps: 32, batch_size: 256, n_epochs: 1}
policy_kwargs: {net_arch: [16, 16]}
env: {max_episode_steps: 16, start: states}
"""


def _config(tmp_path, **kw):
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(TINY_RECIPE)
    base = dict(
        task="InvertedPendulum",
        real_steps=500,
        initial_steps=300,
        steps_per_iteration=200,
        recipe=str(recipe),
        eval_every=512,
        eval_episodes=2,
        world_kind="latent",
        pixel_size=32,
        latent_steps=20,
        latent_refit_steps=10,
        latent_dynamics_steps=10,
        video=False,
    )
    return LoopConfig(**{**base, **kw})


def test_pixel_loop_collects_frames_through_the_encoder_and_refits_warm(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the final video is also copied to ./recordings
    out = tmp_path / "run"
    summary = run_loop(out, _config(tmp_path, video=True, video_steps=10, latent_dim=6))
    px = load_pixel_transitions(out / "data")
    t = px.transitions
    assert summary["real_env_steps"] == len(t) == 500
    # every observation has its frame: transitions + one reset frame per episode
    assert len(px.frames) == len(t) + len(t.episode_starts()) and px.size == 32
    policies = [c["policy"] for c in collection_info(out / "data")["collections"]]
    assert policies == ["random", "latent-agent:PPO"]
    meta = read_checkpoint_metadata(out / "world")
    assert meta["kind"] == "latent" and meta["report"]["warm_start"] is True
    assert meta["report"]["grad_steps"] == 10  # the refit's steps, not the first fit's
    assert meta["report"]["dynamics"]["steps"] == 10  # the loop's dynamics phase setting
    assert meta["report"]["latent"]["latent_dim"] == 6
    rows = summary["transfer"]
    assert len(rows) == 2 and all(np.isfinite(r["imagined_return"]) for r in rows)
    # IP pays 1 per step but 0 on the terminating one: an episode that fell took return + 1 steps
    assert all(r["real_return"] < 999 for r in rows)
    assert summary["eval_real_env_steps"] == round(sum(2 * r["real_return"] + 2 for r in rows))
    assert list((out / "videos").glob("*side-by-side*.gif"))


TINY_MBPO = """
algo: MBPO
n_envs: 8
total_timesteps: 64
hyperparams: {gradient_steps: 2, batch_size: 32, learning_starts: 16, real_ratio: 0.5}
policy_kwargs: {net_arch: [16, 16]}
env: {max_episode_steps: 4, start: states}
"""


def test_pixel_loop_trains_mbpo_on_the_dataset_encoded_by_the_current_world(tmp_path, monkeypatch):
    from genenv.agents.mbpo import MBPO

    handed, observe = [], MBPO.observe_real

    def spy(agent, transitions):
        handed.append(transitions.obs.shape)
        observe(agent, transitions)

    monkeypatch.setattr(MBPO, "observe_real", spy)
    recipe = tmp_path / "mbpo.yaml"
    recipe.write_text(TINY_MBPO)
    out = tmp_path / "run"
    summary = run_loop(out, _config(tmp_path, recipe=str(recipe), latent_dim=6))
    assert summary["real_env_steps"] == 500
    # after each fit: the whole dataset, as latents (6 from frames + 1 previous action)
    assert handed == [(300, 7), (500, 7)]
    policies = [c["policy"] for c in collection_info(out / "data")["collections"]]
    assert policies == ["random", "latent-agent:MBPO"]
    again = run_loop(out, _config(tmp_path, recipe=str(recipe), latent_dim=6), resume=True)
    assert again["done"] is True and len(again["transfer"]) == len(summary["transfer"])


@pytest.mark.parametrize("refit", ["all", "dynamics"])
def test_pixel_loop_refit_dynamics_keeps_the_first_fits_encoder(tmp_path, monkeypatch, refit):
    import genenv.models.latent_train as latent_train

    encoders, train = [], latent_train.train_latent_model

    def spy(*args, **kw):
        model, report = train(*args, **kw)
        encoders.append({k: v.clone() for k, v in model.encoder.state_dict().items()})
        return model, report

    monkeypatch.setattr(latent_train, "train_latent_model", spy)
    out = tmp_path / "run"
    run_loop(out, _config(tmp_path, latent_refit=refit, latent_dim=6, latent_var_coef=3.0))
    assert len(encoders) == 2  # the first fit and one refit
    same = all(torch.equal(encoders[0][k], encoders[1][k]) for k in encoders[0])
    assert same is (refit == "dynamics")
    report = read_checkpoint_metadata(out / "world")["report"]
    assert report["config"]["var_coef"] == 3.0  # the loop's variance weight reaches every fit
    if refit == "dynamics":  # no joint steps; the dynamics phase runs for the refit's steps
        assert report["grad_steps"] == 0 and report["dynamics"]["steps"] == 10
    with pytest.raises(ValueError, match="latent_refit must be one of all, dynamics"):
        _config(tmp_path, latent_refit="decoder")
    with pytest.raises(ValueError, match="latent_var_coef"):
        _config(tmp_path, latent_var_coef=0.0)


def test_pixel_loop_resumes_and_refuses_what_it_cannot_run(tmp_path):
    config = _config(tmp_path, real_steps=300)
    out = tmp_path / "run"
    run_loop(out, config)
    again = run_loop(out, config, resume=True)  # a complete run resumes to the same summary
    assert again["real_env_steps"] == 300 and again["done"] is True
    with pytest.raises(ValueError, match="needs states"):
        _config(tmp_path, known_reward_termination=True)
    known = tmp_path / "known.yaml"
    known.write_text(
        TINY_RECIPE.replace("start: states", "start: states, known_reward_termination: true")
    )
    with pytest.raises(ValueError, match="needs real states"):
        run_loop(tmp_path / "known", _config(tmp_path, recipe=str(known)))
    assert not (tmp_path / "known").exists()  # refused before any folder is made
    with pytest.raises(ValueError, match="pixel_size must be one of"):
        _config(tmp_path, pixel_size=48)  # a size the latent encoder cannot read
    with pytest.raises(ValueError, match="even"):
        _config(tmp_path, latent_dim=5)
    with pytest.raises(ValueError, match="world_kind"):
        _config(tmp_path, world_kind="pixels")
    with pytest.raises(ValueError, match="of kind ensemble; this run.s world_kind is latent"):
        state_world = tmp_path / "state"
        run_loop(state_world, _config(tmp_path, world_kind="ensemble", real_steps=300))
        run_loop(tmp_path / "r2", _config(tmp_path, world_checkpoint=str(state_world / "world")))


def test_the_loops_world_kinds_are_the_model_registrys():
    """loop_config keeps its own tuple (it does not import torch); it must name every kind."""
    from genenv.loop_config import WORLD_KINDS
    from genenv.models.kinds import KINDS

    assert tuple(KINDS) == WORLD_KINDS


def test_a_frame_policy_sees_the_episode_frames_and_needs_pixels(tmp_path):
    seen = []

    def policy(obs, frames):
        seen.append(len(frames))
        assert frames[-1].shape == (16, 16, 3)
        return np.zeros(1, np.float32)

    policy.reads_frames = True
    collect("InvertedPendulum", 5, tmp_path / "d", policy=policy, pixels=16, progress=False)
    assert seen[:3] == [1, 2, 3]  # the frames so far, the reset frame first
    with pytest.raises(ValueError, match="acts on frames"):
        collect("InvertedPendulum", 5, tmp_path / "e", policy=policy, progress=False)
    assert json.loads((tmp_path / "d" / "metadata.json").read_text())["total_steps"] == 5
