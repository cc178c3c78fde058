/*
 * csv.h — streaming RFC 4180 CSV reader (interface).
 *
 * The reader turns bytes from a FILE into records of NUL-terminated fields.
 * It knows nothing about what the columns mean; importers do. Records are
 * read one at a time so a million-row contact list never has to fit in
 * memory, and the buffers behind a record are reused for the next one.
 *
 * Accepted input: comma separator; fields optionally enclosed in double
 * quotes, inside which commas, CR, LF and "" (a literal quote) may appear;
 * records end in LF or CRLF, or at end of input. A UTF-8 byte order mark at
 * the very start is skipped and completely empty lines are ignored. A CR not
 * followed by LF in an unquoted field is kept as data. Bytes are passed
 * through untouched, so any encoding that is ASCII-compatible (UTF-8) works;
 * a NUL byte in the input ends the field early as seen through the C string.
 */
#ifndef NU_CSV_H
#define NU_CSV_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct nu_csv nu_csv;

/* Wraps an open FILE (borrowed: the caller closes it after nu_csv_close).
 * Returns NULL on OOM. */
nu_csv *nu_csv_open(FILE *f);

/* Reads the next record. Returns 1 and sets *fields (array of NUL-terminated
 * strings) and *nfields, 0 at end of input, -1 on a malformed record (err
 * gets a plain message such as "unterminated quoted field" or "stray quote
 * in unquoted field"; the reader resynchronises at the next line and later
 * calls go on). *line is set to the 1-based physical line number where the
 * record starts, for all three outcomes. Fields and the array are owned by
 * the reader and valid until the next call.
 *
 * On 0 and -1, *fields is set to NULL and *nfields to 0. line and err may be
 * NULL when the caller does not want them. A single record larger than
 * 1 MiB is refused with "record longer than 1 MiB". */
int nu_csv_next(nu_csv *c, char ***fields, size_t *nfields, long *line,
				char *err, size_t errlen);

/* Bytes consumed from the FILE so far (for progress display). */
uint64_t nu_csv_offset(const nu_csv *c);

void nu_csv_close(nu_csv *c);

#endif /* NU_CSV_H */
