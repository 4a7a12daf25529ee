"""Verdicts users can trust, as a user sees them: an area is ✓ only when it was checked and
is clean; what could not be checked says so and makes the run incomplete (exit 1);
--only/--skip follow the rules' declarations; root causes come first."""

from __future__ import annotations

import json

import pytest
from conftest import H100_ENV, check_json, h100_tree, ids, needs_cc, run_cli

pytestmark = needs_cc


def env_args(items):
    return [a for item in items for a in ("--env", item)]


@pytest.fixture
def h100_report(tree, tmp_path):
    """A saved report of the H100-shaped tree, to re-judge with parts broken."""
    rep = check_json(h100_tree(tree).root, *env_args(H100_ENV))

    def saved(**areas) -> str:
        r = json.loads(json.dumps(rep))
        r["snapshot"].update(areas)
        p = tmp_path / "report.json"
        p.write_text(json.dumps(r))
        return str(p)

    return saved


def area_line(stdout: str, area: str) -> str:
    return next(line for line in stdout.splitlines() if line[2:].startswith(area + " "))


@pytest.mark.parametrize(
    "area,error",
    [
        ("tensorrt", "could not collect: TensorRT import crashed (SIGSEGV)"),
        ("gpus", "could not collect: TimeoutError"),
        ("libraries", "could not collect: dlopen probe timed out after 2s"),
    ],
)
def test_an_area_that_could_not_be_collected_is_never_green(h100_report, area, error):
    res = run_cli("check", "--from", h100_report(**{area: {"error": error}}))
    assert res.returncode == 1, res.stdout  # incomplete: never exit 0
    line = area_line(res.stdout, area)
    assert line.startswith("?") and "could not check" in line and error in line
    assert "could not be checked" in res.stdout.splitlines()[-1]
    rep = json.loads(run_cli("check", "--json", "--from", h100_report(**{area: {"error": error}})).stdout)
    assert rep["areas"][area]["status"] == "could-not-check" and rep["summary"]["incomplete"] >= 1
    assert {"area": area, "reason": error} in rep["summary"]["could_not_check"] or any(c["area"] == area for c in rep["summary"]["could_not_check"])


def test_an_nvml_probe_that_timed_out_leaves_gpus_unchecked(h100_report):
    res = run_cli("check", "--from", h100_report(nvml={"error": "could not collect: NVML probe timed out after 1s"}))
    assert res.returncode == 1
    assert area_line(res.stdout, "gpus").startswith("? gpus") and "NVML probe timed out" in res.stdout


def test_no_driver_means_gpus_and_precision_not_applicable_not_green(tree):
    tree.base().cuda()
    tree.write("/proc/driver/README", "no nvidia here\n")
    res = run_cli("check", "--root", str(tree.root))
    assert res.returncode == 1
    assert area_line(res.stdout, "driver").startswith("✗")
    assert area_line(res.stdout, "gpus").startswith("– gpus         not checked: no NVIDIA driver")
    assert area_line(res.stdout, "precision").startswith("– precision    not judged: no GPU")
    assert not [line for line in res.stdout.splitlines() if line.startswith("✓ gpus")]


def test_a_static_tree_without_driver_files_does_not_claim_a_judged_driver(tree):
    tree.base()
    (tree.root / "proc").rename(tree.root / "noproc")
    res = run_cli("check", "--root", str(tree.root))
    assert area_line(res.stdout, "driver").startswith("– driver       no NVIDIA driver found under this root: not judged")


@pytest.mark.parametrize("kind", ["empty", "junk"])
def test_a_root_with_no_os_is_said_to_be_so(tmp_path, kind):
    root = tmp_path / "r"
    root.mkdir()
    if kind == "junk":
        (root / "notes.txt").write_text("hello\n")
        (root / "cache").mkdir()
    res = run_cli("check", "--root", str(root))
    assert res.returncode == 1
    assert area_line(res.stdout, "os").startswith("✗ os")
    assert "holds no operating system" in res.stdout
    assert [line[0] for line in res.stdout.splitlines()[1:-1] if line[:1] == "✓"] in ([], ["✓"])  # at most env, which was judged
    rep = check_json(root)
    assert "os.no-os" in ids(rep)
    assert next(f for f in rep["findings"] if f["id"] == "tensorrt.not-installed")["caused_by"] == "os.no-os"


def test_live_check_never_says_no_os(tmp_path):
    rep = json.loads(run_cli("check", "--json", "--only", "os").stdout)
    assert "os.no-os" not in ids(rep)


