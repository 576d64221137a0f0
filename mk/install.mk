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
LIBEXECDIR  ?= $(PREFIX)/libexec
# Debian keeps PAM and NSS modules in /lib/<triplet> (bookworm, not yet moved to /usr)
PAMDIR      ?= /lib/$(TRIPLET)/security
NSSDIR      ?= /lib/$(TRIPLET)
UNITDIR     ?= /lib/systemd/system
SYSUSERSDIR ?= /usr/lib/sysusers.d
TMPFILESDIR ?= /usr/lib/tmpfiles.d
PAMCONFIGDIR ?= $(DATADIR)/pam-configs
AUTHSELECTDIR ?= $(DATADIR)/authselect/vendor

# Debian ships shared objects 0644, Fedora 0755
SOMODE      ?= 0644
# where make deb / make rpm work and leave the packages (tests use a private one)
PKG_BUILD   ?= build-pkg
INSTALL     ?= install

MAN5 := docs/man/vigild.conf.5
MAN8 := docs/man/vigild.8 docs/man/vigilctl.8
INSTALL_DOCS := $(wildcard docs/*.md)

# A man page with the version of VERSION in its .TH line ("vigil X.Y.Z").
define install_man
	sed '1,/^\.TH/ s/"vigil [^"]*"/"vigil $(VIGIL_VERSION)"/' $(1) >$(2)/$(notdir $(1)).tmp && \
		chmod 0644 $(2)/$(notdir $(1)).tmp && mv $(2)/$(notdir $(1)).tmp $(2)/$(notdir $(1))

endef

# Only what a package ships (no tests, no test helpers). Recursive and built from
# the recipe because mk/*.mk after this file still add to ALL_TARGETS.
PKG_BINS = $(filter %/vigild %/vigilctl %/vigil-stepup %/pam_vigil.so %/libnss_vigil.so.2,$(ALL_TARGETS))
build-bins:
	@$(MAKE) --no-print-directory $(PKG_BINS)

.PHONY: build-bins install-pam install-nss install-stepup install-authselect

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
	$(foreach m,$(MAN5),$(call install_man,$(m),$(DESTDIR)$(MANDIR)/man5))
	$(foreach m,$(MAN8),$(call install_man,$(m),$(DESTDIR)$(MANDIR)/man8))
	$(INSTALL) -d $(DESTDIR)$(DOCDIR)
	$(if $(INSTALL_DOCS),$(INSTALL) -m 0644 $(INSTALL_DOCS) $(DESTDIR)$(DOCDIR)/)
	$(INSTALL) -m 0644 examples/bundle.json $(DESTDIR)$(DOCDIR)/bundle.example.json
	$(if $(PKG_HAS_PAM),@$(MAKE) --no-print-directory install-pam,@echo "install: no PAM module in this build")
	$(if $(PKG_HAS_NSS),@$(MAKE) --no-print-directory install-nss,@echo "install: no NSS module in this build")
	$(if $(PKG_HAS_STEPUP),@$(MAKE) --no-print-directory install-stepup,@echo "install: no vigil-stepup in this build")

install-pam:
	$(INSTALL) -d $(DESTDIR)$(PAMDIR) $(DESTDIR)$(PAMCONFIGDIR)
	$(INSTALL) -m $(SOMODE) $(BUILD)/pam_vigil.so $(DESTDIR)$(PAMDIR)/pam_vigil.so
	$(INSTALL) -m 0644 packaging/pam-configs/vigil $(DESTDIR)$(PAMCONFIGDIR)/vigil
	$(INSTALL) -d $(DESTDIR)$(LIBEXECDIR)/vigil
	$(INSTALL) -m 0755 packaging/pam-guard/pam-guard $(DESTDIR)$(LIBEXECDIR)/vigil/pam-guard
	$(INSTALL) -d $(DESTDIR)$(MANDIR)/man8
	$(call install_man,docs/man/pam_vigil.8,$(DESTDIR)$(MANDIR)/man8)

install-nss:
	$(INSTALL) -d $(DESTDIR)$(NSSDIR)
	$(INSTALL) -m $(SOMODE) $(BUILD)/libnss_vigil.so.2 $(DESTDIR)$(NSSDIR)/libnss_vigil.so.2
	$(INSTALL) -d $(DESTDIR)$(MANDIR)/man8
	$(call install_man,docs/man/libnss_vigil.8,$(DESTDIR)$(MANDIR)/man8)

# the workstation command of remote step-up
install-stepup:
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1
	$(INSTALL) -m 0755 $(BUILD)/vigil-stepup $(DESTDIR)$(BINDIR)/vigil-stepup
	$(call install_man,docs/man/vigil-stepup.1,$(DESTDIR)$(MANDIR)/man1)

# the rpm ships an authselect vendor profile instead of a pam-auth-update one
install-authselect:
	$(INSTALL) -d $(DESTDIR)$(AUTHSELECTDIR)/vigil
	$(INSTALL) -m 0644 packaging/authselect/vigil/* $(DESTDIR)$(AUTHSELECTDIR)/vigil/

# Both package builds work on an export of the tree under build-pkg/, so they never
# write into the source tree or its build*/ directories. The export is the committed
# HEAD (what CI and a release see, and stable while the working tree is being edited);
# PKG_FROM=worktree exports the working tree as it is, uncommitted files included.
PKG_FROM ?= head
PKG_VERSION = $(VIGIL_VERSION)
# a module is packaged when the build makes it (its mk/*.mk adds it to ALL_TARGETS);
# recursive (=) because those files are included after this one
PKG_HAS_PAM = $(if $(filter %/pam_vigil.so,$(ALL_TARGETS)),1,)
PKG_HAS_NSS = $(if $(filter %/libnss_vigil.so.2,$(ALL_TARGETS)),1,)
PKG_HAS_STEPUP = $(if $(filter %/vigil-stepup,$(ALL_TARGETS)),1,)
DEB_PROFILES = $(strip $(if $(PKG_HAS_PAM),,pkg.vigil.nopam) $(if $(PKG_HAS_NSS),,pkg.vigil.nonss) \
	$(if $(PKG_HAS_STEPUP),,pkg.vigil.nostepup))
DEB_BUILD_OPTIONS ?= nocheck noddebs parallel=2

define pkg_export
	rm -rf $(1) && mkdir -p $(1)
	if [ "$(PKG_FROM)" = head ] && git rev-parse --verify -q HEAD >/dev/null 2>&1; then \
		git archive --format=tar HEAD | tar -xf - -C $(1); \
	else \
		tar --exclude='./build*' --exclude=./.git -cf - . | tar -xf - -C $(1); \
	fi
endef

# what the export's own makefiles build decides which packages there are
pkg-profiles:
	@echo $(subst $(space),$(comma),$(DEB_PROFILES))
pkg-rpm-opts:
	@echo $(if $(PKG_HAS_PAM),,--without pam) $(if $(PKG_HAS_NSS),,--without nss) \
		$(if $(PKG_HAS_STEPUP),,--without stepup)

.PHONY: pkg-profiles pkg-rpm-opts

DEB_SRC = $(PKG_BUILD)/deb/vigil-$(PKG_VERSION)
deb:
	rm -f $(PKG_BUILD)/*.deb
	$(call pkg_export,$(DEB_SRC))
	$(MAKE) -s --no-print-directory -C $(DEB_SRC) version-check
	cp -r $(DEB_SRC)/packaging/debian $(DEB_SRC)/debian
	cd $(DEB_SRC) && profiles=$$($(MAKE) -s --no-print-directory pkg-profiles) && \
		DEB_BUILD_OPTIONS="$(DEB_BUILD_OPTIONS)" dpkg-buildpackage -b -us -uc $${profiles:+-P$$profiles}
	mv $(PKG_BUILD)/deb/*.deb $(PKG_BUILD)/
	@ls -1 $(PKG_BUILD)/*.deb

RPM_TOP = $(abspath $(PKG_BUILD))/rpm
RPM_SRC = $(PKG_BUILD)/rpm/vigil-$(PKG_VERSION)
# rpm on Debian has no systemd-rpm-macros; on Fedora/EL these are already defined
RPM_DEFINES = --define "_topdir $(RPM_TOP)"
# The binary packages are rebuilt from the source package, as a distribution builder
# (mock, koji) does: what the SRPM carries is all they are made from.
rpm:
	rm -f $(PKG_BUILD)/*.rpm
	$(call pkg_export,$(RPM_SRC))
	$(MAKE) -s --no-print-directory -C $(RPM_SRC) version-check
	mkdir -p $(RPM_TOP)/SOURCES $(RPM_TOP)/RPMS $(RPM_TOP)/SRPMS $(RPM_TOP)/BUILD
	rm -f $(RPM_TOP)/SRPMS/*.src.rpm
	opts=$$($(MAKE) -s --no-print-directory -C $(RPM_SRC) pkg-rpm-opts) && \
	tar -C $(PKG_BUILD)/rpm -czf $(RPM_TOP)/SOURCES/vigil-$(PKG_VERSION).tar.gz vigil-$(PKG_VERSION) && \
	rpmbuild -bs --nodeps $(RPM_DEFINES) $(RPM_SRC)/packaging/rpm/vigil.spec && \
	rm -f $(RPM_TOP)/SOURCES/vigil-$(PKG_VERSION).tar.gz && \
	rpmbuild --rebuild --nodeps $(RPM_DEFINES) $$opts $(RPM_TOP)/SRPMS/vigil-$(PKG_VERSION)-*.src.rpm
	rm -rf $(RPM_SRC)
	find $(RPM_TOP)/RPMS $(RPM_TOP)/SRPMS -name '*.rpm' -exec mv {} $(PKG_BUILD)/ \;
	@ls -1 $(PKG_BUILD)/*.rpm

comma := ,
empty :=
space := $(empty) $(empty)
