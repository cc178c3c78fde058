/*
 * timefmt.c — durations and instants as text.
 *
 * Owns the one textual form of every duration and instant that nurture
 * reads from flow files and writes to logs and exports, and the calendar
 * arithmetic behind it. The calendar is computed here (proleptic Gregorian,
 * days-from-civil after Howard Hinnant) rather than with mktime/timegm:
 * those consult the process time zone or are not portable, and an instant
 * must mean the same thing on every host.
 */
#if !defined(_POSIX_C_SOURCE) && !defined(_GNU_SOURCE)
#define _POSIX_C_SOURCE 200809L   /* clock_gettime under -std=c17 */
#endif

#include "error.h"
#include "timefmt.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define MS_SEC  INT64_C(1000)
#define MS_MIN  (60 * MS_SEC)
#define MS_HOUR (60 * MS_MIN)
#define MS_DAY  (24 * MS_HOUR)
#define MS_WEEK (7 * MS_DAY)

/* 0000-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z: the span that has a
 * four-digit year, so that every time we accept also formats back. */
#define TIME_MIN INT64_C(-62167219200000)
#define TIME_MAX INT64_C(253402300799999)

#define QUOTE_MAX   64
#define QUOTE_BUFSZ (QUOTE_MAX * 4 + 4)

/* ---------------------------------------------------------------- helpers */

/* Copies up to QUOTE_MAX bytes of s (at most n) for a message, control
 * bytes as \xNN so that flow-file garbage cannot break a log line. A cut
 * backs up to a UTF-8 character boundary and is marked with "...". */
static const char *quote(const char *s, size_t n, char *q)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i, o = 0, len = 0;
	int cut;

	while (len < n && u[len])
		len++;
	cut = len > QUOTE_MAX;
	if (cut) {
		len = QUOTE_MAX;
		while (len > 0 && (u[len] & 0xC0) == 0x80)
			len--;
	}
	for (i = 0; i < len; i++) {
		if (u[i] < 0x20 || u[i] == 0x7F)
			o += (size_t)snprintf(q + o, 5, "\\x%02X", u[i]);
		else
			q[o++] = (char)u[i];
	}
	if (cut) {
		memcpy(q + o, "...", 3);
		o += 3;
	}
	q[o] = '\0';
	return q;
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* --------------------------------------------------------------- duration */

static const struct unit {
	const char *name;
	int64_t ms;
} units[] = {   /* largest first: the order a duration must be written in */
	{ "w", MS_WEEK }, { "d", MS_DAY }, { "h", MS_HOUR },
	{ "m", MS_MIN },  { "s", MS_SEC }, { "ms", 1 },
};
#define NUNITS ((int)(sizeof units / sizeof units[0]))

static int unit_find(const char *name, size_t len)
{
	int i;

	for (i = 0; i < NUNITS; i++)
		if (strlen(units[i].name) == len &&
		    memcmp(units[i].name, name, len) == 0)
			return i;
	return -1;
}

/* Reads one <number><unit> term at *p; on success advances *p and returns
 * the term's milliseconds in *v and the unit's index in *u. */
