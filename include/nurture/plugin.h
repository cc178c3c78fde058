/*
 * nurture/plugin.h — the channel plugin ABI.
 *
 * A plugin is a shared object that exports exactly one symbol,
 * nurture_plugin_entry, returning a const descriptor. The host checks the
 * descriptor's struct_size and ABI major (must equal NU_PLUGIN_ABI_MAJOR)
 * and then calls load() with its host API table; load() registers the
 * plugin's channels through that table. Plugins never link against core
 * symbols: everything they use comes through the table (build with
 * -fvisibility=hidden).
 *
 * Compatibility rules (SQLite/Redis style): every struct, the descriptor
 * included, starts with struct_size and only ever grows at the end; a
 * member added in minor version N is only present when struct_size covers
 * it. The host fills host->abi_minor with min(host minor, plugin minor).
 * History: 1.0; 1.1 appended track_url, register_webhook and
 * webhook_header to the host table; 2.0 gave the descriptor its
 * struct_size (a new layout, hence the major) and the channel ops their
 * check. docs/plugins.md §4 has the changelog.
 *
 * Threading: everything happens on the daemon's single event-loop thread.
 * send() must not block; it calls host->send_complete() exactly once for
 * every op, now or later (from a timer or I/O completion on the loop).
 *
 * Ownership: strings passed to the plugin are borrowed for the duration
 * of the call unless said otherwise; the host copies what it keeps of
 * strings the plugin passes in (whoever allocates frees).
 */
#ifndef NURTURE_PLUGIN_H
#define NURTURE_PLUGIN_H

#include <stddef.h>
#include <stdint.h>
#include "types.h"

#define NU_PLUGIN_ABI_MAJOR 2
#define NU_PLUGIN_ABI_MINOR 0

#if defined(__GNUC__)
#define NU_EXPORT __attribute__((visibility("default")))
#else
#define NU_EXPORT
#endif

/* Outcome of a send, as a plugin reports it. */
typedef enum nu_send_status {
	NU_SEND_OK       = 0,  /* the provider accepted it */
	NU_SEND_ETEMP    = 1,  /* temporary failure: the host retries later */
	NU_SEND_EPERM    = 2,  /* permanent failure: never retried */
	NU_SEND_EUNKNOWN = 3,  /* the request left but no answer came: never re-sent blindly */
} nu_send_status;

enum nu_log_level_plugin { NU_PLOG_DEBUG, NU_PLOG_INFO, NU_PLOG_WARN, NU_PLOG_ERROR };

typedef struct nu_plugin nu_plugin;   /* opaque: the host's record of a loaded plugin */

/* One message to send. */
typedef struct nu_message {
	uint32_t    struct_size;
	int64_t     op_id;       /* unique and stable across retries: use it as idempotency key */
	nu_lead_id  lead_id;
	const char *channel;     /* the channel name the flow used */
	const char *json;        /* the flow's message table as JSON text */
	uint32_t    attempt;     /* 1 for the first try */
} nu_message;

typedef struct nu_send_result {
	uint32_t       struct_size;
	nu_send_status status;
	const char    *provider_id;  /* the provider's message id, or NULL */
	const char    *error;        /* why it failed, or NULL */
} nu_send_result;

/* A channel a plugin provides. Optional members may be NULL. */
typedef struct nu_channel_ops {
	uint32_t    struct_size;
	const char *name;                       /* "email", "sms", … */
	uint32_t    flags;                      /* NU_CHANNEL_IDEMPOTENT … */
	/* Creates the channel's state; err gets a reason on failure. */
	int  (*init)(nu_plugin *p, void **state, char *err, size_t errlen);
	void (*fini)(void *state);
	/* Starts sending; returns 0, or < 0 if it could not even start (the
	 * host then records a permanent failure and does not expect a
	 * completion). */
	int  (*send)(void *state, const nu_message *msg);
	/* 0 when healthy; otherwise writes a reason into buf. */
	int  (*health)(void *state, char *buf, size_t len);
	/* Whether a message could be sent, without sending it: 0, or -1 with
	 * a reason in err ("template 'x' (t/x.tmpl:7): missing variable
	 * 'topic'"). message_json is the flow's message table as JSON. The
	 * host calls it when a flow is deployed, for each send it can read
	 * from the source (values it cannot know are NU_CHECK_PLACEHOLDER),
	 * and again with the real message before queueing each send: a
	 * failure there fails the send at once. Must not block; may be NULL. */
	int  (*check)(void *state, const char *message_json, char *err, size_t errlen);
} nu_channel_ops;

/* The value a deploy-time check sees for a message key whose value is
 * only known when the flow runs (send("email", { topic = topic })). */
#define NU_CHECK_PLACEHOLDER "(set at run time)"

/* The provider deduplicates by op_id, so a send in doubt may be retried. */
#define NU_CHANNEL_IDEMPOTENT 0x1u

