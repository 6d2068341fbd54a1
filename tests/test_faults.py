"""Fault drills, fast subset: hostile files execute nothing, interrupted work resumes exactly,
corruption is a clear error, temporary litter is cleaned. Long kill loops and soaks are marked
`expensive` and run by benchmarks/drills.py."""

import base64
import json
import os
import pickle
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest

from genenv.agents.sb3 import load_policy
from genenv.data import collect, load_transitions
from genenv.data.policies import resolve_policy
from genenv.data.sb3_zip import UnsafeZipError
from genenv.models.checkpoint import load_checkpoint, save_checkpoint
from genenv.models.ensemble import EnsembleConfig, EnsembleWorldModel


# -- hostile files -------------------------------------------------------------------------------
class _Payload:
    """Unpickling this creates the marker file: proof that code from a file ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _blob(marker: Path) -> str:
    return base64.b64encode(pickle.dumps(_Payload(marker))).decode()


def _rewrite_zip(src: Path, dst: Path, edit) -> Path:
    with zipfile.ZipFile(src) as zf:
        files = {name: zf.read(name) for name in zf.namelist()}
    data = json.loads(files["data"])
    edit(data)
    files["data"] = json.dumps(data).encode()
    with zipfile.ZipFile(dst, "w") as zf:
        for name, content in files.items():
            zf.writestr(name, content)
    return dst


@pytest.fixture(scope="module")
def sb3_zips(tmp_path_factory):
    """A real PPO and SAC zip (InvertedPendulum), and hostile copies of the PPO one."""
    from stable_baselines3 import PPO, SAC
    from torch import nn

    from genenv.worlds import WorldSpec

    root = tmp_path_factory.mktemp("zips")
    env = WorldSpec("InvertedPendulum").make_env()
    kwargs = dict(policy_kwargs=dict(net_arch=[8], activation_fn=nn.ReLU), device="cpu")
    PPO("MlpPolicy", env, n_steps=32, batch_size=32, **kwargs).save(root / "ppo.zip")
    SAC("MlpPolicy", env, buffer_size=100, **kwargs).save(root / "sac.zip")
    marker = root / "PAYLOAD-RAN"

    def every_entry(data):  # the payload in place of every pickled entry
        for value in data.values():
            if isinstance(value, dict) and ":serialized:" in value:
                value[":serialized:"] = _blob(marker)

    def extra_entry(data):  # a pickled entry genenv knows nothing about
        data["surprise"] = {":type:": "<class 'object'>", ":serialized:": _blob(marker)}

    def foreign_policy(data):  # a policy class that is not SB3's own
        data["policy_class"].update({"__init__": "<function Evil.__init__ at 0x1>"})
        data["policy_class"][":serialized:"] = _blob(marker)

    hostile = {
        name: _rewrite_zip(root / "ppo.zip", root / f"{name}.zip", edit)
        for name, edit in (
            ("every", every_entry),
            ("extra", extra_entry),
            ("foreign", foreign_policy),
        )
    }
    return root, marker, hostile


def test_hostile_zip_is_executed_by_plain_sb3_but_not_by_genenv(sb3_zips, tmp_path):
    """The payload is real (SB3's own loader runs it) and none of genenv's loaders do."""
    from stable_baselines3 import PPO

    root, marker, hostile = sb3_zips
    # genenv: loadable zips load with SB3's own classes, the others are refused clearly
    agent = load_policy(hostile["every"])
    assert agent.policy_class.__name__ == "ActorCriticPolicy"
    assert agent.clip_range(1.0) == pytest.approx(0.2)
    assert agent.policy_kwargs["net_arch"] == [8]
    for name in ("extra", "foreign"):
        with pytest.raises(UnsafeZipError, match="refusing"):
            load_policy(hostile[name])
        with pytest.raises(ValueError, match="refusing"):
            resolve_policy(str(hostile[name]))  # collect --policy
    folder = tmp_path / "agent"  # a run's agent folder (record --policy DIR, run --resume)
    folder.mkdir()
    (folder / "agent.zip").write_bytes(hostile["extra"].read_bytes())
    (folder / "agent.json").write_text(json.dumps({"algo": "PPO", "file": "agent.zip"}))
    with pytest.raises(UnsafeZipError):
        load_policy(folder)
    fn, desc = resolve_policy(str(hostile["every"]))
    assert desc.startswith("sb3:PPO") and np.shape(fn(np.zeros(4, np.float32))) == (1,)
    assert not marker.exists(), "a payload ran inside genenv"
    # control: SB3's own loader does unpickle the payload
    with pytest.raises(Exception):  # noqa: B017 - the payload object is no PPO attribute
        PPO.load(hostile["every"])
    assert marker.exists()
    marker.unlink()


def test_genuine_zips_round_trip_through_the_one_loader(sb3_zips):
    root, marker, _ = sb3_zips
    obs = np.zeros(4, np.float32)
    for name, policy in (("PPO", "ActorCriticPolicy"), ("SAC", "SACPolicy")):
        agent = load_policy(root / f"{name.lower()}.zip")
        assert type(agent).__name__ == name and agent.policy_class.__name__ == policy
        assert agent.policy_kwargs["activation_fn"].__name__ == "ReLU"
        assert agent.predict(obs, deterministic=True)[0].shape == (1,)
    assert not marker.exists()


def test_agent_json_and_checkpoint_name_only_files_inside_their_folder(tmp_path):
    folder = tmp_path / "agent"
    folder.mkdir()
    (folder / "agent.json").write_text(json.dumps({"algo": "PPO", "file": "../../etc/passwd"}))
    with pytest.raises(ValueError, match="bare file name"):
        load_policy(folder)
    path = save_checkpoint(_tiny_model(), tmp_path / "ck")
    meta = json.loads((path / "metadata.json").read_text())
    for bad in ("../../../../etc/passwd", "/etc/passwd", "sub/w.safetensors", ".."):
        (path / "metadata.json").write_text(json.dumps({**meta, "weights_file": bad}))
        with pytest.raises(ValueError, match="bare file name"):
            load_checkpoint(path)


def test_checkpoint_with_pickled_weights_executes_nothing(tmp_path):
    import hashlib

    marker = tmp_path / "PAYLOAD-RAN"
    path = save_checkpoint(_tiny_model(), tmp_path / "ck")
    meta = json.loads((path / "metadata.json").read_text())
    weights = path / meta["weights_file"]
    weights.write_bytes(pickle.dumps(_Payload(marker)))  # torch.load would run this
    meta["weights_sha256"] = hashlib.sha256(weights.read_bytes()).hexdigest()
    (path / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="corrupt"):
        load_checkpoint(path)
    assert not marker.exists()


def _tiny_model() -> EnsembleWorldModel:
    config = EnsembleConfig(ensemble_size=2, num_elites=1, hidden_size=8, num_layers=1)
    return EnsembleWorldModel("InvertedPendulum", 4, 1, 6, config, [-3.0], [3.0])


# -- files follow the umask, litter is cleaned ----------------------------------------------------
def test_datasets_and_checkpoints_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        collect("InvertedPendulum", 10, tmp_path / "ds", progress=False)
        ck = save_checkpoint(_tiny_model(), tmp_path / "ck")
    finally:
        os.umask(old)
    files = [tmp_path / "ds" / "metadata.json", ck / "metadata.json", *ck.glob("weights-*")]
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o644, f


def test_tmp_litter_is_removed_on_the_next_open(tmp_path):
    ds = tmp_path / "ds"
    collect("InvertedPendulum", 10, ds, progress=False)
    litter = ds / ".metadata.json.abc123.tmp"
    litter.write_bytes(b"x" * 1000)
    assert len(load_transitions(ds)) == 10  # readers ignore it
    collect("InvertedPendulum", 5, ds, seed=1, progress=False)
    assert not litter.exists()
    ck = save_checkpoint(_tiny_model(), tmp_path / "ck")
    (ck / ".weights.xyz.tmp").write_bytes(b"x" * 1000)
    save_checkpoint(_tiny_model(), ck)
    assert not list(ck.glob("*.tmp"))


# -- collections: no duplicates, exact resume, honest records ------------------------------------
def _arrays(path):
    t = load_transitions(path)
    return np.concatenate([t.obs, t.actions, t.rewards[:, None], t.next_obs], axis=1)


def _starts(path):  # first observation of every episode
    t = load_transitions(path)
    _, first = np.unique(t.episode_ids, return_index=True)
    return t.obs[first]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    path = tmp_path_factory.mktemp("ref") / "ds"
    collect("InvertedPendulum", 300, path, seed=7, progress=False, chunk_steps=50)
    return _arrays(path)


def test_same_seed_is_refused_resume_is_a_no_op_until_total_continues(tmp_path, reference):
    from genenv.data import collection_info

    ds = tmp_path / "ds"
    collect("InvertedPendulum", 300, ds, seed=7, progress=False, chunk_steps=50)
    with pytest.raises(ValueError, match="already holds collection 0 with seed 7"):
        collect("InvertedPendulum", 300, ds, seed=7, progress=False)
    collect("InvertedPendulum", None, ds, seed=7, resume=True, progress=False)  # complete: no-op
    np.testing.assert_array_equal(_arrays(ds), reference)
    collect("InvertedPendulum", None, ds, seed=7, until_total=500, progress=False)
    info = collection_info(ds)
    assert info["total_steps"] == 500 and len(info["collections"]) == 1
    starts = _starts(ds)
    assert len(np.unique(starts, axis=0)) == len(starts)  # no episode repeated


@pytest.mark.parametrize("when", ["before_commit_point", "after_commit_point"])
def test_ctrl_c_inside_a_commit_neither_loses_nor_over_counts(tmp_path, reference, when):
    from genenv.data import collection_info
    from genenv.data.storage import DatasetWriter

    original = DatasetWriter.append
    calls = {"n": 0}

    def interrupted(self, episodes, collection):
        calls["n"] += 1
        if calls["n"] == 3:
            if when == "after_commit_point":
                original(self, episodes, collection)
            raise KeyboardInterrupt
        return original(self, episodes, collection)

    ds = tmp_path / "ds"
    DatasetWriter.append = interrupted
    try:
        with pytest.raises(KeyboardInterrupt):
            collect("InvertedPendulum", 300, ds, seed=7, progress=False, chunk_steps=50)
    finally:
        DatasetWriter.append = original
    info = collection_info(ds)
    assert info["collections"][0]["steps"] == info["total_steps"] == len(load_transitions(ds))
    assert info["collections"][0]["status"] == "interrupted"
    collect("InvertedPendulum", None, ds, seed=7, resume=True, progress=False)
    np.testing.assert_array_equal(_arrays(ds), reference)  # nothing lost, nothing twice
    assert collection_info(ds)["collections"][0]["status"] == "complete"


def test_metadata_claiming_more_episodes_than_exist_is_refused(tmp_path):
    ds = tmp_path / "ds"
    collect("InvertedPendulum", 20, ds, progress=False)
    meta = json.loads((ds / "metadata.json").read_text())
    (ds / "metadata.json").write_text(json.dumps({**meta, "total_episodes": 1_000_000}))
    with pytest.raises(ValueError, match="1000000 episodes"):
        collect("InvertedPendulum", 20, ds, seed=1, progress=False)


# -- checksums --------------------------------------------------------------------------------
def test_zeroed_bytes_in_an_episode_file_are_a_clear_error(tmp_path):
    ds = tmp_path / "ds"
    collect("InvertedPendulum", 200, ds, progress=False)
    victim = sorted(ds.glob("*/part-0.arrow"), key=lambda p: int(p.parent.name))[0]
    raw = bytearray(victim.read_bytes())
    start = len(raw) // 2
    raw[start : start + 64] = bytes(64)
    victim.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"(episode 0 .* corrupt|unreadable)"):
        load_transitions(ds)


def test_legacy_datasets_without_checksums_load_with_a_warning(tmp_path):
    ds = tmp_path / "ds"
    collect("InvertedPendulum", 50, ds, progress=False)
    meta = json.loads((ds / "metadata.json").read_text())
    meta["genenv"]["format_version"] = 1
    (ds / "metadata.json").write_text(json.dumps(meta))
    for ep_meta in ds.glob("*/metadata.json"):
        m = json.loads(ep_meta.read_text())
        m.pop("checksum")
        ep_meta.write_text(json.dumps(m))
    with pytest.warns(UserWarning, match="predates episode checksums"):
        assert len(load_transitions(ds)) == 50
    meta["genenv"]["format_version"] = 2
    (ds / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="no checksum"):
        load_transitions(ds)


# -- Python API validation and async vectorisation ------------------------------------------------
@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory):
    import torch

    model = _tiny_model()
    model.start_obs = torch.zeros(3, 4)
    model.real_obs = torch.zeros(3, 4)
    return save_checkpoint(model, tmp_path_factory.mktemp("ck") / "world")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"uncertainty_penalty": float("nan")}, "uncertainty_penalty"),
        ({"uncertainty_penalty": float("inf")}, "uncertainty_penalty"),
        ({"uncertainty_penalty": -1.0}, "uncertainty_penalty"),
        ({"uncertainty_threshold": float("nan")}, "uncertainty_threshold"),
        ({"uncertainty_threshold": 0.0}, "uncertainty_threshold"),
        ({"num_envs": 2.5}, "num_envs"),
        ({"num_envs": True}, "num_envs"),
        ({"num_envs": 0}, "num_envs"),
        ({"max_episode_steps": 2.5}, "max_episode_steps"),
    ],
)
def test_dream_env_constructor_rejects_bad_numbers(tiny_ckpt, kwargs, match):
    from genenv.envs.vector import DreamVectorEnv

    with pytest.raises(ValueError, match=match):
        DreamVectorEnv("InvertedPendulum", tiny_ckpt, **{"num_envs": 2, **kwargs})


_ASYNC = """
import sys, torch, gymnasium as gym
import genenv
def main():
    torch.set_num_threads(2)
    a = torch.randn(256, 256)
    for _ in range(10):
        a = a @ torch.randn(256, 256) / 16  # the parent's thread pool is running
    env = gym.make_vec("genenv/Dream-InvertedPendulum-v0", num_envs=2,
                       vectorization_mode="async", world=sys.argv[1])
    env.reset(seed=0)
    for _ in range(20):
        env.step(env.action_space.sample())
    env.close()
    print("ASYNC-OK")
if __name__ == "__main__":
    main()
"""


def test_async_vectorisation_with_fork_does_not_deadlock(tiny_ckpt, tmp_path):
    import subprocess
    import sys

    script = tmp_path / "async_env.py"
    script.write_text(_ASYNC)
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "OMP_NUM_THREADS": "2", "PYTHONPATH": str(root)}
    done = subprocess.run(
        [sys.executable, str(script), str(tiny_ckpt)],
        capture_output=True,
        text=True,
        timeout=120,  # a deadlock shows as a timeout, not a hung suite
        env=env,
    )
    assert "ASYNC-OK" in done.stdout, done.stderr[-2000:]


# -- kill and resume (real processes, tiny budgets; the kill loops are in benchmarks/drills.py) ---
def _kill_when(cmd, ready, sig, timeout=120.0):
    """Start `cmd`, send `sig` as soon as `ready()` holds, wait for the process to end."""
    import signal  # noqa: F401 - (sig values come from it)
    import subprocess
    import time

    import kill_drills

    proc = subprocess.Popen(cmd, env=kill_drills._env(), stderr=subprocess.PIPE, text=True,
                            preexec_fn=kill_drills.sigint_as_at_a_terminal)  # fmt: skip
    deadline = time.monotonic() + timeout
    while not ready() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the command ended before the kill point"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert "Traceback" not in err, err[-1000:]


def test_collect_killed_mid_way_resumes_to_exactly_the_uninterrupted_data(tmp_path, reference):
    import signal

    import kill_drills as kd

    ds = tmp_path / "ds"
    args = ["collect", "--task", "InvertedPendulum", "--out", str(ds), "--seed", "7"]
    args += ["--steps", "300", "--chunk-steps", "50", "--no-progress"]
    _kill_when(kd.genenv(*args), lambda: (ds / "1").exists(), signal.SIGKILL)  # 2nd episode in
    tally = kd.Tally()
    done = kd.run(kd.genenv(*args, "--resume"), tally)
    assert done is not None and done.returncode == 0, done and done.stderr
    np.testing.assert_array_equal(_arrays(ds), reference)
    assert tally.tracebacks == tally.hangs == 0


@pytest.mark.parametrize(
    "sig_name", ["SIGKILL", pytest.param("SIGINT", marks=pytest.mark.expensive)]
)
def test_run_killed_during_its_first_collection_resumes_and_finishes(tmp_path, sig_name):
    """The run folder exists before any data: --resume finishes the collection exactly and
    the run trains on every step it asked for."""
    import signal

    import kill_drills as kd

    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(kd.TINY_RECIPE)
    out = tmp_path / "run"
    cmd = kd.genenv(
        "run", "--task", "InvertedPendulum", "--out", str(out), "--real-steps", "3150",
        "--initial-steps", "3000", "--steps-per-iteration", "150", "--recipe", str(recipe),
        "--imagined-steps", "512", "--eval-every", "512", "--eval-episodes", "1",
        "--train-epochs", "1", "--no-video", "--no-progress",
    )  # fmt: skip
    _kill_when(cmd, lambda: (out / "data" / "metadata.json").exists(), getattr(signal, sig_name))
    assert (out / "state.json").is_file() and (out / "config.yaml").is_file()
    tally = kd.Tally()
    done = kd.run(kd.genenv("run", "--resume", str(out), "--no-progress"), tally, timeout=300)
    assert done is not None and done.returncode == 0, done and done.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["done"] and summary["real_env_steps"] == 3150
    from genenv.data import collection_info

    records = collection_info(out / "data")["collections"]
    assert [r["seed"] for r in records] == [0, 1]  # random first collection, then the agent's
    assert [r["steps"] for r in records] == [3000, 150]
    starts = _starts(out / "data")
    assert len(np.unique(starts, axis=0)) == len(starts)


def _mapped(pid: int, name: str) -> bool:
    try:
        return name in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("delay", [0.0, 0.4, 1.2, 2.5])
def test_ctrl_c_at_any_moment_of_startup_is_one_line_not_a_traceback(tmp_path, delay):
    """Ctrl-C while the package or the command's imports are loading (torch takes seconds) ends
    with exit code 130 and one line; earlier the import raised a traceback. The clock starts when
    the process has MuJoCo's library mapped, i.e. genenv's package code is running: a Ctrl-C
    inside the interpreter's own start-up (`import site`) comes before any genenv code and is
    Python's to report."""
    import signal
    import subprocess
    import time

    import kill_drills as kd

    cmd = kd.genenv("run", "--task", "InvertedPendulum", "--out", str(tmp_path / "run"),
                    "--real-steps", "1000", "--no-progress")  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=kd._env(), preexec_fn=kd.sigint_as_at_a_terminal)  # fmt: skip
    deadline = time.monotonic() + 60
    while not _mapped(proc.pid, "mujoco") and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "interrupted" in lines[0], err


