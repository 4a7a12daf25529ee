"""Python environments and the GPU-relevant packages in them, from ``*.dist-info``
metadata, so static mode needs no interpreter."""

from __future__ import annotations

import glob
import os
import re
import sys
from concurrent.futures import ThreadPoolExecutor

from ..subproc import run_python_json
from ..target import PACKAGE_DB_MAX, Target

RELEVANT = re.compile(
    r"^(tensorrt.*|nvidia-.*|tensorflow.*|tf-keras|keras|pycuda|onnxruntime.*|onnx|torch|"
    r"cuda-python|cuda-bindings|cuda-pathfinder|cupy.*|jax|jaxlib)$"
)


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_dists(target: Target, site: str) -> dict[str, dict]:
    """name -> {version, dist_info} for the packages worth judging in one site dir."""
    out = {}
    for di in target.glob(os.path.join(glob.escape(site), "*.dist-info")) + target.glob(os.path.join(glob.escape(site), "*.egg-info")):
        base = os.path.basename(di).rsplit(".", 1)[0]
        name, _, version = base.partition("-")
        meta = os.path.join(di, "METADATA") if di.endswith("dist-info") else os.path.join(di, "PKG-INFO")
        head = target.read_text(meta, 4096, head=True)  # Name and Version open the file
        if head is not None:
            m = re.search(r"^Name:\s*(\S+)", head, re.M)
            v = re.search(r"^Version:\s*(\S+)", head, re.M)
            name = m.group(1) if m else name
            version = v.group(1) if v else version
        n = normalize(name)
        if RELEVANT.match(n):
            out[n] = {"version": version, "dist_info": di}
    return out


def _version_dirs(prefix: str, target: Target) -> list[str]:
    """``X.Y`` for each ``lib/pythonX.Y`` under ``prefix``."""
    found = target.glob(glob.escape(prefix) + "/lib/python3.*")
    return sorted({m.group(1) for p in found for m in [re.search(r"/python(3\.\d+)$", p)] if m}, key=lambda v: int(v.split(".")[1]))


def _pyvenv_cfg(prefix: str, target: Target) -> dict[str, str] | None:
    text = target.read_text(f"{prefix}/pyvenv.cfg")
    if text is None:
        return None
    out = {}
    for line in text.splitlines():
        key, sep, val = line.partition("=")
        if sep:
            out[key.strip().lower()] = val.strip()
    return out


def _prefix_sites(prefix: str, version: str, target: Target) -> list[str]:
    """The site dirs ``site.getsitepackages()`` gives ``prefix``. Debian's python (``/usr`` with
    ``/usr/lib/python3/dist-packages``) uses dist-packages, checked against /usr/bin/python3.11
    of Debian 12: ``/usr/local/lib/python3.11/dist-packages``, ``/usr/lib/python3/dist-packages``,
    ``/usr/lib/python3.11/dist-packages``; elsewhere ``{platlibdir, lib}/pythonX.Y/site-packages``."""
    if prefix == "/usr" and target.path("/usr/lib/python3/dist-packages").is_dir():
        return [f"/usr/local/lib/python{version}/dist-packages", "/usr/lib/python3/dist-packages", f"/usr/lib/python{version}/dist-packages"]
    return [f"{prefix}/lib64/python{version}/site-packages", f"{prefix}/lib/python{version}/site-packages"]


def _python_version(site: str) -> str | None:
    m = re.search(r"python(3\.\d+)", site)
    return m.group(1) if m else None


