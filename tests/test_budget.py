"""The time budget, with real processes: --timeout caps each child and everything it started,
output is bounded, probes run concurrently in the order their needs allow, Ctrl-C kills it all."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import psutil
from conftest import REPO

from trtdoctor import subproc
from trtdoctor.probes import Probe
from trtdoctor.probes.schedule import run_probes
from trtdoctor.target import Target

# A grandchild in a session of its own (double fork + setsid) that keeps stdout open.
DOUBLE_FORK = """
import os, sys, time
pids = sys.argv[1]
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        with open(pids, "a") as f:
            f.write("%d\\n" % os.getpid())
        print("grandchild here", flush=True)
        time.sleep(1000)
    os._exit(0)
while not os.path.exists(pids):
    time.sleep(0.01)
print("child here", flush=True)
if sys.argv[2] == "hang":
    time.sleep(1000)
"""


def _dead(pid: int) -> bool:
    try:
        p = psutil.Process(pid)
        if p.status() != psutil.STATUS_ZOMBIE:
            return False
    except psutil.NoSuchProcess:
        return True
    try:  # a zombie: dead, and maybe ours to reap (pytest is a subreaper once subproc ran here)
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    return True


def _all_dead(pids: list[int], within: float = 1.0) -> bool:
    end = time.monotonic() + within
    while not all(_dead(p) for p in pids):
        if time.monotonic() > end:
            return False
        time.sleep(0.02)
    return True


def _pids(f: Path) -> list[int]:
    return [int(x) for x in f.read_text().split()] if f.exists() else []


def _script(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


def test_a_child_that_sleeps_forever_is_killed_at_the_deadline(tmp_path):
    pids = tmp_path / "pids"
    t0 = time.monotonic()
    res = subproc.run(["sh", "-c", f"echo $$ > {pids}; exec sleep 1000"], timeout=1)
    took = time.monotonic() - t0
    assert not res.ok and res.timed_out and res.error == "timed out after 1s" and res.returncode is None
    assert 1 <= took < 1.5, took
    assert _all_dead(_pids(pids))


def test_a_double_forked_grandchild_holding_stdout_does_not_hold_the_deadline(tmp_path):
    pids = tmp_path / "pids"
    t0 = time.monotonic()
    res = subproc.run([sys.executable, "-c", DOUBLE_FORK, str(pids), "hang"], timeout=1)
    took = time.monotonic() - t0
    assert res.timed_out and res.error == "timed out after 1s"
    assert "child here" in res.stdout and "grandchild here" in res.stdout
    assert took < 1.5, took
    [grandchild] = _pids(pids)
    assert _all_dead([grandchild]), psutil.Process(grandchild)


def test_a_child_that_exits_but_leaves_a_grandchild_on_its_pipes(tmp_path):
    """The nvidia-smi whose detached helper keeps stdout open: the answer is there, the helper dies."""
    pids = tmp_path / "pids"
    t0 = time.monotonic()
    res = subproc.run([sys.executable, "-c", DOUBLE_FORK, str(pids), "exit"], timeout=10)
    took = time.monotonic() - t0
    assert res.ok and res.returncode == 0 and "child here" in res.stdout
    assert res.leftovers >= 1
    assert took < 1.5, took  # not the 10 s deadline: a short grace after the child exits
    assert _all_dead(_pids(pids))


def test_a_flood_of_output_is_bounded_and_quick():
    code = "import sys\nline = 'x' * 99 + '\\n'\nfor _ in range(500000):\n    sys.stdout.write(line)\nprint('{\"last\": true}')\n"  # 50 MB
    tracemalloc.start()
    try:
        t0 = time.monotonic()
        res = subproc.run_python_json(code, timeout=20)
        took = time.monotonic() - t0
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert res.ok and res.truncated and res.data == {"last": True}  # the tail is kept: the JSON answer is the last line
    assert len(res.stdout) <= subproc.CAPTURE_LIMIT + 100
    assert "bytes dropped]" in res.stdout
    assert peak < 8 << 20, peak
    assert took < 5, took


def test_nvidia_smi_printing_50_mb_is_cut_to_64_gpus(tmp_path):
    fake = tmp_path / "bin"
    _script(fake / "nvidia-smi", "#!/bin/sh\nyes '0, NVIDIA H100 80GB HBM3, GPU-f6a77f63, 580.159.04, 9.0, 81559, Disabled' | head -c 50000000\n")
    nonvml = tmp_path / "py"
    _script(nonvml / "pynvml.py", "raise ImportError('pynvml hidden by the test')\n")
    t0 = time.monotonic()
    res = _cli("check", "--json", "--only", "gpus", env={"PATH": f"{fake}:/usr/bin:/bin", "PYTHONPATH": str(nonvml)})
    took = time.monotonic() - t0
    assert res.returncode in (0, 1), res.stderr
    assert len(res.stdout) < 200_000
    nvml = json.loads(res.stdout)["snapshot"]["nvml"]
    assert len(nvml["devices"]) == 64 and nvml["driver"] == "580.159.04"
    assert nvml["smi_truncated"].startswith("nvidia-smi printed more than 1 MiB of output, at least ") and nvml["smi_truncated"].endswith("GPU rows; kept the first 64")
    assert took < 10, took


def _sleeper(secs: float, log: list, result: dict | None = None):
    def fn(target, snap):
        log.append(("start", fn.area, time.monotonic()))
        time.sleep(secs)
        log.append(("end", fn.area, time.monotonic()))
        return dict(result or {"slept": secs})

    return fn


def _probe(area: str, fn, **kw) -> Probe:
    fn.area = area
    return Probe(area, fn, **kw)


def test_independent_probes_run_concurrently():
    log: list = []
    snap: dict = {}
    t0 = time.monotonic()
    run_probes(Target(live=False), [_probe("a", _sleeper(0.5, log)), _probe("b", _sleeper(0.5, log))], snap)
    took = time.monotonic() - t0
    assert took < 0.9, took
    assert snap["a"] == snap["b"] == {"slept": 0.5}
    assert snap["_timings"]["a"] >= 0.5 and snap["_timings"]["b"] >= 0.5


def test_needs_and_merge_phases_are_waited_for():
    log: list = []
    static = {"x": 1}

    def reader(target, snap):
        log.append(("start", "c", time.monotonic()))
        return {"saw": sorted(k for k in ("a", "b") if k in snap), "a": dict(snap["a"])}

    def live_a(target, snap):  # mutates its area in place, as live_tensorrt does
        log.append(("start", "a-live", time.monotonic()))
        snap["a"]["y"] = 2
        return snap["a"]

    probes = [
        _probe("a", lambda t, s: static),
        _probe("b", _sleeper(0.3, log)),
        _probe("c", reader, needs=("a", "b")),
        _probe("a", live_a, needs=("c",), merge=True),
        _probe("d", _sleeper(0.3, log), needs=("a",)),
    ]
    snap: dict = {}
    run_probes(Target(live=False), probes, snap)
    when = {(kind, area): t for kind, area, t in log}
    assert when[("start", "c")] >= when[("end", "b")]
    assert snap["c"] == {"saw": ["a", "b"], "a": {"x": 1}}
    assert when[("start", "a-live")] >= when[("start", "c")]
    assert snap["a"] == {"x": 1, "y": 2}
    assert static == {"x": 1}  # whoever read the first phase never sees the merge phase write into it
    assert when[("start", "d")] >= when[("start", "a-live")]  # d needs a: both of its phases (listed before d)


def test_a_raising_probe_becomes_could_not_collect_and_the_rest_run():
    def boom(target, snap):
        raise ValueError("boom")

    snap: dict = {}
    run_probes(Target(live=False), [_probe("a", boom), _probe("b", lambda t, s: {"ok": True}, needs=("a",))], snap)
    assert snap["a"] == {"error": "could not collect: ValueError: boom"}
    assert snap["b"] == {"ok": True}


def test_progress_names_the_running_probes():
    calls: list = []
    log: list = []
    run_probes(Target(live=False), [_probe("quick", lambda t, s: {}), _probe("slow", _sleeper(0.7, log))], {}, progress=lambda running, elapsed: calls.append((running, elapsed)))
    assert len(calls) >= 2
    assert calls[-1][0] == ["slow"] and calls[-1][1] >= 0.5
    assert [c[1] for c in calls] == sorted(c[1] for c in calls)


def _cli_env(env: dict) -> dict:
    e = dict(env)
    e["PYTHONPATH"] = str(REPO) + os.pathsep + e.get("PYTHONPATH", "")
    return e


def _cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "trtdoctor", *args], capture_output=True, text=True, env=_cli_env(env), timeout=120)


def test_ctrl_c_exits_130_and_kills_every_child(tmp_path):
    pids = tmp_path / "pids"
    fake = tmp_path / "bin"
    # nvidia-smi that hangs and leaves a setsid'd grandchild behind
    _script(fake / "nvidia-smi", f"#!/bin/sh\necho $$ >> {pids}\n( setsid sh -c 'echo $$ >> {pids}; exec sleep 1000' & )\nexec sleep 1000\n")
    nonvml = tmp_path / "py"
    _script(nonvml / "pynvml.py", "raise ImportError('pynvml hidden by the test')\n")
    env = _cli_env({"PATH": f"{fake}:/usr/bin:/bin", "PYTHONPATH": str(nonvml)})
    cli = subprocess.Popen(
        [sys.executable, "-m", "trtdoctor", "check", "--only", "gpus", "--timeout", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as from a terminal, even if ours ignores it
    )
    try:
        end = time.monotonic() + 20
        while len(_pids(pids)) < 2 and time.monotonic() < end and cli.poll() is None:
            time.sleep(0.05)
        assert len(_pids(pids)) == 2, cli.communicate(timeout=5)
        t0 = time.monotonic()
        cli.send_signal(signal.SIGINT)
        out, err = cli.communicate(timeout=10)
        took = time.monotonic() - t0
    finally:
        if cli.poll() is None:
            cli.kill()
    assert cli.returncode == 130, err
    assert err.strip() == "trtdoctor: interrupted"
    assert took < 3, took
    assert _all_dead(_pids(pids)), [psutil.Process(p) for p in _pids(pids) if not _dead(p)]


def test_check_with_hung_probes_ends_within_its_budget(tmp_path):
    """Every child hangs: a venv python that double-forks and sleeps, NVML, nvidia-smi. Before, with
    floors of 20 to 90 s and probes one after another, this took minutes or never ended."""
    pids = tmp_path / "pids"
    venv = tmp_path / "venv"
    _script(venv / "bin" / "python", f"#!/bin/sh\necho $$ >> {pids}\n( setsid sh -c 'echo $$ >> {pids}; exec sleep 1000' & )\nexec sleep 1000\n")
    site = venv / "lib" / "python3.11" / "site-packages"
    for name, version in (("tensorrt", "10.13.3.9"), ("tensorflow", "2.17.1"), ("pycuda", "2025.1"), ("onnxruntime-gpu", "1.22.0")):
        d = site / f"{name.replace('-', '_')}-{version}.dist-info"
        d.mkdir(parents=True)
        (d / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    fake = tmp_path / "bin"
    _script(fake / "nvidia-smi", f"#!/bin/sh\necho $$ >> {pids}\nexec sleep 1000\n")
    hung = tmp_path / "py"
    _script(hung / "pynvml.py", "import time\ntime.sleep(1000)\n")
    env = {"PATH": f"{fake}:/usr/bin:/bin", "PYTHONPATH": str(hung), "VIRTUAL_ENV": str(venv)}
    t0 = time.monotonic()
    res = _cli("check", "--json", "--timeout", "2", env=env)
    took = time.monotonic() - t0
    assert res.returncode in (0, 1), res.stderr
    snap = json.loads(res.stdout)["snapshot"]
    assert snap["nvml"]["error"] == "could not collect: NVML probe timed out after 2s"
    assert snap["nvml"]["smi_error"] == "could not collect: nvidia-smi timed out after 2s"
    trt = next(i for i in snap["tensorrt"]["installs"] if i["site_packages"] == str(site))
    assert trt["live"]["tensorrt"] == {"error": "could not collect: import tensorrt timed out after 2s"}
    tf = next(i for i in snap["tensorflow"]["installs"] if i["site_packages"] == str(site))
    assert tf["live"]["error"] == "could not collect: import tensorflow timed out after 2s"
    ort = next(i for i in snap["onnxruntime"]["installs"] if i["site_packages"] == str(site))
    assert "live" not in ort and ort["providers"] == ["CPUExecutionProvider"]  # read from files: no child to hang
    assert took < 8, took  # one after another this is 6 children of 2 s: 12 s
    assert len(_pids(pids)) >= 8
    assert _all_dead(_pids(pids)), [psutil.Process(p) for p in _pids(pids) if not _dead(p)]
