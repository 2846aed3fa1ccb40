"""The catalog query behind ``dbtool.snapshot.take``: one SELECT, one jsonb document.

Every part yields ``(key, attributes)``; the outer query folds them into one
object.  Names are built with ``quote_ident`` so that keys are unambiguous and
stable across databases (never an OID).

The SELECT travels in one message between two small statements (one round
trip, simple query protocol, one implicit transaction under autocommit):

- PIN sets ``search_path`` to ``pg_catalog``: the deparsing functions
  (``pg_get_indexdef``, ``format_type``, ...) qualify names by visibility, so
  every user object then comes out schema-qualified whatever the session had.
  It also turns JIT off: the many correlated subqueries push the estimated cost
  past ``jit_above_cost`` and compiling them took 5 s of a 5.2 s snapshot of
  1000 tables (0.2 s without).  JIT is decided at plan time, hence a statement
  of its own before the SELECT is planned.
- RESTORE puts both settings back, for a caller inside its own transaction
  where ``set_config(..., true)`` would otherwise last until its COMMIT.
"""

from __future__ import annotations

# Privilege letters in PostgreSQL's own order (ACL_ALL_RIGHTS_STR; 'm' is 17+).
_PRIVILEGE_ORDER = "arwdDxtXUCTcsAm"
_PRIVILEGE_LETTER = """CASE e.privilege_type
  WHEN 'SELECT' THEN 'r' WHEN 'INSERT' THEN 'a' WHEN 'UPDATE' THEN 'w' WHEN 'DELETE' THEN 'd'
  WHEN 'TRUNCATE' THEN 'D' WHEN 'REFERENCES' THEN 'x' WHEN 'TRIGGER' THEN 't' WHEN 'EXECUTE' THEN 'X'
  WHEN 'USAGE' THEN 'U' WHEN 'CREATE' THEN 'C' WHEN 'TEMPORARY' THEN 'T' WHEN 'CONNECT' THEN 'c'
  WHEN 'SET' THEN 's' WHEN 'ALTER SYSTEM' THEN 'A' WHEN 'MAINTAIN' THEN 'm' ELSE '?' END"""


def acl(column: str, objtype: str | None, owner: str) -> str:
    """Normalised ACL: a sorted list of ``grantee=privs[/grantor]``.

    A NULL ACL means the built-in default, so it is replaced by ``acldefault``:
    a grant followed by its revoke then compares equal to never granting.
    The owner appears as ``(owner)`` so that databases whose objects belong to
    different roles still compare equal on grants when owners are ignored.
    """
    source = f"COALESCE({column}, pg_catalog.acldefault('{objtype}', {owner}))" if objtype else column
    letter = _PRIVILEGE_LETTER
    return f"""(SELECT COALESCE(jsonb_agg(x.item ORDER BY x.item), '[]'::jsonb) FROM (
  SELECT CASE WHEN e.grantee = 0 THEN 'PUBLIC' WHEN e.grantee = {owner} THEN '(owner)'
              ELSE pg_catalog.pg_get_userbyid(e.grantee)::text END
      || '=' || string_agg(({letter}) || CASE WHEN e.is_grantable THEN '*' ELSE '' END, ''
                           ORDER BY strpos('{_PRIVILEGE_ORDER}', {letter}))
      || CASE WHEN e.grantor = {owner} THEN '' ELSE '/' || pg_catalog.pg_get_userbyid(e.grantor) END AS item
  FROM pg_catalog.aclexplode({source}) e
  GROUP BY e.grantee, e.grantor) x)"""


def _comment(objoid: str, catalog: str, subid: str = "0") -> str:
    return (f"(SELECT d.description FROM pg_catalog.pg_description d WHERE d.objoid = {objoid}"
            f" AND d.classoid = 'pg_catalog.{catalog}'::regclass AND d.objsubid = {subid})")


def _sorted_array(expr: str) -> str:
    return f"(SELECT jsonb_agg(o ORDER BY o) FROM unnest({expr}) o)"


def _attribute_options(expr: str) -> str:
    # n_distinct and n_distinct_inherited are the only attribute options PostgreSQL accepts;
    # some builds record private bookkeeping there (e.g. pg_attver=<number>, different in
    # every database), which must not make identical schemas differ.
    return f"(SELECT jsonb_agg(o ORDER BY o) FROM unnest({expr}) o WHERE o LIKE 'n\\_distinct%%=%%')"


