# FIDO2 (docs/fido2.md): libfido2 for the security key; softfido, the software
# authenticator of tests/softfido/, for tests and test builds only.

SOFTFIDO_SRCS := $(filter-out tests/softfido/softfido-ctl.c,$(wildcard tests/softfido/*.c))
SOFTFIDO_OBJS := $(SOFTFIDO_SRCS:%.c=$(BUILD)/%.o)
SOFTFIDO_LIB  := $(BUILD)/libsoftfido.a
SOFTFIDO_LIBS := $(SOFTFIDO_LIB) -lfido2 -lcbor -lcrypto

# What a binary that calls vg_fido_dev_open() (lib/fido_dev.c) links, after libvigil.a.
# Production builds: libfido2 only. make TESTHOOKS=1: softfido too.
FIDO_LIBS := -lfido2
FIDO_DEPS :=
ifeq ($(TESTHOOKS),1)
FIDO_LIBS := $(SOFTFIDO_LIBS)
FIDO_DEPS := $(SOFTFIDO_LIB)
endif

VIGILCTL_EXTRA_LIBS += $(FIDO_LIBS)
$(BUILD)/vigilctl: $(FIDO_DEPS)
# vigild drives the local security key for pam_vigil.so (agent/elevation_key.c)
VIGILD_EXTRA_LIBS += $(FIDO_LIBS)
$(BUILD)/vigild $(UNIT_BINS): $(FIDO_DEPS)

$(BUILD)/tests/softfido/%.o: tests/softfido/%.c $(wildcard tests/softfido/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fPIC -c $< -o $@

$(SOFTFIDO_LIB): $(SOFTFIDO_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/tests/softfido-ctl: tests/softfido/softfido-ctl.c $(SOFTFIDO_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fPIE $< -o $@ $(EXE_LDFLAGS) $(SOFTFIDO_LIBS) $(PKG_LIBS)

# unit tests that drive real libfido2 against softfido
FIDO_UNIT_BINS := $(filter $(BUILD)/tests/test_softfido% $(BUILD)/tests/test_assertion% \
	$(BUILD)/tests/test_fido%,$(UNIT_BINS))
$(FIDO_UNIT_BINS): $(SOFTFIDO_LIB)
$(FIDO_UNIT_BINS): PKG_LIBS += $(SOFTFIDO_LIBS)

# the fuzz build compiles every lib/*.c, lib/fido_dev.c included
build-fuzz/%: PKG_LIBS += -lfido2

ALL_TARGETS += $(SOFTFIDO_LIB) $(BUILD)/tests/softfido-ctl

# bench/fido_bench.c makes its assertions with softfido
$(BUILD)/bench/fido_bench: $(SOFTFIDO_LIB)
$(BUILD)/bench/fido_bench: PKG_LIBS += $(SOFTFIDO_LIBS)
