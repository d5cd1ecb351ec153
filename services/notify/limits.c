/* limits: per-recipient rate limits (limits.h). */
#include "limits.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

/* The dispatches that count (limits.h) to the batch's recipients inside the longest window, in
 * one statement (message_address's order): the rules are then decided here, in memory. */
static const char SEEN_SQL[] =
    "SELECT m.id::text, m.channel, m.address, m.template_key, (extract(epoch FROM m.claimed_at) * 1000000)::bigint"
    " FROM notify.message m"
    " WHERE (m.address, m.channel) IN"
    "   (SELECT r->>'address', r->>'channel' FROM jsonb_array_elements($1::jsonb) r)"
    "   AND m.state IN ('sending', 'sent', 'delivered', 'failed')"
    "   AND m.claimed_at > to_timestamp($2::bigint / 1e6) - make_interval(secs => $3::int)";

typedef struct {
    char id[40];
    char *channel, *address, *tmpl;
    int64_t at;
} seen_row_t;

struct limits_seen {
    seen_row_t *rows;
    size_t n, cap;
};

/* The longest window any rule of channel looks at; 0 when no rule of it is on. */
static int window_of(const limits_t *l, const char *channel)
{
    int w = 0;
    if (strcmp(channel, "sms") == 0) {
        if (l->sms_same_template_s > 0)
            w = l->sms_same_template_s;
        if (l->sms_per_hour > 0 && w < 3600)
            w = 3600;
        if (l->sms_per_day > 0)
            w = 86400;
    } else if (strcmp(channel, "wecom_robot") == 0) {
        w = l->wecom_robot_per_min > 0 ? 60 : 0;
    } else if (strcmp(channel, "wecom_app") == 0) {
        w = l->wecom_app_per_min > 0 ? 60 : 0;
    }
    return w;
}

bool limits_any(const limits_t *l, const char *channel) { return window_of(l, channel) > 0; }

static void add_row(limits_seen_t *s, const char *id, const char *channel, const char *address, const char *tmpl,
                    int64_t at)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->rows = realloc(s->rows, s->cap * sizeof *s->rows);
        if (!s->rows)
            log_oom();
    }
    seen_row_t *r = &s->rows[s->n++];
    snprintf(r->id, sizeof r->id, "%s", id);
    r->channel = strdup(channel);
    r->address = strdup(address);
    r->tmpl = strdup(tmpl);
    r->at = at;
    if (!r->channel || !r->address || !r->tmpl)
        log_oom();
}

limits_seen_t *limits_load(PGconn *conn, const limits_t *l, const json_t *recipients, int64_t now_us, char *err,
                           size_t errsz)
{
    limits_seen_t *s = calloc(1, sizeof *s);
    if (!s)
        log_oom();
    json_t *want = json_array();
    if (!want)
        log_oom();
    int win = 0;
    size_t i;
    json_t *r;
    json_array_foreach(recipients, i, r) {
        int w = window_of(l, json_string_value(json_object_get(r, "channel")));
        if (w > 0) {
            json_array_append(want, r);
            if (w > win)
                win = w;
        }
    }
    if (json_array_size(want) == 0) { /* no rule on: nothing to read */
        json_decref(want);
        return s;
    }
    char *js = json_dumps(want, JSON_COMPACT);
    json_decref(want);
    if (!js)
        log_oom();
    char now[24], w[16];
    snprintf(now, sizeof now, "%lld", (long long)now_us);
    snprintf(w, sizeof w, "%d", win);
    const char *p[] = {js, now, w};
    PGresult *res = db_pq_exec(conn, SEEN_SQL, 3, p, err, errsz, NULL);
    free(js);
    if (!res) {
        limits_seen_free(&s);
        return NULL;
    }
    for (int k = 0; k < PQntuples(res); k++)
        add_row(s, PQgetvalue(res, k, 0), PQgetvalue(res, k, 1), PQgetvalue(res, k, 2), PQgetvalue(res, k, 3),
                strtoll(PQgetvalue(res, k, 4), NULL, 10));
    PQclear(res);
    return s;
}

static int desc(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? 1 : (x > y ? -1 : 0);
}

/* One rule: the max-th most recent dispatch to this recipient inside the window (not counting the
 * message itself, tmpl "" any template); when there is one, the window is full until it leaves. */
static void rule(const limits_seen_t *s, const char *id, const char *channel, const char *address, const char *tmpl,
                 int64_t now_us, int window_s, int max, int64_t *nb)
{
    if (window_s <= 0 || max <= 0)
        return;
    int64_t *at = malloc((s->n + 1) * sizeof *at);
    if (!at)
        log_oom();
    size_t n = 0;
    int64_t from = now_us - (int64_t)window_s * 1000000;
    for (size_t i = 0; i < s->n; i++) {
        const seen_row_t *r = &s->rows[i];
        if (r->at > from && strcasecmp(r->id, id) != 0 && strcmp(r->channel, channel) == 0 &&
            strcmp(r->address, address) == 0 && (!*tmpl || strcmp(r->tmpl, tmpl) == 0))
            at[n++] = r->at;
    }
    if (n >= (size_t)max) {
        qsort(at, n, sizeof *at, desc);
        int64_t until = at[max - 1] + (int64_t)window_s * 1000000;
        if (until > *nb)
            *nb = until;
    }
    free(at);
}

int64_t limits_check(const limits_seen_t *s, const limits_t *l, const char *id, const char *channel,
                     const char *address, const char *template_key, int64_t now_us)
{
    int64_t nb = 0;
    if (strcmp(channel, "sms") == 0) {
        rule(s, id, channel, address, template_key, now_us, l->sms_same_template_s, 1, &nb);
        rule(s, id, channel, address, "", now_us, 3600, l->sms_per_hour, &nb);
        rule(s, id, channel, address, "", now_us, 86400, l->sms_per_day, &nb);
    } else if (strcmp(channel, "wecom_robot") == 0) {
        rule(s, id, channel, address, "", now_us, 60, l->wecom_robot_per_min, &nb);
    } else if (strcmp(channel, "wecom_app") == 0) {
        rule(s, id, channel, address, "", now_us, 60, l->wecom_app_per_min, &nb);
    }
    return nb;
}

void limits_dispatched(limits_seen_t *s, const char *id, const char *channel, const char *address,
                       const char *template_key, int64_t now_us)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcasecmp(s->rows[i].id, id) == 0) {
            s->rows[i].at = now_us;
            return;
        }
    add_row(s, id, channel, address, template_key, now_us);
}

void limits_released(limits_seen_t *s, const char *id)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcasecmp(s->rows[i].id, id) == 0) {
            free(s->rows[i].channel);
            free(s->rows[i].address);
            free(s->rows[i].tmpl);
            s->rows[i] = s->rows[--s->n];
            return;
        }
}

void limits_seen_free(limits_seen_t **s)
{
    if (!s || !*s)
        return;
    for (size_t i = 0; i < (*s)->n; i++) {
        free((*s)->rows[i].channel);
        free((*s)->rows[i].address);
        free((*s)->rows[i].tmpl);
    }
    free((*s)->rows);
    free(*s);
    *s = NULL;
}
