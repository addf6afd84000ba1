# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# portslice validate: a config checked before rollout, without root and
# without touching anything: every error with its file, line and field, as
# text and as JSON keys; with --host what that host would get. Sourced by
# tests/run.sh.

NOBODY="setpriv --reuid=65534 --regid=65534 --clear-groups"

# write_conf NAME: a config file readable by anyone; prints its path.
write_conf() {
	chmod 711 "$TMPD"
	cat > "$TMPD/$1"
	chmod 644 "$TMPD/$1"
	echo "$TMPD/$1"
}

good_conf() {
	write_conf good.yaml <<-'YAML'
	pools:
	  - name: web
	    address: 198.18.0.10
	    slices:
	      host-a: 20000-20999
	      host-b: 21000-21999
	  - name: api
	    address: 2001:db8::10
	    slices:
	      host-b: 22000-22999
	cgroups:
	  - path: /sys/fs/cgroup/app.slice
	    pools: [web]
	YAML
}

t_validate_valid_file() {
	local conf
	conf=$(good_conf)
	run $NOBODY "$PS" validate "$conf"
	expect_eq "$RC" 0 "exit code (stderr: $ERR)"
	expect_eq "$ERR" "" "stderr"
	expect_eq "$OUT" "$conf: valid: 2 pools, 0 hosts listed, 1 cgroup" "output"
	run $NOBODY "$PS" validate --json "$conf" --host host-b
	expect_eq "$RC" 0 "exit code of --json --host (stderr: $ERR)"
	printf '%s' "$OUT" | jq -e --arg f "$conf" '.valid == true and .file == $f and .host == "host-b" and
		.errors == [] and ([.pools[] | "\(.name) \(.first_port)-\(.last_port)"] == ["web 21000-21999", "api 22000-22999"])' \
		>/dev/null || die "unexpected validate --json: $OUT"
	[ ! -e "$PORTSLICE_PIN_DIR" ] || die "validate created $PORTSLICE_PIN_DIR"
}

t_validate_reports_every_error() {
	local conf
	conf=$(write_conf bad.yaml <<-'YAML'
	pools:
	  - name: web
	    address: 198.18.0.300
	    colour: blue
	    slices:
	      host-a: 20000-20999
	  - name: api
	    address: 198.18.0.11
	    slices:
	      host-a: 21999-21000
	hosts:
	  host-a: {address: 198.18.10.1}
	  host-a: {address: 198.18.10.2}
	YAML
	)
	run $NOBODY "$PS" validate "$conf"
	expect_eq "$RC" 1 "exit code (stdout: $OUT)"
	expect_eq "$OUT" "" "stdout of an invalid file"
	expect_eq "$ERR" "$conf:4: pools[0].colour: unknown key; allowed keys in pools[0]: name, address, destinations, slices, p2p, reuse_delay, ports, block_size, min_blocks, max_blocks, grow_at, shrink_after
$conf:3: pools[0].address: \"198.18.0.300\" is not an IPv4 or IPv6 address
$conf:10: pools[1].slices.host-a: \"21999-21000\" is reversed (LO > HI); write 21000-21999
$conf:13: hosts.host-a: host \"host-a\" is listed twice (first at line 12); keep one
portslice: error: $conf: 4 errors" "stderr"

	run $NOBODY "$PS" -j validate "$conf"
	expect_eq "$RC" 1 "exit code of -j"
	expect_eq "$ERR" "" "stderr of -j"
	expect_eq "$(printf '%s' "$OUT" | jq -c '[.valid, .line, .field, (.error | startswith($f + ":4: pools[0].colour: unknown key"))]' --arg f "$conf")" \
		'[false,4,"pools[0].colour",true]' "first error of -j"
	expect_eq "$(printf '%s' "$OUT" | jq -c --arg f "$conf" '[.errors[] | [(.file == $f), .line, .field]]')" \
		'[[true,4,"pools[0].colour"],[true,3,"pools[0].address"],[true,10,"pools[1].slices.host-a"],[true,13,"hosts.host-a"]]' \
		"errors of -j"
	expect_eq "$(printf '%s' "$OUT" | jq -r '.errors[2].message')" '"21999-21000" is reversed (LO > HI); write 21000-21999' \
		"message of an error"

	# doctor lists them too, a failed check each.
	run "$PS" doctor --config "$conf" --host host-a
	expect_eq "$RC" 1 "exit code of doctor"
	expect_eq "$(printf '%s\n' "$OUT" | grep -c '^fail config: ')" 4 "failed config checks: $OUT"
	expect_contains "$OUT" "fail config: $conf:13: hosts.host-a: host \"host-a\" is listed twice"
}

