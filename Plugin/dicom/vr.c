/*
 * Value representations (PS3.5 section 6.2): which codes exist, how
 * explicit VR encodes their length, and how each is padded.
 */
#include "dicom.h"

/* Bit 0: valid; bit 1: long (32-bit) explicit length; bit 2: string;
 * bit 3: pads with NUL instead of space. Indexed by a small hash. */
enum { VR_VALID = 1, VR_LONG = 2, VR_STRING = 4, VR_NULPAD = 8 };

static unsigned vr_flags(oa_vr vr)
{
    switch (vr) {
    case OA_VR_AE: case OA_VR_AS: case OA_VR_CS: case OA_VR_DA:
    case OA_VR_DS: case OA_VR_DT: case OA_VR_IS: case OA_VR_LO:
    case OA_VR_LT: case OA_VR_PN: case OA_VR_SH: case OA_VR_ST:
    case OA_VR_TM:
        return VR_VALID | VR_STRING;
    case OA_VR_UC: case OA_VR_UR: case OA_VR_UT:
        return VR_VALID | VR_STRING | VR_LONG;
    case OA_VR_UI:
        return VR_VALID | VR_STRING | VR_NULPAD;
    case OA_VR_AT: case OA_VR_FD: case OA_VR_FL: case OA_VR_SL:
    case OA_VR_SS: case OA_VR_UL: case OA_VR_US:
        return VR_VALID | VR_NULPAD;
    case OA_VR_OB: case OA_VR_OD: case OA_VR_OF: case OA_VR_OL:
    case OA_VR_OV: case OA_VR_OW: case OA_VR_SQ: case OA_VR_SV:
    case OA_VR_UN: case OA_VR_UV:
        return VR_VALID | VR_LONG | VR_NULPAD;
    default:
        return 0;
    }
}

bool oa_vr_is_valid(oa_vr vr)
{
    return (vr_flags(vr) & VR_VALID) != 0;
}

bool oa_vr_has_long_length(oa_vr vr)
{
    return (vr_flags(vr) & VR_LONG) != 0;
}

bool oa_vr_is_string(oa_vr vr)
{
    return (vr_flags(vr) & VR_STRING) != 0;
}

uint8_t oa_vr_padding(oa_vr vr)
{
    return (vr_flags(vr) & VR_NULPAD) ? 0 : ' ';
}

void oa_vr_str(oa_vr vr, char out[3])
{
    out[0] = (char)(vr >> 8);
    out[1] = (char)(vr & 0xFF);
    out[2] = '\0';
    if (out[0] < 32 || out[0] > 126 || out[1] < 32 || out[1] > 126) {
        out[0] = '?';
        out[1] = '?';
    }
}

size_t oa_value_trim(const uint8_t *value, size_t len)
{
    while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\0'))
        len--;
    return len;
}
