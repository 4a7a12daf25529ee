"""Rules on library resolution: what a consumer asks the loader for and what it gets."""

from __future__ import annotations

import os
import re

from .. import knowledge
from ..elf import version_key
from ..findings import Finding, Fix
from ..fix import recipes
from ..probes.libraries import OPTIONAL_ROLES, catalog, catalog_entry, role_of, soname_parts
from ..shell import join, prepend, quote
from . import TRT_INSTALL_CAUSES, Check, rule
from .system import no_c_library


def _libs(snap: dict) -> dict:
    return (snap.get("libraries") or {}).get("libraries") or {}


def _all_copies(snap: dict, stem: str) -> list[dict]:
    out = []
    for soname, lib in _libs(snap).items():
        parts = soname_parts(soname)
        if parts and parts[0] == stem:
            out += [dict(c, soname=soname) for c in lib.get("copies", [])]
    return out


def _install_hint(soname: str) -> str:
    """A pinned pip install of the package that ships a soname, from the knowledge base."""
    stem, ver = soname_parts(soname) or (soname, "")
    major = ver.split(".")[0]
    if stem.startswith(("libnvinfer", "libnvonnxparser")):
        rows = knowledge.pip_installs(trt_major=int(major)) if major.isdigit() else []
        return recipes.pip_install_command(rows[0]["tensorrt"], rows[0]["cuda"]) if rows else f"install TensorRT {quote(major)}"
    entry = catalog_entry(soname) or {}
    pkg = _pip_package(entry, major)
    if pkg:
        dirs = " or ".join(f"site-packages/{d}" for d in entry.get("pip_dirs") or ["nvidia"])
        return f"pip install {quote(pkg)}  # puts it in {dirs}"
    return f"install the package that provides {quote(soname)}"


def _pip_package(entry: dict, major: str) -> str | None:
    """The kb's pip package for a library major. cuDNN's major is its own: the packages every
    cuDNN row of that major lists (newest CUDA build), pinned to it. A CUDA library's major is
    the CUDA major: its -cuNN package, or the unsuffixed one for a major newer than those."""
    if not entry.get("packages") or not major.isdigit():
        return None
    if entry.get("group") == "cudnn":
        rows = [r for r in catalog() if r["group"] == "cudnn" and any(s.endswith(f".so.{major}") for s in r["sonames"])]
        common = [p for p in entry["packages"] if all(p in r.get("packages", []) for r in rows)]
        return f"{common[-1]}=={major}.*" if len(rows) > 1 and common else None
    suffixed = {int(m.group(1)): p for p in entry["packages"] for m in [re.search(r"-cu(\d+)$", p)] if m}
    plain = [p for p in entry["packages"] if not re.search(r"-cu\d+$", p)]
    if int(major) in suffixed:
        return suffixed[int(major)]
    return f"{plain[0]}=={major}.*" if plain and suffixed and int(major) > max(suffixed) else None


def _major(soname: str) -> str:
    parts = soname_parts(soname)
    return parts[1].split(".")[0] if parts else ""


def _activation_fix(d: str, snap: dict) -> Fix:
    env = (snap.get("env") or {}).get("vars") or {}
    cmds = [prepend("LD_LIBRARY_PATH", d)]
    if env.get("CONDA_PREFIX"):
        cmds.append("trtdoctor fix --write-env   # writes $CONDA_PREFIX/etc/conda/activate.d/trtdoctor.sh")
    else:
        cmds.append("trtdoctor fix --write-env   # makes it permanent")
    return Fix(f"Add {d} to the loader's search path.", cmds, env={"LD_LIBRARY_PATH": d + ":$LD_LIBRARY_PATH"})


