"""The latent pixel world model: round trip, checkpoints, collapse metrics, DDP under torchrun."""

import copy
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from genenv.agents.goal import plan_to_goal
from genenv.agents.planner import PlannerConfig
from genenv.data import collect, load_pixel_transitions
from genenv.envs.pixels import PixelDreamVectorEnv
from genenv.models.checkpoint import load_checkpoint, read_checkpoint_metadata, save_checkpoint
from genenv.models.latent import KEYPOINT_SCALE, LatentConfig, LatentWorldModel
from genenv.models.latent_train import (
    LatentTrainConfig,
    _Objective,
    collapse_warning,
    latent_health,
    train_latent_model,
)
from genenv.prompts.image_latent import read_image_prompt
from genenv.worlds.cameras import make_pixel_env

TINY = LatentConfig(image_size=32, latent_dim=8, channels=8, hidden_size=32, num_predictors=2)


@pytest.fixture(scope="module")
def pixel_data(tmp_path_factory):
    path = tmp_path_factory.mktemp("px") / "ip"
    collect("InvertedPendulum", 1500, path, seed=1, progress=False, pixels=32)
    return path


@pytest.fixture(scope="module")
def tiny_model(pixel_data):
    # ~1 min: fewer steps leave the predictor ignoring the actions (a cart moves sub-pixel per step)
    cfg = LatentTrainConfig(steps=700, batch_size=16, horizon=3, eval_every=350, max_eval=300)
    return train_latent_model(load_pixel_transitions(pixel_data), cfg, TINY, progress=False)


def test_encoder_predictor_decoder_round_trip(pixel_data, tiny_model):
    model, report = tiny_model
    px = load_pixel_transitions(pixel_data)
    frames = torch.as_tensor(px.frames[:5])  # (5, 32, 32, 3) single frames
    z = model.encode(frames)
    # z: two frames' poses (8), then the previous action (1; a single frame is at rest: 0)
    assert model.obs_dim == 9 and z.shape == (5, 9) and torch.isfinite(z).all()
    assert (z[:, 8] == 0).all() and torch.equal(z[:, :4], z[:, 4:8])
    ctx = torch.zeros(5, model.ctx_dim)
    action = torch.linspace(-2, 2, 5)[:, None]  # (5, 1)
    out = model.step(z, action, ctx)
    assert (
        out.obs.shape == (5, 9) and out.reward.shape == (5,) and out.terminated.dtype == torch.bool
    )
    # the next state holds the action just taken and, as its previous pose, the current pose
    assert torch.equal(out.obs[:, 8:], action) and torch.equal(out.obs[:, 4:8], z[:, :4])
    stacks = torch.stack([torch.as_tensor(px.frames[:5]), torch.as_tensor(px.frames[1:6])], 1)
    assert torch.equal(model.encode(stacks, action)[:, 8:], action)
    assert (out.uncertainty >= 0).all() and out.finite.all()
    img = model.render(out.obs)
    assert img.shape == (5, 32, 32, 3) and img.dtype == torch.uint8
    assert model.initial(4, torch.Generator().manual_seed(0)).shape == (4, 9)
    with pytest.raises(ValueError, match="32x32"):
        model.encode(torch.zeros(1, 64, 64, 3, dtype=torch.uint8))
    # collapse is measured during training, not assumed away
    for key in ("collapse/latent_std_min", "collapse/effective_rank", "collapse/probe_r2"):
        assert all(np.isfinite(row[key]) for row in report["history"])
    assert len(report["history"]) == 2


