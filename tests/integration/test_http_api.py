#!/usr/bin/env python3
"""The daemon's HTTP API end to end (docs/api.md), reported as TAP.

    test_http_api.py NURTURE REPO_ROOT BUILD_ROOT

The real `nurture serve` on a free 127.0.0.1 port, in a temporary folder
with the real email and mock plugins copied in (mode 0755), a flows folder
and the SMTP fake (tests/fakes/smtp_fake.py, run by /usr/bin/python3 for
aiosmtpd). HTTP through the standard library only (http.client, socket).

Covered: ingest -> trigger -> email -> open pixel -> click -> unsubscribe ->
a later send suppressed; refused input of every kind, each writing nothing;
signed webhooks (dedup, forged, stale); forged tracking tokens; flows over
the API (deploy, pause, resume, enroll, run why); /metrics and /healthz;
http.max_connections; the CLI in remote mode against the same data read
locally; and a kill -9 right after a 202.
"""
import base64
import collections
import concurrent.futures
import email as pyemail
import hashlib
import hmac
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from email import policy

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tap  # noqa: E402
from nurture_cli import dsn, free_port, section, show, start_smtp_fake, stop_process, write  # noqa: E402
from tap import eq, ok  # noqa: E402

if len(sys.argv) != 4:
    sys.exit("usage: test_http_api.py NURTURE REPO_ROOT BUILD_ROOT")
NURTURE, ROOT, BUILD = (os.path.abspath(a) for a in sys.argv[1:4])
WORK = tempfile.mkdtemp(prefix="nurture-http-api-test-")
os.chmod(WORK, 0o755)
DB = os.path.join(WORK, "d.db")
FLOWS = os.path.join(WORK, "flows")
PLUGINS = os.path.join(WORK, "plugins")
SMTP_OUT = os.path.join(WORK, "smtp-out")
LOG = os.path.join(WORK, "serve.log")

INGEST = "ingest-" + secrets.token_hex(12)
READ = "read-" + secrets.token_hex(12)
ADMIN = "admin-" + secrets.token_hex(12)
TRACK_KEY = "track-" + secrets.token_hex(16)
HOOK_KEY = secrets.token_bytes(24)
WHSEC = "whsec_" + base64.b64encode(HOOK_KEY).decode()
MAX_BODY = 256 * 1024
MAX_HEADER = 4096

ENV = dict(os.environ)
for k in ("NURTURE_CONFIG", "NURTURE_URL", "NURTURE_TOKEN"):
    ENV.pop(k, None)

TEMPLATE = """Subject: Hello {{lead.name|there}}

<html><body><p>Dear {{lead.name|there}}, here is the paper.</p>
<p><a href="https://example.cn/whitepaper?utm=mail&amp;id=7">Read it</a>
and <a href="https://example.cn/pricing">see the prices</a>.</p></body></html>
"""

# Triggered by the form: one email.
WELCOME = """return { name = "welcome", trigger = { event = "form.submitted" },
  run = function(lead)
    local ok, info = send("email", { template = "welcome" })
    lead:tag("mail:" .. info.status)
  end }
"""

# Enrolled by hand later: the send after the unsubscribe.
RESEND = """return { name = "resend", trigger = { manual = true },
  run = function(lead)
    local ok, info = send("email", { template = "welcome" })
    lead:tag("resend:" .. info.status)
  end }
"""

# Two sends on the built-in "test" channel, which answers during the
# hand-over itself: those answers, and the steps they wake, ride in the
# commit group that the next requests hold open (engine.c, hand_over_in_group).
SYNC_FLOW = """return { name = "signup_sync", trigger = { event = "signup.sync" },
  run = function(lead)
    local ok, info = send("test", { text = "first" })
    lead:tag("sync1:" .. info.status)
    ok, info = send("test", { text = "second" })
    lead:tag("sync2:" .. info.status)
  end }
"""

# Deployed over the API.
API_FLOW = """return { name = "api_demo", trigger = { event = "demo.requested" },
  run = function(lead)
    lead:tag("demo:%s")
  end }
"""

BROKEN_FLOW = """return { name = "broken", trigger = { event = "x.y" },
  run = function(lead)
    lead:tag("a"
  end }
"""

GIF_LEN = 43
NOT_FOUND = b"Not Found\n"

