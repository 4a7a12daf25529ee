"""Library resolution: the loader model against the real loader, and the library rules."""

import json
import os
import subprocess
import sys

import pytest
from conftest import Tree, check_json, compile_so, h100_tree, ids, needs_cc, run_cli, torch_wheel

from trtdoctor.loader import LoaderModel
from trtdoctor.probes.libraries import _libstdcxx_check
from trtdoctor.target import Target

pytestmark = needs_cc

REAL = r"""
import ctypes, json, sys
class LM(ctypes.Structure):
    _fields_ = [("l_addr", ctypes.c_void_p), ("l_name", ctypes.c_char_p)]
libc = ctypes.CDLL(None)
out = {}
try:
    if sys.argv[2]:
        ctypes.CDLL(sys.argv[2])
    h = ctypes.CDLL(sys.argv[1], mode=ctypes.RTLD_GLOBAL | (4 if sys.argv[2] else 0))
    lm = ctypes.POINTER(LM)()
    libc.dlinfo(ctypes.c_void_p(h._handle), 2, ctypes.byref(lm))
    out["loaded"] = lm.contents.l_name.decode()
except OSError as e:
    out["error"] = str(e)
print(json.dumps(out))
"""


def real_loader(soname, env, requester=""):
    """What glibc's own loader does: dlopen in a child with that environment."""
    e = {"PATH": os.environ.get("PATH", "/usr/bin"), **env}
    res = subprocess.run([sys.executable, "-c", REAL, soname, requester], capture_output=True, text=True, env=e, timeout=30)
    return json.loads(res.stdout)


def model(env):
    return LoaderModel(Target(root=__import__("pathlib").Path("/"), env=env))


def two_copies(tmp_path):
    a = compile_so(tmp_path / "a" / "libtrtfix.so.1", "libtrtfix.so.1")
    b = compile_so(tmp_path / "b" / "libtrtfix.so.1", "libtrtfix.so.1")
    return a, b


def test_ld_library_path_order_agrees_with_real_loader(tmp_path):
    a, b = two_copies(tmp_path)
    env = {"LD_LIBRARY_PATH": f"{b.parent}:{a.parent}"}
    res = model(env).resolve("libtrtfix.so.1")
    assert res.path == str(b) and res.via == "LD_LIBRARY_PATH"
    assert real_loader("libtrtfix.so.1", env)["loaded"] == str(b)


def test_rpath_beats_ld_library_path_but_runpath_does_not(tmp_path):
    a, b = two_copies(tmp_path)
    stub = compile_so(tmp_path / "stub" / "libtrtfix.so.1", "libtrtfix.so.1")
    with_rpath = compile_so(tmp_path / "a" / "libuser_rpath.so", "libuser_rpath.so", needed=[stub], rpath="$ORIGIN")
    with_runpath = compile_so(tmp_path / "a" / "libuser_runpath.so", "libuser_runpath.so", needed=[stub], runpath="$ORIGIN")
    env = {"LD_LIBRARY_PATH": str(b.parent)}
    m = model(env)
    r1 = m.resolve("libtrtfix.so.1", str(with_rpath))
    assert (r1.path, r1.via) == (str(a), "RPATH of libuser_rpath.so")
    assert real_loader("libtrtfix.so.1", env, str(with_rpath))["loaded"] == str(a)
    r2 = m.resolve("libtrtfix.so.1", str(with_runpath))
    assert (r2.path, r2.via) == (str(b), "LD_LIBRARY_PATH")
    assert real_loader("libtrtfix.so.1", env, str(with_runpath))["loaded"] == str(b)
    r3 = model({}).resolve("libtrtfix.so.1", str(with_runpath))
    assert (r3.path, r3.via) == (str(a), "RUNPATH of libuser_runpath.so")
    assert real_loader("libtrtfix.so.1", {}, str(with_runpath))["loaded"] == str(a)


def test_wrong_machine_is_skipped_like_the_real_loader(tmp_path):
    arm = compile_so(tmp_path / "arm" / "libtrtfix.so.1", "libtrtfix.so.1", machine=183)
    good = compile_so(tmp_path / "good" / "libtrtfix.so.1", "libtrtfix.so.1")
    env = {"LD_LIBRARY_PATH": f"{arm.parent}:{good.parent}"}
    res = model(env).resolve("libtrtfix.so.1")
    assert res.path == str(good)
    assert res.steps[0].outcome.startswith("skipped: wrong ELF class/machine")
    assert real_loader("libtrtfix.so.1", env)["loaded"] == str(good)


