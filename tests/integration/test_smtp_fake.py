#!/usr/bin/python3
"""Checks the fake SMTP submission server (tests/fakes/smtp_fake.py) with
Python's smtplib, so the email plugin's tests can trust what it does.

usage: /usr/bin/python3 test_smtp_fake.py [PATH/TO/smtp_fake.py]

Runs under the interpreter that has Debian's python3-aiosmtpd and starts the
fake with that same interpreter.
"""
import importlib.util
import json
import os
import shutil
import signal
import smtplib
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tap  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
USER, PASSWORD = "nurture", "s3cret"


class Fake:
    """One running smtp_fake.py: .port, .cert, .out, stop()."""

    def __init__(self, script, out, *extra):
        self.out = out
        self.proc = subprocess.Popen(
            [sys.executable, script, "--out", out, "--user", USER, "--password", PASSWORD,
             "--lifetime", "120", *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.port = self.cert = None
        deadline = time.monotonic() + 15
        while self.port is None and time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            key, _, value = line.strip().partition(" ")
            if key == "CERT":
                self.cert = value
            elif key == "PORT":
                self.port = int(value)
        if self.port is None:
            self.proc.kill()
            raise RuntimeError("fake did not start: " + self.proc.stderr.read())

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def log(self, name="log.ndjson"):
        try:
            with open(os.path.join(self.out, name)) as f:
                return [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []


def message(msgid, to="lead@example.com", body="Hello.\r\n"):
    return ("From: \"Acme\" <news@acme.example>\r\nTo: <%s>\r\nSubject: test\r\n"
            "Message-ID: <%s>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n%s" % (to, msgid, body)).encode()


def client(fake, tls=True, login=True, timeout=10):
    s = smtplib.SMTP("127.0.0.1", fake.port, local_hostname="acme.example", timeout=timeout)
    s.ehlo()
    if tls:
        s.starttls(context=ssl.create_default_context(cafile=fake.cert))
        s.ehlo()
    if login:
        s.login(USER, PASSWORD)
    return s


def smtp_error(fn):
    """Run fn; return the exception it raised (or None)."""
    try:
        fn()
    except (smtplib.SMTPException, OSError) as e:
        return e
    return None


def main():
    script = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else \
        os.path.join(HERE, "..", "fakes", "smtp_fake.py")
    if importlib.util.find_spec("aiosmtpd") is None:
        print("Bail out! %s cannot import aiosmtpd: install python3-aiosmtpd (make deps)"
              % sys.executable)
        sys.exit(1)
    work = tempfile.mkdtemp(prefix="nurture-smtpfake-")
    try:
        run(script, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    tap.done_testing()


def run(script, work):
    out = os.path.join(work, "out")
    fake = Fake(script, out, "--slow-seconds", "2")
    try:
        checks(fake, out)
    finally:
        status = fake.stop()
    tap.eq(status, 0, "SIGTERM: the fake exits with status 0")
    tap.ok(not os.path.exists(os.path.dirname(fake.cert)), "SIGTERM: its temp dir (cert, key) is removed")

    # --no-require-tls: AUTH in clear text is accepted and logged as tls false.
    out2 = os.path.join(work, "out-plain")
    plain = Fake(script, out2, "--no-require-tls")
    try:
        s = client(plain, tls=False)
        s.sendmail("b@bounce.acme.example", ["plain@example.com"], message("plain.1@acme.example"))
        s.quit()
        log = plain.log()
        tap.ok(len(log) == 1 and log[0]["tls"] is False and log[0]["auth_user"] == USER,
               "--no-require-tls: plaintext AUTH accepted, logged tls false", repr(log))
    finally:
        plain.stop()


def checks(fake, out):
    tap.ok(fake.cert and os.path.isfile(fake.cert), "prints CERT <path> of a readable certificate")

    # 1. Normal message over STARTTLS + AUTH PLAIN.
    s = client(fake)
    tap.ok("starttls" not in s.esmtp_features and "auth" in s.esmtp_features,
           "after STARTTLS, EHLO offers AUTH", repr(s.esmtp_features))
    tap.ok("PLAIN" in s.esmtp_features["auth"] and "LOGIN" in s.esmtp_features["auth"],
           "AUTH PLAIN and LOGIN offered", s.esmtp_features.get("auth"))
    raw = message("run42.seq7@acme.example", body=".leading dot\r\nline two\r\n")
    refused = s.sendmail("b+42.7@bounce.acme.example", ["lead@example.com"], raw)
    tap.eq(refused, {}, "normal message: no recipient refused")
    log = fake.log()
    rec = log[-1] if log else {}
    tap.eq((rec.get("mail_from"), rec.get("rcpt_tos"), rec.get("message_id"), rec.get("tls"),
            rec.get("auth_user")),
           ("b+42.7@bounce.acme.example", ["lead@example.com"], "<run42.seq7@acme.example>", True,
            USER), "normal message logged: from, to, message id, tls, user")
    eml = os.path.join(out, "run42.seq7@acme.example.eml")
    stored = open(eml, "rb").read() if os.path.exists(eml) else b""
    tap.eq(stored, raw, "stored as <message-id>.eml, byte for byte (dot-unstuffed, CRLF)")
    tap.eq((rec.get("size"), rec.get("file")), (len(raw), "run42.seq7@acme.example.eml"),
           "log has size and file name")
    tap.ok(str(rec.get("queue_id", "")).startswith("Q") and rec.get("tls_version", "").startswith("TLS"),
           "log has queue id and TLS version", repr(rec))

    # The same Message-ID again on the same connection: a second file, never overwritten.
    s.sendmail("b+42.7@bounce.acme.example", ["lead@example.com"], raw)
    log = fake.log()
    tap.ok(os.path.exists(os.path.join(out, "run42.seq7@acme.example~2.eml"))
           and log[-1]["file"] == "run42.seq7@acme.example~2.eml"
           and (log[-1]["conn"], log[-1]["txn"]) == (log[-2]["conn"], 2),
           "re-sent Message-ID stored as ~2.eml; conn/txn show connection reuse", repr(log[-2:]))
    s.quit()

    # 2. The 250 reply carries the queue id that the log recorded.
    s = client(fake)
    s.mail("b@bounce.acme.example")
    s.rcpt("qid@example.com")
    code, reply = s.data(message("qid.1@acme.example"))
    s.quit()
    tap.ok(code == 250 and reply.decode().endswith("queued as " + fake.log()[-1]["queue_id"]),
           "DATA reply is '250 2.0.0 Ok: queued as <queue_id>'", reply)

    # 3. AUTH LOGIN works too.
    s = client(fake, login=False)
    s.user, s.password = USER, PASSWORD
    code, _ = s.auth("LOGIN", s.auth_login)
    s.quit()
    tap.eq(code, 235, "AUTH LOGIN accepted")

    # 4. AUTH before STARTTLS is refused (and not even offered).
    s = client(fake, tls=False, login=False)
    offered = "auth" in s.esmtp_features
    code, reply = s.docmd("AUTH", "PLAIN AG51cnR1cmUAczNjcmV0")   # \0nurture\0s3cret
    mail = s.mail("b@bounce.acme.example")
    s.close()
    tap.ok(not offered and code == 530, "AUTH before STARTTLS refused with 530",
           "offered=%r %r %r" % (offered, code, reply))
    tap.eq(mail[0], 530, "MAIL before STARTTLS refused with 530")

    # 5. Wrong password; and no AUTH at all.
    e = smtp_error(lambda: client(fake, login=False).login(USER, "wrong"))
    tap.ok(isinstance(e, smtplib.SMTPAuthenticationError) and e.smtp_code == 535,
           "wrong password refused with 535", repr(e))
    s = client(fake, login=False)
    mail = s.mail("b@bounce.acme.example")
    s.close()
    tap.ok(mail[0] == 530 and b"5.7.0" in mail[1], "MAIL without AUTH refused with 530 5.7.0",
           repr(mail))

    # 6. tempfail+ and reject+ at RCPT.
    n = len(fake.log())
    s = client(fake)
    e = smtp_error(lambda: s.sendmail("b@x.example", ["tempfail+1@example.com"], message("t.1@x")))
    tap.ok(isinstance(e, smtplib.SMTPRecipientsRefused)
           and e.recipients["tempfail+1@example.com"][0] == 451
           and b"4.3.0" in e.recipients["tempfail+1@example.com"][1],
           "tempfail+ gets 451 4.3.0 at RCPT", repr(e))
    e = smtp_error(lambda: s.sendmail("b@x.example", ["reject+1@example.com"], message("r.1@x")))
    tap.ok(isinstance(e, smtplib.SMTPRecipientsRefused)
           and e.recipients["reject+1@example.com"][0] == 550
           and b"5.1.1" in e.recipients["reject+1@example.com"][1],
           "reject+ gets 550 5.1.1 at RCPT", repr(e))

    # 7. Mixed recipients: only the good one gets the message.
    refused = s.sendmail("b@x.example", ["reject+2@example.com", "good@example.com"],
                         message("mixed.1@acme.example"))
    s.quit()
    log = fake.log()
    tap.eq(list(refused), ["reject+2@example.com"], "mixed: smtplib reports the 550 recipient")
    tap.ok(len(log) == n + 1 and log[-1]["rcpt_tos"] == ["good@example.com"]
           and [r["code"] for r in log[-1]["rejected"]] == [550],
           "mixed: stored for the good recipient only, refusal noted in the log", repr(log[n:]))

    # 8. drop+: DATA is read, then the connection closes with no reply.
    s = client(fake)
    e = smtp_error(lambda: s.sendmail("b@x.example", ["drop+1@example.com"], message("drop.1@x")))
    s.close()
    dropped = fake.log("dropped.ndjson")
    tap.ok(isinstance(e, smtplib.SMTPServerDisconnected), "drop+: SMTPServerDisconnected after DATA",
           repr(e))
    tap.ok(len(fake.log()) == n + 1 and not os.path.exists(os.path.join(out, "drop.1@x.eml"))
           and dropped and dropped[-1]["message_id"] == "<drop.1@x>",
           "drop+: not stored, recorded in dropped.ndjson", repr(dropped))

    # 9. slow+: the final reply comes after --slow-seconds (2).
    s = client(fake)
    t0 = time.monotonic()
    refused = s.sendmail("b@x.example", ["slow+1@example.com"], message("slow.1@x"))
    took = time.monotonic() - t0
    s.quit()
    tap.ok(refused == {} and took >= 2.0, "slow+: 250 after >= 2 s", "took %.2f s" % took)
    tap.ok(took < 4.0 and fake.log()[-1]["slow_seconds"] == 2,
           "slow+: not much later, delay logged", "took %.2f s" % took)


if __name__ == "__main__":
    main()
