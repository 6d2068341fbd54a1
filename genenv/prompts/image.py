"""Image prompts -> WorldSpec: a small CNN reads the pose and the geometry off a rendered frame.

One network, shared trunk, three outputs:
- a task head over (InvertedPendulum, HalfCheetah, other) -- "other" was trained on renders of the
  remaining MuJoCo tasks and on synthetic non-renders (noise, flat colours, gradients, boxes);
- per task, a regression head for the visible qpos entries and `length_scale`.
A frame whose task head does not pick the requested task with probability >= `min_task_prob` is
rejected with a ValueError (wrong task, or not a render at all). Fields that a still frame cannot
show (gravity, mass, friction, damping, actuator strength) stay at their defaults;
`ImagePrediction.notes` says so.

Inputs are read as 64x64 RGB. The net was trained on the first frame of a fresh env in the pose:
`WorldSpec(task, context, initial_state=InitialState(qpos)).make_env(render_mode="rgb_array",
width=64, height=64)`, `reset()`, `render()` -- so `spec_from_image` inverts exactly that, and
gymnasium's free camera aims itself at the pose it first renders (see `image_data`). Frames whose
camera was aimed elsewhere (later frames of an episode, whose camera aimed at the reset pose;
`genenv record`'s tracking camera for HalfCheetah) show the joint angles the same way but the
root position (cart x, rootx) differently: it is read less accurately from those. Other sizes are
box-downsampled first and read less accurately (the floor's checker pattern aliases differently).

Trained once by `train_image_model()`; the weights are committed in `genenv/prompts/weights/`.

Because the net only knows fresh first frames, every reading is checked by analysis-by-synthesis:
the read pose is rendered as a fresh env's first frame and compared with the image; when more
than `REPRODUCTION_LIMIT[task]` of the pixels differ strongly (max channel difference > 60/255),
the frame is refused with a ValueError instead of answered with false confidence. (A frame
rendered after `set_state` in an env whose camera aimed at an earlier pose is the typical case:
the cart sits off-centre, the reading re-renders centred.) For a pixel world, use
`genenv.prompts.image_latent`, which reads any frame of the task's fixed camera.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from genenv.prompts.image_data import IMAGE_SIZE, IMAGE_TASKS, POSE_SPACES
from genenv.worlds.spec import CONTEXT_FIELDS, Context, InitialState, WorldSpec
from genenv.worlds.tasks import get_task

WEIGHTS_DIR = Path(__file__).parent / "weights"
IMAGE_WEIGHTS = WEIGHTS_DIR / "image_model.safetensors"
IMAGE_META = WEIGHTS_DIR / "image_model.json"
FORMAT_VERSION = 1
CLASSES = (*IMAGE_TASKS, "other")  # task head classes
# Share of strongly differing pixels between an image and the re-render of its reading, above
# which the reading is refused. Measured on 20 in-distribution renders per task (fresh first
# frames, random poses): InvertedPendulum max 0.018 (median 0.0), HalfCheetah max 0.30 (median
# 0.07); mid-episode InvertedPendulum frames (camera aimed at the reset pose) median 0.051. The
# HalfCheetah reader is coarser, so its limit only catches gross misreadings.
REPRODUCTION_LIMIT = {"InvertedPendulum": 0.03, "HalfCheetah": 0.4}
INVISIBLE = ("gravity", "mass_scale", "friction_scale", "damping_scale", "actuator_scale")


@dataclass
class ImageModelConfig:
    """Training settings of the image model."""

    n_per_task: int = 3000  # renders per supported task
    n_other_renders: int = 250  # renders per task in OTHER_TASKS ("other" class)
    n_synthetic: int = 600  # synthetic non-renders ("other" class)
    n_heldout: int = 300  # held-out renders per supported task (reported, never trained on)
    fast_share: float = 0.25  # share of worlds rendered without shadows/reflections
    seed: int = 0  # render and torch seed
    width: int = 32  # channels of the first conv layer (doubles twice)
    epochs: int = 18  # passes over the training renders
    batch_size: int = 32  # minibatch size (small: more steps per CPU second; 128 underfit)
    lr: float = 2e-3  # AdamW learning rate
    weight_decay: float = 1e-4  # AdamW weight decay
    min_task_prob: float = 0.5  # reject frames whose task probability is below this


def _targets_dim(task: str) -> int:
    return len(POSE_SPACES[task].visible_qpos) + 1  # visible qpos + length_scale


class ImagePromptNet(nn.Module):
    """(n, 3, 64, 64) in [0, 1] -> task logits (n, C) and normalised targets per task."""

    def __init__(self, width: int = 32):
        super().__init__()
        w = width
        self.trunk = nn.Sequential(
            nn.Conv2d(3, w, 5, stride=2, padding=2),  # (n, w, 32, 32)
            nn.GELU(),
            nn.Conv2d(w, 2 * w, 3, stride=2, padding=1),  # (n, 2w, 16, 16)
            nn.GELU(),
            nn.Conv2d(2 * w, 4 * w, 3, stride=2, padding=1),  # (n, 4w, 8, 8)
            nn.GELU(),
            nn.Conv2d(4 * w, 2 * w, 3, stride=2, padding=1),  # (n, 2w, 4, 4)
            nn.GELU(),
            nn.Flatten(),  # (n, 32w)
            nn.Linear(32 * w, 256),
            nn.GELU(),
        )
        self.task_head = nn.Linear(256, len(CLASSES))
        self.heads = nn.ModuleDict({t: nn.Linear(256, _targets_dim(t)) for t in IMAGE_TASKS})

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        h = self.trunk(x)  # (n, 256)
        return self.task_head(h), {t: head(h) for t, head in self.heads.items()}


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """(n, H, W, 3) uint8 -> (n, 3, H, W) float in [0, 1]."""
    pixels = torch.from_numpy(np.require(images, np.uint8, ["C", "W"]))  # writable: no warning
    return pixels.permute(0, 3, 1, 2).float() / 255.0


# -- reading an image ---------------------------------------------------------------------------
def load_image(image, size: int = IMAGE_SIZE) -> np.ndarray:
    """A path, PIL image or array -> (size, size, 3) uint8 (box-resampled when its size
    differs); a non-image file is a ValueError."""
    from PIL import Image, UnidentifiedImageError

    if isinstance(image, (str, Path)):
        path = Path(image)
        if not path.is_file():
            raise FileNotFoundError(f"image file not found: {path}")
        try:
            with Image.open(path) as img:
                img.load()
                pil = img.convert("RGB")
        except (UnidentifiedImageError, OSError) as err:
            raise ValueError(f"{path} is not an image file PIL can read ({err})") from err
    elif isinstance(image, Image.Image):
        pil = image.convert("RGB")
    elif isinstance(image, np.ndarray):
        arr = image
        if arr.ndim != 3 or arr.shape[-1] not in (3, 4) or min(arr.shape[:2]) < 8:
            raise ValueError(f"an image array must be (H, W, 3) or (H, W, 4), got {arr.shape}")
        if arr.dtype != np.uint8:
            arr = (np.clip(arr, 0.0, 1.0) * 255).round().astype(np.uint8)
        pil = Image.fromarray(np.ascontiguousarray(arr[..., :3]))
    else:
        raise ValueError(f"expected an image path, PIL image or array, got {type(image).__name__}")
    if pil.size != (size, size):
        pil = pil.resize((size, size), Image.BOX)  # closest to a native 64x64 render
    return np.asarray(pil, dtype=np.uint8)


@lru_cache(maxsize=1)
def load_image_model() -> tuple[ImagePromptNet, dict]:
    """The committed image model (eval mode) and its metadata."""
    from safetensors.torch import load_file

    if not IMAGE_WEIGHTS.exists() or not IMAGE_META.exists():
        raise FileNotFoundError(
            f"image model weights not found at {IMAGE_WEIGHTS}; "
            "train them once with `python -m genenv.prompts.image_train`"
        )
    meta = json.loads(IMAGE_META.read_text())
    if meta.get("format_version") != FORMAT_VERSION or tuple(meta["classes"]) != CLASSES:
        raise ValueError(f"{IMAGE_META} has an incompatible format; retrain the image model")
    model = ImagePromptNet(meta["config"]["width"])
    model.load_state_dict(load_file(str(IMAGE_WEIGHTS)))
    return model.eval(), meta


@dataclass
class ImagePrediction:
    """What an image shows."""

    task_probs: dict[str, float]  # task head probabilities
    qpos: tuple[float, ...]  # full qpos (hidden entries set to their fixed values)
    length_scale: float  # predicted geometry (1.0 for tasks without a geometric field)
    notes: list[str] = field(default_factory=list)  # what could not be read, and why
    mismatch: float = 0.0  # share of pixels the re-render of this reading gets clearly wrong


def reproduction_mismatch(task: str, qpos, length_scale: float, pixels: np.ndarray) -> float:
    """Share of pixels whose max channel differs by > 60/255 between `pixels` (64x64x3 uint8)
    and the fresh first frame of the world in pose `qpos` with `length_scale`."""
    spec = WorldSpec(task, Context(length_scale=length_scale), initial_state=InitialState(qpos))
    env = spec.make_env(render_mode="rgb_array", width=IMAGE_SIZE, height=IMAGE_SIZE)
    try:
        env.reset(seed=0)
        frame = env.render()
    finally:
        env.close()
    diff = np.abs(frame.astype(np.int16) - pixels.astype(np.int16)).max(-1)  # (H, W)
    return float((diff > 60).mean())


def predict_image(task: str, image, check: bool = True) -> ImagePrediction:
    """Read pose and geometry of a `task` world off an image (see the module docstring).

    `check` (default): refuse (ValueError) a reading whose re-render does not reproduce the
    image (see `REPRODUCTION_LIMIT`)."""
    info = get_task(task)
    if info.name not in IMAGE_TASKS:
        raise ValueError(f"image prompts support tasks {', '.join(IMAGE_TASKS)}; got {info.name}")
    pixels = load_image(image)
    model, meta = load_image_model()
    with torch.no_grad():
        logits, heads = model(to_tensor(pixels[None]))  # (1, C), {task: (1, D)}
    probs = dict(zip(CLASSES, torch.softmax(logits, -1)[0].tolist(), strict=True))
    if probs[info.name] < meta["config"]["min_task_prob"]:
        ranked = ", ".join(f"{k} {v:.2f}" for k, v in sorted(probs.items(), key=lambda kv: -kv[1]))
        raise ValueError(
            f"this image does not look like a rendered {info.name} world "
            f"(task classifier: {ranked}); pass a frame rendered from {info.name}"
        )
    norm = meta["target_norm"][info.name]
    out = heads[info.name][0].numpy() * np.asarray(norm["std"]) + np.asarray(norm["mean"])
    space = POSE_SPACES[info.name]
    qpos = np.asarray(meta["init_qpos"][info.name], dtype=np.float64)
    qpos[list(space.visible_qpos)] = out[:-1]
    for idx, value in space.hidden_value.items():
        qpos[idx] = value
    lo, hi = np.asarray(meta["qpos_low"][info.name]), np.asarray(meta["qpos_high"][info.name])
    qpos = np.clip(qpos, lo, hi)
    _, vlo, vhi, _ = CONTEXT_FIELDS["length_scale"]
    length = float(np.clip(out[-1], vlo, vhi)) if "length_scale" in info.geometric_fields else 1.0
    notes = [
        f"{', '.join(INVISIBLE)} cannot be seen in a still frame: left at their defaults",
    ]
    notes += [
        f"qpos[{i}] is not visible (the camera follows the body): set to {v}"
        for i, v in space.hidden_value.items()
    ]
    qpos_out, length = tuple(round(float(q), 4) for q in qpos), round(length, 2)
    mismatch = reproduction_mismatch(info.name, qpos_out, length, pixels)
    if check and mismatch > REPRODUCTION_LIMIT[info.name]:
        raise ValueError(
            f"cannot read this {info.name} frame: the pose read from it, re-rendered, differs "
            f"from it in {mismatch:.1%} of the pixels (limit {REPRODUCTION_LIMIT[info.name]:.0%}); "
            "the state-world reader only knows a fresh env's first frame (camera aimed at the "
            "pose); for other frames use a pixel world (genenv world --image IMG --world CKPT)"
        )
    notes.append(f"re-render of the reading differs from the image in {mismatch:.1%} of pixels")
    return ImagePrediction(probs, qpos_out, length, notes, mismatch)


def spec_from_image(task: str, image, seed: int = 0) -> WorldSpec:
    """A `WorldSpec` for `task` with the pose (`initial_state.qpos`) and geometry an image shows."""
    return spec_from_prediction(task, predict_image(task, image), seed)


def spec_from_prediction(task: str, pred: ImagePrediction, seed: int = 0) -> WorldSpec:
    """The `WorldSpec` of an `ImagePrediction` already made (no second pass of the model)."""
    context = Context(length_scale=pred.length_scale)
    return WorldSpec(get_task(task).name, context, seed=seed, initial_state=InitialState(pred.qpos))
