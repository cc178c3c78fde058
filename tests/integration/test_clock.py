#!/usr/bin/env python3
"""The simulated clock moved by the running daemon (GET /v1/clock, POST
/v1/clock/advance, `nurture clock` in remote mode), as TAP.

    test_clock.py NURTURE REPO_ROOT BUILD_ROOT

A daemon with the real email plugin (to the SMTP fake: STARTTLS, AUTH) and
the mock standing in for wechat runs a flow that sends, sleeps, sends
again. Advances over the API and the CLI must fire each timer at its own
time and let each send complete there: the Date header of every message
and every receipt (email.sent, mock.delivered) carry the simulated time of
the stop, and a flow triggered by a receipt starts at that time. Also: the
endpoint's auth, bad input, a second advance while one runs (409), sends
that never complete (504, the clock stopped where they were sent), the
daemon stopped during an advance, and the offset read back offline.
"""
import email as pyemail
import glob
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
from nurture_cli import free_port, section, show, start_smtp_fake, stop_process, write  # noqa: E402
from tap import eq, ok  # noqa: E402

if len(sys.argv) != 4:
    sys.exit("usage: test_clock.py NURTURE REPO_ROOT BUILD_ROOT")
NURTURE, ROOT, BUILD = (os.path.abspath(a) for a in sys.argv[1:4])
WORK = tempfile.mkdtemp(prefix="nurture-clock-test-")
os.chmod(WORK, 0o755)
DAY, HOUR, MINUTE = 86400000, 3600000, 60000
SLACK = MINUTE        # real time that passes while a stop settles, and then some

ADMIN = "admin-" + secrets.token_hex(12)
READ = "read-" + secrets.token_hex(12)
INGEST = "ingest-" + secrets.token_hex(12)
ENV = {k: v for k, v in os.environ.items() if k not in ("NURTURE_CONFIG", "NURTURE_URL", "NURTURE_TOKEN")}

TEMPLATE = """Subject: Note {{step}} for {{lead.name|you}}

<html><body><p>Step {{step}}. <a href="https://example.cn/next">Next</a></p></body></html>
"""

# Sends, waits, sends again; the WeChat send goes to the mock.
CADENCE = """return { name = "cadence", trigger = { event = "signup" },
  run = function(lead)
    send("email", { template = "note", step = "1" })
    sleep("2d")
    send("email", { template = "note", step = "2" })
    sleep("1d")
    send("wechat", { template = "ping" })
    sleep("1d")
    lead:tag("cadence:done")
  end }
"""

# Started by the plugin's receipt: it starts when the engine reads it.
ON_SENT = """return { name = "on_sent", trigger = { event = "email.sent" }, reentry = "always",
  run = function(lead, event)
    lead:tag("receipt:" .. tostring(event.op_id))
  end }
"""


class Resp:
    def __init__(self, status, body):
        self.status, self.body = status, body

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return {}

    def error(self):
        e = self.json().get("error", {})
        return self.status, e.get("code"), e.get("field")

    def __repr__(self):
        return "HTTP %d %r" % (self.status, self.body[:500])


def request(port, method, path, body=None, token=ADMIN, content_type="application/json", timeout=30):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    h = {"Authorization": "Bearer " + token} if token else {}
    if body is not None:
        h["Content-Type"] = content_type
        if not isinstance(body, (str, bytes)):
            body = json.dumps(body)
    try:
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        return Resp(r.status, r.read())
    finally:
        c.close()


def wait_for(fn, timeout=15.0):
    end = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() > end:
            return v
        time.sleep(0.05)


class Daemon:
    def __init__(self, folder, port):
        self.folder, self.port, self.proc = folder, port, None

    def start(self):
        self.log = os.path.join(self.folder, "serve.log")
        logf = open(self.log, "a")
        self.proc = subprocess.Popen([NURTURE, "serve", "--flows", "flows"], cwd=self.folder, env=ENV,
                                     stdout=logf, stderr=logf)
        logf.close()
        return wait_for(lambda: self.proc.poll() is not None or "HTTP API on" in open(self.log).read()) \
            and self.proc.poll() is None

    def stop(self):
        return stop_process(self.proc)

    def tail(self):
        return open(self.log).read()[-3000:]


