"""Text prompts -> WorldSpec, with notes on what was understood, clamped and ignored.

    read_text("Walker2d", "a light walker on Titan with sluggish motors").context
    # {'gravity': 1.35, 'mass_scale': 0.5, ..., 'actuator_scale': 0.6, ...}
    specs_from_texts("Hopper", ["gravity 20% stronger", "no friction"])  # batch

The reader (`genenv.prompts.rules`) is deterministic, offline and pure Python (no model to load:
about a millisecond a prompt). Values are clamped to the validity bounds (or the task's training
ranges) and rounded to 2 decimals; fields the prompt does not change keep their defaults; a
geometric field the task lacks (length_scale on Ant) is ignored with a note. A prompt that is
not English, or in which nothing physical is understood, says so in `not_understood`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from genenv.prompts.rules import Effect, read
from genenv.worlds.spec import CONTEXT_FIELDS, GEOMETRIC_FIELDS, Context, WorldSpec
from genenv.worlds.tasks import get_task


@dataclass
class TextReading:
    """A prompt's reading for one task: the context and the notes that explain it."""

    task: str
    text: str
    context: dict[str, float]  # every field's final value
    understood: list[dict[str, Any]] = field(default_factory=list)  # phrase, field, value, how
    clamped: list[dict[str, Any]] = field(default_factory=list)  # field, asked, value, bound
    ignored: list[str] = field(default_factory=list)  # what was read but not applied, and why
    unknown_words: list[str] = field(default_factory=list)  # words the reader does not know
    not_understood: str | None = None  # set when nothing physical was understood

    def notes(self) -> dict[str, Any]:
        """The notes as a JSON-ready dict (what `genenv world --json` prints)."""
        return {
            "understood": self.understood,
            "clamped": self.clamped,
            "ignored": self.ignored,
            "unknown_words": self.unknown_words,
            "not_understood": self.not_understood,
        }

    def note_lines(self) -> list[str]:
        lines = [f"understood: '{u['phrase']}' -> {u['field']} {u['value']:g} ({u['how']})"
                 for u in self.understood]  # fmt: skip
        lines += [f"clamped: {c['field']} {c['asked']} -> {c['value']:g} ({c['bound']})"
                  for c in self.clamped]  # fmt: skip
        lines += [f"ignored: {i}" for i in self.ignored]
        if self.not_understood:
            lines.append(f"not understood: {self.not_understood}")
        return lines


def _check_text(text: object) -> str:
    if not isinstance(text, str) or not text.strip():
        raise ValueError(
            "the text prompt is empty; describe the world, e.g. 'a heavy cheetah on ice'"
        )
    return " ".join(text.split())


def _strength(effect: Effect) -> tuple[int, float]:
    """Which of two effects on one field wins: explicit numbers first, then the strongest."""
    default = CONTEXT_FIELDS[effect.field][0]
    ratio = max(effect.value, 1e-9) / max(default, 1e-9)
    return int(effect.explicit), abs(math.log(ratio))


def read_text(task: str, text: str, clamp_to_train_range: bool = False) -> TextReading:
    """Read one prompt for `task` (see the module docstring)."""
    info = get_task(task)
    text = _check_text(text)
    reading = read(text)
    out = TextReading(info.name, text, {}, unknown_words=reading.unknown_words)
    if not reading.english:
        out.context = {name: spec[0] for name, spec in CONTEXT_FIELDS.items()}
        out.not_understood = "the prompt does not read as English; genenv reads English prompts"
        return out
    chosen: dict[str, Effect] = {}
    for effect in reading.effects:
        if effect.field in chosen and _strength(chosen[effect.field]) >= _strength(effect):
            out.ignored.append(f"'{effect.phrase}': {effect.field} already set by "
                               f"'{chosen[effect.field].phrase}'")  # fmt: skip
            continue
        if effect.field in chosen:
            out.ignored.append(f"'{chosen[effect.field].phrase}': {effect.field} set by "
                               f"'{effect.phrase}' instead")  # fmt: skip
        chosen[effect.field] = effect
    context = {}
    for name, (default, low, high, _) in CONTEXT_FIELDS.items():
        effect = chosen.get(name)
        if effect is None:
            context[name] = default
            continue
        if name in GEOMETRIC_FIELDS and name not in info.geometric_fields:
            out.ignored.append(f"'{effect.phrase}': {info.name} has no {name}")
            context[name] = default
            continue
        bound = "valid range"
        if clamp_to_train_range and name in info.train_ranges:
            low, high = info.train_ranges[name]
            bound = "training range"
        value = round(min(max(effect.value, low), high), 2)
        if abs(value - round(effect.value, 2)) > 1e-9:
            asked = round(effect.value, 4) if math.isfinite(effect.value) else str(effect.value)
            out.clamped.append({"field": name, "asked": asked, "value": value,
                                "bound": f"{bound} [{low:g}, {high:g}]"})  # fmt: skip
        context[name] = value
        out.understood.append(
            {"phrase": effect.phrase, "field": name, "value": value, "how": effect.how}
        )
    out.context = context
    if not out.understood:
        words = ", ".join(reading.unknown_words) or "none"
        out.not_understood = (
            "no physical change understood; every field stays at its default "
            f"(words not known: {words})"
        )
    return out


def read_texts(task: str | list[str], texts: list[str], clamp_to_train_range: bool = False):
    """Read many prompts (one task for all, or one task per prompt)."""
    tasks = [task] * len(texts) if isinstance(task, str) else list(task)
    if len(tasks) != len(texts):
        raise ValueError(f"{len(tasks)} tasks for {len(texts)} prompts")
    return [read_text(t, x, clamp_to_train_range) for t, x in zip(tasks, texts, strict=True)]


def spec_from_reading(reading: TextReading, seed: int = 0) -> WorldSpec:
    return WorldSpec(reading.task, Context.from_dict(reading.context), seed=seed)


def spec_from_text(
    task: str, text: str, seed: int = 0, clamp_to_train_range: bool = False
) -> WorldSpec:
    """A `WorldSpec` for `task` whose context is what `text` describes."""
    return spec_from_reading(read_text(task, text, clamp_to_train_range), seed)


def specs_from_texts(
    task: str | list[str], texts: list[str], seed: int = 0, clamp_to_train_range: bool = False
) -> list[WorldSpec]:
    """Batch `spec_from_text`: prompt i gets seed `seed + i`."""
    readings = read_texts(task, texts, clamp_to_train_range)
    return [spec_from_reading(r, seed + i) for i, r in enumerate(readings)]
