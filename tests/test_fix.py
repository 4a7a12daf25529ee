"""`trtdoctor fix`: the plan, safe writes (venv, conda-shaped prefix, shell file), and recipes."""

import json
import os
import stat
import subprocess
import sys

import pytest
import yaml
from conftest import REPO, check_json, compile_so, ids, needs_cc, run_cli, saved_report

from trtdoctor import knowledge
from trtdoctor.fix import recipes
from trtdoctor.fix.writers import BEGIN

sys.path.insert(0, str(REPO / "scripts"))
import make_envs  # noqa: E402

HOSTILE = '/opt/my env/it\'s $HOME/"lib"'


def report_with_env_fix(tmp_path, d):
    """A saved report whose finding asks to prepend a directory to LD_LIBRARY_PATH."""
    return saved_report(
        tmp_path / "report.json",
        [
            {
                "id": "libraries.not-on-loader-path",
                "severity": "error",
                "area": "libraries",
                "title": "t",
                "fix": {"summary": f"Add {d}", "commands": ["pip install --extra-index-url https://pypi.nvidia.com tensorrt==8.6.1"], "env": {"LD_LIBRARY_PATH": f"{d}:$LD_LIBRARY_PATH"}, "links": []},
            },
            {"id": "driver.version-mismatch", "severity": "error", "area": "driver", "title": "m", "fix": {"summary": "Reboot", "commands": ["sudo reboot"], "env": {}, "links": []}},
        ],
    )


def bash(script: str, env: dict | None = None) -> str:
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env or {"PATH": os.environ["PATH"]}, check=True).stdout


def test_plan_orders_steps_by_their_fix_kind(tmp_path):
    """Kinds follow from the fix (a reboot is a command; a fix with env is an environment step
    that keeps its commands), never from a regex over the command text."""
    rep = report_with_env_fix(tmp_path, "/opt/trt/lib")
    res = run_cli("fix", "--from", str(rep), "--format", "json")
    plan = json.loads(res.stdout)
    assert [s["kind"] for s in plan["steps"]] == ["command", "env"]
    assert plan["steps"][1]["commands"] == ["pip install --extra-index-url https://pypi.nvidia.com tensorrt==8.6.1"]
    assert plan["steps"][0]["commands"] == ["sudo reboot"]
    assert plan["steps"][1]["env"] == {"LD_LIBRARY_PATH": "/opt/trt/lib:$LD_LIBRARY_PATH"}
    assert plan["env"]["prepend"] == {"LD_LIBRARY_PATH": ["/opt/trt/lib"]}


def test_shell_file_is_idempotent_quoted_backed_up_and_undone(tmp_path):
    rep = report_with_env_fix(tmp_path, HOSTILE)
    f = tmp_path / "env.sh"
    f.write_text("# my own settings\nexport FOO=1\n")
    dry = run_cli("fix", "--from", str(rep), "--write-env", "--shell-file", str(f), "--dry-run")
    assert dry.returncode == 0 and "+# >>> trtdoctor >>>" in dry.stdout and "dry run" in dry.stdout
    assert f.read_text() == "# my own settings\nexport FOO=1\n"
    first = run_cli("fix", "--from", str(rep), "--write-env", "--shell-file", str(f))
    assert first.returncode == 0, first.stderr
    assert (tmp_path / "env.sh.trtdoctor-backup").read_text() == "# my own settings\nexport FOO=1\n"
    written = f.read_text()
    assert written.startswith("# my own settings\nexport FOO=1\n") and written.count(BEGIN) == 1
    second = run_cli("fix", "--from", str(rep), "--write-env", "--shell-file", str(f))
    assert "already up to date" in second.stdout and f.read_text() == written
    # sourcing twice never duplicates the entry, and the hostile path survives quoting
    out = bash(f'export LD_LIBRARY_PATH=/a; . "{f}"; . "{f}"; printf %s "$LD_LIBRARY_PATH"')
    assert out == f"{HOSTILE}:/a"
    assert bash(f'unset LD_LIBRARY_PATH; . "{f}"; printf %s "$LD_LIBRARY_PATH"') == HOSTILE
    undo = run_cli("fix", "--from", str(rep), "--undo", "--shell-file", str(f))
    assert undo.returncode == 0 and f.read_text() == "# my own settings\nexport FOO=1\n"