def interpreters(target: Target) -> list[dict]:
    """The interpreters to judge: --python, $VIRTUAL_ENV, $CONDA_PREFIX, the running one (live),
    and the system's pythons. Each: kind, python, prefix, base_prefix, version, venv, include_system."""
    out: list[dict] = []

    def add(kind: str, prefix: str, python: str | None, version: str | None = None, base: str | None = None) -> None:
        real = target.realpath(prefix)
        if any(target.realpath(i["prefix"]) == real for i in out):
            return
        cfg = _pyvenv_cfg(prefix, target)
        if cfg is not None and base is None:
            home = cfg.get("home", "")
            base = os.path.dirname(home.rstrip("/")) if home else None
        versions = _version_dirs(prefix, target) if version is None else [version]
        if version is None and cfg and re.match(r"3\.\d+", cfg.get("version", cfg.get("version_info", ""))):
            version = ".".join(cfg.get("version", cfg.get("version_info", "")).split(".")[:2])
        version = version or (versions[-1] if versions else None)
        py = python or next((f"{prefix}/bin/{n}" for n in ("python", "python3") if target.path(f"{prefix}/bin/{n}").exists()), None)
        out.append(
            {
                "kind": kind,
                "python": py,
                "prefix": prefix,
                "base_prefix": base or prefix,
                "version": version,
                "venv": cfg is not None,
                "include_system": bool(cfg) and cfg.get("include-system-site-packages", "").lower() == "true",
            }
        )

    if target.python:
        add("--python", os.path.dirname(os.path.dirname(target.python)), target.python)
    for var, kind in (("VIRTUAL_ENV", "venv"), ("CONDA_PREFIX", "conda")):
        if target.env.get(var):
            add(kind, target.env[var].rstrip("/") or "/", None)
    if not target.live:  # --root at an environment itself (a bare conda env, a venv copied out of an image)
        for marker, kind in (("/conda-meta", "conda"), ("/pyvenv.cfg", "venv")):
            if target.path(marker).exists():
                add(kind, "/", None)
    if target.live:
        add("running", sys.prefix, sys.executable, f"{sys.version_info[0]}.{sys.version_info[1]}", sys.base_prefix)
    for pat in ("/usr/bin/python3.*", "/usr/local/bin/python3.*"):
        for exe in target.glob(pat):
            m = re.search(r"/python(3\.\d+)$", exe)
            if m:
                add("system", os.path.dirname(os.path.dirname(exe)), exe, m.group(1))
    return out


def static_sys_path(target: Target, interp: dict) -> tuple[list[dict], list[dict], dict | None]:
    """The directories ``site`` puts on this interpreter's ``sys.path`` after the standard
    library, in order, as CPython builds it (checked in tests against real interpreters):
    ``PYTHONPATH`` entries first (empty ones mean the current directory, repeats dropped),
    then, in a venv, its site-packages; then the user site (``~/.local/lib/pythonX.Y/site-packages``,
    not in a venv unless ``include-system-site-packages = true``, not with ``PYTHONNOUSERSITE``);
    then the base's site dirs (for a venv only with ``include-system-site-packages = true``).
    A site dir that exists is added with the path lines of its ``*.pth`` files (sorted by
    name); ``import`` lines are code and are not run here: they are returned as such.

    Returns (entries {path, source, exists}, pth import lines {file, line}, user site or None)."""
    entries: list[dict] = []
    imports: list[dict] = []
    known: set[str] = set()

    def put(path: str, origin: str) -> bool:
        norm = os.path.normpath(path) if path else ""
        if norm in known:
            return False
        known.add(norm)
        entries.append({"path": norm, "source": origin, "exists": bool(norm) and target.path(norm).is_dir()})
        return True

    for p in (target.env.get("PYTHONPATH") or "").split(":") if target.env.get("PYTHONPATH") else []:
        put(p if p.startswith("/") else "", "PYTHONPATH")  # an empty or relative entry: relative to the current directory

    def site_dir(path: str, origin: str) -> None:
        if not target.path(path).is_dir() or not put(path, origin):
            return
        for pth in target.glob(glob.escape(path) + "/*.pth"):
            text = target.read_text(pth) or ""
            for line in text.splitlines():
                if not line.strip() or line.startswith("#"):
                    continue
                if line.startswith(("import ", "import\t")):
                    imports.append({"file": pth, "line": line[:200]})
                    continue
                extra = os.path.join(path, line.rstrip())
                if target.path(extra).is_dir():
                    put(extra, f".pth {os.path.basename(pth)}")

    v = interp.get("version")
    if not v:
        return entries, imports, None
    kind = interp["kind"]
    if interp["venv"]:
        site_dir(f"{interp['prefix']}/lib/python{v}/site-packages", kind)
    user = None
    home = target.env.get("HOME")
    if home:
        enabled = not target.env.get("PYTHONNOUSERSITE") and (not interp["venv"] or interp["include_system"])
        why = "enabled" if enabled else ("PYTHONNOUSERSITE is set" if target.env.get("PYTHONNOUSERSITE") else "disabled: running in a venv")
        user = {"path": f"{home.rstrip('/')}/.local/lib/python{v}/site-packages", "enabled": enabled, "why": why}
        if enabled:
            site_dir(user["path"], "user")
    if not interp["venv"] or interp["include_system"]:
        base = interp["base_prefix"] if interp["venv"] else interp["prefix"]
        for site in _prefix_sites(base, v, target):
            site_dir(site, "system" if interp["venv"] else kind)
    return entries, imports, user


