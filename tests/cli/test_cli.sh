# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# The command line as a user meets it: help and usage errors, config and
# argument mistakes that must change nothing, and attach / detach / status
# checked against what the kernel really has (bpftool) and what is pinned.
# Sourced by tests/run.sh after tests/lib.sh; each t_* runs in a subshell.

# ---- helpers ---------------------------------------------------------------

# What one attachment puts on a cgroup: "attach_type program", one per hook.
ALL_HOOKS=$(printf '%s\n' \
	"cgroup_inet4_connect ps_connect4" "cgroup_inet6_connect ps_connect6" \
	"cgroup_inet4_bind ps_bind4" "cgroup_inet6_bind ps_bind6" \
	"cgroup_udp4_sendmsg ps_sendmsg4" "cgroup_udp6_sendmsg ps_sendmsg6" \
	"cgroup_inet_sock_release ps_sock_release" "cgroup_sock_ops ps_sock_ops" | LC_ALL=C sort | paste -sd, -)
# The pinned links of one attachment, named after their programs.
ALL_PINS="ps_bind4 ps_bind6 ps_connect4 ps_connect6 ps_sendmsg4 ps_sendmsg6 ps_sock_ops ps_sock_release"

setup() { std_setup "$@"; }

# new_cg NAME: a further test cgroup; sets NEW_CG.
new_cg() {
	NEW_CG=$(cg_create "$1") || exit 1
}

# cli ARGS...: run portslice (see run), once set up in the network namespace
# of the workloads, which has the pool addresses (as the README advises).
cli() {
	if [ -n "${NS:-}" ]; then
		run nsenter --net="/run/netns/$NS" "$PS" "$@"
	else
		run "$PS" "$@"
	fi
}

# expect_ok: the last run succeeded with nothing on stderr.
expect_ok() {
	expect_eq "$RC" 0 "exit code (stderr: $ERR)"
	expect_eq "$ERR" "" "stderr"
}

# expect_error CODE FRAGMENT...: the last run failed with exit CODE ("any":
# anything but 0), printed nothing on stdout and exactly one
# "portslice: error:" line on stderr that holds every FRAGMENT.
expect_error() {
	local code=$1 f line
	shift
	if [ "$code" = any ]; then
		expect_ne "$RC" 0 "exit code (stdout: $OUT)"
	else
		expect_eq "$RC" "$code" "exit code (stderr: $ERR)"
	fi
	expect_eq "$OUT" "" "stdout of a failed command"
	expect_eq "$(printf '%s\n' "$ERR" | grep -c '^portslice: error: ')" 1 "error lines in: $ERR"
	line=$(printf '%s\n' "$ERR" | grep '^portslice: error: ')
	for f in "$@"; do expect_contains "$line" "$f" "error message"; done
}

# expect_json_error CODE FRAGMENT...: like expect_error, for --json: stdout
# is exactly one JSON object, {"error": "..."} (with "file", "line", "field"
# and "errors" where the error is about a file, "warnings" where there were
# any), and stderr has no error line.
expect_json_error() {
	local code=$1 f msg
	shift
	if [ "$code" = any ]; then
		expect_ne "$RC" 0 "exit code"
	else
		expect_eq "$RC" "$code" "exit code (stdout: $OUT)"
	fi
	expect_eq "$(printf '%s' "$OUT" | jq -s 'length')" 1 "JSON values on stdout: $OUT"
	printf '%s' "$OUT" | jq -e 'type == "object" and (.error | type == "string") and
		(keys - ["error", "file", "line", "field", "errors", "warnings"] == [])' \
		>/dev/null || die "stdout is not {\"error\": STRING, ...}: $OUT"
	expect_eq "$(printf '%s\n' "$OUT" | wc -l)" 1 "lines on stdout"
	expect_nomatch "$ERR" 'error' "stderr of a --json error"
	msg=$(printf '%s' "$OUT" | jq -r .error)
	for f in "$@"; do expect_contains "$msg" "$f" "JSON error"; done
}

cg_id() { stat -c %i "$1" || die "stat $1"; }

# hooks CG: "attach_type program,..." of the programs attached right at CG.
hooks() {
	local j
	j=$(bpftool -j cgroup show "$1") || die "bpftool cgroup show $1 failed"
	printf '%s' "$j" | jq -r '.[] | "\(.attach_type) \(.name)"' | LC_ALL=C sort | paste -sd, -
}

# prog_ids CG: "attach_type=prog id ..." at CG.
prog_ids() {
	bpftool -j cgroup show "$1" | jq -r '.[] | "\(.attach_type)=\(.id)"' | LC_ALL=C sort | paste -sd' ' -
}

# link_ids CGROUP_ID: "attach_type=link id ..." of the cgroup links of that cgroup.
link_ids() {
	local j
	j=$(bpftool -j link show) || die "bpftool link show failed"
	printf '%s' "$j" | jq -r --argjson id "$1" \
		'.[] | select(.type == "cgroup" and .cgroup_id == $id) | "\(.attach_type)=\(.id)"' |
		LC_ALL=C sort | paste -sd' ' -
}

# pins CGROUP_ID: the pinned links of that cgroup, sorted.
pins() { LC_ALL=C ls "$PORTSLICE_PIN_DIR/cgroups/$1" 2>/dev/null | paste -sd' ' -; }

# expect_attached CG: one portslice program per hook, seven links, seven pins.
expect_attached() {
	local id
	id=$(cg_id "$1")
	expect_eq "$(hooks "$1")" "$ALL_HOOKS" "programs on $1"
	expect_eq "$(link_ids "$id" | wc -w)" $PS_CGROUP_HOOKS "links of $1 ($(link_ids "$id"))"
	expect_eq "$(pins "$id")" "$ALL_PINS" "pins of $1"
}

# expect_bare CG [CGROUP_ID]: no program on CG, no link or pin of its id.
expect_bare() {
	local id=${2:-$(cg_id "$1")}
	expect_eq "$(hooks "$1")" "" "programs on $1"
	expect_eq "$(link_ids "$id")" "" "links of $1"
	[ ! -e "$PORTSLICE_PIN_DIR/cgroups/$id" ] || die "pins of $1 remain: $(pins "$id")"
}

