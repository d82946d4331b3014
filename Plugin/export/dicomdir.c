/*
 * DICOMDIR: the directory of a File-set for General Purpose media (PS3.10
 * section 8, PS3.11 STD-GEN-*), as PS3.3 Annex F's Basic Directory IOD
 * describes it.  Our own writer: one PATIENT record per Patient ID, one
 * STUDY per Study Instance UID, one SERIES per Series Instance UID, and
 * one leaf per instance whose record type follows its SOP class (IMAGE,
 * SR DOCUMENT, RT DOSE, PRESENTATION, ... from PS3.3 Table F.4-1, as data:
 * dicomdir_table.inc, generated from Resources/Reference/
 * dicomdir_records.tsv).  Each record carries the keys F.5 asks of it,
 * copied from the instance (the instances are already anonymized: the
 * directory holds nothing the files do not).
 *
 * The file is explicit VR little endian; records are defined-length items
 * of the Directory Record Sequence, in depth-first order, linked by byte
 * offsets from the start of the file (the preamble's first byte).  Sizes
 * do not depend on offsets, so one pass measures, a second patches the
 * offsets and writes.
 */
#include "export.h"

#include "../dicom/dicom.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#define DD_MAX_RECORDS 2000000u           /* instances + their parents */
#define DD_MAX_KEYS_BYTES ((size_t)1 << 20) /* one record's keys */
#define DD_MAX_NEST 16u                   /* sequences kept in a record */
#define DD_LAST_KEY_TAG OA_TAG(0x300A, 0x0007) /* no key after this tag */
#define DD_FILESET_SOP_CLASS "1.2.840.10008.1.3.10"

enum { DD_TYPE1, DD_TYPE1C, DD_TYPE2, DD_TYPE3 };

typedef struct dd_class {
    const char *uid;
    const char *record_type;
    bool single_level;     /* a top-level record: not in a 4-level tree */
} dd_class;

typedef struct dd_key {
    const char *record_type;
    uint32_t tag;
    const char *vr;        /* the dictionary's */
    int type;
} dd_key;

#include "dicomdir_table.inc"

enum { LEVEL_PATIENT, LEVEL_STUDY, LEVEL_SERIES, LEVEL_LEAF };

typedef struct dd_record {
    uint8_t *body;         /* the item's content, offsets patched later */
    size_t body_len;
    char *key;             /* Patient ID / Study / Series UID; NULL: leaf */
    uint32_t parent, first_child, last_child, next; /* indexes + 1; 0 none */
    uint32_t offset;       /* of the item tag in the file */
    uint32_t ordinal;      /* 1 = its parent's first child */
    uint32_t n_children;
    unsigned level;
} dd_record;

struct oa_dicomdir {
    dd_record *recs;
    uint32_t n, cap;
    uint32_t first_patient, last_patient, n_patients;
    EVP_MD_CTX *sha;       /* over the SOP Instance UIDs: the File-set UID */
};

/* ------------------------------------------------------------------ */
/* The keys of one instance                                             */

/* One top-level attribute of the instance that some record needs:
 * encoded as it goes into a record (explicit VR little endian). */
typedef struct dd_attr {
    uint32_t tag;
    size_t off, len;       /* in dd_scan.enc */
} dd_attr;

#define DD_MAX_ATTRS 64u

typedef struct dd_scan {
    oa_buf enc;            /* the encoded attributes, one after another */
    dd_attr attrs[DD_MAX_ATTRS];
    unsigned n_attrs;
    unsigned seq_depth;    /* > 0: inside a kept sequence */
    size_t seq_start;      /* where it started in enc */
    uint32_t seq_tag;
    bool done;             /* past the last key: the parse was stopped */
    char ts_uid[65];
    char sop_class[65], sop_instance[65];
} dd_scan;

static bool is_wanted(uint32_t tag)
{
    size_t i;

    if (tag == OA_TAG(0x0008, 0x0016) || tag == OA_TAG(0x0008, 0x0018))
        return true;
    for (i = 0; i < sizeof(dd_keys) / sizeof(dd_keys[0]); i++)
        if (dd_keys[i].tag == tag)
            return true;
    return false;
}

static bool long_form(oa_vr vr)
{
    return vr == OA_VR_SQ || oa_vr_has_long_length(vr);
}