def test_a_pickle_in_place_of_the_tensors_file_is_refused(sb3_zips, tmp_path):
    root, marker, _ = sb3_zips
    with zipfile.ZipFile(root / "ppo.zip") as zf:
        files = {name: zf.read(name) for name in zf.namelist()}
    files["policy.pth"] = pickle.dumps(_Payload(marker))
    bad = tmp_path / "pth.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        for name, content in files.items():
            zf.writestr(name, content)
    with pytest.raises(UnsafeZipError, match="tensor files"):
        load_policy(bad)
    assert not marker.exists()


# -- a full disk ------------------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path):
    """A 2 MB tmpfs (root only; skipped where mounting is not allowed)."""
    import shutil
    import subprocess

    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here")
    yield mount, lambda: shutil.disk_usage(mount).free
    subprocess.run(["umount", str(mount)], capture_output=True)


def test_a_full_disk_is_an_oserror_and_the_data_stays_whole(small_disk, reference):
    from genenv.data import collection_info

    mount, free = small_disk
    filler = mount / "filler"
    filler.write_bytes(b"\0" * (free() - 200 * 1024))
    ds = mount / "ds"
    with pytest.raises(OSError):
        collect("InvertedPendulum", 300, ds, seed=7, progress=False, chunk_steps=50)
    info = collection_info(ds)
    assert sum(r["steps"] for r in info["collections"]) == info["total_steps"]
    filler.unlink()
    collect("InvertedPendulum", 300, ds, seed=7, resume=True, progress=False, chunk_steps=50)
    np.testing.assert_array_equal(_arrays(ds), reference)
    filler.write_bytes(b"\0" * free())
    with pytest.raises(OSError):
        save_checkpoint(_tiny_model(), mount / "ck")
    assert not list((mount / "ck").glob("*"))  # nothing half-written


