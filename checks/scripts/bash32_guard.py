"""Fails on every bash construct that macOS's own bash, 3.2, does not have.

Usage: bash32_guard.py SCRIPT...      one PASS/FAIL line per script, the findings above a FAIL
       bash32_guard.py --self-test    proves that each rule fires on a sample of its construct
                                      and stays quiet on the portable way of writing it

deploy.sh, test.sh and run-local.sh start with `#!/usr/bin/env bash`, which on a Mac without
Homebrew's bash finds /bin/bash 3.2. bash 3.2 cannot be installed from the package registries the
test command may use, so the scripts are read instead of run: each rule below is one feature that
came with bash 4.0 or later, or behaves differently before 4.4. The check reads code lines only
(comments dropped; the bodies of here-documents are data and are skipped).

Empty arrays: before bash 4.4, `"${a[@]}"` and `${a[*]}` of an array without elements is an
"unbound variable" error under `set -u`. An expansion passes only when written as
`${a[@]+"${a[@]}"}` (expands to nothing when empty), or when the array is a `readonly` array
literal with elements in the same script, or one of bash's own arrays that always have elements
(FUNCNAME, BASH_SOURCE, ...). `${#a[@]}` (the count) is safe and allowed.
"""
import pathlib
import re
import sys

# (name, the bash release that brought it, pattern on a code line)
RULES = [
    ("mapfile/readarray", "4.0", re.compile(r"\b(mapfile|readarray)\b")),
    ("associative array or lower/upper-case attribute (declare -A/-l/-u)", "4.0",
     re.compile(r"\b(declare|local|typeset|readonly)\s+(-\w+\s+)*-\w*[Alu]\w*\b")),
    ("name reference (declare -n)", "4.3", re.compile(r"\b(declare|local|typeset)\s+(-\w+\s+)*-\w*n\w*\b")),
    ("global declaration from a function (declare -g)", "4.2", re.compile(r"\b(declare|typeset)\s+(-\w+\s+)*-\w*g\w*\b")),
    ("case modification ${x,,} ${x^^}", "4.0", re.compile(r"\$\{#?!?\w+(\[[^]]*\])?(,,?|\^\^?)")),
    ("wait -n / -f / -p", "4.3", re.compile(r"\bwait\s+(-\w+\s+)*-\w*[nfp]\b")),
    ("parameter transformation ${x@Q}", "4.4", re.compile(r"\$\{[^}]*@[QEPAaUuLKk]\}")),
    ("|& (pipe with stderr)", "4.0", re.compile(r"(?<!\|)\|&")),
    ("&>> (append stdout and stderr)", "4.0", re.compile(r"&>>")),
    ("coproc", "4.0", re.compile(r"\bcoproc\b")),
    ("case fall-through ;& or ;;&", "4.0", re.compile(r";;&|(?<![;&]);&(\s|$)")),
    ("automatic file descriptor {fd}>", "4.1", re.compile(r"\{\w+\}[<>]")),
    ("negative array index ${a[-1]}", "4.3", re.compile(r"\$\{\w+\[\s*-\d+\s*\]\}")),
    ("negative substring length ${x:0:-1}", "4.2", re.compile(r"\$\{\w+(\[[^]]*\])?:[^}:]*:\s*-\d")),
    ("shopt option bash 3.2 lacks", "4.0+", re.compile(
        r"\bshopt\s+-[su]\s+.*\b(globstar|lastpipe|inherit_errexit|autocd|direxpand|dirspell|"
        r"localvar_inherit|localvar_unset|assoc_expand_once|checkjobs|globasciiranges|patsub_replacement)\b")),
    ("variable bash 3.2 lacks ($BASHPID, $EPOCHSECONDS, ...)", "4.0+", re.compile(
        r"\$\{?(BASHPID|EPOCHSECONDS|EPOCHREALTIME|BASH_ARGV0|SRANDOM|BASH_COMPAT|BASH_LOADABLES_PATH)\b")),
    ("printf %(...)T", "4.2", re.compile(r"\bprintf\b.*%\([^)]*\)T")),
    ("read -N / -i", "4.0", re.compile(r"\bread\s+(-\w+\s+)*-\w*[Ni]\w*\b")),
    ("[[ -v name ]] / test -v", "4.2", re.compile(r"(\[\[|\btest|\[)\s+-v\s")),
    ("local - (saving shell options)", "4.4", re.compile(r"\blocal\s+-(\s|;|$)")),
    ("brace expansion with a step {1..9..2}", "4.0", re.compile(r"\{-?\w+\.\.-?\w+\.\.-?\d+\}")),
]

EMPTY_ARRAY = ("array expansion that is an unbound-variable error under set -u when the array is empty", "4.4")
ARRAY_EXPANSION = re.compile(r"\$\{!?(\w+)\[[@*]\](?![+-]|:[+-])")
GUARDED_IDIOM = re.compile(r"\$\{(\w+)\[([@*])\][+]\"?\$\{\1\[\2\]\}\"?\}")
READONLY_ARRAY = re.compile(r"^\s*readonly\s+(\w+)=\(([^)]*)\)", re.M)
ALWAYS_SET = {"FUNCNAME", "BASH_SOURCE", "BASH_LINENO", "BASH_VERSINFO", "PIPESTATUS"}
HEREDOC = re.compile(r"<<-?\s*(['\"]?)(\w+)\1")


