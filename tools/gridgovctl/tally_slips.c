/* gridgovctl tally slips MOTION [--voters ID,…] [--staff ID] [--csv]: voting slips for a meeting
 * (a motion with delivery "slips", or voters notify could not reach). Sends tally the `slips`
 * command (tally-plan.md) over the bus as a staff member — --staff, else the first active
 * operator — and prints one slip per voter: name, the motion's code and title, the credential in
 * groups of four, how to vote, and the holder of the voter's written proxy, who casts it. --csv
 * prints a CSV instead (UTF-8 with BOM, one row a voter).
 * tally issues new credentials that replace the voters' old ones, so the command is sent once
 * (a retry would issue them again); the credentials are printed and kept nowhere else.
 * Exit status 0 when slips were printed, 1 when tally refused or did not answer, 2 on a usage error. */
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "buf.h"
#include "bus.h"
#include "csv.h"
#include "ctl.h"
#include "db.h"
#include "gclock.h"
#include "uuid.h"

/* Waited for once: see above. */
#define SLIPS_TIMEOUT_MS 20000
#define CONNECT_TIMEOUT_MS 5000

static const char STAFF_SQL[] =
    "SELECT id FROM registry.staff WHERE role = 'operator' AND active ORDER BY id LIMIT 1";
static const char TITLE_SQL[] = "SELECT title, group_name FROM tally.motion_public WHERE code = $1";

static const char HOW[] =
    "投票方法：在村务小程序或网页打开本表决，输入上面的投票码，选择后提交；提交后会得到一个选票追踪码，"
    "可用它查到您的选票已在票箱中（查不到内容）。每个投票码只能投一次，请勿交给他人。";

/* "7KQ2M9XD4TRVPA3H" as "7KQ2-M9XD-4TRV-PA3H" (upper case, hyphens as typed ignored). */
static void grouped(const char *cred, char *out, size_t outsz)
{
    size_t o = 0, n = 0;
    for (const char *p = cred; *p && o + 2 < outsz; p++) {
        if (*p == '-' || *p == ' ')
            continue;
        if (n && n % 4 == 0)
            out[o++] = '-';
        out[o++] = (char)toupper((unsigned char)*p);
        n++;
    }
    out[o] = '\0';
}

/* "12,15,40" into a JSON list of ids; NULL when one is not a positive integer. */
static json_t *parse_ids(const char *s)
{
    json_t *ids = json_array();
    char *copy = strdup(s), *save = NULL;
    if (!copy)
        abort();
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        char *end;
        long long v = strtoll(t, &end, 10);
        if (*end || v <= 0) {
            json_decref(ids);
            ids = NULL;
            break;
        }
        json_array_append_new(ids, json_integer(v));
    }
    free(copy);
    if (ids && json_array_size(ids) == 0) {
        json_decref(ids);
        ids = NULL;
    }
    return ids;
}

/* The staff id to send as, and the motion's title and group (for the slips). */
static bool look_up(const cfg_t *cfg, const char *code, char staff[24], char **title, char **group)
{
    char err[512];
    db_t *db = db_connect(cfg_str(cfg, "db"), "gridgovctl", err, sizeof err);
    PGresult *r = db ? db_exec(db, TITLE_SQL, 1, &code, err, sizeof err, NULL) : NULL;
    bool ok = r && PQntuples(r) == 1;
    if (ok) {
        *title = strdup(PQgetvalue(r, 0, 0));
        *group = strdup(PQgetvalue(r, 0, 1));
    } else if (r) {
        snprintf(err, sizeof err, "unknown motion %s", code);
    }
    PQclear(r);
    if (ok && !staff[0]) {
        r = db_exec(db, STAFF_SQL, 0, NULL, err, sizeof err, NULL);
        ok = r && PQntuples(r) == 1;
        if (ok)
            snprintf(staff, 24, "%s", PQgetvalue(r, 0, 0));
        else if (r)
            snprintf(err, sizeof err, "no active operator in registry.staff: name one with --staff ID");
        PQclear(r);
    }
    db_destroy(&db);
    if (!ok)
        fprintf(stderr, "gridgovctl: %s\n", err);
    return ok;
}

