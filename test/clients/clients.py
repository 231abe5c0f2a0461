"""Real clients against crm (driven by test/scripts/clients.sh).

    clients.py sqlalchemy   SQLAlchemy (psycopg2) reflecting schema crm: create,
                            read, update and soft delete as an application role
                            under row-level security, the tenant set per
                            transaction (SET LOCAL through set_config).
    clients.py pgbouncer    PgBouncer in transaction pooling mode: two tenants'
                            transactions interleaved on the same pooled server
                            connections; SET LOCAL never shows one tenant's
                            rows to another, a session-level SET does.

Prints one PASS/FAIL line per check and exits non-zero on any failure.  The
connection parameters and the tenants come from the environment (see
clients.sh).  Runs on Debian's interpreter and packages (python3-sqlalchemy
1.4, python3-psycopg2).
"""

import os
import sys
import threading
import time
import warnings

import psycopg2
import psycopg2.errors

failures = 0


def check(description, ok):
    """One PASS/FAIL line; counts failures."""
    global failures
    print(("PASS  " if ok else "FAIL  ") + description, flush=True)
    if not ok:
        failures += 1


def sqlstate_of(fn):
    """Run fn; the SQLSTATE of the database error it raised, or None."""
    try:
        fn()
    except psycopg2.Error as e:
        return e.pgcode
    except Exception as e:  # SQLAlchemy wraps the driver's error
        orig = getattr(e, "orig", None)
        if isinstance(orig, psycopg2.Error):
            return orig.pgcode
        raise
    return None


ORG_A = os.environ["CLIENTS_ORG_A"]
ORG_B = os.environ["CLIENTS_ORG_B"]
USER_A = os.environ["CLIENTS_USER_A"]
USER_B = os.environ["CLIENTS_USER_B"]
APP_ROLE = os.environ["CLIENTS_APP_ROLE"]
DB = os.environ["CLIENTS_DB"]


# ---------------------------------------------------------------------------
# SQLAlchemy
# ---------------------------------------------------------------------------
def orm():
    """SQLAlchemy with the application pattern installed: the tenant and the
    acting user are set at the start of every transaction of a Session,
    transaction-local (set_config(..., true) is SET LOCAL with bound values),
    from what the session was opened for (Session(info={"org", "user"}))."""
    import sqlalchemy as sa
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    @event.listens_for(Session, "after_begin")
    def set_tenant(session, transaction, connection):
        if "org" in session.info:
            connection.execute(
                sa.text("SELECT set_config('crm.organization_id', :org, true), "
                        "set_config('crm.user_id', :uid, true)"),
                {"org": session.info["org"], "uid": session.info["user"]})
    return sa, Session


