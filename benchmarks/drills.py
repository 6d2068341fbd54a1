"""Reliability drill: bad inputs, kills, a full disk, hostile files, a memory soak; one table.

Parts (each resumable; results merge across invocations into benchmarks/results/drills.json and
the table benchmarks/results/drills.md is rewritten after every finished piece):

- inputs:  bad command lines and damaged files (this file's table, plus the table of
           tests/fault_cases.py when present); each must end with exit code 2 and one line
           `genenv CMD: error: ...`. Counted: clean, traceback, hang, silent garbage, unclear.
- hostile: SB3 agent zips whose pickled entries would create a marker file, through all six
           entry points that load agents, and world checkpoints with pickled weights or a
           weights_file outside the folder. Counted: payloads executed.
- kills:   `collect`, `train-world`, `run`, `curriculum` killed by SIGKILL/SIGTERM/SIGINT at
           random moments (tests/kill_drills.py), resumed as a user would; the finished data is
           compared with an uninterrupted reference. Counted: stranded runs, transitions lost or
           duplicated, tracebacks, hangs.
- disk:    a small tmpfs filled up under collect, train-world and run; the error must be one
           line, the data readable, and a resume after space is freed must complete exactly.
- soak:    a DreamVectorEnv stepped for --soak-steps dream steps; resident memory growth per
           1M steps (least-squares slope after a 1M-step warm-up).

Usage:  python benchmarks/drills.py [--work /tmp/genenv-drills] [--parts inputs,hostile,...]
        [--kill-trials 6] [--soak-steps 100000000] [--fresh]
Kill timings draw from seeds 100 + trial. Run it through `/work/bin/heavy shared ...`.
"""

from __future__ import annotations

import argparse
import base64
import calendar
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
import kill_drills as kd  # noqa: E402

from genenv.bench.measure import machine_line, provenance  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
JSON_OUT, MD_OUT = RESULTS / "drills.json", RESULTS / "drills.md"
PARTS = ("inputs", "hostile", "kills", "disk", "soak")
KILL_PLAN = {"collect": 3, "train-world": 2, "run": 2, "curriculum": 2}  # kills per trial


# -- results file -----------------------------------------------------------------------------------
def load_results(fresh: bool) -> dict:
    if JSON_OUT.is_file() and not fresh:
        return json.loads(JSON_OUT.read_text())
    return {"parts": {}, "kill_trials": {}}


def save(results: dict, cut: list[str]) -> None:
    results["provenance"] = {**provenance(), "machine": machine_line()}
    commands = results.setdefault("commands", [])
    if results["provenance"]["command"] not in [c["command"] for c in commands]:
        commands.append({k: results["provenance"][k] for k in ("command", "date", "git")})
    results["cut"] = cut
    RESULTS.mkdir(parents=True, exist_ok=True)
    JSON_OUT.write_text(json.dumps(results, indent=1))
    MD_OUT.write_text(render(results))


# -- running a command and judging its exit -----------------------------------------------------------
def judge(cmd: list[str], expect_fail: bool = True, timeout: float = 300, cwd=None) -> str:
    """'clean', 'traceback', 'hang', 'garbage' (exit 0 where it must fail) or 'unclear'."""
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, env=kd._env(), cwd=cwd
        )
    except subprocess.TimeoutExpired:
        return "hang"
    if "Traceback (most recent call last)" in done.stderr:
        return "traceback"
    if not expect_fail:
        return "clean" if done.returncode == 0 else "unclear"
    if done.returncode == 0:
        return "garbage"
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    name = cmd[3] if len(cmd) > 3 else ""
    ok = done.returncode == 2 and len(lines) >= 1 and lines[-1].startswith(f"genenv {name}")
    return "clean" if ok and "error:" in lines[-1] else "unclear"