# expect_pristine CG...: no pin dir at all and nothing on any CG.
expect_pristine() {
	local cg
	[ ! -e "$PORTSLICE_PIN_DIR" ] ||
		die "$PORTSLICE_PIN_DIR was created: $(find "$PORTSLICE_PIN_DIR" | head -n 20)"
	for cg; do expect_bare "$cg"; done
}

# snapshot CG: everything a failed command must leave as it was.
snapshot() {
	local id
	id=$(cg_id "$1")
	echo "links: $(link_ids "$id")"
	echo "progs: $(prog_ids "$1")"
	echo "pins: $(pins "$id")"
	echo "pindir: $(cd "$PORTSLICE_PIN_DIR" 2>/dev/null && find . | LC_ALL=C sort | paste -sd' ' -)"
	echo "status: $("$PS" status --json)"
}

# att FILTER [CG]: a jq filter over CG's entry in `status --json`'s attachments.
att() {
	"$PS" status --json | jq -c --arg cg "${2:-$CG}" '.attachments[] | select(.cgroup == $cg) | '"$1"
}

# ---- help and usage errors ---------------------------------------------------

t_help_shows_commands_and_options() {
	local how
	for how in "help" "--help" "-h" "help help"; do
		cli $how
		expect_ok
		expect_contains "$OUT" "Usage: portslice [-v] [-j] [-p] COMMAND [OPTIONS]" "portslice $how"
		for f in attach detach status help --json --pretty --verbose --version PORTSLICE_PIN_DIR \
			PORTSLICE_LOCK_FILE; do
			expect_contains "$OUT" "$f" "portslice $how"
		done
	done

	for how in "help attach" "attach --help" "attach -h" "help att" "att --help"; do
		cli $how
		expect_ok
		expect_contains "$OUT" "Usage: portslice attach --cgroup DIR --config FILE" "portslice $how"
		for f in "-c, --cgroup DIR" "-f, --config FILE" "-H, --host NAME" "-P, --pool NAME" \
			"-j, --json" "-h, --help" "default: hostname" "nested inside an attached one is refused"; do
			expect_contains "$OUT" "$f" "portslice $how"
		done
	done

	for how in "help detach" "detach --help" "detach -h"; do
		cli $how
		expect_ok
		expect_contains "$OUT" "Usage: portslice detach --cgroup DIR | --all" "portslice $how"
		for f in "-c, --cgroup DIR" "-a, --all" "-j, --json" "-h, --help"; do
			expect_contains "$OUT" "$f" "portslice $how"
		done
	done

	for how in "help status" "status --help" "status -h"; do
		cli $how
		expect_ok
		expect_contains "$OUT" "Usage: portslice status [--netns NAME|PATH]... [--json]" "portslice $how"
		for f in "-j, --json" "-h, --help"; do expect_contains "$OUT" "$f" "portslice $how"; done
	done

	# --help wins over missing required options, and does nothing.
	cli attach --help --cgroup "$TMPD"
	expect_ok
	expect_contains "$OUT" "Usage: portslice attach"
	[ ! -e "$PORTSLICE_PIN_DIR" ] || die "--help created $PORTSLICE_PIN_DIR"

	cli --version
	expect_ok
	expect_match "$OUT" '^portslice [0-9]+\.[0-9]+\.[0-9]+ \(layout [0-9]+, libbpf ' "--version"
}

t_version_layout_matches_status() {
	ensure_bpffs
	cli --version
	expect_ok
	local v s
	v=$(printf '%s' "$OUT" | sed -n 's/.*(layout \([0-9]*\),.*/\1/p')
	s=$("$PS" status --json | jq -r .layout_version)
	expect_eq "$v" "$s" "layout version of --version against status --json"
}

t_usage_errors_exit_2() {
	cli
	expect_eq "$RC" 2 "exit code of a bare portslice"
	expect_eq "$OUT" "" "stdout of a bare portslice"
	expect_contains "$ERR" "Usage: portslice" "stderr of a bare portslice"

	cli frobnicate
	expect_error 2 "unknown command 'frobnicate'" "see 'portslice help'"
	cli help frobnicate
	expect_error 2 "unknown command 'frobnicate'" "see 'portslice help'"
	cli --frobnicate status
	expect_error 2 "unknown option '--frobnicate'" "see 'portslice help'"
	cli -x
	expect_error 2 "unknown option '-x'" "see 'portslice help'"

	cli attach --frobnicate
	expect_error 2 "unknown option '--frobnicate' for 'attach'" "see 'portslice attach --help'"
	cli detach -z
	expect_error 2 "unknown option '-z' for 'detach'" "see 'portslice detach --help'"
	cli status --all
	expect_error 2 "unknown option '--all' for 'status'" "see 'portslice status --help'"

	cli attach --cgroup
	expect_error 2 "option --cgroup of 'attach' needs a value (DIR)" "see 'portslice attach --help'"
	cli attach -c
	expect_error 2 "option --cgroup of 'attach' needs a value (DIR)"
	cli attach --cgroup "$TMPD" --config "$TMPD/x.yaml" --host
	expect_error 2 "option --host of 'attach' needs a value (NAME)"
	cli attach --cgroup "$TMPD" --config "$TMPD/x.yaml" --pool
	expect_error 2 "option --pool of 'attach' needs a value (NAME)"
	cli attach --config
	expect_error 2 "option --config of 'attach' needs a value (FILE)"
	cli detach --cgroup
	expect_error 2 "option --cgroup of 'detach' needs a value (DIR)" "see 'portslice detach --help'"

	cli status extra
	expect_error 2 "unexpected argument 'extra' for 'status'" "see 'portslice status --help'"
	cli detach --all extra
	expect_error 2 "unexpected argument 'extra' for 'detach'"

	# The commands share no first letter, so only the empty name is a
	# prefix of several: it must be refused, not taken for one of them.
	cli ''
	expect_error 2
	expect_match "$ERR" "ambiguous|empty" "error for an empty command name"

	[ ! -e "$PORTSLICE_PIN_DIR" ] || die "a usage error created $PORTSLICE_PIN_DIR"
}

