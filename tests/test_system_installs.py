"""TensorRT installed outside pip, on faithful static trees: each healthy stack first (silent:
no error, no warning), then its broken variants.

Layouts: deb/RPM/tar/NGC from NVIDIA's TensorRT installation guide and container docs
(NVIDIA's own .deb, tar and NGC images cannot be fetched here; see probes/trt_system.py);
/var/lib/dpkg/status stanzas in dpkg's real field layout (Package, Status, ..., Version);
torch-tensorrt from the real wheel torch_tensorrt-2.5.0-cp310 (NEEDED of libtorchtrt.so,
Requires-Dist of its METADATA)."""

from __future__ import annotations

import pytest
from conftest import Tree, check_json, ids, needs_cc

pytestmark = needs_cc
SYS = "/usr/lib/x86_64-linux-gnu"
DIST = "/usr/lib/python3/dist-packages"
TRT_LIBS = ("libnvinfer", "libnvinfer_plugin", "libnvonnxparser")
DEB_TRT = "8.6.1.6-1+cuda11.8"


def loud(rep: dict) -> list[tuple[str, str]]:
    return [(f["id"], f["title"]) for f in rep["findings"] if f["severity"] in ("error", "warning")]


def dpkg(t: Tree, *pkgs: tuple[str, str, str], files: dict[str, list[str]] | None = None) -> None:
    """/var/lib/dpkg/status with one stanza per (package, version, status), and .list files."""
    stanzas = [
        f"Package: {p}\nStatus: {s}\nPriority: optional\nSection: libs\nInstalled-Size: 1024\nMaintainer: cudatools <cudatools@nvidia.com>\nArchitecture: amd64\nVersion: {v}\nDescription: {p}\n TensorRT\n"
        for p, v, s in pkgs
    ]
    t.write("/var/lib/dpkg/status", "\n".join(stanzas))
    for p, lines in (files or {}).items():
        t.write(f"/var/lib/dpkg/info/{p}.list", "\n".join(lines) + "\n")


def trt_libs(t: Tree, d: str, version: str, needs_cudart: str | None = None) -> None:
    major = version.split(".")[0]
    for name in TRT_LIBS:
        t.lib(f"{d}/{name}.so.{version}", f"{name}.so.{major}", links=(f"{name}.so.{major}", f"{name}.so"))


def deb_stack(t: Tree, *, held: bool = False, dist_info: bool = True) -> Tree:
    """NVIDIA's deb TensorRT 8.6.1 for CUDA 11.8 on Ubuntu 22.04, driver 535 (11.8 needs ≥ 520.61.05)."""
    t.base(version="22.04").driver("535.104.05", gpu="NVIDIA A100-SXM4-80GB")
    t.cuda("11.8.0", "11.8.89")
    trt_libs(t, SYS, "8.6.1")
    t.lib(f"{DIST}/tensorrt/tensorrt.so", "tensorrt.so", needs=tuple(f"{n}.so.8" for n in reversed(TRT_LIBS)))
    t.write(f"{DIST}/tensorrt/__init__.py", "from .tensorrt import *\n")
    if dist_info:
        t.dist(DIST, "tensorrt", "8.6.1")
    state = "hold ok installed" if held else "install ok installed"
    dpkg(
        t,
        ("libnvinfer8", DEB_TRT, state),
        ("libnvinfer-plugin8", DEB_TRT, state),
        ("libnvonnxparsers8", DEB_TRT, state),
        ("python3-libnvinfer", DEB_TRT, state),
        files={
            "libnvinfer8": ["/.", "/usr", "/usr/lib", SYS, f"{SYS}/libnvinfer.so.8.6.1", f"{SYS}/libnvinfer.so.8"],
            "python3-libnvinfer": ["/.", "/usr", DIST, f"{DIST}/tensorrt", f"{DIST}/tensorrt/__init__.py", f"{DIST}/tensorrt/tensorrt.so"],
        },
    )
    t.ldconfig()
    return t


