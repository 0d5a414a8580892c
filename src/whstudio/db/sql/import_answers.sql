-- Statements of the answers import (domain/importing/answers.py).

-- name: tasks
-- The tasks a file's rows name: by id, or by their item's source id within the dataset given.
SELECT t.id, t.allow_tie, q.question_type, q.source_ref, q.source_dataset,
       jsonb_array_length(q.content -> 'options') AS n_options
  FROM tasks t
  JOIN questions q ON q.id = t.question_id
 WHERE t.id = ANY (%(task_ids)s::uuid[])
    OR (q.source_dataset = %(dataset)s::text AND q.source_ref = ANY (%(refs)s::text[]));

-- name: given_at
-- An imported answer keeps the time its file says it was given.
UPDATE submissions SET created_at = %(created_at)s WHERE id = %(id)s;
