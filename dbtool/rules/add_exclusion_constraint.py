"""add-exclusion-constraint: ADD EXCLUDE has no online path."""

from pglast import ast
from pglast.enums import ConstrType

from dbtool import ddl
from dbtool.rules.base import Example, Report, Rule, added_constraints


class AddExclusionConstraint(Rule):
    id = "add-exclusion-constraint"
    severity = "error"
    category = "L"
    summary = "ADD CONSTRAINT ... EXCLUDE builds its index and checks every pair while reads and writes wait"
    help = ("there is no NOT VALID or USING INDEX form: declare it on a new table and move the data, or schedule a "
            "maintenance window")
    kinds = (ast.AlterTableStmt,)
    bad = (Example("ALTER TABLE room_bookings ADD CONSTRAINT room_bookings_no_overlap\n"
                   "  EXCLUDE USING gist (room_id WITH =, booked_during WITH &&);"),)
    ok = (Example("CREATE TABLE room_bookings_v2 (\n  room_id bigint NOT NULL,\n  booked_during tstzrange NOT NULL,\n"
                  "  CONSTRAINT room_bookings_v2_no_overlap EXCLUDE USING gist (room_id WITH =, booked_during WITH &&)\n);"),)

    def check(self, stmt, ctx):
        table = ddl.rel_name(stmt.node.relation)
        if ctx.is_new(table):
            return
        for _, con in added_constraints(stmt.node, ConstrType.CONSTR_EXCLUSION):
            yield Report(f"ADD EXCLUDE {con.conname or ''} on {table} builds its index and checks for conflicts under an "
                         f"ACCESS EXCLUSIVE lock, which blocks reads and writes on {table}; exclusion constraints have no "
                         "online (NOT VALID / USING INDEX) form")


RULE = AddExclusionConstraint()
