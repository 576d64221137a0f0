# vigil — one entry point: all, check, unit, integration, install, demo, bench, fuzz, deb, rpm
# Subsystems add their targets in mk/*.mk; sources are found by folder.

BUILD     ?= build
CC        ?= gcc
CLANG     ?= clang
PKGS      := jansson openssl libcurl
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN      := -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wformat=2 -Wno-format-truncation -Wmissing-prototypes
HARDEN    := -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fstack-clash-protection
CFLAGS    ?= -O2 -g
ifeq ($(SANITIZE),1)
BUILD     := build-san
HARDEN    := -fstack-protector-strong
CFLAGS    := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
SANLD     := -fsanitize=address,undefined
endif
ifeq ($(TESTHOOKS),1)
HARDEN    += -DVIGIL_TEST_HOOKS=1
endif
ALL_CFLAGS  = -std=gnu11 $(WARN) $(HARDEN) $(CFLAGS) -Iinclude -Iagent -I$(BUILD) $(PKG_CFLAGS) -D_GNU_SOURCE
EXE_LDFLAGS = -pie -Wl,-z,relro,-z,now $(SANLD) $(LDFLAGS)
SO_LDFLAGS  = -shared -Wl,-z,relro,-z,now,-z,defs $(SANLD) $(LDFLAGS)

