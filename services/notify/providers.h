/* providers: which provider serves which channel, built once from the configuration.
 *
 * SMS goes through the providers named in `sms_providers`, in that order (a FAILOVER moves a
 * message to the next one); WeChat, the WeCom robot and WeCom app messages each have one. A
 * channel none of whose providers is configured is served by the sandbox, so nothing is lost and
 * `make run` without credentials still shows what would be sent.
 *
 * Ownership: providers_new returns an object that owns every provider in it; providers_destroy
 * frees them and NULLs the pointer. Pointers handed out stay valid until then. */
#ifndef GRIDGOV_NOTIFY_PROVIDERS_H
#define GRIDGOV_NOTIFY_PROVIDERS_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "provider.h"

typedef struct providers providers_t;

/* NULL with the reason in err when a provider is configured wrongly or sms_providers names an
 * unknown provider. */
providers_t *providers_new(const cfg_t *cfg, char *err, size_t errsz);
void providers_destroy(providers_t **self);

/* The provider to use for channel: the one named route when it serves that channel (a message's
 * route after a failover), else the channel's first. NULL for an unknown channel. */
provider_t *providers_for(providers_t *self, const char *channel, const char *route);

/* The SMS provider after the one named `after` in sms_providers; NULL when it was the last. */
provider_t *providers_next_sms(providers_t *self, const char *after);

/* Every distinct provider, for token checks and teardown: *n set to how many. */
provider_t *const *providers_all(providers_t *self, size_t *n);

/* "sms=aliyun,tencent wechat=sandbox …": what the log says at start. */
void providers_describe(const providers_t *self, char *out, size_t outsz);

#endif
