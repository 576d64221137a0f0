# pam_vigil.so (docs/pam.md). It links neither libfido2 nor libcrypto: vigild drives the security
# key (agent/elevation_key.c) and pam/crypto_lazy.c loads libcrypto when break-glass or the relay
# first needs it. The check below keeps it that way.
PAM_SRCS := $(wildcard pam/*.c)
PAM_OBJS := $(PAM_SRCS:%.c=$(BUILD)/%.o)
PAM_LIBS = -lpam $(shell pkg-config --libs jansson 2>/dev/null)

$(BUILD)/pam/%.o: pam/%.c $(wildcard pam/*.h include/vigil/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fPIC -c $< -o $@

# -z nodelete: pam_end's dlclose leaves the module and libfido2's libraries mapped (libcrypto
# already is): unmapping them cost every PAM call ~2-4 ms of CPU in this VM (docs/pam.md "Benchmark")
$(BUILD)/pam_vigil.so: $(PAM_OBJS) $(BUILD)/libvigil.a $(FIDO_DEPS) pam/pam_vigil.map
	$(CC) $(SO_LDFLAGS) -Wl,-z,nodelete -Wl,--version-script=pam/pam_vigil.map -o $@ $(PAM_OBJS) $(BUILD)/libvigil.a $(PAM_LIBS)
	@if readelf -d $@ | grep -E 'NEEDED.*(libcrypto|libfido2|libssl)'; then \
		echo "$@ must not load libcrypto/libfido2 (docs/pam.md \"What the module loads\")"; rm -f $@; exit 1; fi

ALL_TARGETS += $(BUILD)/pam_vigil.so
