"""A small reader of the parts of ELF files the dynamic loader uses.

Only the dynamic section and the symbol-version tables are needed (SONAME, NEEDED,
RPATH/RUNPATH, GLIBC_/GLIBCXX_ requirements and definitions); reading them through the
program headers, as ld.so does, keeps this fast on 1 GB libraries, and every malformed
input ends in one ``ElfError`` with a reason a person can act on.
"""

from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass, field

from .target import NotReadable, open_regular

MACHINES = {3: "x86", 62: "x86-64", 183: "aarch64", 40: "arm", 21: "ppc64", 20: "ppc", 243: "riscv"}
DT_NEEDED, DT_STRTAB, DT_STRSZ, DT_SONAME, DT_RPATH, DT_RUNPATH = 1, 5, 10, 14, 15, 29
DT_VERDEF, DT_VERDEFNUM, DT_VERNEED, DT_VERNEEDNUM = 0x6FFFFFFC, 0x6FFFFFFD, 0x6FFFFFFE, 0x6FFFFFFF
VER_FLG_WEAK = 2


class ElfError(Exception):
    """The file is not a loadable ELF object; the message says why."""


@dataclass
class ElfInfo:
    path: str
    elf_class: int  # 32 or 64
    machine: str
    soname: str | None = None
    needed: list[str] = field(default_factory=list)
    rpath: list[str] | None = None
    runpath: list[str] | None = None
    verneed: dict[str, list[str]] = field(default_factory=dict)  # file -> version names it must define (weak ones left out)
    verdef: list[str] = field(default_factory=list)  # the versions this file defines

    def required_versions(self, prefix: str) -> list[str]:
        return [v for names in self.verneed.values() for v in names if v.startswith(prefix)]


def version_key(name: str) -> tuple[int, ...]:
    """``GLIBC_2.27`` -> (2, 27); names without numbers sort first."""
    m = re.search(r"(\d+(?:\.\d+)*)$", name)
    return tuple(int(x) for x in m.group(1).split(".")) if m else ()


def highest(names: list[str], prefix: str) -> str | None:
    picked = [n for n in names if n.startswith(prefix) and version_key(n)]
    return max(picked, key=version_key) if picked else None


# Bounds on what one file may make us read. Real libraries stay far below them (of 441
# on a Debian host with CUDA 13, the most any needed was 245 reads and 23 KB: libnss3,
# 62 version definitions; libstdc++ 202 reads); a crafted table asks for far more (4096
# requirement records sharing one chain of 4096 cost 85 s of CPU unbounded).
MAX_PHNUM = 4096
MAX_DYNAMIC = 8192  # dynamic entries read before DT_NULL
MAX_NEEDED = 1024
MAX_VERSION_RECORDS = 2048  # version requirements, or definitions, all chains together
MAX_READS = 4096  # about 5 ms of reading
MAX_BYTES = 4 << 20
MAX_STRING = 4096  # PATH_MAX: an RPATH is the longest string we read


class _File:
    """Bounded reads of one file: every read counts against MAX_READS and MAX_BYTES."""

    def __init__(self, fh, size: int):
        self.fh, self.size = fh, size
        self.reads = self.bytes = 0
        self.strings: dict[int, str] = {}

    def at(self, off: int, n: int) -> bytes:
        if off < 0 or n < 0 or off + n > self.size:
            raise ElfError(f"truncated: needs bytes {off}..{off + n}, file has {self.size}")
        self.reads += 1
        self.bytes += n
        if self.reads > MAX_READS or self.bytes > MAX_BYTES:
            raise ElfError(f"its tables ask for more than {MAX_READS} reads or {MAX_BYTES >> 20} MiB (a crafted file?)")
        self.fh.seek(off)
        data = self.fh.read(n)
        if len(data) != n:
            raise ElfError("truncated while reading")
        return data

    def cstr(self, off: int, limit: int) -> str:
        """The NUL-terminated string at ``off`` within ``limit`` bytes (read once)."""
        if off in self.strings:
            return self.strings[off]
        end = min(self.size, off + min(limit, MAX_STRING))
        if off < 0 or off >= end:
            raise ElfError("string outside the file")
        raw = self.at(off, min(end - off, 256))  # names are short; read more only for a long RPATH
        nul = raw.find(b"\0")
        if nul < 0 and end - off > 256:
            raw = self.at(off, end - off)
            nul = raw.find(b"\0")
        if nul < 0:
            raise ElfError("unterminated string")
        self.strings[off] = raw[:nul].decode("utf-8", "replace")
        return self.strings[off]


