#!/usr/bin/env python3
"""Counts test results from Meson's testlog.json files and prints the one
closing line CI reads: 'N passed, N failed'.

Meson's own summary counts test programs; a cmocka or Python TAP program
holds many tests, so this counts TAP lines ('ok N' / 'not ok N') in each
program's output. A program that failed without reporting a failed TAP line
(a crash, a timeout) counts as one more failure. A missing log (the build
failed before tests ran) counts as a failure too.

usage: testcount.py TESTLOG.json...   exit status 1 if anything failed or
nothing ran.
"""
import json
import re
import sys

TAP = re.compile(r"^(not ok|ok)\b(?:\s+\d+)?(.*)$")


def count(path):
    passed = failed = 0
    try:
        lines = open(path, encoding="utf-8").read().splitlines()
    except OSError as e:
        print(f"testcount: {path}: {e}", file=sys.stderr)
        return 0, 1
    for line in lines:
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            # A log cut short (a run killed mid-write) must not hide a
            # failure behind a crash of the counter.
            print(f"testcount: {path}: unreadable line {line[:80]!r}", file=sys.stderr)
            failed += 1
            continue
        p = f = 0
        for out in (entry.get("stdout") or "").splitlines():
            m = TAP.match(out.strip())
            if not m:
                continue
            skipped = "# skip" in m.group(2).lower()
            if m.group(1) == "ok":
                p += 0 if skipped else 1
            else:
                f += 1
        if p == 0 and f == 0:
            p = 1 if entry.get("result") == "OK" else 0
        if entry.get("result") not in ("OK", "EXPECTEDFAIL", "SKIP") and f == 0:
            f = 1
            print(f"testcount: {entry.get('name')}: {entry.get('result')}", file=sys.stderr)
        passed += p
        failed += f
    return passed, failed


def main():
    passed = failed = 0
    for path in sys.argv[1:]:
        p, f = count(path)
        passed += p
        failed += f
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