# -- fixtures -----------------------------------------------------------------------------------------
class Fixtures:
    """Small real artefacts the drills damage copies of: a dataset, a world checkpoint, a finished
    run folder, a finished curriculum folder, hostile agent zips."""

    def __init__(self, work: Path):
        self.work = work
        self.marker = work / "PAYLOAD-RAN"
        work.mkdir(parents=True, exist_ok=True)

    def dataset(self) -> Path:
        return kd.reference_collection(self.work / "fx-data", 600, 0)

    def world(self) -> Path:
        out = self.work / "fx-world"
        if not (out / "metadata.json").is_file():
            cmd = kd.genenv("train-world", "--data", str(self.dataset()), "--out", str(out),
                            "--epochs", "2", "--no-progress")  # fmt: skip
            subprocess.run(cmd, check=True, env=kd._env(), capture_output=True)
        return out

    def run_folder(self) -> Path:
        out = self.work / "fx-run"
        if not (out / "summary.json").is_file():
            shutil.rmtree(out, ignore_errors=True)
            recipe = self.work / "tiny.yaml"
            recipe.write_text(kd.TINY_RECIPE)
            cmd = kd.genenv("run", "--task", kd.TASK, "--out", str(out), "--real-steps", "450",
                            "--initial-steps", "300", "--steps-per-iteration", "150",
                            "--recipe", str(recipe), "--eval-every", "512", "--eval-episodes",
                            "1", "--train-epochs", "2", "--no-video", "--no-progress")  # fmt: skip
            subprocess.run(cmd, check=True, env=kd._env(), capture_output=True)
        return out

    def curriculum_folder(self) -> Path:
        import yaml

        out = self.work / "fx-cur"
        if not (out / "summary.json").is_file():
            shutil.rmtree(out, ignore_errors=True)
            spec = self.work / "fx-spec.yaml"
            spec.write_text(yaml.safe_dump({**kd.TINY_CURRICULUM, "world": {
                "data_steps": 300, "train_epochs": 2}}))  # fmt: skip
            cmd = kd.genenv("curriculum", "--spec", str(spec), "--out", str(out), "--no-progress")
            subprocess.run(cmd, check=True, env=kd._env(), capture_output=True)
        return out

    def blob(self) -> str:
        class Payload:
            def __reduce__(s):  # noqa: N805
                return (Path.touch, (self.marker,))

        return base64.b64encode(pickle.dumps(Payload())).decode()

    def hostile_zip(self, src: Path, dst: Path, variant: str) -> Path:
        """`every`: the payload in place of every pickled entry (loadable without them);
        `extra`: a pickled entry genenv knows nothing about (must be refused); `pth`: the
        payload in place of policy.pth (must be refused)."""
        with zipfile.ZipFile(src) as zf:
            files = {name: zf.read(name) for name in zf.namelist()}
        data = json.loads(files["data"])
        if variant == "pth":  # the tensors file itself is a pickle with a payload
            files["policy.pth"] = base64.b64decode(self.blob())
        elif variant == "every":
            for value in data.values():
                if isinstance(value, dict) and ":serialized:" in value:
                    value[":serialized:"] = self.blob()
        else:
            data["surprise"] = {":type:": "<class 'object'>", ":serialized:": self.blob()}
        files["data"] = json.dumps(data).encode()
        dst.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(dst, "w") as zf:
            for name, content in files.items():
                zf.writestr(name, content)
        return dst


def _copy(src: Path, dst: Path) -> Path:
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst)
    return dst


def _edit_json(path: Path, **changes) -> None:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


