#!/usr/bin/env python3
"""`make demo` end to end: tools/demo.sh with this build's binary and
plugins, into a temporary folder (DEMO_OUT), as TAP.

Checks that it exits 0 within its time budget, that the emails reached the
mail sink as .eml files through the email plugin, that the 13 weeks went
through the daemon, what it prints, and that it leaves nothing running.

usage: test_demo.py NURTURE REPO_ROOT
"""
import email
import glob
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from email import policy

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tap  # noqa: E402
from tap import ok  # noqa: E402

NURTURE, ROOT = (os.path.abspath(a) for a in sys.argv[1:3])
BUDGET_S = 60


def port_of(conf, key):
    m = re.search(key + r'\s*=\s*"[a-z:/]*127\.0\.0\.1:(\d+)', conf)
    return int(m.group(1)) if m else None


def listening(port):
    s = socket.socket()
    s.settimeout(0.5)
    try:
        return s.connect_ex(("127.0.0.1", port)) == 0
    finally:
        s.close()


def main():
    out = tempfile.mkdtemp(prefix="nurture-demo-test-")
    env = {k: v for k, v in os.environ.items() if k not in ("NURTURE_CONFIG", "NURTURE_URL", "NURTURE_TOKEN")}
    env["DEMO_OUT"] = os.path.join(out, "demo-out")
    try:
        started = time.monotonic()
        p = subprocess.run(["bash", os.path.join(ROOT, "tools", "demo.sh"), NURTURE], env=env, cwd=out,
                           capture_output=True, text=True, timeout=240)
        took = time.monotonic() - started
        tap.note("the demo took %.1f s" % took)
        if not ok(p.returncode == 0, "tools/demo.sh exits 0", "stdout:\n%s\nstderr:\n%s" % (p.stdout[-4000:], p.stderr[-4000:])):
            return
        ok(took < BUDGET_S, "it takes less than %d s (%.1f s)" % (BUDGET_S, took))
        check(env["DEMO_OUT"], p.stdout)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def check(demo, stdout):
    emls = glob.glob(os.path.join(demo, "mail", "*.eml"))
    ok(len(emls) > 300, "the mail sink holds the emails as .eml files (%d)" % len(emls))
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(demo, "nurture.db"), uri=True)
    sent = db.execute("SELECT count(*) FROM outbox WHERE channel = 'email' AND state = 'sent'").fetchone()[0]
    channels = dict(db.execute("SELECT channel, count(*) FROM outbox WHERE state = 'sent' GROUP BY 1"))
    ok(sent == len(emls), "one .eml per email the outbox says was sent (%d)" % sent)
    ok(channels.get("wechat", 0) > 0, "WeChat sends went through the mock plugin", str(channels))
    receipts = db.execute("SELECT count(*) FROM event WHERE type = 'email.sent' AND source = 'plugin:email'").fetchone()[0]
    ok(receipts == sent, "every email has its email.sent receipt from the plugin (%d)" % receipts)
    late = db.execute("SELECT count(*) FROM outbox o JOIN event e ON e.type = 'email.sent'"
                      " AND json_extract(e.props, '$.op_id') = o.op_id WHERE e.at - o.created_at > 60000").fetchone()[0]
    ok(late == 0, "receipts are recorded at the simulated time of their send, not weeks later", "%d late" % late)
    offset = db.execute("SELECT value FROM setting WHERE key = 'clock_offset_ms'").fetchone()
    ok(offset and offset[0] >= 13 * 7 * 86400000 - 60000, "the clock moved 13 weeks", str(offset))
    db.close()
    dates = set()
    for path in emls:
        with open(path, "rb") as f:
            msg = email.message_from_binary_file(f, policy=policy.default)
        dates.add(msg["Date"].datetime.date())
    ok(len(dates) > 20, "the Date headers spread over the simulated weeks (%d days)" % len(dates))
    ok(re.search(r"week 13: \d{4}-\d\d-\d\dT[\d:]+Z: \d+ engine steps on the way, \d+ sends \(email \d+", stdout),
       "each week's advance says what it sent", stdout[-3000:])
    ok(re.search(r"^\d+ emails sent from \d+ templates", stdout, re.M), "emails by template are shown")
    ok(re.search(r"Subject: 您要的白皮书到了", stdout) and re.search(r"click link: http://127\.0\.0\.1:\d+/t/c/", stdout),
       "one email is shown with its subject and a tracking link")
    ok(re.search(r"^Mail: +\S+/mail/\*\.eml", stdout, re.M), "it says where the .eml files are")
    ok(re.search(r"run \d+ · whitepaper_followup .* completed", stdout), "run why tells a completed run")
    log = open(os.path.join(demo, "serve.log")).read()
    ok("stopped cleanly" in log and " error " not in log, "the daemon stopped cleanly, no errors in its log",
       log[-2000:])
    conf = open(os.path.join(demo, "nurture.conf.lua")).read()
    ports = [port_of(conf, "listen"), port_of(conf, "smtp_url")]
    ok(all(ports) and not any(listening(port) for port in ports), "neither the daemon nor the sink is left running",
       str(ports))


if __name__ == "__main__":
    main()
    tap.done_testing()
