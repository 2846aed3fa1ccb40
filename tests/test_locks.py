"""dbtool.locks: the documented lock level, rewrite and scan of each statement form."""

from __future__ import annotations

import pytest
from pglast import parser

from dbtool import locks
from dbtool.locks import ACCESS_EXCLUSIVE as AE, EXCLUSIVE as EX, LockContext, ROW_EXCLUSIVE as RE, SHARE, \
    SHARE_ROW_EXCLUSIVE as SRE, SHARE_UPDATE_EXCLUSIVE as SUE


def node(sql):
    return parser.parse_sql(sql)[0].stmt


def eff(sql, version=13):
    return {(e.table or e.index): (e.lock, e.rewrites, e.scans) for e in locks.effects(node(sql), LockContext(version))}


@pytest.mark.parametrize("sql, expected", [
    ("ALTER TABLE o ADD COLUMN a text", {"o": (AE, False, False)}),
    ("ALTER TABLE o ADD COLUMN a uuid DEFAULT gen_random_uuid()", {"o": (AE, True, True)}),
    ("ALTER TABLE o ADD COLUMN a bigserial", {"o": (AE, True, True)}),
    ("ALTER TABLE o ADD COLUMN a int NOT NULL", {"o": (AE, False, True)}),
    ("ALTER TABLE o ADD COLUMN a bigint REFERENCES c (id)", {"o": (AE, False, False), "c": (SRE, False, False)}),
    ("ALTER TABLE o ALTER COLUMN a TYPE bigint", {"o": (AE, True, True)}),
    ("ALTER TABLE o ALTER COLUMN a SET NOT NULL", {"o": (AE, False, True)}),
    ("ALTER TABLE o ALTER COLUMN a DROP NOT NULL", {"o": (AE, False, False)}),
    ("ALTER TABLE o ALTER COLUMN a SET DEFAULT 1", {"o": (AE, False, False)}),
    ("ALTER TABLE o ALTER COLUMN a SET STATISTICS 500", {"o": (SUE, False, False)}),
    ("ALTER TABLE o SET (fillfactor = 70, autovacuum_enabled = false)", {"o": (SUE, False, False)}),
    ("ALTER TABLE o SET (user_catalog_table = true)", {"o": (AE, False, False)}),
    ("ALTER TABLE o ADD CONSTRAINT c CHECK (a > 0)", {"o": (AE, False, True)}),
    ("ALTER TABLE o ADD CONSTRAINT c CHECK (a > 0) NOT VALID", {"o": (AE, False, False)}),
    ("ALTER TABLE o ADD CONSTRAINT f FOREIGN KEY (c) REFERENCES c (id)", {"o": (SRE, False, True), "c": (SRE, False, True)}),
    ("ALTER TABLE o ADD CONSTRAINT f FOREIGN KEY (c) REFERENCES c (id) NOT VALID", {"o": (SRE, False, False), "c": (SRE, False, False)}),
    ("ALTER TABLE o VALIDATE CONSTRAINT f", {"o": (SUE, False, True)}),
    ("ALTER TABLE o ADD CONSTRAINT u UNIQUE (a)", {"o": (AE, False, True)}),
    ("ALTER TABLE o ADD CONSTRAINT u UNIQUE USING INDEX i", {"o": (AE, False, False)}),
    ("ALTER TABLE o DISABLE TRIGGER ALL", {"o": (SRE, False, False)}),
    ("ALTER TABLE o SET TABLESPACE t2", {"o": (AE, True, True)}),
    ("ALTER TABLE o CLUSTER ON o_idx", {"o": (SUE, False, False)}),
    ("ALTER TABLE o DETACH PARTITION p", {"o": (AE, False, False), "p": (AE, False, False)}),
    ("ALTER TABLE o DETACH PARTITION p CONCURRENTLY", {"o": (SUE, False, False), "p": (SUE, False, False)}),
    ("CREATE INDEX i ON o (a)", {"o": (SHARE, False, True)}),
    ("CREATE INDEX CONCURRENTLY i ON o (a)", {"o": (SUE, False, True)}),
    ("DROP INDEX i", {"i": (AE, False, False)}),
    ("DROP INDEX CONCURRENTLY i", {"i": (SUE, False, False)}),
    ("DROP TABLE a, s.b", {"a": (AE, False, False), "s.b": (AE, False, False)}),
    ("DROP TRIGGER t ON o", {"o": (AE, False, False)}),
    ("TRUNCATE a, b", {"a": (AE, False, False), "b": (AE, False, False)}),
    ("VACUUM FULL o", {"o": (AE, True, True)}),
    ("VACUUM o", {"o": (SUE, False, True)}),
    ("ANALYZE o", {"o": (SUE, False, True)}),
    ("CLUSTER o USING o_idx", {"o": (AE, True, True)}),
    ("REINDEX TABLE o", {"o": (SHARE, False, True)}),
    ("REINDEX TABLE CONCURRENTLY o", {"o": (SUE, False, True)}),
    ("REFRESH MATERIALIZED VIEW v", {"v": (AE, True, True)}),
    ("REFRESH MATERIALIZED VIEW CONCURRENTLY v", {"v": (EX, False, True)}),
    ("LOCK TABLE o", {"o": (AE, False, False)}),
    ("LOCK TABLE o IN SHARE ROW EXCLUSIVE MODE", {"o": (SRE, False, False)}),
    ("CREATE TRIGGER t BEFORE UPDATE ON o FOR EACH ROW EXECUTE FUNCTION f()", {"o": (SRE, False, False)}),
    ("UPDATE o SET a = 1", {"o": (RE, False, True)}),
    ("UPDATE o SET a = 1 WHERE id = 3", {"o": (RE, False, False)}),
    ("DELETE FROM o WHERE id = 3", {"o": (RE, False, False)}),
    ("INSERT INTO o VALUES (1)", {"o": (RE, False, False)}),
    ("INSERT INTO o SELECT * FROM p", {"o": (RE, False, True)}),
    ("COMMENT ON TABLE o IS 'x'", {"o": (SUE, False, False)}),
    ("COMMENT ON COLUMN s.o.a IS 'x'", {"s.o": (SUE, False, False)}),
    ("ALTER TABLE o RENAME TO p", {"o": (AE, False, False)}),
    ("ALTER TABLE o RENAME COLUMN a TO b", {"o": (AE, False, False)}),
    ("ALTER TABLE o SET SCHEMA s", {"o": (AE, False, False)}),
    ("CREATE TABLE c (id bigint, o_id bigint REFERENCES o (id))", {"o": (SRE, False, False)}),
    ("CREATE TABLE p1 PARTITION OF p FOR VALUES IN (1)", {"p": (AE, False, False)}),
])
def test_effects(sql, expected):
    assert eff(sql) == expected


