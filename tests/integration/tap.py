"""tap.py - a tiny TAP (Test Anything Protocol) producer, standard library only.

    import tap
    tap.ok(x > 0, "x is positive")
    tap.eq(got, 42, "the answer")
    tap.done_testing()          # prints the plan, exits 1 if anything failed

Call plan(n) first instead if the number of tests is known up front;
done_testing() then checks that exactly n ran.
"""
import sys

_planned = None
_count = 0
_failed = 0


def _comment(text):
    for line in str(text).splitlines() or [""]:
        print("# " + line)


def note(text):
    """Print text as '# ' lines (shown by TAP harnesses, not a test)."""
    _comment(text)
    sys.stdout.flush()


def plan(n):
    """Announce that n tests will run."""
    global _planned
    _planned = n
    print("1..%d" % n)
    sys.stdout.flush()


def ok(cond, name, diag=""):
    """One test: passes when cond is true. diag is printed when it fails."""
    global _count, _failed
    _count += 1
    # '#' would start a TAP directive; a newline would end the line.
    name = str(name).replace("\\", "\\\\").replace("#", "\\#").replace("\n", " ")
    print("%s %d - %s" % ("ok" if cond else "not ok", _count, name))
    if not cond:
        _failed += 1
        if diag:
            _comment(diag)
    sys.stdout.flush()
    return bool(cond)


def eq(got, want, name):
    """One test: passes when got == want; shows both when it fails."""
    return ok(got == want, name, "got:  %r\nwant: %r" % (got, want))


def done_testing():
    """Finish: print the plan if none was given, exit non-zero on failure."""
    if _planned is None:
        print("1..%d" % _count)
    elif _planned != _count:
        _comment("planned %d tests but ran %d" % (_planned, _count))
    sys.stdout.flush()
    bad = _failed > 0 or (_planned is not None and _planned != _count)
    sys.exit(1 if bad else 0)
