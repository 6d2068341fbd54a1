"""A curriculum run: world model, dream env, SB3 agent, level sampler, transfer tests, evaluation.

Run folder:
  spec.yaml        the resolved curriculum spec (a resumed run reads it back)
  data/, world/    real data and the world model trained at the start (when no checkpoint given)
  tb/              TensorBoard events (SB3's losses + `curriculum/*`, `transfer/*`, `eval/*`)
  curriculum.json  the level buffer checkpoint (atomic; written after every iteration)
  agent/           the agent after every iteration
  state.json       progress (iteration, imagined steps, transfer rows); read by --resume
  summary.json     machine-readable results (final held-out evaluation, top levels, counts)
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from genenv.curricula.buffer import Provenance, atomic_write_json
from genenv.curricula.callback import CurriculumCallback
from genenv.curricula.curriculum import Curriculum, FixedSampler, UniformSampler
from genenv.curricula.spec import CurriculumSpec, spec_from_dict
from genenv.worlds.spec import WorldSpec

SAMPLERS = ("curriculum", "uniform", "default")


@dataclass
class RunState:
    """Progress of a curriculum run (state.json)."""

    iteration: int = 0  # finished iterations
    imagined_steps: int = 0  # agent steps taken in the dream so far
    eval_real_env_steps: int = 0  # real steps spent on transfer tests and evaluation
    transfer: list[dict[str, Any]] = field(default_factory=list)
    episodes_scored: int = 0  # dream episodes the curriculum scored, over every resume
    done: bool = False


def seed_levels(spec: CurriculumSpec, sampler: Curriculum) -> list[tuple[WorldSpec, Provenance]]:
    """The spec's seed levels: text prompts, images, the default world, uniform random levels."""
    gen, seeds = sampler.generator, []
    for text in spec.seeds.prompts:
        seeds.append(gen.from_text(text))
    for path in spec.seeds.images:
        seeds.append(gen.from_image(path))
    if spec.seeds.default:
        seeds.append((WorldSpec(spec.task, seed=spec.seed), Provenance("default")))
    seeds.extend(gen.random_level() for _ in range(spec.seeds.random))
    return seeds


def build_sampler(spec: CurriculumSpec, kind: str = "curriculum"):
    """The level sampler: the PLR/ACCEL curriculum, or a baseline (uniform DR, default world)."""
    if kind == "curriculum":
        sampler = Curriculum(spec.plr, spec.generator_config(), spec.scoring, seed=spec.seed)
        sampler.pending_seeds = seed_levels(spec, sampler)
        return sampler
    if kind == "uniform":
        return UniformSampler(spec.generator_config(), seed=spec.seed)
    if kind == "default":
        return FixedSampler(WorldSpec(spec.task, seed=spec.seed))
    raise ValueError(f"unknown sampler {kind!r}; valid: {SAMPLERS}")


def prepare_world(spec: CurriculumSpec, out: Path):
    """Load the spec's world checkpoint, or collect real data over the ranges and train one."""
    from genenv.models.checkpoint import load_checkpoint, save_checkpoint

    device = spec.agent.device
    if spec.world.checkpoint is not None:
        return load_checkpoint(spec.world.checkpoint, device=device, expect_task=spec.task)
    from genenv.data import collect, context_sampler, count_steps, load_transitions
    from genenv.models.checkpoint import read_checkpoint_metadata
    from genenv.models.train import TrainConfig, train_world_model

    world_dir, data_dir = out / "world", out / "data"
    # Always (re)enter the collection: it finishes an interrupted one up to data_steps, exactly,
    # continuing its seed stream, and is a no-op once the dataset is complete.
    ranges = spec.generator_config().ranges
    have = count_steps(data_dir) if (data_dir / "metadata.json").is_file() else 0
    if have < spec.world.data_steps:
        print(f"[collect] {spec.world.data_steps - have} random real steps over the ranges")
        sampler = context_sampler(WorldSpec(spec.task), ranges)
        collect(
            sampler,
            None,
            data_dir,
            seed=spec.seed,
            progress=True,
            until_total=spec.world.data_steps,
        )
    steps = count_steps(data_dir)
    world = world_dir / "metadata.json"
    if world.exists() and read_checkpoint_metadata(world_dir).get("real_steps") == steps:
        return load_checkpoint(world_dir, device=device, expect_task=spec.task)
    config = TrainConfig(max_epochs=spec.world.train_epochs, seed=spec.seed, device=device)
    model, report = train_world_model(load_transitions(data_dir), config, progress=True)
    save_checkpoint(model, world_dir, metadata={"report": report, "real_steps": steps})
    return model


