"""The driver, GPU and environment rules on real test trees, healthy and broken."""

from conftest import H100_ENV, check_json, h100_tree, ids


def env_args(items):
    return [a for item in items for a in ("--env", item)]


def test_h100_tree_is_healthy_but_for_the_two_cudnn_copies_and_no_tensorrt(tree):
    rep = check_json(h100_tree(tree).root, *env_args(H100_ENV))
    snap = rep["snapshot"]
    assert rep["schema"] == "trtdoctor.report/1"
    assert rep["target"]["mode"] == "static"
    assert snap["driver"]["version"] == "580.159.04"
    assert snap["driver"]["kernel_module_open"] is True
    assert snap["gpus"]["devices"][0]["compute_capability"] == "9.0"
    assert snap["cuda"]["toolkits"][0]["version"] == "13.0.2"
    assert snap["os"]["id"] == "ubuntu" and snap["os"]["arch"] == "x86-64"
    assert rep["summary"]["errors"] == 0
    assert ids(rep) == ["libraries.mixed-versions", "tensorrt.not-installed"]  # truth.txt: import tensorrt fails there
    assert rep["summary"]["incomplete"] == 0 and {a: v["status"] for a, v in rep["areas"].items()} == {
        "os": "ok",
        "driver": "ok",
        "gpus": "ok",
        "env": "ok",
        "libraries": "warning",
        "tensorrt": "warning",
        "tensorflow": "not-applicable",
        "pycuda": "not-applicable",
        "onnxruntime": "not-applicable",
        "precision": "ok",
    }


def test_no_driver(tree):
    tree.base().cuda()
    tree.write("/proc/driver/README", "no nvidia here\n")
    rep = check_json(tree.root)
    f = next(f for f in rep["findings"] if f["id"] == "driver.missing")
    assert f["severity"] == "error" and "/proc/driver/nvidia/version: absent" in f["evidence"]
    assert rep["summary"]["status"] == "error"


def test_static_tree_without_proc_does_not_claim_no_driver(tree):
    tree.base()
    (tree.root / "proc").rename(tree.root / "noproc")
    assert "driver.missing" not in ids(check_json(tree.root))


def test_device_nodes_missing_when_dev_is_populated(tree):
    tree.base().driver()
    tree.write("/dev/null", "")
    assert "driver.no-device-nodes" in ids(check_json(tree.root))
    tree.write("/dev/nvidiactl", "")
    tree.write("/dev/nvidia0", "")
    assert "driver.no-device-nodes" not in ids(check_json(tree.root))


def test_kernel_module_and_library_mismatch(tree):
    tree.base().driver(version="535.104.05", libs_version="550.54.14")
    rep = check_json(tree.root)
    f = next(f for f in rep["findings"] if f["id"] == "driver.version-mismatch")
    assert "535.104.05" in f["title"] and "550.54.14" in f["title"]
    assert "reboot" in " ".join(f["fix"]["commands"])


def test_driver_too_old_for_cuda_and_minor_compat(tree):
    tree.base().driver(version="470.82.01").cuda("12.2.2", "12.2.140")
    rep = check_json(tree.root)
    f = next(f for f in rep["findings"] if f["id"] == "driver.too-old-for-cuda")
    assert "12.2" in f["title"] and "535.54.03" in f["title"]
    tree2 = tree.root.parent / "t2"
    from conftest import Tree

    t2 = Tree(tree2).base().driver(version="525.60.13").cuda("12.2.2", "12.2.140")
    rep2 = check_json(t2.root)
    assert "driver.too-old-for-cuda" not in ids(rep2)
    assert "driver.minor-compat" in ids(rep2)


def test_all_gpus_hidden_by_cuda_visible_devices(tree):
    h100_tree(tree)
    assert "gpus.hidden" in ids(check_json(tree.root, "--env", "CUDA_VISIBLE_DEVICES="))
    assert "gpus.hidden" in ids(check_json(tree.root, "--env", "CUDA_VISIBLE_DEVICES=3"))
    assert "gpus.hidden" in ids(check_json(tree.root, "--env", "NVIDIA_VISIBLE_DEVICES=void"))
    assert "gpus.hidden" not in ids(check_json(tree.root, "--env", "CUDA_VISIBLE_DEVICES=0"))


def test_ld_library_path_missing_empty_duplicate_mixed(tree):
    h100_tree(tree)
    tree.cuda("12.4.1", "12.4.127", conf=False)
    ld = "/usr/local/cuda-13.0/targets/x86_64-linux/lib::/nope:/usr/local/cuda-12.4/targets/x86_64-linux/lib:/nope"
    rep = check_json(tree.root, "--env", f"LD_LIBRARY_PATH={ld}")
    got = ids(rep)
    for fid in ("env.ld-library-path-missing", "env.ld-library-path-empty", "env.ld-library-path-duplicate", "env.ld-library-path-mixed-cuda"):
        assert fid in got
    fix = next(f for f in rep["findings"] if f["id"] == "env.ld-library-path-missing")["fix"]
    assert fix["env"]["LD_LIBRARY_PATH"] == "/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/local/cuda-12.4/targets/x86_64-linux/lib"
    clean = check_json(tree.root, "--env", "LD_LIBRARY_PATH=/usr/local/cuda-13.0/targets/x86_64-linux/lib")
    assert not [i for i in ids(clean) if i.startswith("env.")]


def test_ld_preload(tree):
    h100_tree(tree)
    rep = check_json(tree.root, "--env", "LD_PRELOAD=/gone/libfoo.so /usr/lib/x86_64-linux-gnu/libcudnn.so.9")
    assert "env.ld-preload-missing" in ids(rep) and "env.ld-preload-gpu" in ids(rep)
    assert rep["snapshot"]["libraries"]["libraries"]["libcudnn.so.9"]["via"] == "LD_PRELOAD"


def test_wsl2_layout(tree):
    tree.base().wsl()
    rep = check_json(tree.root)
    assert rep["snapshot"]["os"]["wsl2"] is True
    assert not [i for i in ids(rep) if i.startswith("os.wsl")]
    assert "driver.missing" not in ids(rep)
    # A Linux driver installed inside WSL shadows the WSL libcuda.
    tree.lib("/usr/lib/x86_64-linux-gnu/libcuda.so.535.104.05", "libcuda.so.1", links=("libcuda.so.1",))
    tree.write("/etc/ld.so.conf.d/0-linux.conf", "/usr/lib/x86_64-linux-gnu\n")
    tree.ldconfig()
    rep = check_json(tree.root)
    assert "os.wsl-linux-driver" in ids(rep)
    assert "os.wsl-libcuda-shadowed" in ids(rep)


def test_env_secrets_are_redacted_and_unlisted_vars_dropped(tree):
    h100_tree(tree)
    rep = check_json(tree.root, "--env", "CUDA_API_TOKEN=hunter2", "--env", "AWS_SECRET_ACCESS_KEY=abc", "--env", "CUDA_HOME=/usr/local/cuda")
    vars_ = rep["snapshot"]["env"]["vars"]
    assert vars_["CUDA_API_TOKEN"] == "<redacted>"
    assert "AWS_SECRET_ACCESS_KEY" not in vars_
    assert vars_["CUDA_HOME"] == "/usr/local/cuda"
