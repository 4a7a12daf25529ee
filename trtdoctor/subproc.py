"""Run helpers in child processes with a hard time budget.

A broken CUDA stack segfaults or hangs whoever loads it, so every driver call, dlopen and
framework import happens in a child: a crash or hang becomes a reason string, never ours.

The budget is real: ``timeout`` caps the child, its pipes and everything it started. We read
the pipes ourselves (keeping at most ``CAPTURE_LIMIT`` bytes of each), stop waiting at the
deadline even when a grandchild still holds them open, and then kill the child's process group
and every descendant, including ones that double-forked into a session of their own: on Linux
trtdoctor is a child subreaper, so such orphans become our children, and each child carries a
``TRTDOCTOR_CHILD`` tag in its environment that says which run it belongs to. ``kill_all`` does
the same for every live child at once (Ctrl-C).
"""

from __future__ import annotations

import ctypes
import itertools
import json
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    import psutil

CAPTURE_LIMIT = 1 << 20  # bytes kept of each of stdout and stderr
_TAIL = 64 << 10  # of which the last ones: a JSON answer is the last line
_GRACE = 0.5  # seconds a child's leftovers may keep its pipes open after it exited
_TAG = "TRTDOCTOR_CHILD"
_PR_SET_CHILD_SUBREAPER = 36

_LOCK = threading.RLock()  # held while spawning and while looking for strays, so neither sees the other half-done (re-entrant: Ctrl-C may land inside)
_LIVE: dict[int, str] = {}  # pid of each running child -> its tag
_STOP = threading.Event()
_RUNS = itertools.count(1)
_subreaper: bool | None = None


@dataclass
class Outcome:
    ok: bool
    data: object = None
    error: str = ""
    stdout: str = ""
    stderr: str = ""
    returncode: int | None = None
    timed_out: bool = False
    truncated: bool = False  # stdout or stderr was longer than CAPTURE_LIMIT: the middle is dropped
    leftovers: int = 0  # processes the child left behind (or had running at the deadline) that were killed


class _Capture:
    """The first bytes of a stream and its last ``_TAIL`` bytes; the middle is counted, not kept."""

    def __init__(self) -> None:
        self.head = bytearray()
        self.tail = bytearray()
        self.dropped = 0

    def add(self, data: bytes) -> None:
        room = CAPTURE_LIMIT - _TAIL - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail += data
            if len(self.tail) > _TAIL:
                cut = len(self.tail) - _TAIL
                self.dropped += cut
                del self.tail[:cut]

    def text(self) -> str:
        raw = bytes(self.head)
        if self.dropped:
            raw += b"\n[trtdoctor: %d bytes dropped]\n" % self.dropped
        raw += bytes(self.tail)
        return raw.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"crashed with {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with status {code}"


def _become_subreaper() -> None:
    """Orphans of our children reparent to us instead of init, so we can find and reap them."""
    global _subreaper
    if _subreaper is None:
        _subreaper = False
        if sys.platform.startswith("linux"):
            try:
                _subreaper = ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
            except (OSError, AttributeError):
                pass


def _exited(proc: subprocess.Popen) -> int | None:
    """The child's exit status, without reaping it: until reaped, its pid and process group stay ours."""
    if not hasattr(os, "waitid"):
        return proc.poll()
    try:
        res = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return proc.poll()
    if res is None:
        return None
    return res.si_status if res.si_code == os.CLD_EXITED else -res.si_status


def _tree(pid: int) -> list[psutil.Process]:
    import psutil  # here, not at the top: 45 ms of start-up that a static check never needs

    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def _tag(p: psutil.Process) -> str | None:
    import psutil

    try:
        return p.environ().get(_TAG)
    except (psutil.Error, OSError):  # a zombie, or not ours to read
        return None


