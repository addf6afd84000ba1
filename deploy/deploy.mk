# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Included by the Makefile: installation.

PREFIX  ?= /usr/local
DESTDIR ?=

.PHONY: install
# make install [PREFIX=/usr/local] [DESTDIR=...]: the binary, man pages, bash
# completion, the systemd unit and (if none is there) the example config.
install: $(OUTPUT)/portslice
	$(call msg,INSTALL,$(DESTDIR)$(PREFIX))
	$(Q)install -D -m 0755 $(OUTPUT)/portslice $(DESTDIR)$(PREFIX)/sbin/portslice
	$(Q)install -d $(DESTDIR)$(PREFIX)/share/man/man8
	$(Q)install -m 0644 man/*.8 $(DESTDIR)$(PREFIX)/share/man/man8/
	$(Q)install -D -m 0644 completion/portslice.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/portslice
	$(Q)install -d $(DESTDIR)/etc/systemd/system
	$(Q)sed 's|/usr/local/sbin/portslice|$(PREFIX)/sbin/portslice|g' deploy/portslice.service \
		> $(DESTDIR)/etc/systemd/system/portslice.service
	$(Q)[ -e $(DESTDIR)/etc/portslice/fleet.yaml ] || \
		install -D -m 0644 deploy/portslice.yaml $(DESTDIR)/etc/portslice/fleet.yaml
