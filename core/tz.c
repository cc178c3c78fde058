/*
 * tz.c — next local wall-clock time in a time zone.
 *
 * Uses the C library's tz database through TZ and mktime: the process is
 * single-threaded, and the previous TZ is restored before returning.
 * Daylight-saving gaps are handled by mktime's normalisation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "tz.h"

static int zone_known(const char *tz)
{
	char path[256];
	struct stat st;

	if (!tz || !*tz || strstr(tz, ".."))
		return 0;
	if (!strcmp(tz, "UTC"))
		return 1;
	snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", tz);
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int64_t nu_tz_next_local(const char *tz, int64_t now_ms, int hour, int minute,
			 unsigned weekday_mask, const char **used)
{
	const char *old = getenv("TZ");
	char *saved = old ? strdup(old) : NULL;
	time_t now = (time_t)(now_ms / 1000), t = now;
	struct tm tm;

	if (!zone_known(tz))
		tz = "UTC";
	if (used)
		*used = tz;
	setenv("TZ", tz, 1);
	tzset();
	localtime_r(&now, &tm);
	for (int day = 0; day < 9; day++) {
		struct tm c = tm;
		c.tm_mday += day;
		c.tm_hour = hour;
		c.tm_min = minute;
		c.tm_sec = 0;
		c.tm_isdst = -1;
		t = mktime(&c);
		int monday_first = c.tm_wday == 0 ? 7 : c.tm_wday;
		if (t > now && (!weekday_mask || (weekday_mask & (1u << monday_first))))
			break;
	}
	if (saved) {
		setenv("TZ", saved, 1);
		free(saved);
	} else {
		unsetenv("TZ");
	}
	tzset();
	return (int64_t)t * 1000;
}