@rule(
    reads=("libraries",),
    uses=("env",),
    emits=[
        Check("libraries.not-on-loader-path", "error", "A library a framework needs is on disk where the loader does not look"),
        Check("libraries.soname-alias-missing", "error", "A framework asks for a library by a longer name than the same-major copy installed"),
        Check("libraries.wrong-major", "error", "A framework needs a library major that is not installed (only another major is)", follows=TRT_INSTALL_CAUSES),
        Check("libraries.missing", "error", "A library a framework needs is not installed", follows=TRT_INSTALL_CAUSES),
    ],
)
def consumer_needs(snap: dict) -> list[Finding]:
    out = []
    for c in (snap.get("libraries") or {}).get("consumers", []):
        if role_of(c) in OPTIONAL_ROLES:
            continue  # onnxruntime's providers: the onnxruntime rule says what falls back
        start = len(out)
        for soname, r in (c.get("resolutions") or {}).items():
            if r.get("resolved") and not r.get("error"):
                continue
            parts = soname_parts(soname)
            stem = parts[0] if parts else soname
            exact = [x for x in _all_copies(snap, stem) if x["soname"] == soname and not x.get("elf_error")]
            others = [x for x in _all_copies(snap, stem) if x["soname"] != soname]
            ev = [f"{c['name']} ({c.get('requester') or c['site_packages']}) asks for {soname}", f"loader: {r.get('error')}"]
            if exact:
                d = os.path.dirname(exact[0]["path"])
                out.append(
                    Finding(
                        "libraries.not-on-loader-path",
                        "error",
                        "libraries",
                        f"{soname} is on disk but the loader cannot find it for {c['name']}",
                        "The file exists only in a directory the loader does not search (a pip wheel or conda env directory).",
                        ev + [f"found: {x['path']} ({x['via']})" for x in exact],
                        _activation_fix(d, snap),
                    )
                )
            elif same_major := [x for x in others if _major(x["soname"]) == _major(soname)]:
                d = os.path.dirname(same_major[0]["path"])
                out.append(
                    Finding(
                        "libraries.soname-alias-missing",
                        "error",
                        "libraries",
                        f"{c['name']} asks for {soname}; the same major is installed only as {same_major[0]['soname']}",
                        "The loader matches sonames by exact name: a library of the same release under a shorter name is not found. "
                        "A link with the name asked for, next to it, makes the loader find it (same major, same ABI).",
                        ev + [f"present: {x['path']} ({x.get('version') or '?'}, {x['via']})" for x in same_major],
                        Fix(f"Link {soname} to {same_major[0]['soname']} in {d}, and put {d} on the loader path.", [join(["ln", "-s", same_major[0]["soname"], f"{d}/{soname}"])] + _activation_fix(d, snap).commands),
                    )
                )
            elif others:
                have = sorted({x["soname"] for x in others})
                out.append(
                    Finding(
                        "libraries.wrong-major",
                        "error",
                        "libraries",
                        f"{c['name']} needs {soname}; only {', '.join(have)} is installed",
                        "A library of another major version is a different ABI: renaming or symlinking it does not work. Install the version the framework was built for.",
                        ev + [f"present: {x['path']} ({x.get('version') or '?'}, {x['via']})" for x in others],
                        Fix(f"Install the library that provides {soname} (do not symlink {have[0]}).", [_install_hint(soname)]),
                    )
                )
            else:
                out.append(
                    Finding(
                        "libraries.missing",
                        "error",
                        "libraries",
                        f"{c['name']} needs {soname}, which is not installed",
                        "",
                        ev,
                        Fix(f"Install the library that provides {soname}.", [_install_hint(soname)]),
                    )
                )
        for f in out[start:]:
            f.subject = c["site_packages"]
    return out


GROUP_NAMES = {"cudnn": "cuDNN", "tensorrt": "TensorRT", "cuda": "CUDA", "driver": "driver"}


def _consumers_of(snap: dict, soname: str) -> list[tuple[dict, dict]]:
    """(consumer, its resolution) for every consumer that asks for ``soname`` and gets a file."""
    out = []
    for c in (snap.get("libraries") or {}).get("consumers", []):
        r = (c.get("resolutions") or {}).get(soname) or {}
        if r.get("resolved") and not r.get("error"):
            out.append((c, r))
    return out


