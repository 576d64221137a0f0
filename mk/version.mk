# The version, from one place: the file VERSION. The binaries get it through the
# generated $(BUILD)/vigil_version.h, the installed man pages through `make install`,
# and the packages check that packaging/debian/changelog and packaging/rpm/vigil.spec
# say the same before building (version-check), so a bump is one edit plus the two
# changelog entries the packaging formats require.

VIGIL_VERSION := $(shell cat VERSION)

$(BUILD)/vigil_version.h: VERSION
	@mkdir -p $(dir $@)
	printf '#define VIGIL_VERSION "%s"\n' "$(VIGIL_VERSION)" >$@

VIGILD_EXTRA_DEPS += $(BUILD)/vigil_version.h

# "vigil (0.1.0-1) unstable; ...": the upstream part, without the Debian revision
DEB_CHANGELOG_VERSION = $(shell head -n 1 packaging/debian/changelog | cut -d' ' -f2 | tr -d '()' | sed 's/-[^-]*$$//')
SPEC_VERSION = $(shell sed -n 's/^Version:[[:space:]]*//p' packaging/rpm/vigil.spec)

version-check:
	@[ "$(DEB_CHANGELOG_VERSION)" = "$(VIGIL_VERSION)" ] || { echo "version-check: packaging/debian/changelog's top entry is $(DEB_CHANGELOG_VERSION) but VERSION says $(VIGIL_VERSION): add an entry (dch -v $(VIGIL_VERSION)-1)" >&2; exit 1; }
	@[ "$(SPEC_VERSION)" = "$(VIGIL_VERSION)" ] || { echo "version-check: packaging/rpm/vigil.spec has Version: $(SPEC_VERSION) but VERSION says $(VIGIL_VERSION): set Version: and add a %changelog entry" >&2; exit 1; }
	@echo "version-check: $(VIGIL_VERSION) in VERSION, debian/changelog and vigil.spec"

.PHONY: version-check
