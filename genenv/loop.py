"""`genenv run`: collect real data, train a world model, train an agent in imagination, test it
in the real world, collect more real data with the agent, refine the model, and again, until the
real-step budget is spent.

Real steps are counted exactly and apart: `real_env_steps` are steps whose data trains the world
model (they are the transitions in the run's dataset, so an interrupted collection can never make
the count drift), `eval_real_env_steps` are steps spent only on transfer tests.
`imagined_env_steps` are the dream steps the agent actually took (its own step counter, read
before and after each `learn`: SB3 rounds a request up to whole rollouts, so the request is not
the count).

The agent comes from the recipe (`--recipe ppo | sac | mbpo | PATH`, see `agents/`): SB3 PPO/SAC
train through the VecEnv adapter; genenv's on-device agents (`OnDevicePPO`, `MBPO`) take the
dream env itself. An agent with `observe_real(transitions)` (MBPO) is handed the run's real
dataset after every world-model fit: it mixes real transitions into its batches and sets its
branched-rollout length from the real-step count.

Pixel worlds (`--world-kind latent`): the data holds the task camera's frames beside the states,
the world is a latent model (`genenv.models.latent`, first fit `latent_steps`, then each refit
warm-started from the previous model for `latent_refit_steps`), the dream observes latents, and
in the real env (collection, transfer tests, the video) the agent reads the encoding of the last
two real frames (`genenv.transfer.LatentAgentPolicy`). MBPO's real share is the dataset encoded
by the current world (`latent_transitions`, redone after every refit). Known reward/termination
need real states and are refused; world schedules are for state worlds only, for now.

World schedules (`--worlds curricula/X.yaml --schedule fixed|uniform|plr|accel`): a curriculum
spec turns the loop's dream into a schedule of worlds (`genenv.curricula.schedule`): each dream
env slot plays the world the schedule picks per episode, real data is collected over the spec's
context ranges, transfer tests run in the default world and the top-scoring levels, and the run
ends with a real evaluation on the spec's held-out worlds (summary["eval"]). `genenv curriculum`
is this same loop with the spec's budget. Without --worlds the schedule is the fixed world.

Interface other components build on:
- `LoopConfig`: every knob of a run (written resolved to RUN_DIR/config.yaml; in
  `genenv.loop_config`, with `LoopState`, re-exported here).
- `Run`: one run folder; its phases are `collect`, `train_world`, `transfer_test`; `summary()` is
  what RUN_DIR/summary.json holds (keys documented in `Run.summary`).
- `run_loop(out, config, resume)`: the orchestration. The `genenv run` command line is
  `genenv.run_cli`.
"""

from __future__ import annotations

import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import yaml

from genenv.loop_config import (
    LoopConfig,
    LoopState,
    _write_json,
    _write_text,
    read_config,
    read_state,
)
from genenv.worlds.tasks import get_task

__all__ = [
    "LoopConfig",
    "LoopState",
    "Run",
    "load_schedule",
    "read_config",
    "read_state",
    "run_loop",
]


