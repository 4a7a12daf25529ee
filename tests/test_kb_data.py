"""The driver, CUDA, container and library tables: their shape (every row sourced, dated and
marked verified or not, no duplicates, versions that parse) and the lookups built on them."""

from __future__ import annotations

import re
from collections import Counter

import pytest
import yaml
from packaging.version import Version

from trtdoctor import knowledge

OWNED = ("drivers", "cuda", "containers", "libraries")
URL = re.compile(r"^https://\S+( \(.*?\))?$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _sourced_rows() -> list[tuple[str, dict]]:
    """Every mapping in the four files that carries a fact: rows of lists, and single blocks."""
    out = []
    for name in OWNED:
        for key, value in knowledge.load(name).items():
            rows = value if isinstance(value, list) else [value]
            out += [(f"{name}.{key}", row) for row in rows]
    return out


@pytest.mark.parametrize(("where", "row"), _sourced_rows(), ids=lambda x: x if isinstance(x, str) else "")
def test_every_row_cites_urls_a_read_date_and_whether_it_was_verified(where, row):
    parts = [p.strip() for p in str(row.get("source", "")).split(" ; ")]
    assert parts and all(URL.match(p) for p in parts), f"{where}: source must be URL(s) separated by ' ; ': {row.get('source')!r}"
    assert DATE.match(str(row.get("read", ""))), f"{where}: read must be a YYYY-MM-DD date"
    assert isinstance(row.get("verified"), bool), f"{where}: verified must be true or false"


def _no_duplicate_keys(loader, node, deep=False):
    keys = [k.value for k, _ in node.value]
    dup = [k for k, n in Counter(keys).items() if n > 1]
    assert not dup, f"duplicate keys {dup} at line {node.start_mark.line + 1}"
    return yaml.SafeLoader.construct_mapping(loader, node, deep)


@pytest.mark.parametrize("name", OWNED)
def test_no_duplicate_keys_in_any_mapping(name):
    class Strict(yaml.SafeLoader):
        pass

    Strict.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicate_keys)
    yaml.load((knowledge.KB_DIR / f"{name}.yaml").read_text(encoding="utf-8"), Loader=Strict)


def test_driver_rows_are_unique_parse_and_never_go_down():
    rows = knowledge.load("drivers")["cuda_min_driver"]
    versions = [Version(r["cuda"]) for r in rows]
    assert len(set(versions)) == len(versions), "one row per toolkit release"
    assert versions == sorted(versions), "rows in toolkit order"
    drivers = [Version(r["driver"]) for r in rows]
    assert drivers == sorted(drivers), "a later release never needs an older driver"
    assert all(isinstance(r["label"], str) and r["label"].startswith("CUDA ") for r in rows)
    for r in rows:
        if "windows" in r:
            Version(r["windows"])


def test_there_is_no_cuda_12_7():
    assert not [r for r in knowledge.load("drivers")["cuda_min_driver"] if knowledge.major_minor(r["cuda"]) == (12, 7)]
    assert knowledge.min_driver_for_cuda("12.7") is None
    assert knowledge.min_driver_for_cuda("12.8")["driver"] == "570.26"  # near miss: the next minor exists


def test_only_a_verified_row_can_raise_an_error():
    """driver.too-old-for-cuda is an error built from the compat floor or (before CUDA 11) the GA row."""
    for row in knowledge.load("drivers")["major_min_driver"]:
        assert row["verified"], row
    for row in knowledge.load("drivers")["cuda_min_driver"]:
        if knowledge.major_minor(row["cuda"])[0] < knowledge.load("drivers")["minor_compat_from"]["cuda_major"]:
            assert row["verified"], row
    for row in knowledge.load("cuda")["architectures"]:  # gpus.arch-dropped-by-cuda is an error on last_cuda
        assert not row.get("last_cuda") or row["verified"], row


@pytest.mark.parametrize(
    ("driver", "supports"),
    [
        ("580.82.07", "13.0"),  # 13.0 Update 1's own minimum
        ("580.65.06", "13.0"),
        ("580.65.05", "12.9"),  # near miss: one build below 13.0 GA
        ("575.51.03", "12.9"),
        ("575.51.02", "12.8"),
        ("590.44.01", "13.1"),
        ("590.44.00", "13.0"),
        ("595.45.04", "13.2"),
        ("570.124.06", "12.8"),  # 12.8 Update 1 is still CUDA 12.8
        ("410.48", "10.0"),
        ("410.47", None),
        ("not-a-version", None),
    ],
)
def test_max_cuda_for_driver_answers_supports_cuda_up_to(driver, supports):
    assert knowledge.max_cuda_for_driver(driver) == supports


@pytest.mark.parametrize(
    ("toolkit", "driver"),
    [
        ("13.0.1", "580.82.07"),
        ("13.0.2", "580.95.05"),
        ("13.0.0", "580.65.06"),
        ("12.9.1", "575.57.08"),
        ("12.8.1", "570.124.06"),
        ("12.3.2", "545.23.08"),  # not in the table: inherits 12.3 Update 1
        ("11.0.3", "450.51.06"),
        ("11.0.2", "450.51.05"),
    ],
)
def test_update_releases_have_their_own_minimums(toolkit, driver):
    assert knowledge.min_driver_for_toolkit(toolkit)["driver"] == driver


