-- Business calendars and their arithmetic (doc/sla.md): crm.business_add
-- and crm.business_minutes against hand-computed cases -- daylight saving
-- in Europe/Berlin and America/New_York, holidays, recurring holidays
-- across a year boundary, overnight shifts, closed days, zero minutes,
-- years -- the two functions inverse on open time, a randomized comparison
-- with a slow minute-by-minute reference written below, the cache
-- following a calendar edit in the same transaction, and bad input.
\set VERBOSITY terse
SET client_min_messages = warning;
SET timezone = 'UTC';

SELECT crm.create_organization('Calendar Org') AS org \gset
SELECT crm.create_organization('Other Calendar Org') AS other \gset
DROP ROLE IF EXISTS crm_cal_admin;
DROP ROLE IF EXISTS crm_cal_reader;
CREATE ROLE crm_cal_admin;
CREATE ROLE crm_cal_reader;
SELECT crm.grant_access('crm_cal_admin', 'admin');
SELECT crm.grant_access('crm_cal_reader', 'readonly');
SET ROLE crm_cal_admin;
SET crm.organization_id = :'org';

-- Every tenant has a default 24x7 calendar.
SELECT name, time_zone, is_default, holidays, recurring_holidays FROM crm.business_calendar;
SELECT id AS always FROM crm.business_calendar WHERE is_default \gset
SELECT crm.business_add('2025-01-01 10:00+00', 1440 * 365, :'always') AS one_year_later;

-- Office hours in Berlin with a lunch break, Good Friday 2025 and the
-- Christmas days every year.
SELECT crm.create_business_calendar('Berlin', 'Europe/Berlin',
	'{"mon": [["09:00","12:00"],["13:00","17:00"]], "tue": [["09:00","12:00"],["13:00","17:00"]],
	  "wed": [["09:00","12:00"],["13:00","17:00"]], "thu": [["09:00","12:00"],["13:00","17:00"]],
	  "fri": [["09:00","12:00"],["13:00","17:00"]], "sat": [], "sun": []}',
	'{2025-04-18}', '{12-25,12-26,12-31,01-01}') AS berlin \gset
SELECT crm.create_business_calendar('New York', 'America/New_York',
	'{"mon": [["09:00","17:00"]], "tue": [["09:00","17:00"]], "wed": [["09:00","17:00"]],
	  "thu": [["09:00","17:00"]], "fri": [["09:00","17:00"]]}') AS newyork \gset
-- Round the clock in Berlin (to see the real length of DST days).
SELECT crm.create_business_calendar('Berlin 24x7', 'Europe/Berlin',
	'{"mon": [["00:00","24:00"]], "tue": [["00:00","24:00"]], "wed": [["00:00","24:00"]], "thu": [["00:00","24:00"]],
	  "fri": [["00:00","24:00"]], "sat": [["00:00","24:00"]], "sun": [["00:00","24:00"]]}') AS berlin247 \gset
-- Sunday night 01:00-04:00 local, in both zones (the hours DST changes).
SELECT crm.create_business_calendar('Berlin night', 'Europe/Berlin', '{"sun": [["01:00","04:00"]]}') AS bnight \gset
SELECT crm.create_business_calendar('New York night', 'America/New_York', '{"sun": [["01:00","04:00"]]}') AS nynight \gset
-- A night shift Monday to Friday 22:00-06:00 (overnight intervals).
SELECT crm.create_business_calendar('Night shift', 'UTC',
	'{"mon": [["22:00","06:00"]], "tue": [["22:00","06:00"]], "wed": [["22:00","06:00"]],
	  "thu": [["22:00","06:00"]], "fri": [["22:00","06:00"]]}', '{2025-01-14}') AS night \gset

