"""A small deterministic layer for explicit quantities in text prompts.

The learned mapping (`genenv.prompts.text`) reads the meaning of a description; these rules read
numbers it cannot: "gravity 3.7", "twice as heavy", "half the friction", "motors at 150% strength",
"50% more damping", "3x gravity". A value found here overrides the learned value for that field.
"""

from __future__ import annotations

import re

from genenv.worlds.spec import CONTEXT_FIELDS

# Nouns that name a field.
_NOUNS = {
    "gravity": r"gravity|gravitational pull|g-force",
    "mass_scale": r"mass|weight|heaviness",
    "friction_scale": r"friction|grip|traction",
    "damping_scale": r"joint damping|damping",
    "actuator_scale": r"actuators?|motors?|motor strength|strength|torque|power|actuation|gear",
    "length_scale": r"leg length|limb length|pole length|length|legs|limbs|pole",
}
# Adjectives (and comparatives) that name a field and a direction.
_ADJECTIVES = {
    r"heavy|heavier|massive|weighty": ("mass_scale", +1),
    r"light|lighter": ("mass_scale", -1),
    r"strong|stronger|powerful|more powerful": ("actuator_scale", +1),
    r"weak|weaker": ("actuator_scale", -1),
    r"slippery|slipperier|more slippery": ("friction_scale", -1),
    r"sticky|stickier|grippy|grippier|rough|rougher": ("friction_scale", +1),
    r"damped|more damped": ("damping_scale", +1),
    r"long|longer|tall|taller": ("length_scale", +1),
    r"short|shorter": ("length_scale", -1),
}
_WORD_MULTS = {
    "twice": 2.0, "double": 2.0, "doubled": 2.0, "two times": 2.0, "triple": 3.0,
    "tripled": 3.0, "thrice": 3.0, "three times": 3.0, "four times": 4.0, "quadruple": 4.0,
    "five times": 5.0, "half": 0.5, "halved": 0.5, "halve": 0.5, "a third of": 1 / 3,
    "a quarter of": 0.25, "one third of": 1 / 3, "one quarter of": 0.25,
}  # fmt: skip
_NUM = r"(?P<num>\d+(?:\.\d+)?(?:e[+-]?\d+)?)"  # 3, 2.5, 1e3 (1e999 reads as inf, then clamps)
_MULT = (
    r"(?P<mult>"
    + "|".join(sorted(map(re.escape, _WORD_MULTS), key=len, reverse=True))
    + r"|\d+(?:\.\d+)?\s*(?:x|×|times))"
)
_NOUN = "(?P<noun>" + "|".join(_NOUNS.values()) + ")"
_ADJ = "(?P<adj>" + "|".join(sorted(_ADJECTIVES, key=len, reverse=True)) + ")"
_B = r"\b"

# (pattern, kind) in priority order; the first match per field wins.
_PATTERNS = [
    (rf"{_B}{_MULT}\s+(?:as\s+|more\s+)?{_ADJ}{_B}", "mult_adj"),  # twice as heavy, 3x stronger
    (rf"{_B}{_NUM}\s*%\s*(?P<dir>more|less|higher|lower)\s+{_NOUN}{_B}", "pct_noun"),
    (rf"{_B}{_NUM}\s*%\s*{_ADJ}{_B}", "pct_adj"),  # 20% heavier
    (
        rf"{_B}{_MULT}\s+(?:the\s+)?(?:normal\s+|usual\s+|stock\s+|default\s+)?{_NOUN}{_B}",
        "mult_noun",
    ),
    (rf"{_B}{_NUM}\s*(?P<unit>%|x|×|m/s\^?2|m/s²|g)\s+(?:of\s+)?{_NOUN}{_B}", "num_noun"),
    (
        rf"{_B}{_NOUN}(?:\s+scale|\s+multiplier|\s+factor)?\s*(?:of|=|:|is|at|to|x|×)?\s*"
        rf"{_NUM}\s*(?P<unit>%|x|×|m/s\^?2|m/s²|g\b)?",
        "noun_num",
    ),
]


def _noun_field(noun: str) -> str:
    for name, pattern in _NOUNS.items():
        if re.fullmatch(pattern, noun):
            return name
    raise AssertionError(noun)  # the regex only matches known nouns


def _adj_field(adj: str) -> tuple[str, int]:
    for pattern, out in _ADJECTIVES.items():
        if re.fullmatch(pattern, adj):
            return out
    raise AssertionError(adj)


def _mult_value(text: str) -> float:
    text = text.strip()
    if text in _WORD_MULTS:
        return _WORD_MULTS[text]
    return float(re.match(r"\d+(?:\.\d+)?", text).group(0))


def _as_value(name: str, factor: float) -> float:
    """A factor on the stock value -> the field's value (gravity is absolute)."""
    return factor * CONTEXT_FIELDS[name][0]


def _number_value(name: str, num: float, unit: str | None) -> float:
    if unit in ("%",):
        return _as_value(name, num / 100.0)
    if unit in ("x", "×"):
        return _as_value(name, num)
    if name == "gravity":
        return num * 9.81 if unit == "g" else num  # "gravity 3.7" is m/s^2, "2 g" is 2 x Earth
    return num  # "mass 2.5": a scale factor


def parse_explicit(text: str) -> tuple[dict[str, float], str]:
    """Fields whose value the text states explicitly -> that value (unclamped), and the text with
    those statements cut out (for the learned mapping to read the rest)."""
    text = text.lower()
    found: dict[str, float] = {}
    spans: list[tuple[int, int]] = []
    for pattern, kind in _PATTERNS:
        for m in re.finditer(pattern, text):
            g = m.groupdict()
            if kind == "mult_adj":
                name, sign = _adj_field(g["adj"])
                mult = _mult_value(g["mult"])
                value = _as_value(name, mult if sign > 0 else 1.0 / mult)
            elif kind == "pct_noun":
                name = _noun_field(g["noun"])
                delta = float(g["num"]) / 100.0
                up = g["dir"] in ("more", "higher")
                value = _as_value(name, 1.0 + delta if up else max(1.0 - delta, 0.0))
            elif kind == "pct_adj":
                name, sign = _adj_field(g["adj"])
                delta = float(g["num"]) / 100.0
                value = _as_value(name, 1.0 + sign * delta)
            elif kind == "mult_noun":
                name = _noun_field(g["noun"])
                value = _as_value(name, _mult_value(g["mult"]))
            else:  # num_noun / noun_num
                name = _noun_field(g["noun"])
                value = _number_value(name, float(g["num"]), g.get("unit"))
            if name not in found and not any(a < m.end() and m.start() < b for a, b in spans):
                found[name] = value
                spans.append(m.span())
    rest = text
    for a, b in sorted(spans, reverse=True):
        rest = rest[:a] + " " + rest[b:]
    return found, " ".join(rest.split())
