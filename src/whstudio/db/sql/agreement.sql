-- name: usernames
SELECT id, username FROM users WHERE id = ANY (%(ids)s);
