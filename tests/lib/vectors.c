#include "vectors.h"

#include <stdio.h>
#include <stdlib.h>

static _Noreturn void die(const char *what, const char *key)
{
    fprintf(stderr, "provider vectors: %s %s\n", what, key);
    exit(2);
}

json_t *h_vectors(void)
{
    static json_t *root;
    if (root)
        return root;
    const char *top = getenv("GRIDGOV_TOP");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/vectors/provider-vectors.json", top && *top ? top : ".");
    json_error_t je;
    root = json_load_file(path, 0, &je);
    if (!root || !json_is_object(root)) {
        fprintf(stderr, "%s: %s (line %d)\n", path, je.text, je.line);
        exit(2);
    }
    return root;
}

const char *h_vstr(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    if (!s)
        die("no string", key);
    return s;
}

json_t *h_varray(const json_t *obj, const char *key)
{
    json_t *a = json_object_get(obj, key);
    if (!json_is_array(a))
        die("no array", key);
    return a;
}

json_t *h_vobject(const json_t *obj, const char *key)
{
    json_t *o = json_object_get(obj, key);
    if (!json_is_object(o))
        die("no object", key);
    return o;
}
