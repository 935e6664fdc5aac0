# SPDX-License-Identifier: GPL-2.0-only
# tcpkeep: build the BPF objects, their skeletons and the loader.
# `make V=1` shows the commands.

OUTPUT    ?= build
CLANG     ?= clang
BPFTOOL   ?= bpftool
CC        ?= cc
PKG_CONFIG ?= pkg-config
PREFIX    ?= /usr/local
DESTDIR   ?=
VERSION   := 0.1.0

ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/' \
	-e 's/ppc64le/powerpc/' -e 's/s390x/s390/' -e 's/riscv64/riscv/')

BPF_SRCS  := $(wildcard bpf/*.bpf.c)
BPF_OBJS  := $(patsubst bpf/%.bpf.c,$(OUTPUT)/%.bpf.o,$(BPF_SRCS))
SKELS     := $(patsubst bpf/%.bpf.c,$(OUTPUT)/%.skel.h,$(BPF_SRCS))

# User space, one folder per layer (README: Layout). core and render never
# touch the kernel: the unit tests and fuzzers link them without libbpf,
# so a libbpf call there breaks their link.
PURE_DIRS := user/core user/render
KERNEL_DIRS := user/kernel user/serve user/cmd
PURE_SRCS := $(foreach d,$(PURE_DIRS),$(wildcard $(d)/*.c))
USER_SRCS := $(PURE_SRCS) $(foreach d,$(KERNEL_DIRS),$(wildcard $(d)/*.c))
USER_OBJS := $(patsubst user/%.c,$(OUTPUT)/user/%.o,$(USER_SRCS))
PURE_OBJS := $(patsubst user/%.c,$(OUTPUT)/user/%.o,$(PURE_SRCS))

# vmlinux.h per architecture, generated from a kernel's BTF (make vmlinux)
VMLINUX_H := vmlinux/$(ARCH)/vmlinux.h

LIBBPF_CFLAGS := $(shell $(PKG_CONFIG) --cflags libbpf 2>/dev/null)
LIBBPF_LIBS   := $(shell $(PKG_CONFIG) --libs libbpf 2>/dev/null || echo -lbpf) -lelf -lz \
	$(shell $(PKG_CONFIG) --libs libmicrohttpd 2>/dev/null || echo -lmicrohttpd)

WARN      := -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow \
	-Wstrict-prototypes -Wmissing-prototypes -Wformat=2
CFLAGS    ?= -O2 -g
# CPPFLAGS and LDFLAGS are empty unless given (make deb passes Debian's
# hardening flags through them)
ALL_CFLAGS := $(CPPFLAGS) $(CFLAGS) $(WARN) -D_GNU_SOURCE -DTCPKEEP_VERSION='"$(VERSION)"' \
	-Iinclude -Iuser -I$(OUTPUT) $(LIBBPF_CFLAGS)
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
	-I$(dir $(VMLINUX_H)) -Iinclude -Ibpf

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

.DELETE_ON_ERROR:
.SECONDARY:
.PHONY: all clean install uninstall deb test unit bench vmlinux fuzz bench-bin vmtest

all: tcpkeep

tcpkeep: $(OUTPUT)/tcpkeep
	$(Q)ln -sf $(OUTPUT)/tcpkeep $@

$(OUTPUT):
	$(Q)mkdir -p $@

# an architecture without its vmlinux.h stops here, with what to do
$(VMLINUX_H):
	@echo "tcpkeep: no $(VMLINUX_H) for $(ARCH): run make vmlinux where a kernel of that architecture with BTF runs" >&2
	@exit 1

$(OUTPUT)/%.bpf.o: bpf/%.bpf.c bpf/tcpkeep.bpf.h include/tcpkeep.h include/attrib.h $(VMLINUX_H) | $(OUTPUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@.tmp
	$(Q)$(BPFTOOL) gen object $@ $@.tmp
	$(Q)rm -f $@.tmp

$(OUTPUT)/%.skel.h: $(OUTPUT)/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst -,_,$*)_bpf > $@

# -MMD: each object's header dependencies, read back below
$(OUTPUT)/user/%.o: user/%.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

# the kernel layer includes the skeletons: they exist before it compiles
$(filter $(OUTPUT)/user/kernel/%,$(USER_OBJS)): $(SKELS)

-include $(USER_OBJS:.o=.d)

$(OUTPUT)/tcpkeep: $(USER_OBJS)
	$(call msg,BINARY,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS) $^ $(LIBBPF_LIBS) -lm -o $@

# The same binary under ThreadSanitizer (tests/test_tsan.py): run --listen
# takes snapshots in the live view and in the HTTP threads at once. Only
# our objects are instrumented; libbpf and libmicrohttpd are not.
TSAN_OBJS := $(patsubst user/%.c,$(OUTPUT)/tsan/user/%.o,$(USER_SRCS))
TSAN_CFLAGS := $(ALL_CFLAGS) -O1 -g -fno-omit-frame-pointer -fsanitize=thread

$(OUTPUT)/tsan/user/%.o: user/%.c
	$(call msg,CC-TSAN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(TSAN_CFLAGS) -MMD -MP -c $< -o $@

$(filter $(OUTPUT)/tsan/user/kernel/%,$(TSAN_OBJS)): $(SKELS)

-include $(TSAN_OBJS:.o=.d)

$(OUTPUT)/tcpkeep-tsan: $(TSAN_OBJS)
	$(call msg,BINARY,$@)
	$(Q)$(CC) $(TSAN_CFLAGS) $^ $(LIBBPF_LIBS) -lm -o $@

.PHONY: tsan
tsan: $(OUTPUT)/tcpkeep-tsan

# make test runs it too
test: $(OUTPUT)/tcpkeep-tsan

# vmlinux.h is generated from a kernel's BTF and kept in the tree, so a
# build does not depend on the build host's running kernel.
vmlinux:
	mkdir -p $(dir $(VMLINUX_H))
	$(BPFTOOL) btf dump file $${VMLINUX_BTF:-/sys/kernel/btf/vmlinux} format c > $(VMLINUX_H)

# unit tests of the pure parts: no root, no kernel
$(OUTPUT)/unit_tests: tests/unit/unit_tests.c $(PURE_OBJS)
	$(call msg,BINARY,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $^ -lm -o $@

# the reader against the kernel, batches and key by key (root; no attach)
$(OUTPUT)/reader_check: tests/reader/reader_check.c $(OUTPUT)/user/kernel/reader.o $(PURE_OBJS)
	$(call msg,BINARY,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $^ $(LIBBPF_LIBS) -lm -o $@

# tests/test_reader.py runs it, here and in the guests
test vmtest: $(OUTPUT)/reader_check

# libFuzzer targets, with ASan and UBSan: tests/fuzz/fuzz_NAME.c over the
# pure core, seeded from tests/fuzz/corpus (parsers) and corpus_NAME
FUZZ_SRCS := $(wildcard user/core/*.c)
FUZZERS := $(patsubst tests/fuzz/%.c,$(OUTPUT)/%,$(wildcard tests/fuzz/fuzz_*.c))
$(OUTPUT)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_SRCS) $(wildcard user/core/*.h) | $(OUTPUT)
	$(call msg,FUZZ,$@)
	$(Q)$(CLANG) -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-D_GNU_SOURCE -Iinclude -Iuser $< $(FUZZ_SRCS) -o $@

fuzz: $(FUZZERS)
	$(OUTPUT)/fuzz_parsers -max_total_time=60 tests/fuzz/corpus
	$(OUTPUT)/fuzz_json -max_total_time=60 tests/fuzz/corpus_json

unit: $(OUTPUT)/unit_tests
	$(OUTPUT)/unit_tests

# a stand-in for another tool's sockops program (coexistence tests)
$(OUTPUT)/other_sockops.bpf.o: tests/bpf/other_sockops.bpf.c $(VMLINUX_H) | $(OUTPUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

test: tcpkeep $(OUTPUT)/unit_tests $(OUTPUT)/other_sockops.bpf.o $(FUZZERS) bench-bin
	tests/run

# the kernel-facing tests here and under Debian's kernels, each booted in
# qemu (tests/vmtest/run)
VMTEST_KERNELS ?= host 5.10 6.1 6.1-rt 6.12
vmtest: tcpkeep $(OUTPUT)/unit_tests $(OUTPUT)/other_sockops.bpf.o bench-bin
	tests/vmtest/all $(VMTEST_KERNELS)

# the benchmark's load generator, its floor (a do-nothing program on the
# observer's tracepoint with a loader that holds it), and for the frame's
# cost a holder of idle connections and a line stamper (none installed)
bench-bin: $(OUTPUT)/churn $(OUTPUT)/floor $(OUTPUT)/floor.bpf.o $(OUTPUT)/hold $(OUTPUT)/stamp

$(OUTPUT)/churn: bench/churn.c bench/bench.h | $(OUTPUT)
	$(call msg,BINARY,$@)
	$(Q)$(CC) $(CFLAGS) $(WARN) -D_GNU_SOURCE $< -lpthread -o $@

$(OUTPUT)/hold: bench/hold.c bench/bench.h | $(OUTPUT)
	$(call msg,BINARY,$@)
	$(Q)$(CC) $(CFLAGS) $(WARN) -D_GNU_SOURCE $< -o $@

$(OUTPUT)/stamp: bench/stamp.c bench/bench.h | $(OUTPUT)
	$(call msg,BINARY,$@)
	$(Q)$(CC) $(CFLAGS) $(WARN) -D_GNU_SOURCE $< -o $@

$(OUTPUT)/floor.bpf.o: bench/floor.bpf.c $(VMLINUX_H) | $(OUTPUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(OUTPUT)/floor: bench/floor.c bench/bench.h | $(OUTPUT)
	$(call msg,BINARY,$@)
	$(Q)$(CC) $(CFLAGS) $(WARN) -D_GNU_SOURCE $(LIBBPF_CFLAGS) $< \
		$(shell $(PKG_CONFIG) --libs libbpf 2>/dev/null || echo -lbpf) -lelf -lz -o $@

bench: tcpkeep bench-bin
	bench/run

SBINDIR   ?= $(PREFIX)/sbin
MANDIR    ?= $(PREFIX)/share/man
UNITDIR   ?= $(PREFIX)/lib/systemd/system
DATADIR   ?= $(PREFIX)/share/tcpkeep
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
# the units read $(SYSCONFDIR)/default/tcpkeep whatever the prefix
SYSCONFDIR ?= /etc

# The one list of what goes where: make deb stages the package from it.
# Every systemd unit in contrib/ (their @SBINDIR@ and @SYSCONFDIR@ filled
# in), the defaults file (an existing one is kept: it is the admin's),
# the Prometheus rules with their promtool test, the Grafana dashboards.
UNITS     := $(notdir $(wildcard contrib/*.service contrib/*.mount contrib/*.timer))
RULES     := $(wildcard contrib/prometheus/*.yml)
DASHBOARDS := $(wildcard contrib/grafana/*.json)
DEFAULTS  := $(wildcard contrib/tcpkeep.default)

install: $(OUTPUT)/tcpkeep
	install -D -m 0755 $(OUTPUT)/tcpkeep $(DESTDIR)$(SBINDIR)/tcpkeep
	install -D -m 0644 contrib/tcpkeep.8 $(DESTDIR)$(MANDIR)/man8/tcpkeep.8
	install -d $(DESTDIR)$(UNITDIR)
	for u in $(UNITS); do \
		sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
			contrib/$$u > $(DESTDIR)$(UNITDIR)/$$u && \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$$u || exit 1; \
	done
ifneq ($(DEFAULTS),)
	test -e $(DESTDIR)$(SYSCONFDIR)/default/tcpkeep || \
		install -D -m 0644 $(DEFAULTS) $(DESTDIR)$(SYSCONFDIR)/default/tcpkeep
endif
	install -D -m 0644 contrib/tcpkeep.tmpfiles $(DESTDIR)$(TMPFILESDIR)/tcpkeep.conf
	install -d $(DESTDIR)$(DATADIR)/prometheus $(DESTDIR)$(DATADIR)/grafana
	$(if $(RULES),install -m 0644 $(RULES) $(DESTDIR)$(DATADIR)/prometheus/)
	$(if $(DASHBOARDS),install -m 0644 $(DASHBOARDS) $(DESTDIR)$(DATADIR)/grafana/)

# the defaults file stays: it may hold the admin's settings
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/tcpkeep $(DESTDIR)$(MANDIR)/man8/tcpkeep.8 \
		$(addprefix $(DESTDIR)$(UNITDIR)/,$(UNITS)) $(DESTDIR)$(TMPFILESDIR)/tcpkeep.conf
	rm -rf $(DESTDIR)$(DATADIR)

# A Debian package, tcpkeep_VERSION_ARCH.deb here (or in DEB_OUT): the
# binary built apart in $(OUTPUT)/deb with Debian's hardening flags, staged
# by make install under /usr (units in bookworm's /lib/systemd/system), then
# packed by contrib/deb/build. Needs dpkg-dev.
DEB_OUT   ?= .
DEB_DIR   := $(OUTPUT)/deb
DEB_FLAGS = $(shell DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --get $(1))

deb:
	rm -rf $(DEB_DIR)/root
	$(MAKE) --no-print-directory install OUTPUT=$(DEB_DIR)/obj \
		CFLAGS="$(call DEB_FLAGS,CFLAGS)" CPPFLAGS="$(call DEB_FLAGS,CPPFLAGS)" \
		LDFLAGS="$(call DEB_FLAGS,LDFLAGS)" DESTDIR=$(abspath $(DEB_DIR)/root) \
		PREFIX=/usr UNITDIR=/lib/systemd/system SYSCONFDIR=/etc
	contrib/deb/build $(VERSION) $(DEB_DIR)/root $(DEB_OUT)

clean:
	rm -rf $(OUTPUT) tcpkeep tcpkeep_*.deb