# -- part: inputs ------------------------------------------------------------------------------------
def input_cases(fx: Fixtures) -> list[tuple[str, list[str]]]:
    """(name, genenv argv) of bad inputs around data safety; every one must exit 2 cleanly."""
    w = fx.work / "inputs"
    shutil.rmtree(w, ignore_errors=True)
    w.mkdir(parents=True)
    data = _copy(fx.dataset(), w / "data")
    ip = ["--task", kd.TASK]
    cases: list[tuple[str, list[str]]] = [
        ("collect same seed again", ["collect", *ip, "--out", str(data), "--steps", "50"]),
        (
            "collect resume other --steps",
            ["collect", *ip, "--out", str(data), "--steps", "51", "--resume"],
        ),
        ("collect --until-total 0", ["collect", *ip, "--out", str(data), "--until-total", "0"]),
        ("collect --until-total -3", ["collect", *ip, "--out", str(data), "--until-total", "-3"]),
        (
            "collect --steps and --until-total",
            ["collect", *ip, "--out", str(data), "--steps", "5", "--until-total", "900"],
        ),
        (
            "collect --resume without steps on a new folder",
            ["collect", *ip, "--out", str(w / "new"), "--resume"],
        ),
        ("collect without --steps", ["collect", *ip, "--out", str(w / "new2")]),
        (
            "collect other task into a dataset",
            ["collect", "--task", "Reacher", "--out", str(data), "--steps", "5", "--seed", "9"],
        ),
    ]
    over = _copy(data, w / "overstated")
    _edit_json(over / "metadata.json", total_episodes=1_000_000)
    cases.append(
        (
            "collect into metadata total_episodes 1e6",
            ["collect", *ip, "--out", str(over), "--steps", "5", "--seed", "3"],
        )
    )
    for name, change in (
        ("total_steps text", {"total_steps": "abc"}),
        ("total_episodes negative", {"total_episodes": -1}),
        ("genenv block a list", {"genenv": []}),
    ):
        bad = _copy(data, w / name.replace(" ", "-"))
        _edit_json(bad / "metadata.json", **change)
        cases.append(
            (
                f"train-world on metadata {name}",
                ["train-world", "--data", str(bad), "--out", str(w / "o"), "--epochs", "1"],
            )
        )
        cases.append(
            (
                f"collect into metadata {name}",
                ["collect", *ip, "--out", str(bad), "--steps", "5", "--seed", "4"],
            )
        )
    for k, offset in enumerate((0.3, 0.5, 0.7, 0.9)):
        bad = _copy(data, w / f"zeroed-{k}")
        victim = bad / "0" / "part-0.arrow"
        raw = bytearray(victim.read_bytes())
        at = int(len(raw) * offset)
        raw[at : at + 64] = bytes(64)
        victim.write_bytes(bytes(raw))
        cases.append(
            (
                f"train-world on 64 zeroed bytes at {offset:.0%}",
                ["train-world", "--data", str(bad), "--out", str(w / "o"), "--epochs", "1"],
            )
        )
    nosum = _copy(data, w / "no-checksum")
    for ep in nosum.glob("*/metadata.json"):
        m = json.loads(ep.read_text())
        m.pop("checksum", None)
        ep.write_text(json.dumps(m))
    cases.append(
        (
            "train-world on episodes without checksums (format 2)",
            ["train-world", "--data", str(nosum), "--out", str(w / "o"), "--epochs", "1"],
        )
    )
    world = fx.world()
    for name, change in (
        ("weights_file ../../../../etc/passwd", {"weights_file": "../../../../etc/passwd"}),
        ("weights_file absolute", {"weights_file": "/etc/passwd"}),
        ("weights_file in a subfolder", {"weights_file": "sub/w.safetensors"}),
        ("weights_file a number", {"weights_file": 5}),
    ):
        bad = _copy(world, w / ("world-" + name.split()[-1].replace("/", "_")))
        _edit_json(bad / "metadata.json", **change)
        cases.append((f"record --world with {name}",
                      ["record", *ip, "--world", str(bad), "--kinds", "imagined", "--steps", "5",
                       "--out", str(w / "rec"), "--formats", "gif"]))  # fmt: skip
    run = fx.run_folder()
    for name, edit in (
        ("state.json not JSON", lambda d: (d / "state.json").write_text("{not json")),
        ("state.json a list", lambda d: (d / "state.json").write_text("[1, 2]")),
        ("state.json unknown key", lambda d: (d / "state.json").write_text('{"x": 1}')),
        ("config.yaml missing", lambda d: (d / "config.yaml").unlink()),
        (
            "agent.json file ../x",
            lambda d: (d / "agent" / "agent.json").write_text(
                json.dumps({"algo": "PPO", "file": "../../x.zip"})
            ),
        ),
        ("agent.zip not a zip", lambda d: (d / "agent" / "agent.zip").write_bytes(b"PK junk")),
    ):
        bad = _copy(run, w / ("run-" + name.split()[0]))
        edit(bad)
        if "agent.json" not in name:  # (run --resume reads agent/agent.zip, never agent.json)
            cases.append((f"run --resume with {name}", ["run", "--resume", str(bad)]))
        if "agent" in name:
            cases.append(
                (
                    f"record --policy run folder with {name}",
                    [
                        "record",
                        *ip,
                        "--policy",
                        str(bad / "agent"),
                        "--kinds",
                        "real",
                        "--steps",
                        "5",
                        "--out",
                        str(w / "rec"),
                        "--formats",
                        "gif",
                    ],
                )
            )
    cases.append(
        (
            "curriculum --resume without spec.yaml",
            ["curriculum", "--out", str(w / "nothing"), "--resume"],
        )
    )
    (w / "text.zip").write_text("not a zip")
    cases.append(("collect --policy a text file",
                  ["collect", *ip, "--out", str(w / "d2"), "--steps", "5",
                   "--policy", str(w / "text.zip")]))  # fmt: skip
    return [(n, [*a, "--no-progress"]) for n, a in cases]


