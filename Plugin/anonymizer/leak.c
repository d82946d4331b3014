/*
 * The leak check, the engine's third pass: the identifying values of the
 * input ("needles", collected by the pre-scan and the rewrite) are looked
 * for in every value of the output outside bulk data; a hit fails the
 * instance (OA_ELEAK) with the tag, never the value.  The needles are
 * collected in needles.c; Clean (C) is freetext.c.
 */
#define _GNU_SOURCE
#include "engine_int.h"

#include <string.h>

#define LEAK_SCAN_MAX 65536   /* binary values larger than this are bulk */

/* ------------------------------------------------------------------ */
/* Pass 3: the leak check                                               */

static bool is_word_byte(uint8_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
           (c >= 'a' && c <= 'z') || c == '_' || c >= 0x80;
}

/* In binary values, bytes above 0x7F are data, not letters: only ASCII
 * letters, digits and '_' continue a word there. */
static bool is_ascii_word_byte(uint8_t c)
{
    return c < 0x80 && is_word_byte(c);
}

/* Does `needle` occur in `hay` as a whole word (not inside a longer run
 * of letters and digits)?  "77654033" is found in "77654033\CR1", not in
 * "177654033"; "TOSHIBA" is not found in "TOSHIBA_MEC".  Around a
 * person's name in text, bytes above 0x7F are letters (UTF-8, Latin-1:
 * "MULLER" is not "MULLERé"); elsewhere (`ascii`: binary values, and IDs,
 * which are ASCII) they are data ("\x80X1EXAMPLE\xfe" holds the ID
 * X1EXAMPLE). */
static bool contains_word(const uint8_t *hay, size_t n, const uint8_t *nd,
                          size_t len, bool ascii)
{
    const uint8_t *p = hay, *end = hay + n;
    bool (*word)(uint8_t) = ascii ? is_ascii_word_byte : is_word_byte;

    while ((size_t)(end - p) >= len) {
        const uint8_t *hit = memmem(p, (size_t)(end - p), nd, len);
        if (hit == NULL)
            return false;
        if ((hit == hay || !word(hit[-1]) || !word(nd[0])) &&
            (hit + len == end || !word(hit[len]) || !word(nd[len - 1])))
            return true;
        p = hit + 1;
    }
    return false;
}

/* Values from controlled vocabularies: a name that is also an anatomical
 * or coded term ("KNEE") is not a leak there.  IDs and dates are still
 * looked for in them (a DICOMDIR file ID may hold the Patient ID). */
static bool is_vocabulary(const oa_element *el)
{
    switch (el->tag) {
    case OA_TAG(0x0008, 0x0100): /* Code Value */
    case OA_TAG(0x0008, 0x0102): /* Coding Scheme Designator */
    case OA_TAG(0x0008, 0x0104): /* Code Meaning */
    case OA_TAG(0x0008, 0x0119): /* Long Code Value */
    case OA_TAG(0x0040, 0xA043): /* Concept Name Code Sequence */
        return true;
    default:
        return el->vr == OA_VR_CS;
    }
}

/* Names of equipment, protocols and sequences: terms chosen by vendors
 * and sites, which a patient's name may equal by chance. */
static bool is_equipment_term(const oa_element *el)
{
    switch (el->tag) {
    case OA_TAG(0x0008, 0x1010): /* Station Name */
    case OA_TAG(0x0008, 0x1090): /* Manufacturer's Model Name */
    case OA_TAG(0x0018, 0x0024): /* Sequence Name */
    case OA_TAG(0x0018, 0x1030): /* Protocol Name */
    case OA_TAG(0x0018, 0x1250): /* Receive Coil Name */
    case OA_TAG(0x0018, 0x1251): /* Transmit Coil Name */
    case OA_TAG(0x0018, 0x9005): /* Pulse Sequence Name */
    case OA_TAG(0x0018, 0x1210): /* Convolution Kernel */
        return true;
    default:
        return false;
    }
}

static oa_status leak_element(void *user, const oa_element *el, oa_error *err)
{
    oa_anonymizer *a = user;
    const uint8_t *folded;
    unsigned k;
    char tag[12];
    bool vocabulary, equipment;

    if (a->skip_leak_depth > 0 || el->value == NULL)
        return OA_OK;
    if (el->tag == OA_TAG_PIXEL_DATA || el->tag == OA_TAG(0x0012, 0x0063) ||
        (!oa_vr_is_string(el->vr) && el->length > LEAK_SCAN_MAX))
        return OA_OK;
    vocabulary = is_vocabulary(el);
    equipment = is_equipment_term(el);
    /* Text is compared without ASCII case: a name kept in a description
     * as "REVIEW DRAFNOKOVIC" or "Doe John" is "Drafnokovic^..." /
     * "DOE^JOHN".  Two exceptions for person names only: controlled
     * vocabularies are skipped (above), and equipment and protocol terms
     * (coil, station, model, protocol names) are compared with their
     * case, where a test patient called "KNEE" meets the "Knee" coil.
     * Binary values byte for byte. */
    folded = NULL;
    if (oa_vr_is_string(el->vr)) {
        size_t i;
        uint8_t *f;

        oa_buf_reset(&a->folded);
        if (oa_buf_reserve(&a->folded, el->length) != OA_OK)
            return oa_error_at(err, OA_ENOMEM, el->tag, el->offset,
                               "out of memory (leak check)");
        f = oa_buf_data(&a->folded);
        for (i = 0; i < el->length; i++)
            f[i] = oa_anon__fold(el->value[i]);
        folded = f;
    }
    for (k = 0; k < a->n_needles; k++) {
        const needle *nd = &a->needles[k];
        bool exact = folded == NULL || (nd->name && equipment);

        if (nd->name && vocabulary)
            continue;
        if (el->length >= nd->len &&
            contains_word(exact ? el->value : folded, el->length,
                          (const uint8_t *)(exact ? a->arena : a->arena_lc) +
                              nd->off,
                          nd->len, folded == NULL || !nd->name)) {
            oa_tag_format(nd->tag, tag);
            return oa_error_at(err, OA_ELEAK, el->tag, el->offset,
                               "an identifying value of %s was found in the "
                               "output", tag);
        }
    }
    return OA_OK;
}

static oa_status leak_sequence(void *user, const oa_element *el, oa_error *err)
{
    oa_anonymizer *a = user;
    (void)err;
    if (el->depth == 0 && el->tag == OA_TAG(0x0012, 0x0064))
        return OA_SKIP; /* our own code sequence */
    (void)a;
    return OA_OK;
}

oa_status oa_anon__leak_check(oa_anonymizer *a, const uint8_t *data,
                              size_t len, oa_error *err)
{
    oa_dicom_handler leak;

    memset(&leak, 0, sizeof(leak));
    leak.element = leak_element;
    leak.sequence_begin = leak_sequence;
    leak.user = a;
    return oa_dicom_parse(data, len, &a->reader_opts, &leak, NULL, err);
}
