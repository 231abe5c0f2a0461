-- crm 0.1.0 -> 0.2.0: the changes since the release of 0.1.0, in the order they
-- were made (each later change appends its DDL here, and the same change
-- goes into sql/*.sql for fresh installs; test/scripts/upgrade.sh checks
-- that both give the same catalog and that the data stays as it was).
\echo Use "ALTER EXTENSION crm UPDATE TO '0.2.0'" to load this file. \quit