SET timezone = 'Europe/Berlin';
-- Hand-computed: Wednesday 10:00 + 8 h = 2 h to lunch, 4 h afternoon,
-- 2 h on Thursday: Thursday 11:00.
SELECT crm.business_add('2025-01-15 10:00', 480, :'berlin');
-- A deadline exactly at a closing time is that closing time.
SELECT crm.business_add('2025-01-15 09:00', 180, :'berlin') AS at_lunch,
	   crm.business_add('2025-01-15 09:00', 420, :'berlin') AS at_closing;
-- A start on a closed day, at lunch, and before opening.
SELECT crm.business_add('2025-01-18 11:00', 1, :'berlin') AS from_saturday,
	   crm.business_add('2025-01-15 12:30', 30, :'berlin') AS from_lunch,
	   crm.business_add('2025-01-15 06:00', 60, :'berlin') AS from_early;
-- Zero minutes: the start itself, open or not.
SELECT crm.business_add('2025-01-18 11:00', 0, :'berlin') AS zero_closed,
	   crm.business_add('2025-01-15 10:17:30', 0, :'berlin') AS zero_open;
-- Seconds are kept: 10:17:30 + 1 minute.
SELECT crm.business_add('2025-01-15 10:17:30', 1, :'berlin');
-- A holiday on a Friday (Good Friday 2025-04-18): Thursday 16:00 + 2 h is
-- Monday 10:00.
SELECT crm.business_add('2025-04-17 16:00', 120, :'berlin');
SELECT crm.business_minutes('2025-04-14', '2025-04-21', :'berlin') AS week_with_good_friday;
-- Recurring holidays across a year boundary (12-31, 01-01), two years.
SELECT crm.business_add('2024-12-30 16:00', 120, :'berlin') AS new_year_2025,
	   crm.business_add('2025-12-30 16:00', 120, :'berlin') AS new_year_2026;
-- Spring forward (Sunday 2025-03-30) between Friday and Monday changes
-- nothing in office hours; the offset of the result does.
SELECT crm.business_add('2025-03-28 16:00', 120, :'berlin');
-- Real elapsed time: the spring-forward day has 23 hours, the fall-back day 25.
SELECT crm.business_minutes('2025-03-30 00:00', '2025-03-31 00:00', :'berlin247') AS spring_day,
	   crm.business_minutes('2025-10-26 00:00', '2025-10-27 00:00', :'berlin247') AS fall_day;
-- 01:00-04:00 local on the DST Sundays holds 2 h (spring) and 4 h (fall).
SELECT crm.business_minutes('2025-03-29', '2025-03-31', :'bnight') AS berlin_spring,
	   crm.business_minutes('2025-10-25', '2025-10-27', :'bnight') AS berlin_fall;
SELECT crm.business_add('2025-03-30 01:00', 90, :'bnight') AS berlin_spring_add,
	   crm.business_add('2025-10-26 01:00', 210, :'bnight') AS berlin_fall_add;
SET timezone = 'America/New_York';
SELECT crm.business_minutes('2025-03-08', '2025-03-10', :'nynight') AS ny_spring,
	   crm.business_minutes('2025-11-01', '2025-11-03', :'nynight') AS ny_fall;
SELECT crm.business_add('2025-03-09 01:00', 61, :'nynight') AS ny_spring_add,
	   crm.business_add('2025-11-02 01:30-04', 180, :'nynight') AS ny_fall_add;
-- New York office hours across the spring change: Friday 16:00 + 2 h.
SELECT crm.business_add('2025-03-07 16:00', 120, :'newyork');
SET timezone = 'UTC';
-- Overnight shifts: Monday noon + 1 h = Monday 23:00; Friday 23:00 + 8 h
-- runs over the weekend into Monday night.
SELECT crm.business_add('2025-01-13 12:00', 60, :'night') AS monday_night,
	   crm.business_add('2025-01-17 23:00', 480, :'night') AS over_weekend;