class Run:
    """One run folder: config, data, world model, agent, TensorBoard events, summary."""

    def __init__(self, out: Path, config: LoopConfig, state: LoopState | None = None):
        self.out, self.config = out, config
        self.state = state or LoopState()
        self.spec = config.spec()
        self.recipe = None  # resolved lazily (needs the algo registry)
        self.schedule = None  # a WorldSchedule when the dream follows one
        for sub in ("data", "world", "agent", "videos", "tb"):
            (out / sub).mkdir(parents=True, exist_ok=True)
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(out / "tb"))

    # -- bookkeeping ---------------------------------------------------------------------------
    @property
    def data_dir(self) -> Path:
        return self.out / "data"

    def real_env_steps(self) -> int:
        """Training real steps so far: exactly the transitions stored in the run's dataset."""
        from genenv.data import count_steps

        return count_steps(self.data_dir) if (self.data_dir / "metadata.json").is_file() else 0

    def save_state(self) -> None:
        if self.schedule is not None:
            self.schedule.save(self.out)
        _write_json(self.out / "state.json", asdict(self.state))
        _write_json(self.out / "summary.json", self.summary())

    def summary(self) -> dict[str, Any]:
        """RUN_DIR/summary.json: task, world_spec, recipe, algo, known_reward_termination,
        iterations, real_env_steps (training), eval_real_env_steps (transfer tests only),
        imagined_env_steps (as stepped), transfer (one row per test), final_real_return,
        final_imagined_return (of the last test in the run's own world), fidelity
        (`genenv.transfer.fidelity`), schedule (kind, episodes scored, buffer counts and top
        levels), eval (held-out real worlds: mean_return, p10_return, per world; None without
        any), done; `run_loop` adds wall_clock_s at the end."""
        from genenv.transfer import fidelity

        own = [r for r in self.state.transfer if r.get("world_index", 0) == 0]
        last = own[-1] if own else None
        schedule = {"kind": "fixed", "episodes_scored": None, "masked_share": None}
        if self.schedule is not None:
            schedule = self.schedule.summary()
        return {
            "task": self.config.task,
            "world_spec": self.spec.to_dict(),
            "recipe": str(self.config.recipe),
            "algo": None if self.recipe is None else self.recipe.algo,
            "known_reward_termination": self.known_reward_termination(),
            "iterations": self.state.iteration,
            "real_env_steps": self.real_env_steps(),
            "eval_real_env_steps": self.state.eval_real_env_steps,
            "imagined_env_steps": self.state.imagined_env_steps,
            "transfer": self.state.transfer,
            "final_real_return": None if last is None else last["real_return"],
            "final_imagined_return": None if last is None else last["imagined_return"],
            "fidelity": fidelity(self.state.transfer),  # transfer ratios, Spearman, Pearson
            "schedule": schedule,
            "eval": self.state.eval,
            "done": self.state.done,
        }

    # -- phases ----------------------------------------------------------------------------------
    def collect(self, steps: int | None, policy=None, until_total: int | None = None) -> None:
        from genenv.data import collect, context_sampler

        seed = self.config.seed * 1000 + self.state.iteration
        source = self.spec
        if self.schedule is not None and self.schedule.kind != "fixed":
            source = context_sampler(self.spec, self.schedule.ranges())  # the worlds it schedules
        collect(
            source,
            steps,
            self.data_dir,
            policy=policy,
            seed=seed,
            progress=True,
            until_total=until_total,
            pixels=self.config.pixel_size if self.pixels else None,
        )

    @property
    def pixels(self) -> bool:
        """A pixel run: frames are collected and the world is a latent model."""
        return self.config.world_kind == "latent"

    def train_world(self, previous=None):
        from genenv.models.checkpoint import save_checkpoint

        if self.pixels:
            from genenv.data import load_pixel_transitions
            from genenv.models.latent import LatentConfig
            from genenv.models.latent_train import (
                LatentTrainConfig,
                collapse_warning,
                train_latent_model,
            )

            c = self.config
            steps, dynamics = c.latent_steps, c.latent_dynamics_steps
            if previous is not None and c.latent_refit == "dynamics":  # the encoder stays
                steps, dynamics = 0, c.latent_refit_steps
            elif previous is not None:
                steps = c.latent_refit_steps
            # each fit its own seed: a refit draws new batches
            cfg = LatentTrainConfig(
                steps=steps,
                seed=c.seed * 1000 + self.state.iteration,
                dynamics_steps=dynamics,
                var_coef=c.latent_var_coef,
            )
            cfg.device = c.device
            px = load_pixel_transitions(self.data_dir)
            latent = LatentConfig(image_size=px.size)
            if c.latent_dim is not None:
                latent = replace(latent, latent_dim=c.latent_dim)
            model, report = train_latent_model(px, cfg, latent, progress=True, model=previous)
            if warning := collapse_warning(report.get("final", {})):  # (first fit, refits of all)
                print(f"[world] warning: {warning}", flush=True)
        else:
            from genenv.data import load_transitions
            from genenv.models.train import TrainConfig, train_world_model

            data = load_transitions(self.data_dir)
            cfg = TrainConfig(max_epochs=self.config.train_epochs, seed=self.config.seed)
            cfg.device = self.config.device
            model, report = train_world_model(data, cfg, model=previous, progress=True)
        save_checkpoint(model, self.out / "world", metadata={"report": report})
        step = self.state.world_real_steps = self.real_env_steps()
        for key, value in (report | report.get("final", {})).items():  # (latent: collapse/*)
            if isinstance(value, (int, float)):
                self.writer.add_scalar(f"world/{key}", value, step)
        return model

    def transfer_test(self, agent, model) -> None:
        """Real vs imagined return in the run's world (and the schedule's top levels)."""
        from genenv.transfer import log_fidelity, transfer_test

        worlds = [self.spec] if self.schedule is None else self.schedule.transfer_worlds(self.spec)
        test = 1 + max((r.get("test", 0) for r in self.state.transfer), default=0)
        step = self.state.imagined_env_steps
        for k, world in enumerate(worlds):
            result = transfer_test(
                agent,
                model,
                world,
                episodes=self.config.eval_episodes,
                seed=10_000 + len(self.state.transfer),
            )
            self.state.eval_real_env_steps += result.real_env_steps
            row = {
                "test": test,
                "world_index": k,
                "world": world.to_dict()["context"],
                "iteration": self.state.iteration,
                "imagined_steps": step,
                "real_env_steps": self.real_env_steps(),
                "imagined_return": result.imagined_return,
                "real_return": result.real_return,
                "gap": result.gap,
                "uncertainty": result.mean_uncertainty,
            }
            self.state.transfer.append(row)
            if k == 0:
                self.writer.add_scalar("transfer/imagined_return", result.imagined_return, step)
                self.writer.add_scalar("transfer/real_return", result.real_return, step)
                self.writer.add_scalar("transfer/gap", result.gap, step)
                self.writer.add_scalar("transfer/uncertainty", result.mean_uncertainty, step)
            print(
                f"[transfer] iter {row['iteration']} imagined {step:,} steps | real data "
                f"{row['real_env_steps']:,} steps | world {k} | real return "
                f"{result.real_return:.1f} | imagined return {result.imagined_return:.1f} | "
                f"gap {result.gap:+.1f}",
                flush=True,
            )
        log_fidelity(self.writer, self.state.transfer, step)  # ratio, Spearman, Pearson
        self.writer.add_scalar("charts/real_env_steps", self.real_env_steps(), step)
        self.writer.add_scalar("charts/eval_real_env_steps", self.state.eval_real_env_steps, step)
        self.writer.flush()

    def evaluate(self, agent) -> None:
        """The final real evaluation on the schedule's held-out worlds (once per run)."""
        if self.schedule is None or self.state.eval is not None:
            return
        worlds = self.schedule.eval_worlds()
        if not worlds:
            return
        from genenv.curricula.schedule import evaluate_worlds

        result, steps = evaluate_worlds(agent, worlds, self.schedule.spec.eval.episodes)
        self.state.eval_real_env_steps += steps
        self.state.eval = result
        step = self.state.imagined_env_steps
        self.writer.add_scalar("eval/mean_return", result["mean_return"], step)
        self.writer.add_scalar("eval/p10_return", result["p10_return"], step)
        self.writer.flush()
        print(
            f"[eval] {len(worlds)} held-out worlds: mean {result['mean_return']:.1f}, "
            f"p10 {result['p10_return']:.1f}",
            flush=True,
        )

    def known_reward_termination(self) -> bool:
        if self.config.known_reward_termination is not None:
            return bool(self.config.known_reward_termination)
        return bool(self.recipe is not None and self.recipe.env.get("known_reward_termination"))

    def world_for_tests(self, model):
        """The model as transfer tests and videos should step it (same reward/termination as
        the agent's dream)."""
        if not self.known_reward_termination():
            return model
        from genenv.envs.known import KnownRewardTermination

        return KnownRewardTermination(model)

    def reached_target(self) -> bool:
        target = self.config.target_return
        own = [r for r in self.state.transfer if r.get("world_index", 0) == 0]
        return bool(target is not None and own and own[-1]["real_return"] >= target)