t_command_prefixes_select_commands() {
	setup
	cli statu
	expect_ok
	expect_contains "$OUT" "not attached"
	cli statu --json
	expect_ok
	expect_eq "$(printf '%s' "$OUT" | jq -r .attached)" false "statu --json .attached"

	cli att --cgroup "$CG" --config "$CONF" --host host-a
	expect_ok
	expect_contains "$OUT" "attached $CG (host host-a):"
	expect_attached "$CG"
	cli statu --json
	expect_ok
	expect_eq "$(printf '%s' "$OUT" | jq -r '.attachments[0].cgroup')" "$CG" "statu --json"
	cli deta --cgroup "$CG"
	expect_ok
	expect_contains "$OUT" "detached $CG"
	expect_bare "$CG"
	expect_pristine
}

# ---- --json errors -----------------------------------------------------------

t_json_errors_are_one_object() {
	setup
	local bad=$TMPD/unknown-key.yaml how
	sed 's/^    address: 198.18.0.10$/&\n    colour: blue/' "$CONF" >"$bad"
	grep -q colour "$bad" || die "could not write $bad"

	for how in "-j attach" "--json attach" "attach -j" "attach --json" "-p attach"; do
		cli $how --cgroup "$CG" --config "$bad" --host host-a
		expect_json_error 2 "$bad:4: pools[0].colour: unknown key"
		expect_eq "$(printf '%s' "$OUT" | jq -c '[.file, .line, .field]')" "[\"$bad\",4,\"pools[0].colour\"]" \
			"file, line and field of the error"
		expect_eq "$(printf '%s' "$OUT" | jq -c '[.errors[] | [.file, .line, .field]]')" \
			"[[\"$bad\",4,\"pools[0].colour\"]]" "every error of the config"
	done
	expect_pristine "$CG"

	# Every error of the file: the message points to validate, "errors" lists them.
	sed 's/^      host-b: 40000-40999$/      host-b: 40999-40000/' "$bad" >"$TMPD/two.yaml"
	cli -j attach --cgroup "$CG" --config "$TMPD/two.yaml" --host host-a
	expect_json_error 2 "and 2 more errors: 'portslice validate $TMPD/two.yaml' lists them all"
	expect_eq "$(printf '%s' "$OUT" | jq -c '[.errors[] | [.line, .field]]')" \
		'[[4,"pools[0].colour"],[7,"pools[0].slices.host-b"],[12,"pools[1].slices.host-b"]]' "errors"
	expect_pristine "$CG"

	cli -j attach --cgroup "$CG" --config "$TMPD/missing.yaml" --host host-a
	expect_json_error any "$TMPD/missing.yaml"
	expect_eq "$(printf '%s' "$OUT" | jq -c '[.file, .line, .field]')" "[\"$TMPD/missing.yaml\",null,null]" \
		"file of an error opening the config"
	cli -j frobnicate
	expect_json_error 2 "unknown command 'frobnicate'"
	cli -j --frobnicate
	expect_json_error 2 "unknown option '--frobnicate'"
	cli -j attach --cgroup
	expect_json_error 2 "option --cgroup of 'attach' needs a value"
	cli -j detach
	expect_json_error 2 "detach needs exactly one of --cgroup DIR or --all"
	cli -j attach --cgroup "$CG2" --config "$CONF" --host host-a
	expect_json_error 2 "refus" "root cgroup $CG2"
	expect_pristine "$CG"
}

# ---- attach: missing and bad input change nothing ---------------------------

t_attach_needs_cgroup_and_config() {
	setup
	cli attach --config "$CONF" --host host-a
	expect_error 2 "attach needs --cgroup DIR"
	cli attach --cgroup "$CG" --host host-a
	expect_error 2 "attach needs --config FILE"
	cli attach --host host-a
	expect_error 2 "attach needs --"
	cli attach --cgroup "$CG" --config "$TMPD/missing.yaml" --host host-a
	expect_error any "$TMPD/missing.yaml" "No such file or directory"
	cli attach --cgroup "$CG" --config "$TMPD" --host host-a
	expect_error any "$TMPD" "Is a directory"
	expect_pristine "$CG"
}

# write_bad_configs: the four broken configs below; sets BAD (name: file) and
# WANT (name: "FILE:LINE: FIELD: problem" fragment).
declare -A BAD WANT
write_bad_configs() {
	BAD[syntax]=$TMPD/syntax.yaml
	cat >"${BAD[syntax]}" <<-YAML
	pools:
	  - name: web
	    address: $POOL4
	    slices:
	      host-a: 20000-20999
	      host-b: 40000-40999
	    - name: web6
	YAML
	WANT[syntax]="${BAD[syntax]}:7: syntax error: "

	BAD[unknown]=$TMPD/unknown.yaml
	cat >"${BAD[unknown]}" <<-YAML
	pools:
	  - name: web
	    address: $POOL4
	    slices:
	      host-a: 20000-20999
	  - name: web6
	    address: $POOL6
	    weight: 3
	    slices:
	      host-a: 20000-20999
	YAML
	WANT[unknown]="${BAD[unknown]}:8: pools[1].weight: unknown key"

	BAD[overlap]=$TMPD/overlap.yaml
	cat >"${BAD[overlap]}" <<-YAML
	pools:
	  - name: web
	    address: $POOL4
	    slices:
	      host-a: 20000-20999
	      host-b: 20500-21999
	YAML
	WANT[overlap]="${BAD[overlap]}:6: pools[0].slices.host-b: 20500-21999 overlaps 20000-20999"

	BAD[range]=$TMPD/range.yaml
	cat >"${BAD[range]}" <<-YAML
	pools:
	  - name: web
	    address: $POOL4
	    slices:
	      host-b: 40000-40999
	      host-a: 65000-65536
	YAML
	WANT[range]="${BAD[range]}:6: pools[0].slices.host-a: \"65000-65536\": port out of range; ports are 1-65535"

	BAD[zero]=$TMPD/zero.yaml
	cat >"${BAD[zero]}" <<-YAML
	pools:
	  - name: web
	    address: $POOL4
	    slices:
	      host-a: 0-1000
	YAML
	WANT[zero]="${BAD[zero]}:5: pools[0].slices.host-a: \"0-1000\": port 0 is not a usable port"
}