def test_zero_length_file_stops_the_search_like_the_real_loader(tmp_path):
    empty = tmp_path / "empty" / "libtrtfix.so.1"
    empty.parent.mkdir()
    empty.write_bytes(b"")
    good = compile_so(tmp_path / "good" / "libtrtfix.so.1", "libtrtfix.so.1")
    env = {"LD_LIBRARY_PATH": f"{empty.parent}:{good.parent}"}
    res = model(env).resolve("libtrtfix.so.1")
    assert not res.found and "file too short" in res.error
    assert "file too short" in real_loader("libtrtfix.so.1", env)["error"]


def test_missing_soname_wording_matches(tmp_path):
    res = model({}).resolve("libtrtdoctor-nothing.so.7")
    assert res.error == "libtrtdoctor-nothing.so.7: cannot open shared object file: No such file or directory"
    assert res.error in real_loader("libtrtdoctor-nothing.so.7", {})["error"]


def test_conda_libstdcxx_shadowing_is_caught_and_real_loader_fails(tmp_path):
    syms = "\n".join(f"GLIBCXX_3.4.{i} {{ global: trt_sym_{i}; }};" for i in (20, 31))
    newer = compile_so(tmp_path / "sys" / "libstdc++.so.6", "libstdc++.so.6", source="int trt_sym_20(void){return 0;}\nint trt_sym_31(void){return 0;}\n", version_script=syms)
    conda = compile_so(tmp_path / "conda" / "lib" / "libstdc++.so.6", "libstdc++.so.6", source="int trt_sym_20(void){return 0;}\n", version_script="GLIBCXX_3.4.20 { global: trt_sym_20; };\n")
    user = compile_so(tmp_path / "app" / "libuses_cxx.so", "libuses_cxx.so", needed=[newer], source="int trt_sym_31(void);\nint g(void){return trt_sym_31();}\n", runpath=str(newer.parent))
    env = {"LD_LIBRARY_PATH": str(conda.parent)}
    chk = _libstdcxx_check(model(env), str(user))
    assert chk == {"needs": "GLIBCXX_3.4.31", "libstdcxx": str(conda), "via": "LD_LIBRARY_PATH", "provides": "GLIBCXX_3.4.20"}
    assert "GLIBCXX_3.4.31' not found" in real_loader(str(user), env)["error"]
    ok = _libstdcxx_check(model({}), str(user))
    assert ok["provides"] == "GLIBCXX_3.4.31"
    assert "loaded" in real_loader(str(user), {})


def test_h100_two_cudnn_copies_and_symlinks_are_not_duplicates(tree):
    h100_tree(tree)
    rep = check_json(tree.root, "--env", "VIRTUAL_ENV=/opt/torch/.venv")
    lib = rep["snapshot"]["libraries"]["libraries"]["libcudnn.so.9"]
    # as on the real host: the cache names /lib/..., which is /usr/lib/.../libcudnn.so.9.14.0
    assert lib["resolved"] == "/lib/x86_64-linux-gnu/libcudnn.so.9" and lib["via"] == "ld.so.cache"
    assert lib["resolved_real"] == "/usr/lib/x86_64-linux-gnu/libcudnn.so.9.14.0"
    assert lib["version"] == "9.14.0"
    assert len(lib["copies"]) == 2, lib["copies"]  # /lib is /usr/lib: one file, not two
    pip = next(c for c in lib["copies"] if "nvidia/cudnn" in c["path"])
    assert pip["version"] == "9.19.0.56" and "nvidia-cudnn-cu13" in pip["via"]
    mixed = [f for f in rep["findings"] if f["id"] == "libraries.mixed-versions"]
    assert len(mixed) == 1  # cuDNN's sub-libraries in one finding; cuFFT is one version in two places
    mixed = mixed[0]
    assert mixed["title"] == "cuDNN: 2 versions installed (9.14.0, 9.19.0) for libcudnn.so.9, libcudnn_graph.so.9"
    cufft = rep["snapshot"]["libraries"]["libraries"]["libcufft.so.12"]["copies"]
    assert {c["version"] for c in cufft} == {"12.0.0.61"} and any("pip nvidia-cufft 12.0.0.61" in c["via"] for c in cufft)
    assert any("wins for a plain dlopen" in e and "9.14.0" in e for e in mixed["evidence"])


