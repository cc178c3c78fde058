/*
 * csv.c — streaming RFC 4180 CSV reader.
 *
 * Owns the byte-level parse of CSV input: buffering reads from the FILE,
 * splitting records into fields, unescaping quoted fields, counting physical
 * lines for error messages, and resynchronising after a malformed record.
 *
 * Speed matters (contact imports run to millions of rows), so:
 *   - input is read in 64 KiB blocks and scanned in place; the inner loops
 *     look for the few interesting bytes and copy the plain runs between them
 *     with one memcpy, instead of handling one character per call;
 *   - the field bytes of a record live in one growing buffer, each field
 *     NUL-terminated, and the field array is rebuilt over it; both buffers
 *     are kept across records, so the steady state does no allocation.
 *
 * Errors inside a record do not stop the scan at once. The first error is
 * remembered, further field bytes are discarded, and the record is parsed to
 * its real end (or to the end of the physical line for quote errors, where
 * the structure can no longer be trusted). That way an over-long quoted
 * field full of newlines is skipped as a whole and the next call starts on
 * a real record boundary.
 */
#include "csv.h"

#include <stdlib.h>
#include <string.h>

#define CSV_BUFSZ  (64 * 1024)   /* read block */
#define CSV_MAXREC (1024 * 1024) /* sanity cap on one record's field bytes */
#define CSV_RECMIN 4096          /* first size of the record buffer */
#define CSV_FLDMIN 32            /* first size of the field array */

/* How a field ended, as reported by the field scanners. */
enum { F_COMMA, F_EOL, F_EOF, F_BAD };

struct nu_csv {
	FILE *f;

	unsigned char *buf; /* read block; bytes [pos, len) are not parsed yet */
	size_t pos, len;
	uint64_t nread;     /* bytes fread so far */
	int eof;            /* fread came back empty: no more input */
	int ioerr;          /* the FILE reported an error */
	int ioerr_told;     /* ... and the caller has heard about it */
	int started;        /* the BOM check at offset 0 is done */
	long line;          /* physical line of buf[pos], 1-based */

	char *rec;          /* field bytes of the current record */
	size_t rlen, rcap;
	size_t *offs;       /* start of each field in rec; the pointers are */
	                    /* made at the end, as rec may move on growth */
	char **fields;
	size_t nf, fcap;

	const char *err;    /* first error in the current record, or NULL */
};

/* Bytes that end a run in an unquoted field. */
static const unsigned char unquoted_stop[256] = {
	[','] = 1, ['\n'] = 1, ['\r'] = 1, ['"'] = 1,
};

/* ---------------------------------------------------------------- input */

/* Moves the unparsed tail to the front of the block and reads more after it.
 * Only called when fewer than a handful of bytes are pending, so there is
 * always room to read into. Returns the number of bytes read. */
static size_t fill(nu_csv *c)
{
	size_t n;

	if (c->eof) return 0;
	if (c->pos > 0) {
		memmove(c->buf, c->buf + c->pos, c->len - c->pos);
		c->len -= c->pos;
		c->pos = 0;
	}
	n = fread(c->buf + c->len, 1, CSV_BUFSZ - c->len, c->f);
	if (n == 0) {
		/* A short read could be a pipe; only an empty one means the end. */
		c->eof = 1;
		if (ferror(c->f)) c->ioerr = 1;
	}
	c->len += n;
	c->nread += n;
	return n;
}

/* Next byte without consuming it, or -1 at end of input. */
static int peek1(nu_csv *c)
{
	if (c->pos == c->len && fill(c) == 0) return -1;
	return c->buf[c->pos];
}

/* The byte after the next one, or -1. Used to look past a CR or a quote,
 * which may sit at the very end of the block. */
static int peek2(nu_csv *c)
{
	while (c->len - c->pos < 2)
		if (fill(c) == 0) return -1;
	return c->buf[c->pos + 1];
}

