# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# make demo-fleet: three hosts behind an ECMP router run portslice agent with
# dynamic pools: blocks of ports leased from a three-member etcd cluster,
# growing, shrinking, and a killed agent's block handed over after its
# quarantine, replies steered by XDP (tests/demo-fleet.sh, docs/fleet.md).
.PHONY: demo-fleet
demo-fleet: deps
	$(Q)$(MAKE) --no-print-directory check-root all $(TOOL_BINS)
	$(Q)tests/demo-fleet.sh
