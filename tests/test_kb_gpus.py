"""GPU identity and precision rows of the knowledge base (issue 11).

Names are spelled as NVML / /proc/driver/nvidia/gpus report them; the expected compute
capabilities come from NVIDIA's CUDA GPUs pages and pci.ids, as cited in kb/gpus.yaml.
"""

import re
from pathlib import Path

import pytest
from conftest import check_json

from trtdoctor import knowledge
from trtdoctor.probes.system import probe_gpus
from trtdoctor.target import Target

NAMES = {
    # Blackwell
    "NVIDIA GB10": "12.1",
    "NVIDIA RTX PRO 6000 Blackwell Workstation Edition": "12.0",
    "NVIDIA RTX PRO 6000 Blackwell Server Edition": "12.0",
    "NVIDIA RTX PRO 6000 Blackwell Max-Q Workstation Edition": "12.0",
    "NVIDIA RTX PRO 4000 Blackwell SFF Edition": "12.0",
    "NVIDIA RTX PRO 2000 Blackwell": "12.0",
    "NVIDIA GeForce RTX 5090": "12.0",
    "NVIDIA GeForce RTX 5070 Ti": "12.0",
    "NVIDIA GeForce RTX 5050": "12.0",
    "NVIDIA Jetson T4000": "11.0",
    "NVIDIA Jetson AGX Thor": "11.0",
    "NVIDIA B300 SXM6 AC": "10.3",
    "NVIDIA GB300": "10.3",
    "NVIDIA B200": "10.0",
    "NVIDIA GB200": "10.0",
    # Hopper
    "NVIDIA H100 80GB HBM3": "9.0",
    "NVIDIA H100 PCIe": "9.0",
    "NVIDIA H100 NVL": "9.0",
    "NVIDIA H200": "9.0",
    "NVIDIA GH200 480GB": "9.0",
    "NVIDIA H20": "9.0",
    "NVIDIA H800": "9.0",
    # Ada
    "NVIDIA L4": "8.9",
    "NVIDIA L40": "8.9",
    "NVIDIA L40S": "8.9",
    "NVIDIA RTX 6000 Ada Generation": "8.9",
    "NVIDIA RTX 5000 Ada Generation": "8.9",
    "NVIDIA RTX 4000 SFF Ada Generation": "8.9",
    "NVIDIA RTX 2000 Ada Generation": "8.9",
    "NVIDIA GeForce RTX 4090": "8.9",
    "NVIDIA GeForce RTX 4060 Ti": "8.9",
    "NVIDIA GeForce RTX 4050 Laptop GPU": "8.9",
    "NVIDIA GeForce RTX 3050 A Laptop GPU": "8.9",
    # Ampere
    "Orin (nvgpu)": "8.7",
    "NVIDIA Jetson AGX Orin": "8.7",
    "NVIDIA Jetson Orin Nano": "8.7",
    "NVIDIA A100-SXM4-80GB": "8.0",
    "NVIDIA A100 80GB PCIe": "8.0",
    "NVIDIA A30": "8.0",
    "NVIDIA A10": "8.6",
    "NVIDIA A10G": "8.6",
    "NVIDIA A16": "8.6",
    "NVIDIA A2": "8.6",
    "NVIDIA A40": "8.6",
    "NVIDIA RTX A6000": "8.6",
    "NVIDIA RTX A2000 12GB": "8.6",
    "NVIDIA GeForce RTX 3090": "8.6",
    "NVIDIA GeForce RTX 3060 Laptop GPU": "8.6",
    "NVIDIA GeForce RTX 2050": "8.6",
    "NVIDIA GeForce MX570": "8.6",
    # Turing
    "Tesla T4": "7.5",
    "NVIDIA T4": "7.5",
    "NVIDIA T400 4GB": "7.5",
    "Quadro T1000": "7.5",
    "Quadro RTX 8000": "7.5",
    "Quadro RTX 5000": "7.5",
    "Quadro RTX 4000": "7.5",
    "Quadro RTX 5000 with Max-Q Design": "7.5",
    "NVIDIA TITAN RTX": "7.5",
    "NVIDIA GeForce RTX 2080 Ti": "7.5",
    "NVIDIA GeForce RTX 2060 SUPER": "7.5",
    "NVIDIA GeForce GTX 1660 Ti": "7.5",
    "NVIDIA GeForce GTX 1650": "7.5",
    "NVIDIA GeForce MX450": "7.5",
    "NVIDIA GeForce MX550": "7.5",
    # Volta
    "Xavier": "7.2",
    "Tesla V100-SXM2-16GB": "7.0",
    "Tesla V100S-PCIE-32GB": "7.0",
    "NVIDIA TITAN V": "7.0",
    "Quadro GV100": "7.0",
    # Pascal
    "NVIDIA Jetson TX2": "6.2",
    "Tesla P100-PCIE-16GB": "6.0",
    "Quadro GP100": "6.0",
    "Tesla P40": "6.1",
    "Tesla P4": "6.1",
    "Quadro P4000": "6.1",
    "NVIDIA TITAN Xp": "6.1",
    "NVIDIA TITAN X (Pascal)": "6.1",
    "NVIDIA GeForce GTX 1080 Ti": "6.1",
    "GeForce GTX 1050": "6.1",
    "NVIDIA GeForce MX150": "6.1",
    "NVIDIA GeForce MX350": "6.1",
    # Maxwell
    "NVIDIA Jetson Nano": "5.3",
    "NVIDIA Tegra X1": "5.3",
    "Tesla M60": "5.2",
    "Tesla M40 24GB": "5.2",
    "Quadro M6000 24GB": "5.2",
    "GeForce GTX TITAN X": "5.2",
    "GeForce GTX 980 Ti": "5.2",
    "GeForce GTX 970M": "5.2",
    "GeForce GTX 960M": "5.0",
    "GeForce GTX 750 Ti": "5.0",
    "NVIDIA GeForce MX130": "5.0",
    "NVIDIA GeForce MX110": "5.0",
    # Kepler
    "Tesla K80": "3.7",
    "Tesla K40c": "3.5",
    "Tesla K20Xm": "3.5",
    "GeForce GTX TITAN Black": "3.5",
    "GeForce GTX 780 Ti": "3.5",
    "GeForce GTX 770": "3.0",
    "Tesla K10.G2.8GB": "3.0",
    # parts NVIDIA's page does not list (rows from pci.ids chips, verified: false)
    "NVIDIA B100": "10.0",
    "NVIDIA L20": "8.9",
    "NVIDIA A800 80GB PCIe": "8.0",
    "NVIDIA RTX A500 Laptop GPU": "8.6",
    "NVIDIA T1200 Laptop GPU": "7.5",
    "Quadro RTX 3000": "7.5",
    "NVIDIA GeForce GTX 1630": "7.5",
    "Tesla P6": "6.1",
    "NVIDIA P620": "6.1",
    "Quadro K2200": "5.0",
}

