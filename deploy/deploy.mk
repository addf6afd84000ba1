# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Included by the Makefile: installation, the Debian package, the container
# image and the tools that check deploy/ (docs/operations.md tells the rest).
#
# make install / uninstall [PREFIX=/usr/local] [DESTDIR=] [UNITDIR=]
# make deb        build/deb/portslice_VERSION_ARCH.deb (dpkg-buildpackage), linted
# make deb-test   the .deb built, installed on this machine, doctor run from
#                 the installed path, removed and purged (CI runs it)
# make image      the container image from that .deb (podman or buildah)
# make image-test the image built on a local Debian base (mmdebstrap, podman;
#                 no registry needed) and its binary run: tests/package/image.sh
# make promtool   build/tools/promtool, from Debian's prometheus package

PREFIX  ?= /usr/local
DESTDIR ?=
SBINDIR ?= $(PREFIX)/sbin
MANDIR  ?= $(PREFIX)/share/man
DOCDIR  ?= $(PREFIX)/share/doc/portslice
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
# The unit goes where systemd looks for vendor units: for PREFIX=/usr the
# distribution's own directory (systemd.pc; /lib/systemd/system on Debian
# 12), otherwise PREFIX/lib/systemd/system (/usr/local/lib/systemd/system is
# in systemd's search path; another PREFIX needs UNITDIR= or a link).
ifeq ($(PREFIX),/usr)
UNITDIR ?= $(or $(shell pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null),/usr/lib/systemd/system)
else
UNITDIR ?= $(PREFIX)/lib/systemd/system
endif
# The agent's config lives in /etc whatever the prefix: the unit names it.
CONFDIR ?= /etc/portslice

MAN_PAGES := $(wildcard man/*.[0-9])
# Shipped as examples: the fleet config, the alert rules, the dashboard.
EXAMPLES  := deploy/portslice.yaml deploy/prometheus/portslice-alerts.yaml deploy/grafana/portslice-dashboard.json

.PHONY: install uninstall deb deb-test image image-test promtool
install: $(OUTPUT)/portslice
	$(call msg,INSTALL,$(DESTDIR)$(PREFIX))
	$(Q)install -D -m 0755 $(OUTPUT)/portslice $(DESTDIR)$(SBINDIR)/portslice
	$(Q)for p in $(MAN_PAGES); do \
		install -D -m 0644 $$p $(DESTDIR)$(MANDIR)/man$${p##*.}/$${p##*/} || exit 1; done
	$(Q)install -D -m 0644 completion/portslice.bash $(DESTDIR)$(BASHCOMPDIR)/portslice
	$(Q)install -d $(DESTDIR)$(UNITDIR)
	$(Q)sed 's|/usr/local/sbin/portslice|$(SBINDIR)/portslice|g' deploy/portslice.service \
		> $(DESTDIR)$(UNITDIR)/portslice.service
	$(Q)chmod 0644 $(DESTDIR)$(UNITDIR)/portslice.service
	$(Q)install -d $(DESTDIR)$(DOCDIR)/examples
	$(Q)install -m 0644 deploy/portslice.yaml $(DESTDIR)$(DOCDIR)/examples/fleet.yaml
	$(Q)install -m 0644 $(filter-out deploy/portslice.yaml,$(EXAMPLES)) $(DESTDIR)$(DOCDIR)/examples/
	$(Q)install -d -m 0755 $(DESTDIR)$(CONFDIR)

