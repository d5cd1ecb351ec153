#include "phone.h"

#include <stdio.h>
#include <string.h>

bool phone_normalize(const char *s, char out[PHONE_LEN])
{
    if (!s)
        return false;
    if (!strncmp(s, "+86", 3))
        s += 3;
    else if (!strncmp(s, "0086", 4))
        s += 4;
    else if (!strncmp(s, "86", 2) && strlen(s) == 13)
        s += 2;
    if (strlen(s) != 11 || strspn(s, "0123456789") != 11 || s[0] != '1' || s[1] < '3')
        return false;
    memcpy(out, s, 11);
    out[11] = '\0';
    return true;
}

void phone_mask(const char *s, char out[PHONE_LEN])
{
    char n[PHONE_LEN];
    if (!phone_normalize(s, n)) {
        snprintf(out, PHONE_LEN, "***");
        return;
    }
    snprintf(out, PHONE_LEN, "%.3s****%.4s", n, n + 7);
}
