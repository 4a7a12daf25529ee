"""Where Python looks: sys.path built statically as ``site`` builds it, checked against real
interpreters (real venvs made with ``python -m venv``), and the packages reached only through
PYTHONPATH or the user site."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import check_json, h100_tree, ids

from trtdoctor.probes import pyenvs
from trtdoctor.target import Target

PY = f"python{sys.version_info[0]}.{sys.version_info[1]}"


def venv(path: Path, *flags: str) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", *flags, str(path)], check=True, capture_output=True)
    return path


def live_python(target: Target) -> dict:
    """Both phases of the python probe, as a live check runs them."""
    return pyenvs.live_python(target, {"python": pyenvs.probe_python(target, {})})


def test_static_sys_path_matches_real_interpreters(tmp_path):
    """PYTHONPATH (empty, missing and repeated entries), a venv with and without
    include-system-site-packages, the user site of $HOME, and .pth path and import lines:
    every judged interpreter's static sys.path equals what it prints itself."""
    home = tmp_path / "home"
    user = home / ".local/lib" / PY / "site-packages"
    user.mkdir(parents=True)
    extra = tmp_path / "pp1"
    extra.mkdir()
    for flags in ((), ("--system-site-packages",)):
        v = venv(tmp_path / f"v{len(flags)}", *flags)
        site = v / "lib" / PY / "site-packages"
        (tmp_path / "pthdir").mkdir(exist_ok=True)
        (site / "a.pth").write_text(f"{tmp_path / 'pthdir'}\n# a comment\nimport os\n{tmp_path / 'absent'}\n")
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "VIRTUAL_ENV": str(v), "PYTHONPATH": f"{extra}::{tmp_path / 'missing'}:{extra}"}
        area = live_python(Target(env=env, live=True))
        by_kind = {i["kind"]: i for i in area["interpreters"]}
        assert {"venv", "running"} <= set(by_kind)
        for it in area["interpreters"]:
            assert it["live_agrees"], (it["kind"], it["live_only"], it["static_only"])
        vi = by_kind["venv"]
        paths = [e["path"] for e in vi["sys_path"]]
        assert paths[:3] == [str(extra), "", str(tmp_path / "missing")]
        assert paths[3:5] == [str(site), str(tmp_path / "pthdir")]
        assert (str(user) in paths) == bool(flags)  # the user site only with the system's site-packages
        assert vi["user_site"]["enabled"] == bool(flags)
        assert {"file": str(site / "a.pth"), "line": "import os"} in vi["pth_imports"]
        kinds = {e["site_packages"]: e["kind"] for e in area["environments"]}
        assert kinds[str(extra)] == "pythonpath" and kinds[str(site)] == "venv"


def test_no_venv_has_the_user_site_first(tmp_path):
    home = tmp_path / "home"
    user = home / ".local/lib" / PY / "site-packages"
    user.mkdir(parents=True)
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home)}
    running = next(i for i in live_python(Target(env=env, live=True))["interpreters"] if i["kind"] == "running")
    assert running["live_agrees"] and running["user_site"]["enabled"] == (sys.prefix == sys.base_prefix)
    if sys.prefix == sys.base_prefix:
        assert running["sys_path"][0]["path"] == str(user) and running["sys_path"][0]["source"] == "user"
    quiet = next(i for i in live_python(Target(env=dict(env, PYTHONNOUSERSITE="1"), live=True))["interpreters"] if i["kind"] == "running")
    assert quiet["live_agrees"] and not quiet["user_site"]["enabled"] and str(user) not in [e["path"] for e in quiet["sys_path"]]


def bindings_target(t, site: str, version: str = "11.4.0.106") -> None:
    """``pip install --target`` of the bindings wheel alone (truth.txt): tensorrt_bindings, no libs."""
    major = version.split(".")[0]
    t.dist(site, "tensorrt-cu13-bindings", version, ("tensorrt_bindings/__init__.py", "tensorrt_bindings/tensorrt.so"))
    t.write(f"{site}/tensorrt_bindings/__init__.py", "from .tensorrt import *\n")
    t.lib(f"{site}/tensorrt_bindings/tensorrt.so", "tensorrt.so", needs=(f"libnvonnxparser.so.{major}", f"libnvinfer_plugin.so.{major}", f"libnvinfer.so.{major}"), rpath="$ORIGIN")


