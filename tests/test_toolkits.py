"""CUDA toolkits wherever they are (/usr/local, PATH, CUDA_HOME, conda), which one each
pointer leads to, and the findings when they disagree. Healthy layouts say nothing."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from conftest import SHARED, check_json, h100_tree, ids

from trtdoctor.probes import system
from trtdoctor.target import Target

# the real `nvcc --version` of the H100 host (shared/fixtures/h100/survey.txt)
SURVEY = SHARED / "fixtures/h100/survey.txt"
if not SURVEY.exists():
    pytest.skip(f"{SURVEY} is missing (CI lays shared/ beside the checkout)", allow_module_level=True)
NVCC_13_0 = SURVEY.read_text().split("## nvcc\n", 1)[1].split("## ", 1)[0]
CUDA_FINDINGS = ("env.cuda-home-missing", "env.cuda-toolkit-mismatch", "driver.minor-compat", "driver.too-old-for-cuda")


def nvcc(path: Path, text: str = NVCC_13_0) -> Path:
    """An executable that answers --version as the real nvcc does."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\ncat <<'EOF'\n" + text + "EOF\n")
    path.chmod(0o755)
    return path


def cuda_findings(rep: dict) -> list[str]:
    return [i for i in ids(rep) if i in CUDA_FINDINGS]


def test_one_toolkit_everywhere_is_silent(tree):
    """The H100 host: /usr/local/cuda -> cuda-13.0, nvcc on PATH through it, CUDA_HOME=/usr/local/cuda."""
    h100_tree(tree)
    nvcc(tree.p("/usr/local/cuda-13.0/bin/nvcc"))
    rep = check_json(tree.root, "--env", "CUDA_HOME=/usr/local/cuda", "--env", "PATH=/opt/torch/.venv/bin:/usr/local/cuda/bin:/usr/bin")
    cuda = rep["snapshot"]["cuda"]
    assert [(t["path"], t["version"]) for t in cuda["toolkits"]] == [("/usr/local/cuda-13.0", "13.0.2")]
    assert {p["name"]: p["toolkit"] for p in cuda["pointers"]} == {n: "/usr/local/cuda-13.0" for n in ("nvcc on PATH", "CUDA_HOME", "/usr/local/cuda")}
    assert cuda_findings(rep) == []


def test_no_toolkit_is_silent(tree):
    tree.base().driver()
    rep = check_json(tree.root, "--env", "PATH=/usr/bin")
    assert rep["snapshot"]["cuda"]["toolkits"] == [] and rep["snapshot"]["cuda"]["pointers"] == []
    assert cuda_findings(rep) == []


def test_a_toolkit_without_version_json_is_still_a_toolkit(tree):
    tree.base().driver().cuda()
    tree.p("/usr/local/cuda-13.0/version.json").unlink()
    tk = check_json(tree.root)["snapshot"]["cuda"]["toolkits"]
    assert [(t["path"], t["version"], t["version_source"]) for t in tk] == [("/usr/local/cuda-13.0", "13.0", "libcudart file name")]


def test_nvcc_on_path_and_cuda_home_disagree(tree):
    tree.base().driver().cuda("12.4.1", "12.4.127")
    tree.write("/opt/cuda-11.8/version.txt", "CUDA Version 11.8.89\n")
    nvcc(tree.p("/opt/cuda-11.8/bin/nvcc"))
    rep = check_json(tree.root, "--env", "CUDA_HOME=/usr/local/cuda", "--env", "PATH=/opt/cuda-11.8/bin:/usr/bin")
    assert {t["path"] for t in rep["snapshot"]["cuda"]["toolkits"]} == {"/usr/local/cuda-12.4", "/opt/cuda-11.8"}
    f = next(f for f in rep["findings"] if f["id"] == "env.cuda-toolkit-mismatch")
    assert "11.8" in f["title"] and "12.4" in f["title"]
    # near miss: PATH's nvcc is the one CUDA_HOME names
    same = check_json(tree.root, "--env", "CUDA_HOME=/usr/local/cuda", "--env", "PATH=/usr/local/cuda/bin:/usr/bin")
    assert "env.cuda-toolkit-mismatch" not in ids(same)


def test_cuda_home_pointing_nowhere(tree):
    tree.base().driver().cuda()
    rep = check_json(tree.root, "--env", "CUDA_HOME=/usr/local/cuda-12.4")
    f = next(f for f in rep["findings"] if f["id"] == "env.cuda-home-missing")
    assert "export CUDA_HOME=/usr/local/cuda-13.0" in f["fix"]["commands"]
    assert "env.cuda-home-missing" not in ids(check_json(tree.root, "--env", "CUDA_HOME=/usr/local/cuda-13.0"))


