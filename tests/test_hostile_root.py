"""Static mode on hostile roots (issue 16): a root is judged as a chroot sees it, never the
host behind it, and no file in it can make a check hang, eat memory or crash."""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import time
import uuid
from pathlib import Path

import pytest
from conftest import Tree, check_json, compile_so, needs_cc
from hostile import TREES, char_device, crafted_elf, escapes, fifo, passwd, run_measured
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trtdoctor.elf import ElfError, ElfInfo, read_elf
from trtdoctor.loader import LoaderModel
from trtdoctor.target import NotReadable, Target

pytestmark = needs_cc

WALL_S, PEAK_MB = 10.0, 512


@pytest.fixture
def marker() -> str:
    return "mk" + uuid.uuid4().hex


def static(root: Path, **env: str) -> Target:
    return Target(root=root, env=env, live=False)


# --- the contained root ----------------------------------------------------------------------


@pytest.mark.parametrize("build", [escapes, passwd], ids=lambda b: b.__name__)
def test_no_host_data_in_any_output(tmp_path, marker, build):
    tree, args = build(tmp_path, marker)
    for fmt in (["--json"], ["-v"], ["--format", "markdown", "-v"]):
        m = run_measured(["check", "--root", str(tree.root), *fmt, *args])
        assert m.returncode in (0, 1), m.stderr[-3000:]
        assert marker not in m.stdout and marker not in m.stderr, fmt
        if fmt == ["--json"]:
            assert json.loads(m.stdout)["target"]["mode"] == "static"


def test_absolute_symlinks_in_the_image_point_into_the_image(tree):
    """Ubuntu's /usr/local/cuda -> /etc/alternatives/cuda -> /usr/local/cuda-12.8: absolute
    targets mean the image's own files."""
    tree.base().driver().cuda(version="12.8.0", cudart="12.8.90")
    tree.link("/usr/local/cuda", "/etc/alternatives/cuda")
    tree.link("/etc/alternatives/cuda", "/usr/local/cuda-12.8")
    cuda = check_json(tree.root)["snapshot"]["cuda"]
    assert cuda["default"] == "/usr/local/cuda-12.8"
    assert {"name": "/usr/local/cuda", "value": "/usr/local/cuda", "exists": True, "toolkit": "/usr/local/cuda-12.8", "version": "12.8.0"} in cuda["pointers"]


def test_dotdot_above_the_root_stays_at_the_root(tree):
    """A relative link that climbs past the root stops there, as in a chroot."""
    tree.base().driver()
    tree.lib("/usr/lib/x86_64-linux-gnu/libcudnn.so.9.1.0", "libcudnn.so.9")
    tree.link("/usr/lib/x86_64-linux-gnu/libcudnn.so.9", "../" * 40 + "usr/lib/x86_64-linux-gnu/libcudnn.so.9.1.0")
    tree.ldconfig()
    lib = check_json(tree.root, "--env", "LD_LIBRARY_PATH=/../../../../usr/lib/x86_64-linux-gnu")["snapshot"]["libraries"]["libraries"]["libcudnn.so.9"]
    assert lib["resolved_real"] == "/usr/lib/x86_64-linux-gnu/libcudnn.so.9.1.0" and lib["version"] == "9.1.0"
    assert lib["via"] == "LD_LIBRARY_PATH"


def test_path_resolution_is_a_chroot(tmp_path):
    r = tmp_path / "r"
    (r / "a/b").mkdir(parents=True)
    (r / "a/b/f").write_text("in\n")
    (tmp_path / "f").write_text("out\n")
    os.symlink("/a/b", r / "abs")  # absolute: re-rooted
    os.symlink("../../../../../../f", r / "a/climb")  # `..` past the root: clamped
    os.symlink("loop2", r / "loop1")
    os.symlink("loop1", r / "loop2")
    for i in range(41):
        os.symlink(f"c{i + 1}", r / f"c{i}")
    os.symlink("a/b/f", r / "c41")
    t = static(r)
    assert t.path("/abs/f") == r / "a/b/f" and t.read_text("/abs/f") == "in\n"
    assert t.realpath("/abs/../b/f") == "/a/b/f"  # `..` after a link goes up from its target
    assert t.path("/a/climb") == r / "f" and t.read_text("/a/climb") is None
    assert t.path("/../../a/b/f") == r / "a/b/f"
    assert not t.path("/missing/../a/b/f").exists() and not (r / "missing/../a/b/f").exists()  # ENOENT, as the kernel
    assert not t.path("/loop1").exists() and t.read_text("/loop1") is None and t.realpath("/loop1") == "/loop1"
    assert t.read_text("/c2") == "in\n" == (r / "c2").read_text()  # 40 links: followed, as the kernel does
    assert t.read_text("/c1") is None and not (r / "c1").exists()  # 41: ELOOP
    assert t.islink("/abs") and not t.islink("/a/b/f") and t.islink("/loop1")
    assert not t.islink("/a/missing") and not t.islink("/missing/x") and not t.islink("/a/b/f/x")