def test_a_collapsed_latent_is_flagged_though_a_probe_still_reads_the_state(pixel_data, tiny_model):
    model, report = tiny_model
    px = load_pixel_transitions(pixel_data)
    healthy = latent_health(model, px)
    assert report["collapsed"] is False and collapse_warning(report["final"]) is None
    assert collapse_warning(healthy) is None
    # the encoder's output shrunk 10^4-fold (the scale three 128-px loop worlds fell to): the
    # state is still in z, but at a scale the predictors' errors dwarf
    shrunk = copy.deepcopy(model)
    with torch.no_grad():
        shrunk.encoder.out.weight.mul_(1e-4)
        shrunk.encoder.out.bias.mul_(1e-4)
    sick = latent_health(shrunk, px)
    assert abs(sick["collapse/probe_r2"] - healthy["collapse/probe_r2"]) < 0.02
    assert sick["eval/one_step_latent_rel_mse"] > 100 * healthy["eval/one_step_latent_rel_mse"]
    warning = collapse_warning(sick)
    assert warning is not None and "collapsed" in warning and "\n" not in warning


def _mid_episode_frames(task, size, seeds, steps=4):
    env = make_pixel_env(task, size)
    frames, qpos = [], []
    for seed in seeds:
        env.reset(seed=seed)
        env.action_space.seed(seed)
        for _ in range(steps):
            env.step(env.action_space.sample())
        frames.append(env.render())
        qpos.append(env.unwrapped.data.qpos.copy())
    env.close()
    return np.stack(frames), np.stack(qpos)


def test_image_prompt_from_a_mid_episode_frame_starts_near_the_true_state(pixel_data, tiny_model):
    model, _ = tiny_model
    frames, qpos = _mid_episode_frames("InvertedPendulum", 32, range(500, 512))
    est = np.stack([read_image_prompt(model, f).state_estimate[:2] for f in frames])
    train_mean = load_pixel_transitions(pixel_data).transitions.obs[:, :2].mean(0)
    err, baseline = np.abs(est - qpos).mean(0), np.abs(train_mean - qpos).mean(0)
    assert (err < 0.7 * baseline).all(), (err, baseline)  # cart position and pole angle
    # the dream starts from exactly that encoding
    env = PixelDreamVectorEnv("InvertedPendulum", model, start_frames=frames[:1])
    want = model.encode(torch.as_tensor(frames[:1]))
    assert torch.allclose(env.reset_tensor(seed=0), want)


def test_wrong_task_image_and_non_images_are_refused(tmp_path, tiny_model):
    model, _ = tiny_model
    reacher, _ = _mid_episode_frames("Reacher", 32, [0])
    with pytest.raises(ValueError, match="does not look like a frame of the InvertedPendulum"):
        read_image_prompt(model, reacher[0])
    noise = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="does not look like"):
        read_image_prompt(model, noise)
    (tmp_path / "x.png").write_text("not an image")
    with pytest.raises(ValueError, match="not an image"):
        read_image_prompt(model, tmp_path / "x.png")


def test_latent_checkpoint_round_trip(tmp_path, tiny_model):
    model, _ = tiny_model
    save_checkpoint(model, tmp_path / "w")
    meta = read_checkpoint_metadata(tmp_path / "w")
    assert meta["kind"] == "latent" and meta["latent"]["latent_dim"] == 8
    back = load_checkpoint(tmp_path / "w", expect_task="InvertedPendulum")
    assert isinstance(back, LatentWorldModel)
    z = model.initial(6, torch.Generator().manual_seed(1), source="states")
    a = torch.rand(6, 1) * 2 - 1
    c = torch.zeros(6, model.ctx_dim)
    assert torch.equal(model.step(z, a, c).obs, back.step(z, a, c).obs)
    assert torch.equal(model.render(z), back.render(z))
    meta["kind"] = "mystery"
    (tmp_path / "w" / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="unknown world-model kind"):
        load_checkpoint(tmp_path / "w")