static int dur_term(const char **p, int64_t *v, int *u, const char *q,
                    char *err, size_t errlen)
{
	const char *s = *p, *name;
	char qu[QUOTE_BUFSZ];
	int64_t n = 0;
	size_t len;

	if (*s == '-')
		return nu_fail_msg(err, errlen, "bad duration '%s': a duration cannot be "
		            "negative", q);
	if (!is_digit(*s))
		return nu_fail_msg(err, errlen, "bad duration '%s': expected a number at "
		            "'%s'", q, quote(s, QUOTE_MAX, qu));
	for (; is_digit(*s); s++) {
		if (n > (INT64_MAX - (*s - '0')) / 10)
			return nu_fail_msg(err, errlen, "bad duration '%s': too large", q);
		n = n * 10 + (*s - '0');
	}
	if (*s == '.' || *s == ',')
		return nu_fail_msg(err, errlen, "bad duration '%s': fractions are not "
		            "supported, write e.g. 1h30m instead of 1.5h", q);
	if (*s == '\0')
		return nu_fail_msg(err, errlen, "bad duration '%s': number %lld has no "
		            "unit (ms, s, m, h, d or w)", q, (long long)n);
	/* Letters and any non-ASCII bytes make up the unit, so that "3天"
	 * reports the whole unknown unit rather than a broken byte. */
	for (name = s; (*s | 32) >= 'a' && (*s | 32) <= 'z'; s++)
		;
	while ((unsigned char)*s >= 0x80)
		s++;
	len = (size_t)(s - name);
	if (len == 0)
		return nu_fail_msg(err, errlen, "bad duration '%s': unexpected character "
		            "'%s'", q, quote(name, 1, qu));
	if ((*u = unit_find(name, len)) < 0)
		return nu_fail_msg(err, errlen, "bad duration '%s': unknown unit '%s'", q,
		            quote(name, len, qu));
	if (n > INT64_MAX / units[*u].ms)
		return nu_fail_msg(err, errlen, "bad duration '%s': too large", q);
	*v = n * units[*u].ms;
	*p = s;
	return 0;
}

int nu_duration_parse(const char *s, int64_t *ms, char *err, size_t errlen)
{
	char q[QUOTE_BUFSZ];
	int64_t total = 0, v = 0;
	int last = -1, u = 0;
	const char *p = s;

	if (!s || !*s)
		return nu_fail_msg(err, errlen, "bad duration '': empty");
	quote(s, QUOTE_MAX, q);
	while (*p) {
		if (dur_term(&p, &v, &u, q, err, errlen) < 0)
			return -1;
		if (u == last)
			return nu_fail_msg(err, errlen, "bad duration '%s': unit '%s' appears "
			            "twice", q, units[u].name);
		if (u < last)
			return nu_fail_msg(err, errlen, "bad duration '%s': '%s' comes after "
			            "'%s', write larger units first", q, units[u].name,
			            units[last].name);
		if (total > INT64_MAX - v)
			return nu_fail_msg(err, errlen, "bad duration '%s': too large", q);
		total += v;
		last = u;
	}
	*ms = total;
	return 0;
}

char *nu_duration_format(int64_t ms, char *out, size_t outlen)
{
	/* -(ms + 1) + 1 in uint64, so that INT64_MIN has a magnitude too */
	uint64_t v = ms < 0 ? (uint64_t)-(ms + 1) + 1 : (uint64_t)ms, days;
	char buf[NU_DURATION_BUFSZ];
	size_t o = 0;
	int i;

	if (ms < 0)
		buf[o++] = '-';
	if (v == 0)
		o += (size_t)snprintf(buf + o, sizeof buf - o, "0s");
	days = v / (uint64_t)MS_DAY;
	v %= (uint64_t)MS_DAY;
	if (days && days % 7 == 0)
		o += (size_t)snprintf(buf + o, sizeof buf - o, "%lluw",
		                      (unsigned long long)(days / 7));
	else if (days)
		o += (size_t)snprintf(buf + o, sizeof buf - o, "%llud",
		                      (unsigned long long)days);
	for (i = 2; i < NUNITS; i++) {   /* h m s ms */
		uint64_t n = v / (uint64_t)units[i].ms;
		if (n)
			o += (size_t)snprintf(buf + o, sizeof buf - o, "%llu%s",
			                      (unsigned long long)n, units[i].name);
		v %= (uint64_t)units[i].ms;
	}
	if (out && outlen)
		snprintf(out, outlen, "%s", buf);
	return out;
}

/* --------------------------------------------------------------- calendar */

static int is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
	static const int dim[12] = { 31, 28, 31, 30, 31, 30,
	                             31, 31, 30, 31, 30, 31 };
	return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date. Counting in 400-year
 * eras starting in March puts the leap day last, so no table is needed. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* The inverse of days_from_civil. */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t era;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* ------------------------------------------------------------------- time */

static const char *const month_names[12] = {
	"January", "February", "March", "April", "May", "June", "July",
	"August", "September", "October", "November", "December",
};

