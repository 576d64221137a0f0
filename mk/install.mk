# install, deb, rpm (docs/packaging.md)
#
# make install DESTDIR=/tmp/root PREFIX=/usr
#   installs whatever $(BUILD) holds: vigild, vigilctl, and pam_vigil.so /
#   libnss_vigil.so.2 when those modules have been built. The directories
#   below are variables so the .deb (Debian paths) and the .rpm (/usr/lib64)
#   share this one recipe. No trust file is installed: without
#   /etc/vigil/trust.json vigild accepts no bundle (missing trust = deny).

PREFIX      ?= /usr/local
DESTDIR     ?=
TRIPLET     ?= $(shell $(CC) -print-multiarch 2>/dev/null)
BINDIR      ?= $(PREFIX)/bin
SBINDIR     ?= $(PREFIX)/sbin
DATADIR     ?= $(PREFIX)/share
MANDIR      ?= $(DATADIR)/man
DOCDIR      ?= $(DATADIR)/doc/vigil
SYSCONFDIR  ?= /etc
# Debian keeps PAM and NSS modules in /lib/<triplet> (bookworm, not yet moved to /usr)
PAMDIR      ?= /lib/$(TRIPLET)/security
NSSDIR      ?= /lib/$(TRIPLET)
UNITDIR     ?= /lib/systemd/system
SYSUSERSDIR ?= /usr/lib/sysusers.d
TMPFILESDIR ?= /usr/lib/tmpfiles.d
PAMCONFIGDIR ?= $(DATADIR)/pam-configs
AUTHSELECTDIR ?= $(DATADIR)/authselect/vendor

PKG_BUILD   := build-pkg
INSTALL     ?= install

