#include "event_view.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "timefmt.h"
#include "utf8.h"

#define NOTE_MAX_CHARS 60 /* a note longer than this is cut, with "…" */

static const char *str(const json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

/* A UTC time of the envelope as the county's local time; the text itself when it does not parse. */
static void put_local(buf_t *b, const char *utc)
{
    int64_t us;
    char t[TIMEFMT_LEN];
    if (timefmt_parse(utc, &us)) {
        timefmt_format(us, TIMEFMT_COUNTY_OFFSET_MIN, t);
        buf_puts(b, t);
    } else {
        buf_puts(b, utc);
    }
}

/* Text on one line: control characters (a newline in a note) become spaces, and at most max code
 * points are kept. Invalid UTF-8 cannot come out of jansson. */
static void put_text(buf_t *b, const char *s, size_t max)
{
    size_t n = strlen(s), chars = 0;
    while (n > 0) {
        uint32_t cp;
        size_t len = utf8_decode(s, n, &cp);
        if (len == 0)
            break;
        if (chars++ == max) {
            buf_puts(b, "…");
            return;
        }
        if (cp < 0x20 || cp == 0x7f)
            buf_putc(b, ' ');
        else
            buf_append(b, s, len);
        s += len;
        n -= len;
    }
}

static void created(buf_t *b, const json_t *d)
{
    const char *svc = str(d, "service_code"), *ch = str(d, "channel"), *addr = str(d, "address_string");
    if (svc)
        buf_printf(b, "  %s", svc);
    if (ch)
        buf_printf(b, " via %s", ch);
    if (addr) {
        buf_puts(b, "  at ");
        put_text(b, addr, NOTE_MAX_CHARS);
    }
}

static void transition(buf_t *b, const json_t *d)
{
    const char *from = str(d, "from_state"), *to = str(d, "to_state"), *unit = str(d, "unit_name");
    const char *level = str(d, "level"), *assignee = str(d, "assignee_id"), *actor = str(d, "actor_id");
    const char *note = str(d, "note"), *merged = str(d, "merged_into"), *due = str(d, "resolve_due");
    buf_printf(b, "  %s → %s", from ? from : "new", to);
    if (unit) {
        buf_puts(b, "  ");
        put_text(b, unit, NOTE_MAX_CHARS);
        if (level)
            buf_printf(b, " (%s)", level);
    }
    if (assignee)
        buf_printf(b, "  assignee %s", assignee);
    if (actor)
        buf_printf(b, "  by %s", actor);
    if (merged)
        buf_printf(b, "  follows %s", merged);
    if (due && !strcmp(to, "assigned")) {
        buf_puts(b, "  resolve by ");
        put_local(b, due);
    }
    if (note && *note) {
        buf_puts(b, "  「");
        put_text(b, note, NOTE_MAX_CHARS);
        buf_puts(b, "」");
    }
}

static void warning(buf_t *b, const json_t *d)
{
    const char *sign = str(d, "sign_due"), *resolve = str(d, "resolve_due");
    if (sign) {
        buf_puts(b, "  sign by ");
        put_local(b, sign);
    }
    if (resolve) {
        buf_puts(b, "  resolve by ");
        put_local(b, resolve);
    }
}

bool event_view_line(const char *envelope_json, buf_t *out)
{
    json_error_t je;
    json_t *env = json_loads(envelope_json, 0, &je);
    const char *type = str(env, "type"), *at = str(env, "occurred_at");
    const json_t *d = json_object_get(env, "data");
    if (!type || !at || !json_is_object(d)) {
        json_decref(env);
        return false;
    }
    put_local(out, at);
    buf_printf(out, "  %-18s", type);
    const char *code = str(d, "code");
    buf_printf(out, "  %s", code ? code : "-");
    if (!strcmp(type, "ticket.created")) {
        created(out, d);
    } else if (!strcmp(type, "ticket.warning")) {
        warning(out, d);
    } else if (str(d, "to_state")) {
        transition(out, d);
    } else {
        /* a type this view does not know yet: its data as it came */
        char *text = json_dumps(d, JSON_COMPACT);
        if (text) {
            buf_puts(out, "  ");
            buf_puts(out, text);
            free(text);
        }
    }
    json_decref(env);
    return true;
}
