-- Corners of target names and stored values: multi-byte and quoted names, names too long, one
-- value per slot in both views, and rows written into the storage directly.
SET client_min_messages = warning;

------------------------------------------------------------------------------------------------
-- Names. Postgres cuts identifiers at 63 bytes; vs_ingest derives the names of a target's
-- relations from its own and cuts them by whole characters within those bytes, so a Korean name
-- (3 bytes a character) keeps a partition per day.
------------------------------------------------------------------------------------------------
SELECT vs_ingest_create_target('public.서울시_도시고속도로_링크별_속도_시간대별') AS korean_target;
SELECT files_loaded, files_failed, rows_loaded
  FROM vs_ingest_dir('/tmp/vs_ingest_regress/adopt', '202306*_5Min.csv.gz',
                     target => 'public.서울시_도시고속도로_링크별_속도_시간대별');
SELECT c.relname, octet_length(c.relname::text) AS bytes, pg_get_expr(c.relpartbound, c.oid) AS bounds
  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
 WHERE i.inhparent = vs_ingest.storage_of('public.서울시_도시고속도로_링크별_속도_시간대별') ORDER BY 1;
SELECT relname, octet_length(relname::text) AS bytes FROM pg_class
 WHERE relname LIKE '서울시%' AND relkind IN ('v', 'p') ORDER BY 1;
SELECT count(*) AS hourly_rows, sum(samples) AS samples FROM public.서울시_도시고속도로_링크별_속도_시간대별;

-- A quoted name with a dot (and one with a quote) works end to end.
SELECT vs_ingest_create_target('"a.b"') AS dotted, vs_ingest_create_target('public."it''s ""quoted"""') AS quoted;
SELECT files_loaded, rows_loaded FROM vs_ingest_file('/tmp/vs_ingest_regress/adopt/20230601_5Min.csv.gz', target => '"a.b"');
SELECT files_loaded, rows_loaded FROM vs_ingest_file('/tmp/vs_ingest_regress/adopt/20230601_5Min.csv.gz', target => 'public."it''s ""quoted"""');
SELECT (SELECT sum(samples) FROM public."a.b") AS dotted_samples, (SELECT count(*) FROM public."a.b_5min") AS dotted_5min,
       (SELECT sum(samples) FROM public."it's ""quoted""") AS quoted_samples;
SELECT count(*) AS dotted_coverage_hours FROM vs_ingest_coverage('2023-06-01 00:00+09', '2023-06-02 00:00+09', target => '"a.b"') WHERE links_reported > 0;

-- A name part longer than 63 bytes is refused up front, not cut into another table's name.
SELECT regress_try($$SELECT vs_ingest_create_target('public.' || repeat('긴', 22))$$);
SELECT regress_try($$SELECT vs_ingest_file('/tmp/vs_ingest_regress/adopt/20230601_5Min.csv.gz', target => repeat('x', 64))$$);
SELECT regress_try($$SELECT vs_ingest_create_target('a.b.c')$$);

------------------------------------------------------------------------------------------------
-- One value per slot: the 5-minute view's speed is the hourly view's, the same real.
------------------------------------------------------------------------------------------------
SELECT atttypid::regtype AS five_min_speed_type FROM pg_attribute
 WHERE attrelid = 'public."a.b_5min"'::regclass AND attname = 'speed';
SELECT count(*) AS slots, count(*) FILTER (WHERE f.speed = h.speed[s.i]) AS equal
  FROM public."a.b" h
 CROSS JOIN LATERAL generate_series(1, 12) AS s(i)
  JOIN public."a.b_5min" f ON f.link_id = h.link_id AND f.ts = h.hour + (s.i - 1) * interval '5 minutes'
 WHERE h.speed[s.i] IS NOT NULL;

------------------------------------------------------------------------------------------------
-- Rows written into the storage directly must have the stored layout: arrays of 72 slots
-- subscripted from 1, and `hours` marking exactly the hours with a sample (the views read slots
-- by subscript and by position, and show the hours `hours` marks).
------------------------------------------------------------------------------------------------
SELECT regress_try($$INSERT INTO public."a.b_blocks" VALUES (1, '2023-06-01', 0, 1,
    ('[100:171]={' || array_to_string(array_fill(10, ARRAY[72]), ',') || '}')::smallint[], NULL)$$) AS speed_from_100;
SELECT regress_try($$INSERT INTO public."a.b_blocks" VALUES (1, '2023-06-01', 0, 63,
    array_fill(10::smallint, ARRAY[72]), ('[0:71]={' || array_to_string(array_fill(1, ARRAY[72]), ',') || '}')::int[])$$)
    AS travel_time_from_0;
-- Samples in hours 0-5, but hours says only hour 0: hours 1-5 would vanish from the hourly view.
SELECT regress_try($$INSERT INTO public."a.b_blocks" VALUES (1, '2023-06-01', 0, 1, array_fill(10::smallint, ARRAY[72]), NULL)$$)
    AS hours_too_few;
-- hours says hour 1 too, which has no sample: the view would show it with samples = 0.
SELECT regress_try($$INSERT INTO public."a.b_blocks" VALUES (1, '2023-06-01', 0, 3,
    array_fill(10::smallint, ARRAY[12]) || array_fill(NULL::smallint, ARRAY[60]), NULL)$$) AS hours_too_many;
SELECT regress_try($$INSERT INTO public."a.b_blocks" VALUES (1, '2023-06-01', 0, 1,
    array_fill(10::smallint, ARRAY[12]) || array_fill(NULL::smallint, ARRAY[60]), NULL)$$) AS consistent;
SELECT regress_try($$INSERT INTO public."a.b_blocks" VALUES (2, '2023-06-01', 0, 1, ARRAY[ARRAY[1, 2]]::smallint[], NULL)$$)
    AS two_dimensions;

-- Dropping a target: its storage, with its views.
DROP TABLE public."a.b_blocks", public."it's ""quoted""_blocks", public."서울시_도시고속도로_링크별_속도_시간대_blocks" CASCADE;
