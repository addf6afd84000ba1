# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# What an operator watches: the agent's /healthz through its life (starting,
# ok, stuck, ok again), portslice_build_info and portslice_config_info, the
# agent's journal entries and their fields (libsystemd talking to a stand-in
# journald in a private mount namespace) against plain stderr elsewhere, the
# alert rules (promtool check and promtool's own unit tests of every alert)
# and the Grafana dashboard.
# Sourced by tests/run.sh after tests/lib.sh; each t_* runs in a subshell.

PROMTOOL=${PROMTOOL:-$ROOT/${OUTPUT:-build}/tools/promtool}
[ -x "$PROMTOOL" ] || PROMTOOL=$(command -v promtool || echo "$PROMTOOL")
METRICS=127.0.0.1:9465

# obs_setup: the standard world and a config listing the test cgroup, in a
# directory only root may write. Sets NS, CG, CONF.
obs_setup() {
	std_setup
	mkdir -m 755 "$TMPD/etc"
	printf 'cgroups:\n  - path: %s\n' "$CG" >> "$CONF"
	mv "$CONF" "$TMPD/etc/fleet.yaml"
	CONF=$TMPD/etc/fleet.yaml
	chmod 644 "$CONF"
}

# obs_agent NAME [journal|stream] [ARGS...]: the agent in the test's network
# namespace, its stderr in $TMPD/NAME.log, in the background (AGENT_PID).
#   journal: in a private mount namespace whose /run/systemd/journal/socket
#            is journal_sink.py's (entries in $TMPD/NAME.journal), and with
#            JOURNAL_STREAM naming its stderr, as systemd sets it;
#   stream:  the same, with no journal socket (no journald: libsystemd
#            would drop the entries without a word).
obs_agent() {
	local name=$1 mode=${2:-plain}
	shift 2
	AGENT_LOG=$TMPD/$name.log
	JOURNAL_OUT=$TMPD/$name.journal
	: > "$AGENT_LOG"
	: > "$JOURNAL_OUT"
	if [ "$mode" = plain ]; then
		bg nsenter --net="/run/netns/$NS" "$PS" agent --config "$CONF" --host host-a --interval 0 "$@" 2>"$AGENT_LOG"
	else
		# unshare's default propagation is private: the tmpfs stays in there.
		bg nsenter --net="/run/netns/$NS" unshare -m sh -c '
			mode=$1 sink=$2 out=$3 log=$4
			shift 4
			mount -t tmpfs -o mode=0755 tmpfs /run/systemd || exit 1
			mkdir /run/systemd/journal
			if [ "$mode" = journal ]; then
				python3 "$sink" /run/systemd/journal/socket "$out" > "$out.ready" &
				i=0
				until [ -s "$out.ready" ] || [ $i -gt 100 ]; do sleep 0.05; i=$((i + 1)); done
			fi
			exec 2>"$log"
			JOURNAL_STREAM=$(stat -c %d:%i "$log") exec "$@"' _ "$mode" "$ROOT/tests/deploy/journal_sink.py" \
			"$JOURNAL_OUT" "$AGENT_LOG" "$PS" agent --config "$CONF" --host host-a --interval 0 "$@"
	fi
	AGENT_PID=$BG_PID
}

# agent_said PATTERN [FILE]: waits until the agent logged PATTERN (stderr, or FILE).
agent_said() {
	wait_line "${2:-$AGENT_LOG}" "$1" "the agent never logged /$1/ (pid $AGENT_PID)"
}

# http PATH: "CODE BODY" of GET http://$METRICS/PATH in the test namespace.
http() {
	local code
	code=$(in_ns "$NS" curl -s -m 10 -o "$TMPD/http.body" -w '%{http_code}' "http://$METRICS/$1")
	echo "$code $(cat "$TMPD/http.body" 2>/dev/null)"
}

# lock_hold: holds the test's portslice lock (every state change waits for
# it) from a process of its own until lock_release.
lock_hold() {
	bg python3 -c 'import fcntl, sys, time
f = open(sys.argv[1], "a"); fcntl.flock(f, fcntl.LOCK_EX); print("ready", flush=True); time.sleep(120)' \
		"$PORTSLICE_LOCK_FILE" > "$TMPD/lock.out"
	LOCK_PID=$BG_PID
	wait_ready "$TMPD/lock.out"
}

lock_release() {
	kill "$LOCK_PID" && wait "$LOCK_PID" 2>/dev/null
	: > "$TMPD/lock.out"
}

# entry JQ_FILTER: the last journal entry matching the filter, as JSON.
entry() { jq -c "select($1)" "$JOURNAL_OUT" | tail -n 1; }

