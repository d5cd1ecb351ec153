/* render: how intake writes answers. Open311 in both formats (XML with the declaration, JSON as
 * the Spark-convention mapping: lists are top-level arrays), the native API's JSON, and the
 * ticket row shapes. Every writer fills an http_resp_t (status, content type, body). */
#ifndef INTAKE_RENDER_H
#define INTAKE_RENDER_H

#include <jansson.h>
#include <libpq-fe.h>

#include "http.h"

typedef enum { FMT_JSON, FMT_XML } fmt_t;

extern const char CT_JSON[];
extern const char CT_XML[];

/* <root><item>..</item>..</root> or [ {..}, .. ]. items: array of objects (borrowed). */
void render_o311_list(http_resp_t *r, fmt_t f, int status, const char *root, const char *item, const json_t *items);
/* <root>..</root> or {..}. */
void render_o311_object(http_resp_t *r, fmt_t f, int status, const char *root, const json_t *obj);
/* The answer to POST requests: [{"service_request_id","service_notice","account_id"}] /
 * <service_requests><request>..</request></service_requests>, status 200. account_id NULL (the
 * client sent none) leaves it out of the JSON, where RequestResponse types it as a string and a
 * null fails validators, and writes an empty <account_id/> in XML, as the specification's example
 * and the clients' fixtures show. rating_code (NULL or "" for none) is gridgov's addition, the
 * reporter's secret for rating the outcome; RequestResponse allows members it does not name. */
void render_o311_created(http_resp_t *r, fmt_t f, const char *code, const char *notice, const char *account_id,
                         const char *rating_code);
/* Open311 errors: [{"code":..,"description":..}] / <errors><error>..</error></errors>. */
void render_o311_error(http_resp_t *r, fmt_t f, int status, const char *description);
/* Native errors: {"error":{"code","message","field"}}. */
void render_api_error(http_resp_t *r, int status, const char *code, const char *field, const char *message);
void render_json(http_resp_t *r, int status, const json_t *v);

/* A ticket row (ticket_store.h columns) as an Open311 request / a native ticket. New references. */
json_t *render_ticket_open311(const PGresult *res, int row);
json_t *render_ticket_native(const PGresult *res, int row);

#endif