/* One request to tally and its reply, sent exactly once: a retried slips command issues new
 * credentials again, so there is no resend as common/cmdclient does on a timeout. Wait until the
 * connection is up (POLLOUT under ZMQ_IMMEDIATE), send, wait for the answer with our id. */
static json_t *request(void *sock, const json_t *cmd, char *err, size_t errsz)
{
    zmq_pollitem_t out = {sock, 0, ZMQ_POLLOUT, 0};
    if (zmq_poll(&out, 1, CONNECT_TIMEOUT_MS) <= 0) {
        snprintf(err, errsz, "no connection within %d ms", CONNECT_TIMEOUT_MS);
        return NULL;
    }
    char *text = json_dumps(cmd, JSON_COMPACT);
    int sent = text ? zmq_send(sock, text, strlen(text), ZMQ_DONTWAIT) : -1;
    free(text);
    if (sent < 0) {
        snprintf(err, errsz, "cannot send: %s", zmq_strerror(zmq_errno()));
        return NULL;
    }
    const char *id = json_string_value(json_object_get(cmd, "id"));
    long long deadline = gclock_mono_ms() + SLIPS_TIMEOUT_MS;
    for (long long left; (left = deadline - gclock_mono_ms()) > 0;) {
        zmq_pollitem_t in = {sock, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&in, 1, (long)left) <= 0)
            continue;
        zmq_msg_t m;
        zmq_msg_init(&m);
        json_t *rep = zmq_msg_recv(&m, sock, 0) < 0 ? NULL : json_loadb(zmq_msg_data(&m), zmq_msg_size(&m), 0, NULL);
        zmq_msg_close(&m);
        const char *rid = json_string_value(json_object_get(rep, "id"));
        if (rid && id && !strcmp(rid, id))
            return rep;
        json_decref(rep);
    }
    snprintf(err, errsz, "no reply within %d ms (the slips may have been issued: run it again for new ones)",
             SLIPS_TIMEOUT_MS);
    return NULL;
}

static json_t *call_tally(const cfg_t *cfg, json_t *cmd)
{
    char err[512];
    json_t *rep = NULL;
    bus_t *bus = bus_from_cfg(cfg, err, sizeof err);
    void *sock = bus ? zmq_socket(bus_ctx(bus), ZMQ_DEALER) : NULL;
    if (sock) {
        int one = 1, zero = 0;
        zmq_setsockopt(sock, ZMQ_IMMEDIATE, &one, sizeof one);
        zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof zero);
        if (bus_connect(bus, sock, BUS_COMMANDS, cfg_str(cfg, "tally_endpoint"), "tally", err, sizeof err))
            rep = request(sock, cmd, err, sizeof err);
        zmq_close(sock);
    } else if (bus) {
        snprintf(err, sizeof err, "zmq_socket: %s", zmq_strerror(zmq_errno()));
    }
    bus_destroy(&bus);
    if (!rep)
        fprintf(stderr, "gridgovctl: tally: %s\n", err);
    return rep;
}

static void print_slips(const json_t *slips, const char *code, const char *title, const char *group)
{
    size_t i;
    json_t *s;
    json_array_foreach(slips, i, s)
    {
        char cred[40];
        grouped(json_string_value(json_object_get(s, "credential")), cred, sizeof cred);
        printf("--------------------------------------------------------------- 沿此线剪开\n"
               "投票凭条　%s\n"
               "表决：%s　%s\n"
               "选民：%s（编号 %lld）\n",
               group, code, title, json_string_value(json_object_get(s, "name")),
               (long long)json_integer_value(json_object_get(s, "voter_id")));
        if (json_is_integer(json_object_get(s, "holder_voter_id")))
            printf("书面委托：交受委托人（编号 %lld）代为投票\n",
                   (long long)json_integer_value(json_object_get(s, "holder_voter_id")));
        printf("投票码：%s\n%s\n", cred, HOW);
    }
    printf("---------------------------------------------------------------\n");
}