t_attach_bad_config_changes_nothing() {
	setup
	write_bad_configs
	local k
	for k in syntax unknown overlap range zero; do
		cli attach --cgroup "$CG" --config "${BAD[$k]}" --host host-a
		expect_error 2 "${WANT[$k]}"
		expect_pristine "$CG"
	done
}

t_attach_bad_config_keeps_existing_attachment() {
	setup
	write_bad_configs
	attach
	expect_attached "$CG"
	local before k
	before=$(snapshot "$CG")
	expect_contains "$before" '"attached":true'
	for k in syntax unknown overlap range zero; do
		cli attach --cgroup "$CG" --config "${BAD[$k]}" --host host-a
		expect_error 2 "${WANT[$k]}"
		expect_eq "$(snapshot "$CG")" "$before" "state after attach with the $k config"
	done
	# The same holds for a pool selection that cannot be met.
	cli attach --cgroup "$CG" --config "$CONF" --host host-z
	expect_error any "no pool has a slice for host 'host-z'"
	cli attach --cgroup "$CG" --config "$CONF" --host host-a --pool nope
	expect_error any "no pool named 'nope'"
	expect_eq "$(snapshot "$CG")" "$before" "state after attach with a bad selection"
	expect_attached "$CG"
}

t_attach_pool_selection_errors() {
	setup
	local conf=$TMPD/pools.yaml
	cat >"$conf" <<-YAML
	pools:
	  - name: web
	    address: $POOL4
	    slices:
	      host-a: 20000-20999
	      host-b: 40000-40999
	  - name: db
	    address: 198.18.0.20
	    slices:
	      host-b: 40000-40999
	YAML
	cli attach --cgroup "$CG" --config "$conf" --host host-z
	expect_error any "$conf: no pool has a slice for host 'host-z'" "pass --host NAME"
	expect_pristine "$CG"
	cli attach --cgroup "$CG" --config "$conf" --host host-a --pool nope
	expect_error any "$conf: no pool named 'nope'"
	expect_pristine "$CG"
	cli attach --cgroup "$CG" --config "$conf" --host host-a --pool web --pool db
	expect_error any "$conf:7: pool 'db' has no slice for host 'host-a'"
	expect_pristine "$CG"
	cli attach --cgroup "$CG" --config "$conf" --host host-a --pool web --pool web
	expect_error 2 "pool 'web' named twice"
	expect_pristine "$CG"

	# host-a gets web only: the pool without its slice is skipped.
	cli -j attach --cgroup "$CG" --config "$conf" --host host-a
	expect_ok
	expect_eq "$(printf '%s' "$OUT" | jq -c '[.pools[].name]')" '["web"]' "pools of host-a"
	expect_attached "$CG"
}

t_attach_refuses_what_is_not_a_child_cgroup() {
	setup
	local root_before
	root_before=$(bpftool -j cgroup show "$CG2")

	cli attach --cgroup "$TMPD" --config "$CONF" --host host-a
	expect_error 2 "$TMPD is not a cgroup v2 directory" "name one under $CG2"
	expect_pristine "$CG"

	cli attach --cgroup "$CG/nonexistent" --config "$CONF" --host host-a
	expect_error any "$CG/nonexistent" "No such file or directory"
	expect_pristine "$CG"

	cli attach --cgroup "$CG/cgroup.procs" --config "$CONF" --host host-a
	expect_error any "$CG/cgroup.procs"
	expect_pristine "$CG"

	local root
	for root in "$CG2" "$CG2/" "$CG/.." "$CG2/."; do
		cli attach --cgroup "$root" --config "$CONF" --host host-a
		expect_error 2 "refus" "root cgroup $CG2"
		expect_pristine "$CG"
		expect_eq "$(bpftool -j cgroup show "$CG2")" "$root_before" "programs on the root cgroup after attach $root"
	done
	expect_nomatch "$(bpftool cgroup show "$CG2")" 'ps_' "programs on the root cgroup"
}

t_not_root_is_refused() {
	setup
	local nobody="setpriv --reuid=65534 --regid=65534 --clear-groups"
	# Let the user read the config, so that root is the only thing missing.
	chmod 711 "$TMPD"
	chmod 644 "$CONF"

	run $nobody "$PS" help attach
	expect_ok
	expect_contains "$OUT" "Usage: portslice attach"

	run $nobody "$PS" attach --cgroup "$CG" --config "$CONF" --host host-a
	expect_error 1 "must run as root"
	expect_pristine "$CG"
	run $nobody "$PS" status
	expect_error 1 "must run as root"
	run $nobody "$PS" -j status
	expect_json_error 1 "must run as root"
	run $nobody "$PS" detach --all
	expect_error 1 "must run as root"
	expect_pristine "$CG"

	attach
	local before
	before=$(snapshot "$CG")
	run $nobody "$PS" detach --cgroup "$CG"
	expect_error 1 "must run as root"
	run $nobody "$PS" detach --all
	expect_error 1 "must run as root"
	run $nobody "$PS" attach --cgroup "$CG" --config "$CONF" --host host-a --pool web
	expect_error 1 "must run as root"
	expect_eq "$(snapshot "$CG")" "$before" "state after the unprivileged runs"
	expect_attached "$CG"
}

# ---- attach, status, detach -------------------------------------------------

