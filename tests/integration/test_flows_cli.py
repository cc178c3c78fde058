#!/usr/bin/env python3
"""test_flows_cli.py - integration test of the flow commands, reported as TAP.

    python3 test_flows_cli.py path/to/nurture path/to/repo-root

Drives the real binary (subprocess, a fresh temporary working directory, the
demo leads in tools/demo/ and the shipped flows/whitepaper_followup.lua):
flow check, flow deploy, flow list, serve --once, run why, stats, clock,
flow enroll, trigger max_age, the daemon (events from other processes,
SIGHUP, SIGTERM) and flow test. Python 3 standard library only.
"""
import csv
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tap  # noqa: E402
import nurture_cli  # noqa: E402
from tap import eq, ok  # noqa: E402

if len(sys.argv) != 3:
    sys.exit("usage: test_flows_cli.py NURTURE_BINARY REPO_ROOT")
NURTURE = os.path.abspath(sys.argv[1])
ROOT = os.path.abspath(sys.argv[2])
LEADS_CSV = os.path.join(ROOT, "tools", "demo", "leads.csv")
WHITEPAPER = os.path.join(ROOT, "flows", "whitepaper_followup.lua")
WHITEPAPER_TEST = os.path.join(ROOT, "flows", "whitepaper_followup_test.lua")
FLOW = "whitepaper_followup"
DAY_MS = 86400000

CLI = nurture_cli.Cli(NURTURE, "nurture-flows-test-")
WORK = CLI.work
ENV = CLI.env
run = CLI.run
run_json = CLI.run_json
exit_is = CLI.exit_is
show = nurture_cli.show
section = nurture_cli.section