def test_venv_activate_gets_a_block_and_the_finding_goes_away(tmp_path):
    """A real venv with TensorRT bindings whose libraries sit in a conda env the loader
    does not search: fix writes the venv's activate script, and the re-check is clean."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    names = ("libnvinfer.so.11", "libnvinfer_plugin.so.11", "libnvonnxparser.so.11")
    conda_lib = tmp_path / "conda env" / "lib"
    libs = [compile_so(conda_lib / n, n) for n in names]
    (site / "tensorrt_cu13_bindings-11.4.0.106.dist-info").mkdir()
    (site / "tensorrt_cu13_bindings-11.4.0.106.dist-info" / "METADATA").write_text("Name: tensorrt-cu13-bindings\nVersion: 11.4.0.106\n")
    compile_so(site / "tensorrt_bindings" / "tensorrt.so", "tensorrt.so", needed=libs)
    env = {"PATH": os.environ["PATH"], "VIRTUAL_ENV": str(venv)}
    before = run_cli("check", "--json", "--only", "libraries", env={**env, "CONDA_PREFIX": str(conda_lib.parent)})
    rep = json.loads(before.stdout)
    assert "libraries.not-on-loader-path" in ids(rep)
    saved = tmp_path / "r.json"
    saved.write_text(before.stdout)
    res = run_cli("fix", "--from", str(saved), "--write-env", env=env)
    assert res.returncode == 0, res.stderr
    assert f"+{BEGIN}" in res.stdout  # the diff is shown
    activate = (venv / "bin" / "activate").read_text()
    assert activate.count(BEGIN) == 1 and (venv / "bin" / "activate.trtdoctor-backup").exists()
    assert run_cli("fix", "--from", str(saved), "--write-env", env=env).stdout.strip().endswith("already up to date, nothing to change")
    ld = bash(f'. "{venv}/bin/activate"; printf %s "$LD_LIBRARY_PATH"')
    assert ld == str(conda_lib)
    after = run_cli("check", "--json", "--only", "libraries", env={**env, "CONDA_PREFIX": str(conda_lib.parent), "LD_LIBRARY_PATH": ld})
    after_rep = json.loads(after.stdout)
    assert "libraries.not-on-loader-path" not in ids(after_rep)
    consumer = next(c for c in after_rep["snapshot"]["libraries"]["consumers"] if c["name"] == "tensorrt bindings")
    assert all(r["via"] == "LD_LIBRARY_PATH" for r in consumer["resolutions"].values())
    assert run_cli("fix", "--from", str(saved), "--undo", env=env).returncode == 0
    assert (venv / "bin" / "activate").read_text() == (venv / "bin" / "activate.trtdoctor-backup").read_text()


def test_conda_hooks_restore_previous_values_exactly(tmp_path):
    prefix = tmp_path / "conda env"
    prefix.mkdir()
    rep = report_with_env_fix(tmp_path, "/opt/trt/lib")
    env = {"PATH": os.environ["PATH"], "CONDA_PREFIX": str(prefix)}
    dry = run_cli("fix", "--from", str(rep), "--write-env", "--dry-run", "--env", f"CONDA_PREFIX={prefix}", env=env)
    assert dry.returncode == 0 and "activate.d/trtdoctor.sh (after)" in dry.stdout
    assert list(prefix.iterdir()) == []  # a dry run creates nothing, not even folders
    res = run_cli("fix", "--from", str(rep), "--write-env", "--env", f"CONDA_PREFIX={prefix}", env=env)
    assert res.returncode == 0, res.stderr
    act = prefix / "etc/conda/activate.d/trtdoctor.sh"
    deact = prefix / "etc/conda/deactivate.d/trtdoctor.sh"
    assert act.exists() and deact.exists()
    for before in ("/x:/y", None):
        pre = f"export LD_LIBRARY_PATH='{before}';" if before is not None else "unset LD_LIBRARY_PATH;"
        out = bash(pre + f' . "{act}"; a="$LD_LIBRARY_PATH"; . "{deact}"; printf "%s|%s" "$a" "${{LD_LIBRARY_PATH-UNSET}}"')
        inside, after = out.split("|")
        assert inside == ("/opt/trt/lib:/x:/y" if before else "/opt/trt/lib")
        assert after == (before or "UNSET")
    assert run_cli("fix", "--from", str(rep), "--undo", "--env", f"CONDA_PREFIX={prefix}", env=env).returncode == 0
    assert not act.exists() and not deact.exists()


def test_refused_writes_change_nothing(tmp_path):
    rep = report_with_env_fix(tmp_path, "/opt/trt/lib")
    missing = run_cli("fix", "--from", str(rep), "--write-env", "--env", f"CONDA_PREFIX={tmp_path / 'nope'}")
    assert missing.returncode == 2 and "does not exist" in missing.stderr and "Traceback" not in missing.stderr
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        if os.access(ro, os.W_OK):
            pytest.skip("running as a user who can write anywhere")
        res = run_cli("fix", "--from", str(rep), "--write-env", "--shell-file", str(ro / "env.sh"))
        assert res.returncode == 2 and "not writable" in res.stderr
        assert list(ro.iterdir()) == []
    finally:
        ro.chmod(0o755)


def test_refused_write_as_root_via_readonly_parent(tmp_path):
    rep = report_with_env_fix(tmp_path, "/opt/trt/lib")
    res = run_cli("fix", "--from", str(rep), "--write-env", "--shell-file", str(tmp_path / "no" / "such" / "env.sh"))
    assert res.returncode == 2 and "does not exist" in res.stderr


@pytest.mark.parametrize("folder", [s[0] for s in make_envs.SPECS])
def test_curated_recipe_parses_fits_the_kb_and_is_reproduced(folder):
    expected = make_envs.generate()[folder]
    d = REPO / "envs" / folder
    for name, text in expected.items():
        on_disk = (d / name).read_text()
        assert on_disk == text, f"envs/{folder}/{name} differs from `fix --recipe`: run scripts/make_envs.py"
        params = recipes.params_from_header(on_disk)
        cuda = int(params["cuda"])
        if name == "environment.yml":
            data = yaml.safe_load(on_disk)
            pins = [p for p in data["dependencies"][-1]["pip"] if "==" in p]
        elif name == "Dockerfile":
            assert on_disk.splitlines()[4].startswith("FROM nvcr.io/nvidia/")
            pins = []
        else:
            pins = [ln for ln in on_disk.splitlines() if "==" in ln]
        versions = {p.split("==")[0]: p.split("==")[1] for p in pins}
        trt = [v for n, v in versions.items() if n.startswith("tensorrt")]
        assert len(set(trt)) <= 1  # all parts at one version
        if trt:
            row = knowledge.trt_release(trt[0])
            assert any(knowledge.major_minor(c)[0] == cuda for c in row["cuda"]), (trt, cuda)
        if "tensorflow" in versions:
            assert knowledge.tf_release(versions["tensorflow"])["trt"] == trt[0]
        assert "Driver minimum: " + knowledge.compat_min_driver(cuda)["driver"] in on_disk


@needs_cc
def test_recipe_for_this_machine_says_why(tree, tmp_path):
    tree.base().driver(version="535.104.05", gpu="Tesla P4").cuda("12.2.2", "12.2.140")
    rep = check_json(tree.root)
    saved = tmp_path / "r.json"
    saved.write_text(json.dumps(rep))
    res = run_cli("fix", "--from", str(saved), "--recipe", "pip", "--out", str(tmp_path / "out"))
    assert res.returncode == 0, res.stderr
    text = (tmp_path / "out" / "requirements.txt").read_text()
    assert "tensorrt==8.6.1" in text and "Pascal" in text and "535.104.05 supports CUDA ≤ 12.2" in text
