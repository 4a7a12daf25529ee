"""Test trees built from real files: tiny shared objects compiled with the C compiler,
real os-release and /proc/driver/nvidia text, real dist-info metadata, and an
ld.so.cache written by the system's own ldconfig."""

from __future__ import annotations

import atexit
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

CC = shutil.which("cc") or shutil.which("gcc")
CXX = shutil.which("c++") or shutil.which("g++")
LDCONFIG = shutil.which("ldconfig") or next((p for p in ("/sbin/ldconfig", "/usr/sbin/ldconfig") if os.path.exists(p)), None)
REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
H100_PROC_VERSION = "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.159.04  Release Build  (nixbld@)  \nGCC version:  gcc version 15.3.0 (GCC) \n"

needs_cc = pytest.mark.skipif(CC is None, reason="no C compiler")
needs_ldconfig = pytest.mark.skipif(LDCONFIG is None, reason="no ldconfig")


def compile_so(
    out: Path,
    soname: str | None,
    *,
    needed: list[Path] = (),
    runpath: str | None = None,
    rpath: str | None = None,
    source: str = "int trtdoctor_fixture(void) { return 42; }\n",
    version_script: str | None = None,
    machine: int | None = None,
    cxx: bool = False,
    nostdlib: bool = False,
) -> Path:
    """A real shared object, linked the ordinary way: it NEEDs libc.so.6 (``cxx``: a C++
    source, so also libstdc++.so.6, libm.so.6 and libgcc_s.so.1) with the GLIBC_x.y versions
    its calls need. ``needed`` are other built objects (their SONAME becomes NEEDED).
    ``nostdlib``: links nothing, for a stand-in of the C runtime itself."""
    out.parent.mkdir(parents=True, exist_ok=True)
    work = out.parent / f".src-{out.name}"
    work.mkdir(exist_ok=True)
    src = work / ("x.cc" if cxx else "x.c")
    src.write_text(source)
    cmd = [CXX if cxx else CC, "-shared", "-fPIC", "-o", str(out), str(src)] + (["-nostdlib"] if nostdlib else [])
    if soname:
        cmd.append(f"-Wl,-soname,{soname}")
    if rpath or runpath:
        cmd.append("-Wl,--disable-new-dtags" if rpath else "-Wl,--enable-new-dtags")
        cmd.append(f"-Wl,-rpath,{rpath or runpath}")
    if version_script:
        (work / "v.map").write_text(version_script)
        cmd.append(f"-Wl,--version-script={work / 'v.map'}")
    cmd += ["-Wl,--no-as-needed"] + [str(p) for p in needed]
    subprocess.run(cmd, check=True, capture_output=True)
    shutil.rmtree(work)
    if machine is not None:  # patch e_machine: a real ELF for another machine
        data = bytearray(out.read_bytes())
        data[18:20] = machine.to_bytes(2, "little")
        out.write_bytes(bytes(data))
    return out


HOST_LIBDIR = Path("/usr/lib/x86_64-linux-gnu")
CLIB_NAMES = ("libc.so.6", "libm.so.6", "libgcc_s.so.1", "libstdc++.so.6", "ld-linux-x86-64.so.2")


@functools.cache
def host_clib() -> dict[str, Path]:
    """soname -> a private copy of this machine's real file (Debian 12 when written: glibc
    2.36-9+deb12u14, so GLIBC_2.2.5 … GLIBC_2.36; libstdc++.so.6.0.30 and libgcc_s.so.1
    from GCC 12.2.0, so GLIBCXX_3.4 … 3.4.30, CXXABI_1.3 … 1.3.13). Copied once per
    session; trees hard-link them (a few MB each otherwise), so replace such a file in a
    tree (``place``, ``compile_so``), never write into it."""
    store = Path(tempfile.mkdtemp(prefix="trtdoctor-clib-"))
    atexit.register(shutil.rmtree, store, True)
    out = {}
    for name in CLIB_NAMES:
        real = Path(os.path.realpath(HOST_LIBDIR / name))
        if real.exists():
            out[name] = Path(shutil.copy2(real, store / real.name))
    return out


