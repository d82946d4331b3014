/*
 * The streaming reader (PS3.10 framing, PS3.5 encoding).
 *
 * The whole instance is in memory (Orthanc hands us a buffer; the command
 * line tool reads the file), so the reader walks it with an index and
 * passes borrowed pointers to the handler: no value is copied here.  A
 * deflated dataset is inflated once into a buffer with a ceiling.
 *
 * Safety rules, checked everywhere:
 *  - every length read from the input is compared with what remains of
 *    the enclosing container before it is used;
 *  - sequence nesting is limited (opts.max_depth) and each level of
 *    recursion is one level of nesting, so the stack is bounded;
 *  - nothing is allocated from an input length except the inflate buffer,
 *    which has its own ceiling.
 *
 * Real-world defects follow one policy each (OA_DEFECT_*, README "Reader
 * defect policies"); with opts.strict they are refused instead.
 */
#include "dicom.h"

#include <string.h>
#include <zlib.h>

/* How the current dataset is encoded. */
typedef struct enc {
    bool explicit_vr;
    bool big_endian;
} enc;

typedef struct reader {
    const uint8_t *data; /* the dataset bytes (inflated if deflated) */
    size_t len;
    const oa_dicom_handler *h;
    oa_error *err;
    unsigned max_depth;
    bool strict;
    unsigned defects;
    unsigned suppress; /* > 0 while inside a skipped sequence */
    unsigned dry;      /* > 0 during a dry run (un_value_is_sequence) */
    size_t un_end;     /* end of the UN value read as a sequence, or 0 */
    unsigned long elements; /* element headers read */
} reader;

/* How a dataset scan ended. */
typedef enum scan_end {
    END_EOF,       /* reached the end of the defined length or the input */
    END_ITEM,      /* item delimitation item */
    END_SEQUENCE   /* sequence delimitation item (wrong delimiter) */
} scan_end;

typedef struct header {
    uint32_t tag;
    oa_vr vr;
    uint32_t length;
    size_t header_len;
} header;