def _who_gets(snap: dict, soname: str, lib: dict, copy: dict) -> str:
    """Who loads this copy: a plain dlopen, named consumers (torch, TensorRT's bindings), or nobody judged."""
    who = ["a plain dlopen"] if lib.get("resolved") and copy["real"] == lib.get("resolved_real") else []
    who += [c["name"] for c, r in _consumers_of(snap, soname) if r.get("resolved_real", r["resolved"]) in (copy["real"], copy["path"])]
    return "wins for " + ", ".join(who) if who else "other copy"


def _consumer_copies(snap: dict, soname: str) -> str:
    """What each consumer of ``soname`` gets, in a sentence, or the general rule when none is judged."""
    got = [f"{c['name']} gets {r.get('version') or '?'} ({r.get('via')})" for c, r in _consumers_of(snap, soname)]
    if got:
        return "; ".join(got) + ". "
    return "frameworks that preload their own wheel libraries (torch, TensorRT's tensorrt_libs) get theirs. "


@rule(reads=("libraries",), emits=[Check("libraries.mixed-versions", "error|warning", "Two different versions of one library can win depending on who loads it")])
def mixed(snap: dict) -> list[Finding]:
    """One finding per set of sonames split the same way (cuDNN's sub-libraries together)."""
    groups: dict[tuple, list[tuple[str, dict, dict]]] = {}
    for soname, lib in _libs(snap).items():
        versions: dict[str, list[dict]] = {}
        for c in lib.get("copies", []):
            if c.get("version") and not c.get("elf_error"):
                versions.setdefault(".".join(c["version"].split(".")[:3]), []).append(c)
        if len(versions) < 2:
            continue
        key = (lib.get("group"), tuple(sorted((v, tuple(sorted(os.path.dirname(c["path"]) for c in cs))) for v, cs in versions.items())))
        groups.setdefault(key, []).append((soname, lib, versions))
    out = []
    for (group, _), members in groups.items():
        soname, lib, versions = members[0]
        names = [m[0] for m in members]
        vs = sorted(versions, key=version_key)
        ev = []
        for m_soname, m_lib, m_versions in members:
            for v in vs:
                for c in m_versions.get(v, []):
                    ev.append(f"{c['path']} → {v} via {c['via']} [{_who_gets(snap, m_soname, m_lib, c)}]")
        sev = "error" if group == "driver" else "warning"
        label = GROUP_NAMES.get(group, soname) if len(names) > 1 else soname
        out.append(
            Finding(
                "libraries.mixed-versions",
                sev,
                "libraries",
                f"{label}: {len(vs)} versions installed ({', '.join(vs)})" + (f" for {', '.join(names)}" if len(names) > 1 else ""),
                f"Which copy a process gets depends on who loads it: a plain dlopen of {soname} gets {lib.get('version') or '?'} via {lib.get('via')}; "
                + _consumer_copies(snap, soname)
                + "Mixed copies in one process cause symbol and version errors: the first one loaded wins for everything loaded after it.",
                ev,
                Fix(f"Keep one version (e.g. {vs[-1]}) or make sure each environment only sees its own.", ["trtdoctor check --explain " + quote(soname)]),
            )
        )
    return out


@rule(reads=("libraries",), emits=[Check("libraries.broken-file", "error|warning", "Zero-length, truncated or non-ELF library files")])
def broken(snap: dict) -> list[Finding]:
    out, seen = [], set()
    for soname, lib in _libs(snap).items():
        for c in lib.get("copies", []):
            if c.get("elf_error") and c["real"] not in seen:
                seen.add(c["real"])
                wins = lib.get("error") and c["path"] in (lib.get("error") or "")
                hint = " A zero-length libcuda usually means a container started without the NVIDIA runtime." if soname.startswith("libcuda") else ""
                out.append(
                    Finding(
                        "libraries.broken-file",
                        "error" if wins or lib.get("group") == "driver" else "warning",
                        "libraries",
                        f"{c['path']} is not a loadable library: {c['elf_error']}",
                        ("The loader stops at this file with that error." if wins else "A copy that cannot load.") + hint,
                        [f"{c['path']} ({c.get('size')} bytes, {c['via']})"],
                        Fix("Reinstall the package that owns it, or start the container with --gpus all / the NVIDIA runtime.", [f"ls -l {quote(c['path'])}"]),
                    )
                )
    return out


