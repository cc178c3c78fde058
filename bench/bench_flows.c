/*
 * bench_flows.c — the durable flow engine: its step rate as a ratio to the
 * raw SQLite work a step does, and what a million waiting runs cost.
 *
 * 1. Steps (goal G4). LEADS leads are enrolled in a small manual flow that
 *    tags the lead and sleeps a minute, ten times over. A virtual store
 *    clock moves a minute at a time and nu_engine_pump fires every wait
 *    that came due: each fired wait is one step (replay the journal, one
 *    immediate effect, the next wait, commit). The raw side runs the SQLite
 *    statements such a step performs, and nothing else: pop the wait, read
 *    the run, complete the sleep's journal row, read the run's K journal
 *    rows, upsert the tag, insert the tag's and the next sleep's journal
 *    rows and the next wait (or end the run), with prepared statements on
 *    the real schema, in the pump's batches of up to 500 waits per
 *    transaction. The figure that matters is the ratio: the machine is
 *    noisy.
 * 2. Waits (goal G5). WAITS runs blocked in a sleep are written in SQL,
 *    each a clone of the run, journal row and wait row the engine itself
 *    wrote for a real deployed flow (stepping a million runs through Lua
 *    would measure part 1 again). Then: bytes on disk per waiting run
 *    (dbstat), RSS before and after opening the engine on that database
 *    (a waiting run must cost no RAM), and restart-to-serving time: what
 *    `nurture serve` does before it serves (store open, engine open, next
 *    due), cold and warm. Last, one pump batch of those runs is woken.
 *
 * usage: bench_flows [LEADS] [WAITS]   (defaults 20 000 and 1 000 000; 0: default)
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "bench_clock.h"
#include "engine.h"
#include "flows.h"
#include "store.h"

#define LOOPS 10                    /* tag + sleep pairs in the step flow */
#define MINUTE 60000
#define PUMP_BATCH 500              /* waits per transaction, as in engine.c */
#define SETUP_BATCH 10000
#define CLONE_BATCH 50000
#define T0 1767225600000LL          /* 2026-01-01 00:00 UTC, in ms */

static const char step_flow[] =
	"return {\n"
	"  name = \"bench_steps\",\n"
	"  trigger = { manual = true },\n"
	"  run = function(lead)\n"
	"    for i = 1, 10 do\n"
	"      lead:tag(\"b:x\")\n"
	"      sleep(\"1m\")\n"
	"    end\n"
	"  end,\n"
	"}\n";

static const char wait_flow[] =
	"return {\n"
	"  name = \"bench_wait\",\n"
	"  trigger = { manual = true },\n"
	"  run = function(lead)\n"
	"    sleep(\"3d\")\n"
	"    now()\n"
	"  end,\n"
	"}\n";

/* What both sides of part 1 must have done, read back from the database. */
struct work {
	long completed, journal, sleeps, replayed;
	double last_round;   /* seconds of the round in which every run ends */
};

static int64_t vnow = T0;

static int64_t virtual_clock(void *ud)
{
	(void)ud;
	return vnow;
}

static long rss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[128];
	long kb = -1;

	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %ld", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

static void check(int rc, const nu_error *err, const char *what)
{
	if (rc < 0) {
		fprintf(stderr, "bench: %s: %s\n", what, err->msg);
		exit(1);
	}
}

static void must(int ok, sqlite3 *db)
{
	if (!ok) {
		fprintf(stderr, "bench: %s\n", sqlite3_errmsg(db));
		exit(1);
	}
}

static void done(sqlite3_stmt *st)
{
	must(sqlite3_step(st) == SQLITE_DONE, sqlite3_db_handle(st));
	sqlite3_reset(st);
}

static sqlite3_stmt *prepare(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;

	must(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK, db);
	return st;
}

static void exec(sqlite3 *db, const char *sql)
{
	must(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK, db);
}

static nu_store *open_store(const char *path)
{
	nu_store *s;
	nu_error err;

	check(nu_store_open(path, NULL, &s, &err), &err, path);
	nu_store_set_clock(s, virtual_clock, NULL);
	return s;
}

