#!/usr/bin/env bash
# Build, install and run the crm demo on a throwaway cluster inside the
# checkout: two organizations of demo data and a short tour of real queries.
#
#   scripts/demo.sh          tour, then stop the cluster
#   scripts/demo.sh --keep   leave the cluster running and print how to connect
. "$(dirname "$0")/lib.sh"

keep=${1:-}
crm_deps
crm_build
crm_overlay
crm_cluster_start crm_demo
createdb crm_demo
psql -X -q -d crm_demo -f "$CRM_ROOT/scripts/demo.sql" >/dev/null

acme=$(psql -X -At -d crm_demo -c "SELECT id FROM crm.organization WHERE slug = 'acme'")
globex=$(psql -X -At -d crm_demo -c "SELECT id FROM crm.organization WHERE slug = 'globex'")
kwik=$(psql -X -At -d crm_demo -c "SELECT id FROM crm.account WHERE name = 'Kwik-E-Mart'")

tour() { # title, then SQL run as the application role acting for Acme
	printf '\n\033[1m-- %s\033[0m\n' "$1"
	shift
	PGOPTIONS="-c crm.organization_id=$acme -c search_path=public,crm" psql -X -d crm_demo -U postgres \
		-c "SET ROLE crm_app" "$@" 2>&1 | sed '/^SET$/d' || true
}

echo
echo "crm demo: organizations Acme ($acme) and Globex ($globex)"
tour "Acme's session sees only Acme's contacts (row-level security)" \
	-c "SELECT first_name, last_name, email, title FROM crm.contact ORDER BY last_name"
tour "Ranked search across contacts, accounts and leads: 'ann' and 'initech'" \
	-c "SELECT entity, title, subtitle, round(rank::numeric, 3) AS rank FROM crm.search('ann')" \
	-c "SELECT entity, title, subtitle FROM crm.search('initech', 5)"
tour "A customer 360: Ann Smith, her account, colleagues and the last 5 activities" \
	-c "SELECT c.first_name || ' ' || c.last_name AS contact, a.name AS account, p.name AS parent_account,
	           (SELECT count(*) FROM crm.contact o WHERE o.organization_id = c.organization_id AND o.account_id = a.id AND o.id <> c.id) AS colleagues
	      FROM crm.contact c JOIN crm.account a ON a.organization_id = c.organization_id AND a.id = c.account_id
	      LEFT JOIN crm.account p ON p.organization_id = a.organization_id AND p.id = a.parent_account_id
	     WHERE c.email = 'ann.smith@initech.example'" \
	-c "SELECT type, subject, activity_at::date, status FROM crm.activity
	     WHERE contact_id = (SELECT id FROM crm.contact WHERE email = 'ann.smith@initech.example')
	     ORDER BY activity_at DESC LIMIT 5"
tour "The audit trail of Ann's record: who changed what (only the changed columns)" \
	-c "SELECT h.action, u.name AS actor, h.old_values,
	           CASE WHEN h.action = 'INSERT' THEN jsonb_build_object('columns', (SELECT count(*) FROM jsonb_object_keys(h.new_values)), 'email', h.new_values -> 'email')
	                ELSE h.new_values END AS new_values
	      FROM crm.history('crm.contact', (SELECT id FROM crm.contact WHERE email = 'ann.smith@initech.example')) h
	      LEFT JOIN crm.app_user u ON u.organization_id = crm.current_org() AND u.id = h.actor_id"
tour "Custom fields are validated: a tier that is not on the picklist is refused" \
	-c "UPDATE crm.account SET custom_fields = '{\"tier\": \"platinum\"}' WHERE name = 'Umbrella Freight'"
tour "Descriptive fields take values from the organization's picklists; the error lists them" \
	-c "UPDATE crm.account SET industry = 'Widgets' WHERE name = 'Umbrella Freight'"
tour "Acme cannot attach a contact to Globex's account, even knowing its id ($kwik)" \
	-c "INSERT INTO crm.contact (account_id, last_name) VALUES ('$kwik', 'Intruder')"
printf '\n\033[1m-- A BI role limited to Acme cannot switch to Globex\033[0m\n'
PGOPTIONS="-c crm.organization_id=$globex" psql -X -d crm_demo -U acme_reporting -c "SELECT count(*) FROM crm.contact" 2>&1 || true
tour "Derived data is healthy (crm.verify() returns no drift)" \
	-c "SELECT * FROM crm.verify()"
printf '\n\033[1m-- Scheduled jobs go to pg_cron when it is there\033[0m\n'
psql -X -d crm_demo -c "SELECT * FROM crm.schedule_jobs()" -c "SELECT jobname, schedule, command FROM cron.job"

if [ "$keep" = "--keep" ]; then
	trap - EXIT
	echo
	echo "The cluster keeps running. Connect with:"
	echo "  psql -h $PGSOCK_DIR -p $CRM_PGPORT -U postgres crm_demo"
	echo "Stop it with:"
	echo "  runuser -u postgres -- $PGBIN/pg_ctl -D $PGDATA_DIR stop"
fi