def _not_extension_member(catalog: str, oid: str) -> str:
    return (f"NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend dx WHERE dx.classid = 'pg_catalog.{catalog}'::regclass"
            f" AND dx.objid = {oid} AND dx.deptype = 'e')")


def _q(schema: str, name: str) -> str:
    return f"quote_ident({schema}) || '.' || quote_ident({name})"


def _column_extras(server_version_num: int) -> str:
    """Column attributes whose catalog columns differ between major versions."""
    parts = []
    if server_version_num >= 170000:
        # 17 made attstattarget nullable; NULL is the default.
        parts.append("'statistics', a.attstattarget")
    else:
        parts.append("'statistics', NULLIF(a.attstattarget, -1)")
    if server_version_num >= 140000:
        parts.append("'compression', CASE a.attcompression WHEN 'p' THEN 'pglz' WHEN 'l' THEN 'lz4' END")
    return ", ".join(parts)


PIN = """SELECT pg_catalog.set_config('dbtool.snapshot_saved_search_path', pg_catalog.current_setting('search_path'), true),
       pg_catalog.set_config('dbtool.snapshot_saved_jit', pg_catalog.current_setting('jit'), true);
SELECT pg_catalog.set_config('search_path', 'pg_catalog', true), pg_catalog.set_config('jit', 'off', true);"""

RESTORE = """SELECT pg_catalog.set_config('search_path', pg_catalog.current_setting('dbtool.snapshot_saved_search_path'), true),
       pg_catalog.set_config('jit', pg_catalog.current_setting('dbtool.snapshot_saved_jit'), true);"""


