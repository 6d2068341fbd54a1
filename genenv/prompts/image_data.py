"""Training data for image prompts: 64x64 renders of random worlds in random poses.

Every frame is what a fresh env of its world shows at its first render: gymnasium's free camera
aims itself (`lookat` = median of the geom positions) at the pose of the env's first render and
then stays put. So a frame here equals `WorldSpec(task, context, initial_state=qpos).make_env(
render_mode="rgb_array", width=64, height=64)`, `reset()`, `render()` -- the round trip of an image
prompt. `render_worlds` re-aims one env's camera before each frame instead of building an env per
frame (same pixels, `tests/test_prompts.py` checks it). Consequence: the camera moves with the
body, so the root position (InvertedPendulum cart, HalfCheetah rootx) shows only through what
stays put in the world -- the rail's ends, the floor's checker pattern, and how far the median geom
sits from the body -- and is only partly readable (see the held-out table in
benchmarks/results/prompt_accuracy.md). A quarter of the worlds are rendered "fast" (no shadows or
reflections, as `genenv record --fast`).

What a still frame can show: the pose (qpos) and the geometry (length_scale). What it cannot:
gravity, masses, friction, damping and motor strength look the same in a still frame, so they are
sampled (for variety) but never targets. Poses are sampled inside each task's view (e.g. the
HalfCheetah root within 1 m of the origin), so frames far outside that are out of distribution.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from genenv.worlds.drawing import close_env, make_render_env
from genenv.worlds.spec import Context, WorldSpec
from genenv.worlds.tasks import get_task

IMAGE_SIZE = 64  # renders are IMAGE_SIZE x IMAGE_SIZE RGB
DATA_VERSION = 2  # bump when the renders change (invalidates cached datasets)


@dataclass(frozen=True)
class PoseSpace:
    """How poses of a task are sampled and which qpos entries an image shows."""

    visible_qpos: tuple[int, ...]  # qpos indices the model predicts
    # qpos index -> (low, high) for uniform sampling; indices not listed use the joint range
    overrides: dict[int, tuple[float, float]]
    hidden_value: dict[int, float]  # qpos index -> value used in the predicted pose (not visible)


POSE_SPACES: dict[str, PoseSpace] = {
    "InvertedPendulum": PoseSpace((0, 1), {0: (-0.75, 0.75), 1: (-1.2, 1.2)}, {}),
    # HalfCheetah-v5's camera does not follow the body: rootx in (-1, 1) stays in view.
    "HalfCheetah": PoseSpace(
        tuple(range(9)), {0: (-1.0, 1.0), 1: (-0.25, 0.3), 2: (-0.7, 0.7)}, {}
    ),
}
IMAGE_TASKS = tuple(POSE_SPACES)
# Renders of these tasks (and synthetic non-renders) form the "other" class of the task head.
OTHER_TASKS = ("Hopper", "Walker2d", "Ant", "Reacher", "InvertedDoublePendulum")


def _sample_context(task: str, rng: np.random.Generator, with_length: bool) -> Context:
    info = get_task(task)
    values = {k: float(rng.uniform(lo, hi)) for k, (lo, hi) in info.train_ranges.items()}
    if not with_length or "length_scale" not in info.geometric_fields:
        values.pop("length_scale", None)
    else:
        values["length_scale"] = round(values["length_scale"], 3)
    return Context.from_dict(values)


def _sample_qpos(raw, space: PoseSpace | None, rng: np.random.Generator) -> np.ndarray:
    model = raw.model
    qpos = raw.init_qpos.copy()
    for j in range(model.njnt):
        adr = model.jnt_qposadr[j]
        if model.jnt_type[j] in (0, 1):  # free / ball joints: small random perturbation
            width = 7 if model.jnt_type[j] == 0 else 4
            qpos[adr : adr + width] += rng.normal(0, 0.05, width)
            continue
        if space is not None and adr in space.overrides:
            lo, hi = space.overrides[adr]
        elif model.jnt_limited[j]:
            lo, hi = model.jnt_range[j]
        else:
            lo, hi = -1.0, 1.0
        qpos[adr] = rng.uniform(lo, hi)
    return qpos


def render_fresh_view(env, qpos: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8: `env` in pose `qpos` (zero velocity), its free camera aimed as a fresh
    env's first render aims it (gymnasium's `OffScreenViewer._init_camera`, then the env's
    default camera config)."""
    raw = env.unwrapped
    raw.set_state(np.asarray(qpos, np.float64), np.zeros(raw.model.nv))
    renderer = raw.mujoco_renderer
    if renderer.camera_id != -1:
        raise ValueError("render_fresh_view needs the env's default free camera")
    viewer = renderer._get_viewer(render_mode="rgb_array")
    viewer.make_context_current()
    viewer._init_camera()  # lookat = median geom position at this pose
    renderer._set_cam_config()  # the env's default distance etc.
    return env.render()