/* An outbound HTTP request through the host's shared client (one curl
 * multi handle on the daemon's loop: connections are reused per host). */
typedef struct nu_http_req {
	uint32_t    struct_size;
	const char *method;              /* "GET", "POST" … */
	const char *url;                 /* http:// or https:// only */
	const char *const *headers;      /* "Name: value", NULL-terminated, or NULL */
	const char *body;
	size_t      body_len;
	long        timeout_ms;          /* whole request; 0 = 10 s */
} nu_http_req;

typedef struct nu_http_resp {
	uint32_t    struct_size;
	int         status;              /* HTTP status; 0 when no response (see error) */
	const char *body;                /* borrowed during the callback */
	size_t      body_len;
	const char *error;
	int         timed_out;
	int         reply_code;          /* mail: the server's last reply code */
} nu_http_resp;

typedef void (*nu_http_done_fn)(void *ud, const nu_http_resp *res);

/* A mail submission through the host's client: sent on the host's mail
 * threads (curl's SMTP blocks while it waits for a verdict, so never on
 * the loop), answered on the loop like http_submit. Each thread keeps its
 * SMTP connection open for its next message to the same server.
 * The answer comes as an nu_http_resp: status 250 when accepted; else
 * status 0, error set, and reply_code the server's last reply (4xx: try
 * later, 5xx: refused, 354: sent without a verdict — in doubt). */
typedef struct nu_mail_req {
	uint32_t    struct_size;
	const char *url;                 /* smtp://host:port or smtps://… */
	const char *from;                /* envelope sender (VERP) */
	const char *const *rcpt;         /* NULL-terminated */
	const char *message;             /* RFC 5322, CRLF */
	size_t      message_len;
	const char *user, *password;     /* NULL user: no AUTH */
	const char *cainfo;              /* CA file, NULL: the system's */
	int         require_tls;
	long        timeout_ms;          /* 0 = 30 s */
} nu_mail_req;

/* Access tokens (WeChat, WeCom, Zoom …): see token_get below. */
typedef void (*nu_token_ready_fn)(void *ud, const char *token, const char *error);
typedef void (*nu_token_fetch_fn)(nu_plugin *p, const char *name, void *fetch_ud);

/* A provider's callback to /hooks/<plugin>/<path>, handed to the plugin's
 * webhook handler. Everything is borrowed for the call. */
typedef struct nu_webhook_req {
	uint32_t    struct_size;
	const char *method;              /* "POST", "GET", … */
	const char *path;                /* after /hooks/<plugin>: "/events", or "" */
	const char *query;               /* the raw query string, or NULL */
	const char *const *headers;      /* name, value, name, value, …, NULL */
	const char *body;                /* the raw body, exactly as received */
	size_t      body_len;
} nu_webhook_req;

/* The answer the handler fills in. The host provides the body buffer. */
typedef struct nu_webhook_resp {
	uint32_t    struct_size;
	int         status;              /* preset to 200 */
	const char *content_type;        /* a static string; preset "application/json" */
	char       *body;                /* the host's buffer of body_cap bytes */
	size_t      body_cap;
	size_t      body_len;            /* preset 0 */
} nu_webhook_resp;

/* Verifies the request (the signature is the plugin's job: reject forged
 * ones with 401) and records what it says with emit_event. The host runs
 * the handler inside one transaction: with a 2xx status everything it
 * emitted is committed before the answer goes out; with any other status,
 * or a return < 0 (the host answers 500 so the provider retries), nothing
 * is kept. Give emit_event the provider's event id as dedupe key: a retry
 * of a delivered callback is then stored once. */
typedef int (*nu_webhook_fn)(void *ud, const nu_webhook_req *req, nu_webhook_resp *resp);

/* Kinds of tracking URL (track_url). */
enum { NU_TRACK_URL_OPEN = 'o', NU_TRACK_URL_CLICK = 'c', NU_TRACK_URL_UNSUB = 'u' };

/* What the host offers. Append-only: members added after 2.0 go at the
 * end, each marked with the minor version that added it. */
