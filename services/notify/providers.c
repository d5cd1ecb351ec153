/* providers: the registry (providers.h). The one place that calls the providers' constructors. */
#include "providers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define MAX_SMS 4

struct providers {
    provider_t *all[8]; /* owned: the real ones that are on, and the sandbox */
    size_t n_all;
    provider_t *sms[MAX_SMS]; /* borrowed from all[], in sms_providers order */
    size_t n_sms;
    provider_t *wechat, *wecom_robot, *wecom_app; /* borrowed */
    provider_t *sandbox;
};

typedef provider_t *(*ctor_fn)(const cfg_t *, char *, size_t);

/* Makes one provider; false on a configuration error. *out NULL when it is off. */
static bool make(providers_t *p, ctor_fn ctor, const char *name, const cfg_t *cfg, provider_t **out, char *err,
                 size_t errsz)
{
    char why[256] = "";
    *out = ctor(cfg, why, sizeof why);
    if (!*out && why[0]) {
        snprintf(err, errsz, "provider %s: %s", name, why);
        return false;
    }
    if (*out)
        p->all[p->n_all++] = *out;
    return true;
}

providers_t *providers_new(const cfg_t *cfg, char *err, size_t errsz)
{
    providers_t *p = calloc(1, sizeof *p);
    if (!p)
        log_oom();
    provider_t *aliyun = NULL, *tencent = NULL;
    if (!make(p, provider_aliyun_new, "aliyun", cfg, &aliyun, err, errsz) ||
        !make(p, provider_tencent_new, "tencent", cfg, &tencent, err, errsz) ||
        !make(p, provider_wechat_new, "wechat", cfg, &p->wechat, err, errsz) ||
        !make(p, provider_wecom_robot_new, "wecom_robot", cfg, &p->wecom_robot, err, errsz) ||
        !make(p, provider_wecom_app_new, "wecom_app", cfg, &p->wecom_app, err, errsz) ||
        !make(p, provider_sandbox_new, "sandbox", cfg, &p->sandbox, err, errsz))
        goto fail;
    const char *list = cfg_has(cfg, "sms_providers") ? cfg_str(cfg, "sms_providers") : "aliyun,tencent";
    char copy[256];
    snprintf(copy, sizeof copy, "%s", list ? list : "");
    char *save = NULL;
    for (char *w = strtok_r(copy, ", ", &save); w; w = strtok_r(NULL, ", ", &save)) {
        provider_t *sp;
        if (strcmp(w, "aliyun") == 0)
            sp = aliyun;
        else if (strcmp(w, "tencent") == 0)
            sp = tencent;
        else {
            snprintf(err, errsz, "sms_providers: unknown provider '%s' (aliyun, tencent)", w);
            goto fail;
        }
        if (!sp)
            continue; /* named but off: skipped */
        for (size_t i = 0; i < p->n_sms; i++)
            if (p->sms[i] == sp)
                sp = NULL;
        if (sp && p->n_sms < MAX_SMS)
            p->sms[p->n_sms++] = sp;
    }
    /* a real provider that is on but not in sms_providers is never used: say so */
    if (aliyun && !(p->n_sms > 0 && (p->sms[0] == aliyun || (p->n_sms > 1 && p->sms[1] == aliyun))))
        log_warn("provider aliyun is configured but not named in sms_providers: not used");
    if (tencent && !(p->n_sms > 0 && (p->sms[0] == tencent || (p->n_sms > 1 && p->sms[1] == tencent))))
        log_warn("provider tencent is configured but not named in sms_providers: not used");
    return p;
fail:
    providers_destroy(&p);
    return NULL;
}

void providers_destroy(providers_t **self)
{
    if (!self || !*self)
        return;
    for (size_t i = 0; i < (*self)->n_all; i++)
        provider_destroy(&(*self)->all[i]);
    free(*self);
    *self = NULL;
}

provider_t *providers_for(providers_t *self, const char *channel, const char *route)
{
    if (strcmp(channel, "sms") == 0) {
        if (self->n_sms == 0)
            return self->sandbox;
        for (size_t i = 0; route && i < self->n_sms; i++)
            if (strcmp(self->sms[i]->ops->name, route) == 0)
                return self->sms[i];
        return self->sms[0];
    }
    provider_t *p;
    if (strcmp(channel, "wechat") == 0)
        p = self->wechat;
    else if (strcmp(channel, "wecom_robot") == 0)
        p = self->wecom_robot;
    else if (strcmp(channel, "wecom_app") == 0)
        p = self->wecom_app;
    else
        return NULL;
    return p ? p : self->sandbox;
}

provider_t *providers_next_sms(providers_t *self, const char *after)
{
    for (size_t i = 0; i + 1 < self->n_sms; i++)
        if (strcmp(self->sms[i]->ops->name, after) == 0)
            return self->sms[i + 1];
    return NULL;
}

provider_t *const *providers_all(providers_t *self, size_t *n)
{
    *n = self->n_all;
    return self->all;
}

void providers_describe(const providers_t *self, char *out, size_t outsz)
{
    size_t used = 0;
    used += (size_t)snprintf(out, outsz, "sms=");
    if (self->n_sms == 0 && used < outsz)
        used += (size_t)snprintf(out + used, outsz - used, "sandbox");
    for (size_t i = 0; i < self->n_sms && used < outsz; i++)
        used += (size_t)snprintf(out + used, outsz - used, "%s%s", i ? "," : "", self->sms[i]->ops->name);
    if (used < outsz)
        snprintf(out + used, outsz - used, " wechat=%s wecom_robot=%s wecom_app=%s",
                 self->wechat ? self->wechat->ops->name : "sandbox",
                 self->wecom_robot ? self->wecom_robot->ops->name : "sandbox",
                 self->wecom_app ? self->wecom_app->ops->name : "sandbox");
}
