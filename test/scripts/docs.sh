#!/usr/bin/env bash
# The reference tells the truth:
#  1. its "Tables" section matches the installed schema's comments;
#  2. every ```sql example in doc/reference.md runs without error against a
#     database with crm installed and a little data.  Placeholders are filled
#     in: '<organization id>' (and '<acme id>') the organization, '<app_user
#     id>' a user of it, '…' and '<contact id>' a contact of it, '<account
#     id>' an account of it, '<payload of the notification>'
#     an outbox event; each example runs in its own session acting for that
#     organization.  An example that cannot run as it stands (it shows a
#     driver's $1 parameter, say) is preceded by the line
#     <!-- docs: not run -->.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
failed=0
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS crm_docs" -c "CREATE DATABASE crm_docs"
psql -X -q -d crm_docs -c "CREATE EXTENSION crm"
"$root"/scripts/gen-reference.sh --check crm_docs || failed=$((failed + 1))

q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d crm_docs "$@"; }
org=$(q -c "SELECT crm.create_organization('Acme Docs')")
user=$(q -c "SET crm.organization_id = '$org'" -c "INSERT INTO crm.app_user (name, email) VALUES ('Doc User', 'doc@acme.example') RETURNING id")
contact=$(q -c "SET crm.organization_id = '$org'" -c "INSERT INTO crm.contact (first_name, last_name, email, title) VALUES ('Ann', 'Smith', 'ann@initech.example', 'Engineer') RETURNING id")
event=$(q -c "SET crm.organization_id = '$org'" -c "SELECT crm.emit('docs.example', 'crm.contact', '$contact')")
account=$(q -c "SET crm.organization_id = '$org'" -c "INSERT INTO crm.account (name) VALUES ('Initech Docs') RETURNING id")
q -c "DROP ROLE IF EXISTS acme_app" >/dev/null 2>&1

blocks=$(mktemp -d)
awk -v dir="$blocks" '
	/^<!-- docs: not run -->/ { skip = 1; next }
	/^```sql/ { n++; inblock = 1; file = sprintf("%s/%03d%s.sql", dir, n, skip ? "-skip" : ""); skip = 0; next }
	/^```/ { inblock = 0; next }
	inblock { print > file }
	!inblock && NF > 0 { skip = skip && /^<!--/ }
' "$root/doc/reference.md"

for f in "$blocks"/*.sql; do
	name=$(basename "$f" .sql)
	case $name in *-skip) echo "skip  example ${name%-skip} (marked not run)"; continue ;; esac
	sed -e "s/<organization id>/$org/g" -e "s/<acme id>/$org/g" -e "s/<app_user id>/$user/g" \
		-e "s/'…'/'$contact'/g" -e "s/<contact id>/$contact/g" -e "s/<account id>/$account/g" -e "s/<payload of the notification>/$event/g" "$f" >"$f.run"
	if out=$(PGOPTIONS="-c crm.organization_id=$org" psql -X -q -v ON_ERROR_STOP=1 -d crm_docs -f "$f.run" 2>&1); then
		echo "PASS  example $name of doc/reference.md runs"
	else
		echo "FAIL  example $name of doc/reference.md:"
		sed 's/^/        /' "$f"
		echo "$out" | sed 's/^/      > /' | tail -5
		failed=$((failed + 1))
	fi
done
rm -rf "$blocks"
psql -X -q -d postgres -c "DROP DATABASE crm_docs"
psql -X -q -d postgres -c "DROP ROLE IF EXISTS acme_app" >/dev/null 2>&1
echo "docs: $failed check(s) failed"
[ $failed = 0 ]
