#!/usr/bin/env python3
"""Every email template the example flows can send is in flows/templates,
and every template there is one they send; each names only variables its
sends provide or gives a default ({{lead.name|朋友}}).

The flows are not parsed: they run. A temporary database gets a lead for
every industry x product version the welcome series picks, the trigger of
every flow, and the reactions that take each branch (an opened white
paper, webinar registrations and an attendance); `nurture clock advance`
then plays 20 weeks offline, where the built-in channels stand in for the
plugins. The outbox says which templates went out with which fields. The
welcome series' WeChat touches count as email templates too: a touch that
fails on WeChat goes out by email.

usage: test_templates.py NURTURE REPO_ROOT
"""
import datetime
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tap  # noqa: E402
from tap import eq, ok  # noqa: E402

NURTURE, ROOT = (os.path.abspath(a) for a in sys.argv[1:3])
TEMPLATES = os.path.join(ROOT, "flows", "templates")
WORK = tempfile.mkdtemp(prefix="nurture-templates-test-")
ENV = {k: v for k, v in os.environ.items() if k not in ("NURTURE_CONFIG", "NURTURE_URL", "NURTURE_TOKEN")}

# The free-text values the welcome series maps to its versions ("" -> general).
INDUSTRIES = ["Industrial manufacturing", "软件", "Banking", "医疗器械", "Education"]
PRODUCTS = ["marketing automation", "SCRM", "CDP", ""]
WEBINAR = "tpl-2026"

# A tag, as the template library (plugins/email/template.h) reads it.
TAG = re.compile(r"\{\{\{?\s*([A-Za-z0-9_.-]+)\s*(\|[^}]*)?\}\}\}?")


def nurture(*args):
    p = subprocess.run([NURTURE, "-q", *args], cwd=WORK, env=ENV, capture_output=True, text=True, timeout=120)
    ok(p.returncode == 0, "nurture " + " ".join(args[:3]), p.stderr[-2000:])
    return p


def event(ref, type_, **props):
    nurture("event", "add", ref, type_, *[a for k, v in props.items() for a in ("--prop", "%s=%s" % (k, v))])


def setup():
    with open(os.path.join(WORK, "nurture.conf.lua"), "w") as f:
        f.write('return { database = "t.db" }\n')
    rows = ["email,name,industry,product_interest,timezone,phone"]
    for i, industry in enumerate(INDUSTRIES):
        for p, product in enumerate(PRODUCTS):
            rows.append("w%d%d@t.cn,Lead %d%d,%s,%s,Asia/Shanghai," % (i, p, i, p, industry, product))
    rows += ["wp-open@t.cn,王磊,,,,", "wp-silent@t.cn,Li Na,,,,",
             "wb-attend@t.cn,陈杰,,,Asia/Shanghai,+8613800138001", "wb-noshow@t.cn,Grace Tang,,,,",
             "wb-never@t.cn,Arjun Evans,,,,", "ma@t.cn,刘芳,,,,", "rx@t.cn,Wendy Li,,,,"]
    with open(os.path.join(WORK, "leads.csv"), "w") as f:
        f.write("\n".join(rows) + "\n")
    nurture("init")
    nurture("flow", "deploy", *sorted(os.path.join(ROOT, "flows", n) for n in os.listdir(os.path.join(ROOT, "flows"))
                                      if n.endswith(".lua") and not n.endswith("_test.lua")))
    nurture("lead", "import", "leads.csv")


def play():
    for i in range(len(INDUSTRIES)):
        for p in range(len(PRODUCTS)):
            event("w%d%d@t.cn" % (i, p), "lead.created")
    for ref in ("wp-open@t.cn", "wp-silent@t.cn"):
        event(ref, "form.submitted", form="whitepaper", topic="crm")
    starts = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for ref in ("wb-attend@t.cn", "wb-noshow@t.cn", "wb-never@t.cn"):
        event(ref, "webinar.invited", webinar=WEBINAR, title="Marketing automation for B2B", starts_at=starts)
    nurture("lead", "tag", "ma@t.cn", "interest:marketing_automation")
    nurture("lead", "tag", "rx@t.cn", "pool:nurture")
    nurture("clock", "advance", "1m")          # the runs start and wait
    event("wp-open@t.cn", "email.opened", campaign="whitepaper")
    for ref in ("wb-attend@t.cn", "wb-noshow@t.cn"):
        event(ref, "webinar.registered", webinar=WEBINAR)
    nurture("clock", "advance", "10d2h")       # the session is over; attendance comes within a day
    event("wb-attend@t.cn", "webinar.attended", webinar=WEBINAR, minutes="45")
    nurture("clock", "advance", "20w")


def sends():
    db = sqlite3.connect(os.path.join(WORK, "t.db"))
    rows = db.execute("SELECT channel, message, state FROM outbox ORDER BY op_id").fetchall()
    db.close()
    return [(c, json.loads(m), s) for c, m, s in rows]


def variables(path):
    """(subject ok, {name: has default}) of a template file."""
    text = open(path, encoding="utf-8").read()
    lines = text.split("\n")
    shape = lines[0].startswith("Subject: ") and len(lines) > 2 and lines[1] == ""
    found = {}
    for name, dflt in TAG.findall(text):
        found[name] = found.get(name, True) and bool(dflt)
    return shape, found


def check(all_sends):
    by_template = {}
    for channel, msg, state in all_sends:
        email_able = channel == "email" or (channel == "wechat" and msg.get("series") == "welcome")
        if email_able and "template" in msg:
            by_template.setdefault(msg["template"], []).append(msg)
    files = {n[:-5] for n in os.listdir(TEMPLATES) if n.endswith(".tmpl")}
    ok(len(by_template) > 80, "the flows sent %d email templates" % len(by_template))
    eq(sorted(set(by_template) - files), [], "every template the flows sent by email has a file in flows/templates")
    eq(sorted(files - set(by_template)), [], "every file in flows/templates is one the flows send")
    bad_shape, missing = [], []
    for name in sorted(files & set(by_template)):
        shape, found = variables(os.path.join(TEMPLATES, name + ".tmpl"))
        if not shape:
            bad_shape.append(name)
        for var, has_default in found.items():
            if has_default:
                continue
            if var.startswith("lead.") or any(msg.get(var) in (None, "") for msg in by_template[name]):
                missing.append("%s: {{%s}}" % (name, var))
    eq(bad_shape, [], "every template starts with 'Subject: …' and a blank line")
    eq(missing, [], "every variable without a default is in each message that uses the template")
    states = sorted({s for c, m, s in all_sends})
    eq(states, ["sent"], "every send went out (the built-in channels)")


def main():
    try:
        setup()
        play()
        check(sends())
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
    tap.done_testing()


if __name__ == "__main__":
    main()
