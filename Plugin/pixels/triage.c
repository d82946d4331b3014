/*
 * pixels/triage.c: risk of burned-in text from the header alone, before
 * any pixel is read.  O(1): a handful of comparisons on copied values.
 */
#include "pixels_int.h"

#include <string.h>

#define T(g, e) OA_TAG(0x##g, 0x##e)

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* Does a backslash-separated value hold `want` as one value (or, with
 * `sub`, inside one)?  Case-insensitive, values trimmed. */
static bool has_value(const oa_pixels_attrs *a, uint32_t tag,
                      const char *want, bool sub)
{
    const oa_px_value *v = oa_px_find(a, tag);
    const char *s;
    size_t n = strlen(want), i = 0;

    if (v == NULL)
        return false;
    s = oa_px_str(a, v);
    while (i <= v->len) {
        size_t j = i, b, e;
        while (j < v->len && s[j] != '\\')
            j++;
        b = i;
        e = j;
        while (b < e && (s[b] == ' ' || s[b] == '\0'))
            b++;
        while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\0'))
            e--;
        for (size_t k = b; k + n <= e; k++) {
            size_t m = 0;
            if (!sub && (k != b || e - b != n))
                break;
            while (m < n && lower((unsigned char)s[k + m]) ==
                                lower((unsigned char)want[m]))
                m++;
            if (m == n)
                return true;
        }
        i = j + 1;
    }
    return false;
}

static const char *const sc_classes[] = {
    "1.2.840.10008.5.1.4.1.1.7",   "1.2.840.10008.5.1.4.1.1.7.1",
    "1.2.840.10008.5.1.4.1.1.7.2", "1.2.840.10008.5.1.4.1.1.7.3",
    "1.2.840.10008.5.1.4.1.1.7.4"
};

static const char *const risky_modalities[] = {"US", "IVUS", "XC", "ES",
                                               "OT"};

unsigned oa_px_triage(const oa_pixels_attrs *a, uint32_t *cleared)
{
    unsigned risks = 0;
    uint32_t bits = oa_px_uint(a, T(0028, 0100), 0);
    uint32_t high = oa_px_uint(a, T(0028, 0102), bits ? bits - 1 : 0);

    *cleared = 0;
    if (oa_px_equals(a, T(0028, 0301), "YES"))
        risks |= OA_PIXELS_RISK_BURNED_IN;
    for (size_t i = 0; i < sizeof risky_modalities / sizeof(char *); i++)
        if (oa_px_equals(a, T(0008, 0060), risky_modalities[i]))
            risks |= OA_PIXELS_RISK_MODALITY;
    for (size_t i = 0; i < sizeof sc_classes / sizeof(char *); i++)
        if (oa_px_equals(a, T(0008, 0016), sc_classes[i]))
            risks |= OA_PIXELS_RISK_SC_CLASS;
    if (has_value(a, T(0008, 0008), "SECONDARY", false) ||
        has_value(a, T(0008, 0008), "SCREEN SAVE", true) ||
        (has_value(a, T(0008, 0008), "DERIVED", false) &&
         oa_px_find(a, T(0008, 0064)) != NULL))
        risks |= OA_PIXELS_RISK_IMAGE_TYPE;
    if (has_value(a, T(0008, 103E), "dose", true))
        risks |= OA_PIXELS_RISK_DOSE;
    /* Overlays in the unused high bits of the pixel words (retired
     * style): Overlay Bits Allocated > 1, no Overlay Data, a bit position
     * above High Bit inside the word. */
    for (uint16_t g = 0x6000; g <= 0x601E; g += 2) {
        uint32_t oba = oa_px_uint(a, OA_TAG(g, 0x0100), 0);
        uint32_t pos = oa_px_uint(a, OA_TAG(g, 0x0102), 0);
        if (oa_px_find(a, OA_TAG(g, 0x0100)) == NULL || oba <= 1 ||
            oa_px_find(a, OA_TAG(g, 0x3000)) != NULL)
            continue;
        if (pos > high && pos < bits && pos < 32) {
            risks |= OA_PIXELS_RISK_OVERLAY_BITS;
            *cleared |= 1u << pos;
        }
    }
    return risks;
}
