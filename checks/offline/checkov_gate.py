"""Runs checkov on the given files and fails on every finding that checkov-skips.yaml does not excuse.

Usage: checkov_gate.py FRAMEWORK FILE...   (FRAMEWORK: kubernetes or dockerfile)

checkov's own skip list (--skip-check) can only drop a check everywhere. Here a skip names the
check, the resources it excuses (checkov's resource ids, e.g. StatefulSet.invoice.invoice-db, or
`all`) and the reason, so a check stays on for every other resource. A skip that no finding uses
any more fails too: the list cannot go stale.
"""
import json
import pathlib
import subprocess
import sys

import yaml

HERE = pathlib.Path(__file__).resolve().parent
CHECKOV = HERE.parent.parent / ".tools" / "venv-checkov" / "bin" / "checkov"


def load_skips(framework):
    skips = yaml.safe_load((HERE / "checkov-skips.yaml").read_text())
    selected = []
    for skip in skips:
        missing = {"check", "framework", "resources", "reason"} - set(skip)
        if missing or not str(skip["reason"]).strip():
            raise SystemExit(f"checkov-skips.yaml: entry {skip} lacks {', '.join(sorted(missing)) or 'a reason'}")
        if skip["framework"] == framework:
            selected.append(skip)
    return selected


def excused(finding, skips):
    for skip in skips:
        if finding["check_id"] == skip["check"] and (
                skip["resources"] == "all" or finding["resource"] in skip["resources"]):
            return skip
    return None


def run_checkov(framework, files):
    command = [str(CHECKOV), "--framework", framework, "--skip-download", "--quiet", "--compact",
               "--output", "json"]
    for path in files:
        command += ["--file", path]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    # Exit 1 means findings; anything else with no JSON is checkov itself failing.
    try:
        report = json.loads(completed.stdout)
    except json.JSONDecodeError:
        sys.stderr.write(completed.stdout + completed.stderr)
        raise SystemExit(f"checkov produced no report (exit {completed.returncode})")
    reports = report if isinstance(report, list) else [report]
    passed, failed = 0, []
    for one in reports:
        if one.get("check_type") not in (framework, None):
            continue
        summary = one.get("summary", {})
        passed += summary.get("passed", 0)
        failed += one.get("results", {}).get("failed_checks", [])
    return passed, failed


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    framework, files = sys.argv[1], sys.argv[2:]
    skips = load_skips(framework)
    passed, failed = run_checkov(framework, files)
    if passed == 0 and not failed:
        raise SystemExit(f"checkov ran no {framework} check on {', '.join(files)}")
    used, unexcused = set(), []
    for finding in failed:
        skip = excused(finding, skips)
        if skip is None:
            unexcused.append(finding)
        else:
            used.add(skip["check"])
    for finding in unexcused:
        print(f"{finding['check_id']} {finding['check_name']}: {finding['resource']} "
              f"({finding.get('file_path', '?')}:{finding.get('file_line_range', ['?'])[0]})")
    stale = [skip["check"] for skip in skips if skip["check"] not in used]
    for check in stale:
        print(f"{check}: skipped in checkov-skips.yaml but no longer found; remove the skip")
    print(f"checkov {framework}: {passed} passed, {len(failed) - len(unexcused)} excused "
          f"({len(used)} skips), {len(unexcused)} failed")
    return 1 if unexcused or stale else 0


if __name__ == "__main__":
    sys.exit(main())