def h100_venv(tree) -> str:
    """The H100 tree with its torch venv made real (pyvenv.cfg from ``python -m venv``)."""
    h100_tree(tree)
    venv(tree.p("/opt/torch/.venv"))
    return f"/opt/torch/.venv/lib/{PY}/site-packages"


def test_bindings_on_pythonpath_without_libs_are_seen(tree):
    h100_venv(tree)
    bindings_target(tree, "/tmp/trtb")
    rep = check_json(tree.root, "--env", "VIRTUAL_ENV=/opt/torch/.venv", "--env", "PYTHONPATH=/tmp/trtb")
    f = next(f for f in rep["findings"] if f["id"] == "tensorrt.bindings-without-libs")
    assert "/tmp/trtb" in f["evidence"][0]
    env = next(e for e in rep["snapshot"]["python"]["environments"] if e["site_packages"] == "/tmp/trtb")
    assert env["kind"] == "pythonpath" and env["packages"] == {"tensorrt-cu13-bindings": "11.4.0.106"}
    # near miss: the same venv, PYTHONPATH naming a dir with nothing relevant in it
    tree.write("/opt/tools/helpers.py", "")
    quiet = check_json(tree.root, "--env", "VIRTUAL_ENV=/opt/torch/.venv", "--env", "PYTHONPATH=/opt/tools")
    assert not [i for i in ids(quiet) if i.startswith("tensorrt.") and i != "tensorrt.not-installed"]
    assert "env.python-package-shadowed" not in ids(quiet)


def test_user_site_is_seen_outside_a_venv_only(tree):
    h100_tree(tree)
    user = f"/root/.local/lib/{PY}/site-packages"
    bindings_target(tree, user)
    tree.write(f"/usr/bin/{PY}", "")  # the system python whose user site it is
    tree.p(f"/usr/lib/{PY}").mkdir(parents=True, exist_ok=True)
    rep = check_json(tree.root, "--env", "HOME=/root")
    assert "tensorrt.bindings-without-libs" in ids(rep)
    assert any(e["site_packages"] == user and e["kind"] == "user" for e in rep["snapshot"]["python"]["environments"])
    venv(tree.p("/opt/v"))
    in_venv = check_json(tree.root, "--env", "HOME=/root", "--env", "VIRTUAL_ENV=/opt/v", "--only", "env")
    it = next(i for i in in_venv["snapshot"]["python"]["interpreters"] if i["kind"] == "venv")
    assert it["user_site"] == {"path": user, "enabled": False, "why": "disabled: running in a venv"}


def test_old_tensorrt_on_pythonpath_shadows_the_venvs(tree):
    site = h100_venv(tree)
    bindings_target(tree, site, "10.16.1.11")
    bindings_target(tree, "/opt/old", "10.3.0.26")
    rep = check_json(tree.root, "--env", "VIRTUAL_ENV=/opt/torch/.venv", "--env", "PYTHONPATH=/opt/old")
    f = next(f for f in rep["findings"] if f["id"] == "env.python-package-shadowed")
    assert f["subject"] == "/opt/old" and "10.3.0.26" in f["title"] and any(site in e and "10.16.1.11" in e for e in f["evidence"])
    it = next(i for i in rep["snapshot"]["python"]["interpreters"] if i["kind"] == "venv")
    assert it["shadowed"][0]["module"] == "tensorrt_bindings" and it["shadowed"][0]["winner"]["site_packages"] == "/opt/old"
    # near miss: the same version in both places (nothing changes which one wins)
    bindings_target(tree, "/opt/same", "10.16.1.11")
    same = check_json(tree.root, "--env", "VIRTUAL_ENV=/opt/torch/.venv", "--env", "PYTHONPATH=/opt/same")
    assert "env.python-package-shadowed" not in ids(same)
