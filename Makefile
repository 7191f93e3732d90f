# Usher: one Makefile, top to bottom. `make help` lists the targets.

CC       ?= cc
PREFIX   ?= /usr/local
BUILD    ?= build
OPT      ?= -O2
CFLAGS   += -Iprotocol -std=c11 -D_GNU_SOURCE $(OPT) -g -Wall -Wextra -fPIC -pthread -MMD -MP
LDLIBS_PROTO  = -lmsgpackc
LDLIBS_SERVER = -lev -llmdb -lsodium -lmsgpackc -pthread
LDLIBS_CLIENT = -lev -lmsgpackc
LDLIBS_CLI    = -ledit
LDLIBS_TEST   = -lcmocka

# Debian packages the build and the tests need (`make deps` installs them).
DEB_PACKAGES = build-essential pkg-config libev-dev libmsgpack-dev liblmdb-dev \
               libsodium-dev libcmocka-dev libedit-dev valgrind prometheus

VERSION  = 1.0.0
SOVERSION = 1

# ---- sources: each folder is a layer ----
PROTO_SRC   = $(wildcard protocol/*.c)
SERVER_SRC  = $(filter-out server/main.c,$(wildcard server/*.c server/methods/*.c))
CLIENT_SRC  = $(wildcard client/*.c)
CLI_SRC     = $(wildcard tools/cli/*.c)
TOOL_COMMON = tools/common/tool_args.c
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
.PHONY: all help deps run test unit integration debug asan fuzz fuzz-smoke fuzz-bins fuzz-corpus bench install clean
all: $(LIBS) $(PROGRAMS) $(UNIT_BINS) $(INTEG_BINS) $(FUZZ_REPLAYS) $(if $(wildcard tests/crash/powercut_shim.c),$(POWERCUT_SHIM))

help:
	@echo "make            build libraries, programs and tests (-O2)"
	@echo "make deps       install missing Debian packages ($(DEB_PACKAGES))"
	@echo "make run        deps + build + start usherd on 127.0.0.1:7700 with a demo concert in ./usher-data"
	@echo "make test       deps + build + run every unit and integration test"
	@echo "make debug      build with -O0 -g into build-debug/"
	@echo "make asan       build with AddressSanitizer into build-asan/ and run the tests"
	@echo "make fuzz       build every libFuzzer target and run each FUZZ_SECONDS (60) with tests/fuzz/usher.dict"
	@echo "make fuzz-smoke the same for about 10 s per target"
	@echo "make fuzz-corpus regenerate the seed corpus of tests/fuzz/corpus/ (tokens of the fixed fuzz keys)"
	@echo "make bench      BENCH_ROUNDS (3) rounds of usher-bench on a fresh usherd, then the anchors"
	@echo "make install    install programs, libusher, usher.h and usher.pc under PREFIX=$(PREFIX)"
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
$(CLIENT_LIB): $(call obj,$(CLIENT_SRC) $(PROTO_SRC))
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
$(USHER_ADMIN): $(call obj,tools/usher-admin.c $(TOOL_COMMON)) $(SERVER_LIB) $(CLIENT_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_SERVER) $(LDLIBS_CLIENT)
$(USHER_CHECK): $(call obj,tools/usher-check.c $(TOOL_COMMON)) $(SERVER_LIB) $(PROTO_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_SERVER)
$(USHER_CLI): $(call obj,tools/usher-cli.c $(CLI_SRC)) $(CLIENT_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_CLIENT) $(LDLIBS_CLI)
$(KIOSK): $(call obj,examples/kiosk.c) $(CLIENT_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_CLIENT)
BENCH_SRC = tools/usher-bench.c $(wildcard tools/bench/*.c)
$(BUILD)/usher-bench: $(call obj,$(BENCH_SRC)) $(CLIENT_LIB)
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

# LD_PRELOAD shims some integration tests load into usherd to inject faults
# (built beside the tests, found by the test through /proc/self/exe).
$(BUILD)/tests/shims/%.so: tests/integration/shims/%.c
	@mkdir -p $(@D)
	$(CC) -shared -fPIC $(OPT) -g -Wall -Wextra -o $@ $< -ldl
$(BUILD)/tests/test_server_disk_full: | $(BUILD)/tests/shims/fail_meta_write.so

$(CRASH_BINS): $(BUILD)/tests/%: $(BUILD)/tests/integration/%.o $(call obj,$(CRASH_SRC) $(HARNESS_SRC)) $(TEST_LIBS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_TEST) $(LDLIBS_SERVER) $(LDLIBS_CLIENT)
# The shim is built without $(OPT): a sanitizer runtime belongs to usherd, not to a preloaded object.
$(POWERCUT_SHIM): tests/crash/powercut_shim.c tests/crash/powercut_journal.h
	@mkdir -p $(@D)
	$(CC) -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -fPIC -shared -o $@ $< -ldl -pthread

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

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
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include/usher
	install -m 755 $(filter-out $(KIOSK),$(PROGRAMS)) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(CLIENT_LIB) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(CLIENT_SO) $(DESTDIR)$(PREFIX)/lib/
	ln -sf libusher.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libusher.so.$(SOVERSION)
	ln -sf libusher.so.$(SOVERSION) $(DESTDIR)$(PREFIX)/lib/libusher.so
	install -m 644 client/usher.h protocol/errors.def protocol/methods.def $(DESTDIR)$(PREFIX)/include/usher/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' client/usher.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/usher.pc

clean:
	rm -rf build build-debug build-asan build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
