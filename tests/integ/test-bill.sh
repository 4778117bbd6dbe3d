#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Billing end to end: a real sbxd with a 1 s ledger window, its rate card, ledger,
# exports and tamper checks.

card() {
	cat >"$TMPD/rates.json" <<JSON
{"currency": "USD",
 "prices": {"cpu-core-second": "0.000014", "memory-gib-second": "0.0000045",
            "syscall-million": "0.01", "net-egress-gib": "0.09", "net-ingress-gib": "0.01",
            "gpu-default-second": "0.001097", "sandbox-create": "0.000001",
            "snapshot-gib-hour": "0.05"},
 "policy": {"cpu": "${1:-used}", "memory": "allocated"},
 "minimum_seconds": 1,
 "tenants": {"alice": {"discount": "10%"}}}
JSON
}

bill_json() { curl -s --unix-socket "$SBX_SOCKET" "http://x/v1/usage?format=json$1"; }

t_known_burn() {
	card used
	start_sbxd --bill-window 1s --rates "$TMPD/rates.json"
	local id u
	id=$("$SBX" create --image host --cpus 1 --memory 256M) || fail create
	"$SBX" exec "$id" -- python3 -c '
import time
t = time.process_time()
while time.process_time() - t < 2.0: pass' || fail burn
	sleep 1.2
	u=$(curl -s -X DELETE --unix-socket "$SBX_SOCKET" "http://x/v1/sandboxes/$id")
	local b
	b=$(bill_json "&sandbox=$id")
	python3 - "$u" "$b" <<'PY' || fail "ledger vs usage"
import json, sys
u = json.loads(sys.argv[1]); usage = u["usage"]; b = json.loads(sys.argv[2])
rows = b["rows"]
def total(sku): return sum(r["quantity"] for r in rows if r["sku"] == sku)
cpu = total("cpu-core-second")
assert cpu == usage["cpu_ns"], ("cpu used", cpu, usage["cpu_ns"])
assert 1.9e9 <= cpu <= 2.3e9, cpu
# memory, allocated: 256 MiB for the sandbox's life, within one 1 s window of rounding
mem = total("memory-gib-second")
want = (256 << 20) * usage["wall_ns"] // 10**6
assert abs(mem - want) <= (256 << 20) * 1000, (mem, want)
assert total("syscall-million") == usage["syscalls_total"], "syscalls"
assert total("net-egress-gib") == usage["net"]["internet"]["tx_bytes"]
assert total("sandbox-create") == 1
# the windows of each SKU follow one another; allocated memory's tile the sandbox's
# life (a window of no CPU used has no row: its quantity would be 0)
for sku in ("cpu-core-second", "memory-gib-second"):
    rs = sorted((r for r in rows if r["sku"] == sku), key=lambda r: r["start_ns"])
    for a, c in zip(rs, rs[1:]):
        if sku == "memory-gib-second":
            assert a["end_ns"] == c["start_ns"], ("gap or overlap", sku, a["id"], c["id"])
        assert a["end_ns"] <= c["start_ns"], ("overlap", sku, a["id"], c["id"])
print("rows", len(rows), "cpu", cpu, "mem", mem)
PY
	run_sbx bill --sandbox "$id"
	assert_contains "$OUT" "cpu-core-second" "sbx bill table"
	assert_contains "$OUT" "total" "sbx bill totals"
}