def _dream_env(run: Run, model, recipe):
    known = not run.pixels and run.known_reward_termination()
    return dream_env(model, recipe, run.config.task, run.config.device, run.spec, known)


def dream_env(model, recipe, task: str, device: str = "cpu", specs=None, known: bool = False):
    """The agent's dream of `recipe` (its env options): a `DreamVectorEnv` (with the task's own
    reward/termination if `known`), or for a pixel world (a `LatentWorldModel`) one whose
    observations are latents (`PixelDreamVectorEnv`, which has no known reward/termination)."""
    from genenv.envs.pixels import PixelDreamVectorEnv
    from genenv.envs.vector import DreamVectorEnv
    from genenv.models.latent import LatentWorldModel

    env = {k: v for k, v in recipe.env.items() if k != "known_reward_termination"}
    if isinstance(model, LatentWorldModel):
        if known:
            raise ValueError("a pixel world has no known reward/termination to dream with")
        cls = PixelDreamVectorEnv
    else:
        env["known_reward_termination"], cls = known, DreamVectorEnv
    return cls(task=task, world=model, num_envs=recipe.n_envs, device=device, specs=specs, **env)


def check_recipe(config: LoopConfig, recipe) -> None:
    """Refuse a recipe the run's world kind cannot train (None: nothing to check)."""
    if recipe is None or config.world_kind != "latent":
        return
    if recipe.env.get("known_reward_termination"):
        raise ValueError(
            f"the {recipe.algo} recipe needs real states (known reward/termination); a pixel "
            "world's agent sees latents: drop known_reward_termination from its env"
        )


