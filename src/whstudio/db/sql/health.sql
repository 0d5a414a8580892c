-- name: schema_revision
-- The revision the schema is at; no row before the first migration made alembic_version.
SELECT version_num FROM alembic_version WHERE to_regclass('public.alembic_version') IS NOT NULL;
