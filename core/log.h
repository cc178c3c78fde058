/*
 * log.h — levelled logging to stderr, with an optional context prefix
 * (a lead, a run, a plugin) so one line says whose it is.
 */
#ifndef NU_LOG_H
#define NU_LOG_H

enum nu_log_level { NU_LOG_DEBUG, NU_LOG_INFO, NU_LOG_WARN, NU_LOG_ERROR };

void nu_log_set_level(enum nu_log_level level);
/* "debug", "info", "warn", "error"; returns -1 for anything else. */
int  nu_log_level_parse(const char *name);
void nu_log(enum nu_log_level level, const char *ctx, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define nu_debug(...) nu_log(NU_LOG_DEBUG, NULL, __VA_ARGS__)
#define nu_info(...)  nu_log(NU_LOG_INFO,  NULL, __VA_ARGS__)
#define nu_warn(...)  nu_log(NU_LOG_WARN,  NULL, __VA_ARGS__)
#define nu_err(...)   nu_log(NU_LOG_ERROR, NULL, __VA_ARGS__)

#endif