def _check_world_kind(model, config: LoopConfig) -> None:
    from genenv.models.kinds import kind_of

    kind = kind_of(model).name
    if kind != config.world_kind:
        raise ValueError(
            f"the world model is of kind {kind}; this run's world_kind is {config.world_kind}"
        )


def _collection_policy(run: Run, agent, model):
    """The agent as a real-env policy for collection (stochastic: it explores)."""
    if run.pixels:  # it reads the encoded real frames
        from genenv.transfer import LatentAgentPolicy

        return LatentAgentPolicy(model, agent, deterministic=False)
    return lambda obs: agent.predict(obs, deterministic=False)[0]


def _run_recipe(out: Path, config: LoopConfig, resuming: bool):
    """The run's recipe: a resumed run goes on with the one its config.yaml recorded (even if the
    recipe file has changed or gone since, which it says); a new run resolves the file."""
    from genenv.agents.recipe import Recipe, check_recipe_values, load_recipe

    def from_file():
        return load_recipe(config.recipe_path(), config.task, config.world_kind)

    path = out / "config.yaml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) if resuming and path.is_file() else None
    stored = raw.get("recipe") if isinstance(raw, dict) else None
    if stored is None:  # a new run (or one from before config.yaml held its recipe)
        return from_file()
    try:
        started = Recipe(**stored)
        check_recipe_values(started)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{path}: its recipe is unreadable ({err})") from None
    try:
        changed = from_file().to_dict() != started.to_dict()
    except (OSError, ValueError):
        changed = True
    if changed:
        print(
            f"[resume] {config.recipe} now resolves to other settings (or not at all); this run "
            "keeps the recipe it started with (config.yaml)",
            flush=True,
        )
    return started


def _observe_real(run: Run, agent, model) -> None:
    """Hand the run's real dataset to an agent that learns from it too (MBPO). A pixel run's
    agent sees latents: the dataset is encoded by the current world `model` first."""
    if hasattr(agent, "observe_real"):
        agent.observe_real(real_data_for_agent(model, run.data_dir))


