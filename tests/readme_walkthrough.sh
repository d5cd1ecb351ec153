#!/usr/bin/env bash
# The README's walkthrough, run as written against the suite as `make run` starts it, so the
# README cannot drift from the code. tests/run.sh runs it as one result (readme/walkthrough).
#
# The runnable blocks are the ```sh fences right after a line <!-- walkthrough -->; other blocks
# (the banner, the diagram, psql) are prose. They run in README order, in one bash with
# `set -euo pipefail`, from a folder that looks like the checkout: var/ is this test's own
# (deploy/run.sh with GRIDGOV_VAR), build/ the build under test (build or build-san), deploy/ the
# real one. The one rewrite: the README's http://127.0.0.1:8080 becomes this test's port, and
# every curl gets --fail-with-body -S, so an answer of 400 or more fails the walkthrough (the
# README keeps the plain `curl -s` a person types). A README command that fails fails the test.
# Then the outcomes are checked: the POST returned a code; the street light went through accept,
# resolve and the reporter's rating (closed, satisfied); the dispute landed in 九木村 安全组, not
# at the county; the events the README's `gridgovctl events &` printed show the whole lifecycle;
# the stats answered with the tickets and the CSV is Excel's (BOM).
# Environment (tests/run.sh): GRIDGOV_TEST_VAR, GRIDGOV_TEST_PORT_BASE, BUILD.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
base=${GRIDGOV_TEST_PORT_BASE:?run through tests/run.sh}
http=$((base + 140)) pub=$((base + 141))   # run.sh takes pub to pub+4
var=${GRIDGOV_TEST_VAR:?run through tests/run.sh}/readme
home=$var-checkout
rm -rf "$home"
mkdir -p "$var" "$home"
ln -s "$var" "$home/var"
ln -s "$top/$BUILD" "$home/build"
ln -s "$top/deploy" "$home/deploy"

fail() { echo "readme_walkthrough: $*" >&2; exit 1; }

# ---- the blocks
script=$var/walkthrough.sh
awk '
  /^<!-- walkthrough -->[ \t]*$/ { armed = 1; next }
  armed && /^```sh[ \t]*$/       { inblock = 1; armed = 0; blocks++; print "# ---- README block " blocks; next }
  armed && !/^[ \t]*$/           { armed = 0 }
  inblock && /^```[ \t]*$/       { inblock = 0; next }
  inblock                        { print }
  END { if (inblock) exit 3; print "# blocks: " blocks }
' "$top/README.md" > "$var/blocks.sh" || fail "README.md: a walkthrough block is not closed"
nblocks=$(sed -n 's/^# blocks: //p' "$var/blocks.sh")
[ "${nblocks:-0}" -ge 4 ] || fail "README.md has ${nblocks:-0} walkthrough blocks (<!-- walkthrough --> then \`\`\`sh); expected the 4 of the walkthrough"
sed -i -E "s#127\.0\.0\.1:8080#127.0.0.1:$http#g; s#(^|[^[:alnum:]_./-])curl #\1curl --fail-with-body -S #g" "$var/blocks.sh"
# Nothing may reach another suite (a developer's make run on 8080).
if grep -nE ':8080|localhost' "$var/blocks.sh"; then fail "a walkthrough line names a port or host the test cannot rewrite"; fi