def _strays(mine: Callable[[str | None], bool]) -> list[psutil.Process]:
    """Processes that are not running children of ours but came from one (``mine`` judges the tag):
    orphans that reparented to us, with what they started; without the subreaper, any tagged process."""
    import psutil

    out: list[psutil.Process] = []
    with _LOCK:
        if _subreaper:
            for p in _psutil_children():
                if p.pid not in _LIVE and mine(_tag(p)):
                    out += [p, *_tree(p.pid)]
        else:
            for p in psutil.process_iter():
                tag = _tag(p) if p.pid not in _LIVE else None
                if tag is not None and mine(tag):
                    out += [p, *_tree(p.pid)]
    return out


def _psutil_children() -> list[psutil.Process]:
    import psutil

    try:
        return psutil.Process().children()
    except psutil.Error:
        return []


def _kill(procs: list[psutil.Process]) -> None:
    import psutil

    for p in procs:
        try:
            p.kill()  # psutil checks the pid was not reused
        except psutil.Error:
            pass


def _reap(victims: list[psutil.Process], wait: float = 1.0) -> None:
    """Reap the zombies that reparented to us; wait (a little) until every victim is gone."""
    import psutil

    me = os.getpid()
    pids = {p.pid for p in victims} | {me}
    end = time.monotonic() + wait
    while True:
        with _LOCK:
            for p in _psutil_children():
                try:
                    if p.pid not in _LIVE and p.status() == psutil.STATUS_ZOMBIE:
                        os.waitpid(p.pid, os.WNOHANG)
                except (psutil.Error, ChildProcessError):
                    pass
        alive = []
        for p in victims:
            try:
                if p.is_running() and (p.status() != psutil.STATUS_ZOMBIE or p.ppid() in pids):
                    alive.append(p)
            except psutil.Error:
                pass
        if not alive or time.monotonic() > end:  # one stuck in the kernel (a wedged driver) cannot be killed
            return
        victims = alive
        time.sleep(0.01)


def _our_children() -> set[int]:
    """Our children's pids, from /proc (cheap: no psutil import); empty when unreadable."""
    pids: set[int] = set()
    try:
        for tid in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{tid}/children") as fh:
                pids |= {int(p) for p in fh.read().split()}
    except (OSError, ValueError):
        return set()
    return pids


def _nothing_left(proc: subprocess.Popen) -> bool:
    """A child that exited by itself, whose process group is now empty and that left no orphan
    with us (the subreaper): nothing to kill, so no psutil (45 ms to import) on the usual path."""
    if not _subreaper or not os.path.exists("/proc/self/task"):
        return False
    proc.wait()  # it has exited: reap it, so its group counts only what it left behind
    try:
        os.killpg(proc.pid, 0)
        return False  # someone is still in its group
    except ProcessLookupError:
        pass
    except OSError:
        return False
    with _LOCK:
        return not (_our_children() - set(_LIVE))


def _end(proc: subprocess.Popen, tag: str, exited: bool = False) -> int:
    """Kill the child's process group and every descendant, reap them all; how many were killed."""
    if exited and _nothing_left(proc):
        return 0
    victims = _tree(proc.pid)  # first: a killed parent's children move away
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the child is not reaped yet, so this group id is still its own
    except OSError:
        pass
    victims += _strays(lambda t: t in (None, tag))
    _kill(victims)
    try:
        proc.wait(timeout=2)
    except subprocess.TimeoutExpired:
        pass
    if victims:
        _reap(victims)
    return len({p.pid for p in victims})


def kill_all() -> int:
    """Ctrl-C: start no more children; kill every live one with all it started. How many were killed."""
    import psutil

    _STOP.set()
    prefix = f"{os.getpid()}."
    with _LOCK:
        roots = list(_LIVE)
    victims: list[psutil.Process] = []
    for pid in roots:
        victims += _tree(pid)
        try:
            victims.append(psutil.Process(pid))
            os.killpg(pid, signal.SIGKILL)
        except (psutil.Error, OSError):
            pass
    victims += _strays(lambda t: t is None or t.startswith(prefix))
    _kill(victims)
    _reap(victims, wait=0.5)
    return len({p.pid for p in victims})