LIVE_SYS_PATH = r"""
import json, os, site, sys, sysconfig
std = {sysconfig.get_path("stdlib"), sysconfig.get_path("platstdlib")}
dyn = {os.path.join(p, "lib-dynload") for p in std}
rest = [p for p in sys.path[1:] if p not in std and p not in dyn and not p.endswith(".zip")]
print(json.dumps({"sys_path": sys.path[1:], "site_path": rest, "user_site_enabled": bool(site.ENABLE_USER_SITE), "version": f"{sys.version_info[0]}.{sys.version_info[1]}"}))
"""


def _live_sys_path(target: Target, interp: dict, static: list[dict]) -> dict:
    """The interpreter's real ``sys.path`` (a child process in the judged environment), and
    whether the static one above matches it (entries added by ``.pth`` import lines cannot)."""
    res = run_python_json(LIVE_SYS_PATH, python=interp["python"], env=target.env, timeout=target.timeout)
    if res.data is None:
        return {"live_error": f"could not collect: {res.error}"}
    cwd = os.getcwd()
    live = [p for p in res.data["site_path"] if p.startswith("/")]
    mine = [e["path"] or cwd for e in static]
    return {"live_sys_path": res.data["sys_path"], "live_agrees": live == mine, "live_only": [p for p in live if p not in mine], "static_only": [p for p in mine if p not in live]}


def live_python(target: Target, snap: dict) -> dict:
    """Live phase: each interpreter's real ``sys.path`` (its children run at once), compared
    with the static one. Nothing waits for it: the static model already gave every probe the
    site dirs, and a dir only the live run shows (a ``.pth`` import line) is added here."""
    area = snap.get("python") or {}
    todo = [rec for rec in area.get("interpreters", []) if rec.get("python") and (rec["kind"] != "--python" or os.path.exists(rec["python"]))]
    with ThreadPoolExecutor(max(1, len(todo))) as pool:
        for rec, live in zip(todo, pool.map(lambda r: _live_sys_path(target, r, r["sys_path"]), todo)):
            rec.update(live)
    envs = area.setdefault("environments", [])
    known = {e.get("site_packages") for e in envs}
    for rec in area.get("interpreters", []):
        if rec["kind"] == "--python" and rec.get("live_error"):
            envs.append({"kind": "--python", "python": target.python, "error": rec["live_error"]})
        for p in rec.get("live_only", []):
            if p.endswith(("site-packages", "dist-packages")) and p not in known and os.path.isdir(p):
                known.add(p)
                pkgs = read_dists(target, p)
                envs.append(
                    {"kind": rec["kind"], "prefix": rec.get("prefix"), "site_packages": p, "python_version": rec.get("version"), "python": rec["python"], "packages": {k: v["version"] for k, v in sorted(pkgs.items())}}
                )
    return area


def _top_level(target: Target, dist_info: str) -> list[str]:
    """The top-level import names a distribution installs (its RECORD; else top_level.txt)."""
    names = []
    record = target.read_text(os.path.join(dist_info, "RECORD"), PACKAGE_DB_MAX)
    if record is not None:
        for line in record.splitlines():
            first = line.split(",", 1)[0].split("/", 1)[0]
            if first and not first.endswith((".dist-info", ".data", ".pth")) and first not in ("..", "__pycache__", "bin"):
                names.append(first.split(".", 1)[0])
    else:
        names = [x.strip() for x in (target.read_text(os.path.join(dist_info, "top_level.txt")) or "").splitlines() if x.strip()]
    return sorted(set(names))


def _has_module(target: Target, site: str, name: str) -> bool:
    """Whether ``import name`` would find a regular package or module in ``site`` (a namespace
    package merges across dirs: nothing is shadowed)."""
    return target.path(os.path.join(site, name, "__init__.py")).is_file() or target.path(os.path.join(site, name + ".py")).is_file() or bool(target.glob(os.path.join(glob.escape(site), glob.escape(name) + ".*.so")))


