/* wx_xml: a small, bounded reader for the XML WeChat sends (callback pushes and the decrypted
 * messages of safe mode): <xml> with named elements holding CDATA or plain text, nested a few
 * levels at most. Nothing else is XML to it: a DOCTYPE, an entity (any '&' outside CDATA), a
 * comment, a processing instruction other than a leading <?xml …?>, an attribute, a duplicated
 * top-level element, bytes after </xml>, a truncated document, more than WXX_MAX_BODY bytes or
 * WXX_MAX_FIELDS elements, and anything that is not UTF-8 are refused with a reason. Nothing is
 * expanded or fetched, so the reader cannot be made to grow or to read outside the body.
 * Ownership: the document owns copies of the values; wxx_free() releases them. */
#ifndef INTAKE_WX_XML_H
#define INTAKE_WX_XML_H

#include <stdbool.h>
#include <stddef.h>

#define WXX_MAX_BODY 16384
#define WXX_MAX_FIELDS 48
#define WXX_MAX_DEPTH 4 /* <xml> is depth 0; WeChat's deepest events (SendPicsInfo/PicList/item/…) fit */
#define WXX_NAME_MAX 40

typedef struct {
    char name[WXX_NAME_MAX];
    int depth;   /* 1: a child of <xml> */
    char *value; /* "" for an element with children */
} wxx_field_t;

typedef struct {
    wxx_field_t f[WXX_MAX_FIELDS];
    int n;
} wxx_doc_t;

/* Parses n bytes at s into doc (which the caller frees with wxx_free, also after a failure). */
bool wxx_parse(const char *s, size_t n, wxx_doc_t *doc, char *err, size_t errsz) __attribute__((warn_unused_result));
/* The text of a child of <xml> (depth 1), or NULL. Borrowed from doc. */
const char *wxx_get(const wxx_doc_t *doc, const char *name);
void wxx_free(wxx_doc_t *doc);

#endif