def test_nvcc_newer_than_the_driver_outside_usr_local(tree):
    """A CUDA 12.8 reached only through PATH on a CUDA 12.2 driver: PTX it builds cannot be JIT-compiled."""
    tree.base().driver("535.54.03")
    tree.write("/opt/cuda-12.8/version.json", '{"cuda": {"name": "CUDA SDK", "version": "12.8.1"}}')
    nvcc(tree.p("/opt/cuda-12.8/bin/nvcc"))
    rep = check_json(tree.root, "--env", "PATH=/opt/cuda-12.8/bin:/usr/bin")
    f = next(f for f in rep["findings"] if f["id"] == "driver.minor-compat")
    assert any("/opt/cuda-12.8" in e for e in f["evidence"])
    tree.write("/opt/cuda-12.2/version.json", '{"cuda": {"name": "CUDA SDK", "version": "12.2.2"}}')
    nvcc(tree.p("/opt/cuda-12.2/bin/nvcc"))
    shutil.rmtree(tree.p("/opt/cuda-12.8"))
    assert cuda_findings(check_json(tree.root, "--env", "PATH=/opt/cuda-12.2/bin:/usr/bin")) == []  # near miss: the driver's own CUDA


def test_conda_toolkit(tree):
    tree.base().driver()
    nvcc(tree.p("/opt/conda/envs/trt/bin/nvcc"))
    tree.write("/opt/conda/envs/trt/conda-meta/cuda-nvcc-12.4.131-0.json", "{}")
    rep = check_json(tree.root, "--env", "CONDA_PREFIX=/opt/conda/envs/trt", "--env", "PATH=/opt/conda/envs/trt/bin:/usr/bin")
    cuda = rep["snapshot"]["cuda"]
    assert [(t["path"], t["version"], t["version_source"]) for t in cuda["toolkits"]] == [("/opt/conda/envs/trt", "12.4", "conda cuda-nvcc")]
    assert cuda["pointers"][0]["toolkit"] == "/opt/conda/envs/trt" and cuda_findings(rep) == []


def live_cuda(target: Target) -> dict:
    """Both phases of the cuda probe, as a live check runs them."""
    return system.live_cuda(target, {"cuda": system.probe_cuda(target, {})})


def test_live_nvcc_version_and_compiler(tmp_path):
    """Live, a toolkit with only bin/nvcc is versioned by running it; the C++ compiler is asked its version."""
    root = tmp_path / "cuda-13.0"
    nvcc(root / "bin/nvcc")
    (root / "targets/x86_64-linux/include").mkdir(parents=True)
    (root / "targets/x86_64-linux/include/cuda_runtime.h").write_text("")
    env = {"PATH": f"{root}/bin:{os.environ.get('PATH', '')}"}
    area = live_cuda(Target(env=env, live=True))
    tk = next(t for t in area["toolkits"] if t["path"] == str(root))
    assert (tk["version"], tk["version_source"]) == ("13.0.88", "nvcc --version")
    assert area["pointers"][0] == {"name": "nvcc on PATH", "value": f"{root}/bin/nvcc", "exists": True, "toolkit": str(root), "version": "13.0.88"}
    if shutil.which("c++", path=env["PATH"]):
        assert area["cxx"]["source"] == "c++ on PATH" and area["cxx"]["version"]


def test_an_nvcc_wrapper_script_is_no_toolkit(tmp_path):
    """This build machine's /usr/local/bin/nvcc is `exec /usr/local/cuda-13.0/bin/nvcc "$@"`: /usr/local is no toolkit."""
    real = tmp_path / "cuda-13.0"
    nvcc(real / "bin/nvcc")
    (real / "version.json").write_text('{"cuda": {"name": "CUDA SDK", "version": "13.0.2"}}')
    wrapper = tmp_path / "local/bin/nvcc"
    wrapper.parent.mkdir(parents=True)
    wrapper.write_text(f'#!/bin/sh\nexec {real}/bin/nvcc "$@"\n')
    wrapper.chmod(0o755)
    area = live_cuda(Target(env={"PATH": f"{wrapper.parent}:/usr/bin:/bin", "CUDA_HOME": str(real)}, live=True))
    assert [t["path"] for t in area["toolkits"] if t["path"].startswith(str(tmp_path))] == [str(real)]
    assert area["pointers"][0] == {"name": "nvcc on PATH", "value": str(wrapper), "exists": True, "toolkit": None, "version": "13.0.88"}