def code_lines(text):
    """Yields (line number, code) for lines that are shell code, not here-document bodies."""
    lines = text.splitlines()
    pending = []
    for number, line in enumerate(lines, 1):
        if pending:
            if line.strip() == pending[0]:
                pending.pop(0)
            continue
        stripped = line.lstrip()
        if stripped.startswith("#"):
            continue
        # a trailing comment: ' #' outside quotes is good enough for these scripts
        code = re.sub(r"\s#[^'\"]*$", "", line)
        yield number, code
        pending.extend(m.group(2) for m in HEREDOC.finditer(code))


def non_empty_readonly_arrays(text):
    code = "\n".join(line for _, line in code_lines(text))
    return {m.group(1) for m in READONLY_ARRAY.finditer(code) if m.group(2).split()}


def findings(text):
    safe_arrays = ALWAYS_SET | non_empty_readonly_arrays(text)
    found = []
    for number, code in code_lines(text):
        for name, release, pattern in RULES:
            if pattern.search(code):
                found.append((number, f"{name} (bash {release})", code.strip()))
        unguarded = GUARDED_IDIOM.sub("", code)
        for m in ARRAY_EXPANSION.finditer(unguarded):
            if m.group(1) not in safe_arrays:
                found.append((number, f"{EMPTY_ARRAY[0]}: ${{{m.group(1)}[@]}} (fixed in bash {EMPTY_ARRAY[1]}); "
                                      f"write ${{{m.group(1)}[@]+\"${{{m.group(1)}[@]}}\"}}", code.strip()))
    return found


# One sample each rule must catch, and the portable form it must accept.
SELF_TEST = [
    ("mapfile/readarray", 'mapfile -t lines < <(ls)', 'while IFS= read -r line; do :; done < <(ls)'),
    ("associative array", 'declare -A seen=()', 'seen=" a b "'),
    ("lower-case attribute", 'local -l name', 'local name'),
    ("name reference", 'local -n target=$1', 'eval "target=\\$$1"'),
    ("declare -g", 'declare -g counter=0', 'counter=0'),
    ("case modification", 'echo "${name,,}"', 'echo "$name" | tr "[:upper:]" "[:lower:]"'),
    ("wait -n", 'wait -n', 'wait "$pid"'),
    ("parameter transformation", 'printf "%s" "${value@Q}"', 'printf "%q" "$value"'),
    ("|&", 'make |& tee log', 'make 2>&1 | tee log'),
    ("&>>", 'echo hi &>> log', 'echo hi >>log 2>&1'),
    ("coproc", 'coproc worker { cat; }', 'worker | cat'),
    ("case fall-through", '  a) echo a ;&', '  a) echo a ;;'),
    ("automatic fd", 'exec {fd}>file', 'exec 3>file'),
    ("negative index", 'echo "${items[-1]}"', 'echo "${items[${#items[@]}-1]}"'),
    ("negative substring length", 'echo "${line:0:-1}"', 'echo "${line%?}"'),
    ("shopt globstar", 'shopt -s globstar', 'shopt -s nullglob'),
    ("BASHPID", 'echo "$BASHPID"', 'echo "$$"'),
    ("printf %()T", "printf '%(%F)T' -1", 'date +%F'),
    ("read -N", 'read -r -N 1 key', 'read -r key'),
    ("[[ -v ]]", 'if [[ -v name ]]; then :; fi', 'if [[ -n "${name+set}" ]]; then :; fi'),
    ("local -", 'local -', 'local options'),
    ("brace step", 'echo {1..9..2}', 'seq 1 2 9'),
    ("empty array", 'for x in "${items[@]}"; do :; done', 'for x in ${items[@]+"${items[@]}"}; do :; done'),
    ("empty array joined", 'echo "${items[*]}"', 'echo "${items[*]+${items[*]}}"'),
    ("empty array, count is fine", 'cmd "${list[@]}"', 'echo "${#list[@]}"'),
]


def self_test():
    failures = 0
    for name, bad, good in SELF_TEST:
        caught, passed = bool(findings(bad + "\n")), not findings(good + "\n")
        ok = caught and passed
        failures += not ok
        print(f"{'PASS' if ok else 'FAIL'}: bash32 guard rule '{name}' catches `{bad}`"
              f"{'' if caught else ' (NOT CAUGHT)'} and accepts `{good}`{'' if passed else ' (REFUSED)'}")
    # a readonly array literal with elements may be expanded; the same name without it may not
    literal = 'readonly NAMES=(\n  a\n  b\n)\nfor n in "${NAMES[@]}"; do :; done\n'
    heredoc = 'cat <<EOF\nmapfile in a here-document is data\nEOF\n'
    for name, text, expected in [("readonly array literal", literal, 0), ("here-document body", heredoc, 0),
                                 ("same expansion without the literal", literal.split(")\n", 1)[1], 1)]:
        ok = len(findings(text)) == expected
        failures += not ok
        print(f"{'PASS' if ok else 'FAIL'}: bash32 guard: {name} gives {expected} finding(s)")
    return failures


def main(arguments):
    if arguments == ["--self-test"]:
        return 1 if self_test() else 0
    if not arguments:
        raise SystemExit(__doc__)
    failures = 0
    for path in arguments:
        found = findings(pathlib.Path(path).read_text())
        for number, rule, code in found:
            print(f"    {path}:{number}: {rule}\n        {code}")
        print(f"{'FAIL' if found else 'PASS'}: {path} uses nothing bash 3.2 lacks")
        failures += bool(found)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