@rule(reads=("libraries",), uses=("os",), emits=[Check("libraries.unresolved-needed", "error", "A library's own NEEDED sonames do not resolve")])
def unresolved(snap: dict) -> list[Finding]:
    """In a root with no C library at all, the C runtime is missing for every library alike:
    os.partial-root says so once, and only the other sonames are reported here."""
    crt = set(knowledge.load("libraries")["c_runtime"]["sonames"]) if no_c_library(snap) else set()
    out = []
    for soname, lib in _libs(snap).items():
        miss = [n for n in lib.get("unresolved_needed") or [] if n not in crt]
        if miss:
            out.append(
                Finding(
                    "libraries.unresolved-needed",
                    "error",
                    "libraries",
                    f"{soname} ({lib['resolved']}) needs {', '.join(miss)}: not found",
                    "ldd would print 'not found': loading it fails.",
                    [f"{n} => not found" for n in miss],
                    Fix("Install the missing libraries or add their directory to the search path.", [f"ldd {quote(lib['resolved'])}"] + [_install_hint(n) for n in miss if catalog_entry(n)]),
                )
            )
    return out


SEARCH_PATH_VIAS = ("LD_LIBRARY_PATH", "LD_PRELOAD", "RPATH of ", "RUNPATH of ")


def _version_gaps(snap: dict) -> list[tuple[dict, list[str]]]:
    """Each (object, file) whose required versions are missing, once, with the judged sonames
    whose dlopen maps that object (one old libc fails many libraries: one finding per object)."""
    gaps: dict[tuple[str, str], tuple[dict, list[str]]] = {}
    for soname, lib in _libs(snap).items():
        for g in lib.get("missing_versions") or []:
            gaps.setdefault((g["object"], g["file"]), (g, []))[1].append(soname)
    return list(gaps.values())


def _version_finding(g: dict, sonames: list[str]) -> Finding:
    """glibc, libstdc++ (shadowed by a search path, or the system's too old) or any other file."""
    need = max(g["missing"], key=version_key)
    family = need.split("_")[0]
    ev = [f"{g['object']} requires {', '.join(g['missing'])} from {g['file']}", f"{g['file']} → {g['provider']} via {g['via']} provides up to {g.get('provides') or '?'}", f"loaded by a dlopen of {', '.join(sonames)}"]
    error = f'The loader fails with "{g["file"]}: version `{need}\' not found (required by {g["object"]})".'
    if family == "GLIBC":
        return Finding(
            "libraries.glibc-too-old",
            "error",
            "libraries",
            f"{g['object']} needs {need}; the C library it gets has up to {g.get('provides') or '?'}",
            error,
            ev,
            Fix("Use a build for this OS release, or a newer OS / container base."),
        )
    if family in ("GLIBCXX", "CXXABI") and (g.get("via") or "").startswith(SEARCH_PATH_VIAS):
        return Finding(
            "libraries.libstdcxx-shadowed",
            "error",
            "libraries",
            f"{g['object']} needs {need} but gets {g['provider']} ({g.get('provides') or '?'}) via {g['via']}",
            error + " An older libstdc++.so.6 on the search path (often a conda env's or a CUDA toolkit's) shadows the system one.",
            ev,
            Fix("Remove that directory from LD_LIBRARY_PATH (or the RPATH), or update libstdc++ there.", ["conda install -c conda-forge 'libstdcxx-ng>=12'"]),
        )
    if family in ("GLIBCXX", "CXXABI"):
        return Finding(
            "libraries.libstdcxx-too-old",
            "error",
            "libraries",
            f"{g['object']} needs {need}; the system libstdc++ ({g['provider']}) has up to {g.get('provides') or '?'}",
            error + " It was built with a newer GCC than this OS release ships.",
            ev,
            Fix("Use a build for this OS release, a newer OS / container base, or a newer libstdc++ (e.g. a conda env's libstdcxx-ng on LD_LIBRARY_PATH)."),
        )
    return Finding(
        "libraries.symbol-version-missing",
        "error",
        "libraries",
        f"{g['object']} needs {need} from {g['file']}; {g['provider']} does not define it",
        error + " The copy of that library the loader gives is older than the one it was built against.",
        ev,
        Fix(f"Make the loader give a {g['file']} that defines {need} (the one it was built with).", [f"trtdoctor check --explain {quote(g['file'])}"]),
    )


