/* provider_sms: what the two SMS providers share: a template's parameters (notify.template
 * sms_params, in order) taken by name from the message's params, and the checks before a send. */
#ifndef GRIDGOV_NOTIFY_PROVIDER_SMS_H
#define GRIDGOV_NOTIFY_PROVIDER_SMS_H

#include <jansson.h>
#include <stddef.h>

#include "provider.h"

/* The template's parameters as a JSON array of strings in sms_params order (Tencent's
 * TemplateParamSet), or NULL with why set when one is missing or not a string. Caller decrefs. */
json_t *sms_param_array(const message_t *m, char *why, size_t whysz);
/* The same as the JSON text of an object by name (Aliyun's TemplateParam: {"code":"1234"}), in
 * sms_params order. Caller frees. */
char *sms_param_object(const message_t *m, char *why, size_t whysz);

#endif