def build_agent(spec: CurriculumSpec, venv, tensorboard_log: str):
    from genenv.agents.sb3 import algo_class

    recipe = spec.recipe()
    return algo_class(recipe.algo)(
        recipe.policy,
        venv,
        seed=spec.seed,
        verbose=0,
        device="cpu" if recipe.algo == "PPO" else "auto",
        tensorboard_log=tensorboard_log,
        policy_kwargs=recipe.sb3_policy_kwargs(),
        **recipe.hyperparams,
    )


def dream_env(spec: CurriculumSpec, model):
    """The SB3 view of a same-step-autoreset DreamVectorEnv for the spec's recipe."""
    from genenv.envs.sb3 import DreamSB3VecEnv
    from genenv.envs.vector import DreamVectorEnv

    recipe = spec.recipe()
    venv = DreamVectorEnv(
        task=spec.task,
        world=model,
        num_envs=recipe.n_envs,
        device=spec.agent.device,
        autoreset_mode="same_step",
        **recipe.env,
    )
    return DreamSB3VecEnv(venv)


def real_returns(
    agent, specs: list[WorldSpec], episodes: int, seed: int
) -> tuple[list[list[float]], int]:
    """Real MuJoCo returns of the agent (deterministic actions) per world, and the steps taken."""
    from genenv.transfer import run_real_episodes

    out, total = [], 0
    for k, world in enumerate(specs):
        returns, steps, _ = run_real_episodes(agent, world, episodes, seed=seed + 100 * k)
        out.append(returns)
        total += steps
    return out, total


class CurriculumRun:
    """One run folder and its phases."""

    def __init__(self, spec: CurriculumSpec, out: Path, sampler: str, state: RunState):
        from torch.utils.tensorboard import SummaryWriter

        self.spec, self.out, self.sampler_kind, self.state = spec, out, sampler, state
        self.writer = SummaryWriter(str(out / "tb" / "curriculum"))

    def save(self, sampler) -> None:
        if isinstance(sampler, Curriculum):
            sampler.save(self.out / "curriculum.json")
        atomic_write_json(self.out / "state.json", asdict(self.state))

    def transfer_test(self, agent, model, sampler) -> None:
        """Agent in the real worlds matching the top-scoring levels (and the default world)."""
        from genenv.transfer import transfer_test

        worlds = [WorldSpec(self.spec.task)]
        if isinstance(sampler, Curriculum):
            worlds += [lv.spec for lv in sampler.buffer.top(self.spec.budget.transfer_worlds)]
        step = self.state.imagined_steps
        rows = []
        for k, world in enumerate(worlds):
            if self.spec.budget.transfer_episodes == 0:
                break
            result = transfer_test(
                agent, model, world, self.spec.budget.transfer_episodes, seed=10_000 + k
            )
            self.state.eval_real_env_steps += result.real_env_steps
            rows.append(
                {
                    "iteration": self.state.iteration,
                    "imagined_steps": step,
                    "world": world.to_dict(),
                    "imagined_return": result.imagined_return,
                    "real_return": result.real_return,
                    "uncertainty": result.mean_uncertainty,
                }
            )
        if not rows:
            return
        self.state.transfer.extend(rows)
        for key in ("imagined_return", "real_return", "uncertainty"):
            self.writer.add_scalar(f"transfer/{key}", np.mean([r[key] for r in rows]), step)
        self.writer.add_scalar("transfer/default_real_return", rows[0]["real_return"], step)
        self.writer.flush()
        print(
            f"[transfer] iter {self.state.iteration} | {step:,} imagined steps | real "
            f"{np.mean([r['real_return'] for r in rows]):.1f} | imagined "
            f"{np.mean([r['imagined_return'] for r in rows]):.1f} over {len(rows)} worlds",
            flush=True,
        )

    def evaluate(self, agent) -> dict[str, Any]:
        """Held-out real worlds: mean and 10th percentile over all their episode returns."""
        worlds = self.spec.eval_specs() or [WorldSpec(self.spec.task)]
        per_world, steps = real_returns(agent, worlds, self.spec.eval.episodes, seed=20_000)
        pooled = np.concatenate([np.asarray(r, dtype=np.float64) for r in per_world])
        self.state.eval_real_env_steps += steps
        result = {
            "mean_return": float(pooled.mean()),
            "p10_return": float(np.percentile(pooled, 10)),
            "worlds": [
                {"world": w.to_dict(), "returns": r, "mean": float(np.mean(r))}
                for w, r in zip(worlds, per_world, strict=True)
            ],
        }
        self.writer.add_scalar("eval/mean_return", result["mean_return"], self.state.imagined_steps)
        self.writer.add_scalar("eval/p10_return", result["p10_return"], self.state.imagined_steps)
        self.writer.flush()
        return result