/* Skips the rest of the physical line, newline included. */
static void skip_line(nu_csv *c)
{
	for (;;) {
		unsigned char *nl;

		if (c->pos == c->len && fill(c) == 0) return;
		nl = memchr(c->buf + c->pos, '\n', c->len - c->pos);
		if (nl) {
			c->pos = (size_t)(nl - c->buf) + 1;
			c->line++;
			return;
		}
		c->pos = c->len;
	}
}

/* Skips the UTF-8 byte order mark that spreadsheet exports like to add. */
static void skip_bom(nu_csv *c)
{
	while (c->len - c->pos < 3)
		if (fill(c) == 0) break;
	if (c->len - c->pos >= 3 && memcmp(c->buf + c->pos, "\xEF\xBB\xBF", 3) == 0)
		c->pos += 3;
	c->started = 1;
}

/* Skips lines with nothing on them (LF or CRLF alone). */
static void skip_blank_lines(nu_csv *c)
{
	for (;;) {
		int ch = peek1(c);

		if (ch == '\n') {
			c->pos++;
			c->line++;
		} else if (ch == '\r' && peek2(c) == '\n') {
			c->pos += 2;
			c->line++;
		} else {
			return;
		}
	}
}

/* --------------------------------------------------------------- output */

static void set_err(nu_csv *c, const char *msg)
{
	if (!c->err) c->err = msg;
}

static int grow_rec(nu_csv *c, size_t need)
{
	size_t cap = c->rcap;
	char *p;

	while (cap < need) cap *= 2;
	if (cap > CSV_MAXREC) cap = CSV_MAXREC; /* need never exceeds it */
	p = realloc(c->rec, cap);
	if (!p) return -1;
	c->rec = p;
	c->rcap = cap;
	return 0;
}

/* Appends n field bytes. Once the record has an error the bytes are dropped:
 * the record will be refused anyway and this keeps memory bounded. */
static inline void put(nu_csv *c, const void *s, size_t n)
{
	if (c->err) return;
	if (c->rlen + n > c->rcap) {
		if (c->rlen + n > CSV_MAXREC) {
			set_err(c, "record longer than 1 MiB");
			return;
		}
		if (grow_rec(c, c->rlen + n) != 0) {
			set_err(c, "out of memory");
			return;
		}
	}
	memcpy(c->rec + c->rlen, s, n);
	c->rlen += n;
}

static int grow_fields(nu_csv *c)
{
	size_t cap = c->fcap * 2;
	size_t *o;
	char **f;

	/* Each array is kept as soon as its realloc succeeds, so a failure of
     * the second leaves both valid; fcap only moves when both have grown. */
	o = realloc(c->offs, cap * sizeof *o);
	if (!o) return -1;
	c->offs = o;
	f = realloc(c->fields, cap * sizeof *f);
	if (!f) return -1;
	c->fields = f;
	c->fcap = cap;
	return 0;
}

static void begin_field(nu_csv *c)
{
	if (c->err) return;
	if (c->nf == c->fcap && grow_fields(c) != 0) {
		set_err(c, "out of memory");
		return;
	}
	c->offs[c->nf++] = c->rlen;
}

/* ------------------------------------------------------------- scanning */

/* Scans an unquoted field up to and including its terminator. */
static int scan_unquoted(nu_csv *c)
{
	for (;;) {
		const unsigned char *s, *p, *e;

		if (c->pos == c->len && fill(c) == 0) return F_EOF;
		s = p = c->buf + c->pos;
		e = c->buf + c->len;
		while (p < e && !unquoted_stop[*p]) p++;
		put(c, s, (size_t)(p - s));
		c->pos = (size_t)(p - c->buf);
		if (p == e) continue;

		switch (*p) {
		case ',':
			c->pos++;
			return F_COMMA;
		case '\n':
			c->pos++;
			c->line++;
			return F_EOL;
		case '"':
			set_err(c, "stray quote in unquoted field");
			return F_BAD;
		default: /* '\r': a record end only when LF follows */
			if (peek2(c) == '\n') {
				c->pos += 2;
				c->line++;
				return F_EOL;
			}
			put(c, "\r", 1);
			c->pos++;
			break;
		}
	}
}

