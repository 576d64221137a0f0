# NSS module (docs/nss.md): libnss_vigil.so.2, links libc only.
NSS_SRCS := nss/nss_vigil.c nss/nsscache_read.c
NSS_HDRS := $(wildcard nss/*.h) include/vigil/nsscache.h
NSS_SO := $(BUILD)/libnss_vigil.so.2
# The module is loaded into uninstrumented system programs (getent, id, sshd), which
# cannot host a sanitizer runtime: it is always built without one. Its sanitized twin,
# $(NSS_OBJS), is what the unit tests (and the thread stress test) link.
NSS_SO_CFLAGS := -std=gnu11 $(WARN) -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fstack-clash-protection \
	-O2 -g -fPIC -Iinclude -Inss -D_GNU_SOURCE
NSS_SO_OBJS := $(NSS_SRCS:nss/%.c=$(BUILD)/nss/so/%.o)
NSS_OBJS := $(NSS_SRCS:nss/%.c=$(BUILD)/nss/%.o)
NSS_UNIT_BINS := $(filter $(BUILD)/tests/test_nsscache%,$(UNIT_BINS))

ALL_TARGETS += $(NSS_SO)
# vigild's identity module reads the previous cache to tell who was (de)provisioned
VIGILD_EXTRA_LIBS += $(BUILD)/nss/nsscache_read.o
VIGILD_EXTRA_DEPS += $(BUILD)/nss/nsscache_read.o
FUZZ_EXTRA_SRCS += nss/nsscache_read.c

$(BUILD)/nss/so/%.o: nss/%.c $(NSS_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(NSS_SO_CFLAGS) -c $< -o $@

$(NSS_SO): $(NSS_SO_OBJS) nss/libnss_vigil.map
	$(CC) -shared -Wl,-z,relro,-z,now,-z,defs -Wl,-soname,libnss_vigil.so.2 \
		-Wl,--version-script=nss/libnss_vigil.map -o $@ $(NSS_SO_OBJS) $(LDFLAGS)

$(BUILD)/nss/%.o: nss/%.c $(NSS_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Inss -fPIC -c $< -o $@

# every test binary links $(VIGILD_EXTRA_LIBS)
$(UNIT_BINS) $(TEST_HELPER_BINS): $(BUILD)/nss/nsscache_read.o

$(NSS_UNIT_BINS): $(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libvigil.a $(NSS_OBJS) $(wildcard tests/unit/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fPIE -Itests/unit -Inss $< -o $@ $(EXE_LDFLAGS) $(NSS_OBJS) $(BUILD)/libvigil.a \
		$(PKG_LIBS) -lcmocka -lpthread

# agent/identity.c reads the previous cache with the module's own reader
$(BUILD)/agent/identity.o: ALL_CFLAGS += -Inss
