#!/usr/bin/env python3
"""test_cli.py - integration test of the nurture CLI, reported as TAP.

    python3 test_cli.py path/to/nurture path/to/repo-root

Drives the real binary the way a user would (subprocess, a fresh temporary
working directory, the demo data in tools/demo/) and checks exact values.
Python 3 standard library only.
"""
import csv
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tap  # noqa: E402
import nurture_cli  # noqa: E402
from tap import eq, ok  # noqa: E402

if len(sys.argv) != 3:
    sys.exit("usage: test_cli.py NURTURE_BINARY REPO_ROOT")
NURTURE = os.path.abspath(sys.argv[1])
ROOT = os.path.abspath(sys.argv[2])
LEADS_CSV = os.path.join(ROOT, "tools", "demo", "leads.csv")
EVENTS = os.path.join(ROOT, "tools", "demo", "events.ndjson")

STAGES = ["Lead", "MQL", "SQL", "Opportunity", "Deal", "Recycled", "Disqualified"]
COMMANDS = ["init", "stats", "backup", "version", "lead import", "lead show",
            "lead tag", "lead untag", "lead stage", "event add", "event import"]
IDENTITY_COLUMNS = ["email", "phone", "wechat_openid", "wechat_unionid",
                    "crm_id", "anonymous_id"]
# From tools/demo/gen_leads.py (it prints these when run): merge pair
# "A line 26  X line 29  Y line 85" - X has only an anonymous id, Y has that
# anonymous id plus A's email, so importing Y merges X into A's lead.
MERGE_A, MERGE_X, MERGE_Y = 26, 29, 85
# A row whose email has stray case and a trailing space in the file.
MESSY_LINE = 28
N_SYNTH = 50000

CLI = nurture_cli.Cli(NURTURE, "nurture-cli-test-")
WORK = CLI.work
ENV = CLI.env
run = CLI.run
run_json = CLI.run_json
exit_is = CLI.exit_is
show = nurture_cli.show
section = nurture_cli.section