def cli_table_outcomes(work: Path) -> list:
    """The command-surface table of tests/fault_cases.py (helper cli's), run by its own runner:
    its fixtures fill the placeholders, each case runs in a forked child with a timeout, and
    the table's classifier judges it (exit 2 + one line; a few cases expect a clamp note)."""
    try:
        import fault_cases  # noqa: PLC0415
    except ImportError:
        return []
    fixtures = fault_cases.make_fixtures(work / "cli-table" / "fixtures")
    return fault_cases.run_table(fault_cases.CASES, fixtures, work / "cli-table" / "work")


def part_inputs(fx: Fixtures, results: dict) -> dict:
    counts = {"tried": 0, "clean": 0, "traceback": 0, "hang": 0, "garbage": 0, "unclear": 0}
    notes = []
    for name, argv in input_cases(fx):
        verdict = judge(kd.genenv(*argv), cwd=fx.work)
        counts["tried"] += 1
        counts[verdict] += 1
        if verdict != "clean":
            notes.append(f"{verdict}: {name}")
        print(f"[inputs] {verdict:9s} {name}", flush=True)
    table = cli_table_outcomes(fx.work)
    for outcome in table:
        counts["tried"] += 1
        counts[outcome.result] += 1
        if outcome.result != "clean":
            notes.append(f"{outcome.result}: {outcome.case}")
    return {**counts, "from_cli_table": len(table), "notes": notes}


# -- part: hostile files -----------------------------------------------------------------------------
def part_hostile(fx: Fixtures, results: dict) -> dict:
    """Every agent-loading entry point with both zip variants, and hostile world checkpoints."""
    w = fx.work / "hostile"
    shutil.rmtree(w, ignore_errors=True)
    w.mkdir(parents=True)
    run, cur = fx.run_folder(), fx.curriculum_folder()
    ip = ["--task", kd.TASK]
    tries, executed, verdicts = 0, 0, {}
    for variant in ("every", "extra", "pth"):
        want_fail = variant != "every"
        z = fx.hostile_zip(run / "agent" / "agent.zip", w / variant / "agent.zip", variant)
        folder = w / variant / "folder"
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(z, folder / "agent.zip")
        (folder / "agent.json").write_text(json.dumps({"algo": "PPO", "file": "agent.zip"}))
        run_copy = _copy(run, w / variant / "run")
        shutil.copy(z, run_copy / "agent" / "agent.zip")
        cur_copy = _copy(cur, w / variant / "cur")  # (its own agent, made hostile)
        fx.hostile_zip(cur / "agent" / "agent.zip", cur_copy / "agent" / "agent.zip", variant)
        rec = ["--kinds", "real", "--steps", "5", "--out", str(w / "rec"), "--formats", "gif"]
        api = (
            "import sys; from genenv.agents.sb3 import load_policy\n"
            "try:\n    load_policy(sys.argv[-1])\nexcept ValueError as e:\n"
            "    print(f'genenv api: error: {e}', file=sys.stderr); sys.exit(2)"
        )
        entry_points = {
            "record --policy ZIP": kd.genenv("record", *ip, "--policy", str(z), *rec),
            "record --policy FOLDER": kd.genenv("record", *ip, "--policy", str(folder), *rec),
            "collect --policy ZIP": kd.genenv("collect", *ip, "--policy", str(z), "--steps",
                                              "20", "--out", str(w / variant / "ds")),
            "genenv.agents.sb3.load_policy": [sys.executable, "-c", api, "api", str(z)],
            "run --resume (planted agent.zip)": kd.genenv("run", "--resume", str(run_copy)),
            "curriculum --resume (planted agent.zip)": kd.genenv(
                "curriculum", "--out", str(cur_copy), "--resume"),
        }  # fmt: skip
        for name, cmd in entry_points.items():
            fx.marker.unlink(missing_ok=True)
            if cmd[1] == "-m":
                cmd = [*cmd, "--no-progress"]
            verdict = judge(cmd, expect_fail=want_fail, cwd=fx.work)
            ran = fx.marker.exists()
            tries += 1
            executed += ran
            verdicts[f"{name} [{variant}]"] = verdict + (" PAYLOAD RAN" if ran else "")
            print(f"[hostile] {variant:5s} {verdict:9s} ran={ran} {name}", flush=True)
    # world checkpoints: pickled weights (checksum matched) and a weights_file outside the folder
    import hashlib

    for name in ("pickled weights", "weights_file ../"):
        bad = _copy(run, w / ("world-" + name.split()[0]))
        meta_file = bad / "world" / "metadata.json"
        meta = json.loads(meta_file.read_text())
        if name == "pickled weights":
            target = bad / "world" / meta["weights_file"]
            target.write_bytes(base64.b64decode(fx.blob()))
            meta["weights_sha256"] = hashlib.sha256(target.read_bytes()).hexdigest()
        else:
            (bad / "evil.safetensors").write_bytes(base64.b64decode(fx.blob()))
            meta["weights_file"] = "../evil.safetensors"
        meta_file.write_text(json.dumps(meta))
        _edit_json(bad / "state.json", done=False)
        for label, cmd in (
            (f"run --resume ({name})", kd.genenv("run", "--resume", str(bad), "--no-progress")),
            (f"record --world ({name})", kd.genenv("record", *ip, "--world", str(bad / "world"),
                                                   "--kinds", "imagined", "--steps", "5", "--out",
                                                   str(w / "rec"), "--formats", "gif",
                                                   "--no-progress")),
        ):  # fmt: skip
            fx.marker.unlink(missing_ok=True)
            verdict = judge(cmd, cwd=fx.work)
            ran = fx.marker.exists()
            tries += 1
            executed += ran
            verdicts[label] = verdict + (" PAYLOAD RAN" if ran else "")
            print(f"[hostile] {verdict:9s} ran={ran} {label}", flush=True)
    bad_verdicts = {k: v for k, v in verdicts.items() if not v.startswith("clean")}
    return {"tried": tries, "payloads_executed": executed, "verdicts": verdicts,
            "tracebacks": sum("traceback" in v for v in verdicts.values()),
            "hangs": sum("hang" in v for v in verdicts.values()),
            "garbage": sum("garbage" in v for v in verdicts.values()),
            "notes": [f"{v}: {k}" for k, v in bad_verdicts.items()]}  # fmt: skip


