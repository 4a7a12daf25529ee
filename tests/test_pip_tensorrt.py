"""Pip TensorRT of every kind (full 10.x and 11.x for CUDA 12 and 13, lean, dispatch) on
trees that copy the real wheels: the same paths, RECORD entries, __init__.py import lines
and SONAME/NEEDED/RPATH as ``readelf -d`` shows for the files of

- tensorrt-cu12-bindings 10.3.0 (cp312, manylinux_2_17): tensorrt_bindings/tensorrt.so NEEDED
  libnvinfer.so.10, libnvonnxparser.so.10, libnvinfer_plugin.so.10, RPATH
  ``$ORIGIN:$ORIGIN/../tensorrt_libs:/_src/build/x86_64-gnu/release``;
- tensorrt-cu12-bindings / tensorrt-cu13-bindings 11.4.0.106: NEEDED libnvonnxparser.so.11,
  libnvinfer_plugin.so.11, libnvinfer.so.11, RPATH ``$ORIGIN`` (truth.txt);
- tensorrt-lean-cu13-bindings / -dispatch- 11.4.0.106: tensorrt_lean_bindings/tensorrt_lean.so
  NEEDED libnvinfer_lean.so.11 (dispatch: libnvinfer_dispatch.so.11), RPATH ``$ORIGIN``;
- tensorrt-lean-cu13-libs 11.4.0.106: tensorrt_lean_libs/libnvinfer_lean.so.11 and
  libnvinfer_vc_plugin.so.11, tensorrt-dispatch-cu13-libs: libnvinfer_dispatch.so.11, each
  SONAME = file name, RPATH ``$ORIGIN``, NEEDED only glibc/libstdc++.

The full -libs wheels (tensorrt-cuXX-libs) come from NVIDIA's index, which is not reachable
here (PyPI has a stub sdist): their file list follows NVIDIA/TensorRT
python/packaging/libs_wheel/CMakeLists.txt (libnvinfer, libnvinfer_plugin, libnvonnxparser
with the version trimmed to the soname major, and libnvinfer_builder_resource), with the
RPATH ``$ORIGIN`` the lean and dispatch libs of the same packaging carry.

With ``TRTDOCTOR_TEST_WHEELS=1`` the last test downloads the 11.4.0.106 bindings wheels into
``~/.cache/trtdoctor-tests/wheels`` and checks that these trees match them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import Tree, check_json, h100_tree, ids, needs_cc

pytestmark = needs_cc
SITE = "/opt/venv/lib/python3.12/site-packages"
ENV = ("--env", "VIRTUAL_ENV=/opt/venv")

# tensorrt_bindings/__init__.py (11.4.0.106 and 10.3.0): the lines that load the libraries.
# The lean and dispatch bindings are the same file with tensorrt_lean(_libs) / tensorrt_dispatch(_libs).
BINDINGS_INIT = """import ctypes
import os
import sys
import warnings

# For standalone wheels, attempt to import the wheel containing the libraries.
_libs_wheel_imported = False
try:
    import {libs}
except (ImportError, ModuleNotFoundError):
    pass
else:
    _libs_wheel_imported = True

del _libs_wheel_imported

from .{module} import *

__version__ = "{version}"
"""

# tensorrt_lean_libs/__init__.py of tensorrt-lean-cu13-libs 11.4.0.106 (licence header left out);
# tensorrt_dispatch_libs/__init__.py is byte-identical, tensorrt_libs/__init__.py the same template.
LIBS_INIT = """import ctypes
import glob
import os

CURDIR = os.path.realpath(os.path.dirname(__file__))


def try_load(library):
    try:
        ctypes.CDLL(library)
    except OSError:
        pass


def try_load_libs_from_dir(path):
    for lib in glob.iglob(os.path.join(path, "*.so*")):
        try_load(lib)
    for lib in glob.iglob(os.path.join(path, "*.dll*")):
        try_load(lib)


