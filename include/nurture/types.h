/*
 * nurture/types.h — status codes and small value types shared by the core
 * and by plugins. Append-only: values never change meaning once released.
 */
#ifndef NURTURE_TYPES_H
#define NURTURE_TYPES_H

#include <stdint.h>

/* Every fallible core function returns one of these. Negative is failure so
 * that `if (rc < 0)` reads naturally; NU_OK is zero. */
typedef enum nu_status {
	NU_OK        =  0,
	NU_ERR       = -1,  /* generic failure; the error message says what */
	NU_ENOTFOUND = -2,  /* the lead, tag, identity … does not exist */
	NU_EINVAL    = -3,  /* bad input: the message names the field */
	NU_EDUP      = -4,  /* already present (dedupe key, identity owner) */
	NU_ESTATE    = -5,  /* not allowed in the current state (stage rules) */
	NU_ENOMEM    = -6,
	NU_EDB       = -7,  /* SQLite failed; the message carries its text */
	NU_EVERSION  = -8,  /* database or ABI from a newer version */
} nu_status;

typedef int64_t nu_lead_id;   /* lead.id in the store; 0 means "none" */
typedef int64_t nu_time_ms;   /* milliseconds since the Unix epoch, UTC */

#endif
