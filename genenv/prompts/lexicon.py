"""The text reader's lexicon (data/lexicon.yaml): words, world knowledge, and a phrase matcher.

`Lexicon.match(tokens)` finds the longest known phrase at each position and returns `Item`s,
each naming what the phrase is (a field noun, an adjective, a Solar System body, a material...).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from genenv.worlds.spec import CONTEXT_FIELDS

LEXICON_PATH = Path(__file__).parent / "data" / "lexicon.yaml"
# Words with a fixed grammatical role, matched after every lexicon phrase.
KEYWORDS = {"by", "than", "to", "as", "of", "factor", "times", "x", "%", "g", "gs", "mps2"}


@dataclass(frozen=True)
class Item:
    """One matched phrase: tokens [start, end) of a clause and what they mean."""

    kind: str  # noun | joint | surface | subject | adj | dir | int | neg | mult | num | body |
    #            stuff | prep | default | descriptor | kw
    start: int
    end: int
    text: str
    field: str | None = None  # noun / adj: the field it names
    value: float = 0.0  # adj / dir / mult / int: factor or multiplier; num: value; body: m/s^2
    flags: str = ""  # adj: g (generic), j (joints -> damping), s (surface -> friction);
    #                  prep: material | surface | medium
    stuff: tuple[tuple[str, float], ...] = ()  # stuff: (category, factor) in preference order


@dataclass
class Lexicon:
    """Phrase -> meaning tables, built once from the YAML file."""

    phrases: dict[tuple[str, ...], Item]  # phrase tokens -> template item (start/end unset)
    english: frozenset[str]
    scenery: frozenset[str]  # words before which a Solar System body is scenery
    max_len: int

    def match(self, tokens: list[str]) -> list[Item]:
        """Longest-match items over a clause's tokens (unknown words yield nothing)."""
        items, i = [], 0
        while i < len(tokens):
            for n in range(min(self.max_len, len(tokens) - i), 0, -1):
                key = tuple(tokens[i : i + n])
                if key in self.phrases:
                    t = self.phrases[key]
                    items.append(
                        Item(t.kind, i, i + n, " ".join(key), t.field, t.value, t.flags, t.stuff)
                    )
                    i += n
                    break
            else:
                tok = tokens[i]
                if _is_number(tok):
                    items.append(Item("num", i, i + 1, tok, value=float(tok)))
                elif tok in KEYWORDS:
                    items.append(Item("kw", i, i + 1, tok))
                i += 1
        return items

    def knows(self, token: str) -> bool:
        return (token,) in self.phrases or token in KEYWORDS or _is_number(token)


def _is_number(tok: str) -> bool:
    return tok[:1].isdigit()


@lru_cache(maxsize=1)
def load_lexicon(path: str | Path = LEXICON_PATH) -> Lexicon:
    raw = yaml.safe_load(Path(path).read_text())
    table: dict[tuple[str, ...], Item] = {}

    def add(phrase: str, item: Item) -> None:
        key = tuple(str(phrase).split())
        table.setdefault(key, item)  # the first kind listed below wins a shared phrase

    for phrase, g in raw["bodies"].items():
        add(phrase, Item("body", 0, 0, phrase, "gravity", float(g)))
    for phrase, cats in raw["stuff"].items():
        add(
            phrase, Item("stuff", 0, 0, phrase, stuff=tuple((k, float(v)) for k, v in cats.items()))
        )
    for phrase, mult in raw["multipliers"].items():
        add(phrase, Item("mult", 0, 0, phrase, value=float(mult)))
    for phrase, value in raw["numbers"].items():
        add(phrase, Item("num", 0, 0, phrase, value=float(value)))
    for phrase, (name, factor, flags) in raw["adjectives"].items():
        if name not in CONTEXT_FIELDS:
            raise ValueError(f"lexicon adjective {phrase!r}: unknown field {name!r}")
        add(phrase, Item("adj", 0, 0, phrase, name, float(factor), flags or ""))
    for phrase in raw["negations"]:
        add(phrase, Item("neg", 0, 0, phrase))
    for phrase, factor in raw["directions"].items():
        add(phrase, Item("dir", 0, 0, phrase, value=float(factor)))
    for phrase, mult in raw["intensifiers"].items():
        add(phrase, Item("int", 0, 0, phrase, value=float(mult)))
    for phrase in raw["defaults"]:
        add(phrase, Item("default", 0, 0, phrase))
    for name, nouns in raw["fields"].items():
        if name not in CONTEXT_FIELDS:
            raise ValueError(f"lexicon noun list: unknown field {name!r}")
        for phrase in nouns:
            add(phrase, Item("noun", 0, 0, phrase, name))
    for kind in ("joint", "surface"):
        for phrase in raw[f"{kind}_nouns"]:
            add(phrase, Item(kind, 0, 0, phrase))
    for phrase in raw["subjects"]:
        add(phrase, Item("subject", 0, 0, phrase))
    for cat, phrases in raw["prepositions"].items():
        for phrase in phrases:
            add(phrase, Item("prep", 0, 0, phrase, flags=cat))
    for phrase in raw["descriptors"]:
        add(phrase, Item("descriptor", 0, 0, phrase))
    for color in ("blue", "green", "grey", "gray", "brown", "pink", "purple", "yellow", "red"):
        for shade in ("light", "dark", "pale", "bright"):
            add(f"{shade} {color}", Item("descriptor", 0, 0, f"{shade} {color}"))
    english = frozenset(raw["english"])
    return Lexicon(table, english, frozenset(raw["scenery"]), max(len(k) for k in table))


def log_factor(value: float) -> float:
    """log of a factor; a factor of 0 (e.g. 'undamped') maps to a very negative number."""
    return math.log(value) if value > 0 else -50.0
