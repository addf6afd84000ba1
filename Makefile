# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# make            build BPF objects, skeletons and build/portslice
# make test       every test (installs missing Debian packages first)
# make demo       the main job on a built-in default, explained as it runs
# make demo-p2p   two peers meet through a rendezvous server and punch through NATs
# make deps       install the Debian packages the build and tests need
# V=1             show full commands
# BPF_EXTRA_CFLAGS=...  more clang flags for the BPF objects (the upgrade
#                 tests build a second, different build with
#                 -DPS_BUILD_VARIANT=1 into another OUTPUT)

OUTPUT     ?= build
CLANG      ?= clang
CC         ?= gcc
BPFTOOL    ?= bpftool
VMLINUX_BTF ?= /sys/kernel/btf/vmlinux
ARCH       := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')

# Debian packages: build (the agent's metrics use libmicrohttpd, its
# readiness notifications libsystemd), tests (jq, ethtool for the steering
# topology, curl, systemd-analyze and python3 for the agent's; nginx with its
# echo module, haproxy, apache2-utils (ab), curl and python3 for the
# compatibility matrix, tests/compat, and wget for the dynamic pools' real
# programs, tests/fleet), man pages (groff), packaging (debhelper,
# lintian: make deb), deploy/'s checks (python3-yaml) and the P2P tests' NAT
# router (nftables, conntrack: tests/p2p).
DEB_PKGS := clang llvm bpftool libbpf-dev libelf-dev zlib1g-dev libyaml-dev \
	    libjson-c-dev libcmocka-dev libmicrohttpd-dev libsystemd-dev \
	    pkg-config iproute2 make gcc jq ethtool tcpdump curl systemd groff-base python3 \
	    nginx libnginx-mod-http-echo haproxy apache2-utils wget \
	    git build-essential dpkg-dev debhelper lintian python3-yaml nftables conntrack \
	    libcurl4-openssl-dev etcd-server etcd-client openssl

CFLAGS     ?= -O2 -g
# The commit the binary is built from (portslice --version, portslice_build_info);
# outside a git checkout (a Debian source package) pass PS_GIT_COMMIT=...
PS_GIT_COMMIT ?= $(shell git -C $(CURDIR) describe --always --dirty --abbrev=12 --exclude='*' 2>/dev/null || echo unknown)
BPF_EXTRA_CFLAGS ?=
WARNFLAGS  := -Wall -Wextra -Werror -Wno-unused-parameter
INCLUDES   := -I$(OUTPUT) -Iinclude -Iloader
LDLIBS     := -lbpf -lelf -lz -lyaml -ljson-c -lmicrohttpd -lsystemd -lpthread -lcurl

ifdef SANITIZE
CFLAGS     += -fsanitize=address,undefined -fno-omit-frame-pointer
LDFLAGS    += -fsanitize=address,undefined
endif

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

BPF_SRCS   := $(wildcard bpf/*.bpf.c)
BPF_OBJS   := $(patsubst bpf/%.bpf.c,$(OUTPUT)/bpf/%.bpf.o,$(BPF_SRCS))
SKELS      := $(patsubst bpf/%.bpf.c,$(OUTPUT)/%.skel.h,$(BPF_SRCS))
BPF_HDRS   := $(wildcard bpf/lib/*.h include/*.h)

# loader/: main.c and the commands that read both sides; core/, sock/,
# steer/, agent/ and fleet/ (etcd leases, docs/fleet.md) below it
# (docs/architecture.md).
LOADER_SRCS := $(wildcard loader/*.c loader/*/*.c)
LOADER_OBJS := $(patsubst loader/%.c,$(OUTPUT)/loader/%.o,$(LOADER_SRCS))
# The config loader alone, as the config fuzzer links it (fuzz/fuzz.mk).
CONFIG_SRCS := loader/core/config.c loader/core/config_yaml.c loader/core/config_pools.c \
               loader/core/config_fleet.c loader/core/config_etcd.c loader/core/addr.c loader/core/error.c
# Every loader module but main.o, for tests that link loader code.
LOADER_LIB  := $(filter-out $(OUTPUT)/loader/main.o,$(LOADER_OBJS))

