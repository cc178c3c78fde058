/*
 * import.c — reading CSV and NDJSON files into lead or event records.
 *
 * Rows are committed in batches (10 000 by default): one transaction per
 * row would cap the import at SQLite's per-commit cost (DESIGN §3). Each
 * row still runs in its own savepoint inside the batch, so a bad row rolls
 * back alone and the rest of the batch stands.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <jansson.h>
#include "csv.h"
#include "import.h"
#include "ingest.h"
#include "leads.h"

#define MAX_COLUMNS 256

struct importer {
	nu_store *s;
	const nu_import_opts *o;
	nu_import_stats *st;
	char source[256];
	uint32_t in_batch;
	char **header;
	size_t ncols;
};

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

static enum nu_import_format guess_format(const char *path, enum nu_import_format f)
{
	if (f != NU_FORMAT_AUTO)
		return f;
	if (ends_with(path, ".ndjson") || ends_with(path, ".jsonl") || ends_with(path, ".json"))
		return NU_FORMAT_NDJSON;
	return NU_FORMAT_CSV;
}

static void reject(struct importer *im, long line, const char *reason)
{
	im->st->rejected++;
	if (im->o->reject)
		im->o->reject(line, reason, im->o->ud);
}

static int commit_batch(struct importer *im, int reopen, nu_error *err)
{
	if (nu_store_commit(im->s, err) < 0)
		return NU_EDB;
	im->in_batch = 0;
	if (im->o->progress)
		im->o->progress(im->st, im->o->ud);
	return reopen ? nu_store_begin(im->s, err) : NU_OK;
}

/* Stores one record; a bad record is rejected, a database failure stops
 * the import. */
static int store_record(struct importer *im, json_t *rec, long line, nu_error *err)
{
	nu_ingest_result res;
	nu_error rowerr;
	int rc;

	im->st->rows++;
	if (im->o->kind == NU_IMPORT_LEADS)
		rc = nu_ingest_lead(im->s, rec, im->o->lead_flags, im->source, &res, &rowerr);
	else
		rc = nu_ingest_event(im->s, rec, im->source, &res, &rowerr);
	if (rc == NU_EDB || rc == NU_ENOMEM)
		return nu_error_set(err, rc, "line %ld: %s", line, rowerr.msg);
	if (rc < 0) {
		reject(im, line, rowerr.msg);
	} else {
		im->st->created += res.resolve.created;
		im->st->merged += (uint64_t)res.resolve.merged;
		im->st->updated += !res.resolve.created &&
			(res.update.changed || res.tags_added || res.resolve.attached ||
			 res.stage_changed);
		im->st->events += im->o->kind == NU_IMPORT_EVENTS && !res.duplicate;
		im->st->duplicates += (uint64_t)res.duplicate;
	}
	if (++im->in_batch >= im->o->batch_rows)
		return commit_batch(im, 1, err);
	return NU_OK;
}

/* A number written the canonical way ("42", "-7", "3.5", "0.25"): no
 * leading zeros (postcodes, phone-like ids), no hex, no exponent, no
 * inf/nan. Anything else stays text, so no value is silently altered. */
static int canonical_number(const char *v, int *is_real)
{
	const char *p = v + (*v == '-');
	size_t digits = strspn(p, "0123456789");

	*is_real = 0;
	if (digits == 0 || digits > 15 || (p[0] == '0' && digits > 1))
		return 0;
	p += digits;
	if (*p == '.') {
		size_t frac = strspn(p + 1, "0123456789");
		if (frac == 0 || frac > 15)
			return 0;
		*is_real = 1;
		p += 1 + frac;
	}
	return *p == '\0';
}

/* Custom columns holding canonical numbers become JSON numbers so flows
 * can compare them; lead_id is an integer; everything else stays text. */
static json_t *csv_value(const char *key, const char *v)
{
	int is_real;

	if (strcmp(key, "lead_id") == 0 && canonical_number(v, &is_real) && !is_real)
		return json_integer(strtoll(v, NULL, 10));
	/* props and attrs cells hold a JSON object: {"form":"whitepaper"}. */
	if ((!strcmp(key, "props") || !strcmp(key, "attrs")) && v[0] == '{') {
		json_t *o = json_loads(v, JSON_REJECT_DUPLICATES, NULL);
		if (json_is_object(o))
			return o;
		json_decref(o);
	}
	if (nu_lead_field_lookup(key) >= 0 || !strcmp(key, "tags") || !strcmp(key, "stage") ||
	    !strcmp(key, "source") || strstr(key, "_id") || !strcmp(key, "type") ||
	    !strcmp(key, "dedupe_key") || !strcmp(key, "at") || !canonical_number(v, &is_real))
		return json_string(v);
	return is_real ? json_real(strtod(v, NULL)) : json_integer(strtoll(v, NULL, 10));
}

