#!/usr/bin/env python3
"""mailbox.py - what tools/demo.sh shows of the demo's sends and the mail
sink (standard library only; reads the database read-only).

    mailbox.py wait DB SECONDS        until the engine read every event and no send
                                      is in flight or due now
    mailbox.py templates DB [N]       emails sent, by template (the N most used)
    mailbox.py list MAILDIR N         N messages of the sink: To, Subject, a link
    mailbox.py show MAILDIR ADDRESS   the first message to ADDRESS, rendered
"""
import email
import glob
import os
import re
import sqlite3
import sys
import textwrap
import time
from email import policy


def connect(db):
    return sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=10)


def wait(db, seconds):
    """Sends the daemon is still working on: handed to a channel, or due
    at the database's (possibly simulated) clock."""
    end = time.monotonic() + float(seconds)
    left = -1
    while time.monotonic() < end:
        con = connect(db)
        try:
            offset = con.execute("SELECT coalesce((SELECT value FROM setting"
                                 " WHERE key = 'clock_offset_ms'), 0)").fetchone()[0]
            left = con.execute("SELECT count(*) FROM outbox WHERE state = 'sending' OR"
                               " (state = 'pending' AND next_try <= ?)",
                               (int(time.time() * 1000) + int(offset),)).fetchone()[0]
            # Events the engine has not read yet may still start sends.
            left += con.execute("SELECT coalesce(max(id), 0) > coalesce((SELECT value FROM engine_cursor"
                                " WHERE name = 'event'), 0) FROM event").fetchone()[0]
        finally:
            con.close()
        if left == 0:
            return 0
        time.sleep(0.1)
    print("  (%d sends still on their way after %s s)" % (left, seconds))
    return 0


def templates(db, n=12):
    con = connect(db)
    rows = con.execute("SELECT json_extract(message, '$.template'), count(*) FROM outbox"
                       " WHERE channel = 'email' AND state = 'sent' GROUP BY 1"
                       " ORDER BY 2 DESC, 1").fetchall()
    con.close()
    total = sum(c for _, c in rows)
    print("%d emails sent from %d templates (flows/templates/<name>.tmpl):" % (total, len(rows)))
    for name, count in rows[:int(n)]:
        print("  %5d  %s" % (count, name))
    if len(rows) > int(n):
        rest = rows[int(n):]
        print("  %5d  … %d more templates" % (sum(c for _, c in rest), len(rest)))
    con = connect(db)
    failed = con.execute("SELECT state, coalesce(error, ''), count(*) FROM outbox"
                         " WHERE channel = 'email' AND state NOT IN ('sent', 'pending', 'sending')"
                         " GROUP BY 1, 2 ORDER BY 3 DESC").fetchall()
    con.close()
    for state, error, count in failed:
        print("%d emails %s: %s" % (count, state, error or "(no reason given)"))


def messages(maildir):
    """(date, path, message) of every stored message, oldest first."""
    out = []
    for path in glob.glob(os.path.join(maildir, "*.eml")):
        with open(path, "rb") as f:
            msg = email.message_from_binary_file(f, policy=policy.default)
        out.append((msg["Date"].datetime if msg["Date"] else None, path, msg))
    out.sort(key=lambda m: (m[0].timestamp() if m[0] else 0, m[1]))
    return out


def html_of(msg):
    part = msg.get_body(preferencelist=("html",))
    return part.get_content() if part else ""


def text_of(msg):
    part = msg.get_body(preferencelist=("plain",))
    return part.get_content() if part else ""


def first_click(msg):
    m = re.search(r'href="([^"]*/t/c/[^"]*)"', html_of(msg))
    return m.group(1) if m else None


def listing(maildir, n):
    """The first message of n of the rarest subjects, one of each kind, by
    date: the few welcome and webinar emails rather than n of the many alike."""
    first, count = {}, {}
    for m in messages(maildir):
        subject = str(m[2]["Subject"])
        first.setdefault(subject, m)
        count[subject] = count.get(subject, 0) + 1
    rare, kinds = [], set()
    for subject in sorted(first, key=lambda s: (count[s], first[s][0].timestamp() if first[s][0] else 0)):
        if subject[:4] not in kinds and len(rare) < int(n):    # one of each kind of message
            kinds.add(subject[:4])
            rare.append(subject)
    picked = sorted((first[s] for s in rare), key=lambda m: m[0].timestamp() if m[0] else 0)
    for date, path, msg in picked:
        print("  %s  To: %s" % (date.strftime("%Y-%m-%d %H:%M") if date else "?", msg["To"]))
        print("  %16s  Subject: %s" % ("", msg["Subject"]))
        link = first_click(msg)
        if link:
            print("  %16s  link: %s" % ("", shorten(link)))


def shorten(url, width=90):
    return url if len(url) <= width else url[:width - 1] + "…"


def show(maildir, address):
    for date, path, msg in messages(maildir):
        if address.lower() in str(msg["To"]).lower():
            break
    else:
        print("  (no message to %s)" % address)
        return
    print("  file:    %s" % os.path.relpath(path))
    for h in ("Date", "From", "To", "Subject", "List-Unsubscribe"):
        if msg[h]:
            print("  %-8s %s" % (h + ":", shorten(str(msg[h]), 100)))
    print("  ---- text part ----")
    lines = [l for l in text_of(msg).splitlines() if l.strip()]
    for line in lines[:10]:
        for piece in textwrap.wrap(line, 100, break_long_words=True) or [""]:
            print("  " + piece)
    if len(lines) > 10:
        print("  …")
    link = first_click(msg)
    print("  ---- tracking ----")
    print("  click link: %s" % (shorten(link, 110) if link else "(none)"))
    pixel = re.search(r'src="([^"]*/t/o/[^"]*)"', html_of(msg))
    print("  open pixel: %s" % (shorten(pixel.group(1), 110) if pixel else "(none)"))


def main(argv):
    cmds = {"wait": (wait, 2), "templates": (templates, 1), "list": (listing, 2), "show": (show, 2)}
    if len(argv) < 2 or argv[1] not in cmds or len(argv) - 2 < cmds[argv[1]][1]:
        sys.exit(__doc__)
    return cmds[argv[1]][0](*argv[2:]) or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
