"""No secret leaves trtdoctor (text, JSON, Markdown, plans, written files); bad env input is
one line without its content; the Markdown report is valid and anonymized."""

import json
import re

import pytest
from conftest import H100_ENV, h100_tree, needs_cc, run_cli, saved_report

from trtdoctor.redact import anonymize_text, anonymize_tree, mask_text, mask_tree

GHP = "ghp_" + "a1B2c3D4e5" * 4  # the shape of a GitHub token, not a real one
CONDA_PASS = "s3cr3t"
PYPI = "pypi-AgEIcHlwaS5vcmcCJDAwMDAwMDAwLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwMDAwMAACKlsz"
SECRETS = (CONDA_PASS, "user:", PYPI, "__token__", GHP)
ENV = [
    f"CONDA_CHANNEL_ALIAS=https://user:{CONDA_PASS}@conda.example/",
    f"PIP_EXTRA_INDEX_URL=https://__token__:{PYPI}@upload/",
    # the token dir exists and is repeated, so it lands in the LD_LIBRARY_PATH fix too
    f"LD_LIBRARY_PATH=/opt/{GHP}/lib:/opt/{GHP}/lib:/home/alice/lib:/usr/local/nvidia/lib64",
    "VIRTUAL_ENV=/opt/torch/.venv",
    "CUDA_HOME=/usr/local/cuda",
]


def assert_no_secret(out: str) -> None:
    for s in SECRETS:
        assert s not in out


def one_line_usage_error(res, *words: str) -> None:
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr and "internal error" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    for w in words:
        assert w in res.stderr


@pytest.fixture
def secret_tree(tree):
    h100_tree(tree)
    tree.p(f"/opt/{GHP}/lib").mkdir(parents=True)
    return tree


def env_args(items=ENV) -> list[str]:
    return [a for item in items for a in ("--env", item)]


@needs_cc
def test_no_secret_in_any_output(secret_tree, tmp_path):
    root = ["--root", str(secret_tree.root), *env_args()]
    rep_out = run_cli("check", "--json", *root)
    assert rep_out.returncode in (0, 1), rep_out.stderr
    rep = json.loads(rep_out.stdout)
    vars_ = rep["snapshot"]["env"]["vars"]
    assert vars_["CONDA_CHANNEL_ALIAS"] == "https://***@conda.example/"
    assert vars_.get("PIP_EXTRA_INDEX_URL", "https://***@upload/") == "https://***@upload/"  # PIP_* is not allow-listed today
    assert vars_["LD_LIBRARY_PATH"].startswith("/opt/<redacted>/lib:")
    assert "/usr/local/nvidia/lib64" in vars_["LD_LIBRARY_PATH"]  # the rest is untouched
    assert "env.ld-library-path-duplicate" in [f["id"] for f in rep["findings"]]
    outputs = {"json": rep_out.stdout}
    for name, extra in {"text": [], "verbose": ["-v"], "markdown": ["--format", "markdown"]}.items():
        res = run_cli("check", *extra, *root)
        assert res.returncode in (0, 1), res.stderr
        outputs[name] = res.stdout + res.stderr
    plan = run_cli("fix", "--format", "json", *root)
    assert plan.returncode == 0, plan.stderr
    outputs["fix"] = plan.stdout
    assert "<redacted>" in plan.stdout  # the LD_LIBRARY_PATH fix names the token dir, masked
    outputs["fix-text"] = run_cli("fix", *root).stdout
    shell_file = tmp_path / "env.sh"
    wrote = run_cli("fix", "--write-env", "--shell-file", str(shell_file), *root)
    assert wrote.returncode == 0, wrote.stderr
    outputs["write-env"] = wrote.stdout + wrote.stderr + shell_file.read_text()
    assert "# not written" in shell_file.read_text()  # neither in clear nor as a broken masked path
    assert "<redacted>" not in shell_file.read_text()
    saved = tmp_path / "report.json"
    saved.write_text(rep_out.stdout)
    outputs["from"] = run_cli("check", "--from", str(saved), "-v").stdout
    for name, out in outputs.items():
        for s in SECRETS:
            assert s not in out, (name, s)


def test_plan_from_an_old_unmasked_report_is_masked_and_not_written(tmp_path):
    """A report saved before masking existed still holds secrets: the plan and the written file must not."""
    secret_dir = f"/opt/{GHP}/lib"
    saved = saved_report(
        tmp_path / "old.json",
        [
            {
                "id": "libraries.not-on-loader-path",
                "severity": "error",
                "area": "libraries",
                "title": f"not on the path: {secret_dir}",
                "fix": {
                    "summary": "Add it",
                    "commands": [f"pip install --index-url https://user:{CONDA_PASS}@pypi.example/simple tensorrt"],
                    "env": {"LD_LIBRARY_PATH": f"{secret_dir}:/opt/trt/lib:$LD_LIBRARY_PATH"},
                    "links": [],
                },
            }
        ],
    )
    plan = run_cli("fix", "--from", str(saved), "--format", "json")
    assert plan.returncode == 0, plan.stderr
    assert_no_secret(plan.stdout)
    assert json.loads(plan.stdout)["env"]["prepend"]["LD_LIBRARY_PATH"] == ["/opt/<redacted>/lib", "/opt/trt/lib"]
    f = tmp_path / "env.sh"
    res = run_cli("fix", "--from", str(saved), "--write-env", "--shell-file", str(f))
    assert res.returncode == 0, res.stderr
    assert_no_secret(res.stdout + f.read_text())
    assert "/opt/trt/lib" in f.read_text() and "not written: an entry for LD_LIBRARY_PATH" in f.read_text()