t_healthz_follows_the_agent() {
	obs_setup
	local out i
	# Starting: the first reconcile waits for the lock; the endpoint answers.
	lock_hold
	obs_agent a1 plain --metrics $METRICS
	agent_said "metrics at http://$METRICS/metrics"
	out=$(http healthz)
	expect_match "$out" '^503 starting: ' "/healthz during the first reconcile"
	lock_release
	agent_said ': running: '
	out=$(http healthz)
	expect_eq "$out" "200 ok: generation 1, 1 of 1 cgroups attached, 0 of 0 interfaces steered" "/healthz once running"
	expect_eq "$(in_ns "$NS" curl -s -m 10 -I -o /dev/null -w '%{http_code}' "http://$METRICS/healthz")" 200 "HEAD /healthz"
	# Stuck: a reload waits for the lock while it holds the agent's state.
	lock_hold
	kill -HUP "$AGENT_PID"
	agent_said 'waiting for another portslice command'
	out=$(http healthz)
	expect_match "$out" '^503 stuck: the agent.s loop has been busy for more than 3 s' "/healthz while a reconcile hangs"
	lock_release
	for i in $(polls 100); do
		out=$(http healthz)
		[ "${out%% *}" = 200 ] && break
		sleep 0.05
	done
	expect_eq "$out" "200 ok: generation 2, 1 of 1 cgroups attached, 0 of 0 interfaces steered" "/healthz after the reload"
	# A rejected config keeps the agent healthy: a restart would not help.
	printf 'pools: [\n' > "$CONF.tmp" && chmod 644 "$CONF.tmp" && mv "$CONF.tmp" "$CONF"
	agent_said 'config rejected, generation 2 stays in force'
	expect_match "$(http healthz)" '^200 ok: generation 2,' "/healthz with a rejected config"
	expect_match "$(http nope)" '^404 ' "an unknown path"
}

t_build_and_config_info() {
	obs_setup
	local version out want commit
	version=$("$PS" --version)
	commit=$(printf '%s' "$version" | sed -n 's/.*commit \([^),]*\)[),].*/\1/p')
	expect_ne "$commit" "" "commit in --version ($version)"
	# A commit of this repository (the build may predate the newest one).
	if git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1; then
		expect_match "$commit" '^[0-9a-f]{12}(-dirty)?$' "commit of the build"
		git -C "$ROOT" cat-file -e "${commit%-dirty}^{commit}" 2>/dev/null || die "$commit is no commit of $ROOT"
	fi
	want="portslice_build_info{version=\"$(printf '%s' "$version" | awk '{ print $2 }')\",commit=\"$commit\",layout_version=\"$("$PS" status --json | jq -r .layout_version)\"} 1"
	out=$("$PS" stats --prometheus) || die "stats failed"
	expect_eq "$(printf '%s\n' "$out" | grep '^portslice_build_info')" "$want" "build info of stats"
	obs_agent a1 plain --metrics $METRICS
	agent_said ': running: '
	out=$(in_ns "$NS" curl -sf "http://$METRICS/metrics") || die "scrape failed"
	expect_eq "$(printf '%s\n' "$out" | grep '^portslice_build_info')" "$want" "build info of the agent"
	expect_match "$(printf '%s\n' "$out" | grep -A1 '^# TYPE portslice_build_info')" 'gauge' "build info's type"
	# The config's hash: the same for the same bytes, another for others.
	local h1 h2
	h1=$(printf '%s\n' "$out" | sed -n 's/^portslice_config_info{hash="\([0-9a-f]\{16\}\)"} 1$/\1/p')
	expect_ne "$h1" "" "config_info sample: $(printf '%s\n' "$out" | grep config_info)"
	printf '# a comment changes the bytes\n' >> "$CONF"
	agent_said 'config generation 2 .* applied'
	out=$(in_ns "$NS" curl -sf "http://$METRICS/metrics") || die "scrape failed"
	h2=$(printf '%s\n' "$out" | sed -n 's/^portslice_config_info{hash="\([0-9a-f]\{16\}\)"} 1$/\1/p')
	expect_ne "$h2" "$h1" "hash after an edit"
	# FNV-1a 64 of the file, as the help text says.
	expect_eq "$h2" "$(python3 -c 'import sys
h = 0xcbf29ce484222325
for b in open(sys.argv[1], "rb").read(): h = ((h ^ b) * 0x100000001b3) % 2**64
print("%016x" % h)' "$CONF")" "hash of the file"
}