def test_frames_from_another_camera_are_refused(tmp_path, tiny_model, pixel_data):
    """A checkpoint or dataset filmed through a camera the task no longer uses would be misread."""
    model, _ = tiny_model
    save_checkpoint(model, tmp_path / "w")
    meta = read_checkpoint_metadata(tmp_path / "w")
    meta["camera"]["free"]["distance"] += 1.0
    (tmp_path / "w" / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="filmed through the InvertedPendulum camera"):
        load_checkpoint(tmp_path / "w")
    data = tmp_path / "data"
    shutil.copytree(pixel_data, data)
    dmeta = json.loads((data / "metadata.json").read_text())
    dmeta["genenv"]["pixels"]["camera"]["free"]["azimuth"] = 45.0
    (data / "metadata.json").write_text(json.dumps(dmeta))
    with pytest.raises(ValueError, match="its frames would be misread"):
        load_pixel_transitions(data)
    load_pixel_transitions(pixel_data)  # the untouched copy still loads


def test_the_pose_reads_the_current_frame_alone(pixel_data, tiny_model):
    """A goal image compares with a state's pose: the pose half of z must not depend on the previous
    frame, and the other half must be the previous frame's pose."""
    model, _ = tiny_model
    frames = torch.as_tensor(load_pixel_transitions(pixel_data).frames[:12])  # (12, 32, 32, 3)
    pairs = torch.stack([frames[:6], frames[6:]], dim=1)  # (6, 2, ...) [previous, current]
    z, single = model.encode(pairs), model.encode(frames[6:])  # (6, 9) each
    assert torch.allclose(model.pose(z), model.pose(single), atol=1e-5)
    assert torch.allclose(z[:, 4:8], model.pose(model.encode(frames[:6])), atol=1e-5)
    assert not torch.allclose(z, single, atol=1e-3)  # the previous frame is in z: velocities
    nxt = model.predict_all(z, torch.zeros(6, 1), torch.zeros(6, model.ctx_dim))  # (K, 6, 9)
    assert torch.equal(nxt[..., 4:8], model.pose(z).expand(2, -1, -1))  # shifted, not predicted
    # the disagreement is over what the members predict: the shifted half must not dilute it
    spread = nxt[..., :4].std(0, unbiased=False).mean(-1)  # (6,)
    out = model.step(z, torch.zeros(6, 1), torch.zeros(6, model.ctx_dim))
    assert torch.allclose(out.uncertainty, spread) and (spread > 0).all()


def test_a_checkpoint_from_before_the_per_frame_encoder_loads_as_the_pair_encoder(tmp_path):
    cfg = LatentConfig(32, 6, 8, 16, encoder="stack", decoder_output="tanh", previous_action=False)
    torch.manual_seed(0)
    old = LatentWorldModel("InvertedPendulum", 1, 5, cfg, [-3.0], [3.0])
    save_checkpoint(old, tmp_path / "w")
    meta = json.loads((tmp_path / "w" / "metadata.json").read_text())
    for field in ("encoder", "decoder_output", "previous_action", "encoder_head"):  # as before
        del meta["latent"][field]
    (tmp_path / "w" / "metadata.json").write_text(json.dumps(meta))
    back = load_checkpoint(tmp_path / "w")
    assert back.config.encoder == "stack" and back.config.pose_dim == 6
    assert back.config.encoder_head == "conv"
    assert back.config.decoder_output == "tanh" and back.obs_dim == 6  # no previous action
    frames = torch.randint(0, 255, (3, 2, 32, 32, 3), dtype=torch.uint8)
    z = old.encode(frames)
    assert torch.equal(z, back.encode(frames)) and torch.equal(old.render(z), back.render(z))
    with pytest.raises(ValueError, match="even"):
        LatentConfig(latent_dim=7)