@rule(
    reads=("libraries", "os"),
    emits=[
        Check("libraries.glibc-too-old", "error", "A library needs a newer glibc than the C library it gets"),
        Check("libraries.libstdcxx-shadowed", "error", "An older libstdc++ on a search path shadows the one a library needs"),
        Check("libraries.libstdcxx-too-old", "error", "A library needs a newer libstdc++ than the system's"),
        Check("libraries.symbol-version-missing", "error", "A library needs a symbol version the copy it gets of another library lacks"),
    ],
)
def glibc(snap: dict) -> list[Finding]:
    """From the real version tables (``missing_versions``); reports saved before those
    existed are judged by the highest versions alone (``_legacy_versions``)."""
    out = [_version_finding(g, sonames) for g, sonames in _version_gaps(snap)]
    return out + [f for soname, lib in _libs(snap).items() if "missing_versions" not in lib for f in _legacy_versions(snap, soname, lib)]


def _legacy_versions(snap: dict, soname: str, lib: dict) -> list[Finding]:
    sysg = (snap.get("os") or {}).get("glibc")
    out = []
    for c in lib.get("copies", []):
        need = c.get("needs_glibc")
        if sysg and need and version_key(need) > version_key("GLIBC_" + sysg) and c["path"] == lib.get("resolved"):
            out.append(
                Finding(
                    "libraries.glibc-too-old",
                    "error",
                    "libraries",
                    f"{c['path']} needs {need}; the system has glibc {sysg}",
                    "The loader fails with 'version `" + need + "' not found'.",
                    [f"{c['path']} requires {need}", f"system glibc: {sysg}"],
                    Fix("Use a build for this OS release, or a newer OS / container base."),
                )
            )
    chk = lib.get("libstdcxx")
    if chk and chk.get("provides") and version_key(chk["needs"]) > version_key(chk["provides"]):
        out.append(
            Finding(
                "libraries.libstdcxx-shadowed",
                "error",
                "libraries",
                f"{soname} needs {chk['needs']} but gets {chk['libstdcxx']} ({chk['provides']}) via {chk['via']}",
                "An older libstdc++.so.6 (often a conda env's on LD_LIBRARY_PATH) shadows the system one.",
                [f"{lib['resolved']} requires {chk['needs']}", f"libstdc++.so.6 → {chk['libstdcxx']} via {chk['via']} provides up to {chk['provides']}"],
                Fix("Remove that directory from LD_LIBRARY_PATH, or update libstdc++ in that env.", ["conda install -c conda-forge 'libstdcxx-ng>=12'"]),
            )
        )
    return out


def _cudnn_built_with(inst: dict) -> tuple[str, str]:
    """The cuDNN major.minor TF was built with: real wheels' build_info holds only the major
    ('8' in TF 2.17.1), so the minor comes from the knowledge base's row for that release."""
    built = str((inst.get("build_info") or {}).get("cudnn_version") or "")
    if "." in built:
        return built, "build_info cudnn_version"
    kb = str((inst.get("kb") or {}).get("cudnn") or "")
    if built and kb.split(".")[0] == built:
        return kb, f"build_info says {built}; the knowledge base gives {kb} for TensorFlow {inst.get('version')}"
    return "", ""


