"""Pixel worlds: quality, speed, goal-image planning, pixel agents and cost of the latent model.

Per task, a latent pixel world (`genenv train-world --kind latent`, 64x64 frames) is read from
--workdir/<Task>-world, trained beforehand on --workdir/<Task>-data (`genenv collect --pixels`,
random actions, a data seed >= 100), then:
- quality: on a fresh random-action test set (collect seed 101, never trained on): the linear probe
  z -> true state (fit at training time on training latents) as R² on test latents; decoded-frame
  PSNR and SSIM after 1, 5 and 20 open-loop steps (real actions) against the copy-last-frame
  baseline (the real frame at the window start), on up to 200 windows that fit in an episode;
- speed: imagined steps/s of `PixelDreamVectorEnv` at 256 envs with latent and with pixel
  observations, and real MuJoCo steps/s with rendering (8 envs, 64x64, stepped and rendered one
  after another as a SyncVectorEnv does on one thread), in the same process run;
- planning (Reacher): 50 held-out goals, seeds 1000-1049: reset(seed), k ~ U{10..40} random
  actions, the frame is the goal image; then reset(seed) again (same target dot) and plan 50
  real steps with CEM or MPPI in latent space (--plan-* flags; default CEM, horizon 8, 128
  samples, 2 iterations). Success: final fingertip within 0.05 m of the goal's fingertip
  (also reported: within 0.05 m at some step; random actions pass that near most goals too, so it
  says nothing of skill on its own). Same
  goals with uniform random actions. Planner settings are tuned on other seeds
  (--goal-seed-start 2000 --results <elsewhere>), never on the held-out ones;
- ceiling (Reacher): what limits that planning: the same goals and planner with Reacher's real
  physics as the planner's model, starting from (a) the true state, (b) the state read from the
  world's latent of the real frames by an MLP fit on --workdir/<Task>-data, (c) as (b) with the
  goal's fingertip read from the goal image too (see `ceiling`);
- agents: SB3 PPO (default settings, seed 100, 16 dream envs, --agent-steps imagined steps) on
  latent observations in the pixel dream, tested in the real env through the same encoder on real
  frames (episodes reset with seeds 100, 101, ...: 5 on InvertedPendulum, 20 on Reacher, whose
  return depends on the target). On Reacher also the same PPO in the state dream of an ensemble
  world (--workdir/Reacher-state-world, `genenv train-world` on the same dataset's states), tested
  on the same real episodes (and the zero action, for scale): the goal is the pixel agent within
  10% of its real return;
- loop (InvertedPendulum, Reacher): `genenv run --world-kind latent --seed 102` (--loop-recipe:
  the ppo recipe by default, or mbpo; settings chosen on runs with --loop-seed 100 and 101, the
  agent recipe also on the fixed worlds of finished runs, benchmarks/pixel_agent_recipes.py) in
  --workdir/<Task>-loop within
  --loop-frames real frames (random first, then the agent's own,
  collected through the encoder; warm-started refits); its final agent is tested like the agents
  part. The run resumes if the part is started again;
- perception (InvertedPendulum): can the loop part's final world see enough to balance? A
  linear-quadratic regulator (the real MuJoCo dynamics linearised at upright, a discrete Riccati
  solve) drives the real pole, reading (a) the true state, (b) the world's own linear probe of
  its latent (fit at training time), (c) an MLP read-out of the latent fit to the true state on
  the loop's own frames (4 of every 5 episodes; R² on the fifth), all on the agents part's real
  episodes through the same encoder as the agent; (c') the regulator (c) driving the world's
  own dream closed loop from the latents of the same first frames (steps until the dream
  terminates); and (d) CEM in the world's own dream (its predictors, not the real dynamics;
  horizon 15, 256 samples, 3 iterations) scoring the read-out (c) of its predicted latents by
  angle² + 0.1 x², in place of the world's reward and termination heads. (a) vs (c): what the
  latent lets a controller see; (c) vs (c'): whether the dream keeps up what keeps up in the
  real env; (d): what a planner makes of the dream (no bound on the loop's agent: a planner
  exploits a model's errors its own way); and the world's collapse measures (smallest
  per-dimension latent std, one-step latent error over the latents' variance);
- cost: training wall time and gradient steps from the checkpoint.

Usage:  python benchmarks/pixel_world.py --workdir bench/pixels --threads 1 [--parts ...]
Results merge into benchmarks/results/pixel_world.json (+ .md) after every part, under a file lock,
so invocations running different parts side by side lose nothing; every part records the command
and commit that produced it, and each task keeps the header of the run that last wrote to it.
"""

from __future__ import annotations

import argparse
import datetime
import fcntl
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from genenv.bench.measure import machine_line
from genenv.loop_config import LATENT_REFITS

RESULTS = Path(__file__).resolve().parent / "results"
OUT_JSON, OUT_MD = RESULTS / "pixel_world.json", RESULTS / "pixel_world.md"
TEST_SEED, GOAL_SEEDS, AGENT_SEED = 101, range(1000, 1050), 100
# The loop part's run seed (its data, world and agent): the runs that chose its settings (latent
# size 32 vs 8, an uncertainty penalty, MBPO's real_ratio) used seeds 100 and 101, so the
# reported runs use others.
LOOP_SEED = 102
# Seeds that also chose a loop setting (`_loop_setting`), beyond 100 and 101 which tuned every
# setting: they are shown beside the setting's goal line but not counted in it. The 10x variance
# weight was picked on a rerun of the seed-104 first fit, and first run on seeds 102, 104 and 105
# because their default-weight worlds had collapsed; its report seeds are 106-109, fixed before
# any of them ran.
SETTING_TUNING_SEEDS = {
    "mbpo, real_ratio 0.5, --latent-refit dynamics, --pixel-size 128, --latent-var-coef 10": (
        102,
        104,
        105,
    ),
}
PARTS = ("quality", "speed", "planning", "ceiling", "agents", "loop", "perception", "cost")
AGENT_EPISODES = {"InvertedPendulum": 5, "Reacher": 20}  # tasks of the agents part


