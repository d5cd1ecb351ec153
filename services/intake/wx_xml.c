#include "wx_xml.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

typedef struct {
    const char *p, *end;
    wxx_doc_t *doc;
    char *err;
    size_t errsz;
} rd_t;

static bool fail(rd_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool fail(rd_t *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, r->errsz, fmt, ap);
    va_end(ap);
    return false;
}

static void skip_ws(rd_t *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\r' || *r->p == '\n'))
        r->p++;
}

static bool at(const rd_t *r, const char *lit)
{
    size_t n = strlen(lit);
    return (size_t)(r->end - r->p) >= n && !memcmp(r->p, lit, n);
}

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* <Name> or </Name>: the name into out; no attributes. */
static bool read_tag(rd_t *r, bool closing, char out[WXX_NAME_MAX])
{
    if (!at(r, closing ? "</" : "<"))
        return fail(r, "truncated or malformed: expected %s", closing ? "a closing tag" : "a tag");
    r->p += closing ? 2 : 1;
    size_t n = 0;
    while (r->p < r->end && name_char(*r->p)) {
        if (n + 1 >= WXX_NAME_MAX)
            return fail(r, "an element name longer than %d characters", WXX_NAME_MAX - 1);
        out[n++] = *r->p++;
    }
    out[n] = '\0';
    if (!n)
        return fail(r, "malformed tag (names are letters, digits and _)");
    if (r->p >= r->end)
        return fail(r, "truncated inside <%s", out);
    if (*r->p != '>')
        return fail(r, "<%s> has attributes or is malformed: not accepted", out);
    r->p++;
    return true;
}

static bool add(rd_t *r, const char *name, int depth, const char *v, size_t n)
{
    wxx_doc_t *d = r->doc;
    if (d->n >= WXX_MAX_FIELDS)
        return fail(r, "more than %d elements", WXX_MAX_FIELDS);
    if (depth == 1)
        for (int i = 0; i < d->n; i++)
            if (d->f[i].depth == 1 && !strcmp(d->f[i].name, name))
                return fail(r, "<%s> appears twice", name);
    wxx_field_t *f = &d->f[d->n];
    snprintf(f->name, sizeof f->name, "%s", name);
    f->depth = depth;
    f->value = malloc(n + 1);
    if (!f->value)
        abort();
    memcpy(f->value, v, n);
    f->value[n] = '\0';
    d->n++;
    return true;
}

static bool element(rd_t *r, int depth);

/* What an element holds, up to its closing tag: CDATA sections, plain text, or child elements. */
static bool content(rd_t *r, const char *name, int depth)
{
    char *text = NULL;
    size_t len = 0;
    bool children = false, ok = false;
    for (;;) {
        if (r->p >= r->end) {
            fail(r, "truncated inside <%s>", name);
            goto out;
        }
        if (at(r, "<![CDATA[")) {
            r->p += 9;
            const char *e = memmem(r->p, (size_t)(r->end - r->p), "]]>", 3);
            if (!e) {
                fail(r, "truncated CDATA in <%s>", name);
                goto out;
            }
            text = realloc(text, len + (size_t)(e - r->p) + 1);
            if (!text)
                abort();
            memcpy(text + len, r->p, (size_t)(e - r->p));
            len += (size_t)(e - r->p);
            r->p = e + 3;
        } else if (at(r, "<!")) {
            fail(r, "<! (DOCTYPE, ENTITY or comment) is not accepted");
            goto out;
        } else if (at(r, "<?")) {
            fail(r, "a processing instruction inside the document is not accepted");
            goto out;
        } else if (at(r, "</")) {
            char close[WXX_NAME_MAX];
            if (!read_tag(r, true, close))
                goto out;
            if (strcmp(close, name)) {
                fail(r, "</%s> closes <%s>", close, name);
                goto out;
            }
            break;
        } else if (*r->p == '<') {
            if (depth + 1 > WXX_MAX_DEPTH) {
                fail(r, "elements nested deeper than %d", WXX_MAX_DEPTH);
                goto out;
            }
            children = true;
            if (!element(r, depth + 1))
                goto out;
        } else {
            const char *s = r->p;
            while (r->p < r->end && *r->p != '<') {
                if (*r->p == '&') {
                    fail(r, "an entity reference (&) in <%s>: entities are not accepted, only CDATA", name);
                    goto out;
                }
                if (*r->p == '>') {
                    fail(r, "a stray '>' in <%s>", name);
                    goto out;
                }
                r->p++;
            }
            text = realloc(text, len + (size_t)(r->p - s) + 1);
            if (!text)
                abort();
            memcpy(text + len, s, (size_t)(r->p - s));
            len += (size_t)(r->p - s);
        }
    }
    if (children) {
        /* the whitespace between child elements is not a value */
        for (size_t i = 0; i < len; i++)
            if (!strchr(" \t\r\n", text[i])) {
                fail(r, "<%s> mixes text and elements", name);
                goto out;
            }
        len = 0;
    }
    ok = depth == 0 || add(r, name, depth, text ? text : "", len);
out:
    free(text);
    return ok;
}

static bool element(rd_t *r, int depth)
{
    char name[WXX_NAME_MAX];
    return read_tag(r, false, name) && content(r, name, depth);
}

bool wxx_parse(const char *s, size_t n, wxx_doc_t *doc, char *err, size_t errsz)
{
    memset(doc, 0, sizeof *doc);
    rd_t r = {.p = s, .end = s + n, .doc = doc, .err = err, .errsz = errsz};
    if (n > WXX_MAX_BODY)
        return fail(&r, "the XML is larger than %d bytes", WXX_MAX_BODY);
    if (!utf8_valid(s, n))
        return fail(&r, "the XML is not UTF-8 (or holds a NUL byte)");
    skip_ws(&r);
    if (at(&r, "<?xml ") || at(&r, "<?xml?>")) {
        const char *e = memmem(r.p, (size_t)(r.end - r.p), "?>", 2);
        if (!e)
            return fail(&r, "truncated XML declaration");
        r.p = e + 2;
        skip_ws(&r);
    }
    if (at(&r, "<!"))
        return fail(&r, "<! (DOCTYPE, ENTITY or comment) is not accepted");
    char root[WXX_NAME_MAX];
    if (!read_tag(&r, false, root))
        return false;
    if (strcmp(root, "xml"))
        return fail(&r, "the document is <%s>, not <xml>", root);
    if (!content(&r, "xml", 0))
        return false;
    skip_ws(&r);
    if (r.p != r.end)
        return fail(&r, "bytes after </xml>");
    return true;
}

const char *wxx_get(const wxx_doc_t *doc, const char *name)
{
    for (int i = 0; i < doc->n; i++)
        if (doc->f[i].depth == 1 && !strcmp(doc->f[i].name, name))
            return doc->f[i].value;
    return NULL;
}

void wxx_free(wxx_doc_t *doc)
{
    for (int i = 0; i < doc->n; i++)
        free(doc->f[i].value);
    doc->n = 0;
}
