#include "csv.h"

#include <string.h>

bool csv_is_formula(const char *s)
{
    if (s[0] && strchr("=+-@\t\r", s[0]))
        return true;
    /* U+FF1D ＝, U+FF0B ＋, U+FF0D －, U+FF20 ＠ in UTF-8 */
    static const char *const fullwidth[] = {"\xEF\xBC\x9D", "\xEF\xBC\x8B", "\xEF\xBC\x8D", "\xEF\xBC\xA0"};
    for (size_t i = 0; i < sizeof fullwidth / sizeof fullwidth[0]; i++)
        if (!strncmp(s, fullwidth[i], 3))
            return true;
    return false;
}

void csv_field(buf_t *b, const char *s)
{
    bool formula = csv_is_formula(s);
    if (!formula && !strpbrk(s, ",\"\r\n")) {
        buf_puts(b, s);
        return;
    }
    buf_putc(b, '"');
    if (formula)
        buf_putc(b, '\'');
    for (; *s; s++) {
        if (*s == '"')
            buf_putc(b, '"');
        buf_putc(b, *s);
    }
    buf_putc(b, '"');
}
