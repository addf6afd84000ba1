# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Man pages and bash completion agree with the binary: every command has a
# page naming each of its options, the pages render without warnings, and
# completion offers what `portslice help` lists.
# Sourced by tests/run.sh after tests/lib.sh; each t_* runs in a subshell.

# lib.sh's cleanup removes the files of $TMPD, not directories: these
# tests' own directories go first.
if declare -F cleanup >/dev/null; then # (run.sh also sources this file alone, to list the tests)
	eval "_lib_cleanup() $(declare -f cleanup | tail -n +2)"
	cleanup() {
		[ -n "${TMPD:-}" ] && rm -rf -- "$TMPD/root"
		_lib_cleanup
	}
fi

# Commands with a page of their own (steer's subcommands: below).
DOC_COMMANDS="attach detach status stats doctor agent validate leases"

# options CMD: the --long options of CMD's table (not the ones every command
# takes: --json, --help, and --bpffs, --cgroup-root, documented in portslice(8)).
options() {
	"$PS" help "$1" | awk '/^Options:/ { on = 1; next } on' | grep -oE -- '--[a-z][a-z-]*' |
		grep -vx -- '--json\|--help\|--bpffs\|--cgroup-root' | sort -u
}

t_man_pages_cover_every_command_and_option() {
	local cmd page opt
	[ -f "$ROOT/man/portslice.8" ] || die "no man/portslice.8"
	for cmd in $DOC_COMMANDS; do
		page=$ROOT/man/portslice-$cmd.8
		[ -f "$page" ] || die "no man page for $cmd ($page)"
		grep -q "portslice\\\\-$cmd (8)" "$ROOT/man/portslice.8" || die "portslice(8) does not refer to portslice-$cmd(8)"
		for opt in $(options "$cmd"); do
			# troff writes "-" as "\-".
			grep -qF -- "$(printf '%s' "$opt" | sed 's/-/\\-/g')" "$page" || die "$page lacks $opt"
		done
	done
	# steer: one page for both subcommands.
	for cmd in attach detach; do
		for opt in $("$PS" steer $cmd --help | awk '/^Options:/ { on = 1; next } on' | grep -oE -- '--[a-z][a-z-]*' |
			grep -vx -- '--json\|--help'); do
			grep -qF -- "$(printf '%s' "$opt" | sed 's/-/\\-/g')" "$ROOT/man/portslice-steer.8" ||
				die "portslice-steer(8) lacks steer $cmd $opt"
		done
	done
	grep -q 'portslice\\-steer (8)' "$ROOT/man/portslice.8" || die "portslice(8) does not refer to portslice-steer(8)"
	grep -q 'portslice.yaml (5)' "$ROOT/man/portslice.8" || die "portslice(8) does not refer to portslice.yaml(5)"
	for cmd in $("$PS" help | awk '/^Commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 } on && /^$/ { exit }' | grep -vx help); do
		grep -q "^\\.B $cmd\$" "$ROOT/man/portslice.8" || die "portslice(8) does not list the command $cmd"
	done
}

t_man_pages_render_without_warnings() {
	command -v groff >/dev/null || { echo "groff is not installed"; exit 249; }
	local page out
	for page in "$ROOT"/man/*.[58]; do
		out=$(groff -man -Tutf8 -ww -z "$page" 2>&1)
		expect_eq "$out" "" "groff warnings for $page"
	done
}

t_bash_completion_follows_the_binary() {
	local out
	complete_words() {
		bash -c 'source "$1"; PATH=$(dirname "$2"):$PATH; shift 2
			COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=()
			_portslice; printf "%s\n" "${COMPREPLY[@]}" | sort | paste -sd" " -' _ "$ROOT/completion/portslice.bash" "$PS" "$@"
	}
	out=$(complete_words portslice "")
	expect_eq "$out" "$(printf '%s\n' agent attach detach doctor help leases stats status steer validate | sort | paste -sd' ' -)" "commands"
	out=$(complete_words portslice agent --)
	expect_eq "$out" "$( (options agent; echo --json; echo --help; echo --bpffs; echo --cgroup-root) | sort | paste -sd' ' -)" \
		"agent options"
	out=$(complete_words portslice validate --)
	expect_eq "$out" "--help --host --json" "validate options"
	out=$(complete_words portslice -)
	expect_contains "$out" "--bpffs" "global options"
	expect_contains "$out" "--cgroup-root" "global options"
	# validate's FILE, --netns's namespaces: from the file system.
	mkdir -p "$TMPD/root"
	: > "$TMPD/root/fleet.yaml"
	out=$(complete_words portslice validate "$TMPD/root/fl")
	expect_eq "$out" "$TMPD/root/fleet.yaml" "validate FILE"
	out=$(complete_words portslice doctor --c)
	expect_eq "$out" "--cgroup --cgroup-root --config" "doctor options starting with --c"
	out=$(complete_words portslice -j sta)
	expect_eq "$out" "stats status" "commands after a global option"
}
