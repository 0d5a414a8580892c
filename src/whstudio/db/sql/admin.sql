-- name: migrate_lock
-- Held while the schema is brought to head, so that servers starting together migrate one at a
-- time. Session-level: taken and released on an autocommit connection.
SELECT pg_advisory_lock(hashtext('whstudio.migrate'));

-- name: migrate_unlock
SELECT pg_advisory_unlock(hashtext('whstudio.migrate'));
