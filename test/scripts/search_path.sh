#!/usr/bin/env bash
# search_path hijack: schema public is writable by everyone (the default
# before PostgreSQL 15, and what many installations still grant) and sits
# ahead of crm on the search_path of the session that uses crm.  An attacker
# (a read-only crm role that may also create in public) plants there
#   - a function of the same name and argument types as every function of
#     schema crm (what an unqualified call to a crm function would find
#     first),
#   - functions and operators that match crm's own types better than the
#     built-ins do (lower(crm.email), = (crm.email, text), ...), which win
#     over pg_catalog's even though pg_catalog is searched first,
# each counting in a sequence and raising.  Then, with search_path
# "public, crm", every ```sql example of doc/reference.md runs (as docs.sh
# runs them) and test/scripts/search_path.sql makes every kind of write and
# calls the main functions as an application role; a second round puts
# public ahead of pg_catalog too ("public, pg_catalog, crm", with = on
# uuid and text and + on integer shadowed) for the writes: crm's triggers
# must not run planted code as the owner of crm's tables.  Passes when
# everything ran and no planted function was ever called.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
DB=crm_hijack
failed=0
check() { # description, command...
	local d=$1; shift
	if "$@"; then echo "PASS  $d"; else echo "FAIL  $d"; failed=$((failed + 1)); fi
}
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$DB" "$@"; }

psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
q -c "CREATE EXTENSION crm"
psql -X -q -d postgres -c "DROP ROLE IF EXISTS crm_hijacker" -c "DROP ROLE IF EXISTS crm_hijack_app" \
	-c "CREATE ROLE crm_hijacker LOGIN" -c "CREATE ROLE crm_hijack_app LOGIN" >/dev/null 2>&1
org=$(q -c "SELECT crm.create_organization('Hijack Co')")
user=$(q -c "SET crm.organization_id = '$org'" -c "INSERT INTO crm.app_user (name, email) VALUES ('Doc User', 'doc@acme.example') RETURNING id")
contact=$(q -c "SET crm.organization_id = '$org'" -c "INSERT INTO crm.contact (first_name, last_name, email, title) VALUES ('Ann', 'Smith', 'ann@initech.example', 'Engineer') RETURNING id")
event=$(q -c "SET crm.organization_id = '$org'" -c "SELECT crm.emit('docs.example', 'crm.contact', '$contact')")
account=$(q -c "SET crm.organization_id = '$org'" -c "INSERT INTO crm.account (name) VALUES ('Initech Docs') RETURNING id")
q -c "SELECT crm.grant_access('crm_hijack_app', 'admin')" >/dev/null
# the attacker: a read-only crm role (it can name crm's types) that may create in public
q -c "SELECT crm.grant_access('crm_hijacker', 'readonly')" >/dev/null
q -c "GRANT CREATE, USAGE ON SCHEMA public TO PUBLIC"

# The attacker's plants (as crm_hijacker: read-only in crm, CREATE on public).
PGUSER=crm_hijacker q >/dev/null <<'SQL'
CREATE SEQUENCE public.hijack_seq;
GRANT ALL ON SEQUENCE public.hijack_seq TO PUBLIC;
CREATE TABLE public.hijack_planted (what text);
DO $plant$
DECLARE
	f record;
	body constant text := $b$BEGIN PERFORM pg_catalog.nextval('public.hijack_seq'); RAISE EXCEPTION 'hijacked: %%', %L; END$b$;
	n integer := 0;
	t text;
	fn text;
