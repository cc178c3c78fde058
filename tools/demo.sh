#!/usr/bin/env bash
# The demo behind `make demo`: the nurture daemon running the example flows
# in flows/ on a fresh SQLite database, fed with sample B2B leads and their
# activity, then fast-forwarded 13 weeks on the database's simulated clock
# so the long-running flows play out in seconds. Every email goes through
# the real email plugin over SMTP (STARTTLS, AUTH) to a local mail sink
# that keeps each message as a .eml file; WeChat, SMS and WeCom messages go
# to the mock plugin. Ends with the funnel, what was sent, one email as it
# arrived, and one lead's story told by `run why`.
#
#   tools/demo.sh [NURTURE]      NURTURE: the binary (build/nurture); its
#                                plugins are beside it, in plugins/
#   DEMO_OUT=DIR tools/demo.sh   write into DIR instead of ./demo-out
set -euo pipefail
NURTURE=$(realpath "${1:-build/nurture}")
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$(realpath -m "${DEMO_OUT:-$ROOT/demo-out}")
BUILT_PLUGINS="$(dirname "$NURTURE")/plugins"
# The sink needs aiosmtpd, which Debian installs for its own python3 only.
PY=/usr/bin/python3
MAILBOX="$ROOT/tools/demo/mailbox.py"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ nurture %s\n' "$*"; "$NURTURE" "$@"; }
quiet() { "$NURTURE" -q "$@" >/dev/null; }
die() { echo "demo: $*" >&2; exit 1; }

SINK= DAEMON=
stop_all() {
  # The daemon first: sends in flight finish or end as 'cancelled'.
  if [ -n "$DAEMON" ] && kill -TERM "$DAEMON" 2>/dev/null; then wait "$DAEMON" || true; fi
  if [ -n "$SINK" ] && kill -TERM "$SINK" 2>/dev/null; then wait "$SINK" || true; fi
  DAEMON= SINK=
}
trap stop_all EXIT

free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
secret() { "$PY" -c 'import secrets; print(secrets.token_hex(16))'; }

