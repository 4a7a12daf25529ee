"""`trtdoctor fix` in every shell, writing only what is ours (issue 12).

Shell files and venv activate scripts are sourced by real bash, zsh, fish, csh and tcsh (a
shell that is not installed is skipped); symbolic links are written through; two writers
race under a lock; recipes never replace a project's own files; the plan keeps every
command with its kind and links; bad options are one line and exit 2."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, run_cli, saved_report

from trtdoctor.fix import files
from trtdoctor.fix.blocks import BEGIN

HOSTILE_DIR = '/opt/my env/it\'s "q" $HOME `touch PWNED` $(touch PWNED) !x *.so [a] ~ trailing\\'
HOSTILE_VALUE = "a'b\"c $HOME `touch PWNED` $(touch PWNED) !x ; touch PWNED \\"
POSIX = ("bash", "zsh", "sh")


def installed(shell: str):
    return pytest.param(shell, marks=pytest.mark.skipif(shutil.which(shell) is None, reason=f"{shell} is not installed"))


def report(tmp_path: Path, env: dict | None = None, *, commands=(), links=(), kind: str | None = None) -> Path:
    fix = {"summary": "set it", "commands": list(commands), "env": env or {}, "links": list(links)}
    if kind:
        fix["kind"] = kind
    return saved_report(tmp_path / "report.json", [{"id": "libraries.not-on-loader-path", "severity": "error", "area": "libraries", "title": "t", "fix": fix}])


def fix(rep: Path, *args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    e = dict(os.environ if env is None else env)
    e["PYTHONPATH"] = str(REPO)
    return subprocess.run([sys.executable, "-m", "trtdoctor", "fix", "--from", str(rep), *args], capture_output=True, text=True, cwd=cwd, env=e, timeout=60)


def refused(res: subprocess.CompletedProcess, *words: str) -> None:
    """Exit 2, one line on stderr naming the problem, nothing on stdout."""
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr and "internal error" not in res.stderr, res.stderr
    assert res.stdout == "", res.stdout
    for w in words:
        assert w in res.stderr, res.stderr


def in_shell(shell: str, lines: str | list[str], cwd: Path, env: dict | None = None) -> dict[str, str]:
    """Run ``lines`` then print the environment, in a real shell; no injected code may run.
    csh reads a script file: it expands an alias only on a line after the one defining it."""
    lines = [lines] if isinstance(lines, str) else lines
    if shell in ("csh", "tcsh"):
        script = cwd / "script.csh"
        script.write_text("\n".join(["set prompt = ''", *lines, "env -0", ""]))  # venv's activate.csh reads $prompt
        args = [shell, "-f", str(script)]
    else:
        args = [shell, "-c", "\n".join([*lines, "env -0"])]
    res = subprocess.run(args, cwd=cwd, capture_output=True, env={"PATH": os.environ["PATH"], "HOME": str(cwd), **(env or {})}, timeout=30)
    assert not (cwd / "PWNED").exists(), f"{shell} ran injected code: {res.stderr!r}"
    assert res.returncode == 0, res.stderr
    pairs = (kv.split(b"=", 1) for kv in res.stdout.split(b"\0") if b"=" in kv)
    return {k.decode(errors="surrogateescape"): v.decode(errors="surrogateescape") for k, v in pairs}


def apply_command(stdout: str) -> str:
    line = next(ln for ln in stdout.splitlines() if ln.startswith("Apply it in this shell now: "))
    return line.split(": ", 1)[1]


# --- every shell sources what was written, hostile paths and all --------------------------


@pytest.mark.parametrize("shell", [installed(s) for s in (*POSIX, "fish", "csh", "tcsh")])
def test_a_shell_file_for_each_shell_applies_hostile_values_exactly(tmp_path, shell):
    rep = report(tmp_path, {"LD_LIBRARY_PATH": f"{HOSTILE_DIR}:$LD_LIBRARY_PATH", "TRT_NOTE": HOSTILE_VALUE})
    folder = tmp_path / 'it\'s a "dir" $HOME `x` !y'
    folder.mkdir()
    f = folder / "env file"
    res = fix(rep, "--write-env", "--shell-file", str(f), "--shell", "bash" if shell == "sh" else shell)
    assert res.returncode == 0, res.stderr
    apply = apply_command(res.stdout)  # the printed command itself, pasted into that shell
    for before in (None, "", "/usr/lib"):
        env = {} if before is None else {"LD_LIBRARY_PATH": before}
        got = in_shell(shell, [apply, apply], tmp_path, env)  # sourced twice: one entry
        assert got["TRT_NOTE"] == HOSTILE_VALUE
        assert got["LD_LIBRARY_PATH"] == HOSTILE_DIR + (f":{before}" if before else "")


@pytest.mark.parametrize("shell", ["csh", "tcsh"])
def test_csh_is_a_shell_option_and_writes_setenv(tmp_path, shell):
    rep = report(tmp_path, {"TRT_NOTE": "x"})
    res = fix(rep, "--write-env", "--shell", shell, "--dry-run", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "setenv TRT_NOTE 'x'" in res.stdout and "trtdoctor-env.csh" in res.stdout


# --- a venv's activate scripts restore exactly on deactivate -------------------------------


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("venvs") / "my venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(d)], check=True, timeout=120)
    return d


def written_venv(tmp_path: Path, venv: Path) -> Path:
    v = tmp_path / "v"
    shutil.copytree(venv, v, symlinks=True)
    for name in ("activate", "activate.fish", "activate.csh"):  # the venv names its own folder inside
        p = v / "bin" / name
        p.write_bytes(p.read_bytes().replace(str(venv).encode(), str(v).encode()))
    rep = report(tmp_path, {"LD_LIBRARY_PATH": f"{HOSTILE_DIR}:$LD_LIBRARY_PATH", "TRT_NOTE": HOSTILE_VALUE})
    res = fix(rep, "--write-env", "--env", f"VIRTUAL_ENV={v}")
    assert res.returncode == 0, res.stderr
    assert "deactivate; source" in res.stdout
    return v


SCRIPTS = {"bash": "activate", "zsh": "activate", "fish": "activate.fish", "csh": "activate.csh", "tcsh": "activate.csh"}


def _quoted(shell: str, p: Path) -> str:
    from trtdoctor.fix.dialects import csh_quote
    from trtdoctor.shell import fish_quote, quote

    return csh_quote(str(p)) if shell in ("csh", "tcsh") else fish_quote(str(p)) if shell == "fish" else quote(str(p))


@pytest.mark.parametrize("shell", [installed(s) for s in SCRIPTS])
@pytest.mark.parametrize("before", [None, "", "/usr/lib"], ids=["unset", "empty", "set"])
def test_venv_deactivate_restores_exactly(tmp_path, venv, shell, before):
    v = written_venv(tmp_path, venv)
    act = f"source {_quoted(shell, v / 'bin' / SCRIPTS[shell])}"
    env = {} if before is None else {"LD_LIBRARY_PATH": before}
    active = in_shell(shell, act, tmp_path, env)
    assert active["TRT_NOTE"] == HOSTILE_VALUE and active["LD_LIBRARY_PATH"] == HOSTILE_DIR + (f":{before}" if before else "")
    assert active["VIRTUAL_ENV"] == str(v)
    for script in ([act, "deactivate"], [act, act, "deactivate"]):  # activated twice, then left
        after = in_shell(shell, script, tmp_path, env)
        assert "VIRTUAL_ENV" not in after and "TRT_NOTE" not in after
        assert after.get("LD_LIBRARY_PATH") == before
        assert not [k for k in after if k.startswith("_TRTDOCTOR")]


def test_venv_undo_gives_back_every_activate_script(tmp_path, venv):
    v = written_venv(tmp_path, venv)
    for name in ("activate", "activate.fish", "activate.csh"):
        assert BEGIN in (v / "bin" / name).read_text()
    res = fix(report(tmp_path, {"TRT_NOTE": "x"}), "--undo", "--env", f"VIRTUAL_ENV={v}")
    assert res.returncode == 0, res.stderr
    for name in ("activate", "activate.fish", "activate.csh"):
        assert (v / "bin" / name).read_bytes() == (v / "bin" / f"{name}.trtdoctor-backup").read_bytes()


# --- nothing to change: nothing written ----------------------------------------------------


def test_a_plan_without_environment_changes_writes_nothing(tmp_path):
    rep = report(tmp_path, commands=["sudo reboot"])
    f = tmp_path / "e.sh"
    res = fix(rep, "--write-env", "--shell-file", str(f))
    assert res.returncode == 0 and "nothing to write" in res.stdout, res
    assert not f.exists()
    f.write_bytes(b"export MINE=1\n")
    assert fix(rep, "--write-env", "--shell-file", str(f)).returncode == 0
    assert f.read_bytes() == b"export MINE=1\n" and sorted(p.name for p in tmp_path.iterdir()) == ["e.sh", "report.json"]


# --- only regular files: special files, kernel files, symbolic links ------------------------


@pytest.mark.parametrize("where", ["/proc/self/trtdoctor-env.sh", "/proc/self/environ", "/sys/kernel/trtdoctor.sh"])
def test_a_kernel_file_is_refused_before_anything_is_printed(tmp_path, where):
    refused(fix(report(tmp_path, {"TRT_A": "1"}), "--write-env", "--shell-file", where), where)


def test_a_symlinked_rc_file_is_written_through_and_stays_a_link(tmp_path):
    dotfiles = tmp_path / "dotfiles"
    dotfiles.mkdir()
    real = dotfiles / "bashrc"
    real.write_bytes(b"export MINE=1\n")
    link = tmp_path / ".bashrc"
    link.symlink_to("dotfiles/bashrc")
    rep = report(tmp_path, {"TRT_A": "1"})
    res = fix(rep, "--write-env", "--shell-file", str(link))
    assert res.returncode == 0, res.stderr
    assert link.is_symlink() and os.readlink(link) == "dotfiles/bashrc"
    assert BEGIN in real.read_text() and (dotfiles / "bashrc.trtdoctor-backup").read_bytes() == b"export MINE=1\n"
    assert in_shell("bash", f". {link}", tmp_path)["TRT_A"] == "1"
    assert fix(rep, "--write-env", "--shell-file", str(link)).returncode == 0  # idempotent
    assert fix(rep, "--undo", "--shell-file", str(link)).returncode == 0
    assert link.is_symlink() and real.read_bytes() == b"export MINE=1\n"


def test_a_venv_activate_link_inside_root_is_written_through_one_out_of_it_refused(tmp_path):
    root = tmp_path / "root"
    (root / "opt/venv/bin").mkdir(parents=True)
    (root / "opt/shared").mkdir()
    (root / "opt/shared/activate").write_bytes(b"# shared activate\n")
    (root / "opt/venv/bin/activate").symlink_to("../../shared/activate")
    rep = report(tmp_path, {"TRT_A": "1"})
    res = fix(rep, "--root", str(root), "--write-env", "--env", "VIRTUAL_ENV=/opt/venv")
    assert res.returncode == 0, res.stderr
    assert (root / "opt/venv/bin/activate").is_symlink() and BEGIN in (root / "opt/shared/activate").read_text()
    outside = tmp_path / "outside"
    outside.write_bytes(b"# the host's\n")
    (root / "opt/venv/bin/activate").unlink()
    (root / "opt/venv/bin/activate").symlink_to(outside)
    refused(fix(rep, "--root", str(root), "--write-env", "--env", "VIRTUAL_ENV=/opt/venv"), "out of --root")
    assert outside.read_bytes() == b"# the host's\n"


# --- two writers race ---------------------------------------------------------------------


def test_two_writers_are_serialised_by_the_lock(tmp_path):
    """Both read the file while the lock is held elsewhere; neither may write until it is
    free, then one writes and the other finds it done: one block, one backup, both exit 0."""
    rep = report(tmp_path, {"LD_LIBRARY_PATH": "/opt/trt/lib:$LD_LIBRARY_PATH"})
    f = tmp_path / "e.sh"
    f.write_bytes(b"export MINE=1\n")
    e = dict(os.environ, PYTHONPATH=str(REPO))
    cmd = [sys.executable, "-m", "trtdoctor", "fix", "--from", str(rep), "--write-env", "--shell-file", str(f)]
    with open(tmp_path / files.LOCK_NAME, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=e) for _ in range(2)]
        time.sleep(3)
        assert f.read_bytes() == b"export MINE=1\n", "a writer wrote while another held the lock"
    results = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    assert f.read_text().count(BEGIN) == 1
    assert (tmp_path / "e.sh.trtdoctor-backup").read_bytes() == b"export MINE=1\n"
    assert sum("already up to date" in out for out, _ in results) == 1
    assert not (tmp_path / files.LOCK_NAME).exists()
    assert in_shell("bash", f". {f}", tmp_path)["LD_LIBRARY_PATH"] == "/opt/trt/lib"


# --- recipes never replace the project's own files -----------------------------------------


def test_a_recipe_goes_to_a_new_folder_and_never_overwrites_a_projects_files(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "requirements.txt").write_text("flask\n")
    (project / "Dockerfile").write_text("FROM python:3.12\n")
    rep = report(tmp_path, {"TRT_A": "1"})
    for kind in ("pip", "docker"):
        res = fix(rep, "--recipe", kind, cwd=project)
        assert res.returncode == 0, res.stderr
        assert (project / "requirements.txt").read_text() == "flask\n" and (project / "Dockerfile").read_text() == "FROM python:3.12\n"
        assert "wrote " in res.stdout
    made = sorted(p.name for p in project.iterdir() if p.is_dir())
    assert made and all(m.startswith("trt-tensorrt-") for m in made), made
    again = fix(rep, "--recipe", "pip", cwd=project)  # our own file: replaced without --force
    assert again.returncode == 0, again.stderr


def test_a_foreign_file_in_the_recipe_folder_is_refused_unless_forced(tmp_path):
    out = tmp_path / "stack"
    out.mkdir()
    (out / "requirements.txt").write_text("flask\n")
    rep = report(tmp_path, {"TRT_A": "1"})
    refused(fix(rep, "--recipe", "pip", "--out", str(out)), "not written by trtdoctor", "--force")
    assert (out / "requirements.txt").read_text() == "flask\n" and sorted(p.name for p in out.iterdir()) == ["requirements.txt"]
    res = fix(rep, "--recipe", "pip", "--out", str(out), "--force")
    assert res.returncode == 0, res.stderr
    assert (out / "requirements.txt.trtdoctor-backup").read_text() == "flask\n" and "trtdoctor recipe:" in (out / "requirements.txt").read_text()


def test_bad_out_folders_are_one_line_naming_out(tmp_path):
    rep = report(tmp_path, {"TRT_A": "1"})
    a_file = tmp_path / "afile"
    a_file.write_text("x")
    refused(fix(rep, "--recipe", "pip", "--out", str(a_file)), "--out", "not a folder")
    refused(fix(rep, "--recipe", "pip", "--out", str(a_file / "sub")), "--out")
    refused(fix(rep, "--recipe", "docker", "--out", "/proc/self/trt"), "/proc")
    assert a_file.read_text() == "x"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder")
def test_an_unwritable_out_subfolder_names_out(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o555)
    refused(fix(report(tmp_path, {"TRT_A": "1"}), "--recipe", "pip", "--out", str(ro / "sub")), "--out")


# --- the plan: explicit kinds, nothing dropped, links shown --------------------------------


def test_the_plan_keeps_every_command_with_its_kind_and_links(tmp_path):
    rep = report(tmp_path, commands=["unset LD_PRELOAD"], links=["https://docs.nvidia.com/deeplearning/tensorrt/"])
    plan = json.loads(fix(rep, "--format", "json").stdout)
    assert plan["steps"] == [
        {"kind": "command", "finding": "libraries.not-on-loader-path", "title": "t", "summary": "set it", "commands": ["unset LD_PRELOAD"], "links": ["https://docs.nvidia.com/deeplearning/tensorrt/"]}
    ]
    text = fix(rep).stdout
    assert "$ unset LD_PRELOAD" in text and "see https://docs.nvidia.com/deeplearning/tensorrt/" in text and "[command]" in text
    md = fix(rep, "--format", "markdown").stdout
    assert "`unset LD_PRELOAD`" in md and "<https://docs.nvidia.com/deeplearning/tensorrt/>" in md


def test_a_fix_kind_in_the_report_is_used_not_guessed(tmp_path):
    rep = report(tmp_path, commands=["sudo reboot"], kind="manual")
    assert json.loads(fix(rep, "--format", "json").stdout)["steps"][0]["kind"] == "manual"
    bad = report(tmp_path, commands=["x"], kind="banana")
    refused(fix(bad), "kind")


@pytest.mark.parametrize("args", [["--format", "yaml"], ["--python", "banana"], ["--stack", "tf"], ["--shell", "ksh"]])
def test_unknown_option_values_are_usage_errors(tmp_path, args):
    refused(fix(report(tmp_path, {"TRT_A": "1"}), *args), args[0])


def test_help_has_examples_and_the_areas():
    top = run_cli("--help")
    assert top.returncode == 0 and "examples:" in top.stdout and "areas: os, driver" in top.stdout and "trtdoctor[smoke]" in top.stdout
    f = run_cli("fix", "--help")
    assert "--shell tcsh" in f.stdout and "{bash,zsh,fish,csh,tcsh}" in f.stdout