@pytest.mark.parametrize("dist_info", [True, False])
def test_deb_tensorrt_8_6_on_cuda_11_8_is_silent(tree, dist_info):
    deb_stack(tree, dist_info=dist_info)
    rep = check_json(tree.root)
    assert loud(rep) == []
    inst = rep["snapshot"]["trt_system"]["installs"][0]
    assert (inst["kind"], inst["version"], inst["lib_dir"], inst["bindings_version"]) == ("deb", "8.6.1.6", SYS, "8.6.1.6")
    res = inst["bindings"][0]["resolutions"]["libnvinfer.so.8"]
    assert res["via"] == "ld.so.cache" and res["version"] == "8.6.1"
    assert "tensorrt.held" not in ids(rep)


def test_deb_held_is_an_info_line(tree):
    rep = check_json(deb_stack(tree, held=True).root)
    assert loud(rep) == []
    f = next(f for f in rep["findings"] if f["id"] == "tensorrt.held")
    assert f["severity"] == "info" and "libnvinfer8" in f["title"]


def test_deb_bindings_without_their_libraries(tree):
    deb_stack(tree)
    for name in TRT_LIBS:
        for p in tree.p(SYS).glob(f"{name}.so*"):
            p.unlink()
    tree.ldconfig()
    rep = check_json(tree.root)
    f = next(f for f in rep["findings"] if f["id"] == "tensorrt.system-libs-missing")
    assert "libnvinfer.so.8" in f["title"] and "apt-get install --reinstall libnvinfer8" in f["fix"]["commands"][0]
    assert "tensorrt.bindings-without-libs" not in ids(rep)  # judged once, as the deb it is


def test_deb_bindings_shadowed_by_another_release(tree):
    deb_stack(tree)
    trt_libs(tree, "/opt/TensorRT-8.5.3.1/lib", "8.5.3")
    rep = check_json(tree.root, "--env", "LD_LIBRARY_PATH=/opt/TensorRT-8.5.3.1/lib")
    f = next(f for f in rep["findings"] if f["id"] == "tensorrt.system-libs-mismatch")
    assert "8.5.3" in f["title"]
    kinds = {i["kind"]: i["version"] for i in rep["snapshot"]["trt_system"]["installs"]}
    assert kinds == {"deb": "8.6.1.6", "tar": "8.5.3.1"}


CONDA = "/opt/conda/envs/trt"
CONDA_SITE = f"{CONDA}/lib/python3.10/site-packages"


def conda_stack(t: Tree) -> Tree:
    """conda-forge tensorrt 10.3: libnvinfer in $CONDA_PREFIX/lib, bindings with RUNPATH $ORIGIN/../../.."""
    t.base(version="22.04").driver("560.35.03")
    trt_libs(t, f"{CONDA}/lib", "10.3.0")
    t.lib(f"{CONDA}/lib/libcudart.so.12.5.82", "libcudart.so.12", links=("libcudart.so.12",))
    t.lib(f"{CONDA_SITE}/tensorrt/tensorrt.cpython-310-x86_64-linux-gnu.so", None, needs=tuple(f"{n}.so.10" for n in reversed(TRT_LIBS)), runpath="$ORIGIN/../../..")
    t.dist(CONDA_SITE, "tensorrt", "10.3.0")
    t.write(f"{CONDA}/conda-meta/libnvinfer-10.3.0.26-h5f8f2e2_0.json", "{}")
    t.write(f"{CONDA}/bin/python", "")
    t.ldconfig()
    return t


def test_conda_forge_tensorrt_is_silent(tree):
    rep = check_json(conda_stack(tree).root, "--env", f"CONDA_PREFIX={CONDA}")
    assert loud(rep) == []
    inst = next(i for i in rep["snapshot"]["trt_system"]["installs"] if i["kind"] == "conda")
    assert inst["version"] == "10.3.0.26" and inst["bindings"][0]["resolutions"]["libnvinfer.so.10"]["via"].startswith("RUNPATH")


