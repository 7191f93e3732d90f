# Usher: one Makefile, top to bottom. `make help` lists the targets.

CC       ?= cc
PREFIX   ?= /usr/local
BUILD    ?= build
OPT      ?= -O2
CFLAGS   += -Iprotocol -I/usr/include/postgresql -I$(BUILD)/gen -std=c11 -D_GNU_SOURCE $(OPT) -g -Wall -Wextra -fPIC -pthread -MMD -MP
LDLIBS_PROTO  = -lmsgpackc
LDLIBS_SERVER = -lev -llmdb -lpq -lsodium -lmsgpackc -pthread
LDLIBS_CLIENT = -lev -lmsgpackc
LDLIBS_CLI    = -ledit
LDLIBS_TEST   = -lcmocka

# Debian packages the build and the tests need (`make deps` installs them).
DEB_PACKAGES = build-essential pkg-config libev-dev libmsgpack-dev liblmdb-dev \
               libsodium-dev libcmocka-dev libedit-dev valgrind groff-base prometheus \
               libpq-dev postgresql

# One source of truth: the version is read from the macros of client/usher.h
# (USHER_VERSION_MAJOR/MINOR/PATCH); test_abi_version checks the programs agree.
VERSION_PART = $(shell sed -n 's/^\#define USHER_VERSION_$(1)  *\([0-9][0-9]*\).*/\1/p' client/usher.h)
VERSION  := $(call VERSION_PART,MAJOR).$(call VERSION_PART,MINOR).$(call VERSION_PART,PATCH)
SOVERSION := $(call VERSION_PART,MAJOR)

