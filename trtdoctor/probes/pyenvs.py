"""Python environments and the GPU-relevant packages in them, from ``*.dist-info``
metadata, so static mode needs no interpreter."""

from __future__ import annotations

import glob
import json
import os
import re
import sys

from ..subproc import run
from ..target import Target

RELEVANT = re.compile(
    r"^(tensorrt.*|nvidia-.*|tensorflow.*|tf-keras|keras|pycuda|onnxruntime.*|onnx|torch|"
    r"cuda-python|cuda-bindings|cuda-pathfinder|cupy.*|jax|jaxlib)$"
)


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_dists(site: str) -> dict[str, dict]:
    """name -> {version, dist_info} for the packages worth judging in one site dir."""
    out = {}
    for di in glob.glob(os.path.join(glob.escape(site), "*.dist-info")) + glob.glob(os.path.join(glob.escape(site), "*.egg-info")):
        base = os.path.basename(di).rsplit(".", 1)[0]
        name, _, version = base.partition("-")
        meta = os.path.join(di, "METADATA") if di.endswith("dist-info") else os.path.join(di, "PKG-INFO")
        try:
            with open(meta, encoding="utf-8", errors="replace") as fh:
                head = fh.read(4096)
            m = re.search(r"^Name:\s*(\S+)", head, re.M)
            v = re.search(r"^Version:\s*(\S+)", head, re.M)
            name = m.group(1) if m else name
            version = v.group(1) if v else version
        except OSError:
            pass
        n = normalize(name)
        if RELEVANT.match(n):
            out[n] = {"version": version, "dist_info": di}
    return out


def _site_dirs(prefix_glob: str, target: Target) -> list[str]:
    pats = [f"{prefix_glob}/lib/python3*/site-packages", f"{prefix_glob}/lib/python3*/dist-packages"]
    hits = []
    for pat in pats:
        hits += sorted(glob.glob(str(target.path(pat))))
    return hits


def _python_version(site: str) -> str | None:
    m = re.search(r"python(3\.\d+)", site)
    return m.group(1) if m else None


def probe_python(target: Target, snap: dict) -> dict:
    envs: list[dict] = []
    seen: set[str] = set()

    def add(site: str, kind: str, prefix: str | None, python: str | None = None) -> None:
        real = os.path.realpath(site)
        if real in seen or not os.path.isdir(site):
            return
        seen.add(real)
        pkgs = read_dists(site)
        for v in pkgs.values():
            v["dist_info"] = target.unroot(v["dist_info"])
        envs.append(
            {
                "kind": kind,
                "prefix": prefix,
                "site_packages": target.unroot(site),
                "python_version": _python_version(site),
                "python": python,
                "packages": {k: v["version"] for k, v in sorted(pkgs.items())},
            }
        )

    if target.live:
        for p in sys.path:
            if p.endswith(("site-packages", "dist-packages")):
                add(p, "running", sys.prefix, sys.executable)
    if target.python and target.live:
        res = run(
            [target.python, "-c", "import json,site;print(json.dumps(site.getsitepackages()))"],
            timeout=target.timeout,
        )
        if res.ok:
            for p in json.loads(res.stdout.strip().splitlines()[-1]):
                add(p, "--python", os.path.dirname(os.path.dirname(target.python)), target.python)
        else:
            envs.append({"kind": "--python", "python": target.python, "error": f"could not collect: {res.error}"})
    for var, kind in (("VIRTUAL_ENV", "venv"), ("CONDA_PREFIX", "conda")):
        prefix = target.env.get(var)
        if prefix:
            for site in _site_dirs(glob.escape(prefix), target):
                py = os.path.join(prefix, "bin", "python")
                add(site, kind, prefix, py if target.path(py).exists() else None)
    for pat in ("/usr/lib/python3*/site-packages", "/usr/lib/python3*/dist-packages", "/usr/lib/python3/dist-packages"):
        for site in sorted(glob.glob(str(target.path(pat)))):
            add(site, "system", "/usr", None)
    for site in _site_dirs("/usr/local", target):
        add(site, "system", "/usr/local", None)
    return {"environments": envs}


def find_package(snap: dict, *names: str) -> list[tuple[dict, str, str]]:
    """(environment, name, version) for each environment that has one of ``names``."""
    out = []
    for env in snap.get("python", {}).get("environments", []):
        for n in names:
            if n in env.get("packages", {}):
                out.append((env, n, env["packages"][n]))
    return out
