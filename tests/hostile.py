"""Hostile roots, for the tests (test_hostile_root.py) and scripts/bench_hostile.py.

Each builder makes a real tree (a C library and an ld.so.cache from ldconfig, see
conftest.Tree.base) with one kind of attack in it and returns the extra ``check`` arguments
it needs. ``run_measured`` runs ``trtdoctor check`` on one as a whole process and reports
its wall time and peak memory."""

from __future__ import annotations

import json
import os
import stat
import struct
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from conftest import REPO, Tree, compile_so

CLIMB = "../" * 40  # more `..` than any temporary directory is deep: reaches the host's /


# --- crafted ELF objects ------------------------------------------------------------------


def crafted_elf(*, needed: list[str] = (), verneed: tuple[int, int] | None = None, soname: str | None = None) -> bytes:
    """A 64-bit x86-64 shared object made by hand, with only what the dynamic loader reads.

    ``needed``: its DT_NEEDED names. ``verneed=(files, versions)``: a version-requirement
    table of ``files`` records that all share one chain of ``versions`` records — small on
    disk, ``files * versions`` records for a reader that walks every chain."""
    strtab = bytearray(b"\0")

    def s(text: str) -> int:
        strtab.extend(text.encode() + b"\0")
        return len(strtab) - len(text) - 1

    dyn = [(1, s(n)) for n in needed]  # DT_NEEDED
    if soname:
        dyn.append((14, s(soname)))
    lib, ver = s("libc.so.6"), s("GLIBC_2.2.5")
    n_dyn = len(dyn) + (5 if verneed else 3)  # + STRTAB, STRSZ (VERNEED, VERNEEDNUM) first, NULL last
    dyn_off = 64 + 2 * 56
    str_off = dyn_off + 16 * n_dyn
    vn_off = str_off + len(strtab)
    files, versions = verneed or (0, 0)
    chain_off = vn_off + 16 * files
    vn = b"".join(struct.pack("<HHIII", 1, versions, lib, chain_off - (vn_off + 16 * i), 16) for i in range(files))
    chain = b"".join(struct.pack("<IHHII", 0, 0, 0, ver, 16 if i < versions - 1 else 0) for i in range(versions))
    dyn = [(5, str_off), (10, len(strtab))] + ([(0x6FFFFFFE, vn_off), (0x6FFFFFFF, files)] if verneed else []) + dyn + [(0, 0)]
    size = chain_off + len(chain)
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    header = ident + struct.pack("<HHIQQQIHHHHHH", 3, 62, 1, 0, 64, 0, 0, 64, 56, 2, 64, 0, 0)
    phdrs = struct.pack("<IIQQQQQQ", 1, 5, 0, 0, 0, size, size, 0x1000) + struct.pack("<IIQQQQQQ", 2, 6, dyn_off, dyn_off, dyn_off, 16 * n_dyn, 16 * n_dyn, 8)
    body = header + phdrs + b"".join(struct.pack("<qQ", t, v) for t, v in dyn) + bytes(strtab) + vn + chain
    assert len(body) == size
    return body


# --- the trees ------------------------------------------------------------------------------


