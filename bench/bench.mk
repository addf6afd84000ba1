# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# make bench               the benchmarks (bench/run.sh), 10 to 15 minutes on 2 shared cores
# make bench BENCH_QUICK=1 a few minutes: fewer rounds, smaller runs
#
# Results: $(OUTPUT)/bench-results/ (CSV, PNG, table). Never part of `make test`.

BENCH_OUT   := $(OUTPUT)/bench
BENCH_BIN   := $(BENCH_OUT)/psbench
BENCH_XDP   := $(BENCH_OUT)/xdp_bench.bpf.o
BENCH_SKEL  := $(BENCH_OUT)/xdp_bench.skel.h

.PHONY: bench bench-deps bench-build

bench-deps:
	$(Q)command -v gnuplot >/dev/null 2>&1 || { \
		echo "  DEPS     installing: gnuplot-nox"; \
		[ "$$(id -u)" = 0 ] || { echo "make bench-deps: run as root to install gnuplot-nox" >&2; exit 1; }; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gnuplot-nox >/dev/null || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gnuplot-nox >/dev/null; }; }

$(BENCH_OUT):
	$(Q)mkdir -p $@

$(BENCH_XDP): bench/xdp_bench.bpf.c $(OUTPUT)/vmlinux.h | $(BENCH_OUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_$(ARCH) \
		-I$(OUTPUT) -Iinclude -Wall -Werror -c $< -o $@.tmp
	$(Q)$(BPFTOOL) gen object $@ $@.tmp && rm -f $@.tmp

$(BENCH_SKEL): $(BENCH_XDP)
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name xdp_bench > $@

$(BENCH_BIN): bench/psbench.c $(BENCH_SKEL) $(OUTPUT)/steer.skel.h $(wildcard include/*.h) | $(BENCH_OUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -std=gnu11 $(WARNFLAGS) -I$(BENCH_OUT) $(INCLUDES) $< $(LDFLAGS) $(LDLIBS) -lm -o $@

bench-build: all $(OUTPUT)/tests/psnet $(BENCH_BIN)

bench: deps bench-deps
	$(Q)$(MAKE) --no-print-directory check-root bench-build
	$(Q)OUTPUT=$(OUTPUT) bench/run.sh