def _read(proc: subprocess.Popen, caps: dict[int, _Capture], deadline: float) -> int | None:
    """Read the pipes until the child exited and they closed; None when it still ran at the deadline."""
    sel = selectors.DefaultSelector()
    for fd in caps:
        sel.register(fd, selectors.EVENT_READ)
    open_fds = set(caps)
    try:
        pidfd = os.pidfd_open(proc.pid)  # readable once the child exits: no polling
        sel.register(pidfd, selectors.EVENT_READ)
    except (AttributeError, OSError):
        pidfd = None
    code, end = None, deadline
    try:
        while True:
            if code is None:
                code = _exited(proc)
                if code is not None:
                    end = min(deadline, time.monotonic() + _GRACE)
                    if pidfd is not None:
                        sel.unregister(pidfd)
            if code is not None and not open_fds:
                return code
            left = end - time.monotonic()
            if left <= 0 or _STOP.is_set():
                return code
            for key, _ in sel.select(min(left, 0.1 if pidfd is not None and code is None else 0.02)):
                if key.fd == pidfd:
                    continue
                data = os.read(key.fd, 1 << 16)
                if data:
                    caps[key.fd].add(data)
                else:
                    sel.unregister(key.fd)
                    open_fds.discard(key.fd)
    finally:
        sel.close()
        if pidfd is not None:
            os.close(pidfd)


def _drain(caps: dict[int, _Capture]) -> None:
    """What is left in the pipes, without waiting for a writer that may never close them."""
    for fd, cap in caps.items():
        budget = 4 * CAPTURE_LIMIT  # a writer we could not kill may never stop
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while budget > 0 and sel.select(0):
                data = os.read(fd, 1 << 16)
                if not data:
                    break
                cap.add(data)
                budget -= len(data)


def run(argv: list[str], *, env: dict | None = None, timeout: float = 10.0, cwd=None) -> Outcome:
    """Run a command for at most ``timeout`` seconds; whatever it leaves behind is killed."""
    tag = f"{os.getpid()}.{next(_RUNS)}"
    child_env = dict(os.environ if env is None else env)
    child_env[_TAG] = tag
    with _LOCK:
        if _STOP.is_set():
            return Outcome(False, error="interrupted")
        _become_subreaper()
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env, cwd=cwd, start_new_session=True)
        except OSError as exc:
            return Outcome(False, error=f"could not start {argv[0]}: {exc.strerror or exc}")
        _LIVE[proc.pid] = tag
    caps = {proc.stdout.fileno(): _Capture(), proc.stderr.fileno(): _Capture()}
    code = None
    try:
        code = _read(proc, caps, time.monotonic() + timeout)
    finally:
        leftovers = _end(proc, tag, exited=code is not None)
        _drain(caps)
        proc.stdout.close()
        proc.stderr.close()
        with _LOCK:
            if _LIVE.get(proc.pid) == tag:
                del _LIVE[proc.pid]
    out, err = (c.text() for c in caps.values())
    res = Outcome(False, stdout=out, stderr=err, truncated=any(c.dropped for c in caps.values()), leftovers=leftovers)
    if code is None:
        res.timed_out = True
        res.error = "interrupted" if _STOP.is_set() else f"timed out after {timeout:g}s"
        return res
    res.returncode = proc.returncode if proc.returncode is not None else code
    if res.returncode != 0:
        last = (err or out).strip().splitlines()
        res.error = _describe_exit(res.returncode) + (f": {last[-1]}" if last else "")
        return res
    res.ok = True
    return res


def run_python_json(code: str, *, python: str | None = None, env: dict | None = None, timeout: float = 10.0, isolated: bool = False) -> Outcome:
    """Run Python code that prints one JSON object as its last stdout line.

    ``isolated`` starts the interpreter with ``-I -S`` (no site-packages, no .pth files, no
    PYTHON* variables: 15 ms instead of 80 ms in a big venv) for code that needs only the
    standard library, or puts what it needs on ``sys.path`` itself."""
    flags = ["-I", "-S"] if isolated else []
    res = run([python or sys.executable, *flags, "-c", code], env=env, timeout=timeout)
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
