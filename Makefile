# SPDX-License-Identifier: MIT
# sbx: one non-recursive Makefile; every output goes under build/.
#   make            build everything (installs missing packages on first use)
#   make run        build, then start sbxd in the foreground (prints a quickstart)
#   make demo       build, then run demonstration one-shot sandboxes
#   make test       build and run every test; ends with "N passed, N failed, N skipped"
#   make bench      launch, sbxd, meter-cost, networking, checkpoint and image benchmarks
#                   (tools/bench/; builds the python image)
#   make fuzz       build the libFuzzer targets (build/fuzz/)
#   make check-layers  host/'s rooms include only downwards (run by make test)
#   make format / format-check
#   make SANITIZE=address,undefined   sanitizer build;  V=1 for loud output
#   make SANITIZE=thread B=build-tsan check-build, then
#     B=build-tsan tests/run.sh test-sbxd (test-gpu, test-ckpt): sbxd's threads under
#     ThreadSanitizer (a report makes sbxd exit 66, which fails the case)

VERSION := 0.1.0
B := build
CC ?= cc
CLANG ?= clang
CLANG_FORMAT ?= clang-format-14

Q := $(if $(V),,@)
SETUP := $(B)/.setup-stamp

WARN := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-unused-parameter
# A designated initializer that overrides part of another (".limits = x,
# .limits.flag = 1" zeroes the rest of x) is an error with either compiler; GCC misses
# some that clang catches, so CI builds with both (make CC=clang B=build-clang).
# libseccomp's argument macros leave a field to zero, which clang reports.
ifneq ($(shell $(CC) --version 2>/dev/null | grep -c clang),0)
WARN += -Winitializer-overrides -Wno-missing-field-initializers
else
WARN += -Woverride-init
endif
HARDEN := -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fstack-clash-protection -fcf-protection
CFLAGS ?= -O2 -g
DEFS := -DSBX_VERSION='"$(VERSION)"' -MMD -MP
BASE_CFLAGS := -std=gnu11 $(WARN) $(HARDEN) $(DEFS)
ifneq ($(SANITIZE),)
BASE_CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer
SAN_LDFLAGS := -fsanitize=$(SANITIZE)
endif
# Evaluated when a recipe runs, after setup has installed the -dev packages.
PKG_CFLAGS = $(shell pkg-config --cflags libseccomp libcap jansson)
PKG_LIBS = $(shell pkg-config --libs libseccomp libcap jansson)
ALL_CFLAGS = $(BASE_CFLAGS) $(PKG_CFLAGS) $(CFLAGS) -fPIE
LDFLAGS_ALL = -pie -Wl,-z,relro,-z,now $(SAN_LDFLAGS) $(LDFLAGS)

SANDBOX_SRCS := sandbox/spec.c sandbox/privs.c sandbox/jsonpos.c sandbox/sysfilter.c sandbox/cgroup.c \
	sandbox/image.c sandbox/sandbox.c sandbox/child.c sandbox/text.c sandbox/ctl.c \
	sandbox/idmap.c sandbox/rootfs.c sandbox/instance.c sandbox/launch.c
SANDBOX_OBJS := $(SANDBOX_SRCS:%.c=$(B)/%.o)
LIBSANDBOX := $(B)/libsandbox.a

# Pure host modules (parsers, no I/O): linked by sbxd, the tests and the fuzzers.
HOST_PURE_SRCS := host/edge/http.c host/edge/connect.c host/edge/form.c host/domain/apispec.c host/domain/netparse.c host/sys/b64.c host/billing/rates.c \
	host/billing/window.c host/billing/writers.c \
	host/sys/criuimg.c
