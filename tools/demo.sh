#!/usr/bin/env bash
# The demo behind `make demo`: a fresh database in demo-out/, a few hundred
# realistic B2B leads and two months of their behaviour imported, a few
# leads tagged and moved through the funnel the way sales would, then the
# funnel summary and one lead's 360° view.
set -euo pipefail
NURTURE=$(realpath "${1:-build/nurture}")
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT="$ROOT/demo-out"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ nurture %s\n' "$*"; "$NURTURE" "$@"; }

rm -rf "$OUT"
mkdir -p "$OUT"
cd "$OUT"

step "Create the database and a sample config"
run init

step "Import leads (the last five rows of the file are bad on purpose)"
set +e
run lead import "$ROOT/tools/demo/leads.csv"
status=$?
set -e
[ "$status" -eq 3 ] || { echo "demo: expected exit status 3 (rows rejected), got $status"; exit 1; }

step "Import two months of behaviour (20 duplicates are dropped by dedupe key)"
run event import "$ROOT/tools/demo/events.ndjson"

step "Sales and marketing work the funnel"
run lead tag ziyuxia@ronghui-soft.com.cn behaviour:hot
run lead tag gaochen@dongfang-ie.cn behaviour:requested_demo
for lead in ziyuxia@ronghui-soft.com.cn gaochen@dongfang-ie.cn arjun.evans@northwindtraders.com \
            brian@orchidbay.com.sg fan.na@ronghui-ec.com.cn ghou@tongchuang-fin.cn \
            weiling.obrien@ashfordlearning.co.uk grace.tang@evergreen-edu.com; do
  run lead stage "$lead" MQL --reason "engaged: 70+ events in 60 days" --actor marketing
done
for lead in ziyuxia@ronghui-soft.com.cn gaochen@dongfang-ie.cn arjun.evans@northwindtraders.com \
            brian@orchidbay.com.sg fan.na@ronghui-ec.com.cn; do
  run lead stage "$lead" SQL --reason "accepted by sales" --actor sales:li.ming
done
run lead stage ghou@tongchuang-fin.cn Recycled --reason "returned: no budget this year" --actor sales:li.ming
run lead stage ziyuxia@ronghui-soft.com.cn Opportunity --reason "demo done, proposal sent" --actor sales:li.ming
run lead stage gaochen@dongfang-ie.cn Opportunity --reason "POC agreed" --actor sales:li.ming
run lead stage ziyuxia@ronghui-soft.com.cn Deal --reason "contract signed" --actor sales:li.ming
echo "# an illegal move is refused and explained:"
run lead stage brian@orchidbay.com.sg Lead --reason "oops" || true

step "Funnel summary"
run stats

step "A lead's 360° view"
run lead show ziyuxia@ronghui-soft.com.cn --events 5

echo
echo "The database is $OUT/nurture.db; try: $NURTURE --db $OUT/nurture.db lead show 13590745513"