def _names_in_several(target: Target, sites) -> set[str]:
    """Top-level names (package dirs, module files) present in more than one site dir: only
    those can shadow one another, so only their distributions' RECORDs need reading."""
    seen: dict[str, int] = {}
    for site in sites:
        try:
            names = {n.split(".", 1)[0] for n in target.listdir(site) if not n.endswith((".dist-info", ".egg-info", ".pth")) and n != "__pycache__"}
        except OSError:
            continue
        for n in names:
            seen[n] = seen.get(n, 0) + 1
    return {n for n, k in seen.items() if k > 1}


def shadowed(target: Target, entries: list[dict]) -> list[dict]:
    """For each GPU-relevant module found in more than one dir of one ``sys.path``: the copy
    that wins (the first) and those it hides, with the distribution and version of each.
    ``nvidia`` is left out: many wheels share it, and their libraries are found by path."""
    sites = [e for e in entries if e["exists"]]
    candidates = _names_in_several(target, (e["path"] for e in sites)) - {"nvidia"}
    copies: dict[str, list[dict]] = {}
    for e in sites:
        site = e["path"]
        for name, d in read_dists(target, site).items() if candidates else ():
            for mod in set(_top_level(target, d["dist_info"])) & candidates:
                if _has_module(target, site, mod) and not any(c["site_packages"] == e["path"] for c in copies.get(mod, [])):
                    copies.setdefault(mod, []).append({"site_packages": e["path"], "source": e["source"], "package": name, "version": d["version"]})
    return [{"module": m, "winner": c[0], "shadowed": c[1:]} for m, c in sorted(copies.items()) if len(c) > 1]


def probe_python(target: Target, snap: dict) -> dict:
    envs: list[dict] = []
    seen: set[str] = set()

    def add(site: str, kind: str, prefix: str | None, python: str | None = None, version: str | None = None) -> None:
        if target.contained:  # a root at an environment has prefix "/": its "//lib/..." is reported "/lib/..."
            site = "/" + site.lstrip("/")
        real = target.realpath(site)
        if real in seen or not target.path(site).is_dir():
            return
        seen.add(real)
        pkgs = read_dists(target, site)
        envs.append(
            {
                "kind": kind,
                "prefix": prefix,
                "site_packages": site,
                "python_version": _python_version(site) or version,
                "python": python,
                "packages": {k: v["version"] for k, v in sorted(pkgs.items())},
            }
        )

    interps = []
    for it in interpreters(target):
        entries, imports, user = static_sys_path(target, it)
        rec = dict(it, sys_path=entries, pth_imports=imports, user_site=user)
        python = it["python"] if it["python"] and (target.live or target.path(it["python"]).exists()) else None
        for e in entries:
            if e["exists"]:
                kind = "pythonpath" if e["source"] == "PYTHONPATH" else it["kind"] if e["source"].startswith(".pth") else e["source"]
                prefix = {it["kind"]: it["prefix"], "system": it["base_prefix"]}.get(kind)
                add(e["path"], kind, prefix, python, it["version"])
        rec["shadowed"] = shadowed(target, entries)
        interps.append(rec)
    if not interps and target.env.get("PYTHONPATH"):  # no interpreter found: PYTHONPATH's packages are still there
        entries, _, _ = static_sys_path(target, {"kind": "none", "version": None, "venv": False})
        for e in entries:
            if e["exists"]:
                add(e["path"], "pythonpath", None)
    for pat in SYSTEM_SITES:  # a system site dir whose interpreter is not in the tree (an image layer): its packages still count
        for site in target.glob(pat):
            add(site, "system", os.path.dirname(os.path.dirname(os.path.dirname(site))), None)
    return {"environments": envs, "interpreters": interps}


SYSTEM_SITES = ("/usr/lib/python3/dist-packages", "/usr/lib/python3*/site-packages", "/usr/lib/python3*/dist-packages", "/usr/local/lib/python3*/site-packages", "/usr/local/lib/python3*/dist-packages")


def find_package(snap: dict, *names: str) -> list[tuple[dict, str, str]]:
    """(environment, name, version) for each environment that has one of ``names``."""
    out = []
    for env in snap.get("python", {}).get("environments", []):
        for n in names:
            if n in env.get("packages", {}):
                out.append((env, n, env["packages"][n]))
    return out
