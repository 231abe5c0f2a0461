#!/usr/bin/env bash
# The reference's table section matches the installed schema's comments.
set -euo pipefail
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS crm_docs" -c "CREATE DATABASE crm_docs"
psql -X -q -d crm_docs -c "CREATE EXTENSION crm"
rc=0
scripts/gen-reference.sh --check crm_docs || rc=1
psql -X -q -d postgres -c "DROP DATABASE crm_docs"
exit $rc