# -- part: kills -------------------------------------------------------------------------------------
def part_kills(fx: Fixtures, results: dict, trials: int, cut: list[str]) -> dict:
    from genenv.worlds import WorldSpec

    refs = {
        "collect": kd.reference_collection(fx.work / "ref-collect", 3000, 5),
        "run": kd.reference_collection(
            fx.work / "ref-run", 1000, 2000, source=WorldSpec(kd.TASK, seed=2)
        ),
        "curriculum": kd.curriculum_reference(fx.work / "ref-cur"),
    }
    refs["train-world"] = refs["collect"]
    drills = {
        "collect": kd.drill_collect,
        "train-world": kd.drill_train_world,
        "run": kd.drill_run,
        "curriculum": kd.drill_curriculum,
    }
    done = results["kill_trials"]
    for trial in range(trials):
        for name, drill in drills.items():
            key = f"{name}-{trial}"
            if key in done:
                continue
            if past(STOP_AT):
                cut.append(f"kill trials stopped at the --stop-at time after {len(done)} trials")
                return summarize_kills(done)
            work = fx.work / "kills" / key
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            t0 = time.monotonic()
            tally = drill(work, np.random.default_rng(100 + trial), KILL_PLAN[name], refs[name])
            row = {**tally.__dict__, "wall_s": round(time.monotonic() - t0, 1)}
            done[key] = row
            print(f"[kills] {key}: {row}", flush=True)
            save(results, cut)
            shutil.rmtree(work, ignore_errors=True)
    return summarize_kills(done)


STOP_AT: float | None = None  # epoch seconds after which no new piece of work starts


def past(when: float | None) -> bool:
    return when is not None and time.time() > when


def summarize_kills(rows: dict) -> dict:
    keys = ("kills", "resumes", "tracebacks", "hangs", "stranded", "garbage", "lost", "duplicated")
    per: dict[str, dict] = {}
    for key, row in rows.items():
        name = key.rsplit("-", 1)[0]
        agg = per.setdefault(name, {"trials": 0, **{k: 0 for k in keys}})
        agg["trials"] += 1
        for k in keys:
            agg[k] += row[k]
    total = {k: sum(p[k] for p in per.values()) for k in ("trials", *keys)}
    notes = [n for row in rows.values() for n in row["notes"]]
    return {"per_command": per, "total": total, "notes": notes}


