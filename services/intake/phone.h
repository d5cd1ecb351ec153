/* phone: mainland mobile numbers as the channels receive them (13800001111, +8613800001111,
 * 008613800001111, 8613800001111; Tencent's nationcode 86 and mobile apart) and as logs may
 * show them (138****1111). */
#ifndef INTAKE_PHONE_H
#define INTAKE_PHONE_H

#include <stdbool.h>

#define PHONE_LEN 12 /* 11 digits and the NUL */

/* The 11-digit number of s, with a +86 / 0086 / 86 prefix dropped; false when s is not a
 * mainland mobile number (1[3-9] and 9 digits). */
bool phone_normalize(const char *s, char out[PHONE_LEN]) __attribute__((warn_unused_result));
/* 138****1111 for logs; anything that is not a number shows as "***". */
void phone_mask(const char *s, char out[PHONE_LEN]);

#endif
