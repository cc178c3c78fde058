/*
 * plugins.c — the plugin loader and registry.
 *
 * Loading follows the Redis/Postfix rules: refuse a file that others could
 * have written (group/world-writable, or owned by someone other than root
 * or us); dlopen with RTLD_NOW|RTLD_LOCAL so a missing symbol fails now
 * and plugins cannot bind to each other; one entry symbol; the
 * descriptor's struct_size is checked before any member past it is read,
 * and the ABI major must match. Channels registered during load() are
 * kept aside and only handed to the engine when load() succeeds, so a
 * refusal undoes itself by dropping them.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include "identity.h"
#include "ingest.h"
#include "json_text.h"
#include "leads.h"
#include "log.h"
#include "nurture/plugin.h"
#include "plugins.h"
#include "token_cache.h"
#include "track.h"

#define MAX_PLUGINS 32
#define MAX_CHANNELS 8

struct channel {
	nu_channel_ops ops;          /* copied, up to what both sides know */
	void *state;
	nu_channel engine_ch;        /* what the engine calls */
	struct nu_plugin *plugin;
	char name[32];
};

struct nu_plugin {
	nu_plugins *reg;
	char *path;
	void *dl;
	const nu_plugin_desc *desc;  /* &desc_copy once checked, else NULL */
	nu_plugin_desc desc_copy;    /* the plugin's descriptor, as far as both sides know it */
	json_t *config;              /* borrowed section of the registry config */
	nu_host_api host;            /* this plugin's table: it may keep the pointer */
	struct channel *chans[MAX_CHANNELS];
	int nchans;
	nu_webhook_fn webhook;       /* /hooks/<name>/… ; NULL: none */
	void *webhook_ud;
	int loaded;
	char error[300];
};

struct nu_plugins {
	nu_engine *e;                /* NULL: a registry for checks only (flow check, deploy) */
	nu_http *http;               /* the daemon's client; NULL outside the daemon */
	nu_tokens *tokens;           /* the daemon's token cache; NULL outside it */
	json_t *config;
	char track_base[256];        /* http.public_url; "" = no tracking */
	unsigned char track_key[256];
	size_t track_keylen;
	nu_plugin *plugins[MAX_PLUGINS];
	int n;
	nu_host_api host;
};

/* ---- the host API table ----------------------------------------------- */

static void host_log(nu_plugin *p, int level, const char *fmt, ...)
{
	char msg[1024], ctx[80];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	snprintf(ctx, sizeof ctx, "plugin %s", p->desc ? p->desc->name : p->path);
	nu_log(level < 0 ? NU_LOG_DEBUG : level > NU_LOG_ERROR ? NU_LOG_ERROR : (enum nu_log_level)level,
	       ctx, "%s", msg);
}