def real_data_for_agent(model, data_dir: Path):
    """A run's real transitions as its agent sees them: the states, or for a pixel world (a
    `LatentWorldModel`) the dataset encoded by that world."""
    from genenv.models.latent import LatentWorldModel

    if isinstance(model, LatentWorldModel):
        from genenv.data import load_pixel_transitions
        from genenv.models.latent_train import latent_transitions

        return latent_transitions(model, load_pixel_transitions(data_dir))
    from genenv.data import load_transitions

    return load_transitions(data_dir)


def load_schedule(out: Path, config: LoopConfig, spec=None):
    """The run's world schedule (None without worlds). The resolved curriculum spec is kept as
    RUN_DIR/worlds.yaml: a resumed run reads it from there."""
    if config.worlds is None and spec is None:
        return None
    from genenv.curricula.schedule import WorldSchedule
    from genenv.curricula.spec import load_spec, spec_from_dict

    saved = out / "worlds.yaml"
    if spec is None:
        spec = load_spec(saved if saved.is_file() else config.worlds)
    elif saved.is_file() and (
        spec_from_dict(yaml.safe_load(saved.read_text())).to_dict() != spec.to_dict()
    ):
        raise ValueError(f"the curriculum spec differs from the one {out} was started with")
    if spec.task != get_task(config.task).name:
        raise ValueError(f"the curriculum spec is for {spec.task}, the run for {config.task}")
    spec.seed = config.seed
    _write_text(saved, yaml.safe_dump(spec.to_dict(), sort_keys=False))
    return WorldSchedule(spec, config.schedule, fixed=config.spec())