def test_tensorrt_missing_is_a_finding_with_the_install_for_this_machine(tree):
    h100_tree(tree)
    rep = check_json(tree.root, *env_args(H100_ENV))
    f = next(f for f in rep["findings"] if f["id"] == "tensorrt.not-installed")
    assert f["severity"] == "warning" and rep["areas"]["tensorrt"]["status"] == "warning"
    cmd = f["fix"]["commands"][0]
    # driver 580 → CUDA 13; all parts pinned to one version; NVIDIA's index named
    assert cmd.startswith("pip install --extra-index-url https://pypi.nvidia.com tensorrt-cu13==")
    versions = {part.split("==")[1] for part in cmd.split() if "==" in part}
    assert len(versions) == 1
    # with a TensorRT installed the finding is gone
    site = "/opt/torch/.venv/lib/python3.12/site-packages"
    tree.dist(site, "tensorrt-cu13", "10.16.1.11")
    assert "tensorrt.not-installed" not in ids(check_json(tree.root, *env_args(H100_ENV)))


def test_smoke_without_tensorrt_points_at_the_install(tree, tmp_path):
    pytest.importorskip("onnxruntime")
    h100_tree(tree)
    saved = tmp_path / "r.json"
    saved.write_text(json.dumps(check_json(tree.root, *env_args(H100_ENV))))
    res = run_cli("smoke", "--from", str(saved), "--backend", "tensorrt", "--force", "--format", "json", "--iterations", "5", "--warmup", "1", "--batch", "1")
    reason = json.loads(res.stdout)["reason"]
    assert "tensorrt.not-installed" in reason and "pip install --extra-index-url https://pypi.nvidia.com tensorrt-cu13==" in reason


def test_only_precision_runs_the_precision_probe(tree):
    h100_tree(tree)
    rep = check_json(tree.root, "--only", "precision")
    assert list(rep["areas"]) == ["precision"]
    assert rep["snapshot"]["precision"]["gpus"][0]["support"]["fp16"] is True
    assert "libraries" not in rep["snapshot"]  # nothing the precision rule needs


def test_any_skip_keeps_precision(tree):
    h100_tree(tree)
    rep = check_json(tree.root, "--skip", "libraries")
    assert "libraries" not in rep["areas"] and rep["areas"]["precision"]["status"] == "ok"
    assert rep["snapshot"]["precision"]["gpus"]


def test_only_os_on_a_healthy_wsl2_root_raises_nothing(tree):
    tree.base().wsl()
    rep = check_json(tree.root, "--only", "os")
    assert rep["snapshot"]["os"]["wsl2"] is True
    assert ids(rep) == [] and rep["summary"]["status"] == "ok"


def test_only_and_skip_take_finding_ids(tree):
    h100_tree(tree)
    rep = check_json(tree.root, "--only", "libraries.mixed-versions", *env_args(H100_ENV))
    assert ids(rep) == ["libraries.mixed-versions"] and list(rep["areas"]) == ["libraries"]
    rep = check_json(tree.root, "--skip", "libraries.mixed-versions", *env_args(H100_ENV))
    assert "libraries.mixed-versions" not in ids(rep) and "libraries" in rep["areas"]


def test_only_and_skip_that_leave_nothing_are_a_usage_error():
    res = run_cli("check", "--only", "driver", "--skip", "driver")
    assert res.returncode == 2 and "leave nothing to check" in res.stderr


def test_root_cause_first_with_consequences_under_it(h100_report):
    # no driver → TensorFlow (a CUDA build) sees no GPU: one thing to fix, not two
    tf = {
        "installs": [
            {
                "package": "tensorflow",
                "version": "2.17.1",
                "site_packages": "/v/lib/python3.11/site-packages",
                "python": "/v/bin/python",
                "python_version": "3.11",
                "kb": None,
                "build_info": {"is_cuda_build": True},
                "live": {"gpus": [], "build_info": {"is_cuda_build": True}, "log": [], "loaded_tensorrt": None},
            }
        ]
    }
    path = h100_report(tensorflow=tf)
    rep = json.loads(open(path).read())
    rep["snapshot"]["driver"].update(version=None, kernel_module=None, sys_module=None, proc_present=True, libcuda=[], libnvidia_ml=[])
    open(path, "w").write(json.dumps(rep))
    rep = json.loads(run_cli("check", "--json", "--from", path).stdout)
    by_id = {f["id"]: f for f in rep["findings"]}
    assert by_id["tensorflow.no-gpu"]["caused_by"] == "driver.missing" and by_id["driver.missing"]["caused_by"] is None
    text = run_cli("check", "--from", path).stdout
    lines = text.splitlines()
    cause = next(i for i, line in enumerate(lines) if "No NVIDIA kernel driver is loaded" in line)
    assert any("↳ then" in line and "tensorflow.no-gpu" in line for line in lines[cause:])
    assert any("(follows from driver.missing: fix that first)" in line for line in lines if "sees no GPU" in line)
    md = run_cli("check", "--format", "markdown", "--from", path).stdout
    assert md.index("`driver.missing`") < md.index("`tensorflow.no-gpu`")