static const char *host_config_get(nu_plugin *p, const char *key)
{
	json_t *v = json_object_get(p->config, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Without an engine (a registry that only checks flows) there is no store:
 * the functions that need one say so and fail. */
static nu_store *store_of(nu_plugin *p, const char *what)
{
	if (p->reg->e)
		return nu_engine_store(p->reg->e);
	host_log(p, NU_PLOG_ERROR, "%s: no database in this command (plugins are loaded to check flows)",
		 what);
	return NULL;
}

static int64_t host_now(nu_plugin *p)
{
	struct timespec ts;

	if (p->reg->e)
		return nu_store_now(nu_engine_store(p->reg->e));
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* From the kernel: plugins may use it for nonces, so it must differ
 * between processes (libc random() is never seeded here). */
static uint64_t host_random(nu_plugin *p)
{
	uint64_t v = 0;

	(void)p;
	if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		v = (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull ^ (uint64_t)getpid();
	}
	return v;
}

static int channel_send(void *state, int64_t op_id, int64_t lead_id, const json_t *message,
			nu_engine *eng);
static int channel_check(void *state, const json_t *message, char *why, size_t len);

static int host_register_channel(nu_plugin *p, const nu_channel_ops *ops)
{
	struct channel *c;
	char err[200] = "";

	if (!ops || ops->struct_size < offsetof(nu_channel_ops, send) + sizeof ops->send ||
	    !ops->name || !ops->send) {
		snprintf(p->error, sizeof p->error, "register_channel: incomplete channel ops");
		return -1;
	}
	if (p->nchans == MAX_CHANNELS || strlen(ops->name) >= sizeof c->name)
		return -1;
	if (!(c = calloc(1, sizeof *c)))
		return -1;
	memcpy(&c->ops, ops, ops->struct_size < sizeof c->ops ? ops->struct_size : sizeof c->ops);
	c->ops.struct_size = sizeof c->ops;
	snprintf(c->name, sizeof c->name, "%s", ops->name);
	c->plugin = p;
	c->engine_ch = (nu_channel){ c->name, channel_send, c, (c->ops.flags & NU_CHANNEL_IDEMPOTENT) != 0,
				     c->ops.check ? channel_check : NULL };
	if (c->ops.init && c->ops.init(p, &c->state, err, sizeof err) < 0) {
		snprintf(p->error, sizeof p->error, "channel %s: %s", c->name, err[0] ? err : "init failed");
		free(c);
		return -1;
	}
	p->chans[p->nchans++] = c;
	return 0;
}

static const char *status_word(nu_send_status s)
{
	switch (s) {
	case NU_SEND_OK:    return "sent";
	case NU_SEND_ETEMP: return "retry";
	case NU_SEND_EPERM: return "failed";
	default:            return "unknown";
	}
}

static void host_send_complete(nu_plugin *p, int64_t op_id, const nu_send_result *res)
{
	nu_error err;

	if (!res || res->struct_size < sizeof(uint32_t) + sizeof res->status) {
		host_log(p, NU_PLOG_ERROR, "send_complete(%lld) without a result", (long long)op_id);
		return;
	}
	if (!store_of(p, "send_complete"))
		return;
	if (nu_engine_send_complete(p->reg->e, op_id, status_word(res->status), res->provider_id,
				    res->error, &err) < 0)
		host_log(p, NU_PLOG_ERROR, "recording send %lld: %s", (long long)op_id, err.msg);
}

static int host_hmac(const void *key, size_t keylen, const void *data, size_t len,
		     unsigned char out[32])
{
	unsigned int n = 0;
	return HMAC(EVP_sha256(), key, (int)keylen, data, len, out, &n) && n == 32 ? 0 : -1;
}

static int host_emit_event(nu_plugin *p, nu_lead_id lead, const char *type,
			   const char *props_json, const char *dedupe_key)
{
	nu_store *s = store_of(p, "emit_event");
	json_t *rec;
	nu_ingest_result res;
	char source[80];
	nu_error err;
	int own, rc;

	if (!s)
		return -1;
	own = !nu_store_in_tx(s);
	rec = json_pack("{s:I,s:s}", "lead_id", (json_int_t)lead, "type", type ? type : "");

	if (props_json) {
		json_t *props = json_loads(props_json, 0, NULL);
		if (!json_is_object(props)) {
			json_decref(props);
			json_decref(rec);
			host_log(p, NU_PLOG_ERROR, "emit_event(%s): props is not a JSON object", type);
			return -1;
		}
		json_object_set_new(rec, "props", props);
	}
	/* Each plugin's keys in a namespace of their own, out of reach of
	 * outside writers and of other plugins. */
	if (dedupe_key) {
		char *key = NULL;
		if (asprintf(&key, "nu:%s:%s", p->desc ? p->desc->name : "?", dedupe_key) < 0) {
			json_decref(rec);
			return -1;
		}
		json_object_set_new(rec, "dedupe_key", json_string(key));
		free(key);
	}
	snprintf(source, sizeof source, "plugin:%s", p->desc ? p->desc->name : "?");
	if (own && nu_store_begin(s, &err) < 0) {
		json_decref(rec);
		return -1;
	}
	rc = nu_ingest_event(s, rec, source, &res, &err);
	json_decref(rec);
	if (own)
		rc = rc < 0 ? (nu_store_rollback(s), rc) : nu_store_commit(s, &err);
	if (rc < 0)
		host_log(p, NU_PLOG_ERROR, "emit_event(%s) refused: %s", type, err.msg);
	return rc < 0 ? -1 : 0;
}

static int host_lead_field(nu_plugin *p, nu_lead_id lead, const char *field, char *buf, size_t len)
{
	nu_store *s = store_of(p, "lead_field");
	int kind = nu_identity_kind_lookup(field), f = nu_lead_field_lookup(field), n = -1;
	const char *v = NULL;
	nu_lead l;

	if (!s || nu_lead_live_id(s, lead, &lead, NULL) < 0 || nu_lead_load(s, lead, &l, NULL) < 0)
		return -1;
	if (f >= 0)
		v = l.field[f];
	if (v && strlen(v) < len)
		n = snprintf(buf, len, "%s", v);
	nu_lead_clear(&l);
	if (n >= 0 || kind < 0)
		return n;
	/* an identity kind: the lead's first identity of that kind */
	sqlite3_stmt *st = nu_store_stmt(s, "SELECT value FROM identity WHERE lead_id = ? AND kind = ?"
					 " ORDER BY at LIMIT 1", NULL);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, lead);
	sqlite3_bind_text(st, 2, field, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW && strlen((const char *)sqlite3_column_text(st, 0)) < len)
		n = snprintf(buf, len, "%s", sqlite3_column_text(st, 0));
	sqlite3_reset(st);
	return n;
}

static int host_lead_by_identity(nu_plugin *p, const char *kind, const char *value, nu_lead_id *lead)
{
	nu_store *s = store_of(p, "lead_by_identity");
	int k = nu_identity_kind_lookup(kind ? kind : "");
	nu_identity id;
	int64_t found;

	if (!s || k < 0 || !value || nu_identity_normalize(s, k, value, &id, NULL) < 0 ||
	    nu_identity_find(s, &id, &found, NULL) != NU_OK || nu_lead_live_id(s, found, &found, NULL) < 0)
		return -1;
	*lead = found;
	return 0;
}

struct http_call {
	nu_http_done_fn done;
	void *ud;
};

static void http_done(void *arg, const nu_http_response *r)
{
	struct http_call *c = arg;
	nu_http_resp res = { sizeof res, r->status, r->body, r->body_len, r->error, r->timed_out,
			     r->reply_code };

	c->done(c->ud, &res);
	free(c);
}

static int host_http_submit(nu_plugin *p, const nu_http_req *req, nu_http_done_fn done, void *ud,
			    uint64_t *id)
{
	struct http_call *c;
	nu_error err;

	if (!p->reg->http) {
		host_log(p, NU_PLOG_ERROR, "http_submit: no event loop in this process (only nurture serve has one)");
		return -1;
	}
	if (!req || req->struct_size < offsetof(nu_http_req, timeout_ms) || !done || !(c = malloc(sizeof *c)))
		return -1;
	*c = (struct http_call){ done, ud };
	nu_http_request r = { req->method, req->url, req->headers, req->body, req->body_len,
			      req->struct_size >= sizeof *req ? req->timeout_ms : 0 };
	if (nu_http_submit(p->reg->http, &r, http_done, c, id, &err) < 0) {
		host_log(p, NU_PLOG_ERROR, "http_submit %s: %s", req->url ? req->url : "", err.msg);
		free(c);
		return -1;
	}
	return 0;
}

static int host_mail_submit(nu_plugin *p, const nu_mail_req *req, nu_http_done_fn done, void *ud,
			    uint64_t *id)
{
	struct http_call *c;
	nu_error err;

	if (!p->reg->http) {
		host_log(p, NU_PLOG_ERROR, "mail_submit: no event loop in this process (only nurture serve has one)");
		return -1;
	}
	if (!req || req->struct_size < sizeof *req || !done || !(c = malloc(sizeof *c)))
		return -1;
	*c = (struct http_call){ done, ud };
	nu_mail_request r = { req->url, req->from, req->rcpt, req->message, req->message_len,
			      req->user, req->password, req->cainfo, req->require_tls, req->timeout_ms };
	if (nu_http_submit_mail(p->reg->http, &r, http_done, c, id, &err) < 0) {
		host_log(p, NU_PLOG_ERROR, "mail_submit: %s", err.msg);
		free(c);
		return -1;
	}
	return 0;
}

static int host_http_cancel(nu_plugin *p, uint64_t id)
{
	return p->reg->http && nu_http_cancel(p->reg->http, id) == NU_OK ? 0 : -1;
}

static int host_track_url(nu_plugin *p, int kind, int64_t op_id, int link, const char *url,
			  char *out, size_t outlen)
{
	nu_plugins *r = p->reg;
	static nu_track t;           /* 2 KiB of URL: kept off the stack; one loop thread */
	char token[NU_TRACK_TOKEN_MAX];
	const char *prefix = kind == NU_TRACK_URL_UNSUB ? "u" : kind == NU_TRACK_URL_OPEN ? "t/o" : "t/c";

	if (!r->track_base[0] || !out)
		return -1;
	memset(&t, 0, sizeof t);
	t.kind = (nu_track_kind)kind;
	t.op_id = op_id;
	t.link = link;
	if (kind == NU_TRACK_URL_CLICK && (!url || strlen(url) > NU_TRACK_URL_MAX))
		return -1;
	if (kind == NU_TRACK_URL_CLICK)
		strcpy(t.url, url);
	if (nu_track_make(token, r->track_key, r->track_keylen, &t) < 0)
		return -1;
	int n = snprintf(out, outlen, "%s/%s/%s", r->track_base, prefix, token);
	return n > 0 && (size_t)n < outlen ? n : -1;
}

static int host_register_webhook(nu_plugin *p, nu_webhook_fn fn, void *ud)
{
	if (!fn || p->webhook) {
		host_log(p, NU_PLOG_ERROR, "register_webhook: %s", fn ? "already registered" : "no handler");
		return -1;
	}
	p->webhook = fn;
	p->webhook_ud = ud;
	return 0;
}

static const char *host_webhook_header(const nu_webhook_req *req, const char *name)
{
	for (const char *const *h = req->headers; h && h[0] && h[1]; h += 2)
		if (!strcasecmp(h[0], name))
			return h[1];
	return NULL;
}

void nu_plugins_set_tracking(nu_plugins *r, const char *public_url, const char *key)
{
	size_t n = key ? strlen(key) : 0;

	r->track_base[0] = '\0';
	if (public_url && public_url[0] && n >= NU_TRACK_KEY_MIN && n <= sizeof r->track_key) {
		snprintf(r->track_base, sizeof r->track_base, "%s", public_url);
		memcpy(r->track_key, key, n);
		r->track_keylen = n;
	}
}

int nu_plugins_webhook(nu_plugins *r, const char *name, const nu_webhook_req *req,
		       nu_webhook_resp *resp)
{
	for (int i = 0; r && i < r->n; i++) {
		nu_plugin *p = r->plugins[i];
		if (p->loaded && p->webhook && !strcmp(p->desc->name, name))
			return p->webhook(p->webhook_ud, req, resp) < 0 ? -1 : 0;
	}
	return -2;
}

static int64_t registry_now(void *ud)
{
	return nu_store_now(nu_engine_store(((nu_plugins *)ud)->e));
}

void nu_plugins_set_loop(nu_plugins *r, struct event_base *base, nu_http *http)
{
	nu_error err;

	r->http = http;
	if (base && !r->tokens && nu_tokens_open(base, registry_now, r, &r->tokens, &err) < 0)
		nu_err("token cache: %s", err.msg);
}

/* Token names are per plugin: "<plugin>/<name>". */
static void token_key(nu_plugin *p, const char *name, char *out, size_t len)
{
	snprintf(out, len, "%s/%s", p->desc ? p->desc->name : "?", name ? name : "");
}

struct token_fetch {
	nu_plugin *p;
	nu_token_fetch_fn fetch;
	void *fetch_ud;
};

static void token_fetch_trampoline(void *ud, const char *key)
{
	struct token_fetch *f = ud;
	const char *slash = strchr(key, '/');
	f->fetch(f->p, slash ? slash + 1 : key, f->fetch_ud);
}

static int host_token_get(nu_plugin *p, const char *name, nu_token_fetch_fn fetch, void *fetch_ud,
			  nu_token_ready_fn ready, void *ud)
{
	struct token_fetch f = { p, fetch, fetch_ud };   /* fetch runs inside nu_token_get */
	char key[160];

	if (!p->reg->tokens || !fetch || !ready)
		return -1;
	token_key(p, name, key, sizeof key);
	return nu_token_get(p->reg->tokens, key, token_fetch_trampoline, &f, ready, ud);
}

static void host_token_set(nu_plugin *p, const char *name, const char *token, int64_t lifetime_ms,
			   const char *error)
{
	char key[160];

	if (!p->reg->tokens)
		return;
	token_key(p, name, key, sizeof key);
	nu_token_set(p->reg->tokens, key, token, lifetime_ms, error);
}

static void host_token_invalidate(nu_plugin *p, const char *name, const char *stale)
{
	char key[160];

	if (!p->reg->tokens)
		return;
	token_key(p, name, key, sizeof key);
	nu_token_invalidate(p->reg->tokens, key, stale);
}

/* The engine's view of a plugin channel. */
static int channel_send(void *state, int64_t op_id, int64_t lead_id, const json_t *message,
			nu_engine *eng)
{
	struct channel *c = state;
	char *json = nu_json_text(message);
	nu_message m = { sizeof m, op_id, lead_id, c->name, json ? json : "{}",
			 (uint32_t)nu_engine_send_attempt(eng, op_id) };
	int rc;

	rc = c->ops.send(c->state, &m);
	free(json);
	return rc;
}

/* The engine's view of a plugin channel's check, as a send intent is
 * recorded. */
static int channel_check(void *state, const json_t *message, char *why, size_t len)
{
	struct channel *c = state;
	char *json = nu_json_text(message);
	int rc;

	why[0] = '\0';
	if (!json) {
		snprintf(why, len, "out of memory");
		return -1;
	}
	rc = c->ops.check(c->state, json, why, len);
	free(json);
	return rc < 0 ? -1 : 0;
}

/* ---- loading ------------------------------------------------------------ */

static int refuse(nu_plugin *p, nu_error *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int refuse(nu_plugin *p, nu_error *err, const char *fmt, ...)
{
	char why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	snprintf(p->error, sizeof p->error, "%s", why);
	return nu_error_set(err, NU_EINVAL, "plugin %s refused: %s", p->path, why);
}

static int safe_file(nu_plugin *p, nu_error *err)
{
	struct stat st;

	if (stat(p->path, &st) != 0)
		return refuse(p, err, "cannot stat it");
	if (!S_ISREG(st.st_mode))
		return refuse(p, err, "not a regular file");
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return refuse(p, err, "the file is group- or world-writable (chmod go-w)");
	if (st.st_uid != 0 && st.st_uid != geteuid())
		return refuse(p, err, "the file is owned by uid %d, not root or us", (int)st.st_uid);
	return NU_OK;
}

/* Undoes everything a plugin registered (a refused load, or unload). */
static void drop_channels(nu_plugin *p)
{
	p->webhook = NULL;
	p->webhook_ud = NULL;
	for (int i = 0; i < p->nchans; i++) {
		if (p->chans[i]->ops.fini)
			p->chans[i]->ops.fini(p->chans[i]->state);
		free(p->chans[i]);
	}
	p->nchans = 0;
}

/* The descriptor of ABI 2.0: everything up to unload. */
#define DESC_2_0_SIZE (offsetof(nu_plugin_desc, unload) + sizeof(void (*)(nu_plugin *)))

/* Checks the descriptor the entry returned, reading no member that its
 * struct_size does not cover, and keeps a copy of what both sides know. */
static int check_desc(nu_plugin *p, const nu_plugin_desc *d, nu_error *err)
{
	uint32_t size;

	if (!d)
		return refuse(p, err, "%s returned no usable descriptor", NU_PLUGIN_ENTRY);
	size = d->struct_size;
	/* Before 2.0 the descriptor began with abi_major, abi_minor: a first
	 * word of 1 is a 1.x plugin, and the second (our abi_major) its minor. */
	if (size == 1)
		return refuse(p, err, "built for plugin ABI 1.%u (a descriptor without struct_size),"
			      " this nurture speaks %d.%d: rebuild it against the %d.%d headers", d->abi_major,
			      NU_PLUGIN_ABI_MAJOR, NU_PLUGIN_ABI_MINOR, NU_PLUGIN_ABI_MAJOR,
			      NU_PLUGIN_ABI_MINOR);
	if (size >= offsetof(nu_plugin_desc, abi_minor) + sizeof d->abi_minor &&
	    d->abi_major != NU_PLUGIN_ABI_MAJOR)
		return refuse(p, err, "built for plugin ABI %u.%u, this nurture speaks %d.%d",
			      d->abi_major, d->abi_minor, NU_PLUGIN_ABI_MAJOR, NU_PLUGIN_ABI_MINOR);
	if (size < DESC_2_0_SIZE)
		return refuse(p, err, "its descriptor is too small: struct_size %u, plugin ABI %d.0 needs"
			      " at least %zu (set .struct_size = sizeof(nu_plugin_desc))", size,
			      NU_PLUGIN_ABI_MAJOR, (size_t)DESC_2_0_SIZE);
	memcpy(&p->desc_copy, d, size < sizeof p->desc_copy ? size : sizeof p->desc_copy);
	p->desc_copy.struct_size = sizeof p->desc_copy;
	if (!p->desc_copy.name || !p->desc_copy.load)
		return refuse(p, err, "%s returned no usable descriptor (no name or no load)",
			      NU_PLUGIN_ENTRY);
	p->desc = &p->desc_copy;
	return NU_OK;
}

static int open_and_check(nu_plugin *p, nu_error *err)
{
	nu_plugin_entry_fn entry;

	if (safe_file(p, err) < 0)
		return NU_EINVAL;
	if (!(p->dl = dlopen(p->path, RTLD_NOW | RTLD_LOCAL)))
		return refuse(p, err, "dlopen: %s", dlerror());
	*(void **)&entry = dlsym(p->dl, NU_PLUGIN_ENTRY);
	if (!entry)
		return refuse(p, err, "no %s symbol: not a nurture plugin", NU_PLUGIN_ENTRY);
	if (check_desc(p, entry(), err) < 0)
		return NU_EINVAL;
	for (int i = 0; i < p->reg->n; i++)
		if (p->reg->plugins[i]->loaded && !strcmp(p->reg->plugins[i]->desc->name, p->desc->name))
			return refuse(p, err, "a plugin named %s is already loaded", p->desc->name);
	return NU_OK;
}

static int start(nu_plugin *p, nu_error *err)
{
	char why[256] = "";

	/* Both sides use the older minor version's members only. */
	uint32_t host_minor = NU_PLUGIN_ABI_MINOR;
	p->host = p->reg->host;
	p->host.abi_minor = (uint16_t)(p->desc->abi_minor < host_minor ? p->desc->abi_minor : host_minor);
	p->config = json_object_get(p->reg->config, p->desc->name);
	if (p->desc->load(p, &p->host, why, sizeof why) < 0) {
		drop_channels(p);
		return refuse(p, err, "load failed: %s", why[0] ? why : p->error[0] ? p->error : "no reason given");
	}
	/* Check every channel before handing any to the engine, so a refusal
	 * never leaves the engine pointing at a channel that is freed. */
	for (int i = 0; i < p->nchans; i++) {
		const char *name = p->chans[i]->name;
		for (int j = 0; j < p->reg->n; j++) {
			nu_plugin *other = p->reg->plugins[j];
			for (int k = 0; other != p && other->loaded && k < other->nchans; k++)
				if (!strcmp(other->chans[k]->name, name)) {
					drop_channels(p);
					return refuse(p, err, "channel %s is already provided by plugin %s", name,
						      other->desc->name);
				}
		}
		if (p->reg->e && nu_engine_channel_room(p->reg->e, name) <= i) {
			drop_channels(p);
			return refuse(p, err, "too many channels (the engine holds %d)", NU_MAX_CHANNELS_PUBLIC);
		}
	}
	for (int i = 0; p->reg->e && i < p->nchans; i++)
		nu_engine_add_channel(p->reg->e, &p->chans[i]->engine_ch, NULL);
	p->loaded = 1;
	nu_info("plugin %s %s loaded from %s (%d channel%s)", p->desc->name,
		p->desc->version ? p->desc->version : "", p->path, p->nchans, p->nchans == 1 ? "" : "s");
	return NU_OK;
}

int nu_plugins_load_file(nu_plugins *r, const char *path, nu_error *err)
{
	nu_plugin *p;
	int rc;

	if (r->n == MAX_PLUGINS)
		return nu_error_set(err, NU_ERR, "at most %d plugins", MAX_PLUGINS);
	if (!(p = calloc(1, sizeof *p)) || !(p->path = strdup(path))) {
		free(p);
		return nu_error_set(err, NU_ENOMEM, "out of memory");
	}
	p->reg = r;
	r->plugins[r->n++] = p;   /* kept even when refused: `nurture plugins` shows why */
	if ((rc = open_and_check(p, err)) == NU_OK)
		rc = start(p, err);
	if (rc < 0 && p->dl) {
		dlclose(p->dl);
		p->dl = NULL;
		p->desc = NULL;
	}
	return rc;
}

static int is_so(const struct dirent *d)
{
	size_t n = strlen(d->d_name);
	return n > 3 && !strcmp(d->d_name + n - 3, ".so");
}

int nu_plugins_load_dir(nu_plugins *r, const char *dir, int *loaded, nu_error *err)
{
	struct dirent **list;
	int n = scandir(dir, &list, is_so, alphasort);

	*loaded = 0;
	if (n < 0)
		return nu_error_set(err, NU_ENOTFOUND, "cannot read plugin folder '%s'", dir);
	for (int i = 0; i < n; i++) {
		char path[1024];
		nu_error one;
		snprintf(path, sizeof path, "%s/%s", dir, list[i]->d_name);
		if (nu_plugins_load_file(r, path, &one) == NU_OK)
			(*loaded)++;
		else
			nu_err("%s", one.msg);   /* one bad plugin does not stop the others */
		free(list[i]);
	}
	free(list);
	return NU_OK;
}

int nu_plugins_open(nu_engine *e, json_t *config, nu_plugins **out, nu_error *err)
{
	nu_plugins *r = calloc(1, sizeof *r);

	if (!(*out = r))
		return nu_error_set(err, NU_ENOMEM, "out of memory");
	r->e = e;
	r->config = config;
	r->host = (nu_host_api){
		.struct_size = sizeof r->host, .abi_major = NU_PLUGIN_ABI_MAJOR,
		.abi_minor = NU_PLUGIN_ABI_MINOR, .log = host_log, .config_get = host_config_get,
		.now = host_now, .random = host_random, .register_channel = host_register_channel,
		.send_complete = host_send_complete, .hmac_sha256 = host_hmac,
		.emit_event = host_emit_event, .lead_field = host_lead_field,
		.lead_by_identity = host_lead_by_identity, .http_submit = host_http_submit,
		.http_cancel = host_http_cancel, .mail_submit = host_mail_submit,
		.token_get = host_token_get, .token_set = host_token_set,
		.token_invalidate = host_token_invalidate, .track_url = host_track_url,
		.register_webhook = host_register_webhook, .webhook_header = host_webhook_header,
	};
	return NU_OK;
}

void nu_plugins_close(nu_plugins *r)
{
	if (!r)
		return;
	for (int i = r->n - 1; i >= 0; i--) {
		nu_plugin *p = r->plugins[i];
		drop_channels(p);
		if (p->loaded && p->desc->unload)
			p->desc->unload(p);
		if (p->dl)
			dlclose(p->dl);
		free(p->path);
		free(p);
	}
	nu_tokens_close(r->tokens);
	free(r);
}

int nu_plugins_check_message(nu_plugins *r, const char *channel, const char *message_json,
			     char *why, size_t len)
{
	why[0] = '\0';
	for (int i = 0; r && i < r->n; i++) {
		nu_plugin *p = r->plugins[i];
		for (int c = 0; p->loaded && c < p->nchans; c++) {
			struct channel *ch = p->chans[c];
			if (strcmp(ch->name, channel))
				continue;
			if (!ch->ops.check)
				return 1;
			if (!message_json)
				return 0;
			if (ch->ops.check(ch->state, message_json, why, len) == 0)
				return 0;
			if (!why[0])
				snprintf(why, len, "no reason given");
			return -1;
		}
	}
	return 1;
}

json_t *nu_plugins_describe(nu_plugins *r)
{
	json_t *list = json_array();

	for (int i = 0; i < r->n; i++) {
		nu_plugin *p = r->plugins[i];
		json_t *chans = json_array();
		for (int c = 0; c < p->nchans; c++) {
			char buf[200] = "";
			int bad = p->chans[c]->ops.health && p->chans[c]->ops.health(p->chans[c]->state, buf,
										    sizeof buf) != 0;
			json_array_append_new(chans, json_pack("{s:s,s:s}", "name", p->chans[c]->name,
							       "health", bad ? (buf[0] ? buf : "unhealthy") : "ok"));
		}
		json_t *o = json_pack("{s:s,s:s,s:o}", "file", p->path, "status",
				      p->loaded ? "loaded" : "refused", "channels", chans);
		if (p->desc) {
			json_object_set_new(o, "name", json_string(p->desc->name));
			json_object_set_new(o, "version", json_string(p->desc->version ? p->desc->version : ""));
		}
		if (!p->loaded)
			json_object_set_new(o, "error", json_string(p->error));
		json_array_append_new(list, o);
	}
	return list;
}