/* An element header, explicit VR little endian. */
static oa_status put_header(oa_buf *b, uint32_t tag, oa_vr vr, uint32_t len)
{
    uint8_t h[12];
    char s[3];
    size_t n;

    oa_put_le16(h, (uint16_t)(tag >> 16));
    oa_put_le16(h + 2, (uint16_t)tag);
    if (tag == OA_TAG_ITEM || tag == OA_TAG_ITEM_END || tag == OA_TAG_SEQ_END) {
        oa_put_le32(h + 4, len);
        return oa_buf_append(b, h, 8);
    }
    oa_vr_str(vr, s);
    h[4] = (uint8_t)s[0];
    h[5] = (uint8_t)s[1];
    if (long_form(vr)) {
        h[6] = h[7] = 0;
        oa_put_le32(h + 8, len);
        n = 12;
    } else {
        if (len > 0xFFFFu)
            return OA_ELIMIT;
        oa_put_le16(h + 6, (uint16_t)len);
        n = 8;
    }
    return oa_buf_append(b, h, n);
}

/* Width of one number of a binary VR (to swap big endian values). */
static unsigned unit_size(oa_vr vr)
{
    switch (vr) {
    case OA_VR_US: case OA_VR_SS: case OA_VR_OW: return 2;
    case OA_VR_UL: case OA_VR_SL: case OA_VR_FL: case OA_VR_OF:
    case OA_VR_OL: case OA_VR_AT: return 4;
    case OA_VR_FD: case OA_VR_OD: case OA_VR_SV: case OA_VR_UV:
    case OA_VR_OV: return 8;
    default: return 1;
    }
}

/* An element with its value, padded to even length. */
static oa_status put_element(oa_buf *b, uint32_t tag, oa_vr vr,
                             const uint8_t *value, uint32_t len,
                             bool big_endian)
{
    uint32_t padded = len + (len & 1u);
    unsigned u = big_endian ? unit_size(vr) : 1;
    size_t start;
    oa_status rc;

    rc = put_header(b, tag, vr, padded);
    if (rc != OA_OK)
        return rc;
    start = b->len;
    if (len > 0 && (rc = oa_buf_append(b, value, len)) != OA_OK)
        return rc;
    if (u > 1) {   /* big endian numbers become little endian */
        uint8_t *p = oa_buf_data(b) + start;
        uint32_t i, k;

        for (i = 0; i + u <= len; i += u)
            for (k = 0; k < u / 2; k++) {
                uint8_t t = p[i + k];
                p[i + k] = p[i + u - 1 - k];
                p[i + u - 1 - k] = t;
            }
    }
    if (len & 1u)
        rc = oa_buf_append_byte(b, oa_vr_padding(vr));
    return rc;
}

static void copy_string(char *out, size_t size, const uint8_t *v, size_t n)
{
    n = oa_value_trim(v, n);   /* trailing spaces and NULs */
    if (n >= size)
        n = size - 1;
    memcpy(out, v, n);
    out[n] = '\0';
}

static oa_status scan_begin(void *user, const oa_parse_info *info,
                            oa_error *err)
{
    dd_scan *s = user;

    (void)err;
    if (info->meta_ts_uid != NULL)
        copy_string(s->ts_uid, sizeof(s->ts_uid),
                    (const uint8_t *)info->meta_ts_uid, info->meta_ts_uid_len);
    else if (info->ts != NULL && info->ts->uid != NULL)
        snprintf(s->ts_uid, sizeof(s->ts_uid), "%s", info->ts->uid);
    return OA_OK;
}