# ---- sources: each folder is a layer ----
PROTO_SRC   = $(wildcard protocol/*.c)
SERVER_SRC  = $(filter-out server/main.c,$(wildcard server/*.c server/methods/*.c))
CLIENT_SRC  = $(wildcard client/*.c)
CLI_SRC     = $(wildcard tools/cli/*.c)
TOOL_COMMON = tools/common/tool_args.c
QUEUE_CONTROLS = tools/common/queue_controls.c
UNIT_SRC    = $(wildcard tests/unit/test_*.c)
INTEG_SRC   = $(wildcard tests/integration/test_*.c)
HARNESS_SRC = $(wildcard tests/integration/harness*.c)

obj = $(patsubst %.c,$(BUILD)/%.o,$(1))

PROTO_LIB  = $(BUILD)/libusherproto.a
SERVER_LIB = $(BUILD)/libusherd.a
CLIENT_LIB = $(BUILD)/libusher.a
CLIENT_SO  = $(BUILD)/libusher.so.$(VERSION)
USHERD     = $(BUILD)/usherd
USHER_ADMIN = $(BUILD)/usher-admin
USHER_CHECK = $(BUILD)/usher-check
USHER_CLI  = $(BUILD)/usher-cli
KIOSK      = $(BUILD)/kiosk
UNIT_BINS  = $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
INTEG_BINS = $(patsubst tests/integration/%.c,$(BUILD)/tests/%,$(INTEG_SRC))
# Fuzz targets (tests/fuzz/fuzz_NAME.c): each is also built with the normal
# compiler into a replay driver, build/tests/fuzz_replay_NAME, that `make test`
# runs over tests/fuzz/corpus/NAME and tests/fuzz/regressions/NAME.
FUZZ_TARGETS = $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_REPLAYS = $(patsubst %,$(BUILD)/tests/fuzz_replay_%,$(FUZZ_TARGETS))

# test_abi_collide's application, linked against libusher.a and libusher.so.
ABI_APPS = $(BUILD)/tests/abi_app_static $(BUILD)/tests/abi_app_shared

# Crash tests: the power-cut shim is LD_PRELOADed into usherd (never linked
# into anything); the other tests/crash files are linked into test_crash_*.
POWERCUT_SHIM = $(BUILD)/tests/powercut_shim.so
CRASH_SRC  = $(filter-out tests/crash/powercut_shim.c,$(wildcard tests/crash/*.c))
CRASH_BINS = $(filter $(BUILD)/tests/test_crash_%,$(INTEG_BINS))

PROGRAMS = $(USHERD) $(USHER_ADMIN) $(USHER_CHECK) $(if $(wildcard tools/usher-cli.c),$(USHER_CLI)) \
           $(if $(wildcard examples/kiosk.c),$(KIOSK)) \
           $(if $(wildcard tools/usher-bench.c),$(BUILD)/usher-bench) \
           $(if $(wildcard tools/usher-fuzz.c),$(BUILD)/usher-fuzz)
LIBS = $(PROTO_LIB) $(SERVER_LIB) $(if $(CLIENT_SRC),$(CLIENT_LIB) $(CLIENT_SO))

.SECONDARY:
.PHONY: all help deps run test test-postgres unit integration debug asan fuzz fuzz-smoke fuzz-bins fuzz-corpus bench install uninstall clean
all: $(LIBS) $(PROGRAMS) $(UNIT_BINS) $(INTEG_BINS) $(ABI_APPS) $(FUZZ_REPLAYS) $(if $(wildcard tests/crash/powercut_shim.c),$(POWERCUT_SHIM))

help:
	@echo "make            build libraries, programs and tests (-O2)"
	@echo "make test-postgres  the store and server suites against a throwaway PostgreSQL"
	@echo "make deps       install missing Debian packages ($(DEB_PACKAGES))"
	@echo "make run        deps + build + start usherd on 127.0.0.1:7700 with a demo concert in ./usher-data"
	@echo "make test       deps + build + run every unit and integration test"
	@echo "make debug      build with -O0 -g into build-debug/"
	@echo "make asan       build with AddressSanitizer into build-asan/ and run the tests"
	@echo "make fuzz       build every libFuzzer target and run each FUZZ_SECONDS (60) with tests/fuzz/usher.dict"
	@echo "make fuzz-smoke the same for about 10 s per target"
	@echo "make fuzz-corpus regenerate the seed corpus of tests/fuzz/corpus/ (tokens of the fixed fuzz keys)"
	@echo "make bench      BENCH_ROUNDS (3) rounds of usher-bench on a fresh usherd, then the anchors"
	@echo "make install    install programs, libusher, usher.h, usher.pc, man pages and the systemd unit under PREFIX=$(PREFIX)"
	@echo "make uninstall  remove exactly what make install put under PREFIX"
	@echo "make clean      remove build outputs"

deps:
	@sh tools/deps.sh $(DEB_PACKAGES)

run: deps all
	$(USHERD) --listen 127.0.0.1:7700 --data ./usher-data --demo

test: deps all
	@sh tests/run.sh $(BUILD)

unit: all
	@sh tests/run.sh $(BUILD) unit

integration: all
	@sh tests/run.sh $(BUILD) integration

debug:
	$(MAKE) BUILD=build-debug OPT=-O0 all

# The conformance and integration suites against a throwaway PostgreSQL
# (tests/postgres/run.sh starts it on a temp dir and a free port, as an
# unprivileged user, and removes it).
test-postgres: deps all
	BUILD=$(BUILD) bash tests/postgres/run.sh

asan: deps
	@sh tools/deps.sh clang libclang-rt-14-dev
	$(MAKE) BUILD=build-asan CC=clang OPT="-O1 -fsanitize=address,undefined -fno-omit-frame-pointer" \
	        LDFLAGS="-fsanitize=address,undefined" all
	@USHER_SANITIZED=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 sh tests/run.sh build-asan

# ---- libraries ----
$(PROTO_LIB): $(call obj,$(PROTO_SRC))
	@mkdir -p $(@D); rm -f $@; $(AR) rcs $@ $^
$(SERVER_LIB): $(call obj,$(SERVER_SRC))
	@mkdir -p $(@D); rm -f $@; $(AR) rcs $@ $^
# libusher.a holds ONE object: the client and protocol objects linked into a
# relocatable object (ld -r) in which every defined name but the exports listed
# in client/libusher.map (the functions of usher.h) is made local. An application or a
# sibling library may then define conn_open or msg_decode without colliding.
# In-tree programs that use the protocol layer link $(PROTO_LIB) for it.
CLIENT_OBJ  = $(BUILD)/libusher-public.o
CLIENT_SYMS = $(BUILD)/libusher.syms
$(CLIENT_OBJ): $(call obj,$(CLIENT_SRC) $(PROTO_SRC)) client/libusher.map
	@mkdir -p $(@D)
	$(LD) -r -o $@.all $(filter %.o,$^)
	sed -n 's/^ *\(usher_[a-z0-9_]*\);.*/\1/p' client/libusher.map > $(CLIENT_SYMS)
	objcopy --keep-global-symbols=$(CLIENT_SYMS) $@.all $@
	rm -f $@.all
$(CLIENT_LIB): $(CLIENT_OBJ)
	@mkdir -p $(@D); rm -f $@; $(AR) rcs $@ $^
$(CLIENT_SO): $(call obj,$(CLIENT_SRC) $(PROTO_SRC)) client/libusher.map
	@mkdir -p $(@D)
	$(CC) -shared -Wl,-soname,libusher.so.$(SOVERSION) -Wl,--version-script=client/libusher.map $(LDFLAGS) \
	      -o $@ $(filter %.o,$^) $(LDLIBS_CLIENT)
	ln -sf libusher.so.$(VERSION) $(BUILD)/libusher.so.$(SOVERSION)
	ln -sf libusher.so.$(SOVERSION) $(BUILD)/libusher.so

# ---- programs ----
$(USHERD): $(call obj,server/main.c) $(SERVER_LIB) $(PROTO_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_SERVER)
$(USHER_ADMIN): $(call obj,tools/usher-admin.c $(wildcard tools/admin/*.c) $(TOOL_COMMON) $(QUEUE_CONTROLS)) $(SERVER_LIB) $(CLIENT_LIB) $(PROTO_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_SERVER) $(LDLIBS_CLIENT)
$(USHER_CHECK): $(call obj,tools/usher-check.c $(TOOL_COMMON)) $(SERVER_LIB) $(PROTO_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_SERVER)
$(USHER_CLI): $(call obj,tools/usher-cli.c $(CLI_SRC) $(QUEUE_CONTROLS) $(TOOL_COMMON)) $(CLIENT_LIB) $(PROTO_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_CLIENT) $(LDLIBS_CLI)
$(KIOSK): $(call obj,examples/kiosk.c) $(CLIENT_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_CLIENT)
BENCH_SRC = tools/usher-bench.c $(wildcard tools/bench/*.c)
$(BUILD)/usher-bench: $(call obj,$(BENCH_SRC)) $(CLIENT_LIB) $(PROTO_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_CLIENT) -lm
FUZZ_TOOL_SRC = tools/usher-fuzz.c $(wildcard tools/fuzz/*.c) $(TOOL_COMMON)
$(BUILD)/usher-fuzz: $(call obj,$(FUZZ_TOOL_SRC)) $(PROTO_LIB)
	$(CC) $(LDFLAGS) -pthread -o $@ $^ $(LDLIBS_PROTO)

# ---- tests: every test links every layer ----
TEST_LIBS = $(SERVER_LIB) $(if $(CLIENT_SRC),$(CLIENT_LIB)) $(PROTO_LIB)
$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(TEST_LIBS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_TEST) $(LDLIBS_SERVER) $(LDLIBS_CLIENT)
$(BUILD)/tests/%: $(BUILD)/tests/integration/%.o $(call obj,$(HARNESS_SRC)) $(TEST_LIBS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_TEST) $(LDLIBS_SERVER) $(LDLIBS_CLIENT)

# The writer's fault test swaps the batch's begin and commit for its own at
# link time (no test hook in the server): see tests/unit/test_writer_faults.c.
WRITER_FAULT_WRAPS = -Wl,--wrap=store_write_begin,--wrap=store_txn_commit
$(BUILD)/tests/test_writer_faults: $(BUILD)/tests/unit/test_writer_faults.o $(TEST_LIBS)
	$(CC) $(LDFLAGS) $(WRITER_FAULT_WRAPS) -o $@ $^ $(LDLIBS_TEST) $(LDLIBS_SERVER) $(LDLIBS_CLIENT)

# An application naming its own functions like libusher's internals, linked
# against each form of the library (test_abi_collide runs both). It sees
# <usher.h> and the public library only, as an installed application would.
$(BUILD)/tests/abi/app_collide.o: tests/integration/abi/app_collide.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Iclient -c -o $@ $<
$(BUILD)/tests/abi_app_static: $(BUILD)/tests/abi/app_collide.o $(CLIENT_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_CLIENT)
$(BUILD)/tests/abi_app_shared: $(BUILD)/tests/abi/app_collide.o $(CLIENT_SO)
	$(CC) $(LDFLAGS) -o $@ $< -L$(BUILD) -lusher -Wl,-rpath,'$$ORIGIN/..' $(LDLIBS_CLIENT)
$(BUILD)/tests/test_abi_collide: | $(ABI_APPS)

# LD_PRELOAD shims some integration tests load into usherd to inject faults
# (built beside the tests, found by the test through /proc/self/exe).
$(BUILD)/tests/shims/%.so: tests/integration/shims/%.c tests/integration/shims/shim_trigger.h
	@mkdir -p $(@D)
	$(CC) -shared -fPIC $(OPT) -g -Wall -Wextra -o $@ $< -ldl
$(BUILD)/tests/test_server_disk_full: | $(BUILD)/tests/shims/fail_meta_write.so
$(BUILD)/tests/test_server_admission_health: | $(BUILD)/tests/shims/slow_sync.so

$(CRASH_BINS): $(BUILD)/tests/%: $(BUILD)/tests/integration/%.o $(call obj,$(CRASH_SRC) $(HARNESS_SRC)) $(TEST_LIBS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_TEST) $(LDLIBS_SERVER) $(LDLIBS_CLIENT)
# The shim is built without $(OPT): a sanitizer runtime belongs to usherd, not to a preloaded object.
$(POWERCUT_SHIM): tests/crash/powercut_shim.c tests/crash/powercut_journal.h
	@mkdir -p $(@D)
	$(CC) -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -fPIC -shared -o $@ $< -ldl -pthread

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

# The PostgreSQL schema versions (db/postgres/NNN_*.sql, in name order),
# compiled into usherd as C strings: pg_migrations[0] is version 1.
PG_MIGRATIONS = $(sort $(wildcard db/postgres/[0-9][0-9][0-9]_*.sql))
$(BUILD)/gen/pg_migrations.h: $(PG_MIGRATIONS) Makefile
	@mkdir -p $(@D)
	@{ echo '/* Generated from db/postgres/ by the Makefile: do not edit. */'; \
	  echo 'static const char *const pg_migrations[] = {'; \
	  for f in $(PG_MIGRATIONS); do \
	    echo "/* $$f */"; sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/    "/' -e 's/$$/\\n"/' $$f; echo '    ,'; \
	  done; echo '};'; } > $@.tmp && mv $@.tmp $@
$(BUILD)/server/store_pg_migrate.o: $(BUILD)/gen/pg_migrations.h

# The example is compiled the way an application would be: <usher.h> on the include path.
$(BUILD)/examples/kiosk.o: examples/kiosk.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Iclient -c -o $@ $<

# ---- fuzzing (libFuzzer, clang) ----
# The replay drivers: the target plus tests/fuzz/replay_main.c, normal compiler.
$(BUILD)/tests/fuzz_replay_%: $(BUILD)/tests/fuzz/fuzz_%.o $(BUILD)/tests/fuzz/replay_main.o $(TEST_LIBS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_SERVER)
# Seed generators: a target's -DFUZZ_MAKE_CORPUS mode (its own main).
$(BUILD)/tests/fuzz_make_corpus_%: tests/fuzz/fuzz_%.c $(TEST_LIBS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -DFUZZ_MAKE_CORPUS -o $@ $< $(TEST_LIBS) $(LDLIBS_SERVER)
fuzz-corpus: $(BUILD)/tests/fuzz_make_corpus_token $(BUILD)/tests/fuzz_make_corpus_dispatch
	mkdir -p tests/fuzz/corpus/token tests/fuzz/corpus/dispatch tests/fuzz/corpus/protocol
	$(BUILD)/tests/fuzz_make_corpus_token tests/fuzz/corpus/token
	$(BUILD)/tests/fuzz_make_corpus_dispatch tests/fuzz/corpus/dispatch tests/fuzz/corpus/protocol

# Instrumented builds: libraries with coverage (fuzzer-no-link) in build-fuzz/,
# each target linked with the libFuzzer main. Run inside `make BUILD=build-fuzz`.
FUZZ_SAN = -fsanitize=address,undefined -fno-sanitize-recover=undefined
fuzz-bins: $(patsubst %,$(BUILD)/fuzz/fuzz_%,$(FUZZ_TARGETS))
$(BUILD)/fuzz/fuzz_%: $(BUILD)/tests/fuzz/fuzz_%.o $(SERVER_LIB) $(PROTO_LIB)
	@mkdir -p $(@D)
	$(CC) -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $^ $(LDLIBS_SERVER)

FUZZ_SECONDS ?= 60
fuzz: deps
	@sh tools/deps.sh libfuzzer-14-dev clang
	$(MAKE) BUILD=build-fuzz CC=clang OPT="-O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link $(FUZZ_SAN)" fuzz-bins
	@for t in $(FUZZ_TARGETS); do \
	    mkdir -p build-fuzz/corpus/$$t build-fuzz/artifacts; \
	    echo "== fuzz_$$t for $(FUZZ_SECONDS) s"; \
	    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 build-fuzz/fuzz/fuzz_$$t \
	        -max_total_time=$(FUZZ_SECONDS) -malloc_limit_mb=256 -print_final_stats=1 \
	        -dict=tests/fuzz/usher.dict -artifact_prefix=build-fuzz/artifacts/$$t- \
	        build-fuzz/corpus/$$t tests/fuzz/corpus/$$t tests/fuzz/regressions/$$t || exit 1; \
	done

fuzz-smoke:
	$(MAKE) fuzz FUZZ_SECONDS=10

bench: all
	@BUILD=$(BUILD) sh tools/bench.sh

# ---- install ----
# Everything install puts under PREFIX is named here once, so uninstall
# removes exactly that (and include/usher/, which is ours alone).
INSTALL_PROGRAMS = $(filter-out $(KIOSK),$(PROGRAMS))
INSTALL_HEADERS  = client/usher.h protocol/errors.def protocol/methods.def
MAN_PAGES        = $(wildcard docs/man/*.1)
SYSTEMD_UNIT     = $(wildcard dist/usherd.service)
BINDIR     = $(DESTDIR)$(PREFIX)/bin
LIBDIR     = $(DESTDIR)$(PREFIX)/lib
INCDIR     = $(DESTDIR)$(PREFIX)/include/usher
PCDIR      = $(DESTDIR)$(PREFIX)/lib/pkgconfig
MAN1DIR    = $(DESTDIR)$(PREFIX)/share/man/man1
UNITDIR    = $(DESTDIR)$(PREFIX)/lib/systemd/system
INSTALLED  = $(addprefix $(BINDIR)/,$(notdir $(INSTALL_PROGRAMS))) \
             $(LIBDIR)/libusher.a $(LIBDIR)/libusher.so.$(VERSION) $(LIBDIR)/libusher.so.$(SOVERSION) \
             $(LIBDIR)/libusher.so $(addprefix $(INCDIR)/,$(notdir $(INSTALL_HEADERS))) $(PCDIR)/usher.pc \
             $(addprefix $(MAN1DIR)/,$(notdir $(MAN_PAGES))) $(if $(SYSTEMD_UNIT),$(UNITDIR)/usherd.service)

install: all
	install -d $(BINDIR) $(LIBDIR) $(PCDIR) $(INCDIR) $(if $(MAN_PAGES),$(MAN1DIR)) $(if $(SYSTEMD_UNIT),$(UNITDIR))
	install -m 755 $(INSTALL_PROGRAMS) $(BINDIR)/
	install -m 644 $(CLIENT_LIB) $(LIBDIR)/
	install -m 755 $(CLIENT_SO) $(LIBDIR)/
	ln -sf libusher.so.$(VERSION) $(LIBDIR)/libusher.so.$(SOVERSION)
	ln -sf libusher.so.$(SOVERSION) $(LIBDIR)/libusher.so
	install -m 644 $(INSTALL_HEADERS) $(INCDIR)/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' client/usher.pc.in > $(PCDIR)/usher.pc
	$(if $(MAN_PAGES),install -m 644 $(MAN_PAGES) $(MAN1DIR)/)
	$(if $(SYSTEMD_UNIT),sed -e 's|/usr/local/bin/|$(PREFIX)/bin/|' $(SYSTEMD_UNIT) > $(UNITDIR)/usherd.service)

uninstall:
	rm -f $(INSTALLED)
	rmdir $(INCDIR) 2>/dev/null || true   # only when empty: never a foreign file

clean:
	rm -rf build build-debug build-asan build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
