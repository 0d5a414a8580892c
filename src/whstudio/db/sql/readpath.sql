-- The read-path switch of an online legacy migration (db/readpath.py).

-- name: state_exists
SELECT to_regclass('whs_legacy.state') IS NOT NULL;

-- name: path
SELECT CASE WHEN step = 'contracted' THEN 'new' ELSE read_path END FROM whs_legacy.state;

-- name: task_question_new
SELECT q.question_type, q.content, q.gold_standard
  FROM public.tasks t JOIN public.questions q ON q.id = t.question_id
 WHERE t.id = %(task)s;

-- name: task_question_old
-- The old path parses the legacy column itself, with the same function the dual writes use.
SELECT p.qtype, p.content, p.gold
  FROM public.tasks t, whs_legacy.parse_instructions_v1(t.task_type, t.instructions) AS p
 WHERE t.id = %(task)s AND p.reason IS NULL;
