#!/usr/bin/python3
"""smtp_fake.py - a local fake SMTP submission server for nurture's tests.

Built on aiosmtpd (Debian package python3-aiosmtpd, 1.4.x); run it with
/usr/bin/python3, the interpreter that sees Debian's python3-* modules.

    /usr/bin/python3 tests/fakes/smtp_fake.py --out DIR [--port N] [--user U]
        [--password P] [--slow-seconds S] [--require-tls | --no-require-tls]
        [--lifetime S]

Listens on 127.0.0.1 only. At start it makes a self-signed certificate
(CN=localhost, SAN DNS:localhost and IP:127.0.0.1) with the openssl tool in a
temporary directory, then prints to stdout, each line flushed:

    CERT /tmp/smtp-fake-XXXX/cert.pem     trust this (CURLOPT_CAINFO, cafile=)
    PORT 40123                            last line: the server is accepting

Protocol: EHLO advertises SIZE, 8BITMIME, SMTPUTF8, STARTTLS and, once TLS is
up, AUTH LOGIN PLAIN. With --require-tls (the default) every command other
than EHLO/HELO/NOOP/QUIT/STARTTLS before STARTTLS gets "530 Must issue a
STARTTLS command first", and MAIL/RCPT/DATA before a successful AUTH get
"530 5.7.0 Authentication required". A wrong user or password gets
"535 5.7.8 Authentication credentials invalid". With --no-require-tls,
AUTH is offered and accepted in clear text (still required).

Behaviour by recipient local part (case-insensitive; "kw" or "kw+anything"):
    tempfail   RCPT -> 451 4.3.0 <addr>: Temporary failure, try again later
    reject     RCPT -> 550 5.1.1 <addr>: Recipient address rejected: User unknown
    drop       DATA is read in full, then the connection is closed with no
               reply; the message is NOT stored, a line goes to dropped.ndjson
    slow       the message is stored and logged, then the final DATA reply
               comes --slow-seconds later (the fake committed it even if the
               client gives up waiting: the "sent but no verdict" case)
    other      RCPT -> 250 2.1.5 Ok
drop wins over slow when both appear in one transaction. Accepted messages get
    250 2.0.0 Ok: queued as <QUEUE_ID>
where QUEUE_ID is "Q" + 10 upper-case hex digits, unique per run.

Output (--out DIR, created if missing):
    DIR/<message-id>.eml   the exact bytes received after DATA (CRLF kept,
                           dot-stuffing undone). Name = Message-ID without <>,
                           characters outside [A-Za-z0-9._@+=-] replaced by
                           '_', at most 200 chars; the queue id when there is
                           no Message-ID; "~2", "~3"... appended before .eml
                           when the name is taken (a re-sent message never
                           overwrites the first copy). Written atomically.
    DIR/log.ndjson         one JSON object per accepted message, appended
                           and flushed BEFORE the 250 reply is sent.
    DIR/dropped.ndjson     same fields for drop+ transactions (file = null).
Log fields: ts (unix seconds), queue_id, conn (connection number: 1, 2, ...
in order of each connection's first MAIL FROM), txn (DATA transaction number
within that connection, from 1; same conn with txn 2, 3... = connection
reuse), mail_from, mail_options, rcpt_tos (accepted recipients, in order), rejected
([{"rcpt", "code", "reply"}] for refused RCPTs of this transaction),
message_id (header value with <>, or null), size (bytes of the message),
auth_user (or null), tls (bool), tls_version, file (name in DIR, or null),
slow_seconds (delay applied to the reply, 0 if none).

Stops on SIGTERM/SIGINT (exit status 0) and removes its temporary directory;
also stops by itself after --lifetime seconds (default 900, 0 = never) so a
forgotten fake cannot linger.
"""
import argparse
import asyncio
import itertools
import json
import logging
import os
import re
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import warnings
from email.parser import BytesHeaderParser

try:
    from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
