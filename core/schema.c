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

const nu_migration nu_schema_migrations[] = {
	{ 1, schema_v1 },
};
const size_t nu_schema_migration_count =
	sizeof nu_schema_migrations / sizeof nu_schema_migrations[0];
