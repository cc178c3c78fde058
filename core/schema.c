/*
 * schema.c — the numbered schema migrations of the lead store.
 *
 * Rules: a released migration is never edited; changes come as a new entry
 * with the next version. PRAGMA user_version records how far a database is.
 *
 * Why the event table has no index on lead_id: secondary indexes on random
 * keys turn every insert into a random page write and collapse ingest past a
 * few million rows (DESIGN §3). Instead each event links to the lead's
 * previous event (prev_id) and the lead row holds its newest event id, so a
 * timeline is a walk of rowid lookups and the table stays append-only.
 */
#include "store.h"

static const char schema_v1[] =
	"CREATE TABLE lead ("
	"  id INTEGER PRIMARY KEY,"
	"  stage TEXT NOT NULL,"
	"  name TEXT, company TEXT, title TEXT, industry TEXT, region TEXT,"
	"  product_interest TEXT, phone TEXT, email TEXT, timezone TEXT,"
	"  custom TEXT NOT NULL DEFAULT '{}',"
	"  fit_score REAL NOT NULL DEFAULT 0,"
	"  heat_score REAL NOT NULL DEFAULT 0,"
	"  heat_at INTEGER,"
	"  owner TEXT,"
	"  source TEXT,"              /* who created the lead: import:file, api … */
	"  last_event_id INTEGER,"
	"  stage_at INTEGER NOT NULL,"
	"  merged_into INTEGER REFERENCES lead(id),"
	"  created_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL"
	");"
	"CREATE INDEX lead_by_stage ON lead(stage) WHERE merged_into IS NULL;"

	/* One row per change set after creation: {field: [old, new], …}. The
	 * values a lead was created with are in the lead row, and lead.source
	 * says where they came from, so creation writes no history row. */
	"CREATE TABLE lead_history ("
	"  id INTEGER PRIMARY KEY,"
	"  lead_id INTEGER NOT NULL,"
	"  at INTEGER NOT NULL,"
	"  source TEXT,"
	"  changes TEXT NOT NULL"
	");"
	"CREATE INDEX lead_history_by_lead ON lead_history(lead_id);"

	"CREATE TABLE identity ("
	"  kind TEXT NOT NULL,"
	"  value TEXT NOT NULL,"
	"  lead_id INTEGER NOT NULL REFERENCES lead(id),"
	"  at INTEGER NOT NULL,"
	"  source TEXT,"
	"  PRIMARY KEY (kind, value)"
	") WITHOUT ROWID;"
	"CREATE INDEX identity_by_lead ON identity(lead_id);"

	"CREATE TABLE tag_def ("
	"  name TEXT PRIMARY KEY,"
	"  category TEXT NOT NULL,"
	"  class TEXT NOT NULL,"
	"  weight REAL NOT NULL DEFAULT 1,"
	"  ttl_ms INTEGER,"
	"  description TEXT"
	") WITHOUT ROWID;"

	"CREATE TABLE tag ("
	"  lead_id INTEGER NOT NULL REFERENCES lead(id),"
	"  name TEXT NOT NULL,"
	"  weight REAL NOT NULL,"
	"  class TEXT NOT NULL,"
	"  source TEXT,"
	"  at INTEGER NOT NULL,"
	"  expires_at INTEGER,"
	"  PRIMARY KEY (lead_id, name)"
	") WITHOUT ROWID;"
	"CREATE INDEX tag_by_name ON tag(name);"
	"CREATE INDEX tag_by_expiry ON tag(expires_at) WHERE expires_at IS NOT NULL;"

	/* op: add, update, remove, expire, merge. */
	"CREATE TABLE tag_change ("
	"  id INTEGER PRIMARY KEY,"
	"  lead_id INTEGER NOT NULL,"
	"  name TEXT NOT NULL,"
	"  op TEXT NOT NULL,"
	"  weight REAL,"
	"  source TEXT,"
	"  at INTEGER NOT NULL"
	");"
	"CREATE INDEX tag_change_by_lead ON tag_change(lead_id);"

	"CREATE TABLE event ("
	"  id INTEGER PRIMARY KEY,"
	"  lead_id INTEGER NOT NULL,"
	"  prev_id INTEGER,"
	"  type TEXT NOT NULL,"
	"  at INTEGER NOT NULL,"
	"  props TEXT NOT NULL DEFAULT '{}',"
	"  source TEXT,"
	"  dedupe_key TEXT"
	");"
	"CREATE UNIQUE INDEX event_by_dedupe ON event(dedupe_key)"
	"  WHERE dedupe_key IS NOT NULL;"

	"CREATE TABLE stage_change ("
	"  id INTEGER PRIMARY KEY,"
	"  lead_id INTEGER NOT NULL,"
	"  from_stage TEXT,"
	"  to_stage TEXT NOT NULL,"
	"  at INTEGER NOT NULL,"
	"  reason TEXT,"
	"  actor TEXT"
	");"
	"CREATE INDEX stage_change_by_lead ON stage_change(lead_id);"

	/* detail: JSON describing what moved, for `lead show` to explain. */
	"CREATE TABLE lead_merge ("
	"  id INTEGER PRIMARY KEY,"
	"  survivor_id INTEGER NOT NULL,"
	"  merged_id INTEGER NOT NULL,"
	"  at INTEGER NOT NULL,"
	"  reason TEXT NOT NULL,"
	"  detail TEXT NOT NULL"
	");"
	"CREATE INDEX lead_merge_by_survivor ON lead_merge(survivor_id);"
	"CREATE INDEX lead_merge_by_merged ON lead_merge(merged_id);";

