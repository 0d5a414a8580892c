-- name: usernames
SELECT id, username FROM users WHERE id = ANY (%(ids)s);

-- name: vote_counts
-- The pairwise answers behind vote-pair agreement, counted per item and folded: one row per
-- slice and distinct count signature, with how many items share it (a million items make a few
-- hundred rows). An item is a task (an imported item's task is its question, model pair and
-- turn); only each annotator's latest answer counts. Side x: annotators in group_x (a group, or
-- `person` / `model` for their kind; NULL: everyone); side y likewise; `both` counts the
-- answers of annotators on both sides, so that nobody is paired with himself. The slice is the
-- dataset, the unordered model pair, or any metadata field of the item (the task's own over its
-- question's); NULL by: one slice.
WITH votes AS (
    SELECT s.task_id,
           CASE %(by)s::text
               WHEN 'dataset' THEN q.source_dataset
               WHEN 'model_pair' THEN
                   CASE WHEN m.meta ->> 'model_a' <= m.meta ->> 'model_b'
                        THEN (m.meta ->> 'model_a') || ' vs ' || (m.meta ->> 'model_b')
                        ELSE (m.meta ->> 'model_b') || ' vs ' || (m.meta ->> 'model_a') END
               ELSE m.meta ->> %(by)s::text
           END AS slice,
           s.chosen_response AS label,
           (%(group_x)s::text IS NULL OR u.kind = %(group_x)s OR %(group_x)s = ANY (u.groups))
               AS in_x,
           (%(group_y)s::text IS NULL OR u.kind = %(group_y)s OR %(group_y)s = ANY (u.groups))
               AS in_y
      FROM submissions s
      JOIN tasks t ON t.id = s.task_id
      JOIN questions q ON q.id = t.question_id
      JOIN users u ON u.id = s.user_id
     CROSS JOIN LATERAL (SELECT q.metadata || t.metadata AS meta) AS m
     WHERE s.is_latest AND s.chosen_response IS NOT NULL
       AND (%(dataset)s::text IS NULL OR q.source_dataset = %(dataset)s::text)
), items AS (
    SELECT task_id, slice,
           count(*) FILTER (WHERE in_x AND label = 'A') AS xa,
           count(*) FILTER (WHERE in_x AND label = 'B') AS xb,
           count(*) FILTER (WHERE in_x AND label = 'tie') AS xt,
           count(*) FILTER (WHERE in_y AND label = 'A') AS ya,
           count(*) FILTER (WHERE in_y AND label = 'B') AS yb,
           count(*) FILTER (WHERE in_y AND label = 'tie') AS yt,
           count(*) FILTER (WHERE in_x AND in_y AND label = 'A') AS ba,
           count(*) FILTER (WHERE in_x AND in_y AND label = 'B') AS bb,
           count(*) FILTER (WHERE in_x AND in_y AND label = 'tie') AS bt
      FROM votes
     WHERE in_x OR in_y
     GROUP BY task_id, slice
)
SELECT slice, xa, xb, xt, ya, yb, yt, ba, bb, bt, count(*) AS items
  FROM items
 GROUP BY slice, xa, xb, xt, ya, yb, yt, ba, bb, bt
 ORDER BY slice NULLS LAST, xa, xb, xt, ya, yb, yt, ba, bb, bt;