/* Scans a quoted field, the opening quote already consumed, up to and
 * including the terminator after the closing quote. */
static int scan_quoted(nu_csv *c)
{
	for (;;) {
		const unsigned char *s, *p, *e;
		long nl = 0;
		int next;

		if (c->pos == c->len && fill(c) == 0) {
			set_err(c, "unterminated quoted field");
			return F_EOF;
		}
		s = p = c->buf + c->pos;
		e = c->buf + c->len;
		/* Newlines are data here but still advance the physical line, so
         * the following record reports where it really starts. */
		while (p < e && *p != '"') nl += (*p++ == '\n');
		c->line += nl;
		put(c, s, (size_t)(p - s));
		c->pos = (size_t)(p - c->buf);
		if (p == e) continue;

		/* At a quote: either "" (a literal quote) or the closing one. */
		next = peek2(c);
		if (next == '"') {
			put(c, "\"", 1);
			c->pos += 2;
			continue;
		}
		c->pos++;
		switch (next) {
		case ',':
			c->pos++;
			return F_COMMA;
		case '\n':
			c->pos++;
			c->line++;
			return F_EOL;
		case -1:
			return F_EOF;
		case '\r':
			if (peek2(c) == '\n') {
				c->pos += 2;
				c->line++;
				return F_EOL;
			}
			/* fall through */
		default:
			set_err(c, "unexpected character after closing quote");
			return F_BAD;
		}
	}
}

/* Parses one record's fields; the caller has made sure one starts here. */
static void scan_record(nu_csv *c)
{
	for (;;) {
		int end;

		begin_field(c);
		if (peek1(c) == '"') {
			c->pos++;
			end = scan_quoted(c);
		} else {
			end = scan_unquoted(c);
		}
		put(c, "", 1); /* the field's terminating NUL */
		if (end == F_COMMA) continue;
		if (end == F_BAD) skip_line(c);
		return;
	}
}

/* ------------------------------------------------------------------ API */

nu_csv *nu_csv_open(FILE *f)
{
	nu_csv *c = calloc(1, sizeof *c);

	if (!c) return NULL;
	c->f = f;
	c->line = 1;
	c->rcap = CSV_RECMIN;
	c->fcap = CSV_FLDMIN;
	c->buf = malloc(CSV_BUFSZ);
	c->rec = malloc(c->rcap);
	c->offs = malloc(c->fcap * sizeof *c->offs);
	c->fields = malloc(c->fcap * sizeof *c->fields);
	if (!c->buf || !c->rec || !c->offs || !c->fields) {
		nu_csv_close(c);
		return NULL;
	}
	return c;
}

static int fail(const char *msg, char *err, size_t errlen)
{
	if (err && errlen > 0) snprintf(err, errlen, "%s", msg);
	return -1;
}

int nu_csv_next(nu_csv *c, char ***fields, size_t *nfields, long *line,
				char *err, size_t errlen) {
	size_t i;

    *fields = NULL;
    *nfields = 0;
	c->rlen = 0;
	c->nf = 0;
	c->err = NULL;

	if (!c->started) skip_bom(c);
	skip_blank_lines(c);
	if (line) *line = c->line;

	if (peek1(c) == -1) {
		if (c->ioerr && !c->ioerr_told) {
			c->ioerr_told = 1;
			return fail("read error", err, errlen);
		}
		return 0;
	}

	scan_record(c);
	if (c->err) return fail(c->err, err, errlen);
	if (c->ioerr && !c->ioerr_told) {
		/* The record may have been cut short by the failed read. */
		c->ioerr_told = 1;
		return fail("read error", err, errlen);
	}

	for (i = 0; i < c->nf; i++) c->fields[i] = c->rec + c->offs[i];
    *fields = c->fields;
    *nfields = c->nf;
	return 1;
}

uint64_t nu_csv_offset(const nu_csv *c)
{
	return c->nread - (c->len - c->pos);
}

void nu_csv_close(nu_csv *c)
{
	if (!c) return;
	free(c->buf);
	free(c->rec);
	free(c->offs);
	free(c->fields);
	free(c);
}