def test_a_recipe_for_a_driver_older_than_any_cuda_is_one_line(h100_report, tmp_path):
    rep = json.loads(open(h100_report()).read())
    rep["snapshot"]["driver"]["version"] = "100.0"
    path = tmp_path / "old.json"
    path.write_text(json.dumps(rep))
    res = run_cli("fix", "--from", str(path), "--recipe", "pip", "--out", str(tmp_path / "out"))
    assert res.returncode == 2 and "older than every CUDA release" in res.stderr and len(res.stderr.splitlines()) == 1


def test_wsl_libcuda_so_1_1_is_no_driver_version(tree):
    tree.base()
    tree.lib("/usr/lib/wsl/lib/libcuda.so.1.1", "libcuda.so.1", links=("libcuda.so.1",))
    tree.write("/proc/version", "Linux version 5.15.153.1-microsoft-standard-WSL2\n")
    rep = check_json(tree.root)
    assert rep["snapshot"]["driver"]["libcuda"] == [] and rep["snapshot"]["driver"]["version"] is None


def test_onnxruntime_providers_are_read_from_its_provider_libraries(tree):
    tree.base()
    site = "/opt/v/lib/python3.12/site-packages"
    tree.dist(site, "onnxruntime-gpu", "1.22.0")
    for p in ("tensorrt", "cuda", "shared"):
        tree.write(f"{site}/onnxruntime/capi/libonnxruntime_providers_{p}.so", "")
    ort = check_json(tree.root, "--env", "VIRTUAL_ENV=/opt/v", "--only", "onnxruntime")["snapshot"]["onnxruntime"]["installs"][0]
    assert ort["providers"] == ["CUDAExecutionProvider", "TensorrtExecutionProvider", "CPUExecutionProvider"]


def test_the_nvml_and_cuda_children_answer_even_without_a_gpu():
    """Both children run isolated (-I -S); each must still print its JSON answer (a broken
    child would silently turn every GPU test into a skip)."""
    import os

    from trtdoctor.probes.live_gpu import probe_nvml, run_nvml
    from trtdoctor.target import Target

    res = run_nvml(dict(os.environ), 20)
    assert isinstance(res.data, dict) and ("devices" in res.data or "nvml_error" in res.data), res
    nv = probe_nvml(Target(env=dict(os.environ), timeout=20), {})
    assert "error" not in nv and ("cuInit" in nv or "libcuda_error" in nv), nv


def test_wsl2_without_ld_wsl_conf_cannot_reach_libcuda(tree):
    tree.base().wsl()
    assert "os.wsl-libcuda-unreachable" not in ids(check_json(tree.root))
    assert check_json(tree.root)["areas"]["driver"]["summary"].startswith("the Windows driver, through /usr/lib/wsl/lib")
    (tree.root / "etc/ld.so.conf.d/ld.wsl.conf").unlink()
    tree.ldconfig()
    rep = check_json(tree.root)
    assert "os.wsl-libcuda-unreachable" in ids(rep) and rep["summary"]["errors"] == 1


def test_a_bare_conda_env_as_root_is_partial_not_empty(tree):
    """--root at a conda env (no OS around it): its packages are judged and the root is called partial."""
    tree.write("/conda-meta/tensorrt-10.3.0-py311h1234567_0.json", "{}")
    tree.dist("/lib/python3.11/site-packages", "tensorrt", "10.3.0")
    tree.lib("/lib/libnvinfer.so.10.3.0", "libnvinfer.so.10", links=("libnvinfer.so.10",))
    rep = check_json(tree.root)
    assert "os.no-os" not in ids(rep) and "os.partial-root" in ids(rep)
    assert any(e["site_packages"] == "/lib/python3.11/site-packages" for e in rep["snapshot"]["python"]["environments"])


def test_onnxruntime_gpu_without_tensorrt_is_no_error(tree):
    """onnxruntime-gpu always ships its TensorRT provider; without TensorRT it falls back to CUDA:
    a warning of the onnxruntime area, not three libraries.missing errors."""
    h100_tree(tree)
    site = "/opt/torch/.venv/lib/python3.12/site-packages"
    tree.dist(site, "onnxruntime-gpu", "1.20.2")
    tree.lib(f"{site}/onnxruntime/capi/libonnxruntime_providers_tensorrt.so", "libonnxruntime_providers_tensorrt.so", needs=("libnvinfer.so.10", "libnvinfer_plugin.so.10", "libnvonnxparser.so.10"))
    rep = check_json(tree.root, *env_args(H100_ENV))
    assert rep["summary"]["errors"] == 0, ids(rep)
    assert "onnxruntime.tensorrt-ep-unloadable" in ids(rep) and rep["areas"]["onnxruntime"]["status"] == "warning"