-- The holiday Tuesday 2025-01-14 cuts the part of Monday's shift that
-- reaches into it: Monday 22:00-24:00, then Wednesday 00:00-06:00 (Tuesday's
-- own shift starts 22:00 on the holiday and is cut until midnight).
SELECT crm.business_minutes('2025-01-13', '2025-01-15 12:00', :'night');
-- Spans of years: ten years of 24x7 minus nothing; the sum of years.
SELECT crm.business_minutes('2020-01-01', '2030-01-01', :'always') = 1440 * 3653 AS ten_years_24x7;
SELECT crm.business_minutes('2020-01-01', '2030-01-01', :'berlin')
	   = (SELECT sum(crm.business_minutes(make_date(y, 1, 1), make_date(y + 1, 1, 1), :'berlin'))
			FROM generate_series(2020, 2029) y) AS years_add_up;
SELECT crm.business_add('2025-01-01', crm.business_minutes('2025-01-01', '2035-06-01 12:00+02', :'berlin'), :'berlin')
	   AS ten_years_back_to_noon;
-- Negative spans: the negative of the swapped span.
SELECT crm.business_minutes('2025-01-16 10:00', '2025-01-15 10:00', :'berlin') AS negative;

-- Inverse on open time: business_add(a, business_minutes(a, b)) = b for
-- every open instant b on a whole minute, and business_minutes(a,
-- business_add(a, m)) = m always.
SELECT count(*) AS checked,
	   count(*) FILTER (WHERE crm.business_minutes(a, crm.business_add(a, m, :'berlin'), :'berlin') <> m) AS add_then_minutes_wrong
  FROM (SELECT timestamptz '2025-01-01 00:00+00' + (i * 7919 % 525600) * interval '1 minute' AS a,
			   ((i::bigint * 104729) % 100000)::integer AS m
		  FROM generate_series(1, 300) i) s;
SELECT count(*) AS open_instants,
	   count(*) FILTER (WHERE crm.business_add(a, crm.business_minutes(a, b, :'berlin'), :'berlin') <> b) AS wrong
  FROM (SELECT timestamptz '2025-01-01 00:00+00' + (i * 7919 % 525600) * interval '1 minute' AS a,
			   timestamptz '2025-01-01 00:00+00' + (i * 7919 % 525600) * interval '1 minute'
				   + ((i::bigint * 15485863) % 200000) * interval '1 minute' AS b
		  FROM generate_series(1, 600) i) s
 WHERE crm.business_minutes(b, b + interval '1 minute', :'berlin') = 1
   AND crm.business_minutes(b - interval '1 minute', b, :'berlin') = 1;

-- A slow reference: one minute at a time, open when the minute's local
-- time lies in an interval of its local weekday (or the previous day's
-- overnight interval) and its local date is no holiday.
RESET ROLE;
CREATE FUNCTION pg_temp.ref_open(cal crm.business_calendar, t timestamptz) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
DECLARE
	lt timestamp := t AT TIME ZONE cal.time_zone;
	d date := lt::date;
	m integer := extract(hour FROM lt)::integer * 60 + extract(minute FROM lt)::integer;
	iv jsonb;
	s integer;
	e integer;
	k integer;
	day date;
BEGIN
	IF d = ANY (cal.holidays) OR to_char(d, 'MM-DD') = ANY (cal.recurring_holidays) THEN
		RETURN false;
	END IF;
	-- intervals of this local date (k = 0) and overnight ones of the day before (k = 1)
	FOR k IN 0..1 LOOP
		day := d - k;
		FOR iv IN SELECT * FROM jsonb_array_elements(coalesce(cal.hours -> lower(to_char(day, 'Dy')), '[]')) LOOP
			s := split_part(iv ->> 0, ':', 1)::integer * 60 + split_part(iv ->> 0, ':', 2)::integer;
			e := split_part(iv ->> 1, ':', 1)::integer * 60 + split_part(iv ->> 1, ':', 2)::integer;
			IF e <= s THEN
				e := e + 1440;
			END IF;
			IF m + 1440 * k >= s AND m + 1440 * k < e THEN
				RETURN true;
			END IF;
		END LOOP;
	END LOOP;
	RETURN false;
