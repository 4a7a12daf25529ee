"""Rules on TensorRT installed outside pip (deb, RPM, tar, conda, NGC), torch-tensorrt's native
libraries and Jetson containers, from the ``trt_system`` area (probes/trt_system.py)."""

from __future__ import annotations

from .. import knowledge
from ..findings import Finding, Fix
from ..shell import prepend, quote
from . import Check, rule

TRT_DOCS = "https://docs.nvidia.com/deeplearning/tensorrt/latest/installing-tensorrt/installing.html"
JETSON_DOCS = "https://github.com/NVIDIA/nvidia-container-toolkit"
REINSTALL = {
    "deb": "sudo apt-get install --reinstall libnvinfer{major} libnvinfer-plugin{major} libnvonnxparsers{major} python3-libnvinfer",
    "ngc": "use the TensorRT libraries the container ships: unset LD_LIBRARY_PATH entries that shadow /usr/lib/x86_64-linux-gnu, or pull the container again",
    "rpm": "sudo dnf reinstall libnvinfer{major} libnvinfer-plugin{major} libnvonnxparsers{major} python3-libnvinfer",
    "conda": "conda install -c conda-forge tensorrt",
    "files": "install TensorRT from NVIDIA's packages (deb/RPM) so that every library of one release is present",
}


def system_installs(snap: dict) -> list[dict]:
    return (snap.get("trt_system") or {}).get("installs") or []


def system_bindings(snap: dict) -> set[str]:
    """The Python bindings that belong to a deb, RPM, conda or NGC install (judged here, not as pip)."""
    return {b["path"] for inst in system_installs(snap) for b in inst.get("bindings", [])}


def _mm(v: str | None):
    return knowledge.major_minor(v) if v else None


def _fix(inst: dict) -> Fix:
    major = (inst.get("version") or "").split(".")[0]
    cmd = prepend("LD_LIBRARY_PATH", str(inst.get("lib_dir"))) if inst["kind"] == "tar" else REINSTALL[inst["kind"]].format(major=quote(major) if major else "")
    return Fix(f"Make the {inst['kind']} TensorRT {inst.get('version')} libraries present and found by the loader.", [cmd], links=[TRT_DOCS])


@rule(
    reads=("trt_system",),
    emits=[
        Check("tensorrt.system-libs-missing", "error", "TensorRT bindings of a system install cannot find their libraries"),
        Check("tensorrt.system-libs-mismatch", "error", "TensorRT bindings of a system install would load libnvinfer of another release"),
        Check("tensorrt.held", "info", "TensorRT packages are held at their version"),
    ],
)
def system_trt(snap: dict) -> list[Finding]:
    out = []
    for inst in system_installs(snap):
        where = f"{inst['kind']} TensorRT {inst.get('version')} ({inst.get('lib_dir')})"
        want = _mm(inst.get("bindings_version") or inst.get("version"))
        for b in inst.get("bindings", []):
            missing = [s for s, r in b.get("resolutions", {}).items() if not r.get("resolved")]
            if missing:
                out.append(
                    Finding(
                        "tensorrt.system-libs-missing",
                        "error",
                        "tensorrt",
                        f"{where}: the bindings cannot find {', '.join(missing)}",
                        "`import tensorrt` fails with 'cannot open shared object file': the bindings are installed, the libraries they NEED are not, or the loader does not search where they are.",
                        [f"{b['path']} needs {', '.join(b['needs'])}"] + [f"{s}: not found" for s in missing],
                        _fix(inst),
                        subject=b["path"],
                    )
                )
                continue
            for s, r in b.get("resolutions", {}).items():
                got = _mm(r.get("version"))
                if want and got and got != want and s.startswith("libnvinfer.so"):
                    out.append(
                        Finding(
                            "tensorrt.system-libs-mismatch",
                            "error",
                            "tensorrt",
                            f"{where}: the bindings would load {s} {r['version']}",
                            "Bindings and libnvinfer must be the same TensorRT release; another copy found first shadows the install's own.",
                            [f"{b['path']} needs {s}", f"{s} → {r['resolved']} ({r['version']}) via {r['via']}"],
                            _fix(inst),
                            subject=b["path"],
                        )
                    )
        held = [p for p in inst.get("packages", []) if p.get("held")]
        if held:
            out.append(
                Finding(
                    "tensorrt.held",
                    "info",
                    "tensorrt",
                    f"TensorRT packages are held: {', '.join(p['package'] for p in held)}",
                    "apt will not upgrade them (`apt-mark hold`); an upgrade of CUDA or of another TensorRT part waits for `apt-mark unhold`.",
                    [f"{p['package']} {p['version']}: hold ok installed" for p in held],
                    None,
                )
            )
    return out


