#!/usr/bin/env bash
# Round-trip check of the example project (migrations/, rollbacks/, checks/) with
# plain psql and pg_dump, independent of dbtool itself:
#
#   for every version in order: S0 = dump; up + verify; S1 = dump; down; S2 = dump
#   (must equal S0); up + verify again; S3 = dump (must equal S1);
#   then integrity checks (zero rows) and workload queries (must run).
#   Sample rows are inserted once users, platforms, subscriptions and
#   notifications exist, so later migrations (FK validation, backfill) meet data.
#   At the end every rollback runs newest first and the schema must equal the
#   empty database's.
#
# Usage: notes/roundtrip_example.sh   (PGHOST/PGPORT/PGUSER default to 127.0.0.1:5432 postgres)
# Exit status 0 when everything passed. The scratch database is always dropped.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
DB=dbtool_roundtrip_$$
WORK=$(mktemp -d)
FAILED=0

cleanup() {
    psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

psql -X -q -d postgres -c "CREATE DATABASE $DB" >/dev/null
run() { psql -X -q -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
# pg_dump >= 15.14/16.10/17.6 writes a random \restrict key into every dump: not schema, drop it.
dump() { pg_dump -s -d "$DB" | grep -v '^\\\(un\)\?restrict ' >"$1"; }
fail() { echo "FAIL: $*"; FAILED=1; }

# A file is non-transactional when a statement (not a comment) says CONCURRENTLY,
# as dbtool decides from the parse tree.
is_concurrent() { grep -v '^[[:space:]]*--' "$1" | grep -qi 'concurrently'; }

apply() {  # apply FILE [VERIFY]: like the runner, the verify script shares the transaction
    local file=$1 verify=${2:-}
    if is_concurrent "$file"; then
        run -f "$file"
        if [ -n "$verify" ]; then run --single-transaction -f "$verify"; fi
    elif [ -n "$verify" ]; then
        run --single-transaction -f "$file" -f "$verify"
    else
        run --single-transaction -f "$file"
    fi
}

tables_exist() {  # every table named in the file's "-- dbtool: requires" directive exists
    local t
    for t in $(sed -n 's/^-- *dbtool: *requires //p' "$1"); do
        [ "$(run -Atc "SELECT to_regclass('public.$t') IS NOT NULL")" = t ] || return 1
    done
}

checks() {  # integrity checks must return zero rows; workload queries must run
    local f n ran=0 skipped=0
    for f in "$ROOT"/checks/integrity/*.sql; do
        if ! tables_exist "$f"; then skipped=$((skipped + 1)); continue; fi
        n=$(run -At -c "SELECT count(*) FROM ($(grep -v '^[[:space:]]*--' "$f" | tr -d ';')) AS v")
        ran=$((ran + 1))
        [ "$n" = 0 ] || fail "$(basename "$f") returned $n violating row(s) at $1"
    done
    for f in "$ROOT"/checks/queries/*.sql; do
        if ! tables_exist "$f"; then skipped=$((skipped + 1)); continue; fi
        run -f "$f" >/dev/null || fail "$(basename "$f") does not run at $1"
        run -c "EXPLAIN $(grep -v '^[[:space:]]*--' "$f" | tr -d ';')" >/dev/null || fail "EXPLAIN $(basename "$f") at $1"
        ran=$((ran + 1))
    done
    echo "    checks at $1: $ran ran, $skipped skipped (tables not there yet)"
}

must_fail() {  # must_fail "why" SQL: the statement must be refused (and changes nothing)
    if run --single-transaction -c "$2" >/dev/null 2>&1; then fail "accepted: $1"; else echo "    refused as expected: $1"; fi
}

sample_data() {
    run --single-transaction <<'SQL'
INSERT INTO users (email, display_name, time_zone) VALUES
    ('Ana.Silva@example.com', 'Ana Silva', 'Europe/Lisbon'),
    ('ben@example.org',       'Ben Okafor', 'Africa/Lagos'),
    ('chloe@example.net',     NULL,         'UTC');
INSERT INTO subscriptions (user_id, platform_id, plan_name, price, currency, billing_cycle, renewal_date, status)
SELECT u.id, p.id, v.plan, v.price, v.currency, v.cycle::billing_cycle, current_date + v.days, v.status::subscription_status
FROM (VALUES
    ('ana.silva@example.com', 'Netflix',              'Standard',   12.99, 'EUR', 'monthly',   3, 'active'),
    ('ana.silva@example.com', 'Spotify',              'Duo',        16.99, 'EUR', 'monthly',  20, 'active'),
    ('ana.silva@example.com', 'The New York Times',   'Digital',     4.00, 'USD', 'weekly',    5, 'active'),
    ('ben@example.org',       'Adobe Creative Cloud', 'All Apps',  659.88, 'USD', 'yearly',  200, 'active'),
    ('ben@example.org',       'Xbox Game Pass',       'Ultimate',   16.99, 'USD', 'monthly',  -3, 'paused'),
    ('chloe@example.net',     'Netflix',              'Basic',      29.97, 'GBP', 'quarterly', 60, 'cancelled')
) AS v (email, platform, plan, price, currency, cycle, days, status)
JOIN users u ON lower(u.email) = lower(v.email)
JOIN platforms p ON p.name = v.platform;
INSERT INTO notifications (user_id, subscription_id, kind, scheduled_for, payload)
SELECT s.user_id, s.id, 'renewal_reminder', s.renewal_date - 2,
       CASE WHEN s.currency = 'EUR' THEN '{"days_before": 2, "channel": "push"}'::jsonb
            ELSE '{"days_before": 2}'::jsonb END
FROM subscriptions s WHERE s.status = 'active';
INSERT INTO notifications (user_id, kind, scheduled_for, sent_at, payload)
SELECT id, 'welcome', created_at, created_at, '{}' FROM users;
SQL
    echo "    sample rows: $(run -Atc "SELECT (SELECT count(*) FROM users) || ' users, ' || (SELECT count(*) FROM subscriptions) || ' subscriptions, ' || (SELECT count(*) FROM notifications) || ' notifications'")"
    # The rules the schema promises, tried on real rows.
    must_fail "duplicate email differing in case" "INSERT INTO users (email) VALUES ('ANA.SILVA@example.com')"
    must_fail "negative price" "UPDATE subscriptions SET price = -1 WHERE id = (SELECT min(id) FROM subscriptions)"
    must_fail "lower-case currency" "UPDATE subscriptions SET currency = 'eur' WHERE id = (SELECT min(id) FROM subscriptions)"
    must_fail "deleting a platform that has subscribers" "DELETE FROM platforms WHERE name = 'Netflix'"
    local before after
    before=$(run -Atc "SELECT updated_at FROM subscriptions ORDER BY id LIMIT 1")
    run -c "UPDATE subscriptions SET plan_name = 'Premium' WHERE id = (SELECT min(id) FROM subscriptions)"
    after=$(run -Atc "SELECT updated_at FROM subscriptions ORDER BY id LIMIT 1")
    [ "$before" != "$after" ] && echo "    updated_at trigger moved $before -> $after" || fail "updated_at trigger did not fire"
}

mapfile -t UPS < <(cd "$ROOT/migrations" && ls -1 *.sql | sort)
dump "$WORK/empty.sql"
checks "version 0 (empty database)"
DATA=0
for f in "${UPS[@]}"; do
    v=${f%%__*}
    up="$ROOT/migrations/$f" down="$ROOT/rollbacks/$f" verify="$ROOT/checks/$f"
    [ -f "$verify" ] || verify=""
    mode=transactional; is_concurrent "$up" && mode="non-transactional"
    echo "== $v ($mode)"
    dump "$WORK/$v.s0"
    apply "$up" "$verify" || { fail "$v up or verify failed"; break; }
    dump "$WORK/$v.s1"
    apply "$down" || { fail "$v rollback failed"; break; }
    dump "$WORK/$v.s2"
    if diff -u "$WORK/$v.s0" "$WORK/$v.s2" >"$WORK/$v.diff02"; then echo "    down restores the schema (S2 = S0)"
    else fail "$v: schema after rollback differs from before:"; cat "$WORK/$v.diff02"; fi
    apply "$up" "$verify" || { fail "$v second up failed"; break; }
    dump "$WORK/$v.s3"
    if diff -u "$WORK/$v.s1" "$WORK/$v.s3" >"$WORK/$v.diff13"; then echo "    up again gives the same schema (S3 = S1)"
    else fail "$v: schema after up-down-up differs from after up:"; cat "$WORK/$v.diff13"; fi
    if [ $DATA = 0 ] && [ "$(run -Atc "SELECT to_regclass('public.notifications') IS NOT NULL")" = t ]; then
        sample_data; DATA=1
    fi
    if [ "$v" = 2025.02.001 ]; then
        must_fail "new notification for a missing subscription (NOT VALID FK already enforced)" \
            "INSERT INTO notifications (user_id, subscription_id, kind, scheduled_for) SELECT min(id), -1, 'price_change', now() FROM users"
    fi
    if [ "$v" = 2025.02.003 ]; then
        echo "    backfilled channels: $(run -Atc "SELECT string_agg(channel || '=' || n, ', ' ORDER BY channel) FROM (SELECT channel, count(*) n FROM notifications GROUP BY channel) c")"
    fi
    checks "$v"
done

echo "== full rollback, newest first"
for ((i = ${#UPS[@]} - 1; i >= 0; i--)); do
    apply "$ROOT/rollbacks/${UPS[$i]}" || { fail "rollback ${UPS[$i]} failed"; break; }
done
dump "$WORK/final.sql"
if diff -u "$WORK/empty.sql" "$WORK/final.sql"; then echo "    schema equals the empty database's"; else fail "schema not empty after full rollback"; fi

if [ $FAILED = 0 ]; then echo "ALL PASSED (${#UPS[@]} migrations)"; else echo "FAILURES above"; fi
exit $FAILED