# -- part: disk --------------------------------------------------------------------------------------
def part_disk(fx: Fixtures, results: dict) -> dict:
    """Fill an 8 MB tmpfs under collect, train-world and run; then free it and resume."""
    mount = fx.work / "tmpfs"
    mount.mkdir(exist_ok=True)
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)],
                       check=True, capture_output=True, text=True)  # fmt: skip
    except (subprocess.CalledProcessError, FileNotFoundError) as err:
        return {"skipped": f"cannot mount a tmpfs here ({err})", "faults": 0}
    t = kd.Tally()
    verdicts = {}
    try:
        filler = mount / "filler"

        def fill(leave_kb: int) -> None:
            filler.unlink(missing_ok=True)
            free = shutil.disk_usage(mount).free
            with open(filler, "wb") as f:
                f.write(b"\0" * max(0, free - leave_kb * 1024))

        # collect: fills up mid-way; must fail in one line, keep a readable dataset, then resume
        ref = kd.reference_collection(fx.work / "ref-disk", 2000, 11)
        ds = mount / "ds"
        args = ["collect", "--task", kd.TASK, "--out", str(ds), "--steps", "2000", "--seed",
                "11", "--chunk-steps", "250", "--no-progress"]  # fmt: skip
        fill(300)
        verdicts["collect on a full disk"] = judge(kd.genenv(*args))
        from genenv.data import load_transitions

        if (ds / "metadata.json").exists() and json.loads((ds / "metadata.json").read_text()).get(
            "total_episodes"
        ):
            try:
                load_transitions(ds)
            except ValueError as err:
                t.garbage += 1
                t.notes.append(f"dataset unreadable after ENOSPC: {err}")
        filler.unlink()
        done = kd.run(kd.genenv(*args, "--resume"), t)
        if done is None or done.returncode != 0:
            t.stranded += 1
            t.notes.append(f"collect not resumable after ENOSPC: {done and done.stderr[-300:]}")
        else:
            kd.compare(ds, ref, t)
        # train-world: the checkpoint cannot be written; one line, nothing half-written
        world = mount / "world"
        fill(40)
        verdicts["train-world on a full disk"] = judge(kd.genenv(
            "train-world", "--data", str(ds), "--out", str(world), "--epochs", "2",
            "--no-progress"))  # fmt: skip
        if list(world.glob("*.tmp")) if world.exists() else []:
            t.garbage += 1
            t.notes.append("train-world left *.tmp files on the full disk")
        filler.unlink()
        shutil.rmtree(ds, ignore_errors=True)
        # run: the disk fills during its first collection; free it, resume
        recipe = fx.work / "tiny.yaml"
        recipe.write_text(kd.TINY_RECIPE)
        out = mount / "run"
        fill(250)
        verdicts["run on a full disk"] = judge(kd.genenv(
            "run", "--task", kd.TASK, "--out", str(out), "--real-steps", "2150",
            "--initial-steps", "2000", "--steps-per-iteration", "150", "--recipe", str(recipe),
            "--eval-every", "512", "--eval-episodes", "1", "--train-epochs", "2", "--no-video",
            "--no-progress"))  # fmt: skip
        filler.unlink()
        done = kd.run(kd.genenv("run", "--resume", str(out), "--no-progress"), t)
        if done is None or done.returncode != 0:
            t.stranded += 1
            t.notes.append(f"run not resumable after ENOSPC: {done and done.stderr[-300:]}")
        else:
            summary = json.loads((out / "summary.json").read_text())
            if summary["real_env_steps"] != 2150:
                t.garbage += 1
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)
    for name, v in verdicts.items():
        print(f"[disk] {v:9s} {name}", flush=True)
        if v == "traceback":
            t.tracebacks += 1
        elif v == "hang":
            t.hangs += 1
        elif v == "garbage":
            t.garbage += 1
        if v != "clean":
            t.notes.append(f"{v}: {name}")
    return {**t.__dict__, "faults": len(verdicts), "verdicts": verdicts}


# -- part: soak --------------------------------------------------------------------------------------
SOAK = """
import gc, json, sys, torch
import numpy as np
torch.set_num_threads(1)
from genenv.envs.testing import random_world_model
from genenv.envs.vector import DreamVectorEnv
from genenv.models.ensemble import EnsembleConfig
steps, n = int(sys.argv[1]), 1024
model = random_world_model("InvertedPendulum", EnsembleConfig(hidden_size=32, num_layers=2))
env = DreamVectorEnv("InvertedPendulum", model, num_envs=n, uncertainty_threshold=50.0)
env.reset(seed=0)
actions = np.random.default_rng(0).uniform(-3, 3, (64, n, 1)).astype(np.float32)
def rss_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
points, done = [], 0
while done < steps:
    for k in range(977):  # ~1M dream steps
        env.step(actions[k % 64])
    done += 977 * n
    gc.collect()
    points.append((done / 1e6, rss_kb()))
print(json.dumps(points))
"""


