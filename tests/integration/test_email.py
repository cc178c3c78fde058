#!/usr/bin/env python3
"""The email channel end to end: the real daemon loads the email plugin
through the loader, a flow sends to leads whose addresses script the fake
SMTP server (tests/fakes/smtp_fake.py: STARTTLS, AUTH, 451/550/drop), and
the test checks the outbox, the run's view of each outcome, the events the
plugin reported, and the delivered MIME message. Then the template checks:
a flow whose literal send lacks a template variable is refused at deploy
(flow check, flow deploy, serve --flows, POST /v1/flows), and a send whose
template only the run knows fails as it is queued, visibly in run why,
without reaching the SMTP server.

usage: test_email.py NURTURE REPO_ROOT BUILD_ROOT
"""
import glob
import json
import os
import re
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tap  # noqa: E402
from tap import eq, ok  # noqa: E402
from nurture_cli import dsn, start_smtp_fake, write  # noqa: E402

NURTURE, ROOT, BUILD = (os.path.abspath(a) for a in sys.argv[1:4])
WORK = tempfile.mkdtemp(prefix="nurture-email-test-")
OUT = os.path.join(WORK, "smtp-out")
ADMIN = "admin-" + secrets.token_hex(12)

TEMPLATE = """Subject: 欢迎, {{lead.name|朋友}}

<html><body><p>您好 {{lead.name|there}}, here is {{topic|our white paper}}.</p>
<p><a href="https://example.cn/whitepaper">Read it</a></p></body></html>
"""

FLOW = """return { name = "mailer", trigger = { manual = true },
  run = function(lead)
    local ok, info = send("email", { template = "welcome", topic = "数字化营销" })
    lead:tag("mail:" .. info.status)
  end }
"""

LEADS = """email,name,phone
ok@x.cn,王磊,
tempfail+1@x.cn,Temp Fail,
reject+1@x.cn,Re Ject,
drop+1@x.cn,Drop Ped,
,No Email,13800138000
"""


def nurture(*args, timeout=60):
    return subprocess.run([NURTURE, *args], cwd=WORK, capture_output=True, text=True, timeout=timeout)


def main():
    fake, cert, port = start_smtp_fake(ROOT, OUT, 120)
    ok(port and cert, "the SMTP fake started")
    try:
        setup(cert, port)
        run_daemon()
        check()
        check_templates()
    finally:
        fake.terminate()
        fake.wait(timeout=10)
        shutil.rmtree(WORK, ignore_errors=True)
    tap.done_testing()


def setup(cert, port):
    os.makedirs(os.path.join(WORK, "templates"))
    write(os.path.join(WORK, "templates", "welcome.tmpl"), TEMPLATE)
    write(os.path.join(WORK, "mailer.lua"), FLOW)
    write(os.path.join(WORK, "leads.csv"), LEADS)
    write(os.path.join(WORK, "nurture.conf.lua"), f"""return {{
  database = "d.db",
  policies = {{ retry = {{ max_attempts = 2, base = "1s", max_delay = "1s" }} }},
  plugins = {{
    dir = "{BUILD}/plugins",
    email = {{ smtp_url = "smtp://127.0.0.1:{port}", smtp_user = "nurture", smtp_password = "s3cret",
              smtp_cainfo = "{cert}", from = "news@nurture.test", from_name = "Nurture 市场部",
              templates = "{WORK}/templates", domain = "nurture.test",
              timeout_ms = 5000 }},
  }},
  -- Tracking URLs come from the daemon; no listen: this test serves nothing.
  http = {{ public_url = "http://127.0.0.1:8787", tracking_key = "0123456789abcdef0123",
           tokens = {{ {{ name = "ops", token = "{ADMIN}", scopes = {{ "read", "admin" }} }} }} }},
}}
""")
    eq(nurture("-q", "init").returncode, 0, "init")
    eq(nurture("-q", "lead", "import", "leads.csv").returncode, 0, "leads imported")
    p = nurture("plugins")
    ok(p.returncode == 0 and re.search(r"^email .*loaded", p.stdout, re.M), "nurture plugins loads the email plugin",
       p.stdout + p.stderr)
    eq(nurture("-q", "flow", "deploy", "mailer.lua").returncode, 0, "flow deployed")
    for ref in ["ok@x.cn", "tempfail+1@x.cn", "reject+1@x.cn", "drop+1@x.cn", "+8613800138000"]:
        p = nurture("-q", "flow", "enroll", "mailer", ref)
        eq(p.returncode, 0, f"enrolled {ref}")
    db = sqlite3.connect(os.path.join(WORK, "d.db"))
    states = db.execute("SELECT state, count(*) FROM outbox GROUP BY state").fetchall()
    eq(states, [("pending", 5)], "the CLI queued the sends but dispatched none (only the daemon has the plugin)")
    db.close()


