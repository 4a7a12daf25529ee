"""A model of glibc's dynamic loader search, run on a judged file system.

Order (glibc ``_dl_map_object``): LD_PRELOAD, the loading object's DT_RPATH and then its
loaders' (only when it has no DT_RUNPATH), LD_LIBRARY_PATH, its DT_RUNPATH,
``/etc/ld.so.cache``, then the default directories of the root's glibc build. The program
interpreter and libc.so.6 are already in every process, so they come from the program's
search, never a library's RPATH. A candidate of the wrong ELF class or machine is skipped, as ld.so
does; a candidate that is not a valid ELF (zero-length, truncated) stops the search with
ld.so's own error. ``ld.so.conf`` only matters through the cache; we read it to notice a
cache that is missing or stale.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field

from .elf import ElfError, ElfInfo, read_elf
from .target import PACKAGE_DB_MAX, NotReadable, Target

TRIPLETS = {"x86-64": "x86_64-linux-gnu", "aarch64": "aarch64-linux-gnu"}
# ld.so.cache entry flags for the 64-bit libc6 ABI of each machine (glibc ldconfig.h).
CACHE_FLAGS = {"x86-64": 0x0303, "aarch64": 0x0A03}


# The program interpreter (PT_INTERP) every dynamically linked program on the machine runs
# under: ld.so is always loaded, so NEEDED ld-linux-* matches it by soname and is never searched.
INTERPRETERS = {"x86-64": ("ld-linux-x86-64.so.2", "/lib64/ld-linux-x86-64.so.2"), "aarch64": ("ld-linux-aarch64.so.1", "/lib/ld-linux-aarch64.so.1")}
# Loaded by the program (python) before any library is: a later NEEDED matches it by soname,
# so the requester's RPATH/RUNPATH never matter for it.
PROGRAM_SONAMES = ("libc.so.6",)


def default_dirs(machine: str) -> list[str]:
    """Every directory some glibc build searches by default (places to look for copies)."""
    triplet = TRIPLETS.get(machine, "x86_64-linux-gnu")
    return [f"/lib/{triplet}", f"/usr/lib/{triplet}", "/lib64", "/usr/lib64", "/lib", "/usr/lib"]


def system_dirs(target: Target, machine: str) -> list[str]:
    """The default directories of this root's own glibc build (``ld.so --help``): Debian and
    Ubuntu build it multiarch (/lib/<triplet>, /usr/lib/<triplet>, /lib, /usr/lib); Fedora,
    RHEL and SUSE with /lib64, /usr/lib64."""
    triplet = TRIPLETS.get(machine, "x86_64-linux-gnu")
    if target.path(f"/lib/{triplet}").is_dir() or target.path(f"/usr/lib/{triplet}").is_dir():
        return [f"/lib/{triplet}", f"/usr/lib/{triplet}", "/lib", "/usr/lib"]
    return ["/lib64", "/usr/lib64"]


# Bounds on what ld.so.conf may make us read: real ones name a few dozen directories.
MAX_CONF_FILES = 1000
MAX_CONF_DIRS = 4096
CACHE_ENTRIES_MAX = 200_000  # a full distribution's cache has a few thousand


def parse_ld_so_conf(target: Target, conf: str = "/etc/ld.so.conf") -> list[str]:
    """Directories named by ld.so.conf and its ``include`` globs, in order, without repeats.
    Every file and glob is read inside the root; more than MAX_CONF_FILES files or
    MAX_CONF_DIRS directories is NotReadable (a crafted tree), not minutes of work."""
    dirs: dict[str, None] = {}
    seen_files: set[str] = set()

    def visit(path: str) -> None:
        if path in seen_files:
            return
        seen_files.add(path)
        if len(seen_files) > MAX_CONF_FILES:
            raise NotReadable(f"{conf} includes more than {MAX_CONF_FILES} files (not read further)")
        text = target.read_text(path)
        if text is None:
            return
        for raw in text.splitlines():
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            if line.startswith("include"):
                for pattern in line.split()[1:]:
                    if not pattern.startswith("/"):
                        pattern = os.path.join(os.path.dirname(path), pattern)
                    for hit in target.glob(pattern):
                        visit(hit)
            elif line.startswith("hwcap"):
                continue
            else:
                dirs[line.split("=", 1)[0].rstrip("/") or "/"] = None
                if len(dirs) > MAX_CONF_DIRS:
                    raise NotReadable(f"{conf} and its includes name more than {MAX_CONF_DIRS} directories (not read further)")

    visit(conf)
    return list(dirs)


def read_ld_so_cache(target: Target, machine: str) -> dict[str, list[str]] | None:
    """soname -> paths from /etc/ld.so.cache (new format), or None if absent/unreadable.
    NotReadable when it is not a regular file or is over PACKAGE_DB_MAX."""
    data = target.read_bytes("/etc/ld.so.cache", PACKAGE_DB_MAX)
    if data is None:
        return None
    magic = b"glibc-ld.so.cache1.1"
    start = data.find(magic)
    if start < 0:
        return None
    try:
        nlibs, _strlen = struct.unpack_from("<II", data, start + 20)
        entries_off = start + 48
        if nlibs > CACHE_ENTRIES_MAX or entries_off + 24 * nlibs > len(data):
            return None  # not a cache ld.so could use either
        want = CACHE_FLAGS.get(machine)
        out: dict[str, list[str]] = {}
        for i in range(nlibs):
            flags, key, value, _osv, _hw = struct.unpack_from("<iIIIQ", data, entries_off + 24 * i)
            if want is not None and flags != want:
                continue
            out.setdefault(_cstr(data, start + key), []).append(_cstr(data, start + value))
        return out
    except (struct.error, ValueError, UnicodeDecodeError):
        return None


def _cstr(data: bytes, off: int) -> str:
    """The NUL-terminated string at ``off``, at most PATH_MAX long (ValueError otherwise)."""
    end = data.index(b"\0", off, off + 4096)
    return data[off:end].decode()


@dataclass
class Step:
    where: str
    via: str
    outcome: str  # "found", "absent", "skipped: <why>", "broken: <why>"


@dataclass
class Resolution:
    soname: str
    path: str | None = None  # as the judged system spells it
    via: str | None = None
    error: str | None = None  # ld.so's own wording when it fails
    steps: list[Step] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return self.path is not None and self.error is None


@dataclass
class Loaded:
    """One object of a dlopen's dependency tree: how it resolved, and who asked first."""

    res: Resolution
    requester: str