LIBHOST := $(B)/libsbxhost.a
HOST_LIBS := -lhttp_parser -lm
# The daemon's own modules (I/O: the ring, SQLite, files).
SBXD_SRCS := host/sbxd.c host/options.c \
	host/sys/log.c host/sys/loop.c host/sys/store.c host/sys/meter.c host/sys/usage.c host/sys/devices.c \
	host/sys/nvml.c host/sys/layer.c host/sys/criu.c host/sys/netlink.c host/sys/nft.c \
	host/sys/tree.c host/sys/unpack.c host/sys/recorder.c host/domain/images.c host/domain/templates.c host/domain/warm.c \
	host/billing/ledger.c \
	host/domain/reply.c host/domain/box.c host/domain/metering.c host/domain/launch.c host/domain/lifecycle.c host/domain/readopt.c host/domain/exec.c host/domain/watch.c host/domain/files.c host/domain/logs.c host/domain/bill.c host/domain/gpu.c host/domain/snap.c host/domain/checkpoint.c host/domain/fork.c host/domain/restore.c host/domain/network.c host/domain/netguard.c host/domain/oci.c \
	host/edge/server.c host/edge/budget.c host/edge/reply.c host/edge/listen.c host/edge/api.c host/edge/metrics.c host/edge/export.c \
	host/edge/e2b.c
SBXD_LIBS := -luring -lsqlite3 -lcrypto -lpthread -lbpf -ldl -lnftables -larchive -lz
# The CLI: main.c (the table of verbs), a file per verb or family of verbs, common.c.
SBX_SRCS := tools/sbx/main.c tools/sbx/common.c tools/sbx/runopts.c tools/sbx/run.c \
	tools/sbx/create.c tools/sbx/exec.c tools/sbx/cp.c tools/sbx/ls.c tools/sbx/inspect.c \
	tools/sbx/rm.c tools/sbx/logs.c tools/sbx/usage.c tools/sbx/snap.c tools/sbx/top.c \
	tools/sbx/bill.c tools/sbx/gpus.c tools/sbx/port.c tools/sbx/image.c tools/client.c
# The OCI runtime (runc's command line) for containerd.
OCI_SRCS := tools/oci/main.c tools/oci/util.c tools/oci/config.c tools/oci/state.c \
	tools/oci/run.c tools/oci/exec.c tools/oci/ctl.c tools/oci/register.c tools/oci/ckpt.c