t_validate_host_checks() {
	local conf
	conf=$(good_conf)
	# host-a has a slice in web only; the cgroup wants web: fine.
	run $NOBODY "$PS" validate "$conf" --host host-a
	expect_eq "$RC" 0 "exit code for host-a (stderr: $ERR)"
	expect_contains "$OUT" "host host-a: pool web              198.18.0.10 ports 20000-20999"
	# host-c has no slice at all.
	run $NOBODY "$PS" validate "$conf" --host host-c
	expect_eq "$RC" 1 "exit code for host-c"
	expect_match "$ERR" "^$conf: no pool has a slice for host 'host-c'" "host-c"
	# A cgroup naming a pool without a slice for the host: its line and field.
	sed -i 's/pools: \[web\]/pools: [api]/' "$conf"
	run $NOBODY "$PS" -j validate "$conf" --host host-a
	expect_eq "$RC" 1 "exit code for a cgroup's pool without a slice"
	expect_eq "$(printf '%s' "$OUT" | jq -c '[.errors[] | [.line, .field]]')" '[[12,"cgroups[0]"]]' "errors"
	expect_match "$(printf '%s' "$OUT" | jq -r '.errors[0].message')" "^pool 'api' has no slice for host 'host-a'" "message"
	# steering: needs the host under hosts:.
	cat >> "$conf" <<-'YAML'
	hosts:
	  host-b: {address: 198.18.10.2}
	steering:
	  mode: l2
	YAML
	sed -i 's/host-a: 20000-20999/host-b2: 20000-20999/; s/pools: \[api\]/pools: [web]/' "$conf"
	sed -i 's/  host-b: {address: 198.18.10.2}/  host-b: {address: 198.18.10.2}\n  host-b2: {address: 198.18.10.3}/' "$conf"
	run $NOBODY "$PS" -j validate "$conf"
	expect_eq "$RC" 0 "exit code without --host (stdout: $OUT)"
	run $NOBODY "$PS" -j validate "$conf" --host host-x
	expect_eq "$RC" 1 "exit code for a host not under hosts:"
	expect_contains "$(printf '%s' "$OUT" | jq -r '.errors[] | select(.field == "hosts") | .message')" \
		"host 'host-x' is not listed, and steering: (line"
}