def test_same_version_in_two_places_is_not_mixed(tree):
    tree.base().driver()
    tree.lib("/usr/local/nvidia/lib64/libcuda.so.580.159.04", "libcuda.so.1", links=("libcuda.so.1",))
    tree.write("/etc/ld.so.conf.d/nv.conf", "/usr/local/nvidia/lib64\n")
    tree.ldconfig()
    rep = check_json(tree.root)
    assert len(rep["snapshot"]["libraries"]["libraries"]["libcuda.so.1"]["copies"]) == 2
    assert "libraries.mixed-versions" not in ids(rep)


def test_explain_prints_the_search(tree):
    h100_tree(tree)
    res = run_cli("check", "--root", str(tree.root), "--env", "VIRTUAL_ENV=/opt/torch/.venv", "--env", "LD_LIBRARY_PATH=/usr/local/nvidia/lib64", "--explain", "libcudnn.so.9")
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "LD_LIBRARY_PATH" in out and "/usr/local/nvidia/lib64" in out and "absent" in out
    assert "Result: /lib/x86_64-linux-gnu/libcudnn.so.9 via ld.so.cache" in out
    assert "9.19.0.56" in out


TF_SITE = "/opt/venv/lib/python3.11/site-packages"


def tf_tree(t: Tree, version="2.17.1", cudnn_build="8.9", trt_dir=None):
    h100_tree(t)
    t.dist(TF_SITE, "tensorflow", version)
    t.write(
        f"{TF_SITE}/tensorflow/python/platform/build_info.py",
        f"import collections\nbuild_info = collections.OrderedDict()\nbuild_info['cuda_version'] = '12.3'\nbuild_info['cudnn_version'] = '{cudnn_build.split('.')[0]}'\nbuild_info['is_cuda_build'] = True\nbuild_info['is_tensorrt_build'] = True\n",
    )
    return t


def test_wrong_major_never_suggests_a_symlink(tree):
    tf_tree(tree)
    tree.lib("/usr/lib/x86_64-linux-gnu/libnvinfer.so.10.13.3", "libnvinfer.so.10", links=("libnvinfer.so.10",))
    tree.ldconfig()
    rep = check_json(tree.root, "--env", "VIRTUAL_ENV=/opt/venv")
    f = next(f for f in rep["findings"] if f["id"] == "libraries.wrong-major" and "libnvinfer.so.8.6.1" in f["title"])
    assert "libnvinfer.so.10" in f["title"]
    cmds = " ".join(f["fix"]["commands"])
    assert "tensorrt==8.6.1" in cmds and "ln -s" not in cmds
    assert "tensorflow.tensorrt-not-loadable" in ids(rep)


def test_on_disk_but_not_on_loader_path_then_fixed_by_ld_library_path(tree):
    tf_tree(tree)
    conda = "/opt/conda/envs/trt/lib"
    tree.lib(f"{conda}/libnvinfer.so.8.6.1", "libnvinfer.so.8", links=("libnvinfer.so.8",))
    tree.lib(f"{conda}/libnvinfer_plugin.so.8.6.1", "libnvinfer_plugin.so.8", links=("libnvinfer_plugin.so.8",))
    rep = check_json(tree.root, "--env", "VIRTUAL_ENV=/opt/venv", "--env", "CONDA_PREFIX=/opt/conda/envs/trt")
    f = next(f for f in rep["findings"] if f["id"] == "libraries.not-on-loader-path")
    assert f["fix"]["env"]["LD_LIBRARY_PATH"].startswith(conda)
    fixed = check_json(tree.root, "--env", "VIRTUAL_ENV=/opt/venv", "--env", f"LD_LIBRARY_PATH={conda}")
    nvinfer = [f for f in fixed["findings"] if f["id"].startswith("libraries.") and "libnvinfer" in f["title"]]
    assert not nvinfer and "tensorflow.tensorrt-not-loadable" not in ids(fixed)
    # TF 2.17 also wants CUDA 12 / cuDNN 8, which this CUDA 13 host lacks: that stays reported.
    assert {f["title"] for f in fixed["findings"] if f["id"] == "libraries.wrong-major"} == {
        "tensorflow 2.17.1 needs libcudart.so.12; only libcudart.so.13 is installed",
        "tensorflow 2.17.1 needs libcudnn.so.8; only libcudnn.so.9 is installed",
    }


