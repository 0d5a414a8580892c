-- The public schema's objects as data (whstudio.legacy.objects): one query per kind, read from
-- a legacy database and from a fresh install, compared by expand, contract and rollback.

-- name: tables
-- Ordinary and partitioned tables.
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')

-- name: columns
-- Each table's columns, in order, with type, NOT NULL, default, generation, identity.
SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid), a.attgenerated, a.attidentity
  FROM pg_attribute a
  JOIN pg_class c ON c.oid = a.attrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY c.relname, a.attnum

-- name: constraints
-- Each constraint with its columns and their types, and the table it references.
SELECT c.relname, k.conname, k.contype, pg_get_constraintdef(k.oid), k.convalidated,
       ARRAY(SELECT a.attname FROM pg_attribute a
              WHERE a.attrelid = k.conrelid AND a.attnum = ANY (k.conkey) ORDER BY a.attnum),
       ARRAY(SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
              WHERE a.attrelid = k.conrelid AND a.attnum = ANY (k.conkey) ORDER BY a.attnum),
       coalesce(r.relname, '')
  FROM pg_constraint k
  JOIN pg_class c ON c.oid = k.conrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_class r ON r.oid = k.confrelid
 WHERE n.nspname = 'public'

-- name: indexes
-- Indexes of their own, not those of a primary-key, unique or exclusion constraint.
SELECT t.relname, i.relname, pg_get_indexdef(x.indexrelid), x.indisvalid
  FROM pg_index x
  JOIN pg_class i ON i.oid = x.indexrelid
  JOIN pg_class t ON t.oid = x.indrelid
  JOIN pg_namespace n ON n.oid = t.relnamespace
 WHERE n.nspname = 'public'
   AND NOT EXISTS (SELECT FROM pg_constraint k WHERE k.conindid = x.indexrelid
                                                  AND k.contype IN ('p', 'u', 'x'))

-- name: triggers
-- Triggers of our own (not those of constraints), with whether they are enabled.
SELECT c.relname, g.tgname, pg_get_triggerdef(g.oid), g.tgenabled
  FROM pg_trigger g
  JOIN pg_class c ON c.oid = g.tgrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'public' AND NOT g.tgisinternal

-- name: functions
-- Each function's signature, name(arguments), and definition.
SELECT p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
       pg_get_functiondef(p.oid)
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'public' AND p.prokind IN ('f', 'p')

-- name: views
-- Each view's definition.
SELECT c.relname, pg_get_viewdef(c.oid, true)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'public' AND c.relkind = 'v'

-- name: sequences
-- Sequences of their own, not those of a serial or identity column.
SELECT s.sequencename, s.data_type::text, s.start_value, s.min_value, s.max_value,
       s.increment_by, s.cycle, s.cache_size
  FROM pg_sequences s
 WHERE s.schemaname = 'public'
   AND NOT EXISTS (SELECT FROM pg_depend d JOIN pg_class c ON c.oid = d.objid
                    WHERE c.relname = s.sequencename AND d.deptype IN ('a', 'i'))

-- name: check_with_nulls
-- A CHECK's expression over a row whose checked columns are all NULL (composed in: the
-- expression, and the columns as NULL::type AS name).
SELECT {check} FROM (SELECT {columns}) AS x