# A dynamic pool (slices: dynamic) beside a static one, with the etcd: its
# hosts lease blocks from: what --host and --json show, and each check of
# a dynamic pool and of etcd: with its line and field.
dynamic_conf() {
	write_conf dynamic.yaml <<-'YAML'
	etcd:
	  endpoints: [https://10.0.0.1:2379, https://10.0.0.2:2379]
	  ca: /etc/portslice/etcd/ca.pem
	  lease_ttl: 10s
	  fence_margin: 2.5s
	pools:
	  - name: web
	    address: 198.18.0.10
	    slices: dynamic
	    ports: 1024-65535
	    block_size: 256
	    min_blocks: 1
	    max_blocks: 32
	    reuse_delay: 1s
	  - name: legacy
	    address: 198.18.0.11
	    slices: {host-a: 20000-29999, host-b: 30000-39999}
	YAML
}

t_validate_dynamic_pool() {
	local conf
	conf=$(dynamic_conf)
	run $NOBODY "$PS" validate "$conf" --host host-a
	expect_eq "$RC" 0 "exit code (stderr: $ERR)"
	expect_eq "$OUT" "$conf: valid: 2 pools (1 dynamic), 0 hosts listed, 0 cgroups, etcd
  host host-a: pool web              198.18.0.10 ports 1024-65535 dynamic: blocks of 256, 1 to 32 leased from etcd
  host host-a: pool legacy           198.18.0.11 ports 20000-29999" "output"
	# Any host may lease: a host with no static slice gets the dynamic pool.
	run $NOBODY "$PS" -j validate "$conf" --host host-z
	expect_eq "$RC" 0 "exit code for a host without a static slice"
	expect_eq "$(printf '%s' "$OUT" | jq -c '[.dynamic_pools, .pools]')" \
		'[1,[{"name":"web","address":"198.18.0.10","first_port":1024,"last_port":65535,"dynamic":true,"block_size":256,"min_blocks":1,"max_blocks":32}]]' \
		"--json pools of host-z"
	expect_eq "$(printf '%s' "$OUT" | jq -c '.etcd')" \
		'{"endpoints":["https://10.0.0.1:2379","https://10.0.0.2:2379"],"ca":"/etc/portslice/etcd/ca.pem","cert":null,"key":null,"prefix":"/portslice","lease_ttl_ms":10000,"keepalive_ms":3333,"fence_margin_ms":2500,"quarantine_ms":66000,"timeout_ms":2000}' \
		"--json etcd, defaults filled in"

	# Every check, each error with its line and field.
	conf=$(write_conf dynbad.yaml <<-'YAML'
	etcd:
	  endpoints: [10.0.0.1:2379]
	  lease_ttl: 10s
	  fence_margin: 10s
	pools:
	  - name: web
	    address: 198.18.0.10
	    slices: dynamic
	    ports: 1024-2047
	    block_size: 256
	    min_blocks: 3
	    max_blocks: 5
	  - name: web2
	    address: 198.18.0.12
	    slices: {host-a: dynamic}
	    ports: 1-100
	YAML
	)
	run $NOBODY "$PS" validate "$conf"
	expect_eq "$RC" 1 "exit code (stdout: $OUT)"
	expect_eq "$ERR" "$conf:12: pools[0].max_blocks: 5 blocks are more than the pool's ports 1024-2047 hold in blocks of 256 (4)
$conf:15: pools[1].slices.host-a: a pool is dynamic as a whole, with no per-host slices: write \"slices: dynamic\" with the pool's ports, block_size, min_blocks and max_blocks
$conf:2: etcd.endpoints[0]: \"10.0.0.1:2379\" is not an http:// or https:// URL; write http://HOST:PORT or https://HOST:PORT, e.g. https://10.0.0.1:2379
portslice: error: $conf: 3 errors" "stderr"
	sed -i 's/\[10.0.0.1:2379\]/[http:\/\/10.0.0.1:2379]/; s/max_blocks: 5/max_blocks: 4/; s/host-a: dynamic/host-a: 1-100/; /    ports: 1-100/d' "$conf"
	run $NOBODY "$PS" -j validate "$conf"
	expect_eq "$RC" 1 "exit code of the second round"
	expect_eq "$(printf '%s' "$OUT" | jq -c '[.errors[] | [.line, .field]]')" '[[4,"etcd.fence_margin"]]' "errors of the second round"
	# etcd: is required once a pool is dynamic.
	sed -i '1,4d' "$conf"
	run $NOBODY "$PS" -j validate "$conf"
	expect_eq "$(printf '%s' "$OUT" | jq -c '[.errors[] | [.line, .field]]')" '[[4,"etcd"]]' "errors without etcd:"
	expect_contains "$(printf '%s' "$OUT" | jq -r '.errors[0].message')" 'pool "web" is dynamic (slices: dynamic)' "message"
}

t_validate_usage() {
	local conf
	conf=$(good_conf)
	run "$PS" validate --help
	expect_eq "$RC" 0 "exit code of --help"
	expect_contains "$OUT" "Usage: portslice validate FILE [--host NAME]"
	expect_contains "$OUT" "--host NAME"
	expect_lacks "$OUT" "--bpffs"
	run "$PS" help validate
	expect_contains "$OUT" "Usage: portslice validate FILE"
	run "$PS" validate
	expect_eq "$RC" 2 "exit code without FILE"
	expect_contains "$ERR" "validate needs FILE"
	run "$PS" validate "$conf" "$conf"
	expect_eq "$RC" 2 "exit code with two files"
	expect_contains "$ERR" "unexpected argument '$conf' for 'validate'"
	run "$PS" validate --frobnicate "$conf"
	expect_eq "$RC" 2 "exit code with an unknown option"
	run "$PS" validate "$conf" --host 'bad name'
	expect_eq "$RC" 2 "exit code with a bad host name"
	run "$PS" -j validate "$TMPD/missing.yaml"
	expect_eq "$RC" 1 "exit code of a missing file"
	expect_eq "$(printf '%s' "$OUT" | jq -c '[.valid, .file, .errors[0].file, (.errors[0].message | startswith("cannot open"))]')" \
		"[false,\"$TMPD/missing.yaml\",\"$TMPD/missing.yaml\",true]" "missing file"
}