def test_unresolved_needed_and_glibc_too_new(tree):
    h100_tree(tree)
    future_libc = tree.stub("libc.so.6", source="int trt_future(void){return 1;}\n", version_script="GLIBC_2.99 { global: trt_future; };\n")
    tree.lib("/usr/lib/x86_64-linux-gnu/libnvinfer.so.10.13.3", "libnvinfer.so.10", links=("libnvinfer.so.10",), needs=("libcublasLt.so.12",))
    compile_so(tree.p("/usr/lib/x86_64-linux-gnu/libcudnn_graph.so.9.14.0"), "libcudnn_graph.so.9", needed=[future_libc], source="int trt_future(void);\nint h(void){return trt_future();}\n")
    tree.link("/usr/lib/x86_64-linux-gnu/libcudnn_graph.so.9", "libcudnn_graph.so.9.14.0")
    tree.ldconfig()
    rep = check_json(tree.root)
    f = next(f for f in rep["findings"] if f["id"] == "libraries.unresolved-needed")
    assert "libcublasLt.so.12" in f["title"]
    g = next(f for f in rep["findings"] if f["id"] == "libraries.glibc-too-old")
    assert "GLIBC_2.99" in g["title"]


def test_zero_length_libcuda_is_an_error(tree):
    tree.base().driver()
    tree.p("/usr/lib/x86_64-linux-gnu/libcuda.so.580.159.04").write_bytes(b"")
    rep = check_json(tree.root)
    f = next(f for f in rep["findings"] if f["id"] == "libraries.broken-file")
    assert f["severity"] == "error" and "zero-length" in f["title"]
    assert "NVIDIA runtime" in f["detail"]


def test_cudnn_older_than_tf_build(tree):
    tf_tree(tree)
    tree.write(f"{TF_SITE}/tensorflow/python/platform/build_info.py", "build_info = {'cuda_version': '12.3', 'cudnn_version': '8.9', 'is_cuda_build': True}\n")
    tree.lib("/usr/lib/x86_64-linux-gnu/libcudnn.so.8.6.0", "libcudnn.so.8", links=("libcudnn.so.8",))
    tree.ldconfig()
    rep = check_json(tree.root, "--env", "VIRTUAL_ENV=/opt/venv")
    f = next(f for f in rep["findings"] if f["id"] == "libraries.cudnn-older-than-build")
    assert "8.6.0" in f["title"] and "8.9" in f["title"]
    tree.lib("/usr/lib/x86_64-linux-gnu/libcudnn.so.8.9.7", "libcudnn.so.8", links=("libcudnn.so.8",))
    tree.ldconfig()
    assert "libraries.cudnn-older-than-build" not in ids(check_json(tree.root, "--env", "VIRTUAL_ENV=/opt/venv"))


def test_stale_ld_so_cache(tree):
    h100_tree(tree)
    tree.lib("/usr/local/cuda-13.0/targets/x86_64-linux/lib/libcublas.so.13.1.0.3", "libcublas.so.13", links=("libcublas.so.13",))
    rep = check_json(tree.root)
    f = next(f for f in rep["findings"] if f["id"] == "libraries.stale-cache")
    assert any("libcublas.so.13" in e for e in f["evidence"]) and f["fix"]["commands"] == ["sudo ldconfig"]
    tree.ldconfig()
    assert "libraries.stale-cache" not in ids(check_json(tree.root))


@pytest.mark.parametrize("flag", ["-v"])
def test_verbose_shows_resolution_chains(tree, flag):
    h100_tree(tree)
    res = run_cli("check", flag, "--root", str(tree.root), "--env", "VIRTUAL_ENV=/opt/torch/.venv")
    assert "libcudnn.so.9 → /lib/x86_64-linux-gnu/libcudnn.so.9 (9.14.0) via ld.so.cache; also /opt/torch/.venv/lib/python3.12/site-packages/nvidia/cudnn/lib/libcudnn.so.9 (9.19.0.56)" in res.stdout


# torch: libtorch_cuda.so's DT_RPATH names the nvidia wheel directories (torch 2.11.0+cu130)

SITE = "/opt/torch/.venv/lib/python3.12/site-packages"
TORCH_ENV = ("--env", "VIRTUAL_ENV=/opt/torch/.venv", "--env", "LD_LIBRARY_PATH=/usr/local/nvidia/lib64:/usr/local/nvidia/lib")