t_agent_logs_fields_to_the_journal() {
	command -v python3 >/dev/null || { echo "python3 is needed for the stand-in journald"; exit 249; }
	obs_setup
	local e
	obs_agent a1 journal
	agent_said '"MESSAGE": "running: config ' "$JOURNAL_OUT"
	e=$(entry '.MESSAGE | startswith("running: config ")')
	expect_eq "$(jq -r .PRIORITY <<<"$e")" 6 "priority of 'running'"
	expect_eq "$(jq -r .SYSLOG_IDENTIFIER <<<"$e")" portslice "identifier"
	expect_eq "$(jq -r .PORTSLICE_HOST <<<"$e")" host-a "host field"
	expect_eq "$(jq -r .PORTSLICE_CONFIG <<<"$e")" "$CONF" "config field"
	expect_eq "$(jq -r .PORTSLICE_GENERATION <<<"$e")" 1 "generation field"
	expect_eq "$(jq -r .PORTSLICE_VERSION <<<"$e")" "$("$PS" --version | awk '{ print $2 }')" "version field"
	e=$(entry '.MESSAGE | startswith("attached ")')
	expect_eq "$(jq -r .PRIORITY <<<"$e")" 6 "priority of 'attached' ($e)"
	# The internals' messages (pr_info and co.) go there too.
	lock_hold
	kill -HUP "$AGENT_PID"
	agent_said '"MESSAGE": "waiting for another portslice command' "$JOURNAL_OUT"
	lock_release
	agent_said '"MESSAGE": "config generation 2 from ' "$JOURNAL_OUT"
	e=$(entry '.MESSAGE | startswith("waiting for another portslice command")')
	expect_eq "$(jq -r .PRIORITY <<<"$e")" 6 "priority of an internal message"
	expect_eq "$(jq -r .PORTSLICE_HOST <<<"$e")" host-a "host field of an internal message"
	# A rejected config: an error, at the generation that stays in force.
	printf 'pools: [\n' > "$CONF.tmp" && chmod 644 "$CONF.tmp" && mv "$CONF.tmp" "$CONF"
	agent_said '"MESSAGE": "config rejected' "$JOURNAL_OUT"
	e=$(entry '.MESSAGE | startswith("config rejected")')
	expect_eq "$(jq -r .PRIORITY <<<"$e")" 3 "priority of a rejected config"
	expect_eq "$(jq -r .PORTSLICE_GENERATION <<<"$e")" 2 "generation in force after the rejection"
	expect_match "$(jq -r .MESSAGE <<<"$e")" "fleet.yaml:[0-9]+" "the rejection names the file and line"
	# Nothing went to stderr as text, and no hand-written <N> prefix anywhere.
	kill "$AGENT_PID"
	wait "$AGENT_PID" 2>/dev/null
	expect_nomatch "$(cat "$AGENT_LOG")" 'portslice agent: |^<[0-9]>' "stderr beside the journal"
	expect_ge "$(wc -l < "$JOURNAL_OUT")" 4 "journal entries"
	expect_nomatch "$(jq -r .MESSAGE "$JOURNAL_OUT")" '^<[0-9]>' "journal messages"
}

t_agent_logs_plain_lines_elsewhere() {
	obs_setup
	# A terminal, a file, a container's log: levels in plain text.
	obs_agent a1 plain
	agent_said '^portslice agent: info: running: config '
	kill "$AGENT_PID"
	wait "$AGENT_PID" 2>/dev/null
	expect_nomatch "$(cat "$AGENT_LOG")" '^<[0-9]>' "stderr of an agent outside systemd"
	# JOURNAL_STREAM naming another file (a child of a service whose stderr
	# was redirected): stderr it is.
	JOURNAL_STREAM=1:1 obs_agent a2 plain
	agent_said '^portslice agent: info: running: config '
	kill "$AGENT_PID"
	wait "$AGENT_PID" 2>/dev/null
	# The journal's stream, but no journald listening: every message still arrives.
	"$PS" detach --cgroup "$CG" >/dev/null || die "detach"
	obs_agent a3 stream
	agent_said '^portslice agent: info: running: config '
	agent_said '^portslice agent: info: attached '
	expect_nomatch "$(cat "$AGENT_LOG")" '^<[0-9]>' "stderr when the journal is gone"
}

