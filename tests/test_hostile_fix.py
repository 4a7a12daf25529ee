"""Hostile input to `trtdoctor fix` (issue 16, part B).

Names and values that try to run code when the written file is sourced; files whose bytes,
mode and owner must survive a write and an --undo; damaged blocks; targets that are not
regular files; --root writes; and printed commands pasted into a real shell. Every installed
shell sources what we wrote (a missing one is skipped); PWNED appearing means code ran."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest
from conftest import check_json, needs_cc, run_cli, saved_report
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from trtdoctor.cli import main
from trtdoctor.fix.writers import BEGIN, END
from trtdoctor.redact import masked
from trtdoctor.rules.system import python_shadowed
from trtdoctor.shell import CONTROL, is_name

POSIX = ("bash", "sh", "zsh")
SHELLS = (*POSIX, "fish")
HOSTILE = [
    "$(touch PWNED)",
    "`touch PWNED`",
    'it\'s "quoted" $HOME \\ ; touch PWNED #',
    "'; touch PWNED; '",
    "\\'; touch PWNED; echo \\'",
    "a\tb !x *.so ~ %s {a,b} [x] -n",
    "trailing backslash\\",
    "ünïcödé ✓",
    "",
]
INJECTED_MARKER = f"v\n{END}\ntouch PWNED\n#"


def installed(shell: str):
    return pytest.param(shell, marks=pytest.mark.skipif(shutil.which(shell) is None, reason=f"{shell} is not installed"))


def report(tmp_path: Path, env: dict) -> Path:
    fix = {"summary": "set it", "commands": [], "env": env, "links": []}
    return saved_report(tmp_path / "report.json", [{"id": "libraries.not-on-loader-path", "severity": "error", "area": "libraries", "title": "t", "fix": fix}])


def fix(rep: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return run_cli("fix", "--from", str(rep), *args, timeout=timeout)


def write_env(rep: Path, f: Path, shell: str = "bash", *extra: str) -> subprocess.CompletedProcess:
    return fix(rep, "--write-env", "--shell-file", str(f), "--shell", "fish" if shell == "fish" else "bash", *extra)


def source(shell: str, f: Path, env: dict | None = None) -> dict[str, str]:
    """Source ``f`` in a real shell run in a fresh folder; the exported environment after."""
    cwd = Path(tempfile.mkdtemp(dir=f.parent))
    script = f"source {shell_word(f)}; env -0" if shell == "fish" else f". {shell_word(f)}; env -0"
    res = subprocess.run([shell, "-c", script], cwd=cwd, capture_output=True, env={"PATH": os.environ["PATH"], "HOME": str(cwd), **(env or {})}, timeout=30)
    assert not (cwd / "PWNED").exists(), f"{shell} ran injected code: {res.stderr!r}"
    assert res.returncode == 0, res.stderr
    return env_of(res.stdout)


def env_of(out: bytes) -> dict[str, str]:
    """The output of ``env -0`` as text (a byte that is not UTF-8 kept as Python keeps it)."""
    pairs = (kv.split(b"=", 1) for kv in out.split(b"\0") if b"=" in kv)
    return {k.decode(errors="surrogateescape"): v.decode(errors="surrogateescape") for k, v in pairs}


def shell_word(p: Path) -> str:
    return "'" + str(p).replace("'", "'\\''") + "'"


def refused(res: subprocess.CompletedProcess, *words: str) -> None:
    """Exit 2 with one line naming the problem: no traceback, no internal error."""
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr and "internal error" not in res.stderr, res.stderr
    for w in words:
        assert w in res.stderr


# --- 1. names and values ----------------------------------------------------------------


@pytest.mark.parametrize("shell", [installed(s) for s in SHELLS])
def test_an_injected_variable_name_is_refused_and_never_runs(tmp_path, shell):
    rep = report(tmp_path, {"X=1; touch PWNED; Y": "v"})
    f = tmp_path / "e.sh"
    refused(write_env(rep, f, shell), "not a shell variable name")
    refused(fix(rep))  # the plan printed as text would carry it too
    assert not f.exists()
    f.write_bytes(b"export MINE=1\n")
    refused(write_env(rep, f, shell))
    assert f.read_bytes() == b"export MINE=1\n"
    assert source(shell, f)["MINE"] == "1"


@pytest.mark.parametrize("shell", [installed(s) for s in SHELLS])
@pytest.mark.parametrize("env", [{"TRT_NOTE": INJECTED_MARKER}, {"LD_LIBRARY_PATH": INJECTED_MARKER + ":$LD_LIBRARY_PATH"}, {"TRT_NOTE": "a\0b"}, {"TRT_NOTE": "a\rb"}], ids=["set", "prepend", "nul", "cr"])
def test_a_value_with_a_newline_or_a_marker_line_is_refused(tmp_path, shell, env):
    """Written once (quoted) it was harmless; the second write or --undo split the block at the
    injected end marker and the next `source` ran `touch PWNED`."""
    rep = report(tmp_path, env)
    f = tmp_path / "e.sh"
    f.write_bytes(b"export MINE=1\n")
    results = [write_env(rep, f, shell), write_env(rep, f, shell), fix(rep, "--undo", "--shell-file", str(f))]
    for _ in results:
        source(shell, f)  # never runs injected code, whatever was written
    refused(results[0], "control character")
    assert f.read_bytes() == b"export MINE=1\n"


@pytest.mark.parametrize("shell", [installed(s) for s in SHELLS])
def test_hostile_values_come_back_exactly_and_run_nothing(tmp_path, shell):
    values = {f"TRT_V{i}": v for i, v in enumerate(HOSTILE)}
    dirs = [v for v in HOSTILE if v and ":" not in v]
    rep = report(tmp_path, {**values, "LD_LIBRARY_PATH": ":".join(dirs) + ":$LD_LIBRARY_PATH"})
    f = tmp_path / "e.sh"
    res = write_env(rep, f, shell)
    assert res.returncode == 0, res.stderr
    for before in ({}, {"LD_LIBRARY_PATH": "/a"}):
        env = source(shell, f, before)
        assert {k: env.get(k) for k in values} == values
        assert env["LD_LIBRARY_PATH"] == ":".join(dirs + list(before.values()))
    twice = subprocess.run(
        [shell, "-c", f"{'source' if shell == 'fish' else '.'} {shell_word(f)}; {'source' if shell == 'fish' else '.'} {shell_word(f)}; env -0"], cwd=tmp_path, capture_output=True, env={"PATH": os.environ["PATH"]}
    )
    assert f"LD_LIBRARY_PATH={':'.join(dirs)}\0".encode() in twice.stdout  # sourced twice: entries once
    assert not (tmp_path / "PWNED").exists()


# --- 2. byte-for-byte round trips ---------------------------------------------------------

ORIGINALS = {
    "crlf": b"# mine\r\nexport A='x\r\ny'\r\n",
    "crlf-no-final-newline": b"export A=1\r\nexport B=2",
    "no-final-newline": b"export A=1",
    "empty": b"",
    "not-utf8": b"export A='\xff\xfe'\n",
    "blank-lines-at-end": b"export A=1\n\n\n",
}


@pytest.mark.parametrize("mode", [0o600, 0o640])
@pytest.mark.parametrize("name", list(ORIGINALS))
def test_write_then_undo_gives_back_the_exact_bytes_and_mode(tmp_path, name, mode):
    original = ORIGINALS[name]
    rep = report(tmp_path, {"LD_LIBRARY_PATH": "/opt/trt/lib:$LD_LIBRARY_PATH"})
    f = tmp_path / "e.sh"
    f.write_bytes(original)
    f.chmod(mode)
    res = write_env(rep, f)
    assert res.returncode == 0, res.stderr
    written = f.read_bytes()
    assert written.startswith(original) and written.count(BEGIN.encode()) == 1
    assert stat.S_IMODE(f.stat().st_mode) == mode
    backup = tmp_path / "e.sh.trtdoctor-backup"
    assert backup.read_bytes() == original and stat.S_IMODE(backup.stat().st_mode) == mode
    assert "already up to date" in write_env(rep, f).stdout and f.read_bytes() == written
    assert source("bash", f)["LD_LIBRARY_PATH"] == "/opt/trt/lib"
    undo = fix(rep, "--undo", "--shell-file", str(f))
    assert undo.returncode == 0, undo.stderr
    assert f.exists() and f.read_bytes() == original and stat.S_IMODE(f.stat().st_mode) == mode


def test_lines_the_user_adds_after_the_block_stay_on_their_own_line(tmp_path):
    rep = report(tmp_path, {"TRT_A": "1"})
    f = tmp_path / "e.sh"
    f.write_bytes(b"export A=1")
    assert write_env(rep, f).returncode == 0
    with f.open("ab") as fh:
        fh.write(b"export B=2\n")
    assert write_env(rep, f).returncode == 0
    assert fix(rep, "--undo", "--shell-file", str(f)).returncode == 0
    assert f.read_bytes() == b"export A=1\nexport B=2\n"


def test_a_file_we_created_is_removed_by_undo_and_only_then(tmp_path):
    rep = report(tmp_path, {"TRT_A": "1"})
    f = tmp_path / "new.sh"
    assert write_env(rep, f).returncode == 0
    assert fix(rep, "--undo", "--shell-file", str(f)).returncode == 0 and not f.exists()
    assert write_env(rep, f).returncode == 0
    with f.open("ab") as fh:
        fh.write(b"export MINE=1\n")
    assert fix(rep, "--undo", "--shell-file", str(f)).returncode == 0
    assert f.read_bytes() == b"export MINE=1\n"


root_only = pytest.mark.skipif(os.geteuid() != 0, reason="changing owners needs root")


@root_only
def test_root_keeps_the_owner_of_the_file_and_gives_new_files_the_folders_owner(tmp_path):
    rep = report(tmp_path, {"LD_LIBRARY_PATH": "/opt/trt/lib:$LD_LIBRARY_PATH"})
    f = tmp_path / "e.sh"
    f.write_bytes(b"export MINE=1\n")
    os.chown(f, 4242, 4343)
    f.chmod(0o600)
    assert write_env(rep, f).returncode == 0
    for p in (f, tmp_path / "e.sh.trtdoctor-backup"):
        st = p.stat()
        assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (4242, 4343, 0o600), p
    assert fix(rep, "--undo", "--shell-file", str(f)).returncode == 0
    assert (f.stat().st_uid, f.stat().st_gid) == (4242, 4343)
    prefix = tmp_path / "conda env"
    prefix.mkdir()
    os.chown(prefix, 4242, 4343)
    res = fix(rep, "--write-env", "--env", f"CONDA_PREFIX={prefix}")
    assert res.returncode == 0, res.stderr
    for p in (prefix / "etc", prefix / "etc/conda", prefix / "etc/conda/activate.d", prefix / "etc/conda/activate.d/trtdoctor.sh"):
        assert (p.stat().st_uid, p.stat().st_gid) == (4242, 4343), p


# --- 3. damaged blocks are refused, the file left alone -----------------------------------


def written_block(tmp_path: Path) -> list[bytes]:
    """The lines of a block as --write-env writes it."""
    rep = report(tmp_path, {"TRT_A": "1"})
    f = tmp_path / "block.sh"
    assert write_env(rep, f).returncode == 0
    return f.read_bytes().splitlines(keepends=True)


LEGACY_INJECTED = f"mine\n{BEGIN}\nexport TRT_NOTE='v\n{END}\ntouch PWNED\n#'\n{END}\nafter\n".encode()
DAMAGED = {
    "legacy-begin-without-end": lambda b: f"mine\n{BEGIN}\nexport A=1\nmy line after\n".encode(),
    "legacy-end-before-begin": lambda b: f"mine\n{END}\nexport A=1\n{BEGIN}\nafter\n".encode(),
    "legacy-injected-marker": lambda b: LEGACY_INJECTED,
    "begin-without-end": lambda b: b"mine\n" + b"".join(b[:-1]) + b"my line after\n",
    "end-before-begin": lambda b: b"mine\n" + b[-1] + b"".join(b[:-1]) + b"after\n",
    "two-blocks": lambda b: b"mine\n" + b"".join(b) + b"between\n" + b"".join(b),
    "edited-by-hand": lambda b: b"".join(b).replace(b"TRT_A=1", b"TRT_A=2"),
    "markers-of-two-blocks": lambda b: b"".join(b[:1]) + b"x\n" + b[-1].replace(b[-1][-17:-1], b"0123456789abcdef"),
}


@pytest.mark.parametrize("case", list(DAMAGED))
def test_a_damaged_or_duplicated_block_is_refused_and_the_file_kept(tmp_path, case):
    data = DAMAGED[case](written_block(tmp_path))
    rep = report(tmp_path, {"TRT_A": "1"})
    f = tmp_path / "e.sh"
    f.write_bytes(data)
    for args in (["--write-env"], ["--undo"]):
        res = fix(rep, *args, "--shell-file", str(f))
        refused(res, str(f))
        assert f.read_bytes() == data
    assert not (tmp_path / "e.sh.trtdoctor-backup").exists()


# --- 4. only regular files, and never outside --root ---------------------------------------


def fifo(p: Path) -> None:
    os.mkfifo(p)


def char_device(p: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("making a device node needs root")
    os.mknod(p, 0o600 | stat.S_IFCHR, os.makedev(1, 3))  # what /dev/null is


def dangling_link(p: Path) -> None:
    p.symlink_to(p.parent / "elsewhere" / "theirs.sh")


def link_to_fifo(p: Path) -> None:
    """A link is written through to its target (tests/test_fix_shells.py), but only to a regular file."""
    target = p.parent / "elsewhere" / "pipe"
    target.parent.mkdir()
    os.mkfifo(target)
    p.symlink_to(target)


@pytest.mark.parametrize("make", [fifo, char_device, dangling_link, link_to_fifo, Path.mkdir], ids=["fifo", "device", "dangling-symlink", "symlink-to-fifo", "folder"])
def test_a_target_that_is_not_a_regular_file_is_refused(tmp_path, make):
    rep = report(tmp_path, {"TRT_A": "1"})
    f = tmp_path / "e.sh"
    make(f)
    before = os.lstat(f)
    for args in (["--write-env"], ["--undo"]):
        refused(fix(rep, *args, "--shell-file", str(f), timeout=20))
        after = os.lstat(f)
        assert (after.st_mode, after.st_ino) == (before.st_mode, before.st_ino)
    assert not (tmp_path / "elsewhere").exists() or [p.name for p in (tmp_path / "elsewhere").iterdir()] == ["pipe"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".e.sh")) == []


def test_write_env_with_root_writes_inside_the_root_never_on_the_host(tmp_path):
    rep = report(tmp_path, {"LD_LIBRARY_PATH": "/opt/trt/lib:$LD_LIBRARY_PATH"})
    root = tmp_path / "root"
    host_prefix = tmp_path / "hostprefix"  # the same path exists on the host and in the root
    host_prefix.mkdir()
    (root / str(host_prefix).lstrip("/")).mkdir(parents=True)
    res = fix(rep, "--root", str(root), "--write-env", "--env", f"CONDA_PREFIX={host_prefix}")
    assert res.returncode == 0, res.stderr
    assert list(host_prefix.iterdir()) == []
    inside = root / str(host_prefix).lstrip("/") / "etc/conda/activate.d/trtdoctor.sh"
    assert inside.exists() and str(root) in res.stdout
    assert fix(rep, "--root", str(root), "--undo", "--env", f"CONDA_PREFIX={host_prefix}").returncode == 0
    assert not inside.exists()
    # no env to write into: the default file would land in the current folder on the host
    refused(fix(rep, "--root", str(root), "--write-env"), "--shell-file")
    assert not Path("trtdoctor-env.sh").exists()


@pytest.mark.parametrize("escape", ["symlink", "dotdot"])
def test_a_root_path_that_leads_out_of_the_root_is_refused(tmp_path, escape):
    rep = report(tmp_path, {"LD_LIBRARY_PATH": "/opt/trt/lib:$LD_LIBRARY_PATH"})
    root, outside = tmp_path / "root", tmp_path / "outside"
    (outside / "bin").mkdir(parents=True)
    (outside / "bin/activate").write_bytes(b"# the host's venv\n")
    (root / "opt").mkdir(parents=True)
    if escape == "symlink":
        (root / "opt/venv").symlink_to(outside)  # absolute: on the judged system it names something else
        venv = "/opt/venv"
    else:
        venv = "/../../" + str(outside).lstrip("/")
    res = fix(rep, "--root", str(root), "--write-env", "--env", f"VIRTUAL_ENV={venv}")
    refused(res, "out of --root")
    assert (outside / "bin/activate").read_bytes() == b"# the host's venv\n" and sorted(p.name for p in (outside / "bin").iterdir()) == ["activate"]


# --- 5. printed commands are safe to paste ------------------------------------------------


def stubs(tmp_path: Path) -> Path:
    """A PATH where the commands fixes name only record their arguments; `touch` is real
    (for injected code to show itself), and `env`."""
    d = tmp_path / "stubs"
    d.mkdir()
    log = tmp_path / "calls"
    for name in ("ln", "ldd", "ls", "pip", "trtdoctor", "sudo", "install", "nvidia-smi", "python", "python3", "conda", "docker", "apt-get", "dnf"):
        (d / name).write_text(f'#!/bin/sh\nprintf "%s\\0" "${{0##*/}}" "$@" >> "{log}"\nprintf "\\n" >> "{log}"\n')
        (d / name).chmod(0o755)
    for real in ("touch", "env"):
        os.symlink(shutil.which(real), d / real)
    return d


def paste(cmd: str, tmp_path: Path, stub_dir: Path, env: dict | None = None) -> dict[str, str]:
    cwd = Path(tempfile.mkdtemp(dir=tmp_path))
    res = subprocess.run([shutil.which("bash"), "-c", cmd + "\nenv -0"], cwd=cwd, capture_output=True, env={"PATH": str(stub_dir), **(env or {})}, timeout=30)
    assert not (cwd / "PWNED").exists(), f"pasting ran injected code: {cmd!r}"
    return env_of(res.stdout)


EVIL_DIR = "/opt/it's $(touch PWNED) `touch PWNED`"


@needs_cc
def test_every_command_of_a_hostile_tree_is_safe_to_paste(tree, tmp_path):
    """Directory names from the judged tree reach `export`, `ln -s` and `ldd` commands."""
    from test_libraries import tf_tree

    tf_tree(tree)
    lib = f"{EVIL_DIR}/lib"
    tree.lib(f"{lib}/libnvinfer.so.8.6.1", "libnvinfer.so.8", links=("libnvinfer.so.8",))
    tree.lib(f"{lib}/libnvinfer_plugin.so.8", "libnvinfer_plugin.so.8")  # TF asks for libnvinfer_plugin.so.8.6.1: an alias is missing
    kept = "/opt/$(touch PWNED)-kept"
    tree.lib(f"{kept}/libcudnn.so.9", "libcudnn.so.9", needs=("libcudnn_engines_precompiled.so.9",))
    rep = check_json(tree.root, "--env", "VIRTUAL_ENV=/opt/venv", "--env", f"CONDA_PREFIX={EVIL_DIR}", "--env", f"LD_LIBRARY_PATH=/gone:{kept}")
    cmds = [c for f in rep["findings"] for c in (f.get("fix") or {}).get("commands", [])]
    assert {"env.ld-library-path-missing", "libraries.not-on-loader-path", "libraries.soname-alias-missing", "libraries.unresolved-needed"} <= {f["id"] for f in rep["findings"]}
    stub_dir = stubs(tmp_path)
    exports = set()
    for c in cmds:
        env = paste(c, tmp_path, stub_dir, {"LD_LIBRARY_PATH": "/a"})
        if c.startswith("export LD_LIBRARY_PATH="):
            exports.add(env["LD_LIBRARY_PATH"])
    assert exports == {f"{lib}:/a", kept}
    calls = [c.split(b"\0") for c in (tmp_path / "calls").read_bytes().split(b"\0\n") if c]
    assert [b"ln", b"-s", b"libnvinfer_plugin.so.8", f"{lib}/libnvinfer_plugin.so.8.6.1".encode()] in calls
    assert [b"ldd", f"{kept}/libcudnn.so.9".encode()] in calls


def test_the_plan_text_is_safe_to_paste(tmp_path):
    rep = report(tmp_path, {"LD_LIBRARY_PATH": f"{EVIL_DIR}:$LD_LIBRARY_PATH", "CUDA_HOME": EVIL_DIR})
    res = fix(rep)
    assert res.returncode == 0, res.stderr
    lines = [ln.strip() for ln in res.stdout.splitlines() if ln.startswith("     ") and not ln.strip().startswith("$")]
    assert len(lines) == 2
    env = paste("\n".join(lines), tmp_path, stubs(tmp_path), {"LD_LIBRARY_PATH": "/a"})
    assert env["LD_LIBRARY_PATH"] == f"{EVIL_DIR}:/a" and env["CUDA_HOME"] == EVIL_DIR


def test_a_site_with_a_newline_stays_inside_the_comment(tmp_path):
    """A comment ends at a newline: what follows it in a path would run."""
    site = "/opt/old\ntouch PWNED\n"
    stub_dir = stubs(tmp_path)
    w = {"site_packages": site, "source": "PYTHONPATH", "package": "tensorrt", "version": "10.3.0"}
    for origin in ("PYTHONPATH", "venv"):  # the two commands: edit PYTHONPATH, or uninstall
        it = {"kind": "venv", "python": "/opt/v/bin/python $(touch PWNED)", "shadowed": [{"module": "tensorrt", "winner": dict(w, source=origin), "shadowed": [dict(w, site_packages="/opt/v", version="10.16.1")]}]}
        (finding,) = python_shadowed({"python": {"interpreters": [it]}})
        for c in finding.fix.commands:
            paste(c, tmp_path, stub_dir)


# --- 6. property: refused, or sourced back exactly -------------------------------------

BASH_OWN = set(subprocess.run(["env", "-i", "bash", "-c", "compgen -v"], capture_output=True, text=True).stdout.split()) if shutil.which("bash") else set()
NAMES = st.one_of(st.text(max_size=12), st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(name=NAMES, value=st.text(max_size=40), as_prepend=st.booleans())
def test_any_name_and_value_is_refused_or_sourced_back_exactly(name, value, as_prepend, capsys):
    assume(name not in BASH_OWN and name != "PWD")
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        v = f"{value}:${name}" if as_prepend else value
        rep = report(d, {name: v})
        f = d / "e.sh"
        code = main(["fix", "--from", str(rep), "--write-env", "--shell-file", str(f)])
        err = capsys.readouterr().err
        if code == 2:
            event("refused")
            assert not f.exists() and len(err.strip().splitlines()) == 1
            assert not is_name(name) or CONTROL.search(value), err  # refused for a reason, never a healthy value
            return
        assert code == 0
        plan = json.loads(rep.read_text())["findings"][0]["fix"]["env"]
        expected = ":".join(dict.fromkeys(p for p in value.split(":") if p)) if as_prepend else value
        assume(not masked(expected) and not any(masked(p) for p in value.split(":")))
        event("written and sourced")
        env = source("bash", f)
        assert env.get(name) == (expected if (expected or not as_prepend) else None), plan