t_attach_pins_links_and_reports() {
	setup
	cli attach --cgroup "$CG" --config "$CONF" --host host-a
	expect_ok
	expect_contains "$OUT" "attached $CG (host host-a):"
	expect_match "$OUT" "pool web +$POOL4 ports 20000-20999"
	expect_match "$OUT" "pool web6 +$POOL6 ports 20000-20999"

	local id
	id=$(cg_id "$CG")
	expect_attached "$CG"
	expect_eq "$(LC_ALL=C ls "$PORTSLICE_PIN_DIR/cgroups" | paste -sd' ' -)" "$id" "attachment dirs"
	[ -e "$PORTSLICE_PIN_DIR/maps/ps_meta" ] || die "no ps_meta pin"
	[ -e "$PORTSLICE_PIN_DIR/maps/ps_attachments" ] || die "no ps_attachments pin"

	local s
	s=$("$PS" status --json) || die "status --json failed"
	printf '%s' "$s" | jq -e --arg cg "$CG" --argjson id "$id" --arg pin "$PORTSLICE_PIN_DIR" '
		.attached == true and .pin_dir == $pin and
		(.attachments | length) == 1 and
		.attachments[0].cgroup == $cg and .attachments[0].cgroup_id == $id and
		.attachments[0].cgroup_exists == true and .attachments[0].links_pinned == true and
		.attachments[0].pools == ["web", "web6"] and
		([.pools[] | [.name, .address, .first_port, .last_port, .slice_size]] | sort) ==
			[["web", "198.18.0.10", 20000, 20999, 1000], ["web6", "2001:db8::10", 20000, 20999, 1000]]
	' >/dev/null || die "unexpected status --json: $s"

	cli status
	expect_ok
	expect_contains "$OUT" "Attached cgroups: 1"
	expect_contains "$OUT" "$CG  pools: web web6"
	expect_contains "$OUT" "Pools: 2"
	expect_match "$OUT" "web +$POOL4 +20000-20999 "
	expect_match "$OUT" "web6 +$POOL6 +20000-20999 "

	cli -p status
	expect_ok
	expect_eq "$(printf '%s' "$OUT" | jq -r '.attachments[0].cgroup')" "$CG" "status -p"
	expect_ge "$(printf '%s\n' "$OUT" | wc -l)" 10 "lines of pretty JSON"
}

t_attach_twice_keeps_one_program_per_hook() {
	setup
	local id links progs
	id=$(cg_id "$CG")
	cli -j attach --cgroup "$CG" --config "$CONF" --host host-a
	expect_ok
	printf '%s' "$OUT" | jq -e --arg cg "$CG" --argjson id "$id" '
		.cgroup == $cg and .cgroup_id == $id and .host == "host-a" and .result == "attached" and
		[.pools[] | [.name, .address, .first_port, .last_port]] ==
			[["web", "198.18.0.10", 20000, 20999], ["web6", "2001:db8::10", 20000, 20999]]
	' >/dev/null || die "unexpected attach --json: $OUT"
	links=$(link_ids "$id")
	progs=$(prog_ids "$CG")

	cli attach --cgroup "$CG" --config "$CONF" --host host-a
	expect_ok
	expect_contains "$OUT" "already attached"
	expect_attached "$CG"
	expect_eq "$(link_ids "$id")" "$links" "links after the second attach"
	expect_eq "$(prog_ids "$CG")" "$progs" "programs after the second attach"
	expect_eq "$(att .pools)" '["web","web6"]' "pools after the second attach"

	cli -j attach --cgroup "$CG" --config "$CONF" --host host-a --pool web
	expect_ok
	expect_eq "$(printf '%s' "$OUT" | jq -c '[.result, [.pools[].name]]')" '["updated",["web"]]' "attach --pool web"
	expect_attached "$CG"
	expect_eq "$(link_ids "$id")" "$links" "links after attach --pool web (updated in place)"
	expect_eq "$(att .pools)" '["web"]' "pools after attach --pool web"
	expect_eq "$("$PS" status --json | jq '.attachments | length')" 1 "attachments"

	cli attach --cgroup "$CG" --config "$CONF" --host host-a --pool web
	expect_ok
	expect_contains "$OUT" "already attached"
	expect_attached "$CG"
	expect_eq "$(att .pools)" '["web"]' "pools after attach --pool web again"

	attach
	expect_attached "$CG"
	expect_eq "$(link_ids "$id")" "$links" "links after attaching both pools again"
	expect_eq "$(att .pools)" '["web","web6"]' "pools after attaching both pools again"
}

t_attach_canonicalises_the_cgroup_path() {
	setup
	local id
	id=$(cg_id "$CG")
	ln -s "$CG" "$TMPD/cglink"
	run nsenter --net="/run/netns/$NS" sh -c 'cd "$1" && exec "$2" attach --cgroup "./$3" --config "$4" --host host-a' sh \
		"$CG2" "$PS" "$(basename "$CG")" "$CONF"
	expect_ok
	expect_contains "$OUT" "attached $CG (host host-a):"
	for p in "$CG/" "$TMPD/cglink" "$CG/../$(basename "$CG")"; do
		cli attach --cgroup "$p" --config "$CONF" --host host-a
		expect_ok
		expect_contains "$OUT" "already attached"
	done
	expect_attached "$CG"
	expect_eq "$("$PS" status --json | jq -c '[.attachments[].cgroup]')" "[\"$CG\"]" "attachments"
	cli detach --cgroup "$TMPD/cglink"
	expect_ok
	expect_contains "$OUT" "detached $TMPD/cglink"
	expect_bare "$CG" "$id"
	expect_pristine
	rm -f "$TMPD/cglink"
}

t_host_defaults_to_hostname() {
	setup
	local h
	h=$(hostname)
	[[ "$h" =~ ^[A-Za-z0-9_.-]{1,63}$ ]] || { echo "hostname '$h' cannot be a slice key"; exit 249; }
	cat >"$TMPD/byname.yaml" <<-YAML
	pools:
	  - name: web
	    address: $POOL4
	    slices:
	      $h: 21000-21999
	      host-z: 20000-20999
	YAML
	cli -j attach --cgroup "$CG" --config "$TMPD/byname.yaml"
	expect_ok
	expect_eq "$(printf '%s' "$OUT" | jq -c '[.host, .pools[0].first_port]')" "[\"$h\",21000]" "attach without --host"
	expect_attached "$CG"
}