def run_daemon():
    p = nurture("serve", "--exit-when-idle", timeout=90)
    ok(p.returncode == 0, "the daemon sent everything and stopped", p.stderr[-3000:])


def check():
    db = sqlite3.connect(os.path.join(WORK, "d.db"))
    rows = {r[0]: r[1:] for r in db.execute(
        "SELECT l.email, o.state, o.attempts, o.error, o.provider_id FROM outbox o"
        " JOIN lead l ON l.id = o.lead_id")}
    eq(rows.get("ok@x.cn", ())[:1], ("sent",), "ok@: sent")
    ok(re.match(r"<op-\d+@nurture\.test>", rows.get("ok@x.cn", (None,) * 4)[3] or ""),
       "ok@: the provider id is the Message-ID")
    eq(rows.get("reject+1@x.cn", ())[:1], ("failed",), "reject+: failed, never retried")
    ok("550" in (rows.get("reject+1@x.cn", (None,) * 4)[2] or ""), "reject+: the error names the 550")
    eq(rows.get("tempfail+1@x.cn", ())[:2], ("dead", 2), "tempfail+: retried, dead after 2 attempts")
    ok("451" in (rows.get("tempfail+1@x.cn", (None,) * 4)[2] or ""), "tempfail+: the error names the 451")
    eq(rows.get("drop+1@x.cn", ())[:1], ("unknown",), "drop+: unknown (sent, no verdict), not re-sent")
    tags = dict(db.execute("SELECT l.name, t.name FROM tag t JOIN lead l ON l.id = t.lead_id"
                           " WHERE t.name LIKE 'mail:%'").fetchall())
    eq(tags, {"王磊": "mail:sent", "Temp Fail": "mail:failed", "Re Ject": "mail:failed",
              "Drop Ped": "mail:unknown", "No Email": "mail:failed"}, "each run saw its outcome")
    noemail = db.execute("SELECT o.state, o.error FROM outbox o JOIN lead l ON l.id = o.lead_id"
                         " WHERE l.name = 'No Email'").fetchone()
    eq(noemail, ("failed", "the lead has no email address"), "a lead without email: failed with the reason")
    events = db.execute("SELECT l.email, e.type, json_extract(e.props, '$.kind') FROM event e"
                        " JOIN lead l ON l.id = e.lead_id WHERE e.type LIKE 'email.%' ORDER BY e.id").fetchall()
    ok(("ok@x.cn", "email.sent", None) in events, "email.sent reported for ok@", str(events))
    ok(("reject+1@x.cn", "email.bounced", "hard") in events, "a hard bounce reported for reject+", str(events))
    ok(("tempfail+1@x.cn", "email.bounced", "soft") in events, "a soft bounce reported for tempfail+", str(events))
    ok(("drop+1@x.cn", "email.send_unknown", None) in events, "send_unknown reported for drop+", str(events))
    supp = db.execute("SELECT channel, address, reason, source FROM suppression").fetchall()
    eq(supp, [("email", "reject+1@x.cn", "hard bounce (550)", "event")],
       "the hard bounce suppressed that address on email (and nothing else)")
    db.close()
    check_message(rows.get("ok@x.cn", (None,) * 4)[3])
    check_async_bounce()




