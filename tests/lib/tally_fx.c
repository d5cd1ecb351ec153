#include "tally_fx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "uuid.h"

static void fx_die(const char *what, const char *detail)
{
    fprintf(stderr, "tally_fx: %s: %s\n", what, detail ? detail : "");
    exit(2);
}

static const char RULES[] =
    "{\"code\": \"test-rules\", \"name\": \"测试规则（村民小组会议）\", \"law_version\": \"2018-12-29\",\n"
    " \"thresholds\": {\n"
    "  \"meeting_quorum\": {\"num\": 2, \"den\": 3, \"inclusive\": true, \"cite\": \"村民委员会组织法第二十八条：三分之二以上\"},\n"
    "  \"meeting_decision\": {\"num\": 1, \"den\": 2, \"inclusive\": false, \"cite\": \"第二十八条：到会人员的过半数同意\"},\n"
    "  \"election_validity\": {\"num\": 1, \"den\": 2, \"inclusive\": false, \"cite\": \"第十五条：过半数投票，选举有效\"},\n"
    "  \"election_win\": {\"num\": 1, \"den\": 2, \"inclusive\": false, \"cite\": \"第十五条：参加投票的村民过半数的选票\"},\n"
    "  \"runoff_win\": {\"num\": 1, \"den\": 3, \"inclusive\": true, \"cite\": \"第十五条：不得少于已投选票总数的三分之一\"},\n"
    "  \"evaluation_unfit\": {\"num\": 1, \"den\": 2, \"inclusive\": false, \"cite\": \"测试：不称职过半数\"},\n"
    "  \"evaluation_excellent\": {\"num\": 1, \"den\": 2, \"inclusive\": false, \"cite\": \"测试：满意过半数\"}},\n"
    " \"options\": {\n"
    "  \"proxy_cap\": {\"value\": 3, \"cite\": \"测试：每人受委托不超过三人\"},\n"
    "  \"proxies_allowed\": {\"value\": true, \"cite\": \"第十五条：书面委托\"},\n"
    "  \"write_ins_allowed\": {\"value\": true, \"cite\": \"测试：可以另选他人\"},\n"
    "  \"min_tellers\": {\"value\": 3, \"cite\": \"测试：监票人不少于三人\"},\n"
    "  \"ballots_exceed_voters_void\": {\"value\": true, \"cite\": \"测试：多于投票人数无效\"},\n"
    "  \"overmarked_invalid\": {\"value\": true, \"cite\": \"测试：多选无效\"},\n"
    "  \"invalid_in_denominator\": {\"value\": false, \"cite\": \"测试\"},\n"
    "  \"candidates_exceed_seats\": {\"value\": true, \"cite\": \"第十五条：候选人的名额应当多于应选名额\"},\n"
    "  \"tie\": {\"value\": \"revote\", \"cite\": \"测试：票数相同再次投票\"},\n"
    "  \"runoff_extra_candidates\": {\"value\": 1, \"cite\": \"测试\"},\n"
    "  \"two_year_unfit_flag\": {\"value\": true, \"cite\": \"第三十三条：连续两次被评议不称职的，其职务终止\"}}}\n";

const char *tfx_rules_dir(void)
{
    static char dir[1024];
    snprintf(dir, sizeof dir, "%s/tally-rules", h_env("GRIDGOV_TEST_VAR"));
    mkdir(dir, 0755);
    char path[1100];
    snprintf(path, sizeof path, "%s/test-rules.json", dir);
    FILE *f = fopen(path, "w");
    if (!f || fputs(RULES, f) < 0 || fclose(f) != 0)
        fx_die("cannot write", path);
    /* the same without proxies: "test-noproxy" */
    char other[sizeof RULES + 16];
    const char *code = strstr(RULES, "test-rules"), *allowed = strstr(RULES, "\"proxies_allowed\": {\"value\": true");
    if (!code || !allowed)
        fx_die("test rules", "template changed");
    allowed += strlen("\"proxies_allowed\": {\"value\": ");
    snprintf(other, sizeof other, "%.*stest-noproxy%.*sfalse%s", (int)(code - RULES), RULES,
             (int)(allowed - code - strlen("test-rules")), code + strlen("test-rules"), allowed + strlen("true"));
    snprintf(path, sizeof path, "%s/test-noproxy.json", dir);
    f = fopen(path, "w");
    if (!f || fputs(other, f) < 0 || fclose(f) != 0)
        fx_die("cannot write", path);
    return dir;
}