static nu_engine *open_engine(nu_store *s)
{
	nu_engine *e;
	nu_error err;

	check(nu_engine_open(s, &e, &err), &err, "engine open");
	return e;
}

/* Writes a flow file into dir and loads it as `nurture flow deploy` would. */
static void load_flow(const char *dir, const char *name, const char *src, nu_flow *f)
{
	char path[128];
	nu_error err;
	FILE *out;

	snprintf(path, sizeof path, "%s/%s.lua", dir, name);
	if (!(out = fopen(path, "w")) || fputs(src, out) < 0 || fclose(out) != 0) {
		fprintf(stderr, "bench: cannot write %s\n", path);
		exit(1);
	}
	check(nu_flow_load_file(path, NULL, f, &err), &err, path);
}

static void deploy(nu_store *s, const nu_flow *f)
{
	nu_error err;
	int created;

	check(nu_flow_deploy(s, f, &created, &err), &err, "deploy");
}

/* Leads 1..n, bare rows: setup, not measured. */
static void add_leads(sqlite3 *db, long n)
{
	sqlite3_stmt *st = prepare(db, "INSERT INTO lead (stage, stage_at, created_at, updated_at)"
				   " VALUES ('Lead', ?1, ?1, ?1)");

	exec(db, "BEGIN");
	for (long i = 0; i < n; i++) {
		sqlite3_bind_int64(st, 1, T0);
		done(st);
	}
	exec(db, "COMMIT");
	sqlite3_finalize(st);
}

static void pump_all(nu_engine *e)
{
	nu_error err;
	int did;

	/* nu_engine_pump stops after 1000 rounds; go on until one finds nothing. */
	do
		check(nu_engine_pump(e, &did, &err), &err, "pump");
	while (did > 0);
}

static void read_work(sqlite3 *db, struct work *w)
{
	sqlite3_stmt *st = prepare(db,
		"SELECT (SELECT count(*) FROM run WHERE status = 'completed'), (SELECT count(*) FROM journal),"
		" (SELECT count(*) FROM journal WHERE kind = 'sleep'),"
		" (SELECT coalesce(sum(seq + 1), 0) FROM journal WHERE kind = 'sleep')");

	must(sqlite3_step(st) == SQLITE_ROW, db);
	w->completed = sqlite3_column_int64(st, 0);
	w->journal = sqlite3_column_int64(st, 1);
	w->sleeps = sqlite3_column_int64(st, 2);
	/* The step a sleep's wait fires replays that sleep's row and all before it. */
	w->replayed = sqlite3_column_int64(st, 3);
	sqlite3_finalize(st);
}

/* ---- part 1, the engine side ------------------------------------------- */

static void enrol_all(nu_engine *e, nu_store *s, long n)
{
	char why[200];
	int64_t run;
	nu_error err;

	for (long id = 1; id <= n; id++) {
		if ((id - 1) % SETUP_BATCH == 0)
			check(nu_store_begin(s, &err), &err, "begin");
		check(nu_engine_enroll(e, "bench_steps", id, 0, &run, why, sizeof why, &err), &err, "enrol");
		if (!run) {
			fprintf(stderr, "bench: lead %ld not enrolled: %s\n", id, why);
			exit(1);
		}
		if (id % SETUP_BATCH == 0 || id == n)
			check(nu_store_commit(s, &err), &err, "commit");
	}
}

static double engine_steps(const char *path, const nu_flow *f, long n, struct work *w)
{
	nu_store *s = open_store(path);
	nu_engine *e;

	vnow = T0;
	add_leads(nu_store_db(s), n);
	deploy(s, f);
	e = open_engine(s);
	enrol_all(e, s, n);
	double t0 = now_s(), last = 0;
	for (int round = 0; round <= LOOPS; round++, vnow += MINUTE) {
		last = now_s();
		pump_all(e);
	}
	double secs = now_s() - t0;
	read_work(nu_store_db(s), w);
	w->last_round = t0 + secs - last;
	nu_engine_close(e);
	nu_store_close(s);
	return secs;
}

/* ---- part 1, the raw side ---------------------------------------------- */

