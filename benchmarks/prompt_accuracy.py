"""Accuracy of text and image prompts -> WorldSpec, with the committed weights.

Text: the hand-written held-out paraphrase set (genenv/prompts/data/paraphrases_heldout.yaml,
never used in training or tuning) and the development set that was used while tuning; scoring as
in `genenv.prompts.evaluate` (direction-correct / value-correct per prompt). Also reported: the
learned mapping alone (explicit-number rules switched off), and a check that no held-out prompt
appears verbatim among the generated training descriptions.

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
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from genenv.bench.measure import machine_line  # noqa: E402
from genenv.prompts.evaluate import (  # noqa: E402
    DEV_PATH,
    GRAVITY_ABS,
    HELDOUT_PATH,
    VALUE_FACTOR,
    load_paraphrases,
    score_text_prompts,
)

RESULTS = Path(__file__).parent / "results" / "prompt_accuracy.md"
RAW: dict = {}  # the numbers behind the tables, written next to RESULTS as .json


def _rate(scores, attr: str) -> str:
    ok = sum(getattr(s, attr) for s in scores)
    return f"{ok}/{len(scores)} ({100 * ok / len(scores):.0f}%)"


def text_section() -> list[str]:
    from genenv.prompts.generate import GeneratorConfig, chunk_samples, generate_prompts
    from genenv.prompts.text import TextMappingConfig, load_text_mapping

    _, meta = load_text_mapping()
    cfg = TextMappingConfig(**meta["config"])
    gen = generate_prompts(GeneratorConfig(n=cfg.n_prompts, seed=cfg.seed))
    gen += [c for p in gen[: cfg.n_chunked] for c in chunk_samples(p)]
    training = {" ".join(p.text.lower().split()) for p in gen}
    heldout_items = load_paraphrases(HELDOUT_PATH)
    overlap = sum(" ".join(i["text"].lower().split()) in training for i in heldout_items)

    rows = []
    runs = [("held-out", HELDOUT_PATH, True), ("held-out, learned mapping only (no number rules)",
            HELDOUT_PATH, False), ("dev (used for tuning)", DEV_PATH, True)]  # fmt: skip
    held = None
    RAW["text"] = {"heldout_prompts_in_training_set": overlap}
    for name, path, rules in runs:
        scores = score_text_prompts(path, use_rules=rules)
        held = held or scores
        RAW["text"][name] = {
            "prompts": len(scores),
            "direction_correct": sum(s.direction_ok for s in scores),
            "value_correct": sum(s.value_ok for s in scores),
        }
        rows.append(
            f"| {name} | {len(scores)} | {_rate(scores, 'direction_ok')} | "
            f"{_rate(scores, 'value_ok')} |"
        )
    lines = [
        "## Text prompts",
        "",
        f"Sentence model: {meta['embedding_model']}; mapping: ensemble of {cfg.members} MLPs "
        f"trained on {len(gen)} generated descriptions and pieces (training set sha256 "
        f"`{meta['training_set_sha256'][:12]}`).",
        f"Held-out prompts found verbatim among the generated descriptions: {overlap} "
        "(training drops any generated sentence equal to a dev or held-out prompt).",
        "",
        "Per prompt: **direction-correct** = every expected field moves the right way (> 3%) and "
        "every other field stays exactly at its default; **value-correct** = direction-correct and "
        f"every expected value within a factor {VALUE_FACTOR} (gravity: or within "
        f"{GRAVITY_ABS} m/s^2).",
        "",
        "| set | prompts | direction-correct | value-correct |",
        "|---|---|---|---|",
        *rows,
        "",
        "Held-out misses (expected -> got; fields that left their default):",
        "",
    ]
    for s in held:
        if not s.value_ok:
            mark = "direction ok, value off" if s.direction_ok else "wrong"
            lines.append(f'- ({mark}) {s.task}: "{s.text}": {s.expect} -> {s.got}')
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
    lines = [
        "# Prompt accuracy",
        "",
        f"Command: `python benchmarks/prompt_accuracy.py --write` ({machine}; everything runs on "
        "the CPU).",
        "",
    ]
    lines += text_section()
    if not args.skip_image:
        lines += ["", *image_section()]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(text)
        RESULTS.with_suffix(".json").write_text(json.dumps(RAW, indent=1) + "\n")


if __name__ == "__main__":
    main()
