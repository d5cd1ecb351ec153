/* provider: what every provider shares (provider.h): the outcome words and the destructor. */
#include "provider.h"

#include <stdlib.h>

const char *outcome_name(outcome_kind_t kind)
{
    /* notify.attempt.outcome's CHECK lists the same words (deploy/migrations/021_notify.sql) */
    static const char *const names[] = {"sent", "retry", "failover", "undeliverable", "permanent", "token"};
    if ((unsigned)kind >= sizeof names / sizeof names[0])
        return "retry";
    return names[kind];
}

void provider_destroy(provider_t **self)
{
    if (!self || !*self)
        return;
    (*self)->ops->destroy(*self);
    *self = NULL;
}