t_focus_and_cloudevents() {
	card allocated
	local port=$((20000 + RANDOM % 20000)) ta
	ta=$("$B/sbxd" tenant add alice --state-dir "$TMPD/state") || fail "tenant add"
	start_sbxd --bill-window 1s --rates "$TMPD/rates.json" --listen "127.0.0.1:$port"
	local a b
	a=$("$SBX" create --image base --cpus 0.5 --label team=x) || fail create
	b=$(curl -s -H "Authorization: Bearer $ta" -X POST "http://127.0.0.1:$port/v1/sandboxes" -d '{"image":"base"}' |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])') || fail "alice create"
	sleep 2.2
	"$SBX" rm "$a" "$b" >/dev/null || fail rm
	curl -s --unix-socket "$SBX_SOCKET" "http://x/v1/usage?format=focus" >"$TMPD/f1.csv"
	sleep 1.1
	curl -s --unix-socket "$SBX_SOCKET" "http://x/v1/usage?format=focus" >"$TMPD/f2.csv"
	cmp "$TMPD/f1.csv" "$TMPD/f2.csv" || fail "the same export differs"
	python3 - "$TMPD/f1.csv" <<'PY' || fail "FOCUS arithmetic"
import csv, re, sys
from decimal import Decimal, ROUND_HALF_UP
need = "BilledCost EffectiveCost ListCost ListUnitPrice PricingQuantity PricingUnit ConsumedQuantity ConsumedUnit ChargePeriodStart ChargePeriodEnd ChargeCategory ChargeDescription BillingCurrency ResourceId ResourceType SkuId ServiceName ServiceCategory Tags".split()
rows = list(csv.DictReader(open(sys.argv[1])))
assert rows, "no rows"
for c in need: assert c in rows[0], c
q = Decimal("0.000000001")
discounted = 0
for r in rows:
    pq = Decimal(r["PricingQuantity"])
    assert Decimal(r["ListCost"]) == (Decimal(r["ListUnitPrice"]) * pq).quantize(q, ROUND_HALF_UP), r
    assert Decimal(r["BilledCost"]) == (Decimal(r["ContractedUnitPrice"]) * pq).quantize(q, ROUND_HALF_UP), r
    assert r["BilledCost"] == r["EffectiveCost"]
    if r["x_Tenant"] == "alice":
        discounted += 1
        assert Decimal(r["ContractedUnitPrice"]) == (Decimal(r["ListUnitPrice"]) * Decimal("0.9")).quantize(q, ROUND_HALF_UP)
    else:
        assert r["BilledCost"] == r["ListCost"]
    for t in (r["ChargePeriodStart"], r["ChargePeriodEnd"]):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{9})?Z", t), t
    assert r["BillingCurrency"] == "USD" and r["ChargeCategory"] == "Usage"
assert discounted, "alice's rows carry her discount"
print(len(rows), "rows")
PY
	grep -q '"team":"x"' "$TMPD/f1.csv" || grep -q 'team' "$TMPD/f1.csv" || fail "labels in Tags"
	local ce n
	ce=$(curl -s --unix-socket "$SBX_SOCKET" "http://x/v1/usage?format=cloudevents")
	n=$(($(wc -l <"$TMPD/f1.csv") - 1))
	assert_eq "$(echo "$ce" | wc -l)" "$n" "one event per row"
	echo "$ce" | python3 -c '
import json, sys
ids = set()
for l in sys.stdin:
    e = json.loads(l)
    assert e["specversion"] == "1.0" and e["type"].startswith("sbx.usage.") and e["source"].startswith("sbx://")
    assert e["id"] == e["data"]["id"] and e["subject"] == e["data"]["tenant"]
    ids.add(e["id"])
print(len(ids))' >"$TMPD/ids" || fail "cloudevents shape"
	assert_eq "$(cat "$TMPD/ids")" "$n" "event ids unique"
	# Tenants read only their own rows.
	local mine
	mine=$(curl -s -H "Authorization: Bearer $ta" "http://127.0.0.1:$port/v1/usage?format=json")
	assert_eq "$(jget "$mine" '{r["tenant"] for r in j["rows"]}')" "{'alice'}" "alice's bill"
	assert_eq "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $ta" "http://127.0.0.1:$port/v1/usage?tenant=admin")" 404 "another tenant's bill"
	assert_eq "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $ta" "http://127.0.0.1:$port/v1/ledger/verify")" 404 "verify is the admin's"
	curl -s --unix-socket "$SBX_SOCKET" http://x/metrics | grep -q 'sbx_billed_nanos_total{tenant="alice",sku="cpu-core-second"' ||
		fail "billed totals in /metrics"
}