typedef struct nu_host_api {
	uint32_t struct_size;
	uint16_t abi_major, abi_minor;
	void        (*log)(nu_plugin *p, int level, const char *fmt, ...)
		__attribute__((format(printf, 3, 4)));
	/* A value of this plugin's section of the config (plugins.<name>.<key>),
	 * or NULL. Borrowed until the plugin is unloaded. */
	const char *(*config_get)(nu_plugin *p, const char *key);
	int64_t     (*now)(nu_plugin *p);      /* ms since the epoch, the store's clock */
	uint64_t    (*random)(nu_plugin *p);
	int         (*register_channel)(nu_plugin *p, const nu_channel_ops *ops);
	void        (*send_complete)(nu_plugin *p, int64_t op_id, const nu_send_result *res);
	/* HMAC-SHA256 of data with key into out (32 bytes). */
	int         (*hmac_sha256)(const void *key, size_t keylen, const void *data, size_t len,
				   unsigned char out[32]);
	/* Records an event for a lead (delivery receipts, replies, attendance):
	 * props_json is a JSON object or NULL; the same dedupe_key twice stores
	 * one event (use the provider's event id). Returns 0, or < 0 when the
	 * event was refused (the host logs why). The event reaches flows like
	 * any other: triggers, wait_event, rules. */
	int         (*emit_event)(nu_plugin *p, nu_lead_id lead, const char *type,
				  const char *props_json, const char *dedupe_key);
	/* Copies a field of a lead into buf: "email", "phone", "name", "company",
	 * "title", "timezone", … or an identity kind ("wechat_openid", …).
	 * Returns the length, or < 0 when the lead or the value is unknown or
	 * does not fit. */
	int         (*lead_field)(nu_plugin *p, nu_lead_id lead, const char *field, char *buf,
				  size_t len);
	/* The lead an identity names (kind "email", "phone", "wechat_openid" …;
	 * the value is normalised as the store does). 0, or < 0 if none. */
	int         (*lead_by_identity)(nu_plugin *p, const char *kind, const char *value,
					nu_lead_id *lead);
	/* Starts a request; done(ud, res) runs exactly once, later, on the loop
	 * (never inside http_submit). Returns 0 and an id for http_cancel, or
	 * < 0 when it could not start (bad URL, or no event loop here: only the
	 * daemon has one). The request's strings are copied. */
	int         (*http_submit)(nu_plugin *p, const nu_http_req *req, nu_http_done_fn done,
				   void *ud, uint64_t *id);
	/* done then runs with error "cancelled". 0, or < 0 if it already ran. */
	int         (*http_cancel)(nu_plugin *p, uint64_t id);
	/* Submits one mail; done runs once, later, as for http_submit. */
	int         (*mail_submit)(nu_plugin *p, const nu_mail_req *req, nu_http_done_fn done,
				   void *ud, uint64_t *id);
	/* A cached access token named `name` (per plugin). When none is valid,
	 * fetch(p, name, fetch_ud) is called once however many ask (it starts
	 * the request and reports with token_set); everyone asking meanwhile
	 * gets that answer. ready runs later, exactly once, on the loop.
	 * Tokens are refreshed before they expire. Returns < 0 outside the
	 * daemon (no loop). */
	int         (*token_get)(nu_plugin *p, const char *name, nu_token_fetch_fn fetch,
				 void *fetch_ud, nu_token_ready_fn ready, void *ud);
	/* The fetch's answer: a token valid for lifetime_ms, or an error. */
	void        (*token_set)(nu_plugin *p, const char *name, const char *token,
				 int64_t lifetime_ms, const char *error);
	/* The provider said `stale` expired: forget it if it is still cached
	 * (so a burst of such answers refetches once). */
	void        (*token_invalidate)(nu_plugin *p, const char *name, const char *stale);
	/* A signed tracking URL served by the daemon: kind NU_TRACK_URL_OPEN
	 * (1x1 pixel), NU_TRACK_URL_CLICK (redirect to `url`, link number
	 * `link` of the message) or NU_TRACK_URL_UNSUB (unsubscribe page).
	 * Writes it into out. Returns its length, or < 0 when tracking is not
	 * configured (http.tracking_key), the URL is not http(s) or too long
	 * (leave that link as it is), or out is too small. */
	int         (*track_url)(nu_plugin *p, int kind, int64_t op_id, int link, const char *url,
				 char *out, size_t outlen);
	/* Receives /hooks/<plugin name>/… requests (one handler per plugin). */
	int         (*register_webhook)(nu_plugin *p, nu_webhook_fn fn, void *ud);
	/* A header of a webhook request by name (any case), or NULL. */
	const char *(*webhook_header)(const nu_webhook_req *req, const char *name);
} nu_host_api;

typedef struct nu_plugin_desc {
	uint32_t    struct_size;             /* sizeof(nu_plugin_desc) */
	uint32_t    abi_major, abi_minor;    /* NU_PLUGIN_ABI_MAJOR, NU_PLUGIN_ABI_MINOR */
	const char *name;
	const char *version;
	/* Registers channels through host->register_channel. Returns 0, or < 0
	 * with a reason in err: everything it registered is then undone. The
	 * host table stays valid until unload, so the plugin may keep it. */
	int  (*load)(nu_plugin *p, const nu_host_api *host, char *err, size_t errlen);
	void (*unload)(nu_plugin *p);
} nu_plugin_desc;

/* The one symbol a plugin exports. */
typedef const nu_plugin_desc *(*nu_plugin_entry_fn)(void);
#define NU_PLUGIN_ENTRY "nurture_plugin_entry"

#endif
