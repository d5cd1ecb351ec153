# gridgov build.  `make run` starts the suite, `make test` runs every test.
# SAN=1 builds into build-san/ with AddressSanitizer and UndefinedBehaviorSanitizer.

MAKEFLAGS += --no-print-directory
SAN ?=
ifeq ($(SAN),1)
BUILD ?= build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT := -O1 -g
else
BUILD ?= build
SANFLAGS :=
OPT := -O2 -g
endif

CC ?= cc
PKGS := libzmq jansson libcurl libmicrohttpd libpq libcrypto
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
          -Wformat=2 -Wno-format-nonliteral $(OPT) $(SANFLAGS) -MMD -MP \
          -I. -Icommon $(PKG_CFLAGS) -DGRIDGOV_VERSION='"$(VERSION)"'
LDFLAGS += $(SANFLAGS)
LDLIBS += $(PKG_LIBS) -lpthread -lm
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo 0.1.0)

COMMON_SRC := $(wildcard common/*.c)
COMMON_OBJ := $(COMMON_SRC:%.c=$(BUILD)/obj/%.o)
LIBCOMMON := $(BUILD)/libgridgov.a

INTAKE_SRC := $(filter-out services/intake/main.c,$(wildcard services/intake/*.c))
INTAKE_OBJ := $(INTAKE_SRC:%.c=$(BUILD)/obj/%.o)
LIBINTAKE := $(BUILD)/libintake.a

ROUTER_SRC := $(filter-out services/router/main.c,$(wildcard services/router/*.c))
ROUTER_OBJ := $(ROUTER_SRC:%.c=$(BUILD)/obj/%.o)
LIBROUTER := $(BUILD)/librouter.a

TALLY_SRC := $(filter-out services/tally/main.c,$(wildcard services/tally/*.c))
TALLY_OBJ := $(TALLY_SRC:%.c=$(BUILD)/obj/%.o)
LIBTALLY := $(BUILD)/libtally.a

NOTIFY_SRC := $(filter-out services/notify/main.c,$(wildcard services/notify/*.c))
NOTIFY_OBJ := $(NOTIFY_SRC:%.c=$(BUILD)/obj/%.o)
LIBNOTIFY := $(BUILD)/libnotify.a

# gridgovctl's parts but main, in a library the unit tests link too
CTL_SRC := $(filter-out tools/gridgovctl/main.c,$(wildcard tools/gridgovctl/*.c))
CTL_OBJ := $(CTL_SRC:%.c=$(BUILD)/obj/%.o)
LIBCTL := $(BUILD)/libgridgovctl.a

BINS := $(BUILD)/bin/gridgov-intake $(BUILD)/bin/gridgov-router $(BUILD)/bin/gridgov-tally $(BUILD)/bin/gridgov-notify \
        $(BUILD)/bin/gridgovctl
TEST_SRC := $(wildcard tests/unit/test_*.c tests/e2e/test_*.c)
TESTLIB_SRC := $(wildcard tests/lib/*.c)
TESTLIB_OBJ := $(TESTLIB_SRC:%.c=$(BUILD)/obj/%.o)
# Kept between builds: make would otherwise delete them as intermediates of a pattern rule.
.SECONDARY: $(TESTLIB_OBJ)
TEST_BINS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRC))
# Tools the test runner's checks call (not test binaries themselves): the WeChat crypto CLI that
# tests/xcheck/run.sh holds against the npm libraries.
XCHECK_BINS := $(BUILD)/tests/xcheck/wxcrypt_cli

.PHONY: all tests run reset-demo test test-san unit bench bench-stats clean deps check-deps lint
all: check-deps $(BINS)

check-deps:
	@pkg-config --exists $(PKGS) cmocka || { echo "missing build dependencies: run 'make deps' (or deploy/install-deps.sh)"; exit 1; }

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC  $<"
	@$(CC) $(CFLAGS) -c $< -o $@

$(LIBCOMMON): $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	@rm -f $@ && $(AR) rcs $@ $^

$(LIBINTAKE): $(INTAKE_OBJ)
	@mkdir -p $(dir $@)
	@rm -f $@ && $(AR) rcs $@ $^

$(LIBROUTER): $(ROUTER_OBJ)
	@mkdir -p $(dir $@)
	@rm -f $@ && $(AR) rcs $@ $^

$(LIBNOTIFY): $(NOTIFY_OBJ)
	@mkdir -p $(dir $@)
	@rm -f $@ && $(AR) rcs $@ $^

$(LIBTALLY): $(TALLY_OBJ)
	@mkdir -p $(dir $@)
	@rm -f $@ && $(AR) rcs $@ $^

$(LIBCTL): $(CTL_OBJ)
	@mkdir -p $(dir $@)
	@rm -f $@ && $(AR) rcs $@ $^

$(BUILD)/bin/gridgov-router: $(BUILD)/obj/services/router/main.o $(LIBROUTER) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	@echo "  LD  $@"
	@$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bin/gridgov-tally: $(BUILD)/obj/services/tally/main.o $(LIBTALLY) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	@echo "  LD  $@"
	@$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bin/gridgov-intake: $(BUILD)/obj/services/intake/main.o $(LIBINTAKE) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	@echo "  LD  $@"
	@$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# libcurl: the providers' calls (it is in LDLIBS for every binary already)
$(BUILD)/bin/gridgov-notify: $(BUILD)/obj/services/notify/main.o $(LIBNOTIFY) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	@echo "  LD  $@"
	@$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# gridgovctl redrive runs notify's own code (services/notify/redrive.c): notify's schema has one writer
$(BUILD)/bin/gridgovctl: $(BUILD)/obj/tools/gridgovctl/main.o $(LIBCTL) $(LIBNOTIFY) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	@echo "  LD  $@"
	@$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Only the benchmark uses it (bench/run.sh): CPU in bursts, to price intake's CPU apart from its latency.
$(BUILD)/bin/gridgov-cotenant: bench/cotenant.c
	@mkdir -p $(dir $@)
	@echo "  LD  $@"
	@$(CC) $(filter-out -MMD -MP,$(CFLAGS)) $(LDFLAGS) -o $@ $< -lpthread

# Only the benchmark uses it (bench/tally.sh): casts and closes straight to tally's command socket.
$(BUILD)/bin/gridgov-tally-load: $(BUILD)/obj/bench/tally_load.o $(LIBCOMMON)
	@mkdir -p $(dir $@)
	@echo "  LD  $@"
	@$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/%.c $(TESTLIB_OBJ) $(LIBINTAKE) $(LIBROUTER) $(LIBTALLY) $(LIBCTL) $(LIBNOTIFY) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	@echo "  LD  $@"
	@$(CC) $(CFLAGS) -Iservices/intake -Iservices/router -Iservices/tally -Iservices/notify -Itools/gridgovctl -Itests/lib $(LDFLAGS) -o $@ $< $(TESTLIB_OBJ) $(LIBINTAKE) $(LIBROUTER) $(LIBTALLY) $(LIBCTL) $(LIBNOTIFY) $(LIBCOMMON) $(LDLIBS) -lcmocka

# The test runner starts its own PostgreSQL (unless GRIDGOV_DB is set) and prints
# a closing "N passed, N failed" line.
test:
	deploy/install-deps.sh
	$(MAKE) all tests
	BUILD=$(BUILD) tests/run.sh

tests: $(TEST_BINS) $(XCHECK_BINS)

test-san:
	$(MAKE) SAN=1 test

unit: all $(TEST_BINS)
	BUILD=$(BUILD) tests/run.sh unit

run:
	deploy/install-deps.sh
	$(MAKE) all
	BUILD=$(BUILD) deploy/run.sh

# The demo county as new: drops make run's database (every ticket in it) and loads the demo again.
# Only make run's own cluster, only while make run is stopped, and only with YES=1.
reset-demo: all
	BUILD=$(BUILD) deploy/reset-demo.sh $(if $(filter 1 yes,$(YES)),--yes)

bench: all $(BUILD)/bin/gridgov-cotenant $(BUILD)/bin/gridgov-tally-load
	BUILD=$(BUILD) bench/run.sh
	BUILD=$(BUILD) bench/assign.sh
	BUILD=$(BUILD) bench/notify.sh
	BUILD=$(BUILD) bench/tally.sh
	BUILD=$(BUILD) bench/field.sh

# The closure-rate API over 1,000,000 tickets (loads them first: about 2 minutes).
bench-stats: all
	BUILD=$(BUILD) bench/stats_1m.sh

deps:
	deploy/install-deps.sh

# cppcheck, and the ownership rules (deploy/schema-owners.txt) read from the C sources and the
# migration files; tests/run.sh checks the same rules against the migrated database.
lint:
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability --std=c11 --inline-suppr --library=tests/cppcheck.cfg \
	  -I common -I services/intake common services tools bench
	python3 tests/ownership_check.py --static

clean:
	rm -rf build build-san

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