def place(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists() or dest.is_symlink():
        dest.unlink()
    try:
        os.link(src, dest)
    except OSError:
        shutil.copy2(src, dest)


class Tree:
    """A root file system under a temporary directory."""

    def __init__(self, root: Path):
        self.root = root
        self.stubs = root.parent / (root.name + "-stubs")

    def p(self, path: str) -> Path:
        return self.root / path.lstrip("/")

    def write(self, path: str, text: str) -> Path:
        f = self.p(path)
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text)
        return f

    def link(self, path: str, target: str) -> None:
        f = self.p(path)
        f.parent.mkdir(parents=True, exist_ok=True)
        if f.is_symlink() or f.exists():
            f.unlink()
        f.symlink_to(target)

    def stub(self, soname: str, **kw) -> Path:
        """An object outside the tree whose SONAME a library can name as NEEDED."""
        return compile_so(self.stubs / soname, soname, **kw)

    def lib(self, path: str, soname: str | None = None, links: tuple[str, ...] = (), needs: tuple[str, ...] = (), **kw) -> Path:
        """A library at ``path`` (file name may carry the full version) plus symlinks."""
        f = compile_so(self.p(path), soname or os.path.basename(path), needed=[self.stub(n) for n in needs], **kw)
        for name in links:
            self.link(os.path.join(os.path.dirname(path), name), os.path.basename(path))
        return f

    def dist(self, site: str, name: str, version: str, files: tuple[str, ...] = ()) -> None:
        d = self.p(f"{site}/{name.replace('-', '_')}-{version}.dist-info")
        d.mkdir(parents=True, exist_ok=True)
        (d / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        (d / "RECORD").write_text("".join(f"{f},sha256=x,1\n" for f in files))

    def ldconfig(self) -> None:
        """Write etc/ld.so.cache with the real ldconfig (links left as they are)."""
        subprocess.run([LDCONFIG, "-X", "-r", str(self.root)], check=True, capture_output=True)

    def base(self, *, distro: str = "ubuntu", version: str = "24.04", merged_usr: bool = True) -> Tree:
        """A C library laid out as the distribution does, from this machine's real files
        (see ``host_clib``), with ld.so.conf(.d) as Ubuntu ships it and a real ld.so.cache.

        merged_usr (Ubuntu ≥ 22.04, Debian ≥ 12): /lib, /lib64, /bin, /sbin link into /usr and
        the files live in /usr/lib/x86_64-linux-gnu. Without (Ubuntu 18.04/20.04 style): the
        C library and ld.so in /lib/x86_64-linux-gnu, libstdc++ in /usr/lib/x86_64-linux-gnu."""
        self.write("/etc/os-release", f'PRETTY_NAME="Ubuntu {version} LTS"\nNAME="Ubuntu"\nID={distro}\nVERSION_ID="{version}"\n')
        if merged_usr:
            for top in ("lib", "lib64", "bin", "sbin"):
                self.p(f"/usr/{top}").mkdir(parents=True, exist_ok=True)
                self.link(f"/{top}", f"usr/{top}")  # merged /usr, as on Ubuntu 24.04
        libdir, cxxdir = ("/usr/lib/x86_64-linux-gnu",) * 2 if merged_usr else ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu")
        host = host_clib()
        for name, src in host.items():
            dest = cxxdir if name.startswith(("libstdc++", "libgcc_s")) else libdir
            place(src, self.p(f"{dest}/{src.name}"))
            if name != src.name:
                self.link(f"{dest}/{name}", src.name)
        self.link("/lib64/ld-linux-x86-64.so.2", f"../lib/x86_64-linux-gnu/{host['ld-linux-x86-64.so.2'].name}" if merged_usr else f"/lib/x86_64-linux-gnu/{host['ld-linux-x86-64.so.2'].name}")
        self.write("/etc/ld.so.conf", "include /etc/ld.so.conf.d/*.conf\n\n")
        self.write("/etc/ld.so.conf.d/libc.conf", "# libc default configuration\n/usr/local/lib\n")
        self.write("/etc/ld.so.conf.d/x86_64-linux-gnu.conf", "# Multiarch support\n/usr/local/lib/x86_64-linux-gnu\n/lib/x86_64-linux-gnu\n/usr/lib/x86_64-linux-gnu\n")
        self.write("/proc/version", "Linux version 6.8.0-45-generic (buildd@lcy02) #45-Ubuntu SMP\n")
        if LDCONFIG:
            self.ldconfig()
        return self

    def driver(self, version: str = "580.159.04", libs_version: str | None = None, gpu: str = "NVIDIA H100 80GB HBM3") -> Tree:
        self.write("/proc/driver/nvidia/version", H100_PROC_VERSION.replace("580.159.04", version))
        self.write("/sys/module/nvidia/version", version + "\n")
        self.write("/proc/driver/nvidia/gpus/0000:00:06.0/information", f"Model: \t\t {gpu}\nIRQ:   \t\t 41\nGPU UUID: \t GPU-f6a77f63-f1c4-b51f-e95d-4a853aae4770\nBus Type: \t PCIe\n")
        lv = libs_version or version
        self.lib(f"/usr/lib/x86_64-linux-gnu/libcuda.so.{lv}", "libcuda.so.1", links=("libcuda.so.1", "libcuda.so"))
        self.lib(f"/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.{lv}", "libnvidia-ml.so.1", links=("libnvidia-ml.so.1",))
        return self

    def wsl(self) -> Tree:
        """WSL2 as its driver lays it out: libcuda and NVML in /usr/lib/wsl/lib, found through ld.wsl.conf."""
        self.lib("/usr/lib/wsl/lib/libcuda.so.1", "libcuda.so.1")
        self.lib("/usr/lib/wsl/lib/libnvidia-ml.so.1", "libnvidia-ml.so.1")
        self.write("/etc/ld.so.conf.d/ld.wsl.conf", "/usr/lib/wsl/lib\n")
        self.write("/proc/version", "Linux version 5.15.153.1-microsoft-standard-WSL2\n")
        self.ldconfig()
        return self

    def cuda(self, version: str = "13.0.2", cudart: str = "13.0.96", conf: bool = True) -> Tree:
        major = version.split(".")[0]
        mm = ".".join(version.split(".")[:2])
        top = f"/usr/local/cuda-{mm}"
        self.write(f"{top}/version.json", json.dumps({"cuda": {"name": "CUDA SDK", "version": version}}))
        soname = "libcudart.so.11.0" if major == "11" else f"libcudart.so.{major}"
        self.lib(f"{top}/targets/x86_64-linux/lib/libcudart.so.{cudart}", soname, links=(soname, "libcudart.so"))
        self.link("/usr/local/cuda", f"cuda-{mm}")
        if conf:
            self.write(f"/etc/ld.so.conf.d/cuda-{mm}.conf", f"{top}/targets/x86_64-linux/lib\n")
        return self


@pytest.fixture
def tree(tmp_path) -> Tree:
    if CC is None:
        pytest.skip("no C compiler")
    return Tree(tmp_path / "root")


@pytest.fixture
def saved(tree, tmp_path):
    """A saved check of a bare machine: a smoke (--from it, with --force) runs up to where
    TensorRT is needed."""
    tree.base()
    p = tmp_path / "r.json"
    p.write_text(json.dumps(check_json(tree.root)))
    return p


def h100_tree(t: Tree) -> Tree:
    """Modelled on shared/fixtures/h100/survey.txt: two cuDNN 9 copies, a torch venv."""
    t.base().driver().cuda()
    t.lib("/usr/lib/x86_64-linux-gnu/libcudnn.so.9.14.0", "libcudnn.so.9", links=("libcudnn.so.9", "libcudnn.so"))
    site = "/opt/torch/.venv/lib/python3.12/site-packages"
    t.lib("/usr/lib/x86_64-linux-gnu/libcudnn_graph.so.9.14.0", "libcudnn_graph.so.9", links=("libcudnn_graph.so.9",))
    t.lib(f"{site}/nvidia/cudnn/lib/libcudnn.so.9", "libcudnn.so.9")
    t.lib(f"{site}/nvidia/cudnn/lib/libcudnn_graph.so.9", "libcudnn_graph.so.9")
    t.lib(f"{site}/nvidia/cu13/lib/libcudart.so.13", "libcudart.so.13")
    t.lib("/usr/local/cuda-13.0/targets/x86_64-linux/lib/libcufft.so.12.0.0.61", "libcufft.so.12", links=("libcufft.so.12",))
    t.lib(f"{site}/nvidia/cu13/lib/libcufft.so.12", "libcufft.so.12")
    t.dist(site, "nvidia-cudnn-cu13", "9.19.0.56", ("nvidia/cudnn/lib/libcudnn.so.9", "nvidia/cudnn/lib/libcudnn_graph.so.9"))
    t.dist(site, "nvidia-cuda-runtime", "13.0.96", ("nvidia/cu13/lib/libcudart.so.13",))
    # cu13 wheels share nvidia/cu13/lib: only RECORD says libcufft belongs to nvidia-cufft
    t.dist(site, "nvidia-cufft", "12.0.0.61", ("nvidia/cu13/lib/libcufft.so.12",))
    torch_wheel(t, site)
    t.p("/usr/local/nvidia/lib64").mkdir(parents=True, exist_ok=True)
    t.p("/usr/local/nvidia/lib").mkdir(parents=True, exist_ok=True)
    t.ldconfig()
    return t


# torch 2.11.0+cu130 as the H100 host has it (read there with readelf -d): every torch/lib
# object carries this DT_RPATH, and libtorch_cuda.so NEEDs these, in this order.
TORCH_RPATH = "$ORIGIN/../../nvidia/cudnn/lib:$ORIGIN/../../nvidia/nvshmem/lib:$ORIGIN/../../nvidia/nccl/lib:$ORIGIN/../../nvidia/cusparselt/lib:$ORIGIN/../../nvidia/cu13/lib:$ORIGIN"
TORCH_CUDA_NEEDED = (
    "torch/lib/libtorch_nvshmem.so", "torch/lib/libc10_cuda.so", "nvidia/cu13/lib/libcudart.so.13", "nvidia/cu13/lib/libcusparse.so.12",
    "nvidia/cu13/lib/libcufft.so.12", "nvidia/cu13/lib/libcufile.so.0", "nvidia/cusparselt/lib/libcusparseLt.so.0", "nvidia/nccl/lib/libnccl.so.2",
    "nvidia/cu13/lib/libcurand.so.10", "nvidia/cu13/lib/libcublas.so.13", "nvidia/cu13/lib/libcublasLt.so.13", "nvidia/cudnn/lib/libcudnn.so.9",
    "torch/lib/libc10.so", "torch/lib/libtorch_cpu.so",
)  # fmt: skip


def torch_wheel(t: Tree, site: str, missing: tuple[str, ...] = ()) -> None:
    """torch 2.11.0+cu130 and the nvidia wheels it pulls, as far as the loader sees them:
    libtorch_cuda.so with its real NEEDED and RPATH, each NEEDED file where the wheels put it
    (``missing``: left out). torch/lib's own objects are small stand-ins with the real SONAME
    and RPATH (their NEEDED are not judged)."""
    for rel in TORCH_CUDA_NEEDED:
        if rel not in missing and not t.p(f"{site}/{rel}").exists():
            t.lib(f"{site}/{rel}", os.path.basename(rel), rpath=TORCH_RPATH if rel.startswith("torch/") else None)
    needed = [t.p(f"{site}/{rel}") if rel not in missing else t.stub(os.path.basename(rel)) for rel in TORCH_CUDA_NEEDED]
    compile_so(t.p(f"{site}/torch/lib/libtorch_cuda.so"), "libtorch_cuda.so", needed=needed, rpath=TORCH_RPATH, cxx=True)
    t.dist(site, "torch", "2.11.0", ("torch/lib/libtorch_cuda.so",))
    t.dist(site, "nvidia-cublas", "13.1.0.3", ("nvidia/cu13/lib/libcublas.so.13", "nvidia/cu13/lib/libcublasLt.so.13"))
    t.dist(site, "nvidia-curand", "10.4.0.35", ("nvidia/cu13/lib/libcurand.so.10",))
    t.dist(site, "nvidia-cusparse", "12.6.3.3", ("nvidia/cu13/lib/libcusparse.so.12",))


H100_ENV = ["VIRTUAL_ENV=/opt/torch/.venv", "LD_LIBRARY_PATH=/usr/local/nvidia/lib64:/usr/local/nvidia/lib", "CUDA_HOME=/usr/local/cuda", "PATH=/opt/torch/.venv/bin:/usr/bin"]


def run_cli(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """trtdoctor as a whole process, the way a user runs it."""
    e = dict(os.environ if env is None else env)
    e["PYTHONPATH"] = str(REPO) + os.pathsep + e.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "trtdoctor", *args], capture_output=True, text=True, env=e, timeout=timeout)


def check_json(root: Path, *extra: str) -> dict:
    res = run_cli("check", "--json", "--root", str(root), *extra)
    assert res.returncode in (0, 1), res.stderr
    return json.loads(res.stdout)


def ids(report: dict) -> list[str]:
    return [f["id"] for f in report["findings"]]


def json_paths(doc) -> list[tuple]:
    """Every key path in a JSON document (dict keys and list indexes), sorted: where a fuzzer can strike."""
    out, stack = [], [((), doc)]
    while stack:
        where, value = stack.pop()
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        for k, v in items:
            out.append((*where, k))
            stack.append(((*where, k), v))
    return sorted(out, key=lambda p: [str(x) for x in p])


def saved_report(path: Path, findings: list[dict]) -> Path:
    """A minimal saved report (an empty environment) holding ``findings``, written to ``path``."""
    rep = {
        "schema": "trtdoctor.report/1",
        "tool": {"name": "trtdoctor", "version": "0"},
        "target": {"mode": "static", "root": "/"},
        "summary": {"status": "error", "errors": len(findings), "warnings": 0},
        "snapshot": {"env": {"vars": {}}},
        "findings": [{"detail": "", "evidence": [], **f} for f in findings],
    }
    path.write_text(json.dumps(rep))
    return path
