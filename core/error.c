/*
 * error.c — formatting of nu_error messages and names of status codes.
 */
#include <stdio.h>
#include <string.h>
#include "error.h"

int nu_error_vset(nu_error *err, int code, const char *fmt, va_list ap)
{
	if (err) {
		err->code = code;
		vsnprintf(err->msg, sizeof err->msg, fmt, ap);
	}
	return code;
}

int nu_error_set(nu_error *err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	nu_error_vset(err, code, fmt, ap);
	va_end(ap);
	return code;
}

int nu_error_prefix(nu_error *err, const char *fmt, ...)
{
	char prefix[NU_ERROR_MAX], old[NU_ERROR_MAX];
	va_list ap;

	if (!err)
		return NU_ERR;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof prefix, fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof old);
	snprintf(err->msg, sizeof err->msg, "%s: %s", prefix, old);
	return err->code;
}

int nu_fail_msg(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

void nu_error_clear(nu_error *err)
{
	if (err) {
		err->code = NU_OK;
		err->msg[0] = '\0';
	}
}

const char *nu_status_name(int code)
{
	switch (code) {
	case NU_OK:        return "ok";
	case NU_ENOTFOUND: return "not found";
	case NU_EINVAL:    return "invalid input";
	case NU_EDUP:      return "duplicate";
	case NU_ESTATE:    return "not allowed";
	case NU_ENOMEM:    return "out of memory";
	case NU_EDB:       return "database error";
	case NU_EVERSION:  return "version mismatch";
	default:           return "error";
	}
}
