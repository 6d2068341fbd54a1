"""World-model variants, before/after: which training change lowers the open-loop error?

A small-budget tuning run (tuning seeds: data collect seed 2, test collect seed 3, train-world
seed 1; the reported table, benchmarks/model_error.py, uses seeds 100+). Per task: 10,000
random-action real steps in the default world, one `genenv train-world` per variant (the
variant's options on top of the defaults of the code that ran it), open-loop errors on a fresh
5,000-step test set collected as in model_error.py (InvertedPendulum's by a partly trained PPO
policy, so that 20-step windows exist). A default changes only where this table shows a gain.

Usage:  python benchmarks/model_variants.py --workdir /tmp/genenv_variants
Writes benchmarks/results/model_variants.json and .md; rows merge across invocations.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import model_error as me  # noqa: E402  (the sibling benchmark's data, policy and table code)

from genenv.worlds import WorldSpec  # noqa: E402

# name -> train-world options (members/elites, hidden layers x width, k-step loss), all explicit
VARIANTS = {
    "e5-4_3x200_k1": "--ensemble-size 5 --elites 4 --layers 3 --hidden 200 --rollout-steps 1",
    "e7-5_3x200_k1": "--ensemble-size 7 --elites 5 --layers 3 --hidden 200 --rollout-steps 1",
    "e5-4_3x200_k3": "--ensemble-size 5 --elites 4 --layers 3 --hidden 200 --rollout-steps 3",
}
DATA_SEED, TEST_SEED, TRAIN_SEED = 2, 3, 1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workdir", default="/tmp/genenv_variants", help="datasets + checkpoints")
    p.add_argument("--tasks", nargs="+", default=["InvertedPendulum", "HalfCheetah"])
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), help="names in VARIANTS")
    p.add_argument("--steps", type=int, default=10_000, help="random training steps per task")
    p.add_argument("--threads", type=int, default=1, help="torch threads of train-world")
    args = p.parse_args()
    unknown = [v for v in args.variants if v not in VARIANTS]
    if unknown:
        p.error(f"unknown variants {unknown}; choose from {list(VARIANTS)}")
    me.TRAIN_SEED = TRAIN_SEED
    work = Path(args.workdir)
    out_json = me.RESULTS / "model_variants.json"
    old = json.loads(out_json.read_text()) if out_json.exists() else {"rows": [], "commands": []}
    rows = {(r["task"], r["variant"]): r for r in old["rows"]}
    commands = old["commands"]
    command = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    if command not in commands:
        commands.append(command)
    for task in args.tasks:
        policy = me.test_policy(task, work)
        test = me.ensure_data(
            work / "data" / f"{task}_test", WorldSpec(task), 5000, TEST_SEED, policy
        )
        data = me.ensure_data(
            work / "data" / f"{task}_{args.steps}", WorldSpec(task), args.steps, DATA_SEED
        )
        for name in args.variants:
            model = work / "models" / f"{task}_{args.steps}_{name}"
            tr = me.ensure_model(data, model, args.threads, VARIANTS[name].split())["training"]
            extra = {"task": task, "variant": name, "options": VARIANTS[name]}
            extra |= {"steps": args.steps, "train_time_s": tr["time_s"], "epochs": tr["epochs"]}
            rows[(task, name)] = me.row("fresh test", me.evaluate(model, test), extra)
            print(json.dumps(rows[(task, name)]), flush=True)
            prov = me.provenance()
            payload = {"machine": me.machine_line(), "commands": commands, "git": prov["git"]}
            payload["rows"] = list(rows.values())
            out_json.write_text(json.dumps(payload, indent=1) + "\n")
            write_md(payload)
    return 0


def write_md(payload: dict) -> None:
    md = ["# World-model variants (tuning run; the reported errors are in model_error.md)", ""]
    md += [f"Machine: {payload['machine']}. Code: {payload['git']}.  ", "Commands:"]
    md += [f"- `{c}`" for c in payload["commands"]]
    md += ["", "Tuning seeds (data 2, test 3, train-world 1), 10,000 random-action training steps,"]
    md += [
        "fresh 5,000-step test set (InvertedPendulum's collected by a partly trained PPO policy,"
    ]
    md += ["see model_error.py). Columns as in model_error.md. One training seed per variant: read"]
    md += ["small differences as noise. Cut to fit 2 cores: one data size, one seed.", ""]
    md += ["Variant names: eM-K_LxH_kS = M members, K elites, L hidden layers of H units, S-step"]
    md += ["training loss.", ""]
    md += me.table(payload["rows"], ["task", "variant", "epochs"])
    (me.RESULTS / "model_variants.md").write_text("\n".join(md) + "\n")


if __name__ == "__main__":
    sys.exit(main())
