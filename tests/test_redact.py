"""Bad env input is one line without its content."""

from conftest import run_cli


def one_line_usage_error(res, *words: str) -> None:
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr and "internal error" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    for w in words:
        assert w in res.stderr


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