def part_soak(steps: int) -> dict:
    t0 = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", SOAK, str(steps)], capture_output=True, text=True, env=kd._env()
    )
    if done.returncode != 0:
        return {"error": done.stderr[-500:]}
    points = np.asarray(json.loads(done.stdout.strip().splitlines()[-1]), dtype=np.float64)
    steady = points[1:]  # after a 1M-step warm-up
    slope = float(np.polyfit(steady[:, 0], steady[:, 1], 1)[0]) if len(steady) > 2 else float("nan")
    jumps = np.diff(steady[:, 1])
    return {
        "dream_steps": int(points[-1, 0] * 1e6),
        "rss_start_kb": int(steady[0, 1]),
        "rss_end_kb": int(points[-1, 1]),
        "kb_per_1m_steps": round(slope, 2),  # least squares over every point after warm-up
        "growth_kb": int(points[-1, 1] - steady[0, 1]),
        "largest_step_kb": int(jumps.max()) if len(jumps) else 0,
        "points_that_grew": int((jumps > 0).sum()),
        "points": points.tolist(),  # (M dream steps, RSS KB), one per ~1M steps
        "wall_s": round(time.monotonic() - t0, 1),
    }


# -- the table ---------------------------------------------------------------------------------------
def scope(results: dict) -> str:
    trials = {key.rsplit("-", 1)[0]: 0 for key in results["kill_trials"]}
    for key in results["kill_trials"]:
        trials[key.rsplit("-", 1)[0]] += 1
    soak = results["parts"].get("soak") or {}
    return (
        f"kill trials per command {trials or 'none'} (kills planned per trial {KILL_PLAN}); "
        f"soak {soak.get('dream_steps', 0) / 1e6:.0f}M dream steps (tiny ensemble, 1024 envs, CPU)"
    )