void tfx_group(PGconn *c, int households, int adults, tfx_group_t *g)
{
    char tag[16], hs[16], as[16];
    snprintf(tag, sizeof tag, "%d-%d", (int)getpid(), rand() % 100000);
    snprintf(hs, sizeof hs, "%d", households);
    snprintf(as, sizeof as, "%d", adults);
    const char *p1[] = {tag};
    g->group_id = h_sql_int(c,
                            "INSERT INTO registry.unit (id, parent_id, level, code, name)"
                            " SELECT (SELECT max(id) + 1 FROM registry.unit),"
                            " (SELECT id FROM registry.unit WHERE level = 'village' ORDER BY id LIMIT 1), 'group', 'TG-' || $1,"
                            " '表决测试组' || $1 RETURNING id",
                            1, p1);
    snprintf(g->group_code, sizeof g->group_code, "TG-%s", tag);
    char gid[24];
    snprintf(gid, sizeof gid, "%lld", (long long)g->group_id);
    const char *p2[] = {gid, hs};
    h_sql_int(c,
              "WITH m AS (SELECT coalesce(max(id), 0) AS b FROM registry.household),"
              " ins AS (INSERT INTO registry.household (id, group_id, code, address)"
              "  SELECT m.b + i, $1::bigint, 'TH-' || $1 || '-' || i, '测试地址 ' || i FROM m, generate_series(1, $2::int) i"
              "  RETURNING 1) SELECT count(*) FROM ins",
              2, p2);
    const char *p3[] = {gid, as};
    h_sql_int(c,
              "WITH m AS (SELECT coalesce(max(id), 0) AS b FROM registry.resident),"
              " ins AS (INSERT INTO registry.resident (id, household_id, name, gender, birth_year, is_head)"
              "  SELECT m.b + row_number() OVER (ORDER BY h.id, k), h.id, '村民' || h.id || '-' || k, '男',"
              "         CASE WHEN k <= $2::int THEN 1970 ELSE 2020 END, k = 1"
              "  FROM m, registry.household h, generate_series(1, $2::int + 1) k WHERE h.group_id = $1::bigint"
              "  RETURNING 1) SELECT count(*) FROM ins",
              2, p3);
    const char *p4[] = {gid};
    g->leader = h_sql_int(c,
                          "INSERT INTO registry.staff (id, unit_id, role, name, phone)"
                          " VALUES ((SELECT max(id) + 1 FROM registry.staff), $1::bigint, 'group_leader', '测试组长', '13800000000')"
                          " RETURNING id",
                          1, p4);
    g->grid_worker = h_sql_int(c,
                               "INSERT INTO registry.staff (id, unit_id, role, name, phone)"
                               " VALUES ((SELECT max(id) + 1 FROM registry.staff), $1::bigint, 'grid_worker', '测试网格员',"
                               " '13800000001') RETURNING id",
                               1, p4);
}

cmdclient_t *tfx_client(bus_t *bus, int port)
{
    char ep[64], err[512];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", port);
    cmdclient_t *cl = cmdclient_new(bus, ep, "tally", err, sizeof err);
    if (!cl)
        fx_die("cmdclient", err);
    return cl;
}

json_t *tfx_call(cmdclient_t *cl, json_t *cmd)
{
    if (!json_object_get(cmd, "id")) {
        char id[UUID_STR_LEN];
        uuid_v4(id);
        json_object_set_new(cmd, "id", json_string(id));
    }
    char err[512];
    json_t *r = cmdclient_call(cl, cmd, 10000, 2, err, sizeof err);
    json_decref(cmd);
    if (!r)
        fx_die("no reply from tally", err);
    return r;
}

int tfx_status(const json_t *reply) { return (int)json_integer_value(json_object_get(reply, "status")); }

json_t *tfx_body(const json_t *reply) { return json_object_get(reply, "body"); }

const char *tfx_error(const json_t *reply)
{
    const char *c = json_string_value(json_object_get(json_object_get(tfx_body(reply), "error"), "code"));
    return c ? c : "";
}

const char *tfx_create(cmdclient_t *cl, const tfx_group_t *g, const char *kind, const char *electorate, json_t *ballot,
                       const char *closes_at)
{
    return tfx_create_with(cl, g, kind, electorate, ballot, closes_at, "test-rules", "slips");
}

const char *tfx_create_with(cmdclient_t *cl, const tfx_group_t *g, const char *kind, const char *electorate, json_t *ballot,
                            const char *closes_at, const char *rule_set, const char *delivery)
{
    static char code[32];
    json_t *cmd = json_pack("{s:s,s:I,s:s,s:s,s:s,s:s,s:s}", "action", "create", "staff_id", (json_int_t)g->leader, "group",
                            g->group_code, "kind", kind, "title", "测试表决：修村道", "electorate", electorate, "rule_set",
                            rule_set);
    if (ballot)
        json_object_set_new(cmd, "ballot", ballot);
    if (closes_at)
        json_object_set_new(cmd, "closes_at", json_string(closes_at));
    json_object_set_new(cmd, "delivery", json_string(delivery));
    json_t *r = tfx_call(cl, cmd);
    const char *m = json_string_value(json_object_get(tfx_body(r), "motion"));
    if (tfx_status(r) != 201 || !m) {
        char *t = json_dumps(r, 0);
        fx_die("create failed", t);
    }
    snprintf(code, sizeof code, "%s", m);
    json_decref(r);
    return code;
}

json_t *tfx_open(cmdclient_t *cl, const tfx_group_t *g, const char *motion)
{
    return tfx_call(cl, json_pack("{s:s,s:I,s:s}", "action", "open", "staff_id", (json_int_t)g->leader, "motion", motion));
}

json_t *tfx_slips(cmdclient_t *cl, const tfx_group_t *g, const char *motion)
{
    json_t *r = tfx_call(cl, json_pack("{s:s,s:I,s:s}", "action", "slips", "staff_id", (json_int_t)g->leader, "motion", motion));
    json_t *s = json_object_get(tfx_body(r), "slips");
    if (tfx_status(r) != 200 || !s) {
        char *t = json_dumps(r, 0);
        fx_die("slips failed", t);
    }
    json_incref(s);
    json_decref(r);
    return s;
}

json_t *tfx_cast(cmdclient_t *cl, const char *motion, const char *credential, json_t *marks)
{
    return tfx_call(cl, json_pack("{s:s,s:s,s:s,s:o}", "action", "cast", "motion", motion, "credential", credential, "marks", marks));
}
