# Thin wrapper over Meson for the commands the README gives.
#   make demo   — set up everything, then run the demo (the main job)
#   make test   — set up everything, then run every test (also under ASan/UBSan)
#   make bench  — benchmarks, printed as ratios to raw limits measured in the same run
#   make deps   — install the Debian packages the build needs (idempotent)

BUILD      ?= build
ASAN_BUILD ?= build-asan
BENCH_BUILD ?= build-release

# Debian bookworm packages. Keep in sync with meson.build's dependencies.
# python3-aiosmtpd and openssl (its certificate) run the SMTP sink of the demo and the tests.
DEBS = meson ninja-build pkg-config gcc python3 sqlite3 \
       liblua5.4-dev libsqlite3-dev libjansson-dev libcmocka-dev libssl-dev libevent-dev \
       libcurl4-openssl-dev python3-aiosmtpd openssl tzdata

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps build test test-asan test-valgrind demo bench clean

all: build

deps:
	@missing=""; for p in $(DEBS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

$(BUILD)/build.ninja:
	meson setup $(BUILD) >/dev/null

build: deps $(BUILD)/build.ninja
	@ninja -C $(BUILD) --quiet

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false >/dev/null

test: build $(ASAN_BUILD)/build.ninja
	@echo "== tests"
	@meson test -C $(BUILD) --print-errorlogs
	@echo "== tests under AddressSanitizer and UndefinedBehaviorSanitizer"
	@ninja -C $(ASAN_BUILD) >/dev/null
	@UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 meson test -C $(ASAN_BUILD) --print-errorlogs

test-valgrind: build
	meson test -C $(BUILD) --suite unit --wrapper 'valgrind --leak-check=full --error-exitcode=9 -q'

demo: build
	@tools/demo.sh $(BUILD)/nurture

$(BENCH_BUILD)/build.ninja:
	meson setup $(BENCH_BUILD) --buildtype=release >/dev/null

bench: deps $(BENCH_BUILD)/build.ninja
	@ninja -C $(BENCH_BUILD) >/dev/null
	@$(BENCH_BUILD)/bench/bench_import $(BENCH_ROWS)
	@$(BENCH_BUILD)/bench/bench_flows $(or $(BENCH_LEADS),0) $(or $(BENCH_WAITS),0)
	@$(BENCH_BUILD)/bench/bench_dispatch $(BENCH_SENDS)
	@$(BENCH_BUILD)/bench/bench_http $(BENCH_HTTP_EVENTS)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(BENCH_BUILD) demo-out
