# eBPF enforcement: bpf/vigil.bpf.c -> $(BUILD)/vigil.bpf.o -> $(BUILD)/vigil.skel.h,
# embedded in vigild by agent/enforce.c. bpf/vmlinux.h is checked in; regenerate with
#   bpftool btf dump file /sys/kernel/btf/vmlinux format c > bpf/vmlinux.h
BPFTOOL ?= bpftool
BPF_CFLAGS := -target bpf -O2 -g -Wall -Werror -D__TARGET_ARCH_x86 -Ibpf

$(BUILD)/vigil.bpf.o: bpf/vigil.bpf.c bpf/vigil_maps.h bpf/vmlinux.h
	@mkdir -p $(dir $@)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/vigil.skel.h: $(BUILD)/vigil.bpf.o
	$(BPFTOOL) gen skeleton $< name vigil_bpf > $@.tmp && mv $@.tmp $@

VIGILD_EXTRA_DEPS += $(BUILD)/vigil.skel.h
VIGILD_EXTRA_LIBS += -lbpf -lelf -lz