write = nurture_cli.write
def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def demo_emails(n):
    """The first n clean e-mail addresses of the demo leads, in file order."""
    out = []
    with open(LEADS_CSV, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            e = row.get("email") or ""
            if e and e == e.strip().lower() and re.fullmatch(r"[a-z0-9._-]+@[a-z0-9.-]+", e):
                out.append(e)
            if len(out) == n:
                break
    return out


def why(ref, cwd=None):
    """run why --json LEAD -> the list of runs (None on failure)."""
    p, d = run_json("run", "why", ref, cwd=cwd)
    return d.get("runs") if p.returncode == 0 and d else None


def stats(cwd=None):
    p, d = run_json("stats", cwd=cwd)
    return d if p.returncode == 0 else None


def clock_now():
    """The database's clock: (datetime, offset_ms)."""
    p, d = run_json("clock")
    if p.returncode != 0 or not d:
        return None, None
    now = datetime.datetime.strptime(d["now"], "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc)
    return now, d.get("offset_ms")


def rfc3339(dt):
    return dt.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def kinds(r):
    return [s.get("kind") for s in r.get("steps", [])]


def sends_of(r):
    """[(template, status)] of a run's send steps, in order."""
    return [((s.get("request") or {}).get("message", {}).get("template"),
             (s.get("result") or {}).get("status"))
            for s in r.get("steps", []) if s.get("kind") == "send"]


def wait_for(cond, timeout, step=0.05):
    """Polls cond() until it is truthy or timeout seconds pass; returns its last value."""
    end = time.monotonic() + timeout
    while True:
        v = cond()
        if v or time.monotonic() >= end:
            return v
        time.sleep(step)


# ---- flow files written by the test ----------------------------------------

GOOD_FLOW = '''-- a minimal flow: one email
return {
  name    = "%s",
  trigger = { event = "%s" },
  run = function(lead, event)
    send("email", { template = "hello" })
  end,
}
'''

# name -> (source, the line the problem must be reported at (None: any
# line), words the message must contain)
BAD_FLOWS = {
    "syntax.lua": ('''return {
  name    = "bad_syntax",
  trigger = { event = "form.submitted" },
  run = function(lead, event)
    local x = = 1
    send("email", { template = "x" })
  end,
}
''', 5, ["unexpected symbol"]),
    "unknown_key.lua": ('''return {
  name    = "bad_key",
  trigger = { event = "form.submitted" },
  colour  = "red",
  run = function(lead, event) send("email", { template = "x" }) end,
}
''', 4, ["unknown key 'colour'"]),
    "reentry.lua": ('''return {
  name    = "bad_reentry",
  trigger = { event = "form.submitted" },

  reentry = "3x",
  run = function(lead, event) send("email", { template = "x" }) end,
}
''', 5, ["reentry", "'3x'"]),
    "condition.lua": ('''return {
  name    = "bad_condition",
  description = "the trigger condition is misspelt",
  trigger = { evnt = "form.submitted" },
  run = function(lead, event) send("email", { template = "x" }) end,
}
''', 4, ["unknown condition 'evnt'"]),
    "rule.lua": ('''return {
  name    = "bad_rule",
  kind    = "rule",
  trigger = { tag = "interest:crm" },
  run = function(lead, event) lead:tag("persona:buyer") end,
}
''', 4, ["a rule runs on events"]),
    "no_run.lua": ('''return {
  name    = "no_run",
  trigger = { event = "form.submitted" },
}
''', None, ["'run' must be a function"]),
    "typo.lua": ('''-- sends a white paper, with a typo
return {
  name    = "typo",
  trigger = { event = "form.submitted" },
  run = function(lead, event)
    lead:tag("interest:crm")
    sned("email", { template = "whitepaper" })
  end,
}
''', 7, ["unknown function 'sned'", "did you mean 'send'"]),
    # A long comment of level 2 ends at ]==], not at the first ]]: the
    # sleepp( inside it is no call, and the typo below is on line 8.
    "typo_after_long_comment.lua": ('''--[==[ the old helper was called as [[ helper(x) ]]
     and sleepp(1) went with it ]==]
return {
  name    = "typo_after_long_comment",
  trigger = { event = "form.submitted" },
  run = function(lead, event)
    lead:tag("interest:crm")
    sned("email", { template = "whitepaper" })
  end,
}
''', 8, ["unknown function 'sned'", "did you mean 'send'"]),
    "missing_lib.lua": ('''-- uses a helper module that does not exist
-- (flows/lib/helpers.lua)
local helpers = require("lib.helpers")
return {
  name    = "missing_lib",
  trigger = { event = "form.submitted" },
  run = function(lead, event) send("email", { template = "x" }) end,
}
''', 3, ["helpers"]),
}


# ---------------------------------------------------------------------------

def test_check():
    p = run("flow", "check", WHITEPAPER)
    exit_is(p, 0, "flow check of the shipped white-paper flow exits 0")
    m = re.fullmatch(re.escape(WHITEPAPER) +
                     r": ok \(flow whitepaper_followup, version ([0-9a-f]{12}), 0 lib modules\)\n",
                     p.stdout)
    ok(m, "flow check prints 'FILE: ok (flow whitepaper_followup, version <12 hex>, 0 lib modules)'",
       show(p))
    eq(p.stderr, "", "flow check of a good file writes nothing to stderr")
    prefix = m.group(1) if m else None

    bad_dir = os.path.join(WORK, "bad")
    for name, (src, line, words) in sorted(BAD_FLOWS.items()):
        path = write(os.path.join(bad_dir, name), src)
        p = run("flow", "check", path)
        exit_is(p, 1, "flow check %s exits 1" % name)
        eq(p.stdout, "", "flow check %s prints no 'ok'" % name)
        lines = p.stderr.strip().splitlines()
        first = lines[0] if lines else ""
        where = re.escape(path) + ":" + (str(line) if line else r"\d+") + ": "
        ok(re.match(where, first), "flow check %s reports '%s:%s: message'" % (name, name, line or "LINE"),
           show(p))
        ok(all(w in first for w in words), "flow check %s: the message says %s" % (name, words), show(p))

    # Several files at once: a bad one makes the status 1, good ones still print ok.
    good2 = write(os.path.join(WORK, "good", "hello.lua"), GOOD_FLOW % ("hello", "page.viewed"))
    bad = os.path.join(bad_dir, "unknown_key.lua")
    p = run("flow", "check", WHITEPAPER, bad, good2)
    exit_is(p, 1, "flow check good bad good exits 1")
    ok(re.search("^" + re.escape(WHITEPAPER) + r": ok \(", p.stdout, re.M) and
       re.search("^" + re.escape(good2) + r": ok \(flow hello, ", p.stdout, re.M),
       "flow check good bad good prints ok for both good files", show(p))
    ok(bad + ":4: unknown key 'colour'" in p.stderr and ": ok (" not in p.stderr,
       "flow check good bad good reports the bad file only", show(p))
    p = run("flow", "check", WHITEPAPER, good2)
    exit_is(p, 0, "flow check of two good files exits 0")
    eq(len(p.stdout.splitlines()), 2, "flow check of two good files prints two lines")
    return prefix


def test_deploy():
    d = os.path.join(WORK, "deploy")
    os.makedirs(d)
    exit_is(run("-q", "init", cwd=d), 0, "init in the deploy directory exits 0")
    path = write(os.path.join(d, "flows", "whitepaper_followup.lua"), read(WHITEPAPER))
    p = run("flow", "deploy", path, cwd=d)
    exit_is(p, 0, "flow deploy exits 0")
    m = re.fullmatch(r"whitepaper_followup: deployed version ([0-9a-f]{12})\n", p.stdout)
    ok(m, "flow deploy says 'whitepaper_followup: deployed version <12 hex>'", show(p))
    v1 = m.group(1) if m else None
    p = run("flow", "deploy", path, cwd=d)
    exit_is(p, 0, "flow deploy again exits 0")
    eq(p.stdout, "whitepaper_followup: unchanged, version %s\n" % v1,
       "flow deploy again says unchanged, with the same version")

    src = read(path)
    edited = src.replace('reentry = "30d"', 'reentry = "14d"')
    ok(edited != src, "premise: the flow has reentry = \"30d\" to edit")
    write(path, edited)
    p = run("flow", "deploy", path, cwd=d)
    exit_is(p, 0, "flow deploy of the edited file exits 0")
    m = re.fullmatch(r"whitepaper_followup: deployed version ([0-9a-f]{12})\n", p.stdout)
    v2 = m.group(1) if m else None
    ok(m and v2 != v1, "the edited flow is deployed with a new version", show(p))
    p, lst = run_json("flow", "list", cwd=d)
    exit_is(p, 0, "flow list --json exits 0")
    lst = lst or []
    eq([(f.get("name"), f.get("kind"), f.get("status")) for f in lst],
       [(FLOW, "flow", "active")], "flow list --json has the one flow, active")
    got = lst[0].get("version", "") if lst else ""
    ok(re.fullmatch("[0-9a-f]{64}", got) and v2 and got.startswith(v2),
       "flow list --json shows the new version (a full SHA-256)", "got %r, want %s…" % (got, v2))


def setup_store(check_prefix):
    p = run("-q", "init")
    exit_is(p, 0, "init exits 0")
    p = run("-q", "lead", "import", LEADS_CSV)
    exit_is(p, 3, "lead import of the demo leads exits 3 (5 rows rejected)")
    p = run("flow", "deploy", WHITEPAPER)
    exit_is(p, 0, "flow deploy of the white-paper flow exits 0")
    m = re.fullmatch(r"whitepaper_followup: deployed version ([0-9a-f]{12})\n", p.stdout)
    ok(m and m.group(1) == check_prefix, "the deployed version is the one flow check printed",
       "check said %s\n%s" % (check_prefix, show(p)))
    p, d = run_json("clock")
    eq((p.returncode, d and d.get("offset_ms")), (0, 0), "clock --json: a new database runs on wall time")


def test_trigger(lead):
    p = run("event", "add", lead, "form.submitted", "--prop", "form=whitepaper", "--prop", "topic=crm")
    exit_is(p, 0, "event add form.submitted exits 0")
    p = run("serve", "--once")
    exit_is(p, 0, "serve --once exits 0")
    d = stats() or {}
    eq(d.get("runs"), {FLOW: {"waiting": 1}}, "stats --json: runs {whitepaper_followup: {waiting: 1}}")
    eq(d.get("sends"), {"email": {"sent": 1}}, "stats --json: sends {email: {sent: 1}}")

    runs = why(lead) or []
    eq(len(runs), 1, "run why --json: the lead has one run")
    r = runs[0] if runs else {}
    eq((r.get("flow"), r.get("status")), (FLOW, "waiting"), "run why --json: the run waits")
    eq(kinds(r), ["lead.tag", "lead.tag", "send", "wait_event"],
       "run why --json: steps lead.tag, lead.tag, send, wait_event")
    steps = r.get("steps") or []
    if len(steps) == 4:
        eq([s["request"].get("tag") for s in steps[:2]],
           ["behaviour:downloaded_whitepaper", "interest:crm"], "run why --json: the two tags")
        eq(steps[2]["request"], {"channel": "email", "message": {"template": "whitepaper", "topic": "crm"}},
           "run why --json: the white paper email, with the topic")
        eq((steps[2].get("result") or {}).get("status"), "sent", "run why --json: the email was sent")
    w = r.get("waiting_for") or {}
    eq((w.get("kind"), w.get("request")), ("wait_event", {"type": "email.opened", "within": "3d"}),
       "run why --json: waiting_for is wait_event email.opened within 3d")
    ok(len(steps) == 4 and w.get("until") == steps[3]["at"] + 3 * DAY_MS,
       "run why --json: the wait times out 3 days after it started",
       "until %r, wait_event step at %r" % (w.get("until"), steps[3].get("at") if len(steps) == 4 else None))
    eq((r.get("trigger") or {}).get("props"), {"form": "whitepaper", "topic": "crm"},
       "run why --json: the trigger event's props")

    p = run("run", "why", lead)
    exit_is(p, 0, "run why exits 0")
    ok(re.search(r"^lead \d+: 1 run$", p.stdout, re.M), "run why: 'lead N: 1 run'", show(p))
    ok(re.search(r"^  waiting for: wait_event email\.opened within 3d, timeout at \S+$", p.stdout, re.M),
       "run why lists 'waiting for: wait_event email.opened within 3d'", show(p))


def test_opened_and_clock(lead):
    p = run("event", "add", lead, "email.opened")
    exit_is(p, 0, "event add email.opened exits 0")
    p = run("serve", "--once")
    exit_is(p, 0, "serve --once exits 0 (after the open)")
    r = (why(lead) or [{}])[0]
    steps = r.get("steps") or []
    res = (steps[3].get("result") or {}) if len(steps) > 3 else {}
    eq((res.get("event") or {}).get("type"), "email.opened",
       "run why --json: the wait_event result holds the email.opened event")
    later = [s for s in steps[4:] if s.get("kind") == "send"]
    eq(later and (later[0]["request"]["message"].get("template"), (later[0].get("result") or {}).get("status")),
       ("case_study", "sent"), "run why --json: then a send with template case_study, sent")
    eq(kinds(r)[-1:], ["sleep"], "run why --json: the run now sleeps (7d)")

    p = run("clock", "advance", "8d")
    exit_is(p, 0, "clock advance 8d exits 0")
    ok(re.match(r"clock advanced 8d to \S+: \d+ engine steps on the way", p.stdout),
       "clock advance says where the clock is now", show(p))
    _, offset = clock_now()
    ok(offset is not None and abs(offset - 8 * DAY_MS) < 5000, "clock --json: offset is 8 days",
       "offset_ms %r" % offset)
    r = (why(lead) or [{}])[0]
    eq(sends_of(r), [("whitepaper", "sent"), ("case_study", "sent"), ("survey", "sent")],
       "after 8 days: the survey email was sent")
    eq((r.get("waiting_for") or {}).get("request"), {"type": "survey.answered", "within": "5d"},
       "after 8 days: the run waits for survey.answered within 5d")

    for bad, why_ in (("-1d", "negative"), ("3x", "'3x'")):
        p = run("clock", "advance", bad)
        exit_is(p, 2, "clock advance %s is refused with exit 2" % bad)
        ok(why_ in p.stderr, "clock advance %s: the message says %s" % (bad, why_), show(p))
    _, after = clock_now()
    ok(after is not None and offset is not None and 0 <= after - offset < 5000,
       "refused advances left the clock where it was", "before %r, after %r" % (offset, after))

    p = run("clock", "advance", "6d")
    exit_is(p, 0, "clock advance 6d exits 0")
    r = (why(lead) or [{}])[0]
    eq(r.get("status"), "completed", "after 14 days the run is completed (survey timed out)")
    steps = r.get("steps") or []
    survey_wait = [s for s in steps if s.get("kind") == "wait_event" and
                   (s.get("request") or {}).get("type") == "survey.answered"]
    eq(survey_wait and survey_wait[0].get("result"), {"timeout": True},
       "run why --json: the survey wait timed out")
    eq(len(sends_of(r)), 3, "no send after the survey")
    d = stats() or {}
    eq(d.get("runs"), {FLOW: {"completed": 1}}, "stats --json: runs {whitepaper_followup: {completed: 1}}")
    eq(d.get("sends"), {"email": {"sent": 3}}, "stats --json: sends {email: {sent: 3}}")
    p, prof = run_json("lead", "show", lead)
    ok(prof and "pool:nurture" in [t["name"] for t in prof.get("tags", [])],
       "the unengaged lead went back to the pool (pool:nurture)", show(p))


def test_enroll(lead):
    p = run("flow", "enroll", FLOW, lead)
    exit_is(p, 0, "flow enroll exits 0")
    m = re.fullmatch(r"lead (\d+) enrolled in whitepaper_followup: run (\d+)\n", p.stdout)
    ok(m, "flow enroll prints 'lead N enrolled in whitepaper_followup: run M'", show(p))
    runs = why(lead) or []
    eq([r.get("id") for r in runs], [int(m.group(2))] if m else ["?"],
       "run why --json: the lead has that run")
    r = runs[0] if runs else {}
    eq((r.get("status"), r.get("trigger_event_id"), r.get("error")), ("waiting", 0, None),
       "the hand-enrolled run waits (no trigger event, no error)")
    eq(sends_of(r), [("whitepaper", "sent")], "the hand-enrolled run sent the white paper email")
    p = run("flow", "enroll", FLOW, lead)
    exit_is(p, 1, "a second flow enroll is refused with exit 1")
    ok("not enrolled" in p.stderr and ("already in flow" in p.stderr or "reentry" in p.stderr),
       "the refusal names the reason (already in flow / reentry)", show(p))
    eq(len(why(lead) or []), 1, "the refused enrolment made no run")
    p = run("flow", "enroll", "nosuchflow", lead)
    exit_is(p, 1, "flow enroll nosuchflow exits 1")
    ok("nosuchflow" in p.stderr, "the message names the flow", show(p))


def test_max_age(old_lead, fresh_lead, halfday_lead):
    now, _ = clock_now()
    ok(now is not None, "clock --json gives the time")
    if now is None:
        return
    for lead, at, what in ((old_lead, now - datetime.timedelta(days=3), "3 days before the clock"),
                           (halfday_lead, now - datetime.timedelta(hours=12), "12 hours before the clock"),
                           (fresh_lead, None, "now")):
        extra = ["--at", rfc3339(at)] if at else []
        p = run("event", "add", lead, "form.submitted", "--prop", "form=whitepaper", *extra)
        exit_is(p, 0, "event add form.submitted at %s exits 0" % what)
    p = run("serve", "--once")
    exit_is(p, 0, "serve --once exits 0 (max_age)")
    eq(len(why(old_lead) or []), 0, "an event 3 days old (max_age 1d) starts no run")
    eq([r.get("status") for r in why(halfday_lead) or []], ["waiting"],
       "an event 12 hours old starts a run")
    eq([r.get("status") for r in why(fresh_lead) or []], ["waiting"],
       "an event at the (advanced) clock's now starts a run")


def test_daemon():
    d = os.path.join(WORK, "daemon")
    flows = os.path.join(d, "flows")
    os.makedirs(flows)
    exit_is(run("-q", "init", cwd=d), 0, "init in the daemon directory exits 0")
    write(os.path.join(flows, "whitepaper_followup.lua"), read(WHITEPAPER))
    write(os.path.join(flows, "whitepaper_followup_test.lua"), read(WHITEPAPER_TEST))
    try:
        p = run("serve", "--flows", flows, "--exit-when-idle", cwd=d)
    except subprocess.TimeoutExpired:
        ok(False, "serve --exit-when-idle on an idle database stops by itself")
        return
    exit_is(p, 0, "serve --flows DIR --exit-when-idle on an idle database exits 0 by itself")
    ok("nothing left to do" in p.stderr and "stopped cleanly" in p.stderr,
       "serve --exit-when-idle logs 'nothing left to do' and 'stopped cleanly'", show(p))
    p, lst = run_json("flow", "list", cwd=d)
    eq([f.get("name") for f in lst or []], [FLOW], "serve --flows deployed the flow (not the _test file)")

    log_path = os.path.join(d, "serve.log")
    log = open(log_path, "w")
    daemon = subprocess.Popen([NURTURE, "serve", "--flows", flows], cwd=d, env=ENV,
                              stdout=log, stderr=log)
    try:
        started = wait_for(lambda: "serving " in read(log_path), 5)
        ok(started, "the daemon logs 'serving'", read(log_path))
        p = run("event", "add", "daemon.lead@example.cn", "form.submitted", "--prop", "form=whitepaper",
                cwd=d)
        exit_is(p, 0, "event add while the daemon runs exits 0")
        t0 = time.monotonic()

        def sent():
            r = why("daemon.lead@example.cn", cwd=d) or []
            return r and sends_of(r[0]) == [("whitepaper", "sent")]
        got = wait_for(sent, 1.0)
        took = time.monotonic() - t0
        ok(got, "the daemon picks up the other process's event within a second and sends",
           "after %.2fs: %r" % (took, why("daemon.lead@example.cn", cwd=d)))

        write(os.path.join(flows, "hup_flow.lua"), GOOD_FLOW % ("hup_flow", "page.viewed"))
        daemon.send_signal(signal.SIGHUP)

        def listed():
            _, l2 = run_json("flow", "list", cwd=d)
            return [f.get("name") for f in l2 or []] == ["hup_flow", FLOW]
        ok(wait_for(listed, 3), "SIGHUP deploys the new flow file (flow list shows hup_flow)",
           read(log_path))
        ok(daemon.poll() is None, "the daemon still runs after SIGHUP", read(log_path))
        ok(wait_for(lambda: "SIGHUP: flows reloaded" in read(log_path), 2),
           "the log says 'SIGHUP: flows reloaded'", read(log_path))

        daemon.send_signal(signal.SIGTERM)
        try:
            rc = daemon.wait(timeout=5)
        except subprocess.TimeoutExpired:
            rc = None
        eq(rc, 0, "SIGTERM: the daemon exits 0")
        text = read(log_path)
        ok("SIGTERM" in text and "stopped cleanly" in text, "the log says 'stopped cleanly'", text)
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
        log.close()


def test_flow_test():
    # as many TAP lines as the shipped file has tests (["name"] = function(t))
    n = len(re.findall(r'^\s*\["[^"]+"\]\s*=\s*function\(t\)', read(WHITEPAPER_TEST), re.M))
    ok(n >= 4, "premise: the white-paper test file has at least 4 tests")
    p = run("flow", "test", WHITEPAPER_TEST)
    exit_is(p, 0, "flow test of the shipped white-paper test exits 0")
    oks = re.findall(r"^ok \d+ - .+$", p.stdout, re.M)
    eq(len(oks), n, "flow test prints one TAP 'ok' line per test")
    ok("not ok" not in p.stdout and re.search(r"^1\.\.%d$" % n, p.stdout, re.M),
       "flow test: plan 1..N, no 'not ok'", show(p))

    d = os.path.join(WORK, "broken")
    os.makedirs(d)
    write(os.path.join(d, "whitepaper_followup.lua"), read(WHITEPAPER))
    src = read(WHITEPAPER_TEST)
    old = 'template = "case_study", at = "1d"'
    ok(old in src, "premise: the test expects the case_study email at 1d")
    broken = write(os.path.join(d, "whitepaper_followup_test.lua"),
                   src.replace(old, 'template = "case_studies", at = "1d"'))
    p = run("flow", "test", broken)
    exit_is(p, 1, "flow test of a broken copy exits 1")
    eq((len(re.findall(r"^ok \d+ ", p.stdout, re.M)), len(re.findall(r"^not ok \d+ ", p.stdout, re.M))),
       (n - 1, 1), "flow test of the broken copy: all ok but one")
    ok(re.search(r"^not ok \d+ - .*opened within 3 days", p.stdout, re.M),
       "the failing test is the 'opened within 3 days' one", show(p))
    ok(re.search(r"expected a send .*template=case_studies.* at \+1d", p.stdout),
       "the message says 'expected a send … template=case_studies … at +1d'", show(p))
    ok(re.search(r"\+0s email template=whitepaper", p.stdout) and
       re.search(r"\+1d email template=case_study\b", p.stdout),
       "the message lists what was sent with its simulated times (+0s, +1d)", show(p))


def main():
    tap.note("binary %s, work dir %s" % (NURTURE, WORK))
    t0 = time.monotonic()
    try:
        leads = demo_emails(5)
        ok(len(leads) == 5, "premise: the demo leads have 5 clean emails", repr(leads))
        prefix = section(test_check)
        section(test_deploy)
        section(setup_store, prefix)
        if len(leads) == 5:
            section(test_trigger, leads[0])
            section(test_opened_and_clock, leads[0])
            section(test_enroll, leads[1])
            section(test_max_age, leads[2], leads[3], leads[4])
        section(test_daemon)
        section(test_flow_test)
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
    tap.note("%.1fs" % (time.monotonic() - t0))
    tap.done_testing()


if __name__ == "__main__":
    main()
