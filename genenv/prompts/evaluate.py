"""Score text prompts against a prompt set with an expected value range per field.

A set is a YAML file (benchmarks/data/prompts_*.yaml) of {task, text, expect}; `expect` maps a
field to [low, high]; every field not listed must stay at its default. Per prompt:
  direction-correct: every listed field moves the way its range says (up when low > default, down
                     when high < default; a range that holds the default accepts no move or a
                     move within it) and every other field stays at its default (within 0.5%);
  value-correct:     direction-correct and every listed field lands inside its range.
Methods: "reader" (genenv.prompts.text), "embedding" (the learned mapping alone,
genenv.prompts.embedding), "hybrid" (the reader, plus the learned mapping for fields the reader
left untouched when the prompt has words the reader does not know).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from genenv.worlds.spec import CONTEXT_FIELDS, GEOMETRIC_FIELDS
from genenv.worlds.tasks import get_task

REPO = Path(__file__).resolve().parents[2]
HELDOUT_PATH = REPO / "benchmarks" / "data" / "prompts_heldout.yaml"
DEV_PATH = REPO / "benchmarks" / "data" / "prompts_dev.yaml"
STAY_TOL = 0.005  # a field "stays at its default" within 0.5%
METHODS = ("reader", "embedding", "hybrid")


@dataclass
class PromptScore:
    """One prompt's outcome."""

    text: str
    task: str
    expect: dict[str, list[float]]
    got: dict[str, float]  # fields that left their default
    direction_ok: bool
    value_ok: bool


def load_prompts(path: str | Path = HELDOUT_PATH) -> list[dict]:
    if not Path(path).exists():
        return []
    items = yaml.safe_load(Path(path).read_text())["prompts"]
    for item in items:
        get_task(item["task"])
        for name, rng in item["expect"].items():
            if name not in CONTEXT_FIELDS or len(rng) != 2 or rng[0] > rng[1]:
                raise ValueError(f"{path}: bad expectation {name}: {rng} in {item['text']!r}")
    return items


def _moved(name: str, value: float) -> bool:
    default = CONTEXT_FIELDS[name][0]
    return abs(value - default) > STAY_TOL * max(abs(default), 1e-9)


def score_prompt(text: str, task: str, expect: dict, got: dict[str, float]) -> PromptScore:
    """Score one prediction (`got`: every field's value) against its expectation."""
    moved = {k: v for k, v in got.items() if _moved(k, v)}
    direction_ok = not (set(moved) - set(expect))
    value_ok = direction_ok
    for name, (low, high) in expect.items():
        default, value = CONTEXT_FIELDS[name][0], got[name]
        if low > default:
            right = value > default and _moved(name, value)
        elif high < default:
            right = value < default and _moved(name, value)
        else:
            right = not _moved(name, value) or low <= value <= high
        direction_ok = direction_ok and right
        value_ok = value_ok and right and low - 1e-6 <= value <= high + 1e-6
    return PromptScore(text, task, dict(expect), moved, direction_ok, value_ok)


def predict(items: list[dict], method: str = "reader") -> list[dict[str, float]]:
    """Every field's value for each prompt under a method."""
    from genenv.prompts.text import read_texts

    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; valid: {', '.join(METHODS)}")
    readings = read_texts([i["task"] for i in items], [i["text"] for i in items])
    if method == "reader":
        return [r.context for r in readings]
    from genenv.prompts.embedding import predict_fields

    learned = predict_fields([i["text"] for i in items])
    out = []
    for item, reading, fields in zip(items, readings, learned, strict=True):
        info = get_task(item["task"])
        use = method == "embedding" or bool(reading.unknown_words)
        context = (
            {n: s[0] for n, s in CONTEXT_FIELDS.items()}
            if method == "embedding"
            else dict(reading.context)
        )
        touched = {u["field"] for u in reading.understood} if method == "hybrid" else set()
        for name, value in fields.items():
            english = not (reading.not_understood or "").startswith("the prompt does not read")
            if not use or name in touched or not english:
                continue
            if name in GEOMETRIC_FIELDS and name not in info.geometric_fields:
                continue
            _, low, high, _ = CONTEXT_FIELDS[name]
            context[name] = round(min(max(value, low), high), 2)
        out.append(context)
    return out


def score_prompts(path: str | Path = HELDOUT_PATH, method: str = "reader") -> list[PromptScore]:
    items = load_prompts(path)
    return [
        score_prompt(i["text"], i["task"], i["expect"], got)
        for i, got in zip(items, predict(items, method), strict=True)
    ]
