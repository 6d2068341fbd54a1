"""Score text prompts against a hand-written paraphrase set (data/paraphrases_*.yaml).

Per prompt:
  direction-correct: every expected field moves the right way (by more than `DIRECTION_EPS`
                     relative to its default) and every other field stays exactly at its default;
  value-correct:     direction-correct and every expected value is within a factor
                     `VALUE_FACTOR` of the expectation (gravity: or within `GRAVITY_ABS` m/s^2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import yaml

from genenv.prompts.generate import DATA_DIR
from genenv.worlds.spec import CONTEXT_FIELDS

HELDOUT_PATH = DATA_DIR / "paraphrases_heldout.yaml"
DEV_PATH = DATA_DIR / "paraphrases_dev.yaml"
DIRECTION_EPS = 0.03  # a field "moved" if it differs from its default by more than 3%
VALUE_FACTOR = 1.6  # value-correct: within x/1.6 .. x*1.6 of the expected value
GRAVITY_ABS = 0.5  # or, for gravity, within 0.5 m/s^2


@dataclass
class PromptScore:
    """One prompt's outcome."""

    text: str
    task: str
    expect: dict[str, float]
    got: dict[str, float]  # fields that left their default
    direction_ok: bool
    value_ok: bool


def load_paraphrases(path: str | Path = HELDOUT_PATH) -> list[dict]:
    items = yaml.safe_load(Path(path).read_text())["prompts"]
    for item in items:
        unknown = set(item["expect"]) - set(CONTEXT_FIELDS)
        if unknown:
            raise ValueError(f"{path}: unknown fields {sorted(unknown)} in {item['text']!r}")
    return items


def _direction(name: str, value: float) -> int:
    default = CONTEXT_FIELDS[name][0]
    if abs(value - default) <= DIRECTION_EPS * default:
        return 0
    return 1 if value > default else -1


def score_prompt(text: str, task: str, expect: dict[str, float], got: dict[str, float]):
    """Score one prediction (`got`: every field's value) against its expectation."""
    moved = {k: v for k, v in got.items() if v != CONTEXT_FIELDS[k][0]}
    direction_ok = all(
        _direction(k, got[k]) == _direction(k, v) for k, v in expect.items()
    ) and not (set(moved) - set(expect))
    value_ok = direction_ok
    for k, v in expect.items():
        close = abs(math.log(max(got[k], 1e-6) / max(v, 1e-6))) <= math.log(VALUE_FACTOR)
        if k == "gravity":
            close = close or abs(got[k] - v) <= GRAVITY_ABS
        value_ok = value_ok and close
    return PromptScore(text, task, dict(expect), moved, direction_ok, value_ok)


def score_text_prompts(path: str | Path = HELDOUT_PATH, use_rules: bool = True):
    """Run the text pipeline on every prompt of a paraphrase file and score it."""
    from genenv.prompts.text import predict_context

    scores: list[PromptScore] = []
    for item in load_paraphrases(path):
        pred = predict_context(item["task"], item["text"], use_rules=use_rules)
        scores.append(score_prompt(item["text"], item["task"], item["expect"], pred.context))
    return scores