{
  echo 'set -euo pipefail'
  echo 'trap '"'"'echo "readme_walkthrough: README command failed (status $?): $BASH_COMMAND" >&2'"'"' ERR'
  echo 'trap '"'"'kill $(jobs -p) 2>/dev/null || true'"'"' EXIT   # the README starts gridgovctl events &'
  echo "cd '$home'"
  cat "$var/blocks.sh"
  cat <<'EOF'
# ---- the outcomes (this shell has the walkthrough's variables)
trap - ERR
no() { echo "readme_walkthrough: $*" >&2; exit 1; }
expect() { [ "$2" = "$3" ] || no "$1: got '$2', expected '$3'"; }
appdb=$(sed -n 's/^db = //p' var/gridgovctl.conf)
sql() { psql -X -qAt -v ON_ERROR_STOP=1 "$appdb" -c "$1"; }
[[ $CODE =~ ^[0-9]{13,}$ ]] || no "the Open311 POST answered no service_request_id (got '$CODE')"
[[ $DISPUTE =~ ^[0-9]{13,}$ ]] || no "the native POST answered no code (got '$DISPUTE')"
expect "the street light's state and rating" \
  "$(sql "SELECT state || ' ' || coalesce(rating, '') FROM router.ticket WHERE code = '$CODE'")" "closed satisfied"
expect "the street light's transitions" \
  "$(sql "SELECT string_agg(tr.action, ' ' ORDER BY tr.id) FROM router.transition tr
          JOIN router.ticket t ON t.ticket_id = tr.ticket_id WHERE t.code = '$CODE'")" "assign accept resolve rate"
expect "gridgovctl staff --ticket: the street light's assignee" \
  "$HANDLER" "$(sql "SELECT assignee_id FROM router.ticket WHERE code = '$CODE'")"
expect "where the dispute was placed, and the level of the unit holding it" \
  "$(sql "SELECT v.name || g.name || ' ' || u.level FROM router.ticket t JOIN registry.unit g ON g.id = t.group_id
          JOIN registry.unit v ON v.id = g.parent_id JOIN registry.unit u ON u.id = t.unit_id
          WHERE t.code = '$DISPUTE'")" "九木村安全组 group"
stats=$(curl --fail-with-body -sS "http://127.0.0.1:PORT/api/v1/stats?unit=430121-101" -H "Authorization: Bearer $OPS")
expect "果园镇's stats count both tickets and the rating ($stats)" \
  "$(echo "$stats" | jq -c '[.total.received >= 2, .total.satisfied >= 1]')" "[true,true]"
expect "the CSV's first bytes" "$(head -c 3 var/closure-rates.csv | od -An -tx1 | tr -d ' \n')" "efbbbf"
# The README's `gridgovctl events &` printed to this shell's output: the whole lifecycle, in +08:00.
for _ in $(seq 50); do grep -q "ticket.rated .*$CODE" var/walkthrough.out && break; sleep 0.1; done
for t in created assigned accepted resolved rated; do
  grep -qE "[0-9T:-]+\+08:00  ticket\.$t +$CODE" var/walkthrough.out || no "gridgovctl events did not show ticket.$t of $CODE"
done
grep -qE "ticket\.assigned +$DISPUTE  new → assigned  安全组 \(group\)" var/walkthrough.out ||
  no "gridgovctl events did not show the dispute assigned to 安全组"
# notify, with no provider credentials, sent the reporter's SMS to the sandbox; the README's
# `gridgovctl messages --ticket $CODE` printed the received one, the number masked everywhere.
# In quiet hours (22:00-07:00 county time, make run's default) residents' SMS wait for 07:00:
# listed pending, not yet sent.
awk -F'\t' -v c="$CODE" '$2 == c && $3 == "sms" && $4 == "139****5678" && $5 == "resident_received" &&
  (($6 == "sent" && $8 == "sandbox") || ($6 == "pending" && $8 == "")) && index($9, c) { found = 1 }
  END { exit !found }' var/walkthrough.out ||
  no "gridgovctl messages --ticket $CODE did not list the received SMS to 139****5678 (sent by the sandbox, or held by quiet hours)"
for _ in $(seq 100); do
  [ "$(sql "SELECT count(*) FROM notify.message m JOIN intake.ticket t ON t.id = m.ticket_id
            WHERE t.code = '$CODE' AND m.template_key = 'resident_closed' AND m.state IN ('sent', 'pending')")" = 1 ] && break
  sleep 0.1
done
expect "what the reporter was told: sent by the sandbox, or held until quiet hours end at 07:00" \
  "$(sql "SELECT string_agg(m.template_key || ' ' || CASE
            WHEN m.state = 'sent' AND m.provider = 'sandbox' THEN 'ok'
            WHEN m.state = 'pending' AND m.due_at > now() AND m.due_at <= now() + interval '9 hours'
                 AND (m.due_at AT TIME ZONE 'Asia/Shanghai')::time = '07:00' THEN 'ok'
            ELSE m.state || ' ' || coalesce(m.provider, '') || ' ' || m.due_at END, ', '
            ORDER BY m.created_at, m.template_key)
          FROM notify.message m JOIN intake.ticket t ON t.id = m.ticket_id
          WHERE t.code = '$CODE' AND m.audience = 'reporter'")" \
  "resident_received ok, resident_assigned ok, resident_resolved ok, resident_closed ok"
if grep -n 13912345678 var/walkthrough.out var/run.log; then no "the reporter's number appears unmasked"; fi
echo "readme_walkthrough: the walkthrough ran as written ($CODE closed and rated, $DISPUTE in 九木村安全组)"
EOF
} > "$script"
sed -i "s#127.0.0.1:PORT#127.0.0.1:$http#" "$script"

# ---- the suite, as make run starts it (deploy/run.sh), on this test's ports and var
# make run as a newcomer has it: no provider credentials, so notify sends to the sandbox
for v in $(compgen -e | grep -E '^GRIDGOV_(ALIYUN|TENCENT|WECHAT|WECOM)_'); do unset "$v"; done
env -u GRIDGOV_DB -u GRIDGOV_OWNER_DB -u GRIDGOV_PGDIR -u GRIDGOV_CONFIG -u GRIDGOV_SUB_ENDPOINTS \
  GRIDGOV_VAR="$var" GRIDGOV_HTTP_PORT=$http GRIDGOV_PUB_PORT=$pub BUILD="$BUILD" \
  bash "$top/deploy/run.sh" > "$var/run.log" 2>&1 &
runpid=$!
stop() {
  kill -TERM "$runpid" 2>/dev/null && wait "$runpid" 2>/dev/null
}
trap stop EXIT
for _ in $(seq 1200); do
  grep -q "gridgov is ready" "$var/run.log" && break
  kill -0 "$runpid" 2>/dev/null || { tail -20 "$var/run.log"; fail "deploy/run.sh exited before it was ready"; }
  sleep 0.1
done
grep -q "gridgov is ready" "$var/run.log" || { tail -20 "$var/run.log"; fail "deploy/run.sh was not ready within 120 s"; }

# ---- the walkthrough, as a person would run it from a second terminal
(cd "$home" && env -u GRIDGOV_DB -u GRIDGOV_OWNER_DB -u GRIDGOV_CONFIG -u GRIDGOV_SUB_ENDPOINTS \
   bash "$script" > "$var/walkthrough.out" 2>&1)
rc=$?
cat "$var/walkthrough.out"
[ "$rc" = 0 ] || { echo "--- make run's log (last lines)"; tail -20 "$var/run.log"; fail "the README walkthrough failed"; }