def test_bad_env_line_is_named_not_shown(tmp_path):
    pem = "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxKLxoS2tFczGkPLPgizskuemMghRniWaoLcyehkd3qqGElvW/VDL5AaWTg0nLVkjRo9z+40RQzuVaE8AkAFmxZzow3x+VJYKdjykkJ0iT9wCS0DRTXu269V264Vf/3jvredZiKRkgwlL9xNAwxXFg0x/XFw005UWVRIkdgcKWTjpBP2dPwVZ4WWC+9aGVd+Gyn1o0CLelf4rEjGoXbAAEgAqeGUxrcIlbjXfbcmw=="
    for args, where in [
        (("--env", pem), "--env, line 1"),
        (("--env", "CUDA_VISIBLE_DEVICES=0", "--env", f"-----BEGIN RSA PRIVATE KEY-----\n{pem}"), "--env #2, line 1"),
    ]:
        res = run_cli("check", "--root", str(tmp_path), *args)
        one_line_usage_error(res, where, "expected KEY=VALUE")
        assert pem[:20] not in res.stderr and "BEGIN" not in res.stderr
    f = tmp_path / "env"
    f.write_text(f"CUDA_VISIBLE_DEVICES=0\n\n{pem}\n")
    res = run_cli("check", "--root", str(tmp_path), "--env-file", str(f))
    one_line_usage_error(res, f"--env-file {f}, line 3")
    assert pem[:20] not in res.stderr