# Waits up to $2 tenths of a second for the regex $1 in file $3.
wait_for_line() {
  for _ in $(seq "$2"); do
    grep -qE "$1" "$3" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

[ -x "$NURTURE" ] || die "no nurture binary at $NURTURE (run make demo, or give its path)"
for so in nurture-email.so nurture-mock.so; do
  [ -f "$BUILT_PLUGINS/$so" ] || die "no $BUILT_PLUGINS/$so: build first (make demo does)"
done
"$PY" -c 'import aiosmtpd' 2>/dev/null ||
  die "the mail sink needs aiosmtpd for $PY: run make deps (Debian package python3-aiosmtpd)"
command -v openssl >/dev/null || die "the mail sink makes its certificate with openssl: run make deps"

rm -rf "$OUT"
mkdir -p "$OUT/mail" "$OUT/plugins"
cd "$OUT"

step "0. A local mail sink, the plugins and the config"
"$PY" "$ROOT/tests/fakes/smtp_fake.py" --out "$OUT/mail" --port 0 --user demo \
  --password demo-smtp-password --lifetime 600 > sink.out 2> sink.log &
SINK=$!
wait_for_line '^PORT ' 100 sink.out || die "the mail sink did not start: $(cat sink.log)"
SMTP_PORT=$(sed -n 's/^PORT //p' sink.out)
SMTP_CERT=$(sed -n 's/^CERT //p' sink.out)
echo "  mail sink on 127.0.0.1:$SMTP_PORT (STARTTLS, AUTH): every message lands in $OUT/mail/"
# The loader takes plugins only from files no one else can write.
cp "$BUILT_PLUGINS/nurture-email.so" "$BUILT_PLUGINS/nurture-mock.so" plugins/
chmod 0755 plugins plugins/*.so
HTTP_PORT=$(free_port)
cat > nurture.conf.lua <<CONF
-- Written by tools/demo.sh for this demo (docs/config.md has every key).
-- Secrets are inline because they are throwaway; use env("NAME") for real ones.
return {
  database = "nurture.db",
  http = {
    listen       = "127.0.0.1:$HTTP_PORT",
    public_url   = "http://127.0.0.1:$HTTP_PORT",
    tracking_key = "$(secret)",
    tokens = { { name = "demo", token = "$(secret)", scopes = { "admin" } } },
  },
  plugins = {
    dir   = "plugins",
    email = {
      smtp_url = "smtp://127.0.0.1:$SMTP_PORT", smtp_user = "demo", smtp_password = "demo-smtp-password",
      smtp_cainfo = "$SMTP_CERT",
      from = "hello@nurture.example.com", from_name = "Nurture 营销云",
      templates = "$ROOT/flows/templates", domain = "nurture.example.com", timeout_ms = 10000,
    },
    -- No WeChat, SMS or WeCom plugin yet: the mock completes those sends.
    mock = { channels = "wechat,sms,wecom" },
  },
}
CONF
echo "  config: $OUT/nurture.conf.lua (HTTP API on 127.0.0.1:$HTTP_PORT, an admin token, email and mock plugins)"

step "1. A fresh database, 400 leads and two months of their history"
run init
set +e
run lead import "$ROOT/tools/demo/leads.csv" 2> import-rejects.txt
status=$?
set -e
[ "$status" -eq 3 ] || die "expected exit status 3 (rows rejected), got $status"
echo "(5 bad rows rejected on purpose; see demo-out/import-rejects.txt)"
run event import "$ROOT/tools/demo/events.ndjson"
echo "(history is older than a day, so it starts no flow: flows react to what happens from now on)"

step "2. Start the daemon with the example flows"
"$NURTURE" serve --flows "$ROOT/flows" > serve.log 2>&1 &
DAEMON=$!
wait_for_line 'HTTP API on' 100 serve.log && kill -0 "$DAEMON" 2>/dev/null ||
  die "the daemon did not start: $(tail -5 serve.log)"
grep -E "deployed|plugin|serving|HTTP API" serve.log | sed 's/^[^ ]* [a-z]* *//'
echo "(from here on, nurture commands that act on live data go through the daemon's API)"

step "3. New activity arrives while it runs"
# One sign-up a line: email:name:industry:product interest.
signups="zhangwei.new@hengtai-mfg.cn:王伟:manufacturing:crm
wendy.li@northwind-retail.com:Wendy Li:retail:cdp
liu.fang@qiming-auto.com:刘芳:manufacturing:marketing_automation
chen.jie@ruifeng-edu.com.cn:陈杰:education:crm"
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
sleep 0.3
"$PY" "$MAILBOX" wait nurture.db 30
echo "  $(ls mail/*.eml 2>/dev/null | wc -l) emails in the mail sink so far"
run stats | sed -n '/Flow runs/,$p'

step "4. Some leads react"
quiet event add gaochen@dongfang-ie.cn email.opened --prop campaign=whitepaper
quiet event add ziyuxia@ronghui-soft.com.cn email.opened --prop campaign=whitepaper
quiet event add brian@orchidbay.com.sg webinar.registered --prop webinar=ma-2026-12
quiet event add fan.na@ronghui-ec.com.cn webinar.registered --prop webinar=ma-2026-12
echo "  two white-paper emails opened, two webinar registrations"
sleep 0.3
"$PY" "$MAILBOX" wait nurture.db 30

step "5. Thirteen weeks later (the daemon moves the simulated clock: each timer fires at its own time, its sends complete there)"
for week in $(seq 1 13); do
  printf '  week %2d: ' "$week"
  "$NURTURE" clock advance 1w | sed 's/^clock advanced 1w to //'
done

step "6. Results"
run stats
echo
"$PY" "$MAILBOX" templates nurture.db 12

step "7. What arrived in the mail sink"
echo "$(ls mail/*.eml | wc -l) messages in $OUT/mail/ (one .eml file each; log.ndjson lists them)."
echo "A few, with the simulated time they were sent at:"
"$PY" "$MAILBOX" list mail 4
echo
echo "The first email to gaochen@dongfang-ie.cn, as it arrived:"
"$PY" "$MAILBOX" show mail gaochen@dongfang-ie.cn

step "8. Why did this lead get what it got?"
run run why gaochen@dongfang-ie.cn whitepaper_followup

stop_all
echo
echo "Mail:     $OUT/mail/*.eml (open one in any mail client, or: less $OUT/mail/<file>.eml)"
echo "Database: $OUT/nurture.db — try: $NURTURE --db $OUT/nurture.db run why ziyuxia@ronghui-soft.com.cn"
echo "Logs:     $OUT/serve.log (the daemon), $OUT/sink.log (the mail sink)"
