"""dumpstream: pg_dump's SQL with roles adapted to the target, everything else byte for byte."""

from __future__ import annotations

from dbtool import dumpstream

DUMP = b'''SET statement_timeout = 0;
SELECT pg_catalog.set_config('search_path', '', false);

--
-- Name: app; Type: SCHEMA; Schema: -; Owner: alice
--

CREATE SCHEMA app;


ALTER SCHEMA app OWNER TO alice;

--
-- Name: f(); Type: FUNCTION; Schema: app; Owner: "Bob Smith"
--

CREATE FUNCTION app.f() RETURNS trigger
    LANGUAGE plpgsql
    AS $$ begin
ALTER TABLE x OWNER TO alice;
return new; end $$;


ALTER FUNCTION app.f() OWNER TO "Bob Smith";

SET default_tablespace = '';

--
-- Name: t; Type: TABLE; Schema: app; Owner: alice
--

CREATE TABLE app.t (
    id integer NOT NULL
);


ALTER TABLE app.t OWNER TO alice;

--
-- Data for Name: t; Type: TABLE DATA; Schema: app; Owner: alice
--

COPY app.t (id) FROM stdin;
-- Name: x; Type: ACL; Schema: app; Owner: alice
GRANT SELECT ON TABLE app.t TO ghost;
\\.


--
-- Name: TABLE t; Type: ACL; Schema: app; Owner: alice
--

GRANT SELECT ON TABLE app.t TO reader;
GRANT SELECT(id) ON TABLE app.t TO ghost;
GRANT ALL ON TABLE app.t TO PUBLIC;
SET SESSION AUTHORIZATION ghost;
GRANT SELECT ON TABLE app.t TO reader;
RESET SESSION AUTHORIZATION;


--
-- Name: DEFAULT PRIVILEGES FOR TABLES; Type: DEFAULT ACL; Schema: app; Owner: alice
--

ALTER DEFAULT PRIVILEGES FOR ROLE alice IN SCHEMA app GRANT SELECT ON TABLES  TO reader;
ALTER DEFAULT PRIVILEGES FOR ROLE alice IN SCHEMA app GRANT SELECT ON TABLES  TO ghost;
'''


def adapt(policy, batch=None):
    a = dumpstream.Adapter(policy, batch=batch)
    out = b"".join(a.lines(DUMP.splitlines(keepends=True)))
    return a, out


def test_everything_passes_through_when_all_roles_exist():
    a, out = adapt(dumpstream.RolePolicy({"alice", "Bob Smith", "reader", "ghost"}))
    assert out == DUMP
    assert a.adj.notes() == [] and a.adj.entries["TABLE"] == 1 and a.adj.entries["ACL"] == 1


def test_missing_roles_lose_their_owner_statements_and_grants_only():
    a, out = adapt(dumpstream.RolePolicy({"alice", "reader"}))
    removed = set(DUMP.splitlines()) - set(out.splitlines())
    assert removed == {b'ALTER FUNCTION app.f() OWNER TO "Bob Smith";',
                       b"GRANT SELECT(id) ON TABLE app.t TO ghost;",
                       b"SET SESSION AUTHORIZATION ghost;", b"RESET SESSION AUTHORIZATION;",
                       b"ALTER DEFAULT PRIVILEGES FOR ROLE alice IN SCHEMA app GRANT SELECT ON TABLES  TO ghost;"}
    # the grant made by the missing grantor went with it; the function body and the COPY data are untouched
    assert out.count(b"GRANT SELECT ON TABLE app.t TO reader;") == 1
    assert b"ALTER TABLE x OWNER TO alice;\n" in out and b"GRANT SELECT ON TABLE app.t TO ghost;\n\\.\n" in out
    assert a.adj.owners_skipped == {"Bob Smith": 1} and a.adj.grants_skipped == {"ghost": 3}


def test_owners_are_mapped_everywhere_a_role_owns_something():
    a, out = adapt(dumpstream.RolePolicy({"app_owner", "reader", "ghost", "Bob Smith"}, owners={"alice": "app_owner"}))
    assert b'ALTER SCHEMA app OWNER TO "app_owner";' in out and b'ALTER TABLE app.t OWNER TO "app_owner";' in out
    assert b'ALTER DEFAULT PRIVILEGES FOR ROLE "app_owner" IN SCHEMA app GRANT SELECT ON TABLES  TO reader;' in out
    assert b"ALTER TABLE x OWNER TO alice;" in out  # inside the function body: not a statement of the dump
    assert a.adj.owners_mapped == {"alice -> app_owner": 2}


def test_a_loading_user_who_cannot_assign_a_role_keeps_the_objects():
    a, out = adapt(dumpstream.RolePolicy({"alice", "Bob Smith", "reader", "ghost"}, assignable={"alice"}, superuser=False))
    assert b'OWNER TO "Bob Smith"' not in out and b"ALTER TABLE app.t OWNER TO alice;" in out
    assert b"SET SESSION AUTHORIZATION" not in out  # only a superuser may; that grant is left out


def test_batches_wrap_entries_in_transactions_and_errors_point_at_the_entry():
    a, out = adapt(dumpstream.RolePolicy({"alice", "Bob Smith", "reader", "ghost"}), batch=2)
    lines = out.splitlines()
    assert lines.count(b"BEGIN;") == 3 and lines.count(b"COMMIT;") == 3 and lines[-1] == b"COMMIT;"
    body = [ln for ln in lines if ln not in (b"BEGIN;", b"COMMIT;")]
    assert body == DUMP.splitlines()
    line_of_create_table = lines.index(b"CREATE TABLE app.t (") + 1
    assert a.entry_at(line_of_create_table) == "TABLE app.t"
    assert a.entry_at(lines.index(b"CREATE SCHEMA app;") + 1) == "SCHEMA app"