def _put(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def _fifo(t: Tree, path: str) -> None:
    p = t.p(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    if p.exists() or p.is_symlink():
        p.unlink()
    os.mkfifo(p)


def _replace_dir(t: Tree, path: str, target: str) -> None:
    p = t.p(path)
    if p.is_dir() and not p.is_symlink():
        for f in sorted(p.rglob("*"), reverse=True):
            f.unlink() if not f.is_dir() or f.is_symlink() else f.rmdir()
        p.rmdir()
    t.link(path, target)


def escapes(base: Path, marker: str) -> tuple[Tree, list[str]]:
    """Every kind of way out of the root, each leading to host files that carry ``marker``
    (in their names or their text). A chroot sees none of them; neither may a check.
    The root itself never spells the marker (not in a file, a name or a link's text): host
    symlinks like ``host/drv -> <marker>-drv`` put it where only following them finds it."""
    host = base / "host"
    t = Tree(base / "root").base()
    for name in ("libcuda.so.1", "libnvidia-ml.so.1"):
        compile_so(host / f"{marker}-drv" / name, name)
    for name in ("drv", "cuda", "site"):
        os.symlink(f"{marker}-{name}", host / name)
    # absolute symlinks and `..` chains to single files
    _put(host / "os-release", f'ID={marker}\nVERSION_ID="1"\nPRETTY_NAME="{marker}"\n')
    t.link("/etc/os-release", str(host / "os-release"))
    _put(host / "version", f"Linux version 6.0-{marker} (x@y)\n")
    t.link("/proc/version", CLIMB + str(host / "version").lstrip("/"))
    t.link("/usr/lib/x86_64-linux-gnu/libcuda.so.1", str(host / "drv/libcuda.so.1"))
    t.link("/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1", CLIMB + str(host / "drv/libnvidia-ml.so.1").lstrip("/"))
    _put(host / "status", f"Package: libnvinfer10\nVersion: 10.0.0-{marker}\nArchitecture: amd64\nStatus: install ok installed\n")
    t.link("/var/lib/dpkg/status", str(host / "status"))
    # ld.so.conf: a symlinked .d directory, symlinked include files, an include glob and a directory out of the root
    _put(host / "confd/x.conf", f"/opt/{marker}-confd\n")
    _put(host / "a.conf", f"/opt/{marker}-a\n")
    _put(host / "b.conf", f"/opt/{marker}-b\n")
    _put(host / "inc/c.conf", f"/opt/{marker}-inc\n")
    compile_so(host / f"{marker}-conflib/libcudnn_ops.so.9.1.0", "libcudnn_ops.so.9")
    (host / "conflib").mkdir(parents=True, exist_ok=True)
    os.symlink(f"../{marker}-conflib/libcudnn_ops.so.9.1.0", host / "conflib/libcudnn_ops.so.9")
    t.write("/etc/ld.so.conf", f"include /etc/ld.so.conf.d/*.conf\ninclude /etc/conf2/*.conf\ninclude /{CLIMB}{str(host).lstrip('/')}/inc/*.conf\n/{CLIMB}{str(host).lstrip('/')}/conflib\n")
    _replace_dir(t, "/etc/ld.so.conf.d", str(host / "confd"))
    t.link("/etc/conf2/a.conf", str(host / "a.conf"))
    t.link("/etc/conf2/b.conf", CLIMB + str(host / "b.conf").lstrip("/"))
    # an ld.so.cache of the host's
    other = Tree(base / "host-cache-root")
    other.lib(f"/{marker}lib/libcuda.so.1", "libcuda.so.1")
    other.write("/etc/ld.so.conf", f"/{marker}lib\n")
    other.ldconfig()
    t.p("/etc/ld.so.cache").unlink()
    t.link("/etc/ld.so.cache", str(other.p("/etc/ld.so.cache")))
    # directories: a toolkit, GPUs in /proc, /dev, a site-packages and a dist-info
    _put(host / f"{marker}-cuda/version.json", json.dumps({"cuda": {"name": "CUDA SDK", "version": "12.9.0"}}))
    t.link("/usr/local/cuda-12.9", str(host / "cuda"))
    _put(host / "gpu/information", f"Model: \t\t NVIDIA H100 {marker}\nGPU UUID: \t GPU-0\n")
    t.link("/proc/driver/nvidia/gpus/0000:00:06.0", str(host / "gpu"))
    _put(host / f"dev/nvidia-{marker}", "")
    t.link("/dev", str(host / "dev"))
    dist = f"Metadata-Version: 2.1\nName: {{}}\nVersion: 1.0.0+{marker}\n"
    _put(host / f"{marker}-site/tensorrt-10.0.0.dist-info/METADATA", dist.format("tensorrt"))
    t.write("/venv/pyvenv.cfg", "home = /usr/bin\nversion = 3.12.3\n")
    t.link("/venv/lib/python3.12/site-packages", str(host / "site"))
    _put(host / "ort.dist-info/METADATA", dist.format("onnxruntime-gpu"))
    t.link("/usr/local/lib/python3.12/dist-packages/onnxruntime_gpu-1.20.0.dist-info", str(host / "ort.dist-info"))
    t.write("/usr/bin/python3.12", "")
    _put(host / f"{marker}-pth/pycuda-2024.1.dist-info/METADATA", dist.format("pycuda"))
    os.symlink(f"{marker}-pth", host / "pth")
    t.write("/usr/lib/python3/dist-packages/x.pth", f"/{CLIMB}{str(host).lstrip('/')}/pth\n")
    # values of the judged environment that climb out of the root
    up = "/" + CLIMB + str(host).lstrip("/")
    (host / "envlib").mkdir()
    for name, real in (("libcudnn.so.9", "libcudnn.so.9.2.0"), ("libnvidia-ml.so.1", "libnvidia-ml.so.580.1")):
        compile_so(host / f"{marker}-envreal" / real, name)
        os.symlink(f"../{marker}-envreal/{real}", host / "envlib" / name)
    _put(host / f"{marker}-home/version.json", json.dumps({"cuda": {"name": "CUDA SDK", "version": "12.8.0"}}))
    os.symlink(f"{marker}-home", host / "cudahome")
    _put(host / f"{marker}-conda/conda-meta/cuda-nvcc-12.4.131-0.json", "{}")
    _put(host / f"{marker}-conda/lib/python3.11/site-packages/tensorflow-2.17.1.dist-info/METADATA", dist.format("tensorflow"))
    os.symlink(f"{marker}-conda", host / "conda")
    _put(host / f"{marker}-nvcc/version.json", json.dumps({"cuda": {"name": "CUDA SDK", "version": "12.6.0"}}))
    _put(host / f"{marker}-nvcc/bin/nvcc", "#!/bin/sh\n").chmod(0o755)
    (host / "bin").mkdir()
    os.symlink(f"../{marker}-nvcc/bin/nvcc", host / "bin/nvcc")
    _put(host / f"{marker}-pp/torch-2.5.0.dist-info/METADATA", dist.format("torch"))
    os.symlink(f"{marker}-pp", host / "pp")
    env = [f"LD_LIBRARY_PATH={up}/envlib", f"CUDA_HOME={up}/cudahome", f"CONDA_PREFIX={up}/conda", f"PATH={up}/bin:/usr/bin", "VIRTUAL_ENV=/venv", f"PYTHONPATH={up}/pp", f"LD_PRELOAD={up}/envlib/libcudnn.so.9"]
    return t, [a for e in env for a in ("--env", e)]


def passwd(base: Path, marker: str) -> tuple[Tree, list[str]]:
    """The review's first finding: ld.so.conf a symlink to the host's /etc/passwd."""
    _put(base / "host/passwd", f"root:x:0:0:{marker}:/root:/bin/bash\n")
    t = Tree(base / "root").base()
    t.link("/etc/ld.so.conf", str(base / "host/passwd"))
    return t, []


def fifo(path: str):
    def build(base: Path, marker: str = "") -> tuple[Tree, list[str]]:
        t = Tree(base / "root").base().driver()
        _fifo(t, path)
        return t, []

    build.__name__ = "fifo:" + path
    return build


def fifos_everywhere(base: Path, marker: str = "") -> tuple[Tree, list[str]]:
    """A FIFO at every kind of file a probe reads."""
    t = Tree(base / "root").base().driver().cuda()
    site = "/venv/lib/python3.12/site-packages"
    t.write("/venv/pyvenv.cfg", "home = /usr/bin\nversion = 3.12.3\n")
    t.dist(site, "tensorrt", "10.13.0.35")
    t.dist(site, "nvidia-cudnn-cu12", "9.1.0.70")
    t.write("/usr/bin/python3.12", "")
    for p in (
        "/proc/version",
        "/proc/1/cgroup",
        "/proc/driver/nvidia/version",
        "/sys/module/nvidia/version",
        "/usr/local/cuda-13.0/version.json",
        "/etc/ld.so.conf.d/x86_64-linux-gnu.conf",
        "/var/lib/dpkg/status",
        "/usr/include/NvInferVersion.h",
    ):
        _fifo(t, p)
    for p in (
        f"{site}/tensorrt-10.13.0.35.dist-info/METADATA",
        f"{site}/nvidia_cudnn_cu12-9.1.0.70.dist-info/RECORD",
        "/venv/pyvenv.cfg",
        f"{site}/x.pth",
        "/usr/local/cuda-13.0/targets/x86_64-linux/lib/libcudart.so.13.0.96",
    ):
        _fifo(t, p)
    return t, ["--env", "VIRTUAL_ENV=/venv"]


def char_device(base: Path, marker: str = "") -> tuple[Tree, list[str]]:
    """os-release pointing at /dev/zero: the host's (before containment), or a device node
    made inside the root when we may (root): neither may be read."""
    t = Tree(base / "root").base()
    t.link("/etc/os-release", "/dev/zero")
    if os.geteuid() == 0:
        t.p("/dev").mkdir(exist_ok=True)
        os.mknod(t.p("/dev/zero"), stat.S_IFCHR | 0o666, os.makedev(1, 5))
    return t, []


def sparse_os_release(base: Path, marker: str = "") -> tuple[Tree, list[str]]:
    t = Tree(base / "root").base()
    with open(t.p("/etc/os-release"), "wb") as fh:
        fh.truncate(2 << 30)  # 2 GiB of holes: costs no disk
    return t, []


def verneed_bomb(base: Path, marker: str = "") -> tuple[Tree, list[str]]:
    """A 135 KB libcuda.so.1 whose 4096 version-requirement records share one chain of 4096."""
    t = Tree(base / "root").base().driver()
    lib = t.p("/usr/lib/x86_64-linux-gnu/libcuda.so.580.159.04")
    lib.unlink()
    _put(lib, crafted_elf(verneed=(4096, 4096), soname="libcuda.so.1"))
    return t, []


def needed_bomb(base: Path, marker: str = "") -> tuple[Tree, list[str]]:
    """A libcuda.so.1 with 100,000 DT_NEEDED entries, and 200 directories on LD_LIBRARY_PATH."""
    t = Tree(base / "root").base().driver()
    lib = t.p("/usr/lib/x86_64-linux-gnu/libcuda.so.580.159.04")
    lib.unlink()
    _put(lib, crafted_elf(needed=[f"libx{i}.so.1" for i in range(100_000)], soname="libcuda.so.1"))
    dirs = [f"/opt/l{i}" for i in range(200)]
    for d in dirs:
        t.p(d).mkdir(parents=True)
    return t, ["--env", "LD_LIBRARY_PATH=" + ":".join(dirs)]


def symlink_loops(base: Path, marker: str = "") -> tuple[Tree, list[str]]:
    """Links that point at each other, and a chain longer than the kernel follows."""
    t = Tree(base / "root").base().driver()
    t.link("/etc/os-release", "/etc/os-release-b")
    t.link("/etc/os-release-b", "os-release")
    for i in range(60):
        t.link(f"/chain/{i}", f"/chain/{i + 1}")
    t.write("/chain/60/version.json", json.dumps({"cuda": {"version": "12.0.0"}}))
    t.link("/usr/local/cuda-12.0", "/chain/0")
    t.link("/usr/lib/x86_64-linux-gnu/libcudnn.so.9", "libcudnn.so.9")
    return t, ["--env", "LD_LIBRARY_PATH=/chain/0:/usr/lib/x86_64-linux-gnu/libcudnn.so.9"]


def conf_bomb(base: Path, marker: str = "") -> tuple[Tree, list[str]]:
    """ld.so.conf.d naming 100,000 directories, and an include glob matching 2,000 files."""
    t = Tree(base / "root").base().driver()
    t.write("/etc/ld.so.conf.d/zz-big.conf", "".join(f"/opt/c{i}\n" for i in range(100_000)))
    for i in range(2000):
        t.write(f"/etc/many/{i}.conf", f"/opt/m{i}\n")
    t.write("/etc/ld.so.conf", "include /etc/many/*.conf\ninclude /etc/ld.so.conf.d/*.conf\n")
    return t, []


def env_bomb(base: Path, marker: str = "") -> tuple[Tree, list[str]]:
    """An environment file with LD_LIBRARY_PATH of 4,000 entries (200 real directories),
    LD_PRELOAD of 1,000 and a PATH entry of 100,000 names. Kept at 4,000 so the 10 s bound
    holds on a loaded CI machine: 60,000 entries (just under --env-file's 1 MiB) took 6.7 s
    there, most of it stat()ing and searching each directory."""
    t = Tree(base / "root").base().driver()
    dirs = [f"/opt/l{i}" for i in range(4000)]
    for d in dirs[:200]:
        t.p(d).mkdir(parents=True)
    env = base / "env"
    env.write_text(f"LD_LIBRARY_PATH={':'.join(dirs)}\nLD_PRELOAD={':'.join(d + '/libx.so' for d in dirs[:1000])}\nPATH={'/x' * 100_000}:/usr/bin\n")
    return t, ["--env-file", str(env)]


TREES = [
    escapes,
    passwd,
    fifo("/usr/lib/x86_64-linux-gnu/libcuda.so.1"),
    fifo("/etc/os-release"),
    fifo("/etc/ld.so.cache"),
    fifos_everywhere,
    char_device,
    sparse_os_release,
    verneed_bomb,
    needed_bomb,
    conf_bomb,
    env_bomb,
    symlink_loops,
]


# --- running a check ------------------------------------------------------------------------


@dataclass
class Measured:
    returncode: int | None  # None: killed at the timeout
    stdout: str
    stderr: str
    wall: float
    peak_mb: float


# Starts the check and waits for it with wait4, whose rusage is that one child's. From a small
# launcher: a child's peak RSS starts at its parent's size when forked (Linux keeps the
# forked copy's high-water mark across exec), so measured from pytest it would read 100 MB
# or more; from here about 10 MB. RLIMIT_AS caps the check so that one reading gigabytes
# fails instead of the machine.
LAUNCHER = r"""
import json, os, resource, subprocess, sys, time
timeout, report, argv = float(sys.argv[1]), sys.argv[2], sys.argv[3:]
def guard():
    resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))
t0 = time.monotonic()
proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, preexec_fn=guard)
code = None
while True:
    pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
    if pid:
        code = os.waitstatus_to_exitcode(status)
        break
    if time.monotonic() - t0 > timeout:
        proc.kill()
        _, status, usage = os.wait4(proc.pid, 0)
        break
    time.sleep(0.005)
proc.returncode = -9 if code is None else code  # reaped here: Popen must not wait again
with open(report, "w") as fh:
    json.dump({"code": code, "wall": time.monotonic() - t0, "peak_kb": usage.ru_maxrss}, fh)
"""


def run_measured(args: list[str], timeout: float = 20.0) -> Measured:
    """``python -m trtdoctor *args`` with its wall time and peak RSS; killed at ``timeout``."""
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    with tempfile.TemporaryDirectory() as tmp:
        out, err, report = (Path(tmp) / n for n in ("out", "err", "report.json"))
        with open(out, "wb") as o, open(err, "wb") as e:
            argv = [sys.executable, "-c", LAUNCHER, str(timeout), str(report), sys.executable, "-m", "trtdoctor", *args]
            subprocess.run(argv, stdout=o, stderr=e, stdin=subprocess.DEVNULL, env=env, timeout=timeout + 30, check=True)
        r = json.loads(report.read_text())
        return Measured(r["code"], out.read_text(errors="replace"), err.read_text(errors="replace"), r["wall"], r["peak_kb"] / 1024)
