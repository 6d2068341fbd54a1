"""Read a text prompt into physics-field changes: a deterministic reader over a lexicon.

The prompt is normalised (units, hyphens, contractions), cut into clauses at punctuation and
conjunctions, and each clause is matched against the lexicon (`genenv.prompts.lexicon`). Anchors
(field nouns, field adjectives, Solar System bodies, materials/surfaces/media, gravity units)
collect the modifiers nearest to them: negations, intensifiers, multipliers, percentages, numbers,
direction words. Each anchor then yields one `Effect` on one field.

Negation: "not <adjective>" leaves the field at its default; "no <field>" / "without <field>" sets
the field to its lowest valid value. Relative quantities act on the stock value (or on a named
body's gravity); absolute ones ("gravity 4", "2.5 g", "4 m/s^2", "mass 3") set the value.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass

from genenv.prompts.lexicon import Item, Lexicon, load_lexicon, log_factor
from genenv.worlds.spec import CONTEXT_FIELDS

EARTH_G = 9.81
# Clause boundaries: punctuation and conjunctions that start a new idea.
_SPLIT_WORDS = {"and", "but", "with", "while", "whereas", "plus", "though", "although", "yet",
                "however", "whose", "which", "who", "that", "nor", "or", "where", "because"}  # fmt: skip
_SPLIT_PUNCT = {",", ";", ".", "!", "?", "(", ")"}
_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5}
_PRE = {"neg", "int", "mult", "dir", "default", "more_less"}  # modifiers that precede their anchor


@dataclass(frozen=True)
class Effect:
    """What one phrase of the prompt does to one field."""

    field: str
    value: float  # the field's new value (unclamped)
    phrase: str  # the words it was read from
    how: str  # "absolute" | "relative" | "knowledge" | "adjective" | "negated" | "default" | "none"
    explicit: bool = False  # read from a number or a multiplier


@dataclass
class Reading:
    """Everything the reader found in a prompt."""

    effects: list[Effect]
    unknown_words: list[str]  # content words that no lexicon entry covers
    english: bool  # False when the prompt does not read as English


def normalise(text: str) -> str:
    t = unicodedata.normalize("NFKC", text).lower()  # NFKC: "²" -> "2"
    t = t.replace("\u2019", "'").replace("\u00d7", " x ").replace("\u2212", "-")
    t = re.sub(r"\bm\s*/\s*s\s*(?:\^\s*2|2|/\s*s)(?![\w.])", " mps2 ", t)
    t = re.sub(r"\bm\s*s\s*\^?\s*-\s*2\b", " mps2 ", t)
    t = re.sub(r"\b(?:meters?|metres?) per (?:second squared|second per second|s2)\b", " mps2 ", t)
    t = re.sub(r"\bper\s*cent\b|\bpercent\b", " % ", t)
    t = re.sub(r"n't\b", " not", t).replace("cannot", "can not")
    t = re.sub(r"'s\b|s'(?=\s)", "", t)
    t = re.sub(r"(\d)\s*(x|g|gs|%)(?![a-z])", r"\1 \2", t)
    t = re.sub(r"\bx\s*(\d)", r"x \1", t)
    t = re.sub(r"(?<=[a-z])-(?=[a-z])", " ", t)
    t = re.sub(r"\bhalf again\b", "1.5 times", t)

    def and_a_half(m: re.Match) -> str:
        whole = _NUMBER_WORDS.get(m.group(1)) or float(m.group(1))
        return f"{whole + 0.5:g}"

    return re.sub(r"\b(one|two|three|four|five|\d+) and a half\b", and_a_half, t)


def tokenize(text: str) -> list[str]:
    # numbers: 3, 2.5, 1e3 (1e999 reads as inf, then clamps)
    return re.findall(r"\d+(?:\.\d+)?(?:e[+-]?\d+)?(?![a-z])|\d+(?:\.\d+)?|mps2|[a-z]+|[%,;.!?()]",
                      normalise(text))  # fmt: skip


def clauses(tokens: list[str]) -> list[list[str]]:
    out, cur = [], []
    for tok in tokens:
        if tok in _SPLIT_PUNCT or tok in _SPLIT_WORDS:
            if cur:
                out.append(cur)
            cur = []
        else:
            cur.append(tok)
    if cur:
        out.append(cur)
    return out


# -- anchors and their modifiers ----------------------------------------------------------------
def _redirect(item: Item, items: list[Item]) -> str:
    """The field an adjective names in its clause ("sticky hinges" -> damping)."""
    kinds = {i.kind for i in items}
    if "j" in item.flags and "joint" in kinds:
        return "damping_scale"
    if "s" in item.flags and "surface" in kinds and "joint" not in kinds:
        return "friction_scale"
    return item.field


def _describes_other(item: Item, items: list[Item], tokens: list[str], lex: Lexicon) -> bool:
    """A generic adjective directly before a word the lexicon does not know ("a strong wind")."""
    j = item.end
    while j < len(tokens) and any(i.start == j and i.kind == "descriptor" for i in items):
        j += 1
    return j < len(tokens) and not lex.knows(tokens[j]) and tokens[j] not in lex.english


def _anchors(items: list[Item], tokens: list[str], lex: Lexicon) -> tuple[list[Item], list[Item]]:
    """Split a clause's items into anchors (name a field) and modifiers."""
    nouns = [i for i in items if i.kind == "noun"]
    has_gravity = any(i.field == "gravity" for i in nouns) or any(
        i.kind == "adj" and i.field == "gravity" for i in items
    )
    anchors, mods = [], []
    for it in items:
        if it.kind == "noun":
            anchors.append(it)
        elif it.kind == "adj":
            if "g" in it.flags and nouns and not _next_is_subject(it, items):
                # "strong gravity", "gravity is heavy": a generic adjective names a direction
                mods.append(Item("dir", it.start, it.end, it.text, value=it.value))
            elif "g" in it.flags and _describes_other(it, items, tokens, lex):
                continue
            else:
                anchors.append(Item("adj", it.start, it.end, it.text, _redirect(it, items),
                                    it.value, it.flags))  # fmt: skip
        elif it.kind == "body":
            before = [t for t in tokens[max(0, it.start - 4) : it.start] if t not in ("a", "the")]
            if any(t in lex.scenery for t in before[-2:]):
                continue  # "under the moon": scenery
            if has_gravity or any(i.kind == "kw" and i.text == "than" for i in items):
                mods.append(Item("base", it.start, it.end, it.text, "gravity", it.value))
            else:
                anchors.append(it)
        elif it.kind == "stuff":
            anchors.append(_stuff_anchor(it, items))
        elif it.kind == "kw" and it.text in ("g", "gs", "mps2") and not has_gravity:
            has_num = any(i.kind == "num" and i.end == it.start for i in items)
            if has_num:
                anchors.append(Item("noun", it.start, it.end, it.text, "gravity"))
                has_gravity = True
        elif it.kind in ("neg", "int", "mult", "num", "dir", "default", "kw"):
            mods.append(it)
    return anchors, mods


