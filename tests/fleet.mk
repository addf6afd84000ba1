# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# make demo-fleet: three hosts leasing blocks of ports from a three-member
# etcd cluster, growing, shrinking and handing over a dead host's block
# (tests/demo-fleet.sh, docs/fleet.md). The leasing engine alone for now.
.PHONY: demo-fleet
demo-fleet: deps
	$(Q)$(MAKE) --no-print-directory check-root $(OUTPUT)/tests/pslease_sim
	$(Q)tests/demo-fleet.sh
