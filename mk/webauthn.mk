# Remote step-up (docs/remote-stepup.md): vigil-stepup for workstations, the static
# WebAuthn pages, and the playwright-core install the browser test uses.

$(BUILD)/tools/vigil-stepup/%.o: tools/vigil-stepup/%.c $(wildcard include/vigil/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fPIE -c $< -o $@

# links lib/fido_dev.c: softfido in test builds (TESTHOOKS=1), libfido2 only otherwise
$(BUILD)/vigil-stepup: $(BUILD)/tools/vigil-stepup/vigil-stepup.o $(BUILD)/libvigil.a $(FIDO_DEPS)
	$(CC) $(EXE_LDFLAGS) -o $@ $< $(BUILD)/libvigil.a $(FIDO_LIBS) $(PKG_LIBS)

# tests/browser: npm ci from the lockfile into the build directory, once per lockfile
$(BUILD)/browser/.installed: tests/browser/package.json tests/browser/package-lock.json
	@mkdir -p $(dir $@)
	cp tests/browser/package.json tests/browser/package-lock.json $(dir $@)
	cd $(dir $@) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

.PHONY: browser-deps
browser-deps: $(BUILD)/browser/.installed


ALL_TARGETS += $(BUILD)/vigil-stepup