t_detach_one_of_two_keeps_the_other() {
	setup
	new_cg second
	local cgb=$NEW_CG ida idb linksb
	ida=$(cg_id "$CG")
	idb=$(cg_id "$cgb")
	attach
	cli attach --cgroup "$cgb" --config "$CONF" --host host-a
	expect_ok
	expect_attached "$CG"
	expect_attached "$cgb"
	linksb=$(link_ids "$idb")
	expect_eq "$("$PS" status --json | jq '.attachments | length')" 2 "attachments"

	cli detach --cgroup "$CG"
	expect_ok
	expect_eq "$OUT" "detached $CG" "detach output"
	expect_bare "$CG" "$ida"
	expect_attached "$cgb"
	expect_eq "$(link_ids "$idb")" "$linksb" "links of the other cgroup"
	expect_eq "$("$PS" status --json | jq -c '[.attachments[].cgroup]')" "[\"$cgb\"]" "attachments"

	cli -j detach --cgroup "$cgb"
	expect_ok
	printf '%s' "$OUT" | jq -e --arg cg "$cgb" \
		'.detached == $cg and .was_attached == true and .state_removed == true' >/dev/null ||
		die "unexpected detach --json: $OUT"
	expect_bare "$cgb" "$idb"
	expect_pristine "$CG" "$cgb"
	cli status --json
	expect_ok
	expect_eq "$(printf '%s' "$OUT" | jq -r .attached)" false "status after the last detach"
}

t_detach_all_removes_everything() {
	setup
	new_cg second
	local cgb=$NEW_CG
	attach
	cli attach --cgroup "$cgb" --config "$CONF" --host host-a
	expect_ok
	cli detach --all
	expect_ok
	expect_eq "$OUT" "detached all cgroups; no cgroup is attached any more, all pins removed" "detach --all"
	expect_pristine "$CG" "$cgb"

	cli detach --all
	expect_ok
	expect_contains "$OUT" "nothing to do" "detach --all with nothing attached"
	cli -j detach --all
	expect_ok
	expect_eq "$(printf '%s' "$OUT" | jq -c '[.was_attached, .state_removed]')" '[false,false]' "detach --all --json"
	expect_pristine "$CG" "$cgb"
}

t_detach_not_attached_says_so() {
	setup
	cli detach --cgroup "$CG"
	expect_ok
	expect_eq "$OUT" "$CG was not attached: nothing to do" "detach with nothing attached"
	expect_pristine "$CG"

	new_cg other
	local other=$NEW_CG before
	cli attach --cgroup "$other" --config "$CONF" --host host-a
	expect_ok
	before=$(snapshot "$other")
	cli detach --cgroup "$CG"
	expect_ok
	expect_eq "$OUT" "$CG was not attached: nothing to do" "detach of a cgroup not attached"
	cli -j detach --cgroup "$CG"
	expect_ok
	expect_eq "$(printf '%s' "$OUT" | jq -c '[.detached, .was_attached, .state_removed]')" \
		"[\"$CG\",false,false]" "detach --json of a cgroup not attached"
	expect_eq "$(snapshot "$other")" "$before" "the attached cgroup after detaching another"
	expect_bare "$CG"

	# Neither the root cgroup nor a directory that is no cgroup can be attached.
	cli detach --cgroup "$CG2"
	expect_error 2 "root cgroup $CG2"
	cli detach --cgroup "$TMPD"
	expect_error 2 "$TMPD is not a cgroup v2 directory"
	expect_eq "$(snapshot "$other")" "$before" "the attached cgroup after refused detaches"

	# A path that is neither a cgroup nor a recorded attachment is an error.
	cli detach --cgroup "$CG2/$TAG-never"
	expect_error any "$CG2/$TAG-never does not exist and no attached cgroup had that path"
	expect_eq "$(snapshot "$other")" "$before" "the attached cgroup after a failed detach"
}

t_detach_needs_exactly_one_of_cgroup_or_all() {
	setup
	attach
	local before
	before=$(snapshot "$CG")
	cli detach
	expect_error 2 "detach needs exactly one of --cgroup DIR or --all"
	cli detach --cgroup "$CG" --all
	expect_error 2 "detach needs exactly one of --cgroup DIR or --all"
	cli detach -a -c "$CG"
	expect_error 2 "detach needs exactly one of --cgroup DIR or --all"
	expect_eq "$(snapshot "$CG")" "$before" "state after the usage errors"
}

t_nested_cgroups_are_refused() {
	setup
	local child=$CG/child before
	mkdir "$child" || die "mkdir $child"

	attach
	before=$(snapshot "$CG")
	cli attach --cgroup "$child" --config "$CONF" --host host-a
	expect_error any "$child is inside the attached cgroup $CG:" "detach that one first"
	expect_bare "$child"
	expect_eq "$(snapshot "$CG")" "$before" "the parent after the refused child"

	cli detach --cgroup "$CG"
	expect_ok
	cli attach --cgroup "$child" --config "$CONF" --host host-a
	expect_ok
	expect_attached "$child"
	before=$(snapshot "$child")
	cli attach --cgroup "$CG" --config "$CONF" --host host-a
	expect_error any "$CG holds the attached cgroup $child:" "detach that one first"
	expect_bare "$CG"
	expect_eq "$(snapshot "$child")" "$before" "the child after the refused parent"

	cli detach --cgroup "$child"
	expect_ok
	expect_pristine "$CG" "$child"
	rmdir "$child" || die "rmdir $child"
}

t_removed_cgroup_shows_and_detaches() {
	setup
	new_cg doomed
	local gone=$NEW_CG id
	id=$(cg_id "$gone")
	attach
	cli attach --cgroup "$gone" --config "$CONF" --host host-a
	expect_ok
	expect_attached "$gone"
	rmdir "$gone" || die "rmdir $gone"

	expect_eq "$(att '[.cgroup_id, .cgroup_exists, .links_pinned]' "$gone")" "[$id,false,true]" "status of the removed cgroup"
	expect_eq "$(att .cgroup_exists)" true "status of the remaining cgroup"
	cli status
	expect_ok
	expect_contains "$OUT" "$gone (removed: not attached; 'portslice detach --cgroup' drops its pins)  pools: web web6"
	# A removed cgroup places no socket: it is not counted as attached.
	expect_contains "$OUT" "Attached cgroups: 1 (and 1 removed, 0 draining)"
	expect_eq "$("$PS" status --json | jq -c '[.attached, .attached_cgroups, .removed_cgroups, .draining_cgroups]')" \
		'[true,1,1,0]' "counts of status --json"
	expect_eq "$("$PS" stats --prometheus | grep -E '^portslice_(attached|unattached_pinned)_cgroups' | paste -sd' ' -)" \
		'portslice_attached_cgroups 1 portslice_unattached_pinned_cgroups{state="removed"} 1 portslice_unattached_pinned_cgroups{state="draining"} 0' \
		"cgroup gauges"

	cli detach --cgroup "$gone"
	expect_ok
	expect_eq "$OUT" "detached $gone" "detach of the removed cgroup"
	[ ! -e "$PORTSLICE_PIN_DIR/cgroups/$id" ] || die "pins of the removed cgroup remain"
	expect_eq "$(link_ids "$id")" "" "links of the removed cgroup"
	expect_eq "$("$PS" status --json | jq -c '[.attachments[].cgroup]')" "[\"$CG\"]" "attachments"
	expect_attached "$CG"

	cli detach --cgroup "$gone"
	expect_error any "$gone does not exist and no attached cgroup had that path"
	expect_attached "$CG"
}

