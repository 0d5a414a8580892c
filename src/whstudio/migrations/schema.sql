--
-- PostgreSQL database dump
--


SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: annotator_stats; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.annotator_stats (
    user_id uuid NOT NULL,
    answers integer DEFAULT 0 NOT NULL,
    gold_answered integer DEFAULT 0 NOT NULL,
    gold_correct integer DEFAULT 0 NOT NULL,
    gold_fail_streak integer DEFAULT 0 NOT NULL,
    evaluated integer DEFAULT 0 NOT NULL,
    agreed integer DEFAULT 0 NOT NULL,
    sided integer DEFAULT 0 NOT NULL,
    picked_left integer DEFAULT 0 NOT NULL,
    picked_a integer DEFAULT 0 NOT NULL,
    picked_b integer DEFAULT 0 NOT NULL,
    timed integer DEFAULT 0 NOT NULL,
    time_sum bigint DEFAULT 0 NOT NULL,
    fast integer DEFAULT 0 NOT NULL,
    ds_accuracy double precision,
    ds_labels integer,
    accuracy double precision DEFAULT 0.7 NOT NULL,
    accuracy_low double precision DEFAULT 0 NOT NULL,
    accuracy_high double precision DEFAULT 1 NOT NULL,
    flags text[] DEFAULT '{}'::text[] NOT NULL,
    updated_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    CONSTRAINT annotator_stats_counts_check CHECK (((answers >= 0) AND (gold_answered >= gold_correct) AND (gold_correct >= 0) AND (evaluated >= agreed) AND (agreed >= 0) AND (sided >= picked_left) AND (picked_left >= 0) AND (picked_a >= 0) AND (picked_b >= 0) AND (timed >= 0) AND (time_sum >= 0) AND (fast >= 0) AND (gold_fail_streak >= 0))),
    CONSTRAINT annotator_stats_ds_accuracy_check CHECK (((ds_accuracy >= (0)::double precision) AND (ds_accuracy <= (1)::double precision))),
    CONSTRAINT annotator_stats_ds_labels_check CHECK ((ds_labels >= 0))
);


--
-- Name: annotator_flags(public.annotator_stats, double precision, double precision); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.annotator_flags(s public.annotator_stats, low double precision, high double precision) RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
SELECT array_remove(ARRAY[
    CASE WHEN s.sided >= 20 AND abs(2 * s.picked_left - s.sided) >= 4 * sqrt(s.sided)
              AND greatest(s.picked_left, s.sided - s.picked_left) >= 0.8 * s.sided
         THEN 'position_bias' END,
    CASE WHEN s.picked_a + s.picked_b >= 20
              AND abs(s.picked_a - s.picked_b) >= 4 * sqrt(s.picked_a + s.picked_b)
              AND greatest(s.picked_a, s.picked_b) >= 0.8 * (s.picked_a + s.picked_b)
         THEN 'same_answer' END,
    CASE WHEN s.gold_fail_streak >= 4 THEN 'gold_failures' END,
    CASE WHEN s.gold_answered + s.evaluated + coalesce(s.ds_labels, 0) >= 20 AND high < 0.5
         THEN 'below_chance' END,
    CASE WHEN s.gold_answered + s.evaluated + coalesce(s.ds_labels, 0) >= 30
              AND high >= 0.5 AND high < 0.65
         THEN 'near_chance' END,
    CASE WHEN s.fast >= 5 AND s.fast >= 0.3 * s.timed THEN 'fast' END], NULL)
$$;