LIB_SRCS     := $(wildcard lib/*.c)
LIB_OBJS     := $(LIB_SRCS:%.c=$(BUILD)/%.o)
VIGILCTL_SRCS := $(wildcard agent/vigilctl*.c)
VIGILD_SRCS  := $(filter-out $(VIGILCTL_SRCS),$(wildcard agent/*.c))
VIGILD_OBJS  := $(VIGILD_SRCS:%.c=$(BUILD)/%.o)
VIGILCTL_OBJS := $(VIGILCTL_SRCS:%.c=$(BUILD)/%.o)
UNIT_SRCS    := $(wildcard tests/unit/test_*.c)
UNIT_BINS    := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
TEST_HELPER_SRCS := $(wildcard tests/lib/*.c)
TEST_HELPER_BINS := $(TEST_HELPER_SRCS:tests/lib/%.c=$(BUILD)/tests/%)
BENCH_SRCS   := $(wildcard bench/*.c)
BENCH_BINS   := $(BENCH_SRCS:bench/%.c=$(BUILD)/bench/%)

# extra objects/libs/deps a subsystem adds to vigild or vigilctl (see mk/*.mk)
VIGILD_EXTRA_LIBS :=
VIGILD_EXTRA_DEPS :=
VIGILCTL_EXTRA_LIBS :=
ALL_TARGETS := $(BUILD)/vigild $(BUILD)/vigilctl

.PHONY: all check unit integration deps demo bench fuzz fuzz-run install clean deb rpm format bench-gate
all: build-all

include $(sort $(wildcard mk/*.mk))

build-all: $(ALL_TARGETS) $(UNIT_BINS) $(TEST_HELPER_BINS) $(BENCH_BINS)

$(BUILD)/lib/%.o: lib/%.c $(wildcard include/vigil/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fPIC -c $< -o $@

$(BUILD)/agent/%.o: agent/%.c $(wildcard include/vigil/*.h agent/*.h) $(VIGILD_EXTRA_DEPS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fPIE -c $< -o $@

$(BUILD)/libvigil.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/vigild: $(VIGILD_OBJS) $(BUILD)/libvigil.a
	$(CC) $(EXE_LDFLAGS) -o $@ $(VIGILD_OBJS) $(BUILD)/libvigil.a $(VIGILD_EXTRA_LIBS) $(PKG_LIBS)

$(BUILD)/vigilctl: $(VIGILCTL_OBJS) $(BUILD)/libvigil.a
	$(CC) $(EXE_LDFLAGS) -o $@ $(VIGILCTL_OBJS) $(BUILD)/libvigil.a $(VIGILCTL_EXTRA_LIBS) $(PKG_LIBS)

$(BUILD)/tests/test_%: tests/unit/test_%.c $(BUILD)/libvigil.a $(wildcard tests/unit/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fPIE -Itests/unit $< -o $@ $(EXE_LDFLAGS) $(BUILD)/libvigil.a $(VIGILD_EXTRA_LIBS) $(PKG_LIBS) -lcmocka

$(BUILD)/tests/%: tests/lib/%.c $(BUILD)/libvigil.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fPIE $< -o $@ $(EXE_LDFLAGS) $(BUILD)/libvigil.a $(PKG_LIBS) -lpthread

$(BUILD)/tests/pam_loop: PKG_LIBS += -lpam

$(BUILD)/bench/%: bench/%.c $(BUILD)/libvigil.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fPIE $< -o $@ $(EXE_LDFLAGS) $(BUILD)/libvigil.a $(VIGILD_EXTRA_LIBS) $(PKG_LIBS) -lpthread

deps:
	@packaging/deps.sh

unit: build-all
	@tests/run-unit.sh $(BUILD)

integration:
	@$(MAKE) --no-print-directory BUILD=$(TEST_BUILD) TESTHOOKS=1 build-all
	@BUILD=$(TEST_BUILD) PROD_BUILD=$(BUILD) tests/run-integration.sh

# Unit tests run on the production build; integration tests on a test build
# (TESTHOOKS=1: the software FIDO2 key and a pinnable clock) of the same sources.
TEST_BUILD ?= build-th
ifneq ($(shell id -u),0)
# check, demo and bench load BPF programs, build namespaces and install packages:
# as a user they run themselves again under sudo; as root they run directly.
check demo bench:
	@command -v sudo >/dev/null || { echo "make $@ needs root: run it as root (this machine has no sudo)" >&2; exit 1; }
	@exec sudo $(MAKE) --no-print-directory $@ $(MAKEOVERRIDES)
else
check: deps
	@$(MAKE) --no-print-directory build-all
	@$(MAKE) --no-print-directory BUILD=$(TEST_BUILD) TESTHOOKS=1 build-all
	@tests/run-unit.sh $(BUILD)
	@BUILD=$(TEST_BUILD) PROD_BUILD=$(BUILD) tests/run-integration.sh

demo: deps
	@$(MAKE) --no-print-directory build-all
	@BUILD=$(BUILD) examples/demo.sh

bench: deps
	@$(MAKE) --no-print-directory build-all
	@BUILD=$(BUILD) bench/run.sh
endif

# compare the ratios of the last `make bench` with the committed baseline (docs/benchmarks.md)
bench-gate:
	@tools/bench-gate $(BUILD)/bench/results.json bench/baseline.json

FUZZ_SRCS := $(wildcard fuzz/fuzz_*.c)
FUZZ_BINS := $(FUZZ_SRCS:fuzz/%.c=build-fuzz/%)
# lib/enforce_fill.c puts entries into kernel maps (libbpf): no parser of untrusted input, and the
# fuzz binaries are not linked with libbpf
FUZZ_LIB_SRCS := $(filter-out lib/enforce_fill.c,$(LIB_SRCS))
build-fuzz/%: fuzz/%.c $(FUZZ_LIB_SRCS) $(wildcard include/vigil/*.h nss/*.h)
	@mkdir -p build-fuzz
	$(CLANG) -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Inss -D_GNU_SOURCE $(PKG_CFLAGS) \
		$< $(FUZZ_LIB_SRCS) $(FUZZ_EXTRA_SRCS) -o $@ $(PKG_LIBS)
fuzz: $(FUZZ_BINS)
fuzz-run: fuzz
	@tests/run-fuzz.sh $(FUZZ_SECONDS)

format:
	clang-format -i $(LIB_SRCS) $(wildcard agent/*.[ch] include/vigil/*.h)

clean:
	rm -rf build build-san build-th build-fuzz build-pkg
