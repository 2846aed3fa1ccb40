"""add-primary-key: ADD PRIMARY KEY builds its index (and may check NOT NULL) under ACCESS EXCLUSIVE."""

from pglast import ast
from pglast.enums import ConstrType

from dbtool import ddl
from dbtool.rules.base import Example, Report, Rule, added_constraints, column_defs


class AddPrimaryKey(Rule):
    id = "add-primary-key"
    severity = "error"
    category = "L"
    summary = "ADD PRIMARY KEY builds the index and checks NOT NULL while reads and writes wait"
    help = ("make the columns NOT NULL with the CHECK ... NOT VALID pattern, CREATE UNIQUE INDEX CONCURRENTLY, then "
            "ADD CONSTRAINT ... PRIMARY KEY USING INDEX in a later migration")
    kinds = (ast.AlterTableStmt,)
    bad = (Example("ALTER TABLE audit_entries ADD PRIMARY KEY (entry_id);"),
           Example("ALTER TABLE audit_entries ADD COLUMN id bigint PRIMARY KEY;"))
    ok = (Example("ALTER TABLE audit_entries ADD CONSTRAINT audit_entries_pkey PRIMARY KEY USING INDEX audit_entries_pk_idx;"),
          Example("CREATE TABLE audit_entries (entry_id bigint NOT NULL);\n"
                  "ALTER TABLE audit_entries ADD PRIMARY KEY (entry_id);", note="table created in the same file"))

    def check(self, stmt, ctx):
        table = ddl.rel_name(stmt.node.relation)
        if ctx.is_new(table):
            return
        for _, con in added_constraints(stmt.node, ConstrType.CONSTR_PRIMARY):
            if con.indexname:
                continue
            cols = ", ".join(k.sval for k in con.keys or ())
            yield Report(f"ADD PRIMARY KEY ({cols}) on {table} builds its index and checks the columns for NULLs under an "
                         f"ACCESS EXCLUSIVE lock, which blocks reads and writes on {table} for the whole build")
        for _, col, _ in column_defs(stmt.node):
            if ddl.constraints_of(col, ConstrType.CONSTR_PRIMARY):
                yield Report(f"ADD COLUMN {col.colname} PRIMARY KEY on {table} builds an index under an ACCESS EXCLUSIVE "
                             f"lock, which blocks reads and writes on {table}")


RULE = AddPrimaryKey()