END;
$$;
CREATE FUNCTION pg_temp.ref_minutes(cal crm.business_calendar, a timestamptz, b timestamptz) RETURNS integer
LANGUAGE sql STABLE AS $$
	SELECT count(*)::integer FROM generate_series(a, b - interval '1 minute', interval '1 minute') t
	 WHERE pg_temp.ref_open(cal, t)
$$;
CREATE FUNCTION pg_temp.ref_add(cal crm.business_calendar, a timestamptz, m integer) RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
DECLARE
	t timestamptz := a;
	n integer := 0;
BEGIN
	IF m = 0 THEN
		RETURN a;
	END IF;
	LOOP
		IF pg_temp.ref_open(cal, t) THEN
			n := n + 1;
			IF n = m THEN
				RETURN t + interval '1 minute';
			END IF;
		END IF;
		t := t + interval '1 minute';
	END LOOP;
END;
$$;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA pg_temp TO crm_cal_admin;
SET ROLE crm_cal_admin;
-- Random calendars (random intervals per day, some overnight, random
-- holidays) in the three zones, random starts around the DST changes and
-- spans up to four days: the fast and the slow answer agree.
SELECT setseed(0.12);
CREATE TEMP TABLE rnd_cal AS
SELECT i, (ARRAY['Europe/Berlin', 'America/New_York', 'UTC'])[1 + i % 3] AS zone,
	   (SELECT jsonb_object_agg(dk, ivs)
		  FROM (SELECT dk,
					   CASE WHEN random() < 0.2 THEN '[]'::jsonb
							WHEN random() < 0.2 THEN jsonb_build_array(jsonb_build_array(
								to_char(time '20:00' + (random() * 180)::int * interval '1 minute', 'HH24:MI'),
								to_char(time '02:00' + (random() * 180)::int * interval '1 minute', 'HH24:MI')))
							ELSE jsonb_build_array(
								jsonb_build_array(to_char(time '06:00' + (random() * 180)::int * interval '1 minute', 'HH24:MI'),
												  to_char(time '10:00' + (random() * 120)::int * interval '1 minute', 'HH24:MI')),
								jsonb_build_array(to_char(time '13:00' + (random() * 60)::int * interval '1 minute', 'HH24:MI'),
												  to_char(time '15:00' + (random() * 240)::int * interval '1 minute', 'HH24:MI')))
					   END AS ivs
				  FROM unnest(ARRAY['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']) dk
				 WHERE i IS NOT NULL) x) AS hours
  FROM generate_series(1, 6) i;
-- (overnight intervals end by 05:00, day intervals start at 06:00: no overlaps)
SELECT count(*) AS random_calendars FROM rnd_cal;
CREATE TEMP TABLE rnd_ids AS
SELECT i, crm.create_business_calendar('random ' || i, zone, hours,
									   ARRAY[date '2025-03-31', date '2025-11-03', date '2025-10-27'],
									   ARRAY['03-09']) AS id
  FROM rnd_cal;
CREATE TEMP TABLE rnd_case AS
SELECT r.i, c.id AS cal, k,
	   (ARRAY[timestamptz '2025-03-27 00:00+00', timestamptz '2025-03-07 00:00+00',
			  timestamptz '2025-10-24 00:00+00', timestamptz '2025-10-31 00:00+00'])[1 + k % 4]
		   + (random() * 3 * 1440)::int * interval '1 minute' AS a,
	   (random() * 4 * 1440)::int AS span,
	   (random() * 900)::int AS m
  FROM rnd_ids r JOIN crm.business_calendar c ON c.id = r.id, generate_series(1, 5) k;
SELECT count(*) AS cases,
	   count(*) FILTER (WHERE crm.business_minutes(a, a + span * interval '1 minute', cal)
							  <> pg_temp.ref_minutes(b, a, a + span * interval '1 minute')) AS minutes_differ,
	   count(*) FILTER (WHERE crm.business_add(a, m, cal) <> pg_temp.ref_add(b, a, m)) AS add_differs
  FROM rnd_case JOIN crm.business_calendar b ON b.id = rnd_case.cal;