t_concurrent_attaches_all_succeed() {
	setup
	local i cgs=() pids=() rc
	for i in 1 2 3 4; do
		new_cg "c$i"
		cgs+=("$NEW_CG")
	done
	for i in 0 1 2 3; do
		"$PS" attach --cgroup "${cgs[$i]}" --config "$CONF" --host host-a \
			>"$TMPD/c$i.out" 2>"$TMPD/c$i.err" &
		pids+=($!)
	done
	for i in 0 1 2 3; do
		wait "${pids[$i]}"
		rc=$?
		[ $rc -eq 0 ] || die "attach of ${cgs[$i]} exited $rc: $(cat "$TMPD/c$i.err")"
		expect_contains "$(cat "$TMPD/c$i.out")" "attached ${cgs[$i]} (host host-a):"
	done
	expect_eq "$("$PS" status --json | jq -c '[.attachments[].cgroup] | sort')" \
		"$(printf '%s\n' "${cgs[@]}" | jq -Rsc 'split("\n")[:-1] | sort')" "attachments"
	expect_eq "$("$PS" status --json | jq -c '[.pools[].name] | sort')" '["web","web6"]' "pools"
	for i in 0 1 2 3; do expect_attached "${cgs[$i]}"; done

	# And the same the other way round: concurrent detaches leave nothing.
	pids=()
	for i in 0 1 2 3; do
		"$PS" detach --cgroup "${cgs[$i]}" >"$TMPD/d$i.out" 2>"$TMPD/d$i.err" &
		pids+=($!)
	done
	for i in 0 1 2 3; do
		wait "${pids[$i]}"
		rc=$?
		[ $rc -eq 0 ] || die "detach of ${cgs[$i]} exited $rc: $(cat "$TMPD/d$i.err")"
	done
	expect_pristine "${cgs[@]}"
}

t_layout_version_mismatch_is_refused() {
	setup
	attach
	local v before
	v=$("$PS" status --json | jq -r .layout_version)
	expect_ge "$v" 1 "layout version"
	before=$(snapshot "$CG" | grep -v '^status:')
	bpftool map update pinned "$PORTSLICE_PIN_DIR/maps/ps_meta" key 0 0 0 0 value 99 0 0 0 0 0 0 0 ||
		die "bpftool map update failed"

	cli attach --cgroup "$CG" --config "$CONF" --host host-a
	expect_error any "layout version 99" "reads version $v" "portslice detach --all"
	cli attach --cgroup "$CG" --config "$CONF" --host host-a --pool web
	expect_error any "layout version 99" "reads version $v" "portslice detach --all"
	cli status
	expect_error any "layout version 99" "reads version $v" "portslice detach --all"
	cli -j status
	expect_json_error any "layout version 99" "portslice detach --all"
	cli detach --cgroup "$CG"
	expect_error any "layout version 99" "portslice detach --all"
	expect_eq "$(snapshot "$CG" | grep -v '^status:')" "$before" "state after the refused commands"
	expect_attached "$CG"

	cli detach --all
	expect_ok
	expect_contains "$OUT" "all pins removed"
	expect_pristine "$CG"
	attach
	expect_attached "$CG"
}

t_status_when_nothing_is_attached() {
	ensure_bpffs
	cli status
	expect_ok
	expect_eq "$OUT" "portslice is not attached to any cgroup on this host (no pins under $PORTSLICE_PIN_DIR)" "status"
	cli status --json
	expect_ok
	printf '%s' "$OUT" | jq -e --arg pin "$PORTSLICE_PIN_DIR" '
		.attached == false and .attachments == [] and .pools == [] and .pin_dir == $pin and
		(.layout_version | type) == "number"' >/dev/null || die "unexpected status --json: $OUT"
	cli -j status
	expect_ok
	expect_eq "$(printf '%s' "$OUT" | jq -r .attached)" false "-j status"
	[ ! -e "$PORTSLICE_PIN_DIR" ] || die "status created $PORTSLICE_PIN_DIR"
}

# cli_in_ns ARGS...: portslice in the test namespace's network stack only (the
# mounts, bpffs and cgroup2 included, stay the host's).
cli_in_ns() { run nsenter --net="/run/netns/$NS" "$PS" "$@"; }
set_local_range() {
	nsenter --net="/run/netns/$NS" sh -c "echo '$1 $2' > /proc/sys/net/ipv4/ip_local_port_range" ||
		die "cannot set ip_local_port_range in $NS"
}

