/* ticket_input: an appeal as submitted, from either edge (Open311 form or native JSON), and the
 * one validation both share. Every rule here answers with a machine-readable error:
 * (http status, code, field, message). Strings are borrowed from the request's JSON tree. */
#ifndef INTAKE_TICKET_INPUT_H
#define INTAKE_TICKET_INPUT_H

#include <jansson.h>
#include <stdbool.h>

#include "catalog.h"

#define DESCRIPTION_MAX_CHARS 4000

typedef struct {
    const char *channel;        /* open311, api, grid_worker, hotline, wechat, sms */
    long long api_client_id;
    const char *jurisdiction_id;
    const char *service_code;
    const char *description;
    bool has_lat, has_long;
    double lat, lon;
    const char *lat_text, *long_text; /* Open311 sends text; kept for error messages */
    const char *address_string;
    const char *address_id;
    const json_t *attributes;   /* object: code -> string | array of strings (JSON: number ok) */
    const char *first_name, *last_name, *email, *phone, *device_id, *account_id, *media_url;
} ticket_input_t;

typedef struct {
    int status;        /* 400, 404, 422 ... */
    char code[40];     /* e.g. "invalid_location" */
    char field[64];
    char message[300]; /* human-readable, English with the Chinese where it helps */
} input_error_t;

/* Normalizes in place where the rules allow it (e.g. +86 phone prefix is dropped: *phone_out
 * receives the canonical number, owned by the caller's buffer of 16 bytes). Returns false with
 * the first error found. */
bool ticket_input_validate(ticket_input_t *in, const catalog_t *cat, char phone_out[16], json_t **attributes_out,
                           input_error_t *e) __attribute__((warn_unused_result));

/* Parses a decimal number strictly (no trailing junk, finite). */
bool parse_double(const char *s, double *out);

#endif