def test_conda_bindings_without_libnvinfer(tree):
    conda_stack(tree)
    for p in tree.p(f"{CONDA}/lib").glob("libnvinfer.so*"):
        p.unlink()
    rep = check_json(tree.root, "--env", f"CONDA_PREFIX={CONDA}")
    f = next(f for f in rep["findings"] if f["id"] == "tensorrt.system-libs-missing")
    assert "libnvinfer.so.10" in f["title"] and "conda install" in f["fix"]["commands"][0]


NGC_SITE = "/usr/local/lib/python3.10/dist-packages"


def ngc_stack(t: Tree) -> Tree:
    """nvcr.io/nvidia/tensorrt:24.08-py3 (TensorRT 10.3.0, CUDA 12.5.1), the driver mounted by the
    container runtime into /usr/lib/x86_64-linux-gnu; the tensorrt wheel in /usr/local's dist-packages."""
    t.base(version="22.04").driver("560.35.03")
    t.write("/.dockerenv", "")
    t.cuda("12.5.1", "12.5.82")
    trt_libs(t, SYS, "10.3.0")
    t.write("/usr/include/x86_64-linux-gnu/NvInferVersion.h", "#define NV_TENSORRT_MAJOR 10\n#define NV_TENSORRT_MINOR 3\n#define NV_TENSORRT_PATCH 0\n#define NV_TENSORRT_BUILD 26\n")
    t.write("/usr/src/tensorrt/bin/trtexec", "")
    t.dist(NGC_SITE, "tensorrt", "10.3.0")
    t.lib(f"{NGC_SITE}/tensorrt/tensorrt.so", "tensorrt.so", needs=tuple(f"{n}.so.10" for n in reversed(TRT_LIBS)))
    t.ldconfig()
    return t


def test_ngc_tensorrt_container_is_silent(tree):
    rep = check_json(ngc_stack(tree).root)
    assert loud(rep) == []
    inst = rep["snapshot"]["trt_system"]["installs"][0]
    assert (inst["kind"], inst["version"], inst["trtexec"]) == ("ngc", "10.3.0.26", "/usr/src/tensorrt/bin/trtexec")


def test_ngc_container_missing_a_library_fires(tree):
    ngc_stack(tree)
    for p in tree.p(SYS).glob("libnvinfer_plugin.so*"):
        p.unlink()
    tree.ldconfig()
    assert "tensorrt.bindings-without-libs" in ids(check_json(tree.root))


VENV = "/opt/venv"
VSITE = f"{VENV}/lib/python3.10/site-packages"
TT_META = (
    "Metadata-Version: 2.1\nName: torch_tensorrt\nVersion: 2.5.0\nRequires-Dist: torch (<2.6.0,>=2.5.0)\n"
    "Requires-Dist: tensorrt-cu12 (==10.3.0)\nRequires-Dist: tensorrt-cu12-bindings (==10.3.0)\nRequires-Dist: tensorrt-cu12-libs (==10.3.0)\n"
    "Requires-Dist: packaging (>=23)\nRequires-Dist: numpy\n"
)


def torch_trt_venv(t: Tree, trt: bool = True) -> Tree:
    """torch 2.5 + torch-tensorrt 2.5.0 (real NEEDED: libnvinfer_plugin.so.10, libnvinfer.so.10,
    libcudart.so.12; RUNPATH: Bazel build paths only) + the pinned tensorrt-cu12 10.3.0."""
    t.base(version="22.04").driver("560.35.03")
    t.dist(VSITE, "torch", "2.5.0")
    t.lib(f"{VSITE}/nvidia/cuda_runtime/lib/libcudart.so.12", "libcudart.so.12")
    t.dist(VSITE, "nvidia-cuda-runtime-cu12", "12.4.127", ("nvidia/cuda_runtime/lib/libcudart.so.12",))
    t.dist(VSITE, "torch-tensorrt", "2.5.0")
    t.write(f"{VSITE}/torch_tensorrt-2.5.0.dist-info/METADATA", TT_META)
    bazel = "$ORIGIN/../../_solib_k8/_U_A_A_Umain~_Urepo_Urules~tensorrt_S_S_Cnvinfer_Ulib___Ulib"
    for name in ("libtorchtrt.so", "libtorchtrt_runtime.so", "libtorchtrt_plugins.so"):
        t.lib(f"{VSITE}/torch_tensorrt/lib/{name}", None, needs=("libnvinfer_plugin.so.10", "libnvinfer.so.10", "libcudart.so.12"), runpath=bazel)
    if trt:
        for part in ("tensorrt-cu12", "tensorrt-cu12-bindings", "tensorrt-cu12-libs"):
            t.dist(VSITE, part, "10.3.0")
        trt_libs(t, f"{VSITE}/tensorrt_libs", "10.3.0")
        t.lib(f"{VSITE}/tensorrt_bindings/tensorrt.so", "tensorrt.so", needs=tuple(f"{n}.so.10" for n in reversed(TRT_LIBS)), rpath="$ORIGIN")
    t.ldconfig()
    return t