# Removes what install put there; never the operator's config, nor the
# datapath (the pins in bpffs): `portslice detach --all` first removes it.
uninstall:
	$(call msg,UNINSTALL,$(DESTDIR)$(PREFIX))
	$(Q)[ -n "$(DESTDIR)" ] || [ ! -d /sys/fs/bpf/portslice ] || \
		echo "note: portslice's datapath stays attached (/sys/fs/bpf/portslice); 'portslice detach --all' before uninstalling removes it" >&2
	$(Q)rm -f $(DESTDIR)$(SBINDIR)/portslice $(DESTDIR)$(BASHCOMPDIR)/portslice \
		$(DESTDIR)$(UNITDIR)/portslice.service
	$(Q)for p in $(MAN_PAGES); do rm -f $(DESTDIR)$(MANDIR)/man$${p##*.}/$${p##*/}; done
	$(Q)rm -f $(DESTDIR)$(DOCDIR)/examples/fleet.yaml $(addprefix $(DESTDIR)$(DOCDIR)/examples/,$(notdir $(filter-out deploy/portslice.yaml,$(EXAMPLES))))
	$(Q)rmdir $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(DOCDIR) $(DESTDIR)$(CONFDIR) 2>/dev/null || true

# ---- the Debian package --------------------------------------------------
# Built from a copy of the tree (the files git knows, committed or not) in
# build/deb/src, so dpkg-buildpackage's clean and its output files stay out
# of the checkout. The commit goes along in the environment.
DEB_DIR     := $(OUTPUT)/deb
DEB_VERSION  = $(shell dpkg-parsechangelog -l debian/changelog -S Version)
DEB_ARCH     = $(shell dpkg --print-architecture)
DEB_FILE     = $(DEB_DIR)/portslice_$(DEB_VERSION)_$(DEB_ARCH).deb

deb: deps
	$(call msg,DEB,$(DEB_FILE))
	$(Q)rm -rf $(DEB_DIR) && mkdir -p $(DEB_DIR)/src/portslice
	$(Q)git ls-files -z --cached --others --exclude-standard | \
		(cd $(CURDIR) && xargs -0 sh -c 'for f; do [ -e "$$f" ] && printf "%s\0" "$$f"; done' _) | \
		tar --null -T - -cf - | tar -xf - -C $(DEB_DIR)/src/portslice
	$(Q)cd $(DEB_DIR)/src/portslice && PS_GIT_COMMIT=$(PS_GIT_COMMIT) \
		dpkg-buildpackage -us -uc > ../../build.log 2>&1 || \
		{ tail -n 40 ../../build.log; echo "dpkg-buildpackage failed: $(DEB_DIR)/build.log" >&2; exit 1; }
	$(Q)find $(DEB_DIR)/src -maxdepth 1 -type f -exec mv -t $(DEB_DIR) {} +
	$(call msg,LINTIAN,$(DEB_DIR)/portslice_$(DEB_VERSION)_$(DEB_ARCH).changes)
	$(Q)# Overridden tags (debian/portslice.lintian-overrides) say why; --show-overrides would fail the run.
	$(Q)lintian --fail-on error,warning,info --info --display-info \
		$(DEB_DIR)/portslice_$(DEB_VERSION)_$(DEB_ARCH).changes > $(DEB_DIR)/lintian.log 2>&1 || \
		{ cat $(DEB_DIR)/lintian.log; echo "lintian found problems" >&2; exit 1; }

deb-test: deb check-root
	$(Q)DEB_FILE=$(abspath $(DEB_FILE)) tests/run.sh tests/package/deb.sh

# ---- the container image --------------------------------------------------
IMAGE      ?= portslice:$(DEB_VERSION)
IMAGE_BASE ?= docker.io/library/debian:12-slim
# RUN apt-get reaches the Debian mirror from the host's own network: no
# bridge or NAT set up for the build.
IMAGE_BUILD_FLAGS ?= --network=host
image: deb
	$(call msg,IMAGE,$(IMAGE))
	$(Q)cp deploy/Containerfile $(DEB_DIR)/
	$(Q)tool=$$(command -v podman || command -v buildah) || \
		{ echo "make image needs podman or buildah (apt-get install podman)" >&2; exit 1; }; \
	$$tool build $(IMAGE_BUILD_FLAGS) --build-arg BASE=$(IMAGE_BASE) --build-arg DEB=$(notdir $(DEB_FILE)) \
		-t $(IMAGE) -f $(DEB_DIR)/Containerfile $(DEB_DIR)

# Not in CI's run (it downloads a Debian base system); installs its own tools.
image-test: check-root
	$(Q)$(MAKE) --no-print-directory deps DEB_PKGS="podman mmdebstrap"
	$(Q)tests/run.sh tests/package/image.sh

# ---- promtool, for tests/deploy -----------------------------------------------
# Taken out of Debian's prometheus package without installing it (that
# would start a Prometheus server and a node exporter on a systemd host).
promtool: $(OUTPUT)/tools/promtool
$(OUTPUT)/tools/promtool:
	$(call msg,FETCH,$@)
	$(Q)mkdir -p $(@D)/prometheus-deb && cd $(@D)/prometheus-deb && rm -f prometheus_*.deb && \
		apt-get download -qq prometheus >/dev/null 2>&1 && \
		dpkg-deb --fsys-tarfile prometheus_*.deb | tar -xOf - ./usr/bin/promtool > ../promtool.tmp && \
		chmod 0755 ../promtool.tmp && mv ../promtool.tmp ../promtool && rm -f prometheus_*.deb