UNIT_SRCS  := $(wildcard tests/unit/test_*.c)
UNIT_BINS  := $(patsubst tests/unit/%.c,$(OUTPUT)/tests/%,$(UNIT_SRCS))
# Helpers the unit tests share with the fuzz targets (tests/lib/: namespaces
# and veths, the steering program under test, the fuzzers' checks): compiled
# once into an archive, of which each test links what it uses. fuzz/fuzz.mk
# builds its own with the fuzzing flags.
TEST_LIB_SRCS := $(wildcard tests/lib/*.c)
TEST_LIB_OBJS := $(patsubst tests/lib/%.c,$(OUTPUT)/tests/lib/%.o,$(TEST_LIB_SRCS))
TEST_LIB_HDRS := $(wildcard tests/lib/*.h)
TEST_LIB      := $(OUTPUT)/tests/lib/libpstest.a
TOOL_SRCS  := $(wildcard tests/tools/*.c)
TOOL_BINS  := $(patsubst tests/tools/%.c,$(OUTPUT)/tests/%,$(TOOL_SRCS))

.DELETE_ON_ERROR:
# Kept between runs: skeletons are inputs of every loader object.
.SECONDARY: $(BPF_OBJS) $(SKELS)
.PHONY: all clean deps test unit-test sock-test demo demo-steer demo-p2p check-root FORCE

all: $(OUTPUT)/portslice

deps:
	$(Q)missing=$$(for p in $(DEB_PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "  DEPS     installing:" $$missing; \
		[ "$$(id -u)" = 0 ] || { echo "make deps: run as root to install:" $$missing >&2; exit 1; }; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; }; \
	fi

$(OUTPUT) $(OUTPUT)/bpf $(OUTPUT)/tests $(OUTPUT)/tests/lib:
	$(Q)mkdir -p $@

$(OUTPUT)/vmlinux.h: | $(OUTPUT)
	$(call msg,GEN,$@)
	$(Q)test -r $(VMLINUX_BTF) || { echo "no kernel BTF at $(VMLINUX_BTF): set VMLINUX_BTF=FILE or use a kernel built with CONFIG_DEBUG_INFO_BTF=y" >&2; exit 1; }
	$(Q)$(BPFTOOL) btf dump file $(VMLINUX_BTF) format c > $@

$(OUTPUT)/bpf/%.bpf.o: bpf/%.bpf.c $(BPF_HDRS) $(OUTPUT)/vmlinux.h | $(OUTPUT)/bpf
	$(call msg,BPF,$@)
	$(Q)$(CLANG) -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_$(ARCH) $(BPF_EXTRA_CFLAGS) \
		-I$(OUTPUT) -Iinclude -Wall -Werror -c $< -o $@.tmp
	$(Q)$(BPFTOOL) gen object $@ $@.tmp && rm -f $@.tmp

$(OUTPUT)/%.skel.h: $(OUTPUT)/bpf/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name ps_$* > $@

# Build ids: the first 16 hex digits of each BPF object's SHA-256. The loader
# stamps its own on every program it loads and replaces programs that carry
# another (loader/build.h, README "Upgrading").
$(OUTPUT)/bpf_build_ids.h: $(BPF_OBJS)
	$(call msg,GEN,$@)
	$(Q)for o in $(BPF_OBJS); do \
		printf '#define PS_%s_BUILD_ID "%s"\n' "$$(basename $$o .bpf.o | tr a-z A-Z)" "$$(sha256sum $$o | cut -c1-16)"; \
	done > $@.tmp && mv -f $@.tmp $@

# -MMD: each object depends on the headers it includes, listed by the
# compiler in a .d file beside it. The skeletons and build ids are generated
# before the first compile, when no .d file tells yet who includes them.
$(OUTPUT)/loader/%.o: loader/%.c | $(SKELS) $(OUTPUT)/bpf_build_ids.h
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -std=gnu11 $(WARNFLAGS) $(INCLUDES) -MMD -MP -c $< -o $@

# Only version.o sees the commit; the stamp changes (and version.o is rebuilt)
# only when the commit does.
$(OUTPUT)/git-commit: FORCE | $(OUTPUT)
	$(Q)echo '$(PS_GIT_COMMIT)' | cmp -s - $@ || echo '$(PS_GIT_COMMIT)' > $@
$(OUTPUT)/loader/core/version.o: $(OUTPUT)/git-commit
$(OUTPUT)/loader/core/version.o: CPPFLAGS += -DPS_GIT_COMMIT='"$(PS_GIT_COMMIT)"'
FORCE:

# Linked beside and renamed: a test running the old binary never sees a half-written one.
$(OUTPUT)/portslice: $(LOADER_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@.tmp && mv -f $@.tmp $@

$(OUTPUT)/tests/lib/%.o: tests/lib/%.c | $(SKELS) $(OUTPUT)/tests/lib
	$(call msg,CC,$@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -std=gnu11 $(WARNFLAGS) $(INCLUDES) -Itests/lib -MMD -MP -c $< -o $@

$(TEST_LIB): $(TEST_LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(OUTPUT)/tests/test_%: tests/unit/test_%.c $(TEST_LIB) $(LOADER_LIB) | $(OUTPUT)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -std=gnu11 $(WARNFLAGS) $(INCLUDES) -Itests/lib -MMD -MP $< $(TEST_LIB) $(LOADER_LIB) $(LDFLAGS) $(LDLIBS) -lcmocka -o $@

$(OUTPUT)/tests/%: tests/tools/%.c $(LOADER_LIB) | $(OUTPUT)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -std=gnu11 $(WARNFLAGS) $(INCLUDES) -MMD -MP -pthread $< $(LOADER_LIB) $(LDFLAGS) $(LDLIBS) -o $@

check-root:
	@[ "$$(id -u)" = 0 ] || { echo "this target loads BPF programs and creates namespaces: run it as root" >&2; exit 1; }

unit-test: $(UNIT_BINS)
	$(Q)for t in $(UNIT_BINS); do $$t || exit 1; done

sock-test: check-root all $(TOOL_BINS)
	$(Q)tests/run.sh

test: deps
	$(Q)$(MAKE) --no-print-directory all $(UNIT_BINS) $(TOOL_BINS) $(TEST_BUILDS)
	$(Q)$(MAKE) --no-print-directory promtool || echo "promtool could not be fetched: the alert rules' tests skip" >&2
	$(Q)tests/run-all.sh

demo: deps
	$(Q)$(MAKE) --no-print-directory check-root all $(TOOL_BINS)
	$(Q)tests/demo.sh

demo-steer: deps
	$(Q)$(MAKE) --no-print-directory check-root all $(TOOL_BINS)
	$(Q)tests/demo-steer.sh

demo-p2p: deps
	$(Q)$(MAKE) --no-print-directory check-root all $(TOOL_BINS)
	$(Q)tests/demo-p2p.sh

clean:
	$(call msg,CLEAN,$(OUTPUT))
	$(Q)rm -rf $(OUTPUT)

-include $(LOADER_OBJS:.o=.d) $(TEST_LIB_OBJS:.o=.d) $(UNIT_BINS:=.d) $(TOOL_BINS:=.d)

# Further targets (bench, fuzz, vmtest, ...) live beside their code.
include $(wildcard */*.mk)
