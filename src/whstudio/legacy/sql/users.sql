-- Letting legacy users in (whstudio.legacy.users).

-- name: find
-- The users an identity names: an id, world_id, nullifier_hash or username.
SELECT id, username FROM public.users WHERE id::text = %(i)s OR world_id = %(i)s
OR nullifier_hash = %(i)s OR username = %(i)s

-- name: name_taken
-- Whether another user has the sign-in name.
SELECT 1 FROM public.users WHERE username = %s AND id <> %s

-- name: rename
-- The user's sign-in name.
UPDATE public.users SET username = %s WHERE id = %s

-- name: set_password
-- A password lets the user in: the account is active from then on.
UPDATE public.users SET password_hash = %s, is_active = true WHERE id = %s

-- name: add_token
-- An API token, stored as its prefix and hash.
INSERT INTO public.api_tokens (user_id, name, token_prefix, token_hash)
VALUES (%s, %s, %s, %s)