except ImportError:
    sys.stderr.write("smtp_fake: aiosmtpd is not importable by %s; install the Debian package "
                     "python3-aiosmtpd and run this with /usr/bin/python3\n" % sys.executable)
    sys.exit(2)

BEHAVIOURS = ("tempfail", "reject", "drop", "slow")


def behaviour(address):
    """The scripted behaviour for a recipient address, or None."""
    local = address.rsplit("@", 1)[0].lower()
    for kw in BEHAVIOURS:
        if local == kw or local.startswith(kw + "+"):
            return kw
    return None


def make_cert(tmpdir):
    """Self-signed key + certificate for CN=localhost, SAN localhost and 127.0.0.1."""
    key = os.path.join(tmpdir, "key.pem")
    cert = os.path.join(tmpdir, "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "7", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)
    return cert, key


def safe_name(message_id, fallback):
    name = (message_id or "").strip()
    if name.startswith("<") and name.endswith(">"):
        name = name[1:-1]
    name = re.sub(r"[^A-Za-z0-9._@+=-]", "_", name)[:200].lstrip(".")
    return name or fallback


class Store:
    def __init__(self, out):
        self.out = out
        os.makedirs(out, exist_ok=True)

    def write_eml(self, base, data):
        """Write data as OUT/<base>.eml (or <base>~N.eml), atomically; return the name."""
        for n in itertools.count(1):
            name = base + (".eml" if n == 1 else "~%d.eml" % n)
            path = os.path.join(self.out, name)
            if not os.path.exists(path):
                break
        tmp = os.path.join(self.out, ".%s.tmp" % name)
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return name

    def log(self, which, record):
        with open(os.path.join(self.out, which), "a") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
            f.flush()


class Handler:
    def __init__(self, store, slow_seconds):
        self.store = store
        self.slow_seconds = slow_seconds
        self.conns = itertools.count(1)

    @staticmethod
    def _state(session):
        # Per-connection bookkeeping lives on the aiosmtpd Session object.
        if not hasattr(session, "fake"):
            session.fake = {"conn": None, "txn": 0, "rejected": []}
        return session.fake

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        st = self._state(session)
        if st["conn"] is None:
            st["conn"] = next(self.conns)
        st["rejected"] = []
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 Ok"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        st = self._state(session)
        kind = behaviour(address)
        if kind == "tempfail":
            reply = "451 4.3.0 <%s>: Temporary failure, try again later" % address
        elif kind == "reject":
            reply = "550 5.1.1 <%s>: Recipient address rejected: User unknown" % address
        else:
            envelope.rcpt_tos.append(address)
            envelope.rcpt_options.append(rcpt_options)
            return "250 2.1.5 Ok"
        st["rejected"].append({"rcpt": address, "code": int(reply[:3]), "reply": reply})
        return reply

    async def handle_DATA(self, server, session, envelope):
        st = self._state(session)
        st["txn"] += 1
        data = envelope.original_content or b""
        kinds = {behaviour(a) for a in envelope.rcpt_tos}
        qid = "Q" + secrets.token_hex(5).upper()
        try:
            message_id = BytesHeaderParser().parsebytes(data).get("Message-ID")
            message_id = str(message_id).strip() if message_id is not None else None
        except Exception:
            message_id = None
        tls_version = None
        if session.ssl is not None:
            obj = session.ssl.get("ssl_object") if isinstance(session.ssl, dict) else None
            tls_version = obj.version() if obj is not None else None
        login = getattr(session.auth_data, "login", None) if session.authenticated else None
        record = {
            "ts": round(time.time(), 3), "queue_id": qid, "conn": st["conn"], "txn": st["txn"],
            "mail_from": envelope.mail_from, "mail_options": list(envelope.mail_options),
            "rcpt_tos": list(envelope.rcpt_tos), "rejected": st["rejected"],
            "message_id": message_id, "size": len(data),
            "auth_user": login.decode("utf-8", "replace") if isinstance(login, bytes) else login,
            "tls": session.ssl is not None, "tls_version": tls_version,
            "file": None, "slow_seconds": 0,
        }
        st["rejected"] = []
        if "drop" in kinds:
            self.store.log("dropped.ndjson", record)
            # Close the TCP connection under any TLS layer: the client gets
            # EOF where it expects the reply to the final dot.
            raw = getattr(server, "_original_transport", None) or server.transport
            raw.close()
            # connection_lost() cancels this coroutine; nothing is ever answered.
            await asyncio.sleep(3600)
            return "421 4.3.0 unreachable"
        if "slow" in kinds:
            record["slow_seconds"] = self.slow_seconds
        record["file"] = self.store.write_eml(safe_name(message_id, qid), data)
        self.store.log("log.ndjson", record)
        if record["slow_seconds"]:
            await asyncio.sleep(self.slow_seconds)
        return "250 2.0.0 Ok: queued as " + qid


def make_authenticator(user, password):
    want = (user.encode("utf-8"), password.encode("utf-8"))

    def authenticator(server, session, envelope, mechanism, auth_data):
        if (isinstance(auth_data, LoginPassword)
                and (auth_data.login, auth_data.password) == want):
            return AuthResult(success=True, auth_data=auth_data)
        return AuthResult(success=False, handled=False)
    return authenticator


async def serve(args, cert, key):
    loop = asyncio.get_running_loop()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    handler = Handler(Store(args.out), args.slow_seconds)
    authenticator = make_authenticator(args.user, args.password)
    live = set()

    def factory():
        proto = SMTP(handler, hostname="localhost", ident="nurture smtp_fake", loop=loop,
                     tls_context=ctx, require_starttls=args.require_tls,
                     auth_required=True, auth_require_tls=args.require_tls,
                     authenticator=authenticator, enable_SMTPUTF8=True, decode_data=False)
        live.add(proto)
        return proto

    server = await loop.create_server(factory, host="127.0.0.1", port=args.port)
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    if args.lifetime > 0:
        loop.call_later(args.lifetime, lambda: stop.done() or stop.set_result(None))
    port = server.sockets[0].getsockname()[1]
    print("CERT %s" % cert, flush=True)
    print("PORT %d" % port, flush=True)
    await stop
    server.close()
    for proto in live:
        t = getattr(proto, "_original_transport", None) or proto.transport
        if t is not None:
            t.abort()
    await server.wait_closed()
    await asyncio.sleep(0)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 = any free port)")
    p.add_argument("--out", required=True, help="folder for .eml files, log.ndjson, dropped.ndjson")
    p.add_argument("--user", default="nurture")
    p.add_argument("--password", default="s3cret")
    p.add_argument("--slow-seconds", type=float, default=5.0,
                   help="delay of the final DATA reply when a slow+ recipient is present")
    p.add_argument("--require-tls", action=argparse.BooleanOptionalAction, default=True,
                   help="require STARTTLS before anything else and before AUTH (default on)")
    p.add_argument("--lifetime", type=float, default=900.0,
                   help="exit after this many seconds (0 = run until SIGTERM/SIGINT)")
    args = p.parse_args()
    warnings.simplefilter("ignore")     # aiosmtpd warns about AUTH without TLS
    # aiosmtpd 1.4 itself sets the deprecated Session.login_data on every AUTH
    # and logs a warning for it; keep its other warnings and errors on stderr.
    logging.getLogger("mail.log").addFilter(lambda r: "login_data" not in r.getMessage())
    tmpdir = tempfile.mkdtemp(prefix="smtp-fake-")
    try:
        try:
            cert, key = make_cert(tmpdir)
        except (OSError, subprocess.CalledProcessError) as e:
            err = getattr(e, "stderr", b"") or b""
            sys.stderr.write("smtp_fake: openssl failed: %s %s\n" % (e, err.decode(errors="replace")))
            return 2
        asyncio.run(serve(args, cert, key))
        return 0
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
