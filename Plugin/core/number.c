/*
 * Numbers written as text: the decimal of a 128-bit value, for UIDs of
 * the "2.25" root (PS3.5 B.2), made by the anonymizer and the DICOMDIR
 * writer.
 */
#include "core.h"

#include <stdbool.h>
#include <string.h>

/* Decimal of a 128-bit big-endian number. */
size_t oa_u128_decimal(const uint8_t in[16], char *out, size_t size)
{
    uint8_t num[16];
    char rev[48];
    size_t n = 0, i;
    bool zero;

    memcpy(num, in, 16);
    do {
        unsigned rem = 0;
        zero = true;
        for (i = 0; i < 16; i++) {
            unsigned cur = (rem << 8) | num[i];
            num[i] = (uint8_t)(cur / 10);
            rem = cur % 10;
            if (num[i])
                zero = false;
        }
        rev[n++] = (char)('0' + rem);
    } while (!zero && n < sizeof(rev));
    if (n + 1 > size)
        return 0;
    for (i = 0; i < n; i++)
        out[i] = rev[n - 1 - i];
    out[n] = '\0';
    return n;
}