struct raw {
	sqlite3 *db;
	sqlite3_stmt *due, *pop, *run, *complete, *replay, *tag, *journal, *wait, *end;
};

static void raw_prepare(struct raw *r)
{
	r->due = prepare(r->db, "SELECT due, run_id, seq FROM wait WHERE due <= ? ORDER BY due LIMIT 500");
	r->pop = prepare(r->db, "DELETE FROM wait WHERE due = ? AND run_id = ?");
	r->run = prepare(r->db, "SELECT sha, status, lead_id, seed, coalesce(trigger_event_id, 0)"
			 " FROM run WHERE id = ?");
	r->complete = prepare(r->db, "UPDATE journal SET result = ?, done_at = ? WHERE run_id = ?"
			      " AND seq = ? AND result IS NULL");
	r->replay = prepare(r->db, "SELECT kind, request, result FROM journal WHERE run_id = ? ORDER BY seq");
	r->tag = prepare(r->db, "INSERT INTO tag (lead_id, name, weight, class, source, at, expires_at)"
			 " VALUES (?, 'b:x', 1, 'fact', 'flow:bench_steps#' || ?1, ?, NULL) ON CONFLICT (lead_id, name)"
			 " DO UPDATE SET weight = excluded.weight, class = excluded.class,"
			 " source = excluded.source, at = excluded.at, expires_at = excluded.expires_at");
	r->journal = prepare(r->db, "INSERT INTO journal (run_id, seq, kind, request, result, at, done_at)"
			     " VALUES (?, ?, ?, ?, ?, ?, ?)");
	r->wait = prepare(r->db, "INSERT INTO wait (due, run_id, seq) VALUES (?, ?, ?)"
			  " ON CONFLICT (due, run_id) DO NOTHING");
	r->end = prepare(r->db, "UPDATE run SET status = 'completed', error = NULL, ended_at = ?,"
			 " updated_at = ? WHERE id = ? AND status = 'waiting'");
}

static void raw_finalize(struct raw *r)
{
	sqlite3_stmt *all[] = { r->due, r->pop, r->run, r->complete, r->replay, r->tag, r->journal,
				r->wait, r->end };

	for (size_t i = 0; i < sizeof all / sizeof *all; i++)
		sqlite3_finalize(all[i]);
}

/* The runs and their first waits, as create_run writes them. */
static void raw_enrol(sqlite3 *db, const nu_flow *f, long n)
{
	sqlite3_stmt *run = prepare(db, "INSERT INTO run (flow, sha, lead_id, status, seed, created_at,"
				    " updated_at) VALUES (?1, ?2, ?3, 'waiting', ?4, ?5, ?5)");
	sqlite3_stmt *wait = prepare(db, "INSERT INTO wait (due, run_id, seq) VALUES (?, ?, -1)");

	exec(db, "BEGIN");
	for (long id = 1; id <= n; id++) {
		sqlite3_bind_text(run, 1, f->name, -1, SQLITE_STATIC);
		sqlite3_bind_text(run, 2, f->sha, -1, SQLITE_STATIC);
		sqlite3_bind_int64(run, 3, id);
		sqlite3_bind_int64(run, 4, (int64_t)((uint64_t)T0 * 0x9E3779B97F4A7C15ull ^ (uint64_t)id));
		sqlite3_bind_int64(run, 5, T0);
		done(run);
		sqlite3_bind_int64(wait, 1, T0);
		sqlite3_bind_int64(wait, 2, sqlite3_last_insert_rowid(db));
		done(wait);
	}
	exec(db, "COMMIT");
	sqlite3_finalize(run);
	sqlite3_finalize(wait);
}

