#!/usr/bin/env python3
"""kill -9 the daemon at random points of a busy flow workload, restart it,
and check that every run completes with every send exactly once, in order.

usage: test_durability.py NURTURE_BINARY REPO_ROOT [ROUNDS]

A flow with three sends, sleeps, a split and tags (crash_drill.lua) is
triggered for LEADS leads while the daemon is killed with SIGKILL at random
moments and restarted; then a last daemon runs until nothing is left. The
seed of the random schedule is printed so a failure can be replayed.
"""
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tap  # noqa: E402

LEADS = 120


def main():
    nurture, root = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    seed = int(os.environ.get("DRILL_SEED", time.time_ns() % 100000))
    rng = random.Random(seed)
    tap.note(f"seed {seed} (set DRILL_SEED to replay)")
    flows = os.path.join(root, "tests", "integration", "flows")
    for rnd in range(rounds):
        work = tempfile.mkdtemp(prefix="nurture-drill-")
        try:
            drill(nurture, flows, work, rng, rnd)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    tap.done_testing()


def run(nurture, work, *args):
    return subprocess.run([nurture, "--db", os.path.join(work, "d.db"), *args], cwd=work,
                          capture_output=True, text=True, timeout=60)


def start(nurture, work, flows, *extra):
    log = open(os.path.join(work, "serve.log"), "a")
    return subprocess.Popen([nurture, "--db", os.path.join(work, "d.db"), "serve", "--flows", flows,
                             *extra], cwd=work, stdout=log, stderr=log)


def drill(nurture, flows, work, rng, rnd):
    subprocess.run([nurture, "-q", "--db", os.path.join(work, "d.db"), "init"], cwd=work,
                   capture_output=True, check=True)
    events = os.path.join(work, "events.ndjson")
    with open(events, "w") as f:
        for i in range(LEADS):
            f.write(json.dumps({"email": f"drill{i}@example.cn", "type": "form.submitted",
                                "props": {"form": "drill", "n": i}, "dedupe_key": f"drill-{i}"}) + "\n")
    daemon = start(nurture, work, flows)
    kills = 0
    # Feed the events in slices while the daemon is killed and restarted.
    lines = open(events).read().splitlines(True)
    for part in range(6):
        chunk = os.path.join(work, f"part{part}.ndjson")
        with open(chunk, "w") as f:
            f.writelines(lines[part::6])
        r = run(nurture, work, "-q", "event", "import", chunk)
        tap.eq(r.returncode, 0, f"round {rnd}: slice {part} imported")
        time.sleep(rng.uniform(0.05, 0.6))
        daemon.send_signal(signal.SIGKILL)
        daemon.wait()
        kills += 1
        daemon = start(nurture, work, flows)
    for _ in range(3):
        time.sleep(rng.uniform(0.1, 1.2))
        daemon.send_signal(signal.SIGKILL)
        daemon.wait()
        kills += 1
        daemon = start(nurture, work, flows)
    daemon.send_signal(signal.SIGKILL)
    daemon.wait()
    final = start(nurture, work, flows, "--exit-when-idle")
    try:
        final.wait(timeout=90)
    except subprocess.TimeoutExpired:
        final.kill()
        tap.ok(False, f"round {rnd}: the last daemon finished the work")
        return
    tap.eq(final.returncode, 0, f"round {rnd}: the last daemon stopped cleanly after {kills} kills")
    check(work, rnd)


def check(work, rnd):
    db = sqlite3.connect(os.path.join(work, "d.db"))
    runs = db.execute("SELECT status, count(*) FROM run GROUP BY status").fetchall()
    tap.eq(dict(runs), {"completed": LEADS}, f"round {rnd}: every run completed, none failed")
    per_run = db.execute("SELECT run_id, group_concat(json_extract(message, '$.template'), '')"
                         " FROM (SELECT * FROM outbox ORDER BY op_id) GROUP BY run_id").fetchall()
    tap.eq(len(per_run), LEADS, f"round {rnd}: every run sent")
    bad = [r for r in per_run if r[1] != "abc"]
    tap.eq(bad, [], f"round {rnd}: each run sent a, b, c exactly once and in order")
    states = dict(db.execute("SELECT state, count(*) FROM outbox GROUP BY state").fetchall())
    tap.eq(sorted(set(states) - {"sent", "unknown"}), [], f"round {rnd}: sends are sent or unknown")
    tap.note(f"round {rnd}: outbox states {states}")
    # A send in doubt at a crash is 'unknown' and never repeated: the
    # journal row of each send has exactly one outbox row (op_id is the key).
    dup = db.execute("SELECT count(*) FROM (SELECT run_id, seq FROM outbox GROUP BY run_id, seq"
                     " HAVING count(*) > 1)").fetchone()[0]
    tap.eq(dup, 0, f"round {rnd}: no send intent duplicated")
    orphans = db.execute("SELECT count(*) FROM journal j WHERE kind = 'send' AND NOT EXISTS"
                         " (SELECT 1 FROM outbox o WHERE o.run_id = j.run_id AND o.seq = j.seq)").fetchone()[0]
    tap.eq(orphans, 0, f"round {rnd}: no journaled send without its intent")
    done = db.execute("SELECT count(*) FROM tag WHERE name = 'drill:done'").fetchone()[0]
    tap.eq(done, LEADS, f"round {rnd}: every lead reached the end of the flow")
    arms = db.execute("SELECT count(*) FROM tag WHERE name IN ('drill:left', 'drill:right')").fetchone()[0]
    tap.eq(arms, LEADS, f"round {rnd}: every lead has exactly one split arm tag")
    # The split arm journaled before a crash is the arm the run acted on.
    mismatch = db.execute(
        "SELECT count(*) FROM outbox o JOIN run r ON r.id = o.run_id"
        " WHERE json_extract(o.message, '$.template') = 'b' AND NOT EXISTS"
        " (SELECT 1 FROM tag t WHERE t.lead_id = r.lead_id"
        "  AND t.name = 'drill:' || json_extract(o.message, '$.arm'))").fetchone()[0]
    tap.eq(mismatch, 0, f"round {rnd}: the split arm sent is the arm tagged (replay is deterministic)")
    left = db.execute("SELECT count(*) FROM wait").fetchone()[0] + \
        db.execute("SELECT count(*) FROM subscription").fetchone()[0]
    tap.eq(left, 0, f"round {rnd}: no waits or subscriptions left behind")
    db.close()


if __name__ == "__main__":
    main()
