-- Invariants of the demo county seed (deploy/seed/demo_county.sql).
--
-- Run on a freshly seeded database:   psql -v ON_ERROR_STOP=1 -f tests/sql/seed_check.sql
-- Each failed invariant raises an exception naming it (with up to a few offending rows), so
-- psql exits non-zero.  On success the only output is one NOTICE.  Read-only.

\set QUIET on

DO $check$
DECLARE
  bad     text;
  n       bigint;
  m       bigint;
  county  bigint;
  big_t   bigint;
  rec     record;
BEGIN
  -------------------------------------------------------------------------------------------
  -- Units: levels, parents, codes
  -------------------------------------------------------------------------------------------
  SELECT count(*) INTO n FROM registry.unit WHERE level = 'county';
  IF n <> 1 THEN
    RAISE EXCEPTION 'seed_check: expected exactly 1 county unit, found %', n;
  END IF;
  SELECT id INTO county FROM registry.unit WHERE level = 'county';

  SELECT string_agg(format('%s(%s) under %s', c.code, c.level, coalesce(p.level, 'nothing')), ', ')
    INTO bad
  FROM (SELECT * FROM registry.unit ORDER BY id) c
  LEFT JOIN registry.unit p ON p.id = c.parent_id
  WHERE (c.level = 'township' AND p.level IS DISTINCT FROM 'county')
     OR (c.level = 'village'  AND p.level IS DISTINCT FROM 'township')
     OR (c.level = 'group'    AND p.level IS DISTINCT FROM 'village');
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'seed_check: units under a parent of the wrong level: %', left(bad, 500);
  END IF;

  SELECT string_agg(code, ', ') INTO bad
  FROM (SELECT c.code FROM registry.unit c LEFT JOIN registry.unit p ON p.id = c.parent_id
        WHERE CASE c.level
                WHEN 'county'   THEN c.code !~ '^[0-9]{6}$'
                WHEN 'township' THEN c.code !~ '^[0-9]{6}-[0-9]{3}$'
                ELSE c.code !~ '-[0-9]{2}$'
              END
           OR (c.parent_id IS NOT NULL AND left(c.code, length(p.code) + 1) <> p.code || '-')
           OR btrim(c.name) = ''
        ORDER BY c.id LIMIT 10) x;
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'seed_check: unit codes not of the form parent-code-NN (or empty names): %', bad;
  END IF;

  SELECT count(*) INTO n FROM registry.unit WHERE level = 'township';
  IF n <> 3 THEN
    RAISE EXCEPTION 'seed_check: expected 3 townships, found %', n;
  END IF;

  -- Exactly one township has 9 villages; the others 4..6.
  SELECT count(*) INTO n
  FROM (SELECT t.id, count(v.id) AS nv FROM registry.unit t
        LEFT JOIN registry.unit v ON v.parent_id = t.id AND v.level = 'village'
        WHERE t.level = 'township' GROUP BY t.id) x
  WHERE nv = 9;
  IF n <> 1 THEN
    RAISE EXCEPTION 'seed_check: expected exactly one township with 9 villages, found %', n;
  END IF;
  SELECT t.id INTO big_t FROM registry.unit t
  WHERE t.level = 'township'
    AND (SELECT count(*) FROM registry.unit v WHERE v.parent_id = t.id AND v.level = 'village') = 9;

  SELECT string_agg(format('%s has %s villages', name, nv), ', ') INTO bad
  FROM (SELECT t.name, count(v.id) AS nv FROM registry.unit t
        LEFT JOIN registry.unit v ON v.parent_id = t.id AND v.level = 'village'
        WHERE t.level = 'township' AND t.id <> big_t GROUP BY t.id, t.name ORDER BY t.id) x
  WHERE nv NOT BETWEEN 4 AND 6;
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'seed_check: the other townships must have 4..6 villages: %', bad;
  END IF;

  SELECT string_agg(format('%s %s has %s groups', code, name, ng), ', ') INTO bad
  FROM (SELECT v.code, v.name, count(g.id) AS ng FROM registry.unit v
        LEFT JOIN registry.unit g ON g.parent_id = v.id AND g.level = 'group'
        WHERE v.level = 'village' GROUP BY v.id, v.code, v.name ORDER BY v.id) x
  WHERE ng NOT BETWEEN 5 AND 12;
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'seed_check: every village must have 5..12 groups: %', bad;
  END IF;

  -------------------------------------------------------------------------------------------
  -- Boundaries: valid WGS84 multipolygons around Changsha County, each level tiling its parent
  -------------------------------------------------------------------------------------------
  SELECT string_agg(code, ', ') INTO bad
  FROM (SELECT code FROM registry.unit
        WHERE boundary IS NULL OR ST_SRID(boundary) <> 4326 OR NOT ST_IsValid(boundary)
           OR ST_IsEmpty(boundary) OR ST_Area(boundary) <= 0
        ORDER BY id LIMIT 10) x;
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'seed_check: missing, empty or invalid boundaries: %', bad;
  END IF;

  SELECT count(*) INTO n FROM registry.unit
  WHERE id = county
    AND ST_XMin(boundary) >= 112.9 AND ST_XMax(boundary) <= 113.5
    AND ST_YMin(boundary) >= 28.0  AND ST_YMax(boundary) <= 28.6;
  IF n <> 1 THEN
    RAISE EXCEPTION 'seed_check: the county boundary is not around Changsha County (lon 112.9-113.5, lat 28.0-28.6)';
  END IF;

  FOR rec IN
    SELECT p.code, p.level, p.boundary AS pb, ST_Area(p.boundary) AS pa,
           sum(ST_Area(c.boundary)) AS ca, ST_Union(c.boundary) AS cu, count(*) AS nc,
           bool_and(ST_CoveredBy(c.boundary, p.boundary)) AS inside
    FROM registry.unit p JOIN registry.unit c ON c.parent_id = p.id
    GROUP BY p.id, p.code, p.level, p.boundary
    ORDER BY p.id
  LOOP
    IF NOT rec.inside THEN
      RAISE EXCEPTION 'seed_check: a child of % (%) reaches outside its boundary', rec.code, rec.level;
    END IF;
    IF abs(rec.ca - rec.pa) > 1e-9 * rec.pa THEN
      RAISE EXCEPTION 'seed_check: children of % (%) cover area % but it has %', rec.code, rec.level, rec.ca, rec.pa;
    END IF;
    IF ST_Area(ST_SymDifference(rec.cu, rec.pb)) > 1e-9 * rec.pa THEN
      RAISE EXCEPTION 'seed_check: the union of the children of % (%) is not its boundary', rec.code, rec.level;
    END IF;
  END LOOP;

  SELECT string_agg(format('%s/%s', a, b), ', ') INTO bad
  FROM (SELECT a.code AS a, b.code AS b
        FROM registry.unit a
        JOIN registry.unit b ON b.parent_id = a.parent_id AND b.id > a.id
                            AND ST_Intersects(a.boundary, b.boundary)
        WHERE ST_Area(ST_Intersection(a.boundary, b.boundary)) > 1e-12
        ORDER BY a.id, b.id LIMIT 10) x;
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'seed_check: sibling units overlap: %', bad;
  END IF;

  -------------------------------------------------------------------------------------------
  -- Households
  -------------------------------------------------------------------------------------------
  SELECT string_agg(code, ', ') INTO bad
  FROM (SELECT h.code FROM registry.household h JOIN registry.unit g ON g.id = h.group_id
        WHERE g.level <> 'group' OR left(h.code, length(g.code) + 1) <> g.code || '-'
           OR btrim(h.address) = ''
        ORDER BY h.id LIMIT 10) x;
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'seed_check: households not on a group, or code not group-code-NNN, or no address: %', bad;
  END IF;

  SELECT string_agg(format('%s %s has %s households', code, name, nh), ', ') INTO bad
  FROM (SELECT g.code, g.name, count(h.id) AS nh FROM registry.unit g
        LEFT JOIN registry.household h ON h.group_id = g.id
        WHERE g.level = 'group' GROUP BY g.id, g.code, g.name ORDER BY g.id) x
  WHERE nh NOT BETWEEN 20 AND 60;
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'seed_check: every group must have 20..60 households: %', left(bad, 500);
  END IF;

  SELECT string_agg(code, ', ') INTO bad
  FROM (SELECT h.code FROM registry.household h JOIN registry.unit g ON g.id = h.group_id
        WHERE h.location IS NULL OR ST_SRID(h.location) <> 4326
           OR NOT ST_Within(h.location, g.boundary)
        ORDER BY h.id LIMIT 10) x;
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'seed_check: household location missing or outside its group polygon: %', bad;
  END IF;

  -------------------------------------------------------------------------------------------
  -- Residents
  -------------------------------------------------------------------------------------------
  SELECT string_agg(format('%s: %s residents, %s heads', code, nr, nhead), ', ') INTO bad
  FROM (SELECT h.code, count(r.id) AS nr, count(r.id) FILTER (WHERE r.is_head) AS nhead
        FROM registry.household h LEFT JOIN registry.resident r ON r.household_id = h.id
        GROUP BY h.id, h.code ORDER BY h.id) x
  WHERE nr NOT BETWEEN 2 AND 6 OR nhead <> 1;
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'seed_check: every household needs 2..6 residents and exactly one head: %', left(bad, 500);
  END IF;

  SELECT string_agg(format('%s %s %s %s', id, name, birth_year, coalesce(phone, '-')), ', ') INTO bad
  FROM (SELECT * FROM registry.resident
        WHERE (phone IS NOT NULL AND phone !~ '^1[3-9][0-9]{9}$')
           OR char_length(name) NOT BETWEEN 2 AND 4 OR name !~ '^[一-龥]+$'
           OR birth_year NOT BETWEEN 1910 AND 2024
        ORDER BY id LIMIT 10) x;
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'seed_check: residents with an invalid phone, name or birth year: %', bad;
  END IF;

  SELECT count(*), count(phone) INTO n, m FROM registry.resident WHERE birth_year <= 2024 - 18;
  IF n = 0 OR m < 0.8 * n THEN
    RAISE EXCEPTION 'seed_check: only % of % adult residents have a phone (want at least 80%%)', m, n;
  END IF;
  SELECT count(*) INTO n FROM registry.resident WHERE is_head AND phone IS NULL;
  IF n > 0 THEN
    RAISE EXCEPTION 'seed_check: % household heads have no phone', n;
  END IF;

  SELECT count(*) - count(DISTINCT phone) INTO n
  FROM (SELECT phone FROM registry.resident WHERE phone IS NOT NULL
        UNION ALL SELECT phone FROM registry.staff) p;
  IF n > 0 THEN
    RAISE EXCEPTION 'seed_check: % phone numbers are shared between residents/staff', n;
  END IF;

  -------------------------------------------------------------------------------------------
  -- Staff
  -------------------------------------------------------------------------------------------
  SELECT string_agg(format('%s %s', id, name), ', ') INTO bad
  FROM (SELECT * FROM registry.staff
        WHERE phone !~ '^1[3-9][0-9]{9}$' OR name !~ '^[一-龥]{2,4}(（[^）]+）)?$'
        ORDER BY id LIMIT 10) x;
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'seed_check: staff with an invalid phone or name: %', bad;
  END IF;

  SELECT string_agg(format('%s %s (%s on a %s)', s.id, s.name, s.role, u.level), ', ') INTO bad
  FROM (SELECT * FROM registry.staff ORDER BY id) s JOIN registry.unit u ON u.id = s.unit_id
  WHERE (s.role IN ('grid_worker', 'group_leader', 'instructor') AND u.level <> 'group')
     OR (s.role = 'supervisor' AND u.level <> 'township')
     OR (s.role = 'operator' AND u.level <> 'county');
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'seed_check: staff attached to the wrong level of unit: %', left(bad, 500);
  END IF;

  SELECT string_agg(format('%s %s: %s grid workers, %s group leaders', code, name, gw, gl), ', ') INTO bad
  FROM (SELECT g.code, g.name,
               count(s.id) FILTER (WHERE s.role = 'grid_worker')  AS gw,
               count(s.id) FILTER (WHERE s.role = 'group_leader') AS gl
        FROM registry.unit g LEFT JOIN registry.staff s ON s.unit_id = g.id AND s.active
        WHERE g.level = 'group' GROUP BY g.id, g.code, g.name ORDER BY g.id) x
  WHERE gw <> 1 OR gl <> 1;
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'seed_check: every group needs exactly one active grid_worker and one group_leader: %',
      left(bad, 500);
  END IF;

  SELECT string_agg(format('%s %s: %s handlers', code, name, nh), ', ') INTO bad
  FROM (SELECT v.code, v.name, count(s.id) AS nh
        FROM registry.unit v LEFT JOIN registry.staff s ON s.unit_id = v.id AND s.active AND s.role = 'handler'
        WHERE v.level = 'village' GROUP BY v.id, v.code, v.name ORDER BY v.id) x
  WHERE nh NOT BETWEEN 1 AND 2;
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'seed_check: every village needs 1..2 active handlers: %', bad;
  END IF;

  SELECT string_agg(format('%s: %s supervisors, %s handlers', name, ns, nh), ', ') INTO bad
  FROM (SELECT t.name,
               count(s.id) FILTER (WHERE s.role = 'supervisor') AS ns,
               count(s.id) FILTER (WHERE s.role = 'handler')    AS nh
        FROM registry.unit t LEFT JOIN registry.staff s ON s.unit_id = t.id AND s.active
        WHERE t.level = 'township' GROUP BY t.id, t.name ORDER BY t.id) x
  WHERE ns <> 1 OR nh < 2;
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'seed_check: every township needs exactly one supervisor and several handlers: %', bad;
  END IF;

  SELECT count(*) FILTER (WHERE role = 'operator'), count(*) FILTER (WHERE role = 'handler' AND unit_id = county)
    INTO n, m FROM registry.staff WHERE active;
  IF n <> 1 OR m < 1 THEN
    RAISE EXCEPTION 'seed_check: expected one county operator and a county handler, found % and %', n, m;
  END IF;

  -- 21 instructors in the 9-village township, on its groups, at least one in each village.
  SELECT count(*) INTO n FROM registry.staff s
  JOIN registry.unit g ON g.id = s.unit_id JOIN registry.unit v ON v.id = g.parent_id
  WHERE s.role = 'instructor' AND s.active AND v.parent_id = big_t;
  IF n <> 21 THEN
    RAISE EXCEPTION 'seed_check: the 9-village township needs 21 instructors on its groups, found %', n;
  END IF;
  SELECT string_agg(v.name, ', ') INTO bad FROM registry.unit v
  WHERE v.parent_id = big_t AND NOT EXISTS (
    SELECT 1 FROM registry.staff s JOIN registry.unit g ON g.id = s.unit_id
    WHERE s.role = 'instructor' AND g.parent_id = v.id);
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'seed_check: instructors are not spread over the township; none in %', bad;
  END IF;

  -------------------------------------------------------------------------------------------
  -- Service catalogue
  -------------------------------------------------------------------------------------------
  SELECT count(*) INTO n FROM registry.service WHERE active;
  IF n NOT BETWEEN 12 AND 16 THEN
    RAISE EXCEPTION 'seed_check: expected 12..16 active services, found %', n;
  END IF;

  SELECT string_agg(want, ', ') INTO bad
  FROM unnest('{路灯照明,道路交通,供水,供电,环境卫生,噪声扰民,山塘水库安全,治安隐患,违章建房,邻里纠纷,土地承包,社会救助,政策咨询}'::text[]) AS want
  WHERE NOT EXISTS (SELECT 1 FROM registry.service s WHERE s.name = want AND s.active);
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'seed_check: catalogue lacks: %', bad;
  END IF;

  -- the public sees only the status of these (migration 018 on an upgraded database, the seed on
  -- a fresh one)
  SELECT string_agg(name || CASE WHEN private THEN ' (private)' ELSE ' (public)' END, ', ' ORDER BY sort) INTO bad
  FROM registry.service
  WHERE private <> (name IN ('邻里纠纷', '土地承包', '社会救助'));
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'seed_check: the private categories are 邻里纠纷, 土地承包 and 社会救助; wrong: %', bad;
  END IF;

  SELECT string_agg(code, ', ') INTO bad FROM registry.service
  WHERE btrim(description) = '' OR btrim(grp) = '' OR btrim(keywords) = '';
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'seed_check: services without description, group or keywords: %', bad;
  END IF;

  SELECT string_agg(service_code, ', ') INTO bad
  FROM (SELECT service_code, count(*) AS c, min(ord) AS lo, max(ord) AS hi
        FROM registry.service_attribute GROUP BY service_code) x
  WHERE lo <> 1 OR hi <> c;
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'seed_check: attribute ord must run 1..n per service: %', bad;
  END IF;

  SELECT string_agg(a.service_code || '.' || a.code, ', ') INTO bad
  FROM registry.service_attribute a
  WHERE (a.datatype IN ('singlevaluelist', 'multivaluelist')) <> EXISTS (
          SELECT 1 FROM registry.service_attribute_value v
          WHERE v.service_code = a.service_code AND v.attribute_code = a.code);
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'seed_check: list attributes without values, or values on a non-list attribute: %', bad;
  END IF;

  SELECT count(*) INTO n FROM registry.service_attribute WHERE NOT variable;
  IF n = 0 THEN
    RAISE EXCEPTION 'seed_check: no informational (variable=false) attribute';
  END IF;

  SELECT string_agg(want, ', ') INTO bad
  FROM (VALUES
    ('路灯照明/故障类型', 'singlevaluelist', true,  '{不亮,闪烁,白天常亮,灯杆损坏}'),
    ('路灯照明/路灯编号', 'string',          false, NULL),
    ('山塘水库安全/险情类型', 'singlevaluelist', true, '{渗漏,裂缝,漫坝,其他}'),
    ('山塘水库安全/估计水位(米)', 'number',    false, NULL),
    ('邻里纠纷/纠纷类型', 'multivaluelist',  true,  NULL),
    ('违章建房/发现时间', 'datetime',        false, NULL),
    ('供水/情况说明',     'text',            false, NULL)
  ) AS w(want, datatype, required, vals)
  WHERE NOT EXISTS (
    SELECT 1 FROM registry.service s JOIN registry.service_attribute a ON a.service_code = s.code
    WHERE s.name || '/' || a.description = w.want AND a.datatype = w.datatype
      AND a.required = w.required AND a.variable
      AND (w.vals IS NULL OR (SELECT array_agg(v.name ORDER BY v.name)
                              FROM registry.service_attribute_value v
                              WHERE v.service_code = a.service_code AND v.attribute_code = a.code)
                             = (SELECT array_agg(x ORDER BY x) FROM unnest(w.vals::text[]) x)));
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'seed_check: catalogue attributes missing or of the wrong shape: %', bad;
  END IF;

  -------------------------------------------------------------------------------------------
  -- Jurisdiction
  -------------------------------------------------------------------------------------------
  SELECT count(*) INTO n FROM registry.jurisdiction;
  SELECT count(*) INTO m FROM registry.jurisdiction
  WHERE id = 'demo.gridgov.cn' AND county_id = county
    AND contact ~ '[0-9]{3,4}-?[0-9]{7,8}|1[3-9][0-9]{9}' AND btrim(key_service) <> '';
  IF n <> 1 OR m <> 1 THEN
    RAISE EXCEPTION 'seed_check: expected one jurisdiction row demo.gridgov.cn for the county with a contact phone and key_service';
  END IF;

  -------------------------------------------------------------------------------------------
  -- WeCom contacts (migration 024): two townships' duty-group robots, their supervisors and
  -- desks and the county's operator on WeCom; the third township and the villages by SMS
  -------------------------------------------------------------------------------------------
  SELECT string_agg(code, ',' ORDER BY code) INTO bad FROM registry.unit WHERE wecom_robot_key IS NOT NULL;
  IF bad IS DISTINCT FROM '430121-101,430121-102' THEN
    RAISE EXCEPTION 'seed_check: duty-group robots expected for 430121-101 and 430121-102, found %', bad;
  END IF;
  SELECT count(*) INTO n FROM registry.staff s JOIN registry.unit u ON u.id = s.unit_id
  WHERE s.wecom_userid IS NOT NULL AND NOT (s.role = 'operator'
        OR (s.role IN ('supervisor', 'handler') AND u.code IN ('430121-101', '430121-102')));
  SELECT count(*) INTO m FROM registry.staff s JOIN registry.unit u ON u.id = s.unit_id
  WHERE s.wecom_userid IS NULL AND s.role = 'supervisor' AND u.code IN ('430121-101', '430121-102');
  IF n <> 0 OR m <> 0 OR NOT EXISTS (SELECT 1 FROM registry.staff WHERE role = 'operator' AND wecom_userid IS NOT NULL) THEN
    RAISE EXCEPTION 'seed_check: WeCom userids expected for the operator and the supervisors and desks of 101 and 102 only';
  END IF;

  RAISE NOTICE 'seed_check: ok (% units, % households, % residents, % staff)',
    (SELECT count(*) FROM registry.unit), (SELECT count(*) FROM registry.household),
    (SELECT count(*) FROM registry.resident), (SELECT count(*) FROM registry.staff);
END
$check$;