-- The compiled calendar follows an edit in the same transaction, and a
-- rolled-back edit leaves nothing behind.
BEGIN;
SELECT crm.business_add('2025-01-15 10:00+00', 60, :'night') AS before_edit;
UPDATE crm.business_calendar SET time_zone = 'Asia/Tokyo' WHERE id = :'night';
SELECT crm.business_add('2025-01-15 10:00+00', 60, :'night') AS tokyo_night;
ROLLBACK;
SELECT crm.business_add('2025-01-15 10:00+00', 60, :'night') AS after_rollback;

-- Bad input: each a clear error.
SELECT crm.create_business_calendar('x', 'Mars/Olympus', '{"mon": [["09:00","17:00"]]}');
SELECT crm.create_business_calendar('x', '', '{"mon": [["09:00","17:00"]]}');
SELECT crm.create_business_calendar('x', 'UTC', '{"mon": [["09:00","12:00"],["11:00","13:00"]]}');
SELECT crm.create_business_calendar('x', 'UTC', '{"mon": [["22:00","06:00"]], "tue": [["05:00","09:00"]]}');
SELECT crm.create_business_calendar('x', 'UTC', '{"mon": [["24:00","09:00"]]}');
SELECT crm.create_business_calendar('x', 'UTC', '{"monday": [["09:00","17:00"]]}');
SELECT crm.create_business_calendar('x', 'UTC', '{"mon": [["25:00","26:00"]]}');
SELECT crm.create_business_calendar('x', 'UTC', '{"mon": [["9:00","17:00"]]}');
SELECT crm.create_business_calendar('x', 'UTC', '{"mon": [["09:00"]]}');
SELECT crm.create_business_calendar('x', 'UTC', '{"mon": "09:00-17:00"}');
SELECT crm.create_business_calendar('x', 'UTC', '[]');
SELECT crm.create_business_calendar('x', 'UTC', '{}');
SELECT crm.create_business_calendar('x', 'UTC', '{"mon": [["09:00","17:00"]]}', '{2025-01-01}', '{02-30}');
SELECT crm.create_business_calendar('x', 'UTC', '{"mon": [["09:00","17:00"]]}', '{infinity}');
SELECT crm.create_business_calendar('x', 'UTC', NULL);
SELECT crm.business_add('2025-01-15 10:00+00', -1, :'berlin');
SELECT crm.business_add('infinity', 1, :'berlin');
SELECT crm.business_add('0900-01-01 00:00+00', 1, :'berlin');
SELECT crm.business_minutes('2025-01-15', '12000-01-01', :'berlin');
SELECT crm.business_add('2025-01-15 10:00+00', 1, '00000000-0000-0000-0000-000000000000');
UPDATE crm.business_calendar SET hours = '{"mon": [["09:00","12:00"],["11:00","13:00"]]}' WHERE id = :'berlin';
-- A calendar of another tenant is invisible: 42704, "business calendar
-- <its id> does not exist" (only the SQLSTATE shown: the id varies).
SET crm.organization_id = :'other';
\set VERBOSITY sqlstate
SELECT crm.business_add('2025-01-15 10:00+00', 1, :'berlin');
SELECT crm.business_minutes('2025-01-15', '2025-01-16', :'berlin');
RESET ROLE;
SET ROLE crm_cal_reader;
SET crm.organization_id = :'other';
SELECT crm.business_add('2025-01-15 10:00+00', 1, :'berlin');
\set VERBOSITY terse
SELECT crm.create_business_calendar('reader', 'UTC', '{"mon": [["09:00","17:00"]]}');
SET crm.organization_id = :'org';
SELECT crm.business_add('2025-01-15 10:00+00', 60, :'berlin') AS reader_can_compute;
RESET ROLE;