def check_async_bounce():
    db = sqlite3.connect(os.path.join(WORK, "d.db"))
    op = db.execute("SELECT o.op_id FROM outbox o JOIN lead l ON l.id = o.lead_id"
                    " WHERE l.email = 'ok@x.cn'").fetchone()[0]
    db.close()
    p = subprocess.run([NURTURE, "--json", "bounce"], cwd=WORK, input=dsn(op, "ok@x.cn", "mx.x.cn"),
                       capture_output=True, text=True, timeout=30)
    ok(p.returncode == 0, "nurture bounce reads a DSN from stdin", p.stderr)
    got = json.loads(p.stdout) if p.returncode == 0 else {}
    eq((got.get("op_id"), got.get("kind"), got.get("status"), got.get("channel")), (op, "hard", "5.1.1", "email"),
       "the DSN maps to the send through the VERP address")
    ok("mailbox unknown" in got.get("diagnostic", ""), "the diagnostic is kept")
    p = subprocess.run([NURTURE, "--json", "bounce"], cwd=WORK, input=dsn(op, "ok@x.cn", "mx.x.cn"),
                       capture_output=True, text=True, timeout=30)
    eq(json.loads(p.stdout).get("duplicate") if p.returncode == 0 else None, True, "the same DSN twice is one event")
    p = subprocess.run([NURTURE, "bounce"], cwd=WORK, input="Subject: hello\n\nnot a bounce\n",
                       capture_output=True, text=True, timeout=30)
    ok(p.returncode == 1 and "no VERP address" in p.stderr, "a message that is not a bounce of ours is refused", p.stderr)
    eq(nurture("serve", "--once").returncode, 0, "the daemon reads the bounce")
    db = sqlite3.connect(os.path.join(WORK, "d.db"))
    eq(db.execute("SELECT reason FROM suppression WHERE address = 'ok@x.cn'").fetchall(), [("hard bounce",)],
       "the asynchronous hard bounce suppressed ok@ on email")
    db.close()


def check_message(message_id):
    log = [json.loads(line) for line in open(os.path.join(OUT, "log.ndjson"))]
    ok_entries = [e for e in log if e["rcpt_tos"] == ["ok@x.cn"]]
    eq(len(ok_entries), 1, "one message delivered to ok@ (never twice)")
    if not ok_entries:
        return
    e = ok_entries[0]
    ok(e["tls"] and e["auth_user"] == "nurture", "delivered over STARTTLS with AUTH", str(e))
    ok(re.match(r"bounce\+\d+@nurture\.test$", e["mail_from"]), "the envelope sender is VERP", e["mail_from"])
    eq(e["message_id"], message_id, "the stored Message-ID is the provider id")
    raw = open(os.path.join(OUT, os.path.basename(e["file"])), "rb").read()
    ok(b"\n" not in raw.replace(b"\r\n", b""), "CRLF line ends only")
    text = raw.decode("utf-8", "replace")
    ok(re.search(r"^Subject: =\?UTF-8\?", text, re.M), "the Chinese subject is an encoded word")
    ok(re.search(r"^From: =\?UTF-8\?.*<news@nurture\.test>", text, re.M), "the From display name is encoded")
    ok(re.search(r"^List-Unsubscribe: <http://127\.0\.0\.1:8787/u/[A-Za-z0-9_.-]+>", text, re.M),
       "List-Unsubscribe carries a signed link")
    ok(re.search(r"^List-Unsubscribe-Post: List-Unsubscribe=One-Click\r?$", text, re.M), "RFC 8058 one-click header")
    ok("multipart/alternative" in text, "text and HTML parts")
    import email as pyemail
    from email import policy
    msg = pyemail.message_from_bytes(raw, policy=policy.default)
    eq(str(msg["Subject"]), "欢迎, 王磊", "the subject decodes to the rendered template")
    html = msg.get_body(preferencelist=("html",)).get_content()
    ok("/t/c/" in html and "https://example.cn/whitepaper" not in html, "links are rewritten to signed click URLs")
    ok("/t/o/" in html, "the open pixel is there")
    ok("数字化营销" in html and "王磊" in html, "the message's and the lead's values are filled in")