@rule(reads=("libraries", "tensorflow"), emits=[Check("libraries.cudnn-older-than-build", "error|warning", "cuDNN older than the framework was built with")])
def cudnn_build(snap: dict) -> list[Finding]:
    out = []
    for inst in (snap.get("tensorflow") or {}).get("installs", []):
        built, source = _cudnn_built_with(inst)
        if not built:
            continue
        lib = _libs(snap).get(f"libcudnn.so.{built.split('.')[0]}") or {}
        got = lib.get("version")
        if got and version_key(got)[:2] < version_key(built)[:2]:
            out.append(
                Finding(
                    "libraries.cudnn-older-than-build",
                    "error" if source.startswith("build_info cudnn_version") else knowledge.fact_severity(knowledge.tf_release(inst.get("version")), fields=("cudnn",)),
                    "libraries",
                    f"cuDNN {got} is older than the {built} TensorFlow {inst['version']} was built with",
                    "TF logs 'Loaded runtime CuDNN library: X but source was compiled with: Y' and refuses cuDNN ops.",
                    [f"{lib.get('resolved')}: {got}", f"built with cuDNN {built} ({source})"],
                    Fix(f"Install cuDNN ≥ {built}.", [f"pip install {quote(f'nvidia-cudnn-cu12>={built}')}"]),
                )
            )
    return out


@rule(
    reads=("libraries",),
    emits=[
        Check("libraries.no-ld-so-cache", "warning", "/etc/ld.so.cache is missing: ld.so.conf directories are not searched"),
        Check("libraries.stale-cache", "warning", "ld.so.cache does not know libraries that ld.so.conf directories hold"),
    ],
)
def stale(snap: dict) -> list[Finding]:
    lib = snap.get("libraries") or {}
    if "error" in lib or not lib:
        return []
    if not lib.get("ld_so_cache") and lib.get("ld_so_conf_dirs"):
        return [
            Finding(
                "libraries.no-ld-so-cache",
                "warning",
                "libraries",
                "/etc/ld.so.cache is missing: ld.so.conf directories are not searched",
                "",
                ["/etc/ld.so.cache: absent"],
                Fix("Rebuild the cache.", ["sudo ldconfig"]),
            )
        ]
    if lib.get("stale_cache"):
        return [
            Finding(
                "libraries.stale-cache",
                "warning",
                "libraries",
                "ld.so.cache does not know libraries that ld.so.conf directories hold",
                "ldconfig was not re-run after installing them, so the loader cannot find them.",
                lib["stale_cache"],
                Fix("Rebuild the cache.", ["sudo ldconfig"]),
            )
        ]
    return []


@rule(
    reads=("libraries",),
    emits=[
        Check(
            "libraries.dlopen-failed",
            "error",
            "The real loader cannot load a library the model resolves",
            follows=("libraries.unresolved-needed", "libraries.glibc-too-old", "libraries.libstdcxx-shadowed", "libraries.libstdcxx-too-old", "libraries.symbol-version-missing", "libraries.broken-file"),
        ),
        Check("libraries.model-disagrees", "warning", "The real loader mapped another file than the model predicts"),
    ],
)
def live(snap: dict) -> list[Finding]:
    out = []
    for soname, lib in _libs(snap).items():
        lv = lib.get("live")
        if not lv:
            continue
        if lv.get("error"):
            out.append(
                Finding(
                    "libraries.dlopen-failed",
                    "error",
                    "libraries",
                    f"dlopen({soname}) fails: {lv['error']}",
                    "The file is found, but the real loader cannot load it (a dependency or symbol version is missing).",
                    [f"model: {lib.get('resolved')} via {lib.get('via')}", f"dlerror: {lv['error']}"],
                    Fix("See the other library findings; `ldd` shows the missing piece.", [f"ldd {quote(str(lib.get('resolved')))}"]),
                )
            )
        elif lib.get("live_agrees") is False:
            out.append(
                Finding(
                    "libraries.model-disagrees",
                    "warning",
                    "libraries",
                    f"{soname}: the loader mapped {lv.get('loaded')}, the model predicted {lib.get('resolved')}",
                    "trtdoctor's loader model and the real loader differ; the real loader's answer is the one that counts.",
                    [f"/proc/self/maps: {lv.get('loaded')}", f"model: {lib.get('resolved')} via {lib.get('via')}"],
                )
            )
    return out