def render_worlds(
    task: str,
    n: int,
    seed: int,
    frames_per_world: int = 40,
    desc: str | None = None,
    fast_share: float = 0.25,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`n` renders of random worlds/poses of `task`, each as a fresh env would render it.

    A share `fast_share` of the worlds is rendered without shadows and reflections.
    Returns images (n, 64, 64, 3) uint8, qpos (n, nq) float32, length_scale (n,) float32.
    """
    os.environ.setdefault("MUJOCO_GL", "egl")
    rng = np.random.default_rng(seed)
    space = POSE_SPACES.get(task)
    images = np.zeros((n, IMAGE_SIZE, IMAGE_SIZE, 3), np.uint8)
    qposes, lengths = [], []
    env = None
    for i in tqdm(range(n), desc=desc or f"render {task}", leave=False):
        if i % frames_per_world == 0:
            if env is not None:
                close_env(env)
            spec = WorldSpec(task, _sample_context(task, rng, with_length=True))
            fast = bool(rng.uniform() < fast_share)
            env = make_render_env(spec, IMAGE_SIZE, IMAGE_SIZE, camera_name=None, fast=fast)
            env.reset(seed=int(rng.integers(2**31)))
            raw = env.unwrapped
        qpos = _sample_qpos(raw, space, rng)
        images[i] = render_fresh_view(env, qpos)
        qposes.append(qpos.astype(np.float32))
        lengths.append(spec.context.length_scale)
    if env is not None:
        close_env(env)
    return images, np.stack(qposes), np.asarray(lengths, np.float32)


def synthetic_non_renders(n: int, seed: int) -> np.ndarray:
    """Images that are not renders of any task: noise, flat colours, gradients, random boxes.

    (n, 64, 64, 3) uint8.
    """
    rng = np.random.default_rng(seed)
    out = np.zeros((n, IMAGE_SIZE, IMAGE_SIZE, 3), np.uint8)
    yy, xx = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE] / IMAGE_SIZE
    for i in range(n):
        kind = i % 4
        if kind == 0:
            img = rng.uniform(0, 255, (IMAGE_SIZE, IMAGE_SIZE, 3))
        elif kind == 1:
            img = np.broadcast_to(rng.uniform(0, 255, 3), (IMAGE_SIZE, IMAGE_SIZE, 3)).copy()
        elif kind == 2:
            a, b = rng.uniform(0, 255, (2, 3))
            t = (xx * rng.uniform(-1, 1) + yy * rng.uniform(-1, 1))[..., None]
            img = a + (b - a) * (t - t.min()) / (np.ptp(t) + 1e-6)
        else:
            img = np.broadcast_to(rng.uniform(0, 255, 3), (IMAGE_SIZE, IMAGE_SIZE, 3)).copy()
            for _ in range(rng.integers(2, 8)):
                x0, y0 = rng.integers(0, IMAGE_SIZE - 4, 2)
                w, h = rng.integers(3, 30, 2)
                img[y0 : y0 + h, x0 : x0 + w] = rng.uniform(0, 255, 3)
        out[i] = np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)
    return out
