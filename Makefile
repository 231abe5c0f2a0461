# crm — PGXS build.
#
#   make                 build crm.so and the install script crm--$(EXTVERSION).sql
#   make install         install into the PostgreSQL found by pg_config
#   make installcheck    pg_regress (test/sql) and isolation specs (test/specs)
#
# The quick-start commands (scripts/demo.sh, scripts/test.sh) wrap these with a
# throwaway cluster; see README.md.

EXTENSION   = crm
EXTVERSION  = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" crm.control)

MODULE_big  = crm
OBJS        = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))

# The install script of the current version is concatenated from the
# per-domain sources in sql/ (numbered so their order is explicit).  Scripts
# of released versions and upgrade scripts live in sql/versions/ and are
# installed as they are: released scripts are never edited.
SQL_SRC     = $(sort $(wildcard sql/[0-9]*.sql))
DATA_built  = crm--$(EXTVERSION).sql
DATA        = $(wildcard sql/versions/crm--*.sql)

REGRESS      = $(sort $(basename $(notdir $(wildcard test/sql/*.sql))))
REGRESS_OPTS = --inputdir=test --load-extension=crm
ISOLATION      = $(sort $(basename $(notdir $(wildcard test/specs/*.spec))))
ISOLATION_OPTS = --inputdir=test --load-extension=crm

# The server headers are system headers here: -Wextra (which CI and the
# pre-stop check add) is for crm's code, not for PostgreSQL's inline functions.
PG_CPPFLAGS = -I$(srcdir)/src -isystem $(shell $(PG_CONFIG) --includedir-server)
EXTRA_CLEAN = crm--$(EXTVERSION).sql results/ output_iso/ regression.diffs regression.out

# No LLVM bitcode: JIT inlining of crm's functions is not worth a clang
# build dependency.
override with_llvm = no

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

crm--$(EXTVERSION).sql: $(SQL_SRC) crm.control
	cat $(SQL_SRC) > $@

.PHONY: fuzz bench
fuzz:
	$(MAKE) -C test/fuzz run

bench:
	bench/run.sh