/* Reads exactly n digits. Stops at the NUL, never reads past it. */
static int fixed(const char **p, int n, int *v)
{
	int i, x = 0;

	for (i = 0; i < n; i++) {
		if (!is_digit((*p)[i]))
			return 0;
		x = x * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*v = x;
	return 1;
}

static int lit(const char **p, char c)
{
	if (**p != c)
		return 0;
	(*p)++;
	return 1;
}

static int epoch_ms(const char *s, const char *q, int64_t *ms,
                    char *err, size_t errlen)
{
	size_t n = strlen(s);
	int64_t v = 0;

	if (n == 10)
		return nu_fail_msg(err, errlen, "bad time '%s': 10 digits look like epoch "
		            "seconds, give epoch milliseconds (13 digits)", q);
	if (n < 12)
		return nu_fail_msg(err, errlen, "bad time '%s': a plain number is read as "
		            "epoch milliseconds and needs at least 12 digits", q);
	for (; *s; s++) {
		if (v > (TIME_MAX - (*s - '0')) / 10)
			return nu_fail_msg(err, errlen, "bad time '%s': epoch milliseconds "
			            "past the year 9999", q);
		v = v * 10 + (*s - '0');
	}
	*ms = v;
	return 0;
}

/* Reads "Z" or "±HH:MM", after an optional space, into minutes east of
 * UTC. Leaves *p alone when no offset is there. */
static int offset(const char **p, int *minutes, const char *q,
                  char *err, size_t errlen)
{
	const char *s = *p;
	int h, m, sign;

	if (*s == ' ' && (s[1] == 'Z' || s[1] == 'z' || s[1] == '+' ||
	                  s[1] == '-'))
		s++;
	if (*s == 'Z' || *s == 'z') {
		*minutes = 0;
		*p = s + 1;
		return 0;
	}
	if (*s != '+' && *s != '-')
		return 0;
	sign = *s++ == '-' ? -1 : 1;
	if (!fixed(&s, 2, &h) || !lit(&s, ':') || !fixed(&s, 2, &m))
		return nu_fail_msg(err, errlen, "bad time '%s': a UTC offset is Z or "
		            "+HH:MM / -HH:MM, e.g. +08:00", q);
	if (h > 23)
		return nu_fail_msg(err, errlen, "bad time '%s': offset hour %02d is out "
		            "of range (00-23)", q, h);
	if (m > 59)
		return nu_fail_msg(err, errlen, "bad time '%s': offset minute %02d is out "
		            "of range (00-59)", q, m);
	*minutes = sign * (h * 60 + m);
	*p = s;
	return 0;
}

/* Reads "HH:MM[:SS[.fff]]" into milliseconds since midnight. */
static int clock_time(const char **p, int64_t *ms, const char *q,
                      char *err, size_t errlen)
{
	const char *s = *p;
	int h, m, sec = 0, frac = 0, nfrac = 0;

	if (!fixed(&s, 2, &h) || !lit(&s, ':') || !fixed(&s, 2, &m))
		return nu_fail_msg(err, errlen, "bad time '%s': expected the time of day "
		            "as HH:MM or HH:MM:SS after the date", q);
	if (!lit(&s, ':')) {
		/* "09:30": seconds, and so a fraction, left out */
	} else if (!fixed(&s, 2, &sec)) {
		return nu_fail_msg(err, errlen, "bad time '%s': expected two digits of "
		            "seconds after HH:MM:", q);
	} else if (lit(&s, '.')) {
		if (!is_digit(*s))
			return nu_fail_msg(err, errlen, "bad time '%s': expected digits after "
			            "the decimal point", q);
		/* Digits past milliseconds are dropped: truncating, unlike
		 * rounding, can never carry 23:59:59.9996 into the next day. */
		for (; is_digit(*s); s++)
			if (nfrac < 3) {
				frac = frac * 10 + (*s - '0');
				nfrac++;
			}
		for (; nfrac < 3; nfrac++)
			frac *= 10;
	}
	if (h > 23)
		return nu_fail_msg(err, errlen, "bad time '%s': hour %02d is out of range "
		            "(00-23)", q, h);
	if (m > 59)
		return nu_fail_msg(err, errlen, "bad time '%s': minute %02d is out of "
		            "range (00-59)", q, m);
	if (sec > 59)
		return nu_fail_msg(err, errlen, "bad time '%s': second %02d is out of "
		            "range (00-59, leap seconds are not supported)", q, sec);
	*ms = h * MS_HOUR + m * MS_MIN + sec * MS_SEC + frac;
	*p = s;
	return 0;
}

static int date_time(const char *s, const char *q, int64_t *ms,
                     char *err, size_t errlen)
{
	const char *p = s;
	char qr[QUOTE_BUFSZ];
	int y, mo, d, off = 0;
	int64_t tod = 0, t;

	if (!fixed(&p, 4, &y) || !lit(&p, '-') || !fixed(&p, 2, &mo) ||
	    !lit(&p, '-') || !fixed(&p, 2, &d))
		return nu_fail_msg(err, errlen, "bad time '%s': expected a date as "
		            "YYYY-MM-DD", q);
	if (mo < 1 || mo > 12)
		return nu_fail_msg(err, errlen, "bad time '%s': month %02d is out of range "
		            "(01-12)", q, mo);
	if (d < 1 || d > days_in_month(y, mo))
		return nu_fail_msg(err, errlen, "bad time '%s': day %02d is out of range, "
		            "%s %04d has %d days", q, d, month_names[mo - 1], y,
		            days_in_month(y, mo));
	if (lit(&p, 'T') || lit(&p, 't') || lit(&p, ' ')) {
		if (clock_time(&p, &tod, q, err, errlen) < 0 ||
		    offset(&p, &off, q, err, errlen) < 0)
			return -1;
	}
	if (*p)
		return nu_fail_msg(err, errlen, "bad time '%s': unexpected '%s' at the end",
		            q, quote(p, QUOTE_MAX, qr));
	t = days_from_civil(y, (unsigned)mo, (unsigned)d) * MS_DAY + tod -
	    off * MS_MIN;
	if (t < TIME_MIN || t > TIME_MAX)
		return nu_fail_msg(err, errlen, "bad time '%s': outside the years "
		            "0000-9999 once the offset is applied", q);
	*ms = t;
	return 0;
}

int nu_time_parse(const char *s, int64_t *ms, char *err, size_t errlen)
{
	char q[QUOTE_BUFSZ];
	const char *p;

	if (!s || !*s)
		return nu_fail_msg(err, errlen, "bad time '': empty");
	quote(s, QUOTE_MAX, q);
	for (p = s; is_digit(*p); p++)
		;
	if (*p == '\0')
		return epoch_ms(s, q, ms, err, errlen);
	return date_time(s, q, ms, err, errlen);
}

char *nu_time_format(int64_t ms, char *out, size_t outlen)
{
	int64_t rem = ms % MS_DAY, days = ms / MS_DAY, y;
	unsigned m, d;

	if (rem < 0) {   /* floor, not truncation, before 1970 */
		rem += MS_DAY;
		days--;
	}
	civil_from_days(days, &y, &m, &d);
	if (!out || !outlen)
		return out;
	if (rem % MS_SEC)
		snprintf(out, outlen, "%04lld-%02u-%02uT%02d:%02d:%02d.%03dZ",
		         (long long)y, m, d, (int)(rem / MS_HOUR),
		         (int)(rem / MS_MIN % 60), (int)(rem / MS_SEC % 60),
		         (int)(rem % MS_SEC));
	else
		snprintf(out, outlen, "%04lld-%02u-%02uT%02d:%02d:%02dZ",
		         (long long)y, m, d, (int)(rem / MS_HOUR),
		         (int)(rem / MS_MIN % 60), (int)(rem / MS_SEC % 60));
	return out;
}

int64_t nu_time_monotonic_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t nu_time_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * MS_SEC + ts.tv_nsec / 1000000;
}
