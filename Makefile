EXTENSION    = trovella
MODULE_big   = trovella
OBJS         = $(patsubst %.c,%.o,$(wildcard src/*.c))
DATA         = $(wildcard sql/*.sql)
TESTS        = $(wildcard test/sql/*.sql)
REGRESS      = $(patsubst test/sql/%.sql,%,$(TESTS))
REGRESS_OPTS = --inputdir=test --load-extension=$(EXTENSION)
EXTRA_CLEAN  = results regression.diffs regression.out tmp_check

EXTVERSION   = $(shell sed -nE "s/^default_version = '([^']+)'.*/\1/p" $(EXTENSION).control)

# Zero warnings beyond PGXS's own flags (fmgr's signatures leave parameters unused).
PG_CFLAGS    = -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers
PG_CPPFLAGS  = -DTROVELLA_VERSION='"$(EXTVERSION)"'

PG_CONFIG   ?= pg_config
PGXS        := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

$(OBJS): $(wildcard src/*.h)
src/trovella.o: $(EXTENSION).control

.PHONY: demo test test-citus bench deps

deps:
	scripts/install-deps

# The two commands of the README: each installs what is missing first,
# demo only what building and the demo need, test everything its suites use.
demo:
	scripts/install-deps core
	$(MAKE) all install
	scripts/demo

test: deps
	$(MAKE) all install
	scripts/test

bench: deps
	$(MAKE) all install
	scripts/bench

# The Citus suite alone (make test runs it too): Citus 13.0.5 on the host's
# PostgreSQL 15, a coordinator and two workers on 127.0.0.1.
test-citus: deps
	$(MAKE) all install
	TROVELLA_SUITES=citus scripts/run-suites; status=$$?; cat tmp_check/summary; exit $$status

# The assert-enabled suite alone (make matrix runs it, on the host): pg_regress, pgTAP
# and the TAP scripts on the host's major built with --enable-cassert from
# Debian's source package (built once, cached; scripts/cassert).
.PHONY: test-cassert
test-cassert:
	scripts/install-deps core cassert
	TROVELLA_SUITES=cassert scripts/run-suites; status=$$?; cat tmp_check/summary; exit $$status

# make dist: a release tarball of what is committed (git archive of HEAD).
.PHONY: dist fuzz soak sanitize valgrind deb matrix matrix-bench matrix-newcomer
# Debian packages for this machine's PostgreSQL (debian/, pg_buildext).
deb:
	scripts/install-deps core package
	scripts/deb

# Every suite on PostgreSQL 15, 17, 18 and 19 in cached Debian roots; the
# packages built and tested in clean roots (scripts/matrix).
matrix:
	scripts/install-deps core matrix cassert
	scripts/matrix

# The README's two commands in new trixie (17) and forky (18) roots, as a
# newcomer runs them: no LANG, empty package lists, a plain clone.
matrix-newcomer:
	scripts/install-deps matrix
	scripts/matrix newcomer

# make bench in those roots: MATRIX_VERSIONS=18 make matrix-bench
matrix-bench:
	scripts/install-deps matrix
	scripts/matrix bench

valgrind:
	scripts/valgrind

# faults under load: backends killed, an immediate stop (not part of make test)
soak: deps
	$(MAKE) all install
	scripts/soak

# libFuzzer on the pure cores, then random SQL from sqlsmith against a server
fuzz:
	scripts/install-deps core fuzz
	$(MAKE) all install
	scripts/fuzz
	scripts/sqlsmith

sanitize:
	scripts/sanitize

dist:
	git archive --format=tar.gz --prefix=$(EXTENSION)-$(EXTVERSION)/ -o $(EXTENSION)-$(EXTVERSION).tar.gz HEAD
	@echo $(EXTENSION)-$(EXTVERSION).tar.gz
