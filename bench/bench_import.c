/*
 * bench_import.c — `nurture lead import` speed as a ratio to the raw limit.
 *
 * Both sides write the same N leads (the lead row and three identities
 * each) into a fresh database with the real schema and pragmas, in
 * 10 000-row transactions. The raw side binds pre-built values into three
 * prepared INSERTs and does nothing else; the import side reads the CSV
 * file, parses and normalises it, resolves identities, fills attributes
 * with history and commits through the real import path. The figure that
 * matters is the ratio, because this machine is noisy.
 *
 * usage: bench_import [ROWS]   (default 1 000 000)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "bench_clock.h"
#include "import.h"
#include "store.h"

#define BATCH 10000

static const char *const companies[] = { "上海云启信息科技有限公司", "Northwind Traders",
	"杭州融汇软件有限公司", "Evergreen Education", "深圳恒泰制造有限公司" };
static const char *const titles[] = { "市场总监", "IT经理", "CTO", "Marketing Manager", "采购经理" };
static const char *const industries[] = { "制造业", "金融", "零售", "SaaS", "education" };
static const char *const regions[] = { "华东", "华北", "华南", "APAC", "North America" };

struct row {
	char email[64], phone[24], name[32], crm[24];
	const char *company, *title, *industry, *region;
	int employees;
};

/* Row i, already in the normalised form the importer would produce. */
static void make_row(long i, struct row *r)
{
	snprintf(r->email, sizeof r->email, "lead%ld@company%ld.cn", i, i % 9973);
	snprintf(r->phone, sizeof r->phone, "+8613%09ld", i);
	snprintf(r->name, sizeof r->name, "客户%ld", i);
	snprintf(r->crm, sizeof r->crm, "SF-%08ld", i);
	r->company = companies[i % 5];
	r->title = titles[i % 5];
	r->industry = industries[(i / 5) % 5];
	r->region = regions[(i / 25) % 5];
	r->employees = (int)(i % 5000) + 10;
}

static int write_csv(const char *path, long n)
{
	FILE *f = fopen(path, "w");
	struct row r;

	if (!f)
		return -1;
	fputs("email,phone,name,company,title,industry,region,product_interest,timezone,crm_id,employees\n", f);
	for (long i = 0; i < n; i++) {
		make_row(i, &r);
		/* The phone is written the way people type it, so the importer
		 * has real normalisation to do. */
		fprintf(f, "%s,%.3s %.4s %.4s,%s,%s,%s,%s,%s,crm,Asia/Shanghai,%s,%d\n", r.email,
			r.phone + 3, r.phone + 6, r.phone + 10, r.name, r.company, r.title,
			r.industry, r.region, r.crm, r.employees);
	}
	return fclose(f);
}

static nu_store *fresh(const char *path)
{
	nu_store *s;
	nu_error err;

	unlink(path);
	if (nu_store_open(path, NULL, &s, &err) != NU_OK) {
		fprintf(stderr, "bench: %s\n", err.msg);
		exit(1);
	}
	return s;
}

static void must(int ok, sqlite3 *db)
{
	if (!ok) {
		fprintf(stderr, "bench: %s\n", sqlite3_errmsg(db));
		exit(1);
	}
}

