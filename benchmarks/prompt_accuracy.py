"""Accuracy of text and image prompts -> WorldSpec.

Text: the held-out prompt set (benchmarks/data/prompts_heldout.yaml: committed before the first
evaluation on it, and found nowhere else in the repository: this script checks) and the
development set used while building the reader (benchmarks/data/prompts_dev.yaml). Scoring as in
`genenv.prompts.evaluate`: direction-correct / value-correct per prompt against an expected range
per field. Methods compared: the deterministic reader (what genenv uses), the learned embedding
mapping alone, and the hybrid (reader + mapping for what the reader leaves unread). Also: ms per
prompt for each method, on this CPU, one thread.

Image: fresh held-out renders (render seeds disjoint from training): qpos MAE per joint,
length_scale MAE, and how often frames are rejected when passed with the wrong task or when they
are not renders at all.

    python benchmarks/prompt_accuracy.py            # print the tables
    python benchmarks/prompt_accuracy.py --write    # and write benchmarks/results/prompt_accuracy.md
                                                    # (+ .json with the raw numbers)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from genenv.bench.measure import machine_line  # noqa: E402
from genenv.prompts.evaluate import (  # noqa: E402
    DEV_PATH,
    HELDOUT_PATH,
    METHODS,
    load_prompts,
    predict,
    score_prompt,
)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results" / "prompt_accuracy.md"
RAW: dict = {}  # the numbers behind the tables, written next to RESULTS as .json


def _rate(scores, attr: str) -> str:
    ok = sum(getattr(s, attr) for s in scores)
    return f"{ok}/{len(scores)} ({100 * ok / len(scores):.0f}%)"


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def contamination(items: list[dict]) -> list[str]:
    """Held-out prompts found as whole words (case-insensitive, whitespace-normalised) in any other
    tracked text file (this benchmark's own result tables, which list the misses, excepted)."""
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout
    texts = []
    for name in files.split():
        path = ROOT / name
        if path in (HELDOUT_PATH, RESULTS, RESULTS.with_suffix(".json")) or path.suffix not in (
            ".py",
            ".md",
            ".yaml",
            ".yml",
            ".txt",
        ):
            continue
        texts.append(_norm(path.read_text(errors="ignore")))
    blob = "\n".join(texts)
    return [i["text"] for i in items if re.search(rf"\b{re.escape(_norm(i['text']))}\b", blob)]


def _by_category(items, scores) -> list[str]:
    rows = {}
    for item, score in zip(items, scores, strict=True):
        for cat in item.get("tags", ["untagged"]):
            rows.setdefault(cat, []).append(score)
    return [f"| {cat} | {len(s)} | {_rate(s, 'direction_ok')} | {_rate(s, 'value_ok')} |"
            for cat, s in sorted(rows.items())]  # fmt: skip


def text_section() -> list[str]:
    heldout, dev = load_prompts(HELDOUT_PATH), load_prompts(DEV_PATH)
    leaked = contamination(heldout)
    RAW["text"] = {"heldout_prompts_found_elsewhere": leaked}
    rows, held_scores = [], {}
    for method in METHODS:
        for set_name, items in (("held-out", heldout), ("dev (used while building)", dev)):
            start = time.perf_counter()
            got = predict(items, method)
            ms = 1000 * (time.perf_counter() - start) / len(items)
            scores = [score_prompt(i["text"], i["task"], i["expect"], g)
                      for i, g in zip(items, got, strict=True)]  # fmt: skip
            if set_name == "held-out":
                held_scores[method] = scores
            RAW["text"][f"{method} / {set_name}"] = {
                "prompts": len(scores),
                "direction_correct": sum(s.direction_ok for s in scores),
                "value_correct": sum(s.value_ok for s in scores),
                "ms_per_prompt": ms,
            }
            rows.append(f"| {method} | {set_name} | {len(scores)} | {_rate(scores, 'direction_ok')} "
                        f"| {_rate(scores, 'value_ok')} | {ms:.1f} |")  # fmt: skip
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from genenv.cli import main; sys.exit(main())",
         "world", "--task", "Hopper", "--prompt", "a heavy hopper on Mars", "--json"],
        capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    cli_s = time.perf_counter() - start
    RAW["text"]["cli_seconds_one_prompt"] = cli_s if proc.returncode == 0 else None
    reader = held_scores["reader"]
    lines = [
        "## Text prompts",
        "",
        f"Held-out set: {len(heldout)} prompts over every task (hard cases: negation, relative "
        "and absolute quantities, world knowledge, several fields, nothing physical, non-English), "
        "written after the reader was built on the dev set and committed before its first "
        "evaluation; each field has an expected range. Held-out prompts found in any other "
        f"tracked file: {len(leaked)}{' (' + '; '.join(leaked) + ')' if leaked else ''}.",
        "",
        "Per prompt: **direction-correct** = every expected field moves the way its range says "
        "(a range that holds the default also accepts no move) and every other field stays at its "
        "default; **value-correct** = direction-correct and every expected field inside its range.",
        "Methods: **reader** = the deterministic lexicon reader (genenv's text prompts); "
        "**embedding** = the learned MiniLM-embedding -> context mapping alone (the previous "
        "approach, without its number rules); **hybrid** = the reader, plus the mapping's fields "
        "for prompts with words the reader does not know. ms/prompt: batch of the whole set, "
        "one thread, model loading included.",
        "",
        "| method | set | prompts | direction-correct | value-correct | ms / prompt |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        f"`genenv world --json` for one prompt, whole process: {cli_s:.2f} s wall (load average "
        f"{os.getloadavg()[0]:.1f} on this machine at the time; mostly Python and the genenv "
        "package starting, torch is not imported; the reading itself is the ms/prompt above).",
        "",
        "Reader on the held-out set, by kind of prompt (a prompt may have several kinds):",
        "",
        "| kind | prompts | direction-correct | value-correct |",
        "|---|---|---|---|",
        *_by_category(heldout, reader),
        "",
        "Reader's held-out misses (expected ranges -> fields that left their default):",
        "",
        "| task | prompt | expected | got | miss |",
        "|---|---|---|---|---|",
    ]
    for s in reader:
        if not s.value_ok:
            mark = "value outside range" if s.direction_ok else "wrong direction / field"
            lines.append(f"| {s.task} | {s.text} | {s.expect} | {s.got} | {mark} |")
    return lines


def image_section() -> list[str]:
    from genenv.prompts.image_train import ImageModelConfig, evaluate_image_model, load_image_model

    _, meta = load_image_model()
    report = evaluate_image_model(ImageModelConfig(**meta["config"]))
    RAW["image"] = report
    lines = [
        "## Image prompts",
        "",
        "Held-out 64x64 renders of random worlds (contexts from the training ranges) and random "
        "poses; render seeds disjoint from training. Each frame is the first render of a fresh env "
        "in that pose (gymnasium's free camera aims itself at the pose it first renders), as "
        "`WorldSpec(..., initial_state=...).make_env(render_mode='rgb_array')` gives; a quarter "
        "of the worlds without shadows/reflections. A still frame shows the pose and the "
        "geometry only: gravity, mass, friction, damping and actuator strength are not predicted "
        "and stay at their defaults.",
        "",
        "| task | frames | accepted | qpos MAE per joint (qpos index: MAE) | qpos MAE, mean "
        "over joints | worst-joint error per frame, median / 90th pct | "
        "length_scale MAE (predict-the-mean baseline) | rejected with the other task |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for task, r in report.items():
        if task == "other":
            continue
        mae = ", ".join(f"{k}: {v:.3f}" for k, v in r["qpos_mae"].items())
        wrong = next(v for k, v in r.items() if k.startswith("rejected_as_"))
        lines.append(
            f"| {task} | {r['n']} | {100 * r['accepted']:.1f}% | {mae} | {r['qpos_mae_mean']:.3f} | "
            f"{r['qpos_worst_joint_err_median']:.3f} / {r['qpos_worst_joint_err_p90']:.3f} | "
            f"{r['length_mae']:.3f} ({r['length_mae_baseline_mean']:.3f}) | {100 * wrong:.1f}% |"
        )
    o = report["other"]
    lines += [
        "",
        f"Frames that are not renders of a supported task ({o['n']}: renders of other MuJoCo "
        f"tasks and synthetic non-renders), rejected when passed as either supported task: "
        f"{100 * o['rejected_as_any_task']:.1f}%.",
        "",
        "qpos units: metres for slide joints (InvertedPendulum 0 = cart; HalfCheetah 0 = rootx, "
        "1 = rootz), radians for hinges.",
        "",
        "HalfCheetah's shin and foot angles (qpos 4, 5, 7, 8) are the weakest: those limbs are "
        "2-3 pixels wide at 64x64. The root position (InvertedPendulum cart, HalfCheetah rootx) "
        "shows only indirectly, since the camera aims at the body: through the rail's ends, which leave the 64-pixel view when the cart is near the middle "
        "(then the frame only bounds the cart to an interval), and the floor's checker pattern, "
        "which repeats every 1.33 m.",
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"write {RESULTS}")
    parser.add_argument("--skip-image", action="store_true", help="text prompts only")
    args = parser.parse_args()
    torch.set_num_threads(1)
    machine = machine_line()
    RAW["machine"] = machine
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()  # fmt: skip
    command = "python benchmarks/prompt_accuracy.py " + " ".join(sys.argv[1:])
    lines = [
        "# Prompt accuracy",
        "",
        f"Command: `{command.strip()}`; machine: {machine} (everything on the CPU, one torch "
        f"thread); date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; code: "
        f"{commit}{' with uncommitted changes' if dirty else ''}. Cut: "
        f"{'the image section was not rerun (carried over)' if args.skip_image else 'nothing'}.",
        "",
    ]
    lines += text_section()
    if not args.skip_image:
        lines += ["", *image_section()]
    elif RESULTS.is_file() and "## Image prompts" in RESULTS.read_text():
        # --skip-image keeps the image section of the table's previous run, saying so
        previous = RESULTS.read_text().split("## Image prompts", 1)[1].rstrip("\n")
        old = (
            json.loads(RESULTS.with_suffix(".json").read_text())
            if RESULTS.with_suffix(".json").is_file()
            else {}
        )
        if "image" in old:
            RAW["image"] = old["image"]
        lines += [
            "",
            "## Image prompts",
            "",
            "(Not rerun by this command (--skip-image): this "
            "section is carried over unchanged from the table's previous run.)" + previous,
        ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(text)
        RESULTS.with_suffix(".json").write_text(json.dumps(RAW, indent=1) + "\n")


if __name__ == "__main__":
    main()