VENV_ENV = ("--env", f"VIRTUAL_ENV={VENV}", "--env", f"LD_LIBRARY_PATH={VSITE}/tensorrt_libs:{VSITE}/nvidia/cuda_runtime/lib")


def test_torch_tensorrt_venv_is_silent(tree):
    rep = check_json(torch_trt_venv(tree).root, *VENV_ENV)
    assert loud(rep) == []
    tt = rep["snapshot"]["trt_system"]["torch_tensorrt"][0]
    assert tt["tensorrt_pins"] == ["tensorrt-cu12==10.3.0", "tensorrt-cu12-bindings==10.3.0", "tensorrt-cu12-libs==10.3.0"]


def test_torch_tensorrt_without_its_tensorrt_fires_with_the_pins(tree):
    rep = check_json(torch_trt_venv(tree, trt=False).root, "--env", f"VIRTUAL_ENV={VENV}")
    f = next(f for f in rep["findings"] if f["id"] == "tensorrt.torchtrt-libs-missing")
    assert "libnvinfer.so.10" in f["title"]
    assert f["fix"]["commands"] == ["pip install --extra-index-url https://pypi.nvidia.com tensorrt-cu12==10.3.0 tensorrt-cu12-bindings==10.3.0 tensorrt-cu12-libs==10.3.0"]


def test_torch_tensorrt_beside_another_tensorrt_major_fires(tree):
    torch_trt_venv(tree, trt=False)
    trt_libs(tree, f"{VSITE}/tensorrt_libs", "8.6.1")
    rep = check_json(tree.root, "--env", f"VIRTUAL_ENV={VENV}")
    assert "tensorrt.torchtrt-libs-missing" in ids(rep)


def jetson_container(t: Tree, runtime: bool) -> Tree:
    """An L4T container (JetPack 5: /etc/nv_tegra_release); the NVIDIA runtime mounts the tegra
    libraries and the nvhost device nodes."""
    t.base(version="20.04")
    t.write("/etc/nv_tegra_release", "# R35 (release), REVISION: 4.1, GCID: 33958178, BOARD: t186ref, EABI: aarch64, DATE: Tue Aug  1 19:57:35 UTC 2023\n")
    t.write("/.dockerenv", "")
    if runtime:
        t.lib("/usr/lib/aarch64-linux-gnu/tegra/libcuda.so.1.1", "libcuda.so.1")
        t.write("/dev/nvhost-ctrl", "")
    return t


def test_jetson_container_without_runtime_fires(tree):
    rep = check_json(jetson_container(tree, runtime=False).root)
    f = next(f for f in rep["findings"] if f["id"] == "driver.jetson-no-runtime")
    assert "--runtime nvidia" in f["fix"]["commands"][0]


def test_jetson_container_with_runtime_is_not_flagged(tree):
    rep = check_json(jetson_container(tree, runtime=True).root)
    assert "driver.jetson-no-runtime" not in ids(rep)
    assert rep["snapshot"]["trt_system"]["jetson"]["release"].startswith("# R35")
