-- gridgov demo county seed: 示范县 (code 430121), modelled on 长沙县, Hunan.
--
-- Run:   psql -v ON_ERROR_STOP=1 -f deploy/seed/demo_county.sql   (after deploy/migrations/*.sql)
--
-- Shape (everything lands in the `registry` schema, in one transaction):
--   unit         1 county > 3 townships > 20 villages/communities > 5..12 villager groups each
--                  果园镇 (101): 9 villages/communities, 21 resident instructors over its groups
--                  春华镇 (102): 5 villages;  黄花镇 (103): 6 villages
--                ids mirror codes:  county 1;  township 101..103;  village = township*100 + n
--                (10101..);  group = village*100 + n (1010101..);  codes 430121-101-03-05.
--   boundary     WGS84 MultiPolygons on an integer grid of 1e-6 degree, so shared edges are
--                bit-identical: the county rectangle (lon 113.02-113.28, lat 28.12-28.38) is
--                cut into 3 vertical township strips (width ~ village count), each township
--                into a near-square grid of villages, each village into a grid of groups whose
--                column widths vary.  Groups tile their village exactly, villages their
--                township, townships the county.
--   household    20..60 per group, id = group*100 + n, code = group code + '-NNN'
--                (the address_id Open311 clients quote), address '九木村安全组12号', location a
--                point strictly inside the group polygon.
--   resident     2..6 per household, id = household*10 + n, member 1 is the head (is_head);
--                2 the spouse, 3-4 children, 5-6 grandchildren or the head's parents.  Phones
--                (^1[3-9][0-9]{9}$, all distinct) for heads and most adults, NULL for children
--                and some elders.
--   staff        per group a grid_worker and a group_leader; 21 instructors in 果园镇 groups;
--                1-2 handlers per village; per township 1 supervisor and 6 handlers (党政办,
--                应急办, 水利站, 农业综合服务中心, 规划建设办, 综治中心; the office is in the
--                name, e.g. '王建国（水利站）'); the county: 1 operator and 1 handler.
--                Staff ids 1..N in (level, unit code, role) order.
--   service      15 Open311 services with attributes (ord from 1) and list values; 邻里纠纷,
--                土地承包 and 社会救助 (DISPUTE, LAND, AID) are private (registry.service.private).
--   jurisdiction 'demo.gridgov.cn'.   No api_client rows: the runner issues the API key.
--
-- Deterministic: no random(), no now(): every choice is md5 of a stable key (pg_temp.seed_h),
-- so two empty databases seeded with this file hold identical rows.  Guarded: if
-- registry.unit already has rows the script changes nothing (it raises a NOTICE).

BEGIN;

-- Serialise against a concurrent seeder/admin writer while we decide whether to seed.
LOCK TABLE registry.unit IN SHARE ROW EXCLUSIVE MODE;

-- Helpers live in pg_temp: they vanish with the session and touch no shared schema.

-- 60-bit non-negative hash of a key (md5 is stable across PostgreSQL versions).
CREATE OR REPLACE FUNCTION pg_temp.seed_h(k text) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT AS
$$ SELECT ('x' || substr(md5(k), 1, 15))::bit(60)::bigint $$;

-- One element of an array chosen by the hash of a key.
CREATE OR REPLACE FUNCTION pg_temp.seed_pick(a text[], k text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS
$$ SELECT a[1 + (pg_temp.seed_h(k) % cardinality(a))::int] $$;

-- Surnames, weighted by repetition towards those common in Hunan.
CREATE OR REPLACE FUNCTION pg_temp.seed_surnames() RETURNS text[]
LANGUAGE sql IMMUTABLE AS
$$ SELECT ('{刘,刘,刘,刘,李,李,李,李,陈,陈,陈,陈,王,王,王,张,张,张,周,周,周,杨,杨,杨,'
           '彭,彭,彭,黄,黄,黄,罗,罗,罗,谭,谭,谭,曾,曾,唐,唐,胡,胡,邓,邓,肖,肖,易,易,'
           '赵,吴,吴,徐,孙,马,朱,郭,何,何,高,林,郑,梁,谢,宋,许,袁,廖,贺,龚,汤,蒋,'
           '蔡,余,杜,叶,程,苏,魏,丁,任,沈,姚,卢,钟,陆,汪,范,金,石,夏,付,方,邹,熊,'
           '邱,江,雷,侯,龙,黎,顾,毛,严,戴,向,欧阳,颜,柳}')::text[] $$;

-- A given name of 1 or 2 characters, by gender and generation.
CREATE OR REPLACE FUNCTION pg_temp.seed_given(gender text, birth integer, k text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS
$$
  SELECT pg_temp.seed_pick(a, k || '/1')
         || CASE WHEN pg_temp.seed_h(k || '/len') % 100 < 72 THEN pg_temp.seed_pick(a, k || '/2')
                 ELSE '' END
  FROM (SELECT CASE
      WHEN gender = '男' AND birth < 1995 THEN
        '{伟,强,军,勇,杰,涛,明,超,华,建,国,平,志,辉,斌,波,鹏,磊,刚,俊,文,浩,峰,林,海,东,德,福,生,春,金,龙,云,成,立,新,湘,武,良,兵,光,荣,正,永,庆,祥,学,家,红,坤,清,松,桂,长,树,秋,湘,满}'::text[]
      WHEN gender = '男' THEN
        '{子,浩,宇,轩,睿,博,俊,逸,晨,航,泽,天,一,皓,然,杰,铭,宸,诚,瑞,锦,昊,宏,嘉,翔,鑫,豪,涵,哲,奕}'::text[]
      WHEN birth < 1995 THEN
        '{芳,娟,敏,静,丽,艳,秀,英,华,慧,霞,玲,桂,兰,红,梅,琴,燕,萍,凤,莉,婷,雪,娜,洁,颖,佳,月,春,翠,珍,玉,香,娥,彩,莲,菊,淑,群,素,冬,美}'::text[]
      ELSE
        '{梓,涵,雨,欣,思,诗,可,佳,琪,妍,萱,怡,若,馨,悦,彤,语,婧,芷,一,晴,瑶,紫,安,心,淇,蕊,嘉,雅,依}'::text[]
    END AS a) s
$$;

-- A mobile number, distinct for distinct x in [0, 1e8): the 8-digit body is an affine
-- bijection of x mod 1e8 (the multiplier is prime to 10), digit-reversed.
CREATE OR REPLACE FUNCTION pg_temp.seed_phone(x bigint) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS
$$
  SELECT pg_temp.seed_pick('{130,131,132,133,134,135,136,137,138,139,150,151,152,153,155,156,157,158,159,166,173,177,180,181,182,183,185,186,187,188,189,191,198,199}'::text[],
                           'phone:' || x)
         || reverse(lpad((((x % 100000000) * 2654435761 + 12345678) % 100000000)::text, 8, '0'))
$$;

-- Cell k (0-based) of n cells laid out in ceil(sqrt(n)) rows; rows differ by at most one cell.
CREATE OR REPLACE FUNCTION pg_temp.seed_cell(n integer, k integer,
                                             OUT r integer, OUT nr integer, OUT c integer, OUT nc integer)
LANGUAGE sql IMMUTABLE STRICT AS
$$
  SELECT CASE WHEN k < extra * (base + 1) THEN k / (base + 1)
              ELSE extra + (k - extra * (base + 1)) / base END,
         rows,
         CASE WHEN k < extra * (base + 1) THEN k % (base + 1)
              ELSE (k - extra * (base + 1)) % base END,
         CASE WHEN k < extra * (base + 1) THEN base + 1 ELSE base END
  FROM (SELECT rows, n / rows AS base, n % rows AS extra
        FROM (SELECT ceil(sqrt(n))::integer AS rows) a) b
$$;

-- Degrees from the integer 1e-6 degree grid (the nearest double to the decimal).
CREATE OR REPLACE FUNCTION pg_temp.seed_deg(t bigint) RETURNS double precision
LANGUAGE sql IMMUTABLE STRICT AS
$$ SELECT (t::numeric / 1000000)::double precision $$;

CREATE OR REPLACE FUNCTION pg_temp.seed_box(x0 bigint, y0 bigint, x1 bigint, y1 bigint)
RETURNS geometry
LANGUAGE sql IMMUTABLE STRICT AS
$$ SELECT ST_Multi(ST_MakeEnvelope(pg_temp.seed_deg(x0), pg_temp.seed_deg(y0),
                                   pg_temp.seed_deg(x1), pg_temp.seed_deg(y1), 4326)) $$;

DO $seed$
DECLARE
  -- The county rectangle on the 1e-6 degree grid.
  cx0 CONSTANT bigint := 113020000;
  cx1 CONSTANT bigint := 113280000;
  cy0 CONSTANT bigint := 28120000;
  cy1 CONSTANT bigint := 28380000;
  n_t int; n_v int; n_g int; n_h int; n_r int; n_s int;
BEGIN
  IF EXISTS (SELECT 1 FROM registry.unit) THEN
    RAISE NOTICE 'demo_county: registry.unit already has rows; seed skipped';
    RETURN;
  END IF;

  ---------------------------------------------------------------------------------------------
  -- Layout
  ---------------------------------------------------------------------------------------------
  CREATE TEMP TABLE seed_township ON COMMIT DROP AS
  SELECT t.id, t.name, t.villages, cardinality(t.villages) AS nv,
         cx0 + (cx1 - cx0) * (sum(cardinality(t.villages)) OVER w - cardinality(t.villages))
               / (sum(cardinality(t.villages)) OVER ()) AS x0,
         cx0 + (cx1 - cx0) * (sum(cardinality(t.villages)) OVER w)
               / (sum(cardinality(t.villages)) OVER ()) AS x1,
         cy0 AS y0, cy1 AS y1
  FROM (VALUES
    (101::bigint, '果园镇', '{金鼎山社区,九木村,石塘铺村,浔龙河村,双河村,新明村,花果村,杨泗庙村,田园社区}'::text[]),
    (102::bigint, '春华镇', '{春华山村,龙王庙村,大鱼村,白石村,李公庙社区}'::text[]),
    (103::bigint, '黄花镇', '{黄花社区,团山村,新桥村,桃花岭村,茶林村,石门村}'::text[])
  ) AS t(id, name, villages)
  WINDOW w AS (ORDER BY t.id);

  CREATE TEMP TABLE seed_village ON COMMIT DROP AS
  SELECT t.id * 100 + v.k AS id, t.id AS township_id, v.k::int AS n,
         '430121-' || t.id || '-' || lpad(v.k::text, 2, '0') AS code, v.name,
         t.x0 + (t.x1 - t.x0) * c.c / c.nc       AS x0,
         t.x0 + (t.x1 - t.x0) * (c.c + 1) / c.nc AS x1,
         t.y1 - (t.y1 - t.y0) * (c.r + 1) / c.nr AS y0,   -- row 0 is the northern row
         t.y1 - (t.y1 - t.y0) * c.r / c.nr       AS y1
  FROM seed_township t
  CROSS JOIN LATERAL unnest(t.villages) WITH ORDINALITY AS v(name, k)
  CROSS JOIN LATERAL pg_temp.seed_cell(t.nv, v.k::int - 1) c;

  -- Groups: a grid per village; within a row, column widths are weighted 3..6.
  CREATE TEMP TABLE seed_group ON COMMIT DROP AS
  WITH g0 AS (
    SELECT v.id * 100 + g AS id, v.id AS village_id, v.name AS village_name, g AS n,
           v.code || '-' || lpad(g::text, 2, '0') AS code,
           CASE WHEN v.name = '九木村' AND g = 1 THEN '安全组'  -- the group the examples name (九木村安全组12号)
                WHEN v.name LIKE '%社区'
                THEN ('{一,二,三,四,五,六,七,八,九,十,十一,十二}'::text[])[g] || '组'
                ELSE ('{全新组,安全组,大塘组,城港组,新屋组,枫树组,长冲组,荷塘组,石桥组,杨家组,竹山组,茶园组,'
                       '塘湾组,松林组,新塘组,上湾组,下湾组,樟树组,桐木组,黄泥组,高家组,马鞍组,龙塘组,柏树组}'::text[])
                     [1 + (pg_temp.seed_h('gname:' || v.code) + g - 1) % 24]
           END AS name,
           v.x0 AS vx0, v.x1 AS vx1, v.y0 AS vy0, v.y1 AS vy1, c.r, c.nr, c.c,
           (3 + pg_temp.seed_h('gwidth:' || v.code || '-' || g) % 4)::bigint AS w
    FROM seed_village v
    CROSS JOIN LATERAL (SELECT (5 + pg_temp.seed_h('ngroups:' || v.code) % 8)::int AS ng) k
    CROSS JOIN LATERAL generate_series(1, k.ng) AS g
    CROSS JOIN LATERAL pg_temp.seed_cell(k.ng, g - 1) c
  ), g1 AS (
    SELECT g0.*,
           (sum(w) OVER (PARTITION BY village_id, r ORDER BY c))::bigint - w AS cum0,
           (sum(w) OVER (PARTITION BY village_id, r ORDER BY c))::bigint     AS cum1,
           (sum(w) OVER (PARTITION BY village_id, r))::bigint                AS tot
    FROM g0
  )
  SELECT id, village_id, village_name, n, code, name,
         vx0 + (vx1 - vx0) * cum0 / tot AS x0,
         vx0 + (vx1 - vx0) * cum1 / tot AS x1,
         vy1 - (vy1 - vy0) * (r + 1) / nr AS y0,
         vy1 - (vy1 - vy0) * r / nr       AS y1,
         pg_temp.seed_pick(pg_temp.seed_surnames(), 'clan:' || code) AS clan,
         (20 + pg_temp.seed_h('nhouse:' || code) % 41)::int AS nh
  FROM g1;

  CREATE TEMP TABLE seed_household ON COMMIT DROP AS
  SELECT h.*,
         CASE WHEN h.head_male THEN h.surname ELSE h.spouse_surname END AS child_surname
  FROM (
    SELECT g.id * 100 + hn AS id, g.id AS group_id,
           g.code || '-' || lpad(hn::text, 3, '0') AS code,
           g.village_name || g.name || hn || '号' AS address,
           g.x0 + 1 + pg_temp.seed_h('hx:' || g.code || '-' || hn) % (g.x1 - g.x0 - 1) AS px,
           g.y0 + 1 + pg_temp.seed_h('hy:' || g.code || '-' || hn) % (g.y1 - g.y0 - 1) AS py,
           (2 + pg_temp.seed_h('size:' || g.code || '-' || hn) % 5)::int AS size,
           CASE WHEN pg_temp.seed_h('clanhh:' || g.code || '-' || hn) % 100 < 40 THEN g.clan
                ELSE pg_temp.seed_pick(pg_temp.seed_surnames(), 'sn:' || g.code || '-' || hn) END AS surname,
           pg_temp.seed_pick(pg_temp.seed_surnames(), 'spsn:' || g.code || '-' || hn) AS spouse_surname,
           pg_temp.seed_h('headg:' || g.code || '-' || hn) % 100 < 86 AS head_male,
           (1945 + pg_temp.seed_h('headb:' || g.code || '-' || hn) % 46)::int AS head_birth
    FROM seed_group g
    CROSS JOIN LATERAL generate_series(1, g.nh) AS hn
  ) h;

  -- Members: 1 head, 2 spouse, 3-4 children, 5-6 grandchildren (old heads) or parents.
  CREATE TEMP TABLE seed_resident ON COMMIT DROP AS
  WITH m AS (
    SELECT h.id * 10 + k AS id, h.id AS household_id, k AS n, h.head_male, h.head_birth,
           h.surname, h.spouse_surname, h.child_surname,
           pg_temp.seed_h('r:' || h.code || '-' || k) AS hv
    FROM seed_household h
    CROSS JOIN LATERAL generate_series(1, h.size) AS k
  ), p AS (
    SELECT m.*,
      CASE WHEN n = 1 THEN CASE WHEN head_male THEN '男' ELSE '女' END
           WHEN n = 2 THEN CASE WHEN head_male THEN '女' ELSE '男' END
           WHEN n >= 5 AND head_birth >= 1970 THEN CASE WHEN n = 5 THEN '男' ELSE '女' END
           WHEN hv % 2 = 0 THEN '男' ELSE '女' END AS gender,
      CASE WHEN n = 1 THEN head_birth
           WHEN n = 2 THEN head_birth + CASE WHEN head_male THEN (hv % 6)::int ELSE -(hv % 6)::int END
           WHEN n <= 4 THEN least(head_birth + 22 + (hv % 12)::int, 2022)
           WHEN head_birth < 1970 THEN least(head_birth + 46 + (hv % 12)::int, 2023)
           ELSE head_birth - 23 - (hv % 8)::int END AS birth_year,
      CASE WHEN n = 1 THEN surname
           WHEN n = 2 THEN spouse_surname
           WHEN n >= 5 AND head_birth >= 1970 AND n = 6
             THEN pg_temp.seed_pick(pg_temp.seed_surnames(), 'mother:' || household_id)
           WHEN n >= 5 AND head_birth >= 1970 THEN surname
           ELSE child_surname END AS surname_
    FROM m
  )
  SELECT id, household_id, n,
         surname_ || pg_temp.seed_given(gender, birth_year, 'given:' || id) AS name,
         gender, birth_year,
         CASE WHEN 2024 - birth_year >= 18
                   AND (n = 1 OR (2024 - birth_year < 70 AND hv / 7 % 100 < 92)
                              OR (2024 - birth_year >= 70 AND hv / 7 % 100 < 45))
              THEN pg_temp.seed_phone(id) END AS phone,
         n = 1 AS is_head
  FROM p;

  ---------------------------------------------------------------------------------------------
  -- Units, households, residents
  ---------------------------------------------------------------------------------------------
  INSERT INTO registry.unit (id, parent_id, level, code, name, boundary)
  VALUES (1, NULL, 'county', '430121', '示范县', pg_temp.seed_box(cx0, cy0, cx1, cy1));

  INSERT INTO registry.unit (id, parent_id, level, code, name, boundary)
  SELECT id, 1, 'township', '430121-' || id, name, pg_temp.seed_box(x0, y0, x1, y1)
  FROM seed_township ORDER BY id;

  INSERT INTO registry.unit (id, parent_id, level, code, name, boundary)
  SELECT id, township_id, 'village', code, name, pg_temp.seed_box(x0, y0, x1, y1)
  FROM seed_village ORDER BY id;

  INSERT INTO registry.unit (id, parent_id, level, code, name, boundary)
  SELECT id, village_id, 'group', code, name, pg_temp.seed_box(x0, y0, x1, y1)
  FROM seed_group ORDER BY id;

  INSERT INTO registry.household (id, group_id, code, address, location)
  SELECT id, group_id, code, address,
         ST_SetSRID(ST_MakePoint(pg_temp.seed_deg(px), pg_temp.seed_deg(py)), 4326)
  FROM seed_household ORDER BY id;

  INSERT INTO registry.resident (id, household_id, name, gender, birth_year, phone, is_head)
  SELECT id, household_id, name, gender, birth_year, phone, is_head
  FROM seed_resident ORDER BY id;

  ---------------------------------------------------------------------------------------------
  -- Staff
  ---------------------------------------------------------------------------------------------
  CREATE TEMP TABLE seed_staff ON COMMIT DROP AS
  WITH s AS (
    -- county operations center
    SELECT 0 AS lvl, '430121' AS unit_code, 1 AS role_ord, 1 AS k, 1::bigint AS unit_id,
           'operator' AS role, '（县网格化服务管理中心值班）' AS suffix, NULL::text AS clan, 35 AS female_pct
    UNION ALL
    SELECT 0, '430121', 2, 1, 1, 'handler', '（县网格化服务管理中心）', NULL, 35
    -- townships: a supervisor and one handler per office
    UNION ALL
    SELECT 1, '430121-' || t.id, 1, 1, t.id, 'supervisor', '（督查督办）', NULL, 30
    FROM seed_township t
    UNION ALL
    SELECT 1, '430121-' || t.id, 2, d.k::int, t.id, 'handler', '（' || d.office || '）', NULL, 30
    FROM seed_township t
    CROSS JOIN unnest('{党政办,应急办,水利站,农业综合服务中心,规划建设办,综治中心}'::text[])
               WITH ORDINALITY AS d(office, k)
    -- villages: 1-2 handlers (communities 2)
    UNION ALL
    SELECT 2, v.code, 2, k, v.id, 'handler', '', NULL, 40
    FROM seed_village v
    CROSS JOIN LATERAL generate_series(1, CASE WHEN v.name LIKE '%社区' THEN 2
                                              ELSE 1 + (pg_temp.seed_h('vh:' || v.code) % 2)::int END) AS k
    -- groups: a grid worker and a group leader
    UNION ALL
    SELECT 3, g.code, 1, 1, g.id, 'grid_worker', '', g.clan, 55 FROM seed_group g
    UNION ALL
    SELECT 3, g.code, 2, 1, g.id, 'group_leader', '', g.clan, 15 FROM seed_group g
    -- 21 resident instructors spread evenly over the groups of 果园镇
    UNION ALL
    SELECT 3, g.code, 3, 1, g.id, 'instructor', '', NULL, 30
    FROM (SELECT g.*, row_number() OVER (ORDER BY g.id) - 1 AS i, count(*) OVER () AS cnt
          FROM seed_group g JOIN seed_village v ON v.id = g.village_id
          WHERE v.township_id = 101) g
    WHERE g.i IN (SELECT (j * g.cnt) / 21 FROM generate_series(0, 20) AS j)
  ), o AS (
    SELECT row_number() OVER (ORDER BY lvl, unit_code, role_ord, k) AS id, s.*,
           'staff:' || unit_code || ':' || role || ':' || k AS key
    FROM s
  ), p AS (
    SELECT o.*,
           CASE WHEN pg_temp.seed_h(key || ':g') % 100 < female_pct THEN '女' ELSE '男' END AS gender,
           (1965 + pg_temp.seed_h(key || ':b') % 32)::int AS birth,
           CASE WHEN clan IS NOT NULL AND pg_temp.seed_h(key || ':c') % 100 < 50 THEN clan
                ELSE pg_temp.seed_pick(pg_temp.seed_surnames(), key || ':s') END AS surname
    FROM o
  )
  SELECT id, unit_id, role,
         surname || pg_temp.seed_given(gender, birth, key || ':n') || suffix AS name,
         pg_temp.seed_phone(90000000 + id) AS phone
  FROM p;

  INSERT INTO registry.staff (id, unit_id, role, name, phone, active)
  SELECT id, unit_id, role, name, phone, true FROM seed_staff ORDER BY id;

  ---------------------------------------------------------------------------------------------
  -- Service catalogue (Open311)
  ---------------------------------------------------------------------------------------------
  INSERT INTO registry.service (code, name, description, grp, keywords, type, active, sort)
  VALUES
    ('LIGHT',   '路灯照明', '村组道路、广场的路灯不亮、闪烁、白天常亮或灯杆损坏。',
                '市政设施', '路灯,照明,灯杆,不亮,太阳能灯', 'realtime', true, 10),
    ('ROAD',    '道路交通', '村组道路破损、塌陷、积水，桥梁隐患，交通标志标线缺损，占道堆放。',
                '市政设施', '道路,坑洼,塌方,桥梁,交通标志,占道', 'realtime', true, 20),
    ('WATER',   '供水', '自来水停水、水压低、水质浑浊或管道漏水。',
                '水电气', '自来水,停水,水压,水质,漏水,水管', 'realtime', true, 30),
    ('POWER',   '供电', '停电、电压不稳、电线私拉乱接或线路、变压器隐患。',
                '水电气', '停电,电压,电线,变压器,电杆', 'realtime', true, 40),
    ('SANIT',   '环境卫生', '垃圾未及时清运、乱倒垃圾、污水横流、公厕脏乱、沟渠淤塞。',
                '人居环境', '垃圾,保洁,污水,公厕,沟渠,卫生', 'realtime', true, 50),
    ('NOISE',   '噪声扰民', '夜间施工、广场舞音响、加工作坊、养殖场等噪声影响休息。',
                '人居环境', '噪声,噪音,施工,音响,扰民', 'realtime', true, 60),
    ('POND',    '山塘水库安全', '山塘、水库、堤坝出现渗漏、裂缝、漫坝等险情或安全隐患。',
                '安全应急', '山塘,水库,堤坝,渗漏,裂缝,漫坝,防汛', 'realtime', true, 70),
    ('FIRE',    '消防与森林防火', '野外用火、烧荒、消防通道堵塞、消防设施损坏等隐患。',
                '安全应急', '火灾,烧荒,野外用火,消防通道,灭火器', 'realtime', true, 80),
    ('SAFETY',  '治安隐患', '可疑人员、盗窃、赌博、非法聚集等影响治安的情况（紧急情况请拨打110）。',
                '平安建设', '治安,盗窃,赌博,可疑,安全', 'realtime', true, 90),
    ('DISPUTE', '邻里纠纷', '宅基地、山林界址、用水排水、禽畜、借贷、家庭婚姻等矛盾纠纷，申请调解。',
                '平安建设', '纠纷,调解,矛盾,宅基地,界址,吵架', 'realtime', true, 100),
    ('BUILD',   '违章建房', '未批先建、超面积超层数建房、占用耕地建房等违法建设行为。',
                '规划建设', '违建,违章建房,占用耕地,加层,乱搭乱建', 'realtime', true, 110),
    ('LAND',    '土地承包', '土地承包合同、承包经营权确权登记、土地流转等问题反映与咨询。',
                '农业农村', '土地,承包,确权,流转,耕地', 'realtime', true, 120),
    ('AID',     '社会救助', '低保、特困供养、临时救助、医疗救助的申请与反映。',
                '民生保障', '低保,救助,特困,困难户,医疗救助', 'realtime', true, 130),
    ('POLICY',  '政策咨询', '惠民政策、办事流程、补贴发放等咨询，由相关部门答复。',
                '政务服务', '政策,咨询,办事,补贴,流程', 'realtime', true, 140),
    ('OTHER',   '其他事项', '以上类别之外的其他问题和建议。',
                '其他', '其他,建议,意见', 'realtime', true, 900);

  INSERT INTO registry.service_attribute
    (service_code, code, variable, datatype, required, datatype_description, ord, description)
  VALUES
    ('LIGHT', 'fault_type', true, 'singlevaluelist', true, '', 1, '故障类型'),
    ('LIGHT', 'pole_no', true, 'string', false, '灯杆上喷涂的编号，如 LD-0123', 2, '路灯编号'),
    ('ROAD', 'problem', true, 'singlevaluelist', true, '', 1, '问题类型'),
    ('WATER', 'problem', true, 'singlevaluelist', true, '', 1, '问题类型'),
    ('WATER', 'detail', true, 'text', false, '停水开始时间、影响户数等', 2, '情况说明'),
    ('POWER', 'problem', true, 'singlevaluelist', true, '', 1, '问题类型'),
    ('SANIT', 'problem', true, 'singlevaluelist', true, '', 1, '问题类型'),
    ('NOISE', 'source', true, 'singlevaluelist', true, '', 1, '噪声来源'),
    ('NOISE', 'period', true, 'string', false, '如 每晚22:00以后', 2, '发生时段'),
    ('POND', 'notice', false, 'string', false, '', 1,
             '险情危急时请立即远离坝体下游，并拨打镇防汛值班电话 0731-84021110。'),
    ('POND', 'hazard', true, 'singlevaluelist', true, '', 2, '险情类型'),
    ('POND', 'water_level', true, 'number', false, '以米为单位，可估计', 3, '估计水位(米)'),
    ('FIRE', 'notice', false, 'string', false, '', 1, '发生火情请立即拨打119。'),
    ('DISPUTE', 'dispute_type', true, 'multivaluelist', true, '', 1, '纠纷类型'),
    ('DISPUTE', 'households', true, 'number', false, '涉及的户数', 2, '涉及户数'),
    ('BUILD', 'found_at', true, 'datetime', false, '发现违建的日期时间', 1, '发现时间'),
    ('BUILD', 'stage', true, 'singlevaluelist', false, '', 2, '建设阶段'),
    ('LAND', 'matter', true, 'singlevaluelist', true, '', 1, '事项类型'),
    ('AID', 'aid_type', true, 'singlevaluelist', false, '', 1, '救助类型');

  INSERT INTO registry.service_attribute_value (service_code, attribute_code, key, name, ord)
  SELECT v.service_code, v.attribute_code, v.key, v.name, v.ord::int
  FROM (VALUES
    ('LIGHT', 'fault_type', '{off:不亮,flicker:闪烁,day_on:白天常亮,pole:灯杆损坏}'),
    ('ROAD', 'problem', '{pothole:路面破损,collapse:塌方塌陷,flooding:路面积水,sign:交通标志损坏,obstruct:占道堆放}'),
    ('WATER', 'problem', '{outage:停水,pressure:水压低,quality:水质浑浊,leak:管道漏水}'),
    ('POWER', 'problem', '{outage:停电,voltage:电压不稳,line:线路隐患}'),
    ('SANIT', 'problem', '{garbage:垃圾未清运,dumping:乱倒垃圾,sewage:污水横流,toilet:公厕脏乱,ditch:沟渠淤塞}'),
    ('NOISE', 'source', '{construction:施工,music:广场舞音响,workshop:加工作坊,livestock:养殖场,other:其他}'),
    ('POND', 'hazard', '{seepage:渗漏,crack:裂缝,overtopping:漫坝,other:其他}'),
    ('DISPUTE', 'dispute_type', '{boundary:宅基地/山林界址,water:用水排水,livestock:禽畜,noise:噪声,debt:借贷,family:家庭婚姻,other:其他}'),
    ('BUILD', 'stage', '{foundation:打地基,building:建设中,finished:已建成}'),
    ('LAND', 'matter', '{contract:承包合同纠纷,title:确权登记,transfer:土地流转,other:其他}'),
    ('AID', 'aid_type', '{dibao:低保,tekun:特困供养,temporary:临时救助,medical:医疗救助}')
  ) AS a(service_code, attribute_code, pairs)
  CROSS JOIN LATERAL unnest(a.pairs::text[]) WITH ORDINALITY AS p(pair, ord)
  CROSS JOIN LATERAL (SELECT a.service_code, a.attribute_code,
                             split_part(p.pair, ':', 1) AS key, split_part(p.pair, ':', 2) AS name,
                             p.ord) v
  ORDER BY 1, 2, 5;

  INSERT INTO registry.jurisdiction (id, county_id, contact, key_service, changeset)
  VALUES ('demo.gridgov.cn', 1,
          '示范县网格化服务管理中心，服务热线 0731-84011234（工作日 8:30-17:30），地址：示范县星沙大道1号。',
          '开发者请向示范县网格化服务管理中心申请 API Key：致电 0731-84011234 或发邮件至 open311@demo.gridgov.cn，注明单位、用途和联系人；审核通过后由中心签发。',
          '2024-01-01 00:00:00+08');

  SELECT count(*) FILTER (WHERE level = 'township'), count(*) FILTER (WHERE level = 'village'),
         count(*) FILTER (WHERE level = 'group')
    INTO n_t, n_v, n_g FROM registry.unit;
  SELECT count(*) INTO n_h FROM registry.household;
  SELECT count(*) INTO n_r FROM registry.resident;
  SELECT count(*) INTO n_s FROM registry.staff;
  RAISE NOTICE 'demo_county: seeded 1 county, % townships, % villages, % groups, % households, % residents, % staff',
    n_t, n_v, n_g, n_h, n_r, n_s;
END
$seed$;

-- Routing rules for the demo catalogue (router.category_rule): the level that handles a category
-- first, the township desk by its name tag, and the working hours to sign for and to resolve.
INSERT INTO router.category_rule (service_code, level, office, sign_hours, resolve_hours, warn_share) VALUES
    ('LIGHT',   'village',  NULL,               8,  24, 0.8),
    ('ROAD',    'township', '规划建设办',        8,  40, 0.8),
    ('WATER',   'village',  NULL,               4,  16, 0.8),
    ('POWER',   'township', '党政办',            4,  24, 0.8),
    ('SANIT',   'village',  NULL,               8,  24, 0.8),
    ('NOISE',   'group',    NULL,               4,  16, 0.8),
    ('POND',    'township', '水利站',            2,  16, 0.75),
    ('FIRE',    'township', '应急办',            1,   8, 0.75),
    ('SAFETY',  'township', '综治中心',          4,  24, 0.8),
    ('DISPUTE', 'group',    NULL,               8,  40, 0.8),
    ('BUILD',   'township', '规划建设办',        8,  40, 0.8),
    ('LAND',    'township', '农业综合服务中心',  8,  80, 0.8),
    ('AID',     'village',  NULL,               8,  40, 0.8),
    ('POLICY',  'village',  NULL,               8,  24, 0.8),
    ('OTHER',   'village',  NULL,               8,  40, 0.8)
ON CONFLICT (service_code) DO NOTHING;

-- Private categories: the public sees only their tickets' status (registry.service.private,
-- migration 018). The seed also loads on the schema of the release before that column (the
-- upgrade test in tests/run.sh seeds at the previous release's last migration and migrates after),
-- so the flag is set only where the column exists; there, migration 018 sets it.
DO $private$
BEGIN
  IF EXISTS (SELECT 1 FROM information_schema.columns
             WHERE table_schema = 'registry' AND table_name = 'service' AND column_name = 'private') THEN
    EXECUTE $sql$UPDATE registry.service SET private = true WHERE code IN ('DISPUTE', 'LAND', 'AID')$sql$;
  END IF;
END
$private$;

-- Officials' WeCom contacts (migration 024: registry.staff.wecom_userid, registry.unit.wecom_robot_key).
-- Like the private flags, set only where the columns exist (the seed also loads on the previous
-- release's schema; there migration 024 sets the same values).
DO $wecom$
BEGIN
  IF EXISTS (SELECT 1 FROM information_schema.columns
             WHERE table_schema = 'registry' AND table_name = 'unit' AND column_name = 'wecom_robot_key')
     AND EXISTS (SELECT 1 FROM registry.jurisdiction WHERE id = 'demo.gridgov.cn') THEN
    EXECUTE $sql$
      UPDATE registry.unit u
      SET wecom_robot_key = regexp_replace(md5('robot:' || u.code), '^(.{8})(.{4})(.{4})(.{4})(.{12})$', '\1-\2-\3-\4-\5')
      WHERE u.level = 'township' AND u.code IN ('430121-101', '430121-102') AND u.wecom_robot_key IS NULL$sql$;
    EXECUTE $sql$
      UPDATE registry.staff s
      SET wecom_userid = 'demo.' || s.id
      WHERE s.wecom_userid IS NULL AND (s.role = 'operator' OR (s.role IN ('supervisor', 'handler') AND s.unit_id IN
              (SELECT u.id FROM registry.unit u WHERE u.code IN ('430121-101', '430121-102'))))$sql$;
  END IF;
END
$wecom$;

COMMIT;