static inline uint16_t rd16(const uint8_t *p, bool be)
{
    return be ? (uint16_t)((p[0] << 8) | p[1])
              : (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t rd32(const uint8_t *p, bool be)
{
    return be ? ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
                    ((uint32_t)p[2] << 8) | (uint32_t)p[3]
              : (uint32_t)p[0] | ((uint32_t)p[1] << 8) |
                    ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static oa_status fail(reader *r, oa_status code, uint32_t tag, size_t off,
                      const char *what)
{
    return oa_error_at(r->err, code, tag, off, "%s", what);
}

static oa_status defect(reader *r, unsigned bit, uint32_t tag, size_t off,
                        const char *what)
{
    if (r->strict)
        return oa_error_at(r->err, OA_EPARSE, tag, off,
                           "strict mode: %s", what);
    r->defects |= bit;
    return OA_OK;
}

/* VR for a tag in implicit VR. */
static oa_vr implicit_vr(uint32_t tag)
{
    return oa_dict_vr(tag);
}

/*
 * Read the header of the element at `pos`; the header must end before
 * `end`.  Items and delimiters ((FFFE,xxxx)) always have a 32-bit length
 * and no VR.
 */
static oa_status read_header(reader *r, size_t pos, size_t end, enc e,
                             header *h)
{
    const uint8_t *p = r->data + pos;
    uint16_t group, element;
    oa_status rc;

    if (end - pos < 8)
        return fail(r, OA_EPARSE, OA_NO_TAG, pos,
                    "truncated element header");
    group = rd16(p, e.big_endian);
    element = rd16(p + 2, e.big_endian);
    h->tag = OA_TAG(group, element);
    if (group == 0xFFFE) {
        h->vr = 0;
        h->length = rd32(p + 4, e.big_endian);
        h->header_len = 8;
        return OA_OK;
    }
    if (!e.explicit_vr) {
        h->vr = implicit_vr(h->tag);
        h->length = rd32(p + 4, e.big_endian);
        h->header_len = 8;
        return OA_OK;
    }
    h->vr = OA_VR_CODE(p[4], p[5]);
    if (oa_vr_is_valid(h->vr)) {
        if (oa_vr_has_long_length(h->vr)) {
            if (end - pos < 12)
                return fail(r, OA_EPARSE, h->tag, pos,
                            "truncated element header");
            h->length = rd32(p + 8, e.big_endian);
            h->header_len = 12;
        } else {
            h->length = rd16(p + 6, e.big_endian);
            h->header_len = 8;
        }
        return OA_OK;
    }
    /*
     * Not a VR.  Policy OA_DEFECT_BAD_VR: take the dictionary's VR and
     * read the length as that VR's explicit form would have it (16 bits at
     * offset 6, or 32 bits at offset 8), else as implicit VR (32 bits at
     * offset 4), whichever fits first; refuse if none does.
     */
    rc = defect(r, OA_DEFECT_BAD_VR, h->tag, pos,
                "invalid VR code in explicit VR dataset");
    if (rc != OA_OK)
        return rc;
    h->vr = implicit_vr(h->tag);
    if (!oa_vr_has_long_length(h->vr)) {
        h->length = rd16(p + 6, e.big_endian);
        h->header_len = 8;
        if (h->length <= end - pos - 8)
            return OA_OK;
    } else if (end - pos >= 12) {
        h->length = rd32(p + 8, e.big_endian);
        h->header_len = 12;
        if (h->length != OA_UNDEFINED_LENGTH &&
            h->length <= end - pos - 12)
            return OA_OK;
    }
    h->length = rd32(p + 4, e.big_endian);
    h->header_len = 8;
    if (h->length != OA_UNDEFINED_LENGTH && h->length > end - pos - 8)
        return fail(r, OA_EPARSE, h->tag, pos,
                    "invalid VR code in explicit VR dataset");
    return OA_OK;
}

static oa_status scan_dataset(reader *r, size_t *pos, size_t end, enc e,
                              unsigned depth, scan_end *how);

/* Emit helpers: silent while a skipped subtree is being walked. */
#define EMIT(r, cb, ...)                                                     \
    (((r)->suppress == 0 && (r)->h->cb != NULL)                              \
         ? (r)->h->cb((r)->h->user, __VA_ARGS__, (r)->err)                   \
         : OA_OK)
#define EMIT0(r, cb)                                                         \
    (((r)->suppress == 0 && (r)->h->cb != NULL)                              \
         ? (r)->h->cb((r)->h->user, (r)->err)                                \
         : OA_OK)

/*
 * Does the content of an undefined-length UN element (which PS3.5 6.2.2
 * says is implicit VR little endian) look explicit instead?  Policy
 * OA_DEFECT_UN_EXPLICIT: the first element of the first item has a valid
 * VR code that is also the dictionary's VR for its tag, or whose implicit
 * reading would not fit.
 */
static bool un_content_is_explicit(reader *r, size_t pos, size_t end)
{
    const uint8_t *p;
    uint32_t tag, implicit_len;
    oa_vr vr;

    /* item header (8) + element header (8) */
    if (end - pos < 16)
        return false;
    p = r->data + pos;
    if (rd16(p, false) != 0xFFFE || rd16(p + 2, false) != 0xE000)
        return false;
    p += 8;
    tag = OA_TAG(rd16(p, false), rd16(p + 2, false));
    if (OA_TAG_GROUP(tag) == 0xFFFE)
        return false;
    vr = OA_VR_CODE(p[4], p[5]);
    if (!oa_vr_is_valid(vr))
        return false;
    if (oa_dict_vr(tag) == vr)
        return true;
    implicit_len = rd32(p + 4, false);
    return implicit_len != OA_UNDEFINED_LENGTH &&
           implicit_len > end - pos - 16;
}

/*
 * Encapsulated data: items holding raw bytes (fragments), closed by a
 * sequence delimiter.  Used for pixel data and, by policy
 * OA_DEFECT_UNDEF_OBOW, for any other undefined-length OB/OW.
 */
static oa_status scan_fragments(reader *r, size_t *pos, size_t end, enc e,
                                unsigned depth)
{
    header h;
    oa_item frag;
    oa_status rc;

    for (;;) {
        if (*pos == end) {
            if (end != r->len)
                return fail(r, OA_EPARSE, OA_TAG_PIXEL_DATA, *pos,
                            "encapsulated data ends without a sequence "
                            "delimiter");
            /* Policy OA_DEFECT_NO_DELIMITER: at the end of the file the
             * missing delimiter is supplied by the writer. */
            return defect(r, OA_DEFECT_NO_DELIMITER, OA_TAG_PIXEL_DATA,
                          *pos, "encapsulated data ends at end of file "
                          "without a delimiter");
        }
        rc = read_header(r, *pos, end, e, &h);
        if (rc != OA_OK)
            return rc;
        if (h.tag == OA_TAG_SEQ_END) {
            *pos += 8;
            return OA_OK;
        }
        if (h.tag != OA_TAG_ITEM)
            return fail(r, OA_EPARSE, h.tag, *pos,
                        "expected a fragment item in encapsulated data");
        if (h.length == OA_UNDEFINED_LENGTH ||
            h.length > end - *pos - 8)
            return fail(r, OA_EPARSE, h.tag, *pos,
                        "fragment length exceeds the remaining input");
        frag.undefined_length = false;
        frag.length = h.length;
        frag.offset = *pos;
        frag.depth = depth + 1;
        rc = EMIT(r, fragment, &frag, r->data + *pos + 8);
        if (rc != OA_OK)
            return rc;
        *pos += 8 + (size_t)h.length;
    }
}

/*
 * The items of a sequence.  `seq_end` is the end of a defined-length
 * sequence, or the container's end for an undefined one (which then needs
 * its delimiter); `outer_end` is the end of the enclosing container.
 */
static oa_status scan_items(reader *r, size_t *pos, size_t seq_end,
                            size_t outer_end, bool undefined, enc e,
                            unsigned depth, uint32_t seq_tag)
{
    header h;
    oa_item item;
    oa_status rc;
    scan_end how;
    size_t item_end;

    for (;;) {
        if (*pos >= seq_end) {
            if (!undefined)
                return OA_OK;
            if (seq_end != r->len)
                return fail(r, OA_EPARSE, seq_tag, *pos,
                            "sequence of undefined length ends without "
                            "a delimiter");
            /* Policy OA_DEFECT_NO_DELIMITER: closed at end of file. */
            return defect(r, OA_DEFECT_NO_DELIMITER, seq_tag, *pos,
                          "sequence ends at end of file without a "
                          "delimiter");
        }
        rc = read_header(r, *pos, seq_end, e, &h);
        if (rc != OA_OK)
            return rc;
        if (h.tag == OA_TAG_SEQ_END) {
            if (!undefined) {
                /* A delimiter inside a defined-length sequence: accept
                 * it as the end (its length says the same). */
                rc = defect(r, OA_DEFECT_STRAY_DELIMITER, seq_tag, *pos,
                            "sequence delimiter in a defined-length "
                            "sequence");
                if (rc != OA_OK)
                    return rc;
            }
            *pos += 8;
            return OA_OK;
        }
        if (h.tag != OA_TAG_ITEM)
            return fail(r, OA_EPARSE, h.tag, *pos,
                        "expected an item in a sequence");
        item.offset = *pos;
        item.depth = depth + 1;
        item.undefined_length = h.length == OA_UNDEFINED_LENGTH;
        item.length = item.undefined_length ? 0 : h.length;
        *pos += 8;
        if (!item.undefined_length && h.length > seq_end - *pos)
            return fail(r, OA_EPARSE, OA_TAG_ITEM, item.offset,
                        "item length exceeds its sequence");
        rc = EMIT(r, item_begin, &item);
        if (rc != OA_OK)
            return rc;
        /* An undefined-length item in a defined-length sequence may only
         * be bounded by the enclosing container: some writers leave the
         * delimiter out of the sequence's length (policy
         * OA_DEFECT_ITEM_OVERRUN below). */
        item_end = item.undefined_length ? (undefined ? seq_end : outer_end)
                                         : *pos + h.length;
        rc = scan_dataset(r, pos, item_end, e, depth + 1, &how);
        if (rc != OA_OK)
            return rc;
        if (item.undefined_length && how == END_EOF) {
            if (item_end != r->len)
                return fail(r, OA_EPARSE, OA_TAG_ITEM, item.offset,
                            "item of undefined length ends without a "
                            "delimiter");
            rc = defect(r, OA_DEFECT_NO_DELIMITER, OA_TAG_ITEM, item.offset,
                        "item ends at end of file without a delimiter");
            if (rc != OA_OK)
                return rc;
        }
        if (!item.undefined_length && how != END_EOF) {
            /* A delimiter inside a defined-length item: the item's
             * length wins; what follows up to it is ignored. */
            rc = defect(r, OA_DEFECT_ITEM_OVERRUN, OA_TAG_ITEM,
                        item.offset,
                        "delimiter inside a defined-length item");
            if (rc != OA_OK)
                return rc;
            *pos = item_end;
            how = END_EOF;
        }
        rc = EMIT0(r, item_end);
        if (rc != OA_OK)
            return rc;
        if (how == END_SEQUENCE) {
            /* Policy OA_DEFECT_WRONG_DELIMITER: a sequence delimiter
             * where the item delimiter belongs ends both
             * (dcmReplaceWrongDelimitationItem). */
            return defect(r, OA_DEFECT_WRONG_DELIMITER, seq_tag, *pos - 8,
                          "sequence delimiter ends an item");
        }
        if (!undefined && *pos > seq_end) {
            /* The item ran past the sequence's defined length: the
             * sequence ends with it. */
            return defect(r, OA_DEFECT_ITEM_OVERRUN, seq_tag, item.offset,
                          "item runs past its sequence's length");
        }
    }
}

static oa_status scan_sequence(reader *r, size_t *pos, size_t end, enc e,
                               unsigned depth, const header *h,
                               oa_element *el);

/*
 * A defined-length UN value read as a sequence is bounded by its own
 * length, not by its container: a UN value is exactly `length` bytes, so
 * its elements and items must lie inside it, and the ITEM_OVERRUN repair
 * of scan_items (an undefined-length item running on past a defined-length
 * sequence, into the container) does not reach past it.  Were the bytes
 * after the value consulted, reading it as a sequence or as opaque bytes
 * would depend on what follows the element, which the writer changes
 * (stray delimiters and group lengths dropped, odd values padded,
 * delimiters added at the end of the file): a value opaque in the input
 * could come back as a sequence from our own output, swallow the elements
 * after it and no longer parse (fuzz crash-ecdd4ddf).
 *
 * One repair remains, policy OA_DEFECT_ITEM_OVERRUN: an item or sequence
 * delimiter whose tag is the last 4 bytes of the value and whose (zero)
 * length follows it is accepted (Philips private sequences written 4 bytes
 * short, fo-dicom GH626).  That depends on 4 bytes after the value, but
 * only on their being zero, and the writer never writes 4 zero bytes
 * after a value (group lengths, (gggg,0000), are dropped).
 */
static bool delimiter_past_un_value(const reader *r, size_t pos, size_t end,
                                    enc e)
{
    const uint8_t *p = r->data + pos;
    uint16_t element;

    if (end != r->un_end || end - pos != 4 || r->len - end < 4)
        return false;
    element = rd16(p + 2, e.big_endian);
    return rd16(p, e.big_endian) == 0xFFFE &&
           (element == 0xE00D || element == 0xE0DD) &&
           rd32(p + 4, e.big_endian) == 0;
}

static oa_status scan_un_value(reader *r, size_t *pos, enc e,
                               unsigned depth, const header *h,
                               oa_element *el)
{
    size_t saved = r->un_end;
    oa_status rc;

    r->un_end = *pos + h->length;
    rc = scan_sequence(r, pos, r->un_end, e, depth, h, el);
    r->un_end = saved;
    return rc;
}

/*
 * Is the defined-length UN value at `pos` a well-formed sequence?  Decided
 * by a silent dry run over it, bounded like the real scan (scan_un_value).
 * Dry runs do not nest (inside one, a UN is an opaque value), so the cost
 * is at most one extra pass per nesting level, never exponential.  Inside
 * a skipped sequence the question is asked all the same, so that skipping
 * a sequence walks the same bytes as reading it.
 */
static bool un_value_is_sequence(reader *r, size_t pos, uint32_t length,
                                 enc e, unsigned depth, uint32_t tag)
{
    oa_error scratch, *saved_err;
    const uint8_t *p = r->data + pos;
    size_t try_pos = pos;
    header h;
    oa_element el;
    oa_status rc;
    unsigned saved_defects;
    unsigned long saved_elements;

    if (r->dry > 0 || length < 8 || depth + 1 > r->max_depth)
        return false;
    if (!(rd16(p, false) == 0xFFFE && rd16(p + 2, false) == 0xE000))
        return false;
    saved_err = r->err;
    saved_defects = r->defects;
    saved_elements = r->elements;
    r->err = &scratch;
    r->suppress++;
    r->dry++;
    memset(&h, 0, sizeof(h));
    memset(&el, 0, sizeof(el));
    h.tag = tag;
    h.vr = OA_VR_UN;
    h.length = length;
    el.tag = tag;
    el.vr = OA_VR_UN;
    el.length = length;
    el.offset = pos;
    el.depth = depth;
    rc = scan_un_value(r, &try_pos, e, depth, &h, &el);
    r->dry--;
    r->suppress--;
    r->err = saved_err;
    /* What a dry run met does not count: a value taken for opaque bytes
     * holds no element (a file whose only elements were inside one would
     * be accepted, then written with no element at all). */
    r->defects = saved_defects;
    r->elements = saved_elements;
    /* past the end only by a delimiter_past_un_value() */
    return rc == OA_OK && try_pos >= pos + length;
}

static oa_status scan_sequence(reader *r, size_t *pos, size_t end, enc e,
                               unsigned depth, const header *h,
                               oa_element *el)
{
    oa_status rc;
    size_t seq_end;
    enc inner = e;
    bool skipped = false;

    if (depth + 1 > r->max_depth)
        return fail(r, OA_ELIMIT, h->tag, el->offset,
                    "sequence nesting deeper than the limit");
    if (h->length != OA_UNDEFINED_LENGTH && h->length > end - *pos)
        return fail(r, OA_EPARSE, h->tag, el->offset,
                    "sequence length exceeds the remaining input");
    seq_end = el->undefined_length ? end : *pos + h->length;
    if (el->vr == OA_VR_UN) {
        /* CP-246: the content of a UN sequence is implicit VR LE. */
        inner.explicit_vr = false;
        inner.big_endian = false;
        if (un_content_is_explicit(r, *pos, seq_end)) {
            rc = defect(r, OA_DEFECT_UN_EXPLICIT, h->tag, el->offset,
                        "explicit VR inside a UN sequence");
            if (rc != OA_OK)
                return rc;
            inner.explicit_vr = true;
        }
    }
    rc = EMIT(r, sequence_begin, el);
    if (rc == OA_SKIP) {
        skipped = true;
        r->suppress++;
    } else if (rc != OA_OK) {
        return rc;
    }
    if (h->tag == OA_TAG_PIXEL_DATA && el->undefined_length &&
        el->vr != OA_VR_SQ && el->vr != OA_VR_UN)
        rc = scan_fragments(r, pos, seq_end, inner, depth);
    else
        rc = scan_items(r, pos, seq_end, end, el->undefined_length, inner,
                        depth, h->tag);
    if (skipped)
        r->suppress--;
    if (rc != OA_OK)
        return rc;
    if (skipped)
        return OA_OK;
    return EMIT0(r, sequence_end);
}

static oa_status scan_dataset(reader *r, size_t *pos, size_t end, enc e,
                              unsigned depth, scan_end *how)
{
    header h;
    oa_element el;
    oa_status rc;

    while (*pos < end) {
        if (end - *pos < 8 && depth > 0 &&
            delimiter_past_un_value(r, *pos, end, e)) {
            h.tag = OA_TAG(0xFFFE, rd16(r->data + *pos + 2, e.big_endian));
            rc = defect(r, OA_DEFECT_ITEM_OVERRUN, h.tag, *pos,
                        "delimiter runs past the end of a UN value");
            if (rc != OA_OK)
                return rc;
            *pos += 8;
            *how = h.tag == OA_TAG_ITEM_END ? END_ITEM : END_SEQUENCE;
            return OA_OK;
        }
        if (end - *pos < 8 && depth == 0) {
            /* Policy OA_DEFECT_TRAILING: fewer bytes than a header at the
             * end of the file are ignored. */
            rc = defect(r, OA_DEFECT_TRAILING, OA_NO_TAG, *pos,
                        "trailing bytes after the last element");
            if (rc != OA_OK)
                return rc;
            *pos = end;
            break;
        }
        rc = read_header(r, *pos, end, e, &h);
        if (rc != OA_OK)
            return rc;
        if (OA_TAG_GROUP(h.tag) == 0xFFFE) {
            if (h.tag == OA_TAG_ITEM_END && depth > 0) {
                *pos += 8;
                *how = END_ITEM;
                return OA_OK;
            }
            if (h.tag == OA_TAG_SEQ_END && depth > 0) {
                *pos += 8;
                *how = END_SEQUENCE;
                return OA_OK;
            }
            /* Policy OA_DEFECT_STRAY_DELIMITER: a delimiter (or an item)
             * with no open container is skipped with its length. */
            if (h.length != OA_UNDEFINED_LENGTH &&
                h.tag != OA_TAG_ITEM_END && h.tag != OA_TAG_SEQ_END)
                return fail(r, OA_EPARSE, h.tag, *pos,
                            "item outside a sequence");
            rc = defect(r, OA_DEFECT_STRAY_DELIMITER, h.tag, *pos,
                        "delimiter outside a sequence");
            if (rc != OA_OK)
                return rc;
            *pos += 8;
            continue;
        }
        /* Group lengths and misplaced meta elements alone make no
         * dataset: the writer drops both. */
        if (OA_TAG_ELEMENT(h.tag) != 0x0000 &&
            !(depth == 0 && OA_TAG_GROUP(h.tag) == 0x0002))
            r->elements++;
        el.tag = h.tag;
        el.vr = h.vr;
        el.offset = *pos;
        el.depth = depth;
        el.big_endian = e.big_endian;
        el.undefined_length = h.length == OA_UNDEFINED_LENGTH;
        el.length = el.undefined_length ? 0 : h.length;
        el.value = NULL;
        *pos += h.header_len;

        if (h.vr == OA_VR_SQ && !e.explicit_vr && !el.undefined_length &&
            h.length >= 4 && h.length <= end - *pos &&
            !(rd16(r->data + *pos, e.big_endian) == 0xFFFE &&
              (rd16(r->data + *pos + 2, e.big_endian) == 0xE000 ||
               rd16(r->data + *pos + 2, e.big_endian) == 0xE0DD))) {
            /* Policy OA_DEFECT_BAD_VR: in implicit VR, an attribute the
             * dictionary calls SQ whose content is not items is kept as
             * an opaque UN value. */
            rc = defect(r, OA_DEFECT_BAD_VR, h.tag, el.offset,
                        "sequence attribute holding a non-sequence value");
            if (rc != OA_OK)
                return rc;
            h.vr = OA_VR_UN;
            el.vr = OA_VR_UN;
        }
        if (el.undefined_length && e.explicit_vr &&
            h.tag == OA_TAG_PIXEL_DATA && h.vr != OA_VR_OB &&
            h.vr != OA_VR_OW && h.vr != OA_VR_UN && h.vr != OA_VR_SQ)
            return fail(r, OA_EPARSE, h.tag, el.offset,
                        "encapsulated pixel data must be OB or OW");
        if (el.undefined_length || h.vr == OA_VR_SQ) {
            if (el.undefined_length && h.vr != OA_VR_SQ &&
                h.vr != OA_VR_UN && e.explicit_vr &&
                h.tag != OA_TAG_PIXEL_DATA) {
                if (h.vr != OA_VR_OB && h.vr != OA_VR_OW)
                    return fail(r, OA_EPARSE, h.tag, el.offset,
                                "undefined length on a VR that cannot "
                                "have one");
                /* Policy OA_DEFECT_UNDEF_OBOW: read as encapsulated
                 * fragments, written back the same. */
                rc = defect(r, OA_DEFECT_UNDEF_OBOW, h.tag, el.offset,
                            "undefined length on OB/OW");
                if (rc != OA_OK)
                    return rc;
            }
            if (!e.explicit_vr && el.undefined_length &&
                h.tag != OA_TAG_PIXEL_DATA)
                el.vr = OA_VR_SQ; /* implicit: undefined length = SQ */
            if (h.tag == OA_TAG_PIXEL_DATA && el.undefined_length &&
                !e.explicit_vr)
                el.vr = OA_VR_OB;
            if (h.tag != OA_TAG_PIXEL_DATA && el.undefined_length &&
                (h.vr == OA_VR_OB || h.vr == OA_VR_OW) && e.explicit_vr) {
                if (depth + 1 > r->max_depth)
                    return fail(r, OA_ELIMIT, h.tag, el.offset,
                                "nesting deeper than the limit");
                rc = EMIT(r, sequence_begin, &el);
                if (rc == OA_SKIP) {
                    r->suppress++;
                    rc = scan_fragments(r, pos, end, e, depth);
                    r->suppress--;
                    if (rc != OA_OK)
                        return rc;
                    continue;
                }
                if (rc != OA_OK)
                    return rc;
                rc = scan_fragments(r, pos, end, e, depth);
                if (rc != OA_OK)
                    return rc;
                rc = EMIT0(r, sequence_end);
                if (rc != OA_OK)
                    return rc;
                continue;
            }
            rc = scan_sequence(r, pos, end, e, depth, &h, &el);
            if (rc != OA_OK)
                return rc;
            continue;
        }

        if (h.length > end - *pos)
            return fail(r, OA_EPARSE, h.tag, el.offset,
                        "value length exceeds the remaining input");
        if (h.vr == OA_VR_UN && un_value_is_sequence(r, *pos, h.length, e,
                                                     depth, h.tag)) {
            /* A defined-length UN holding items (an SQ that some node
             * could not name): read as a sequence so that the attributes
             * inside are seen, and written back the same way.  Bounded
             * by the value, like the dry run that chose this. */
            rc = scan_un_value(r, pos, e, depth, &h, &el);
            if (rc != OA_OK)
                return rc;
            continue;
        }
        if (h.length & 1u) {
            /* Policy OA_DEFECT_ODD_LENGTH: accepted; the writer pads. */
            rc = defect(r, OA_DEFECT_ODD_LENGTH, h.tag, el.offset,
                        "value of odd length");
            if (rc != OA_OK)
                return rc;
        }
        el.value = r->data + *pos;
        rc = EMIT(r, element, &el);
        if (rc != OA_OK && rc != OA_SKIP)
            return rc;
        *pos += h.length;
    }
    *how = END_EOF;
    return OA_OK;
}

/* ------------------------------------------------------------------ */
/* Framing: preamble, meta group, transfer syntax                      */

/* Does an explicit VR little endian group-2 element start at `p`? */
static bool looks_like_meta(const uint8_t *p, size_t avail)
{
    if (avail < 8)
        return false;
    return rd16(p, false) == 0x0002 && oa_vr_is_valid(OA_VR_CODE(p[4], p[5]));
}

/* Could the element at `p` be implicit VR little endian: does its 32-bit
 * length fit? */
static bool plausible_implicit(const uint8_t *p, size_t avail)
{
    uint32_t len;

    if (avail < 8)
        return false;
    len = rd32(p + 4, false);
    return len == OA_UNDEFINED_LENGTH || len <= avail - 8;
}

/* Can the first element at `p` be read in encoding `e`? */
static bool plausible_in(enc e, const uint8_t *p, size_t avail)
{
    oa_vr vr;
    uint32_t len;

    if (avail < 8)
        return true;
    if (!e.explicit_vr)
        return plausible_implicit(p, avail);
    vr = OA_VR_CODE(p[4], p[5]);
    if (!oa_vr_is_valid(vr))
        return false;
    if (!oa_vr_has_long_length(vr))
        return rd16(p + 6, e.big_endian) <= avail - 8;
    if (avail < 12)
        return false;
    len = rd32(p + 8, e.big_endian);
    return len == OA_UNDEFINED_LENGTH || len <= avail - 12;
}

/*
 * Guess the encoding of a dataset from its first element: explicit VR if
 * bytes 4-5 are a VR code or it cannot be implicit, big endian if the
 * group reads smaller that way.
 */
static enc guess_encoding(const uint8_t *p, size_t avail)
{
    enc e = {true, false};
    uint16_t g_le, g_be;

    if (avail < 8)
        return e;
    g_le = rd16(p, false);
    g_be = rd16(p, true);
    e.big_endian = g_be < g_le && g_le != 0xFFFE;
    e.explicit_vr = oa_vr_is_valid(OA_VR_CODE(p[4], p[5])) ||
                    e.big_endian || !plausible_implicit(p, avail);
    return e;
}

static const oa_ts *ts_for(enc e)
{
    if (!e.explicit_vr)
        return oa_ts_implicit_le();
    return e.big_endian ? oa_ts_explicit_be() : oa_ts_explicit_le();
}

/*
 * Parse the meta group at `pos` (explicit VR little endian, always).
 * It ends where (0002,0000) says when that falls on an element boundary.
 * Policy OA_DEFECT_NO_META_LENGTH / META_WRONG_LENGTH: otherwise the meta
 * group is every element of group 0002 at its start (DCMTK's
 * dcmIgnoreFileMetaInformationGroupLength).
 */
static oa_status parse_meta(reader *r, size_t *pos, oa_parse_info *info)
{
    enc e = {true, false};
    header h;
    oa_status rc;
    size_t start = *pos;
    long declared = -1;
    const uint8_t *v;

    while (*pos < r->len && r->len - *pos >= 8 &&
           rd16(r->data + *pos, false) == 0x0002) {
        /* A group length that lands here ends the meta group: what
         * follows is the dataset, even if its first bytes read as group
         * 0002 (a big endian dataset starting with group 0200). */
        if (declared >= 0 && *pos - start == (size_t)declared + 12)
            break;
        rc = read_header(r, *pos, r->len, e, &h);
        if (rc != OA_OK)
            return rc;
        if (h.length == OA_UNDEFINED_LENGTH ||
            h.length > r->len - *pos - h.header_len)
            return fail(r, OA_EPARSE, h.tag, *pos,
                        "meta element length exceeds the input");
        v = r->data + *pos + h.header_len;
        switch (h.tag) {
        case OA_TAG(0x0002, 0x0000):
            if (h.length == 4)
                declared = (long)rd32(v, false);
            break;
        case OA_TAG(0x0002, 0x0002):
            info->meta_sop_class = v;
            info->meta_sop_class_len = h.length;
            break;
        case OA_TAG(0x0002, 0x0003):
            info->meta_sop_instance = v;
            info->meta_sop_instance_len = h.length;
            break;
        case OA_TAG_TRANSFER_SYNTAX:
            /* A UID has at most 64 characters: a longer one is unknown. */
            if (oa_value_trim(v, h.length) > 64)
                break;
            info->meta_ts_uid = (const char *)v;
            info->meta_ts_uid_len =
                (uint32_t)oa_value_trim(v, h.length);
            info->meta_ts = oa_ts_find((const char *)v, h.length);
            break;
        default:
            break;
        }
        *pos += h.header_len + h.length;
    }
    if (declared < 0) {
        rc = defect(r, OA_DEFECT_NO_META_LENGTH, OA_TAG(0x0002, 0x0000),
                    start, "meta group without a group length");
        if (rc != OA_OK)
            return rc;
    } else if ((size_t)declared + 12 != *pos - start) {
        rc = defect(r, OA_DEFECT_META_WRONG_LENGTH, OA_TAG(0x0002, 0x0000),
                    start, "meta group length disagrees with its content");
        if (rc != OA_OK)
            return rc;
    }
    return OA_OK;
}

/* Inflate a deflated dataset (raw deflate; a zlib header is tolerated). */
size_t oa_reader_inflate_limit(const oa_reader_opts *opts, size_t deflated)
{
    size_t abs = opts && opts->max_inflated ? opts->max_inflated
                                            : OA_READER_DEFAULT_MAX_INFLATED;
    unsigned ratio = opts && opts->max_inflate_ratio
                         ? opts->max_inflate_ratio
                         : OA_READER_DEFAULT_INFLATE_RATIO;
    size_t by_ratio;

    if (oa_size_mul(&by_ratio, deflated, ratio) != 0)
        by_ratio = SIZE_MAX;
    if (by_ratio < OA_READER_RATIO_FLOOR)
        by_ratio = OA_READER_RATIO_FLOOR;
    return by_ratio < abs ? by_ratio : abs;
}

/*
 * Inflate a deflated dataset (raw deflate; a zlib header is tolerated),
 * at most oa_reader_inflate_limit() bytes: the error says which limit
 * (absolute or ratio) stopped it, so that a user can tell a bomb from a
 * large file and raise the right option.
 */
static oa_status inflate_dataset(const uint8_t *in, size_t in_len,
                                 const oa_reader_opts *opts, oa_buf *out,
                                 oa_error *err, size_t at)
{
    size_t abs = opts && opts->max_inflated ? opts->max_inflated
                                            : OA_READER_DEFAULT_MAX_INFLATED;
    unsigned ratio = opts && opts->max_inflate_ratio
                         ? opts->max_inflate_ratio
                         : OA_READER_DEFAULT_INFLATE_RATIO;
    size_t max_out = oa_reader_inflate_limit(opts, in_len);

    z_stream zs;
    int zrc, window;
    oa_status rc;

    for (window = -15; window <= 15; window += 30) {
        memset(&zs, 0, sizeof(zs));
        if (inflateInit2(&zs, window) != Z_OK)
            return oa_error_set(err, OA_ENOMEM, "cannot start inflate");
        oa_buf_init(out, max_out);
        zs.next_in = (Bytef *)(uintptr_t)in;
        zs.avail_in = (uInt)(in_len > UINT32_MAX ? UINT32_MAX : in_len);
        zrc = Z_OK;
        while (zrc == Z_OK) {
            size_t chunk = in_len < 65536 ? 65536 : in_len;
            rc = oa_buf_reserve(out, chunk);
            if (rc == OA_ELIMIT && out->len < out->max)
                rc = oa_buf_reserve(out, out->max - out->len);
            if (rc != OA_OK) {
                inflateEnd(&zs);
                oa_buf_dispose(out);
                if (rc == OA_ELIMIT && max_out < abs)
                    return oa_error_at(err, OA_ELIMIT, OA_NO_TAG, at,
                                       "deflated dataset of %zu bytes "
                                       "inflates to more than %u times "
                                       "its size (a deflate bomb?): "
                                       "refused; the limit is "
                                       "MaxInflateRatio",
                                       in_len, ratio);
                if (rc == OA_ELIMIT)
                    return oa_error_at(err, OA_ELIMIT, OA_NO_TAG, at,
                                       "deflated dataset inflates past "
                                       "the ceiling of %zu MiB: refused; "
                                       "the limit is MaxInflatedSize",
                                       abs >> 20);
                return oa_error_set(err, rc, "out of memory inflating");
            }
            zs.next_out = oa_buf_data(out) + out->len;
            zs.avail_out = (uInt)((out->cap - 1 - out->len) > UINT32_MAX
                                      ? UINT32_MAX
                                      : out->cap - 1 - out->len);
            zrc = inflate(&zs, Z_NO_FLUSH);
            out->len = (size_t)((uint8_t *)zs.next_out - oa_buf_data(out));
            if (zrc == Z_BUF_ERROR && zs.avail_out > 0)
                break; /* truncated input */
            if (zrc == Z_BUF_ERROR)
                zrc = Z_OK;
        }
        inflateEnd(&zs);
        if (zrc == Z_STREAM_END ||
            (zrc == Z_BUF_ERROR && out->len > 0 && window < 0))
            return OA_OK;
        oa_buf_dispose(out);
    }
    return oa_error_at(err, OA_EPARSE, OA_NO_TAG, at,
                       "deflated dataset cannot be inflated");
}

size_t oa_dicom_working_memory(const uint8_t *data, size_t len,
                               const oa_reader_opts *opts)
{
    static const oa_dicom_handler null_handler;
    oa_parse_info info;
    reader r;
    size_t pos = 0, out = len, total;

    memset(&info, 0, sizeof(info));
    memset(&r, 0, sizeof(r));
    r.data = data;
    r.len = len;
    r.h = &null_handler;
    r.max_depth = OA_READER_DEFAULT_MAX_DEPTH;
    if (data != NULL) {
        if (len >= 132 && memcmp(data + 128, "DICM", 4) == 0)
            pos = 132;
        else if (len >= 4 && memcmp(data, "DICM", 4) == 0)
            pos = 4;
        if (looks_like_meta(data + pos, len - pos) &&
            parse_meta(&r, &pos, &info) == OA_OK && info.meta_ts != NULL &&
            info.meta_ts->deflated) {
            size_t inflated = oa_reader_inflate_limit(opts, len - pos);

            /* the inflated dataset, and the writer's output before it
             * deflates it again */
            if (oa_size_mul(&out, inflated, 2) != 0)
                out = SIZE_MAX;
        }
    }
    if (oa_size_add(&total, len, out) != 0 ||
        oa_size_add(&total, total, (size_t)1 << 20) != 0)
        return SIZE_MAX;
    return total;
}

oa_status oa_dicom_parse(const uint8_t *data, size_t len,
                         const oa_reader_opts *opts,
                         const oa_dicom_handler *handler,
                         oa_parse_info *info, oa_error *err)
{
    static const oa_dicom_handler null_handler;
    oa_parse_info local_info;
    reader r;
    size_t pos = 0;
    enc e, guess;
    oa_status rc;
    oa_buf inflated;
    scan_end how;
    const oa_ts *ts;

    oa_buf_init(&inflated, 0);
    if (info == NULL)
        info = &local_info;
    memset(info, 0, sizeof(*info));
    memset(&r, 0, sizeof(r));
    r.data = data;
    r.len = len;
    r.h = handler ? handler : &null_handler;
    r.err = err;
    r.max_depth = opts && opts->max_depth ? opts->max_depth
                                          : OA_READER_DEFAULT_MAX_DEPTH;
    r.strict = opts ? opts->strict : false;
    if (data == NULL && len > 0)
        return oa_error_set(err, OA_EINVAL, "no input");

    /* Preamble and "DICM".  Policy OA_DEFECT_NO_PREAMBLE: "DICM" at 0,
     * or a meta group at 0 without it, or a bare dataset; "DICM" at 128
     * that is not followed by a meta group is data, not a marker. */
    if (len >= 132 && memcmp(data + 128, "DICM", 4) == 0 &&
        looks_like_meta(data + 132, len - 132)) {
        info->has_preamble = true;
        pos = 132;
    } else if (len >= 4 && memcmp(data, "DICM", 4) == 0 &&
               looks_like_meta(data + 4, len - 4)) {
        pos = 4;
    }
    if (!info->has_preamble) {
        rc = defect(&r, OA_DEFECT_NO_PREAMBLE, OA_NO_TAG, 0,
                    "no preamble");
        if (rc != OA_OK)
            goto out;
    }
    if (looks_like_meta(data + pos, len - pos)) {
        info->has_meta = true;
        rc = parse_meta(&r, &pos, info);
        if (rc != OA_OK)
            goto out;
    }

    /* Transfer syntax of the dataset. */
    guess = guess_encoding(data + pos, len - pos);
    ts = info->meta_ts;
    if (ts == NULL) {
        /* Policy OA_DEFECT_NO_META_TS: detected from the data. */
        if (info->has_meta) {
            rc = defect(&r, OA_DEFECT_NO_META_TS, OA_TAG_TRANSFER_SYNTAX,
                        pos, "meta group without a known transfer syntax");
            if (rc != OA_OK)
                goto out;
        }
        ts = ts_for(guess);
        info->ts_guessed = true;
    } else if (!ts->deflated && len - pos >= 8 &&
               (ts->explicit_vr != guess.explicit_vr ||
                ts->big_endian != guess.big_endian) &&
               !plausible_in((enc){ts->explicit_vr, ts->big_endian},
                             data + pos, len - pos)) {
        /* Policy OA_DEFECT_TS_MISMATCH: the data wins over the label. */
        rc = defect(&r, OA_DEFECT_TS_MISMATCH, OA_TAG_TRANSFER_SYNTAX, pos,
                    "dataset not encoded in the meta's transfer syntax");
        if (rc != OA_OK)
            goto out;
        ts = ts_for(guess);
        info->ts_guessed = true;
    }
    info->ts = ts;
    info->dataset_offset = pos;
    e.explicit_vr = ts->explicit_vr;
    e.big_endian = ts->big_endian;

    if (ts->deflated) {
        rc = inflate_dataset(data + pos, len - pos, opts, &inflated, err,
                             pos);
        if (rc != OA_OK)
            goto out;
        r.data = oa_buf_data(&inflated);
        r.len = inflated.len;
        pos = 0;
        if (r.data == NULL) {
            static const uint8_t nothing[1];
            r.data = nothing;
        }
    }

    if (r.h->begin != NULL) {
        info->defects = r.defects;
        rc = r.h->begin(r.h->user, info, err);
        if (rc != OA_OK)
            goto out;
    }
    rc = scan_dataset(&r, &pos, r.len, e, 0, &how);
    if (rc == OA_OK && r.elements == 0)
        rc = oa_error_at(err, OA_EPARSE, OA_NO_TAG, info->dataset_offset,
                         "no DICOM element found");
    if (rc != OA_OK)
        goto out;
    info->defects = r.defects;
    if (r.h->end != NULL)
        rc = r.h->end(r.h->user, err);
out:
    info->defects = r.defects;
    oa_buf_dispose(&inflated);
    return rc;
}
