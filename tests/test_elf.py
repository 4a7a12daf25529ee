"""The ELF reader on real compiled objects, and on random and truncated bytes."""

import pytest
from conftest import compile_so, needs_cc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trtdoctor.elf import ElfError, highest, read_elf

pytestmark = needs_cc


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    d = tmp_path_factory.mktemp("elf")
    dep = compile_so(d / "libdep.so.3", "libdep.so.3", source="int dep_v2(void){return 2;}\n", version_script="DEP_2.1 { global: dep_v2; local: *; };\n")
    lib = compile_so(d / "libthing.so.1.2.3", "libthing.so.1", needed=[dep], runpath="$ORIGIN/../lib:/opt/x", source="int dep_v2(void);\nint f(void){return dep_v2();}\n")
    return lib


def test_reads_soname_needed_runpath_and_versions(sample):
    info = read_elf(sample)
    assert info.soname == "libthing.so.1"
    assert info.needed == ["libdep.so.3", "libc.so.6"]  # linked the ordinary way, as every real library
    assert info.runpath == ["$ORIGIN/../lib", "/opt/x"] and info.rpath is None
    assert info.verneed == {"libdep.so.3": ["DEP_2.1"], "libc.so.6": ["GLIBC_2.2.5"]}
    assert info.machine == "x86-64" and info.elf_class == 64


def test_reads_real_glibc_definitions():
    info = read_elf("/lib/x86_64-linux-gnu/libc.so.6")
    top = highest(info.verdef, "GLIBC_2")
    assert top is not None and top.startswith("GLIBC_2.")


@pytest.mark.parametrize(
    "content,reason",
    [(b"", "zero-length"), (b"\x7fEL", "too short"), (b"#!/bin/sh\necho hi\n" * 4, "not an ELF"), (b"\x7fELF\x03\x01" + b"\0" * 60, "invalid ELF class")],
)
def test_bad_files_have_a_reason(tmp_path, content, reason):
    p = tmp_path / "libbad.so.1"
    p.write_bytes(content)
    with pytest.raises(ElfError, match=reason):
        read_elf(p)


def test_unreadable_path(tmp_path):
    with pytest.raises(ElfError, match="cannot open"):
        read_elf(tmp_path / "missing.so")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(min_value=0, max_value=20000), flips=st.lists(st.tuples(st.integers(0, 20000), st.integers(0, 255)), max_size=8))
def test_truncated_and_corrupted_never_raise_anything_else(tmp_path_factory, sample, cut, flips):
    data = bytearray(sample.read_bytes()[:cut])
    for pos, val in flips:
        if pos < len(data):
            data[pos] = val
    p = tmp_path_factory.mktemp("fuzz") / "x.so"
    p.write_bytes(bytes(data))
    try:
        info = read_elf(p)
    except ElfError as exc:
        assert str(exc)
    else:
        assert info.elf_class in (32, 64)


@settings(max_examples=300, deadline=None)
@given(blob=st.binary(max_size=400))
def test_random_bytes_after_an_elf_magic(tmp_path_factory, blob):
    p = tmp_path_factory.mktemp("rand") / "r.so"
    p.write_bytes(b"\x7fELF" + blob)
    try:
        read_elf(p)
    except ElfError:
        pass