# ---------------------------------------------------------------------------
# Template checks: at deploy time and as each send is queued.

CASE_STUDY = """Subject: How {{lead.company|teams}} use {{topic}}

<html><body><p>Dear {{lead.name|there}},</p>
<p>{{topic}}: the case study.</p></body></html>
"""

# Line 3: a literal send whose message has no topic.
REFUSED = """return { name = "refused", trigger = { manual = true },
  run = function(lead)
    send("email", { template = "case_study", audience = "cto" })
  end }
"""

# One literal send the check accepts, one whose template only the run knows.
DYNAMIC = """return { name = "dynamic", trigger = { event = "demo.requested" },
  run = function(lead, event)
    if event.props.vip then
      send("email", { template = "case_study", topic = event.props.topic })
    end
    local ok, info = send("email", { template = "case_" .. "study" })
    lead:tag("dynamic:" .. info.status)
  end }
"""

OFFLINE = """return { name = "offline_dynamic", trigger = { manual = true },
  run = function(lead)
    local ok, info = send("email", { template = "case_" .. "study" })
    lead:tag("offline:" .. info.status)
  end }
"""

GOOD_API = """return { name = "api_good", trigger = { manual = true },
  run = function(lead)
    send("email", { template = "case_study", topic = "CDP" })
  end }
"""


def missing_topic(prefix):
    """The refusal of REFUSED's send, as FILE:3: … names it."""
    return ('%s:3: send("email", template "case_study"): template \'case_study\' (%s/templates/case_study.tmpl:1):'
            " missing variable 'topic'" % (prefix, WORK))


def api(method, path, port, body=None, ctype=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method,
                                 data=body.encode() if body is not None else None)
    req.add_header("Authorization", "Bearer " + ADMIN)
    if ctype:
        req.add_header("Content-Type", ctype)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def wait_for(cond, seconds=15):
    end = time.time() + seconds
    while time.time() < end:
        got = cond()
        if got:
            return got
        time.sleep(0.1)
    return None


def check_templates():
    write(os.path.join(WORK, "templates", "case_study.tmpl"), CASE_STUDY)
    write(os.path.join(WORK, "refused.lua"), REFUSED)
    write(os.path.join(WORK, "dynamic.lua"), DYNAMIC)
    want = missing_topic("refused.lua")

    p = nurture("flow", "check", "refused.lua")
    ok(p.returncode == 1 and want + "\n" in p.stderr, "flow check: a literal send without topic is refused,"
       " naming the flow's line and the template's", p.stderr)
    p = nurture("flow", "deploy", "refused.lua")
    ok(p.returncode == 1 and want + "\n" in p.stderr, "flow deploy: refused with the same message", p.stderr)
    p = nurture("flow", "check", "dynamic.lua")
    ok(p.returncode == 0 and re.search(r"^dynamic\.lua: ok \(flow dynamic, version \w+, 0 lib modules;"
                                       r" 1 send checked, 1 not checkable before run time\)$", p.stdout, re.M),
       "flow check: a good flow is ok, with what was checked and what waits for run time", p.stdout + p.stderr)
    p = nurture("-q", "flow", "deploy", "dynamic.lua")
    eq(p.returncode, 0, "flow deploy: the good flow deploys")

    # Without the daemon, a run stepped by the CLI checks its sends too:
    # flow enroll loads the channel plugins of plugins.dir.
    write(os.path.join(WORK, "offline.lua"), OFFLINE)
    eq(nurture("-q", "flow", "deploy", "offline.lua").returncode, 0, "flow deploy: a manual flow")
    eq(nurture("-q", "event", "add", "off@x.cn", "page.viewed").returncode, 0, "a lead for it")
    p = nurture("flow", "enroll", "offline_dynamic", "off@x.cn")
    ok(p.returncode == 0, "flow enroll without the daemon: the run starts", p.stderr)
    db = sqlite3.connect(os.path.join(WORK, "d.db"))
    rows = db.execute("SELECT o.state, o.error FROM outbox o JOIN lead l ON l.id = o.lead_id"
                      " WHERE l.email = 'off@x.cn'").fetchall()
    db.close()
    reason = ("refused by the email channel's check: template 'case_study' (%s/templates/case_study.tmpl:1):"
              " missing variable 'topic'" % WORK)
    eq(rows, [("failed", reason)], "flow enroll: the computed send was checked as it was queued")

    bad = os.path.join(WORK, "badflows")
    os.makedirs(bad)
    shutil.copy(os.path.join(WORK, "refused.lua"), bad)
    p = nurture("serve", "--flows", bad, "--once")
    ok(p.returncode == 1 and missing_topic(bad + "/refused.lua") in p.stderr,
       "serve --flows: a flow that fails the check stops the start", p.stderr[-2000:])
    db = sqlite3.connect(os.path.join(WORK, "d.db"))
    eq(db.execute("SELECT count(*) FROM flow WHERE name = 'refused'").fetchone()[0], 0,
       "the refused flow was never deployed")
    db.close()

    log = open(os.path.join(WORK, "serve.log"), "w")
    daemon = subprocess.Popen([NURTURE, "serve", "--listen", "127.0.0.1:0"], cwd=WORK, stdout=log, stderr=log)
    try:
        check_templates_live(daemon)
    finally:
        daemon.terminate()
        daemon.wait(timeout=15)
        log.close()