def render(results: dict) -> str:
    p = results.get("provenance", {})
    parts = results["parts"]
    kills = summarize_kills(results["kill_trials"]) if results["kill_trials"] else None
    inputs, hostile, disk = parts.get("inputs"), parts.get("hostile"), parts.get("disk")
    soak = parts.get("soak")
    missing = [p for p in PARTS if p not in parts and not (p == "kills" and kills)]
    lines = [
        "# Reliability drill",
        "",
        "- commands (each merges its parts into this table; code: the commit it ran):",
        *[
            f"  - `{c['command']}` ({c['date']}, code {c['git']})"
            for c in results.get("commands") or [p]
        ],
        f"- machine: {p.get('machine', '')}",
        f"- last written: {p.get('date', '')}",
        f"- scope: {scope(results)}",
        f"- cut: {'; '.join(results.get('cut', [])) or 'nothing'}",
        f"- parts not (yet) run: {', '.join(missing) or 'none'}",
        "",
        "| measure | count | goal | met |",
        "|---|---|---|---|",
    ]

    def row(name, value, goal, met):
        lines.append(f"| {name} | {value} | {goal} | {'met' if met else 'NOT met'} |")

    def total(key: str) -> int:
        n = sum(int(x.get(key, 0)) for x in (hostile, disk) if x)
        n += int((inputs or {}).get({"tracebacks": "traceback", "hangs": "hang"}.get(key, key), 0))
        return n + (int(kills["total"][key]) if kills else 0)

    if inputs:
        row("bad inputs tried", inputs["tried"], ">= 300", inputs["tried"] >= 300)
        row("  of which from tests/fault_cases.py", inputs["from_cli_table"], "-", True)
        row("  ended in one clean line, exit 2", inputs["clean"], "all",
            inputs["clean"] == inputs["tried"])  # fmt: skip
        row("  unclear (other exit code, or not one error line)", inputs["unclear"], "0",
            inputs["unclear"] == 0)  # fmt: skip
    faults = (kills["total"]["kills"] if kills else 0) + (hostile or {}).get("tried", 0) + (
        disk or {}).get("faults", 0)  # fmt: skip
    row("faults injected (kills + hostile loads + disk fills)", faults, "-", True)
    if kills:
        k = kills["total"]
        row("kills by signal (collect, train-world, run, curriculum)", k["kills"], ">= 50",
            k["kills"] >= 50)  # fmt: skip
        row("runs stranded", k["stranded"] + (disk or {}).get("stranded", 0), "0",
            k["stranded"] + (disk or {}).get("stranded", 0) == 0)  # fmt: skip
        lost = k["lost"] + (disk or {}).get("lost", 0)
        dup = k["duplicated"] + (disk or {}).get("duplicated", 0)
        row("transitions lost", lost, "0", lost == 0)
        row("transitions duplicated", dup, "0", dup == 0)
    row("tracebacks", total("tracebacks"), "0", total("tracebacks") == 0)
    row("hangs", total("hangs"), "0", total("hangs") == 0)
    row("silent garbage", total("garbage"), "0", total("garbage") == 0)
    if hostile:
        row("payloads executed (of hostile loads)",
            f"{hostile['payloads_executed']} of {hostile['tried']}", "0",
            hostile["payloads_executed"] == 0)  # fmt: skip
    if soak and "kb_per_1m_steps" in soak:
        row(f"memory growth per 1M dream steps (KB, over {soak['dream_steps'] / 1e6:.0f}M)",
            soak["kb_per_1m_steps"], "< 10", soak["kb_per_1m_steps"] < 10)  # fmt: skip
    if kills:
        lines += [
            "",
            "Kills per command:",
            "",
            "| command | trials | kills | resumes | stranded | lost | duplicated | "
            "tracebacks | hangs | garbage |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for name, a in kills["per_command"].items():
            lines.append(
                f"| {name} | {a['trials']} | {a['kills']} | {a['resumes']} | "
                f"{a['stranded']} | {a['lost']} | {a['duplicated']} | "
                f"{a['tracebacks']} | {a['hangs']} | {a['garbage']} |"
            )
    if disk:
        lines += ["", f"Full disk: {disk.get('skipped') or disk.get('verdicts')}"]
    if soak and "kb_per_1m_steps" in soak:
        lines += ["", (
            f"Soak: {soak['dream_steps'] / 1e6:.0f}M dream steps; RSS {soak['rss_start_kb']:,} KB "
            f"after the 1M-step warm-up, {soak['rss_end_kb']:,} KB at the end "
            f"({soak.get('growth_kb', '?')} KB in all); RSS grew between "
            f"{soak.get('points_that_grew', '?')} of {len(soak.get('points', [])) - 2} "
            f"consecutive ~1M-step points, the largest step {soak.get('largest_step_kb', '?')} KB; "
            f"least-squares slope {soak['kb_per_1m_steps']} KB per 1M steps; "
            f"{soak['wall_s']:.0f} s.")]  # fmt: skip
    elif soak:
        lines += ["", f"Soak: {soak}"]
    notes = [n for x in (inputs, hostile, disk) if x for n in x.get("notes", [])]
    notes += kills["notes"] if kills else []
    if notes:
        lines += ["", "Findings:", ""] + [f"- {n}" for n in notes[:60]]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/genenv-drills"))
    parser.add_argument("--parts", default=",".join(PARTS))
    parser.add_argument("--kill-trials", type=int, default=6, help="trials per command")
    parser.add_argument(
        "--soak-steps", type=int, default=100_000_000, help="dream steps of the memory soak"
    )
    parser.add_argument("--fresh", action="store_true", help="forget earlier results")
    parser.add_argument(
        "--stop-at", help="HH:MM (UTC): start no new part or kill trial after this time"
    )
    args = parser.parse_args()
    global STOP_AT
    if args.stop_at:
        hh, mm = (int(x) for x in args.stop_at.split(":"))
        STOP_AT = calendar.timegm((*time.gmtime()[:3], hh, mm, 0))
    parts = [p for p in args.parts.split(",") if p]
    results = load_results(args.fresh)
    cut: list[str] = []  # what --stop-at left out
    fx = Fixtures(args.work)
    # most important first: a run cut short at session end still has the kill counts
    if "kills" in parts:
        part_kills(fx, results, args.kill_trials, cut)
        save(results, cut)
    if "hostile" in parts and not past(STOP_AT):
        results["parts"]["hostile"] = part_hostile(fx, results)
        save(results, cut)
    if "soak" in parts and not past(STOP_AT):
        results["parts"]["soak"] = part_soak(args.soak_steps)
        save(results, cut)
    if "disk" in parts and not past(STOP_AT):
        results["parts"]["disk"] = part_disk(fx, results)
        save(results, cut)
    if "inputs" in parts and not past(STOP_AT):
        results["parts"]["inputs"] = part_inputs(fx, results)
        save(results, cut)
    print(MD_OUT.read_text())


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    signal.signal(signal.SIGINT, signal.default_int_handler)
    main()
