-- The database's own rules as they stand: read by `db/rules.py` to draw the map in
-- docs/consensus.md (which revision file holds each current definition, what one answer runs).

-- name: triggers
SELECT c.relname AS table_name, t.tgname AS trigger_name, p.proname AS function_name,
       t.tgtype::int AS tgtype, pg_get_triggerdef(t.oid) AS definition
  FROM pg_trigger t
  JOIN pg_class c ON c.oid = t.tgrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_proc p ON p.oid = t.tgfoid
 WHERE n.nspname = 'public' AND NOT t.tgisinternal
 ORDER BY c.relname, t.tgname;

-- name: functions
SELECT p.proname AS name, pg_get_function_identity_arguments(p.oid) AS args,
       l.lanname AS language, p.prosrc AS body, p.prosqlbody IS NOT NULL AS standard_body, p.prorettype = 'trigger'::regtype AS is_trigger
  FROM pg_proc p
  JOIN pg_namespace n ON n.oid = p.pronamespace
  JOIN pg_language l ON l.oid = p.prolang
 WHERE n.nspname = 'public'
   AND NOT EXISTS (SELECT 1 FROM pg_depend d
                    WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
 ORDER BY p.proname, args;

-- name: tables
SELECT c.relname AS name
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
 ORDER BY 1;
