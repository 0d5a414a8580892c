-- The catalog description (whstudio.db.catalog): one query per kind of object of a schema, each
-- row a line of the description. %(schema)s is the schema, %(skip)s the tables to leave out.

-- name: column
SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       coalesce(pg_get_expr(d.adbin, d.adrelid), ''), a.attgenerated, a.attidentity
  FROM pg_attribute a
  JOIN pg_class c ON c.oid = a.attrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'p', 'v', 'm')
   AND a.attnum > 0 AND NOT a.attisdropped AND c.relname <> ALL(%(skip)s);

-- name: constraint
SELECT c.relname, k.conname, k.contype, pg_get_constraintdef(k.oid), k.convalidated,
       k.condeferrable, k.condeferred
  FROM pg_constraint k
  JOIN pg_class c ON c.oid = k.conrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = %(schema)s AND c.relname <> ALL(%(skip)s);

-- name: index
SELECT t.relname, i.relname, pg_get_indexdef(x.indexrelid), x.indisvalid
  FROM pg_index x
  JOIN pg_class i ON i.oid = x.indexrelid
  JOIN pg_class t ON t.oid = x.indrelid
  JOIN pg_namespace n ON n.oid = t.relnamespace
 WHERE n.nspname = %(schema)s AND t.relname <> ALL(%(skip)s);

-- name: trigger
SELECT c.relname, g.tgname, pg_get_triggerdef(g.oid), g.tgenabled
  FROM pg_trigger g
  JOIN pg_class c ON c.oid = g.tgrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = %(schema)s AND NOT g.tgisinternal AND c.relname <> ALL(%(skip)s);

-- name: function
-- Every function, whatever tables are skipped.
SELECT p.proname, pg_get_function_identity_arguments(p.oid), pg_get_functiondef(p.oid)
  FROM pg_proc p
  JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = %(schema)s AND p.prokind IN ('f', 'p');

-- name: view
-- Views and materialised views, whatever tables are skipped.
SELECT c.relname, pg_get_viewdef(c.oid, true)
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = %(schema)s AND c.relkind IN ('v', 'm');

-- name: sequence
SELECT c.relname
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = %(schema)s AND c.relkind = 'S';

-- name: table
-- Ordinary and partitioned tables, and whether they are logged.
SELECT c.relname, c.relkind, c.relpersistence
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'p') AND c.relname <> ALL(%(skip)s);
