"""Image prompts for pixel worlds: any frame of the task's camera becomes the dream's first state.

A latent pixel world (`genenv train-world --kind latent`) reads frames itself: its encoder maps
the image to the latent z the dream starts from, so any frame of the task's fixed camera
(`genenv.worlds.cameras`) works, not only a fresh env's first render. A single image shows no
motion, so it is encoded as a pose at rest (the frame stacked with itself).

The model refuses what it cannot read: `prompt_score` (how badly it redraws the frame) above the
model's `prompt_limit` (1.5x the worst held-out real frame at training time) is a ValueError. A
frame of another task, of another camera, or a non-render scores far above it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from genenv.prompts.image import load_image


@dataclass
class LatentPrompt:
    """What a pixel world reads from an image."""

    task: str
    frame: np.ndarray  # (S, S, 3) uint8, the image as the model sees it
    latent: np.ndarray  # (D,) the dream's first state
    score: float  # prompt_score of the frame
    limit: float  # the model's prompt_limit
    state_estimate: np.ndarray  # the linear probe's reading of the true MuJoCo state

    def to_dict(self) -> dict:
        return {
            "task": self.task,
            "latent": [round(float(v), 5) for v in self.latent],
            "prompt_score": round(self.score, 6),
            "prompt_limit": round(self.limit, 6),
            "state_estimate": [round(float(v), 4) for v in self.state_estimate],
        }


def read_image_prompt(model, image) -> LatentPrompt:
    """Encode `image` (path, PIL image or (H, W, 3) array) with the pixel world `model`."""
    size = model.config.image_size
    frame = load_image(image, size)
    x = torch.as_tensor(np.array(frame[None]), device=model.device)
    score = float(model.prompt_score(x)[0])
    limit = float(model.prompt_limit)
    if not score <= limit:
        raise ValueError(
            f"this image does not look like a frame of the {model.task} camera this pixel world "
            f"was trained on (redraw error {score:.4f} > its limit {limit:.4f}); pass a frame of "
            f"{model.task} from its pixel camera (genenv.worlds.cameras)"
        )
    z = model.encode(x)  # (1, D)
    state = model.probe_state(z)[0].cpu().numpy()
    return LatentPrompt(model.task, frame, z[0].cpu().numpy(), score, limit, state)