def test_a_driver_below_13_0_update_1_does_not_meet_it():
    need = Version(knowledge.min_driver_for_toolkit("13.0.1")["driver"])
    assert Version("580.82.06") < need <= Version("580.82.07")
    assert Version("575.51.03") < Version(knowledge.min_driver_for_cuda("13.0")["driver"])


def test_ga_row_is_what_a_runtime_of_the_minor_needs():
    assert knowledge.min_driver_for_cuda("13.0")["driver"] == "580.65.06"
    assert knowledge.min_driver_for_cuda("12.8.90")["driver"] == "570.26"  # a component version, not Update 90
    assert knowledge.min_driver_for_cuda("13.1")["driver"] == "590.44.01"
    assert knowledge.min_driver_for_cuda("13.2")["driver"] == "595.45.04"


def test_cuda_10_has_no_minor_version_compatibility():
    assert knowledge.compat_min_driver(10) is None
    assert knowledge.compat_min_driver(11)["driver"] == "450.80.02"  # near miss: 11 has it
    assert knowledge.load("drivers")["minor_compat_from"]["cuda_major"] == 11


def test_forward_compatibility_package_names_a_real_package():
    fc = knowledge.load("cuda")["forward_compat"]
    assert fc["package"].format(major=13, minor=0) == "cuda-compat-13-0"
    assert fc["verified"] and Version(fc["since_cuda"]) == Version("10.0")


def test_container_rows_match_the_driver_table():
    tags = [r["tag"] for r in knowledge.load("containers")["ngc_tensorrt"]]
    assert len(set(tags)) == len(tags)
    for row in knowledge.load("containers")["ngc_tensorrt"]:
        assert re.match(r"^\d{2}\.\d{2}-py3$", row["tag"]), row["tag"]
        assert row["tensorrt"] is None or Version(row["tensorrt"])
        need = knowledge.min_driver_for_toolkit(row["cuda"])
        assert need and need["driver"] == row["driver"], f"{row['tag']}: CUDA {row['cuda']} needs {need and need['driver']}"
        assert row["verified"] or row.get("note"), f"{row['tag']}: an unverified row says what was not read"


def test_the_audited_container_rows_are_fixed():
    by_tag = {r["tag"]: r for r in knowledge.load("containers")["ngc_tensorrt"]}
    assert by_tag["24.06-py3"]["cuda"] == "12.5.0" and by_tag["24.06-py3"]["tensorrt"] != "10.0.1"
    assert by_tag["24.08-py3"]["cuda"] == "12.6.0"
    assert by_tag["25.06-py3"]["cuda"] == "12.9.1" and by_tag["25.06-py3"]["tensorrt"] != "10.10.0.31"
    assert by_tag["23.01-py3"]["driver"] == "525.85.12"


def test_library_rows_are_unique_and_every_cuda_soname_names_its_releases():
    rows = knowledge.load("libraries")["libraries"]
    for field in ("key", "stem"):
        values = [r[field] for r in rows]
        assert len(set(values)) == len(values), field
    sonames = [s for r in rows for s in r["sonames"]]
    assert len(set(sonames)) == len(sonames)
    for r in rows:
        assert all(s.startswith(r["stem"] + ".so.") for s in r["sonames"]), r["key"]
        assert set(r.get("unverified", [])) <= set(r["sonames"]), r["key"]
        assert r["verified"] == (not r.get("unverified")), r["key"]
        if r["group"] == "cuda":
            assert set(r["cuda"]) == set(r["sonames"]), r["key"]
            for span in r["cuda"].values():
                first, _, last = span.partition("-")
                assert not last or Version(first) <= Version(last), span


@pytest.mark.parametrize(
    ("soname", "span"),
    [
        ("libcufft.so.11", ("12.0", "12.9")),  # cuFFT's soname is not the CUDA major
        ("libcufft.so.12", ("13.0", None)),
        ("libcufft.so.10", ("10.1", "11.8")),
        ("libcudart.so.11.0", ("11.0", "11.8")),
        ("libnvrtc.so.11.2", ("11.2", "11.8")),
        ("libcusolver.so.11", ("11.0", "12.9")),
        ("libcusparse.so.12", ("12.0", None)),
        ("libcurand.so.10", ("10.1", None)),
        ("libcudart.so.13", ("13.0", None)),
        ("libcudart.so.14", None),
        ("libcudnn.so.9", None),  # not a CUDA library
    ],
)
def test_soname_cuda_names_the_releases_that_ship_it(soname, span):
    assert knowledge.soname_cuda(soname) == span


def test_cudnn_sub_libraries_of_both_majors_are_known():
    sonames = {s for r in knowledge.load("libraries")["libraries"] for s in r["sonames"]}
    nine = {"adv", "cnn", "engines_precompiled", "engines_runtime_compiled", "graph", "heuristic", "ops"}
    eight = {"adv_infer", "adv_train", "cnn_infer", "cnn_train", "ops_infer", "ops_train"}
    assert {f"libcudnn_{s}.so.9" for s in nine} <= sonames
    assert {f"libcudnn_{s}.so.8" for s in eight} <= sonames
    assert "libcudnn_adv.so.8" not in sonames  # near miss: cuDNN 8 split adv into infer/train