def read_elf(path: str | os.PathLike, *, nofollow: bool = False) -> ElfInfo:
    """The dynamic-loading facts of the ELF at ``path``; ElfError with a reason for anything
    else, a FIFO or device included (never opened; see target.open_regular)."""
    try:
        fh = open_regular(path, nofollow=nofollow)
    except NotReadable as exc:
        raise ElfError(str(exc)) from None
    except OSError as exc:
        raise ElfError(f"cannot open: {exc.strerror}") from None
    with fh:
        try:
            size = os.fstat(fh.fileno()).st_size
            return _parse(_File(fh, size), str(path))
        except ElfError:
            raise
        except (struct.error, ValueError, OverflowError, OSError, IndexError) as exc:
            raise ElfError(f"malformed ELF: {exc}") from None


def _parse(f: _File, path: str) -> ElfInfo:
    if f.size == 0:
        raise ElfError("zero-length file (file too short)")
    if f.size < 16:
        raise ElfError(f"file too short ({f.size} bytes)")
    ident = f.at(0, 16)
    if ident[:4] != b"\x7fELF":
        raise ElfError("not an ELF file")
    if ident[4] not in (1, 2) or ident[5] not in (1, 2):
        raise ElfError("invalid ELF class or byte order")
    is64 = ident[4] == 2
    e = "<" if ident[5] == 1 else ">"
    hdr_fmt = e + ("HHIQQQIHHHHHH" if is64 else "HHIIIIIHHHHHH")
    hdr_len = struct.calcsize(hdr_fmt)
    if f.size < 16 + hdr_len:
        raise ElfError(f"file too short ({f.size} bytes) for an ELF header")
    (_, machine, _, _, phoff, _, _, _, phentsize, phnum, _, _, _) = struct.unpack(hdr_fmt, f.at(16, hdr_len))
    info = ElfInfo(path, 64 if is64 else 32, MACHINES.get(machine, f"machine {machine}"))
    loads, dynamic = _segments(f, e, is64, phoff, phentsize, phnum)
    if dynamic is None:
        return info

    def to_off(addr: int) -> int:
        for vaddr, off, filesz in loads:
            if vaddr <= addr < vaddr + filesz:
                return off + (addr - vaddr)
        raise ElfError(f"address {addr:#x} is outside the file's segments")

    entries = _dynamic(f, e, is64, dynamic)
    tags: dict[int, int] = {}
    for tag, val in entries:
        tags.setdefault(tag, val)
    if DT_STRTAB not in tags:
        return info
    strtab, strsz = to_off(tags[DT_STRTAB]), tags.get(DT_STRSZ, 4096)

    def s(idx: int) -> str:
        if idx >= strsz:
            raise ElfError("string index outside the string table")
        return f.cstr(strtab + idx, strsz - idx)

    for tag, val in entries:
        if tag == DT_NEEDED:
            info.needed.append(s(val))
        elif tag == DT_SONAME:
            info.soname = s(val)
        elif tag == DT_RPATH:
            info.rpath = [p for p in s(val).split(":") if p]
        elif tag == DT_RUNPATH:
            info.runpath = [p for p in s(val).split(":") if p]
    if DT_VERNEED in tags:
        info.verneed = _verneed(f, e, to_off(tags[DT_VERNEED]), tags.get(DT_VERNEEDNUM, 0), s)
    if DT_VERDEF in tags:
        info.verdef = _verdef(f, e, to_off(tags[DT_VERDEF]), tags.get(DT_VERDEFNUM, 0), s)
    return info


