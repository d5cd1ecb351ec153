/* field_form: a submission's answers checked against its form version's definition (the
 * field types are listed in deploy/migrations/027_field_work.sql, intake.field_form). Pure:
 * no database, so the unit tests run it on definitions of their own. */
#ifndef INTAKE_FIELD_FORM_H
#define INTAKE_FIELD_FORM_H

#include <jansson.h>
#include <stdbool.h>

typedef struct {
    json_t *failed;     /* [{item, label, service_code, priority, attributes}] of the failed checks that raise tickets */
    int failed_items;   /* failed check items, with or without a ticket to raise */
    json_t *households; /* household codes the answers name (to be checked in the database) */
    json_t *tickets;    /* ticket codes the answers name (likewise) */
} field_form_result_t;

typedef struct {
    char code[40];
    char field[64];
    char message[300];
} field_form_error_t;

/* True when answers fit the definition; out is filled either way (field_form_result_free). */
bool field_form_check(const json_t *definition, const json_t *answers, field_form_result_t *out, field_form_error_t *e)
    __attribute__((warn_unused_result));
void field_form_result_free(field_form_result_t *r);

#endif
