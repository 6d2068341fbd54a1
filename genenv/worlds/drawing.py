"""Drawing a MuJoCo state: observation -> pose, per task, rendered by MuJoCo itself.

Everyone who draws a state (dream envs, recordings, image-prompt data) imports it from here.

An explicit registry: `POSE_DECODERS[task]` turns one observation (plus the root coordinates the
observation leaves out, e.g. HalfCheetah's x position) into `(qpos, qvel)`. Tasks whose layout is
`"qpos_qvel"` share one generic decoder; the others get a small hand-written one.
Velocities are decoded as observed (InvertedDoublePendulum, Hopper and Walker2d clip them to
+-10); rendering depends on positions only.
`PoseRenderer` puts a decoded pose into a render-only real env of the same `WorldSpec` and renders.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import mujoco
import numpy as np

from genenv.progress import progress_bar
from genenv.worlds.spec import WorldSpec
from genenv.worlds.tasks import TASKS, get_task

CAMERA = mujoco.mjtObj.mjOBJ_CAMERA


@dataclass(frozen=True)
class PoseDecoder:
    """How one task's observation determines the MuJoCo state (exactly, up to the root)."""

    # (obs (obs_dim,), root (num_root,)) -> (qpos (nq,), qvel (nv,))
    decode: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
    num_root: int = 0  # root coordinates absent from the observation (qpos[:num_root])
    num_position_obs: int = 0  # leading observation entries that describe positions

    def root_velocity(self, obs: np.ndarray) -> np.ndarray:
        """(num_root,) time derivative of the root coordinates, read off the observation."""
        _, qvel = self.decode(obs, np.zeros(self.num_root))
        return qvel[: self.num_root]