def test_binary_huge_unreadable_env_files_are_one_line(tmp_path):
    binary = tmp_path / "env.bin"
    binary.write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 4)
    huge = tmp_path / "env.huge"
    huge.write_text("CUDA_VISIBLE_DEVICES=0\n" * (5 * 1024 * 1024 // 23 + 1))
    latin1 = tmp_path / "env.latin1"
    latin1.write_bytes(b"A=1\nB=caf\xe9\n")
    for path, words in [
        (binary, ("binary", "NUL")),
        (huge, ("larger than 1 MiB",)),
        (tmp_path, ("cannot read --env-file", "Is a directory")),
        (tmp_path / "missing", ("cannot read --env-file", "No such file")),
        (latin1, ("not UTF-8 text (line 2)",)),
    ]:
        res = run_cli("check", "--root", str(tmp_path), "--env-file", str(path))
        one_line_usage_error(res, *words)
    for cmd in ("check", "fix"):
        one_line_usage_error(run_cli(cmd, "--root", str(tmp_path), "--env-file", str(binary)), "binary")


@needs_cc
def test_markdown_is_complete_json_without_identifying_details(tree):
    h100_tree(tree)
    many = ":".join(f"/home/alice/lib{i}" for i in range(400))  # a large snapshot: each entry is judged
    items = [*H100_ENV[:1], f"LD_LIBRARY_PATH={many}", "PYTHONSTARTUP=/tmp/a````b|c", "CUDA_VISIBLE_DEVICES=GPU-f6a77f63-f1c4-b51f-e95d-4a853aae4770"]
    root = ["--root", str(tree.root), *env_args(items)]
    rep = json.loads(run_cli("check", "--json", *root).stdout)
    assert rep["snapshot"]["gpus"]["devices"][0]["uuid"].startswith("GPU-f6a77f63")  # JSON keeps what a bug triage needs locally
    md = run_cli("check", "--format", "markdown", *root)
    assert md.returncode in (0, 1), md.stderr
    out = md.stdout
    m = re.search(r"^(`{3,})json\n(.*?)\n\1$", out, re.S | re.M)
    assert m, out[-500:]
    assert len(m.group(1)) >= 5  # longer than the ```` inside a value
    body = m.group(2)
    assert len(body) > 20000
    snap = json.loads(body)
    assert snap["env"]["vars"]["PYTHONSTARTUP"] == "/tmp/a````b|c"
    assert snap["env"]["ld_library_path"][399]["path"] == "~/lib399"
    assert not re.search(r"GPU-[0-9a-f]{8}", out) and "/home/alice" not in out
    assert out.rstrip().endswith("</details>")
    for line in out.splitlines():
        if line.startswith("| "):
            assert len(re.split(r"(?<!\\)\|", line)) == 5, line  # 3 cells: no | or newline breaks a row


def test_markdown_table_cells_and_inline_code_cannot_break_out():
    from trtdoctor.findings import Finding
    from trtdoctor.render import markdown

    rep = {
        "tool": {"version": "0"},
        "target": {"mode": "static", "root": "/home/bob/rootfs"},
        "summary": {"status": "error", "errors": 1, "warnings": 0},
        "areas": {"os": {"status": "error", "summary": "Evil | OS\nnext, x86-64"}},
        "snapshot": {"os": {"name": "Evil | OS\nnext", "arch": "x86-64"}, "gpus": {"devices": [{"index": 0, "name": "H100", "uuid": "GPU-f6a77f63-f1c4-b51f-e95d-4a853aae4770", "serial": "1654922008011"}]}},
    }
    f = Finding("os.x", "error", "os", "title with | pipe\nand newline", evidence=["a ` tick", "``` fence"])
    out = markdown(rep, [f])
    assert "| os | ✗ | Evil \\| OS\\\\nnext, x86-64 |" in out  # the line break shown as \n (escaped for Markdown)
    assert "- **error** `os.x`: title with \\| pipe\\\\nand newline" in out
    assert "  - ``a ` tick``" in out and "  - ```` ``` fence ````" in out
    assert "`~/rootfs`" in out and "1654922008011" not in out and "f6a77f63" not in out
    assert "f6a77f63" in markdown(rep, [f], anonymize=False)


@pytest.mark.parametrize(
    "raw, masked",
    [
        ("https://user:s3cr3t@conda.example/", "https://***@conda.example/"),
        ("https://__token__:pypi-AgEIcHlwaS5vcmc@upload/simple", "https://***@upload/simple"),
        ("https://u:p@ss@host/x", "https://***@host/x"),  # an unescaped @ in the password
        ("git+https://oauth2:glpat-abcdefghij0123456789@gitlab.example/a.git", "git+https://***@gitlab.example/a.git"),
        ("https://a.example/simple https://u:p@b.example/simple", "https://a.example/simple https://***@b.example/simple"),
        (f"/opt/{GHP}/lib:/usr/lib", "/opt/<redacted>/lib:/usr/lib"),
        ("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", "<redacted>"),
        ("glpat-abcdefghij0123456789", "<redacted>"),
        ("HF=hf_" + "AbCdEfGhIj" * 3 + "kLmN", "HF=<redacted>"),
        ("xoxb-123456789012-abcdefABCDEF", "<redacted>"),
        ("AKIAIOSFODNN7EXAMPLE", "<redacted>"),
        ("sk-proj-" + "Ab3dEf6hIj" * 5, "<redacted>"),
        ("https://bucket.s3/x?X-Amz-Signature=abc123&y=1", "https://bucket.s3/x?X-Amz-Signature=<redacted>&y=1"),
        ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaA\n-----END OPENSSH PRIVATE KEY-----", "<redacted>"),
    ],
)
def test_mask_text_masks(raw, masked):
    assert mask_text(raw) == masked
    assert mask_text(masked) == masked  # idempotent: a report can be masked again


@pytest.mark.parametrize(
    "ordinary",
    [
        "/opt/torch/.venv/lib/python3.12/site-packages/nvidia/cudnn/lib",
        "nvidia-cudnn-cu12==9.1.0.70",
        "sk-learn",
        "scikit-learn-1.5.2.dist-info",
        "/root/.cache/pip/http-v2/a/b/c/d/e/" + "0123456789abcdef" * 4,  # a long hex hash is no token
        "hf_transfer",
        "HF_HUB_ENABLE_HF_TRANSFER=1",
        "git@github.com:NVIDIA/TensorRT.git",
        "https://pypi.nvidia.com",
        "https://host:8080/path@v2",
        "/usr/local/cuda-13.0/targets/x86_64-linux/lib",
        "AKIAshort",
        "task-sk-" + "a" * 40,  # sk- inside a word, and no digits
        "GPU-related variables",
    ],
)
def test_mask_text_leaves_near_misses_alone(ordinary):
    assert mask_text(ordinary) == ordinary


def test_trees_and_anonymize():
    tree = {"vars": {"PIP_INDEX_URL": "https://u:p@h/"}, f"/opt/{GHP}": [1, None, ("x", GHP)], "serial": "42"}
    assert mask_tree(tree) == {"vars": {"PIP_INDEX_URL": "https://***@h/"}, "/opt/<redacted>": [1, None, ("x", "<redacted>")], "serial": "42"}
    anon = anonymize_tree({"serial": "1654922008011", "uuid": "GPU-f6a77f63-f1c4-b51f-e95d-4a853aae4770", "path": "/home/alice/venv:/root/.local:/rootfs:/Users/bob/x"})
    assert anon == {"serial": "<redacted>", "uuid": "GPU-<redacted>", "path": "~/venv:~/.local:/rootfs:~/x"}
    assert anonymize_text("MIG-GPU-f6a77f63-f1c4-b51f-e95d-4a853aae4770/1/0") == "MIG-GPU-<redacted>/1/0"
    assert anonymize_text("/mnt/home/alice /opt/rootfs /home") == "/mnt/home/alice /opt/rootfs /home"