BEGIN
	-- same name and argument types as every function of schema crm
	FOR f IN SELECT p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid) AS args,
					pg_catalog.pg_get_function_result(p.oid) AS result
			   FROM pg_catalog.pg_proc p WHERE p.pronamespace = 'crm'::regnamespace AND p.prokind = 'f' LOOP
		BEGIN
			EXECUTE pg_catalog.format('CREATE FUNCTION public.%I(%s) RETURNS %s LANGUAGE plpgsql AS %L',
									  f.proname, f.args, f.result,
									  pg_catalog.format(body, 'public.' || f.proname || '(' || f.args || ')'));
			INSERT INTO public.hijack_planted VALUES ('public.' || f.proname || '(' || f.args || ')');
		EXCEPTION WHEN duplicate_function OR feature_not_supported OR invalid_function_definition
					   OR datatype_mismatch OR wrong_object_type OR syntax_error OR insufficient_privilege THEN
			NULL;	-- pseudo-type arguments (cstring, internal): nothing a query could call by name
		END;
	END LOOP;
	-- built-ins matched better on crm's own types
	FOREACH t IN ARRAY ARRAY['crm.email', 'crm.phone'] LOOP
		FOREACH fn IN ARRAY ARRAY['lower', 'upper', 'btrim', 'length', 'md5', 'text', 'quote_literal', 'quote_nullable',
								  'to_jsonb', 'jsonb_build_array', 'array_to_string', 'concat', 'reverse', 'initcap'] LOOP
			BEGIN
				EXECUTE pg_catalog.format('CREATE FUNCTION public.%I(%s) RETURNS text LANGUAGE plpgsql AS %L', fn, t,
										  pg_catalog.format(body, 'public.' || fn || '(' || t || ')'));
				INSERT INTO public.hijack_planted VALUES ('public.' || fn || '(' || t || ')');
			EXCEPTION WHEN duplicate_function THEN NULL;
			END;
		END LOOP;
		FOREACH fn IN ARRAY ARRAY['position', 'strpos', 'starts_with', 'split_part'] LOOP
			BEGIN
				EXECUTE pg_catalog.format('CREATE FUNCTION public.%I(%s, text) RETURNS text LANGUAGE plpgsql AS %L', fn, t,
										  pg_catalog.format(body, 'public.' || fn || '(' || t || ', text)'));
				INSERT INTO public.hijack_planted VALUES ('public.' || fn || '(' || t || ', text)');
			EXCEPTION WHEN duplicate_function THEN NULL;
			END;
		END LOOP;
		-- operators between crm's type and text, both ways, and on the type itself
		EXECUTE pg_catalog.format('CREATE FUNCTION public.hijack_op(%s, %s) RETURNS boolean LANGUAGE plpgsql AS %L', t, t,
								  pg_catalog.format(body, 'operator on ' || t));
		EXECUTE pg_catalog.format('CREATE FUNCTION public.hijack_op(%s, text) RETURNS boolean LANGUAGE plpgsql AS %L', t,
								  pg_catalog.format(body, 'operator on ' || t || ', text'));
		EXECUTE pg_catalog.format('CREATE FUNCTION public.hijack_op(text, %s) RETURNS boolean LANGUAGE plpgsql AS %L', t,
								  pg_catalog.format(body, 'operator on text, ' || t));
		FOREACH fn IN ARRAY ARRAY['=', '<>', '<', '>', '~~', '~~*', '~', '~*'] LOOP
			EXECUTE pg_catalog.format('CREATE OPERATOR public.%s (FUNCTION = public.hijack_op, LEFTARG = %s, RIGHTARG = %s)', fn, t, t);
			EXECUTE pg_catalog.format('CREATE OPERATOR public.%s (FUNCTION = public.hijack_op, LEFTARG = %s, RIGHTARG = text)', fn, t);
			EXECUTE pg_catalog.format('CREATE OPERATOR public.%s (FUNCTION = public.hijack_op, LEFTARG = text, RIGHTARG = %s)', fn, t);
			INSERT INTO public.hijack_planted VALUES ('operator public.' || fn || ' on ' || t);
		END LOOP;
	END LOOP;
END;
$plant$;
GRANT SELECT ON public.hijack_planted TO PUBLIC;
SQL
planted=$(q -c "SELECT count(*) FROM public.hijack_planted")
check "the attacker planted $planted functions and operators in public" test "${planted:-0}" -gt 100
called() { q -c "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM public.hijack_seq"; }

# Round 1: search_path "public, crm" (pg_catalog first, implicitly).
hostile="-c search_path=public,crm -c crm.organization_id=$org"
blocks=$(mktemp -d)
trap 'rm -rf "$blocks"' EXIT
awk -v dir="$blocks" '
	/^<!-- docs: not run -->/ { skip = 1; next }
	/^```sql/ { n++; inblock = 1; file = sprintf("%s/%03d%s.sql", dir, n, skip ? "-skip" : ""); skip = 0; next }
	/^```/ { inblock = 0; next }
	inblock { print > file }
	!inblock && NF > 0 { skip = skip && /^<!--/ }
