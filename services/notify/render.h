/* render: a template's text with its {name} placeholders filled in, within each channel's limits.
 *
 * Placeholders are {name} with name [a-z_][a-z0-9_]*; any other brace is text. Values come from a
 * JSON object of strings (the variables the planner read for one recipient). A placeholder whose
 * name has no value (absent or null) is an error, never a silent blank: a resident told "您的诉求
 * 已派至办理" with the unit missing has been told nothing.
 *
 * Limits count Unicode characters, not bytes (a WeChat `thing` is 20 characters of Chinese or of
 * ASCII alike), and a value cut short ends with "…" within the limit.
 *   WeChat template fields (typed by their key's prefix): thing ≤20, character_string ≤32,
 *     letter ≤32, number ≤32 digits, symbol ≤5, phrase ≤5, name ≤10, phone_number ≤17,
 *     car_number ≤8, amount ≤10; time and date are written from an ISO 8601 instant as the
 *     county's local time (2026年04月13日 09:00, 2026年04月13日).
 *   SMS template parameters: ≤RENDER_SMS_PARAM_MAX characters each (Aliyun's limit for a
 *     notification template's variable; Tencent's is not larger for the accounts we use).
 *
 * Pure functions; outputs are the caller's (buf_free, json_decref). */
#ifndef GRIDGOV_NOTIFY_RENDER_H
#define GRIDGOV_NOTIFY_RENDER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

#define RENDER_SMS_PARAM_MAX 35
/* A value in a text body (WeCom, the sandbox): long notes are cut so a WeCom text (2048 bytes)
 * keeps its template's words. */
#define RENDER_BODY_VALUE_MAX 300

/* Appends s cut to at most max characters ("…" as the last one when cut). max 0: unbounded. */
void render_shorten(const char *s, size_t max, buf_t *out);

/* tpl with every {name} replaced by vars[name] cut to value_max characters (0: unbounded),
 * appended to out. False with the reason in err on a missing name or a value that is not a
 * string; out then holds part of the text. */
bool render_text(const char *tpl, const json_t *vars, size_t value_max, buf_t *out, char *err, size_t errsz)
    __attribute__((warn_unused_result));

/* The SMS parameters: names (a JSON array of strings, the template's sms_params) to an object
 * name -> value, each value at most RENDER_SMS_PARAM_MAX characters. *out is the caller's. */
bool render_sms_params(const json_t *names, const json_t *vars, json_t **out, char *err, size_t errsz)
    __attribute__((warn_unused_result));

/* WeChat template data: fields ({"thing2": "{unit}", ...}) to {"thing2": {"value": "..."}, ...}
 * with each key's type limits applied. An unknown type, a number that is not digits or a time
 * that is not an instant is an error. *out is the caller's. */
bool render_wechat(const json_t *fields, const json_t *vars, json_t **out, char *err, size_t errsz)
    __attribute__((warn_unused_result));

#endif