def _qpos_qvel_decoder(skip: int, obs_dim_qpos: int) -> PoseDecoder:
    """obs = concat(qpos[skip:], qvel): put the root back in front of qpos.

    For slide roots (HalfCheetah, Hopper, Walker2d) and free-joint x, y (Ant, whose free-joint
    linear velocity is in the world frame) the root's velocity is `qvel[:skip]`.
    """

    def decode(obs: np.ndarray, root: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        qpos = np.concatenate([root, obs[:obs_dim_qpos]])
        return qpos, np.asarray(obs[obs_dim_qpos:], dtype=np.float64)

    return PoseDecoder(decode, num_root=skip, num_position_obs=obs_dim_qpos)


def _idp_decode(obs: np.ndarray, root: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # obs: x, sin(a1), sin(a2), cos(a1), cos(a2), qvel (3, clipped to +-10), constraint force
    angles = np.arctan2(obs[1:3], obs[3:5])
    return np.concatenate([obs[:1], angles]), np.asarray(obs[5:8], dtype=np.float64)


def _reacher_decode(obs: np.ndarray, root: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # obs: cos(q0), cos(q1), sin(q0), sin(q1), target x, target y, qvel[:2], fingertip - target
    angles = np.arctan2(obs[2:4], obs[0:2])
    qpos = np.concatenate([angles, obs[4:6]])
    return qpos, np.concatenate([obs[6:8], np.zeros(2)])


# Number of qpos entries in the observation for each "qpos_qvel" task: nq - qpos_skip.
_NQ = {"InvertedPendulum": 2, "HalfCheetah": 9, "Hopper": 6, "Walker2d": 9, "Ant": 15}


def _build_registry() -> dict[str, PoseDecoder]:
    registry = {
        "InvertedDoublePendulum": PoseDecoder(_idp_decode, num_position_obs=5),
        "Reacher": PoseDecoder(_reacher_decode, num_position_obs=6),
    }
    for task in TASKS.values():
        if task.obs_layout == "qpos_qvel":
            registry[task.name] = _qpos_qvel_decoder(
                task.qpos_skip, _NQ[task.name] - task.qpos_skip
            )
    return registry


POSE_DECODERS: dict[str, PoseDecoder] = _build_registry()


def get_decoder(task: str) -> PoseDecoder:
    name = get_task(task).name
    if name not in POSE_DECODERS:
        raise ValueError(
            f"no observation->pose decoder for task {name}; tasks with one: "
            f"{', '.join(POSE_DECODERS)}"
        )
    return POSE_DECODERS[name]


def _normalise_quaternions(model: mujoco.MjModel, qpos: np.ndarray) -> np.ndarray:
    """Imagined free/ball-joint quaternions drift off the unit sphere; project them back."""
    qpos = qpos.copy()
    for j in range(model.njnt):
        kind = model.jnt_type[j]
        if kind in (mujoco.mjtJoint.mjJNT_FREE, mujoco.mjtJoint.mjJNT_BALL):
            adr = model.jnt_qposadr[j] + (3 if kind == mujoco.mjtJoint.mjJNT_FREE else 0)
            quat = qpos[adr : adr + 4]
            norm = np.linalg.norm(quat)
            qpos[adr : adr + 4] = quat / norm if norm > 1e-8 else (1.0, 0.0, 0.0, 0.0)
    return qpos


def make_render_env(
    spec: WorldSpec,
    width: int,
    height: int,
    camera_name: str | None = "auto",
    fast: bool = False,
):
    """The real env of `spec` rendering rgb arrays from `camera_name`.

    "auto": the model's "track" camera (it follows the body) for tasks whose root moves through
    the world, else the env's default view; None: the env's default view. `fast` turns off
    shadows and reflections (visual-only model fields): about 10x faster on software OpenGL.
    """
    if camera_name == "auto":
        camera_name = "track" if get_decoder(spec.task).num_root > 0 else None
    kwargs = {} if camera_name is None else {"camera_name": camera_name}
    env = spec.make_env(render_mode="rgb_array", width=width, height=height, **kwargs)
    model = env.unwrapped.model
    if camera_name is not None and mujoco.mj_name2id(model, CAMERA, camera_name) < 0:
        names = [mujoco.mj_id2name(model, CAMERA, i) for i in range(model.ncam)]
        env.close()
        raise ValueError(f"{spec.task} has no camera {camera_name!r}; cameras: {names}")
    if fast:
        model.light_castshadow[:] = False
        model.mat_reflectance[:] = 0.0
    return env


def render_env(env) -> np.ndarray:
    """`env.render()` with its own GL context made current (several envs may share a thread)."""
    viewer = getattr(env.unwrapped.mujoco_renderer, "viewer", None)
    if viewer is not None and hasattr(viewer, "make_context_current"):
        viewer.make_context_current()
    return env.render()


def close_env(env) -> None:
    """Close a rendering MuJoCo env, freeing its GL objects while its own context is current.

    Left to the garbage collector, a viewer's `MjrContext` is freed under whichever GL context is
    current then, deleting another renderer's framebuffers (its frames come out black).
    """
    renderer = getattr(env.unwrapped, "mujoco_renderer", None)
    for viewer in getattr(renderer, "_viewers", {}).values():
        if hasattr(viewer, "make_context_current") and hasattr(viewer, "con"):
            viewer.make_context_current()
            viewer.con.free()
    env.close()


class PoseRenderer:
    """Renders observations of `spec`'s task through a render-only copy of its real env.

    The env's free camera aims itself at the pose of its first render, as the real env's does at
    reset; pass `anchor=(qpos, qvel)` (the real initial state) so both cameras agree exactly.
    """

    def __init__(
        self,
        spec: WorldSpec,
        width: int = 128,
        height: int = 128,
        anchor: tuple[np.ndarray, np.ndarray] | None = None,
        camera_name: str | None = "auto",
        fast: bool = False,
    ):
        self.spec = spec
        self.decoder = get_decoder(spec.task)
        self.env = make_render_env(spec, width, height, camera_name, fast)
        self.env.reset(seed=spec.seed)
        self.raw = self.env.unwrapped
        if anchor is not None:
            self.render_state(*anchor)

    @property
    def dt(self) -> float:
        return float(self.raw.dt)

    def decode(self, obs: np.ndarray, root: np.ndarray | None = None):
        """(qpos (nq,), qvel (nv,)) for one observation; root defaults to zeros."""
        obs = np.asarray(obs, dtype=np.float64)
        root = np.zeros(self.decoder.num_root) if root is None else np.asarray(root, np.float64)
        if root.shape != (self.decoder.num_root,):
            raise ValueError(f"{self.spec.task} needs {self.decoder.num_root} root coordinates")
        qpos, qvel = self.decoder.decode(obs, root)
        return _normalise_quaternions(self.raw.model, qpos), qvel

    def render_state(self, qpos: np.ndarray, qvel: np.ndarray) -> np.ndarray:
        self.raw.set_state(np.asarray(qpos, np.float64), np.asarray(qvel, np.float64))
        return render_env(self.env)  # (H, W, 3) uint8

    def render_obs(self, obs: np.ndarray, root: np.ndarray | None = None) -> np.ndarray:
        """(H, W, 3) uint8 frame of the pose `obs` describes."""
        return self.render_state(*self.decode(obs, root))

    def render_trajectory(
        self, obs: np.ndarray, root0: np.ndarray | None = None, progress: bool = False
    ) -> np.ndarray:
        """(T, H, W, 3) frames of an observation sequence (T, obs_dim); the root coordinates
        start at `root0` (default zeros) and are integrated from the observed root velocity."""
        root = np.zeros(self.decoder.num_root) if root0 is None else np.asarray(root0, np.float64)
        frames, velocity = [], None
        obs = np.asarray(obs, dtype=np.float64)
        for o in progress_bar(
            obs, desc="render frames", unit="frame", disable=not progress, leave=False
        ):
            v = self.decoder.root_velocity(o)
            if velocity is not None:  # trapezoidal rule between consecutive observations
                root = root + 0.5 * self.dt * (velocity + v)
            velocity = v
            frames.append(self.render_obs(o, root))
        return np.stack(frames)

    def close(self) -> None:
        close_env(self.env)

    def __enter__(self) -> PoseRenderer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