t_restart_no_gap() {
	card allocated
	start_sbxd --bill-window 1s --rates "$TMPD/rates.json"
	local id short
	id=$("$SBX" create --image base --cpus 1) || fail create
	short=$("$SBX" create --image base --cpus 1 -- sleep 2) || fail create
	sleep 1.5
	kill_sbxd
	sleep 2.5 # windows pass while sbxd is away
	start_sbxd --bill-window 1s --rates "$TMPD/rates.json"
	sleep 1.5
	local del
	del=$(curl -s -X DELETE --unix-socket "$SBX_SOCKET" "http://x/v1/sandboxes/$id")
	python3 - "$del" "$(bill_json "&sandbox=$id")" <<'PY' || fail "gap or duplicate"
import json, sys
d = json.loads(sys.argv[1]); b = json.loads(sys.argv[2])
rs = sorted((r for r in b["rows"] if r["sku"] == "cpu-core-second"), key=lambda r: r["start_ns"])
ids = [r["id"] for r in b["rows"]]
assert len(ids) == len(set(ids)), "a row written twice"
for a, c in zip(rs, rs[1:]):
    assert a["end_ns"] == c["start_ns"], ("gap or overlap", a["id"], c["id"])
# 1 core allocated for the whole life: the quantity is the life, to the nanosecond
life = sum(r["end_ns"] - r["start_ns"] for r in rs)
assert sum(r["quantity"] for r in rs) == life
assert rs[-1]["end_ns"] - rs[0]["start_ns"] == life
assert life >= 5.0e9, life
print(len(rs), "windows,", life / 1e9, "s")
PY
	# One that ended while sbxd was away is billed to its end, not to the restart.
	python3 - "$(bill_json "&sandbox=$short")" <<'PY' || fail "billed past its end"
import json, sys
rs = [r for r in json.loads(sys.argv[1])["rows"] if r["sku"] == "cpu-core-second"]
life = max(r["end_ns"] for r in rs) - min(r["start_ns"] for r in rs)
assert 1.9e9 <= life <= 2.6e9, life
PY
	run_sbx bill verify
	assert_eq "$RC" 0 "chain after the restart"
}

