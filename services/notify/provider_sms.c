#include "provider_sms.h"

#include <stdio.h>
#include <stdlib.h>

#include "log.h"

json_t *sms_param_array(const message_t *m, char *why, size_t whysz)
{
    json_t *a = json_array();
    if (!a)
        log_oom();
    size_t n = m->tmpl ? m->tmpl->n_sms_params : 0;
    for (size_t i = 0; i < n; i++) {
        const char *name = m->tmpl->sms_params[i];
        json_t *v = json_object_get(m->params, name);
        if (!json_is_string(v)) {
            snprintf(why, whysz, "template %s: parameter %s is %s", m->tmpl->key ? m->tmpl->key : "?", name,
                     v ? "not a string" : "missing");
            json_decref(a);
            return NULL;
        }
        json_array_append(a, v);
    }
    return a;
}

char *sms_param_object(const message_t *m, char *why, size_t whysz)
{
    json_t *a = sms_param_array(m, why, whysz);
    if (!a)
        return NULL;
    json_t *o = json_object();
    if (!o)
        log_oom();
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v) json_object_set(o, m->tmpl->sms_params[i], v);
    json_decref(a);
    /* JSON_PRESERVE_ORDER: the parameters in the template's order, as one would write them */
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!s)
        log_oom();
    return s;
}