def build(server_version_num: int) -> str:
    """The snapshot statements for a server of that ``server_version_num``.

    Parameters: ``schemas`` (text[] or NULL for every user schema) and
    ``exclude`` (text[] of LIKE patterns on ``schema.table``).  The third of
    the four result sets is one row holding the document.
    """
    all_schemas = "%(schemas)s::text[] IS NULL"
    parts = {
        "schema": f"""
SELECT 'schema ' || quote_ident(n.nspname), jsonb_build_object(
  'owner', pg_catalog.pg_get_userbyid(n.nspowner),
  'acl', {acl('n.nspacl', 'n', 'n.nspowner')},
  'comment', {_comment('n.oid', 'pg_namespace')})
FROM nsp n""",
        "extension": f"""
SELECT 'extension ' || quote_ident(e.extname), jsonb_build_object(
  'version', e.extversion, 'schema', n.nspname,
  'comment', {_comment('e.oid', 'pg_extension')})
FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
WHERE {all_schemas} OR n.nspname = ANY (%(schemas)s::text[])""",
        "table": f"""
SELECT 'table ' || t.qname, jsonb_build_object(
  'kind', CASE t.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'partitioned table' ELSE 'foreign table' END,
  'persistence', CASE t.relpersistence WHEN 'u' THEN 'unlogged' ELSE 'permanent' END,
  'row_security', t.relrowsecurity,
  'force_row_security', t.relforcerowsecurity,
  'options', {_sorted_array('t.reloptions')},
  'access_method', (SELECT am.amname FROM pg_catalog.pg_am am WHERE am.oid = t.relam),
  'partition_key', CASE WHEN t.relkind = 'p' THEN pg_catalog.pg_get_partkeydef(t.oid) END,
  'partition_bound', CASE WHEN t.relispartition THEN pg_catalog.pg_get_expr(t.relpartbound, t.oid) END,
  'inherits', (SELECT jsonb_agg({_q('pn.nspname', 'pc.relname')} ORDER BY i.inhseqno)
               FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class pc ON pc.oid = i.inhparent
               JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace WHERE i.inhrelid = t.oid),
  'replica_identity', CASE t.relreplident WHEN 'n' THEN 'nothing' WHEN 'f' THEN 'full' WHEN 'i' THEN 'index' END,
  'server', (SELECT s.srvname FROM pg_catalog.pg_foreign_table ft JOIN pg_catalog.pg_foreign_server s
             ON s.oid = ft.ftserver WHERE ft.ftrelid = t.oid),
  'server_options', (SELECT {_sorted_array('ft.ftoptions')} FROM pg_catalog.pg_foreign_table ft WHERE ft.ftrelid = t.oid),
  'columns', (SELECT jsonb_agg(a.attname ORDER BY a.attnum) FROM pg_catalog.pg_attribute a
              WHERE a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped),
  'owner', pg_catalog.pg_get_userbyid(t.relowner),
  'acl', {acl('t.relacl', 'r', 't.relowner')},
  'comment', {_comment('t.oid', 'pg_class')})
FROM tbl t""",
        "column": f"""
SELECT 'column ' || t.qname || '.' || quote_ident(a.attname), jsonb_build_object(
  'table', t.qname,
  'type', pg_catalog.format_type(a.atttypid, a.atttypmod),
  'collation', CASE WHEN a.attcollation <> ty.typcollation THEN
      (SELECT {_q('cn.nspname', 'co.collname')} FROM pg_catalog.pg_collation co
       JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace WHERE co.oid = a.attcollation) END,
  'default', CASE WHEN a.attgenerated = '' THEN pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) END,
  'generated', CASE WHEN a.attgenerated <> '' THEN pg_catalog.pg_get_expr(ad.adbin, ad.adrelid)
      || CASE a.attgenerated WHEN 's' THEN ' STORED' WHEN 'v' THEN ' VIRTUAL' ELSE '' END END,
  'not_null', a.attnotnull,
  'identity', CASE a.attidentity WHEN 'a' THEN 'always' WHEN 'd' THEN 'by default' END,
  'identity_sequence', idseq.options,
  'storage', CASE WHEN a.attstorage <> ty.typstorage THEN
      CASE a.attstorage WHEN 'p' THEN 'plain' WHEN 'e' THEN 'external' WHEN 'm' THEN 'main' ELSE 'extended' END END,
  'options', {_attribute_options('a.attoptions')},
  'fdw_options', {_sorted_array('a.attfdwoptions')},
  {_column_extras(server_version_num)},
  'acl', CASE WHEN a.attacl IS NULL THEN '[]'::jsonb ELSE {acl('a.attacl', None, 't.relowner')} END,
  'comment', d.description)
FROM tbl t
JOIN pg_catalog.pg_attribute a ON a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_catalog.pg_type ty ON ty.oid = a.atttypid
LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
LEFT JOIN pg_catalog.pg_description d
  ON d.objoid = t.oid AND d.classoid = 'pg_catalog.pg_class'::regclass AND d.objsubid = a.attnum
LEFT JOIN LATERAL (
  SELECT jsonb_build_object('sequence', {_q('sn.nspname', 'sc.relname')},
    'type', pg_catalog.format_type(s.seqtypid, NULL), 'start', s.seqstart, 'increment', s.seqincrement,
    'min', s.seqmin, 'max', s.seqmax, 'cache', s.seqcache, 'cycle', s.seqcycle) AS options
  FROM pg_catalog.pg_depend dep
  JOIN pg_catalog.pg_sequence s ON s.seqrelid = dep.objid
  JOIN pg_catalog.pg_class sc ON sc.oid = dep.objid
  JOIN pg_catalog.pg_namespace sn ON sn.oid = sc.relnamespace
  WHERE a.attidentity <> '' AND dep.classid = 'pg_catalog.pg_class'::regclass
    AND dep.refclassid = 'pg_catalog.pg_class'::regclass AND dep.refobjid = a.attrelid
    AND dep.refobjsubid = a.attnum AND dep.deptype = 'i'
  LIMIT 1) idseq ON true""",
        # NOT NULL constraints (contype 'n', PostgreSQL 18+) are covered by the column's not_null.
        "constraint": f"""
SELECT 'constraint ' || t.qname || '.' || quote_ident(co.conname), jsonb_build_object(
  'table', t.qname,
  'type', CASE co.contype WHEN 'c' THEN 'check' WHEN 'f' THEN 'foreign key' WHEN 'p' THEN 'primary key'
          WHEN 'u' THEN 'unique' WHEN 'x' THEN 'exclusion' WHEN 't' THEN 'trigger' ELSE co.contype::text END,
  -- NOT VALID is reported once, as validated = false.
  'definition', regexp_replace(pg_catalog.pg_get_constraintdef(co.oid), ' NOT VALID$', ''),
  'validated', co.convalidated,
  'deferrable', co.condeferrable,
  'deferred', co.condeferred,
  'comment', {_comment('co.oid', 'pg_constraint')})
FROM tbl t JOIN pg_catalog.pg_constraint co ON co.conrelid = t.oid AND co.contype <> 'n'""",
        "domain constraint": f"""
SELECT 'constraint ' || ty.qname || '.' || quote_ident(co.conname), jsonb_build_object(
  'domain', ty.qname,
  'type', 'check',
  'definition', regexp_replace(pg_catalog.pg_get_constraintdef(co.oid), ' NOT VALID$', ''),
  'validated', co.convalidated,
  'comment', {_comment('co.oid', 'pg_constraint')})
FROM typ ty JOIN pg_catalog.pg_constraint co ON co.contypid = ty.oid AND co.contype <> 'n'""",
        "index": f"""
SELECT 'index ' || ir.qname, jsonb_build_object(
  'table', t.qname,
  'definition', pg_catalog.pg_get_indexdef(ir.oid),
  'valid', i.indisvalid,
  'unique', i.indisunique,
  'primary', i.indisprimary,
  'clustered', i.indisclustered,
  'replica_identity', i.indisreplident,
  'comment', {_comment('ir.oid', 'pg_class')})
FROM rel ir
JOIN pg_catalog.pg_index i ON i.indexrelid = ir.oid
JOIN rel t ON t.oid = i.indrelid
WHERE ir.relkind IN ('i', 'I') AND t.oid NOT IN (SELECT oid FROM skip)""",
        "view": f"""
SELECT CASE v.relkind WHEN 'v' THEN 'view ' ELSE 'materialized view ' END || v.qname, jsonb_build_object(
  'definition', pg_catalog.pg_get_viewdef(v.oid),
  'columns', (SELECT jsonb_agg(quote_ident(a.attname) || ' ' || pg_catalog.format_type(a.atttypid, a.atttypmod)
                               ORDER BY a.attnum)
              FROM pg_catalog.pg_attribute a WHERE a.attrelid = v.oid AND a.attnum > 0 AND NOT a.attisdropped),
  'column_comments', (SELECT jsonb_object_agg(a.attname, d.description)
                      FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_description d
                      ON d.objoid = a.attrelid AND d.classoid = 'pg_catalog.pg_class'::regclass AND d.objsubid = a.attnum
                      WHERE a.attrelid = v.oid AND a.attnum > 0),
  'options', {_sorted_array('v.reloptions')},
  'owner', pg_catalog.pg_get_userbyid(v.relowner),
  'acl', {acl('v.relacl', 'r', 'v.relowner')},
  'comment', {_comment('v.oid', 'pg_class')})
FROM rel v WHERE v.relkind IN ('v', 'm')""",
        # Functions with an internal dependency (range and multirange constructors) come and go
        # with their type.  pg_get_functiondef carries language, strictness, cost, parallel, config and body;
        # volatility and security definer are kept apart because the design reports them by name.
        "function": f"""
SELECT CASE p.prokind WHEN 'p' THEN 'procedure ' WHEN 'a' THEN 'aggregate ' ELSE 'function ' END
       || {_q('n.nspname', 'p.proname')} || '(' || pg_catalog.oidvectortypes(p.proargtypes) || ')',
  jsonb_build_object(
  'definition', CASE WHEN p.prokind <> 'a' THEN pg_catalog.pg_get_functiondef(p.oid) END,
  'volatility', CASE p.provolatile WHEN 'i' THEN 'immutable' WHEN 's' THEN 'stable' ELSE 'volatile' END,
  'security_definer', p.prosecdef,
  'aggregate', CASE WHEN p.prokind = 'a' THEN (
      SELECT jsonb_build_object('arguments', pg_catalog.pg_get_function_arguments(p.oid),
        'result', pg_catalog.pg_get_function_result(p.oid),
        'sfunc', ag.aggtransfn::regproc::text, 'stype', pg_catalog.format_type(ag.aggtranstype, NULL),
        'finalfunc', NULLIF(ag.aggfinalfn, 0)::regproc::text,
        'combinefunc', NULLIF(ag.aggcombinefn, 0)::regproc::text,
        'initcond', ag.agginitval, 'sortop', NULLIF(ag.aggsortop, 0)::regoperator::text,
        'kind', ag.aggkind)
      FROM pg_catalog.pg_aggregate ag WHERE ag.aggfnoid = p.oid) END,
  'owner', pg_catalog.pg_get_userbyid(p.proowner),
  'acl', {acl('p.proacl', 'f', 'p.proowner')},
  'comment', {_comment('p.oid', 'pg_proc')})
FROM pg_catalog.pg_proc p JOIN nsp n ON n.oid = p.pronamespace
WHERE {_not_extension_member('pg_proc', 'p.oid')}
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend di WHERE di.classid = 'pg_catalog.pg_proc'::regclass
                  AND di.objid = p.oid AND di.deptype = 'i')""",
        # Triggers cloned onto partitions (tgparentid) follow their parent; 13 and 14 also mark
        # them internal, so leaving them out keeps snapshots comparable across versions.
        "trigger": f"""
SELECT 'trigger ' || r.qname || '.' || quote_ident(tg.tgname), jsonb_build_object(
  'table', r.qname,
  'definition', pg_catalog.pg_get_triggerdef(tg.oid),
  'enabled', CASE tg.tgenabled WHEN 'O' THEN 'enabled' WHEN 'D' THEN 'disabled' WHEN 'R' THEN 'replica'
             WHEN 'A' THEN 'always' END,
  'comment', {_comment('tg.oid', 'pg_trigger')})
FROM pg_catalog.pg_trigger tg JOIN rel r ON r.oid = tg.tgrelid
WHERE NOT tg.tgisinternal AND tg.tgparentid = 0 AND r.oid NOT IN (SELECT oid FROM skip)""",
        # Identity sequences are reported on their column; the current value is data, not schema.
        "sequence": f"""
SELECT 'sequence ' || r.qname, jsonb_build_object(
  'type', pg_catalog.format_type(s.seqtypid, NULL),
  'start', s.seqstart, 'increment', s.seqincrement, 'min', s.seqmin, 'max', s.seqmax,
  'cycle', s.seqcycle, 'cache', s.seqcache,
  'owned_by', ob.col,
  'persistence', CASE r.relpersistence WHEN 'u' THEN 'unlogged' ELSE 'permanent' END,
  'owner', pg_catalog.pg_get_userbyid(r.relowner),
  'acl', {acl('r.relacl', 's', 'r.relowner')},
  'comment', {_comment('r.oid', 'pg_class')})
FROM rel r JOIN pg_catalog.pg_sequence s ON s.seqrelid = r.oid
LEFT JOIN LATERAL (
  SELECT dep.deptype, dep.refobjid,
         {_q('tn.nspname', 'tc.relname')} || '.' || quote_ident(ta.attname) AS col
  FROM pg_catalog.pg_depend dep
  JOIN pg_catalog.pg_class tc ON tc.oid = dep.refobjid
  JOIN pg_catalog.pg_namespace tn ON tn.oid = tc.relnamespace
  JOIN pg_catalog.pg_attribute ta ON ta.attrelid = dep.refobjid AND ta.attnum = dep.refobjsubid
  WHERE dep.classid = 'pg_catalog.pg_class'::regclass AND dep.objid = r.oid
    AND dep.refclassid = 'pg_catalog.pg_class'::regclass AND dep.deptype IN ('a', 'i')
  LIMIT 1) ob ON true
WHERE r.relkind = 'S' AND ob.deptype IS DISTINCT FROM 'i'
  AND (ob.refobjid IS NULL OR ob.refobjid NOT IN (SELECT oid FROM skip))""",
        "type": f"""
SELECT 'type ' || ty.qname, jsonb_build_object(
  'kind', CASE ty.typtype WHEN 'e' THEN 'enum' WHEN 'd' THEN 'domain' WHEN 'c' THEN 'composite'
          WHEN 'r' THEN 'range' ELSE 'base' END,
  'labels', CASE WHEN ty.typtype = 'e' THEN (SELECT jsonb_agg(e.enumlabel ORDER BY e.enumsortorder)
            FROM pg_catalog.pg_enum e WHERE e.enumtypid = ty.oid) END,
  'base_type', CASE WHEN ty.typtype = 'd' THEN pg_catalog.format_type(ty.typbasetype, ty.typtypmod) END,
  'default', ty.typdefault,
  'not_null', CASE WHEN ty.typtype = 'd' THEN ty.typnotnull END,
  'collation', CASE WHEN ty.typtype = 'd' AND ty.typcollation <> bt.typcollation THEN
      (SELECT {_q('cn.nspname', 'co.collname')} FROM pg_catalog.pg_collation co
       JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace WHERE co.oid = ty.typcollation) END,
  'attributes', CASE WHEN ty.typtype = 'c' THEN (
      SELECT jsonb_agg(quote_ident(a.attname) || ' ' || pg_catalog.format_type(a.atttypid, a.atttypmod)
                       || CASE WHEN a.attcollation <> at.typcollation THEN ' COLLATE ' ||
                            (SELECT {_q('cn.nspname', 'co.collname')} FROM pg_catalog.pg_collation co
                             JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace
                             WHERE co.oid = a.attcollation) ELSE '' END
                       ORDER BY a.attnum)
      FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type at ON at.oid = a.atttypid
      WHERE a.attrelid = ty.typrelid AND a.attnum > 0 AND NOT a.attisdropped) END,
  'range', CASE WHEN ty.typtype = 'r' THEN (
      SELECT jsonb_build_object('subtype', pg_catalog.format_type(rg.rngsubtype, NULL),
        'opclass', (SELECT opc.opcname FROM pg_catalog.pg_opclass opc WHERE opc.oid = rg.rngsubopc),
        'canonical', NULLIF(rg.rngcanonical, 0)::regproc::text,
        'subdiff', NULLIF(rg.rngsubdiff, 0)::regproc::text)
      FROM pg_catalog.pg_range rg WHERE rg.rngtypid = ty.oid) END,
  'io', CASE WHEN ty.typtype = 'b' THEN jsonb_build_object('input', ty.typinput::regproc::text,
        'output', ty.typoutput::regproc::text, 'length', ty.typlen) END,
  'owner', pg_catalog.pg_get_userbyid(ty.typowner),
  'acl', {acl('ty.typacl', 'T', 'ty.typowner')},
  'comment', {_comment('ty.oid', 'pg_type')})
FROM typ ty LEFT JOIN pg_catalog.pg_type bt ON bt.oid = ty.typbasetype""",
        "policy": f"""
SELECT 'policy ' || t.qname || '.' || quote_ident(po.polname), jsonb_build_object(
  'table', t.qname,
  'command', CASE po.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE'
             WHEN 'd' THEN 'DELETE' ELSE 'ALL' END,
  'permissive', po.polpermissive,
  'roles', (SELECT jsonb_agg(x.name ORDER BY x.name) FROM (
              SELECT CASE WHEN r = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(r)::text END AS name
              FROM unnest(po.polroles) r) x),
  'using', pg_catalog.pg_get_expr(po.polqual, po.polrelid),
  'with_check', pg_catalog.pg_get_expr(po.polwithcheck, po.polrelid),
  'comment', {_comment('po.oid', 'pg_policy')})
FROM pg_catalog.pg_policy po JOIN tbl t ON t.oid = po.polrelid""",
        "rule": f"""
SELECT 'rule ' || r.qname || '.' || quote_ident(ru.rulename), jsonb_build_object(
  'table', r.qname,
  'definition', pg_catalog.pg_get_ruledef(ru.oid),
  'enabled', CASE ru.ev_enabled WHEN 'O' THEN 'enabled' WHEN 'D' THEN 'disabled' WHEN 'R' THEN 'replica'
             WHEN 'A' THEN 'always' END,
  'comment', {_comment('ru.oid', 'pg_rewrite')})
FROM pg_catalog.pg_rewrite ru JOIN rel r ON r.oid = ru.ev_class
WHERE ru.rulename <> '_RETURN' AND r.oid NOT IN (SELECT oid FROM skip)""",
        "statistics": f"""
SELECT 'statistics ' || {_q('n.nspname', 'st.stxname')}, jsonb_build_object(
  'table', r.qname,
  'definition', pg_catalog.pg_get_statisticsobjdef(st.oid),
  'owner', pg_catalog.pg_get_userbyid(st.stxowner),
  'comment', {_comment('st.oid', 'pg_statistic_ext')})
FROM pg_catalog.pg_statistic_ext st JOIN nsp n ON n.oid = st.stxnamespace JOIN rel r ON r.oid = st.stxrelid
WHERE r.oid NOT IN (SELECT oid FROM skip)""",
        "default privileges": f"""
SELECT 'default privileges for role ' || quote_ident(pg_catalog.pg_get_userbyid(da.defaclrole))
       || COALESCE(' in schema ' || quote_ident(n.nspname), '') || ' on '
       || CASE da.defaclobjtype WHEN 'r' THEN 'tables' WHEN 'S' THEN 'sequences' WHEN 'f' THEN 'functions'
          WHEN 'T' THEN 'types' WHEN 'n' THEN 'schemas' ELSE da.defaclobjtype::text END,
  jsonb_build_object('acl', {acl('da.defaclacl', None, 'da.defaclrole')})
FROM pg_catalog.pg_default_acl da LEFT JOIN nsp n ON n.oid = da.defaclnamespace
WHERE (da.defaclnamespace = 0 AND {all_schemas}) OR n.oid IS NOT NULL""",
        "event trigger": f"""
SELECT 'event trigger ' || quote_ident(et.evtname), jsonb_build_object(
  'event', et.evtevent,
  'tags', {_sorted_array('et.evttags')},
  'function', et.evtfoid::regproc::text,
  'enabled', CASE et.evtenabled WHEN 'O' THEN 'enabled' WHEN 'D' THEN 'disabled' WHEN 'R' THEN 'replica'
             WHEN 'A' THEN 'always' END,
  'owner', pg_catalog.pg_get_userbyid(et.evtowner),
  'comment', {_comment('et.oid', 'pg_event_trigger')})
FROM pg_catalog.pg_event_trigger et
WHERE {all_schemas} AND {_not_extension_member('pg_event_trigger', 'et.oid')}""",
    }
    union = "\nUNION ALL".join(parts.values())
    return f"""{PIN}
SELECT (
WITH
nsp AS MATERIALIZED (
  SELECT n.oid, n.nspname, n.nspowner, n.nspacl
  FROM pg_catalog.pg_namespace n
  WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'
    AND ({all_schemas} OR n.nspname = ANY (%(schemas)s::text[]))
    AND {_not_extension_member('pg_namespace', 'n.oid')}
),
rel AS MATERIALIZED (
  SELECT c.*, n.nspname, {_q('n.nspname', 'c.relname')} AS qname
  FROM pg_catalog.pg_class c JOIN nsp n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'f', 'v', 'm', 'S', 'i', 'I')
    AND {_not_extension_member('pg_class', 'c.oid')}
),
skip AS MATERIALIZED (
  SELECT r.oid FROM rel r
  WHERE r.relkind IN ('r', 'p') AND (r.nspname || '.' || r.relname) LIKE ANY (%(exclude)s::text[])
),
tbl AS MATERIALIZED (
  SELECT r.* FROM rel r WHERE r.relkind IN ('r', 'p', 'f') AND r.oid NOT IN (SELECT oid FROM skip)
),
typ AS MATERIALIZED (
  SELECT t.*, {_q('n.nspname', 't.typname')} AS qname
  FROM pg_catalog.pg_type t JOIN nsp n ON n.oid = t.typnamespace
  WHERE t.typtype IN ('b', 'c', 'd', 'e', 'r')
    AND (t.typtype <> 'c' OR (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid) = 'c')
    AND (t.typtype <> 'b' OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_type a WHERE a.typarray = t.oid))
    AND {_not_extension_member('pg_type', 't.oid')}
)
SELECT COALESCE(jsonb_object_agg(o.key, jsonb_strip_nulls(o.attributes)), '{{}}'::jsonb)
FROM ({union}
) AS o(key, attributes)
) AS document;
{RESTORE}"""