def lead_rows():
    """leads.csv as {physical line number: row dict}. No field holds a newline
    (see gen_leads.py), so data row k is physical line k + 1."""
    with open(LEADS_CSV, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    header = rows[0]
    return {i + 1: dict(zip(header, r)) for i, r in enumerate(rows) if i > 0}


def profile(ref):
    p, d = run_json("lead", "show", ref)
    return d if p.returncode == 0 else None


def stats():
    p, d = run_json("stats")
    return d if p.returncode == 0 else None


def tag_names(prof):
    return [t["name"] for t in prof["tags"]]


def identity_pairs(prof):
    return {(i["kind"], i["value"]) for i in prof["identities"]}


# ---------------------------------------------------------------------------

def test_help():
    p = run("--help")
    exit_is(p, 0, "nurture --help exits 0")
    ok(p.stdout.startswith("usage: nurture "), "nurture --help prints usage", show(p))
    for cmd in COMMANDS:
        p = run(*cmd.split(), "--help")
        exit_is(p, 0, "nurture %s --help exits 0" % cmd)
        ok(p.stdout.startswith("usage: nurture %s" % cmd),
           "nurture %s --help prints 'usage: nurture %s'" % (cmd, cmd), show(p))
    p = run("frobnicate")
    exit_is(p, 2, "an unknown command exits 2")
    ok("frobnicate" in p.stderr, "the unknown command is named", show(p))
    p = run("lead")
    exit_is(p, 2, "'nurture lead' alone exits 2")
    for sub in ("import", "show", "tag", "untag", "stage"):
        ok(re.search(r"^\s*lead %s\s" % sub, p.stderr, re.M),
           "'nurture lead' lists 'lead %s'" % sub, show(p))
    p = run("lead", "show")
    exit_is(p, 2, "'lead show' without a lead exits 2")


def test_init():
    conf = os.path.join(WORK, "nurture.conf.lua")
    db = os.path.join(WORK, "nurture.db")
    p = run("init")
    exit_is(p, 0, "init exits 0")
    ok(os.path.isfile(conf), "init writes nurture.conf.lua", show(p))
    ok(os.path.isfile(db), "init creates nurture.db", show(p))
    ok("wrote nurture.conf.lua" in p.stdout, "init says it wrote the config", show(p))
    con = sqlite3.connect(db)
    version = con.execute("PRAGMA user_version").fetchone()[0]
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    con.close()
    ok("schema version %d" % version in p.stdout and version >= 1,
       "init reports the database's schema version", "user_version %d\n%s" % (version, show(p)))
    ok({"lead", "identity", "tag", "event", "stage_change", "lead_merge"} <= tables,
       "the database has the lead store tables", repr(sorted(tables)))

    # A user's edit must survive a second init.
    with open(conf, "a", encoding="utf-8") as f:
        f.write("-- edited by the test\n")
    with open(conf, encoding="utf-8") as f:
        edited = f.read()
    p = run("init")
    exit_is(p, 0, "init again exits 0")
    ok("kept existing nurture.conf.lua" in p.stdout, "init again says 'kept existing'", show(p))
    with open(conf, encoding="utf-8") as f:
        eq(f.read() == edited, True, "init again leaves the edited config untouched")


def test_lead_import_text():
    # Text output, in a directory of its own so the JSON run below starts
    # from an empty database too.
    sub = os.path.join(WORK, "text-import")
    os.mkdir(sub)
    exit_is(run("-q", "init", cwd=sub), 0, "init in a second directory exits 0")
    p = run("lead", "import", LEADS_CSV, cwd=sub)
    exit_is(p, 3, "lead import of the demo CSV exits 3 (some rows rejected)")
    ok("400 rows, 375 leads created, 20 updated, 10 merged, 5 rejected" in p.stdout,
       "lead import summary line", show(p))
    reported = dict(re.findall(r"^line (\d+): (.+)$", p.stderr, re.M))
    eq(sorted(int(n) for n in reported), [397, 398, 399, 400, 401],
       "stderr names exactly lines 397-401")
    want = {"397": "bad-email@", "398": "12ab", "399": "15 fields",
            "400": "17 fields", "401": "no identity"}
    for line, word in want.items():
        ok(word in reported.get(line, ""), "line %s is rejected with a reason naming %r" % (line, word),
           "got: %r" % reported.get(line))


def test_lead_import_json():
    p, d = run_json("lead", "import", LEADS_CSV)
    exit_is(p, 3, "lead import --json exits 3")
    if not d:
        return
    eq(d.get("rows"), 400, "import --json: rows")
    eq(d.get("created"), 375, "import --json: created")
    eq(d.get("merged"), 10, "import --json: merged")
    eq(d.get("rejected"), 5, "import --json: rejected")
    eq(d.get("created", 0) + d.get("updated", 0) + d.get("rejected", 0), 400,
       "import --json: created + updated + rejected = rows")
    rejects = d.get("rejects") or []
    eq([r.get("line") for r in rejects], [397, 398, 399, 400, 401], "import --json: reject lines")
    ok(all(isinstance(r.get("reason"), str) and r["reason"] for r in rejects),
       "import --json: every reject has a reason", repr(rejects))
    ok("bad-email@" in (rejects[0].get("reason", "") if rejects else ""),
       "import --json: line 397's reason names the bad email", repr(rejects[:1]))


def test_event_import():
    p, d = run_json("event", "import", EVENTS)
    exit_is(p, 0, "event import exits 0")
    if d:
        eq(d.get("rows"), 1470, "event import: rows")
        eq(d.get("events"), 1450, "event import: events stored")
        eq(d.get("duplicates"), 20, "event import: duplicates")
        eq(d.get("rejected"), 0, "event import: rejected")
    p, d = run_json("event", "import", EVENTS)
    exit_is(p, 0, "event import again exits 0")
    if d:
        eq(d.get("events"), 0, "event import again: no events stored")
        eq(d.get("duplicates"), 1470, "event import again: every line a duplicate")


def test_stats():
    d = stats()
    ok(d is not None, "stats --json exits 0")
    if not d:
        return
    eq(d.get("leads"), 365, "stats: live leads")
    eq([s.get("stage") for s in d.get("stages", [])], STAGES, "stats: the 7 stages in order")
    eq(sum(s.get("now", 0) for s in d.get("stages", [])), 365, "stats: stage counts sum to the leads")
    eq(d["stages"][0].get("now") if d.get("stages") else None, 365, "stats: every lead is at Lead")
    eq(d.get("events"), 1450, "stats: events")
    eq(d.get("merged"), 10, "stats: leads merged away")


def test_lead_show(rows):
    row = rows[MESSY_LINE]
    raw = row["email"]
    email = raw.strip().lower()
    ok(raw != email, "premise: line %d's email is messy in the file" % MESSY_LINE, repr(raw))
    ok(row["phone"] and row["crm_id"], "premise: line %d has a phone and a CRM id" % MESSY_LINE, repr(row))

    p, d = run_json("lead", "show", email)
    exit_is(p, 0, "lead show by normalised email exits 0")
    if not d:
        return None
    lead_id = d.get("id")
    eq(d["attributes"].get("email"), email, "lead show: email attribute is normalised")
    eq(d["attributes"].get("name"), row["name"], "lead show: name from the CSV")
    eq(d["attributes"].get("company"), row["company"], "lead show: company from the CSV")
    eq(d.get("stage"), "Lead", "lead show: stage Lead")
    digits = re.sub(r"\D", "", row["phone"])
    e164 = "+86" + digits
    ok(("email", email) in identity_pairs(d) and ("crm_id", row["crm_id"]) in identity_pairs(d)
       and ("phone", e164) in identity_pairs(d),
       "lead show: identities hold the email, CRM id and E.164 phone", repr(d.get("identities")))

    other_phone = "+86 %s %s %s" % (digits[:3], digits[3:7], digits[7:])
    for ref, what in ((raw, "the email as written in the file (%r)" % raw),
                      (email.upper(), "the email in upper case"),
                      (other_phone, "phone written as %r (file has %r)" % (other_phone, row["phone"])),
                      ("crm_id:" + row["crm_id"], "crm_id:" + row["crm_id"]),
                      (str(lead_id), "numeric id")):
        p, o = run_json("lead", "show", ref)
        eq((p.returncode, o and o.get("id")), (0, lead_id), "lead show by %s finds the lead" % what)

    p = run("lead", "show", "nobody.here@example.com")
    exit_is(p, 1, "lead show of an unknown email exits 1")
    ok("nobody.here@example.com" in p.stderr, "the message names the unknown email", show(p))
    p = run("lead", "show", "crm_id:SF-00000")
    exit_is(p, 1, "lead show of an unknown crm_id exits 1")
    ok("SF-00000" in p.stderr, "the message names the unknown crm_id", show(p))
    return email


def test_merged_lead(rows):
    a, x, y = rows[MERGE_A], rows[MERGE_X], rows[MERGE_Y]
    anon = x["anonymous_id"]
    email = a["email"].strip().lower()
    ok(anon and all(not x[c] for c in IDENTITY_COLUMNS if c != "anonymous_id"),
       "premise: line %d has only an anonymous id" % MERGE_X, repr(x))
    ok(y["anonymous_id"] == anon and y["email"].strip().lower() == email,
       "premise: line %d has line %d's anonymous id and line %d's email" % (MERGE_Y, MERGE_X, MERGE_A),
       repr(y))

    d = profile("anonymous_id:" + anon)
    ok(d is not None, "lead show anonymous_id:%s exits 0" % anon)
    if not d:
        return
    by_email = profile(email)
    eq(d.get("id"), by_email and by_email.get("id"), "the anonymous id and the email name the same lead")
    ids = identity_pairs(d)
    ok(("email", email) in ids and ("anonymous_id", anon) in ids,
       "the survivor holds both the email and the anonymous id", repr(d.get("identities")))
    merges = d.get("merges") or []
    eq(len(merges), 1, "the survivor has one merge")
    if merges:
        reason = merges[0].get("reason", "")
        ok(email in reason and anon in reason, "the merge reason names both identities", repr(reason))
        ok(merges[0].get("merged_id") not in (None, d.get("id")),
           "the merge names the lead merged away", repr(merges[0]))


def test_tags(ref):
    before = profile(ref)
    ok(before and "interest:crm" not in tag_names(before), "premise: the lead has no interest:crm tag",
       repr(before and tag_names(before)))
    p = run("lead", "tag", ref, "interest:crm", "--weight", "7")
    exit_is(p, 0, "lead tag interest:crm --weight 7 exits 0")
    d = profile(ref)
    tags = {t["name"]: t for t in d["tags"]} if d else {}
    t = tags.get("interest:crm", {})
    eq((t.get("weight"), t.get("category"), t.get("source")), (7, "interest", "cli"),
       "the tag has weight 7, category interest, source cli")

    p = run("lead", "untag", ref, "interest:crm")
    exit_is(p, 0, "lead untag interest:crm exits 0")
    d = profile(ref)
    ok(d and "interest:crm" not in tag_names(d), "the tag is gone after untag", repr(d and tag_names(d)))
    ok(d and sorted(tag_names(d)) == sorted(tag_names(before)), "the other tags are unchanged",
       repr(d and tag_names(d)))
    p = run("lead", "untag", ref, "interest:crm")
    exit_is(p, 1, "untag again exits 1")
    ok("has no tag" in p.stderr and "interest:crm" in p.stderr, "untag again says 'has no tag'", show(p))

    for bad, why in (("Interest:CRM", "'I' not allowed"), ("interest:", "empty namespace part"),
                     ("interest crm", "' ' not allowed")):
        p = run("lead", "tag", ref, bad)
        exit_is(p, 1, "lead tag %r exits 1" % bad)
        ok(bad in p.stderr and why in p.stderr, "the message for %r says %s" % (bad, why), show(p))
    d = profile(ref)
    ok(d and sorted(tag_names(d)) == sorted(tag_names(before)), "refused tags were not stored",
       repr(d and tag_names(d)))


def test_stages(ref):
    p = run("lead", "stage", ref, "MQL", "--reason", "heat >= 60")
    exit_is(p, 0, "lead stage MQL exits 0")
    d = profile(ref)
    eq(d and d.get("stage"), "MQL", "the lead is at MQL")
    hist = (d or {}).get("stage_history") or [{}]
    last = hist[-1]
    eq((last.get("from"), last.get("to"), last.get("reason"), last.get("actor")),
       ("Lead", "MQL", "heat >= 60", "cli"), "stage_history records the move, reason and actor")

    p = run("lead", "stage", ref, "Lead")
    exit_is(p, 1, "moving back MQL -> Lead is refused with exit 1")
    m = re.search(r"allowed[^:]*:\s*([^)\n]*)", p.stderr)
    allowed = [s.strip() for s in m.group(1).split(",")] if m else None
    eq(allowed, ["SQL", "Opportunity", "Deal", "Recycled", "Disqualified"],
       "the refusal lists the allowed stages")
    eq((profile(ref) or {}).get("stage"), "MQL", "the refused move left the lead at MQL")
    p = run("lead", "stage", ref, "Nonsense")
    exit_is(p, 1, "an unknown stage exits 1")
    ok("Nonsense" in p.stderr, "the message names the unknown stage", show(p))

    d = stats()
    now = {s["stage"]: s["now"] for s in d["stages"]} if d else {}
    eq((now.get("Lead"), now.get("MQL"), sum(now.values())), (364, 1, 365),
       "stats: Lead 364, MQL 1, total 365")


def test_event_add(ref):
    before = profile(ref)
    total = before and before.get("events_total")
    args = ("event", "add", ref, "form.submitted", "--prop", "form=demo_request", "--dedupe", "k1")
    p = run(*args)
    exit_is(p, 0, "event add exits 0")
    m = re.search(r"event (\d+) stored for lead (\d+)", p.stdout)
    ok(m and int(m.group(2)) == before.get("id"), "event add says it stored the event for the lead", show(p))
    p = run(*args)
    exit_is(p, 0, "event add with the same dedupe key exits 0")
    ok("duplicate" in p.stdout and m and m.group(1) in p.stdout,
       "the second event add says it is a duplicate of the first", show(p))
    p, j = run_json(*args)
    eq((j or {}).get("duplicate"), True, "event add --json with the same key: duplicate true")
    eq((j or {}).get("event_id"), m and int(m.group(1)), "event add --json: the first event's id")

    d = profile(ref) or {}
    eq(d.get("events_total"), total + 1 if total is not None else None, "exactly one event was stored")
    first = (d.get("events") or [{}])[0]
    eq((first.get("type"), first.get("props"), first.get("dedupe_key"), first.get("source")),
       ("form.submitted", {"form": "demo_request"}, "k1", "cli"),
       "lead show lists the new event first, with its props")
    eq((stats() or {}).get("events"), 1451, "stats: 1451 events")


def test_backup_under_load():
    big = os.path.join(WORK, "big.csv")
    with open(big, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["email", "name", "company", "tags"])
        for i in range(N_SYNTH):
            w.writerow(["synth%05d@bulk.example.com" % i, "Synth %d" % i, "Bulk Co %d" % (i % 500),
                        "interest:crm"])
    leads_before = (stats() or {}).get("leads")
    imp = subprocess.Popen([NURTURE, "-q", "lead", "import", big], cwd=WORK, env=ENV,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(0.15)
        running = imp.poll() is None
        out = os.path.join(WORK, "copy.db")
        p = run("backup", out)
        ok(running, "the import was still running when the backup started")
        exit_is(p, 0, "backup during an import exits 0")
        ok(not os.path.exists(out + ".partial"), "no copy.db.partial remains")
        ok(os.path.isfile(out), "copy.db exists", show(p))
        if os.path.isfile(out):
            con = sqlite3.connect(out)
            try:
                eq(con.execute("PRAGMA integrity_check").fetchall(), [("ok",)],
                   "PRAGMA integrity_check on the copy")
                live = con.execute("SELECT count(*) FROM lead WHERE merged_into IS NULL").fetchone()[0]
            finally:
                con.close()
            ok(leads_before is not None and leads_before <= live <= leads_before + N_SYNTH,
               "the copy has between %s and %s + %d live leads" % (leads_before, leads_before, N_SYNTH),
               "got %d" % live)
            ok(live >= 365, "the copy has at least 365 live leads", "got %d" % live)
        stdout, stderr = imp.communicate(timeout=90)
    finally:
        if imp.poll() is None:
            imp.kill()
            imp.wait()
    eq(imp.returncode, 0, "the concurrent import exits 0")
    if imp.returncode != 0:
        tap.note(stderr)
    eq((stats() or {}).get("leads"), (leads_before or 0) + N_SYNTH,
       "after the import the store has %d more leads" % N_SYNTH)
    d = profile("synth%05d@bulk.example.com" % (N_SYNTH - 1))
    eq(d and d["attributes"].get("name"), "Synth %d" % (N_SYNTH - 1), "the last synthetic row was imported")


def test_newer_schema():
    copy = os.path.join(WORK, "newer.db")
    src = sqlite3.connect(os.path.join(WORK, "nurture.db"))
    dst = sqlite3.connect(copy)
    src.backup(dst)
    src.close()
    dst.execute("PRAGMA user_version = 99")
    dst.commit()
    dst.close()
    p = run("stats", "--db", copy)
    exit_is(p, 1, "stats on a database from a newer schema exits 1")
    ok("newer" in p.stderr and "99" in p.stderr, "the message says the schema (99) is newer", show(p))
    con = sqlite3.connect(copy)
    eq(con.execute("PRAGMA user_version").fetchone()[0], 99, "the newer database was not touched")
    con.close()


def test_bad_config():
    conf = os.path.join(WORK, "bad.conf.lua")
    with open(conf, "w", encoding="utf-8") as f:
        f.write('return {\n  databse = "x",\n}\n')
    p = run("--config", conf, "stats")
    exit_is(p, 1, "a config with an unknown key exits 1")
    ok("'databse'" in p.stderr, "the message names 'databse'", show(p))
    ok(not os.path.exists(os.path.join(WORK, "x")), "no database 'x' was created")


def main():
    tap.note("binary %s, work dir %s" % (NURTURE, WORK))
    try:
        rows = lead_rows()
        section(test_help)
        section(test_init)
        section(test_lead_import_text)
        section(test_lead_import_json)
        section(test_event_import)
        section(test_stats)
        ref = section(test_lead_show, rows)
        section(test_merged_lead, rows)
        if ref:
            section(test_tags, ref)
            section(test_stages, ref)
            section(test_event_add, ref)
        else:
            ok(False, "a lead to tag, stage and add events to was found")
        section(test_newer_schema)
        section(test_bad_config)
        section(test_backup_under_load)
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
    tap.done_testing()


if __name__ == "__main__":
    main()