_PY_RUN_STRING_DRILL = """
import ctypes, sys
from genenv import cli

def add_arguments(parser):
    pass

def run(args):  # a Ctrl-C that lands inside code run by PyRun_String, as in MuJoCo's bindings
    run_string = ctypes.pythonapi.PyRun_String
    run_string.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.py_object, ctypes.py_object]
    run_string.restype = ctypes.py_object
    scope = {}
    run_string(b"raise KeyboardInterrupt", 257, scope, scope)

if __name__ == "__main__":
    cli.COMMANDS["drill"] = ("ctrlc_drill", "Ctrl-C inside PyRun_String")
    sys.exit(cli.main(["drill"]))
"""


def test_ctrl_c_inside_pyrun_string_still_exits_130_under_python_m(tmp_path):
    """CPython marks a KeyboardInterrupt that ends code run by PyRun_String as unhandled, even
    once caught, and `python -m` then dies by SIGINT (-2) after `main` returned 130. MuJoCo's
    bindings run such strings, so a Ctrl-C at the wrong moment of `python -m genenv.cli run`
    exited -2 (seen in CI). The handled interrupt must leave exit code 130 and one line."""
    import subprocess
    import sys

    import kill_drills as kd

    (tmp_path / "ctrlc_drill.py").write_text(_PY_RUN_STRING_DRILL)
    env = {**kd._env(), "PYTHONPATH": f"{tmp_path}{os.pathsep}{kd.REPO}"}
    done = subprocess.run([sys.executable, "-m", "ctrlc_drill"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 130, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines == ["interrupted; everything written so far is kept"], done.stderr
