/*
 * Clean (C): free text without the identifying values the engine knows
 * of (the needles of needles.c).
 */
#include "engine_int.h"

#include <string.h>

/* Clean: the text without any identifying value we know of. */
oa_status oa_anon__clean_text(oa_anonymizer *a, const oa_element *el)
{
    size_t n = el->length, i;
    uint8_t *p;
    oa_status rc;
    unsigned k;

    oa_buf_reset(&a->scratch);
    rc = oa_buf_append(&a->scratch, el->value, n);
    if (rc != OA_OK)
        return rc;
    p = oa_buf_data(&a->scratch);
    for (k = 0; k < a->n_needles && p != NULL; k++) {
        const uint8_t *nd = (const uint8_t *)a->arena_lc + a->needles[k].off;
        size_t len = a->needles[k].len;
        for (i = 0; i + len <= a->scratch.len;) {
            size_t m = 0;

            while (m < len && oa_anon__fold(p[i + m]) == nd[m])
                m++;
            if (m == len) {
                memmove(p + i, p + i + len, a->scratch.len - i - len);
                a->scratch.len -= len;
            } else {
                i++;
            }
        }
    }
    return OA_OK;
}
