/*
 * import.h — bulk import of leads or events from a file (CSV with a header
 * row, or NDJSON). A bad row is reported with its line number and reason
 * and the rest are imported; rows are committed in batches.
 */
#ifndef NU_IMPORT_H
#define NU_IMPORT_H

#include <stdint.h>
#include "store.h"

enum nu_import_kind { NU_IMPORT_LEADS, NU_IMPORT_EVENTS };
enum nu_import_format { NU_FORMAT_AUTO, NU_FORMAT_CSV, NU_FORMAT_NDJSON };

typedef struct nu_import_stats {
	uint64_t rows;        /* records read */
	uint64_t created;     /* leads created */
	uint64_t updated;     /* existing leads that changed */
	uint64_t merged;      /* leads merged into others */
	uint64_t events;      /* events stored */
	uint64_t duplicates;  /* events skipped by dedupe key */
	uint64_t rejected;    /* bad rows */
	uint64_t bytes, total_bytes;
} nu_import_stats;

typedef struct nu_import_opts {
	enum nu_import_kind   kind;
	enum nu_import_format format;     /* AUTO: by file extension */
	unsigned              lead_flags; /* NU_LEAD_OVERWRITE */
	const char           *source;     /* default "import:<file name>" */
	uint32_t              batch_rows; /* rows per transaction; default 10000 */
	/* Called after each committed batch. */
	void (*progress)(const nu_import_stats *st, void *ud);
	/* Called for each rejected row: physical line number and reason. */
	void (*reject)(long line, const char *reason, void *ud);
	void *ud;
} nu_import_opts;

/* Imports `path` ("-" = standard input). Fails as a whole (NU_EINVAL)
 * only when the file cannot be read or its header is unusable; bad rows
 * are counted in stats->rejected and passed to opts->reject. */
int nu_import_file(nu_store *s, const char *path, const nu_import_opts *opts,
		   nu_import_stats *stats, nu_error *err);

#endif
