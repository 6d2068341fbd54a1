"""Generate training descriptions of physics contexts from a vocabulary (data/vocabulary.yaml).

Each description mentions 0-3 context fields (phrase x intensity adverb x sentence form) mixed
with distractor words about nothing physical, and carries its target: for every mentioned field,
log(value / default). The learned mapping (`genenv.prompts.embedding`) learns embedding -> target from them.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from genenv.worlds.spec import CONTEXT_FIELDS

DATA_DIR = Path(__file__).parent / "data"
VOCABULARY_PATH = DATA_DIR / "vocabulary.yaml"
# Generated log-factors are clamped to this band (a factor of 1/50 .. 5 on the stock value).
LOG_FACTOR_BOUNDS = (math.log(0.02), math.log(5.0))


@dataclass(frozen=True)
class Phrase:
    """One vocabulary phrase: where it goes in a sentence, its text and its factor on the field."""

    kind: str  # "adj" | "post" | "clause"
    text: str  # may hold "{a}" where an intensity adverb goes
    factor: float  # multiplier on the field's stock value at intensity 1


@dataclass(frozen=True)
class Vocabulary:
    """The parsed vocabulary file."""

    adverbs: dict[str, float]  # adverb (with trailing space, "" for none) -> log-factor multiplier
    subjects: dict[str, list[str]]  # task name (or "any") -> nouns
    prefixes: list[str]  # sentence openers ("simulate ", ...)
    fields: dict[str, list[Phrase]]  # context field -> phrases
    distractors: dict[str, list[str]]  # kind -> phrases about nothing physical


@lru_cache(maxsize=2)
def load_vocabulary(path: str | Path = VOCABULARY_PATH) -> Vocabulary:
    raw = yaml.safe_load(Path(path).read_text())
    fields_ = {}
    for name, entries in raw["fields"].items():
        if name not in CONTEXT_FIELDS:
            raise ValueError(f"vocabulary field {name!r} is not a context field")
        fields_[name] = [Phrase(kind, text, float(factor)) for kind, text, factor in entries]
    return Vocabulary(
        adverbs={str(k): float(v) for k, v in raw["adverbs"].items()},
        subjects={k: list(v) for k, v in raw["subjects"].items()},
        prefixes=list(raw["prefixes"]),
        fields=fields_,
        distractors={k: list(v) for k, v in raw["distractors"].items()},
    )


@dataclass(frozen=True)
class GeneratedPrompt:
    """A generated description and what it says."""

    text: str
    task: str
    log_factors: dict[str, float]  # mentioned field -> log(value / default)
    phrases: dict[str, str] = field(default_factory=dict)  # mentioned field -> its phrase text


# Chunk boundaries: punctuation, conjunctions and the prepositions that start a new idea.
_CHUNK_SPLIT = re.compile(
    r"[,;.!?]|\b(?:and|but|with|where|while|whose|that|on|in|under|at|plus)\b", re.IGNORECASE
)


def chunk(text: str) -> list[str]:
    """Split a description into short pieces ("a heavy cheetah on ice" -> ["a heavy cheetah",
    "ice"]); the mapping reads each piece as well as the whole."""
    return [c for c in (" ".join(p.split()) for p in _CHUNK_SPLIT.split(text)) if c]


def chunk_samples(prompt: GeneratedPrompt) -> list[GeneratedPrompt]:
    """The pieces of a generated description, each with the fields whose phrase lies in it."""
    pieces = chunk(prompt.text)
    if len(pieces) <= 1:
        return []
    out = []
    for piece in pieces:
        targets = {}
        for name, phrase in prompt.phrases.items():
            core = max(chunk(phrase) or [phrase], key=len)
            if core.lower() in piece.lower():
                targets[name] = prompt.log_factors[name]
        out.append(GeneratedPrompt(piece, prompt.task, targets, {}))
    return out


@dataclass
class GeneratorConfig:
    """How descriptions are sampled."""

    n: int = 16000  # number of descriptions
    seed: int = 0  # RNG seed (the generated set is deterministic given it)
    field_count_probs: tuple[float, ...] = (0.14, 0.44, 0.30, 0.12)  # P(mention 0, 1, 2, 3 fields)
    distractor_prob: float = 0.55  # chance of adding 1-2 distractor phrases
    adverb_prob: float = 0.55  # chance that a phrase with an adverb slot gets an adverb
    tasks: tuple[str, ...] = field(default_factory=tuple)  # empty: every task in the vocabulary


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _join(parts: list[str], rng: random.Random) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    if rng.random() < 0.5:
        return ", ".join(parts[:-1]) + " and " + parts[-1]
    return rng.choice([", ", " ", " and ", ", "]).join(parts)


def _fill(phrase: Phrase, vocab: Vocabulary, cfg: GeneratorConfig, rng: random.Random):
    """Phrase text with its adverb slot filled, and its log-factor."""
    mult = 1.0
    adverb = ""
    if "{a}" in phrase.text and rng.random() < cfg.adverb_prob:
        adverb = rng.choice([a for a in vocab.adverbs if a])
        mult = vocab.adverbs[adverb]
    text = phrase.text.replace("{a}", adverb)
    log_factor = min(
        max(mult * math.log(phrase.factor), LOG_FACTOR_BOUNDS[0]), LOG_FACTOR_BOUNDS[1]
    )
    return text, log_factor


def _sentence(adjs, posts, clauses, subject: str, rng: random.Random) -> str:
    form = rng.random()
    if not adjs and not posts and clauses and rng.random() < 0.4:
        return _join(clauses, rng)  # "gravity is low and the floor is slippery"
    if adjs and form < 0.25:  # predicate form: "the cheetah is heavy and strong"
        head = f"the {subject} is {_join(adjs, rng)}"
        if posts:
            head += ", " + " ".join(posts)
    elif not adjs and form < 0.3 and (posts or clauses):  # no subject: "on ice with weak motors"
        head = " ".join(posts) if posts else ""
    else:
        noun = " ".join(adjs + [subject]) if rng.random() < 0.6 else ", ".join(adjs + [subject])
        noun = noun.replace(", " + subject, " " + subject)
        det = rng.choice([_article(noun), _article(noun), "the", ""])
        head = (det + " " + noun).strip()
        if posts:
            head += " " + _join(posts, rng) if rng.random() < 0.4 else " " + " ".join(posts)
    if clauses:
        sep = rng.choice([", ", " where ", "; ", ". ", " and ", ", and "])
        head = (head + sep + _join(clauses, rng)) if head else _join(clauses, rng)
    return head


def generate_prompts(cfg: GeneratorConfig | None = None) -> list[GeneratedPrompt]:
    """Sample `cfg.n` descriptions with their targets (deterministic given `cfg.seed`)."""
    cfg = cfg or GeneratorConfig()
    vocab = load_vocabulary()
    rng = random.Random(cfg.seed)
    tasks = list(cfg.tasks) or [t for t in vocab.subjects if t != "any"]
    names = list(vocab.fields)
    out = []
    for _ in range(cfg.n):
        task = rng.choice(tasks)
        subject = rng.choice(vocab.subjects[task] + vocab.subjects["any"])
        k = rng.choices(range(len(cfg.field_count_probs)), weights=cfg.field_count_probs)[0]
        adjs, posts, clauses, targets, phrases = [], [], [], {}, {}
        for name in rng.sample(names, k):
            phrase = rng.choice(vocab.fields[name])
            text, log_factor = _fill(phrase, vocab, cfg, rng)
            {"adj": adjs, "post": posts, "clause": clauses}[phrase.kind].append(text)
            targets[name] = log_factor
            phrases[name] = text
        if rng.random() < cfg.distractor_prob or k == 0:
            for _ in range(rng.choice([1, 1, 2])):
                kind = rng.choice(["adj", "adj", "post", "post", "clause"])
                {"adj": adjs, "post": posts, "clause": clauses}[kind].append(
                    rng.choice(vocab.distractors[kind])
                )
        rng.shuffle(adjs)
        rng.shuffle(posts)
        rng.shuffle(clauses)
        text = rng.choice(vocab.prefixes) + _sentence(adjs, posts, clauses, subject, rng)
        out.append(GeneratedPrompt(" ".join(text.split()), task, targets, phrases))
    return out
