/*
 * Transfer syntaxes (PS3.5 section 10, PS3.6 Table A-1).  Only the
 * encoding matters to the reader and writer: explicit or implicit VR,
 * byte order, deflate, and whether pixel data is encapsulated.  Any UID
 * not listed but under 1.2.840.10008.1.2.4 / .5 / .6 is treated as an
 * encapsulated explicit little endian syntax (new compression syntaxes
 * keep that encoding).
 */
#include "dicom.h"

#include <string.h>

static const oa_ts ts_table[] = {
    {"1.2.840.10008.1.2", "Implicit VR Little Endian", false, false, false,
     false},
    {"1.2.840.10008.1.2.1", "Explicit VR Little Endian", true, false, false,
     false},
    {"1.2.840.10008.1.2.1.98", "Encapsulated Uncompressed Explicit VR Little Endian",
     true, false, false, true},
    {"1.2.840.10008.1.2.1.99", "Deflated Explicit VR Little Endian", true,
     false, true, false},
    {"1.2.840.10008.1.2.2", "Explicit VR Big Endian", true, true, false,
     false},
    {"1.2.840.10008.1.2.5", "RLE Lossless", true, false, false, true},
    {"1.2.840.10008.1.2.8.1", "Deflated Image Frame Compression", true, false,
     false, true},
};

/* Encapsulated explicit LE for compressed syntaxes not in the table. */
static const oa_ts ts_other_encapsulated = {
    NULL, "Encapsulated (compressed)", true, false, false, true};

const oa_ts *oa_ts_find(const char *uid, size_t len)
{
    size_t i;

    if (uid == NULL)
        return NULL;
    len = oa_value_trim((const uint8_t *)uid, len);
    /* A UID is digits and dots; anything else names no syntax. */
    for (i = 0; i < len; i++)
        if (!((uid[i] >= '0' && uid[i] <= '9') || uid[i] == '.'))
            return NULL;
    for (i = 0; i < sizeof(ts_table) / sizeof(ts_table[0]); i++) {
        if (strlen(ts_table[i].uid) == len &&
            memcmp(ts_table[i].uid, uid, len) == 0)
            return &ts_table[i];
    }
    /* JPEG family (.4.x), JPIP (.4.94/.95), MPEG, HEVC, JPEG-LS, JPEG 2000,
     * HTJ2K, JPEG XL: all encapsulated, explicit VR little endian. */
    if (len > 20 && memcmp(uid, "1.2.840.10008.1.2.4.", 20) == 0 &&
        uid[len - 1] != '.')
        return &ts_other_encapsulated;
    return NULL;
}

const oa_ts *oa_ts_implicit_le(void)
{
    return &ts_table[0];
}

const oa_ts *oa_ts_explicit_le(void)
{
    return &ts_table[1];
}

const oa_ts *oa_ts_explicit_be(void)
{
    return &ts_table[4];
}