static oa_status scan_element(void *user, const oa_element *el, oa_error *err)
{
    dd_scan *s = user;
    oa_vr vr = el->vr;
    oa_status rc;

    if (s->seq_depth > 0) {
        if (vr == OA_VR_UN && oa_dict_vr(el->tag) != OA_VR_UN &&
            oa_dict_vr(el->tag) != 0)
            vr = oa_dict_vr(el->tag);
        rc = put_element(&s->enc, el->tag, vr, el->value,
                         el->value ? el->length : 0, el->big_endian);
        if (rc == OA_OK && s->enc.len - s->seq_start > DD_MAX_KEYS_BYTES)
            rc = OA_ELIMIT;
        return rc == OA_OK ? OA_OK
                           : oa_error_at(err, rc, el->tag, el->offset,
                                         "DICOMDIR: a key sequence is too "
                                         "large or could not be copied");
    }
    if (el->depth != 0)
        return OA_OK;
    if (el->tag > DD_LAST_KEY_TAG) {
        s->done = true;
        return OA_ECANCELLED;   /* nothing more to read: stop the parse */
    }
    if (el->tag == OA_TAG(0x0008, 0x0016) && el->value != NULL)
        copy_string(s->sop_class, sizeof(s->sop_class), el->value,
                    el->length);
    if (el->tag == OA_TAG(0x0008, 0x0018) && el->value != NULL)
        copy_string(s->sop_instance, sizeof(s->sop_instance), el->value,
                    el->length);
    if (!is_wanted(el->tag) || s->n_attrs == DD_MAX_ATTRS)
        return OA_OK;
    if (vr == OA_VR_UN && oa_dict_vr(el->tag) != 0)
        vr = oa_dict_vr(el->tag);
    s->attrs[s->n_attrs].tag = el->tag;
    s->attrs[s->n_attrs].off = s->enc.len;
    /* A key's text without trailing spaces and NULs (writers leave NULs
     * that the VR does not allow), padded again as its VR wants. */
    rc = put_element(&s->enc, el->tag, vr, el->value,
                     el->value == NULL ? 0
                     : oa_vr_is_string(vr)
                         ? (uint32_t)oa_value_trim(el->value, el->length)
                         : el->length,
                     el->big_endian);
    if (rc != OA_OK)
        return oa_error_at(err, rc, el->tag, el->offset,
                           "DICOMDIR: the key could not be copied");
    s->attrs[s->n_attrs].len = s->enc.len - s->attrs[s->n_attrs].off;
    s->n_attrs++;
    return OA_OK;
}

static oa_status scan_sequence_begin(void *user, const oa_element *el,
                                     oa_error *err)
{
    dd_scan *s = user;
    oa_status rc;

    if (s->seq_depth == 0) {
        if (el->depth != 0)
            return OA_OK;
        if (el->tag > DD_LAST_KEY_TAG) {
            s->done = true;
            return OA_ECANCELLED;
        }
        if (!is_wanted(el->tag) || el->tag == OA_TAG_PIXEL_DATA ||
            s->n_attrs == DD_MAX_ATTRS)
            return OA_SKIP;
        s->seq_start = s->enc.len;
        s->seq_tag = el->tag;
    } else if (s->seq_depth >= DD_MAX_NEST) {
        return oa_error_at(err, OA_ELIMIT, el->tag, el->offset,
                           "DICOMDIR: key sequences nested too deep");
    }
    s->seq_depth++;
    rc = put_header(&s->enc, el->tag, OA_VR_SQ, OA_UNDEFINED_LENGTH);
    return rc == OA_OK ? OA_OK
                       : oa_error_at(err, rc, el->tag, el->offset,
                                     "out of memory (DICOMDIR)");
}

static oa_status scan_item_begin(void *user, const oa_item *item,
                                 oa_error *err)
{
    dd_scan *s = user;

    (void)item;
    (void)err;
    if (s->seq_depth == 0)
        return OA_OK;
    return put_header(&s->enc, OA_TAG_ITEM, 0, OA_UNDEFINED_LENGTH);
}

static oa_status scan_item_end(void *user, oa_error *err)
{
    dd_scan *s = user;

    (void)err;
    if (s->seq_depth == 0)
        return OA_OK;
    return put_header(&s->enc, OA_TAG_ITEM_END, 0, 0);
}

static oa_status scan_sequence_end(void *user, oa_error *err)
{
    dd_scan *s = user;
    oa_status rc;

    (void)err;
    if (s->seq_depth == 0)
        return OA_OK;
    rc = put_header(&s->enc, OA_TAG_SEQ_END, 0, 0);
    if (rc != OA_OK)
        return rc;
    if (--s->seq_depth == 0) {
        s->attrs[s->n_attrs].tag = s->seq_tag;
        s->attrs[s->n_attrs].off = s->seq_start;
        s->attrs[s->n_attrs].len = s->enc.len - s->seq_start;
        s->n_attrs++;
    }
    return OA_OK;
}

static const dd_attr *find_attr(const dd_scan *s, uint32_t tag)
{
    unsigned i;

    for (i = 0; i < s->n_attrs; i++)
        if (s->attrs[i].tag == tag)
            return &s->attrs[i];
    return NULL;
}

