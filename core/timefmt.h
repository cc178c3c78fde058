/*
 * timefmt.h — durations and instants as text, for flows, schedules and logs.
 *
 * Everything is UTC and int64 milliseconds (nu_time_ms in nurture/types.h).
 * The process time zone is never consulted: a flow must fire at the same
 * instant whatever TZ the daemon was started with. Local-time scheduling
 * ("09:30 Beijing time") is the caller's job, by writing an offset.
 *
 * err may be NULL or errlen 0 when the caller does not want the message.
 * Messages quote at most 64 bytes of the input, control bytes as \xNN.
 * Output is truncated (still NUL-terminated) when outlen is too small.
 */
#ifndef NU_TIMEFMT_H
#define NU_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

#define NU_DURATION_BUFSZ 32  /* fits any int64 duration */
#define NU_TIME_BUFSZ     40  /* fits any int64 instant */

/* Durations like "3d", "2h30m", "90s", "1w", "500ms", "13w", "1d12h".
 * Units: ms s m h d w. A bare integer is an error (say which unit is
 * missing). Returns 0 and *ms, or -1 with err: "bad duration '3x': unknown
 * unit 'x'". Overflow checked.
 *
 * Units are lower case and must go from largest to smallest, each at most
 * once ("30m2h" and "1h1h" are refused as likely typos); a unit's number
 * may exceed the next unit up ("90m", "36h"). No sign, no spaces, no
 * fractions ("1.5h" is refused with a hint to write "1h30m"). */
int nu_duration_parse(const char *s, int64_t *ms, char *err, size_t errlen);

/* Formats ms as the shortest exact form: 259200000 -> "3d",
 * 9000000 -> "2h30m", 0 -> "0s". Returns out.
 *
 * Precisely: days, then h m s ms greedily, each only when non-zero. Days
 * are written as weeks when they are a whole number of weeks ("2w", "13w",
 * but "10d", not "1w3d"). Negative values get a leading '-', which
 * nu_duration_parse does not accept. */
char *nu_duration_format(int64_t ms, char *out, size_t outlen);

/* Parses a time to int64 ms since the Unix epoch, UTC. Accepts RFC 3339
 * ("2026-03-01T09:30:00Z", "2026-03-01T09:30:00.250+08:00"),
 * "2026-03-01 09:30[:00]" (taken as UTC unless an offset follows),
 * "2026-03-01" (midnight UTC), and a plain integer of >= 12 digits as epoch
 * milliseconds. Validates ranges (month 1-12, day within month incl. leap
 * years, hour < 24 ...). Returns 0 or -1 with err naming the problem.
 *
 * Details: 'T', 't' and ' ' are interchangeable as the date/time separator
 * and in both forms seconds and the offset are optional (no offset = UTC).
 * An offset is 'Z', 'z' or ±HH:MM (hours <= 23), optionally after one
 * space. Fractions of any length are truncated to milliseconds. Second 60
 * (leap second) is refused. Years are 0000-9999 and the instant, after
 * applying the offset, must fall inside them. A 10-digit integer is refused
 * with a hint that it looks like epoch seconds. */
int nu_time_parse(const char *s, int64_t *ms, char *err, size_t errlen);

/* Formats ms as RFC 3339 UTC with milliseconds only when non-zero:
 * "2026-03-01T09:30:00Z" / "...00.250Z". Returns out. Instants outside
 * years 0000-9999 print the year as a plain signed number. */
char *nu_time_format(int64_t ms, char *out, size_t outlen);

/* Current wall clock in ms (CLOCK_REALTIME). */
int64_t nu_time_now_ms(void);
/* A clock for durations in µs (CLOCK_MONOTONIC): never jumps. */
int64_t nu_time_monotonic_us(void);

#endif /* NU_TIMEFMT_H */