static void raw_journal(struct raw *r, int64_t run, int64_t seq, const char *kind,
			const char *request, const char *result)
{
	sqlite3_bind_int64(r->journal, 1, run);
	sqlite3_bind_int64(r->journal, 2, seq);
	sqlite3_bind_text(r->journal, 3, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(r->journal, 4, request, -1, SQLITE_STATIC);
	sqlite3_bind_text(r->journal, 5, result, -1, SQLITE_STATIC);
	sqlite3_bind_int64(r->journal, 6, vnow);
	if (result)
		sqlite3_bind_int64(r->journal, 7, vnow);
	else
		sqlite3_bind_null(r->journal, 7);
	done(r->journal);
}

/* Reads the run row, completes the sleep that fired and reads the K rows
 * a replay goes through. */
static void raw_resume(struct raw *r, int64_t run, int64_t seq)
{
	char result[80];

	sqlite3_bind_int64(r->run, 1, run);
	must(sqlite3_step(r->run) == SQLITE_ROW, r->db);
	sqlite3_column_text(r->run, 0);
	sqlite3_column_text(r->run, 1);
	sqlite3_reset(r->run);
	if (seq >= 0) {
		snprintf(result, sizeof result, "{\"at\":%lld,\"late\":false,\"skip\":false}", (long long)vnow);
		sqlite3_bind_text(r->complete, 1, result, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(r->complete, 2, vnow);
		sqlite3_bind_int64(r->complete, 3, run);
		sqlite3_bind_int64(r->complete, 4, seq);
		done(r->complete);
	}
	sqlite3_bind_int64(r->replay, 1, run);
	while (sqlite3_step(r->replay) == SQLITE_ROW) {
		sqlite3_column_text(r->replay, 0);
		sqlite3_column_text(r->replay, 1);
		sqlite3_column_text(r->replay, 2);
	}
	sqlite3_reset(r->replay);
}

/* One step: the wait at `seq` (-1: enrolment) fired for `run`. */
static void raw_step(struct raw *r, int64_t due, int64_t run, int64_t seq)
{
	int64_t next = seq + 1;   /* the tag effect's seq */

	sqlite3_bind_int64(r->pop, 1, due);
	sqlite3_bind_int64(r->pop, 2, run);
	done(r->pop);
	raw_resume(r, run, seq);
	if (next / 2 == LOOPS) {
		sqlite3_bind_int64(r->end, 1, vnow);
		sqlite3_bind_int64(r->end, 2, vnow);
		sqlite3_bind_int64(r->end, 3, run);
		done(r->end);
		return;
	}
	sqlite3_bind_int64(r->tag, 1, run);     /* run i belongs to lead i */
	sqlite3_bind_int64(r->tag, 2, vnow);
	done(r->tag);
	raw_journal(r, run, next, "lead.tag", "{\"tag\":\"b:x\"}", "{\"ok\":true}");
	raw_journal(r, run, next + 1, "sleep", "{\"d\":\"1m\"}", NULL);
	sqlite3_bind_int64(r->wait, 1, vnow + MINUTE);
	sqlite3_bind_int64(r->wait, 2, run);
	sqlite3_bind_int64(r->wait, 3, next + 1);
	done(r->wait);
}

/* One transaction, like pump_once: up to 500 due waits. */
static int raw_batch(struct raw *r)
{
	struct { int64_t due, run, seq; } w[PUMP_BATCH];
	int n = 0;

	exec(r->db, "BEGIN IMMEDIATE");
	sqlite3_bind_int64(r->due, 1, vnow);
	while (n < PUMP_BATCH && sqlite3_step(r->due) == SQLITE_ROW) {
		w[n].due = sqlite3_column_int64(r->due, 0);
		w[n].run = sqlite3_column_int64(r->due, 1);
		w[n++].seq = sqlite3_column_int64(r->due, 2);
	}
	sqlite3_reset(r->due);
	for (int i = 0; i < n; i++)
		raw_step(r, w[i].due, w[i].run, w[i].seq);
	exec(r->db, "COMMIT");
	return n;
}

static double raw_steps(const char *path, const nu_flow *f, long n, struct work *w)
{
	nu_store *s = open_store(path);
	struct raw r = { .db = nu_store_db(s) };

	vnow = T0;
	add_leads(r.db, n);
	deploy(s, f);
	raw_enrol(r.db, f, n);
	raw_prepare(&r);
	double t0 = now_s(), last = 0;
	for (int round = 0; round <= LOOPS; round++, vnow += MINUTE) {
		last = now_s();
		while (raw_batch(&r) > 0)
			;
	}
	double secs = now_s() - t0;
	w->last_round = t0 + secs - last;
	raw_finalize(&r);
	read_work(r.db, w);
	nu_store_close(s);
	return secs;
}

static void same_work(const struct work *a, const struct work *b, long n)
{
	if (a->completed != n || b->completed != n || a->journal != b->journal ||
	    a->sleeps != b->sleeps || a->replayed != b->replayed) {
		fprintf(stderr, "bench: the two sides did different work: completed %ld/%ld of %ld,"
			" journal rows %ld/%ld, sleeps %ld/%ld\n", a->completed, b->completed, n,
			a->journal, b->journal, a->sleeps, b->sleeps);
		exit(1);
	}
}

static void bench_steps(const char *dir, long n)
{
	char raw_db[96], our_db[96];
	struct work rw, ew;
	nu_flow f;

	snprintf(raw_db, sizeof raw_db, "%s/raw.db", dir);
	snprintf(our_db, sizeof our_db, "%s/steps.db", dir);
	load_flow(dir, "bench_steps", step_flow, &f);
	printf("bench_flows: %ld leads x %d steps (lead:tag + sleep 1m, %d times), up to %d waits"
	       " per transaction\n", n, LOOPS + 1, LOOPS, PUMP_BATCH);
	double raw = raw_steps(raw_db, &f, n, &rw);
	long steps = n + rw.sleeps;   /* one per fired wait: the enrolment's, then each sleep's */
	printf("  raw SQLite step mix          %8.2f s  %9.0f steps/s\n", raw, (double)steps / raw);
	double ours = engine_steps(our_db, &f, n, &ew);
	same_work(&rw, &ew, n);
	printf("  nurture engine (pump)        %8.2f s  %9.0f steps/s   (aim >= 10 000)\n", ours,
	       (double)steps / ours);
	printf("  ratio engine/raw             %8.2f              (aim >= 0.25)\n", raw / ours);
	printf("  time per step beyond the raw mix %5.1f us         (aim: CPU outside SQLite <= 20 us)\n",
	       (ours - raw) / (double)steps * 1e6);
	printf("  last round (each run ends)   %8.2f s raw, %.2f s engine, for %ld steps\n",
	       rw.last_round, ew.last_round, n);
	double raw_rest = raw - rw.last_round, ours_rest = ours - ew.last_round;
	printf("  rounds before it             %8.0f steps/s raw, %.0f engine, ratio %.2f\n",
	       (double)(steps - n) / raw_rest, (double)(steps - n) / ours_rest, raw_rest / ours_rest);
	printf("  journal rows replayed per step %6.1f  (avg over %ld steps; 0 to %d)\n",
	       (double)ew.replayed / (double)steps, steps, 2 * LOOPS);
	nu_flow_clear(&f);
}

/* ---- part 2: a million waiting runs ------------------------------------ */

struct tmpl {
	int64_t run, lead, due, seq;
};

/* One run the engine starts itself: enrolled at T0, stepped to its sleep. */
static void template_run(nu_store *s, nu_engine *e, struct tmpl *t)
{
	sqlite3_stmt *st;
	char why[200];
	nu_error err;

	vnow = T0;
	add_leads(nu_store_db(s), 1);
	check(nu_engine_enroll(e, "bench_wait", 1, 0, &t->run, why, sizeof why, &err), &err, "enrol");
	pump_all(e);
	st = prepare(nu_store_db(s), "SELECT w.due, w.seq, r.lead_id FROM wait w JOIN run r"
		     " ON r.id = w.run_id WHERE r.status = 'waiting'");
	must(sqlite3_step(st) == SQLITE_ROW, nu_store_db(s));
	t->due = sqlite3_column_int64(st, 0);
	t->seq = sqlite3_column_int64(st, 1);
	t->lead = sqlite3_column_int64(st, 2);
	sqlite3_finalize(st);
}

/* Clone i: lead and run ids shifted by i, enrolled `shift` ms later. */
static void clone_one(sqlite3_stmt *const st[3], const struct tmpl *t, int64_t i, int64_t shift)
{
	int64_t run = t->run + i, lead = t->lead + i;

	sqlite3_bind_int64(st[0], 1, run);
	sqlite3_bind_int64(st[0], 2, lead);
	sqlite3_bind_int64(st[0], 3, (int64_t)((uint64_t)(T0 + shift) * 0x9E3779B97F4A7C15ull ^ (uint64_t)lead));
	sqlite3_bind_int64(st[0], 4, shift);
	sqlite3_bind_int64(st[0], 5, t->run);
	done(st[0]);
	sqlite3_bind_int64(st[1], 1, run);
	sqlite3_bind_int64(st[1], 2, shift);
	sqlite3_bind_int64(st[1], 3, t->run);
	done(st[1]);
	sqlite3_bind_int64(st[2], 1, t->due + shift);
	sqlite3_bind_int64(st[2], 2, run);
	sqlite3_bind_int64(st[2], 3, t->seq);
	done(st[2]);
}

/* Enrolments spread over a day, in due order as they would arrive. */
static int64_t clone_runs(sqlite3 *db, const struct tmpl *t, long count)
{
	sqlite3_stmt *st[3] = {
		prepare(db, "INSERT INTO run (id, flow, sha, lead_id, status, trigger_event_id, seed,"
			" exclusion, created_at, updated_at, ended_at, error) SELECT ?1, flow, sha, ?2, status,"
			" trigger_event_id, ?3, exclusion, created_at + ?4, updated_at + ?4, ended_at, error"
			" FROM run WHERE id = ?5"),
		prepare(db, "INSERT INTO journal (run_id, seq, kind, request, result, at, done_at)"
			" SELECT ?1, seq, kind, request, result, at + ?2, done_at + ?2 FROM journal"
			" WHERE run_id = ?3"),
		prepare(db, "INSERT INTO wait (due, run_id, seq) VALUES (?, ?, ?)"),
	};
	int64_t spacing = count > 1 ? 86400000 / count : 1;

	for (long i = 1; i < count; i++) {
		if ((i - 1) % CLONE_BATCH == 0)
			exec(db, "BEGIN");
		clone_one(st, t, i, i * (spacing ? spacing : 1));
		if (i % CLONE_BATCH == 0 || i == count - 1)
			exec(db, "COMMIT");
	}
	for (int k = 0; k < 3; k++)
		sqlite3_finalize(st[k]);
	return spacing ? spacing : 1;
}

static double pages_of(sqlite3 *db, const char *name)
{
	sqlite3_stmt *st = prepare(db, "SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name = ?");
	double bytes;

	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	must(sqlite3_step(st) == SQLITE_ROW, db);
	bytes = (double)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return bytes;
}

static void report_sizes(sqlite3 *db, long count)
{
	double run = pages_of(db, "run"), idx = pages_of(db, "run_by_lead");
	double journal = pages_of(db, "journal"), wait = pages_of(db, "wait");
	double wait_idx = pages_of(db, "wait_by_run"), n = (double)count;

	printf("  wait table + wait_by_run     %8.1f B per waiting run   (aim <= 64; table %.1f,"
	       " index %.1f)\n", (wait + wait_idx) / n, wait / n, wait_idx / n);
	printf("  run + run_by_lead + journal + waits %6.1f B per waiting run"
	       " (run %.1f, run_by_lead %.1f, journal %.1f, waits %.1f)\n",
	       (run + idx + journal + wait + wait_idx) / n, run / n, idx / n, journal / n,
	       (wait + wait_idx) / n);
}

static double file_bytes(const char *path)
{
	FILE *f = fopen(path, "rb");
	long size = -1;

	if (f && fseek(f, 0, SEEK_END) == 0)
		size = ftell(f);
	if (f)
		fclose(f);
	return (double)size;
}

/* Evicts the database from the page cache, so the next open reads the disk. */
static void drop_cache(const char *path)
{
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return;
	fdatasync(fd);
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	close(fd);
}

/* What `nurture serve` does before it serves; the store stays open. */
static double restart(const char *path, nu_store **s, nu_engine **e, int64_t *due)
{
	nu_error err;
	double t0 = now_s();

	check(nu_store_open(path, NULL, s, &err), &err, path);
	check(nu_engine_open(*s, e, &err), &err, "engine open");
	check(nu_engine_next_due(*e, due, &err), &err, "next due");
	return now_s() - t0;
}

/* Wakes the first PUMP_BATCH waiting runs: each completes. */
static void wake_some(nu_store *s, nu_engine *e, const struct tmpl *t, int64_t spacing)
{
	sqlite3_stmt *st;
	long ended;

	nu_store_set_clock(s, virtual_clock, NULL);
	vnow = t->due + (PUMP_BATCH - 1) * spacing;
	double t0 = now_s();
	pump_all(e);
	double secs = now_s() - t0;
	st = prepare(nu_store_db(s), "SELECT count(*) FROM run WHERE status = 'completed'");
	must(sqlite3_step(st) == SQLITE_ROW, nu_store_db(s));
	ended = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	printf("  wake %d of them (each run ends) %6.3f s  %9.0f steps/s   (%ld completed)\n",
	       PUMP_BATCH, secs, PUMP_BATCH / secs, ended);
	if (ended != PUMP_BATCH) {
		fprintf(stderr, "bench: %ld runs completed, expected %d\n", ended, PUMP_BATCH);
		exit(1);
	}
}

static void build_waits(const char *dir, const char *path, long count, struct tmpl *t,
			int64_t *spacing)
{
	nu_store *s = open_store(path);
	nu_engine *e;
	nu_flow f;

	load_flow(dir, "bench_wait", wait_flow, &f);
	deploy(s, &f);
	nu_flow_clear(&f);
	e = open_engine(s);
	template_run(s, e, t);
	nu_engine_close(e);
	double t0 = now_s();
	*spacing = clone_runs(nu_store_db(s), t, count);
	double secs = now_s() - t0;
	printf("  written by SQL               %8.2f s  %9.0f runs/s\n", secs, (double)count / secs);
	report_sizes(nu_store_db(s), count);
	nu_store_close(s);
	printf("  database file                %8.1f B per waiting run\n", file_bytes(path) / (double)count);
}

static void bench_waits(const char *dir, long count)
{
	char path[96];
	struct tmpl t;
	int64_t spacing, due;
	nu_store *s;
	nu_engine *e;

	snprintf(path, sizeof path, "%s/waits.db", dir);
	printf("bench_flows: %ld runs waiting in sleep(\"3d\"), cloned from one the engine started\n", count);
	build_waits(dir, path, count, &t, &spacing);
	drop_cache(path);
	long before = rss_kb();
	double cold = restart(path, &s, &e, &due);
	long after = rss_kb();
	if (due != t.due) {
		fprintf(stderr, "bench: next due %lld, expected %lld\n", (long long)due, (long long)t.due);
		exit(1);
	}
	printf("  RSS before opening           %8ld kB; serving %ld kB (+%ld kB = %.2f B per waiting run)\n",
	       before, after, after - before, (double)(after - before) * 1024 / (double)count);
	wake_some(s, e, &t, spacing);
	printf("  RSS after waking them        %8ld kB\n", rss_kb());
	nu_engine_close(e);
	nu_store_close(s);
	double warm = restart(path, &s, &e, &due);
	nu_engine_close(e);
	nu_store_close(s);
	printf("  restart to serving           %8.3f s cold cache, %.3f s warm   (aim <= 1 s)\n", cold, warm);
}

int main(int argc, char **argv)
{
	long leads = argc > 1 && atol(argv[1]) > 0 ? atol(argv[1]) : 20000;
	long waits = argc > 2 && atol(argv[2]) > PUMP_BATCH ? atol(argv[2]) : 1000000;
	char dir[] = "/tmp/nurture-bench-XXXXXX", cmd[128];

	if (!mkdtemp(dir))
		return 1;
	setvbuf(stdout, NULL, _IOLBF, 0);
	bench_steps(dir, leads);
	bench_waits(dir, waits);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : 1;
}