def check_templates_live(daemon):
    log = os.path.join(WORK, "serve.log")
    bound = wait_for(lambda: daemon.poll() is not None or
                     re.search(r"HTTP API on http://127\.0\.0\.1:(\d+)/", open(log).read()))
    if not ok(bound and daemon.poll() is None, "the daemon serves HTTP", open(log).read()[-2000:]):
        return
    port = int(bound.group(1))
    status, a = api("POST", "/v1/flows", port, REFUSED, "text/x-lua")
    err = (a or {}).get("error", {})
    eq((status, err.get("code"), err.get("message")), (400, "invalid_flow", missing_topic("(request body)")),
       "POST /v1/flows: 400 invalid_flow naming the line and the missing variable")
    status, a = api("POST", "/v1/flows", port, GOOD_API, "text/x-lua")
    eq((status, (a or {}).get("name")), (201, "api_good"), "POST /v1/flows: a flow that passes deploys (201)")

    eq(nurture("-q", "event", "add", "dyn@x.cn", "demo.requested").returncode, 0, "a trigger event")

    def failed():
        db = sqlite3.connect(os.path.join(WORK, "d.db"))
        try:
            return db.execute("SELECT o.state, o.attempts, o.error FROM outbox o JOIN lead l ON l.id = o.lead_id"
                              " WHERE l.email = 'dyn@x.cn'").fetchall()
        finally:
            db.close()
    rows = wait_for(failed)
    reason = ("refused by the email channel's check: template 'case_study' (%s/templates/case_study.tmpl:1):"
              " missing variable 'topic'" % WORK)
    eq(rows, [("failed", 0, reason)], "the dynamic send failed as it was queued, never handed to the channel")
    p = nurture("run", "why", "dyn@x.cn")
    ok(p.returncode == 0 and "→ failed: " + reason in p.stdout and "dynamic:failed → ok" in p.stdout,
       "run why shows the reason, and the run went on with the failure", p.stdout + p.stderr)
    status, why = api("GET", "/v1/leads/email:dyn@x.cn/why", port)
    sends = [s for r in (why or {}).get("runs", []) for s in r.get("sends", [])]
    eq([(s.get("state"), s.get("error")) for s in sends], [("failed", reason)], "GET /v1/leads/…/why shows it too")
    entries = [json.loads(line) for line in open(os.path.join(OUT, "log.ndjson"))]
    eq([e for e in entries if "dyn@x.cn" in e["rcpt_tos"]], [], "nothing reached the SMTP server for it")


if __name__ == "__main__":
    main()