def test_glob_and_listdir_stay_inside(tmp_path):
    r, out = tmp_path / "r", tmp_path / "out"
    (out / "cuda-x/lib").mkdir(parents=True)
    (out / "cuda-x/lib/libcudart.so.99").write_text("")
    (r / "usr/local/cuda-12.0/lib").mkdir(parents=True)
    (r / "usr/local/cuda-12.0/lib/libcudart.so.12").write_text("")
    os.symlink(str(out / "cuda-x"), r / "usr/local/cuda-13.0")
    os.symlink("../" * 30 + str(out / "cuda-x").lstrip("/"), r / "usr/local/cuda-14.0")
    t = static(r)
    assert t.glob("/usr/local/cuda*/lib/libcudart.so.*") == ["/usr/local/cuda-12.0/lib/libcudart.so.12"]
    assert t.glob("/usr/local/cuda*") == ["/usr/local/cuda-12.0", "/usr/local/cuda-13.0", "/usr/local/cuda-14.0"]  # dangling inside the root, like glob
    assert t.listdir("/usr/local/cuda-12.0/lib") == ["libcudart.so.12"]
    with pytest.raises(FileNotFoundError):
        t.listdir("/usr/local/cuda-13.0")


def test_live_mode_is_untouched():
    """Root "/": paths are the host's, spelled as given, and glob is Python's own."""
    import glob

    t = Target()
    assert t.path("/usr/../etc/./hosts") == Path("/usr/../etc/./hosts")
    assert t.glob("/etc/host*") == sorted(glob.glob("/etc/host*"))
    assert t.realpath("/proc/self") == os.path.realpath("/proc/self")


# --- bounded reads ---------------------------------------------------------------------------


def _alarm(seconds: int):
    def fail(*_):
        raise TimeoutError("blocked")

    signal.signal(signal.SIGALRM, fail)
    signal.alarm(seconds)


def test_special_files_are_never_opened(tmp_path):
    r = tmp_path / "r"
    r.mkdir()
    os.mkfifo(r / "fifo")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(r / "sock"))
    _alarm(5)
    try:
        with pytest.raises(NotReadable, match="FIFO"):
            static(r).read_text("/fifo")
        with pytest.raises(NotReadable, match="socket"):
            static(r).read_text("/sock")
        with pytest.raises(NotReadable, match="character device"):
            Target().read_text("/dev/zero")
        with pytest.raises(ElfError, match="FIFO"):
            read_elf(r / "fifo")
    finally:
        signal.alarm(0)
        sock.close()


def test_text_reads_are_bounded(tmp_path):
    r = tmp_path / "r"
    r.mkdir()
    with open(r / "big", "wb") as fh:
        fh.truncate(2 << 30)
    with pytest.raises(NotReadable, match="larger than"):
        static(r).read_text("/big")
    (r / "small").write_text("x" * 1000)
    assert static(r).read_text("/small") == "x" * 1000


def test_verneed_bomb_ends_in_an_elf_error_at_once(tmp_path):
    p = tmp_path / "libcuda.so.1"
    p.write_bytes(crafted_elf(verneed=(4096, 4096), soname="libcuda.so.1"))
    assert p.stat().st_size < 140_000
    t0 = time.process_time()
    with pytest.raises(ElfError, match="version"):
        read_elf(p)
    assert time.process_time() - t0 < 1


def test_needed_bomb_ends_in_an_elf_error_at_once(tmp_path):
    p = tmp_path / "libcuda.so.1"
    p.write_bytes(crafted_elf(needed=[f"libx{i}.so.1" for i in range(100_000)]))
    t0 = time.process_time()
    with pytest.raises(ElfError, match="more than .* entries"):
        read_elf(p)
    assert time.process_time() - t0 < 1


def test_the_loader_search_is_bounded(tmp_path):
    """A chain of libraries that each NEED a thousand missing sonames, with 300 directories
    to search: 3 million lookups for a model that walks them all."""
    r = tmp_path / "r"
    dirs = [f"/d{i}" for i in range(300)]
    for d in dirs:
        (r / d.lstrip("/")).mkdir(parents=True)
    for i in range(10):
        (r / f"d299/libchain{i}.so").write_bytes(crafted_elf(needed=[f"libchain{i + 1}.so"] + [f"libmiss{i}_{k}.so" for k in range(1000)], soname=f"libchain{i}.so"))
    model = LoaderModel(static(r, LD_LIBRARY_PATH=":".join(dirs)))
    t0 = time.monotonic()
    loaded = model.load("/d299/libchain0.so")
    assert time.monotonic() - t0 < 5
    stopped = [x.res.error for x in loaded.values() if x.res.error and "stopped after" in x.res.error]
    assert stopped, "the search should say it stopped"