def _next_is_subject(item: Item, items: list[Item]) -> bool:
    nxt = [i for i in items if i.start >= item.end and i.kind != "descriptor"]
    return bool(nxt) and nxt[0].start <= item.end + 2 and nxt[0].kind == "subject"


def _stuff_anchor(it: Item, items: list[Item]) -> Item:
    """A material, surface or medium: the preposition before it (or the clause) says which."""
    cats = dict(it.stuff)
    kinds = {i.kind for i in items}
    prep = next((i for i in reversed(items) if i.kind == "prep" and i.end <= it.start), None)
    want = [c for c, _ in it.stuff]
    if "joint" in kinds:
        want = ["medium", "surface", *want]  # "joints full of glue": damping
    elif "surface" in kinds:
        want = ["surface", *want]  # "a floor covered in oil": friction
    elif prep is not None and it.start - prep.end <= 3:
        want = [prep.flags, *want]
    cat = next(c for c in want if c in cats)
    name = {"material": "mass_scale", "surface": "friction_scale", "medium": "damping_scale"}[cat]
    return Item("stuff", it.start, it.end, it.text, name, cats[cat], cat)


def _assign(anchors: list[Item], mods: list[Item]) -> dict[int, list[Item]]:
    """Each modifier goes to its nearest anchor (pre-modifiers lean forward, numbers back)."""
    out: dict[int, list[Item]] = {k: [] for k in range(len(anchors))}
    for m in mods:
        best, best_d = None, math.inf
        for k, a in enumerate(anchors):
            if m.end <= a.start:
                d = a.start - m.end + (0.0 if m.kind in _PRE else 0.6)
            elif m.start >= a.end:
                d = m.start - a.end + (0.6 if m.kind in _PRE else 0.0)
            else:
                continue
            if d < best_d:
                best, best_d = k, d
        if best is not None:
            out[best].append(m)
    return out


def _times(nums: list[Item], mods: list[Item]) -> Item | None:
    """A number used as a multiplier: "3x", "x3", "3 times"."""
    for n in nums:
        for m in mods:
            if m.kind == "kw" and (
                (m.text in ("x", "times") and m.start == n.end)
                or (m.text == "x" and m.end == n.start)
            ):
                return n
    return None


def _has(mods: list[Item], *texts: str) -> bool:
    return any(m.kind == "kw" and m.text in texts for m in mods)