def _torchrun(args, nproc):
    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.getcwd()}
    cmd = [torchrun, "--nproc_per_node", str(nproc), "--no-python"]
    cmd += [os.path.join(os.path.dirname(sys.executable), "genenv"), "train-world", *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


def test_gloo_ddp_writes_the_checkpoint_one_process_writes(tmp_path, pixel_data):
    common = ["--data", str(pixel_data), "--no-progress", "--threads", "1"]
    ens = ["--epochs", "2", "--ensemble-size", "2", "--elites", "1", "--hidden", "16"]
    for n in (1, 2):
        r = _torchrun([*common, *ens, "--out", str(tmp_path / f"e{n}")], n)
        assert r.returncode == 0, r.stderr[-2000:]
    one, two = load_checkpoint(tmp_path / "e1"), load_checkpoint(tmp_path / "e2")
    for (k, a), b in zip(one.state_dict().items(), two.state_dict().values(), strict=True):
        assert torch.allclose(a, b, atol=1e-4), k  # same update: global batch split by rank
    lat = ["--kind", "latent", "--steps", "4", "--eval-every", "2", "--channels", "8"]
    lat += ["--hidden", "16", "--latent-dim", "8", "--batch-size", "8"]
    lat += ["--encoder-head", "keypoints"]
    r = _torchrun([*common, *lat, "--out", str(tmp_path / "l2")], 2)
    assert r.returncode == 0, r.stderr[-2000:]
    meta = read_checkpoint_metadata(tmp_path / "l2")
    assert meta["kind"] == "latent" and meta["training"]["world_size"] == 2
    assert meta["latent"]["encoder_head"] == "keypoints"
    assert isinstance(load_checkpoint(tmp_path / "l2"), LatentWorldModel)


def test_world_and_record_cli_with_an_image_prompt(tmp_path, tiny_model, capsys):
    from PIL import Image

    from genenv.cli import main

    model, _ = tiny_model
    save_checkpoint(model, tmp_path / "w")
    frames, _ = _mid_episode_frames("InvertedPendulum", 32, [600])
    Image.fromarray(frames[0]).save(tmp_path / "ip.png")
    reacher, _ = _mid_episode_frames("Reacher", 32, [0])
    Image.fromarray(reacher[0]).save(tmp_path / "reacher.png")
    args = ["world", "--task", "InvertedPendulum", "--world", str(tmp_path / "w"), "--image"]
    assert main([*args, str(tmp_path / "ip.png"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["latent"]) == 9 and out["prompt_score"] <= out["prompt_limit"]
    assert main([*args, str(tmp_path / "reacher.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("genenv world: error: this image does not look")
    rec = ["record", "--task", "InvertedPendulum", "--world", str(tmp_path / "w"), "--steps", "5"]
    rec += ["--image", str(tmp_path / "ip.png"), "--out", str(tmp_path / "v"), "--formats", "gif"]
    assert main([*rec, "--size", "64", "--no-progress"]) == 0
    assert list((tmp_path / "v").glob("*image-prompt*.gif"))
    capsys.readouterr()
    plan = ["plan", "--world", str(tmp_path / "w"), "--goal-image", str(tmp_path / "ip.png")]
    assert main([*plan, "--steps", "2", "--samples", "16", "--elites", "4", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["steps"] == 2 and out["seconds_per_plan"] > 0
    assert main([*plan[:3], "--goal-image", str(tmp_path / "reacher.png")]) == 2


def test_goal_image_planning_beats_random_on_a_tiny_task(tiny_model):
    model, _ = tiny_model
    config = PlannerConfig(horizon=3, num_samples=64, num_iterations=2, num_elites=8)
    errors = {"planner": [], "random": []}
    for seed in range(300, 306):  # goal: the cart pushed 3 steps left or right from its reset
        env = make_pixel_env("InvertedPendulum", 32)
        env.reset(seed=seed)
        for _ in range(3):
            env.step(np.array([1.0 if seed % 2 else -1.0], np.float32))
        goal, goal_x = env.render(), env.unwrapped.data.qpos[0]
        env.close()
        for policy in errors:
            run = plan_to_goal(model, goal, 3, config, seed=seed, policy=policy)
            errors[policy].append(abs(run.qpos[-1][0] - goal_x))
            assert len(run.plan_seconds) == (3 if policy == "planner" else 0)
    assert np.mean(errors["planner"]) < 0.6 * np.mean(errors["random"]), errors


def test_training_latents_hold_the_action_taken_between_their_two_frames(pixel_data):
    from genenv.models.latent_train import _Windows

    px = load_pixel_transitions(pixel_data)
    w = _Windows(px, torch.device("cpu"))
    starts = px.transitions.episode_starts()
    later = np.setdiff1d(np.arange(len(px.transitions)), starts)
    assert (w.prev_act[starts] == 0).all()  # an episode's first frame is at rest
    assert torch.equal(w.prev_act[later], w.act[later - 1])


def test_latent_transitions_are_what_the_agent_reads_in_the_real_env(pixel_data, tiny_model):
    from genenv.models.latent_train import latent_transitions
    from genenv.transfer import LatentAgentPolicy

    model, _ = tiny_model
    px = load_pixel_transitions(pixel_data)
    t, lt = px.transitions, latent_transitions(model, px)
    assert lt.obs.shape == lt.next_obs.shape == (len(t), model.obs_dim)
    np.testing.assert_array_equal(lt.actions, t.actions)
    # within an episode, a transition's next latent is the next transition's latent
    later = np.setdiff1d(np.arange(1, len(t)), t.episode_starts())
    np.testing.assert_allclose(lt.next_obs[later - 1], lt.obs[later], atol=1e-5)

    class Replay:  # the first episode as LatentAgentPolicy encodes it, replaying its actions
        def __init__(self):
            self.seen = []

        def predict(self, z, deterministic=True):
            self.seen.append(z)
            return t.actions[len(self.seen) - 1], None

    agent = Replay()
    policy = LatentAgentPolicy(model, agent)
    n = int((t.episode_ids == t.episode_ids[0]).sum())
    for k in range(n):
        policy(t.obs[k], list(px.frames[: k + 1]))
    np.testing.assert_allclose(np.stack(agent.seen), lt.obs[:n], atol=1e-5)


def test_the_dynamics_phase_fits_rollouts_on_the_frozen_encoder(pixel_data, tiny_model):
    from genenv.models.latent_train import _Windows, fit_dynamics
    from genenv.models.train import split_episodes

    model, report = tiny_model
    # the phase ran after the joint fit and lowered its held-out 15-step rollout loss
    dyn = report["dynamics"]
    assert dyn["steps"] == 500 and dyn["horizon"] == 15
    assert dyn["held_loss_after"] < dyn["held_loss_before"]
    # a second round moves the predictors and heads only, never the encoder or the decoder
    model = copy.deepcopy(model)
    px = load_pixel_transitions(pixel_data)
    w = _Windows(px, torch.device("cpu"))
    train, held = (
        torch.as_tensor(np.flatnonzero(m)) for m in split_episodes(px.transitions, 0.1, 0)
    )
    frozen = {
        k: v.clone() for k, v in model.state_dict().items() if k.startswith(("encoder", "decoder"))
    }
    before = model.predictors.out.weight.clone()
    cfg = LatentTrainConfig(dynamics_steps=20, dynamics_horizon=4, eval_every=10, seed=3)
    out = fit_dynamics(model, w, train, held, cfg, progress=False)
    assert out["steps"] == 20
    assert all(torch.equal(model.state_dict()[k], v) for k, v in frozen.items())
    if out["held_loss_after"] < out["held_loss_before"]:
        assert not torch.equal(model.predictors.out.weight, before)


def test_a_dream_step_draws_one_predictor_per_slot_and_a_plain_step_takes_their_mean():
    from genenv.envs.pixel_testing import random_latent_model

    model = random_latent_model("InvertedPendulum", num_starts=2)
    z = model.initial(64, torch.Generator().manual_seed(0))  # (64, D)
    a, c = torch.linspace(-3, 3, 64)[:, None], torch.ones(64, model.ctx_dim)
    members = model.predict_all(z, a, c)  # (K, 64, D)
    assert torch.allclose(model.step(z, a, c).obs, members.mean(0), atol=1e-6)
    drawn = model.step(z, a, c, torch.Generator().manual_seed(1)).obs
    which = ((drawn[None] - members).abs().amax(-1) < 1e-6).float().argmax(0)  # (64,)
    assert torch.allclose(drawn, members[which, torch.arange(64)], atol=1e-6)
    assert len(set(which.tolist())) == model.config.num_predictors  # slots draw apart
    again = model.step(z, a, c, torch.Generator().manual_seed(1)).obs
    assert torch.equal(drawn, again)  # reproducible from the generator


def test_a_frame_size_the_conv_stack_cannot_halve_down_is_refused_in_one_line():
    with pytest.raises(ValueError, match=r"image_size must be one of \(16, 32, 64, 128\), got 48"):
        LatentConfig(image_size=48)
    assert LatentConfig(image_size=32).image_size == 32


def test_keypoints_are_the_image_coordinates_of_what_their_maps_light_up():
    cfg = LatentConfig(image_size=64, latent_dim=8, channels=8, encoder_head="keypoints")
    model = LatentWorldModel("Reacher", 2, 6, cfg)
    enc = model.encoder
    # maps that light up where the frame is bright: 4x4 blocks -> the 16x16 grid the head reads
    bright = nn.Conv2d(3, 2, 1)
    with torch.no_grad():
        bright.weight.fill_(20.0)
        bright.bias.zero_()
    enc.convs = nn.Sequential(nn.AvgPool2d(4), bright)
    frame = torch.zeros(1, 64, 64, 3, dtype=torch.uint8)
    frame[0, 8:12, 48:52] = 255  # a white block at row cell 2, column cell 12 of the 16x16 grid
    points = model.pose(model.encode(frame)).reshape(2, 2) / KEYPOINT_SCALE  # (K, (x, y))
    expect = torch.tensor([12 / 15 * 2 - 1, 2 / 15 * 2 - 1])  # (x, y) in [-1, 1]
    assert torch.allclose(points, expect.expand(2, 2), atol=0.02), points
    frame = torch.roll(frame, shifts=(16, -16), dims=(1, 2))  # 4 cells down, 4 cells left
    moved = model.pose(model.encode(frame)).reshape(2, 2) / KEYPOINT_SCALE
    assert torch.allclose(moved - points, torch.tensor([-8 / 15, 8 / 15]), atol=0.02)


def test_a_keypoint_encoder_needs_an_x_and_a_y_for_every_point():
    with pytest.raises(ValueError, match="divisible by 4"):
        LatentConfig(latent_dim=6, encoder_head="keypoints")
    with pytest.raises(ValueError, match="encoder_head must be"):
        LatentConfig(encoder_head="pixels")
    assert LatentConfig(latent_dim=8, encoder_head="keypoints").pose_dim == 4


def test_the_state_head_makes_the_latent_read_the_true_state(pixel_data):
    # same data, seed and steps; only the auxiliary state head differs. The head is trained (its
    # loss falls), is not saved with the model, and its gradient makes z linearly hold the state
    # (held-out probe R²).
    px = load_pixel_transitions(pixel_data)
    base = dict(steps=300, batch_size=16, eval_every=150, max_eval=300, dynamics_steps=0)
    plain, _ = train_latent_model(px, LatentTrainConfig(**base), TINY, progress=False)
    cfg = LatentTrainConfig(**base, state_coef=10.0)
    model, report = train_latent_model(px, cfg, TINY, progress=False)
    first, last = (row["losses/state"] for row in (report["history"][0], report["history"][-1]))
    assert last < first
    assert set(model.state_dict()) == set(plain.state_dict())  # the head is not saved
    r2 = {
        name: latent_health(m, px)["collapse/probe_r2"]
        for name, m in [("plain", plain), ("state", model)]
    }
    assert r2["state"] > r2["plain"] + 0.05  # (measured here: 0.92 against 0.74)
    with pytest.raises(ValueError, match="state_coef"):
        _Objective(model, model.encoder, cfg)
