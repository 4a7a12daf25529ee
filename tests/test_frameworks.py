"""TensorRT, TF-TRT and precision rules on static trees with real dist-info metadata."""

from conftest import Tree, check_json, h100_tree, ids, needs_cc

pytestmark = needs_cc
SITE = "/opt/venv/lib/python3.12/site-packages"
ENV = ("--env", "VIRTUAL_ENV=/opt/venv")


def bindings_only(t: Tree, version="11.4.0.106", cuda="13") -> Tree:
    """The real broken install of truth.txt: the bindings wheel without the libs."""
    t.dist(SITE, f"tensorrt-cu{cuda}-bindings", version)
    major = version.split(".")[0]
    t.lib(f"{SITE}/tensorrt_bindings/tensorrt.so", "tensorrt.so", needs=(f"libnvonnxparser.so.{major}", f"libnvinfer_plugin.so.{major}", f"libnvinfer.so.{major}"), rpath="$ORIGIN")
    return t


def pip_trt(t: Tree, site: str, cuda: str, version: str, libs_version: str | None = None) -> None:
    """The three pip parts of one TensorRT install (dist-info only)."""
    t.dist(site, f"tensorrt-cu{cuda}", version)
    t.dist(site, f"tensorrt-cu{cuda}-bindings", version)
    t.dist(site, f"tensorrt-cu{cuda}-libs", libs_version or version)


def test_bindings_without_libs_gives_the_pinned_install(tree):
    bindings_only(h100_tree(tree))
    rep = check_json(tree.root, *ENV)
    f = next(f for f in rep["findings"] if f["id"] == "tensorrt.bindings-without-libs")
    cmd = f["fix"]["commands"][0]
    assert "--extra-index-url https://pypi.nvidia.com" in cmd
    for part in ("tensorrt-cu13==11.4.0.106", "tensorrt-cu13-bindings==11.4.0.106", "tensorrt-cu13-libs==11.4.0.106"):
        assert part in cmd
    assert any("libnvonnxparser.so.11" in e for e in f["evidence"])
    inst = rep["snapshot"]["tensorrt"]["installs"][0]
    assert inst["bindings_so"][0]["soname_majors"] == ["11"]
    assert inst["bindings_so"][0]["rpath"] == ["$ORIGIN"]
    # consumers: the loader cannot find the three sonames either, and the hint is TensorRT 11
    missing = [f for f in rep["findings"] if f["id"] == "libraries.missing"]
    assert missing and all("tensorrt-cu13-libs==11.4.0.106" in f["fix"]["commands"][0] for f in missing)


def test_complete_pip_install_is_healthy(tree):
    bindings_only(h100_tree(tree))
    tree.dist(SITE, "tensorrt-cu13", "11.4.0.106")
    tree.dist(SITE, "tensorrt-cu13-libs", "11.4.0.106")
    for name in ("libnvinfer", "libnvinfer_plugin", "libnvonnxparser"):
        tree.lib(f"{SITE}/tensorrt_libs/{name}.so.11", f"{name}.so.11")
    rep = check_json(tree.root, *ENV, "--env", f"LD_LIBRARY_PATH={SITE}/tensorrt_libs")
    assert not [i for i in ids(rep) if i.startswith("tensorrt.")], rep["findings"]


def test_parts_mismatch_and_libs_stub(tree):
    h100_tree(tree)
    pip_trt(tree, SITE, "12", "10.13.3.9", libs_version="10.7.0")
    rep = check_json(tree.root, *ENV)
    f = next(f for f in rep["findings"] if f["id"] == "tensorrt.parts-mismatch")
    assert "10.13.3.9" in f["title"] and "10.7.0" in f["title"]
    assert "tensorrt-cu12-libs==10.13.3.9" in f["fix"]["commands"][0]
    assert "tensorrt.libs-stub" in ids(rep)
    # CUDA 12 TensorRT on a CUDA 13 host
    assert "tensorrt.cuda-mismatch" in ids(rep)


def test_placeholder_package(tree):
    h100_tree(tree)
    tree.dist(SITE, "nvidia-tensorrt", "99.0.0")
    f = next(f for f in check_json(tree.root, *ENV)["findings"] if f["id"] == "tensorrt.placeholder")
    assert "pip uninstall -y nvidia-tensorrt" in f["fix"]["commands"]


def test_placeholder_that_pulled_its_tensorrt_is_harmless(tree):
    """Near miss: nvidia-tensorrt 99.0.0 requires `tensorrt` (its real METADATA); with it there, no
    placeholder finding and its 99.0.0 is not a TensorRT version that disagrees with the parts."""
    h100_tree(tree)
    tree.dist(SITE, "nvidia-tensorrt", "99.0.0")
    pip_trt(tree, SITE, "13", "10.16.1.11")
    found = ids(check_json(tree.root, *ENV))
    assert "tensorrt.placeholder" not in found and "tensorrt.parts-mismatch" not in found


def test_old_nvidia_tensorrt_is_a_tensorrt_install(tree):
    """nvidia-tensorrt 7.2.3.4 (NVIDIA's index) is TensorRT 7.2.3.4, not "not installed"."""
    h100_tree(tree)
    tree.dist(SITE, "nvidia-tensorrt", "7.2.3.4")
    rep = check_json(tree.root, *ENV)
    assert "tensorrt.not-installed" not in ids(rep)
    assert rep["snapshot"]["tensorrt"]["installs"][0]["parts"] == {"nvidia-tensorrt": "7.2.3.4"}


