/*
 * plugins.h — loading channel plugins (shared objects) and adapting the
 * channels they register to the engine.
 */
#ifndef NU_PLUGINS_H
#define NU_PLUGINS_H

#include <jansson.h>
#include "engine.h"
#include "http_client.h"

typedef struct nu_plugins nu_plugins;

/* A registry bound to an engine; config is {plugin name: {key: value}}
 * (borrowed; may be NULL). Without an engine (e NULL) the registry only
 * serves checks (nu_plugins_check_message): its channels reach no engine,
 * and host functions that need the database fail with a logged reason. */
int  nu_plugins_open(nu_engine *e, json_t *config, nu_plugins **out, nu_error *err);
/* Closes every plugin (call after the engine stops using channels). */
void nu_plugins_close(nu_plugins *r);

/* Loads one plugin file. On any refusal (permissions, no entry symbol, ABI
 * major, a failing load) the message names the file and the reason,
 * nothing it registered stays, and the registry goes on. */
int nu_plugins_load_file(nu_plugins *r, const char *path, nu_error *err);
/* Loads every *.so in dir; refusals are logged and recorded (see
 * nu_plugins_describe), *loaded counts the good ones. */
int nu_plugins_load_dir(nu_plugins *r, const char *dir, int *loaded, nu_error *err);

/* Gives plugins the daemon's loop: its HTTP client (borrowed) and a token
 * cache on that loop. Without it (CLI commands) both are unavailable. */
struct event_base;
void nu_plugins_set_loop(nu_plugins *r, struct event_base *base, nu_http *http);

/* Tracking URLs for plugins (host->track_url): the public base URL and
 * the signing key (http.public_url, http.tracking_key). Without both,
 * track_url refuses and messages go out untracked. */
void nu_plugins_set_tracking(nu_plugins *r, const char *public_url, const char *key);

/* Hands a /hooks/<name>/… request to plugin `name`'s webhook handler.
 * Returns 0 (resp filled in), -1 (the handler failed), or -2 (no such
 * plugin, or it takes no webhooks). */
struct nu_webhook_req;
struct nu_webhook_resp;
int nu_plugins_webhook(nu_plugins *r, const char *name, const struct nu_webhook_req *req,
		       struct nu_webhook_resp *resp);

/* Asks the loaded plugin channel named `channel` whether message_json
 * could be sent (its check op). 0: it could; -1: it could not, the reason
 * in why; 1: no loaded plugin provides the channel, or it has no check.
 * With message_json NULL, only says whether there is a check (0) or not. */
int nu_plugins_check_message(nu_plugins *r, const char *channel, const char *message_json,
			     char *why, size_t len);

/* [{file, name, version, status, error, channels: [{name, health}]}] */
json_t *nu_plugins_describe(nu_plugins *r);

#endif
