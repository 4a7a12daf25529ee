"""The C library of a judged root: the loader model against the root's own ld.so (run in a
chroot), symbol versions against the libc and libstdc++ the loader gives, partial roots."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from conftest import Tree, check_json, compile_so, h100_tree, host_clib, needs_cc, place
from test_libraries import real_loader

from trtdoctor.elf import highest, read_elf, version_key
from trtdoctor.loader import LoaderModel
from trtdoctor.target import Target

pytestmark = needs_cc
CHROOT = shutil.which("chroot") or shutil.which("chroot", path="/usr/sbin:/sbin")
needs_chroot = pytest.mark.skipif(os.geteuid() != 0 or CHROOT is None, reason="chroot needs root")
SYS = "/usr/lib/x86_64-linux-gnu"
LIB = "/lib/x86_64-linux-gnu"  # as ld.so.cache names it (through the /lib link on a merged /usr)
CXX_SOURCE = '#include <string>\nextern "C" int trt_len(const char *s) { return std::string(s).size(); }\n'


def real_list(root: Path, lib: str, env: dict | None = None) -> dict[str, str]:
    """soname -> path as the root's own ld.so maps them (``ld.so --list``, i.e. ldd), or
    soname -> 'not found'; the version errors it prints under ``errors``."""
    res = subprocess.run([CHROOT, str(root), "/lib64/ld-linux-x86-64.so.2", "--list", lib], capture_output=True, text=True, env={"PATH": "/usr/bin", **(env or {})}, timeout=30)
    out = {}
    for line in (res.stdout + res.stderr).splitlines():
        if m := re.match(r"\s*(\S+) => (not found|\S+)", line):
            out[m.group(1)] = m.group(2)
        elif m := re.match(r"\s*(/\S+/(ld-linux[^/ ]+)) \(0x", line):
            out[m.group(2)] = m.group(1)
        elif m := re.search(r"error while loading shared libraries: (\S+): cannot open shared object file", line):
            out[m.group(1)] = "not found"  # --list stops at the first one
        elif "version `" in line:  # "weak version … not found" is ld.so's note, not a failure
            out.setdefault("notes" if "weak version `" in line else "errors", []).append(line.strip())
    return out


def model_list(root: Path, lib: str, env: dict | None = None) -> dict[str, str]:
    loaded = LoaderModel(Target(root=root, env=env or {}, live=False)).load(lib)
    return {name: (x.res.path if x.res.found else "not found") for name, x in loaded.items()}


@needs_chroot
@pytest.mark.parametrize("merged", [True, False])
def test_c_library_resolves_as_the_roots_own_loader_does(tree, merged):
    tree.base(merged_usr=merged, version="24.04" if merged else "20.04")
    tree.lib(f"{SYS}/libtrt_cxx.so.1", source=CXX_SOURCE, cxx=True, needs=("ld-linux-x86-64.so.2",))
    real = real_list(tree.root, f"{SYS}/libtrt_cxx.so.1")
    assert set(real) == {"libstdc++.so.6", "libm.so.6", "libgcc_s.so.1", "libc.so.6", "ld-linux-x86-64.so.2"}, real
    assert model_list(tree.root, f"{SYS}/libtrt_cxx.so.1") == real


@needs_chroot
@pytest.mark.parametrize("b_runpath", [None, "/nowhere"], ids=["inherits-rpath", "runpath-stops-it"])
def test_a_dependency_searches_the_rpath_of_the_objects_that_loaded_it(tree, b_runpath):
    """glibc: without a DT_RUNPATH of its own, a NEEDED of B is also searched in the DT_RPATH
    of A, which loaded B (TensorRT's bindings carry RPATH $ORIGIN for their libnvinfer)."""
    tree.base()
    c = tree.lib("/opt/trt/private/libtrt_c.so.1")
    b = compile_so(tree.p("/opt/trt/lib/libtrt_b.so.1"), "libtrt_b.so.1", runpath=b_runpath, needed=[c])
    compile_so(tree.p("/opt/trt/lib/libtrt_a.so.1"), "libtrt_a.so.1", rpath="$ORIGIN:$ORIGIN/../private", needed=[b])
    real = real_list(tree.root, "/opt/trt/lib/libtrt_a.so.1")
    model = model_list(tree.root, "/opt/trt/lib/libtrt_a.so.1")
    real = {k: os.path.normpath(v) if v.startswith("/") else v for k, v in real.items()}  # ld.so keeps $ORIGIN/../private unnormalised
    assert real["libtrt_c.so.1"] == model["libtrt_c.so.1"] == ("not found" if b_runpath else "/opt/trt/private/libtrt_c.so.1")
    assert b_runpath or model == real


@needs_chroot
def test_lib64_is_no_default_directory_of_a_multiarch_glibc(tree):
    """Debian and Ubuntu build glibc without /lib64 in its default path (``ld.so --help``)."""
    tree.base()
    tree.lib("/usr/lib64/libtrt_only64.so.1")
    tree.lib(f"{SYS}/libtrt_user.so.1", needs=("libtrt_only64.so.1",))
    tree.ldconfig()
    assert real_list(tree.root, f"{SYS}/libtrt_user.so.1")["libtrt_only64.so.1"] == "not found"
    assert model_list(tree.root, f"{SYS}/libtrt_user.so.1")["libtrt_only64.so.1"] == "not found"


def test_lib64_is_the_default_directory_of_a_non_multiarch_glibc(tmp_path):
    """Fedora, RHEL and SUSE: /lib64, /usr/lib64 (no ld.so.cache here, so only those)."""
    root = Tree(tmp_path / "rhel")
    for name, src in host_clib().items():
        place(src, root.p(f"/usr/lib64/{name}"))
    root.link("/lib64", "usr/lib64")
    root.lib("/usr/lib64/libtrt_user.so.1")
    assert model_list(root.root, "/usr/lib64/libtrt_user.so.1") == {"libc.so.6": "/lib64/libc.so.6", "ld-linux-x86-64.so.2": "/lib64/ld-linux-x86-64.so.2"}


@pytest.mark.parametrize("soname", ["libc.so.6", "libm.so.6", "libstdc++.so.6", "libgcc_s.so.1", "ld-linux-x86-64.so.2"])
def test_c_runtime_of_this_machine_resolves_as_a_python_process_maps_it(soname):
    """Live: the program interpreter and libc are the ones the running program already has."""
    res = LoaderModel(Target(root=Path("/"), env={})).resolve(soname)
    assert res.path == real_loader(soname, {})["loaded"]


# --- stand-ins for the C runtime of older releases -------------------------------------------

HOST_LIBC = "/usr/lib/x86_64-linux-gnu/libc.so.6"
HOST_LIBSTDCXX = "/usr/lib/x86_64-linux-gnu/libstdc++.so.6"
VERSION_CHECK_IDS = {"libraries.glibc-too-old", "libraries.libstdcxx-shadowed", "libraries.libstdcxx-too-old", "libraries.symbol-version-missing"}
C_ROOT_IDS = {"libraries.unresolved-needed", "os.partial-root", "os.no-os"}


def real_versions(path: str, prefixes: tuple[str, ...], upto: dict[str, tuple[int, ...]]) -> list[str]:
    """This machine's real version names of a C-runtime file, cut where an older release stops."""
    return [v for v in read_elf(path).verdef if v.startswith(prefixes) and (not version_key(v) or version_key(v) <= upto[v.split("_")[0]])]


def stand_in(out: Path, soname: str, versions: list[str]) -> Path:
    """A library defining exactly ``versions`` (real names, in the real order), each by one
    symbol: what the loader's version check reads of an older libc or libstdc++."""
    syms = [f"trt_v{i}" for i in range(len(versions))]
    script = "".join(f"{v} {{ global: {s}; {'local: *; ' if i == 0 else ''}}}{'' if i == 0 else ' ' + versions[i - 1]};\n" for i, (v, s) in enumerate(zip(versions, syms)))
    return compile_so(out, soname, source="".join(f"int {s}(void) {{ return {i}; }}\n" for i, s in enumerate(syms)), version_script=script, nostdlib=True)


def old_glibc(tree: Tree, upto: str = "2.27") -> None:
    """The C library of Ubuntu 18.04 (glibc 2.27): GLIBC_2.2.5 … GLIBC_2.27 and GLIBC_PRIVATE."""
    names = real_versions(HOST_LIBC, ("GLIBC_2", "GLIBC_PRIVATE"), {"GLIBC": version_key(upto)})
    for d in ("/lib/x86_64-linux-gnu", SYS):
        if tree.p(f"{d}/libc.so.6").exists() and not tree.p(f"{d}/libc.so.6").is_symlink():
            tree.p(f"{d}/libc.so.6").unlink()
            stand_in(tree.p(f"{d}/libc.so.6"), "libc.so.6", names)


def old_libstdcxx(out: Path, glibcxx: str = "3.4.19", cxxabi: str = "1.3.7") -> Path:
    """libstdc++ of GCC 4.8 (CentOS 7, old conda envs): GLIBCXX_3.4 … 3.4.19, CXXABI_1.3 … 1.3.7."""
    names = real_versions(HOST_LIBSTDCXX, ("GLIBCXX_3", "CXXABI_1"), {"GLIBCXX": version_key(glibcxx), "CXXABI": version_key(cxxabi)})
    return stand_in(out, "libstdc++.so.6", names)


DLOPEN_SOURCE = "#include <dlfcn.h>\nvoid *trt_open(const char *s) { return dlopen(s, RTLD_NOW); }\n"  # dlopen@GLIBC_2.34 since glibc 2.34


def findings(rep: dict, wanted: set[str]) -> list[dict]:
    return [f for f in rep["findings"] if f["id"] in wanted]


# --- healthy first --------------------------------------------------------------------------


def test_healthy_tree_is_silent_and_its_c_library_is_found(tree):
    h100_tree(tree)
    tree.lib(f"{SYS}/libnvinfer.so.10.13.3", "libnvinfer.so.10", links=("libnvinfer.so.10",), source=CXX_SOURCE, cxx=True)
    tree.lib(f"{SYS}/libnvinfer_plugin.so.10.13.3", "libnvinfer_plugin.so.10", links=("libnvinfer_plugin.so.10",), source=DLOPEN_SOURCE)
    tree.ldconfig()
    rep = check_json(tree.root, "--env", "VIRTUAL_ENV=/opt/torch/.venv")
    assert findings(rep, VERSION_CHECK_IDS | C_ROOT_IDS) == []
    osi = rep["snapshot"]["os"]
    assert (osi["libc"], osi["libstdcxx"], osi["ld_so_cache"]) == ("/lib/x86_64-linux-gnu/libc.so.6", "/lib/x86_64-linux-gnu/libstdc++.so.6", True)
    assert osi["glibc"] == highest(read_elf(HOST_LIBC).verdef, "GLIBC_2").split("_")[1]
    libs = rep["snapshot"]["libraries"]["libraries"]
    assert all(lib["missing_versions"] == [] for lib in libs.values() if lib["resolved"])


# --- glibc ----------------------------------------------------------------------------------


@needs_chroot
def test_library_built_on_a_new_glibc_fails_on_an_old_one(tree):
    tree.base(merged_usr=False, version="18.04")
    old_glibc(tree)
    tree.lib(f"{SYS}/libnvinfer.so.10.13.3", "libnvinfer.so.10", links=("libnvinfer.so.10",), source=DLOPEN_SOURCE)
    tree.lib(f"{SYS}/libnvonnxparser.so.10.13.3", "libnvonnxparser.so.10", links=("libnvonnxparser.so.10",))  # strlen-era symbols only
    tree.ldconfig()
    assert "GLIBC_2.34" in read_elf(tree.p(f"{SYS}/libnvinfer.so.10.13.3")).verneed["libc.so.6"]
    rep = check_json(tree.root)
    assert rep["snapshot"]["os"]["glibc"] == "2.27"
    (f,) = findings(rep, VERSION_CHECK_IDS)
    assert f["id"] == "libraries.glibc-too-old" and f["title"] == f"{SYS}/libnvinfer.so.10 needs GLIBC_2.34; the C library it gets has up to GLIBC_2.27"
    assert "libc.so.6 → /lib/x86_64-linux-gnu/libc.so.6 via ld.so.cache provides up to GLIBC_2.27" in f["evidence"]
    assert "version `GLIBC_2.34' not found" in " ".join(real_list(tree.root, f"{SYS}/libnvinfer.so.10")["errors"])  # the root's own ld.so agrees
    assert "errors" not in real_list(tree.root, f"{SYS}/libnvonnxparser.so.10")


def test_the_same_library_on_a_new_glibc_is_silent(tree):
    tree.base()
    tree.lib(f"{SYS}/libnvinfer.so.10.13.3", "libnvinfer.so.10", links=("libnvinfer.so.10",), source=DLOPEN_SOURCE)
    tree.ldconfig()
    assert findings(check_json(tree.root), VERSION_CHECK_IDS) == []


def mark_weak(path: Path, version: str) -> None:
    """Set VER_FLG_WEAK on one version need of a real library, in place (its .gnu.version_r)."""
    data = bytearray(path.read_bytes())
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    secs = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    vr = next(s for s in secs if s[1] == 0x6FFFFFFE)  # SHT_GNU_verneed
    strtab = secs[vr[6]]  # sh_link: the string table its names index
    off = vr[4]
    while True:
        _, cnt, _, aux, nxt = struct.unpack_from("<HHIII", data, off)
        a = off + aux
        for _ in range(cnt):
            _, _, _, name, anext = struct.unpack_from("<IHHII", data, a)
            if data[strtab[4] + name :].split(b"\0", 1)[0].decode() == version:
                struct.pack_into("<H", data, a + 4, 2)
            a += anext
        if not nxt:
            break
        off += nxt
    path.unlink()
    path.write_bytes(bytes(data))


@needs_chroot
def test_a_weak_version_need_may_be_missing_as_ld_so_allows(tree):
    """VER_FLG_WEAK (all references to that version weak): ld.so's version check lets it be
    missing, so the model does too. GNU ld rarely writes it, hence the patched flag."""
    tree.base(merged_usr=False, version="18.04")
    old_glibc(tree)
    mark_weak(tree.lib(f"{SYS}/libnvinfer.so.10", source=DLOPEN_SOURCE), "GLIBC_2.34")
    tree.ldconfig()
    assert "GLIBC_2.34" not in read_elf(tree.p(f"{SYS}/libnvinfer.so.10")).verneed["libc.so.6"]
    real = real_list(tree.root, f"{SYS}/libnvinfer.so.10")
    assert "errors" not in real and "weak version `GLIBC_2.34' not found" in real["notes"][0]
    assert findings(check_json(tree.root), VERSION_CHECK_IDS) == []


def test_a_dependency_that_needs_a_newer_glibc_is_named_once(tree):
    tree.base(merged_usr=False, version="18.04")
    old_glibc(tree)
    helper = tree.lib(f"{SYS}/libnvinfer_helper.so.1", source=DLOPEN_SOURCE)
    for name in ("libnvinfer.so.10", "libnvinfer_plugin.so.10"):
        compile_so(tree.p(f"{SYS}/{name}"), name, needed=[helper])
    tree.ldconfig()
    (f,) = findings(check_json(tree.root), VERSION_CHECK_IDS)
    assert f["title"].startswith(f"{SYS}/libnvinfer_helper.so.1 needs GLIBC_2.34")
    assert "loaded by a dlopen of libnvinfer.so.10, libnvinfer_plugin.so.10" in f["evidence"]


# --- libstdc++ ------------------------------------------------------------------------------


def cxx_tree(tree: Tree) -> Tree:
    """TensorRT built with a GCC newer than 4.8: needs GLIBCXX_3.4.21 (the C++11 std::string)."""
    tree.base()
    tree.lib(f"{SYS}/libnvinfer.so.10.13.3", "libnvinfer.so.10", links=("libnvinfer.so.10",), source=CXX_SOURCE, cxx=True)
    tree.ldconfig()
    assert "GLIBCXX_3.4.21" in read_elf(tree.p(f"{SYS}/libnvinfer.so.10.13.3")).verneed["libstdc++.so.6"]
    return tree


@needs_chroot
def test_conda_libstdcxx_on_ld_library_path_shadows_the_system_one(tree):
    cxx_tree(tree)
    old_libstdcxx(tree.p("/opt/conda/lib/libstdc++.so.6"))
    env = {"LD_LIBRARY_PATH": "/opt/conda/lib"}
    rep = check_json(tree.root, "--env", "LD_LIBRARY_PATH=/opt/conda/lib")
    (f,) = findings(rep, VERSION_CHECK_IDS)
    assert f["id"] == "libraries.libstdcxx-shadowed"
    assert f["title"] == f"{LIB}/libnvinfer.so.10 needs GLIBCXX_3.4.21 but gets /opt/conda/lib/libstdc++.so.6 (GLIBCXX_3.4.19) via LD_LIBRARY_PATH"
    real = real_list(tree.root, f"{SYS}/libnvinfer.so.10", env)
    assert real["libstdc++.so.6"] == "/opt/conda/lib/libstdc++.so.6" and any("GLIBCXX_3.4.21' not found" in e for e in real["errors"])
    assert model_list(tree.root, f"{SYS}/libnvinfer.so.10", env) == {k: v for k, v in real.items() if k != "errors"}


def test_a_new_enough_conda_libstdcxx_is_silent(tree):
    cxx_tree(tree)
    place(Path(os.path.realpath(HOST_LIBSTDCXX)), tree.p("/opt/conda/lib/libstdc++.so.6"))
    assert findings(check_json(tree.root, "--env", "LD_LIBRARY_PATH=/opt/conda/lib"), VERSION_CHECK_IDS) == []
    assert findings(check_json(tree.root), VERSION_CHECK_IDS) == []  # and without it, the system's


def test_cuda_toolkit_libstdcxx_through_rpath_shadows_too(tree):
    tree.base()
    nsight = "/usr/local/cuda-13.0/nsight-systems/host-linux-x64"
    old_libstdcxx(tree.p(f"{nsight}/libstdc++.so.6"))
    tree.lib(f"{SYS}/libnvinfer.so.10.13.3", "libnvinfer.so.10", links=("libnvinfer.so.10",), source=CXX_SOURCE, cxx=True, rpath=nsight)
    tree.ldconfig()
    (f,) = findings(check_json(tree.root), VERSION_CHECK_IDS)
    assert f["id"] == "libraries.libstdcxx-shadowed" and f["title"].endswith("via RPATH of libnvinfer.so.10")


def test_a_system_libstdcxx_older_than_the_build_is_too_old_not_shadowed(tree):
    cxx_tree(tree)
    real = tree.p(f"{SYS}/libstdc++.so.6").resolve()
    real.unlink()
    old_libstdcxx(real)
    (f,) = findings(check_json(tree.root), VERSION_CHECK_IDS)
    assert f["id"] == "libraries.libstdcxx-too-old" and "GLIBCXX_3.4.19" in f["title"]


# --- a partial root -------------------------------------------------------------------------


def conda_env(tree: Tree, prefix: str = "") -> list[str]:
    """A conda env at ``prefix`` (the root itself: a copied prefix): its own libstdc++,
    TensorRT from pip, no C library, no os-release, no ld.so.cache. Returns its --env args."""
    site = f"{prefix}/lib/python3.12/site-packages"
    tree.write(f"{prefix}/conda-meta/history", "==> 2025-11-24 12:00:00 <==\n")
    place(Path(os.path.realpath(HOST_LIBSTDCXX)), tree.p(f"{prefix}/lib/libstdc++.so.6"))
    tree.lib(f"{site}/tensorrt_libs/libnvinfer.so.10", source=CXX_SOURCE, cxx=True)
    tree.lib(f"{site}/tensorrt_libs/libnvinfer_plugin.so.10", needs=("libnvinfer.so.10", "libcublasLt.so.13"))
    tree.dist(site, "tensorrt-cu13-libs", "10.16.1.11", ("tensorrt_libs/libnvinfer.so.10",))
    return ["--env", f"CONDA_PREFIX={prefix or '/'}", "--env", f"LD_LIBRARY_PATH={prefix}/lib:{site}/tensorrt_libs"]


def test_a_bare_conda_env_is_one_partial_root_finding(tree):
    rep = check_json(tree.root, *conda_env(tree))
    got = findings(rep, C_ROOT_IDS)
    assert [f["id"] for f in got] == ["os.partial-root", "libraries.unresolved-needed"], got
    partial = got[0]
    assert partial["severity"] == "warning" and "no C library (libc.so.6), no /etc/os-release, no /etc/ld.so.cache" in partial["title"]
    assert any("libnvinfer.so.10 needs" in e and "libc.so.6" in e for e in partial["evidence"])
    assert got[1]["title"].endswith("needs libcublasLt.so.13: not found")  # not part of the C runtime: still said


def test_the_same_env_on_a_real_system_is_not_partial(tree):
    tree.base()
    rep = check_json(tree.root, *conda_env(tree, "/opt/conda"))
    plugin = "/opt/conda/lib/python3.12/site-packages/tensorrt_libs/libnvinfer_plugin.so.10"
    assert [f["title"] for f in findings(rep, C_ROOT_IDS | VERSION_CHECK_IDS)] == [f"libnvinfer_plugin.so.10 ({plugin}) needs libcublasLt.so.13: not found"]