def _effect(anchor: Item, mods: list[Item]) -> Effect | None:
    """One anchor and its modifiers -> an effect on one field."""
    name = anchor.field
    default, low, _, _ = CONTEXT_FIELDS[name]
    words = sorted([anchor, *mods], key=lambda i: i.start)
    phrase = " ".join(w.text for w in words)
    base = next((m.value for m in mods if m.kind == "base"), default)
    if anchor.kind == "body":
        base = anchor.value
    negated = any(m.kind == "neg" for m in mods)
    dirs = [m for m in mods if m.kind == "dir"]
    ints = [m.value for m in mods if m.kind == "int"]
    nums = [m for m in mods if m.kind == "num"]
    mults = [m for m in mods if m.kind == "mult"]
    more_less = next((m.text for m in mods if m.kind == "dir" and m.text in ("more", "less")), None)
    sign = 0
    if anchor.kind in ("adj", "stuff"):
        sign = 1 if anchor.value > 1 else -1
    elif dirs:
        sign = 1 if dirs[0].value > 1 else -1

    if negated:
        if anchor.kind == "noun" and not dirs and not nums and not mults:
            return Effect(name, low, phrase, "negated", explicit=True)  # "no friction"
        return Effect(name, default, phrase, "negated")  # "not heavy", "not on the moon"
    # -- explicit quantities
    pct = next((n for n in nums if any(m.kind == "kw" and m.text == "%" and m.start == n.end
                                       for m in mods)), None)  # fmt: skip
    if pct is not None:
        p = pct.value / 100.0
        relative = sign != 0 or _has(mods, "by")
        if relative and sign == 0:
            sign = 1
        factor = 1.0 + sign * p if relative else p
        return Effect(name, base * max(factor, 0.0), phrase, "relative", explicit=True)
    times = _times(nums, mods)
    if times is not None:
        mults = [Item("mult", times.start, times.end, times.text, value=times.value)]
    elif nums and name == "gravity":
        n = nums[-1]
        g_unit = any(m.kind == "kw" and m.text in ("g", "gs") and m.start == n.end for m in mods)
        g_unit = g_unit or (anchor.text in ("g", "gs") and anchor.start == n.end)
        value = n.value * EARTH_G if g_unit else n.value
        return Effect(name, value, phrase, "absolute", explicit=True)
    elif nums and _has(mods, "factor"):
        mults = [Item("mult", nums[-1].start, nums[-1].end, nums[-1].text, value=nums[-1].value)]
    elif nums:
        return Effect(name, nums[-1].value, phrase, "absolute", explicit=True)
    if mults:
        m = mults[0].value
        if more_less is not None or (_has(mods, "by") and m < 1 and not _has(mods, "factor")):
            s = -1 if (more_less == "less" or sign < 0) else 1
            factor = 1.0 + s * m
        elif sign < 0 and m > 1:
            factor = 1.0 / m  # "three times lighter", "reduced by a factor of 3"
        else:
            factor = m  # "twice as heavy", "half the torque", "half as strong"
        return Effect(name, base * factor, phrase, "relative", explicit=True)
    if any(m.kind == "default" for m in mods) and anchor.kind == "noun" and not dirs:
        return Effect(name, default, phrase, "default")
    # -- words
    intensity = math.prod(ints) if ints else 1.0
    if anchor.kind == "body":
        return Effect(name, anchor.value, phrase, "knowledge")
    if anchor.kind == "stuff":
        value = (default if name != "gravity" else 1.0) * anchor.value**intensity
        return Effect(name, value, phrase, "knowledge")
    if anchor.kind == "adj":
        lf = log_factor(anchor.value)
        if more_less == "more":
            lf *= 0.6
        elif more_less == "less":
            lf *= -0.3
        if anchor.value == 0.0:  # "undamped", "weightless"
            return Effect(name, 0.0 if not more_less else default, phrase, "adjective")
        return Effect(name, base * math.exp(lf * intensity), phrase, "adjective")
    if dirs:
        return Effect(name, base * math.exp(log_factor(dirs[0].value) * intensity), phrase,
                      "adjective")  # fmt: skip
    if anchor.kind == "noun" and base != default:
        return Effect(name, base, phrase, "knowledge")  # "Mars gravity"
    return None  # a field named with nothing said about it


def _is_english(words: list[str], lex: Lexicon) -> bool:
    """Plain ASCII words, at least half of them English function words or lexicon words."""
    if not words:
        return True
    known = sum(w in lex.english or lex.knows(w) for w in words)
    return all(w.isascii() for w in words) and known >= 0.5 * len(words)


def read(text: str, lexicon: Lexicon | None = None) -> Reading:
    """Read every field change a prompt states (values unclamped; see `genenv.prompts.text`)."""
    lex = lexicon or load_lexicon()
    tokens = tokenize(text)
    words = re.findall(r"[^\W\d_]+", unicodedata.normalize("NFKC", text).lower())
    if not all(w.isascii() for w in words) or not _is_english(
        [t for t in tokens if t.isalpha()], lex
    ):
        return Reading([], sorted(set(words)), english=False)
    effects: list[Effect] = []
    unknown: list[str] = []
    for clause in clauses(tokens):
        items = lex.match(clause)
        covered = {k for i in items for k in range(i.start, i.end)}
        unknown += [t for k, t in enumerate(clause) if k not in covered
                    and t.isalpha() and t not in lex.english]  # fmt: skip
        anchors, mods = _anchors(items, clause, lex)
        for anchor, its_mods in zip(anchors, _assign(anchors, mods).values(), strict=True):
            effect = _effect(anchor, its_mods)
            if effect is not None:
                effects.append(effect)
    return Reading(effects, list(dict.fromkeys(unknown)), english=True)