--
-- Name: uuid_time_ordered(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.uuid_time_ordered() RETURNS uuid
    LANGUAGE sql PARALLEL SAFE
    AS $$
    -- 48 bits of Unix time in ms over the first 6 bytes of a random UUID, then its version
    -- nibble from 4 (0100) to 7 (0111): bits 52 and 53 of the bytea (byte 6's high nibble).
    SELECT encode(
               set_bit(set_bit(
                   overlay(uuid_send(gen_random_uuid())
                           PLACING substring(int8send(
                               (extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
                           FROM 1 FOR 6),
                   52, 1), 53, 1),
               'hex')::uuid
$$;


--
-- Name: submissions; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.submissions (
    id uuid DEFAULT public.uuid_time_ordered() NOT NULL,
    task_id uuid NOT NULL,
    user_id uuid NOT NULL,
    question_id uuid NOT NULL,
    response_version integer DEFAULT 1 NOT NULL,
    is_latest boolean DEFAULT true NOT NULL,
    chosen_response text,
    confidence smallint,
    explanation text,
    time_spent_seconds integer,
    shown_order text,
    payload jsonb,
    idempotency_key text,
    submitter_nullifier text,
    status text DEFAULT 'pending'::text NOT NULL,
    reviewer_id uuid,
    review_notes text,
    reviewed_at timestamp with time zone,
    created_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    updated_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    vote_weight numeric(9,6) DEFAULT 1 NOT NULL,
    source_label text,
    in_consensus boolean DEFAULT true NOT NULL,
    informed boolean DEFAULT false NOT NULL,
    guidelines_version integer,
    reasons text[],
    CONSTRAINT submissions_answer_check CHECK (((chosen_response IS NULL) <> (payload IS NULL))),
    CONSTRAINT submissions_chosen_response_check CHECK ((chosen_response = ANY (ARRAY['A'::text, 'B'::text, 'tie'::text]))),
    CONSTRAINT submissions_confidence_check CHECK (((confidence >= 1) AND (confidence <= 5))),
    CONSTRAINT submissions_explanation_check CHECK ((length(explanation) <= 5000)),
    CONSTRAINT submissions_idempotency_key_check CHECK (((length(idempotency_key) >= 1) AND (length(idempotency_key) <= 200))),
    CONSTRAINT submissions_payload_check CHECK ((jsonb_typeof(payload) = 'object'::text)),
    CONSTRAINT submissions_reasons_check CHECK (((cardinality(reasons) >= 1) AND (cardinality(reasons) <= 20))),
    CONSTRAINT submissions_response_version_check CHECK ((response_version >= 1)),
    CONSTRAINT submissions_shown_order_check CHECK ((shown_order = ANY (ARRAY['AB'::text, 'BA'::text]))),
    CONSTRAINT submissions_source_label_check CHECK (((length(source_label) >= 1) AND (length(source_label) <= 200))),
    CONSTRAINT submissions_status_check CHECK ((status = ANY (ARRAY['pending'::text, 'approved'::text, 'rejected'::text, 'under_review'::text]))),
    CONSTRAINT submissions_time_spent_seconds_check CHECK (((time_spent_seconds >= 0) AND (time_spent_seconds <= 86400))),
    CONSTRAINT submissions_vote_weight_check CHECK (((vote_weight >= (0)::numeric) AND (vote_weight <= (100)::numeric)))
);


--
-- Name: COLUMN submissions.informed; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.submissions.informed IS 'given after its author could see others'' answers to the task: kept, never counted';


--
-- Name: COLUMN submissions.guidelines_version; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.submissions.guidelines_version IS 'the version of its dataset''s guidelines in force when the answer was given';


--
-- Name: COLUMN submissions.reasons; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.submissions.reasons IS 'the criteria of those guidelines the annotator ticked with their answer';


--
-- Name: answer_matches(public.submissions, jsonb); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.answer_matches(s public.submissions, gold jsonb) RETURNS boolean
    LANGUAGE sql IMMUTABLE
    AS $$
SELECT CASE
    WHEN gold IS NULL THEN NULL
    WHEN gold ? 'chosen_response' THEN s.chosen_response = gold ->> 'chosen_response'
    WHEN gold ? 'ranking' THEN s.payload -> 'ranking' = gold -> 'ranking'
    WHEN gold ? 'transcript' THEN
        lower(regexp_replace(btrim(s.payload ->> 'transcript'), '\s+', ' ', 'g'))
        = lower(regexp_replace(btrim(gold ->> 'transcript'), '\s+', ' ', 'g'))
END
$$;


--
-- Name: auth_changed_v1(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.auth_changed_v1() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE
    changed record;
BEGIN
    IF TG_OP = 'DELETE' THEN
        changed := OLD;
    ELSE
        changed := NEW;
    END IF;
    IF TG_TABLE_NAME = 'users' THEN
        PERFORM pg_notify('whstudio_auth', changed.id::text);
    ELSE
        PERFORM pg_notify('whstudio_auth', changed.user_id::text);
    END IF;
    RETURN NULL;
END
$$;


--
-- Name: consensus_apply_vote(public.submissions, integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.consensus_apply_vote(s public.submissions, sign integer) RETURNS void
    LANGUAGE plpgsql
    AS $$
DECLARE
    r response_consensus;
    t record;
    was boolean;
    w numeric := s.vote_weight * sign;
    ranking jsonb;
    n integer;
    hi integer;
    lo integer;
BEGIN
    SELECT * INTO r FROM response_consensus WHERE task_id = s.task_id FOR UPDATE;
    SELECT tk.consensus_threshold, tk.min_agreement_percentage, q.question_type,
           jsonb_array_length(q.content -> 'options') AS n
      INTO t
      FROM tasks tk JOIN questions q ON q.id = tk.question_id
     WHERE tk.id = s.task_id;
    was := r.consensus_reached;
    r.total_responses := r.total_responses + sign;
    IF s.chosen_response = 'A' THEN
        r.count_a := r.count_a + sign;
        r.weight_a := r.weight_a + w;
        r.confidence_sum_a := r.confidence_sum_a + sign * coalesce(s.confidence, 0);
    ELSIF s.chosen_response = 'B' THEN
        r.count_b := r.count_b + sign;
        r.weight_b := r.weight_b + w;
        r.confidence_sum_b := r.confidence_sum_b + sign * coalesce(s.confidence, 0);
    ELSIF s.chosen_response = 'tie' THEN
        r.count_tie := r.count_tie + sign;
        r.weight_tie := r.weight_tie + w;
        r.confidence_sum_tie := r.confidence_sum_tie + sign * coalesce(s.confidence, 0);
    END IF;
    IF s.confidence IS NOT NULL THEN
        r.confidence_sum := r.confidence_sum + sign * s.confidence;
        r.confidence_count := r.confidence_count + sign;
    END IF;
    IF s.time_spent_seconds IS NOT NULL THEN
        r.time_spent_sum := r.time_spent_sum + sign * s.time_spent_seconds;
        r.time_spent_count := r.time_spent_count + sign;
    END IF;
    ranking := s.payload -> 'ranking';
    n := t.n;
    IF t.question_type = 'ranking' AND jsonb_typeof(ranking) = 'array' THEN
        FOR a IN 0 .. n - 2 LOOP
            hi := (ranking ->> a)::integer;
            FOR b IN a + 1 .. n - 1 LOOP
                lo := (ranking ->> b)::integer;
                r.ranking_counts[hi * n + lo + 1] := r.ranking_counts[hi * n + lo + 1] + sign;
                r.ranking_weights[hi * n + lo + 1] := r.ranking_weights[hi * n + lo + 1] + w;
            END LOOP;
        END LOOP;
    END IF;
    r := consensus_derive(r, t.consensus_threshold, t.min_agreement_percentage, t.question_type, n);
    PERFORM consensus_store(r, was);
END
$$;


--
-- Name: response_consensus; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.response_consensus (
    task_id uuid NOT NULL,
    count_a integer DEFAULT 0 NOT NULL,
    count_b integer DEFAULT 0 NOT NULL,
    count_tie integer DEFAULT 0 NOT NULL,
    total_responses integer DEFAULT 0 NOT NULL,
    weight_a numeric(18,6) DEFAULT 0 NOT NULL,
    weight_b numeric(18,6) DEFAULT 0 NOT NULL,
    weight_tie numeric(18,6) DEFAULT 0 NOT NULL,
    confidence_sum integer DEFAULT 0 NOT NULL,
    time_spent_sum bigint DEFAULT 0 NOT NULL,
    agreement_percentage numeric(5,2) DEFAULT 0 NOT NULL,
    weighted_agreement_percentage numeric(5,2) DEFAULT 0 NOT NULL,
    final_answer jsonb,
    consensus_reached boolean DEFAULT false NOT NULL,
    reached_at timestamp with time zone,
    details jsonb DEFAULT '{}'::jsonb NOT NULL,
    version bigint DEFAULT 0 NOT NULL,
    updated_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    confidence_count integer DEFAULT 0 NOT NULL,
    confidence_sum_a integer DEFAULT 0 NOT NULL,
    confidence_sum_b integer DEFAULT 0 NOT NULL,
    confidence_sum_tie integer DEFAULT 0 NOT NULL,
    time_spent_count integer DEFAULT 0 NOT NULL,
    ranking_counts integer[],
    ranking_weights numeric(18,6)[],
    remaining integer DEFAULT 0 NOT NULL,
    task_active boolean DEFAULT false NOT NULL,
    task_priority integer DEFAULT 3 NOT NULL,
    has_gold boolean DEFAULT false NOT NULL,
    task_status text NOT NULL,
    question_type text NOT NULL,
    source_dataset text,
    CONSTRAINT response_consensus_agreement_check CHECK (((agreement_percentage >= (0)::numeric) AND (agreement_percentage <= (100)::numeric))),
    CONSTRAINT response_consensus_counts_check CHECK (((count_a >= 0) AND (count_b >= 0) AND (count_tie >= 0) AND (total_responses >= ((count_a + count_b) + count_tie)))),
    CONSTRAINT response_consensus_details_check CHECK ((jsonb_typeof(details) = 'object'::text)),
    CONSTRAINT response_consensus_reached_check CHECK (((NOT consensus_reached) OR (final_answer IS NOT NULL))),
    CONSTRAINT response_consensus_stat_counts_check CHECK (((confidence_count >= 0) AND (time_spent_count >= 0) AND (remaining >= 0) AND (confidence_sum_a >= 0) AND (confidence_sum_b >= 0) AND (confidence_sum_tie >= 0))),
    CONSTRAINT response_consensus_sums_check CHECK (((confidence_sum >= 0) AND (time_spent_sum >= 0))),
    CONSTRAINT response_consensus_weighted_agreement_check CHECK (((weighted_agreement_percentage >= (0)::numeric) AND (weighted_agreement_percentage <= (100)::numeric))),
    CONSTRAINT response_consensus_weights_check CHECK (((weight_a >= (0)::numeric) AND (weight_b >= (0)::numeric) AND (weight_tie >= (0)::numeric)))
);


--
-- Name: consensus_derive(public.response_consensus, integer, numeric, text, integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.consensus_derive(r public.response_consensus, threshold integer, min_agreement numeric, qtype text, n integer) RETURNS public.response_consensus
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    AS $$
DECLARE
    top integer;
    leaders integer;
    wtop numeric;
    wtotal numeric;
    winner text;
    scores integer[];
    borda integer[];
    wagree numeric := 0;
    agree numeric := 0;
    pairs integer := 0;
    wpairs integer := 0;
    cij integer;
    cji integer;
    wij numeric;
    wji numeric;
    ordered integer[];
BEGIN
    r.agreement_percentage := 0;
    r.weighted_agreement_percentage := 0;
    r.final_answer := NULL;
    IF qtype = 'pairwise_ab' THEN
        top := greatest(r.count_a, r.count_b, r.count_tie);
        leaders := (r.count_a = top)::int + (r.count_b = top)::int + (r.count_tie = top)::int;
        IF r.total_responses > 0 THEN
            r.agreement_percentage := round(top * 100.0 / r.total_responses, 2);
        END IF;
        wtotal := r.weight_a + r.weight_b + r.weight_tie;
        wtop := greatest(r.weight_a, r.weight_b, r.weight_tie);
        IF wtotal > 0 THEN
            r.weighted_agreement_percentage := round(wtop * 100 / wtotal, 2);
        END IF;
        -- The leader counts only when it leads alone, and 'tie' is never a winner.
        IF top > 0 AND leaders = 1 THEN
            winner := CASE WHEN r.count_a = top THEN 'A' WHEN r.count_b = top THEN 'B' END;
        END IF;
        IF winner IS NOT NULL THEN
            r.final_answer := jsonb_build_object('chosen_response', winner);
        END IF;
    ELSIF qtype = 'ranking' AND r.total_responses > 0 AND n IS NOT NULL THEN
        -- Copeland's method (Condorcet-consistent): an option scores +1 for each option a
        -- majority ranks below it and -1 for each ranked above; ties are broken by Borda count.
        scores := array_fill(0, ARRAY[n]);
        borda := array_fill(0, ARRAY[n]);
        FOR i IN 0 .. n - 1 LOOP
            FOR j IN 0 .. n - 1 LOOP
                CONTINUE WHEN i = j;
                cij := r.ranking_counts[i * n + j + 1];
                cji := r.ranking_counts[j * n + i + 1];
                scores[i + 1] := scores[i + 1] + CASE WHEN cij > cji THEN 1 WHEN cij < cji THEN -1 ELSE 0 END;
                borda[i + 1] := borda[i + 1] + cij;
                IF i < j THEN
                    IF cij + cji > 0 THEN
                        pairs := pairs + 1;
                        agree := agree + greatest(cij, cji)::numeric / (cij + cji);
                    END IF;
                    wij := r.ranking_weights[i * n + j + 1];
                    wji := r.ranking_weights[j * n + i + 1];
                    IF wij + wji > 0 THEN
                        wpairs := wpairs + 1;
                        wagree := wagree + greatest(wij, wji) / (wij + wji);
                    END IF;
                END IF;
            END LOOP;
        END LOOP;
        SELECT array_agg(k - 1 ORDER BY scores[k] DESC, borda[k] DESC, k)
          INTO ordered FROM generate_series(1, n) AS k;
        IF pairs > 0 THEN
            r.agreement_percentage := round(agree * 100 / pairs, 2);
        END IF;
        IF wpairs > 0 THEN
            r.weighted_agreement_percentage := round(wagree * 100 / wpairs, 2);
        END IF;
        IF scores[ordered[1] + 1] <> scores[ordered[2] + 1]
           OR borda[ordered[1] + 1] <> borda[ordered[2] + 1] THEN
            r.final_answer := jsonb_build_object('ranking', to_jsonb(ordered));
        END IF;
    ELSIF qtype = 'voice_transcription' AND r.total_responses > 0 AND r.details ? 'transcription' THEN
        -- Word error rates are computed by the application (jiwer) into details.transcription.
        r.agreement_percentage := coalesce((r.details #>> '{transcription,agreement}')::numeric, 0);
        r.weighted_agreement_percentage := r.agreement_percentage;
        r.final_answer := jsonb_build_object('transcript', r.details #> '{transcription,medoid}');
    END IF;
    -- text_generation has no automatic winner: it goes to review.
    r.consensus_reached := r.final_answer IS NOT NULL
        AND r.total_responses >= threshold
        AND r.agreement_percentage >= min_agreement;
    r.remaining := greatest(threshold - r.total_responses, 0);
    RETURN r;
END
$$;


--
-- Name: consensus_rebuild_v1(uuid); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.consensus_rebuild_v1(p_task uuid) RETURNS void
    LANGUAGE plpgsql
    AS $$
DECLARE
    was boolean;
BEGIN
    SELECT consensus_reached INTO was FROM response_consensus WHERE task_id = p_task FOR UPDATE;
    IF FOUND THEN
        PERFORM consensus_store(consensus_recompute_v1(p_task), was);
    END IF;
END
$$;


--
-- Name: consensus_recompute_v1(uuid); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.consensus_recompute_v1(p_task uuid) RETURNS public.response_consensus
    LANGUAGE plpgsql STABLE
    AS $$
DECLARE
    r response_consensus;
    t record;
BEGIN
    SELECT * INTO r FROM response_consensus WHERE task_id = p_task;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    SELECT tk.consensus_threshold, tk.min_agreement_percentage, q.question_type,
           jsonb_array_length(q.content -> 'options') AS n
      INTO t
      FROM tasks tk JOIN questions q ON q.id = tk.question_id
     WHERE tk.id = p_task;
    SELECT count(*),
           count(*) FILTER (WHERE chosen_response = 'A'),
           count(*) FILTER (WHERE chosen_response = 'B'),
           count(*) FILTER (WHERE chosen_response = 'tie'),
           coalesce(sum(vote_weight) FILTER (WHERE chosen_response = 'A'), 0),
           coalesce(sum(vote_weight) FILTER (WHERE chosen_response = 'B'), 0),
           coalesce(sum(vote_weight) FILTER (WHERE chosen_response = 'tie'), 0),
           coalesce(sum(confidence), 0),
           count(confidence),
           coalesce(sum(confidence) FILTER (WHERE chosen_response = 'A'), 0),
           coalesce(sum(confidence) FILTER (WHERE chosen_response = 'B'), 0),
           coalesce(sum(confidence) FILTER (WHERE chosen_response = 'tie'), 0),
           coalesce(sum(time_spent_seconds), 0),
           count(time_spent_seconds)
      INTO r.total_responses, r.count_a, r.count_b, r.count_tie,
           r.weight_a, r.weight_b, r.weight_tie,
           r.confidence_sum, r.confidence_count,
           r.confidence_sum_a, r.confidence_sum_b, r.confidence_sum_tie,
           r.time_spent_sum, r.time_spent_count
      FROM submissions
     WHERE task_id = p_task AND is_latest AND in_consensus;
    IF t.question_type = 'ranking' THEN
        SELECT array_agg(coalesce(p.c, 0)::integer ORDER BY g.k),
               array_agg(coalesce(p.w, 0) ORDER BY g.k)
          INTO r.ranking_counts, r.ranking_weights
          FROM generate_series(0, t.n * t.n - 1) AS g(k)
          LEFT JOIN (
              SELECT hi.v::integer * t.n + lo.v::integer AS k, count(*) AS c, sum(s.vote_weight) AS w
                FROM submissions s,
                     jsonb_array_elements_text(s.payload -> 'ranking') WITH ORDINALITY AS hi(v, pos),
                     jsonb_array_elements_text(s.payload -> 'ranking') WITH ORDINALITY AS lo(v, pos)
               WHERE s.task_id = p_task AND s.is_latest AND s.in_consensus AND hi.pos < lo.pos
               GROUP BY 1
          ) p ON p.k = g.k;
    END IF;
    RETURN consensus_derive(r, t.consensus_threshold, t.min_agreement_percentage,
                            t.question_type, t.n);
END
$$;


--
-- Name: consensus_store(public.response_consensus, boolean); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.consensus_store(r public.response_consensus, was_reached boolean) RETURNS void
    LANGUAGE plpgsql
    AS $$
DECLARE
    payload text;
    mode text := current_setting('whstudio.defer_events', true);
BEGIN
    IF NOT r.consensus_reached THEN
        r.reached_at := NULL;
    ELSIF NOT was_reached OR r.reached_at IS NULL THEN
        r.reached_at := CURRENT_TIMESTAMP;
    END IF;
    r.version := nextval('consensus_event_seq');
    UPDATE response_consensus c SET
        count_a = r.count_a, count_b = r.count_b, count_tie = r.count_tie,
        total_responses = r.total_responses,
        weight_a = r.weight_a, weight_b = r.weight_b, weight_tie = r.weight_tie,
        confidence_sum = r.confidence_sum, confidence_count = r.confidence_count,
        confidence_sum_a = r.confidence_sum_a, confidence_sum_b = r.confidence_sum_b,
        confidence_sum_tie = r.confidence_sum_tie,
        time_spent_sum = r.time_spent_sum, time_spent_count = r.time_spent_count,
        ranking_counts = r.ranking_counts, ranking_weights = r.ranking_weights,
        agreement_percentage = r.agreement_percentage,
        weighted_agreement_percentage = r.weighted_agreement_percentage,
        final_answer = r.final_answer, consensus_reached = r.consensus_reached,
        reached_at = r.reached_at, remaining = r.remaining, details = r.details,
        version = r.version, updated_at = CURRENT_TIMESTAMP
     WHERE c.task_id = r.task_id;
    IF mode = 'silent' THEN
        RETURN;  -- left to the listeners' version watch
    END IF;
    payload := json_build_object(
        'task_id', r.task_id, 'version', r.version, 'total_responses', r.total_responses,
        'remaining', r.remaining, 'consensus_reached', r.consensus_reached,
        'agreement_percentage', r.agreement_percentage, 'final_answer', r.final_answer,
        'count_a', r.count_a, 'count_b', r.count_b, 'count_tie', r.count_tie,
        'reached_changed', r.consensus_reached IS DISTINCT FROM was_reached)::text;
    IF mode = 'on' THEN
        PERFORM set_config('whstudio.deferred_events',
                           coalesce(current_setting('whstudio.deferred_events', true), '')
                           || payload || E'\n', true);
    ELSE
        PERFORM pg_notify('whstudio_consensus', payload);
    END IF;
END
$$;


--
-- Name: gold_answer(text, jsonb); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.gold_answer(qtype text, gold_standard jsonb) RETURNS jsonb
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
SELECT CASE WHEN gold_standard IS NOT NULL THEN
    CASE qtype
    WHEN 'pairwise_ab' THEN jsonb_build_object('chosen_response', gold_standard)
    WHEN 'ranking' THEN jsonb_build_object('ranking', gold_standard)
    WHEN 'text_generation' THEN jsonb_build_object('text', gold_standard)
    ELSE jsonb_build_object('transcript', gold_standard) END END
$$;


--
-- Name: gold_standard_valid(text, jsonb, jsonb); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.gold_standard_valid(qtype text, content jsonb, gold jsonb) RETURNS boolean
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    AS $$
BEGIN
    IF gold IS NULL THEN
        RETURN true;
    END IF;
    CASE qtype
    WHEN 'pairwise_ab' THEN
        RETURN gold IN ('"A"'::jsonb, '"B"'::jsonb, '"tie"'::jsonb);
    WHEN 'ranking' THEN
        RETURN public.is_permutation(gold, jsonb_array_length(content -> 'options'));
    ELSE
        RETURN coalesce(jsonb_typeof(gold) = 'string' AND btrim(gold #>> '{}') <> '', false);
    END CASE;
END
$$;


--
-- Name: is_permutation(jsonb, integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.is_permutation(ranking jsonb, n integer) RETURNS boolean
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    AS $_$
BEGIN
    IF n IS NULL OR jsonb_typeof(ranking) IS DISTINCT FROM 'array'
       OR jsonb_array_length(ranking) <> n
       OR jsonb_path_exists(ranking, '$[*] ? (@.type() != "number" || @ != @.floor())') THEN
        RETURN false;
    END IF;
    RETURN coalesce(
        (SELECT count(DISTINCT e::numeric) = n AND min(e::numeric) = 0 AND max(e::numeric) = n - 1
           FROM jsonb_array_elements_text(ranking) AS e),
        false);
END
$_$;


--
-- Name: loo_verdict(text, integer, integer, integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.loo_verdict(choice text, count_a integer, count_b integer, count_tie integer, OUT agreed boolean, OUT others_agreeing integer, OUT others_total integer) RETURNS record
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    AS $$
DECLARE
    a integer := count_a - (choice = 'A')::int;
    b integer := count_b - (choice = 'B')::int;
    t integer := count_tie - (choice = 'tie')::int;
    top integer;
    winner text;
BEGIN
    IF a < 0 OR b < 0 OR t < 0 THEN
        RETURN;  -- the answer is not among the counts: nothing to judge it by
    END IF;
    others_total := a + b + t;
    others_agreeing := CASE choice WHEN 'A' THEN a WHEN 'B' THEN b ELSE t END;
    top := greatest(a, b, t);
    IF top > 0 AND (a = top)::int + (b = top)::int + (t = top)::int = 1 AND t <> top THEN
        winner := CASE WHEN a = top THEN 'A' ELSE 'B' END;
        agreed := choice = winner;
    END IF;
END
$$;


--
-- Name: next_task_v1(uuid, integer, boolean); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.next_task_v1(p_user uuid, p_lease_seconds integer, p_gold_first boolean) RETURNS TABLE(task_id uuid, lease_expires_at timestamp with time zone)
    LANGUAGE plpgsql
    AS $$
#variable_conflict use_column
DECLARE
    cand record;
    locked record;
    taken integer;
    busy boolean;
    kinds boolean[] := CASE WHEN p_gold_first THEN ARRAY[true, false] ELSE ARRAY[false, true] END;
    gold boolean;
    candidates refcursor;
BEGIN
    SELECT l.task_id INTO cand
      FROM task_leases l
      JOIN response_consensus c ON c.task_id = l.task_id
     WHERE l.user_id = p_user AND l.expires_at > CURRENT_TIMESTAMP AND c.task_active
       AND NOT EXISTS (SELECT 1 FROM submissions s
                        WHERE s.task_id = l.task_id AND s.user_id = p_user)
     ORDER BY l.created_at
     LIMIT 1;
    IF FOUND THEN
        UPDATE task_leases l
           SET expires_at = CURRENT_TIMESTAMP + make_interval(secs => p_lease_seconds)
         WHERE l.task_id = cand.task_id AND l.user_id = p_user
        RETURNING l.task_id, l.expires_at INTO task_id, lease_expires_at;
        RETURN NEXT;
        RETURN;
    END IF;
    FOR attempt IN 1 .. 6 LOOP
        busy := false;
        FOREACH gold IN ARRAY kinds LOOP
            -- Two statements with fixed orders, each matching its index whatever plan
            -- PL/pgSQL caches (a generic plan cannot fold a CASE on `gold` into an index order).
            IF gold THEN
                OPEN candidates FOR
                    SELECT c.task_id
                      FROM response_consensus c
                      JOIN tasks t ON t.id = c.task_id
                     WHERE c.task_active AND c.has_gold
                       AND (t.expires_at IS NULL OR t.expires_at > CURRENT_TIMESTAMP)
                       AND NOT EXISTS (SELECT 1 FROM submissions s
                                        WHERE s.task_id = c.task_id AND s.user_id = p_user)
                       AND NOT EXISTS (SELECT 1 FROM task_skips k
                                        WHERE k.task_id = c.task_id AND k.user_id = p_user)
                     ORDER BY c.task_priority DESC, c.task_id
                     LIMIT 8;
            ELSE
                OPEN candidates FOR
                    SELECT c.task_id
                      FROM response_consensus c
                      JOIN tasks t ON t.id = c.task_id
                     WHERE c.task_active AND NOT c.has_gold AND c.remaining > 0
                       AND (t.expires_at IS NULL OR t.expires_at > CURRENT_TIMESTAMP)
                       AND NOT EXISTS (SELECT 1 FROM submissions s
                                        WHERE s.task_id = c.task_id AND s.user_id = p_user)
                       AND NOT EXISTS (SELECT 1 FROM task_skips k
                                        WHERE k.task_id = c.task_id AND k.user_id = p_user)
                       AND (SELECT count(*) FROM task_leases l
                             WHERE l.task_id = c.task_id
                               AND l.expires_at > CURRENT_TIMESTAMP) < c.remaining
                     ORDER BY c.has_gold, c.remaining, c.task_priority DESC, c.task_id
                     LIMIT 8;
            END IF;
            LOOP
                FETCH candidates INTO cand;
                EXIT WHEN NOT FOUND;
                -- A candidate turned down is turned down inside a subtransaction whose rollback
                -- releases its row lock at once; holding it to the end of the call would make
                -- every concurrent caller see it busy.
                BEGIN
                    SELECT c.remaining, c.task_active INTO locked
                      FROM response_consensus c
                     WHERE c.task_id = cand.task_id
                       FOR NO KEY UPDATE SKIP LOCKED;
                    IF NOT FOUND THEN
                        busy := true;
                        CONTINUE;
                    END IF;
                    IF NOT locked.task_active THEN
                        RAISE EXCEPTION USING ERRCODE = 'WH001';
                    END IF;
                    IF NOT gold THEN
                        -- Counted after the lock: sees every lease committed before we got it.
                        SELECT count(*) INTO taken FROM task_leases l
                         WHERE l.task_id = cand.task_id AND l.expires_at > CURRENT_TIMESTAMP;
                        IF taken >= locked.remaining THEN
                            RAISE EXCEPTION USING ERRCODE = 'WH001';
                        END IF;
                    END IF;
                    DELETE FROM task_leases l
                     WHERE l.task_id = cand.task_id AND l.expires_at <= CURRENT_TIMESTAMP;
                    INSERT INTO task_leases AS l (task_id, user_id, expires_at)
                    VALUES (cand.task_id, p_user,
                            CURRENT_TIMESTAMP + make_interval(secs => p_lease_seconds))
                    ON CONFLICT ON CONSTRAINT task_leases_pkey
                        DO UPDATE SET expires_at = excluded.expires_at
                    RETURNING l.task_id, l.expires_at INTO task_id, lease_expires_at;
                    RETURN NEXT;
                    RETURN;
                EXCEPTION WHEN SQLSTATE 'WH001' THEN
                    NULL;  -- not this one; its lock is gone with the subtransaction
                END;
            END LOOP;
            CLOSE candidates;
        END LOOP;
        EXIT WHEN NOT busy;
        PERFORM pg_sleep(0.005 * attempt);
    END LOOP;
END
$$;


--
-- Name: next_task_v2(uuid, integer, double precision, double precision, text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.next_task_v2(p_user uuid, p_lease_seconds integer, p_coin double precision, p_default_gold_rate double precision, p_dataset text) RETURNS TABLE(task_id uuid, lease_expires_at timestamp with time zone, gold_rate double precision)
    LANGUAGE plpgsql
    AS $$
#variable_conflict use_column
DECLARE
    cand record;
    locked record;
    taken integer;
    busy boolean;
    kinds boolean[];
    gold boolean;
    rate double precision;
    candidates refcursor;
BEGIN
    SELECT d.gold_rate INTO rate FROM dataset_settings d WHERE d.source_dataset = p_dataset;
    rate := coalesce(rate, p_default_gold_rate);
    kinds := CASE WHEN p_coin < rate THEN ARRAY[true, false] ELSE ARRAY[false, true] END;
    SELECT l.task_id INTO cand
      FROM task_leases l
      JOIN response_consensus c ON c.task_id = l.task_id
     WHERE l.user_id = p_user AND l.expires_at > CURRENT_TIMESTAMP AND c.task_active
       AND (p_dataset IS NULL OR c.source_dataset = p_dataset)
       AND NOT EXISTS (SELECT 1 FROM submissions s
                        WHERE s.task_id = l.task_id AND s.user_id = p_user)
     ORDER BY l.created_at
     LIMIT 1;
    IF FOUND THEN
        UPDATE task_leases l
           SET expires_at = CURRENT_TIMESTAMP + make_interval(secs => p_lease_seconds)
         WHERE l.task_id = cand.task_id AND l.user_id = p_user
        RETURNING l.task_id, l.expires_at INTO task_id, lease_expires_at;
        gold_rate := rate;
        RETURN NEXT;
        RETURN;
    END IF;
    FOR attempt IN 1 .. 6 LOOP
        busy := false;
        FOREACH gold IN ARRAY kinds LOOP
            IF gold THEN
                OPEN candidates FOR
                    SELECT c.task_id
                      FROM response_consensus c
                      JOIN tasks t ON t.id = c.task_id
                     WHERE c.task_active AND c.has_gold AND c.remaining > 0
                       AND (p_dataset IS NULL OR c.source_dataset = p_dataset)
                       AND (t.expires_at IS NULL OR t.expires_at > CURRENT_TIMESTAMP)
                       AND NOT EXISTS (SELECT 1 FROM submissions s
                                        WHERE s.task_id = c.task_id AND s.user_id = p_user)
                       AND NOT EXISTS (SELECT 1 FROM task_skips k
                                        WHERE k.task_id = c.task_id AND k.user_id = p_user)
                       AND (SELECT count(*) FROM task_leases l
                             WHERE l.task_id = c.task_id
                               AND l.expires_at > CURRENT_TIMESTAMP) < c.remaining
                     ORDER BY c.task_priority DESC, c.task_id
                     LIMIT 8;
            ELSE
                OPEN candidates FOR
                    SELECT c.task_id
                      FROM response_consensus c
                      JOIN tasks t ON t.id = c.task_id
                     WHERE c.task_active AND NOT c.has_gold AND c.remaining > 0
                       AND (p_dataset IS NULL OR c.source_dataset = p_dataset)
                       AND (t.expires_at IS NULL OR t.expires_at > CURRENT_TIMESTAMP)
                       AND NOT EXISTS (SELECT 1 FROM submissions s
                                        WHERE s.task_id = c.task_id AND s.user_id = p_user)
                       AND NOT EXISTS (SELECT 1 FROM task_skips k
                                        WHERE k.task_id = c.task_id AND k.user_id = p_user)
                       AND (SELECT count(*) FROM task_leases l
                             WHERE l.task_id = c.task_id
                               AND l.expires_at > CURRENT_TIMESTAMP) < c.remaining
                     ORDER BY c.has_gold, c.remaining, c.task_priority DESC, c.task_id
                     LIMIT 8;
            END IF;
            LOOP
                FETCH candidates INTO cand;
                EXIT WHEN NOT FOUND;
                BEGIN
                    SELECT c.remaining, c.task_active INTO locked
                      FROM response_consensus c
                     WHERE c.task_id = cand.task_id
                       FOR NO KEY UPDATE SKIP LOCKED;
                    IF NOT FOUND THEN
                        busy := true;
                        CONTINUE;
                    END IF;
                    IF NOT locked.task_active THEN
                        RAISE EXCEPTION USING ERRCODE = 'WH001';
                    END IF;
                    SELECT count(*) INTO taken FROM task_leases l
                     WHERE l.task_id = cand.task_id AND l.expires_at > CURRENT_TIMESTAMP;
                    IF taken >= locked.remaining THEN
                        RAISE EXCEPTION USING ERRCODE = 'WH001';
                    END IF;
                    DELETE FROM task_leases l
                     WHERE l.task_id = cand.task_id AND l.expires_at <= CURRENT_TIMESTAMP;
                    INSERT INTO task_leases AS l (task_id, user_id, expires_at)
                    VALUES (cand.task_id, p_user,
                            CURRENT_TIMESTAMP + make_interval(secs => p_lease_seconds))
                    ON CONFLICT ON CONSTRAINT task_leases_pkey
                        DO UPDATE SET expires_at = excluded.expires_at
                    RETURNING l.task_id, l.expires_at INTO task_id, lease_expires_at;
                    gold_rate := rate;
                    RETURN NEXT;
                    RETURN;
                EXCEPTION WHEN SQLSTATE 'WH001' THEN
                    NULL;
                END;
            END LOOP;
            CLOSE candidates;
        END LOOP;
        EXIT WHEN NOT busy;
        PERFORM pg_sleep(0.005 * attempt);
    END LOOP;
END
$$;


--
-- Name: next_task_v3(uuid, integer, double precision, double precision, text, integer, integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.next_task_v3(p_user uuid, p_lease_seconds integer, p_coin double precision, p_default_gold_rate double precision, p_dataset text, p_max_leases integer, p_max_seconds integer) RETURNS TABLE(task_id uuid, lease_expires_at timestamp with time zone, gold_rate double precision)
    LANGUAGE plpgsql
    AS $$
#variable_conflict use_column
DECLARE
    cand record;
    locked record;
    taken integer;
    busy boolean;
    kinds boolean[];
    gold boolean;
    rate double precision;
    candidates refcursor;
BEGIN
    SELECT d.gold_rate INTO rate FROM dataset_settings d WHERE d.source_dataset = p_dataset;
    rate := coalesce(rate, p_default_gold_rate);
    kinds := CASE WHEN p_coin < rate THEN ARRAY[true, false] ELSE ARRAY[false, true] END;
    SELECT l.task_id INTO cand
      FROM task_leases l
      JOIN response_consensus c ON c.task_id = l.task_id
     WHERE l.user_id = p_user AND l.expires_at > CURRENT_TIMESTAMP AND c.task_active
       AND (p_dataset IS NULL OR c.source_dataset = p_dataset)
       AND NOT EXISTS (SELECT 1 FROM submissions s
                        WHERE s.task_id = l.task_id AND s.user_id = p_user)
     ORDER BY l.created_at
     LIMIT 1;
    IF FOUND THEN
        -- renewed, but never past its whole life from when it was first handed out
        UPDATE task_leases l
           SET expires_at = least(CURRENT_TIMESTAMP + make_interval(secs => p_lease_seconds),
                                  l.created_at + make_interval(secs => p_max_seconds))
         WHERE l.task_id = cand.task_id AND l.user_id = p_user
        RETURNING l.task_id, l.expires_at INTO task_id, lease_expires_at;
        gold_rate := rate;
        RETURN NEXT;
        RETURN;
    END IF;
    FOR attempt IN 1 .. 6 LOOP
        busy := false;
        FOREACH gold IN ARRAY kinds LOOP
            IF gold THEN
                OPEN candidates FOR
                    SELECT c.task_id
                      FROM response_consensus c
                      JOIN tasks t ON t.id = c.task_id
                     WHERE c.task_active AND c.has_gold AND c.remaining > 0
                       AND (p_dataset IS NULL OR c.source_dataset = p_dataset)
                       AND (t.expires_at IS NULL OR t.expires_at > CURRENT_TIMESTAMP)
                       AND NOT EXISTS (SELECT 1 FROM submissions s
                                        WHERE s.task_id = c.task_id AND s.user_id = p_user)
                       AND NOT EXISTS (SELECT 1 FROM task_skips k
                                        WHERE k.task_id = c.task_id AND k.user_id = p_user)
                       AND NOT EXISTS (SELECT 1 FROM task_leases o
                                        WHERE o.task_id = c.task_id AND o.user_id = p_user
                                          AND o.expires_at >= o.created_at
                                              + make_interval(secs => p_max_seconds))
                       AND (SELECT count(*) FROM task_leases l
                             WHERE l.task_id = c.task_id
                               AND l.expires_at > CURRENT_TIMESTAMP) < c.remaining
                     ORDER BY c.task_priority DESC, c.task_id
                     LIMIT 8;
            ELSE
                OPEN candidates FOR
                    SELECT c.task_id
                      FROM response_consensus c
                      JOIN tasks t ON t.id = c.task_id
                     WHERE c.task_active AND NOT c.has_gold AND c.remaining > 0
                       AND (p_dataset IS NULL OR c.source_dataset = p_dataset)
                       AND (t.expires_at IS NULL OR t.expires_at > CURRENT_TIMESTAMP)
                       AND NOT EXISTS (SELECT 1 FROM submissions s
                                        WHERE s.task_id = c.task_id AND s.user_id = p_user)
                       AND NOT EXISTS (SELECT 1 FROM task_skips k
                                        WHERE k.task_id = c.task_id AND k.user_id = p_user)
                       AND NOT EXISTS (SELECT 1 FROM task_leases o
                                        WHERE o.task_id = c.task_id AND o.user_id = p_user
                                          AND o.expires_at >= o.created_at
                                              + make_interval(secs => p_max_seconds))
                       AND (SELECT count(*) FROM task_leases l
                             WHERE l.task_id = c.task_id
                               AND l.expires_at > CURRENT_TIMESTAMP) < c.remaining
                     ORDER BY c.has_gold, c.remaining, c.task_priority DESC, c.task_id
                     LIMIT 8;
            END IF;
            LOOP
                FETCH candidates INTO cand;
                EXIT WHEN NOT FOUND;
                BEGIN
                    SELECT c.remaining, c.task_active INTO locked
                      FROM response_consensus c
                     WHERE c.task_id = cand.task_id
                       FOR NO KEY UPDATE SKIP LOCKED;
                    IF NOT FOUND THEN
                        busy := true;
                        CONTINUE;
                    END IF;
                    IF NOT locked.task_active THEN
                        RAISE EXCEPTION USING ERRCODE = 'WH001';
                    END IF;
                    SELECT count(*) INTO taken FROM task_leases l
                     WHERE l.task_id = cand.task_id AND l.expires_at > CURRENT_TIMESTAMP;
                    IF taken >= locked.remaining THEN
                        RAISE EXCEPTION USING ERRCODE = 'WH001';
                    END IF;
                    DELETE FROM task_leases l
                     WHERE l.task_id = cand.task_id AND l.expires_at <= CURRENT_TIMESTAMP;
                    -- at most p_max_leases live leases per annotator: the oldest go
                    DELETE FROM task_leases l
                     WHERE l.user_id = p_user AND l.task_id IN (
                           SELECT h.task_id FROM task_leases h
                            WHERE h.user_id = p_user AND h.expires_at > CURRENT_TIMESTAMP
                            ORDER BY h.created_at DESC, h.task_id
                           OFFSET greatest(p_max_leases - 1, 0));
                    INSERT INTO task_leases AS l (task_id, user_id, expires_at)
                    VALUES (cand.task_id, p_user,
                            least(CURRENT_TIMESTAMP + make_interval(secs => p_lease_seconds),
                                  CURRENT_TIMESTAMP + make_interval(secs => p_max_seconds)))
                    ON CONFLICT ON CONSTRAINT task_leases_pkey  -- the same annotator, at once
                        DO UPDATE SET expires_at = excluded.expires_at,
                                      created_at = excluded.created_at
                    RETURNING l.task_id, l.expires_at INTO task_id, lease_expires_at;
                    gold_rate := rate;
                    RETURN NEXT;
                    RETURN;
                EXCEPTION WHEN SQLSTATE 'WH001' THEN
                    NULL;
                END;
            END LOOP;
            CLOSE candidates;
        END LOOP;
        EXIT WHEN NOT busy;
        PERFORM pg_sleep(0.005 * attempt);
    END LOOP;
END
$$;


--
-- Name: response_quality_metrics; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.response_quality_metrics (
    submission_id uuid NOT NULL,
    task_id uuid NOT NULL,
    user_id uuid NOT NULL,
    gold_correct boolean,
    agreement_with_consensus numeric(5,2),
    time_spent_seconds integer,
    is_outlier boolean DEFAULT false NOT NULL,
    outlier_reasons text[] DEFAULT '{}'::text[] NOT NULL,
    flagged_for_review boolean DEFAULT false NOT NULL,
    computed_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    counted boolean DEFAULT true NOT NULL,
    question_type text,
    choice text,
    picked_left boolean,
    agreed boolean,
    others_agreeing integer,
    others_total integer,
    gold_source text,
    CONSTRAINT response_quality_metrics_agreement_check CHECK (((agreement_with_consensus >= (0)::numeric) AND (agreement_with_consensus <= (100)::numeric))),
    CONSTRAINT response_quality_metrics_choice_check CHECK ((choice = ANY (ARRAY['A'::text, 'B'::text, 'tie'::text]))),
    CONSTRAINT response_quality_metrics_gold_source_check CHECK ((gold_source = ANY (ARRAY['gold'::text, 'adjudication'::text]))),
    CONSTRAINT response_quality_metrics_others_check CHECK (((others_agreeing >= 0) AND (others_total >= others_agreeing))),
    CONSTRAINT response_quality_metrics_time_check CHECK ((time_spent_seconds >= 0))
);


--
-- Name: quality_apply_row(public.response_quality_metrics, integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.quality_apply_row(m public.response_quality_metrics, sign integer) RETURNS void
    LANGUAGE plpgsql
    AS $$
BEGIN
    FOR i IN 1 .. 2 LOOP
        UPDATE annotator_stats SET
            answers = answers + sign,
            gold_answered = gold_answered + sign * (m.gold_correct IS NOT NULL)::int,
            gold_correct = gold_correct + sign * coalesce(m.gold_correct, false)::int,
            evaluated = evaluated + sign * (m.agreed IS NOT NULL)::int,
            agreed = agreed + sign * coalesce(m.agreed, false)::int,
            sided = sided + sign * (m.picked_left IS NOT NULL)::int,
            picked_left = picked_left + sign * coalesce(m.picked_left, false)::int,
            picked_a = picked_a + sign * coalesce(m.choice = 'A', false)::int,
            picked_b = picked_b + sign * coalesce(m.choice = 'B', false)::int,
            timed = timed + sign * (m.time_spent_seconds IS NOT NULL)::int,
            time_sum = time_sum + sign * coalesce(m.time_spent_seconds, 0),
            fast = fast + sign * ('fast' = ANY (m.outlier_reasons))::int,
            updated_at = CURRENT_TIMESTAMP
         WHERE user_id = m.user_id;
        EXIT WHEN FOUND;
        -- an annotator's first answer (another session may make the row meanwhile)
        INSERT INTO annotator_stats (user_id) VALUES (m.user_id) ON CONFLICT DO NOTHING;
    END LOOP;
END
$$;


--
-- Name: quality_reason(public.response_quality_metrics); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.quality_reason(m public.response_quality_metrics) RETURNS text
    LANGUAGE plpgsql IMMUTABLE
    AS $$
BEGIN
    RETURN CASE
        WHEN m.gold_correct IS NOT NULL AND m.gold_source = 'adjudication'
            THEN CASE WHEN m.gold_correct THEN 'matched the reviewer''s adjudication'
                      ELSE 'differed from the reviewer''s adjudication' END
        WHEN m.gold_correct IS NOT NULL
            THEN CASE WHEN m.gold_correct THEN 'passed a gold check'
                      ELSE 'failed a gold check' END
        WHEN m.agreed IS NOT NULL
            THEN format('%s a %s–%s consensus',
                        CASE WHEN m.agreed THEN 'agreed with' ELSE 'disagreed with' END,
                        CASE WHEN m.agreed THEN m.others_agreeing
                             ELSE m.others_total - m.others_agreeing END,
                        CASE WHEN m.agreed THEN m.others_total - m.others_agreeing
                             ELSE m.others_agreeing END)
    END;
END
$$;


--
-- Name: quality_settle_v1(uuid); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.quality_settle_v1(p_task uuid) RETURNS void
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM response_consensus WHERE task_id = p_task AND remaining = 0) THEN
        RETURN;
    END IF;
    -- Lock the voters' counters in one order, so that two tasks settling at once cannot
    -- deadlock on each other's annotators.
    INSERT INTO annotator_stats (user_id)
    SELECT DISTINCT s.user_id FROM submissions s WHERE s.task_id = p_task AND s.is_latest
    ON CONFLICT DO NOTHING;
    PERFORM 1 FROM annotator_stats a
     WHERE a.user_id IN (SELECT s.user_id FROM submissions s
                          WHERE s.task_id = p_task AND s.is_latest)
     ORDER BY a.user_id FOR NO KEY UPDATE;
    UPDATE response_quality_metrics m
       SET agreed = x.agreed, others_agreeing = x.others_agreeing,
           others_total = x.others_total,
           agreement_with_consensus = CASE WHEN x.others_total > 0
               THEN round(100.0 * x.others_agreeing / x.others_total, 2) END,
           computed_at = CURRENT_TIMESTAMP
      FROM (SELECT r.submission_id, v.agreed, v.others_agreeing, v.others_total
              FROM response_quality_metrics r
              JOIN response_consensus c ON c.task_id = r.task_id,
                   LATERAL loo_verdict(r.choice, c.count_a, c.count_b, c.count_tie) v
             WHERE r.task_id = p_task AND r.counted AND r.choice IS NOT NULL
               AND r.gold_correct IS NULL AND r.others_total IS NULL) AS x
     WHERE m.submission_id = x.submission_id;
END
$$;


--
-- Name: question_content_hash(text, jsonb); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.question_content_hash(qtype text, content jsonb) RETURNS bytea
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN sha256(convert_to(((qtype || ':'::text) || (content)::text), 'UTF8'::name));


--
-- Name: question_content_valid(text, jsonb); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.question_content_valid(qtype text, content jsonb) RETURNS boolean
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    AS $_$
DECLARE
    ok boolean;
BEGIN
    IF jsonb_typeof(content) IS DISTINCT FROM 'object'
       OR content ? 'gold' OR content ? 'gold_standard'
       OR jsonb_typeof(content -> 'prompt') IS DISTINCT FROM 'string'
       OR btrim(content ->> 'prompt') = '' THEN
        RETURN false;
    END IF;
    CASE qtype
    WHEN 'pairwise_ab' THEN
        ok := jsonb_typeof(content -> 'optionA') = 'string'
          AND jsonb_typeof(content -> 'optionB') = 'string';
    WHEN 'ranking' THEN
        ok := jsonb_typeof(content -> 'options') = 'array'
          AND jsonb_array_length(content -> 'options') BETWEEN 2 AND 20
          AND NOT jsonb_path_exists(content, '$.options[*] ? (@.type() != "string")');
    WHEN 'voice_transcription' THEN
        ok := jsonb_typeof(content -> 'audio_url') = 'string'
          AND btrim(content ->> 'audio_url') <> '';
    ELSE
        -- text_generation needs only the prompt; unknown types are refused by their own check.
        ok := true;
    END CASE;
    -- A CHECK passes on NULL, so an unknown answer must count as invalid.
    RETURN coalesce(ok, false);
END
$_$;


--
-- Name: questions_default_lineage(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.questions_default_lineage() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF NEW.lineage_id IS NULL THEN
        NEW.lineage_id := NEW.id;
    END IF;
    RETURN NEW;
END
$$;


--
-- Name: questions_sync_gold(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.questions_sync_gold() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF (OLD.gold_standard IS NULL) <> (NEW.gold_standard IS NULL) THEN
        UPDATE response_consensus c SET has_gold = NEW.gold_standard IS NOT NULL
          FROM tasks t
         WHERE t.question_id = NEW.id AND c.task_id = t.id;
    END IF;
    RETURN NULL;
END
$$;


--
-- Name: reputation_as_of(uuid, timestamp with time zone); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.reputation_as_of(p_user uuid, p_at timestamp with time zone, OUT score integer, OUT weight double precision) RETURNS record
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
    SELECT s.score,
           least(10, greatest(0.01, ln(a / (1 - a)) / ln(7.0 / 3.0)))
      FROM (SELECT coalesce((SELECT e.score FROM reputation_events e
                              WHERE e.user_id = p_user AND e.created_at < p_at
                              ORDER BY e.id DESC LIMIT 1), 700) AS score) s,
           LATERAL (SELECT least(0.999, greatest(0.001, s.score / 1000.0))::double precision
                           AS a) x
$$;


--
-- Name: reputation_of(public.annotator_stats); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.reputation_of(s public.annotator_stats, OUT accuracy double precision, OUT low double precision, OUT high double precision, OUT score integer, OUT weight double precision) RETURNS record
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    AS $$
DECLARE
    succ double precision := 2 * s.gold_correct;
    trials double precision := 2 * s.gold_answered;
    a double precision;
    b double precision;
    sd double precision;
BEGIN
    IF s.ds_accuracy IS NOT NULL AND s.ds_labels > 0 THEN
        succ := succ + s.ds_accuracy * s.ds_labels;
        trials := trials + s.ds_labels;
    ELSE
        succ := succ + s.agreed;
        trials := trials + s.evaluated;
    END IF;
    a := succ + 7;
    b := trials - succ + 3;
    accuracy := a / (a + b);
    sd := sqrt(a * b / ((a + b) ^ 2 * (a + b + 1)));
    low := greatest(0, accuracy - 1.96 * sd);
    high := least(1, accuracy + 1.96 * sd);
    score := round(1000 * accuracy)::integer;
    weight := least(10, greatest(0.01, ln(accuracy / (1 - accuracy)) / ln(7.0 / 3.0)));
END
$$;


--
-- Name: reputation_update_v1(uuid, text, text, uuid, uuid); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.reputation_update_v1(p_user uuid, p_kind text, p_reason text, p_task uuid, p_submission uuid) RETURNS void
    LANGUAGE plpgsql
    AS $$
DECLARE
    s annotator_stats;
    blank annotator_stats;
    r record;
    v_flags text[];
    before integer;
BEGIN
    SELECT * INTO s FROM annotator_stats WHERE user_id = p_user FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    SELECT * INTO r FROM reputation_of(s);
    v_flags := annotator_flags(s, r.low, r.high);
    IF (s.accuracy, s.accuracy_low, s.accuracy_high, s.flags)
       IS DISTINCT FROM (r.accuracy, r.low, r.high, v_flags) THEN
        UPDATE annotator_stats
           SET accuracy = r.accuracy, accuracy_low = r.low, accuracy_high = r.high,
               flags = v_flags, updated_at = CURRENT_TIMESTAMP
         WHERE user_id = p_user;
    END IF;
    UPDATE users SET reputation_score = r.score, reputation_weight = round(r.weight::numeric, 6)
     WHERE id = p_user
       AND (reputation_score, reputation_weight) IS DISTINCT FROM
           (r.score, round(r.weight::numeric, 6));
    IF p_reason IS NOT NULL THEN
        -- Deltas chain from the last recorded score; a newcomer's starts from the prior alone.
        SELECT e.score INTO before FROM reputation_events e
         WHERE e.user_id = p_user ORDER BY e.id DESC LIMIT 1;
        IF NOT FOUND THEN
            blank := s;
            blank.gold_answered := 0;
            blank.gold_correct := 0;
            blank.evaluated := 0;
            blank.agreed := 0;
            blank.ds_accuracy := NULL;
            blank.ds_labels := NULL;
            before := (reputation_of(blank)).score;
        END IF;
        INSERT INTO reputation_events (user_id, task_id, submission_id, kind, delta, score, reason)
        VALUES (p_user, p_task, p_submission, p_kind, r.score - before, r.score, p_reason);
    END IF;
END
$$;


--
-- Name: response_consensus_count(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.response_consensus_count() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF current_setting('whstudio.counts_later', true) = 'on' THEN
        IF TG_OP = 'INSERT' THEN
            INSERT INTO pg_temp.whs_uncounted_tasks (task_id) VALUES (NEW.task_id);
            RETURN NULL;
        END IF;
        IF EXISTS (SELECT FROM pg_temp.whs_uncounted_tasks u WHERE u.task_id = OLD.task_id) THEN
            RETURN NULL;
        END IF;
    END IF;
    IF TG_OP = 'INSERT' THEN
        PERFORM task_counts_move(NEW, 1);
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM task_counts_move(OLD, -1);
    -- Two counter rows change: take them in one fixed order, so that two tasks moving in
    -- opposite directions cannot deadlock on each other.
    ELSIF concat_ws('|', OLD.task_status, OLD.question_type, OLD.source_dataset,
                    OLD.consensus_reached, OLD.remaining > 0, OLD.has_gold)
        < concat_ws('|', NEW.task_status, NEW.question_type, NEW.source_dataset,
                    NEW.consensus_reached, NEW.remaining > 0, NEW.has_gold) THEN
        PERFORM task_counts_move(OLD, -1);
        PERFORM task_counts_move(NEW, 1);
    ELSE
        PERFORM task_counts_move(NEW, 1);
        PERFORM task_counts_move(OLD, -1);
    END IF;
    RETURN NULL;
END
$$;


--
-- Name: response_consensus_settle(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.response_consensus_settle() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    PERFORM quality_settle_v1(NEW.task_id);
    RETURN NULL;
END
$$;


--
-- Name: response_consensus_truncate_counts(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.response_consensus_truncate_counts() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    DELETE FROM task_counts;
    RETURN NULL;
END
$$;


--
-- Name: response_consensus_webhook(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.response_consensus_webhook() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    PERFORM webhook_enqueue_v1('task.consensus_reached', jsonb_build_object(
        'task_id', NEW.task_id, 'final_answer', NEW.final_answer,
        'agreement_percentage', NEW.agreement_percentage,
        'weighted_agreement_percentage', NEW.weighted_agreement_percentage,
        'total_responses', NEW.total_responses, 'count_a', NEW.count_a, 'count_b', NEW.count_b,
        'count_tie', NEW.count_tie, 'reached_at', NEW.reached_at, 'version', NEW.version));
    RETURN NULL;
END
$$;


--
-- Name: response_created_payload(public.submissions); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.response_created_payload(s public.submissions) RETURNS jsonb
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
SELECT jsonb_build_object(
    'submission_id', s.id, 'task_id', s.task_id, 'user_id', s.user_id,
    'question_id', s.question_id, 'response_version', s.response_version,
    'chosen_response', s.chosen_response, 'answer', s.payload,
    'confidence', s.confidence, 'time_spent_seconds', s.time_spent_seconds,
    'created_at', s.created_at)
$$;


--
-- Name: response_quality_metrics_count(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.response_quality_metrics_count() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE
    kind text;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.counted THEN
        PERFORM quality_apply_row(OLD, -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.counted THEN
        PERFORM quality_apply_row(NEW, 1);
    END IF;
    IF TG_OP = 'DELETE' THEN
        PERFORM reputation_update_v1(OLD.user_id, NULL, NULL, NULL, NULL);
        RETURN NULL;
    END IF;
    -- A gold verdict moves the run of gold failures in the order answers arrive.
    IF NEW.counted AND NEW.gold_correct IS NOT NULL
       AND (TG_OP = 'INSERT' OR OLD.gold_correct IS DISTINCT FROM NEW.gold_correct
            OR NOT OLD.counted) THEN
        UPDATE annotator_stats
           SET gold_fail_streak = CASE WHEN NEW.gold_correct THEN 0 ELSE gold_fail_streak + 1 END
         WHERE user_id = NEW.user_id;
    END IF;
    kind := CASE
        WHEN NOT NEW.counted THEN 'revision'
        WHEN NEW.gold_source = 'adjudication' THEN 'adjudication'
        WHEN NEW.gold_correct IS NOT NULL THEN 'gold'
        ELSE 'agreement' END;
    IF TG_OP = 'INSERT' OR OLD.counted <> NEW.counted
       OR OLD.gold_correct IS DISTINCT FROM NEW.gold_correct
       OR OLD.agreed IS DISTINCT FROM NEW.agreed THEN
        PERFORM reputation_update_v1(
            NEW.user_id, kind,
            CASE WHEN NOT NEW.counted THEN
                     CASE WHEN OLD.gold_correct IS NOT NULL OR OLD.agreed IS NOT NULL
                          THEN 'revised an answer: its earlier verdict no longer counts' END
                 ELSE quality_reason(NEW) END,
            NEW.task_id, NEW.submission_id);
    END IF;
    RETURN NULL;
END
$$;


--
-- Name: set_updated_at(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.set_updated_at() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    NEW.updated_at := CURRENT_TIMESTAMP;
    RETURN NEW;
END
$$;


--
-- Name: submissions_check_answer(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.submissions_check_answer() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE
    t_question uuid;
    t_allow_tie boolean;
    q_type text;
    q_content jsonb;
    q_lineage uuid;
    t_lineage uuid;
BEGIN
    SELECT t.question_id, t.allow_tie INTO t_question, t_allow_tie FROM tasks t WHERE t.id = NEW.task_id;
    IF NEW.question_id IS NULL THEN
        NEW.question_id := t_question;
    END IF;
    SELECT q.question_type, q.content, q.lineage_id INTO q_type, q_content, q_lineage
      FROM questions q WHERE q.id = NEW.question_id;
    -- Another question than the task's must be a version of it (same lineage).
    IF NEW.question_id IS DISTINCT FROM t_question THEN
        SELECT q.lineage_id INTO t_lineage FROM questions q WHERE q.id = t_question;
        IF q_lineage IS DISTINCT FROM t_lineage THEN
            RAISE EXCEPTION 'submission answers question % which is not a version of the task''s question', NEW.question_id
                USING ERRCODE = 'check_violation', CONSTRAINT = 'submissions_question_check';
        END IF;
    END IF;
    IF q_type = 'pairwise_ab' THEN
        IF NEW.chosen_response IS NULL THEN
            RAISE EXCEPTION 'a pairwise_ab answer needs chosen_response'
                USING ERRCODE = 'check_violation', CONSTRAINT = 'submissions_answer_type_check';
        END IF;
        IF NEW.chosen_response = 'tie' AND NOT t_allow_tie THEN
            RAISE EXCEPTION 'this task does not allow a tie'
                USING ERRCODE = 'check_violation', CONSTRAINT = 'submissions_tie_check';
        END IF;
    ELSIF NEW.chosen_response IS NOT NULL OR NOT (
        (q_type = 'ranking' AND is_permutation(NEW.payload -> 'ranking', jsonb_array_length(q_content -> 'options')))
        OR (q_type = 'text_generation' AND jsonb_typeof(NEW.payload -> 'text') = 'string'
            AND btrim(NEW.payload ->> 'text') <> '')
        OR (q_type = 'voice_transcription' AND jsonb_typeof(NEW.payload -> 'transcript') = 'string')
    ) THEN
        RAISE EXCEPTION 'the answer does not fit a % question', q_type
            USING ERRCODE = 'check_violation', CONSTRAINT = 'submissions_answer_type_check';
    END IF;
    RETURN NEW;
END
$$;


--
-- Name: submissions_count_vote(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.submissions_count_vote() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.is_latest AND NEW.in_consensus THEN
            PERFORM consensus_apply_vote(NEW, 1);
        END IF;
    ELSIF TG_OP = 'DELETE' THEN
        IF OLD.is_latest AND OLD.in_consensus THEN
            PERFORM consensus_apply_vote(OLD, -1);
        END IF;
    ELSIF (OLD.is_latest, OLD.in_consensus, OLD.task_id, OLD.chosen_response, OLD.confidence, OLD.time_spent_seconds,
           OLD.vote_weight, OLD.payload)
          IS DISTINCT FROM
          (NEW.is_latest, NEW.in_consensus, NEW.task_id, NEW.chosen_response, NEW.confidence, NEW.time_spent_seconds,
           NEW.vote_weight, NEW.payload) THEN
        IF OLD.is_latest AND OLD.in_consensus THEN
            PERFORM consensus_apply_vote(OLD, -1);
        END IF;
        IF NEW.is_latest AND NEW.in_consensus THEN
            PERFORM consensus_apply_vote(NEW, 1);
        END IF;
    END IF;
    RETURN NULL;
END
$$;


--
-- Name: submissions_quality(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.submissions_quality() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE
    g record;
    c response_consensus;
    v_agreed boolean;
    v_agreeing integer;
    v_total integer;
    median double precision;
    reasons text[] := '{}';
    user_flags text[];
    qtype text;
    verdict boolean;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF (OLD.task_id, OLD.chosen_response, OLD.shown_order, OLD.payload,
            OLD.time_spent_seconds)
           IS DISTINCT FROM (NEW.task_id, NEW.chosen_response, NEW.shown_order, NEW.payload,
                             NEW.time_spent_seconds) THEN
            -- The answer itself was edited in place (another writer, a repair): its row is
            -- made again below, as for a new answer.
            DELETE FROM response_quality_metrics WHERE submission_id = NEW.id;
        ELSIF (OLD.is_latest AND OLD.in_consensus) IS DISTINCT FROM
              (NEW.is_latest AND NEW.in_consensus) THEN
            -- Revised, revived, or moved in or out of consensus (a model judge's answer when
            -- its task's rule or its account's kind changes): the row counts or not, its
            -- verdicts kept.
            UPDATE response_quality_metrics SET counted = NEW.is_latest AND NEW.in_consensus
             WHERE submission_id = NEW.id;
            RETURN NULL;
        ELSE
            RETURN NULL;
        END IF;
    END IF;
    SELECT * INTO g FROM task_gold(NEW.task_id);
    SELECT * INTO c FROM response_consensus WHERE task_id = NEW.task_id;
    qtype := c.question_type;
    IF NEW.time_spent_seconds IS NOT NULL THEN
        SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x.t) INTO median
          FROM (SELECT s.time_spent_seconds AS t
                  FROM submissions s
                 WHERE s.task_id = NEW.task_id AND s.is_latest AND s.id <> NEW.id
                   AND s.time_spent_seconds IS NOT NULL
                 -- the order of submissions_latest_idx: a bounded index range, whatever the
                 -- task's size (an arbitrary but unbiased sample of its answers)
                 ORDER BY s.user_id
                 LIMIT 101) AS x
        HAVING count(*) >= 2;
        IF median IS NOT NULL AND NEW.time_spent_seconds < 0.25 * median THEN
            reasons := reasons || 'fast'::text;
        END IF;
    END IF;
    verdict := answer_matches(NEW, g.gold);
    -- A gold check is judged on the first answer: revising it cannot improve the verdict.
    IF g.source = 'gold' AND NEW.response_version > 1 THEN
        SELECT coalesce(answer_matches(s1, g.gold), verdict) INTO verdict
          FROM submissions s1
         WHERE s1.task_id = NEW.task_id AND s1.user_id = NEW.user_id
         ORDER BY s1.response_version
         LIMIT 1;
    END IF;
    SELECT flags INTO user_flags FROM annotator_stats WHERE user_id = NEW.user_id;
    reasons := reasons || ARRAY(SELECT f FROM unnest(user_flags) AS f
                                 WHERE f IN ('position_bias', 'same_answer', 'gold_failures',
                                             'below_chance'));
    IF g.source IS NULL AND NEW.chosen_response IS NOT NULL AND c.remaining = 0
       AND NEW.is_latest AND NEW.in_consensus THEN
        SELECT v.agreed, v.others_agreeing, v.others_total INTO v_agreed, v_agreeing, v_total
          FROM loo_verdict(NEW.chosen_response, c.count_a, c.count_b, c.count_tie) AS v;
    END IF;
    INSERT INTO response_quality_metrics (
        submission_id, task_id, user_id, question_type, choice, picked_left, gold_correct,
        gold_source, agreed, others_agreeing, others_total, agreement_with_consensus,
        time_spent_seconds, is_outlier, outlier_reasons, flagged_for_review, counted)
    VALUES (
        NEW.id, NEW.task_id, NEW.user_id, qtype, NEW.chosen_response,
        CASE WHEN NEW.chosen_response IN ('A', 'B') AND NEW.shown_order IS NOT NULL
             THEN (NEW.chosen_response = 'A') = (NEW.shown_order = 'AB') END,
        verdict, CASE WHEN verdict IS NOT NULL THEN g.source END,
        v_agreed, v_agreeing, v_total,
        CASE WHEN v_total > 0 THEN round(100.0 * v_agreeing / v_total, 2) END,
        NEW.time_spent_seconds, cardinality(reasons) > 0, reasons, cardinality(reasons) > 0,
        NEW.is_latest AND NEW.in_consensus);
    RETURN NULL;
END
$$;


--
-- Name: submissions_set_in_consensus(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.submissions_set_in_consensus() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM users u WHERE u.id = NEW.user_id AND u.kind = 'model') THEN
        NEW.in_consensus := coalesce(
            (SELECT t.count_model_votes FROM tasks t WHERE t.id = NEW.task_id), false);
    ELSE
        NEW.in_consensus := true;
    END IF;
    RETURN NEW;
END
$$;


--
-- Name: submissions_webhook(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.submissions_webhook() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM webhooks WHERE is_active AND 'response.created' = ANY (events)) THEN
        PERFORM webhook_enqueue_v1('response.created', response_created_payload(NEW));
    END IF;
    RETURN NULL;
END
$$;


--
-- Name: submit_answer_v1(uuid, uuid, text, jsonb, text, text, integer, text, integer, text, text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.submit_answer_v1(p_task uuid, p_user uuid, p_chosen text, p_ranking jsonb, p_text text, p_transcript text, p_confidence integer, p_explanation text, p_time integer, p_shown_order text, p_key text) RETURNS jsonb
    LANGUAGE plpgsql
    AS $$
DECLARE
    earlier record;
    t record;
    given text[];
    expected text;
    extra text;
    n integer;
    new_payload jsonb;
    sid uuid;
    v integer;
    replayed boolean := false;
    c response_consensus;
    v_informed boolean := false;
BEGIN
    IF p_key IS NOT NULL THEN
        SELECT s.id, s.task_id, s.response_version, s.informed INTO earlier
          FROM submissions s WHERE s.user_id = p_user AND s.idempotency_key = p_key;
        IF FOUND THEN
            IF earlier.task_id <> p_task THEN
                RAISE EXCEPTION 'this Idempotency-Key was already used for another task'
                    USING ERRCODE = 'WH409', HINT = 'Idempotency-Key';
            END IF;
            sid := earlier.id;
            v := earlier.response_version;
            v_informed := earlier.informed;
            replayed := true;
        END IF;
    END IF;
    SELECT tk.status, tk.expires_at <= CURRENT_TIMESTAMP AS expired, tk.allow_tie, tk.question_id,
           tk.consensus_threshold, tk.min_agreement_percentage,
           q.question_type, jsonb_array_length(q.content -> 'options') AS n_options,
           coalesce(p.reveal, 'after_answer') AS reveal,
           (SELECT max(g.version) FROM dataset_guidelines g
             WHERE g.source_dataset = q.source_dataset) AS guidelines_version
      INTO t
      FROM tasks tk JOIN questions q ON q.id = tk.question_id
      LEFT JOIN dataset_policies p ON p.source_dataset = q.source_dataset
     WHERE tk.id = p_task;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no such task' USING ERRCODE = 'WH404', HINT = 'task_id';
    END IF;
    IF NOT replayed THEN
        IF t.status <> 'active' THEN
            RAISE EXCEPTION 'the task is % and takes no answers', t.status USING ERRCODE = 'WH409';
        END IF;
        IF t.expired THEN
            RAISE EXCEPTION 'the task has expired and takes no answers' USING ERRCODE = 'WH409';
        END IF;
        -- Exactly the answer field of the question's type, in the shape that type needs.
        given := array_remove(ARRAY[
            CASE WHEN p_chosen IS NOT NULL THEN 'chosen_response' END,
            CASE WHEN p_ranking IS NOT NULL THEN 'ranking' END,
            CASE WHEN p_text IS NOT NULL THEN 'text' END,
            CASE WHEN p_transcript IS NOT NULL THEN 'transcript' END], NULL);
        expected := CASE t.question_type WHEN 'pairwise_ab' THEN 'chosen_response'
                                         WHEN 'ranking' THEN 'ranking'
                                         WHEN 'text_generation' THEN 'text'
                                         ELSE 'transcript' END;
        SELECT g INTO extra FROM unnest(given) AS g WHERE g <> expected LIMIT 1;
        IF extra IS NOT NULL THEN
            RAISE EXCEPTION 'a % answer has no %', t.question_type, extra
                USING ERRCODE = 'WH422', HINT = extra;
        END IF;
        IF NOT expected = ANY (given) THEN
            RAISE EXCEPTION 'a % answer needs %', t.question_type, expected
                USING ERRCODE = 'WH422', HINT = expected;
        END IF;
        IF t.question_type = 'pairwise_ab' THEN
            IF p_chosen = 'tie' AND NOT t.allow_tie THEN
                RAISE EXCEPTION 'this task does not allow a tie'
                    USING ERRCODE = 'WH422', HINT = 'chosen_response';
            END IF;
        ELSIF t.question_type = 'ranking' THEN
            IF NOT is_permutation(p_ranking, t.n_options) THEN
                RAISE EXCEPTION 'ranking must order every option index 0..% exactly once',
                    t.n_options - 1 USING ERRCODE = 'WH422', HINT = 'ranking';
            END IF;
            new_payload := jsonb_build_object('ranking', p_ranking);
        ELSIF t.question_type = 'text_generation' THEN
            IF btrim(p_text) = '' THEN
                RAISE EXCEPTION 'text must not be empty' USING ERRCODE = 'WH422', HINT = 'text';
            END IF;
            new_payload := jsonb_build_object('text', p_text);
        ELSE
            IF btrim(p_transcript) = '' THEN
                RAISE EXCEPTION 'transcript must not be empty'
                    USING ERRCODE = 'WH422', HINT = 'transcript';
            END IF;
            new_payload := jsonb_build_object('transcript', p_transcript);
        END IF;
        -- Informed: given after its author could see others' answers to this task (staff see
        -- them all; an annotator as the dataset's reveal policy lets them, once answered).
        -- Such an answer is kept and marked, but the answer that counts stays the one before.
        -- Answers from a file (an import sets whstudio.answers_from_file) were given where
        -- nobody saw this app's consensus.
        IF current_setting('whstudio.answers_from_file', true) IS DISTINCT FROM 'on'
           AND EXISTS (SELECT 1 FROM submissions s
                        WHERE s.task_id = p_task AND s.user_id <> p_user AND s.is_latest) THEN
            IF EXISTS (SELECT 1 FROM users u
                        WHERE u.id = p_user AND u.role IN ('reviewer', 'admin')) THEN
                v_informed := true;
            ELSIF t.reveal <> 'never'
                  AND EXISTS (SELECT 1 FROM submissions s
                               WHERE s.task_id = p_task AND s.user_id = p_user) THEN
                v_informed := t.reveal = 'after_answer'
                    OR (SELECT rc.remaining = 0 FROM response_consensus rc
                         WHERE rc.task_id = p_task);
            END IF;
        END IF;
        IF NOT v_informed THEN
            UPDATE submissions SET is_latest = false
             WHERE task_id = p_task AND user_id = p_user AND is_latest;
        END IF;
        INSERT INTO submissions (task_id, user_id, question_id, response_version, chosen_response,
                                 confidence, explanation, time_spent_seconds, shown_order, payload,
                                 idempotency_key, vote_weight, submitter_nullifier, is_latest,
                                 informed, guidelines_version)
        SELECT p_task, p_user, t.question_id,
               -- after the latest, even if an earlier version was deleted by another writer
               (SELECT coalesce(max(s.response_version), 0) + 1 FROM submissions s
                 WHERE s.task_id = p_task AND s.user_id = p_user),
               p_chosen, p_confidence, p_explanation, p_time,
               CASE WHEN t.question_type = 'pairwise_ab' THEN p_shown_order END,
               new_payload, p_key, least(u.reputation_weight, 100)::numeric(9, 6),
               -- the sybil rule (one nullifier per task) keeps holding through revisions
               coalesce((SELECT s.submitter_nullifier FROM submissions s
                          WHERE s.task_id = p_task AND s.user_id = p_user
                            AND s.submitter_nullifier IS NOT NULL
                          ORDER BY s.response_version DESC LIMIT 1),
                        u.nullifier_hash),
               NOT v_informed, v_informed, t.guidelines_version
          FROM users u WHERE u.id = p_user
        RETURNING id, response_version INTO sid, v;
        IF sid IS NULL THEN
            RAISE EXCEPTION 'no such user' USING ERRCODE = 'WH404', HINT = 'user_id';
        END IF;
        DELETE FROM task_leases WHERE task_id = p_task AND user_id = p_user;
    END IF;
    SELECT * INTO c FROM response_consensus WHERE task_id = p_task;
    RETURN jsonb_build_object(
        'submission_id', sid, 'response_version', v, 'replayed', replayed,
        'informed', v_informed,
        'question_type', t.question_type,
        'reached_now', c.consensus_reached AND c.reached_at = CURRENT_TIMESTAMP AND NOT replayed,
        'consensus', to_jsonb(c) || jsonb_build_object(
            'consensus_threshold', t.consensus_threshold,
            'min_agreement_percentage', t.min_agreement_percentage,
            'allow_tie', t.allow_tie, 'status', t.status, 'question_type', t.question_type,
            'reveal', t.reveal));
END
$$;


--
-- Name: submit_answer_v2(uuid, uuid, text, jsonb, text, text, integer, text, integer, text, text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.submit_answer_v2(p_task uuid, p_user uuid, p_chosen text, p_ranking jsonb, p_text text, p_transcript text, p_confidence integer, p_explanation text, p_time integer, p_shown_order text, p_key text) RETURNS jsonb
    LANGUAGE plpgsql
    AS $$
DECLARE
    result jsonb;
    events jsonb;
BEGIN
    PERFORM set_config('whstudio.defer_events', 'on', true);
    PERFORM set_config('whstudio.deferred_events', '', true);
    result := submit_answer_v1(p_task, p_user, p_chosen, p_ranking, p_text, p_transcript,
                               p_confidence, p_explanation, p_time, p_shown_order, p_key);
    SELECT coalesce(jsonb_agg(line::jsonb ORDER BY n), '[]'::jsonb) INTO events
      FROM regexp_split_to_table(current_setting('whstudio.deferred_events'), E'\n')
           WITH ORDINALITY AS e (line, n)
     WHERE line <> '';
    -- Later statements of the same transaction notify as usual.
    PERFORM set_config('whstudio.defer_events', 'off', true);
    PERFORM set_config('whstudio.deferred_events', '', true);
    RETURN result || jsonb_build_object('events', events);
END
$$;


--
-- Name: submit_answers_v1(uuid[], uuid[], text[], jsonb[], text[], text[], integer[], text[], integer[], text[], text[]); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.submit_answers_v1(p_tasks uuid[], p_users uuid[], p_chosen text[], p_rankings jsonb[], p_texts text[], p_transcripts text[], p_confidences integer[], p_explanations text[], p_times integer[], p_shown_orders text[], p_keys text[]) RETURNS jsonb
    LANGUAGE plpgsql
    AS $$
DECLARE
    n integer := coalesce(cardinality(p_tasks), 0);
    results jsonb[] := '{}';
    one jsonb;
    first_stored integer;
    events jsonb;
    fast jsonb;
    v_state text;
    v_message text;
    v_hint text;
BEGIN
    IF n > 64 THEN
        RAISE EXCEPTION 'at most 64 answers a call, not %', n
            USING ERRCODE = 'WH422', HINT = 'answers';
    END IF;
    -- The consensus events, deferred for the whole group (see submit_answer_v2).
    PERFORM set_config('whstudio.defer_events', 'on', true);
    PERFORM set_config('whstudio.deferred_events', '', true);
    -- The answers whose effects are each their own, set-based (revision 0023), all of them or
    -- none (a failure there rolls that attempt back whole); the others one by one, after. A
    -- group of one task (many annotators on one task at once) has at most one such answer, and
    -- one answer costs more set-based than alone, with its task's row locked meanwhile: such a
    -- group goes one by one, as before.
    IF current_setting('whstudio.group_fast', true) IS DISTINCT FROM 'off'
       AND (SELECT count(DISTINCT t) FROM unnest(p_tasks) AS t) > 1 THEN
        -- Every task's consensus row locked first, in task order: the answers stored
        -- set-based and those stored one by one after them lock nothing out of that order.
        PERFORM 1 FROM response_consensus c WHERE c.task_id = ANY (p_tasks)
          ORDER BY c.task_id FOR UPDATE OF c;
        BEGIN
            fast := submit_group_fast_v1(p_tasks, p_users, p_chosen, p_rankings, p_texts,
                                         p_transcripts, p_confidences, p_explanations, p_times,
                                         p_shown_orders, p_keys);
        EXCEPTION WHEN OTHERS THEN
            fast := NULL;
        END;
    END IF;
    FOR i IN 1 .. n LOOP
        one := CASE WHEN fast IS NOT NULL THEN fast -> (i - 1) END;
        IF one IS NOT NULL AND one <> 'null'::jsonb THEN
            first_stored := coalesce(first_stored, i);
            results := results || one;
            CONTINUE;
        END IF;
        BEGIN
            one := submit_answer_v1(p_tasks[i], p_users[i], p_chosen[i], p_rankings[i],
                                    p_texts[i], p_transcripts[i], p_confidences[i],
                                    p_explanations[i], p_times[i], p_shown_orders[i],
                                    p_keys[i]);
            first_stored := coalesce(first_stored, i);
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_message = MESSAGE_TEXT,
                                    v_hint = PG_EXCEPTION_HINT;
            one := jsonb_build_object('error', jsonb_build_object(
                'sqlstate', v_state, 'message', v_message, 'hint', nullif(v_hint, '')));
        END;
        results := results || one;
    END LOOP;
    SELECT coalesce(jsonb_agg(line::jsonb ORDER BY k), '[]'::jsonb) INTO events
      FROM regexp_split_to_table(current_setting('whstudio.deferred_events'), E'\n')
           WITH ORDINALITY AS e (line, k)
     WHERE line <> '';
    PERFORM set_config('whstudio.defer_events', 'off', true);
    PERFORM set_config('whstudio.deferred_events', '', true);
    FOR i IN 1 .. n LOOP
        IF i = first_stored THEN
            results[i] := results[i] || jsonb_build_object('events', events);
        ELSIF NOT results[i] ? 'error' THEN
            results[i] := results[i] || jsonb_build_object('events', '[]'::jsonb);
        END IF;
    END LOOP;
    RETURN to_jsonb(results);
END
$$;


--
-- Name: submit_group_fast_v1(uuid[], uuid[], text[], jsonb[], text[], text[], integer[], text[], integer[], text[], text[]); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.submit_group_fast_v1(p_tasks uuid[], p_users uuid[], p_chosen text[], p_rankings jsonb[], p_texts text[], p_transcripts text[], p_confidences integer[], p_explanations text[], p_times integer[], p_shown_orders text[], p_keys text[]) RETURNS jsonb
    LANGUAGE plpgsql
    SET plan_cache_mode TO 'force_generic_plan'
    AS $$
-- The answers of a group whose effects are each their own, stored set-based, each table written
-- once for all of them: first answers of annotators (persons, not staff) to open pairwise tasks
-- with no gold or adjudication that stay short of their threshold after the answer (so nothing
-- settles, no verdict is given and no dashboard counter moves), distinct tasks and annotators
-- among them (the first such answer of a task or an annotator in the group's order), any
-- Idempotency-Key new. Each one's rows are what submit_answer_v1 and the triggers write for it,
-- and its result and events the same (tests/db/test_group_fast.py compares the two on random
-- groups). Returns the group's results in its order, a result where an answer was stored here
-- and JSON null where it was not (the caller stores those one by one, after these), or NULL
-- when none was. The caller holds the lock of every task's consensus row (submit_answers_v1
-- takes them in task order) and calls this inside a subtransaction.
DECLARE
    whole integer := coalesce(cardinality(p_tasks), 0);
    n integer;
    picked integer[];
    ids uuid[];
    payloads text;
    results jsonb;
BEGIN
    IF whole > 64 OR current_setting('whstudio.answers_from_file', true) = 'on'
       OR current_setting('whstudio.defer_events', true) IS DISTINCT FROM 'on' THEN
        RETURN NULL;
    END IF;
    SELECT coalesce(array_agg(x.k ORDER BY x.k), '{}') INTO picked
      FROM (SELECT a.k,
                   row_number() OVER (PARTITION BY a.task_id ORDER BY a.k) AS of_task,
                   row_number() OVER (PARTITION BY a.user_id ORDER BY a.k) AS of_user
              FROM unnest(p_tasks, p_users, p_chosen, p_rankings, p_texts, p_transcripts,
                          p_keys) WITH ORDINALITY
                   AS a (task_id, user_id, chosen, ranking, txt, transcript, key, k)
              JOIN tasks t ON t.id = a.task_id
              JOIN questions q ON q.id = t.question_id
              JOIN response_consensus c ON c.task_id = a.task_id
              JOIN users u ON u.id = a.user_id
             WHERE t.status = 'active'
               AND (t.expires_at IS NULL OR t.expires_at > CURRENT_TIMESTAMP)
               AND q.question_type = 'pairwise_ab' AND q.gold_standard IS NULL
               AND (a.chosen IN ('A', 'B') OR (a.chosen = 'tie' AND t.allow_tie))
               AND a.ranking IS NULL AND a.txt IS NULL AND a.transcript IS NULL
               AND NOT c.consensus_reached AND c.remaining > 0
               AND t.consensus_threshold - c.total_responses >= 2
               AND u.role = 'annotator' AND u.kind = 'person'
               AND NOT EXISTS (SELECT 1 FROM task_adjudications j WHERE j.task_id = a.task_id)
               AND NOT EXISTS (SELECT 1 FROM submissions s
                                WHERE s.task_id = a.task_id AND s.user_id = a.user_id)
               AND (a.key IS NULL
                    OR NOT EXISTS (SELECT 1 FROM submissions s
                                    WHERE s.user_id = a.user_id AND s.idempotency_key = a.key))
           ) AS x
     WHERE x.of_task = 1 AND x.of_user = 1;
    n := cardinality(picked);
    IF n = 0 THEN
        RETURN NULL;
    END IF;
    -- From here on, the arrays hold the answers stored here, in the group's order.
    p_tasks := ARRAY(SELECT p_tasks[k] FROM unnest(picked) AS k ORDER BY k);
    p_users := ARRAY(SELECT p_users[k] FROM unnest(picked) AS k ORDER BY k);
    p_chosen := ARRAY(SELECT p_chosen[k] FROM unnest(picked) AS k ORDER BY k);
    p_confidences := ARRAY(SELECT p_confidences[k] FROM unnest(picked) AS k ORDER BY k);
    p_explanations := ARRAY(SELECT p_explanations[k] FROM unnest(picked) AS k ORDER BY k);
    p_times := ARRAY(SELECT p_times[k] FROM unnest(picked) AS k ORDER BY k);
    p_shown_orders := ARRAY(SELECT p_shown_orders[k] FROM unnest(picked) AS k ORDER BY k);
    p_keys := ARRAY(SELECT p_keys[k] FROM unnest(picked) AS k ORDER BY k);

    -- The per-answer triggers stand aside (revision 0012): what they would write follows.
    PERFORM set_config('whstudio.bulk_answers', 'on', true);

    -- The answers, in the order given (their time-ordered ids in that order), with their
    -- quality rows: the "fast" reason against the task's other latest answers (as
    -- submissions_quality samples them) and the annotator's standing flags.
    WITH a AS (
        SELECT a.*, t.question_id, q.question_type,
               (SELECT max(g.version) FROM dataset_guidelines g
                 WHERE g.source_dataset = q.source_dataset) AS guidelines_version,
               least(u.reputation_weight, 100)::numeric(9, 6) AS weight, u.nullifier_hash,
               coalesce(ARRAY(SELECT f FROM unnest(st.flags) AS f
                               WHERE f IN ('position_bias', 'same_answer', 'gold_failures',
                                           'below_chance')), '{}') AS standing
          FROM unnest(p_tasks, p_users, p_chosen, p_confidences, p_explanations, p_times,
                      p_shown_orders, p_keys) WITH ORDINALITY
               AS a (task_id, user_id, chosen, confidence, explanation, time_spent, shown_order,
                     key, k)
          JOIN tasks t ON t.id = a.task_id
          JOIN questions q ON q.id = t.question_id
          JOIN users u ON u.id = a.user_id
          LEFT JOIN annotator_stats st ON st.user_id = a.user_id
    ), new AS (
        INSERT INTO submissions (task_id, user_id, question_id, response_version, chosen_response,
                                 confidence, explanation, time_spent_seconds, shown_order,
                                 idempotency_key, vote_weight, submitter_nullifier, is_latest,
                                 informed, guidelines_version, in_consensus)
        SELECT a.task_id, a.user_id, a.question_id, 1, a.chosen, a.confidence, a.explanation,
               a.time_spent, a.shown_order, a.key, a.weight, a.nullifier_hash, true, false,
               a.guidelines_version, true
          FROM a
         ORDER BY a.k
        RETURNING id, task_id, user_id, chosen_response, shown_order, time_spent_seconds
    ), quality AS (
        INSERT INTO response_quality_metrics (
            submission_id, task_id, user_id, question_type, choice, picked_left,
            time_spent_seconds, is_outlier, outlier_reasons, flagged_for_review, counted)
        SELECT s.id, s.task_id, s.user_id, a.question_type, s.chosen_response,
               CASE WHEN s.chosen_response IN ('A', 'B') AND s.shown_order IS NOT NULL
                    THEN (s.chosen_response = 'A') = (s.shown_order = 'AB') END,
               s.time_spent_seconds, cardinality(r.reasons) > 0, r.reasons,
               cardinality(r.reasons) > 0, true
          FROM new s
          JOIN a ON a.task_id = s.task_id
         CROSS JOIN LATERAL (
               SELECT CASE WHEN s.time_spent_seconds < 0.25 * (
                          SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x.t)
                            FROM (SELECT o.time_spent_seconds AS t
                                    FROM submissions o
                                   WHERE o.task_id = s.task_id AND o.is_latest
                                     AND o.time_spent_seconds IS NOT NULL
                                   ORDER BY o.user_id
                                   LIMIT 101) AS x
                          HAVING count(*) >= 2)
                      THEN ARRAY['fast'] ELSE '{}'::text[] END || a.standing AS reasons
           ) AS r
         ORDER BY a.k
    ), released AS (
        DELETE FROM task_leases l USING new s WHERE l.task_id = s.task_id AND l.user_id = s.user_id
    )
    SELECT array_agg(s.id ORDER BY a.k) INTO ids FROM new s JOIN a ON a.task_id = s.task_id;

    -- The annotators' counters (quality_apply_row), then what follows from them
    -- (reputation_update_v1: accuracy, interval and flags, the reputation), where it changed.
    INSERT INTO annotator_stats (user_id)
    SELECT u FROM unnest(p_users) AS u ORDER BY u
        ON CONFLICT DO NOTHING;
    UPDATE annotator_stats s SET
        answers = s.answers + 1,
        sided = s.sided + (m.picked_left IS NOT NULL)::int,
        picked_left = s.picked_left + coalesce(m.picked_left, false)::int,
        picked_a = s.picked_a + coalesce(m.choice = 'A', false)::int,
        picked_b = s.picked_b + coalesce(m.choice = 'B', false)::int,
        timed = s.timed + (m.time_spent_seconds IS NOT NULL)::int,
        time_sum = s.time_sum + coalesce(m.time_spent_seconds, 0),
        fast = s.fast + ('fast' = ANY (m.outlier_reasons))::int,
        updated_at = CURRENT_TIMESTAMP
      FROM response_quality_metrics m
     WHERE m.submission_id = ANY (ids) AND s.user_id = m.user_id;
    WITH r AS (
        SELECT s.user_id, s.accuracy AS was_accuracy, s.accuracy_low AS was_low,
               s.accuracy_high AS was_high, s.flags AS was_flags, x.accuracy, x.low, x.high,
               x.score, x.weight, annotator_flags(s, x.low, x.high) AS v_flags
          FROM annotator_stats s
         CROSS JOIN LATERAL reputation_of(s) AS x
         WHERE s.user_id = ANY (p_users)
    ), figures AS (
        UPDATE annotator_stats s
           SET accuracy = r.accuracy, accuracy_low = r.low, accuracy_high = r.high,
               flags = r.v_flags, updated_at = CURRENT_TIMESTAMP
          FROM r
         WHERE s.user_id = r.user_id
           AND (r.was_accuracy, r.was_low, r.was_high, r.was_flags)
               IS DISTINCT FROM (r.accuracy, r.low, r.high, r.v_flags)
    )
    UPDATE users u
       SET reputation_score = r.score, reputation_weight = round(r.weight::numeric, 6)
      FROM r
     WHERE u.id = r.user_id
       AND (u.reputation_score, u.reputation_weight)
           IS DISTINCT FROM (r.score, round(r.weight::numeric, 6));

    -- Each task's consensus row with its vote counted (consensus_apply_vote, consensus_store),
    -- new versions in the order of the answers; the events as consensus_store defers them.
    WITH v AS (
        SELECT v.*, nextval('consensus_event_seq') AS new_version
          FROM (SELECT a.k, a.task_id, a.chosen, a.confidence, a.time_spent, s.vote_weight AS w
                  FROM unnest(p_tasks, p_chosen, p_confidences, p_times)
                       WITH ORDINALITY AS a (task_id, chosen, confidence, time_spent, k)
                  JOIN submissions s ON s.id = ids[a.k]
                 ORDER BY a.k) AS v
    ), d AS (
        SELECT v.k, v.new_version, rc.consensus_reached AS was, x.*
          FROM v
          JOIN response_consensus rc ON rc.task_id = v.task_id
          JOIN tasks t ON t.id = v.task_id
          JOIN questions q ON q.id = t.question_id
         CROSS JOIN LATERAL consensus_derive(
                   jsonb_populate_record(rc, jsonb_build_object(
                       'total_responses', rc.total_responses + 1,
                       'count_a', rc.count_a + (v.chosen = 'A')::int,
                       'count_b', rc.count_b + (v.chosen = 'B')::int,
                       'count_tie', rc.count_tie + (v.chosen = 'tie')::int,
                       'weight_a', rc.weight_a + CASE WHEN v.chosen = 'A' THEN v.w ELSE 0 END,
                       'weight_b', rc.weight_b + CASE WHEN v.chosen = 'B' THEN v.w ELSE 0 END,
                       'weight_tie', rc.weight_tie
                                     + CASE WHEN v.chosen = 'tie' THEN v.w ELSE 0 END,
                       'confidence_sum_a', rc.confidence_sum_a
                           + CASE WHEN v.chosen = 'A' THEN coalesce(v.confidence, 0) ELSE 0 END,
                       'confidence_sum_b', rc.confidence_sum_b
                           + CASE WHEN v.chosen = 'B' THEN coalesce(v.confidence, 0) ELSE 0 END,
                       'confidence_sum_tie', rc.confidence_sum_tie
                           + CASE WHEN v.chosen = 'tie' THEN coalesce(v.confidence, 0) ELSE 0 END,
                       'confidence_sum', rc.confidence_sum + coalesce(v.confidence, 0),
                       'confidence_count', rc.confidence_count + (v.confidence IS NOT NULL)::int,
                       'time_spent_sum', rc.time_spent_sum + coalesce(v.time_spent, 0),
                       'time_spent_count', rc.time_spent_count + (v.time_spent IS NOT NULL)::int)),
                   t.consensus_threshold, t.min_agreement_percentage, q.question_type,
                   jsonb_array_length(q.content -> 'options')) AS x
    ), stored AS (
        UPDATE response_consensus c SET
            count_a = d.count_a, count_b = d.count_b, count_tie = d.count_tie,
            total_responses = d.total_responses,
            weight_a = d.weight_a, weight_b = d.weight_b, weight_tie = d.weight_tie,
            confidence_sum = d.confidence_sum, confidence_count = d.confidence_count,
            confidence_sum_a = d.confidence_sum_a, confidence_sum_b = d.confidence_sum_b,
            confidence_sum_tie = d.confidence_sum_tie,
            time_spent_sum = d.time_spent_sum, time_spent_count = d.time_spent_count,
            ranking_counts = d.ranking_counts, ranking_weights = d.ranking_weights,
            agreement_percentage = d.agreement_percentage,
            weighted_agreement_percentage = d.weighted_agreement_percentage,
            final_answer = d.final_answer, consensus_reached = d.consensus_reached,
            reached_at = NULL, remaining = d.remaining, details = d.details,
            version = d.new_version, updated_at = CURRENT_TIMESTAMP
          FROM d
         WHERE c.task_id = d.task_id
        RETURNING c.*, d.k, d.was
    )
    SELECT string_agg(json_build_object(
               'task_id', s.task_id, 'version', s.version,
               'total_responses', s.total_responses, 'remaining', s.remaining,
               'consensus_reached', s.consensus_reached,
               'agreement_percentage', s.agreement_percentage, 'final_answer', s.final_answer,
               'count_a', s.count_a, 'count_b', s.count_b, 'count_tie', s.count_tie,
               'reached_changed', s.consensus_reached IS DISTINCT FROM s.was)::text || E'\n',
               '' ORDER BY s.k),
           jsonb_agg(jsonb_build_object(
               'submission_id', ids[s.k], 'response_version', 1, 'replayed', false,
               'informed', false, 'question_type', q.question_type, 'reached_now', false,
               'consensus', (to_jsonb(s) - 'k' - 'was') || jsonb_build_object(
                   'consensus_threshold', t.consensus_threshold,
                   'min_agreement_percentage', t.min_agreement_percentage,
                   'allow_tie', t.allow_tie, 'status', t.status,
                   'question_type', q.question_type,
                   'reveal', coalesce(p.reveal, 'after_answer')))
               ORDER BY s.k)
      INTO payloads, results
      FROM stored s
      JOIN tasks t ON t.id = s.task_id
      JOIN questions q ON q.id = t.question_id
      LEFT JOIN dataset_policies p ON p.source_dataset = q.source_dataset;
    PERFORM set_config('whstudio.deferred_events',
                       coalesce(current_setting('whstudio.deferred_events', true), '')
                       || payloads, true);

    -- response.created, in the order given, where a webhook listens (submissions_webhook).
    IF EXISTS (SELECT 1 FROM webhooks WHERE is_active AND 'response.created' = ANY (events)) THEN
        PERFORM webhook_enqueue_v1('response.created', response_created_payload(s))
           FROM unnest(ids) WITH ORDINALITY AS i (id, k)
           JOIN submissions s ON s.id = i.id
          ORDER BY i.k;
    END IF;
    PERFORM set_config('whstudio.bulk_answers', 'off', true);
    -- In the group's order, JSON null for the answers left to the caller.
    RETURN (SELECT jsonb_agg(coalesce(results -> (j.k - 1)::integer, 'null'::jsonb)
                             ORDER BY i)
              FROM generate_series(1, whole) AS i
              LEFT JOIN unnest(picked) WITH ORDINALITY AS j (pos, k) ON j.pos = i);
END
$$;


--
-- Name: task_adjudications_webhook(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.task_adjudications_webhook() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    PERFORM webhook_enqueue_v1('task.adjudicated', jsonb_build_object(
        'task_id', NEW.task_id, 'final_answer', NEW.final_answer, 'note', NEW.note,
        'reviewer_id', NEW.reviewer_id, 'created_at', NEW.created_at));
    RETURN NULL;
END
$$;


--
-- Name: task_counts_move(public.response_consensus, integer); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.task_counts_move(r public.response_consensus, delta integer) RETURNS void
    LANGUAGE sql
    AS $$
    INSERT INTO task_counts AS k (shard, task_status, question_type, source_dataset,
                                  consensus_reached, needs_more, has_gold, n)
    VALUES (abs(hashtext(r.task_id::text)) % 16, r.task_status, r.question_type,
            coalesce(r.source_dataset, ''), r.consensus_reached, r.remaining > 0, r.has_gold, delta)
    ON CONFLICT ON CONSTRAINT task_counts_key DO UPDATE SET n = k.n + excluded.n;
$$;


--
-- Name: task_gold(uuid); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.task_gold(p_task uuid, OUT gold jsonb, OUT source text) RETURNS record
    LANGUAGE plpgsql STABLE
    AS $$
BEGIN
    SELECT coalesce(a.final_answer, gold_answer(q.question_type, q.gold_standard)),
           CASE WHEN a.task_id IS NOT NULL THEN 'adjudication'
                WHEN q.gold_standard IS NOT NULL THEN 'gold' END
      INTO gold, source
      FROM tasks t
      JOIN questions q ON q.id = t.question_id
      LEFT JOIN task_adjudications a ON a.task_id = t.id
     WHERE t.id = p_task;
END
$$;


--
-- Name: tasks_create_consensus(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.tasks_create_consensus() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE
    q record;
BEGIN
    SELECT question_type, source_dataset, gold_standard IS NOT NULL AS has_gold,
           jsonb_array_length(content -> 'options') AS n
      INTO q FROM questions WHERE id = NEW.question_id;
    INSERT INTO response_consensus (task_id, remaining, task_active, task_priority, has_gold,
                                    ranking_counts, ranking_weights, task_status, question_type,
                                    source_dataset)
    VALUES (NEW.id, NEW.consensus_threshold, NEW.status = 'active', NEW.priority, q.has_gold,
            CASE WHEN q.question_type = 'ranking' THEN array_fill(0, ARRAY[q.n * q.n]) END,
            CASE WHEN q.question_type = 'ranking' THEN array_fill(0::numeric, ARRAY[q.n * q.n]) END,
            NEW.status, q.question_type, q.source_dataset);
    RETURN NULL;
END
$$;


--
-- Name: tasks_sync_consensus(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.tasks_sync_consensus() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF (OLD.status, OLD.priority, OLD.question_id) IS DISTINCT FROM
       (NEW.status, NEW.priority, NEW.question_id) THEN
        UPDATE response_consensus c
           SET task_active = NEW.status = 'active',
               task_status = NEW.status,
               task_priority = NEW.priority,
               has_gold = q.gold_standard IS NOT NULL,
               question_type = q.question_type,
               source_dataset = q.source_dataset
          FROM questions q
         WHERE c.task_id = NEW.id AND q.id = NEW.question_id;
    END IF;
    -- Changing the rule (or the question version) recomputes the task.
    IF (OLD.consensus_threshold, OLD.min_agreement_percentage, OLD.allow_tie, OLD.question_id)
       IS DISTINCT FROM
       (NEW.consensus_threshold, NEW.min_agreement_percentage, NEW.allow_tie, NEW.question_id) THEN
        PERFORM consensus_rebuild_v1(NEW.id);
    END IF;
    -- Whether model judges' votes count: their answers on the task follow (each changed row
    -- moves the consensus through submissions_count_vote).
    IF OLD.count_model_votes IS DISTINCT FROM NEW.count_model_votes THEN
        UPDATE submissions s
           SET in_consensus = NEW.count_model_votes
          FROM users u
         WHERE s.task_id = NEW.id AND u.id = s.user_id AND u.kind = 'model'
           AND s.in_consensus IS DISTINCT FROM NEW.count_model_votes;
    END IF;
    RETURN NULL;
END
$$;


--
-- Name: users_kind_changed(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.users_kind_changed() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    UPDATE submissions s
       SET in_consensus = (NEW.kind = 'person' OR t.count_model_votes)
      FROM tasks t
     WHERE s.user_id = NEW.id AND t.id = s.task_id
       AND s.in_consensus IS DISTINCT FROM (NEW.kind = 'person' OR t.count_model_votes);
    -- (every version moves, so that a revision revived later counts as its author's kind says;
    -- only a latest answer's change reaches consensus and quality)
    RETURN NULL;
END
$$;


--
-- Name: webhook_enqueue_v1(text, jsonb); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.webhook_enqueue_v1(p_event text, p_payload jsonb) RETURNS bigint
    LANGUAGE plpgsql
    AS $$
DECLARE
    new_id bigint;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM webhooks WHERE is_active AND p_event = ANY (events)) THEN
        RETURN NULL;
    END IF;
    INSERT INTO webhook_events (event, payload) VALUES (p_event, p_payload) RETURNING id INTO new_id;
    RETURN new_id;
END
$$;


--
-- Name: webhook_events_fan_out(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.webhook_events_fan_out() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    INSERT INTO webhook_deliveries (event_id, webhook_id)
    SELECT NEW.id, w.id FROM webhooks w WHERE w.is_active AND NEW.event = ANY (w.events);
    RETURN NULL;
END
$$;


--
-- Name: annotator_skill; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.annotator_skill (
    user_id uuid NOT NULL,
    method text NOT NULL,
    classes text[] NOT NULL,
    confusion jsonb NOT NULL,
    accuracy double precision NOT NULL,
    labels integer NOT NULL,
    run_id uuid NOT NULL,
    computed_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    expected_correct double precision,
    CONSTRAINT annotator_skill_accuracy_check CHECK (((accuracy >= (0)::double precision) AND (accuracy <= (1)::double precision))),
    CONSTRAINT annotator_skill_confusion_check CHECK ((jsonb_typeof(confusion) = 'array'::text)),
    CONSTRAINT annotator_skill_labels_check CHECK ((labels >= 0)),
    CONSTRAINT annotator_skill_method_check CHECK ((method = 'dawid_skene'::text))
);


--
-- Name: api_tokens; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.api_tokens (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    user_id uuid NOT NULL,
    name text NOT NULL,
    token_prefix text NOT NULL,
    token_hash bytea NOT NULL,
    created_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    last_used_at timestamp with time zone,
    expires_at timestamp with time zone,
    revoked_at timestamp with time zone,
    CONSTRAINT api_tokens_name_check CHECK (((length(name) >= 1) AND (length(name) <= 100))),
    CONSTRAINT api_tokens_token_hash_check CHECK ((length(token_hash) = 32)),
    CONSTRAINT api_tokens_token_prefix_check CHECK (((length(token_prefix) >= 4) AND (length(token_prefix) <= 16)))
);


--
-- Name: consensus_batch_results; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.consensus_batch_results (
    task_id uuid NOT NULL,
    method text NOT NULL,
    final_answer jsonb,
    confidence double precision,
    run_id uuid NOT NULL,
    computed_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    CONSTRAINT consensus_batch_results_confidence_check CHECK (((confidence >= (0)::double precision) AND (confidence <= (1)::double precision))),
    CONSTRAINT consensus_batch_results_method_check CHECK ((method = ANY (ARRAY['majority'::text, 'weighted'::text, 'dawid_skene'::text])))
);


--
-- Name: consensus_event_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.consensus_event_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: dataset_guidelines; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.dataset_guidelines (
    source_dataset text NOT NULL,
    version integer NOT NULL,
    body text NOT NULL,
    criteria text[] DEFAULT '{}'::text[] NOT NULL,
    created_by uuid,
    created_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    CONSTRAINT dataset_guidelines_body_check CHECK ((length(body) <= 100000)),
    CONSTRAINT dataset_guidelines_criteria_check CHECK ((cardinality(criteria) <= 20)),
    CONSTRAINT dataset_guidelines_source_dataset_check CHECK (((length(source_dataset) >= 1) AND (length(source_dataset) <= 200))),
    CONSTRAINT dataset_guidelines_version_check CHECK ((version >= 1))
);


--
-- Name: TABLE dataset_guidelines; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.dataset_guidelines IS 'Guidelines shown to a dataset''s annotators, every version kept; the newest is in force';


--
-- Name: dataset_policies; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.dataset_policies (
    source_dataset text NOT NULL,
    reveal text DEFAULT 'after_answer'::text NOT NULL,
    gold_feedback boolean DEFAULT false NOT NULL,
    updated_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    CONSTRAINT dataset_policies_reveal_check CHECK ((reveal = ANY (ARRAY['never'::text, 'after_answer'::text, 'after_close'::text]))),
    CONSTRAINT dataset_policies_source_dataset_check CHECK (((length(source_dataset) >= 1) AND (length(source_dataset) <= 200)))
);


--
-- Name: TABLE dataset_policies; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON TABLE public.dataset_policies IS 'What annotators of a dataset may see: others'' answers (reveal) and gold verdicts';


--
-- Name: dataset_settings; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.dataset_settings (
    source_dataset text NOT NULL,
    gold_rate double precision NOT NULL,
    updated_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    CONSTRAINT dataset_settings_gold_rate_check CHECK (((gold_rate >= (0)::double precision) AND (gold_rate <= (1)::double precision))),
    CONSTRAINT dataset_settings_source_dataset_check CHECK (((length(source_dataset) >= 1) AND (length(source_dataset) <= 200)))
);


--
-- Name: login_failures; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.login_failures (
    key text NOT NULL,
    failures integer DEFAULT 0 NOT NULL,
    last_failure_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    CONSTRAINT login_failures_failures_check CHECK ((failures >= 0))
);


--
-- Name: questions; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.questions (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    lineage_id uuid NOT NULL,
    version integer DEFAULT 1 NOT NULL,
    question_type text NOT NULL,
    content jsonb NOT NULL,
    content_hash bytea GENERATED ALWAYS AS (public.question_content_hash(question_type, content)) STORED NOT NULL,
    gold_standard jsonb,
    source_dataset text,
    source_ref text,
    metadata jsonb DEFAULT '{}'::jsonb NOT NULL,
    created_by uuid,
    created_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    CONSTRAINT questions_content_check CHECK (public.question_content_valid(question_type, content)),
    CONSTRAINT questions_gold_standard_check CHECK (public.gold_standard_valid(question_type, content, gold_standard)),
    CONSTRAINT questions_metadata_check CHECK ((jsonb_typeof(metadata) = 'object'::text)),
    CONSTRAINT questions_question_type_check CHECK ((question_type = ANY (ARRAY['pairwise_ab'::text, 'ranking'::text, 'text_generation'::text, 'voice_transcription'::text]))),
    CONSTRAINT questions_source_dataset_check CHECK (((length(source_dataset) >= 1) AND (length(source_dataset) <= 200))),
    CONSTRAINT questions_version_check CHECK ((version >= 1))
);


--
-- Name: reputation_events; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.reputation_events (
    id bigint NOT NULL,
    user_id uuid NOT NULL,
    task_id uuid,
    submission_id uuid,
    kind text NOT NULL,
    delta integer NOT NULL,
    score integer NOT NULL,
    reason text NOT NULL,
    created_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    CONSTRAINT reputation_events_kind_check CHECK ((kind = ANY (ARRAY['gold'::text, 'agreement'::text, 'adjudication'::text, 'revision'::text, 'dawid_skene'::text, 'refresh'::text])))
);


--
-- Name: reputation_events_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.reputation_events ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.reputation_events_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: response_quality_current; Type: VIEW; Schema: public; Owner: -
--

CREATE VIEW public.response_quality_current AS
 SELECT m.submission_id,
    m.task_id,
    m.user_id,
    m.counted,
    m.question_type,
    m.choice,
    m.picked_left,
    m.gold_correct,
    m.gold_source,
    m.agreed,
    m.time_spent_seconds,
    m.is_outlier,
    m.outlier_reasons,
    m.flagged_for_review,
    m.computed_at,
    v.others_total AS others_now,
    v.others_agreeing AS others_agreeing_now,
        CASE
            WHEN (v.others_total > 0) THEN round(((100.0 * (v.others_agreeing)::numeric) / (v.others_total)::numeric), 2)
            ELSE NULL::numeric
        END AS agreement_now
   FROM ((public.response_quality_metrics m
     JOIN public.response_consensus c ON ((c.task_id = m.task_id)))
     LEFT JOIN LATERAL public.loo_verdict(m.choice, c.count_a, c.count_b, c.count_tie) v(agreed, others_agreeing, others_total) ON ((m.choice IS NOT NULL)));


--
-- Name: task_adjudications; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.task_adjudications (
    task_id uuid NOT NULL,
    final_answer jsonb NOT NULL,
    note text NOT NULL,
    reviewer_id uuid,
    previous_status text NOT NULL,
    disputed_since timestamp with time zone,
    created_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    CONSTRAINT task_adjudications_final_answer_check CHECK ((jsonb_typeof(final_answer) = 'object'::text)),
    CONSTRAINT task_adjudications_note_check CHECK (((length(note) >= 1) AND (length(note) <= 5000)))
);


--
-- Name: task_categories; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.task_categories (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    name text NOT NULL,
    description text,
    icon text,
    is_active boolean DEFAULT true NOT NULL,
    created_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP NOT NULL
);


--
-- Name: task_counts; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.task_counts (
    shard smallint NOT NULL,
    task_status text NOT NULL,
    question_type text NOT NULL,
    source_dataset text NOT NULL,
    consensus_reached boolean NOT NULL,
    needs_more boolean NOT NULL,
    has_gold boolean NOT NULL,
    n bigint NOT NULL,
    CONSTRAINT task_counts_shard_check CHECK (((shard >= 0) AND (shard <= 15)))
);


--
-- Name: tasks; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.tasks (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    question_id uuid NOT NULL,
    creator_id uuid,
    category_id uuid,
    title text NOT NULL,
    description text DEFAULT ''::text NOT NULL,
    consensus_threshold integer DEFAULT 3 NOT NULL,
    min_agreement_percentage numeric(5,2) DEFAULT 70.00 NOT NULL,
    allow_tie boolean DEFAULT false NOT NULL,
    status text DEFAULT 'active'::text NOT NULL,
    priority integer DEFAULT 3 NOT NULL,
    expires_at timestamp with time zone,
    difficulty_level integer DEFAULT 1 NOT NULL,
    estimated_time_minutes integer,
    reward_amount numeric(18,8) DEFAULT 0 NOT NULL,
    reward_currency text DEFAULT 'WLD'::text NOT NULL,
    created_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    updated_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    source_key text,
    metadata jsonb DEFAULT '{}'::jsonb NOT NULL,
    count_model_votes boolean DEFAULT false NOT NULL,
    CONSTRAINT tasks_consensus_threshold_check CHECK (((consensus_threshold >= 1) AND (consensus_threshold <= 10000))),
    CONSTRAINT tasks_difficulty_level_check CHECK (((difficulty_level >= 1) AND (difficulty_level <= 5))),
    CONSTRAINT tasks_estimated_time_minutes_check CHECK ((estimated_time_minutes > 0)),
    CONSTRAINT tasks_metadata_check CHECK ((jsonb_typeof(metadata) = 'object'::text)),
    CONSTRAINT tasks_min_agreement_percentage_check CHECK (((min_agreement_percentage > (0)::numeric) AND (min_agreement_percentage <= (100)::numeric))),
    CONSTRAINT tasks_priority_check CHECK (((priority >= 1) AND (priority <= 5))),
    CONSTRAINT tasks_reward_amount_check CHECK ((reward_amount >= (0)::numeric)),
    CONSTRAINT tasks_reward_currency_check CHECK ((reward_currency = ANY (ARRAY['WLD'::text, 'ETH'::text, 'USDC'::text]))),
    CONSTRAINT tasks_source_key_check CHECK (((length(source_key) >= 1) AND (length(source_key) <= 500))),
    CONSTRAINT tasks_status_check CHECK ((status = ANY (ARRAY['draft'::text, 'active'::text, 'paused'::text, 'completed'::text, 'cancelled'::text]))),
    CONSTRAINT tasks_title_check CHECK (((length(title) >= 1) AND (length(title) <= 500)))
);


--
-- Name: task_dashboard; Type: VIEW; Schema: public; Owner: -
--

CREATE VIEW public.task_dashboard AS
 SELECT t.id AS task_id,
    t.title,
    t.status,
    t.priority,
    t.expires_at,
    t.category_id,
    t.reward_amount,
    t.reward_currency,
    t.consensus_threshold,
    t.min_agreement_percentage,
    t.allow_tie,
    t.created_at,
    t.updated_at,
    q.id AS question_id,
    q.lineage_id AS question_lineage_id,
    q.version AS question_version,
    q.question_type,
    q.source_dataset,
    q.source_ref,
    "left"((q.content ->> 'prompt'::text), 280) AS prompt_preview,
    (q.gold_standard IS NOT NULL) AS has_gold,
    c.total_responses,
    c.count_a,
    c.count_b,
    c.count_tie,
    c.agreement_percentage,
    c.weighted_agreement_percentage,
    c.final_answer,
    c.consensus_reached,
    c.reached_at,
    GREATEST((t.consensus_threshold - c.total_responses), 0) AS responses_needed
   FROM ((public.tasks t
     JOIN public.questions q ON ((q.id = t.question_id)))
     JOIN public.response_consensus c ON ((c.task_id = t.id)));


--
-- Name: task_leases; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.task_leases (
    task_id uuid NOT NULL,
    user_id uuid NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    created_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP NOT NULL
);


--
-- Name: task_skips; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.task_skips (
    task_id uuid NOT NULL,
    user_id uuid NOT NULL,
    reason text NOT NULL,
    created_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    CONSTRAINT task_skips_reason_check CHECK (((length(reason) >= 1) AND (length(reason) <= 500)))
);


--
-- Name: users; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.users (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    username text NOT NULL,
    display_name text,
    role text DEFAULT 'annotator'::text NOT NULL,
    password_hash text,
    is_active boolean DEFAULT true NOT NULL,
    world_id text,
    nullifier_hash text,
    verification_level text,
    wallet_address text,
    profile_image_url text,
    bio text,
    reputation_score integer DEFAULT 700 NOT NULL,
    reputation_weight double precision DEFAULT 1.0 NOT NULL,
    total_earned numeric(18,8) DEFAULT 0 NOT NULL,
    created_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    updated_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    kind text DEFAULT 'person'::text NOT NULL,
    groups text[] DEFAULT '{}'::text[] NOT NULL,
    CONSTRAINT users_groups_check CHECK (((cardinality(groups) <= 16) AND (string_to_array(array_to_string(groups, ','::text), ','::text) = groups) AND (array_to_string(groups, ','::text) ~ '^([a-z0-9][a-z0-9_.-]{0,39}(,[a-z0-9][a-z0-9_.-]{0,39})*)?$'::text))),
    CONSTRAINT users_kind_check CHECK ((kind = ANY (ARRAY['person'::text, 'model'::text]))),
    CONSTRAINT users_password_hash_check CHECK (((password_hash IS NULL) OR (password_hash ~~ '$argon2%'::text))),
    CONSTRAINT users_reputation_score_check CHECK ((reputation_score >= 0)),
    CONSTRAINT users_reputation_weight_check CHECK (((reputation_weight >= (0)::double precision) AND (reputation_weight <= (100)::double precision))),
    CONSTRAINT users_role_check CHECK ((role = ANY (ARRAY['annotator'::text, 'reviewer'::text, 'admin'::text]))),
    CONSTRAINT users_total_earned_check CHECK ((total_earned >= (0)::numeric)),
    CONSTRAINT users_username_check CHECK ((username ~ '^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$'::text)),
    CONSTRAINT users_verification_level_check CHECK ((verification_level = ANY (ARRAY['orb'::text, 'device'::text])))
);


--
-- Name: user_submissions_detailed; Type: VIEW; Schema: public; Owner: -
--

CREATE VIEW public.user_submissions_detailed AS
 SELECT s.id AS submission_id,
    s.task_id,
    s.user_id,
    u.username,
    s.question_id,
    q.question_type,
    q.source_dataset,
    t.title AS task_title,
    s.response_version,
    s.is_latest,
    s.chosen_response,
    s.confidence,
    s.explanation,
    s.time_spent_seconds,
    s.shown_order,
    s.payload,
    s.status,
    s.created_at,
    m.gold_correct,
    m.agreement_with_consensus,
    m.is_outlier,
    m.outlier_reasons,
    m.flagged_for_review,
    c.final_answer AS consensus_answer,
    c.consensus_reached
   FROM (((((public.submissions s
     JOIN public.users u ON ((u.id = s.user_id)))
     JOIN public.tasks t ON ((t.id = s.task_id)))
     JOIN public.questions q ON ((q.id = s.question_id)))
     JOIN public.response_consensus c ON ((c.task_id = s.task_id)))
     LEFT JOIN public.response_quality_metrics m ON ((m.submission_id = s.id)));


--
-- Name: web_sessions; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.web_sessions (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    user_id uuid NOT NULL,
    created_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    revoked_at timestamp with time zone,
    user_agent text,
    CONSTRAINT web_sessions_expiry_check CHECK ((expires_at > created_at)),
    CONSTRAINT web_sessions_user_agent_check CHECK ((length(user_agent) <= 500))
);


--
-- Name: webhook_attempts; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.webhook_attempts (
    id bigint NOT NULL,
    delivery_id bigint NOT NULL,
    attempt integer NOT NULL,
    started_at timestamp with time zone NOT NULL,
    duration_ms integer NOT NULL,
    status_code integer,
    error text,
    response_body text,
    CONSTRAINT webhook_attempts_attempt_check CHECK ((attempt >= 1)),
    CONSTRAINT webhook_attempts_body_check CHECK ((length(response_body) <= 2000)),
    CONSTRAINT webhook_attempts_duration_check CHECK ((duration_ms >= 0)),
    CONSTRAINT webhook_attempts_error_check CHECK ((length(error) <= 2000))
);


--
-- Name: webhook_attempts_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.webhook_attempts ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.webhook_attempts_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: webhook_deliveries; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.webhook_deliveries (
    id bigint NOT NULL,
    event_id bigint NOT NULL,
    webhook_id uuid NOT NULL,
    status text DEFAULT 'pending'::text NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    next_attempt_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    last_status_code integer,
    last_error text,
    delivered_at timestamp with time zone,
    created_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    CONSTRAINT webhook_deliveries_attempts_check CHECK ((attempts >= 0)),
    CONSTRAINT webhook_deliveries_delivered_check CHECK (((status = 'delivered'::text) = (delivered_at IS NOT NULL))),
    CONSTRAINT webhook_deliveries_status_check CHECK ((status = ANY (ARRAY['pending'::text, 'delivered'::text, 'failed'::text])))
);


--
-- Name: webhook_deliveries_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.webhook_deliveries ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.webhook_deliveries_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: webhook_events; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.webhook_events (
    id bigint NOT NULL,
    event text NOT NULL,
    payload jsonb NOT NULL,
    created_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    CONSTRAINT webhook_events_event_check CHECK ((event = ANY (ARRAY['task.consensus_reached'::text, 'task.adjudicated'::text, 'response.created'::text]))),
    CONSTRAINT webhook_events_payload_check CHECK ((jsonb_typeof(payload) = 'object'::text))
);


--
-- Name: webhook_events_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.webhook_events ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.webhook_events_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: webhooks; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.webhooks (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    url text NOT NULL,
    events text[] NOT NULL,
    secret text NOT NULL,
    description text DEFAULT ''::text NOT NULL,
    is_active boolean DEFAULT true NOT NULL,
    created_by uuid,
    created_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    updated_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    CONSTRAINT webhooks_description_check CHECK ((length(description) <= 500)),
    CONSTRAINT webhooks_events_check CHECK (((cardinality(events) >= 1) AND (events <@ ARRAY['task.consensus_reached'::text, 'task.adjudicated'::text, 'response.created'::text]))),
    CONSTRAINT webhooks_secret_check CHECK (((length(secret) >= 16) AND (length(secret) <= 200))),
    CONSTRAINT webhooks_url_check CHECK (((url ~ '^https?://[^\s/]+'::text) AND (length(url) <= 2000)))
);


--
-- Name: annotator_skill annotator_skill_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.annotator_skill
    ADD CONSTRAINT annotator_skill_pkey PRIMARY KEY (user_id, method);


--
-- Name: annotator_stats annotator_stats_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.annotator_stats
    ADD CONSTRAINT annotator_stats_pkey PRIMARY KEY (user_id);


--
-- Name: api_tokens api_tokens_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.api_tokens
    ADD CONSTRAINT api_tokens_pkey PRIMARY KEY (id);


--
-- Name: api_tokens api_tokens_token_hash_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.api_tokens
    ADD CONSTRAINT api_tokens_token_hash_key UNIQUE (token_hash);


--
-- Name: consensus_batch_results consensus_batch_results_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.consensus_batch_results
    ADD CONSTRAINT consensus_batch_results_pkey PRIMARY KEY (task_id, method);


--
-- Name: dataset_guidelines dataset_guidelines_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.dataset_guidelines
    ADD CONSTRAINT dataset_guidelines_pkey PRIMARY KEY (source_dataset, version);


--
-- Name: dataset_policies dataset_policies_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.dataset_policies
    ADD CONSTRAINT dataset_policies_pkey PRIMARY KEY (source_dataset);


--
-- Name: dataset_settings dataset_settings_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.dataset_settings
    ADD CONSTRAINT dataset_settings_pkey PRIMARY KEY (source_dataset);


--
-- Name: login_failures login_failures_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.login_failures
    ADD CONSTRAINT login_failures_pkey PRIMARY KEY (key);


--
-- Name: questions questions_content_hash_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.questions
    ADD CONSTRAINT questions_content_hash_key UNIQUE (content_hash);


--
-- Name: questions questions_lineage_version_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.questions
    ADD CONSTRAINT questions_lineage_version_key UNIQUE (lineage_id, version);


--
-- Name: questions questions_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.questions
    ADD CONSTRAINT questions_pkey PRIMARY KEY (id);


--
-- Name: reputation_events reputation_events_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.reputation_events
    ADD CONSTRAINT reputation_events_pkey PRIMARY KEY (id);


--
-- Name: response_consensus response_consensus_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.response_consensus
    ADD CONSTRAINT response_consensus_pkey PRIMARY KEY (task_id);


--
-- Name: response_quality_metrics response_quality_metrics_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.response_quality_metrics
    ADD CONSTRAINT response_quality_metrics_pkey PRIMARY KEY (submission_id);


--
-- Name: submissions submissions_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.submissions
    ADD CONSTRAINT submissions_pkey PRIMARY KEY (id);


--
-- Name: submissions submissions_task_user_version_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.submissions
    ADD CONSTRAINT submissions_task_user_version_key UNIQUE (task_id, user_id, response_version);


--
-- Name: task_adjudications task_adjudications_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.task_adjudications
    ADD CONSTRAINT task_adjudications_pkey PRIMARY KEY (task_id);


--
-- Name: task_categories task_categories_name_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.task_categories
    ADD CONSTRAINT task_categories_name_key UNIQUE (name);


--
-- Name: task_categories task_categories_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.task_categories
    ADD CONSTRAINT task_categories_pkey PRIMARY KEY (id);


--
-- Name: task_counts task_counts_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.task_counts
    ADD CONSTRAINT task_counts_key UNIQUE (shard, task_status, question_type, source_dataset, consensus_reached, needs_more, has_gold);


--
-- Name: task_leases task_leases_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.task_leases
    ADD CONSTRAINT task_leases_pkey PRIMARY KEY (task_id, user_id);


--
-- Name: task_skips task_skips_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.task_skips
    ADD CONSTRAINT task_skips_pkey PRIMARY KEY (task_id, user_id);


--
-- Name: tasks tasks_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tasks
    ADD CONSTRAINT tasks_pkey PRIMARY KEY (id);


--
-- Name: users users_nullifier_hash_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.users
    ADD CONSTRAINT users_nullifier_hash_key UNIQUE (nullifier_hash);


--
-- Name: users users_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.users
    ADD CONSTRAINT users_pkey PRIMARY KEY (id);


--
-- Name: users users_username_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.users
    ADD CONSTRAINT users_username_key UNIQUE (username);


--
-- Name: users users_wallet_address_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.users
    ADD CONSTRAINT users_wallet_address_key UNIQUE (wallet_address);


--
-- Name: users users_world_id_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.users
    ADD CONSTRAINT users_world_id_key UNIQUE (world_id);


--
-- Name: web_sessions web_sessions_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.web_sessions
    ADD CONSTRAINT web_sessions_pkey PRIMARY KEY (id);


--
-- Name: webhook_attempts webhook_attempts_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_attempts
    ADD CONSTRAINT webhook_attempts_pkey PRIMARY KEY (id);


--
-- Name: webhook_deliveries webhook_deliveries_event_webhook_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_deliveries
    ADD CONSTRAINT webhook_deliveries_event_webhook_key UNIQUE (event_id, webhook_id);


--
-- Name: webhook_deliveries webhook_deliveries_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_deliveries
    ADD CONSTRAINT webhook_deliveries_pkey PRIMARY KEY (id);


--
-- Name: webhook_events webhook_events_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_events
    ADD CONSTRAINT webhook_events_pkey PRIMARY KEY (id);


--
-- Name: webhooks webhooks_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhooks
    ADD CONSTRAINT webhooks_pkey PRIMARY KEY (id);


--
-- Name: api_tokens_user_name_live_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX api_tokens_user_name_live_idx ON public.api_tokens USING btree (user_id, name) WHERE (revoked_at IS NULL);


--
-- Name: dataset_guidelines_created_by_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX dataset_guidelines_created_by_idx ON public.dataset_guidelines USING btree (created_by);


--
-- Name: questions_created_by_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX questions_created_by_idx ON public.questions USING btree (created_by);


--
-- Name: questions_source_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX questions_source_idx ON public.questions USING btree (source_dataset, source_ref);


--
-- Name: reputation_events_user_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX reputation_events_user_idx ON public.reputation_events USING btree (user_id, id DESC);


--
-- Name: response_consensus_agreement_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX response_consensus_agreement_idx ON public.response_consensus USING btree (agreement_percentage, task_id);


--
-- Name: response_consensus_disputed_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX response_consensus_disputed_idx ON public.response_consensus USING btree (updated_at, task_id) WHERE ((remaining = 0) AND (NOT consensus_reached) AND (task_status = ANY (ARRAY['active'::text, 'paused'::text])));


--
-- Name: response_consensus_gold_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX response_consensus_gold_idx ON public.response_consensus USING btree (task_priority DESC, task_id) WHERE (task_active AND has_gold);


--
-- Name: response_consensus_queue_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX response_consensus_queue_idx ON public.response_consensus USING btree (has_gold, remaining, task_priority DESC, task_id) WHERE (task_active AND (remaining > 0));


--
-- Name: response_consensus_remaining_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX response_consensus_remaining_idx ON public.response_consensus USING btree (remaining, task_id);


--
-- Name: response_consensus_total_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX response_consensus_total_idx ON public.response_consensus USING btree (total_responses, task_id);


--
-- Name: response_consensus_version_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX response_consensus_version_idx ON public.response_consensus USING btree (version);


--
-- Name: response_quality_metrics_flagged_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX response_quality_metrics_flagged_idx ON public.response_quality_metrics USING btree (task_id) WHERE flagged_for_review;


--
-- Name: response_quality_metrics_task_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX response_quality_metrics_task_idx ON public.response_quality_metrics USING btree (task_id);


--
-- Name: response_quality_metrics_user_time_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX response_quality_metrics_user_time_idx ON public.response_quality_metrics USING btree (user_id, computed_at DESC);


--
-- Name: submissions_created_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX submissions_created_idx ON public.submissions USING btree (created_at, id);


--
-- Name: submissions_idempotency_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX submissions_idempotency_idx ON public.submissions USING btree (user_id, idempotency_key) WHERE (idempotency_key IS NOT NULL);


--
-- Name: submissions_latest_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX submissions_latest_idx ON public.submissions USING btree (task_id, user_id) WHERE is_latest;


--
-- Name: submissions_nullifier_latest_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX submissions_nullifier_latest_idx ON public.submissions USING btree (task_id, submitter_nullifier) WHERE (is_latest AND (submitter_nullifier IS NOT NULL));


--
-- Name: submissions_question_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX submissions_question_id_idx ON public.submissions USING btree (question_id);


--
-- Name: submissions_reviewer_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX submissions_reviewer_id_idx ON public.submissions USING btree (reviewer_id);


--
-- Name: submissions_status_created_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX submissions_status_created_idx ON public.submissions USING btree (status, created_at);


--
-- Name: submissions_user_created_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX submissions_user_created_idx ON public.submissions USING btree (user_id, created_at);


--
-- Name: task_adjudications_created_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX task_adjudications_created_idx ON public.task_adjudications USING btree (created_at);


--
-- Name: task_leases_user_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX task_leases_user_idx ON public.task_leases USING btree (user_id);


--
-- Name: task_skips_user_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX task_skips_user_idx ON public.task_skips USING btree (user_id);


--
-- Name: tasks_active_priority_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX tasks_active_priority_idx ON public.tasks USING btree (priority DESC, created_at, id) WHERE (status = 'active'::text);


--
-- Name: tasks_category_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX tasks_category_id_idx ON public.tasks USING btree (category_id);


--
-- Name: tasks_created_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX tasks_created_idx ON public.tasks USING btree (created_at, id);


--
-- Name: tasks_creator_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX tasks_creator_id_idx ON public.tasks USING btree (creator_id);


--
-- Name: tasks_priority_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX tasks_priority_idx ON public.tasks USING btree (priority, id);


--
-- Name: tasks_question_created_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX tasks_question_created_idx ON public.tasks USING btree (question_id, created_at);


--
-- Name: tasks_source_key_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX tasks_source_key_idx ON public.tasks USING btree (question_id, source_key) WHERE (source_key IS NOT NULL);


--
-- Name: tasks_status_created_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX tasks_status_created_idx ON public.tasks USING btree (status, created_at, id);


--
-- Name: web_sessions_user_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX web_sessions_user_idx ON public.web_sessions USING btree (user_id) WHERE (revoked_at IS NULL);


--
-- Name: webhook_attempts_delivery_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX webhook_attempts_delivery_idx ON public.webhook_attempts USING btree (delivery_id, attempt);


--
-- Name: webhook_deliveries_due_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX webhook_deliveries_due_idx ON public.webhook_deliveries USING btree (next_attempt_at, id) WHERE (status = 'pending'::text);


--
-- Name: webhook_deliveries_webhook_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX webhook_deliveries_webhook_idx ON public.webhook_deliveries USING btree (webhook_id, id DESC);


--
-- Name: webhook_events_created_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX webhook_events_created_idx ON public.webhook_events USING btree (created_at);


--
-- Name: api_tokens api_tokens_auth_changed; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER api_tokens_auth_changed AFTER UPDATE OF revoked_at, expires_at, token_hash, user_id ON public.api_tokens FOR EACH ROW WHEN (((old.revoked_at IS DISTINCT FROM new.revoked_at) OR (old.expires_at IS DISTINCT FROM new.expires_at) OR (old.token_hash IS DISTINCT FROM new.token_hash) OR (old.user_id IS DISTINCT FROM new.user_id))) EXECUTE FUNCTION public.auth_changed_v1();


--
-- Name: api_tokens api_tokens_auth_deleted; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER api_tokens_auth_deleted AFTER DELETE ON public.api_tokens FOR EACH ROW EXECUTE FUNCTION public.auth_changed_v1();


--
-- Name: questions questions_default_lineage; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER questions_default_lineage BEFORE INSERT ON public.questions FOR EACH ROW EXECUTE FUNCTION public.questions_default_lineage();


--
-- Name: questions questions_sync_gold; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER questions_sync_gold AFTER UPDATE OF gold_standard ON public.questions FOR EACH ROW EXECUTE FUNCTION public.questions_sync_gold();


--
-- Name: response_consensus response_consensus_count_insert_delete; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER response_consensus_count_insert_delete AFTER INSERT OR DELETE ON public.response_consensus FOR EACH ROW EXECUTE FUNCTION public.response_consensus_count();


--
-- Name: response_consensus response_consensus_count_update; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER response_consensus_count_update AFTER UPDATE ON public.response_consensus FOR EACH ROW WHEN ((((old.task_status IS DISTINCT FROM new.task_status) OR (old.question_type IS DISTINCT FROM new.question_type) OR (old.source_dataset IS DISTINCT FROM new.source_dataset) OR (old.consensus_reached IS DISTINCT FROM new.consensus_reached) OR ((old.remaining > 0) IS DISTINCT FROM (new.remaining > 0)) OR (old.has_gold IS DISTINCT FROM new.has_gold)) AND (current_setting('whstudio.bulk_answers'::text, true) IS DISTINCT FROM 'on'::text))) EXECUTE FUNCTION public.response_consensus_count();


--
-- Name: response_consensus response_consensus_settle; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER response_consensus_settle AFTER UPDATE OF remaining ON public.response_consensus FOR EACH ROW WHEN (((old.remaining > 0) AND (new.remaining = 0) AND (current_setting('whstudio.bulk_answers'::text, true) IS DISTINCT FROM 'on'::text))) EXECUTE FUNCTION public.response_consensus_settle();


--
-- Name: response_consensus response_consensus_truncate_counts; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER response_consensus_truncate_counts AFTER TRUNCATE ON public.response_consensus FOR EACH STATEMENT EXECUTE FUNCTION public.response_consensus_truncate_counts();


--
-- Name: response_consensus response_consensus_webhook; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER response_consensus_webhook AFTER UPDATE OF consensus_reached ON public.response_consensus FOR EACH ROW WHEN ((new.consensus_reached AND (NOT old.consensus_reached))) EXECUTE FUNCTION public.response_consensus_webhook();


--
-- Name: response_quality_metrics response_quality_metrics_count; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER response_quality_metrics_count AFTER INSERT OR DELETE OR UPDATE OF counted, gold_correct, agreed, picked_left, choice, time_spent_seconds, outlier_reasons ON public.response_quality_metrics FOR EACH ROW WHEN ((current_setting('whstudio.bulk_answers'::text, true) IS DISTINCT FROM 'on'::text)) EXECUTE FUNCTION public.response_quality_metrics_count();


--
-- Name: submissions submissions_check_answer; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER submissions_check_answer BEFORE INSERT OR UPDATE OF task_id, question_id, chosen_response, payload ON public.submissions FOR EACH ROW WHEN ((current_setting('whstudio.bulk_answers'::text, true) IS DISTINCT FROM 'on'::text)) EXECUTE FUNCTION public.submissions_check_answer();


--
-- Name: submissions submissions_count_vote; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER submissions_count_vote AFTER INSERT OR DELETE OR UPDATE OF is_latest, in_consensus, task_id, chosen_response, confidence, time_spent_seconds, vote_weight, payload ON public.submissions FOR EACH ROW WHEN ((current_setting('whstudio.bulk_answers'::text, true) IS DISTINCT FROM 'on'::text)) EXECUTE FUNCTION public.submissions_count_vote();


--
-- Name: submissions submissions_in_consensus; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER submissions_in_consensus BEFORE INSERT ON public.submissions FOR EACH ROW WHEN ((current_setting('whstudio.bulk_answers'::text, true) IS DISTINCT FROM 'on'::text)) EXECUTE FUNCTION public.submissions_set_in_consensus();


--
-- Name: submissions submissions_quality; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER submissions_quality AFTER INSERT OR UPDATE OF is_latest, in_consensus, task_id, chosen_response, shown_order, payload, time_spent_seconds ON public.submissions FOR EACH ROW WHEN ((current_setting('whstudio.bulk_answers'::text, true) IS DISTINCT FROM 'on'::text)) EXECUTE FUNCTION public.submissions_quality();


--
-- Name: submissions submissions_set_updated_at; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER submissions_set_updated_at BEFORE UPDATE ON public.submissions FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();


--
-- Name: submissions submissions_webhook; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER submissions_webhook AFTER INSERT ON public.submissions FOR EACH ROW WHEN ((current_setting('whstudio.bulk_answers'::text, true) IS DISTINCT FROM 'on'::text)) EXECUTE FUNCTION public.submissions_webhook();


--
-- Name: task_adjudications task_adjudications_webhook; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER task_adjudications_webhook AFTER INSERT OR UPDATE OF final_answer ON public.task_adjudications FOR EACH ROW EXECUTE FUNCTION public.task_adjudications_webhook();


--
-- Name: tasks tasks_create_consensus; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER tasks_create_consensus AFTER INSERT ON public.tasks FOR EACH ROW EXECUTE FUNCTION public.tasks_create_consensus();


--
-- Name: tasks tasks_set_updated_at; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER tasks_set_updated_at BEFORE UPDATE ON public.tasks FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();


--
-- Name: tasks tasks_sync_consensus; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER tasks_sync_consensus AFTER UPDATE OF status, priority, question_id, consensus_threshold, min_agreement_percentage, allow_tie, count_model_votes ON public.tasks FOR EACH ROW WHEN ((current_setting('whstudio.bulk_answers'::text, true) IS DISTINCT FROM 'on'::text)) EXECUTE FUNCTION public.tasks_sync_consensus();


--
-- Name: users users_auth_changed; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER users_auth_changed AFTER UPDATE OF is_active, role, username, display_name ON public.users FOR EACH ROW WHEN (((old.is_active IS DISTINCT FROM new.is_active) OR (old.role IS DISTINCT FROM new.role) OR (old.username IS DISTINCT FROM new.username) OR (old.display_name IS DISTINCT FROM new.display_name))) EXECUTE FUNCTION public.auth_changed_v1();


--
-- Name: users users_auth_deleted; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER users_auth_deleted AFTER DELETE ON public.users FOR EACH ROW EXECUTE FUNCTION public.auth_changed_v1();


--
-- Name: users users_kind_changed; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER users_kind_changed AFTER UPDATE OF kind ON public.users FOR EACH ROW WHEN ((old.kind IS DISTINCT FROM new.kind)) EXECUTE FUNCTION public.users_kind_changed();


--
-- Name: users users_set_updated_at; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER users_set_updated_at BEFORE UPDATE ON public.users FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();


--
-- Name: webhook_events webhook_events_fan_out; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER webhook_events_fan_out AFTER INSERT ON public.webhook_events FOR EACH ROW EXECUTE FUNCTION public.webhook_events_fan_out();


--
-- Name: webhooks webhooks_set_updated_at; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER webhooks_set_updated_at BEFORE UPDATE ON public.webhooks FOR EACH ROW EXECUTE FUNCTION public.set_updated_at();


--
-- Name: annotator_skill annotator_skill_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.annotator_skill
    ADD CONSTRAINT annotator_skill_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE;


--
-- Name: annotator_stats annotator_stats_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.annotator_stats
    ADD CONSTRAINT annotator_stats_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE;


--
-- Name: api_tokens api_tokens_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.api_tokens
    ADD CONSTRAINT api_tokens_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE;


--
-- Name: consensus_batch_results consensus_batch_results_task_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.consensus_batch_results
    ADD CONSTRAINT consensus_batch_results_task_id_fkey FOREIGN KEY (task_id) REFERENCES public.tasks(id) ON DELETE CASCADE;


--
-- Name: dataset_guidelines dataset_guidelines_created_by_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.dataset_guidelines
    ADD CONSTRAINT dataset_guidelines_created_by_fkey FOREIGN KEY (created_by) REFERENCES public.users(id) ON DELETE SET NULL;


--
-- Name: questions questions_created_by_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.questions
    ADD CONSTRAINT questions_created_by_fkey FOREIGN KEY (created_by) REFERENCES public.users(id) ON DELETE SET NULL;


--
-- Name: reputation_events reputation_events_submission_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.reputation_events
    ADD CONSTRAINT reputation_events_submission_id_fkey FOREIGN KEY (submission_id) REFERENCES public.submissions(id) ON DELETE SET NULL;


--
-- Name: reputation_events reputation_events_task_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.reputation_events
    ADD CONSTRAINT reputation_events_task_id_fkey FOREIGN KEY (task_id) REFERENCES public.tasks(id) ON DELETE SET NULL;


--
-- Name: reputation_events reputation_events_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.reputation_events
    ADD CONSTRAINT reputation_events_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE;


--
-- Name: response_consensus response_consensus_task_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.response_consensus
    ADD CONSTRAINT response_consensus_task_id_fkey FOREIGN KEY (task_id) REFERENCES public.tasks(id) ON DELETE CASCADE;


--
-- Name: response_quality_metrics response_quality_metrics_submission_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.response_quality_metrics
    ADD CONSTRAINT response_quality_metrics_submission_id_fkey FOREIGN KEY (submission_id) REFERENCES public.submissions(id) ON DELETE CASCADE;


--
-- Name: submissions submissions_question_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.submissions
    ADD CONSTRAINT submissions_question_id_fkey FOREIGN KEY (question_id) REFERENCES public.questions(id);


--
-- Name: submissions submissions_reviewer_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.submissions
    ADD CONSTRAINT submissions_reviewer_id_fkey FOREIGN KEY (reviewer_id) REFERENCES public.users(id) ON DELETE SET NULL;


--
-- Name: submissions submissions_task_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.submissions
    ADD CONSTRAINT submissions_task_id_fkey FOREIGN KEY (task_id) REFERENCES public.tasks(id) ON DELETE CASCADE;


--
-- Name: submissions submissions_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.submissions
    ADD CONSTRAINT submissions_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE;


--
-- Name: task_adjudications task_adjudications_reviewer_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.task_adjudications
    ADD CONSTRAINT task_adjudications_reviewer_id_fkey FOREIGN KEY (reviewer_id) REFERENCES public.users(id) ON DELETE SET NULL;


--
-- Name: task_adjudications task_adjudications_task_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.task_adjudications
    ADD CONSTRAINT task_adjudications_task_id_fkey FOREIGN KEY (task_id) REFERENCES public.tasks(id) ON DELETE CASCADE;


--
-- Name: task_leases task_leases_task_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.task_leases
    ADD CONSTRAINT task_leases_task_id_fkey FOREIGN KEY (task_id) REFERENCES public.tasks(id) ON DELETE CASCADE;


--
-- Name: task_leases task_leases_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.task_leases
    ADD CONSTRAINT task_leases_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE;


--
-- Name: task_skips task_skips_task_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.task_skips
    ADD CONSTRAINT task_skips_task_id_fkey FOREIGN KEY (task_id) REFERENCES public.tasks(id) ON DELETE CASCADE;


--
-- Name: task_skips task_skips_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.task_skips
    ADD CONSTRAINT task_skips_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE;


--
-- Name: tasks tasks_category_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tasks
    ADD CONSTRAINT tasks_category_id_fkey FOREIGN KEY (category_id) REFERENCES public.task_categories(id) ON DELETE SET NULL;


--
-- Name: tasks tasks_creator_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tasks
    ADD CONSTRAINT tasks_creator_id_fkey FOREIGN KEY (creator_id) REFERENCES public.users(id) ON DELETE SET NULL;


--
-- Name: tasks tasks_question_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tasks
    ADD CONSTRAINT tasks_question_id_fkey FOREIGN KEY (question_id) REFERENCES public.questions(id);


--
-- Name: web_sessions web_sessions_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.web_sessions
    ADD CONSTRAINT web_sessions_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE;


--
-- Name: webhook_attempts webhook_attempts_delivery_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_attempts
    ADD CONSTRAINT webhook_attempts_delivery_id_fkey FOREIGN KEY (delivery_id) REFERENCES public.webhook_deliveries(id) ON DELETE CASCADE;


--
-- Name: webhook_deliveries webhook_deliveries_event_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_deliveries
    ADD CONSTRAINT webhook_deliveries_event_id_fkey FOREIGN KEY (event_id) REFERENCES public.webhook_events(id) ON DELETE CASCADE;


--
-- Name: webhook_deliveries webhook_deliveries_webhook_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhook_deliveries
    ADD CONSTRAINT webhook_deliveries_webhook_id_fkey FOREIGN KEY (webhook_id) REFERENCES public.webhooks(id) ON DELETE CASCADE;


--
-- Name: webhooks webhooks_created_by_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.webhooks
    ADD CONSTRAINT webhooks_created_by_fkey FOREIGN KEY (created_by) REFERENCES public.users(id) ON DELETE SET NULL;


--
-- PostgreSQL database dump complete
--
