-- LISTEN/NOTIFY (whstudio.db.listen). The channel to listen to is composed into listen as an
-- identifier.

-- name: notify_all
-- One notification per payload, sent with the transaction's commit; synchronous_commit off for
-- this transaction only: a lost notification is harmless, a slow commit is not. Run alone on an
-- autocommit connection, the statement is its transaction: the setting holds until its commit.
SELECT set_config('synchronous_commit', 'off', true),
       (SELECT count(pg_notify(%(channel)s, e)) FROM unnest(%(payloads)s::text[]) AS e);

-- name: listen
LISTEN {channel}
