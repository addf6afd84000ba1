# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Kernel matrix (vmtest.toml, tests/vm/): the suite inside other kernels.
#
# make vmtest [KERNEL=NAME[,NAME]] [VM_SUITE=ci|full]
#                   build on the host, then boot every target of vmtest.toml
#                   (or the named ones: 6.1, 6.12, running) under QEMU and run
#                   tests/vm/guest-suite.sh in each; VM_SUITE=ci runs the
#                   kernel-facing core, full (default) everything.
#                   VM_JOBS=N guests at a time (default 2), VM_TIMEOUT=SECONDS
#                   per target, VM_ACCEL=kvm|tcg to override the choice.
# make vm-kernels   only fetch the kernels and build their initramfs (what
#                   danobi/vmtest needs before `vmtest`); PS_VM_REFRESH=1
#                   looks for newer Debian packages.
# make vm-clean     remove the kernels and logs ($(OUTPUT)/vm, build/vm).

VM_DEB_PKGS := qemu-system-x86 busybox-static cpio kmod xz-utils zstd
# tomllib: Python 3.11, Debian 12's /usr/bin/python3.
VM_PYTHON ?= $(firstword $(wildcard /usr/bin/python3) python3)
VM_RUNNER := $(VM_PYTHON) tests/vm/runner.py $(if $(KERNEL),--kernel '$(KERNEL)')

.PHONY: vmtest vm-kernels vm-deps vm-clean

vm-deps:
	$(Q)missing=$$(for p in $(VM_DEB_PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "  DEPS     installing:" $$missing; \
		[ "$$(id -u)" = 0 ] || { echo "make vm-deps: run as root to install:" $$missing >&2; exit 1; }; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; }; \
	fi

vm-kernels: vm-deps
	$(Q)OUTPUT=$(OUTPUT) $(VM_RUNNER) --fetch-only

vmtest: deps vm-deps
	$(Q)$(MAKE) --no-print-directory check-root all $(UNIT_BINS) $(TOOL_BINS) $(TEST_BUILDS)
	$(Q)OUTPUT=$(OUTPUT) $(VM_RUNNER) $(if $(VM_SUITE),--suite $(VM_SUITE))

vm-clean:
	$(call msg,CLEAN,$(OUTPUT)/vm build/vm)
	$(Q)rm -rf $(OUTPUT)/vm build/vm
