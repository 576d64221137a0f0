# pam_vigil.so (docs/pam.md). Test builds (TESTHOOKS=1) may open softfido through
# lib/fido_dev.c, so they link softfido through $(FIDO_LIBS) (mk/fido.mk); production never does.
PAM_SRCS := $(wildcard pam/*.c)
PAM_OBJS := $(PAM_SRCS:%.c=$(BUILD)/%.o)
PAM_LIBS = $(FIDO_LIBS) -lpam $(PKG_LIBS)

$(BUILD)/pam/%.o: pam/%.c $(wildcard pam/*.h include/vigil/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fPIC -c $< -o $@

# -z nodelete: pam_end's dlclose leaves the module and libfido2's libraries mapped (libcrypto
# already is): unmapping them cost every PAM call ~2-4 ms of CPU in this VM (docs/pam.md "Benchmark")
$(BUILD)/pam_vigil.so: $(PAM_OBJS) $(BUILD)/libvigil.a $(FIDO_DEPS) pam/pam_vigil.map
	$(CC) $(SO_LDFLAGS) -Wl,-z,nodelete -Wl,--version-script=pam/pam_vigil.map -o $@ $(PAM_OBJS) $(BUILD)/libvigil.a $(PAM_LIBS)

ALL_TARGETS += $(BUILD)/pam_vigil.so