# A checkpointed sandbox is billed up to its checkpoint; while stored only the snapshot
# is (byte-seconds); the restored one from its restore on, without the snapshot's counters
# again and without a second creation.
t_checkpoint_restore() {
	card used
	start_sbxd --bill-window 1s --rates "$TMPD/rates.json"
	[ "$(jget "$(curl -s --unix-socket "$SBX_SOCKET" http://x/v1/health)" 'j["features"]["checkpoint"]')" = True ] ||
		skip "checkpoints are off (tools/setup.sh installs CRIU)"
	local id sid new snapjs final orig
	id=$("$SBX" create --image host -- python3 -c '
import time
t = time.process_time()
while time.process_time() - t < 0.3: pass
print("burnt", flush=True)
while True: time.sleep(0.05)') || fail create
	for _ in $(seq 100); do [[ "$("$SBX" logs "$id")" == *burnt* ]] && break; sleep 0.05; done
	sid=$("$SBX" checkpoint "$id") || fail checkpoint
	sleep 2.5 # stored
	snapjs=$(curl -s --unix-socket "$SBX_SOCKET" "http://x/v1/snapshots/$sid")
	new=$("$SBX" restore "$sid") || fail restore
	"$SBX" exec "$new" -- python3 -c '
import time
t = time.process_time()
while time.process_time() - t < 0.3: pass' || fail burn
	sleep 1.2
	final=$(curl -s -X DELETE --unix-socket "$SBX_SOCKET" "http://x/v1/sandboxes/$new")
	orig=$("$SBX" inspect "$id")
	"$SBX" rm "$sid" >/dev/null || fail "rm snapshot"
	python3 - "$orig" "$final" "$snapjs" "$(bill_json "")" <<'PY' || fail "checkpoint billing"
import json, sys
orig, final, snap, b = (json.loads(a) for a in sys.argv[1:5])
rows = b["rows"]
mine = lambda sb, sku=None: [r for r in rows if r["sandbox"] == sb and (sku is None or r["sku"] == sku)]
compute = ("cpu-core-second", "memory-gib-second", "syscall-million")
ended = json.loads(json.dumps(orig))["ended_at"]
o_rows, n_rows = mine(orig["id"]), mine(final["id"])
o_end = max(r["end_ns"] for r in o_rows)
n_start = min(r["start_ns"] for r in n_rows)
stored = n_start - o_end
assert stored >= 2.4e9, ("stored for", stored)
# nothing computes while stored
for r in rows:
    if r["sku"] in compute:
        assert r["end_ns"] <= o_end or r["start_ns"] >= n_start, ("compute while stored", r["id"])
# storage: byte-seconds of the snapshot's size, from its creation to its deletion
st = mine(snap["id"], "snapshot-gib-hour")
assert st, "no storage rows"
for r in st:
    assert r["quantity"] == snap["size_bytes"] * (r["end_ns"] - r["start_ns"]) // 10**9, r
span = sum(r["end_ns"] - r["start_ns"] for r in st)
assert span >= stored, ("storage span", span, stored)
assert all(float(r["cost"]) >= 0 for r in st)
# the restored sandbox: its own use only, from the snapshot's counters on
base = snap["usage"]["cpu_ns"]
cpu = sum(r["quantity"] for r in mine(final["id"], "cpu-core-second"))
assert cpu == final["usage"]["cpu_ns"] - base, (cpu, final["usage"]["cpu_ns"], base)
assert 0.25e9 <= cpu <= 0.8e9, cpu
sys_rows = sum(r["quantity"] for r in mine(final["id"], "syscall-million"))
assert sys_rows == final["usage"]["syscalls_total"] - snap["usage"]["syscalls_total"]
assert not mine(final["id"], "sandbox-create"), "a restore is not a new creation"
assert len(mine(orig["id"], "sandbox-create")) == 1
print("stored", stored / 1e9, "s; storage rows", len(st), "; restored cpu", cpu)
PY
	curl -s --unix-socket "$SBX_SOCKET" "http://x/v1/usage?format=focus" >"$TMPD/f.csv"
	python3 - "$TMPD/f.csv" "$sid" <<'PY' || fail "FOCUS rows of the snapshot"
import csv, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r["ResourceId"] == sys.argv[2]]
assert rows and all(r["ResourceType"] == "Snapshot" and r["ServiceCategory"] == "Storage"
                    and r["SkuId"] == "snapshot-gib-hour" and r["PricingUnit"] == "GiB-hours"
                    for r in rows), rows[:1]
PY
	run_sbx bill verify
	assert_eq "$RC" 0 "chain"
}

# CPU billed on allocation is not read every window; a reload that bills it on use
# starts from the counter as it is then, not from what was used before.
t_policy_reload() {
	card allocated
	start_sbxd --bill-window 1s --rates "$TMPD/rates.json"
	local id t
	id=$("$SBX" create --image host --cpus 1) || fail create
	"$SBX" exec "$id" -- python3 -c '
import time
t = time.process_time()
while time.process_time() - t < 0.6: pass' || fail burn
	sleep 1.2
	card used
	t=$(date +%s%N)
	kill -HUP "$SBXD_PID"
	sleep 2.2
	local del
	del=$(curl -s -X DELETE --unix-socket "$SBX_SOCKET" "http://x/v1/sandboxes/$id")
	python3 - "$del" "$(bill_json "&sandbox=$id")" "$t" <<'PY' || fail "policy change"
import json, sys
d, b, t = json.loads(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3])
rs = sorted((r for r in b["rows"] if r["sku"] == "cpu-core-second"), key=lambda r: r["start_ns"])
after = [r for r in rs if r["start_ns"] >= t + 1e9]  # windows wholly after the reload
before = [r for r in rs if r["end_ns"] <= t]
assert before and all(r["policy"] == "allocated" for r in before), "allocated before"
# (an idle window may have used nothing: then it has no row)
assert all(r["policy"] == "used" for r in after), [r["policy"] for r in rs]
used = sum(r["quantity"] for r in rs if r["policy"] == "used")
assert used < 0.3e9, ("the earlier burn billed again", used)
assert d["usage"]["cpu_ns"] >= 0.55e9, d["usage"]["cpu_ns"]
print("used after the reload:", used, "of", d["usage"]["cpu_ns"])
PY
}

# A ledger written by an earlier sbxd (its row format and indexes) verifies and grows.
t_old_ledger_verifies() {
	mkdir -p "$TMPD/state"
	sqlite3 "$TMPD/state/sbx.db" <"$(dirname "${BASH_SOURCE[0]}")/../fixtures/ledger-0.1.sql" ||
		fail "loading the fixture"
	card allocated
	start_sbxd --bill-window 1s --rates "$TMPD/rates.json"
	run_sbx bill verify
	assert_eq "$RC" 0 "the old chain: $OUT $ERR"
	local id
	id=$("$SBX" create --image base) || fail create
	sleep 1.5
	"$SBX" rm "$id" >/dev/null
	run_sbx bill verify
	assert_eq "$RC" 0 "the chain grown by this sbxd: $OUT $ERR"
	sqlite3 "$TMPD/state/sbx.db" "update ledger set quantity = quantity + 1 where seq = 3"
	run_sbx bill verify
	assert_eq "$RC" 1 "an edit in the old part is caught"
}

t_verify_catches_tampering() {
	card allocated
	start_sbxd --bill-window 1s --rates "$TMPD/rates.json"
	local id db=$TMPD/state/sbx.db
	id=$("$SBX" create --image base) || fail create
	sleep 3.2
	"$SBX" rm "$id" >/dev/null
	run_sbx bill verify
	assert_eq "$RC" 0 "intact"
	assert_contains "$OUT" "ledger intact" "intact message"
	local id2 id3
	id2=$(sqlite3 "$db" 'select id from ledger where seq = 2')
	sqlite3 "$db" 'update ledger set cost_nano = cost_nano + 1 where seq = 2'
	run_sbx bill verify
	assert_eq "$RC" 1 "an edited row"
	assert_contains "$OUT" "row $id2: its content does not match" "names the edited row"
	sqlite3 "$db" 'update ledger set cost_nano = cost_nano - 1 where seq = 2'
	run_sbx bill verify
	assert_eq "$RC" 0 "restored"
	id3=$(sqlite3 "$db" 'select id from ledger where seq = 4')
	sqlite3 "$db" 'delete from ledger where seq = 3'
	run_sbx bill verify
	assert_eq "$RC" 1 "a deleted row"
	assert_contains "$OUT" "row $id3: its previous-row hash" "names the row after the gap"
	sqlite3 "$db" "delete from ledger where seq >= 3"
	run_sbx bill verify
	assert_eq "$RC" 1 "rows cut from the end"
	assert_contains "$OUT" "removed from the end" "says so"
}

t_rates_refused() {
	printf '{"currency": "USD",\n "prices": {\n  "cpu-core-second": 0.000014}}\n' >"$TMPD/bad.json"
	"$B/sbxd" --no-net --socket "$TMPD/x.sock" --state-dir "$TMPD/state" --rates "$TMPD/bad.json" 2>"$TMPD/err"
	assert_eq "$?" 1 "a bad card is refused at start"
	assert_contains "$(cat "$TMPD/err")" "bad.json:3: prices.cpu-core-second: write prices as decimal strings" "line and field"
	assert_eq "$(wc -l <"$TMPD/err")" 1 "one line"
	card allocated
	start_sbxd --rates "$TMPD/rates.json"
	api GET /v1/rates
	assert_eq "$(jget "$BODY" 'j["prices"]["cpu-core-second"]')" 0.000014 "rates served"
	# A reload that fails keeps the card; one that works replaces it.
	cp "$TMPD/bad.json" "$TMPD/rates.json"
	kill -HUP "$SBXD_PID"
	sleep 0.3
	api GET /v1/rates
	assert_eq "$(jget "$BODY" 'j["prices"]["cpu-core-second"]')" 0.000014 "kept after a bad reload"
	grep -q "keeping the current rate card" "$TMPD/sbxd.log" || fail "the bad reload is logged"
	sed 's/0.000014/0.00002/' "$TMPD/bad.json" | sed 's/: 0.00002/: "0.00002"/' >"$TMPD/rates.json"
	kill -HUP "$SBXD_PID"
	sleep 0.3
	api GET /v1/rates
	assert_eq "$(jget "$BODY" 'j["prices"]["cpu-core-second"]')" 0.00002 "replaced by a good reload"
	for q in "from=yesterday" "to=2026-13-01T00:00:00Z" "format=xml" \
		"from=2026-11-27T00:00:00Z&to=2026-11-26T00:00:00Z"; do
		api GET "/v1/usage?$q"
		assert_eq "$CODE" 400 "query $q"
	done
	run_sbx bill --format yaml
	assert_eq "$RC" 125 "bad --format"
}

t_full_disk() {
	# The state directory on a small file system that fills up: rows wait, the ledger
	# reports failing, and they are written once there is room: none lost or doubled.
	card allocated
	mkdir -p "$TMPD/state"
	mount -t tmpfs -o size=8m sbx-test "$TMPD/state" || skip "cannot mount a tmpfs"
	start_sbxd --bill-window 1s --rates "$TMPD/rates.json"
	local id
	id=$("$SBX" create --image base) || fail create
	sleep 1.2
	dd if=/dev/zero of="$TMPD/state/filler" bs=64k 2>/dev/null
	sleep 2.5
	local h
	h=$(curl -s --unix-socket "$SBX_SOCKET" http://x/v1/health)
	assert_contains "$(jget "$h" 'j["ledger"]')" "cannot write the ledger" "health says failing"
	curl -s --unix-socket "$SBX_SOCKET" http://x/metrics | grep -q '^sbx_ledger_up 0' || fail "metrics say failing"
	# A sandbox the database cannot record is not started.
	local before
	before=$(live_inits)
	run_sbx create --image base
	assert_eq "$RC" 125 "create with a full state disk"
	assert_contains "$ERR" "cannot record sandboxes" "says why"
	assert_eq "$(live_inits)" "$before" "nothing left running"
	h=$(curl -s --unix-socket "$SBX_SOCKET" http://x/v1/health)
	assert_contains "$(jget "$h" 'j["state_db"]')" "No space left" "health says the state database fails"
	rm -f "$TMPD/state/filler"
	sleep 1.5
	h=$(curl -s --unix-socket "$SBX_SOCKET" http://x/v1/health)
	assert_eq "$(jget "$h" 'j["ledger"]')" ok "writing again"
	"$SBX" rm "$id" >/dev/null
	python3 - "$(bill_json "&sandbox=$id")" <<'PY' || fail "rows lost or doubled"
import json, sys
b = json.loads(sys.argv[1])
rs = sorted((r for r in b["rows"] if r["sku"] == "cpu-core-second"), key=lambda r: r["start_ns"])
ids = [r["id"] for r in b["rows"]]
assert len(ids) == len(set(ids))
for a, c in zip(rs, rs[1:]):
    assert a["end_ns"] == c["start_ns"], ("gap", a["id"], c["id"])
assert rs[-1]["end_ns"] - rs[0]["start_ns"] >= 4.5e9
PY
	run_sbx bill verify
	assert_eq "$RC" 0 "chain"
	stop_sbxd
	umount "$TMPD/state"
}

source "$(dirname "$0")/lib.sh"