def run_loop(out: Path, config: LoopConfig, resume: bool = False, worlds=None) -> dict[str, Any]:
    """Run (or resume) the loop; returns the summary that is also in RUN_DIR/summary.json.

    `worlds`: a `CurriculumSpec` object instead of the file `config.worlds` names."""
    from genenv.agents.progress import learn_steps
    from genenv.agents.sb3 import (
        agent_file_name,
        build_agent,
        load_policy,
        save_agent,
        set_agent_env,
    )
    from genenv.data.files import remove_stale_tmp
    from genenv.models.checkpoint import load_checkpoint

    state = None
    if resume and (out / "state.json").is_file():  # (a run killed in its first second has none)
        state = read_state(out / "state.json", LoopState)
    elif not resume and (out / "state.json").is_file():
        raise ValueError(f"{out} already holds a run; resume it or use a new folder")
    scheduled = worlds is not None or config.worlds is not None  # (the spec names the recipe)
    recipe = None if scheduled else _run_recipe(out, config, resuming=state is not None)
    check_recipe(config, recipe)
    # Config and state go to disk before any work, so a run is resumable from its first second.
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_tmp(out)
    schedule = load_schedule(out, config, worlds)
    recipe = schedule.spec.recipe() if schedule else recipe
    _write_text(
        out / "config.yaml",
        yaml.safe_dump({"loop": asdict(config), "recipe": recipe.to_dict()}, sort_keys=False),
    )
    run = Run(out, config, state)
    run.recipe, run.schedule = recipe, schedule
    if schedule is not None and resume:
        schedule.load(out)
    run.save_state()
    per_iteration = config.imagined_steps or recipe.total_timesteps
    t0 = time.time()
    fixed_model = config.world_checkpoint is not None
    if not fixed_model and run.real_env_steps() < config.initial_steps:
        # (also finishes an interrupted first collection)
        print(f"[collect] {config.initial_steps} random real steps in {config.task}", flush=True)
        run.collect(None, until_total=config.initial_steps)
    world_ckpt = Path(config.world_checkpoint) if fixed_model else out / "world"
    model = None
    if (resume or fixed_model) and (world_ckpt / "metadata.json").exists():
        model = load_checkpoint(world_ckpt, device=config.device, expect_task=config.task)
    if not fixed_model and (model is None or run.state.world_real_steps != run.real_env_steps()):
        model = run.train_world(previous=model)  # new data since the saved model: refit first
    if model is None:
        raise FileNotFoundError(f"no world model at {world_ckpt}")
    _check_world_kind(model, config)
    agent_file = out / "agent" / agent_file_name(recipe.algo)
    if resume:
        print(_resume_message(run, agent_file), flush=True)
    dream = _dream_env(run, model, recipe)
    if resume and agent_file.exists():
        agent = load_policy(agent_file, device="cpu", overrides=recipe.hyperparams)
        set_agent_env(agent, dream)
    else:
        agent = build_agent(recipe, dream, seed=config.seed, tensorboard_log=str(out / "tb"))
    callbacks = [schedule.attach(agent, agent.get_env())] if schedule else []
    _observe_real(run, agent, model)
    run.save_state()
    while not run.state.done:
        # 1. train in imagination, with a transfer test every `eval_every` imagined steps
        while run.state.iteration_imagined_steps < per_iteration:
            chunk = min(config.eval_every, per_iteration - run.state.iteration_imagined_steps)
            desc = f"iteration {run.state.iteration + 1}: imagined steps to the next test"
            stepped = learn_steps(agent, chunk, desc, callbacks=callbacks)  # what it really ran
            run.state.imagined_env_steps += stepped
            run.state.iteration_imagined_steps += stepped
            run.transfer_test(agent, run.world_for_tests(model))
            save_agent(agent, agent_file, recipe.algo)
            run.save_state()
            if run.reached_target():
                break
        run.state.iteration += 1
        run.state.iteration_imagined_steps = 0
        save_agent(agent, agent_file, recipe.algo)
        run.save_state()
        # 2. stop, or collect more real data with the agent and refine the model
        left = config.real_steps - run.real_env_steps()
        if fixed_model or left <= 0 or run.reached_target():
            run.state.done = True
            break
        steps = min(config.steps_per_iteration, left)
        print(f"[collect] {steps} real steps with the agent (budget left {left})", flush=True)
        run.collect(steps, policy=_collection_policy(run, agent, model))
        model = run.train_world(previous=model)
        dream.close()
        dream = _dream_env(run, model, recipe)
        set_agent_env(agent, dream)
        callbacks = [schedule.attach(agent, agent.get_env())] if schedule else []
        _observe_real(run, agent, model)
        run.save_state()
    run.evaluate(agent)
    if config.video:
        _record(run, agent, model)
    run.save_state()
    summary = run.summary()
    summary["wall_clock_s"] = round(time.time() - t0, 1)
    _write_json(out / "summary.json", summary)
    run.writer.close()
    return summary


def _resume_message(run: Run, agent_file: Path) -> str:
    """What --resume found in the run folder and where it goes on from."""
    s, c = run.state, run.config
    found = (
        f"[resume] {run.out}: {run.real_env_steps():,} of {c.real_steps:,} real steps in the "
        f"dataset, {s.iteration} iteration(s) done, {s.imagined_env_steps:,} imagined steps, "
        f"{len(s.transfer)} transfer test(s), world model fit on {s.world_real_steps:,} steps, "
        f"agent {'found' if agent_file.exists() else 'not saved yet (a new one starts)'}"
    )
    if s.done:
        return found + "; the run is complete (only the final video and summary are redone)"
    return found + f"; going on with iteration {s.iteration + 1}"


def _record(run: Run, agent, model) -> None:
    from genenv.recording import record_side_by_side

    paths = record_side_by_side(
        run.spec,
        run.world_for_tests(model),
        agent,
        steps=run.config.video_steps,
        out_dir=run.out / "videos",
        tensorboard=run.writer,
        step=run.state.imagined_env_steps,
    )
    recordings = Path("recordings")
    recordings.mkdir(exist_ok=True)
    for path in paths.values():
        target = recordings / f"{run.out.name}-{Path(path).name}"
        target.write_bytes(Path(path).read_bytes())
        print(f"[video] {target}", flush=True)