# eBPF: CO-RE objects against this kernel's BTF, and libbpf skeletons; all generated.
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(B)/bpf/%.bpf.o,$(wildcard bpf/*.bpf.c))
BPF_SKELS := $(BPF_OBJS:%.bpf.o=%.skel.h)

UNIT_TESTS := $(patsubst tests/unit/%.c,$(B)/tests/%,$(wildcard tests/unit/test-*.c))
INTEG_C_TESTS := $(patsubst tests/integ/%.c,$(B)/tests/%,$(wildcard tests/integ/test-*.c))
HELPERS := $(patsubst tests/helpers/%.c,$(B)/tests/helpers/%,$(wildcard tests/helpers/*.c))
FUZZERS := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz-*.c))
FUZZ_REPLAY := $(FUZZERS:%=$(B)/tests/%-replay)

IMAGES := $(B)/images/base/manifest.json $(B)/images/host/manifest.json
# Benchmark programs: built by make test too, so that every change keeps them building.
BENCH := $(B)/bench-launch $(B)/bench-sbxd $(B)/bench-meter

.PHONY: all run demo test check-build check-layers bench fuzz format format-check clean setup images
.SECONDARY:
all: $(B)/sbx $(B)/sbxd $(B)/sbx-init $(B)/sbx-tar $(B)/sbx-oci $(IMAGES)

$(SETUP): tools/setup.sh
	@mkdir -p $(B)
	$(Q)bash tools/setup.sh
	@touch $@
setup: $(SETUP)

$(B)/%.o: %.c | $(SETUP)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIBSANDBOX): $(SANDBOX_OBJS)
	$(Q)rm -f $@ && ar rcs $@ $^

# The CLIs (sbx-full, sbx-oci) are static PIEs: a one-shot launcher's start-up is on the
# latency path, and loading seven shared objects cost it 0.6 ms (sanitizer builds link
# the libraries statically but stay dynamic, as the sanitizers' runtimes need). The
# linker's one warning there, silenced, is SQLite's extension loader calling dlopen,
# which sbx never reaches.
CLI_LDFLAGS = $(if $(SANITIZE),-pie,-static-pie -Wl,--no-warnings) -Wl,-z,relro,-z,now \
	$(SAN_LDFLAGS) $(LDFLAGS)
comma := ,
CLI_LIBS = -Wl,-Bstatic $(PKG_LIBS) -lhttp_parser -lbpf -lelf -lz $(if $(SANITIZE),-Wl$(comma)-Bdynamic)

$(LIBHOST): $(HOST_PURE_SRCS:%.c=$(B)/%.o)
	$(Q)rm -f $@ && ar rcs $@ $^

# sbx-full: the CLI on glibc, with what needs SQLite or libbpf (runfull.c). sbx is the same
# CLI against musl (below), which runs sbx-full for those; a sanitizer build's sbx is this.
SBX_FULL := $(if $(SANITIZE),$(B)/sbx,$(B)/sbx-full)
$(SBX_FULL): $(SBX_SRCS:%.c=$(B)/%.o) $(B)/tools/sbx/runfull.o $(B)/host/sys/meter.o \
		$(B)/host/sys/usage.o $(LIBHOST) $(LIBSANDBOX)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CLI_LDFLAGS) -o $@ $^ $(CLI_LIBS) -lsqlite3 -lm

$(B)/sbx-oci: $(OCI_SRCS:%.c=$(B)/%.o) $(B)/tools/client.o $(B)/host/sys/usage.o \
		$(B)/host/sys/meter.o $(B)/host/sys/criu.o $(B)/host/sys/layer.o $(LIBHOST) $(LIBSANDBOX)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CLI_LDFLAGS) -o $@ $^ $(CLI_LIBS) -lm

$(B)/bpf/vmlinux.h: | $(SETUP)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  BTF     $@")
	$(Q)bpftool btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp && mv $@.tmp $@

$(B)/bpf/%.bpf.o: bpf/%.bpf.c bpf/meter.h $(B)/bpf/vmlinux.h
	@$(if $(Q),echo "  BPF     $<")
	$(Q)$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_x86 -I$(B)/bpf -Ibpf -Wall -Werror -c -o $@ $<

$(B)/bpf/%.skel.h: $(B)/bpf/%.bpf.o
	$(Q)bpftool gen skeleton $< name $*_bpf > $@.tmp && mv $@.tmp $@

$(B)/host/sys/meter.o: $(B)/bpf/meter.skel.h
$(B)/host/sys/meter.o: ALL_CFLAGS += -I$(B)/bpf
$(B)/host/sys/devices.o: $(B)/bpf/devices.skel.h
$(B)/host/sys/devices.o: ALL_CFLAGS += -I$(B)/bpf

$(B)/sbxd: $(SBXD_SRCS:%.c=$(B)/%.o) $(LIBHOST) $(LIBSANDBOX)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS) $(HOST_LIBS) $(SBXD_LIBS)

# PID 1 of every sandbox, and the tar CRIU runs: static, since images need not carry a
# libc, and against musl (Debian's musl-tools): glibc's start-up probes the CPU's caches
# with cpuid, which costs 0.7 ms per exec in a VM, and its static binary is nine times
# the size (page cache and page tables of every sandbox). musl-gcc sees the kernel's
# headers through a directory of links beside the build, not /usr/include (glibc's own).
MUSL_INC := $(B)/musl-include
MUSL_INC_LINKS = mkdir -p $(MUSL_INC) && ln -sfn /usr/include/linux /usr/include/asm-generic \
	/usr/include/$(shell gcc -print-multiarch)/asm $(MUSL_INC)/
MUSL_GCC = musl-gcc -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-unused-parameter \
	-Woverride-init -O2 -static -isystem $(MUSL_INC)
MUSL_CC = $(MUSL_INC_LINKS) && $(MUSL_GCC)
# sbx-init is a static PIE, at a random address (and so is the stack it moves to beside
# it, init.c). musl-gcc's specs know only the dynamic start files, so the link names musl's own
# for a static PIE. Without RELRO, which musl's static start never applies: the few
# addresses it relocates then share one page with its data, the one page of it an idle
# sbx-init writes.
MUSL_LIB = /usr/lib/$(subst -linux-gnu,-linux-musl,$(shell gcc -print-multiarch))
MUSL_PIE_BASE = -fPIE -nostartfiles -Wl,-pie,--no-dynamic-linker
MUSL_PIE = $(MUSL_PIE_BASE),-z,norelro
MUSL_PIE_START = $(MUSL_LIB)/rcrt1.o $(MUSL_LIB)/crti.o $(shell musl-gcc -print-file-name=crtbeginS.o)
MUSL_PIE_END = $(shell musl-gcc -print-file-name=crtendS.o) $(MUSL_LIB)/crtn.o
$(B)/sbx-init: sandbox/init.c sandbox/ctl.h sandbox/nsutil.h sandbox/launch.h sandbox/spec.h \
		sandbox/filepath.h | $(SETUP)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $@ (static PIE, musl)")
	$(Q)$(MUSL_CC) $(MUSL_PIE) -Wl,--sort-section=name -o $@ $(MUSL_PIE_START) $< $(MUSL_PIE_END)
$(B)/sbx-tar: tools/tar/sbx-tar.c | $(SETUP)
	@$(if $(Q),echo "  CC      $@ (static, musl)")
	$(Q)$(MUSL_CC) -o $@ $<

# sbx, the CLI, is a static PIE against musl too: `sbx run` then starts 0.4-0.65 ms sooner
# than on glibc (its start-up's cpuid probes, and loaded segments 6.7 times the size).
# Debian ships libseccomp, libcap, jansson and http-parser for glibc only, so
# tools/musl-libs.sh builds them from the host's Debian source packages into $(B)/musl,
# with the hardening below. Neither libbpf (its libelf needs glibc's extensions) nor SQLite
# is among them: a run that needs one is sbx-full's (tools/sbx/lean.c). musl has no
# _FORTIFY_SOURCE; RELRO, which its static start does not apply, lean.c applies. The
# billing window and writers, which need SQLite's types, are not sbx's.
MUSL_DEPS := $(B)/musl/versions
MUSL_HARDEN := $(filter-out -D_FORTIFY_SOURCE=%,$(HARDEN))
LEAN_CFLAGS = -fPIE $(MUSL_HARDEN) $(CFLAGS) -isystem $(B)/musl/include $(DEFS)
LEAN_OBJS := $(SBX_SRCS:%.c=$(B)/musl-obj/%.o) $(B)/musl-obj/tools/sbx/lean.o
LEAN_LIBOBJS := $(SANDBOX_SRCS:%.c=$(B)/musl-obj/%.o) $(patsubst %.c,$(B)/musl-obj/%.o,\
	$(filter-out host/billing/window.c host/billing/writers.c,$(HOST_PURE_SRCS)))
$(MUSL_DEPS): tools/musl-libs.sh tools/debsrc.sh | $(SETUP)
	$(Q)$(MUSL_INC_LINKS) && bash tools/musl-libs.sh $(B)/musl $(MUSL_INC) "$(MUSL_HARDEN)"
$(B)/musl-obj/%.o: %.c $(MUSL_DEPS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $< (musl)")
	$(Q)$(MUSL_GCC) $(LEAN_CFLAGS) -c -o $@ $<
$(B)/musl-obj/libsbx.a: $(LEAN_LIBOBJS)
	$(Q)rm -f $@ && ar rcs $@ $^
ifndef SANITIZE
$(B)/sbx: $(LEAN_OBJS) $(B)/musl-obj/libsbx.a $(MUSL_DEPS) | $(SBX_FULL)
	@$(if $(Q),echo "  LD      $@ (static PIE, musl)")
	$(Q)$(MUSL_GCC) $(MUSL_PIE_BASE),-z,relro,-z,now -o $@ $(MUSL_PIE_START) \
		$(filter %.o %.a,$^) -L$(B)/musl/lib -lseccomp -lcap -ljansson -lhttp_parser \
		$(MUSL_PIE_END)
endif

# An image is rebuilt when its builder or a file of its recipe (or of common/) changes.
image_srcs = images/build.sh $(wildcard images/common/* images/common/etc/* images/$(1)/* \
	images/$(1)/etc/*)
$(B)/images/base/manifest.json: $(call image_srcs,base) $(B)/sbx-init | $(SETUP)
	@$(if $(Q),echo "  IMAGE   base")
	$(Q)bash images/build.sh base $(B)/images/base $(B)/sbx-init
$(B)/images/host/manifest.json: $(call image_srcs,host) | $(SETUP)
	@$(if $(Q),echo "  IMAGE   host")
	$(Q)bash images/build.sh host $(B)/images/host
# Debian images (mmdebstrap, about a minute each): built by `make images`, `make bench`
# (python) or `sbx image build NAME` through sbxd; not by `make`.
DEBIAN_IMAGES := python node agent
$(DEBIAN_IMAGES:%=$(B)/images/%/manifest.json): $(B)/images/%/manifest.json: \
		images/build.sh $(wildcard images/common/* images/common/etc/*) images/%/recipe \
		images/%/manifest.json | $(SETUP)
	@$(if $(Q),echo "  IMAGE   $*")
	$(Q)bash images/build.sh $* $(B)/images/$*
images: $(IMAGES) $(DEBIAN_IMAGES:%=$(B)/images/%/manifest.json)

# ---- tests ----
$(B)/tests/test-%: $(B)/tests/unit/test-%.o $(LIBHOST) $(LIBSANDBOX)
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS) $(HOST_LIBS)

# The ledger against SQLite: sbxd's database (store.c) in a temporary directory.
$(B)/tests/test-ledger: $(B)/tests/unit/test-ledger.o $(B)/host/billing/ledger.o \
		$(B)/host/sys/store.o $(LIBHOST) $(LIBSANDBOX)
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS) $(HOST_LIBS) -lsqlite3 -lcrypto

$(B)/tests/test-%: $(B)/tests/integ/test-%.o $(LIBHOST) $(LIBSANDBOX) $(B)/sbx-init
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $(filter %.o %.a,$^) $(PKG_LIBS) $(HOST_LIBS)

# Helpers run inside sandboxes (the base image has no libc): static.
$(B)/tests/helpers/%: tests/helpers/%.c | $(SETUP)
	@mkdir -p $(dir $@)
	$(Q)$(CC) -std=gnu11 $(WARN) -O2 -static -o $@ $<

# Fuzz targets are replayed over their corpus by make test (a plain driver),
# and built for libFuzzer by make fuzz.
$(B)/tests/fuzz-%-replay: $(B)/tests/fuzz/fuzz-%.o $(B)/tests/fuzz/replay.o $(LIBHOST) $(LIBSANDBOX)
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS) $(HOST_LIBS)
# sbx-oci's parser: its own sources beside (in make fuzz too).
OCI_FUZZ_SRCS := tools/oci/config.c tools/oci/util.c
$(B)/tests/fuzz-oci-config-replay: $(B)/tests/fuzz/fuzz-oci-config.o $(B)/tests/fuzz/replay.o \
		$(OCI_FUZZ_SRCS:%.c=$(B)/%.o) $(LIBHOST) $(LIBSANDBOX)
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $^ $(PKG_LIBS) $(HOST_LIBS)

# A stand-in for libnvidia-ml.so.1 (sbxd --nvml-lib), for the GPU tests.
$(B)/tests/libnvidia-ml-test.so: tests/nvml/nvml-test.c host/sys/nvml-abi.h | $(SETUP)
	@mkdir -p $(dir $@)
	$(Q)$(CC) -std=gnu11 $(WARN) -O2 -shared -fPIC -o $@ $<

fuzz: $(SETUP)
	@mkdir -p $(B)/fuzz
	$(Q)for f in $(FUZZERS); do \
		$(CLANG) -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined $$(pkg-config --cflags libseccomp libcap jansson) \
			-o $(B)/fuzz/$$f tests/fuzz/$$f.c $(SANDBOX_SRCS) $(HOST_PURE_SRCS) \
			$$([ $$f = fuzz-oci-config ] && echo $(OCI_FUZZ_SRCS)) \
			$$(pkg-config --libs libseccomp libcap jansson) $(HOST_LIBS) || exit 1; \
		echo "  FUZZ    $(B)/fuzz/$$(basename $$f)  (run: $(B)/fuzz/$$f $(B)/fuzz/new-corpus tests/fuzz/corpus/$${f#fuzz-})"; \
	done

# Everything make test runs, built (CI also builds it with clang: CC=clang B=build-clang).
check-build: all $(UNIT_TESTS) $(INTEG_C_TESTS) $(HELPERS) $(FUZZ_REPLAY) \
		$(B)/tests/libnvidia-ml-test.so $(BENCH)

# The rooms of host/ include only downwards (tools/check-layers.sh says the order).
check-layers:
	$(Q)bash tools/check-layers.sh

# The E2B SDK the E2B tests drive, pinned by tests/e2b/package-lock.json, from the
# host's npm configuration.
E2B_SDK := tests/e2b/node_modules/.sbx-installed
$(E2B_SDK): tests/e2b/package.json tests/e2b/package-lock.json | $(SETUP)
	$(Q)cd tests/e2b && npm ci --no-audit --no-fund --loglevel=error >/dev/null
	$(Q)touch $@

test: check-build check-layers $(E2B_SDK)
	$(Q)bash tests/run.sh

$(B)/bench-launch: tools/bench/bench-launch.c $(LIBSANDBOX)
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS_ALL) -o $@ $< $(LIBSANDBOX) $(PKG_LIBS)
$(B)/bench-sbxd: tools/bench/bench-sbxd.c | $(SETUP)
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS_ALL) -o $@ $< -lhttp_parser -lpthread
$(B)/bench-meter: tools/bench/bench-meter.c $(B)/host/sys/meter.o $(B)/host/sys/usage.o $(LIBSANDBOX)
	$(Q)$(CC) $(ALL_CFLAGS) -I$(B)/bpf $(LDFLAGS_ALL) -o $@ $< $(B)/host/sys/meter.o \
		$(B)/host/sys/usage.o $(LIBSANDBOX) $(PKG_LIBS) -lbpf

bench: all $(BENCH) $(E2B_SDK) $(B)/tests/helpers/getppid-loop $(B)/images/python/manifest.json
	$(Q)bash tools/bench/launch.sh
	$(Q)bash tools/bench/sbxd.sh
	$(Q)bash tools/bench/meter.sh
	$(Q)bash tools/bench/net.sh
	$(Q)bash tools/bench/bill.sh
	$(Q)bash tools/bench/ckpt.sh
	$(Q)bash tools/bench/images.sh
	$(Q)bash tools/bench/e2b.sh
	$(Q)bash tools/bench/oci.sh
	$(Q)bash tools/bench/peers.sh
	$(Q)bash tools/bench/scale.sh

# sbxd in the foreground with its built-in defaults; `make demo` shows one-shot runs.
run: all
	$(Q)exec $(B)/sbxd

demo: all
	$(Q)bash tools/demo.sh

FORMAT_FILES = $(shell git ls-files '*.c' '*.h' 2>/dev/null)
format:
	$(Q)$(CLANG_FORMAT) -i $(FORMAT_FILES)
format-check:
	$(Q)$(CLANG_FORMAT) --dry-run -Werror $(FORMAT_FILES)

clean:
	rm -rf $(B)

-include $(shell find $(B) -path '$(B)/images' -prune -o -name '*.d' -type f -print 2>/dev/null)
