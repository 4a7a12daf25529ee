"""The README's quick start, run as written in a fresh copy of the checkout (issue 12).

The lines are read from README.md, so the test and the README cannot drift apart. It needs
PyPI (pip builds with setuptools and installs the dependencies) and a Python with venv:
without either it is skipped. TRTDOCTOR_QUICKSTART_PYTHON names the Python to run it with
(default: /usr/bin/python3, the system Python that may enforce PEP 668)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
from conftest import REPO

PYTHON = os.environ.get("TRTDOCTOR_QUICKSTART_PYTHON", "/usr/bin/python3")


def quickstart_lines() -> list[str]:
    text = (REPO / "README.md").read_text()
    block = re.search(r"## Quick start\n.*?```bash\n(.*?)```", text, re.S)
    assert block, "README.md has no Quick start bash block"
    return [ln for ln in block.group(1).splitlines() if ln.strip()]


def test_the_quick_start_installs_the_smoke_extra():
    lines = quickstart_lines()
    assert any("venv" in ln or "pipx" in ln for ln in lines), "a plain `pip install .` fails on a PEP 668 Python"
    assert any("[smoke]" in ln for ln in lines)


def pypi_reachable() -> bool:
    try:
        socket.create_connection(("pypi.org", 443), timeout=5).close()
        return True
    except OSError:
        return False


@pytest.mark.slow
def test_the_readme_quick_start_runs_in_a_fresh_venv(tmp_path):
    if not Path(PYTHON).exists() or subprocess.run([PYTHON, "-c", "import venv, ensurepip"], capture_output=True).returncode:
        pytest.skip(f"{PYTHON} has no venv/ensurepip (Debian: apt install python3-venv)")
    if not pypi_reachable():
        pytest.skip("PyPI is not reachable")
    copy = tmp_path / "trtdoctor"
    shutil.copytree(REPO, copy, ignore=shutil.ignore_patterns(".git", ".venv", "*.egg-info", "build", "__pycache__", ".cache", ".*_cache"))
    bin_ = tmp_path / "bin"  # `python3` in the README is the Python under test
    bin_.mkdir()
    (bin_ / "python3").symlink_to(PYTHON)
    env = {"PATH": f"{bin_}:/usr/bin:/bin", "HOME": str(tmp_path), "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    # line by line, as typed: `trtdoctor check` exits 1 on a machine with findings, and the next line still runs
    script = "\n".join(quickstart_lines()) + "\npython -c 'import numpy, onnx, onnxruntime, trtdoctor'\n"
    res = subprocess.run(["bash", "-c", script], cwd=copy, capture_output=True, text=True, env=env, timeout=900)
    assert "externally-managed-environment" not in res.stderr
    assert "Traceback" not in res.stderr and "internal error" not in res.stderr, res.stderr[-3000:]
    assert res.returncode == 0, res.stderr[-3000:]
    assert "driver" in res.stdout, res.stdout[-3000:]  # the check ran and printed its areas