# --- whole checks of hostile trees ------------------------------------------------------------


@pytest.mark.parametrize("build", TREES, ids=lambda b: b.__name__)
def test_hostile_tree_is_checked_fast_in_bounded_memory(tmp_path, build):
    tree, args = build(tmp_path, "mk" + uuid.uuid4().hex)
    m = run_measured(["check", "--json", "--root", str(tree.root), *args], timeout=30)
    assert m.returncode in (0, 1), (m.returncode, m.stderr[-3000:])
    assert "internal error" not in m.stderr and "Traceback" not in m.stderr
    assert json.loads(m.stdout)["schema"] == "trtdoctor.report/1"
    assert m.wall < WALL_S, f"took {m.wall:.1f} s"
    assert m.peak_mb < PEAK_MB, f"peak RSS {m.peak_mb:.0f} MB"


def _check(tree: Tree, *args: str) -> dict:
    m = run_measured(["check", "--json", "--root", str(tree.root), *args], timeout=30)
    assert m.returncode in (0, 1), m.stderr[-3000:]
    return json.loads(m.stdout)


def test_a_fifo_is_reported_as_such(tmp_path):
    snap = _check(fifo("/etc/os-release")(tmp_path / "a")[0])["snapshot"]
    assert "/etc/os-release is a FIFO" in snap["os"]["error"]
    lib = _check(fifo("/usr/lib/x86_64-linux-gnu/libcuda.so.1")(tmp_path / "b")[0])["snapshot"]["libraries"]["libraries"]["libcuda.so.1"]
    assert "FIFO" in lib["error"]


def test_a_device_is_reported_as_such(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("making a device node needs root")
    snap = _check(char_device(tmp_path)[0])["snapshot"]
    assert "/etc/os-release is a character device" in snap["os"]["error"]


# --- the ELF reader under fuzzing ----------------------------------------------------------------


@pytest.fixture(scope="module")
def real_so(tmp_path_factory) -> bytes:
    d = tmp_path_factory.mktemp("fuzz-src")
    dep = compile_so(d / "libdep.so.3", "libdep.so.3", source="int dep_v2(void){return 2;}\n", version_script="DEP_2.1 { global: dep_v2; local: *; };\nDEP_2.2 { global: dep_v3; } DEP_2.1;\n", cxx=False)
    lib = compile_so(d / "libthing.so.1", "libthing.so.1", needed=[dep], runpath="$ORIGIN/../lib", source="int dep_v2(void);\nint f(void){return dep_v2();}\n", version_script="T_1 { global: f; local: *; };\n")
    return lib.read_bytes()


def _walked_offsets(data: bytes) -> list[int]:
    """Offsets of the words a loader walks: the ELF header, program headers, the dynamic
    section and the version tables; mutations aimed there reach the deep code."""
    phoff, phnum = struct.unpack_from("<Q", data, 32)[0], struct.unpack_from("<H", data, 56)[0]
    out = list(range(16, 64, 2)) + list(range(phoff, phoff + 56 * phnum, 4))
    for i in range(phnum):
        p_type, _, p_off, _, _, p_filesz = struct.unpack_from("<IIQQQQ", data, phoff + 56 * i)
        if p_type == 2:
            out += list(range(p_off, p_off + p_filesz, 4))
            for k in range(0, p_filesz, 16):
                tag, val = struct.unpack_from("<qQ", data, p_off + k)
                if tag in (0x6FFFFFFC, 0x6FFFFFFE) and val < len(data):
                    out += list(range(val, min(len(data), val + 256), 2))
    return sorted({o for o in out if o + 4 <= len(data)})


@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_elf_ends_in_info_or_error_quickly(tmp_path_factory, real_so, data):
    spots = _walked_offsets(real_so)
    blob = bytearray(real_so)
    for _ in range(data.draw(st.integers(1, 6))):
        at = data.draw(st.sampled_from(spots))
        width = data.draw(st.sampled_from([1, 2, 4]))
        value = data.draw(st.one_of(st.integers(0, 2 ** (8 * width) - 1), st.sampled_from([0, 1, 16, 0xFFFF, 2 ** (8 * width) - 1])))
        blob[at : at + width] = (value % 2 ** (8 * width)).to_bytes(width, "little")
    p = tmp_path_factory.mktemp("mut") / "m.so"
    p.write_bytes(bytes(blob[: data.draw(st.integers(len(blob) // 2, len(blob)))]))
    t0 = time.process_time()
    try:
        info = read_elf(p)
    except ElfError as exc:
        assert str(exc)
    else:
        assert isinstance(info, ElfInfo)
    assert time.process_time() - t0 < 0.5