static double raw_insert(const char *path, long n)
{
	nu_store *s = fresh(path);
	sqlite3 *db = nu_store_db(s);
	sqlite3_stmt *lead, *ident;
	char custom[32];
	struct row r;
	double t0 = now_s();

	must(sqlite3_prepare_v2(db, "INSERT INTO lead (stage, name, company, title, industry,"
		" region, product_interest, phone, email, timezone, custom, stage_at, created_at,"
		" updated_at) VALUES ('Lead', ?, ?, ?, ?, ?, 'crm', ?, ?, 'Asia/Shanghai', ?, 1, 1, 1)",
		-1, &lead, NULL) == SQLITE_OK, db);
	must(sqlite3_prepare_v2(db, "INSERT INTO identity (kind, value, lead_id, at, source)"
		" VALUES (?, ?, ?, 1, 'raw')", -1, &ident, NULL) == SQLITE_OK, db);
	for (long i = 0; i < n; i++) {
		if (i % BATCH == 0)
			must(sqlite3_exec(db, i ? "COMMIT; BEGIN" : "BEGIN", 0, 0, 0) == SQLITE_OK, db);
		make_row(i, &r);
		snprintf(custom, sizeof custom, "{\"employees\":%d}", r.employees);
		sqlite3_bind_text(lead, 1, r.name, -1, SQLITE_STATIC);
		sqlite3_bind_text(lead, 2, r.company, -1, SQLITE_STATIC);
		sqlite3_bind_text(lead, 3, r.title, -1, SQLITE_STATIC);
		sqlite3_bind_text(lead, 4, r.industry, -1, SQLITE_STATIC);
		sqlite3_bind_text(lead, 5, r.region, -1, SQLITE_STATIC);
		sqlite3_bind_text(lead, 6, r.phone, -1, SQLITE_STATIC);
		sqlite3_bind_text(lead, 7, r.email, -1, SQLITE_STATIC);
		sqlite3_bind_text(lead, 8, custom, -1, SQLITE_STATIC);
		must(sqlite3_step(lead) == SQLITE_DONE, db);
		sqlite3_reset(lead);
		sqlite3_int64 id = sqlite3_last_insert_rowid(db);
		const char *kinds[3] = { "email", "phone", "crm_id" }, *vals[3] = { r.email, r.phone, r.crm };
		for (int k = 0; k < 3; k++) {
			sqlite3_bind_text(ident, 1, kinds[k], -1, SQLITE_STATIC);
			sqlite3_bind_text(ident, 2, vals[k], -1, SQLITE_STATIC);
			sqlite3_bind_int64(ident, 3, id);
			must(sqlite3_step(ident) == SQLITE_DONE, db);
			sqlite3_reset(ident);
		}
	}
	must(sqlite3_exec(db, "COMMIT", 0, 0, 0) == SQLITE_OK, db);
	sqlite3_finalize(lead);
	sqlite3_finalize(ident);
	double secs = now_s() - t0;
	nu_store_close(s);
	return secs;
}

static double our_import(const char *db_path, const char *csv, long n)
{
	nu_store *s = fresh(db_path);
	nu_import_opts opts = { .kind = NU_IMPORT_LEADS, .batch_rows = BATCH };
	nu_import_stats st;
	nu_error err;
	double t0 = now_s();

	if (nu_import_file(s, csv, &opts, &st, &err) != NU_OK) {
		fprintf(stderr, "bench: import: %s\n", err.msg);
		exit(1);
	}
	double secs = now_s() - t0;
	if (st.created != (uint64_t)n || st.rejected) {
		fprintf(stderr, "bench: import created %llu leads, rejected %llu; expected %ld and 0\n",
			(unsigned long long)st.created, (unsigned long long)st.rejected, n);
		exit(1);
	}
	nu_store_close(s);
	return secs;
}

int main(int argc, char **argv)
{
	long n = argc > 1 && atol(argv[1]) > 0 ? atol(argv[1]) : 1000000;
	char dir[] = "/tmp/nurture-bench-XXXXXX", csv[96], raw_db[96], our_db[96], cmd[128];

	if (!mkdtemp(dir))
		return 1;
	snprintf(csv, sizeof csv, "%s/leads.csv", dir);
	snprintf(raw_db, sizeof raw_db, "%s/raw.db", dir);
	snprintf(our_db, sizeof our_db, "%s/ours.db", dir);
	printf("bench_import: %ld leads, 3 identities each, %d rows per transaction\n", n, BATCH);
	if (write_csv(csv, n) != 0)
		return 1;
	double raw = raw_insert(raw_db, n);
	printf("  raw batched SQLite insert   %8.2f s  %9.0f leads/s\n", raw, (double)n / raw);
	double ours = our_import(our_db, csv, n);
	printf("  nurture lead import (CSV)   %8.2f s  %9.0f leads/s\n", ours, (double)n / ours);
	printf("  ratio import/raw            %8.2f   (aim >= 0.30)\n", raw / ours);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : 1;
}