/* True if the attribute's value is empty (or only padding). */
static bool attr_empty(const dd_scan *s, const dd_attr *a)
{
    const uint8_t *p = oa_buf_data(&s->enc) + a->off;
    oa_vr vr = OA_VR_CODE(p[4], p[5]);
    size_t hdr = long_form(vr) ? 12 : 8;

    if (vr == OA_VR_SQ)
        return a->len <= hdr + 8;   /* header + sequence delimiter */
    return a->len <= hdr || oa_value_trim(p + hdr, a->len - hdr) == 0;
}

/* The value of a string attribute (trimmed, NUL-terminated) or "". */
static void attr_string(const dd_scan *s, uint32_t tag, char *out,
                        size_t size)
{
    const dd_attr *a = find_attr(s, tag);
    const uint8_t *p;
    size_t hdr;

    out[0] = '\0';
    if (a == NULL)
        return;
    p = oa_buf_data(&s->enc) + a->off;
    hdr = long_form(OA_VR_CODE(p[4], p[5])) ? 12 : 8;
    if (a->len >= hdr)
        copy_string(out, size, p + hdr, a->len - hdr);
}

/* ------------------------------------------------------------------ */
/* Records                                                              */

static const dd_class *class_find(const char *uid)
{
    size_t lo = 0, hi = sizeof(dd_classes) / sizeof(dd_classes[0]);

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(dd_classes[mid].uid, uid);

        if (c == 0)
            return &dd_classes[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const char *oa_dicomdir_record_type(const char *sop_class_uid)
{
    const dd_class *c = class_find(sop_class_uid);

    if (c == NULL)
        return "IMAGE";
    return c->single_level ? NULL : c->record_type;
}

bool oa_dicomdir_file_id_ok(const char *id)
{
    size_t comp = 0, ncomp = 0;
    const char *p;

    if (id == NULL || id[0] == '\0')
        return false;
    for (p = id;; p++) {
        if (*p == '/' || *p == '\0') {
            if (comp == 0)
                return false;
            ncomp++;
            comp = 0;
            if (*p == '\0')
                break;
            continue;
        }
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_') || ++comp > 8)
            return false;
    }
    return ncomp <= 8;
}

void oa_dicomdir_file_id(char out[OA_DICOMDIR_FILE_ID_MAX], unsigned patient,
                         unsigned study, unsigned series, unsigned instance)
{
    snprintf(out, OA_DICOMDIR_FILE_ID_MAX, "DICOM/P%07u/S%07u/S%07u/I%07u",
             patient % 10000000u, study % 10000000u, series % 10000000u,
             instance % 10000000u);
}

oa_status oa_dicomdir_new(oa_dicomdir **out)
{
    oa_dicomdir *d = oa_calloc(1, sizeof(*d));

    *out = NULL;
    if (d == NULL)
        return OA_ENOMEM;
    d->sha = EVP_MD_CTX_new();
    if (d->sha == NULL || EVP_DigestInit_ex(d->sha, EVP_sha256(), NULL) != 1) {
        oa_dicomdir_free(d);
        return OA_ENOMEM;
    }
    *out = d;
    return OA_OK;
}

void oa_dicomdir_free(oa_dicomdir *d)
{
    uint32_t i;

    if (d == NULL)
        return;
    for (i = 0; i < d->n; i++) {
        oa_free(d->recs[i].body);
        oa_free(d->recs[i].key);
    }
    oa_free(d->recs);
    EVP_MD_CTX_free(d->sha);
    oa_free(d);
}

size_t oa_dicomdir_count(const oa_dicomdir *d)
{
    return d->n;
}

/* The body of a record: the four directory elements (offsets zero, patched
 * when written), the file reference of a leaf, then the keys of
 * `record_type` in tag order. */
/* A Type 1 key the instance lacks or left empty (an anonymized Study ID,
 * say) cannot stay empty in the record: a value that says nothing, the
 * record's rank for numbers and IDs. */
static oa_status put_dummy(oa_buf *b, const dd_key *k, uint32_t ordinal)
{
    oa_vr vr = OA_VR_CODE(k->vr[0], k->vr[1]);
    char v[16];

    if (vr == OA_VR_DA)
        snprintf(v, sizeof(v), "19000101");
    else if (vr == OA_VR_TM)
        snprintf(v, sizeof(v), "000000");
    else if (k->tag == OA_TAG(0x0008, 0x0060))
        snprintf(v, sizeof(v), "OT");
    else if (vr == OA_VR_IS || vr == OA_VR_SH || vr == OA_VR_LO)
        snprintf(v, sizeof(v), "%u", ordinal);
    else
        v[0] = '\0';  /* UIDs, codes, sequences: nothing to invent */
    return put_element(b, k->tag, vr, (const uint8_t *)v, (uint32_t)strlen(v),
                       false);
}

static oa_status make_body(oa_buf *b, const dd_scan *s, const char *record_type,
                           const char *file_id, uint32_t ordinal)
{
    static const uint8_t zero4[4] = {0, 0, 0, 0};
    uint8_t in_use[2] = {0xFF, 0xFF};
    size_t i, n = strlen(record_type);
    oa_status rc;

    rc = put_element(b, OA_TAG(0x0004, 0x1400), OA_VR_UL, zero4, 4, false);
    if (rc == OA_OK)
        rc = put_element(b, OA_TAG(0x0004, 0x1410), OA_VR_US, in_use, 2,
                         false);
    if (rc == OA_OK)
        rc = put_element(b, OA_TAG(0x0004, 0x1420), OA_VR_UL, zero4, 4,
                         false);
    if (rc == OA_OK)
        rc = put_element(b, OA_TAG(0x0004, 0x1430), OA_VR_CS,
                         (const uint8_t *)record_type, (uint32_t)n, false);
    if (rc == OA_OK && file_id != NULL) {
        char id[OA_DICOMDIR_FILE_ID_MAX];
        size_t k;

        snprintf(id, sizeof(id), "%s", file_id);
        for (k = 0; id[k] != '\0'; k++)   /* components: '\' in DICOM */
            if (id[k] == '/')
                id[k] = '\\';
        rc = put_element(b, OA_TAG(0x0004, 0x1500), OA_VR_CS,
                         (const uint8_t *)id, (uint32_t)strlen(id), false);
        if (rc == OA_OK)
            rc = put_element(b, OA_TAG(0x0004, 0x1510), OA_VR_UI,
                             (const uint8_t *)s->sop_class,
                             (uint32_t)strlen(s->sop_class), false);
        if (rc == OA_OK)
            rc = put_element(b, OA_TAG(0x0004, 0x1511), OA_VR_UI,
                             (const uint8_t *)s->sop_instance,
                             (uint32_t)strlen(s->sop_instance), false);
        if (rc == OA_OK)
            rc = put_element(b, OA_TAG(0x0004, 0x1512), OA_VR_UI,
                             (const uint8_t *)s->ts_uid,
                             (uint32_t)strlen(s->ts_uid), false);
    }
    for (i = 0; rc == OA_OK && i < sizeof(dd_keys) / sizeof(dd_keys[0]); i++) {
        const dd_key *k = &dd_keys[i];
        const dd_attr *a;

        if (strcmp(k->record_type, record_type) != 0)
            continue;
        a = find_attr(s, k->tag);
        if (a != NULL && k->type == DD_TYPE1C && attr_empty(s, a))
            continue;   /* an empty Specific Character Set says nothing */
        if (a != NULL && k->type == DD_TYPE1 && attr_empty(s, a))
            rc = put_dummy(b, k, ordinal);
        else if (a != NULL)
            rc = oa_buf_append(b, oa_buf_data(&s->enc) + a->off, a->len);
        else if (k->type == DD_TYPE1)
            rc = put_dummy(b, k, ordinal);
        else if (k->type == DD_TYPE2)
            /* absent from the instance: present and empty in the record */
            rc = put_element(b, k->tag,
                             OA_VR_CODE(k->vr[0], k->vr[1]), NULL, 0, false);
    }
    return rc;
}

static oa_status add_record(oa_dicomdir *d, unsigned level, uint32_t parent,
                            const char *key, oa_buf *body, uint32_t *index)
{
    dd_record *r;

    if (d->n >= DD_MAX_RECORDS)
        return OA_ELIMIT;
    if (d->n == d->cap) {
        uint32_t ncap = d->cap ? d->cap * 2 : 64;
        dd_record *g = oa_realloc(d->recs, (size_t)ncap * sizeof(*g));

        if (g == NULL)
            return OA_ENOMEM;
        d->recs = g;
        d->cap = ncap;
    }
    r = &d->recs[d->n];
    memset(r, 0, sizeof(*r));
    r->level = level;
    r->parent = parent;
    r->body = oa_malloc(body->len ? body->len : 1);
    r->key = key != NULL ? oa_strdup(key) : NULL;
    if (r->body == NULL || (key != NULL && r->key == NULL)) {
        oa_free(r->body);
        oa_free(r->key);
        return OA_ENOMEM;
    }
    memcpy(r->body, oa_buf_data(body), body->len);
    r->body_len = body->len;
    d->n++;
    *index = d->n;   /* 1-based */
    r->ordinal = parent == 0 ? ++d->n_patients
                             : ++d->recs[parent - 1].n_children;
    if (parent == 0) {
        if (d->last_patient != 0)
            d->recs[d->last_patient - 1].next = *index;
        else
            d->first_patient = *index;
        d->last_patient = *index;
    } else {
        dd_record *p = &d->recs[parent - 1];

        if (p->last_child != 0)
            d->recs[p->last_child - 1].next = *index;
        else
            p->first_child = *index;
        p->last_child = *index;
    }
    return OA_OK;
}

/* The child of `parent` (0: the patients) with `key`, or 0. */
static uint32_t find_child(const oa_dicomdir *d, uint32_t parent,
                           const char *key)
{
    uint32_t i = parent == 0 ? d->first_patient
                             : d->recs[parent - 1].first_child;

    for (; i != 0; i = d->recs[i - 1].next)
        if (d->recs[i - 1].key != NULL && strcmp(d->recs[i - 1].key, key) == 0)
            return i;
    return 0;
}

oa_status oa_dicomdir_add(oa_dicomdir *d, const char *file_id,
                          const uint8_t *data, size_t len,
                          char assigned[OA_DICOMDIR_FILE_ID_MAX],
                          oa_error *err)
{
    static const char *const level_type[] = {"PATIENT", "STUDY", "SERIES"};
    static const uint32_t level_key[] = {OA_TAG(0x0010, 0x0020),
                                         OA_TAG(0x0020, 0x000D),
                                         OA_TAG(0x0020, 0x000E)};
    oa_dicom_handler h;
    dd_scan s;
    oa_buf body;
    const char *leaf_type;
    uint32_t parent = 0, index, ord[LEVEL_LEAF];
    unsigned level;
    char auto_id[OA_DICOMDIR_FILE_ID_MAX];
    oa_status rc;

    if (file_id != NULL && !oa_dicomdir_file_id_ok(file_id))
        return oa_error_set(err, OA_EINVAL,
                            "DICOMDIR: a file ID is 1 to 8 components of 1 "
                            "to 8 characters A-Z, 0-9 and _");
    memset(&s, 0, sizeof(s));
    oa_buf_init(&s.enc, (size_t)DD_MAX_ATTRS * DD_MAX_KEYS_BYTES);
    oa_buf_init(&body, (size_t)DD_MAX_ATTRS * DD_MAX_KEYS_BYTES);
    memset(&h, 0, sizeof(h));
    h.begin = scan_begin;
    h.element = scan_element;
    h.sequence_begin = scan_sequence_begin;
    h.item_begin = scan_item_begin;
    h.item_end = scan_item_end;
    h.sequence_end = scan_sequence_end;
    h.user = &s;
    rc = oa_dicom_parse(data, len, NULL, &h, NULL, err);
    if (rc == OA_ECANCELLED && s.done) {
        rc = OA_OK;
        oa_error_clear(err);
    }
    if (rc != OA_OK)
        goto out;
    if (s.sop_class[0] == '\0' || s.sop_instance[0] == '\0' ||
        s.ts_uid[0] == '\0') {
        rc = oa_error_set(err, OA_EINVAL,
                          "DICOMDIR: %s has no SOP Class UID, SOP Instance "
                          "UID or transfer syntax",
                          file_id != NULL ? file_id : "a file");
        goto out;
    }
    {
        char study[65], series[65];

        attr_string(&s, OA_TAG(0x0020, 0x000D), study, sizeof(study));
        attr_string(&s, OA_TAG(0x0020, 0x000E), series, sizeof(series));
        if (study[0] == '\0' || series[0] == '\0') {
            rc = oa_error_set(err, OA_EINVAL,
                              "DICOMDIR: a file has no Study Instance UID "
                              "or Series Instance UID: it has no place in "
                              "the directory");
            goto out;
        }
    }
    leaf_type = oa_dicomdir_record_type(s.sop_class);
    if (leaf_type == NULL) {
        rc = oa_error_set(err, OA_EUNSUPPORTED,
                          "DICOMDIR: SOP class %s has no record below a "
                          "series (a top-level object): export it without "
                          "Dicomdir", s.sop_class);
        goto out;
    }
    for (level = LEVEL_PATIENT; level < LEVEL_LEAF; level++) {
        char key[65];

        attr_string(&s, level_key[level], key, sizeof(key));
        index = find_child(d, parent, key);
        if (index == 0) {
            oa_buf_reset(&body);
            rc = make_body(&body, &s, level_type[level], NULL,
                           parent == 0 ? d->n_patients + 1
                                       : d->recs[parent - 1].n_children + 1);
            if (rc == OA_OK)
                rc = add_record(d, level, parent, key, &body, &index);
            if (rc != OA_OK)
                goto fail;
        }
        parent = index;
        ord[level] = d->recs[index - 1].ordinal;
    }
    if (file_id == NULL) {
        oa_dicomdir_file_id(auto_id, ord[LEVEL_PATIENT], ord[LEVEL_STUDY],
                            ord[LEVEL_SERIES],
                            d->recs[parent - 1].n_children + 1);
        file_id = auto_id;
    }
    if (assigned != NULL)
        snprintf(assigned, OA_DICOMDIR_FILE_ID_MAX, "%s", file_id);
    oa_buf_reset(&body);
    rc = make_body(&body, &s, leaf_type, file_id,
                   d->recs[parent - 1].n_children + 1);
    if (rc == OA_OK)
        rc = add_record(d, LEVEL_LEAF, parent, NULL, &body, &index);
    if (rc != OA_OK)
        goto fail;
    EVP_DigestUpdate(d->sha, s.sop_instance, strlen(s.sop_instance) + 1);
    goto out;
fail:
    rc = oa_error_set(err, rc,
                      rc == OA_ELIMIT ? "DICOMDIR: more than %u records or "
                                        "a record too large"
                                      : "DICOMDIR: out of memory (%u)",
                      DD_MAX_RECORDS);
out:
    oa_buf_dispose(&s.enc);
    oa_buf_dispose(&body);
    return rc;
}

/* ------------------------------------------------------------------ */
/* The file                                                             */

/* "2.25." + the first 128 bits of SHA-256 over every SOP Instance UID, in
 * decimal: the same File-set gets the same UID. */
static void fileset_uid(oa_dicomdir *d, char out[65])
{
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *copy = EVP_MD_CTX_new();

    /* a copy: the running digest goes on for later files */
    if (copy == NULL || EVP_MD_CTX_copy_ex(copy, d->sha) != 1 ||
        EVP_DigestFinal_ex(copy, md, &mdlen) != 1 || mdlen < 16)
        memset(md, 0, sizeof(md));
    EVP_MD_CTX_free(copy);
    memcpy(out, "2.25.", 5);
    if (oa_u128_decimal(md, out + 5, 65 - 5) == 0)
        out[5] = '0', out[6] = '\0';
}

static oa_status put_string(oa_buf *b, uint32_t tag, oa_vr vr, const char *s)
{
    return put_element(b, tag, vr, (const uint8_t *)s, (uint32_t)strlen(s),
                       false);
}

/* Depth-first order: a record, then its children's subtrees, then its next
 * sibling.  Iterative (no recursion), four levels at most. */
static uint32_t next_in_order(const oa_dicomdir *d, uint32_t i)
{
    const dd_record *r = &d->recs[i - 1];

    if (r->first_child != 0)
        return r->first_child;
    while (i != 0) {
        if (d->recs[i - 1].next != 0)
            return d->recs[i - 1].next;
        i = d->recs[i - 1].parent;
    }
    return 0;
}

oa_status oa_dicomdir_write(oa_dicomdir *d, const char *fileset_id,
                            oa_buf *out, oa_error *err)
{
    static const uint8_t version[2] = {0x00, 0x01};
    oa_buf meta, head;
    char uid[65], fsid[17];
    uint8_t zero4[4] = {0, 0, 0, 0}, zero2[2] = {0, 0};
    uint64_t pos;
    uint32_t i;
    size_t k, first_at = 0, last_at = 0;
    oa_status rc;

    if (d->first_patient == 0)
        return oa_error_set(err, OA_EINVAL, "DICOMDIR: no file to list");
    /* File-set ID: CS, at most 16 characters A-Z 0-9 _ space. */
    for (k = 0; fileset_id != NULL && fileset_id[k] != '\0' && k < 16; k++) {
        char c = fileset_id[k];

        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        fsid[k] = ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == ' ') ? c : '_';
    }
    fsid[k] = '\0';
    fileset_uid(d, uid);

    oa_buf_init(&meta, 4096);
    oa_buf_init(&head, 4096);
    rc = put_element(&meta, OA_TAG(0x0002, 0x0001), OA_VR_OB, version, 2,
                     false);
    if (rc == OA_OK)
        rc = put_string(&meta, OA_TAG(0x0002, 0x0002), OA_VR_UI,
                        DD_FILESET_SOP_CLASS);
    if (rc == OA_OK)
        rc = put_string(&meta, OA_TAG(0x0002, 0x0003), OA_VR_UI, uid);
    if (rc == OA_OK)
        rc = put_string(&meta, OA_TAG(0x0002, 0x0010), OA_VR_UI,
                        "1.2.840.10008.1.2.1");
    if (rc == OA_OK)
        rc = put_string(&meta, OA_TAG(0x0002, 0x0012), OA_VR_UI,
                        OA_IMPLEMENTATION_CLASS_UID);
    if (rc == OA_OK)
        rc = put_string(&meta, OA_TAG(0x0002, 0x0013), OA_VR_SH,
                        OA_IMPLEMENTATION_VERSION_NAME);
    /* the dataset before the records */
    if (rc == OA_OK)
        rc = put_string(&head, OA_TAG(0x0004, 0x1130), OA_VR_CS, fsid);
    first_at = head.len + 8;   /* the values of the two root offsets */
    if (rc == OA_OK)
        rc = put_element(&head, OA_TAG(0x0004, 0x1200), OA_VR_UL, zero4, 4,
                         false);
    last_at = head.len + 8;
    if (rc == OA_OK)
        rc = put_element(&head, OA_TAG(0x0004, 0x1202), OA_VR_UL, zero4, 4,
                         false);
    if (rc == OA_OK)
        rc = put_element(&head, OA_TAG(0x0004, 0x1212), OA_VR_US, zero2, 2,
                         false);
    if (rc == OA_OK)
        rc = put_header(&head, OA_TAG(0x0004, 0x1220), OA_VR_SQ,
                        OA_UNDEFINED_LENGTH);
    if (rc != OA_OK)
        goto out;

    /* Offsets: preamble 128 + "DICM" + group length element (12) + meta. */
    pos = 128 + 4 + 12 + meta.len + head.len;
    for (i = d->first_patient; i != 0; i = next_in_order(d, i)) {
        d->recs[i - 1].offset = (uint32_t)pos;
        pos += 8 + d->recs[i - 1].body_len;
        if (pos > 0xFFFFFFF0u) {
            rc = oa_error_set(err, OA_ELIMIT,
                              "DICOMDIR: the directory would pass 4 GiB "
                              "(its offsets are 32 bits): split the export");
            goto out;
        }
    }
    oa_put_le32(oa_buf_data(&head) + first_at,
             d->recs[d->first_patient - 1].offset);
    oa_put_le32(oa_buf_data(&head) + last_at,
             d->recs[d->last_patient - 1].offset);

    /* Write. */
    {
        uint8_t pre[128 + 4];
        uint8_t gl[4];

        memset(pre, 0, 128);
        memcpy(pre + 128, "DICM", 4);
        rc = oa_buf_append(out, pre, sizeof(pre));
        oa_put_le32(gl, (uint32_t)meta.len);
        if (rc == OA_OK)
            rc = put_element(out, OA_TAG(0x0002, 0x0000), OA_VR_UL, gl, 4,
                             false);
        if (rc == OA_OK)
            rc = oa_buf_append(out, oa_buf_data(&meta), meta.len);
        if (rc == OA_OK)
            rc = oa_buf_append(out, oa_buf_data(&head), head.len);
    }
    for (i = d->first_patient; rc == OA_OK && i != 0; i = next_in_order(d, i)) {
        dd_record *r = &d->recs[i - 1];

        oa_put_le32(r->body + 8, r->next ? d->recs[r->next - 1].offset : 0);
        oa_put_le32(r->body + 30,
                 r->first_child ? d->recs[r->first_child - 1].offset : 0);
        rc = put_header(out, OA_TAG_ITEM, 0, (uint32_t)r->body_len);
        if (rc == OA_OK)
            rc = oa_buf_append(out, r->body, r->body_len);
    }
    if (rc == OA_OK)
        rc = put_header(out, OA_TAG_SEQ_END, 0, 0);
    if (rc != OA_OK)
        rc = oa_error_set(err, rc, "DICOMDIR: out of memory");
out:
    oa_buf_dispose(&meta);
    oa_buf_dispose(&head);
    return rc;
}
