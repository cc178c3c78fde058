"""Running the nurture binary from Python integration tests.

One Cli object per test script: it owns the temporary working folder and
the environment (NURTURE_CONFIG removed, so each folder's own
./nurture.conf.lua is used), and its calls report through tap.py.
"""
import json
import os
import socket
import subprocess
import tempfile
import traceback

from tap import ok


class Cli:
    def __init__(self, binary, prefix):
        self.binary = os.path.abspath(binary)
        self.work = tempfile.mkdtemp(prefix=prefix)
        self.env = dict(os.environ)
        self.env.pop("NURTURE_CONFIG", None)

    def run(self, *args, cwd=None):
        """Run nurture with args in the work folder (or cwd)."""
        return subprocess.run([self.binary] + list(args), cwd=cwd or self.work, env=self.env,
                              capture_output=True, text=True, timeout=60)

    def run_json(self, *args, cwd=None):
        """Run nurture --json with args; return (process, parsed stdout or None)."""
        p = self.run("--json", *args, cwd=cwd)
        try:
            return p, json.loads(p.stdout)
        except ValueError:
            ok(False, "nurture --json %s prints JSON" % " ".join(args), show(p))
            return p, None

    def exit_is(self, p, want, name):
        return ok(p.returncode == want, name, "want exit %d\n%s" % (want, show(p)))


def show(p):
    return "exit %s\nstdout: %s\nstderr: %s" % (p.returncode, p.stdout[-3000:], p.stderr[-3000:])


def section(fn, *args):
    """Run one group of checks; an exception is a failed test, not a crash."""
    try:
        return fn(*args)
    except Exception:  # noqa: BLE001 - reported as a TAP failure
        ok(False, "%s ran without raising" % fn.__name__, traceback.format_exc())
        return None


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def write(path, text):
    """Writes text (UTF-8) to path, making its folder; returns path."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def stop_process(proc, timeout=15):
    """SIGTERM, SIGKILL if it is still there after timeout seconds; the
    exit status, or None when there was no process."""
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode if proc else None


def start_smtp_fake(root, out, lifetime):
    """Start tests/fakes/smtp_fake.py (Debian's python3: aiosmtpd) on a free
    port, writing messages to out; return (process, CA cert path, port)."""
    fake = subprocess.Popen(["/usr/bin/python3", os.path.join(root, "tests", "fakes", "smtp_fake.py"),
                             "--out", out, "--port", "0", "--user", "nurture", "--password", "s3cret",
                             "--lifetime", str(lifetime)], stdout=subprocess.PIPE, text=True)
    cert = port = None
    for line in fake.stdout:
        if line.startswith("CERT "):
            cert = line.split(" ", 1)[1].strip()
        if line.startswith("PORT "):
            port = int(line.split()[1])
            break
    return fake, cert, port


def dsn(op, rcpt, mx):
    """A delivery status notification (RFC 3464) of a hard bounce of send
    op to rcpt, as the MTA mx would write it, with the VERP address."""
    return f"""From: MAILER-DAEMON@{mx}
Delivered-To: bounce+{op}@nurture.test
Subject: Undelivered Mail Returned to Sender
Content-Type: multipart/report; report-type=delivery-status; boundary="b"

--b
Content-Type: message/delivery-status

Reporting-MTA: dns; {mx}

Final-Recipient: rfc822; {rcpt}
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <{rcpt}>: mailbox unknown
--b--
"""