' "$root/doc/reference.md"
ran=0 bad=0
psql -X -q -d postgres -c "DROP ROLE IF EXISTS acme_app" >/dev/null 2>&1
for f in "$blocks"/*.sql; do
	case $f in *-skip.sql) continue ;; esac
	sed -e "s/<organization id>/$org/g" -e "s/<acme id>/$org/g" -e "s/<app_user id>/$user/g" \
		-e "s/'…'/'$contact'/g" -e "s/<contact id>/$contact/g" -e "s/<account id>/$account/g" -e "s/<payload of the notification>/$event/g" "$f" >"$f.run"
	ran=$((ran + 1))
	if ! out=$(PGOPTIONS="$hostile" psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f "$f.run" 2>&1); then
		bad=$((bad + 1))
		echo "      example $(basename "$f" .sql) of doc/reference.md failed:"
		echo "$out" | grep -m 3 -E 'ERROR|hijacked' | sed 's/^/      > /'
	fi
done
psql -X -q -d postgres -c "DROP ROLE IF EXISTS acme_app" >/dev/null 2>&1
check "every example of doc/reference.md runs with public ahead of crm ($ran examples, $bad failed)" test "$bad" = 0
check "no planted function was called by the examples ($(called) calls)" test "$(called)" = 0

run_app() { # SEARCH_PATH
	PGUSER=crm_hijack_app PGOPTIONS="-c search_path=$1 -c crm.organization_id=$org -c crm.user_id=$user" \
		psql -X -q -At -d "$DB" -f "$root/test/scripts/search_path.sql" >"$blocks/app.out" 2>&1
}
if run_app public,crm; then rc=0; else rc=$?; fi
check "writes and the main functions as an application role with search_path public, crm" test "$rc" = 0
[ "$rc" = 0 ] || grep -m 3 -E 'ERROR|hijacked' "$blocks/app.out" | sed 's/^/      > /'
check "no planted function was called by them ($(called) calls)" test "$(called)" = 0

# Round 2: public ahead of pg_catalog as well, with the commonest built-in
# operators shadowed: crm's C triggers run their statements as the owner of
# crm's tables and must not resolve an operator to public.
PGUSER=crm_hijacker q >/dev/null <<'SQL'
CREATE FUNCTION public.hijack_uuid_eq(uuid, uuid) RETURNS boolean LANGUAGE plpgsql
	AS $$BEGIN PERFORM pg_catalog.nextval('public.hijack_seq'); RAISE EXCEPTION 'hijacked: = (uuid, uuid)'; END$$;
CREATE OPERATOR public.= (FUNCTION = public.hijack_uuid_eq, LEFTARG = uuid, RIGHTARG = uuid);
CREATE FUNCTION public.hijack_text_eq(text, text) RETURNS boolean LANGUAGE plpgsql
	AS $$BEGIN PERFORM pg_catalog.nextval('public.hijack_seq'); RAISE EXCEPTION 'hijacked: = (text, text)'; END$$;
CREATE OPERATOR public.= (FUNCTION = public.hijack_text_eq, LEFTARG = text, RIGHTARG = text);
CREATE FUNCTION public.hijack_int_plus(integer, integer) RETURNS integer LANGUAGE plpgsql
	AS $$BEGIN PERFORM pg_catalog.nextval('public.hijack_seq'); RAISE EXCEPTION 'hijacked: + (integer, integer)'; END$$;
CREATE OPERATOR public.+ (FUNCTION = public.hijack_int_plus, LEFTARG = integer, RIGHTARG = integer);
SQL
if run_app "public,pg_catalog,crm"; then rc=0; else rc=$?; fi
check "the same with public ahead of pg_catalog too (= on uuid and text, + on integer shadowed)" test "$rc" = 0
[ "$rc" = 0 ] || grep -m 3 -A3 -E 'ERROR|hijacked' "$blocks/app.out" | sed 's/^/      > /'
check "no crm trigger or function ran a planted function or operator ($(called) calls)" test "$(called)" = 0

psql -X -q -d postgres -c "DROP DATABASE $DB" -c "DROP ROLE crm_hijacker" -c "DROP ROLE crm_hijack_app" -c "DROP ROLE IF EXISTS acme_app" >/dev/null
echo "search_path: $failed check(s) failed"
[ "$failed" = 0 ]
