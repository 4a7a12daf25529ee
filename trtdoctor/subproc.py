"""Run helpers in child processes with a hard timeout.

A broken CUDA stack segfaults or hangs whoever loads it, so every driver call, dlopen and
framework import happens in a child: a crash or hang becomes a reason string, never ours.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass


@dataclass
class Outcome:
    ok: bool
    data: object = None
    error: str = ""
    stdout: str = ""
    stderr: str = ""
    returncode: int | None = None


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"crashed with {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with status {code}"


def run(argv: list[str], *, env: dict | None = None, timeout: float = 10.0, cwd=None) -> Outcome:
    """Run a command; kill its whole process group if it outlives ``timeout``."""
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=cwd,
            text=True,
            errors="replace",
            start_new_session=True,
        )
    except OSError as exc:
        return Outcome(False, error=f"could not start {argv[0]}: {exc.strerror or exc}")
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        out, err = proc.communicate()
        return Outcome(False, error=f"timed out after {timeout:g}s", stdout=out, stderr=err)
    if proc.returncode != 0:
        last = (err or out).strip().splitlines()
        tail = f": {last[-1]}" if last else ""
        return Outcome(
            False,
            error=f"{_describe_exit(proc.returncode)}{tail}",
            stdout=out,
            stderr=err,
            returncode=proc.returncode,
        )
    return Outcome(True, stdout=out, stderr=err, returncode=0)


def run_python_json(code: str, *, python: str | None = None, env: dict | None = None, timeout: float = 10.0) -> Outcome:
    """Run Python code that prints one JSON object as its last stdout line."""
    res = run([python or sys.executable, "-c", code], env=env, timeout=timeout)
    if not res.stdout.strip():
        if res.ok:
            res.ok, res.error = False, "printed nothing"
        return res
    try:
        res.data = json.loads(res.stdout.strip().splitlines()[-1])
    except json.JSONDecodeError:
        if res.ok:
            res.ok, res.error = False, "printed something that is not JSON"
    return res