# Every answer of the main daemon this script asked for, by status class
# (checked against /metrics), and the events it was told were accepted.
SEEN = {"2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0}
INGESTED = {"accepted": 0, "duplicate": 0, "rejected": 0}
TALLY_LOCK = threading.Lock()   # the group-commit scenario posts from many threads
BAD_TOKENS = [0]
PORT = None


# ---------------------------------------------------------------------------
# plumbing

class Resp:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def header(self, name):
        return self.headers.get(name)

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def __repr__(self):
        return "HTTP %d %s %r" % (self.status, dict(self.headers), self.body[:600])


def request(method, path, body=None, token=None, headers=None, port=None, conn=None, count=True):
    """One request; a fresh connection unless conn is given (kept open)."""
    c = conn or http.client.HTTPConnection("127.0.0.1", port or PORT, timeout=15)
    h = dict(headers or {})
    if token:
        h["Authorization"] = "Bearer " + token
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
        h.setdefault("Content-Type", "application/json")
    if isinstance(body, str):
        body = body.encode("utf-8")
    try:
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
    finally:
        if conn is None:
            c.close()
    if count and (port is None or port == PORT):
        with TALLY_LOCK:
            SEEN["%dxx" % (r.status // 100)] += 1
    return Resp(r.status, r.headers, data)


def post_events(body, token=INGEST, content_type=None):
    """POST /v1/events, keeping the tally /metrics must agree with."""
    headers = {"Content-Type": content_type} if content_type else None
    r = request("POST", "/v1/events", body, token=token, headers=headers)
    a = r.json() or {}
    if isinstance(a, dict) and "accepted" in a:
        with TALLY_LOCK:
            INGESTED["accepted"] += a["accepted"]
            INGESTED["duplicate"] += a["duplicates"]
            INGESTED["rejected"] += a["rejected"]
    return r


def error_of(r):
    """(status, code, field) of a JSON error answer."""
    e = (r.json() or {}).get("error", {}) if isinstance(r.json(), dict) else {}
    return r.status, e.get("code"), e.get("field")


def db(sql, *args):
    """One value, read through a read-only connection."""
    con = sqlite3.connect("file:%s?mode=ro" % DB, uri=True, timeout=10)
    try:
        row = con.execute(sql, args).fetchone()
        return row[0] if row and len(row) == 1 else row
    finally:
        con.close()


def db_rows(sql, *args):
    con = sqlite3.connect("file:%s?mode=ro" % DB, uri=True, timeout=10)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def counts():
    return db("SELECT (SELECT count(*) FROM event) || '/' || (SELECT count(*) FROM lead)")


def wait_for(fn, timeout=15.0, step=0.05):
    end = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() > end:
            return v
        time.sleep(step)


def engine_idle():
    """The engine has read every stored event and no send is on its way."""
    return db("SELECT (SELECT coalesce(max(id), 0) FROM event) <= "
              "(SELECT value FROM engine_cursor WHERE name = 'event') AND NOT EXISTS "
              "(SELECT 1 FROM outbox WHERE state IN ('pending', 'sending')) AND NOT EXISTS "
              "(SELECT 1 FROM wait WHERE due <= (SELECT strftime('%s','now') * 1000))") == 1


def nurture(*args, env=None):
    return subprocess.run([NURTURE, *args], cwd=WORK, env=env or ENV, capture_output=True,
                          text=True, timeout=60)


def profile(ref, events=50):
    r = request("GET", "/v1/leads/%s?events=%d" % (ref, events), token=READ)
    return r.json() if r.status == 200 else None


class Daemon:
    """nurture serve in folder, on 127.0.0.1:port (--listen), or with port None
    on the config's http.listen, the port then read from the log line."""

    def __init__(self, folder, port, *extra):
        self.folder, self.port, self.extra = folder, port, extra
        self.proc = None

    def start(self):
        self.log = os.path.join(self.folder, "serve.log")
        with open(self.log, "a") as f:
            f.write("---- start\n")
            at = f.tell()
        logf = open(self.log, "a")
        listen = ["--listen", "127.0.0.1:%d" % self.port] if self.port else []
        self.proc = subprocess.Popen([NURTURE, "serve", *self.extra, *listen],
                                     cwd=self.folder, env=ENV, stdout=logf, stderr=logf)
        logf.close()
        want = r"HTTP API on http://127\.0\.0\.1:(%s)/" % (self.port or r"\d+")
        up = wait_for(lambda: self.proc.poll() is not None or re.search(want, open(self.log).read()[at:]), 15)
        if up and self.proc.poll() is None:
            self.bound = int(re.search(want, open(self.log).read()[at:]).group(1))
            return True
        return False

    def stop(self):
        return stop_process(self.proc)

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def tail(self):
        try:
            return open(self.log).read()[-3000:]
        except OSError:
            return ""


# ---------------------------------------------------------------------------
# setup

def tokens_lua():
    return ("tokens = { { name = \"web\", token = \"%s\", scopes = { \"ingest\" } },\n"
            "               { name = \"dash\", token = \"%s\", scopes = { \"read\" } },\n"
            "               { name = \"ops\", token = \"%s\", scopes = { \"admin\" } } }"
            % (INGEST, READ, ADMIN))


def setup(cert, smtp_port):
    for d in (FLOWS, PLUGINS, os.path.join(WORK, "templates")):
        os.makedirs(d)
        os.chmod(d, 0o755)
    for so in ("nurture-email.so", "nurture-mock.so"):
        shutil.copy(os.path.join(BUILD, "plugins", so), PLUGINS)
        os.chmod(os.path.join(PLUGINS, so), 0o755)
    write(os.path.join(WORK, "templates", "welcome.tmpl"), TEMPLATE)
    write(os.path.join(FLOWS, "welcome.lua"), WELCOME)
    write(os.path.join(FLOWS, "resend.lua"), RESEND)
    write(os.path.join(FLOWS, "signup_sync.lua"), SYNC_FLOW)
    write(os.path.join(WORK, "nurture.conf.lua"), f"""return {{
  database = "d.db",
  plugins = {{
    dir = "{PLUGINS}",
    email = {{ smtp_url = "smtp://127.0.0.1:{smtp_port}", smtp_user = "nurture", smtp_password = "s3cret",
              smtp_cainfo = "{cert}", from = "news@nurture.test", templates = "{WORK}/templates",
              domain = "nurture.test", timeout_ms = 5000 }},
    mock = {{ webhook_secret = "{WHSEC}" }},
  }},
  http = {{
    listen = "127.0.0.1:{PORT}",
    public_url = "http://127.0.0.1:{PORT}/",
    tracking_key = "{TRACK_KEY}",
    {tokens_lua()},
    max_body = {MAX_BODY}, max_header = {MAX_HEADER}, timeout = 10,
  }},
}}
""")
    p = nurture("-q", "init")
    eq(p.returncode, 0, "init")
    p = nurture("plugins")
    ok(p.returncode == 0 and re.search(r"^email .*loaded", p.stdout, re.M)
       and re.search(r"^mock .*loaded", p.stdout, re.M), "the copied email and mock plugins load", show(p))


# ---------------------------------------------------------------------------
# 1. ingest -> trigger -> send -> open -> click -> unsubscribe -> suppressed

def tracking_urls(raw):
    msg = pyemail.message_from_bytes(raw, policy=policy.default)
    html = msg.get_body(preferencelist=("html",)).get_content()
    clicks = re.findall(r'href="(http://[^"]+/t/c/[^"]+)"', html)
    pixel = re.findall(r'src="(http://[^"]+/t/o/[^"]+)"', html)
    unsub = re.findall(r"<(http://[^>]+/u/[^>]+)>", str(msg["List-Unsubscribe"] or ""))
    return clicks, pixel, unsub


def bases(urls):
    return sorted({re.sub(r"/(t/[oc]|u)/.*", "", u) for u in urls})


def path_of(url):
    return re.sub(r"^http://127\.0\.0\.1:\d+", "", url)


def lead_events(ref, type_):
    p = profile(ref) or {}
    return [e for e in p.get("events", []) if e["type"] == type_]


STATE = {}


def scenario_journey():
    r = post_events({"type": "form.submitted", "email": "Ana@Acme.cn", "props": {"form": "whitepaper"}})
    a = r.json() or {}
    eq((r.status, a.get("accepted"), a.get("duplicates"), a.get("rejected")), (202, 1, 0, 0),
       "journey: POST /v1/events with one object answers 202, accepted 1")
    ok(isinstance(a.get("event_id"), int) and isinstance(a.get("lead_id"), int),
       "journey: the answer names the event and the lead", repr(r))
    STATE["ana"] = a.get("lead_id")
    eq(db("SELECT type || ' ' || source FROM event WHERE id = ?", a.get("event_id")), "form.submitted api",
       "journey: the event is stored, source api")
    log = os.path.join(SMTP_OUT, "log.ndjson")
    entries = wait_for(lambda: os.path.exists(log) and [json.loads(x) for x in open(log)
                                                          if "ana@acme.cn" in x], 20)
    ok(entries and len(entries) == 1, "journey: the trigger ran the flow and the email reached the SMTP fake",
       open(LOG).read()[-2000:])
    if not entries:
        return
    STATE["sent_at"] = time.monotonic()
    raw = open(os.path.join(SMTP_OUT, entries[0]["file"]), "rb").read()
    clicks, pixel, unsub = tracking_urls(raw)
    eq((len(clicks), len(pixel), len(unsub), bases(clicks + pixel + unsub)), (2, 1, 1, ["http://127.0.0.1:%d" % PORT]),
       "journey: the message has 2 tracked links, an open pixel and a List-Unsubscribe URL on public_url")
    if (len(clicks), len(pixel), len(unsub)) != (2, 1, 1):
        return
    op = db("SELECT op_id FROM outbox WHERE lead_id = ? AND state = 'sent'", STATE["ana"])
    STATE.update(op=op, click=path_of(clicks[0]), click2=path_of(clicks[1]), pixel=path_of(pixel[0]),
                 unsub=path_of(unsub[0]))

    # Open: a GIF, and email.opened. Seconds after the send is a machine.
    r = request("GET", STATE["pixel"], headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Thunderbird/115.0"})
    eq((r.status, r.header("Content-Type"), len(r.body), r.body[:6]), (200, "image/gif", GIF_LEN, b"GIF89a"),
       "journey: the open pixel answers a 43-byte GIF")
    opened = lead_events("ana@acme.cn", "email.opened")
    eq([e["props"] for e in opened], [{"machine": True, "machine_reason": "within seconds of sending", "op_id": op}],
       "journey: email.opened recorded with op_id, machine true ('within seconds of sending')")
    r = request("GET", STATE["pixel"], headers={"User-Agent": "Mozilla/5.0 GoogleImageProxy"})
    opened = lead_events("ana@acme.cn", "email.opened")
    eq((r.status, opened[0]["props"].get("machine_reason") if opened else None), (200, "gmail image proxy"),
       "journey: an open through Google's image proxy is a machine open with that reason")

    # Click: 302 to the original URL (entities of the HTML undone), email.clicked.
    r = request("GET", STATE["click"], headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"})
    eq((r.status, r.header("Location")), (302, "https://example.cn/whitepaper?utm=mail&id=7"),
       "journey: the first link redirects (302) to its original URL")
    r = request("GET", STATE["click2"], headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"})
    eq((r.status, r.header("Location")), (302, "https://example.cn/pricing"),
       "journey: the second link redirects to its own URL")
    clicked = sorted((e["props"]["link"], e["props"]["url"], e["props"]["op_id"])
                     for e in lead_events("ana@acme.cn", "email.clicked"))
    eq(clicked, [(0, "https://example.cn/whitepaper?utm=mail&id=7", op), (1, "https://example.cn/pricing", op)],
       "journey: email.clicked recorded per link with link, url and op_id")

    # Unsubscribe: GET only asks and writes nothing; POST does it.
    r = request("GET", STATE["unsub"])
    ok(r.status == 200 and b"<form method=\"post\">" in r.body and b"Stop receiving" in r.body,
       "journey: GET /u/ shows a page with a POST form", repr(r))
    ok(wait_for(engine_idle), "journey: the engine caught up")
    eq((lead_events("ana@acme.cn", "email.unsubscribed"), db("SELECT count(*) FROM suppression")), ([], 0),
       "GET /u/ does not unsubscribe: no event, no suppression")
    r = request("POST", STATE["unsub"], "List-Unsubscribe=One-Click",
                headers={"Content-Type": "application/x-www-form-urlencoded"})
    ok(r.status == 200 and r.header("Content-Type").startswith("text/html") and b"Unsubscribed" in r.body,
       "journey: POST /u/ (RFC 8058 one-click) answers the confirmation page", repr(r))
    r2 = request("POST", STATE["unsub"], "", headers={"Content-Type": "application/x-www-form-urlencoded"})
    eq(r2.status, 200, "journey: a second POST /u/ also answers 200")
    eq([e["props"] for e in lead_events("ana@acme.cn", "email.unsubscribed")], [{"via": "one-click", "op_id": op}],
       "journey: email.unsubscribed recorded once (via one-click)")
    supp = wait_for(lambda: db_rows("SELECT channel, address, reason, source FROM suppression"))
    eq(supp, [("email", "ana@acme.cn", "unsubscribed", "event")],
       "journey: the engine suppressed the address on email")

    # A later send to the lead is refused as suppressed, and nothing reaches SMTP.
    r = request("POST", "/v1/flows/resend/enroll", {"lead": "ana@acme.cn"}, token=ADMIN)
    eq((r.status, (r.json() or {}).get("lead_id"), (r.json() or {}).get("flow")), (201, STATE["ana"], "resend"),
       "journey: enrolling the lead in a second mail flow answers 201")
    ok(wait_for(engine_idle), "journey: the second flow ran")
    p = profile("ana@acme.cn") or {}
    msgs = sorted((m["template"], m["state"], m["error"]) for m in p.get("messages", []))
    eq(msgs, [("welcome", "sent", None), ("welcome", "suppressed", "suppressed: unsubscribed (email ana@acme.cn)")],
       "journey: GET /v1/leads shows the first message sent and the second suppressed")
    eq(sorted(t["name"] for t in p.get("tags", []) if ":" in t["name"]), ["mail:sent", "resend:suppressed"],
       "journey: each run saw its outcome")
    eq(len([x for x in open(log) if "ana@acme.cn" in x]), 1, "journey: still one message delivered to the lead")
    types = {e["type"] for e in p.get("events", [])}
    ok({"form.submitted", "email.opened", "email.clicked", "email.unsubscribed"} <= types,
       "journey: the profile lists the form, open, click and unsubscribe events", str(types))




def scenario_slow_mail_server():
    """A mail server that takes its time over the verdict on a message
    (the fake's "slow" recipients: 5 s) must not stall the daemon: curl's
    SMTP waits for it inside a blocking call, so submissions run on worker
    threads, and the loop keeps answering meanwhile."""
    r = post_events({"type": "form.submitted", "email": "slow+1@x.cn"})
    eq(r.status, 202, "slow mail: a sign-up whose welcome email goes to a slow server")
    log = os.path.join(SMTP_OUT, "log.ndjson")
    stored = wait_for(lambda: os.path.exists(log) and any("slow+1@x.cn" in x for x in open(log)), 20)
    if not ok(stored, "slow mail: the server has the message and holds its verdict"):
        return
    t0 = time.monotonic()
    health = request("GET", "/healthz")
    ingest = post_events({"type": "page.viewed", "email": "slow+1@x.cn"})
    took = time.monotonic() - t0
    ok(health.status == 200 and ingest.status == 202 and took < 2.5,
       "slow mail: meanwhile /healthz and an ingest are answered at once (%.2f s of the 5 s hold)" % took)
    eq(db("SELECT state FROM outbox o JOIN lead l ON l.id = o.lead_id WHERE l.email = 'slow+1@x.cn'"), "sending",
       "slow mail: ... while the send is still in flight")
    final = wait_for(lambda: db("SELECT state FROM outbox o JOIN lead l ON l.id = o.lead_id"
                                " WHERE l.email = 'slow+1@x.cn' AND state != 'sending'"), 20)
    ok(final in ("sent", "unknown"), "slow mail: the send ends once the server answers or the timeout passes (%s)"
       % final)
    # Eight sends at once keep all four mail threads busy, the one whose
    # server was slow included: its connection must not be reused with the
    # late reply still on it.
    after = ["after-slow%d@x.cn" % i for i in range(8)]
    eq(post_events([{"type": "form.submitted", "email": a} for a in after]).status, 202,
       "slow mail: eight more sign-ups")
    states = wait_for(lambda: (lambda rows: rows if len(rows) == 8 and "sending" not in [r[1] for r in rows]
                                                and "pending" not in [r[1] for r in rows] else None)(
        db_rows("SELECT l.email, o.state, o.error FROM outbox o JOIN lead l ON l.id = o.lead_id"
                " WHERE l.email LIKE 'after-slow%'")), 30)
    ok(sorted(r[1] for r in states or []) == ["sent"] * 8,
       "slow mail: ... and all eight are sent afterwards", repr(states))


def scenario_bounces():
    if "op" not in STATE:
        ok(False, "bounces: the journey produced a send")
        return
    op, body = STATE["op"], dsn(STATE["op"], "ana@acme.cn", "mx.acme.cn")
    headers = {"Content-Type": "message/rfc822"}
    r = request("POST", "/v1/bounces", body, token=INGEST, headers=headers)
    eq((r.status, r.json()), (202, {"op_id": op, "lead_id": STATE["ana"], "kind": "hard", "status": "5.1.1",
                                    "channel": "email", "duplicate": False}),
       "bounces: POST /v1/bounces maps the DSN to the send through its VERP address")
    r = request("POST", "/v1/bounces", body, token=INGEST, headers=headers)
    eq((r.status, (r.json() or {}).get("duplicate")), (202, True), "bounces: the same DSN again is a duplicate")
    eq(len(lead_events("ana@acme.cn", "email.bounced")), 1, "bounces: one email.bounced event")
    before = counts()
    r = request("POST", "/v1/bounces", "Subject: hello\n\nnot a bounce\n", token=INGEST, headers=headers)
    eq(error_of(r)[:2], (422, "unrecognised_bounce"), "bounces: a message that is no bounce of ours -> 422")
    r = request("POST", "/v1/bounces", body, token=READ, headers=headers)
    eq(r.status, 403, "bounces: the read token -> 403")
    eq(counts(), before, "bounces: the refused ones wrote nothing")


# ---------------------------------------------------------------------------
# 4. forged and tampered tracking tokens

def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def b64url_dec(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def token(payload, key=TRACK_KEY):
    mac = hmac.new(key.encode(), payload.encode(), hashlib.sha256).digest()
    return b64url(payload.encode()) + "." + b64url(mac)


def scenario_forged_tokens():
    if "op" not in STATE:
        ok(False, "forged tokens: the journey produced tokens")
        return
    op = STATE["op"]
    real_open = STATE["pixel"].rsplit("/", 1)[1]
    payload = b64url_dec(real_open.split(".")[0]).decode()
    eq(payload, "o|%d" % op, "tokens: the open token's payload is o|<op_id>")
    eq(token(payload), real_open, "tokens: and its MAC is HMAC-SHA256 under http.tracking_key")
    before = counts()
    tampered_mac = real_open[:-2] + ("A" if real_open[-2] != "A" else "B") + real_open[-1]
    click_tok = STATE["click"].rsplit("/", 1)[1]
    click_payload = b64url_dec(click_tok.split(".")[0]).decode()
    evil = click_payload.replace("https://example.cn/whitepaper?utm=mail&id=7", "https://evil.example/")
    forged = [
        ("a token that is no token", "/t/o/hello"),
        ("an empty MAC", "/t/o/" + real_open.split(".")[0] + "."),
        ("a changed MAC byte", "/t/o/" + tampered_mac),
        ("a token signed with another key", "/t/o/" + token(payload, "another-key-0123456789")),
        ("a click URL changed under the old MAC", "/t/c/" + b64url(evil.encode()) + "." + click_tok.split(".")[1]),
        ("an open token on the click path", "/t/c/" + real_open),
        ("a click token on the open path", "/t/o/" + click_tok),
        ("an open token on the unsubscribe path", "/u/" + real_open),
        ("a genuine signature for an op that does not exist", "/t/o/" + token("o|%d" % (op + 1000))),
        ("padding added to the payload", "/t/o/" + real_open.split(".")[0] + "=." + real_open.split(".")[1]),
    ]
    for what, path in forged:
        r = request("GET", path, headers={"User-Agent": "Mozilla/5.0 Firefox/120.0"})
        BAD_TOKENS[0] += 1
        eq((r.status, r.body, r.header("Content-Type"), r.header("Location")),
           (404, NOT_FOUND, "text/plain; charset=utf-8", None), "tokens: %s -> plain 404 Not Found" % what)
    r = request("POST", "/u/" + token("u|%d" % (op + 1000)), "List-Unsubscribe=One-Click",
                headers={"Content-Type": "application/x-www-form-urlencoded"})
    BAD_TOKENS[0] += 1
    eq((r.status, r.body), (404, NOT_FOUND), "tokens: POST /u/ with a token for no send -> 404")
    eq(counts(), before, "tokens: no forged request wrote an event or a lead")


# ---------------------------------------------------------------------------
# 2. refused input

def scenario_bad_input():
    # A lead to look at.
    r = post_events({"type": "page.viewed", "email": "bob@x.cn", "props": {"path": "/"}})
    eq(r.status, 202, "input: a good event for bob@ is accepted")
    before = counts()

    r = post_events('{"type": "page.viewed", "email": "bob@x.cn",')
    e = (r.json() or {}).get("error", {})
    eq((r.status, e.get("code")), (400, "invalid_json"), "input: malformed JSON -> 400 invalid_json")
    ok(str(e.get("message", "")).startswith("malformed JSON at line 1 column "),
       "input: the message says where the JSON broke", repr(r))

    r = post_events({"type": 5, "email": "new-type@x.cn"})
    a = r.json() or {}
    eq((r.status, a.get("accepted"), a.get("rejected"), a.get("errors")),
       (400, 0, 1, [{"index": 0, "field": "type", "message": "type: must be a string"}]),
       "input: \"type\": 5 -> 400 naming field type")

    r = post_events({"type": "Page Viewed", "email": "new-type@x.cn"})
    a = r.json() or {}
    eq((r.status, a.get("rejected"), (a.get("errors") or [{}])[0].get("field")), (400, 1, "type"),
       "input: \"type\": \"Page Viewed\" (not a valid type name) -> 400 naming field type")

    r = post_events({"type": "page.viewed", "email": "not-an-email"})
    a = r.json() or {}
    eq((r.status, (a.get("errors") or [{}])[0].get("field")), (400, "email"),
       "input: a bad email -> 400 naming field email")

    r = post_events({"type": "page.viewed", "email": "new-field@x.cn", "colour": "red"})
    a = r.json() or {}
    errs = a.get("errors") or [{}]
    eq((r.status, a.get("rejected"), errs[0].get("index"), errs[0].get("field")), (400, 1, 0, "colour"),
       "input: an unknown field -> 400 naming it")
    ok(str(errs[0].get("message", "")).startswith("unknown field 'colour'"), "input: the message names it too",
       repr(r))

    r = post_events({"type": "page.viewed", "email": "new-attrs@x.cn", "attrs": {"name": 42}})
    a = r.json() or {}
    eq((r.status, a.get("accepted"), a.get("rejected")), (400, 0, 1),
       "input: an event whose attrs are refused after its lead resolved -> 400")

    eq(counts(), before, "input: the refused requests wrote nothing (events and leads unchanged)")

    r = post_events([{"type": "page.viewed", "email": "bob@x.cn"}, "not an object"])
    a = r.json() or {}
    eq((r.status, a.get("accepted"), [x.get("index") for x in a.get("errors", [])]), (202, 1, [1]),
       "input: an array with a non-object -> 202, that one reported by index")

    lines = [
        json.dumps({"type": "nd.good", "email": "nd@x.cn", "props": {"n": 0}}),
        '{"type": "nd.good", "email": ',
        json.dumps({"type": "nd.good", "email": "nd@x.cn", "props": {"n": 2}}),
        json.dumps({"type": 7, "email": "nd@x.cn"}),
        json.dumps({"type": "nd.good", "email": "nd@x.cn", "props": {"n": 4}}),
    ]
    r = post_events("\n".join(lines) + "\n", content_type="application/x-ndjson")
    a = r.json() or {}
    eq((r.status, a.get("accepted"), a.get("duplicates"), a.get("rejected")), (202, 3, 0, 2),
       "input: NDJSON with two bad lines among three good -> 202, 3 accepted, 2 rejected")
    errs = a.get("errors", [])
    eq([(x.get("index"), x.get("field")) for x in errs], [(1, None), (3, "type")],
       "input: the bad lines are reported by index (and field)")
    ok(errs and str(errs[0].get("message", "")).startswith("line 2: malformed JSON"),
       "input: the malformed line's message gives its line number", repr(r))
    eq(sorted(e["props"]["n"] for e in lead_events("nd@x.cn", "nd.good")), [0, 2, 4],
       "input: the good lines were stored")
    before = counts()

    big = json.dumps([{"type": "big.one", "email": "big@x.cn", "props": {"pad": "x" * (MAX_BODY // 2)}},
                      {"type": "big.two", "email": "big@x.cn", "props": {"pad": "y" * (MAX_BODY // 2)}}])
    r = post_events(big)
    eq(error_of(r), (413, "body_too_large", None), "input: a body over http.max_body -> 413 JSON body_too_large")
    ok("(http.max_body)" in str((r.json() or {}).get("error", {}).get("message")), "input: the 413 names the limit",
       repr(r))
    r = request("GET", "/v1/leads", token=READ, headers={"X-Padding": "p" * (MAX_HEADER + 100)})
    eq(error_of(r), (431, "headers_too_large", None), "input: headers over http.max_header -> 431 JSON")
    r = post_events({"type": "page.viewed", "email": "bob@x.cn"}, token=None)
    eq(error_of(r), (401, "unauthorized", None), "input: no token -> 401")
    eq((r.json() or {}).get("error", {}).get("message"), "send 'Authorization: Bearer <token>'",
       "input: the 401 says how to authenticate")
    r = post_events({"type": "page.viewed", "email": "bob@x.cn"}, token="not-a-real-token-at-all")
    eq((error_of(r), (r.json() or {}).get("error", {}).get("message")),
       ((401, "unauthorized", None), "the token is not valid"), "input: a bad token -> 401 'the token is not valid'")
    r = request("GET", "/v1/leads?identity=bob@x.cn", token=INGEST)
    eq((error_of(r), (r.json() or {}).get("error", {}).get("message")),
       ((403, "forbidden", None), "this needs a token with the read scope"),
       "input: the ingest token on a read endpoint -> 403")
    r = post_events({"type": "page.viewed", "email": "bob@x.cn"}, token=READ)
    eq(error_of(r), (403, "forbidden", None), "input: the read token on ingest -> 403")
    r = post_events('{"type": "page.viewed", "email": "bob@x.cn"}', content_type="text/plain")
    eq(error_of(r), (415, "unsupported_media_type", None), "input: Content-Type text/plain -> 415")
    r = request("GET", "/v1/nothing-here", token=ADMIN)
    eq(error_of(r), (404, "not_found", None), "input: an unknown path -> 404 JSON")
    r = request("DELETE", "/v1/events", token=ADMIN)
    eq(error_of(r), (405, "method_not_allowed", None), "input: DELETE /v1/events -> 405 JSON")
    r = request("POST", "/v1/leads/bob@x.cn/tags", {"tag": "vip", "colour": "red"}, token=ADMIN)
    eq(error_of(r), (400, "unknown_field", "colour"), "input: an unknown field in a tag body -> 400 naming it")
    r = request("POST", "/v1/leads/bob@x.cn/tags", {"tag": 5}, token=ADMIN)
    eq(error_of(r), (400, "invalid", "tag"), "input: a tag that is not a string -> 400 naming field tag")
    r = request("PUT", "/v1/leads/bob@x.cn/stage", {"stage": "Nirvana"}, token=ADMIN)
    eq(r.status, 400, "input: an unknown stage -> 400")
    r = request("GET", "/v1/leads?limit=0", token=READ)
    eq(error_of(r), (400, "invalid", "limit"), "input: limit=0 -> 400 naming limit")
    eq(counts(), before, "input: none of the refused requests wrote anything")
    eq(db("SELECT count(*) FROM tag WHERE name = 'vip'"), 0, "input: no tag was added by the refused tag requests")
    # A bad ?events= (how many events the answered profile lists) is refused...
    r = request("POST", "/v1/leads/bob@x.cn/tags?events=-1", {"tag": "sneaky"}, token=ADMIN)
    eq(error_of(r), (400, "invalid", "events"), "input: POST tags?events=-1 -> 400 naming events")
    eq(db("SELECT count(*) FROM tag WHERE name = 'sneaky'"), 0, "input: ... and that 400 added no tag")
    r = request("POST", "/v1/leads?events=5000", {"email": "ghost@x.cn"}, token=INGEST)
    eq(error_of(r), (400, "invalid", "events"), "input: POST /v1/leads?events=5000 -> 400 naming events")
    eq(db("SELECT count(*) FROM lead WHERE email = 'ghost@x.cn'"), 0, "input: ... and that 400 created no lead")

    # Leads: create, find again, search.
    r = request("POST", "/v1/leads", {"email": "carol@x.cn", "name": "Carol", "company": "Acme"}, token=INGEST)
    eq((r.status, (r.json() or {}).get("attributes", {}).get("name")), (201, "Carol"),
       "leads: POST /v1/leads creates a lead (201 with the profile)")
    carol = (r.json() or {}).get("id")
    r = request("POST", "/v1/leads", {"email": "CAROL@x.cn "}, token=INGEST)
    eq((r.status, (r.json() or {}).get("id")), (200, carol), "leads: the same identity again -> 200, same lead")
    r = request("GET", "/v1/leads?identity=carol@x.cn", token=READ)
    eq([x["id"] for x in (r.json() or {}).get("leads", [])], [carol], "leads: GET /v1/leads?identity= finds her")
    r = request("POST", "/v1/leads/carol@x.cn/tags", {"tag": "vip", "weight": 2}, token=ADMIN)
    eq((r.status, [t["name"] for t in (r.json() or {}).get("tags", [])]), (200, ["vip"]),
       "leads: POST tags adds the tag (answers the profile)")
    r = request("GET", "/v1/leads?tag=vip", token=READ)
    eq([x["id"] for x in (r.json() or {}).get("leads", [])], [carol], "leads: GET /v1/leads?tag=vip lists her")
    r = request("DELETE", "/v1/leads/carol@x.cn/tags/vip", token=ADMIN)
    eq((r.status, (r.json() or {}).get("tags")), (200, []), "leads: DELETE the tag removes it")
    r = request("PUT", "/v1/leads/carol@x.cn/stage", {"stage": "MQL", "reason": "test"}, token=ADMIN)
    eq((r.status, (r.json() or {}).get("stage")), (200, "MQL"), "leads: PUT stage moves her to MQL")
    r = request("PATCH", "/v1/leads/carol@x.cn", {"name": "Carol B", "title": "CTO"}, token=ADMIN)
    a = r.json() or {}
    eq((r.status, a.get("attributes", {}).get("name"), a.get("attributes", {}).get("title")), (200, "Carol B", "CTO"),
       "leads: PATCH sets attributes")
    r = request("PATCH", "/v1/leads/carol@x.cn", {"name": "X"}, token=READ)
    eq(r.status, 403, "leads: PATCH needs admin")
    r = request("GET", "/v1/leads/nobody@x.cn", token=READ)
    eq(error_of(r)[:2], (404, "not_found"), "leads: an unknown lead -> 404 JSON")
    ids = [x[0] for x in db_rows("SELECT id FROM lead WHERE merged_into IS NULL ORDER BY id LIMIT 4")]
    r = request("GET", "/v1/leads?limit=2", token=READ)
    a = r.json() or {}
    r2 = request("GET", "/v1/leads?limit=2&after=%s" % a.get("next_after"), token=READ)
    page2 = [x["id"] for x in (r2.json() or {}).get("leads", [])]
    eq(([x["id"] for x in a.get("leads", [])], a.get("next_after"), page2),
       (ids[:2], ids[1], ids[2:4]), "leads: pages of 2 follow next_after in id order")

    # A lead reference is one path segment, whatever it holds once decoded.
    r = request("POST", "/v1/leads", {"email": "a/b@x.cn", "name": "Slash"}, token=INGEST)
    slash = (r.json() or {}).get("id")
    eq(r.status, 201, "leads: a lead whose email holds a '/' is created")
    r = request("GET", "/v1/leads/a%2Fb%40x.cn", token=READ)
    eq((r.status, (r.json() or {}).get("id")), (200, slash),
       "leads: GET /v1/leads/a%2Fb%40x.cn (an encoded '/') finds it")
    r = request("GET", "/v1/leads/%d%%00/tags" % carol, token=READ)
    ok(400 <= r.status < 500, "leads: GET /v1/leads/<id>%00/tags is refused, not cut short at the NUL", repr(r))


# ---------------------------------------------------------------------------
# 3. signed webhooks

def hook(body, msg_id, ts=None, key=HOOK_KEY, sig=None):
    ts = str(int(time.time()) if ts is None else ts)
    text = json.dumps(body)
    mac = base64.b64encode(hmac.new(key, ("%s.%s.%s" % (msg_id, ts, text)).encode(), hashlib.sha256).digest())
    headers = {"Content-Type": "application/json", "webhook-id": msg_id, "webhook-timestamp": ts,
               "webhook-signature": sig if sig is not None else "v1," + mac.decode()}
    return request("POST", "/hooks/mock/events", text, headers=headers)


def scenario_webhooks():
    r = request("POST", "/v1/leads", {"email": "hook@x.cn", "name": "Hook"}, token=INGEST)
    eq(r.status, 201, "hooks: a lead for the callbacks")
    body = {"type": "mock.clicked", "email": "hook@x.cn", "data": {"link": "https://example.cn/a"}}
    r = hook(body, "msg_1")
    eq((r.status, r.json()), (200, {"ok": "recorded"}), "hooks: a signed callback -> 200 recorded")
    ev = lead_events("hook@x.cn", "mock.clicked")
    eq([(e["props"], e["dedupe_key"]) for e in ev], [({"link": "https://example.cn/a"}, "nu:mock:msg_1")],
       "hooks: the event is on the lead with its data, deduplicated by webhook-id (in the plugin's nu: namespace)")
    before = counts()
    r = hook(body, "msg_1")
    eq(r.status, 200, "hooks: the same webhook-id again -> 200")
    eq((len(lead_events("hook@x.cn", "mock.clicked")), counts()), (1, before), "hooks: ... and stored once")
    r = hook(body, "msg_2", key=b"not the secret at all, no")
    eq((r.status, r.json()), (401, {"error": "bad signature"}), "hooks: a forged signature -> 401")
    r = hook(dict(body, type="mock.forged"), "msg_3", sig="v1," + base64.b64encode(b"x" * 32).decode())
    eq(r.status, 401, "hooks: a made-up v1 signature -> 401")
    r = hook(body, "msg_4", sig="")
    eq(r.status, 401, "hooks: an empty signature -> 401")
    r = hook(dict(body, type="mock.stale"), "msg_5", ts=int(time.time()) - 6 * 60)
    eq((r.status, r.json()), (401, {"error": "timestamp outside the 5 minute tolerance"}),
       "hooks: a stale timestamp (6 min old) -> 401")
    r = hook(dict(body, type="mock.future"), "msg_6", ts=int(time.time()) + 6 * 60)
    eq(r.status, 401, "hooks: a timestamp 6 min ahead -> 401")
    eq(counts(), before, "hooks: the refused callbacks stored nothing")
    r = hook({"type": "mock.delivered", "email": "hook@x.cn"}, "msg_7", ts=int(time.time()) - 4 * 60)
    eq(r.status, 200, "hooks: a timestamp 4 min old is inside the tolerance")
    # Dedupe keys of other sources are not the provider's ids.
    r = post_events({"type": "page.viewed", "email": "other@x.cn", "dedupe_key": "msg_9"})
    eq(r.status, 202, "hooks: an API event with dedupe key msg_9 (another lead, another source)")
    r = hook({"type": "mock.opened", "email": "hook@x.cn"}, "msg_9")
    eq((r.status, len(lead_events("hook@x.cn", "mock.opened"))), (200, 1),
       "hooks: a callback whose webhook-id equals that key is still stored for its lead")
    r = request("POST", "/hooks/nosuch/events", "{}", headers={"Content-Type": "application/json"})
    eq(r.status, 404, "hooks: a plugin that takes no webhooks -> 404")


# ---------------------------------------------------------------------------
# 5. flows over the API

def run_of(run_id):
    r = request("GET", "/v1/runs/%d" % run_id, token=READ)
    return r.json() if r.status == 200 else {}


def scenario_flows():
    src = API_FLOW % "v1"
    r = request("POST", "/v1/flows", src, token=ADMIN, headers={"Content-Type": "text/x-lua"})
    a = r.json() or {}
    eq((r.status, a.get("name"), a.get("kind"), a.get("created")), (201, "api_demo", "flow", True),
       "flows: deploying a new flow -> 201")
    v1 = a.get("version")
    ok(isinstance(v1, str) and re.fullmatch(r"[0-9a-f]{64}", v1), "flows: the version is a SHA-256", repr(r))
    r = request("POST", "/v1/flows", src, token=ADMIN, headers={"Content-Type": "text/x-lua"})
    eq((r.status, (r.json() or {}).get("created"), (r.json() or {}).get("version")), (200, False, v1),
       "flows: the same source again -> 200, unchanged")
    r = request("POST", "/v1/flows", API_FLOW % "v2", token=ADMIN, headers={"Content-Type": "text/x-lua"})
    v2 = (r.json() or {}).get("version")
    ok(r.status == 201 and v2 != v1, "flows: a changed source -> 201, a new version", repr(r))
    r = request("POST", "/v1/flows", BROKEN_FLOW, token=ADMIN, headers={"Content-Type": "text/x-lua"})
    st, code, _ = error_of(r)
    msg = (r.json() or {}).get("error", {}).get("message", "")
    eq((st, code), (400, "invalid_flow"), "flows: broken Lua -> 400 invalid_flow")
    ok(re.match(r"\(request body\):[34]: ", msg), "flows: the message has file:line", msg)
    r = request("POST", "/v1/flows", src, token=ADMIN, headers={"Content-Type": "application/json"})
    eq(error_of(r)[:2], (415, "unsupported_media_type"), "flows: a flow sent as JSON -> 415")
    r = request("POST", "/v1/flows", src, token=READ, headers={"Content-Type": "text/x-lua"})
    eq(r.status, 403, "flows: deploying needs admin (read token -> 403)")
    r = request("GET", "/v1/flows", token=READ)
    listed = {f["name"]: (f["status"], f["version"]) for f in (r.json() or {}).get("flows", [])}
    eq(listed.get("api_demo"), ("active", v2), "flows: GET /v1/flows lists the flow, active, latest version")
    ok({"welcome", "resend"} <= set(listed), "flows: ... with the flows of the --flows folder", str(listed))

    r = request("POST", "/v1/flows/api_demo/pause", token=ADMIN)
    eq((r.status, r.json()), (200, {"name": "api_demo", "status": "paused"}), "flows: pause -> 200 paused")
    r = post_events({"type": "demo.requested", "email": "dora@x.cn"})
    eq(r.status, 202, "flows: a trigger event while paused is accepted")
    ok(wait_for(engine_idle), "flows: the engine read it")
    p = profile("dora@x.cn") or {}
    eq([x["flow"] for x in p.get("runs", [])], [], "flows: a paused flow enrols nobody")
    r = request("POST", "/v1/flows/api_demo/resume", token=ADMIN)
    eq((r.status, r.json()), (200, {"name": "api_demo", "status": "active"}), "flows: resume -> 200 active")
    r = post_events({"type": "demo.requested", "email": "dora@x.cn"})
    ok(wait_for(lambda: [x for x in (profile("dora@x.cn") or {}).get("runs", []) if x["status"] == "completed"]),
       "flows: after resume the trigger enrols and the run completes")
    p = profile("dora@x.cn") or {}
    eq(([x["flow"] for x in p.get("runs", [])], [t["name"] for t in p.get("tags", [])]), (["api_demo"], ["demo:v2"]),
       "flows: the run is on the new version (tag demo:v2)")

    r = request("POST", "/v1/flows/api_demo/enroll", {"lead": "ed@x.cn"}, token=ADMIN)
    eq(error_of(r)[:2], (404, "not_found"), "flows: enrolling a lead that does not exist -> 404")
    request("POST", "/v1/leads", {"email": "ed@x.cn"}, token=INGEST)
    r = request("POST", "/v1/flows/api_demo/enroll", {"lead": "ed@x.cn"}, token=ADMIN)
    a = r.json() or {}
    eq((r.status, a.get("flow")), (201, "api_demo"), "flows: enroll -> 201")
    run_id = a.get("run_id") or 0
    STATE["run"] = run_id
    ok(wait_for(lambda: run_of(run_id).get("status") == "completed"), "flows: the enrolled run completes")
    r = request("POST", "/v1/flows/api_demo/enroll", {"lead": "ed@x.cn"}, token=ADMIN)
    eq((error_of(r)[:2], (r.json() or {}).get("error", {}).get("message")),
       ((409, "not_enrolled"),
        "lead %d not enrolled: reentry never: lead was in api_demo before" % a.get("lead_id", 0)),
       "flows: enroll again -> 409 with the reentry reason")
    r = request("POST", "/v1/flows/nosuch/enroll", {"lead": "ed@x.cn"}, token=ADMIN)
    eq(error_of(r)[:2], (404, "not_found"), "flows: enrolling in a flow that does not exist -> 404")
    r = request("GET", "/v1/runs/%d" % run_id, token=READ)
    a = r.json() or {}
    eq((r.status, a.get("id"), a.get("flow"), a.get("lead_id"), "steps" in a),
       (200, run_id, "api_demo", (profile("ed@x.cn") or {}).get("id"), False),
       "flows: GET /v1/runs/{id} summarises the run (no steps)")
    r = request("GET", "/v1/runs/%d/why" % run_id, token=READ)
    steps = (r.json() or {}).get("steps") or []
    ok(r.status == 200 and len(steps) >= 1 and all("seq" in s and "kind" in s for s in steps),
       "flows: GET /v1/runs/{id}/why has the steps", repr(r))
    ok(any(s["kind"] == "tag" or "demo:v2" in json.dumps(s) for s in steps), "flows: ... including the tag step",
       json.dumps(steps))
    r = request("GET", "/v1/runs/99999", token=READ)
    eq(error_of(r)[:2], (404, "not_found"), "flows: an unknown run -> 404")
    r = request("GET", "/v1/leads/ed@x.cn/why?flow=api_demo", token=READ)
    eq([x["id"] for x in (r.json() or {}).get("runs", [])], [run_id],
       "flows: GET /v1/leads/{ref}/why?flow= lists the run")


# ---------------------------------------------------------------------------
# 6. /metrics and /healthz

def metric(text, name):
    m = re.search(r"^%s (\S+)$" % re.escape(name), text, re.M)
    return float(m.group(1)) if m else None


def scenario_metrics():
    r = request("GET", "/healthz")
    a = r.json() or {}
    eq((r.status, a.get("status"), a.get("database")), (200, "ok", "ok"), "ops: /healthz -> 200 ok")
    want = dict(SEEN)
    r = request("GET", "/metrics")
    text = r.body.decode()
    eq((r.status, r.header("Content-Type")), (200, "text/plain; version=0.0.4; charset=utf-8"),
       "ops: /metrics is Prometheus text")
    eq(metric(text, 'nurture_events_ingested_total{result="accepted"}'), float(INGESTED["accepted"]),
       "ops: nurture_events_ingested_total{result=\"accepted\"} = %d, the sum of the 202s" % INGESTED["accepted"])
    eq(metric(text, 'nurture_events_ingested_total{result="rejected"}'), float(INGESTED["rejected"]),
       "ops: ... rejected = %d" % INGESTED["rejected"])
    eq(metric(text, 'nurture_tracking_total{kind="bad_token"}'), float(BAD_TOKENS[0]),
       "ops: nurture_tracking_total{kind=\"bad_token\"} counts the forged tokens")
    eq(metric(text, 'nurture_tracking_total{kind="click"}'), 2.0, "ops: two clicks counted")
    eq([metric(text, 'nurture_http_requests_total{class="%s"}' % c) for c in ("2xx", "3xx", "4xx", "5xx")],
       [float(want[c]) for c in ("2xx", "3xx", "4xx", "5xx")],
       "ops: nurture_http_requests_total by class matches every answer this test got")
    n = metric(text, "nurture_sqlite_commit_seconds_count")
    ok(n is not None and n >= 1 and n == metric(text, 'nurture_sqlite_commit_seconds_bucket{le="+Inf"}'),
       "ops: nurture_sqlite_commit_seconds_count present, equal to the +Inf bucket", str(n))
    eq(metric(text, "nurture_events_stored"), float(db("SELECT max(id) FROM event")),
       "ops: nurture_events_stored is the store's")
    post_events({"type": "page.viewed", "email": "bob@x.cn"})
    r = request("GET", "/metrics")
    n2 = metric(r.body.decode(), "nurture_sqlite_commit_seconds_count")
    ok(n is not None and n2 is not None and n2 > n, "ops: an ingest adds a commit to the histogram",
       "%s -> %s" % (n, n2))


def scenario_group_commit():
    """Concurrent single-event POSTs share commits (api_group.c): each is
    answered only after its event is stored, a bad one is refused alone,
    two with one dedupe key store one event, and a write of another route
    arriving in the middle ends the group without losing anything."""
    n = 48
    barrier = threading.Barrier(n + 1)
    results = [None] * (n + 1)
    before = metrics_now()

    def one(i):
        if i == 7:
            body = {"type": "Bad Type!", "email": "group7@x.cn"}
        elif i in (11, 12):
            body = {"type": "page.viewed", "email": "group-dup@x.cn", "dedupe_key": "group-dup"}
        else:
            body = {"type": "page.viewed", "email": "group%d@x.cn" % i, "props": {"i": i}}
        barrier.wait()
        r = post_events(body)
        results[i] = (r.status, r.json() or {}, db("SELECT count(*) FROM event WHERE type = 'page.viewed'"
                                                  " AND json_extract(props, '$.i') = ?", i))

    def patch():
        barrier.wait()
        results[n] = request("PATCH", "/v1/leads/email:bob@x.cn", {"group_probe": "yes"},
                             token=ADMIN)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)] + [threading.Thread(target=patch)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    good = [i for i in range(n) if i not in (7, 11, 12)]
    eq([results[i][0] for i in good], [202] * len(good), "group: %d concurrent single POSTs -> 202" % len(good))
    eq([results[i][2] for i in good], [1] * len(good),
       "group: ... and each event was in the database when its 202 arrived")
    eq(error_of(Resp(results[7][0], {}, json.dumps(results[7][1]).encode()))[0], 400,
       "group: the bad event among them -> 400, alone")
    eq(sorted((results[i][0], results[i][1].get("accepted"), results[i][1].get("duplicates")) for i in (11, 12)),
       [(202, 0, 1), (202, 1, 0)], "group: two POSTs with one dedupe key in one group -> one stored, one duplicate")
    eq(db("SELECT count(*) FROM event WHERE dedupe_key = 'group-dup'"), 1, "group: ... one row")
    ok(results[n].status == 200, "group: a PATCH in the middle of the group -> 200", repr(results[n]))
    eq(db("SELECT json_extract(custom, '$.group_probe') FROM lead WHERE email = 'bob@x.cn'"), "yes",
       "group: ... and its write is stored")
    after = metrics_now()
    groups = after["nurture_http_commit_groups_total"] - before["nurture_http_commit_groups_total"]
    reqs = after["nurture_http_commit_group_requests_total"] - before["nurture_http_commit_group_requests_total"]
    eq(reqs, float(len(good) + 2), "group: /metrics counts %d requests answered after a shared commit" % (len(good) + 2))
    ok(1 <= groups <= reqs, "group: ... in %d commits" % groups)
    tap.note("%d concurrent POSTs committed in %d groups" % (reqs, groups))


def scenario_sends_in_groups():
    """Sign-ups posted by clients in closed loops, so requests keep a
    commit group open while earlier sign-ups' sends are answered: every
    run completes, each of its two sends is stored once as sent, and no
    answer is left pending in a journal."""
    n, clients = 12, 8
    statuses = []

    def client(c):
        for i in range(n):
            r = post_events({"type": "signup.sync", "email": "sync%d@x.cn" % (c * n + i)})
            statuses.append(r.status)

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    total = n * clients
    eq(statuses, [202] * total, "sends in groups: %d sign-ups from %d clients -> 202" % (total, clients))
    ok(wait_for(lambda: db("SELECT count(*) FROM run WHERE flow = 'signup_sync' AND status = 'completed'")
                == total and engine_idle()),
       "sends in groups: all %d runs completed" % total,
       repr(db_rows("SELECT status, count(*) FROM run WHERE flow = 'signup_sync' GROUP BY 1")))
    eq(db_rows("SELECT o.state, count(*) FROM outbox o JOIN run r ON r.id = o.run_id"
               " WHERE r.flow = 'signup_sync' GROUP BY 1"), [("sent", 2 * total)],
       "sends in groups: %d sends, each stored once, all sent" % (2 * total))
    eq(db("SELECT count(*) FROM journal j JOIN run r ON r.id = j.run_id"
          " WHERE r.flow = 'signup_sync' AND j.result IS NULL"), 0,
       "sends in groups: no journal entry is left without its answer")
    eq(db("SELECT count(*) FROM identity i WHERE i.kind = 'email' AND i.value LIKE 'sync%@x.cn'"
          " AND EXISTS (SELECT 1 FROM tag WHERE lead_id = i.lead_id AND name = 'sync1:sent')"
          " AND EXISTS (SELECT 1 FROM tag WHERE lead_id = i.lead_id AND name = 'sync2:sent')"), total,
       "sends in groups: every lead got both tags from the answers")


def metrics_now():
    text = request("GET", "/metrics").body.decode()
    return {m: metric(text, m) or 0.0 for m in ("nurture_http_commit_groups_total",
                                                "nurture_http_commit_group_requests_total")}


def group_fails_whole(port, folder, conn):
    """A store that cannot be written: the ingest is refused with 503 naming
    why, nothing is kept, and the next request works again."""
    holder = sqlite3.connect(os.path.join(folder, "d.db"), timeout=10, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        r = request("POST", "/v1/events", {"type": "page.viewed", "email": "locked@x.cn"}, token=INGEST,
                    port=port, conn=conn)
        status, code, _ = error_of(r)
        ok((status, code) == (503, "unavailable") and "locked" in r.json()["error"]["message"],
           "group: the store is locked by another process -> 503 unavailable naming it", repr(r))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    r = request("POST", "/v1/events", {"type": "page.viewed", "email": "unlocked@x.cn"}, token=INGEST,
                port=port, conn=conn)
    eq(r.status, 202, "group: once the lock is gone the next POST -> 202")
    con = sqlite3.connect("file:%s?mode=ro" % os.path.join(folder, "d.db"), uri=True, timeout=10)
    try:
        eq(con.execute("SELECT count(*) FROM identity WHERE value IN ('locked@x.cn', 'unlocked@x.cn')").fetchone()[0],
           1, "group: the refused event left nothing, the next one is stored")
    finally:
        con.close()


# ---------------------------------------------------------------------------
# 7. max_connections

def scenario_max_connections():
    """A second daemon: max_connections = 2, and listen on port 0 (no
    public_url), so the port it reports and its tracking links must agree."""
    folder = tempfile.mkdtemp(prefix="nurture-http-conns-")
    d = None
    try:
        write(os.path.join(folder, "nurture.conf.lua"), """return {
  database = "d.db",
  plugins = {
    dir = "%s",
    email = { smtp_url = "smtp://127.0.0.1:%d", smtp_user = "nurture", smtp_password = "s3cret",
              smtp_cainfo = "%s", from = "news@nurture.test", templates = "%s/templates",
              domain = "nurture.test", timeout_ms = 5000 },
  },
  http = { listen = "127.0.0.1:0", tracking_key = "%s", max_connections = 2, %s },
  busy_timeout_ms = 300,
}
""" % (PLUGINS, STATE["smtp_port"], STATE["cert"], WORK, TRACK_KEY, tokens_lua()))
        subprocess.run([NURTURE, "-q", "init"], cwd=folder, env=ENV, capture_output=True, timeout=60)
        d = Daemon(folder, None, "--flows", FLOWS)
        if not ok(d.start(), "conns: a daemon with listen 127.0.0.1:0 and max_connections = 2 started", d.tail()):
            return
        port = d.bound
        ok(port > 0, "conns: the log line names the port it bound (%d)" % port)
        c1 = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c2 = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c3 = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            r1 = request("POST", "/v1/events", {"type": "form.submitted", "email": "zero@x.cn"}, token=INGEST,
                         port=port, conn=c1)
            r2 = request("GET", "/v1/leads", token=READ, port=port, conn=c2)
            eq((r1.status, r2.status), (202, 200), "conns: two keep-alive connections each made a request")
            r3 = request("GET", "/healthz", port=port, conn=c3)
            eq(error_of(r3), (503, "too_many_connections", None), "conns: a third connection's request -> 503 JSON")
            eq(r3.header("Connection"), "close", "conns: ... and that connection is closed")
            r2 = request("GET", "/healthz", port=port, conn=c2)
            eq(r2.status, 200, "conns: an admitted connection keeps working")
            group_fails_whole(port, folder, c2)
            c1.close()
            time.sleep(0.3)
            c4 = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            r4 = request("GET", "/healthz", port=port, conn=c4)
            eq(r4.status, 200, "conns: after one closed, a new connection is served")
            r = request("GET", "/metrics", port=port, conn=c4)
            text = r.body.decode()
            eq((metric(text, "nurture_http_connections"), metric(text, "nurture_http_connections_refused_total")),
               (2.0, 1.0), "conns: /metrics shows 2 open connections and 1 refusal")
            c4.close()
        finally:
            for c in (c1, c2, c3):
                c.close()
        log = os.path.join(SMTP_OUT, "log.ndjson")
        entries = wait_for(lambda: [json.loads(x) for x in open(log) if "zero@x.cn" in x], 20)
        if ok(entries, "port 0: the triggered email was delivered", d.tail()):
            clicks, pixel, unsub = tracking_urls(open(os.path.join(SMTP_OUT, entries[0]["file"]), "rb").read())
            eq((len(clicks), len(pixel), len(unsub), bases(clicks + pixel + unsub)),
               (2, 1, 1, ["http://127.0.0.1:%d" % port]),
               "port 0: the tracking links point at the port the daemon bound")
            if unsub:
                unsub_preempted(port, path_of(unsub[0]))
    finally:
        if d:
            eq(d.stop(), 0, "conns: the daemon stopped cleanly")
        shutil.rmtree(folder, ignore_errors=True)


# ---------------------------------------------------------------------------
# 8. the protocol itself, over raw sockets

def raw_exchange(port, data, pause=None, wait=5.0):
    """Sends data (bytes, or a list of bytes sent pause seconds apart), then
    reads until the server closes or wait seconds pass. (bytes, closed)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=wait)
    got, closed = b"", False
    try:
        for i, part in enumerate(data if isinstance(data, list) else [data]):
            if i and pause:
                time.sleep(pause)
            s.sendall(part)
        end = time.monotonic() + wait
        while time.monotonic() < end:
            s.settimeout(max(0.05, end - time.monotonic()))
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            got += chunk
    finally:
        s.close()
    return got, closed


def raw_answers(data):
    """The answers in a byte stream: [(status, {header: value}, body)]."""
    out = []
    while data.startswith(b"HTTP/1.1 "):
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            break
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
        n = 0 if lines[0].startswith("HTTP/1.1 100") else int(headers.get("content-length", "0"))
        out.append((int(lines[0].split()[1]), headers, rest[:n]))
        data = rest[n:]
    return out


def raw_error(answer):
    """(status, code) of a raw JSON error answer."""
    try:
        return answer[0], json.loads(answer[2])["error"]["code"]
    except (ValueError, KeyError, TypeError, IndexError):
        return answer[0], None


def eqd(got, want, what, detail=None):
    """eq, showing detail (the raw bytes) when it fails."""
    return ok(got == want, what, "got %r, want %r%s" % (got, want, "" if detail is None else "; %r" % (detail,)))


def mangled_requests(port, auth, cases=400, seed=6):
    """Valid requests cut, flipped, doubled and spliced at random (fixed
    seed), each sent whole and the write side shut: the server must answer
    with well-formed answers or close, promptly, and live on."""
    import random
    rnd = random.Random(seed)
    ev = json.dumps({"type": "fuzz.one", "email": "fuzz@x.cn"}).encode()
    bases = [
        b"POST /v1/events HTTP/1.1\r\nHost: x\r\n" + auth + b"Content-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(ev) + ev,
        b"POST /v1/events HTTP/1.1\r\nHost: x\r\n" + auth + b"Transfer-Encoding: chunked\r\n\r\n"
        b"%x\r\n" % len(ev) + ev + b"\r\n0\r\n\r\n",
        b"GET /v1/leads?limit=2&x=%41 HTTP/1.1\r\nHost: x\r\n" + auth + b"\r\n",
        b"GET /healthz HTTP/1.1\r\n\r\nHEAD /t/o/abc HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    ]
    junk = [b"\r", b"\n", b"\r\n", b"\x00", b" ", b":", b"\t", b"0", b"ffffffffffffffffff", b"\xff",
            b"Content-Length: 5\r\n", b"Transfer-Encoding: chunked\r\n", b"Expect: 100-continue\r\n"]

    def mangle(data):
        for _ in range(rnd.randint(1, 3)):
            at = rnd.randrange(len(data) + 1)
            op = rnd.randrange(5)
            if op == 0:
                data = data[:at]
            elif op == 1 and at < len(data):
                data = data[:at] + bytes([rnd.randrange(256)]) + data[at + 1:]
            elif op == 2:
                data = data[:at] + rnd.choice(junk) + data[at:]
            elif op == 3:
                data = data + data[at:]
            else:
                data = data.replace(b"\r\n", b"\n", rnd.randrange(4))
        return data

    def one(data):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        got = b""
        t0 = time.monotonic()
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
        except (ConnectionResetError, BrokenPipeError, socket.timeout):
            pass
        finally:
            s.close()
        return got, time.monotonic() - t0

    inputs = [mangle(rnd.choice(bases)) for _ in range(cases)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, inputs))
    bad = [(data, got) for data, (got, took) in zip(inputs, results)
           if took > 4 or (got and not raw_answers(got)) or any(not 100 <= a[0] <= 599 or a[0] == 500 or (a[0] >= 200 and
                                                                   not a[1].get("content-type"))
                                                                   for a in raw_answers(got))]
    slow = max(took for _, took in results)
    seen = collections.Counter(a[0] for got, _ in results for a in raw_answers(got))
    tap.note("mangled requests' answers by status: %s; %d closed without one" % (
        ", ".join("%d x%d" % kv for kv in sorted(seen.items())), sum(1 for got, _ in results if not got)))
    eqd(bad[:3], [], "proto: %d mangled requests (cut, flipped, spliced) each got well-formed answers (no 500) "
        "or a close, the slowest in %.1f s" % (cases, slow))


def scenario_protocol():
    """A third daemon with http.timeout = 2 s and small limits: slow
    clients, oversized requests, chunked bodies, Expect, pipelining,
    HTTP/1.0 and malformed requests, each answered in JSON."""
    folder = tempfile.mkdtemp(prefix="nurture-http-proto-")
    d = None
    try:
        write(os.path.join(folder, "nurture.conf.lua"), """return {
  database = "d.db",
  http = { listen = "127.0.0.1:0", tracking_key = "%s", timeout = 2, max_body = 2048,
           max_header = 1024, %s },
}
""" % (TRACK_KEY, tokens_lua()))
        subprocess.run([NURTURE, "-q", "init"], cwd=folder, env=ENV, capture_output=True, timeout=60)
        d = Daemon(folder, None)
        if not ok(d.start(), "proto: a daemon with http.timeout = 2 started", d.tail()):
            return
        port = d.bound
        auth = b"Authorization: Bearer " + INGEST.encode() + b"\r\n"

        def stored(email):
            con = sqlite3.connect("file:%s?mode=ro" % os.path.join(folder, "d.db"), uri=True, timeout=10)
            try:
                return con.execute("SELECT count(*) FROM event e JOIN lead l ON l.id = e.lead_id "
                                   "WHERE l.email = ?", (email,)).fetchone()[0]
            finally:
                con.close()

        # Slow clients get a 408 naming the limit, and nothing they sent is kept.
        # The four wait out the timeout side by side.
        body = json.dumps({"type": "slow.one", "email": "slow@x.cn"}).encode()

        def timed(*args, **kw):
            t0 = time.monotonic()
            got, closed = raw_exchange(port, *args, **kw)
            return got, closed, time.monotonic() - t0
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            stalled_body = pool.submit(timed, b"POST /v1/events HTTP/1.1\r\nHost: x\r\n" + auth +
                                       b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
                                       + body[:10], wait=6)
            stalled_head = pool.submit(timed, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n", wait=6)
            dripped = pool.submit(timed, [b"GET /healthz HTTP/1.1\r\nHost: x\r\n", b"X-A: 1\r\n", b"X-B: 2\r\n",
                                          b"X-C: 3\r\n", b"X-D: 4\r\n"], pause=0.7, wait=6)
            idle = pool.submit(timed, b"", wait=6)
        got, closed, took = stalled_body.result()
        a = raw_answers(got)
        eqd([raw_error(x) for x in a], [(408, "request_timeout")], "proto: a body that stalls -> 408 JSON request_timeout",
            got)
        ok(closed and 1.5 <= took <= 4.5, "proto: ... after http.timeout (2 s; took %.1f s), then the close" % took)
        ok(a and "(http.timeout)" in a[0][2].decode() and a[0][1].get("connection") == "close",
           "proto: the 408 names http.timeout and says Connection: close", got)
        got, closed, took = stalled_head.result()
        eqd([raw_error(x) for x in raw_answers(got)], [(408, "request_timeout")],
            "proto: headers that stall (slowloris) -> 408 JSON", got)
        got, closed, took = dripped.result()
        eqd([raw_error(x) for x in raw_answers(got)], [(408, "request_timeout")],
            "proto: a header line every 0.7 s does not stretch the 2 s limit -> 408", got)
        got, closed, took = idle.result()
        eqd((got, closed), (b"", True), "proto: an idle connection is closed after http.timeout without an answer")
        eqd(stored("slow@x.cn"), 0, "proto: nothing of the stalled request was stored")

        # Sizes far past the limits: JSON, not a server's HTML page.
        got, closed = raw_exchange(port, b"POST /v1/events HTTP/1.1\r\nHost: x\r\n" + auth +
                                   b"Content-Type: application/json\r\nContent-Length: 99999999\r\n\r\n", wait=3)
        a = raw_answers(got)
        eqd([raw_error(x) for x in a], [(413, "body_too_large")],
           "proto: Content-Length 99999999 (48 828x max_body) -> 413 JSON at once, before any body", got)
        ok(closed, "proto: ... and the connection closes")
        big = json.dumps([{"type": "big.one", "email": "big@x.cn", "props": {"pad": "x" * 3000}}] * 3)
        r = request("POST", "/v1/events", big, token=INGEST, port=port, count=False)
        eqd(error_of(r), (413, "body_too_large", None), "proto: a body 4x max_body, sent whole -> 413 JSON")
        r = request("GET", "/healthz", headers={"X-Pad": "p" * 5000}, port=port, count=False)
        eqd(error_of(r), (431, "headers_too_large", None), "proto: headers 5x max_header -> 431 JSON")
        eqd(stored("big@x.cn"), 0, "proto: nothing of the oversized body was stored")

        # Chunked bodies are decoded; their decoded size is what counts.
        ev = json.dumps({"type": "chunked.one", "email": "chunk@x.cn"}).encode()
        chunks = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(ev[i:i + 7]), ev[i:i + 7]) for i in range(0, len(ev), 7))
        got, _ = raw_exchange(port, [b"POST /v1/events HTTP/1.1\r\nHost: x\r\n" + auth +
                                     b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
                                     chunks[:20], chunks[20:], b"0\r\nX-Trailer: t\r\n\r\n"], pause=0.1, wait=1)
        a = raw_answers(got)
        eqd([x[0] for x in a], [202], "proto: a chunked body in pieces, with extensions and a trailer -> 202", got)
        eqd(stored("chunk@x.cn"), 1, "proto: ... and its event was stored")
        many = b"".join(b"400\r\n" + b" " * 1024 + b"\r\n" for _ in range(3))
        got, _ = raw_exchange(port, b"POST /v1/events HTTP/1.1\r\nHost: x\r\n" + auth +
                              b"Transfer-Encoding: chunked\r\n\r\n" + many + b"0\r\n\r\n", wait=3)
        eqd([raw_error(x) for x in raw_answers(got)], [(413, "body_too_large")],
           "proto: a chunked body that decodes past max_body -> 413 JSON", got)

        # Expect: 100-continue, then the answer.
        ev = json.dumps({"type": "expect.one", "email": "expect@x.cn"}).encode()
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        try:
            s.sendall(b"POST /v1/events HTTP/1.1\r\nHost: x\r\n" + auth + b"Content-Type: application/json\r\n"
                      b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(ev))
            first = s.recv(4096)
            s.sendall(ev)
            rest = b""
            while len(raw_answers(first + rest)) < 2:
                chunk = s.recv(4096)
                if not chunk:
                    break
                rest += chunk
        finally:
            s.close()
        eqd(first, b"HTTP/1.1 100 Continue\r\n\r\n", "proto: Expect: 100-continue gets 100 Continue before the body")
        eqd([x[0] for x in raw_answers(first + rest)], [100, 202], "proto: ... then the 202")
        got, _ = raw_exchange(port, b"POST /v1/events HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                              b"Content-Length: 5000\r\n\r\n", wait=3)
        eqd([raw_error(x) for x in raw_answers(got)], [(413, "body_too_large")],
           "proto: Expect with a Content-Length over max_body -> 413 without a 100", got)

        # Pipelining, HTTP/1.0 and HEAD.
        got, _ = raw_exchange(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                                    b"GET /v1/nothing HTTP/1.1\r\nHost: x\r\n\r\n"
                                    b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", wait=3)
        eqd([x[0] for x in raw_answers(got)], [200, 404, 200], "proto: three pipelined requests, answered in order")
        got, closed = raw_exchange(port, b"GET /healthz HTTP/1.0\r\n\r\n", wait=3)
        a = raw_answers(got)
        eqd(([x[0] for x in a], closed), ([200], True), "proto: HTTP/1.0 without keep-alive: the answer, then the close")
        got, _ = raw_exchange(port, b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
                                    b"GET /healthz HTTP/1.0\r\n\r\n", wait=3)
        a = raw_answers(got)
        eqd(([x[0] for x in a], a and a[0][1].get("connection")), ([200, 200], "keep-alive"),
           "proto: HTTP/1.0 with Connection: keep-alive stays open for the next request")
        got, _ = raw_exchange(port, b"HEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", wait=3)
        head, _, after = got.partition(b"\r\n\r\n")
        ok(head.startswith(b"HTTP/1.1 200") and b"Content-Length: " in head and after == b"",
           "proto: HEAD gets the headers with Content-Length and no body", got)

        # Malformed requests: 4xx/5xx JSON naming the problem, then the close.
        bad = [
            (b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
             (400, "bad_request"), "both Content-Length and Transfer-Encoding"),
            (b"GET /healthz HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
             (400, "bad_request"), "two different Content-Lengths"),
            (b"GET /healthz HTTP/1.1\r\nContent-Length: -1\r\n\r\n", (400, "bad_request"), "Content-Length -1"),
            (b"POST /v1/events HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
             (501, "not_implemented"), "Transfer-Encoding gzip"),
            (b"GET /healthz HTTP/1.1\r\nX-A: 1\r\n folded\r\n\r\n", (400, "bad_request"), "a folded header line"),
            (b"GET /healthz HTTP/1.1\r\nBad Header: 1\r\n\r\n", (400, "bad_request"), "a space in a header name"),
            (b"GET /healthz HTTP/1.1\r\nX-A: a\rb\r\n\r\n", (400, "bad_request"), "a bare CR in a header"),
            (b"GET /healthz\r\n\r\n", (400, "bad_request"), "a request line without a version"),
            (b"GET healthz HTTP/1.1\r\n\r\n", (400, "bad_request"), "a target that is not a path"),
            (b"GET /healthz HTTP/2.0\r\n\r\n", (505, "http_version_not_supported"), "HTTP/2.0"),
            (b"BREW /healthz HTTP/1.1\r\n\r\n", (501, "not_implemented"), "an unknown method"),
            (b"POST /v1/events HTTP/1.1\r\nExpect: 200-ok\r\nContent-Length: 2\r\n\r\n{}",
             (417, "expectation_failed"), "an Expect other than 100-continue"),
        ]
        for data, want, what in bad:
            got, closed = raw_exchange(port, data, wait=3)
            eqd(([raw_error(x) for x in raw_answers(got)], closed), ([want], True),
               "proto: %s -> %d %s JSON and the close" % (what, want[0], want[1]), got)
        r = request("GET", "/metrics", port=port, count=False)
        text = r.body.decode()
        eqd([metric(text, 'nurture_http_requests_total{class="%s"}' % c) for c in ("4xx", "5xx")], [18.0, 3.0],
           "proto: /metrics counts the refusals: 18 4xx (408 x3, 413 x4, 431, 404, 400 x8, 417), 5xx 3 (501 x2, 505)")
        mangled_requests(port, auth)
        r = request("GET", "/healthz", port=port, count=False)
        eqd(r.status, 200, "proto: the daemon still serves after all of that")
    finally:
        if d:
            eqd(d.stop(), 0, "proto: the daemon stopped cleanly")
        shutil.rmtree(folder, ignore_errors=True)


def unsub_preempted(port, unsub):
    """An ingest client's dedupe key must not swallow an unsubscribe."""
    op = int(b64url_dec(unsub.rsplit("/", 1)[1].split(".")[0]).decode().split("|")[1])
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        r = request("POST", "/v1/events", {"type": "page.viewed", "email": "mallory@x.cn",
                                           "dedupe_key": "unsubscribe-%d" % op}, token=INGEST, port=port, conn=c)
        eq(r.status, 202, "unsubscribe: an API event for another lead with dedupe key unsubscribe-<op>")
        r = request("POST", unsub, "List-Unsubscribe=One-Click", port=port, conn=c,
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
        ok(r.status == 200 and b"Unsubscribed" in r.body, "unsubscribe: the page says Unsubscribed", repr(r))
        r = request("GET", "/v1/leads/zero@x.cn?events=50", token=READ, port=port, conn=c)
        eq([e["type"] for e in (r.json() or {}).get("events", []) if e["type"] == "email.unsubscribed"],
           ["email.unsubscribed"], "unsubscribe: ... and the lead's email.unsubscribed is stored")
    finally:
        c.close()


# ---------------------------------------------------------------------------
# 8. the CLI against the daemon

def scenario_cli():
    url = "http://127.0.0.1:%d" % PORT
    local = ("--db", DB)

    def numbers(s):
        return re.sub(r"\d+", "N", s)

    p = nurture("--url", url, "event", "add", "cli@x.cn", "page.viewed", "--prop", "path=/a")
    eid = db("SELECT max(id) FROM event WHERE type = 'page.viewed'")
    lead = db("SELECT lead_id FROM event WHERE id = ?", eid)
    eq((p.returncode, p.stdout, p.stderr), (0, "event %s stored for lead %s\n" % (eid, lead), ""),
       "cli: remote event add prints what local prints")
    eq(db("SELECT json_extract(props, '$.path') FROM event WHERE id = ?", eid), "/a",
       "cli: the remote event is stored with its props")
    q = nurture(*local, "event", "add", "cli@x.cn", "page.viewed", "--prop", "path=/b")
    eq((q.returncode, numbers(q.stdout), q.stdout.split()[-1]), (0, numbers(p.stdout), str(lead)),
       "cli: local event add on the same lead prints the same line")
    q = nurture(*local, "event", "add", "--dedupe", "cli-once", "cli@x.cn", "page.viewed")
    first = db("SELECT id FROM event WHERE dedupe_key = 'cli-once'")
    q = nurture(*local, "event", "add", "--dedupe", "cli-once", "cli@x.cn", "page.viewed")
    p = nurture("--url", url, "event", "add", "--dedupe", "cli-once", "cli@x.cn", "page.viewed")
    eq(q.stdout, "duplicate of event %s (dedupe key); nothing stored\n" % first,
       "cli: local event add of a known dedupe key names the event")
    eq((p.returncode, p.stdout), (0, q.stdout), "cli: remote event add of a known dedupe key prints the same")
    q = nurture(*local, "--json", "event", "add", "cli@x.cn", "page.viewed")
    p = nurture("--url", url, "--json", "event", "add", "cli@x.cn", "page.viewed")
    try:
        keys = (sorted(json.loads(p.stdout)), sorted(json.loads(q.stdout)))
    except ValueError:
        keys = (p.stdout, q.stdout)
    eq(keys[0], keys[1], "cli: remote --json event add prints the fields local prints")

    for args in (("lead", "show", "cli@x.cn"), ("lead", "show", "ana@acme.cn"),
                 ("--json", "lead", "show", "ana@acme.cn"), ("run", "why", "ana@acme.cn"),
                 ("run", "why", "ed@x.cn", "api_demo"), ("flow", "list")):
        q = nurture(*local, *args)
        p = nurture("--url", url, *args)
        ok(p.returncode == 0 and q.returncode == 0 and p.stdout == q.stdout and p.stdout,
           "cli: remote %s prints exactly what local prints" % " ".join(args),
           "remote:\n%s\nlocal:\n%s" % (show(p), show(q)))
    # No --url: http.listen of the config, where a daemon answers. The
    # token the daemon refuses shows the call went there.
    p = nurture("lead", "show", "cli@x.cn")
    q = nurture(*local, "lead", "show", "cli@x.cn")
    eq((p.returncode, p.stdout), (0, q.stdout), "cli: without --url, lead show prints the same")
    p = nurture("lead", "show", "cli@x.cn", env=dict(ENV, NURTURE_TOKEN="not-a-real-token-at-all"))
    eq((p.returncode, p.stderr), (1, "nurture: the token is not valid (HTTP 401)\n"),
       "cli: without --url, a configured http.listen where a daemon answers is used")

    p = nurture("--url", url, "lead", "tag", "cli@x.cn", "remote-tag")
    q = nurture(*local, "lead", "tag", "cli@x.cn", "local-tag")
    eq((p.returncode, p.stdout), (0, q.stdout.replace("local-tag", "remote-tag")),
       "cli: remote lead tag prints what local prints")
    eq(db("SELECT count(*) FROM tag WHERE name = 'remote-tag' AND lead_id = ?", lead), 1,
       "cli: the remote tag is stored")
    p = nurture("--url", url, "lead", "stage", "cli@x.cn", "MQL")
    q = nurture(*local, "lead", "stage", "cli@x.cn", "MQL")
    eq((p.returncode, p.stdout, q.stdout), (0, "lead %s: now MQL\n" % lead, "lead %s: already MQL\n" % lead),
       "cli: remote lead stage prints the lead id, as local does")

    env = dict(ENV, NURTURE_TOKEN="not-a-real-token-at-all")
    p = nurture("--url", url, "lead", "show", "cli@x.cn", env=env)
    eq((p.returncode, p.stdout, p.stderr), (1, "", "nurture: the token is not valid (HTTP 401)\n"),
       "cli: a bad NURTURE_TOKEN fails with the API's message")
    env = dict(ENV, NURTURE_TOKEN=INGEST)
    before = counts()
    p = nurture("--url", url, "run", "why", "cli@x.cn", env=env)
    eq((p.returncode, p.stderr), (1, "nurture: this needs a token with the read scope (HTTP 403)\n"),
       "cli: a token without the scope fails with the API's message")
    p = nurture("--url", url, "event", "add", "cli@x.cn", "Bad Type!")
    q = nurture(*local, "event", "add", "cli@x.cn", "Bad Type!")
    ok(p.returncode == 1 and q.returncode == 1 and p.stderr == q.stderr and "Bad Type!" in p.stderr,
       "cli: an event the API refuses fails with the message local gives", "%s\n%s" % (show(p), show(q)))
    eq(counts(), before, "cli: the refused calls wrote nothing")
    p = nurture("--url", "http://127.0.0.1:%d" % free_port(), "lead", "show", "cli@x.cn")
    ok(p.returncode == 1 and p.stderr.startswith("nurture: cannot reach the daemon at http://127.0.0.1:"),
       "cli: no daemon at --url -> a clear failure", show(p))


# ---------------------------------------------------------------------------
# 9. kill -9 right after a 202

def scenario_kill9(daemon):
    n = 3000
    body = "".join(json.dumps({"type": "batch.item", "email": "batch%d@x.cn" % (i % 40),
                               "props": {"i": i}}) + "\n" for i in range(n))
    ok(len(body) < MAX_BODY, "kill -9: the batch fits in http.max_body")
    before = db("SELECT count(*) FROM event WHERE type = 'batch.item'")
    r = post_events(body, content_type="application/x-ndjson")
    daemon.kill9()
    eq((r.status, (r.json() or {}).get("accepted")), (202, n), "kill -9: the batch was answered 202 (%d accepted)" % n)
    eq(db("SELECT count(*) FROM event WHERE type = 'batch.item'") - before, n,
       "kill -9: all %d events of the batch are in the database" % n)
    ok(daemon.start(), "kill -9: the daemon restarts", daemon.tail())
    total = 0
    for i in range(40):
        total += (profile("batch%d@x.cn" % i, 0) or {}).get("events_total", 0)
    eq(total, n, "kill -9: the API counts all %d events after the restart" % n)


def scenario_late_open():
    """A person opening a while after the send is not a machine."""
    if "pixel" not in STATE:
        ok(False, "late open: the journey produced a pixel")
        return
    left = 10.5 - (time.monotonic() - STATE["sent_at"])
    if left > 0:
        time.sleep(left)
    r = request("GET", STATE["pixel"], headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Thunderbird/115.0"})
    opened = lead_events("ana@acme.cn", "email.opened")
    eq((r.status, opened[0]["props"] if opened else None), (200, {"machine": False, "op_id": STATE["op"]}),
       "late open: an open 10 s after the send by a mail client is a person's (machine false)")


# ---------------------------------------------------------------------------

def main():
    global PORT
    t0 = time.monotonic()
    PORT = free_port()
    fake, cert, smtp_port = start_smtp_fake(ROOT, SMTP_OUT, 300)
    ok(smtp_port and cert, "the SMTP fake started")
    STATE.update(smtp_port=smtp_port, cert=cert)
    daemon = None
    try:
        setup(cert, smtp_port)
        daemon = Daemon(WORK, PORT, "--flows", FLOWS)
        if not ok(daemon.start(), "nurture serve started with the HTTP API on 127.0.0.1:%d" % PORT, daemon.tail()):
            return
        section(scenario_journey)
        section(scenario_slow_mail_server)
        section(scenario_bounces)
        section(scenario_forged_tokens)
        section(scenario_bad_input)
        section(scenario_webhooks)
        section(scenario_flows)
        section(scenario_group_commit)
        section(scenario_sends_in_groups)
        section(scenario_metrics)
        section(scenario_max_connections)
        section(scenario_protocol)
        section(scenario_cli)
        section(scenario_kill9, daemon)
        section(scenario_late_open)
        eq(daemon.stop(), 0, "the daemon stopped cleanly on SIGTERM")
        log = open(LOG).read()
        eq(re.findall(r"^.*(?: error .*(?:bug|answered twice|left a transaction)|Sanitizer|runtime error:).*$",
                      log, re.M), [], "the daemon logged no internal bug (nor a sanitizer report)")
    finally:
        if daemon:
            daemon.stop()
        fake.terminate()
        fake.wait(timeout=10)
        tap.note("run time %.1f s" % (time.monotonic() - t0))
        if os.environ.get("KEEP_WORK"):
            tap.note("work folder kept: " + WORK)
        else:
            shutil.rmtree(WORK, ignore_errors=True)
    tap.done_testing()


if __name__ == "__main__":
    main()
