#!/usr/bin/env bash
# The demo behind `make demo`: the nurture daemon running the example flows
# in flows/ on a fresh SQLite database, fed with sample B2B leads and their
# activity, then fast-forwarded 13 weeks on the database's simulated clock
# so the long-running flows play out in seconds. Ends with the funnel, what
# the flows sent, and one lead's story told by `run why`.
set -euo pipefail
NURTURE=$(realpath "${1:-build/nurture}")
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT="$ROOT/demo-out"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ nurture %s\n' "$*"; "$NURTURE" "$@"; }
quiet() { "$NURTURE" -q "$@" >/dev/null; }

rm -rf "$OUT"
mkdir -p "$OUT"
cd "$OUT"

step "1. A fresh database, 400 leads and two months of their history"
run init
set +e
run lead import "$ROOT/tools/demo/leads.csv" 2> import-rejects.txt
status=$?
set -e
[ "$status" -eq 3 ] || { echo "demo: expected exit status 3 (rows rejected), got $status"; exit 1; }
echo "(5 bad rows rejected on purpose; see demo-out/import-rejects.txt)"
run event import "$ROOT/tools/demo/events.ndjson"
echo "(history is older than a day, so it starts no flow: flows react to what happens from now on)"

step "2. Start the daemon with the example flows"
"$NURTURE" serve --flows "$ROOT/flows" > serve.log 2>&1 &
DAEMON=$!
trap 'kill $DAEMON 2>/dev/null || true' EXIT
sleep 0.5
grep -E "deployed|serving" serve.log | sed 's/^[^ ]* [a-z]* *//'

step "3. New activity arrives while it runs"
signups="zhangwei.new@hengtai-mfg.cn:王伟:manufacturing:crm wendy.li@northwind-retail.com:Wendy Li:retail:cdp
liu.fang@qiming-auto.com:刘芳:manufacturing:marketing_automation chen.jie@ruifeng-edu.com.cn:陈杰:education:crm"
while IFS=: read -r email name industry interest; do
  quiet lead import - <<CSV
email,name,industry,product_interest,timezone
$email,$name,$industry,$interest,Asia/Shanghai
CSV
  quiet event add "$email" lead.created --prop source=website
  echo "  sign-up: $name <$email>"
done <<< "$signups"
for lead in ziyuxia@ronghui-soft.com.cn gaochen@dongfang-ie.cn grace.tang@evergreen-edu.com \
            arjun.evans@northwindtraders.com; do
  quiet event add "$lead" form.submitted --prop form=whitepaper --prop topic=crm
  echo "  white paper downloaded: $lead"
done
starts_at=$(date -u -d '+10 days' +%Y-%m-%dT06:00:00Z)
for lead in brian@orchidbay.com.sg fan.na@ronghui-ec.com.cn weiling.obrien@ashfordlearning.co.uk; do
  quiet event add "$lead" webinar.invited --prop webinar=ma-2026-12 \
    --prop "title=Marketing automation for B2B" --prop starts_at="$starts_at"
  echo "  webinar invitation: $lead"
done
sleep 1.2
kill -TERM $DAEMON
wait $DAEMON || true
trap - EXIT
echo "(daemon stopped with SIGTERM; runs wait in the database)"
run stats | sed -n '/Flow runs/,$p'

step "4. Some leads react"
quiet event add gaochen@dongfang-ie.cn email.opened --prop campaign=whitepaper
quiet event add ziyuxia@ronghui-soft.com.cn email.opened --prop campaign=whitepaper
quiet event add brian@orchidbay.com.sg webinar.registered --prop webinar=ma-2026-12
quiet event add fan.na@ronghui-ec.com.cn webinar.registered --prop webinar=ma-2026-12
echo "  two white-paper emails opened, two webinar registrations"
"$NURTURE" serve --once 2>/dev/null

step "5. Thirteen weeks later (simulated clock; every timer fires at its own time)"
for week in $(seq 1 13); do
  printf '  week %2d: ' "$week"
  "$NURTURE" clock advance 1w | sed 's/^clock advanced 1w to //'
done

step "6. Results"
run stats
step "7. Why did this lead get what it got?"
run run why gaochen@dongfang-ie.cn whitepaper_followup

echo
echo "Database: $OUT/nurture.db — try: $NURTURE --db $OUT/nurture.db run why ziyuxia@ronghui-soft.com.cn"