def folder(name, smtp, cert, port):
    """A daemon's folder: config, plugins (mode 0755), flows, templates."""
    d = os.path.join(WORK, name)
    for sub in ("", "plugins", "flows", "templates"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
        os.chmod(os.path.join(d, sub), 0o755)
    for so in ("nurture-email.so", "nurture-mock.so"):
        shutil.copy(os.path.join(BUILD, "plugins", so), os.path.join(d, "plugins"))
        os.chmod(os.path.join(d, "plugins", so), 0o755)
    write(os.path.join(d, "templates", "note.tmpl"), TEMPLATE)
    write(os.path.join(d, "nurture.conf.lua"), f"""return {{
  database = "d.db",
  plugins = {{
    dir = "plugins",
    email = {{ smtp_url = "smtp://127.0.0.1:{smtp}", smtp_user = "nurture", smtp_password = "s3cret",
              smtp_cainfo = "{cert}", from = "news@nurture.test", templates = "{d}/templates",
              domain = "nurture.test", timeout_ms = 20000 }},
    mock = {{ channels = "wechat" }},
  }},
  http = {{
    listen = "127.0.0.1:{port}", tracking_key = "{secrets.token_hex(16)}",
    tokens = {{ {{ token = "{ADMIN}", scopes = {{ "admin" }} }}, {{ token = "{READ}", scopes = {{ "read" }} }},
               {{ token = "{INGEST}", scopes = {{ "ingest" }} }} }},
  }},
}}
""")
    p = nurture(d, "-q", "init")
    eq(p.returncode, 0, "%s: init" % name)
    return d


def nurture(cwd, *args):
    return subprocess.run([NURTURE, *args], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=120)


def db(d, sql, *args):
    con = sqlite3.connect("file:%s?mode=ro" % os.path.join(d, "d.db"), uri=True, timeout=10)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def clock_ms(port):
    return request(port, "GET", "/v1/clock").json().get("now_ms", 0)


def near(got, want, slack=SLACK):
    return got is not None and want - 1000 <= got <= want + slack


def mails(out):
    """{step: (Date in ms, path)} of the messages the fake stored."""
    found = {}
    for path in glob.glob(os.path.join(out, "*.eml")):
        with open(path, "rb") as f:
            msg = pyemail.message_from_binary_file(f, policy=policy.default)
        m = re.match(r"Note (\d)", str(msg["Subject"]))
        if m:
            found[m.group(1)] = (int(msg["Date"].datetime.timestamp() * 1000), path)
    return found


# ---------------------------------------------------------------------------

S = {}


def scenario_timing(d, port, out):
    r = request(port, "POST", "/v1/events", {"type": "signup", "email": "ana@x.cn"}, token=INGEST)
    eq(r.status, 202, "signup stored")
    ok(wait_for(lambda: "1" in mails(out)), "the first email reached the SMTP fake in real time")
    t0 = clock_ms(port)
    S["t0"] = t0
    ok(abs(t0 - time.time() * 1000) < SLACK, "the clock starts at wall time", str(t0))

    # CLI, remote: the config's http.listen answers.
    p = nurture(d, "clock", "advance", "1d")
    ok(p.returncode == 0 and re.match(r"clock advanced 1d to \d{4}-\d\d-\d\dT[\d:]+Z: \d+ engine steps on the way,"
                                      r" no sends$", p.stdout.strip()),
       "nurture clock advance 1d goes through the daemon: nothing due yet, no sends", show(p))
    ok("clock advance by 1d started" in open(os.path.join(d, "serve.log")).read(), "the daemon did the advance")
    eq(set(mails(out)), {"1"}, "after 1d: still one email")

    p = nurture(d, "clock", "advance", "1d")
    ok(p.returncode == 0 and p.stdout.strip().endswith("engine steps on the way, 1 send (email 1)"),
       "the second day sends the second email", show(p))
    m = mails(out)
    ok("2" in m, "the second email reached the SMTP fake during the advance, not after")
    rows = db(d, "SELECT o.op_id, o.created_at, e.at FROM outbox o JOIN event e ON e.type = 'email.sent'"
                 " AND json_extract(e.props, '$.op_id') = o.op_id WHERE o.channel = 'email' ORDER BY o.created_at")
    # The flow's sleeps start when the first send's outcome comes back, a
    # moment before t0 was read (the test polled the fake meanwhile): the
    # stops are due from that receipt, not from t0.
    start = rows[0][2] if rows else t0
    if "2" in m:
        ok(near(m["2"][0], start + 2 * DAY), "its Date header is the simulated time of the stop (start + 2d)",
           "Date %d, want %d" % (m["2"][0], start + 2 * DAY))
    eq(len(rows), 2, "two email.sent receipts from the plugin")
    if len(rows) == 2:
        op, queued, receipt = rows[1]
        ok(near(queued, start + 2 * DAY), "the second send was queued when its 2d timer fired")
        ok(queued <= receipt <= queued + SLACK, "its receipt is recorded at that time, not after the advance",
           "queued %d, receipt %d" % (queued, receipt))
        tags = db(d, "SELECT t.at FROM tag t WHERE t.name = ?", "receipt:%d" % op)
        ok(tags and receipt <= tags[0][0] <= receipt + SLACK,
           "a flow triggered by the receipt ran at the receipt's time", str(tags))

    r = request(port, "POST", "/v1/clock/advance", {"by": "2d"})
    a = r.json()
    ok(r.status == 200 and a.get("sends") == {"wechat": 1}, "POST /v1/clock/advance 2d: 200, sends {wechat: 1}", repr(r))
    eq(sorted(a), ["now", "now_ms", "offset_ms", "sends", "steps", "stops"], "the answer's keys")
    ok(near(a.get("now_ms"), t0 + 4 * DAY, 5 * SLACK), "now is t0 + 4d", repr(r))
    delivered = db(d, "SELECT e.at, json_extract(e.props, '$.channel') FROM event e WHERE e.type = 'mock.delivered'")
    ok(len(delivered) == 1 and near(delivered[0][0], start + 3 * DAY) and delivered[0][1] == "wechat",
       "the mock's receipt for the WeChat send is at start + 3d, channel wechat", str(delivered))
    eq(db(d, "SELECT status FROM run WHERE flow = 'cadence'"), [("completed",)], "the flow ran to its end")
    eq(db(d, "SELECT state, count(*) FROM outbox GROUP BY state"), [("sent", 3)], "three sends, all sent")

    p = nurture(d, "clock")
    ok(p.returncode == 0 and re.search(r"\(wall clock \+ 4d", p.stdout), "nurture clock (remote) shows the offset",
       show(p))
    p = nurture(d, "--json", "clock", "advance", "1h")
    j = json.loads(p.stdout) if p.returncode == 0 else {}
    ok(j.get("steps") == 0 and j.get("sends") == {} and j.get("offset_ms", 0) > 4 * DAY,
       "nurture --json clock advance prints the daemon's answer", show(p))
    S["offset"] = j.get("offset_ms")


def scenario_auth_and_input(port):
    eq(request(port, "POST", "/v1/clock/advance", {"by": "1d"}, token=None).error()[:2], (401, "unauthorized"),
       "no token: 401")
    eq(request(port, "POST", "/v1/clock/advance", {"by": "1d"}, token=INGEST).error()[:2], (403, "forbidden"),
       "an ingest token: 403")
    eq(request(port, "POST", "/v1/clock/advance", {"by": "1d"}, token=READ).error()[:2], (403, "forbidden"),
       "a read token: 403")
    r = request(port, "GET", "/v1/clock", token=READ)
    ok(r.status == 200 and r.json().get("advancing") is False, "GET /v1/clock with a read token: 200", repr(r))
    before = clock_ms(port)
    cases = [
        ({"by": "-1d"}, "by", "negative"),
        ({"by": "banana"}, "by", "expected a number"),
        ({"by": 5}, "by", "duration"),
        ({}, "by", "missing"),
        (None, "by", "how far"),          # no body at all
        ({"by": "1d", "when": "now"}, "when", "unknown field"),
        ({"by": "1d", "settle": "0s"}, "settle", "1ms to 10m"),
    ]
    for body, field, words in cases:
        r = request(port, "POST", "/v1/clock/advance", body)
        st, code, f = r.error()
        msg = r.json().get("error", {}).get("message", "")
        what = "no body" if body is None else json.dumps(body)
        ok(st == 400 and f == field and words in msg, "bad input, %s: 400 naming %s" % (what, field), repr(r))
    ok(near(clock_ms(port), before, 5000), "bad input moved nothing")
    p = nurture(os.path.join(WORK, "main"), "clock", "advance", "-1d")
    ok(p.returncode == 2 and "negative" in p.stderr, "the CLI refuses a negative duration before asking", show(p))


def blackhole():
    """A port that takes connections and never says a word: an SMTP
    server whose greeting never comes."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    return s


def scenario_stuck_and_busy(cert):
    hole = blackhole()
    port = free_port()
    d = folder("stuck", hole.getsockname()[1], cert, port)
    write(os.path.join(d, "flows", "one.lua"), """return { name = "one", trigger = { event = "signup" },
  run = function(lead)
    send("email", { template = "note", step = "1" })
    sleep("12h")
    lead:tag("one:done")
  end }
""")
    daemon = Daemon(d, port)
    try:
        if not ok(daemon.start(), "a daemon whose SMTP server never answers started"):
            return
        eq(request(port, "POST", "/v1/events", {"type": "signup", "email": "bo@x.cn"}, token=INGEST).status, 202,
           "signup stored")
        ok(wait_for(lambda: db(d, "SELECT count(*) FROM outbox WHERE state = 'sending'") == [(1,)]),
           "its email is in flight")
        t0 = clock_ms(port)
        result = {}
        thread = threading.Thread(target=lambda: result.update(r=request(port, "POST", "/v1/clock/advance",
                                                                         {"by": "1d", "settle": "2s"})))
        started = time.monotonic()
        thread.start()
        ok(wait_for(lambda: request(port, "GET", "/v1/clock").json().get("advancing"), 5),
           "GET /v1/clock says an advance is running")
        r = request(port, "POST", "/v1/clock/advance", {"by": "1h"})
        ok(r.error()[:2] == (409, "conflict") and "already running" in r.body.decode(),
           "a second advance meanwhile: 409", repr(r))
        p = nurture(d, "clock", "advance", "1h")
        ok(p.returncode == 1 and "already running" in p.stderr and "HTTP 409" in p.stderr,
           "the CLI says so too (exit 1)", show(p))
        thread.join(30)
        r = result.get("r")
        took = time.monotonic() - started
        ok(r is not None and r.error()[:2] == (504, "sends_in_flight"), "the stuck advance answers 504 sends_in_flight",
           repr(r))
        msg = r.json().get("error", {}).get("message", "") if r else ""
        ok("1 send still in flight" in msg and "(email 1)" in msg and "without one completing" in msg,
           "the message says how many sends, on which channel", msg)
        ok(2 <= took < 10, "it gave up after the 2 s settle time (%.1f s)" % took)
        ok(near(clock_ms(port), t0, 10000), "the clock stayed where the email was sent, before the 12h timer")
        eq(db(d, "SELECT count(*) FROM tag WHERE name = 'one:done'"), [(0,)], "the timer did not fire")
        ok(re.search(r"error http: POST /v1/clock/advance: 1 send still in flight", daemon.tail()),
           "the daemon logged it", daemon.tail())

        # Stopping the daemon during an advance: answered or closed, never hung.
        thread = threading.Thread(target=lambda: result.update(r2=catch(lambda: request(
            port, "POST", "/v1/clock/advance", {"by": "1d", "settle": "30s"}))))
        thread.start()
        ok(wait_for(lambda: request(port, "GET", "/v1/clock").json().get("advancing"), 5), "another advance runs")
        daemon.proc.send_signal(signal.SIGTERM)
        # Closing the silent server's socket resets the connection the email
        # is waiting on: libcurl's SMTP teardown blocks the daemon's exit
        # until the server answers or goes (http_client.c, not the advance).
        time.sleep(1)
        hole.close()
        try:
            rc = daemon.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            rc = None
        eq(rc, 0, "SIGTERM during an advance: the daemon stops, exit 0")
        thread.join(15)
        r2 = result.get("r2")
        ok(not thread.is_alive() and (isinstance(r2, Exception) or r2.status == 503),
           "the advance's client got 503 or a closed connection", repr(r2))
    finally:
        daemon.stop()
        hole.close()


def catch(fn):
    try:
        return fn()
    except Exception as e:  # noqa: BLE001 - the closed connection is the answer
        return e


def scenario_offline(d):
    p = nurture(d, "--json", "clock")
    j = json.loads(p.stdout) if p.returncode == 0 else {}
    ok(S.get("offset") and abs(j.get("offset_ms", 0) - S["offset"]) < 1000,
       "with the daemon stopped, nurture clock reads the offset it saved", show(p))


def main():
    fake, cert, smtp = start_smtp_fake(ROOT, os.path.join(WORK, "smtp-out"), 300)
    ok(smtp and cert, "the SMTP fake started")
    port = free_port()
    d = folder("main", smtp, cert, port)
    write(os.path.join(d, "flows", "cadence.lua"), CADENCE)
    write(os.path.join(d, "flows", "on_sent.lua"), ON_SENT)
    daemon = Daemon(d, port)
    try:
        if ok(daemon.start(), "the daemon started with the email and mock plugins"):
            section(scenario_timing, d, port, os.path.join(WORK, "smtp-out"))
            section(scenario_auth_and_input, port)
        eq(daemon.stop(), 0, "the daemon stopped cleanly")
        section(scenario_offline, d)
        section(scenario_stuck_and_busy, cert)
    finally:
        daemon.stop()
        fake.terminate()
        fake.wait(timeout=10)
        shutil.rmtree(WORK, ignore_errors=True)
    tap.done_testing()


if __name__ == "__main__":
    main()
