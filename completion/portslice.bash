# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# bash completion for portslice. Commands and options are read from
# `portslice help` and `portslice help COMMAND`, which print the very tables
# that parse them, so completion never drifts from the binary.
#
#   install -m 0644 completion/portslice.bash /usr/share/bash-completion/completions/portslice

_portslice_commands()
{
	"$1" help 2>/dev/null | awk '/^Commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 } on && /^$/ { exit }' | grep -vx help
}

_portslice_options()
{
	# --long options of a command, or of a subcommand (portslice steer attach --help).
	local bin=$1
	shift
	if [ $# -gt 1 ]; then "$bin" "$@" --help; else "$bin" help "$1"; fi 2>/dev/null | awk '/^Options:/ { on = 1; next } on' | grep -oE -- '--[a-z][a-z-]*' | sort -u
}

_portslice()
{
	local cur prev words cword bin cmd i
	if declare -F _init_completion >/dev/null; then
		_init_completion || return
	else
		cur=${COMP_WORDS[COMP_CWORD]}
		prev=${COMP_WORDS[COMP_CWORD - 1]}
		words=("${COMP_WORDS[@]}")
		cword=$COMP_CWORD
	fi
	bin=${words[0]}
	command -v "$bin" >/dev/null 2>&1 || bin=portslice

	# The command: the first word after the global options.
	for ((i = 1; i < cword; i++)); do
		case ${words[i]} in
		--bpffs|--cgroup-root) ((i++)) ;;
		-*) ;;
		*) cmd=${words[i]}; break ;;
		esac
	done
	case $prev in
	--bpffs|--cgroup-root)
		COMPREPLY=($(compgen -d -- "$cur"))
		compopt -o filenames 2>/dev/null
		return ;;
	esac
	if [ -z "$cmd" ]; then
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W '-v --verbose -j --json -p --pretty -V --version -h --help --bpffs --cgroup-root' -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$(_portslice_commands "$bin") help" -- "$cur"))
		fi
		return
	fi

	case $prev in
	--config|-f|--output|-o)
		COMPREPLY=($(compgen -f -- "$cur"))
		[ ${#COMPREPLY[@]} -gt 0 ] && compopt -o filenames 2>/dev/null
		return ;;
	--cgroup|-c)
		local mnt
		mnt=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
		COMPREPLY=($(compgen -d -- "${cur:-$mnt/}"))
		compopt -o filenames 2>/dev/null
		return ;;
	--dev)
		COMPREPLY=($(compgen -W "$(ls /sys/class/net 2>/dev/null)" -- "$cur"))
		return ;;
	--netns|-n)
		COMPREPLY=($(compgen -W "$(ls /run/netns 2>/dev/null)" -- "$cur"))
		return ;;
	--host|-H)
		COMPREPLY=($(compgen -W "$(hostname 2>/dev/null)" -- "$cur"))
		return ;;
	--pool|-P|--metrics|-m|--interval|-i)
		return ;;
	esac

	case $cmd in
	validate)
		# FILE: the config to check.
		if [[ $cur != -* ]]; then
			COMPREPLY=($(compgen -f -- "$cur"))
			[ ${#COMPREPLY[@]} -gt 0 ] && compopt -o filenames 2>/dev/null
			return
		fi ;;
	help)
		COMPREPLY=($(compgen -W "$(_portslice_commands "$bin")" -- "$cur"))
		return ;;
	steer)
		if [ "$cword" -eq $((i + 1)) ]; then
			COMPREPLY=($(compgen -W 'attach detach' -- "$cur"))
			return
		fi
		case ${words[i + 1]} in
		attach|detach)
			COMPREPLY=($(compgen -W "$(_portslice_options "$bin" steer "${words[i + 1]}")" -- "$cur"))
			return ;;
		esac ;;
	esac
	if [[ $cur == -* || -z $cur ]]; then
		COMPREPLY=($(compgen -W "$(_portslice_options "$bin" "$cmd")" -- "$cur"))
	fi
}

complete -F _portslice portslice