t_alert_rules_pass_promtool() {
	[ -x "$PROMTOOL" ] || { echo "no promtool ('make promtool' takes it from Debian's prometheus package)"; exit 249; }
	local out
	out=$("$PROMTOOL" check rules "$ROOT/deploy/prometheus/portslice-alerts.yaml" 2>&1) || die "promtool check rules: $out"
	expect_match "$out" 'SUCCESS: 9 rules found' "promtool check rules"
	# Every alert fires on its series and stays quiet on healthy ones.
	out=$(cd "$ROOT/deploy/prometheus" && "$PROMTOOL" test rules portslice-alerts.test.yaml 2>&1) ||
		die "promtool test rules: $out"
	local alert
	for alert in $(awk '$1 == "-" && $2 == "alert:" { print $3 }' "$ROOT/deploy/prometheus/portslice-alerts.yaml"); do
		grep -q "alertname: $alert\$" "$ROOT/deploy/prometheus/portslice-alerts.test.yaml" || die "no promtool test for $alert"
	done
}

# exported_metrics: every family portslice prints (stats and the agent's).
exported_metrics() { grep -o '"portslice_[a-z_]*' "$ROOT/loader/metrics.c" | tr -d '"' | sort -u; }

# check_names FILE TEXT: every portslice_* name in TEXT is exported.
check_names() {
	local name known
	known=$(exported_metrics)
	for name in $(printf '%s\n' "$2" | grep -o 'portslice_[a-z_]*' | sort -u); do
		printf '%s\n' "$known" | grep -qx "$name" || die "$1 names $name, which portslice does not export"
	done
}

t_alert_rules_name_exported_metrics() {
	local rules=$ROOT/deploy/prometheus/portslice-alerts.yaml
	python3 - "$rules" <<-'PY' || die "the alert rules do not load as Prometheus rule groups"
	import sys, yaml
	doc = yaml.safe_load(open(sys.argv[1]))
	rules = [r for g in doc["groups"] for r in g["rules"]]
	assert rules and all({"alert", "expr", "labels", "annotations"} <= set(r) for r in rules), rules
	assert all(r["labels"]["severity"] in ("critical", "warning", "info") for r in rules)
	assert all(r["annotations"].get("summary") and r["annotations"].get("description") for r in rules)
	PY
	check_names "$rules" "$(grep -v '^ *#' "$rules")"
	# The four things the issue asked to alert on.
	local a
	for a in PortsliceSliceNearlyFull PortsliceExhaustion PortsliceSteeringDrops PortsliceAgentConfigRejected; do
		grep -q "alert: $a\$" "$rules" || die "no alert $a"
	done
	grep -qE -- '- alert: PortsliceFleetConfigDiverged' "$rules" || die "no alert on a fleet that runs different configs"
	# The runbook names every alert.
	for a in $(awk '$2 == "alert:" { print $3 }' "$rules"); do
		grep -q "$a" "$ROOT/docs/operations.md" || die "docs/operations.md does not say what to do about $a"
	done
}

t_grafana_dashboard_is_valid() {
	local dash=$ROOT/deploy/grafana/portslice-dashboard.json exprs
	jq -e . "$dash" >/dev/null || die "the dashboard is not valid JSON"
	expect_eq "$(jq -r '.uid + " " + .title' "$dash")" "portslice portslice" "uid and title"
	expect_eq "$(jq '[.panels[] | select(.gridPos.w == null or .gridPos.h == null)] | length' "$dash")" 0 "panels without a place"
	expect_eq "$(jq '[.panels[].id] | length == (unique | length)' "$dash")" true "unique panel ids"
	expect_eq "$(jq '[.panels[] | select(.type != "row") | select(.datasource.uid != "${datasource}")] | length' "$dash")" 0 \
		"panels not using the datasource variable"
	expect_eq "$(jq -r '[.templating.list[].name] | join(" ")' "$dash")" "datasource instance pool" "variables"
	exprs=$(jq -r '.panels[].targets[]?.expr' "$dash")
	expect_ge "$(printf '%s\n' "$exprs" | wc -l)" 10 "queries"
	check_names "$dash" "$exprs$(jq -r '.templating.list[].definition // empty' "$dash")"
	# Every query is valid PromQL once Grafana's variables are filled in:
	# promtool checks them as recording rules.
	[ -x "$PROMTOOL" ] || { echo "no promtool: the queries' syntax was not checked"; exit 249; }
	printf '%s\n' "$exprs" | sed -e 's/\$__rate_interval/5m/g' -e 's/\$instance/.*/g' -e 's/\$pool/.*/g' |
		python3 -c 'import sys, yaml
rules = [{"record": "dashboard:query%d" % i, "expr": e} for i, e in enumerate(sys.stdin.read().splitlines())]
yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, sys.stdout)' > "$TMPD/dashboard-rules.yaml"
	local out
	out=$("$PROMTOOL" check rules "$TMPD/dashboard-rules.yaml" 2>&1) || die "a dashboard query is not valid PromQL: $out"
}