# The audit's mis-mapped names (kb-audit.md, "Lookups that go wrong") with the cc they got before.
AUDIT_WRONG = {
    "NVIDIA RTX 5000 Ada Generation": "12.0",
    "Quadro RTX 5000": "12.0",
    "Quadro RTX 4000": "8.9",
    "Quadro RTX 3000": "8.6",
    "NVIDIA RTX 2000 Ada Generation": "7.5",
    "NVIDIA GeForce RTX 2050": "7.5",
    "NVIDIA Jetson T4000": "7.5",
    "NVIDIA GeForce MX450": "6.1",
    "NVIDIA GeForce MX570": "6.1",
    "NVIDIA GeForce MX130": "6.1",
}

CC = re.compile(r"^\d{1,2}\.\d$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
PRECISIONS = ("fp32", "tf32", "fp16", "bf16", "int8", "fp8", "fp4")


def test_at_least_sixty_real_names_with_the_audit_cases_among_them():
    assert len(NAMES) >= 60
    assert set(AUDIT_WRONG) <= set(NAMES)


@pytest.mark.parametrize("name,cc", sorted(NAMES.items()))
def test_name_maps_to_its_compute_capability(name, cc):
    row = knowledge.cc_for_gpu(name)
    assert row is not None, f"{name}: no row"
    assert row["cc"] == cc, f"{name}: {row['cc']} from {row['match']!r}, expected {cc}"


@pytest.mark.parametrize("name,wrong", sorted(AUDIT_WRONG.items()))
def test_audit_mismaps_are_gone(name, wrong):
    row = knowledge.cc_for_gpu(name)
    assert row is not None and row["cc"] != wrong


@pytest.mark.parametrize("name", ["NVIDIA GeForce GT 1030", "Matrox G200eR2", "NVIDIA Graphics Device", "", None])
def test_unknown_or_ambiguous_names_stay_unknown(name):
    # GT 1030 shipped as GK107 (Kepler) and GP108 (Pascal) per pci.ids: no single cc to give
    assert knowledge.cc_for_gpu(name) is None


def test_every_winner_beats_the_rows_that_disagree():
    """Where rows of different cc both match a listed name, the intended one must be strictly
    longer (more specific): a tie would make the answer depend on luck."""
    for name, cc in NAMES.items():
        found = knowledge.gpu_rows_matching(name)
        best = found[0][0]
        others = [(n, r["match"]) for n, r in found if r["cc"] != cc]
        assert all(n < best for n, _ in others), f"{name}: {others} tie with or beat the {cc} row"


def _sources_ok(row: dict) -> None:
    assert isinstance(row["source"], str) and row["source"]
    for url in row["source"].split(" ; "):
        assert url.startswith("https://") and " " not in url, url
    assert isinstance(row["read"], str) and DATE.match(row["read"])
    assert isinstance(row["verified"], bool)
    assert isinstance(row.get("note", ""), str)


def test_gpus_yaml_schema():
    rows = knowledge.load("gpus")["gpus"]
    assert len({r["match"].lower() for r in rows}) == len(rows), "duplicate patterns"
    for row in rows:
        assert set(row) <= {"match", "cc", "source", "read", "verified", "note"}, row
        assert isinstance(row["match"], str) and re.compile(row["match"])
        assert isinstance(row["cc"], str) and CC.match(row["cc"]), row
        _sources_ok(row)


def test_every_gpu_row_wins_for_some_listed_name():
    """A row no real name reaches is dead (like the old "RTX 5090" row behind "RTX 50")."""
    won = {id(knowledge.cc_for_gpu(name)) for name in NAMES}
    dead = [r["match"] for r in knowledge.load("gpus")["gpus"] if id(r) not in won]
    assert not dead


def test_precision_yaml_schema():
    data = knowledge.load("precision")
    rows = list(data["by_cc"].items()) + [("fallback_older", data["fallback_older"])]
    for key, row in rows:
        assert key == "fallback_older" or CC.match(key), key
        assert set(row) <= set(PRECISIONS) | {"source", "read", "verified", "note"}, row
        for p in PRECISIONS:
            assert row[p] in (True, False, "slow", "partial"), (key, p, row[p])  # YAML yes/no are booleans
        _sources_ok(row)
    assert set(data) == {"by_cc", "fallback_older"}


def test_sm53_has_fp16_and_older_maxwell_does_not():
    assert knowledge.precision_for_cc("5.3")["fp16"] is True  # Jetson Nano / TX1
    assert knowledge.precision_for_cc("5.3")["int8"] is False
    assert knowledge.precision_for_cc("5.2")["fp16"] is False
    assert knowledge.precision_for_cc("3.7")["fp32"] is True


def test_precision_nearest_lower_row():
    assert knowledge.precision_for_cc("6.1")["fp16"] == "slow"
    assert knowledge.precision_for_cc("12.1")["fp4"] == "partial"  # GB10 takes the 12.0 row
    assert knowledge.precision_for_cc("10.3")["fp4"] is True
    assert knowledge.precision_for_cc(None) == {}


def test_nvml_compute_capability_wins_over_the_name():
    """Live: NVML's own answer stays, even where the name table would say otherwise."""
    snap = {
        "nvml": {
            "source": "nvml",
            "devices": [{"index": 0, "name": "NVIDIA GeForce RTX 5090", "uuid": "GPU-1", "compute_capability": "12.0"}, {"index": 1, "name": "Quadro RTX 5000", "uuid": "GPU-2", "compute_capability": "9.9"}],
        }
    }
    devs = probe_gpus(Target(live=False), snap)["devices"]
    assert [(d["compute_capability"], d["cc_source"]) for d in devs] == [("12.0", "nvml"), ("9.9", "nvml")]
    assert all("cc_verified" not in d for d in devs)


def test_static_tree_takes_cc_from_the_name(tree):
    tree.base().driver(gpu="Quadro RTX 5000")
    dev = check_json(tree.root)["snapshot"]["gpus"]["devices"][0]
    assert (dev["compute_capability"], dev["cc_source"], dev["cc_verified"]) == ("7.5", "name", True)


def test_static_unverified_row_says_so(tmp_path: Path):
    proc = tmp_path / "proc/driver/nvidia/gpus/0000:01:00.0"
    proc.mkdir(parents=True)
    (proc / "information").write_text("Model: \t\t NVIDIA GeForce MX450\nGPU UUID: \t GPU-x\n")
    dev = probe_gpus(Target(root=tmp_path, live=False), {})["devices"][0]
    assert (dev["compute_capability"], dev["cc_source"], dev["cc_verified"]) == ("7.5", "name", False)


def test_unknown_model_has_no_cc(tmp_path: Path):
    proc = tmp_path / "proc/driver/nvidia/gpus/0000:01:00.0"
    proc.mkdir(parents=True)
    (proc / "information").write_text("Model: \t\t NVIDIA Graphics Device\n")
    dev = probe_gpus(Target(root=tmp_path, live=False), {})["devices"][0]
    assert (dev["compute_capability"], dev["cc_source"]) == (None, "unknown model")