def test_python_outside_wheel_range(tree):
    h100_tree(tree)
    site = "/opt/venv/lib/python3.7/site-packages"
    pip_trt(tree, site, "12", "10.13.3.9")
    f = next(f for f in check_json(tree.root, *ENV)["findings"] if f["id"] == "tensorrt.python-unsupported")
    assert "3.7" in f["title"] and "3.8–3.13" in f["title"]


def test_pascal_gpu_on_tensorrt_10_and_fp16_slow(tree):
    tree.base().driver(version="535.104.05", gpu="Tesla P4").cuda("12.2.2", "12.2.140")
    tree.ldconfig()
    tree.dist(SITE, "tensorrt", "10.3.0")
    pip_trt(tree, SITE, "12", "10.3.0")
    rep = check_json(tree.root, *ENV)
    f = next(f for f in rep["findings"] if f["id"] == "tensorrt.gpu-unsupported")
    assert "6.1" in f["title"] and "7.0" in f["title"]
    assert "precision.fp16-slow" in ids(rep)
    table = rep["snapshot"]["precision"]["gpus"][0]
    assert table["support"]["fp16"] == "slow" and table["support"]["int8"] is True and table["support"]["bf16"] is False


def test_tensorrt_rtx_on_h100_is_refused_and_precision_table(tree):
    h100_tree(tree)
    tree.dist(SITE, "tensorrt-rtx-cu13", "1.7.1.116")
    rep = check_json(tree.root, *ENV)
    f = next(f for f in rep["findings"] if f["id"] == "tensorrt.rtx-unsupported-gpu")
    assert "9.0" in f["title"]
    row = rep["snapshot"]["precision"]["gpus"][0]
    assert row["compute_capability"] == "9.0"
    assert {k for k, v in row["support"].items() if v is True} == {"fp32", "tf32", "fp16", "bf16", "int8", "fp8"}
    assert row["support"]["fp4"] is False


def test_tensorrt_11_requests_precision_by_typed_graph(tree):
    bindings_only(h100_tree(tree))
    rep = check_json(tree.root, *ENV)
    assert rep["snapshot"]["precision"]["gpus"][0]["request_by"]["fp16"] == "typed graph"


def test_tf_218_has_no_tftrt_and_python_range(tree):
    h100_tree(tree)
    tree.dist(SITE, "tensorflow", "2.18.0")
    rep = check_json(tree.root, *ENV)
    f = next(f for f in rep["findings"] if f["id"] == "tensorflow.no-tftrt")
    assert "tensorflow==2.17.1" in f["fix"]["commands"][0]
    site = "/opt/old/lib/python3.12/site-packages"
    tree.dist(site, "tensorflow", "2.14.1")
    rep = check_json(tree.root, "--env", "VIRTUAL_ENV=/opt/old")
    assert "tensorflow.python-unsupported" in ids(rep)


# --- TensorFlow before 2.10, and tensorflow-gpu ------------------------------------------

TF_SITE = "/opt/venv/lib/python3.8/site-packages"


def tf_gpu_23(t: Tree, cudart_file: str | None) -> Tree:
    """tensorflow-gpu 2.3.0 (CUDA 10.1, cuDNN 7.6, TensorRT 6 per tensorflow.org's tables) in a
    Python 3.8 venv; ``cudart_file``: where the CUDA 10.1 runtime is (its SONAME libcudart.so.10.1)."""
    t.base().driver()
    t.dist(TF_SITE, "tensorflow-gpu", "2.3.0")
    t.write(f"{TF_SITE}/tensorflow/python/platform/build_info.py", "build_info = {'cuda_version': '10.1', 'cudnn_version': '7', 'is_cuda_build': True, 'is_tensorrt_build': True}\n")
    if cudart_file:
        t.lib(cudart_file, "libcudart.so.10.1", links=("libcudart.so.10.1",))
    t.ldconfig()
    return t


def tf_consumer(rep: dict) -> dict:
    return next(c for c in rep["snapshot"]["libraries"]["consumers"] if c["role"] == "tensorflow")


def test_tensorflow_gpu_2_3_asks_for_the_cuda_10_1_soname(tree):
    """TF built with CUDA 10.1 dlopens libcudart.so.10.1 (not libcudart.so.10): installed, no finding on it."""
    tf_gpu_23(tree, "/usr/lib/x86_64-linux-gnu/libcudart.so.10.1.243")
    rep = check_json(tree.root, *ENV)
    assert rep["snapshot"]["tensorflow"]["installs"][0]["package"] == "tensorflow-gpu"
    c = tf_consumer(rep)
    assert c["name"] == "tensorflow 2.3.0" and c["needs"] == ["libnvinfer.so.6", "libnvinfer_plugin.so.6", "libcudart.so.10.1", "libcudnn.so.7"]
    assert c["resolutions"]["libcudart.so.10.1"]["via"] == "ld.so.cache"
    assert not [f for f in rep["findings"] if "libcudart" in f["title"]]


def test_tensorflow_gpu_2_3_without_its_cuda_runtime_fires(tree):
    tf_gpu_23(tree, None)
    rep = check_json(tree.root, *ENV)
    assert "tensorflow 2.3.0 needs libcudart.so.10.1, which is not installed" in [f["title"] for f in rep["findings"]]