/* v2: the durable flow engine (see engine.c for how these are used).
 *
 * A run is replayed from its journal on every step; the journal is keyed
 * (run_id, seq) so replay reads it in order. Waits are one row per
 * blocked run, keyed (due, run_id) WITHOUT ROWID: ~22 bytes each on disk
 * and the earliest is the first row, so one timer covers them all. An
 * outbox row is the send intent, written in the same transaction as its
 * journal row; op_id = run_id * 65536 + seq is also the idempotency key
 * handed to the channel. The engine remembers how far it has read the
 * event, tag_change and stage_change logs in engine_cursor, in the same
 * transactions as the work those rows caused. */
static const char schema_v2[] =
	"CREATE TABLE flow_version ("
	"  sha TEXT PRIMARY KEY,"
	"  name TEXT NOT NULL,"
	"  kind TEXT NOT NULL,"          /* flow | rule */
	"  spec TEXT NOT NULL,"          /* trigger, reentry, goal, exclusion … as JSON */
	"  bundle TEXT NOT NULL,"        /* {"main": source, "lib/x.lua": source} */
	"  deployed_at INTEGER NOT NULL"
	") WITHOUT ROWID;"
	"CREATE TABLE flow ("
	"  name TEXT PRIMARY KEY,"
	"  sha TEXT NOT NULL REFERENCES flow_version(sha),"
	"  status TEXT NOT NULL DEFAULT 'active',"   /* active | paused */
	"  updated_at INTEGER NOT NULL"
	") WITHOUT ROWID;"

	"CREATE TABLE run ("
	"  id INTEGER PRIMARY KEY,"
	"  flow TEXT NOT NULL,"
	"  sha TEXT NOT NULL,"
	"  lead_id INTEGER NOT NULL,"
	"  status TEXT NOT NULL,"        /* waiting, completed, failed, goal, cancelled */
	"  trigger_event_id INTEGER,"
	"  seed INTEGER NOT NULL,"
	"  exclusion TEXT,"
	"  created_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL,"
	"  ended_at INTEGER,"
	"  error TEXT"
	");"
	"CREATE INDEX run_by_lead ON run(lead_id, flow);"

	"CREATE TABLE journal ("
	"  run_id INTEGER NOT NULL,"
	"  seq INTEGER NOT NULL,"
	"  kind TEXT NOT NULL,"
	"  request TEXT NOT NULL,"
	"  result TEXT,"                 /* NULL while pending */
	"  at INTEGER NOT NULL,"
	"  done_at INTEGER,"
	"  PRIMARY KEY (run_id, seq)"
	") WITHOUT ROWID;"

	"CREATE TABLE wait ("
	"  due INTEGER NOT NULL,"
	"  run_id INTEGER NOT NULL,"
	"  seq INTEGER NOT NULL,"
	"  PRIMARY KEY (due, run_id)"
	") WITHOUT ROWID;"
	/* Ending a run early (goal, failure) removes its wait by run. */
	"CREATE INDEX wait_by_run ON wait(run_id);"

	"CREATE TABLE subscription ("
	"  lead_id INTEGER NOT NULL,"
	"  type TEXT NOT NULL,"
	"  run_id INTEGER NOT NULL,"
	"  seq INTEGER NOT NULL,"
	"  due INTEGER,"                 /* the timeout's wait row, if any */
	"  PRIMARY KEY (lead_id, type, run_id)"
	") WITHOUT ROWID;"
	"CREATE INDEX subscription_by_run ON subscription(run_id);"

	"CREATE TABLE outbox ("
	"  op_id INTEGER PRIMARY KEY,"
	"  run_id INTEGER NOT NULL,"
	"  seq INTEGER NOT NULL,"
	"  channel TEXT NOT NULL,"
	"  lead_id INTEGER NOT NULL,"
	"  message TEXT NOT NULL,"
	"  state TEXT NOT NULL,"         /* pending, sending, sent, failed, unknown, held, cancelled */
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  next_try INTEGER NOT NULL,"
	"  provider_id TEXT,"
	"  error TEXT,"
	"  created_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL"
	");"
	/* Queries name the same IN list, or SQLite cannot use the partial index. */
	"CREATE INDEX outbox_active ON outbox(state, next_try) WHERE state IN ('pending', 'sending');"
	"CREATE INDEX outbox_by_lead ON outbox(lead_id);"

	/* Addresses that must not be contacted on a channel ('*': any channel):
	 * unsubscribed, hard-bounced, complained, do-not-contact. */
	"CREATE TABLE suppression ("
	"  channel TEXT NOT NULL,"
	"  address TEXT NOT NULL,"
	"  reason TEXT NOT NULL,"
	"  source TEXT,"
	"  at INTEGER NOT NULL,"
	"  PRIMARY KEY (channel, address)"
	") WITHOUT ROWID;"

	"CREATE TABLE engine_cursor ("
	"  name TEXT PRIMARY KEY,"
	"  value INTEGER NOT NULL"
	") WITHOUT ROWID;"
	/* A new database starts at 0, so every event counts, even one written
	 * before the daemon first runs; a database upgraded with history starts
	 * at the end, so flows deployed now do not fire on the past. */
	/* Small named settings kept with the data (the simulated clock offset). */
	"CREATE TABLE setting ("
	"  key TEXT PRIMARY KEY,"
	"  value"
	") WITHOUT ROWID;"
	"INSERT INTO engine_cursor SELECT 'event', coalesce(max(id), 0) FROM event;"
	"INSERT INTO engine_cursor SELECT 'tag_change', coalesce(max(id), 0) FROM tag_change;"
	"INSERT INTO engine_cursor SELECT 'stage_change', coalesce(max(id), 0) FROM stage_change;";

const nu_migration nu_schema_migrations[] = {
	{ 1, schema_v1 },
	{ 2, schema_v2 },
};
const size_t nu_schema_migration_count =
	sizeof nu_schema_migrations / sizeof nu_schema_migrations[0];