def expand_origin(entry: str, requester_path: str, machine: str) -> str:
    origin = os.path.dirname(requester_path)
    lib = "lib64" if machine in ("x86-64", "aarch64") else "lib"
    for tok, val in (("$ORIGIN", origin), ("${ORIGIN}", origin), ("$LIB", lib), ("${LIB}", lib)):
        entry = entry.replace(tok, val)
    return os.path.normpath(entry)


# Candidate files one model may try (a directory x a soname, remembered answers included):
# a healthy root needs a few thousand; the NEEDED lists times search directories of a crafted
# tree can ask for millions (100,000 NEEDED x 200 directories took 137 s).
MAX_TRIES = 50_000


class _Spent(Exception):
    """The model's budget of tries is used up."""


class LoaderModel:
    def __init__(self, target: Target, machine: str = "x86-64", elf_class: int = 64):
        self.target = target
        self.machine, self.elf_class = machine, elf_class
        self.cache = read_ld_so_cache(target, machine)
        self.conf_dirs = parse_ld_so_conf(target)
        env = target.env
        self.ld_library_path = [p for p in env.get("LD_LIBRARY_PATH", "").split(":") if p]
        self.ld_preload = [p for p in env.get("LD_PRELOAD", "").replace(" ", ":").split(":") if p]
        self.system_dirs = system_dirs(target, machine)
        self._elf_cache: dict[str, ElfInfo | ElfError] = {}
        self._exists: dict[str, bool] = {}
        self._resolved: dict[tuple, Resolution] = {}
        self._preloads: dict[str, str] | None = None
        self.tries = 0

    def elf(self, path: str) -> ElfInfo | ElfError:
        """Read (and remember) the ELF at a judged-system path."""
        if path not in self._elf_cache:
            try:
                self._elf_cache[path] = read_elf(self.target.path(path), nofollow=self.target.contained)
            except ElfError as exc:
                self._elf_cache[path] = exc
        return self._elf_cache[path]

    def _present(self, cand: str) -> bool:
        """Whether a candidate file exists (remembered); _Spent past MAX_TRIES."""
        self.tries += 1
        if self.tries > MAX_TRIES:
            raise _Spent
        hit = self._exists.get(cand)
        if hit is None:
            hit = self._exists[cand] = self.target.path(cand).exists()
        return hit

    def preloaded(self) -> dict[str, str]:
        """soname -> the first LD_PRELOAD object that has it (read once)."""
        if self._preloads is None:
            found: dict[str, str] = {}
            for pre in self.ld_preload:
                info = self.elf(pre) if self._present(pre) else None
                if isinstance(info, ElfInfo) and info.soname:
                    found.setdefault(info.soname, pre)
            self._preloads = found
        return self._preloads

    def _try(self, res: Resolution, directory: str, via: str) -> bool:
        """True when the search ends here (found, or stopped by a broken file)."""
        cand = os.path.join(directory, res.soname)
        if not self._present(cand):
            res.steps.append(Step(directory, via, "absent"))
            return False
        info = self.elf(cand)
        if isinstance(info, ElfError):
            res.steps.append(Step(directory, via, f"broken: {info}"))
            res.path, res.via = cand, via
            res.error = f"{cand}: {info}"
            return True
        if info.elf_class != self.elf_class or info.machine != self.machine:
            why = f"wrong ELF class/machine ({info.elf_class}-bit {info.machine})"
            res.steps.append(Step(directory, via, f"skipped: {why}"))
            return False
        res.steps.append(Step(directory, via, "found"))
        res.path, res.via = cand, via
        return True

    def resolve(self, soname: str, requester: str | None = None, loaders: tuple[str, ...] = ()) -> Resolution:
        """Where ``requester`` (or a plain dlopen) gets ``soname``; ``loaders`` are the objects
        that loaded the requester, nearest first, whose DT_RPATH glibc also searches.
        Remembered: the answer depends on nothing else."""
        key = (soname, requester, loaders)
        if key not in self._resolved:
            res = Resolution(soname)
            try:
                self._search(res, requester, loaders)
            except _Spent:
                res.path, res.via = None, None
                res.error = f"{soname}: not searched: the loader model stopped after {MAX_TRIES} tries in this root (NEEDED entries x search directories: a crafted tree?)"
            self._resolved[key] = res
        return self._resolved[key]

    def _search(self, res: Resolution, requester: str | None, loaders: tuple[str, ...]) -> Resolution:
        """glibc's search order (see the module's docstring), written into ``res``."""
        soname = res.soname
        pre = self.preloaded().get(soname)
        if pre:
            res.steps.append(Step(pre, "LD_PRELOAD", "found"))
            res.path, res.via = pre, "LD_PRELOAD"
            return res
        if "/" in soname:
            self._try(res, os.path.dirname(soname), "path")
            return self._finish(res)
        interp = INTERPRETERS.get(self.machine)
        if interp and soname == interp[0]:
            self._try(res, os.path.dirname(interp[1]), "program interpreter")
            return self._finish(res)
        if soname in PROGRAM_SONAMES:
            requester, loaders = None, ()
        rinfo = self.elf(requester) if requester else None
        rinfo = rinfo if isinstance(rinfo, ElfInfo) else None
        if rinfo and not rinfo.runpath:
            for obj in (requester,) + tuple(loaders):
                if self._rpath(res, obj):
                    return res
        for d in self.ld_library_path:
            if self._try(res, d, "LD_LIBRARY_PATH"):
                return res
        if rinfo and rinfo.runpath:
            for d in rinfo.runpath:
                if self._try(res, expand_origin(d, requester, self.machine), f"RUNPATH of {os.path.basename(requester)}"):
                    return res
        if self.cache is not None:
            for path in self.cache.get(soname, []):
                if self._try(res, os.path.dirname(path), "ld.so.cache"):
                    return res
            if soname not in self.cache:
                res.steps.append(Step("/etc/ld.so.cache", "ld.so.cache", "absent"))
        for d in self.system_dirs:
            if self._try(res, d, "default directories"):
                return res
        return self._finish(res)

    def _rpath(self, res: Resolution, obj: str) -> bool:
        """Search one object's DT_RPATH (the caller skips all of them when the requester has a DT_RUNPATH)."""
        info = self.elf(obj)
        if isinstance(info, ElfError) or not info.rpath:
            return False
        return any(self._try(res, expand_origin(d, obj, self.machine), f"RPATH of {os.path.basename(obj)}") for d in info.rpath)

    def load(self, path: str) -> dict[str, Loaded]:
        """Every object a dlopen of ``path`` maps, soname -> how it was found, in glibc's
        breadth-first order: a soname already loaded is reused, whoever asks for it next."""
        out: dict[str, Loaded] = {}
        queue: list[tuple[str, tuple[str, ...]]] = [(path, ())]
        while queue:
            obj, loaders = queue.pop(0)
            info = self.elf(obj)
            if isinstance(info, ElfError):
                continue
            for name in info.needed:
                if name in out:
                    continue
                res = self.resolve(name, obj, loaders)
                out[name] = Loaded(res, obj)
                if res.found:
                    queue.append((res.path, (obj,) + loaders))
        return out

    def _finish(self, res: Resolution) -> Resolution:
        if res.path is None:
            res.error = f"{res.soname}: cannot open shared object file: No such file or directory"
        return res