def run_sqlalchemy():
    sa, Session = orm()
    from sqlalchemy.ext.automap import automap_base

    host, port = os.environ["PGHOST"], os.environ["PGPORT"]
    url = f"postgresql+psycopg2://{APP_ROLE}@/{DB}?host={host}&port={port}"
    engine = sa.create_engine(url, future=True)

    def session_for(org, user):
        return Session(engine, info={"org": org, "user": user}, future=True)

    # Reflection of schema crm as the application role.  crm.email and
    # crm.phone are types SQLAlchemy does not know: it reflects them as
    # NullType (values go in and out as strings) and says so once per column.
    # No generated relationships: every foreign key is tenant-first, so they
    # all share organization_id and automap's relationships would overlap on
    # it (an application declares the ones it wants, with overlaps=).
    # SQLAlchemy 1.4 also skips crm's expression indexes, saying so.
    Base = automap_base()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Did not recognize type '(email|phone)'")
        warnings.filterwarnings("ignore", message="Skipped unsupported reflection of expression-based index")
        Base.prepare(autoload_with=engine, schema="crm",
                     reflection_options={"only": ["account", "contact"]},
                     generate_relationship=lambda *args, **kw: None)
        meta = sa.MetaData()
        v_contact = sa.Table("v_contact", meta, schema="crm", autoload_with=engine)
    Account, Contact = Base.classes.account, Base.classes.contact
    contact_table = Contact.__table__
    check("reflection: crm.contact's primary key is (organization_id, id)",
          [c.name for c in contact_table.primary_key.columns] == ["organization_id", "id"])
    check("reflection: table and column comments come along",
          contact_table.comment == "A person the tenant deals with, usually at an account."
          and contact_table.c.last_name.comment == "Family name (required).")
    check("reflection: the reporting view crm.v_contact, with its comment",
          "account_path" in v_contact.c and (v_contact.comment or "").startswith("Live contacts"))

    # Create: the ORM sends neither id nor organization_id; both come from
    # their defaults (crm.uuid_v7(), crm.current_org()) through RETURNING.
    with session_for(ORG_A, USER_A) as s:
        parent = Account(name="Clients Holding")
        s.add(parent)
        s.flush()
        child = Account(name="Clients Subsidiary", parent_account_id=parent.id)
        s.add(child)
        s.flush()
        ann = Contact(first_name="Ann", last_name="Clients", email="Ann.Clients@Example.COM",
                      account_id=child.id)
        s.add(ann)
        s.commit()
        ann_id, ann_org, ann_by = ann.id, ann.organization_id, ann.created_by
    check("create: the new contact belongs to the session's tenant and user",
          ann_org == ORG_A and ann_by == USER_A and ann_id is not None)

    # Read: plain equality on crm.email with a bound parameter, any case.
    with session_for(ORG_A, USER_A) as s:
        found = s.query(Contact).filter(Contact.email == "ann.clients@example.com").all()
        check("read: Contact.email == :param (bound value, other case) finds the contact",
              [c.id for c in found] == [ann_id])
        found = s.query(Contact).filter(Contact.email == sa.cast("ANN.CLIENTS@example.com", sa.Text)).all()
        check("read: Contact.email == CAST(:param AS text) finds the contact",
              [c.id for c in found] == [ann_id])
        got = s.get(Contact, (ORG_A, ann_id))
        check("read: Session.get by the composite key", got is not None and got.last_name == "Clients")
        row = s.execute(sa.select(v_contact.c.full_name, v_contact.c.account_path)
                        .where(v_contact.c.id == ann_id)).one()
        check("read: the reporting view resolves the account hierarchy",
              tuple(row) == ("Ann Clients", "Clients Holding > Clients Subsidiary"))

    # The same equality with a search path that certainly lacks crm (as an
    # ORM or BI tool leaves it): crm's operators live in pg_catalog.
    bare = sa.create_engine(url, future=True, connect_args={"options": "-c search_path=public"})
    with Session(bare, info={"org": ORG_A, "user": USER_A}, future=True) as s:
        state = sqlstate_of(lambda: s.execute(
            sa.text("SELECT id FROM crm.contact WHERE email = :e"), {"e": "ANN.Clients@example.com"}).all())
        check(f"read without crm on the search path: email = :param (SQLSTATE {state})", state is None)
        found = s.execute(sa.text("SELECT id FROM crm.contact WHERE email = :e"),
                          {"e": "ANN.Clients@example.com"}).scalars().all()
        check("read without crm on the search path finds the contact, whatever the case", [str(x) for x in found] == [str(ann_id)])
    bare.dispose()

    # Update: one audited change, made by the session's user.
    with session_for(ORG_A, USER_A) as s:
        c = s.get(Contact, (ORG_A, ann_id))
        c.title = "CTO"
        s.commit()
        actions = s.execute(sa.text("SELECT action || ':' || coalesce(actor_id::text, '') "
                                    "FROM crm.history('crm.contact', :id)"), {"id": ann_id}).scalars().all()
        c = s.get(Contact, (ORG_A, ann_id))
        check("update: stored, stamped and audited as the session's user",
              c.title == "CTO" and c.updated_by == USER_A
              and actions == [f"INSERT:{USER_A}", f"UPDATE:{USER_A}"])

    # Another tenant through the same engine sees nothing of A's.
    with session_for(ORG_B, USER_B) as s:
        check("RLS: tenant B gets neither A's contact by key nor by email",
              s.get(Contact, (ORG_A, ann_id)) is None
              and s.query(Contact).filter(Contact.email == "ann.clients@example.com").count() == 0)
        state = sqlstate_of(lambda: (s.add(Contact(organization_id=ORG_A, last_name="Intruder")), s.flush()))
        check("RLS: tenant B cannot write a row into A (42501)", state == "42501")

    # No tenant set: a clear error, never an empty result.
    with Session(engine, future=True) as s:
        state = sqlstate_of(lambda: s.query(Contact).count())
        check("no tenant: querying crm.contact raises 55000", state == "55000")

    # Soft delete: the user level updates deleted_at; a hard delete is not
    # theirs.  The record leaves the live lists and the views.
    with session_for(ORG_A, USER_A) as s:
        c = s.get(Contact, (ORG_A, ann_id))
        c.deleted_at = sa.func.now()
        s.commit()
        live = s.query(Contact).filter(Contact.id == ann_id, Contact.deleted_at.is_(None)).count()
        in_view = s.execute(sa.select(sa.func.count()).select_from(v_contact)
                            .where(v_contact.c.id == ann_id)).scalar()
        kept = s.get(Contact, (ORG_A, ann_id))
        check("soft delete: hidden from live queries and crm.v_contact, the row kept",
              live == 0 and in_view == 0 and kept is not None and kept.deleted_at is not None)
        state = sqlstate_of(lambda: (s.delete(s.get(Contact, (ORG_A, ann_id))), s.flush()))
        check("soft delete: a hard DELETE by the user level is refused (42501)", state == "42501")
        s.rollback()
    engine.dispose()