static void print_csv(const json_t *slips, const char *code, const char *title)
{
    buf_t b = BUF_INIT;
    buf_puts(&b, "\xEF\xBB\xBF选民编号,姓名,表决,标题,投票码,投票方法,受委托人编号\r\n");
    size_t i;
    json_t *s;
    json_array_foreach(slips, i, s)
    {
        char cred[40];
        grouped(json_string_value(json_object_get(s, "credential")), cred, sizeof cred);
        buf_printf(&b, "%lld,", (long long)json_integer_value(json_object_get(s, "voter_id")));
        csv_field(&b, json_string_value(json_object_get(s, "name")));
        buf_putc(&b, ',');
        csv_field(&b, code);
        buf_putc(&b, ',');
        csv_field(&b, title);
        buf_printf(&b, ",%s,", cred);
        csv_field(&b, HOW);
        buf_putc(&b, ',');
        if (json_is_integer(json_object_get(s, "holder_voter_id")))
            buf_printf(&b, "%lld", (long long)json_integer_value(json_object_get(s, "holder_voter_id")));
        buf_puts(&b, "\r\n");
    }
    fwrite(buf_str(&b), 1, b.len, stdout);
    buf_free(&b);
}

/* A slip list the reply may hold: each with a voter id, a name and a credential. */
static bool slips_ok(const json_t *slips)
{
    size_t i;
    json_t *s;
    if (!json_is_array(slips))
        return false;
    json_array_foreach(slips, i, s) if (!json_is_integer(json_object_get(s, "voter_id")) ||
                                        !json_is_string(json_object_get(s, "name")) ||
                                        !json_is_string(json_object_get(s, "credential"))) return false;
    return true;
}

int ctl_tally_slips(const cfg_t *cfg, int argc, char **argv)
{
    const char *code = NULL;
    char staff[24] = "";
    json_t *voters = NULL;
    bool csv = false, bad = false;
    for (int i = 1; i < argc && !bad; i++) {
        if (!strcmp(argv[i], "--voters") && i + 1 < argc && !voters)
            bad = !(voters = parse_ids(argv[++i]));
        else if (!strcmp(argv[i], "--staff") && i + 1 < argc) {
            char *end;
            long long v = strtoll(argv[++i], &end, 10);
            bad = *end || v <= 0;
            snprintf(staff, sizeof staff, "%lld", v);
        } else if (!strcmp(argv[i], "--csv"))
            csv = true;
        else if (argv[i][0] != '-' && !code)
            code = argv[i];
        else
            bad = true;
    }
    if (bad || !code) {
        fprintf(stderr, "usage: gridgovctl tally slips MOTION [--voters ID,...] [--staff ID] [--csv]\n");
        json_decref(voters);
        return 2;
    }
    char *title = NULL, *group = NULL;
    if (!look_up(cfg, code, staff, &title, &group)) {
        json_decref(voters);
        return 1;
    }
    char id[UUID_STR_LEN];
    uuid_v4(id);
    json_t *cmd = json_pack("{s:s, s:s, s:I, s:s}", "id", id, "action", "slips", "staff_id",
                            (json_int_t)strtoll(staff, NULL, 10), "motion", code);
    if (voters)
        json_object_set_new(cmd, "voters", voters);
    json_t *rep = call_tally(cfg, cmd);
    json_decref(cmd);
    int rc = 1;
    json_t *body = json_object_get(rep, "body"), *slips = json_object_get(body, "slips");
    long long status = json_integer_value(json_object_get(rep, "status"));
    if (rep && status >= 200 && status < 300 && slips_ok(slips)) {
        if (csv)
            print_csv(slips, code, title);
        else
            print_slips(slips, code, title, group);
        fprintf(stderr, "gridgovctl: %zu slips for %s; earlier credentials of these voters no longer work\n",
                json_array_size(slips), code);
        rc = 0;
    } else if (rep) {
        const char *e = json_string_value(json_object_get(body, "error")), *m = json_string_value(json_object_get(body, "message"));
        fprintf(stderr, "gridgovctl: tally answered %lld %s%s%s\n", status, e ? e : "(no slips in the answer)",
                m ? ": " : "", m ? m : "");
    }
    json_decref(rep);
    free(title);
    free(group);
    return rc;
}