def _segments(f: _File, e: str, is64: bool, phoff: int, phentsize: int, phnum: int) -> tuple[list[tuple[int, int, int]], tuple[int, int] | None]:
    """The PT_LOAD segments (vaddr, offset, filesz) and the PT_DYNAMIC one (offset, filesz)."""
    ph_fmt = e + ("IIQQQQQQ" if is64 else "IIIIIIII")
    ph_len = struct.calcsize(ph_fmt)
    if phnum and phentsize < ph_len:
        raise ElfError("bad program header size")
    if phnum > MAX_PHNUM:
        raise ElfError(f"more than {MAX_PHNUM} program headers")
    loads, dynamic = [], None
    for i in range(phnum):
        fields = struct.unpack(ph_fmt, f.at(phoff + i * phentsize, ph_len))
        if is64:
            p_type, _, p_off, p_vaddr, _, p_filesz, _, _ = fields
        else:
            p_type, p_off, p_vaddr, _, p_filesz, _, _, _ = fields
        if p_type == 1:
            loads.append((p_vaddr, p_off, p_filesz))
        elif p_type == 2:
            dynamic = (p_off, p_filesz)
    return loads, dynamic


def _dynamic(f: _File, e: str, is64: bool, dynamic: tuple[int, int]) -> list[tuple[int, int]]:
    """The dynamic entries up to DT_NULL, read at once; more than MAX_DYNAMIC, or more than
    MAX_NEEDED DT_NEEDED among them, is an error."""
    dyn_fmt = e + ("qQ" if is64 else "iI")
    dyn_len = struct.calcsize(dyn_fmt)
    count = dynamic[1] // dyn_len
    raw = f.at(dynamic[0], min(count, MAX_DYNAMIC) * dyn_len)
    entries = []
    for tag, val in struct.iter_unpack(dyn_fmt, raw):
        if tag == 0:
            break
        entries.append((tag, val))
    else:
        if count > MAX_DYNAMIC:
            raise ElfError(f"its dynamic section has more than {MAX_DYNAMIC} entries")
    if sum(1 for tag, _ in entries if tag == DT_NEEDED) > MAX_NEEDED:
        raise ElfError(f"more than {MAX_NEEDED} DT_NEEDED entries")
    return entries


def _verneed(f: _File, e: str, off: int, num: int, s) -> dict[str, list[str]]:
    """file -> the version names it must define (weak ones left out: ld.so lets them be missing)."""
    if num > MAX_NEEDED:
        raise ElfError(f"more than {MAX_NEEDED} version-requirement entries")
    out: dict[str, list[str]] = {}
    records = 0
    for _ in range(num):
        _, cnt, vn_file, vn_aux, vn_next = struct.unpack(e + "HHIII", f.at(off, 16))
        records += cnt
        if records > MAX_VERSION_RECORDS:
            raise ElfError(f"more than {MAX_VERSION_RECORDS} version requirements")
        names, aux = [], off + vn_aux
        for _ in range(cnt):
            _, vna_flags, _, vna_name, vna_next = struct.unpack(e + "IHHII", f.at(aux, 16))
            if not vna_flags & VER_FLG_WEAK:
                names.append(s(vna_name))
            if not vna_next:
                break
            aux += vna_next
        out[s(vn_file)] = names
        if not vn_next:
            break
        off += vn_next
    return out


def _verdef(f: _File, e: str, off: int, num: int, s) -> list[str]:
    """The versions the file defines (its VER_FLG_BASE record names the file itself)."""
    if num > MAX_VERSION_RECORDS:
        raise ElfError(f"more than {MAX_VERSION_RECORDS} version definitions")
    out = []
    for _ in range(num):
        _, flags, _, cnt, _, vd_aux, vd_next = struct.unpack(e + "HHHHIII", f.at(off, 20))
        if cnt and not flags & 1:
            (vda_name, _) = struct.unpack(e + "II", f.at(off + vd_aux, 8))
            out.append(s(vda_name))
        if not vd_next:
            break
        off += vd_next
    return out