# ---------------------------------------------------------------------------
# PgBouncer, transaction pooling
# ---------------------------------------------------------------------------
def bouncer(dbname):
    conn = psycopg2.connect(host=os.environ["BOUNCER_HOST"], port=os.environ["BOUNCER_PORT"],
                            dbname=dbname, user=APP_ROLE)
    return conn


def run_pgbouncer():
    pooled, single = os.environ["BOUNCER_DB"], os.environ["BOUNCER_DB_ONE"]
    tenants = {ORG_A: ("A-", USER_A), ORG_B: ("B-", USER_B)}

    # Four clients, two per tenant, on a pool of two server connections; each
    # transaction sets its tenant with SET LOCAL, writes a contact, reads all
    # it can see with a pause in between (so transactions overlap and
    # clients queue for the same server connections), and commits.
    seen_pids = {ORG_A: set(), ORG_B: set()}
    problems = []
    lock = threading.Lock()

    def client(org, n):
        prefix, user = tenants[org]
        other_prefix = "B-" if prefix == "A-" else "A-"
        conn = bouncer(pooled)
        try:
            for i in range(n):
                with conn, conn.cursor() as cur:
                    cur.execute("SET LOCAL crm.organization_id = %s", (org,))
                    cur.execute("SET LOCAL crm.user_id = %s", (user,))
                    cur.execute("INSERT INTO crm.contact (last_name) VALUES (%s)", (f"{prefix}{i}",))
                    time.sleep(0.005)
                    cur.execute("SELECT pg_backend_pid(), count(*), count(*) FILTER (WHERE last_name LIKE %s), "
                                "count(*) FILTER (WHERE organization_id <> %s) FROM crm.contact",
                                (other_prefix + "%", org))
                    pid, total, foreign_names, foreign_orgs = cur.fetchone()
                    with lock:
                        seen_pids[org].add(pid)
                        if foreign_names or foreign_orgs or total == 0:
                            problems.append((org, i, total, foreign_names, foreign_orgs))
        finally:
            conn.close()

    # Which server connection a transaction gets is up to PgBouncer and the
    # timing; on a loaded machine one round may happen to keep each tenant
    # on its own connection.  Rounds are repeated (at most 5) until some
    # connection has served both tenants; every round's transactions are
    # checked for leaks all the same.
    rounds = 0
    while rounds < 5:
        rounds += 1
        threads = [threading.Thread(target=client, args=(org, 25)) for org in (ORG_A, ORG_B, ORG_A, ORG_B)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if seen_pids[ORG_A] & seen_pids[ORG_B]:
            break
    shared = seen_pids[ORG_A] & seen_pids[ORG_B]
    check(f"pool of 2: {100 * rounds} interleaved transactions of two tenants ran on {len(seen_pids[ORG_A] | seen_pids[ORG_B])} "
          f"server connections, {len(shared)} of them serving both tenants", len(shared) >= 1)
    check("SET LOCAL: no transaction saw a row of the other tenant", not problems)

    # Every pooled server connection has forgotten the tenant after commit:
    # a transaction without SET LOCAL gets the tenant error, never rows.
    conn = bouncer(pooled)
    conn.autocommit = True
    states = set()
    for _ in range(6):
        def count():
            with conn.cursor() as cur:
                cur.execute("SELECT count(*) FROM crm.contact")
        states.add(sqlstate_of(count))
    conn.close()
    check("SET LOCAL: a later transaction without a tenant on the same pool raises 55000", states == {"55000"})

    # A pool of one server connection makes the sharing deterministic: A's
    # transaction and then B's run on the same backend; B, which sets no
    # tenant, gets the tenant error, not A's rows.
    ca, cb = bouncer(single), bouncer(single)
    with ca, ca.cursor() as cur:
        cur.execute("SET LOCAL crm.organization_id = %s", (ORG_A,))
        cur.execute("SELECT pg_backend_pid(), count(*) FROM crm.contact")
        pid_a, rows_a = cur.fetchone()
    pid_b = None

    def b_reads():
        nonlocal pid_b
        with cb, cb.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            pid_b = cur.fetchone()[0]
            cur.execute("SELECT count(*) FROM crm.contact")
    state = sqlstate_of(b_reads)
    check("pool of 1: B's transaction right after A's SET LOCAL on the same backend raises 55000",
          rows_a > 0 and pid_a == pid_b and state == "55000")

    # The unsafe pattern: a session-level SET.  Client A sets its tenant for
    # "its session", which is really the pooled server connection; client B
    # then runs a statement without setting anything and reads A's rows.
    # This is why applications behind transaction pooling must use SET LOCAL
    # (or set_config(..., true)) in every transaction, never SET.
    ca.autocommit = cb.autocommit = True
    with ca.cursor() as cur:
        cur.execute("SET crm.organization_id = %s", (ORG_A,))
    with cb.cursor() as cur:
        cur.execute("SELECT pg_backend_pid(), count(*) FILTER (WHERE last_name LIKE 'A-%%'), "
                    "bool_and(organization_id = %s) FROM crm.contact", (ORG_A,))
        pid_leak, rows_leak, all_a = cur.fetchone()
    check("UNSAFE session SET: client B, which set no tenant, read tenant A's rows on the shared backend "
          "(documented: never use session-level SET with transaction pooling)",
          pid_leak == pid_a and rows_leak > 0 and all_a)
    with ca.cursor() as cur:
        cur.execute("RESET crm.organization_id")
    ca.close()
    cb.close()

    # The ORM pattern of the README behind the pool of one: SQLAlchemy
    # sessions of A and B take turns on the same backend; each sees only its
    # own tenant's rows.
    sa, Session = orm()
    engine = sa.create_engine(f"postgresql+psycopg2://{APP_ROLE}@/{single}"
                              f"?host={os.environ['BOUNCER_HOST']}&port={os.environ['BOUNCER_PORT']}",
                              future=True)
    pids, crossed = set(), 0
    for i in range(5):
        for org, (prefix, user) in tenants.items():
            other = "B-" if prefix == "A-" else "A-"
            with Session(engine, info={"org": org, "user": user}, future=True) as s:
                s.execute(sa.text("INSERT INTO crm.contact (last_name) VALUES (:n)"), {"n": f"{prefix}orm{i}"})
                pid, foreign = s.execute(sa.text(
                    "SELECT pg_backend_pid(), count(*) FILTER (WHERE last_name LIKE :p OR organization_id <> :o) "
                    "FROM crm.contact"), {"p": other + "%", "o": org}).one()
                s.commit()
            pids.add(pid)
            crossed += foreign
    engine.dispose()
    check(f"SQLAlchemy behind the pool of 1: 10 sessions of two tenants on {len(pids)} backend, "
          "none saw the other tenant's rows", len(pids) == 1 and crossed == 0)


if __name__ == "__main__":
    {"sqlalchemy": run_sqlalchemy, "pgbouncer": run_pgbouncer}[sys.argv[1]]()
    sys.exit(1 if failures else 0)
