# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# Fuzzing with libFuzzer (clang) under AddressSanitizer + UndefinedBehavior
# Sanitizer (LeakSanitizer included). Included by the top-level Makefile.
#
# make fuzz            every target for FUZZ_SECONDS (default 60) each
# make fuzz-ci         the same, FUZZ_SECONDS=20: the short run for CI
# make fuzz-replay     run every seed and regression input once (seconds)
# make fuzz-build      build the targets only
# make fuzz-deps       install what libFuzzer needs (libclang-rt-14-dev)
#
# Targets:
#   fuzz_config  fleet configuration parser/validator (ps_config_load_buf)
#   fuzz_steer   XDP steering program through bpf_prog_test_run_opts (root;
#                a private network namespace; maps unpinned)
#
# Corpora: seeds live in fuzz/corpus/<target>/ (in the repo); a run works on
# a copy in $(OUTPUT)/fuzz/corpus-<target>/ so the repo is never rewritten.
# Crash, leak and timeout inputs land in $(OUTPUT)/fuzz/crashes/; copy one
# into fuzz/regress/<target>/ to make it a regression input, replayed by
# make fuzz-replay and by the unit test tests/unit/test_fuzz_replay.c.

FUZZ_SECONDS  ?= 60
FUZZ_CLANG    ?= clang
FUZZ_TARGETS  := fuzz_config fuzz_steer
FUZZ_DIR      := $(OUTPUT)/fuzz
FUZZ_BINS     := $(addprefix $(FUZZ_DIR)/,$(FUZZ_TARGETS))
FUZZ_DEB_PKGS := clang libclang-rt-14-dev
FUZZ_FLAGS    := -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
		 -fno-sanitize-recover=undefined -std=gnu11
# libFuzzer options per target: input size limits and a hang limit.
FUZZ_OPTS_fuzz_config := -max_len=8192 -timeout=10 -rss_limit_mb=2048
FUZZ_OPTS_fuzz_steer  := -max_len=1601 -timeout=10 -rss_limit_mb=2048 -use_value_profile=1
FUZZ_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

.PHONY: fuzz fuzz-ci fuzz-build fuzz-deps fuzz-replay fuzz-run

fuzz-deps:
	$(Q)missing=$$(for p in $(FUZZ_DEB_PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "  DEPS     installing:" $$missing; \
		[ "$$(id -u)" = 0 ] || { echo "make fuzz-deps: run as root to install:" $$missing >&2; exit 1; }; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; }; \
	fi

$(FUZZ_DIR) $(FUZZ_DIR)/lib:
	$(Q)mkdir -p $@

# The checks and the steering world the unit tests use too (tests/lib/, the
# top-level Makefile's TEST_LIB_*), compiled once more with the fuzzing flags.
FUZZ_LIB := $(FUZZ_DIR)/lib/libpstest.a
FUZZ_LIB_OBJS := $(patsubst tests/lib/%.c,$(FUZZ_DIR)/lib/%.o,$(TEST_LIB_SRCS))

$(FUZZ_DIR)/lib/%.o: tests/lib/%.c $(TEST_LIB_HDRS) $(OUTPUT)/steer.skel.h include/steer.h include/portslice.h $(wildcard loader/core/*.h) | $(FUZZ_DIR)/lib
	$(call msg,FUZZ-CC,$@)
	$(Q)$(FUZZ_CLANG) $(FUZZ_FLAGS) -I$(OUTPUT) -Iinclude -Iloader -c $< -o $@

$(FUZZ_LIB): $(FUZZ_LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(FUZZ_DIR)/fuzz_config: fuzz/fuzz_config.c $(FUZZ_LIB) $(CONFIG_SRCS) $(wildcard loader/core/*.h) include/portslice.h | $(FUZZ_DIR)
	$(call msg,FUZZ-CC,$@)
	$(Q)$(FUZZ_CLANG) $(FUZZ_FLAGS) -Iinclude -Iloader -Itests/lib fuzz/fuzz_config.c $(FUZZ_LIB) $(CONFIG_SRCS) -ljson-c -lyaml -o $@

$(FUZZ_DIR)/fuzz_steer: fuzz/fuzz_steer.c $(FUZZ_LIB) $(OUTPUT)/steer.skel.h include/steer.h include/portslice.h | $(FUZZ_DIR)
	$(call msg,FUZZ-CC,$@)
	$(Q)$(FUZZ_CLANG) $(FUZZ_FLAGS) -I$(OUTPUT) -Iinclude -Itests/lib fuzz/fuzz_steer.c $(FUZZ_LIB) -lbpf -lelf -lz -o $@

fuzz-build: deps fuzz-deps
	$(Q)$(MAKE) --no-print-directory $(FUZZ_BINS)

# One target for FUZZ_SECONDS on a working copy of its corpus; a summary line
# (runs, coverage, corpus, crashes) per target; fails on any crash.
fuzz-run: check-root
	$(Q)rc=0; for t in $(FUZZ_TARGETS); do \
		case $$t in fuzz_config) opts="$(FUZZ_OPTS_fuzz_config)";; *) opts="$(FUZZ_OPTS_fuzz_steer)";; esac; \
		work=$(FUZZ_DIR)/corpus-$${t#fuzz_}; crashes=$(FUZZ_DIR)/crashes; \
		mkdir -p $$work $$crashes; cp -n fuzz/corpus/$${t#fuzz_}/* $$work/ 2>/dev/null; \
		log=$(FUZZ_DIR)/$$t.log; \
		echo "  FUZZ     $$t for $(FUZZ_SECONDS)s (log: $$log)"; \
		$(FUZZ_ENV) $(FUZZ_DIR)/$$t $$opts -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
			-artifact_prefix=$$crashes/$$t- $$work > $$log 2>&1; r=$$?; \
		runs=$$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' $$log | tail -n 1); \
		cov=$$(grep -o 'cov: [0-9]*' $$log | tail -n 1 | cut -d' ' -f2); \
		ft=$$(grep -o 'ft: [0-9]*' $$log | tail -n 1 | cut -d' ' -f2); \
		corp=$$(ls $$work | wc -l); \
		echo "  FUZZ     $$t: runs=$${runs:-?} cov=$${cov:-?} ft=$${ft:-?} corpus=$$corp exit=$$r"; \
		if [ $$r -ne 0 ]; then rc=1; grep -E '^(fuzz_|==[0-9]+==ERROR|SUMMARY|.*runtime error)' $$log | head -n 20; \
			ls -1 $$crashes/$$t-* 2>/dev/null | sed 's/^/  crash input: /'; fi; \
	done; exit $$rc

fuzz: fuzz-build
	$(Q)$(MAKE) --no-print-directory fuzz-run

fuzz-ci: fuzz-build
	$(Q)$(MAKE) --no-print-directory fuzz-run FUZZ_SECONDS=$(if $(filter command line,$(origin FUZZ_SECONDS)),$(FUZZ_SECONDS),20)

# Every seed and regression input once: what a crash turned into a test.
fuzz-replay: fuzz-build check-root
	$(Q)for t in $(FUZZ_TARGETS); do \
		dirs=$$(ls -d fuzz/corpus/$${t#fuzz_} fuzz/regress/$${t#fuzz_} 2>/dev/null); \
		echo "  REPLAY   $$t:" $$dirs; \
		$(FUZZ_ENV) $(FUZZ_DIR)/$$t -runs=0 $$dirs > $(FUZZ_DIR)/$$t.replay.log 2>&1 || \
			{ tail -n 30 $(FUZZ_DIR)/$$t.replay.log; exit 1; }; \
	done