def run_curriculum(
    spec: CurriculumSpec,
    out: str | Path,
    resume: bool = False,
    sampler: str = "curriculum",
    model=None,
) -> dict[str, Any]:
    """Run (or resume) a curriculum; returns the summary also written to OUT/summary.json.

    `sampler` picks the level sampler ("uniform" and "default" are the benchmark baselines);
    `model` reuses an already loaded world model instead of `spec.world`.
    """
    import torch

    from genenv.agents.progress import planned_steps, sb3_bar_callback
    from genenv.agents.sb3 import save_agent
    from genenv.progress import progress_bar

    out = Path(out)
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; valid: {SAMPLERS}")
    state = RunState()
    if resume:
        if not (out / "spec.yaml").is_file():
            raise FileNotFoundError(f"{out} is not a curriculum run folder (no spec.yaml)")
        import json

        saved_state = {}  # (a run killed in its first second has no state.json yet)
        if (out / "state.json").is_file():
            saved_state = json.loads((out / "state.json").read_text())
        if "eval_real_steps" in saved_state:  # the name before it matched the loop's
            saved_state["eval_real_env_steps"] = saved_state.pop("eval_real_steps")
        state = RunState(**saved_state)
        saved = spec_from_dict(yaml.safe_load((out / "spec.yaml").read_text()))
        if saved.to_dict() != spec.to_dict():
            raise ValueError(f"the spec differs from the one {out} was started with (spec.yaml)")
    elif (out / "state.json").exists():
        raise ValueError(f"{out} already holds a run; pass --resume to continue it")
    # Spec and state go to disk before any work: a run is resumable from its first second.
    from genenv.data.files import remove_stale_tmp

    out.mkdir(parents=True, exist_ok=True)
    remove_stale_tmp(out)
    spec_tmp = out / "spec.yaml.tmp"
    spec_tmp.write_text(yaml.safe_dump(spec.to_dict(), sort_keys=False))
    spec_tmp.replace(out / "spec.yaml")
    atomic_write_json(out / "state.json", asdict(state))
    scored_before = state.episodes_scored
    t0 = time.time()
    torch.manual_seed(spec.seed)
    run = CurriculumRun(spec, out, sampler, state)
    if resume:
        print(
            f"[resume] {out}: {state.iteration} of {spec.budget.iterations} iterations done, "
            f"{state.imagined_steps:,} imagined steps; going on with iteration "
            f"{state.iteration + 1}",
            flush=True,
        )
    model = model if model is not None else prepare_world(spec, out)
    venv = dream_env(spec, model)
    level_sampler = build_sampler(spec, sampler)
    from genenv.agents.sb3 import agent_file_name

    agent_file = out / "agent" / agent_file_name(spec.recipe().algo)
    if resume and agent_file.exists():
        from genenv.agents.sb3 import load_policy

        agent = load_policy(agent_file, overrides=spec.recipe().hyperparams)
        agent.set_env(venv)
        if isinstance(level_sampler, Curriculum) and (out / "curriculum.json").exists():
            level_sampler.load(out / "curriculum.json")
    else:
        agent = build_agent(spec, venv, str(out / "tb"))
    callback = CurriculumCallback(
        level_sampler,
        gamma=getattr(agent, "gamma", 0.99),
        gae_lambda=getattr(agent, "gae_lambda", 0.95),
    )
    callback.prime(venv)
    budget = spec.budget
    per_iteration = budget.imagined_steps // budget.iterations
    while state.iteration < budget.iterations:
        steps_before = agent.num_timesteps
        bar = progress_bar(
            total=planned_steps(agent, per_iteration),
            desc=f"iteration {state.iteration + 1}/{budget.iterations}: imagined steps",
            unit="step",
        )
        agent.learn(
            per_iteration,
            callback=[callback, sb3_bar_callback(bar)],
            reset_num_timesteps=False,
            tb_log_name=sampler,
            progress_bar=False,
        )
        bar.close()
        state.imagined_steps += int(agent.num_timesteps - steps_before)
        state.iteration += 1
        state.episodes_scored = scored_before + callback.episodes
        save_agent(agent, agent_file, spec.recipe().algo)
        run.transfer_test(agent, model, level_sampler)
        run.save(level_sampler)
    evaluation = run.evaluate(agent)
    state.done = True
    run.save(level_sampler)
    summary = {
        "task": spec.task,
        "sampler": sampler,
        "iterations": state.iteration,
        "imagined_steps": state.imagined_steps,
        "eval_real_env_steps": state.eval_real_env_steps,
        "episodes_scored": state.episodes_scored,
        "eval": evaluation,
        "transfer": state.transfer,
        "wall_clock_s": round(time.time() - t0, 1),
    }
    if isinstance(level_sampler, Curriculum):
        summary["curriculum"] = {
            "counts": level_sampler.counts,
            "buffer_size": len(level_sampler.buffer),
            "top_levels": [lv.to_dict() for lv in level_sampler.buffer.top(5)],
        }
    atomic_write_json(out / "summary.json", summary)
    run.writer.close()
    venv.close()
    return summary
