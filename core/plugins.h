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
 * (borrowed; may be NULL). */
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

/* [{file, name, version, status, error, channels: [{name, health}]}] */
json_t *nu_plugins_describe(nu_plugins *r);

#endif