def torch_consumer(rep):
    return next(c for c in rep["snapshot"]["libraries"]["consumers"] if c.get("role") == "torch")


def test_torch_gets_its_wheel_cudnn_as_the_real_loader_does(tree):
    """The model's answer for each CUDA soname torch NEEDs is the file glibc really maps when
    it loads libtorch_cuda.so from the tree (RPATH beats LD_LIBRARY_PATH and the cache)."""
    h100_tree(tree)
    rep = check_json(tree.root, *TORCH_ENV)
    torch = torch_consumer(rep)
    assert set(torch["needs"]) == {"libcudart.so.13", "libcusparse.so.12", "libcufft.so.12", "libcurand.so.10", "libcublas.so.13", "libcublasLt.so.13", "libcudnn.so.9"}
    requester = str(tree.p(torch["requester"]))
    for soname, r in torch["resolutions"].items():
        assert r["via"] == "RPATH of libtorch_cuda.so" and r["resolved"].startswith(f"{SITE}/nvidia/")
        real = real_loader(soname, {"LD_LIBRARY_PATH": str(tree.p("/usr/lib/x86_64-linux-gnu"))}, requester)["loaded"]
        assert os.path.realpath(real) == os.path.realpath(tree.p(r["resolved"]))
    assert [f["severity"] for f in rep["findings"] if f["area"] == "libraries"] == ["warning"]


def test_the_two_cudnn_warning_says_torch_gets_the_wheel_copy_as_on_the_h100(tree):
    """shared/fixtures/h100/truth.txt: torch maps the wheel's libcudnn.so.9, a plain dlopen the system's."""
    from conftest import SHARED

    truth = (SHARED / "fixtures/h100/truth.txt").read_text() if (SHARED / "fixtures/h100/truth.txt").exists() else ""
    h100_tree(tree)
    (f,) = [f for f in check_json(tree.root, *TORCH_ENV)["findings"] if f["id"] == "libraries.mixed-versions"]
    assert "torch 2.11.0 gets 9.19.0.56 (RPATH of libtorch_cuda.so)" in f["detail"]
    torch_copy = next(e for e in f["evidence"] if "[wins for torch 2.11.0]" in e).split(" → ")[0]
    plain_copy = next(e for e in f["evidence"] if "[wins for a plain dlopen]" in e).split(" → ")[0]
    assert torch_copy == f"{SITE}/nvidia/cudnn/lib/libcudnn.so.9" and plain_copy.endswith("/x86_64-linux-gnu/libcudnn.so.9")
    if truth:
        mapped = truth.split("## which libcudnn torch maps after cudnn init")[1].split("##")[0]
        assert torch_copy in mapped


def test_torch_without_its_cudnn_wheel_is_an_error_naming_torch(tree):
    """No nvidia-cudnn wheel and no system cuDNN: `import torch` fails on libcudnn.so.9."""
    tree.base().driver().cuda()
    torch_wheel(tree, SITE, missing=("nvidia/cudnn/lib/libcudnn.so.9",))
    tree.write("/opt/torch/.venv/pyvenv.cfg", "home = /usr/bin\ninclude-system-site-packages = false\n")
    tree.ldconfig()
    rep = check_json(tree.root, *TORCH_ENV)
    (f,) = [f for f in rep["findings"] if f["id"] == "libraries.missing"]
    assert f["title"] == "torch 2.11.0 needs libcudnn.so.9, which is not installed" and f["severity"] == "error"


def test_torch_without_its_cudnn_wheel_but_a_system_cudnn_is_fine(tree):
    """Near miss: the loader falls back from RPATH to ld.so.cache, where a cuDNN 9 is."""
    tree.base().driver().cuda()
    tree.lib("/usr/lib/x86_64-linux-gnu/libcudnn.so.9.14.0", "libcudnn.so.9", links=("libcudnn.so.9",))
    torch_wheel(tree, SITE, missing=("nvidia/cudnn/lib/libcudnn.so.9",))
    tree.write("/opt/torch/.venv/pyvenv.cfg", "home = /usr/bin\ninclude-system-site-packages = false\n")
    tree.ldconfig()
    rep = check_json(tree.root, *TORCH_ENV)
    assert torch_consumer(rep)["resolutions"]["libcudnn.so.9"]["via"] == "ld.so.cache"
    assert [f for f in rep["findings"] if f["area"] == "libraries"] == []