@rule(reads=("trt_system",), emits=[Check("tensorrt.torchtrt-libs-missing", "error", "torch-tensorrt's libtorchtrt cannot find the libnvinfer major it was built for")])
def torch_tensorrt(snap: dict) -> list[Finding]:
    out = []
    for tt in (snap.get("trt_system") or {}).get("torch_tensorrt") or []:
        missing = sorted({s for lib in tt.get("libs", []) for s, r in lib.get("resolutions", {}).items() if not r.get("resolved")})
        if not missing:
            continue
        installed = ", ".join(f"{n} {v}" for n, v in sorted(tt.get("tensorrt_installed", {}).items())) or "none"
        pins = tt.get("tensorrt_pins") or []
        cmd = f"pip install --extra-index-url https://pypi.nvidia.com {' '.join(pins)}" if pins else f"pip install torch-tensorrt=={tt.get('version')}"
        out.append(
            Finding(
                "tensorrt.torchtrt-libs-missing",
                "error",
                "tensorrt",
                f"torch-tensorrt {tt.get('version')} needs {', '.join(missing)}, which no TensorRT here provides",
                "libtorchtrt.so is linked against one TensorRT major; `import torch_tensorrt` first imports tensorrt (whose tensorrt_libs it then uses), else dlopens from system paths. Its own RUNPATH holds only build paths.",
                [f"{lib['path']} needs {', '.join(lib['needs'])}" for lib in tt.get("libs", [])] + [f"TensorRT installed beside it: {installed}", f"torch-tensorrt requires: {', '.join(pins) or 'unknown'}"],
                Fix("Install the TensorRT torch-tensorrt pins, all parts at one version.", [cmd]),
                subject=tt["site_packages"],
            )
        )
    return out


@rule(reads=("trt_system", "os"), emits=[Check("driver.jetson-no-runtime", "error", "A Jetson container was started without the NVIDIA runtime")])
def jetson_runtime(snap: dict) -> list[Finding]:
    j = (snap.get("trt_system") or {}).get("jetson")
    os_ = snap.get("os") or {}
    if not j or not os_.get("container") or j.get("tegra_libs") or j.get("nvhost_nodes"):
        return []
    return [
        Finding(
            "driver.jetson-no-runtime",
            "error",
            "driver",
            "Jetson (L4T) container without the NVIDIA runtime: no tegra libraries and no /dev/nvhost-* devices",
            "On Jetson the NVIDIA container runtime mounts the L4T driver libraries (/usr/lib/aarch64-linux-gnu/tegra) and the nvhost device nodes into the container; without it CUDA and TensorRT cannot start.",
            [
                f"L4T: {j.get('release') or ', '.join(j.get('l4t_packages', []))}",
                "/usr/lib/aarch64-linux-gnu/tegra: no libraries",
                "/dev/nvhost-*: none",
                f"container markers: {', '.join(os_.get('container_markers', []))}",
            ],
            Fix("Start the container with the NVIDIA runtime.", ["docker run --runtime nvidia ...", '(or set "default-runtime": "nvidia" in /etc/docker/daemon.json)'], links=[JETSON_DOCS]),
        )
    ]
