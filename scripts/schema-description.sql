-- Every object of the extension and what matters of it (signature, language, security, settings,
-- privileges, columns, constraints, indexes, policies, dumped tables), one line each, sorted:
-- scripts/upgrade-test.sh compares an upgraded installation with a fresh one through it.
WITH ext AS (SELECT oid FROM pg_extension WHERE extname = 'vs_ingest'),
members AS (SELECT d.classid, d.objid FROM pg_depend d, ext WHERE d.refobjid = ext.oid AND d.deptype = 'e')
SELECT line FROM (
    SELECT format('function %s -> %s language=%s security_definer=%s strict=%s volatility=%s config=%s acl=%s comment=%s',
                  p.oid::regprocedure, pg_get_function_result(p.oid), l.lanname, p.prosecdef, p.proisstrict,
                  p.provolatile, p.proconfig, (SELECT array_agg(a::text ORDER BY a::text) FROM unnest(p.proacl) a),
                  obj_description(p.oid, 'pg_proc')) AS line
      FROM members m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND m.objid = p.oid
      JOIN pg_language l ON l.oid = p.prolang
    UNION ALL
    SELECT format('relation %s kind=%s rls=%s options=%s columns=%s acl=%s comment=%s', c.oid::regclass, c.relkind,
                  c.relrowsecurity, c.reloptions,
                  (SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                                     || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
                                     || coalesce(' default ' || pg_get_expr(ad.adbin, ad.adrelid), ''), ', ' ORDER BY a.attname)
                     FROM pg_attribute a LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
                    WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
                  (SELECT array_agg(x::text ORDER BY x::text) FROM unnest(c.relacl) x), obj_description(c.oid, 'pg_class'))
      FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND m.objid = c.oid
    UNION ALL
    SELECT format('index %s', regexp_replace(pg_get_indexdef(i.indexrelid), 'INDEX \S+ ON', 'INDEX ON'))
      FROM members m JOIN pg_index i ON m.classid = 'pg_class'::regclass AND i.indrelid = m.objid
    UNION ALL
    SELECT format('constraint %s %s', co.conrelid::regclass, pg_get_constraintdef(co.oid))
      FROM members m JOIN pg_constraint co ON m.classid = 'pg_class'::regclass AND co.conrelid = m.objid
    UNION ALL
    SELECT format('policy %s on %s for %s using %s', po.polname, po.polrelid::regclass, po.polcmd, pg_get_expr(po.polqual, po.polrelid))
      FROM members m JOIN pg_policy po ON m.classid = 'pg_class'::regclass AND po.polrelid = m.objid
    UNION ALL
    SELECT format('dumped %s', x::regclass) FROM pg_extension e, unnest(e.extconfig) x WHERE e.extname = 'vs_ingest'
    UNION ALL
    SELECT format('schema vs_ingest acl=%s', (SELECT array_agg(x::text ORDER BY x::text) FROM unnest(n.nspacl) x))
      FROM pg_namespace n WHERE n.nspname = 'vs_ingest'
) s ORDER BY line;
