/*
 * log.c — the logger. One line per message, written with a single fprintf
 * so lines from different sources do not interleave mid-line.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "log.h"

static enum nu_log_level current_level = NU_LOG_INFO;
static const char *const level_names[] = { "debug", "info", "warn", "error" };

void nu_log_set_level(enum nu_log_level level)
{
	current_level = level;
}

int nu_log_level_parse(const char *name)
{
	for (int i = 0; i < 4; i++)
		if (strcmp(name, level_names[i]) == 0)
			return i;
	return -1;
}

void nu_log(enum nu_log_level level, const char *ctx, const char *fmt, ...)
{
	char msg[2048], stamp[32];
	struct timespec ts;
	struct tm tm;
	va_list ap;

	if (level < current_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ldZ %-5s %s%s%s\n", stamp, ts.tv_nsec / 1000000L,
		level_names[level], ctx ? ctx : "", ctx ? ": " : "", msg);
}
