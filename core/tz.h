/*
 * tz.h — local wall-clock times in a lead's time zone, for wait_until.
 */
#ifndef NU_TZ_H
#define NU_TZ_H

#include <stdint.h>

/* The first moment after `now_ms` when the clock in `tz` reads
 * hour:minute on one of the weekdays in `weekday_mask` (bit 1 = Monday …
 * bit 7 = Sunday; 0 = any day). An unknown zone (or NULL) is UTC; *used
 * then says "UTC". */
int64_t nu_tz_next_local(const char *tz, int64_t now_ms, int hour, int minute,
			 unsigned weekday_mask, const char **used);

#endif
