-- Our database in the embedded server (whstudio.db.embedded), made on first use; its name is
-- composed into create_database as an identifier.

-- name: database_exists
SELECT 1 FROM pg_database WHERE datname = %(name)s;

-- name: create_database
CREATE DATABASE {name}
