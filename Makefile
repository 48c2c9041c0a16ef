EXTENSION    = trovella
MODULE_big   = trovella
OBJS         = $(patsubst %.c,%.o,$(wildcard src/*.c))
DATA         = $(wildcard sql/*.sql)
TESTS        = $(wildcard test/sql/*.sql)
REGRESS      = $(patsubst test/sql/%.sql,%,$(TESTS))
REGRESS_OPTS = --inputdir=test --load-extension=$(EXTENSION)
EXTRA_CLEAN  = results regression.diffs regression.out tmp_check

# Zero warnings beyond PGXS's own flags (fmgr's signatures leave parameters unused).
PG_CFLAGS    = -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers

PG_CONFIG   ?= pg_config
PGXS        := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

$(OBJS): $(wildcard src/*.h)

.PHONY: demo test bench deps

deps:
	scripts/install-deps

# The two commands of the README: each installs what is missing first.
demo: deps
	$(MAKE) all install
	scripts/demo

test: deps
	$(MAKE) all install
	scripts/test

bench: deps
	$(MAKE) all install
	scripts/bench

# make dist: a release tarball of what is committed (git archive of HEAD).
VERSION      = $(shell sed -nE "s/^default_version = '([^']+)'.*/\1/p" $(EXTENSION).control)

.PHONY: dist fuzz sanitize valgrind
valgrind:
	scripts/valgrind

fuzz:
	scripts/fuzz

sanitize:
	scripts/sanitize

dist:
	git archive --format=tar.gz --prefix=$(EXTENSION)-$(VERSION)/ -o $(EXTENSION)-$(VERSION).tar.gz HEAD
	@echo $(EXTENSION)-$(VERSION).tar.gz