# Try loading all packaged libraries. This is a nop if there are no libraries packaged.
try_load_libs_from_dir(CURDIR)
"""

# tensorrt/__init__.py of the tensorrt-cuXX front end (NVIDIA/TensorRT python/packaging/frontend_sdist).
FRONTEND_INIT = "from tensorrt_bindings import *\nfrom tensorrt_bindings import __version__\n"

KINDS = {
    "full": ("tensorrt_bindings", "tensorrt", "tensorrt_libs", ""),
    "lean": ("tensorrt_lean_bindings", "tensorrt_lean", "tensorrt_lean_libs", "lean-"),
    "dispatch": ("tensorrt_dispatch_bindings", "tensorrt_dispatch", "tensorrt_dispatch_libs", "dispatch-"),
}


def libs_files(kind: str, version: str) -> dict[str, tuple[str, ...]]:
    """File -> NEEDED of one -libs wheel."""
    m = version.split(".")[0]
    if kind == "lean":
        return {f"libnvinfer_lean.so.{m}": (), f"libnvinfer_vc_plugin.so.{m}": ()}
    if kind == "dispatch":
        return {f"libnvinfer_dispatch.so.{m}": ()}
    return {f"libnvinfer.so.{m}": (), f"libnvinfer_builder_resource.so.{version}": (), f"libnvinfer_plugin.so.{m}": (f"libnvinfer.so.{m}",), f"libnvonnxparser.so.{m}": (f"libnvinfer.so.{m}",)}


def bindings_needed(kind: str, version: str) -> tuple[str, ...]:
    m = version.split(".")[0]
    if kind != "full":
        return (f"libnvinfer_{kind}.so.{m}",)
    return (f"libnvinfer.so.{m}", f"libnvonnxparser.so.{m}", f"libnvinfer_plugin.so.{m}") if m == "10" else (f"libnvonnxparser.so.{m}", f"libnvinfer_plugin.so.{m}", f"libnvinfer.so.{m}")


def pip_runtime(t: Tree, kind: str = "full", version: str = "11.4.0.106", cuda: str = "13", *, libs: bool = True, libs_version: str | None = None, site: str = SITE, files: dict | None = None) -> Tree:
    """One pip TensorRT runtime as pip installs it: bindings, -libs (unless ``libs`` is false),
    the CUDA runtime wheel the -libs package requires and, for full, the tensorrt-cuXX front end."""
    bdir, module, ldir, infix = KINDS[kind]
    rpath = "$ORIGIN:$ORIGIN/../tensorrt_libs:/_src/build/x86_64-gnu/release" if version.startswith("10.") else "$ORIGIN"
    t.write(f"{site}/{bdir}/__init__.py", BINDINGS_INIT.format(libs=ldir, module=module, version=version))
    t.lib(f"{site}/{bdir}/{module}.so", f"{module}.so", needs=bindings_needed(kind, version), rpath=rpath)
    t.dist(site, f"tensorrt-{infix}cu{cuda}-bindings", version, (f"{bdir}/__init__.py", f"{bdir}/{module}.so"))
    if kind == "full":
        t.write(f"{site}/tensorrt/__init__.py", FRONTEND_INIT)
        t.dist(site, f"tensorrt-cu{cuda}", version, ("tensorrt/__init__.py",))
        if version.startswith("10."):
            t.dist(site, "tensorrt", version)  # the meta package: no files of its own
    if not libs:
        return t
    lv = libs_version or version
    t.write(f"{site}/{ldir}/__init__.py", LIBS_INIT)
    wanted = libs_files(kind, lv) if files is None else files
    for name, needs in wanted.items():
        t.lib(f"{site}/{ldir}/{name}", name, needs=needs, rpath="$ORIGIN")
    t.dist(site, f"tensorrt-{infix}cu{cuda}-libs", lv, (f"{ldir}/__init__.py",) + tuple(f"{ldir}/{n}" for n in wanted))
    if cuda == "12":
        t.lib(f"{site}/nvidia/cuda_runtime/lib/libcudart.so.12", "libcudart.so.12")
        t.dist(site, "nvidia-cuda-runtime-cu12", "12.9.79", ("nvidia/cuda_runtime/lib/libcudart.so.12",))
    else:
        t.lib(f"{site}/nvidia/cu13/lib/libcudart.so.13", "libcudart.so.13")
        t.dist(site, "nvidia-cuda-runtime", "13.0.96", ("nvidia/cu13/lib/libcudart.so.13",))
    return t


# True on the H100 host (survey.txt): a system cuDNN 9.14 and the torch venv's pip cuDNN 9.19.
H100_TRUE = {"libraries.mixed-versions"}


def problems(rep: dict, true: set = H100_TRUE) -> list[str]:
    """Errors and warnings, less those that are true of the host."""
    return [f"{f['id']}: {f['title']}" for f in rep["findings"] if f["severity"] in ("error", "warning") and f["id"] not in true]


def consumer(rep: dict, name: str = "tensorrt bindings") -> dict:
    return next(c for c in rep["snapshot"]["libraries"]["consumers"] if c["name"] == name and c["site_packages"] == SITE)


# --- healthy stacks: silent --------------------------------------------------------------


def test_h100_torch_venv_is_silent(tree):
    rep = check_json(h100_tree(tree).root, "--env", "VIRTUAL_ENV=/opt/torch/.venv")
    assert not problems(rep, H100_TRUE | {"tensorrt.not-installed"})
    assert "tensorrt.not-installed" in ids(rep)


@pytest.mark.parametrize("version,cuda", [("10.3.0", "12"), ("11.4.0.106", "12"), ("11.4.0.106", "13")])
def test_full_pip_tensorrt_venv_is_silent(tree, version, cuda):
    pip_runtime(h100_tree(tree), "full", version, cuda)
    tree.ldconfig()
    rep = check_json(tree.root, *ENV)
    assert not problems(rep)
    c = consumer(rep)
    m = version.split(".")[0]
    for soname in bindings_needed("full", version):
        r = c["resolutions"][soname]
        assert r["resolved"] == f"{SITE}/tensorrt_libs/{soname}" and r["version"] == version
        if m == "11":  # RPATH $ORIGIN finds nothing: only the preload does
            assert r["via"] == "preloaded by tensorrt_libs/__init__.py" and r["preloaded_by"] == f"{SITE}/tensorrt_libs/__init__.py"
        else:  # 10.3 bindings also carry $ORIGIN/../tensorrt_libs: the loaded copy is the same file
            assert r["via"] == "preloaded by tensorrt_libs/__init__.py"
    inst = rep["snapshot"]["tensorrt"]["installs"][0]
    assert inst["runtimes"] == [
        {
            "kind": "full",
            "version": version,
            "cuda_major": cuda,
            "can_build": True,
            "module": "tensorrt",
            "bindings": f"tensorrt-cu{cuda}-bindings",
            "libs": f"tensorrt-cu{cuda}-libs",
            "libs_files": sorted(libs_files("full", version)),
        }
    ]


@pytest.mark.parametrize("kind", ["lean", "dispatch"])
def test_runtime_only_venv_gets_only_the_info(tree, kind):
    pip_runtime(h100_tree(tree), kind)
    rep = check_json(tree.root, *ENV)
    assert not problems(rep)
    info = [f for f in rep["findings"] if f["id"] == "tensorrt.runtime-only"]
    assert len(info) == 1 and info[0]["severity"] == "info"
    assert f"tensorrt-{kind}-cu13-bindings 11.4.0.106" in " ".join(info[0]["evidence"])
    assert "tensorrt-cu13==11.4.0.106" in info[0]["fix"]["commands"][0]
    r = consumer(rep, f"tensorrt_{kind} bindings")["resolutions"][f"libnvinfer_{kind}.so.11"]
    assert r["via"] == f"preloaded by tensorrt_{kind}_libs/__init__.py"
    rt = rep["snapshot"]["tensorrt"]["installs"][0]["runtimes"]
    assert [(x["kind"], x["can_build"], x["cuda_major"]) for x in rt] == [(kind, False, "13")]


def test_full_and_lean_together_need_no_info(tree):
    pip_runtime(pip_runtime(h100_tree(tree), "full"), "lean")
    rep = check_json(tree.root, *ENV)
    assert not problems(rep) and "tensorrt.runtime-only" not in ids(rep)


SITE310 = "/opt/venv/lib/python3.10/site-packages"


def pip_trt8(t: Tree, *, libs: bool = True) -> Tree:
    """TensorRT 8.6.1 from pip (tensorrt, tensorrt-bindings, tensorrt-libs 8.6.1; NVIDIA's index).
    Its bindings wheel is the non-standalone build of NVIDIA/TensorRT
    python/packaging/bindings_wheel/setup.py: ``packages=["tensorrt"]``, so ``tensorrt/`` holds
    the extension and an __init__.py that imports ``tensorrt_libs``. The wheels cannot be
    fetched here; 8.6.1 has wheels up to Python 3.11, so a 3.10 venv; the extension's RPATH is taken as plain ``$ORIGIN`` (the case where only the
    preload finds libnvinfer)."""
    t.write(f"{SITE310}/tensorrt/__init__.py", BINDINGS_INIT.format(libs="tensorrt_libs", module="tensorrt", version="8.6.1"))
    t.lib(f"{SITE310}/tensorrt/tensorrt.so", "tensorrt.so", needs=("libnvinfer.so.8", "libnvonnxparser.so.8", "libnvinfer_plugin.so.8"), rpath="$ORIGIN")
    t.dist(SITE310, "tensorrt-bindings", "8.6.1", ("tensorrt/__init__.py", "tensorrt/tensorrt.so"))
    t.dist(SITE310, "tensorrt", "8.6.1")
    if libs:
        t.write(f"{SITE310}/tensorrt_libs/__init__.py", LIBS_INIT)
        names = {"libnvinfer.so.8": (), "libnvinfer_builder_resource.so.8.6.1": (), "libnvinfer_plugin.so.8": ("libnvinfer.so.8",), "libnvonnxparser.so.8": ("libnvinfer.so.8",)}
        for name, needs in names.items():
            t.lib(f"{SITE310}/tensorrt_libs/{name}", name, needs=needs, rpath="$ORIGIN")
        t.dist(SITE310, "tensorrt-libs", "8.6.1", ("tensorrt_libs/__init__.py",) + tuple(f"tensorrt_libs/{n}" for n in names))
    return t


def test_pip_tensorrt_8_6_is_silent(tree):
    pip_trt8(h100_tree(tree))
    tree.ldconfig()
    rep = check_json(tree.root, *ENV)
    assert not problems(rep)
    r = next(c for c in rep["snapshot"]["libraries"]["consumers"] if c["role"] == "tensorrt-bindings")["resolutions"]["libnvinfer.so.8"]
    assert r["via"] == "preloaded by tensorrt_libs/__init__.py" and r["version"] == "8.6.1"


def test_pip_tensorrt_8_6_without_its_libs_fires(tree):
    pip_trt8(h100_tree(tree), libs=False)
    tree.ldconfig()
    rep = check_json(tree.root, *ENV)
    assert "tensorrt.bindings-without-libs" in ids(rep) and "libraries.missing" in ids(rep)


# --- broken stacks: they fire ------------------------------------------------------------


def test_bindings_without_libs(tree):
    pip_runtime(h100_tree(tree), "full", libs=False)
    rep = check_json(tree.root, *ENV)
    assert "tensorrt.bindings-without-libs" in ids(rep)
    r = consumer(rep)["resolutions"]["libnvonnxparser.so.11"]
    assert r["resolved"] is None and r["error"] == "libnvonnxparser.so.11: cannot open shared object file: No such file or directory"


def test_lean_bindings_without_lean_libs(tree):
    pip_runtime(h100_tree(tree), "lean", libs=False)
    rep = check_json(tree.root, *ENV)
    f = next(f for f in rep["findings"] if f["id"] == "tensorrt.bindings-without-libs")
    assert "tensorrt-lean-cu13-libs==11.4.0.106" in f["fix"]["commands"][0]
    assert consumer(rep, "tensorrt_lean bindings")["resolutions"]["libnvinfer_lean.so.11"]["error"] == "libnvinfer_lean.so.11: cannot open shared object file: No such file or directory"


def test_libs_package_without_libnvinfer(tree):
    pip_runtime(h100_tree(tree), "full", files={})
    rep = check_json(tree.root, *ENV)
    assert "tensorrt.libs-stub" in ids(rep)
    assert consumer(rep)["resolutions"]["libnvinfer.so.11"]["resolved"] is None


def test_libs_init_that_loads_nothing_is_no_preload(tree):
    """Near miss of the preload: the same files, but an __init__.py without the loading code."""
    pip_runtime(h100_tree(tree), "full")
    tree.write(f"{SITE}/tensorrt_libs/__init__.py", "")
    rep = check_json(tree.root, *ENV)
    assert "libraries.not-on-loader-path" in ids(rep)
    assert consumer(rep)["resolutions"]["libnvinfer.so.11"]["resolved"] is None


def test_preloaded_libs_of_another_release(tree):
    """Bindings 11.4 over -libs 11.3 (pip upgraded one part): the preloaded libnvinfer is 11.3."""
    pip_runtime(h100_tree(tree), "full", libs_version="11.3.0.99")
    rep = check_json(tree.root, *ENV)
    assert "tensorrt.parts-mismatch" in ids(rep)
    f = next(f for f in rep["findings"] if f["id"] == "tensorrt.bindings-libs-mismatch")
    assert "11.3.0.99" in f["title"] and "preloaded by tensorrt_libs/__init__.py" in " ".join(f["evidence"])


def test_explain_shows_the_preload(tree):
    pip_runtime(h100_tree(tree), "full")
    from conftest import run_cli

    res = run_cli("check", "--root", str(tree.root), *ENV, "--explain", "libnvinfer.so.11")
    assert res.returncode == 0, res.stderr
    assert f"For tensorrt bindings ({SITE}/tensorrt_bindings/tensorrt.so): already loaded, preloaded by {SITE}/tensorrt_libs/__init__.py: {SITE}/tensorrt_libs/libnvinfer.so.11" in res.stdout


# --- the trees against the real wheels ---------------------------------------------------

WHEELS = Path(os.environ.get("TRTDOCTOR_WHEELS", Path.home() / ".cache/trtdoctor-tests/wheels"))


def _wheel(spec: str) -> Path:
    name, version = spec.split("==")
    hits = sorted(WHEELS.glob(f"{name.replace('-', '_')}-{version}-*.whl"))
    if hits:
        return hits[0]
    WHEELS.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version", "3.12", "--platform", "manylinux_2_28_x86_64", "-d", str(WHEELS), spec]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    hits = sorted(WHEELS.glob(f"{name.replace('-', '_')}-{version}-*.whl"))
    if res.returncode or not hits:
        pytest.skip(f"could not download {spec} from PyPI: {(res.stderr or res.stdout).strip().splitlines()[-1:]}")
    return hits[0]


@pytest.mark.skipif(not os.environ.get("TRTDOCTOR_TEST_WHEELS") and not WHEELS.is_dir(), reason="set TRTDOCTOR_TEST_WHEELS=1 to compare with the real wheels (downloads ~3 MB)")
@pytest.mark.parametrize("kind", ["full", "lean", "dispatch"])
def test_trees_match_the_real_bindings_wheels(tree, tmp_path, kind):
    from trtdoctor.elf import read_elf

    bdir, module, ldir, infix = KINDS[kind]
    whl = _wheel(f"tensorrt-{infix}cu13-bindings==11.4.0.106")
    with zipfile.ZipFile(whl) as z:
        init = z.read(f"{bdir}/__init__.py").decode()
        (tmp_path / "ext.so").write_bytes(z.read(f"{bdir}/{module}.so"))
        record = z.read(next(n for n in z.namelist() if n.endswith("RECORD"))).decode()
    real = read_elf(tmp_path / "ext.so")
    pip_runtime(tree.base(), kind)
    ours = read_elf(tree.p(f"{SITE}/{bdir}/{module}.so"))
    trt = ("libnvinfer", "libnvonnx")
    assert [n for n in real.needed if n.startswith(trt)] == [n for n in ours.needed if n.startswith(trt)]
    assert real.rpath == ours.rpath == ["$ORIGIN"]
    assert f"import {ldir}\n" in init and f"from .{module} import *" in init and '__version__ = "11.4.0.106"' in init
    assert f"{bdir}/{module}.so," in record and f"{bdir}/__init__.py," in record


# --- live: lean and dispatch have no Builder, so the child creates a Runtime -----------------


@pytest.mark.parametrize("module,fake", [("tensorrt_lean", "fake_tensorrt_lean"), ("tensorrt", "fake_tensorrt")])
def test_live_probe_creates_a_runtime_where_there_is_no_builder(module, fake):
    from trtdoctor.probes.frameworks import TRT_LIVE
    from trtdoctor.subproc import run_python_json

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent / fake)}
    res = run_python_json(TRT_LIVE.replace("MODULES", repr([module])), python=sys.executable, env=env, timeout=60)
    assert res.data and res.data["module"] == module, res
    if module == "tensorrt_lean":  # truth.txt: lean 11.4: Runtime() works, the module has no Builder
        assert res.data["runtime"] is True and "builder_error" not in res.data and "builder" not in res.data
    else:
        assert res.data["builder"] is True and "runtime" not in res.data
