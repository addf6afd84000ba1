# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# The upgrade tests' "next build" (next_build in tests/lib.sh): the same
# source built again into $(OUTPUT)/tests/next with -DPS_BUILD_VARIANT=1,
# which gives every BPF program one dead instruction more (bpf/lib/common.h):
# other tags, other build ids, the same behaviour. `make test` and
# `make vmtest` build it with the rest (TEST_BUILDS); the inner make is
# incremental, so this costs nothing once it is up to date.

NEXT_OUTPUT := $(OUTPUT)/tests/next
TEST_BUILDS += $(NEXT_OUTPUT)/portslice

.PHONY: $(NEXT_OUTPUT)/portslice
$(NEXT_OUTPUT)/portslice:
	$(call msg,MAKE,$@ (next build))
	$(Q)$(MAKE) --no-print-directory OUTPUT=$(NEXT_OUTPUT) BPF_EXTRA_CFLAGS=-DPS_BUILD_VARIANT=1 SANITIZE= \
		$@ >$(if $(V),/dev/stderr,/dev/null)