static int read_header(struct importer *im, nu_csv *csv, nu_error *err)
{
	char **fields, msg[256];
	size_t n;
	long line;
	int rc = nu_csv_next(csv, &fields, &n, &line, msg, sizeof msg);

	if (rc == 0)
		return nu_error_set(err, NU_EINVAL, "the file is empty: a header row is needed");
	if (rc < 0)
		return nu_error_set(err, NU_EINVAL, "header (line %ld): %s", line, msg);
	if (n > MAX_COLUMNS)
		return nu_error_set(err, NU_EINVAL, "header: more than %d columns", MAX_COLUMNS);
	if (!(im->header = calloc(n, sizeof *im->header)))
		return nu_error_set(err, NU_ENOMEM, "out of memory");
	im->ncols = n;
	for (size_t i = 0; i < n; i++) {
		char *h = fields[i], *e;
		while (isspace((unsigned char)*h))
			h++;
		for (e = h + strlen(h); e > h && isspace((unsigned char)e[-1]); e--)
			;
		*e = '\0';
		for (char *p = h; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		if (!*h)
			return nu_error_set(err, NU_EINVAL, "header: column %zu has no name", i + 1);
		for (size_t j = 0; j < i; j++)
			if (strcmp(im->header[j], h) == 0)
				return nu_error_set(err, NU_EINVAL,
					"header: column '%s' appears twice", h);
		if (!(im->header[i] = strdup(h)))
			return nu_error_set(err, NU_ENOMEM, "out of memory");
	}
	return NU_OK;
}

static int import_csv(struct importer *im, FILE *f, nu_error *err)
{
	nu_csv *csv = nu_csv_open(f);
	char **fields, msg[256];
	size_t n;
	long line;
	int rc;

	if (!csv)
		return nu_error_set(err, NU_ENOMEM, "out of memory");
	if ((rc = read_header(im, csv, err)) < 0)
		goto out;
	while ((rc = nu_csv_next(csv, &fields, &n, &line, msg, sizeof msg)) != 0) {
		im->st->bytes = nu_csv_offset(csv);
		if (rc < 0) {
			im->st->rows++;
			reject(im, line, msg);
			continue;
		}
		if (n != im->ncols) {
			im->st->rows++;
			snprintf(msg, sizeof msg, "%zu fields, but the header has %zu", n, im->ncols);
			reject(im, line, msg);
			continue;
		}
		json_t *rec = json_object();
		for (size_t i = 0; i < n; i++)
			if (fields[i][0])
				json_object_set_new(rec, im->header[i], csv_value(im->header[i], fields[i]));
		rc = store_record(im, rec, line, err);
		json_decref(rec);
		if (rc < 0)
			goto out;
	}
	rc = NU_OK;
out:
	for (size_t i = 0; im->header && i < im->ncols; i++)
		free(im->header[i]);
	free(im->header);
	im->header = NULL;
	nu_csv_close(csv);
	return rc;
}

static int blank(const char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	return !*s;
}

static int import_ndjson(struct importer *im, FILE *f, nu_error *err)
{
	char *buf = NULL;
	size_t cap = 0;
	ssize_t len;
	long line = 0;
	int rc = NU_OK;

	while (rc == NU_OK && (len = getline(&buf, &cap, f)) >= 0) {
		json_error_t jerr;
		json_t *rec;
		char msg[300];

		line++;
		im->st->bytes += (uint64_t)len;
		if (blank(buf))
			continue;
		if (!(rec = json_loadb(buf, (size_t)len, JSON_REJECT_DUPLICATES, &jerr))) {
			im->st->rows++;
			snprintf(msg, sizeof msg, "malformed JSON at column %d: %s",
				 jerr.column, jerr.text);
			reject(im, line, msg);
			continue;
		}
		if (!json_is_object(rec)) {
			im->st->rows++;
			reject(im, line, "each line must be one JSON object");
		} else {
			rc = store_record(im, rec, line, err);
		}
		json_decref(rec);
	}
	free(buf);
	if (rc == NU_OK && ferror(f))
		rc = nu_error_set(err, NU_ERR, "read error: %s", strerror(errno));
	return rc;
}

int nu_import_file(nu_store *s, const char *path, const nu_import_opts *opts,
		   nu_import_stats *stats, nu_error *err)
{
	nu_import_opts o = *opts;
	struct importer im = { .s = s, .o = &o, .st = stats };
	const char *base = strrchr(path, '/');
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	struct stat sb;
	int rc;

	memset(stats, 0, sizeof *stats);
	if (!f)
		return nu_error_set(err, NU_ENOTFOUND, "cannot open '%s': %s", path, strerror(errno));
	if (fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode))
		stats->total_bytes = (uint64_t)sb.st_size;
	if (!o.batch_rows)
		o.batch_rows = 10000;
	if (o.source)
		snprintf(im.source, sizeof im.source, "%s", o.source);
	else
		snprintf(im.source, sizeof im.source, "import:%s", base ? base + 1 : path);
	if ((rc = nu_store_begin(s, err)) == NU_OK) {
		rc = guess_format(path, o.format) == NU_FORMAT_NDJSON ?
		     import_ndjson(&im, f, err) : import_csv(&im, f, err);
		if (rc == NU_OK)
			rc = commit_batch(&im, 0, err);
		else
			nu_store_rollback(s);
	}
	if (f != stdin)
		fclose(f);
	return rc;
}