MAN5 := docs/man/vigild.conf.5
MAN8 := docs/man/vigild.8 docs/man/vigilctl.8
INSTALL_DOCS := $(wildcard docs/*.md)

# only what a package ships: no unit tests, no helpers
build-bins: $(ALL_TARGETS)

.PHONY: build-bins install-pam install-nss install-authselect

install: build-bins
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR)
	$(INSTALL) -m 0755 $(BUILD)/vigild $(DESTDIR)$(SBINDIR)/vigild
	$(INSTALL) -m 0755 $(BUILD)/vigilctl $(DESTDIR)$(BINDIR)/vigilctl
	$(INSTALL) -d $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR)
	$(INSTALL) -m 0644 packaging/systemd/vigild.service $(DESTDIR)$(UNITDIR)/vigild.service
	$(INSTALL) -m 0644 packaging/sysusers/vigil.conf $(DESTDIR)$(SYSUSERSDIR)/vigil.conf
	$(INSTALL) -m 0644 packaging/tmpfiles/vigil.conf $(DESTDIR)$(TMPFILESDIR)/vigil.conf
	$(INSTALL) -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/vigil
	$(INSTALL) -m 0644 packaging/config/vigild.conf $(DESTDIR)$(SYSCONFDIR)/vigil/vigild.conf
	$(INSTALL) -d $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8
	$(INSTALL) -m 0644 $(MAN5) $(DESTDIR)$(MANDIR)/man5/
	$(INSTALL) -m 0644 $(MAN8) $(DESTDIR)$(MANDIR)/man8/
	$(INSTALL) -d $(DESTDIR)$(DOCDIR)
	$(if $(INSTALL_DOCS),$(INSTALL) -m 0644 $(INSTALL_DOCS) $(DESTDIR)$(DOCDIR)/)
	$(INSTALL) -m 0644 examples/bundle.json $(DESTDIR)$(DOCDIR)/bundle.example.json
	@if [ -f $(BUILD)/pam_vigil.so ]; then $(MAKE) --no-print-directory install-pam; \
	 else echo "install: $(BUILD)/pam_vigil.so not built, PAM module not installed"; fi
	@if [ -f $(BUILD)/libnss_vigil.so.2 ]; then $(MAKE) --no-print-directory install-nss; \
	 else echo "install: $(BUILD)/libnss_vigil.so.2 not built, NSS module not installed"; fi

install-pam:
	$(INSTALL) -d $(DESTDIR)$(PAMDIR) $(DESTDIR)$(PAMCONFIGDIR)
	$(INSTALL) -m 0644 $(BUILD)/pam_vigil.so $(DESTDIR)$(PAMDIR)/pam_vigil.so
	$(INSTALL) -m 0644 packaging/pam-configs/vigil $(DESTDIR)$(PAMCONFIGDIR)/vigil
	$(INSTALL) -d $(DESTDIR)$(MANDIR)/man8
	$(INSTALL) -m 0644 docs/man/pam_vigil.8 $(DESTDIR)$(MANDIR)/man8/

install-nss:
	$(INSTALL) -d $(DESTDIR)$(NSSDIR)
	$(INSTALL) -m 0644 $(BUILD)/libnss_vigil.so.2 $(DESTDIR)$(NSSDIR)/libnss_vigil.so.2
	$(INSTALL) -d $(DESTDIR)$(MANDIR)/man8
	$(INSTALL) -m 0644 docs/man/libnss_vigil.8 $(DESTDIR)$(MANDIR)/man8/

# the rpm ships an authselect vendor profile instead of a pam-auth-update one
install-authselect:
	$(INSTALL) -d $(DESTDIR)$(AUTHSELECTDIR)/vigil
	$(INSTALL) -m 0644 packaging/authselect/vigil/* $(DESTDIR)$(AUTHSELECTDIR)/vigil/

# Both package builds work on an export of the tree under build-pkg/, so they
# never write into the source tree or its build*/ directories. Files that are
# not committed yet are exported too (git ls-files -co), so an uncommitted
# working tree packages as it is.
PKG_VERSION := $(shell sed -n '1s/.*(\([^)]*\)).*/\1/p' packaging/debian/changelog 2>/dev/null | sed 's/-[^-]*$$//')
# a module is packaged when the build makes it (its mk/*.mk adds it to ALL_TARGETS);
# recursive (=) because those files are included after this one
PKG_HAS_PAM = $(if $(filter %/pam_vigil.so,$(ALL_TARGETS)),1,)
PKG_HAS_NSS = $(if $(filter %/libnss_vigil.so.2,$(ALL_TARGETS)),1,)
DEB_PROFILES = $(strip $(if $(PKG_HAS_PAM),,pkg.vigil.nopam) $(if $(PKG_HAS_NSS),,pkg.vigil.nonss))
DEB_BUILD_OPTIONS ?= nocheck parallel=2

define pkg_export
	rm -rf $(1) && mkdir -p $(1)
	git ls-files -co --exclude-standard -z | grep -zv '^build' | \
		xargs -0 sh -c 'for f; do [ -f "$$f" ] && printf "%s\0" "$$f"; done' sh | \
		tar --null -T - -cf - | tar -xf - -C $(1)
endef

deb:
	rm -f $(PKG_BUILD)/*.deb
	$(call pkg_export,$(PKG_BUILD)/deb/vigil-$(PKG_VERSION))
	cp -r packaging/debian $(PKG_BUILD)/deb/vigil-$(PKG_VERSION)/debian
	cd $(PKG_BUILD)/deb/vigil-$(PKG_VERSION) && \
		DEB_BUILD_OPTIONS="$(DEB_BUILD_OPTIONS)" \
		dpkg-buildpackage -b -us -uc $(if $(DEB_PROFILES),-P$(subst $(space),$(comma),$(DEB_PROFILES)))
	mv $(PKG_BUILD)/deb/*.deb $(PKG_BUILD)/
	mv $(PKG_BUILD)/deb/*.changes $(PKG_BUILD)/deb/*.buildinfo $(PKG_BUILD)/deb/ 2>/dev/null || true
	@ls -1 $(PKG_BUILD)/*.deb

RPM_TOP := $(CURDIR)/$(PKG_BUILD)/rpm
rpm:
	rm -f $(PKG_BUILD)/*.rpm
	$(call pkg_export,$(PKG_BUILD)/rpm/vigil-$(PKG_VERSION))
	mkdir -p $(RPM_TOP)/SOURCES $(RPM_TOP)/RPMS $(RPM_TOP)/BUILD
	tar -C $(PKG_BUILD)/rpm -czf $(RPM_TOP)/SOURCES/vigil-$(PKG_VERSION).tar.gz vigil-$(PKG_VERSION)
	rm -rf $(PKG_BUILD)/rpm/vigil-$(PKG_VERSION)
	rpmbuild -bb --nodeps --define "_topdir $(RPM_TOP)" --define "vigil_version $(PKG_VERSION)" \
		$(if $(PKG_HAS_PAM),,--without pam) $(if $(PKG_HAS_NSS),,--without nss) \
		packaging/rpm/vigil.spec
	find $(RPM_TOP)/RPMS -name '*.rpm' -exec mv {} $(PKG_BUILD)/ \;
	@ls -1 $(PKG_BUILD)/*.rpm

comma := ,
empty :=
space := $(empty) $(empty)