def test_strongest_lock_wins_and_reasons_are_kept():
    (e,) = locks.effects(node("ALTER TABLE o ALTER COLUMN c SET STATISTICS 100, ALTER COLUMN a SET NOT NULL, "
                              "ALTER COLUMN b SET DEFAULT 1"))
    assert (e.lock, e.scans, e.blocks) == (AE, True, "reads and writes")
    assert "SET STATISTICS" in e.reason and "SET NOT NULL" in e.reason


def test_version_dependent_facts():
    assert eff("ALTER TABLE o ADD COLUMN a text DEFAULT 'x'", 10) == {"o": (AE, True, True)}
    assert eff("ALTER TABLE o ADD COLUMN a text DEFAULT 'x'", 11) == {"o": (AE, False, False)}
    attach = "ALTER TABLE p ATTACH PARTITION p1 FOR VALUES IN (1)"
    assert eff(attach, 11)["p"][0] == AE and eff(attach, 12)["p"][0] == SUE
    assert eff(attach, 12)["p1"] == (AE, False, True)


def test_blocks_follow_the_lock_and_reindex_blocks_reads():
    assert {e.lock: e.blocks for e in locks.effects(node("ALTER TABLE o ADD CONSTRAINT f FOREIGN KEY (c) REFERENCES c (id)"))} \
        == {SRE: "writes"}
    (r,) = locks.effects(node("REINDEX INDEX o_idx"))
    assert (r.table, r.index, r.lock, r.blocks) == (None, "o_idx", SHARE, "reads and writes")
    (c,) = locks.effects(node("CREATE INDEX CONCURRENTLY i ON o (a)"))
    assert c.blocks == "nothing"


def test_context_supplies_old_types_and_checks():
    class Ctx(LockContext):
        def column_type(self, table, column):
            from dbtool.ddl import TypeRef
            return TypeRef("varchar", (10,))

        def proves_not_null(self, table, column):
            return True

    assert eff_ctx("ALTER TABLE o ALTER COLUMN a TYPE varchar(20)", Ctx()) == (AE, False, False)
    assert eff_ctx("ALTER TABLE o ALTER COLUMN a SET NOT NULL", Ctx()) == (AE, False, False)
    assert eff_ctx("ALTER TABLE o ALTER COLUMN a SET NOT NULL", Ctx(11)) == (AE, False, True)
    # the alias used by the performance-impact predictor
    assert LockContext(pg_version=16).target_version == 16


def eff_ctx(sql, ctx):
    (e,) = locks.effects(node(sql), ctx)
    return e.lock, e.rewrites, e.scans


@pytest.mark.parametrize("sql", ["DO $$ BEGIN END $$", "CREATE POLICY p ON o USING (true)", "CALL p()",
                                 "ALTER DOMAIN d ADD CONSTRAINT c CHECK (VALUE > 0)", "COPY o FROM STDIN"])
def test_unknown_statements_are_not_understood(sql):
    a = locks.analyse(node(sql))
    assert a.understood is False and a.effects == [] and a.note


@pytest.mark.parametrize("sql", ["CREATE TYPE m AS ENUM ('a')", "SET lock_timeout = '1s'", "SELECT 1", "BEGIN",
                                 "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'", "GRANT SELECT ON o TO r",
                                 "CREATE TABLE t (id bigint)", "ALTER TYPE m ADD VALUE 'b'"])
def test_understood_statements_without_table_locks(sql):
    a = locks.analyse(node(sql))
    assert a.understood and a.effects == []
