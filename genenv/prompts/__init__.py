"""genenv.prompts: text and image prompts -> `WorldSpec`.

    from genenv.prompts import spec_from_text, spec_from_image
    spec_from_text("HalfCheetah", "a heavy cheetah on ice")      # mass up, friction down
    spec_from_image("InvertedPendulum", "frame.png")              # pose + pole length

Text prompts are read by a deterministic reader over a committed lexicon (`genenv.prompts.text`;
`read_text` also returns notes on what was understood, clamped and ignored). Image prompts load
small committed weights (genenv/prompts/weights/). Nothing trains or downloads at run time.
"""

from __future__ import annotations

from typing import Any

__all__ = ["spec_from_image", "spec_from_text"]


def spec_from_text(task: str, text: str, seed: int = 0, **kwargs: Any):
    """A WorldSpec whose physics context is what `text` describes (see `genenv.prompts.text`)."""
    from genenv.prompts.text import spec_from_text as _impl

    return _impl(task, text, seed=seed, **kwargs)


def spec_from_image(task: str, image: Any, seed: int = 0):
    """A WorldSpec with the pose and geometry a rendered frame shows (`genenv.prompts.image`)."""
    from genenv.prompts.image import spec_from_image as _impl

    return _impl(task, image, seed=seed)