def ssim(a: np.ndarray, b: np.ndarray, k: int = 7) -> float:
    """Mean SSIM of two (H, W, 3) uint8 images (uniform k x k window, per channel)."""
    from numpy.lib.stride_tricks import sliding_window_view as win

    x, y = a.astype(np.float64), b.astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def m(z):
        return win(z, (k, k), axis=(0, 1)).mean(axis=(-2, -1))

    mx, my = m(x), m(y)
    vx, vy, cxy = m(x * x) - mx**2, m(y * y) - my**2, m(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return float(s.mean())


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


def quality(task: str, model, workdir: Path) -> dict:
    from genenv.data import collect, load_pixel_transitions
    from genenv.models.latent_train import _Windows

    test = workdir / f"{task}-test"
    if not (test / "metadata.json").exists():
        collect(task, 3000, test, seed=TEST_SEED, progress=False, pixels=model.config.image_size)
    px = load_pixel_transitions(test)
    w = _Windows(px, torch.device("cpu"))
    every = torch.arange(len(px.transitions))
    z = model.encode(w.stack(every), w.prev_act[every])
    est, true = model.probe_state(z).numpy(), px.transitions.obs
    r2 = 1 - ((true - est) ** 2).sum(0) / ((true - true.mean(0)) ** 2).sum(0).clip(1e-8)
    out = {"probe_r2_test": float(r2.mean()), "test_transitions": len(px.transitions)}
    rng = np.random.default_rng(TEST_SEED)
    for k in (1, 5, 20):
        starts = torch.as_tensor(rng.permutation(len(px.transitions)))
        idx, mask = w.window(starts, k)
        ok = mask.all(1)
        starts, idx = starts[ok][:200], idx[ok][:200]
        if len(starts) == 0:
            out[f"k{k}"] = {"windows": 0}
            continue
        zz = model.encode(w.stack(starts), w.prev_act[starts])
        for h in range(k):
            zz = model.step(zz, w.act[idx[:, h]], w.ctx[idx[:, h]]).obs
        pred = model.render(zz).numpy()
        real = w.frames[w.cur[idx[:, -1]] + 1].numpy()
        last = w.frames[w.cur[starts]].numpy()
        out[f"k{k}"] = {
            "windows": len(starts),
            "psnr": float(np.mean([psnr(p, r) for p, r in zip(pred, real, strict=True)])),
            "ssim": float(np.mean([ssim(p, r) for p, r in zip(pred, real, strict=True)])),
            "copy_psnr": float(np.mean([psnr(p, r) for p, r in zip(last, real, strict=True)])),
            "copy_ssim": float(np.mean([ssim(p, r) for p, r in zip(last, real, strict=True)])),
        }
    return out


def speed(task: str, model, n: int = 256) -> dict:
    from genenv.envs.pixels import PixelDreamVectorEnv
    from genenv.worlds.cameras import make_pixel_env

    out = {"num_envs": n, "threads": torch.get_num_threads()}
    for obs_type in ("latent", "pixels"):
        env = PixelDreamVectorEnv(task, model, n, obs_type=obs_type, validate_actions=False)
        env.reset_tensor(seed=0)
        lo, hi = env._low, env._high
        acts = [lo + (hi - lo) * torch.rand(n, lo.numel()) for _ in range(30)]
        env.step_tensor(acts[0])
        t0 = time.perf_counter()
        for a in acts:
            env.step_tensor(a)
        out[f"imagined_{obs_type}_steps_per_s"] = 30 * n / (time.perf_counter() - t0)
    envs = [make_pixel_env(task, model.config.image_size) for _ in range(8)]
    for i, e in enumerate(envs):
        e.reset(seed=i)
        e.render()
    t0, steps = time.perf_counter(), 0
    for _ in range(25):
        for e in envs:
            _, _, term, trunc, _ = e.step(e.action_space.sample())
            e.render()
            steps += 1
            if term or trunc:
                e.reset()
    out["real_render_steps_per_s"] = steps / (time.perf_counter() - t0)
    for e in envs:
        e.close()
    for obs_type in ("latent", "pixels"):
        out[f"ratio_{obs_type}"] = (
            out[f"imagined_{obs_type}_steps_per_s"] / out["real_render_steps_per_s"]
        )
    return out


def _goal(task: str, seed: int, size: int):
    from genenv.agents.goal import fingertip
    from genenv.worlds.cameras import make_pixel_env

    env = make_pixel_env(task, size)
    env.reset(seed=seed)
    env.action_space.seed(seed)
    for _ in range(int(np.random.default_rng(seed).integers(10, 41))):
        env.step(env.action_space.sample())
    frame, tip = env.render(), fingertip(env)
    env.close()
    return frame, tip


def planning(task: str, model, goals, cfg) -> dict:
    from genenv.agents.goal import plan_to_goal

    rows = {"planner": [], "random": []}
    closest = {"planner": [], "random": []}  # nearest the fingertip came, at any step
    secs = []
    for seed in goals:
        frame, tip = _goal(task, seed, model.config.image_size)
        for policy in rows:
            run = plan_to_goal(model, frame, 50, cfg, seed=seed, policy=policy)
            d = np.linalg.norm(run.fingertip[:, :2] - tip[:2], axis=1)  # (T+1,) every step
            rows[policy].append(float(d[-1]))
            closest[policy].append(float(d.min()))
            secs += run.plan_seconds
    out = {"goals": len(rows["planner"]), "goal_seeds": f"{goals[0]}-{goals[-1]}"}
    out |= {"threshold_m": 0.05, "seconds_per_plan": np.mean(secs)}
    out["planner"] = {k: getattr(cfg, k) for k in ("method", "horizon", "num_samples")}
    out["planner"] |= {k: getattr(cfg, k) for k in ("num_iterations", "num_elites")}
    for policy, d in rows.items():
        out |= _goal_stats(policy, d, closest[policy])
    return out


def _goal_stats(name: str, final: list[float], closest: list[float]) -> dict:
    """Success (final fingertip distance < 0.05 m), mean final distance and the share of goals
    reached at some step, over goals, keyed by `name`."""
    return {
        f"{name}_success": float(np.mean(np.asarray(final) < 0.05)),
        f"{name}_final_distance_mean": float(np.mean(final)),
        f"{name}_reached_at_some_step": float(np.mean(np.asarray(closest) < 0.05)),
    }


class _SimulatorGoalWorld:
    """Reacher's real physics as the planner's model: rows of (qpos, qvel), reward minus the
    squared distance of the fingertip to `goal_tip` (x, y). The planner's ceiling: what CEM with
    the same settings makes of a perfect model."""

    def __init__(self, env, goal_tip: np.ndarray):
        import mujoco

        self._mj = mujoco
        self.m, self.fs = env.unwrapped.model, env.unwrapped.frame_skip
        self.d, self.nq = mujoco.MjData(self.m), self.m.nq
        self.tip, self.goal_tip = self.m.body("fingertip").id, goal_tip[:2]
        self.task, self.obs_dim, self.ctx_dim = "Reacher", self.m.nq + self.m.nv, 0
        self.act_dim, self.device = self.m.nu, torch.device("cpu")
        self.action_low, self.action_high = torch.tensor([-1.0]), torch.tensor([1.0])

    def tip_of(self, qpos: np.ndarray) -> np.ndarray:
        self.d.qpos[:] = qpos
        self._mj.mj_kinematics(self.m, self.d)
        return self.d.xpos[self.tip][:2].copy()

    def step(self, obs, action, context, generator=None):
        from genenv.models.base import ModelStep

        rows, acts = obs.double().numpy(), action.numpy()
        nxt, rew = np.empty_like(rows), np.empty(len(rows))
        for k, (row, act) in enumerate(zip(rows, acts, strict=True)):
            self.d.qpos[:], self.d.qvel[:], self.d.ctrl[:] = row[: self.nq], row[self.nq :], act
            self._mj.mj_step(self.m, self.d, nstep=self.fs)
            nxt[k] = np.concatenate([self.d.qpos, self.d.qvel])
            self._mj.mj_kinematics(self.m, self.d)
            rew[k] = -np.sum((self.d.xpos[self.tip][:2] - self.goal_tip) ** 2)
        n = len(rows)
        return ModelStep(
            torch.tensor(nxt, dtype=torch.float32),
            torch.tensor(rew, dtype=torch.float32),
            torch.zeros(n, dtype=torch.bool),
            torch.zeros(n),
            torch.ones(n, dtype=torch.bool),
        )


def ceiling(task: str, model, workdir: Path, goals, cfg) -> dict:
    """What limits goal-image planning (Reacher): the planning part's goals and planner, with the
    real physics as the planner's model (_SimulatorGoalWorld) and the state it starts from (a)
    true, (b) read from the world's latent of the real frames by an MLP fit on
    --workdir/<Task>-data (arm angles from the pose, velocities from the whole z; 4 of every 5
    episodes, R² and angle error on the fifth), goal fingertip true, (c) as (b) with the goal's
    fingertip also read from the goal image. (a) is the planner's ceiling; (a) vs (b), (c): what
    the world's perception costs; (c) vs the planning part: what its dynamics cost."""
    from genenv.agents.goal import fingertip
    from genenv.agents.planner import Planner
    from genenv.data.pixels import load_pixel_transitions
    from genenv.models.latent_train import latent_transitions
    from genenv.worlds.cameras import make_pixel_env

    px = load_pixel_transitions(workdir / f"{task}-data")
    with torch.no_grad():
        z = torch.as_tensor(latent_transitions(model, px).obs)  # (N, D) as the planner reads frames
    s = torch.as_tensor(px.transitions.obs, dtype=torch.float32)[:, [0, 1, 2, 3, 6, 7]]
    episodes = px.transitions.episode_ids  # s: cos q1, cos q2, sin q1, sin q2, q1', q2'
    held = np.isin(episodes, np.unique(episodes)[4::5])  # every fifth episode
    read_angles, r2_angles = _mlp_readout(model.pose(z), s[:, :4], held)
    read_full, r2_full = _mlp_readout(z, s, held)

    def angles(v: np.ndarray) -> np.ndarray:  # (..., 4) cos/sin -> (..., 2) radians
        return np.arctan2(v[..., 2:4], v[..., 0:2])

    err = angles(read_angles(model.pose(z[torch.as_tensor(held)]).numpy())) - angles(
        s[held].numpy()
    )
    err = (err + np.pi) % (2 * np.pi) - np.pi  # (n, 2) wrapped
    out = {"readout_r2_angles_held": r2_angles, "readout_r2_velocities_held": r2_full[4:]}
    out["readout_angle_error_rad_median"] = np.median(np.abs(err), 0).round(4).tolist()
    size, dev = model.config.image_size, model.device
    for variant in ("true_state", "read_state", "read_state_and_goal"):
        final, closest = [], []
        for seed in goals:
            goal_frame, goal_tip = _goal(task, seed, size)
            env = make_pixel_env(task, size)
            env.reset(seed=seed)
            world = _SimulatorGoalWorld(env, goal_tip)
            if variant == "read_state_and_goal":
                with torch.no_grad():
                    gz = model.pose(
                        model.encode(torch.as_tensor(np.array(goal_frame[None]), device=dev))
                    )
                q = env.unwrapped.data.qpos.copy()
                q[:2] = angles(read_angles(gz.cpu().numpy()))[0]
                world.goal_tip = world.tip_of(q)
            planner = Planner(world, cfg)
            data, nq = env.unwrapped.data, world.nq
            reads = variant != "true_state"  # (frames are rendered only when read)
            prev = frame = env.render() if reads else None
            last, dist = np.zeros(world.act_dim, np.float32), []
            for t in range(50):
                state = np.concatenate([data.qpos, data.qvel]).astype(np.float32)
                if reads:
                    stack = torch.as_tensor(np.stack([prev, frame])[None], device=dev)
                    with torch.no_grad():
                        zt = model.encode(stack, last[None])  # (1, D)
                    state[:2] = angles(read_angles(model.pose(zt).cpu().numpy()))[0]
                    state[nq : nq + 2] = read_full(zt.cpu().numpy())[0, 4:]
                action = planner.predict(state, episode_start=np.array([t == 0]))[0]
                last = np.clip(np.asarray(action, np.float32), -1.0, 1.0)
                env.step(last)
                if reads:
                    prev, frame = frame, env.render()
                dist.append(float(np.linalg.norm(fingertip(env)[:2] - goal_tip[:2])))
            env.close()
            final.append(dist[-1])
            closest.append(min(dist))
        out |= _goal_stats(variant, final, closest)
    out["goals"], out["goal_seeds"] = len(goals), f"{goals[0]}-{goals[-1]}"
    return out


class _ZeroAction:
    """The do-nothing policy: what an agent that learned nothing but "do not move" gets."""

    def __init__(self, space):
        self.action = np.zeros(space.shape, np.float32)

    def predict(self, obs, deterministic=True):
        return self.action, None


def _ppo(venv, timesteps: int):
    from stable_baselines3 import PPO

    agent = PPO("MlpPolicy", venv, seed=AGENT_SEED, verbose=0, device="cpu")
    t0 = time.perf_counter()
    agent.learn(timesteps)
    return agent, time.perf_counter() - t0


def _returns(returns: list[float]) -> dict:
    return {
        "real_return_mean": float(np.mean(returns)),
        "real_return_std": float(np.std(returns)),
        "episodes": len(returns),
    }


def agents(task: str, model, timesteps: int, state_world: Path | None = None) -> dict:
    from genenv.agents.pixel_eval import evaluate_pixel_policy
    from genenv.envs.pixels import PixelDreamVectorEnv
    from genenv.envs.sb3 import DreamSB3VecEnv

    episodes = AGENT_EPISODES[task]
    agent, train_s = _ppo(DreamSB3VecEnv(PixelDreamVectorEnv(task, model, 16)), timesteps)
    returns = evaluate_pixel_policy(model, agent, episodes=episodes, seed=AGENT_SEED)
    data = json.loads((Path(model._ckpt) / "metadata.json").read_text())
    out = {"imagined_steps": timesteps, "steps_taken": agent.num_timesteps, "train_s": train_s}
    out.update(_returns(returns))
    out["world_data_path"] = data.get("data_path")
    if state_world is None:
        return out
    from genenv.transfer import run_real_episodes
    from genenv.worlds.spec import WorldSpec

    venv = DreamSB3VecEnv(task=task, world=str(state_world), num_envs=16)
    agent, train_s = _ppo(venv, timesteps)
    returns, _, _ = run_real_episodes(agent, WorldSpec(task), episodes, seed=AGENT_SEED)
    meta = json.loads((state_world / "metadata.json").read_text())
    zero, _, _ = run_real_episodes(
        _ZeroAction(venv.action_space), WorldSpec(task), episodes, seed=AGENT_SEED
    )
    out["state_dream"] = {"imagined_steps": timesteps, "steps_taken": agent.num_timesteps}
    out["state_dream"].update(train_s=train_s, **_returns(returns))
    out["state_dream"]["zero_action_return_mean"] = float(np.mean(zero))
    out["state_dream"]["world_data_path"] = meta.get("data_path")
    return out


def pixel_loop(task: str, workdir: Path, args) -> dict:
    """`genenv run --world-kind latent` within the frame budget (resumed if its folder holds the
    same run); its final agent is tested on the agents part's real episodes."""
    from genenv.agents.pixel_eval import evaluate_pixel_policy
    from genenv.agents.sb3 import load_policy
    from genenv.loop import LoopConfig, read_config, run_loop
    from genenv.models.checkpoint import load_checkpoint

    out = workdir / f"{task}-loop"
    config = LoopConfig(
        task=task,
        world_kind="latent",
        real_steps=args.loop_frames,
        initial_steps=args.loop_initial,
        steps_per_iteration=args.loop_per_iteration,
        latent_steps=args.loop_latent_steps,
        latent_refit_steps=args.loop_refit_steps,
        latent_dim=args.loop_latent_dim,
        latent_dynamics_steps=args.loop_dynamics_steps,
        latent_refit=args.loop_refit,
        latent_var_coef=args.loop_var_coef,
        pixel_size=args.loop_pixel_size,
        recipe=args.loop_recipe,
        eval_every=50_000,
        seed=args.loop_seed,
        video=False,
    )
    resume = (out / "state.json").is_file()
    if resume and read_config(out / "config.yaml") != config:
        raise SystemExit(f"{out} holds another run's config; move it away or use its flags")
    summary = run_loop(out, config, resume=resume)
    model, agent = load_checkpoint(out / "world"), load_policy(out / "agent")
    returns = evaluate_pixel_policy(model, agent, episodes=AGENT_EPISODES[task], seed=AGENT_SEED)
    keys = ("real_env_steps", "eval_real_env_steps", "imagined_env_steps", "iterations")
    res = {k: summary[k] for k in keys} | {"loop": {k: getattr(config, k) for k in (
        "real_steps", "initial_steps", "steps_per_iteration", "latent_steps",
        "latent_refit_steps", "latent_dim", "latent_dynamics_steps", "latent_refit", "pixel_size",
        "latent_var_coef", "recipe", "seed")}}  # fmt: skip
    hyperparams = yaml.safe_load((out / "config.yaml").read_text())["recipe"]["hyperparams"]
    if "real_ratio" in hyperparams:  # as the recipe resolved for this run (MBPO)
        res["loop"]["real_ratio"] = hyperparams["real_ratio"]
    res["transfer"] = [
        [r["iteration"], r["real_env_steps"], r["imagined_steps"], r["real_return"],
         r["imagined_return"]]
        for r in summary["transfer"]
    ]  # fmt: skip
    res["transfer_columns"] = ["iteration", "real frames", "imagined steps", "real", "imagined"]
    return res | _returns(returns)


def _lqr_gain(task: str, q=(1.0, 10.0, 0.1, 0.1), r: float = 1.0) -> np.ndarray:
    """(act_dim, state_dim) gain K of the discrete LQR a = -K s for the real env's dynamics
    linearised (central differences) at the upright rest state, solved by Riccati iteration."""
    from genenv.worlds.spec import WorldSpec

    env = WorldSpec(task).make_env()
    env.reset(seed=0)
    raw, nq = env.unwrapped, env.unwrapped.model.nq

    def step(s: np.ndarray, a: np.ndarray) -> np.ndarray:
        raw.set_state(s[:nq].copy(), s[nq:].copy())
        raw.do_simulation(a, raw.frame_skip)
        return np.concatenate([raw.data.qpos, raw.data.qvel])

    n, m, eps = 2 * nq, raw.model.nu, 1e-4
    zs, za = np.zeros(n), np.zeros(m)
    A = np.stack(
        [(step(zs + eps * e, za) - step(zs - eps * e, za)) / (2 * eps) for e in np.eye(n)], 1
    )
    B = np.stack([(step(zs, eps * e) - step(zs, -eps * e)) / (2 * eps) for e in np.eye(m)], 1)
    env.close()
    Q, R, P = np.diag(q), r * np.eye(m), np.diag(q)
    for _ in range(5000):  # P <- Q + A'PA - A'PB (R + B'PB)^-1 B'PA, to its fixed point
        K = np.linalg.solve(R + B.T @ P @ B, B.T @ P @ A)
        P = Q + A.T @ P @ (A - B @ K)
    return K


class _Regulator:
    """SB3-style policy: a = clip(-K read(obs)), where `read` maps what the policy observes (a
    latent, or the true state) to a state estimate."""

    def __init__(self, gain: np.ndarray, read, low: float, high: float):
        self.gain, self.read, self.low, self.high = gain, read, low, high

    def predict(self, obs, deterministic=True):
        s = np.asarray(self.read(np.asarray(obs, np.float32)), np.float64)
        return np.clip(-self.gain @ s, self.low, self.high).astype(np.float32), None


def _r2(pred: torch.Tensor, true: torch.Tensor) -> list[float]:
    """R² of (n, k) predictions per column."""
    r2 = 1 - ((pred - true) ** 2).mean(0) / true.var(0)
    return [round(float(v), 4) for v in r2]


def _mlp_readout(z: torch.Tensor, s: torch.Tensor, held: np.ndarray, steps: int = 4000):
    """An MLP z -> state fit on the rows not `held`; returns (read(z) -> state, R² per state
    dimension on the held rows)."""
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    fit = torch.as_tensor(~held)
    zm, zs, sm, ss = z[fit].mean(0), z[fit].std(0) + 1e-6, s[fit].mean(0), s[fit].std(0) + 1e-6
    net = torch.nn.Sequential(
        torch.nn.Linear(z.shape[1], 256), torch.nn.SiLU(), torch.nn.Linear(256, 256),
        torch.nn.SiLU(), torch.nn.Linear(256, s.shape[1]),
    )  # fmt: skip
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    zf, sf = (z[fit] - zm) / zs, (s[fit] - sm) / ss
    for _ in range(steps):
        i = torch.randint(len(zf), (256,), generator=gen)
        loss = ((net(zf[i]) - sf[i]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        r2 = _r2(net((z[~fit] - zm) / zs) * ss + sm, s[~fit])

    @torch.no_grad()
    def read(latent: np.ndarray) -> np.ndarray:
        return (net((torch.as_tensor(latent) - zm) / zs) * ss + sm).numpy()

    return read, r2


def perception(task: str, workdir: Path) -> dict:
    """The loop part's final world read by a regulator that knows the real dynamics (module
    docstring): true state vs the world's linear probe vs an MLP read-out of its latent."""
    from genenv.agents.pixel_eval import evaluate_pixel_policy
    from genenv.agents.planner import Planner, PlannerConfig
    from genenv.data.pixels import load_pixel_transitions
    from genenv.models.checkpoint import load_checkpoint
    from genenv.models.latent_train import collapse_warning, latent_health, latent_transitions
    from genenv.transfer import run_real_episodes
    from genenv.worlds.spec import WorldSpec

    run = workdir / f"{task}-loop"
    model, px = load_checkpoint(run / "world"), load_pixel_transitions(run / "data")
    z = torch.as_tensor(latent_transitions(model, px).obs)  # (N, D) as the agent reads frames
    s = torch.as_tensor(px.transitions.obs, dtype=torch.float32)  # (N, state_dim) true states
    episodes = px.transitions.episode_ids
    held = np.isin(episodes, np.unique(episodes)[4::5])  # every fifth episode
    mlp, mlp_r2 = _mlp_readout(z, s, held)
    with torch.no_grad():
        probe_r2 = _r2(model.probe_state(z[torch.as_tensor(held)]), s[held])
    gain = _lqr_gain(task)
    low, high = float(model.action_low.min()), float(model.action_high.max())
    spec, n = WorldSpec(task), AGENT_EPISODES[task]

    def probe_read(latent: np.ndarray) -> np.ndarray:
        return model.probe_state(torch.as_tensor(latent[None], device=model.device))[0].numpy()

    out = {"frames": len(s), "held_out_rows": int(held.sum()), "lqr_gain": gain.round(3).tolist()}
    out["r2_columns"] = "per true-state dimension (InvertedPendulum: x, angle, x', angle')"
    out["probe_r2_held"] = probe_r2
    # the world's collapse measures (a probe reads the state even from a collapsed latent)
    health = latent_health(model, px)
    out["latent_std_min"] = health["collapse/latent_std_min"]
    out["one_step_latent_rel_mse"] = health["eval/one_step_latent_rel_mse"]
    out["collapsed"] = collapse_warning(health) is not None
    out["mlp_r2_held"] = mlp_r2
    truth = _Regulator(gain, lambda x: x, low, high)
    returns = run_real_episodes(truth, spec, n, AGENT_SEED)[0]
    out["lqr_true_state"] = _returns(returns) | {"returns": [round(r, 1) for r in returns]}
    for name, read in (("lqr_probe", probe_read), ("lqr_mlp_readout", mlp)):
        returns = evaluate_pixel_policy(model, _Regulator(gain, read, low, high), n, AGENT_SEED)
        out[name] = _returns(returns) | {"returns": [round(r, 1) for r in returns]}
    steps = _dream_regulator_steps(model, _Regulator(gain, mlp, low, high), spec, n)
    out["lqr_mlp_readout_in_dream"] = {"steps_mean": float(np.mean(steps)), "steps": steps}
    planner = Planner(_ReadoutCostWorld(model, mlp), PlannerConfig(horizon=15, num_samples=256))
    returns = evaluate_pixel_policy(model, planner, n, AGENT_SEED)  # Planner.predict is SB3's
    out["mpc_dream_readout_cost"] = _returns(returns) | {"returns": [round(r, 1) for r in returns]}
    return out


@torch.no_grad()
def _dream_regulator_steps(model, regulator, spec, episodes: int, limit: int = 1000) -> list[int]:
    """Steps until the world's own dream terminates (at most `limit`) when `regulator` drives it
    closed loop on its predicted latents (the predictors' mean), from the latents of the first
    real frames of the agents part's episodes: does the dream keep up a pole that the same
    regulator keeps up in the real env?"""
    from genenv.worlds.cameras import make_pixel_env

    env = make_pixel_env(spec, model.config.image_size)
    ctx = torch.tensor([spec.context.as_tuple()], dtype=torch.float32, device=model.device)
    out = []
    try:
        for ep in range(episodes):
            env.reset(seed=AGENT_SEED + ep)
            z = model.encode(torch.as_tensor(env.render().copy()[None], device=model.device))
            t = 0
            while t < limit:
                action = regulator.predict(z[0].cpu().numpy())[0]
                step = model.step(z, torch.as_tensor(action[None], device=model.device), ctx)
                z, t = step.obs, t + 1
                if bool(step.terminated[0]):
                    break
            out.append(t)
    finally:
        env.close()
    return out


class _ReadoutCostWorld:
    """A latent world whose reward is -(angle² + 0.1 x²) of the read-out `read` of its predicted
    latents, never terminating: the world's dynamics with a dense cost, for the perception part."""

    def __init__(self, model, read):
        self.model, self.read = model, read
        for k in ("task", "obs_dim", "act_dim", "ctx_dim", "action_low", "action_high", "device"):
            setattr(self, k, getattr(model, k))

    def step(self, obs, action, context, generator=None):
        out = self.model.step(obs, action, context, generator)
        state = torch.as_tensor(self.read(out.obs.cpu().numpy()), device=obs.device)  # (n, 4)
        reward = -(state[:, 1] ** 2) - 0.1 * state[:, 0] ** 2
        return out._replace(reward=reward, terminated=torch.zeros_like(out.terminated))


def cost(model) -> dict:
    meta = json.loads((Path(model._ckpt) / "metadata.json").read_text())
    t = meta["training"]
    return {
        "time_s": t["time_s"],
        "grad_steps": t["grad_steps"],
        "stopped": t["stopped"],
        "world_size": t["world_size"],
        "batch_size": t["config"]["batch_size"],
        "val": {
            k: meta["validation"].get(k)
            for k in (
                "collapse/probe_r2",
                "collapse/effective_rank",
                "collapse/latent_std_min",
                "eval/decoded_psnr",
            )
        },
    }


def to_markdown(res: dict) -> str:
    lines = ["# Pixel worlds (benchmarks/pixel_world.py)", ""]
    for task, parts in res["tasks"].items():
        lines += [f"## {task}", ""]
        lines += [f"- {k}: {v}" for k, v in res["headers"].get(task, {}).items()]
        lines.append("")
        for part, value in parts.items():
            lines.append(f"### {part}")
            lines.append("```")
            lines.append(json.dumps(value, indent=1, default=float))
            lines.append("```")
    lines.append("## Goals")
    lines += [f"- {g}" for g in res.get("goals", [])]
    return "\n".join(lines) + "\n"


def _in_dream(q: dict) -> str:
    """The perception line's note on the regulator (c) run in the dream, where measured."""
    d = q.get("lqr_mlp_readout_in_dream")
    return "" if d is None else f" (the same regulator in the dream: {d['steps_mean']:.0f} steps)"


def _collapse_note(q: dict) -> str:
    """The perception line's note on the world's collapse measures, where measured (since
    2026-12-07)."""
    if "latent_std_min" not in q:
        return ""
    note = f"; smallest latent std {q['latent_std_min']:.2g}, one-step error "
    note += f"{q['one_step_latent_rel_mse']:.2g}x the latents' variance"
    return note + (": COLLAPSED" if q["collapsed"] else "")


def _loop_setting(loop: dict) -> str:
    """The loop part's recipe, MBPO real_ratio, refit mode, frame size and variance weight (older
    rows: all, 64, 1)."""
    out = loop.get("recipe", "ppo")
    if "real_ratio" in loop:
        out += f", real_ratio {loop['real_ratio']}"
    if loop.get("latent_refit", "all") != "all":
        out += f", --latent-refit {loop['latent_refit']}"
    if loop.get("pixel_size", 64) != 64:
        out += f", --pixel-size {loop['pixel_size']}"
    if loop.get("latent_var_coef", 1.0) != 1.0:
        out += f", --latent-var-coef {loop['latent_var_coef']:g}"
    return out


def _loop_over_seeds(res: dict) -> list[str]:
    """One line per InvertedPendulum loop setting (`_loop_setting`): the final real return of
    every reported seed (from 102; 100 and 101 tuned, and `SETTING_TUNING_SEEDS` chose some
    settings) as mean +- std over seeds, against the goal."""
    by_recipe: dict[str, dict[int, float]] = {}
    for label, parts in res["tasks"].items():
        loop = parts.get("loop")
        if not label.startswith("InvertedPendulum") or loop is None:
            continue
        seed = loop["loop"].get("seed", LOOP_SEED)
        if seed > 101:  # 100 and 101 tuned the settings
            by_recipe.setdefault(_loop_setting(loop["loop"]), {})[seed] = loop["real_return_mean"]
    out = []
    for recipe, finals in sorted(by_recipe.items()):
        tuned = {k: v for k, v in finals.items() if k in SETTING_TUNING_SEEDS.get(recipe, ())}
        seeds = sorted(set(finals) - set(tuned))
        values = [finals[k] for k in seeds]
        line = f"InvertedPendulum pixel loop (--recipe {recipe}) over {len(seeds)} seed(s)"
        if values:
            line += (
                f" ({', '.join(map(str, seeds))}): final real return {np.mean(values):.0f} +- "
                f"{np.std(values):.0f} (per seed {', '.join(f'{v:.0f}' for v in values)}); goal "
                f"1000 from <= 5k frames: {'MET' if min(values) >= 1000 else 'NOT MET'}"
            )
        if tuned:
            line += "; not counted, the seeds that chose this setting: " + ", ".join(
                f"{k}: {tuned[k]:.0f}" for k in sorted(tuned)
            )
        out.append(line)
    return out


def goal_lines(res: dict) -> list[str]:
    out = []
    for label, r in res["tasks"].items():
        if not label.startswith("Reacher") or "planning" not in r:
            continue
        p = r["planning"]
        met = p["planner_success"] >= 0.9 and p["seconds_per_plan"] <= 5
        out.append(
            f"{label} goal-image planning >= 0.9 success at <= 5 s/plan: "
            f"{'MET' if met else 'NOT MET'} ({p['planner_success']:.2f} success, random "
            f"{p['random_success']:.2f}, {p['seconds_per_plan']:.3f} s/plan, {p['goals']} goals)"
        )
    # worlds trained alike on report seeds (labels "... fresh world seed N"): mean +- std over them
    fresh = {
        label.rsplit(" ", 1)[-1].rstrip(")"): r["planning"]["planner_success"]
        for label, r in res["tasks"].items()
        if "fresh world seed" in label and "planning" in r
    }
    if fresh:
        v = list(fresh.values())
        out.append(
            f"Reacher goal-image planning over fresh world seeds (report seeds, {len(v)} worlds): "
            f"{'MET' if np.mean(v) >= 0.9 else 'NOT MET'} ({np.mean(v):.2f} +- {np.std(v):.2f}; "
            + ", ".join(f"seed {k}: {x:.2f}" for k, x in sorted(fresh.items()))
            + ")"
        )
    out += _loop_over_seeds(res)
    for task, parts in res["tasks"].items():
        if "speed" in parts:
            s = parts["speed"]
            ok = min(s["ratio_latent"], s["ratio_pixels"]) >= 100
            out.append(
                f"{task} speed >= 100x real with rendering: {'MET' if ok else 'NOT MET'} "
                f"(latent {s['ratio_latent']:.0f}x, pixels {s['ratio_pixels']:.0f}x)"
            )
        if "agents" in parts and "state_dream" in parts["agents"]:
            a, b = parts["agents"], parts["agents"]["state_dream"]
            p, q = a["real_return_mean"], b["real_return_mean"]
            gap = (q - p) / max(abs(q), 1e-9)  # how far the pixel agent is below the state agent
            side = f"{gap:.0%} below" if gap >= 0 else f"{-gap:.0%} above"
            out.append(
                f"{task} pixel agent within 10% of the state-based dream's real return: "
                f"{'MET' if gap <= 0.1 else 'NOT MET'} (pixel {p:.2f} +- {a['real_return_std']:.2f}"
                f" vs state {q:.2f} +- {b['real_return_std']:.2f}, pixel/state {p / q:.2f}, "
                f"{side}; zero action {b['zero_action_return_mean']:.2f}; "
                f"{a['imagined_steps']} imagined steps each, {a['episodes']} real episodes)"
            )
        if "agents" in parts and task == "InvertedPendulum":
            a = parts["agents"]
            ok = a["real_return_mean"] >= 1000
            out.append(
                f"InvertedPendulum pixel agent real return 1000 from <= 5k real frames: "
                f"{'MET' if ok else 'NOT MET'} ({a['real_return_mean']:.0f} +- "
                f"{a['real_return_std']:.0f})"
            )
        if "loop" in parts and task.startswith("InvertedPendulum"):
            a = parts["loop"]
            ok = a["real_return_mean"] >= 1000 and a["real_env_steps"] <= 5000
            recipe = _loop_setting(a["loop"])
            out.append(
                f"{task} pixel agent (genenv run --world-kind latent --recipe {recipe}) real return "
                f"1000 from <= 5k real frames: {'MET' if ok else 'NOT MET'} "
                f"({a['real_return_mean']:.0f} +- {a['real_return_std']:.0f} after "
                f"{a['real_env_steps']} frames)"
            )
        if "perception" in parts:
            q = parts["perception"]
            out.append(
                f"{task} (not a goal; real return of a regulator that knows the real dynamics): "
                f"true state {q['lqr_true_state']['real_return_mean']:.0f}, the world's probe "
                f"{q['lqr_probe']['real_return_mean']:.0f}, an MLP read-out of its latent "
                f"{q['lqr_mlp_readout']['real_return_mean']:.0f}{_in_dream(q)}; and CEM in the "
                f"world's own dream, scored on that read-out: "
                f"{q['mpc_dream_readout_cost']['real_return_mean']:.0f} (angle R² probe "
                f"{q['probe_r2_held'][1]:.2f}, MLP {q['mlp_r2_held'][1]:.2f}{_collapse_note(q)})"
            )
        if "cost" in parts:
            c = parts["cost"]
            out.append(f"{task} training cost: {c['time_s']:.0f} s, {c['grad_steps']} steps")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workdir", type=Path, required=True, help="holds <Task>-world checkpoints")
    p.add_argument("--tasks", default="Reacher,InvertedPendulum", help="comma-separated tasks")
    p.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated: {PARTS}")
    p.add_argument("--goals", type=int, default=50, help="held-out planning goals")
    p.add_argument(
        "--goal-seed-start",
        type=int,
        default=GOAL_SEEDS[0],
        help=f"first goal seed (held-out: {GOAL_SEEDS[0]}; tune planners elsewhere, e.g. 2000)",
    )
    p.add_argument("--plan-method", default="cem", choices=("cem", "mppi"), help="planner")
    p.add_argument("--plan-horizon", type=int, default=8, help="planned steps")
    p.add_argument("--plan-samples", type=int, default=128, help="candidates per iteration")
    p.add_argument("--plan-iterations", type=int, default=2, help="refits per real step")
    p.add_argument("--plan-elites", type=int, default=16, help="CEM elites")
    p.add_argument("--agent-steps", type=int, default=100_000, help="imagined PPO steps")
    p.add_argument("--loop-frames", type=int, default=5000, help="loop part: real frames")
    p.add_argument("--loop-initial", type=int, default=2000, help="loop part: random frames")
    p.add_argument("--loop-per-iteration", type=int, default=750, help="loop: agent frames/iter")
    p.add_argument("--loop-latent-steps", type=int, default=2000, help="loop: first fit steps")
    p.add_argument("--loop-refit-steps", type=int, default=750, help="loop: refit steps")
    p.add_argument("--loop-latent-dim", type=int, default=None, help="loop: size of z")
    p.add_argument(
        "--loop-dynamics-steps", type=int, default=500, help="loop: dynamics-phase steps per fit"
    )
    p.add_argument(
        "--loop-refit",
        default="all",
        choices=LATENT_REFITS,
        help="loop: what a refit trains (all, or dynamics on the first fit's encoder)",
    )
    p.add_argument(
        "--loop-pixel-size", type=int, default=64, choices=(64, 128), help="loop: frame size"
    )
    p.add_argument(
        "--loop-var-coef", type=float, default=1.0, help="loop: VICReg variance term weight"
    )
    p.add_argument("--loop-recipe", default="ppo", help="loop: agent recipe (ppo | sac | mbpo)")
    p.add_argument(
        "--loop-seed",
        type=int,
        default=LOOP_SEED,
        help="loop: seed (100 and 101 tune, 102 on report)",
    )
    p.add_argument(
        "--label",
        default=None,
        help="table entry to write (default: the task), e.g. 'Reacher (random-holds data)' for "
        "a second world of one task (one task per invocation then)",
    )
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--note", default="", help="what was cut, added to the header")
    p.add_argument("--results", type=Path, default=RESULTS, help="folder of the tables")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    from genenv.agents.planner import PlannerConfig
    from genenv.models.checkpoint import load_checkpoint

    plan_cfg = PlannerConfig(
        method=args.plan_method,
        horizon=args.plan_horizon,
        num_samples=args.plan_samples,
        num_iterations=args.plan_iterations,
        num_elites=args.plan_elites,
    )
    goal_seeds = list(range(args.goal_seed_start, args.goal_seed_start + args.goals))

    out_json, out_md = args.results / OUT_JSON.name, args.results / OUT_MD.name
    git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    header = {
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "machine": machine_line(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "git": git.stdout.strip(),
        "cut": args.note,
    }
    parts = [s for s in args.parts.split(",") if s]
    if args.label is not None and "," in args.tasks:
        p.error("--label names one table entry: give one task")
    for task in args.tasks.split(","):
        ckpt, model = args.workdir / f"{task}-world", None
        if set(parts) - {"loop", "perception"}:  # (these read the loop part's own world)
            model = load_checkpoint(ckpt)
            model._ckpt = str(ckpt)
        for part in parts:
            if part in ("planning", "ceiling") and task != "Reacher":
                continue
            if part == "perception" and task != "InvertedPendulum":
                continue
            if part in ("agents", "loop") and task not in AGENT_EPISODES:
                continue
            t0 = time.perf_counter()
            grad = part in ("agents", "loop", "perception", "ceiling")  # (MLP fits)
            with torch.enable_grad() if grad else torch.no_grad():
                if part == "quality":
                    value = quality(task, model, args.workdir)
                elif part == "speed":
                    value = speed(task, model)
                elif part == "planning":
                    value = planning(task, model, goal_seeds, plan_cfg)
                elif part == "ceiling":
                    value = ceiling(task, model, args.workdir, goal_seeds, plan_cfg)
                elif part == "loop":
                    value = pixel_loop(task, args.workdir, args)
                elif part == "perception":
                    value = perception(task, args.workdir)
                elif part == "agents":
                    state = args.workdir / f"{task}-state-world" if task == "Reacher" else None
                    value = agents(task, model, args.agent_steps, state)
                else:
                    value = cost(model)
            value["part_wall_s"] = round(time.perf_counter() - t0, 1)
            value["ran"] = f"{header['date']} at {header['git']}: {header['command']}"
            _merge(out_json, out_md, args.label or task, part, value, header)
            print(f"{task} {part}: {json.dumps(value, default=float)}", flush=True)


def _merge(out_json: Path, out_md: Path, task: str, part: str, value: dict, header: dict) -> None:
    """Write one part's result into the tables on disk under a file lock: invocations running side
    by side (one part each, one per core) each add theirs and lose none."""
    out_json.parent.mkdir(parents=True, exist_ok=True)
    with open(Path(tempfile.gettempdir()) / "genenv-pixel_world.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        res = json.loads(out_json.read_text()) if out_json.exists() else {"tasks": {}}
        headers = res.setdefault("headers", {})
        if "header" in res:  # a table written before per-task headers: its other tasks keep it
            old = res.pop("header")
            headers.update({t: old for t in res["tasks"] if t not in headers})
        headers[task] = header  # the latest run's; every part names its own command in "ran"
        res["tasks"].setdefault(task, {})[part] = value
        res["goals"] = goal_lines(res)
        out_json.write_text(json.dumps(res, indent=1, default=float))
        out_md.write_text(to_markdown(res))


if __name__ == "__main__":
    main()