t_slice_in_local_port_range_warns() {
	setup 33000-33999 20000-20999
	set_local_range 32768 60999
	cli_in_ns attach --cgroup "$CG" --config "$CONF" --host host-a
	expect_eq "$RC" 0 "exit code (stderr: $ERR)"
	expect_contains "$OUT" "attached $CG"
	expect_eq "$(printf '%s\n' "$ERR" | grep -c .)" 1 "stderr lines: $ERR"
	expect_contains "$ERR" "portslice: warning: pool web ($POOL4): ports 33000-33999 of the slice 33000-33999 of host host-a are inside the local port range 32768-60999"
	expect_lacks "$ERR" "web6"
	expect_attached "$CG"

	# With -j the warning is JSON too: a log line on stderr, and in the result.
	cli_in_ns -j attach --cgroup "$CG" --config "$CONF" --host host-a
	expect_eq "$RC" 0 "exit code of -j attach (stderr: $ERR)"
	expect_eq "$(printf '%s\n' "$ERR" | jq -c '[.level, (.message | test("pool web .* inside the local port range"))]')" \
		'["warning",true]' "stderr of -j attach: $ERR"
	expect_eq "$(printf '%s' "$OUT" | jq -c '[.result, (.warnings | length), (.warnings[0] | test("^pool web "))]')" \
		'["already attached, pools refreshed:",1,true]' "warnings in the -j result: $OUT"

	# The range read is the namespace's own, not a constant.
	set_local_range 20500 20600
	cli_in_ns attach --cgroup "$CG" --config "$CONF" --host host-a
	expect_eq "$RC" 0 "exit code (stderr: $ERR)"
	expect_eq "$(printf '%s\n' "$ERR" | grep -c .)" 1 "stderr lines: $ERR"
	expect_contains "$ERR" "portslice: warning: pool web6 ($POOL6): ports 20500-20600 of the slice 20000-20999 of host host-a are inside the local port range 20500-20600"

	# Slices clear of the range: no warning.
	set_local_range 50000 60999
	cli_in_ns attach --cgroup "$CG" --config "$CONF" --host host-a
	expect_ok
	expect_attached "$CG"
}

# A pool address this network namespace lacks: a warning per pool, or with
# --strict a refusal that changes nothing.
t_attach_warns_of_a_pool_address_not_configured_here() {
	setup
	run "$PS" attach --cgroup "$CG" --config "$CONF" --host host-a
	expect_eq "$RC" 0 "exit code (stderr: $ERR)"
	expect_eq "$(printf '%s\n' "$ERR" | grep -c "^portslice: warning: pool '\(web\|web6\)': .* is not configured on any interface of this network namespace")" 2 \
		"warnings: $ERR"
	expect_contains "$ERR" "ip addr add $POOL4/32 dev lo"
	expect_attached "$CG"
	cli detach --all
	expect_ok

	run "$PS" attach --cgroup "$CG" --config "$CONF" --host host-a --strict
	expect_error 1 "--strict: $CONF:2: pools[0].address: pool 'web': $POOL4 is not configured on any interface of this network namespace" \
		"nsenter --net=/run/netns/NAME"
	expect_pristine "$CG"
	run "$PS" -j attach --cgroup "$CG" --config "$CONF" --host host-a --strict
	expect_json_error 1 "--strict: $CONF:2: pools[0].address: pool 'web'"
	expect_eq "$(printf '%s' "$OUT" | jq -c '[.file, .line, .field]')" "[\"$CONF\",2,\"pools[0].address\"]" "keys of the error"
	expect_pristine "$CG"

	# Where the addresses are, --strict attaches without a word.
	cli attach --cgroup "$CG" --config "$CONF" --host host-a --strict
	expect_ok
	expect_attached "$CG"
}

# systemd re-creates a service's cgroup at the same path on every restart:
# the old attachment must still be found and removed by that path.
t_recreated_cgroup_detaches_the_old_attachment() {
	setup
	attach
	new_cg again
	local c=$NEW_CG old
	old=$(cg_id "$c")
	cli attach --cgroup "$c" --config "$CONF" --host host-a
	expect_ok
	rmdir "$c" && mkdir "$c" || die "re-create $c"
	expect_eq "$(att '[.cgroup_id, .cgroup_exists]' "$c")" "[$old,false]" "old attachment"
	cli detach --cgroup "$c"
	expect_ok
	expect_eq "$OUT" "detached $c" "detach"
	[ ! -e "$PORTSLICE_PIN_DIR/cgroups/$old" ] || die "old pins remain"
	expect_eq "$(link_ids "$old")" "" "old links"
	expect_bare "$c"
	expect_attached "$CG"
}

# ---- kernel features ---------------------------------------------------------
# An old kernel is rehearsed with PORTSLICE_PROBE_HIDE: the probe reports the
# named rows missing, and attach must say what is missing and what still
# works before it loads anything. The VM matrix (tests/vm) runs the real probes.

t_attach_on_a_kernel_without_bpf_loop_changes_nothing() {
	setup
	PORTSLICE_PROBE_HIDE=bpf_loop,bpf_set_retval cli attach --cgroup "$CG" --config "$CONF" --host host-a
	expect_error any "attach: this kernel (Linux $(uname -r)) lacks what socket placement (attach) needs"
	expect_contains "$ERR" "missing bpf_loop: the complete slice search (Linux 5.17 and later)"
	expect_contains "$ERR" "missing bpf_set_retval: EADDRNOTAVAIL instead of EPERM (Linux 5.18 and later)"
	expect_contains "$ERR" "reply steering (steer attach) still works on this kernel."
	expect_contains "$ERR" "Nothing was changed"
	expect_nomatch "$ERR" "missing (xdp|bpf_fib_lookup|connect_hooks)" "rows the kernel has"
	expect_nomatch "$ERR" "libbpf|verifier|R[0-9]" "error output"
	expect_pristine "$CG"
}

t_attach_without_steering_features_still_attaches() {
	setup
	PORTSLICE_PROBE_HIDE=xdp_links cli attach --cgroup "$CG" --config "$CONF" --host host-a
	expect_ok
	expect_attached "$CG"
}

t_doctor_probes_every_kernel_table_row() {
	local out rows
	out=$("$PS" doctor --json) || true
	rows=$(printf '%s' "$out" | jq -r '[.checks[] | select(.name | startswith("feature.")) | .name] | join(" ")')
	# Every row of the README's kernel table is probed, and every row is
	# there on the kernels portslice supports (the test kernel is one).
	local r
	for r in $(sed -n 's/^| `\([a-z_0-9]*\)` |.*|.*|.*|$/\1/p' "$ROOT/README.md"); do
		expect_contains " $rows " " feature.$r " "doctor's feature checks"
	done
	expect_eq "$(printf '%s' "$out" | jq '[.checks[] | select(.name | startswith("feature.")) | select(.result != "ok")] | length')" 0 \
		"feature rows not available: $out"
	out=$(PORTSLICE_PROBE_HIDE=sock_release "$PS" doctor --json) || true
	expect_eq "$(printf '%s' "$out" | jq -r '.checks[] | select(.name == "feature.sock_release") | .result')" fail \
		"a hidden row"
}
