"""The plan's environment changes as lines of each shell: POSIX (bash, zsh, sh), fish and
csh/tcsh; and, for a venv's activate scripts, lines that save the previous values and a
``deactivate`` that restores them exactly (set or unset).

csh has no quoting that hides everything: ``!`` is history even inside single quotes (so
it is written ``\\!``), and a quoted ``*`` still globs in ``=~`` patterns (so each glob
character becomes a one-character class)."""

from __future__ import annotations

import re

from ..redact import masked
from ..shell import fish_quote, quote
from ..shell import prepend as sh_prepend

SHELLS = ("bash", "zsh", "fish", "csh", "tcsh")
UNSET = "__trtdoctor_unset__"
OLD = "_TRTDOCTOR_OLD_"


def family(sh: str) -> str:
    return {"fish": "fish", "csh": "csh", "tcsh": "csh"}.get(sh, "posix")


def csh_quote(text: str) -> str:
    """csh's single quotes: ``'`` closes them (so ``'\\''``), ``!`` needs its backslash."""
    return "'" + text.replace("'", "'\\''").replace("!", "\\!") + "'"


def csh_pattern(text: str) -> str:
    return csh_quote(re.sub(r"[*?\[]", lambda m: f"[{m.group()}]", text))


def names(env: dict) -> list[str]:
    return list(dict.fromkeys([*env.get("prepend", {}), *env.get("set", {})]))


def apply_lines(env: dict, fam: str) -> list[str]:
    """Lines that apply the env changes, every value quoted; a credential is never written."""
    out = []
    for var, dirs in env.get("prepend", {}).items():
        for d in reversed(dirs):
            if masked(d):
                out.append(f"# not written: an entry for {var} holds a credential (masked in the plan); add it by hand")
            else:
                out += _prepend(var, d, fam)
    for var, value in env.get("set", {}).items():
        if masked(value):
            out.append(f"# not written: the value for {var} holds a credential (masked in the plan); set it by hand")
        else:
            out.append({"fish": f"set -gx {var} {fish_quote(value)}", "csh": f"setenv {var} {csh_quote(value)}"}.get(fam) or f"export {var}={quote(value)}")
    return out


def _prepend(var: str, d: str, fam: str) -> list[str]:
    """``d`` before the old value, once, without a trailing ':' when the old value was empty."""
    if fam == "fish":
        q = fish_quote(d)  # an empty value is one empty element to fish: replaced, or it would leave a ':'
        return [f'if test -z "${var}"; set -gx {var} {q}; else if not contains -- {q} ${var}; set -gx --prepend {var} {q}; end']
    if fam == "csh":
        q = csh_quote(d)
        return [
            f"if ( ! $?{var} ) setenv {var} ''",
            f'if ( "${{{var}}}" == "" ) then',
            f"    setenv {var} {q}",
            f'else if ( ":${{{var}}}:" !~ *:{csh_pattern(d)}:* ) then',
            f'    setenv {var} {q}:"${{{var}}}"',
            "endif",
        ]
    return [f'case ":${{{var}:-}}:" in *:{quote(d)}:*) ;; *) {sh_prepend(var, d)} ;; esac']


def venv_lines(env: dict, fam: str) -> list[str]:
    """For a venv's activate script: save what was there (once per activation), apply, and
    wrap the venv's ``deactivate`` so it first restores every saved value exactly."""
    return {"posix": _posix_venv, "fish": _fish_venv, "csh": _csh_venv}[fam](env)


def _posix_venv(env: dict) -> list[str]:
    save = [f'[ -n "${{{OLD}{v}+x}}" ] || {OLD}{v}="${{{v}-{UNSET}}}"' for v in names(env)]
    restore = [f'    if [ -n "${{{OLD}{v}+x}}" ]; then if [ "${OLD}{v}" = {UNSET} ]; then unset {v}; else export {v}="${OLD}{v}"; fi; unset {OLD}{v}; fi' for v in names(env)]
    return [
        *save,
        *apply_lines(env, "posix"),
        "_trtdoctor_restore () {",
        *restore,
        "}",
        "# bash and zsh: deactivate restores the values above first (typeset -f prints the venv's own)",
        "if typeset -f deactivate >/dev/null 2>&1; then",
        '    eval "_trtdoctor_venv_$(typeset -f deactivate)"',
        '    deactivate () { _trtdoctor_restore; _trtdoctor_venv_deactivate "$@"; if [ "${1-}" != nondestructive ]; then unset -f _trtdoctor_venv_deactivate _trtdoctor_restore; fi; }',
        "fi",
    ]


def _fish_venv(env: dict) -> list[str]:
    out = []
    for v in names(env):
        out += [f"if not set -q {OLD}{v}", f"    if set -q {v}; set -g {OLD}{v} ${v}; else; set -g {OLD}{v} {UNSET}; end", "end"]
    out += apply_lines(env, "fish")
    out.append("function _trtdoctor_restore")
    for v in names(env):
        out += [f"    if set -q {OLD}{v}", f'        if test "${OLD}{v}" = {UNSET}; set -e -g {v}; else; set -gx {v} ${OLD}{v}; end', f"        set -e -g {OLD}{v}", "    end"]
    return [
        *out,
        "end",
        "functions -e _trtdoctor_venv_deactivate",
        "functions -c deactivate _trtdoctor_venv_deactivate",
        "function deactivate",
        "    _trtdoctor_restore",
        "    _trtdoctor_venv_deactivate $argv",
        '    if test "$argv[1]" != nondestructive; functions -e _trtdoctor_venv_deactivate _trtdoctor_restore; end',
        "end",
    ]


def _csh_venv(env: dict) -> list[str]:
    out = []
    for v in names(env):
        out += [f"if ( ! $?{OLD}{v} ) then", f"    if ( $?{v} ) then", f'        set {OLD}{v} = "${v}:q"', "    else", f"        set {OLD}{v} = {UNSET}", "    endif", "endif"]
    out += apply_lines(env, "csh")
    restore = "; ".join(f'test $?{OLD}{v} != 0 && test "${OLD}{v}:q" = {UNSET} && unsetenv {v}; test $?{OLD}{v} != 0 && test "${OLD}{v}:q" != {UNSET} && setenv {v} "${OLD}{v}:q"; unset {OLD}{v}' for v in names(env))
    return [
        *out,
        f"alias _trtdoctor_restore '{restore}'",
        "# deactivate restores the values above first, then does what the venv's own did",
        'set _trtdoctor_deactivate = "`alias deactivate`"',
        'alias deactivate "_trtdoctor_restore; $_trtdoctor_deactivate:q"',
        "unset _trtdoctor_deactivate",
    ]
