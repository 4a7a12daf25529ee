"""The command line as a user runs it: formats, exit codes, --from, bad input, hung probes."""

import json
import os
import re
import subprocess
import sys
import time

from conftest import REPO, check_json, h100_tree, ids, needs_cc, run_cli

from trtdoctor import __version__


def test_version():
    res = run_cli("--version")
    assert res.returncode == 0 and res.stdout.strip() == f"trtdoctor {__version__}"


def test_list_checks_lists_every_finding_id_the_rules_can_emit():
    emitted = set()
    for f in (REPO / "trtdoctor" / "rules").glob("*.py"):
        emitted |= set(re.findall(r'Finding\(\s*"([a-z]+\.[a-z0-9.-]+)"', f.read_text()))
    assert len(emitted) > 50
    res = run_cli("check", "--list-checks")
    assert res.returncode == 0
    listed = {line.split()[0] for line in res.stdout.splitlines()}
    assert emitted <= listed, emitted - listed
    rows = json.loads(run_cli("check", "--list-checks", "--json").stdout)
    assert {r["id"] for r in rows} == listed
    assert all(set(r) == {"id", "area", "severity", "title", "follows"} for r in rows)


@needs_cc
def test_json_mode_prints_only_the_object_and_from_round_trips(tree, tmp_path):
    h100_tree(tree)
    res = run_cli("check", "--json", "--root", str(tree.root), "--env", "CUDA_VISIBLE_DEVICES=")
    assert res.returncode == 1
    rep = json.loads(res.stdout)  # nothing else on stdout
    assert set(rep) == {"schema", "tool", "target", "summary", "areas", "snapshot", "findings", "provenance"}
    # no VIRTUAL_ENV: the pip cuDNN is not judged; TensorRT is not installed (a warning)
    assert rep["summary"] == {"status": "error", "errors": 1, "warnings": 1, "incomplete": 0, "could_not_check": []}
    for f in rep["findings"]:
        assert set(f) == {"id", "severity", "area", "title", "detail", "evidence", "fix", "subject", "caused_by"}
    saved = tmp_path / "report.json"
    saved.write_text(res.stdout)
    again = run_cli("check", "--json", "--from", str(saved))
    assert again.returncode == 1
    rep2 = json.loads(again.stdout)
    assert rep2["findings"] == rep["findings"] and rep2["summary"] == rep["summary"]


@needs_cc
def test_text_markdown_strict_only_skip(tree):
    h100_tree(tree)
    root = ["--root", str(tree.root), "--env", "VIRTUAL_ENV=/opt/torch/.venv"]
    text = run_cli("check", *root)
    assert text.returncode == 0  # warnings only
    assert "✓ driver       580.159.04 (supports CUDA ≤ 13.0)" in text.stdout
    assert "! libraries" in text.stdout and text.stdout.strip().endswith("0 errors, 2 warnings")
    assert "! tensorrt     not installed" in text.stdout and "$ pip install --extra-index-url https://pypi.nvidia.com tensorrt-cu13==" in text.stdout
    assert run_cli("check", "--strict", *root).returncode == 1
    md = run_cli("check", "--format", "markdown", *root)
    assert md.stdout.startswith("## trtdoctor") and "| driver | ✓ |" in md.stdout and "`libraries.mixed-versions`" in md.stdout
    only = check_json(tree.root, "--only", "driver", "--env", "CUDA_VISIBLE_DEVICES=")
    assert "gpus.hidden" not in ids(only)
    skipped = check_json(tree.root, "--skip", "libraries", "--env", "VIRTUAL_ENV=/opt/torch/.venv")
    assert "libraries.mixed-versions" not in ids(skipped)


def test_usage_errors_are_one_line_exit_2(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    for args, words in [
        (("check", "--from", str(bad)), "is not JSON"),
        (("check", "--from", str(tmp_path / "missing.json")), "cannot read"),
        (("check", "--only", "gpu"), "unknown area or check 'gpu'"),
        (("check", "--format", "yaml"), "invalid choice: 'yaml'"),
        (("check", "--root", str(tmp_path / "nope")), "is not a directory"),
        (("check", "--env", "NOEQUALS"), "expected KEY=VALUE"),
    ]:
        res = run_cli(*args)
        assert res.returncode == 2, (args, res.stderr)
        assert words in res.stderr and "Traceback" not in res.stderr
        assert len(res.stderr.strip().splitlines()) == 1
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"schema": "something/1"}))
    res = run_cli("check", "--from", str(other))
    assert res.returncode == 2 and "not a trtdoctor report" in res.stderr


def test_env_file(tmp_path, tree):
    h100_tree(tree)
    f = tmp_path / "env"
    f.write_text("# judged env\nexport CUDA_VISIBLE_DEVICES=''\nVIRTUAL_ENV=\"/opt/torch/.venv\"\n")
    rep = check_json(tree.root, "--env-file", str(f))
    assert rep["snapshot"]["env"]["vars"]["CUDA_VISIBLE_DEVICES"] == ""
    assert "gpus.hidden" in ids(rep)


def test_hung_nvidia_smi_ends_within_the_timeout(tmp_path):
    """NVML unavailable, so the probe falls back to nvidia-smi, which hangs."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "nvidia-smi").write_text("#!/bin/sh\nsleep 60\n")
    (fake / "nvidia-smi").chmod(0o755)
    nonvml = tmp_path / "py"
    nonvml.mkdir()
    (nonvml / "pynvml.py").write_text("raise ImportError('pynvml hidden by the test')\n")
    env = {"PATH": f"{fake}:/usr/bin:/bin", "PYTHONPATH": str(nonvml)}
    t0 = time.monotonic()
    res = run_cli("check", "--json", "--only", "gpus", "--timeout", "1", env=env)
    took = time.monotonic() - t0
    assert res.returncode in (0, 1), res.stderr
    nvml = json.loads(res.stdout)["snapshot"]["nvml"]
    assert nvml["smi_error"] == "could not collect: nvidia-smi timed out after 1s"
    assert took < 15


def test_crashing_probe_is_reported_not_fatal(tmp_path):
    """A probe child that segfaults becomes 'could not collect'."""
    crash = tmp_path / "py"
    crash.mkdir()
    (crash / "pynvml.py").write_text("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n")
    res = run_cli("check", "--json", "--only", "gpus", env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(crash)})
    assert res.returncode in (0, 1), res.stderr
    nvml = json.loads(res.stdout)["snapshot"]["nvml"]
    assert nvml["error"] == "could not collect: NVML probe crashed with SIGSEGV"


def test_env_file_that_is_a_fifo_nobody_writes_does_not_hang(tmp_path):
    """Issue 16: a FIFO as --env-file blocked forever in open(); a device is one line, exit 2;
    a pipe with a writer (``<(env)``) still works."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    res = run_cli("check", "--json", "--root", str(tmp_path), "--env-file", str(fifo), timeout=60)
    assert res.returncode in (0, 1) and json.loads(res.stdout)["snapshot"]["env"]["vars"] == {}
    dev = run_cli("check", "--root", str(tmp_path), "--env-file", "/dev/zero", timeout=60)
    assert dev.returncode == 2 and dev.stderr.strip() == "trtdoctor: cannot read --env-file /dev/zero: it is a character device, not a regular file or a pipe"
    piped = subprocess.run(
        ["bash", "-c", f'{sys.executable} -m trtdoctor check --json --root "$1" --env-file <(echo CUDA_HOME=/opt/cuda)', "_", str(tmp_path)],
        capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert json.loads(piped.stdout)["snapshot"]["env"]["vars"]["CUDA_HOME"] == "/opt/cuda"
