/*
 * The rewrite, the engine's second pass: an oa_dicom_handler between the
 * reader and the writer that applies the profile's rules to every element
 * at every depth (remove, empty, dummy, clean, remap UIDs, shift dates,
 * replace, pseudonyms), keeps the private creators a kept block needs,
 * and adds our own top-level elements (Patient Identity Removed, the
 * de-identification method and its codes) in tag order.
 */
#include "engine_int.h"

#include <stdio.h>
#include <string.h>

#include "oa_version.h"

static const uint32_t insert_tags[INS_COUNT] = {
    OA_TAG(0x0010, 0x0010), OA_TAG(0x0010, 0x0020), OA_TAG(0x0008, 0x1030),
    OA_TAG(0x0012, 0x0062), OA_TAG(0x0012, 0x0063), OA_TAG(0x0012, 0x0064),
    OA_TAG(0x0028, 0x0303)};

/* ------------------------------------------------------------------ */
/* Dates                                                                */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
long oa_anon__days_from_civil(long y, unsigned m, unsigned d)
{
    long era;
    unsigned yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long)doe - 719468;
}

void oa_anon__civil_from_days(long z, long *y, unsigned *m, unsigned *d)
{
    long era;
    unsigned doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = (unsigned)(z - era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    *y = (long)yoe + era * 400;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y += *m <= 2;
}

static bool digits(const uint8_t *p, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (p[i] < '0' || p[i] > '9')
            return false;
    return true;
}

/* Shift the YYYYMMDD at p in place; false if it is not a valid date. */
static bool shift_ymd(uint8_t *p, int offset)
{
    long y, days;
    unsigned m, d;
    char buf[16];

    if (!digits(p, 8))
        return false;
    y = (p[0] - '0') * 1000 + (p[1] - '0') * 100 + (p[2] - '0') * 10 +
        (p[3] - '0');
    m = (unsigned)((p[4] - '0') * 10 + (p[5] - '0'));
    d = (unsigned)((p[6] - '0') * 10 + (p[7] - '0'));
    if (m < 1 || m > 12 || d < 1 || d > 31)
        return false;
    days = oa_anon__days_from_civil(y, m, d) + offset;
    oa_anon__civil_from_days(days, &y, &m, &d);
    if (y < 0 || y > 9999)
        return false;
    snprintf(buf, sizeof(buf), "%04ld%02u%02u", y, m, d);
    memcpy(p, buf, 8);
    return true;
}

/*
 * Shift every date of a DA or DT value (multi-valued with '\', DA ranges
 * with '-').  A component that is not a full date is emptied: a partial
 * date would still tell the original.
 */
static oa_status shift_dates(oa_anonymizer *a, const oa_element *el,
                             oa_vr vr)
{
    size_t i = 0, start, n = oa_value_trim(el->value, el->length);
    oa_status rc;
    uint8_t *p;

    oa_buf_reset(&a->scratch);
    rc = oa_buf_append(&a->scratch, el->value, n);
    if (rc != OA_OK)
        return rc;
    p = oa_buf_data(&a->scratch);
    while (i < n) {
        size_t end;
        start = i;
        while (i < n && p[i] != '\\')
            i++;
        end = i;
        /* DA range "A-B": shift both sides (DT ranges likewise) */
        {
            size_t j = start;
            while (j < end) {
                size_t k = j;
                while (k < end && p[k] != '-')
                    k++;
                /* a DT offset "-0500" follows the date part: leave it */
                if (k - j >= 8 && !shift_ymd(p + j, a->date_offset)) {
                    memset(p + j, ' ', k - j);
                } else if (k - j > 0 && k - j < 8) {
                    if (vr == OA_VR_DT && j > start)
                        ; /* time zone offset of a DT */
                    else
                        memset(p + j, ' ', k - j);
                }
                j = k < end ? k + 1 : k;
                if (vr == OA_VR_DT)
                    break; /* the rest of a DT is time and zone */
            }
        }
        if (i < n)
            i++;
    }
    /* compact the blanked components */
    {
        size_t r, w = 0;
        for (r = 0; r < n; r++)
            if (p[r] != ' ')
                p[w++] = p[r];
        a->scratch.len = w;
    }
    return OA_OK;
}

/* ------------------------------------------------------------------ */
/* Private creators                                                     */

static level *cur_level(oa_anonymizer *a, unsigned depth)
{
    return depth < a->n_levels ? &a->levels[depth] : NULL;
}

static void remember_creator(oa_anonymizer *a, const oa_element *el)
{
    level *lv = cur_level(a, el->depth);
    creator *c;

    if (lv == NULL || lv->n_creators == MAX_CREATORS)
        return; /* unknown creator: private rules then fail closed */
    c = &lv->creators[lv->n_creators++];
    c->group = OA_TAG_GROUP(el->tag);
    c->block = (uint8_t)OA_TAG_ELEMENT(el->tag);
    c->value = el->value;
    c->len = el->length;
}

static const creator *find_creator(oa_anonymizer *a, uint32_t tag,
                                   unsigned depth)
{
    level *lv = cur_level(a, depth);
    uint16_t group = OA_TAG_GROUP(tag), element = OA_TAG_ELEMENT(tag);
    unsigned i;

    if (lv == NULL || !(group & 1) || element < 0x1000)
        return NULL;
    for (i = 0; i < lv->n_creators; i++)
        if (lv->creators[i].group == group &&
            lv->creators[i].block == (uint8_t)(element >> 8))
            return &lv->creators[i];
    return NULL;
}

/* The rule of an element (`seq`: a sequence, asked with VR SQ even when
 * read as UN), with the path of sequences around it (a->seq_path). */
static oa_action resolve(oa_anonymizer *a, const oa_element *el, bool seq,
                         oa_rule *r)
{
    const creator *c = find_creator(a, el->tag, el->depth);
    uint16_t group = OA_TAG_GROUP(el->tag), element = OA_TAG_ELEMENT(el->tag);
    oa_vr vr = seq ? OA_VR_SQ : el->vr;

    /* A private creator element is judged by its own value. */
    if ((group & 1) && element >= 0x0010 && element <= 0x00FF &&
        el->value != NULL)
        return oa_rules_resolve_at(a->profile, a->seq_path, el->depth,
                                   el->tag, vr, (const char *)el->value,
                                   el->length, r);
    return oa_rules_resolve_at(a->profile, a->seq_path, el->depth, el->tag,
                               vr, c ? (const char *)c->value : NULL,
                               c ? c->len : 0, r);
}

/* ------------------------------------------------------------------ */
/* Output helpers                                                       */

static oa_status emit(oa_anonymizer *a, uint32_t tag, oa_vr vr,
                      const void *value, size_t len, unsigned depth,
                      bool big_endian, oa_error *err)
{
    oa_element el;

    if (len >= OA_UNDEFINED_LENGTH - 1)
        return oa_error_at(err, OA_ELIMIT, tag, OA_NO_OFFSET,
                           "value too long");
    memset(&el, 0, sizeof(el));
    el.tag = tag;
    el.vr = vr;
    el.length = (uint32_t)len;
    el.value = value;
    el.depth = depth;
    el.big_endian = big_endian;
    el.offset = OA_NO_OFFSET;
    return a->wh->element(a->wh->user, &el, err);
}

static oa_status emit_str(oa_anonymizer *a, uint32_t tag, oa_vr vr,
                          const char *s, unsigned depth, oa_error *err)
{
    return emit(a, tag, vr, s, strlen(s), depth, false, err);
}

/* Code sequence item: (0008,0100) value, (0008,0102) DCM, (0008,0104). */
static oa_status emit_code(oa_anonymizer *a, const char *value,
                           const char *meaning, oa_error *err)
{
    oa_item it;
    oa_status rc;

    memset(&it, 0, sizeof(it));
    it.undefined_length = true;
    it.depth = 1;
    rc = a->wh->item_begin(a->wh->user, &it, err);
    if (rc == OA_OK)
        rc = emit_str(a, OA_TAG(0x0008, 0x0100), OA_VR_SH, value, 1, err);
    if (rc == OA_OK)
        rc = emit_str(a, OA_TAG(0x0008, 0x0102), OA_VR_SH, "DCM", 1, err);
    if (rc == OA_OK)
        rc = emit_str(a, OA_TAG(0x0008, 0x0104), OA_VR_LO, meaning, 1, err);
    if (rc == OA_OK)
        rc = a->wh->item_end(a->wh->user, err);
    return rc;
}

static const char *code_meaning(const char *code)
{
    int c;

    if (strcmp(code, "113100") == 0)
        return "Basic Application Confidentiality Profile";
    if (strcmp(code, "113101") == 0)
        return "Clean Pixel Data Option";
    for (c = 0; c < OA_PS315_COLUMN_COUNT; c++)
        if (strcmp(oa_ps315_column_code((oa_ps315_column)c), code) == 0)
            return oa_ps315_column_meaning((oa_ps315_column)c);
    return "";
}

static oa_status emit_insert(oa_anonymizer *a, int which, oa_error *err)
{
    char text[65];
    oa_element seq;
    const char *codes[OA_PS315_COLUMN_COUNT + 1];
    size_t n, i;
    oa_status rc;

    a->inserted[which] = true;
    switch (which) {
    case INS_PATIENT_NAME:
        return emit_str(a, insert_tags[which], OA_VR_PN, a->new_name, 0, err);
    case INS_PATIENT_ID:
        return emit_str(a, insert_tags[which], OA_VR_LO, a->new_id, 0, err);
    case INS_STUDY_DESCRIPTION:
        if (a->id == NULL || a->id->new_study_description == NULL)
            return OA_OK;
        snprintf(a->res->anonymized.study_description, OA_ANON_VALUE_MAX,
                 "%s", a->id->new_study_description);
        return emit_str(a, insert_tags[which], OA_VR_LO,
                        a->id->new_study_description, 0, err);
    case INS_IDENTITY_REMOVED:
        return emit_str(a, insert_tags[which], OA_VR_CS, "YES", 0, err);
    case INS_METHOD:
        snprintf(text, sizeof(text), "Orthanc Anonymizer %s: %s, PS3.15 %s",
                 OA_VERSION,
                 oa_profile_name(a->profile)[0] ? oa_profile_name(a->profile)
                                                : "inline profile",
                 oa_ps315_edition());
        return emit_str(a, insert_tags[which], OA_VR_LO, text, 0, err);
    case INS_METHOD_CODES:
        memset(&seq, 0, sizeof(seq));
        seq.tag = insert_tags[which];
        seq.vr = OA_VR_SQ;
        seq.undefined_length = true;
        rc = a->wh->sequence_begin(a->wh->user, &seq, err);
        n = oa_profile_method_codes(a->profile, codes,
                                    sizeof(codes) / sizeof(codes[0]));
        for (i = 0; rc == OA_OK && i < n && i < OA_PS315_COLUMN_COUNT + 1;
             i++)
            rc = emit_code(a, codes[i], code_meaning(codes[i]), err);
        if (rc == OA_OK && a->pix_cleaned)
            rc = emit_code(a, "113101", code_meaning("113101"), err);
        if (rc == OA_OK)
            rc = a->wh->sequence_end(a->wh->user, err);
        return rc;
    case INS_TEMPORAL:
        return emit_str(a, insert_tags[which], OA_VR_CS,
                        oa_profile_temporal_marker(a->profile), 0, err);
    default:
        return OA_OK;
    }
}

/* Before a top-level element `tag`: add our elements that sort before. */
static oa_status flush_inserts(oa_anonymizer *a, uint32_t tag, oa_error *err)
{
    int i;
    oa_status rc;

    for (i = 0; i < INS_COUNT; i++) {
        if (a->inserted[i] || insert_tags[i] >= tag)
            continue;
        rc = emit_insert(a, i, err);
        if (rc != OA_OK)
            return rc;
    }
    return OA_OK;
}

/* Is this top-level element one we replace by our own? */
static int replaced_insert(const oa_anonymizer *a, uint32_t tag)
{
    int i;
    for (i = INS_STUDY_DESCRIPTION; i < INS_COUNT; i++) {
        if (insert_tags[i] != tag)
            continue;
        if (i == INS_STUDY_DESCRIPTION &&
            (a->id == NULL || a->id->new_study_description == NULL))
            return -1;
        return i;
    }
    return -1;
}

/* Report values: what the top level of the output holds. */
static void note_output(oa_anonymizer *a, uint32_t tag, const void *v,
                        size_t n)
{
    oa_anon_values *o = &a->res->anonymized;
    switch (tag) {
    case OA_TAG(0x0010, 0x0010): oa_anon__copy_value(o->patient_name, v, n); break;
    case OA_TAG(0x0010, 0x0020): oa_anon__copy_value(o->patient_id, v, n); break;
    case OA_TAG(0x0020, 0x000D): oa_anon__copy_value(o->study_uid, v, n); break;
    case OA_TAG(0x0020, 0x000E): oa_anon__copy_value(o->series_uid, v, n); break;
    case OA_TAG(0x0008, 0x0018): oa_anon__copy_value(o->sop_uid, v, n); break;
    case OA_TAG(0x0008, 0x0020): oa_anon__copy_value(o->study_date, v, n); break;
    case OA_TAG(0x0008, 0x1030):
        oa_anon__copy_value(o->study_description, v, n);
        break;
    default: break;
    }
}

/* ------------------------------------------------------------------ */
/* Value transformations                                                */

static const char *dummy_text(oa_vr vr)
{
    switch (vr) {
    case OA_VR_AS: return "000Y";
    case OA_VR_DA: return "19000101";
    case OA_VR_DT: return "19000101000000";
    case OA_VR_TM: return "000000";
    case OA_VR_DS: case OA_VR_IS: return "0";
    case OA_VR_UR: return "";
    default: return "ANONYMIZED";
    }
}

/* Remap every component of a UI value into scratch. */
static oa_status map_uids(oa_anonymizer *a, const oa_element *el)
{
    size_t n = oa_value_trim(el->value, el->length), i = 0, start;
    char out[UID_MAX + 8];
    oa_status rc;

    oa_buf_reset(&a->scratch);
    while (i <= n) {
        start = i;
        while (i < n && el->value[i] != '\\')
            i++;
        if (oa_anon_map_uid(a, (const char *)el->value + start, i - start,
                            out, sizeof(out)) != 0)
            return OA_ELIMIT;
        oa_anon__note_uid(a, (const char *)el->value + start, i - start, out);
        if (start > 0) {
            rc = oa_buf_append_byte(&a->scratch, '\\');
            if (rc != OA_OK)
                return rc;
        }
        rc = oa_buf_append(&a->scratch, out, strlen(out));
        if (rc != OA_OK)
            return rc;
        i++;
    }
    return OA_OK;
}

static bool looks_like_uid(const uint8_t *v, size_t n)
{
    size_t i, dots = 0;
    n = oa_value_trim(v, n);
    if (n < 3 || n > UID_MAX)
        return false;
    for (i = 0; i < n; i++) {
        if (v[i] == '.')
            dots++;
        else if (v[i] < '0' || v[i] > '9')
            return false;
    }
    return dots >= 2 && v[0] != '.' && v[n - 1] != '.';
}

/*
 * Inside a sequence whose action is D or C, the values that its own rule
 * keeps are replaced or cleaned too, except those that give the content
 * its structure: code strings (an SR's Value Type and Relationship Type),
 * UIDs (remapped anyway), tags, binary numbers and the parts of codes, so
 * that an SR tree or a code sequence stays valid.
 */
static bool is_structural(const oa_element *el)
{
    switch (el->tag) {
    case OA_TAG(0x0008, 0x0100): /* Code Value */
    case OA_TAG(0x0008, 0x0102): /* Coding Scheme Designator */
    case OA_TAG(0x0008, 0x0103): /* Coding Scheme Version */
    case OA_TAG(0x0008, 0x0104): /* Code Meaning */
    case OA_TAG(0x0008, 0x0105): /* Mapping Resource */
    case OA_TAG(0x0008, 0x0119): /* Long Code Value */
    case OA_TAG(0x0008, 0x0120): /* URN Code Value */
        return true;
    default:
        break;
    }
    switch (el->vr) {
    case OA_VR_CS: case OA_VR_UI: case OA_VR_AT: case OA_VR_US:
    case OA_VR_SS: case OA_VR_UL: case OA_VR_SL: case OA_VR_FL:
    case OA_VR_FD: case OA_VR_SV: case OA_VR_UV: case OA_VR_IS:
        return true;
    default:
        return false;
    }
}

/*
 * A private element that the private policy keeps as safe at its path
 * (PS3.15 Table E.3.10-1, TCIA's knowledge base) and its private creator
 * stay as they are inside a D or C sequence: the creator names the block
 * (a dummy there would orphan every kept element of the block), and the
 * value was judged safe where it stands (a Philips attribute that TCIA
 * keeps inside Referenced Performed Procedure Step Sequence, D under
 * PS3.15, keeps its value: orthanc-tests/Issue22-NoPixelData.dcm).  A
 * kept creator is never a dummy, whatever the policy.
 */
static bool private_kept_as_safe(const oa_element *el, const oa_rule *r)
{
    uint16_t element = OA_TAG_ELEMENT(el->tag);

    if (!(OA_TAG_GROUP(el->tag) & 1u))
        return false;
    if (element >= 0x0010 && element <= 0x00FF)
        return true;
    return r->source == OA_SRC_SAFE_PRIVATE ||
           r->source == OA_SRC_TCIA_PRIVATE;
}

/* Every component of the value is a UID (a UID list). */
static bool uid_list(const uint8_t *v, size_t n)
{
    size_t i = 0, start;

    n = oa_value_trim(v, n);
    if (n == 0)
        return false;
    while (i <= n) {
        start = i;
        while (i < n && v[i] != '\\')
            i++;
        if (!looks_like_uid(v + start, i - start))
            return false;
        i++;
    }
    return true;
}

/* A date written as DICOM text (DA, or a DT's date part) in a value of
 * another VR (a private date in LO, SH or UN). */
static bool date_text(const uint8_t *v, size_t n)
{
    n = oa_value_trim(v, n);
    return n >= 8 && digits(v, 8);
}

/* ------------------------------------------------------------------ */
/* Valid output                                                         */

/*
 * A UN element of a public tag that the dictionary knows with one VR is
 * written with that VR (explicit syntaxes spell it out; implicit ones
 * never read UN for a known tag), so that its dummy is in that VR and a
 * string is padded with a space, not a NUL.  Binary VRs only in little
 * endian (the byte order of a UN value is not certain otherwise), short-
 * length VRs only when the value fits their 16-bit length.  A string
 * value loses its trailing NULs (UN padding).
 */
static const oa_element *known_vr(const oa_element *el, oa_element *conv)
{
    const oa_dict_entry *d;
    uint16_t group = OA_TAG_GROUP(el->tag), element = OA_TAG_ELEMENT(el->tag);

    if (el->vr != OA_VR_UN || (group & 1) || element == 0x0000 ||
        group <= 0x0002)
        return el;
    d = oa_dict_lookup(el->tag);
    if (d == NULL || d->vr_alt != 0 || d->vr == OA_VR_UN ||
        d->vr == OA_VR_SQ || !oa_vr_is_valid(d->vr))
        return el;
    if (!oa_vr_is_string(d->vr) && el->big_endian)
        return el;
    if (!oa_vr_has_long_length(d->vr) && el->length > 0xFFFFu)
        return el;
    *conv = *el;
    conv->vr = d->vr;
    if (oa_vr_is_string(d->vr) && d->vr != OA_VR_UI)
        while (conv->length > 0 && conv->value[conv->length - 1] == '\0')
            conv->length--;
    return conv;
}

/* The VR a date value is written in: its own if DA or DT, else the
 * dictionary's (a date stored as LO or UN is still a date), else 0. */
static oa_vr date_vr(const oa_element *el)
{
    const oa_dict_entry *d;

    if (el->vr == OA_VR_DA || el->vr == OA_VR_DT)
        return el->vr;
    d = oa_dict_lookup(el->tag);
    if (d != NULL && (d->vr == OA_VR_DA || d->vr == OA_VR_DT))
        return d->vr;
    return 0;
}

static bool code_may_remove(uint8_t code)
{
    return code == OA_PS_X || code == OA_PS_X_Z || code == OA_PS_X_D ||
           code == OA_PS_X_Z_D;
}

static bool code_may_empty(uint8_t code)
{
    return code == OA_PS_Z || code == OA_PS_X_Z || code == OA_PS_Z_D ||
           code == OA_PS_X_Z_D;
}

/*
 * The smallest action that keeps the IOD valid, for a top-level attribute
 * that Table E.1-1 decides (not the profile's own lists): what the IOD of
 * the instance's SOP class requires (iod_table.inc, confirmed by
 * dciodvfy) turns a removal into an empty value (Type 2) or a dummy
 * (Type 1), an empty value into a dummy (Type 1), and takes the X of a
 * combined code (X/Z, X/D, X/Z/D) when the IOD does not require the
 * attribute, the Z of Z/D or X/Z/D when it is Type 2.  A class the table
 * does not know keeps the strictest alternative (rules.c).
 */
static oa_action iod_action(const oa_anonymizer *a, uint32_t tag,
                            unsigned depth, const oa_rule *r, oa_action act)
{
    int type;

    if (depth != 0 || r->row == NULL || r->row->pattern != NULL ||
        (r->source != OA_SRC_BASIC && r->source != OA_SRC_OPTION))
        return act;
    type = oa_ps315__iod_type(a->sop_class, tag, a->animal);
    if (type < 0)
        return act;
    switch (act) {
    case OA_ACTION_REMOVE:
        return type == 1 ? OA_ACTION_DUMMY
                         : type == 2 ? OA_ACTION_EMPTY : act;
    case OA_ACTION_EMPTY:
        if (type == 1)
            return OA_ACTION_DUMMY;
        return type == 0 && code_may_remove(r->code) ? OA_ACTION_REMOVE
                                                     : act;
    case OA_ACTION_DUMMY:
        if (type == 0 && code_may_remove(r->code))
            return OA_ACTION_REMOVE;
        return type == 2 && code_may_empty(r->code) ? OA_ACTION_EMPTY : act;
    default:
        return act;
    }
}

/*
 * Attributes that the standard allows only beside another (Type 1C "may
 * not be present otherwise"): removed when that one is left without a
 * value.  Sorted by tag.
 */
static const struct {
    uint32_t tag, anchor;
} companions[] = {
    /* Responsible Person Role: required if Responsible Person is present
     * and has a value */
    { OA_TAG(0x0010, 0x2298), OA_TAG(0x0010, 0x2297) },
    /* Clinical Trial Protocol Ethics Committee Name: required if the
     * Approval Number is present (Clinical Trial Subject module) */
    { OA_TAG(0x0012, 0x0081), OA_TAG(0x0012, 0x0082) },
};

static bool is_overlay_group(uint16_t group)
{
    return group >= 0x6000 && group <= 0x601E && !(group & 1);
}

/*
 * The action after the IOD's requirements and the groups of attributes
 * that stand or fall together: an overlay (60xx) is kept whole or
 * removed whole (its bitmap cannot be cleaned: Clean Graphics removes
 * it), and a companion goes with its anchor.
 */
static oa_action valid_action(oa_anonymizer *a, const oa_element *el,
                              const oa_rule *r, oa_action act)
{
    uint16_t group = OA_TAG_GROUP(el->tag), element = OA_TAG_ELEMENT(el->tag);
    oa_rule ar;
    oa_action anchor;
    size_t i;

    if (r->source == OA_SRC_KEEP || r->source == OA_SRC_REPLACE ||
        r->source == OA_SRC_REMOVE)
        return act; /* the profile's own lists are obeyed as written */
    if (is_overlay_group(group) && element != 0x0000) {
        anchor = element == 0x3000
                     ? act
                     : oa_rules_resolve(a->profile, OA_TAG(group, 0x3000),
                                        OA_VR_OW, NULL, 0, &ar);
        if (element != 0x3000 && ar.source == OA_SRC_KEEP)
            anchor = OA_ACTION_KEEP;
        return anchor == OA_ACTION_KEEP ? act : OA_ACTION_REMOVE;
    }
    act = iod_action(a, el->tag, el->depth, r, act);
    /* Nested, the IOD's Type is not known: X/Z on a sequence is X (a
     * sequence present with no item is invalid where it is Type 1 or 3,
     * as a Referenced Study Sequence inside Request Attributes). */
    if (el->depth != 0 && el->vr == OA_VR_SQ && act == OA_ACTION_EMPTY &&
        code_may_remove(r->code) &&
        (r->source == OA_SRC_BASIC || r->source == OA_SRC_OPTION))
        return OA_ACTION_REMOVE;
    if (el->depth != 0)
        return act;
    for (i = 0; i < sizeof(companions) / sizeof(companions[0]); i++) {
        if (companions[i].tag != el->tag)
            continue;
        anchor = oa_rules_resolve(a->profile, companions[i].anchor,
                                  oa_dict_vr(companions[i].anchor), NULL, 0,
                                  &ar);
        anchor = iod_action(a, companions[i].anchor, 0, &ar, anchor);
        if (anchor == OA_ACTION_REMOVE || anchor == OA_ACTION_EMPTY)
            return OA_ACTION_REMOVE;
    }
    return act;
}

/*
 * An AS value that Clean cannot read as ages (AgesOver89, fail closed: a
 * "93 years" or "1100" could be anything, a 93-year-old included): not
 * written.  A top-level attribute that the instance's IOD requires is
 * emptied (Type 2) or given the dummy "000Y" (Type 1); any other is
 * removed (Patient's Age is Type 3 in every IOD of iod_table.inc).  The
 * result gets a warning naming the tag, never the value.
 */
static oa_status malformed_age(oa_anonymizer *a, const oa_element *el,
                               oa_error *err)
{
    int type = el->depth == 0 ? oa_ps315__iod_type(a->sop_class, el->tag,
                                                   a->animal)
                              : 0;
    char tag[16];
    const char *v = type == 1 ? dummy_text(OA_VR_AS) : "";

    oa_tag_format(el->tag, tag);
    oa_anon__warn(a, "AgesOver89: %s%s is not an age string (AS), %s",
                  tag, el->depth > 0 ? " (in a sequence)" : "",
                  type == 1   ? "replaced by the dummy 000Y"
                  : type == 2 ? "emptied"
                              : "removed");
    if (type != 1 && type != 2)
        return OA_OK;
    return emit(a, el->tag, el->vr, v, strlen(v), el->depth, el->big_endian,
                err);
}

/* ------------------------------------------------------------------ */
/* The rewrite handler                                                  */

static oa_status on_begin(void *user, const oa_parse_info *info, oa_error *err)
{
    oa_anonymizer *a = user;
    a->animal = false;
    return a->wh->begin(a->wh->user, info, err);
}

static oa_status apply_element(oa_anonymizer *a, const oa_element *el,
                               oa_error *err)
{
    oa_rule rule;
    oa_action act;
    oa_element conv;
    const void *v;
    size_t n;
    oa_status rc = OA_OK;
    level *lv = cur_level(a, el->depth);
    char hashed[17];
    uint16_t group = OA_TAG_GROUP(el->tag), element = OA_TAG_ELEMENT(el->tag);
    oa_vr dvr;

    if ((group & 1) && element >= 0x0010 && element <= 0x00FF)
        remember_creator(a, el);
    el = known_vr(el, &conv);
    v = el->value;
    n = el->length;
    if (el->depth == 0 && el->tag == OA_TAG(0x0010, 0x2201) &&
        oa_value_trim(el->value, el->length) > 0)
        a->animal = true; /* Patient Species Description */
    act = resolve(a, el, false, &rule);
    act = valid_action(a, el, &rule, act);
    /* (an age that AgesOver89 cleans is a kept value: a dummy inside a
     * sequence of dummies) */
    if (lv != NULL && lv->mode != SEQ_PLAIN &&
        (act == OA_ACTION_KEEP ||
         (act == OA_ACTION_CLEAN && rule.age_aggregated)) &&
        !is_structural(el) && !private_kept_as_safe(el, &rule))
        act = lv->mode == SEQ_DUMMY ? OA_ACTION_DUMMY : OA_ACTION_CLEAN;
    if (act != OA_ACTION_KEEP && oa_anon__is_identifying(el->tag, el->vr))
        oa_anon__collect_needles(a, el);

    switch (act) {
    case OA_ACTION_KEEP:
        /* Private values kept as UN that hold a UID are remapped too. */
        if (el->vr == OA_VR_UN && (group & 1) &&
            oa_profile_options(a->profile)->uids != OA_OPT_KEEP &&
            looks_like_uid(el->value, el->length)) {
            rc = map_uids(a, el);
            v = oa_buf_data(&a->scratch);
            n = a->scratch.len;
        }
        break;
    case OA_ACTION_REMOVE:
        return OA_OK;
    case OA_ACTION_EMPTY:
        n = 0;
        break;
    case OA_ACTION_DUMMY:
        if (el->vr == OA_VR_UI) {
            rc = map_uids(a, el);
            v = oa_buf_data(&a->scratch);
            n = a->scratch.len;
        } else if (oa_vr_is_string(el->vr)) {
            v = dummy_text(el->vr);
            n = strlen(v);
        } else {
            oa_buf_reset(&a->scratch);
            rc = oa_buf_reserve(&a->scratch, n);
            if (rc == OA_OK) {
                memset(oa_buf_data(&a->scratch), 0, n);
                a->scratch.len = n;
                v = oa_buf_data(&a->scratch);
            }
        }
        break;
    case OA_ACTION_CLEAN:
        if (el->vr == OA_VR_AS || rule.age_aggregated) {
            bool malformed;

            rc = oa_anon__clean_age(a, el, &malformed);
            if (rc == OA_OK && malformed)
                return malformed_age(a, el, err);
            v = oa_buf_data(&a->scratch);
            n = a->scratch.len;
        } else if (oa_vr_is_string(el->vr)) {
            rc = oa_anon__clean_text(a, el);
            v = oa_buf_data(&a->scratch);
            n = a->scratch.len;
            /* Nothing left of a value the IOD requires (Type 1: a
             * Structure Set Label that was the Study ID): a dummy, as a
             * removal would get, not an invalid empty value.  Research
             * keeps what such a label does (Type 1 attributes with
             * clinical meaning are never ANONYMIZED there): it names one
             * object among others, so it becomes the keyed hash of the
             * original value (16 characters: fits SH), equal for equal
             * labels, different for different ones, identifying no one.
             * The same for an SR content item's Text Value (0040,A160),
             * required in a TEXT item (Type 1C; a Person Observer Name
             * "Enter text" takes all of a text "Enter text" away:
             * pydicom-test_files/reportsi.dcm, found by anon_validity). */
            if (rc == OA_OK && oa_value_trim(v, n) == 0 &&
                ((el->depth == 0 &&
                  oa_ps315__iod_type(a->sop_class, el->tag, a->animal) ==
                      1) ||
                 (el->depth > 0 && el->tag == OA_TAG(0x0040, 0xA160)))) {
                if (oa_profile_get_base(a->profile) == OA_BASE_RESEARCH &&
                    oa_value_trim(el->value, el->length) > 0) {
                    oa_anon_hash_value(a, el->value, el->length, hashed);
                    v = hashed;
                    n = 16;
                } else {
                    v = dummy_text(el->vr);
                    n = strlen(v);
                }
            }
        } else {
            n = 0;
        }
        break;
    case OA_ACTION_UID:
        if (el->vr == OA_VR_UI || looks_like_uid(el->value, el->length)) {
            rc = map_uids(a, el);
            v = oa_buf_data(&a->scratch);
            n = a->scratch.len;
        } else {
            n = 0; /* not a UID at all: nothing safe to keep */
        }
        break;
    case OA_ACTION_SHIFT:
        dvr = date_vr(el);
        if (dvr != 0) {
            rc = shift_dates(a, el, dvr);
            v = oa_buf_data(&a->scratch);
            n = a->scratch.len;
        } else if (el->vr != OA_VR_TM &&
                   !(rule.row != NULL && rule.row->vr == OA_VR_TM)) {
            /* A date in a value of another VR (TCIA's "o" on a private
             * LO, SH or UN; a date read as UN): shifted as a DT when it
             * reads as one, else removed.  Times stay (whole days). */
            oa_element dt = *el;

            if (!date_text(el->value, el->length))
                return OA_OK;
            dt.vr = OA_VR_DT;
            rc = shift_dates(a, &dt, OA_VR_DT);
            v = oa_buf_data(&a->scratch);
            n = a->scratch.len;
        }
        break;
    case OA_ACTION_HASH:
        /* TCIA's "h": UIDs remapped like every UID (references hold),
         * other text by a keyed hash, binary numbers emptied. */
        if (el->vr == OA_VR_UI || uid_list(el->value, el->length)) {
            rc = map_uids(a, el);
            v = oa_buf_data(&a->scratch);
            n = a->scratch.len;
        } else if (oa_vr_is_string(el->vr) || el->vr == OA_VR_UN ||
                   el->vr == OA_VR_OB) {
            oa_anon_hash_value(a, el->value, el->length, hashed);
            v = hashed;
            n = 16;
        } else {
            n = 0;
        }
        break;
    case OA_ACTION_REPLACE:
        v = rule.value ? rule.value : "";
        n = strlen(v);
        break;
    case OA_ACTION_PSEUDONYM:
        if (el->tag == OA_TAG(0x0010, 0x0010) || el->vr == OA_VR_PN)
            v = a->new_name;
        else
            v = a->new_id;
        n = strlen(v);
        if (el->depth == 0 && el->tag == OA_TAG(0x0010, 0x0010))
            a->inserted[INS_PATIENT_NAME] = true;
        if (el->depth == 0 && el->tag == OA_TAG(0x0010, 0x0020))
            a->inserted[INS_PATIENT_ID] = true;
        break;
    }
    if (rc == OA_ECANCELLED)
        return oa_error_at(err, rc, el->tag, el->offset,
                           "cancelled while cleaning the value");
    if (rc == OA_ELIMIT && a->work.budget != 0 &&
        a->work.used > a->work.budget)
        return oa_error_at(err, rc, el->tag, el->offset,
                           "cleaning the value reached the instance's work "
                           "budget (%llu steps, \"WorkBudget\"): refused",
                           (unsigned long long)a->work.budget);
    if (rc != OA_OK)
        return oa_error_at(err, rc, el->tag, el->offset,
                           "cannot rewrite the value");
    if (v == NULL)
        v = "";
    if (el->depth == 0)
        note_output(a, el->tag, v, n);
    return emit(a, el->tag, el->vr, v, n, el->depth, el->big_endian, err);
}

/*
 * Before a top-level element or sequence `tag`: add our elements that sort
 * before it; if it is one we write ourselves, write ours instead
 * (`*replaced`: the original is then left out).
 */
static oa_status top_level(oa_anonymizer *a, uint32_t tag, bool *replaced,
                           oa_error *err)
{
    oa_status rc;
    int ins;

    *replaced = false;
    rc = flush_inserts(a, tag, err);
    if (rc != OA_OK)
        return rc;
    ins = replaced_insert(a, tag);
    if (ins < 0)
        return OA_OK;
    *replaced = true;
    return a->inserted[ins] ? OA_OK : emit_insert(a, ins, err);
}

/*
 * A top-level element of an instance whose pixels were cleaned
 * (burned_in.c): the new Pixel Data instead of the old, Burned In
 * Annotation NO, an Extended Offset Table the new value no longer matches
 * left out; the rest as usual.
 */
static oa_status cleaned_pixels_element(oa_anonymizer *a,
                                        const oa_element *el, oa_error *err)
{
    switch (el->tag) {
    case OA_TAG_PIXEL_DATA:
        return oa_pixels_emit(&a->pix, el, a->wh, err);
    case OA_TAG(0x0028, 0x0301):
        note_output(a, el->tag, "NO", 2);
        return emit_str(a, el->tag, OA_VR_CS, "NO", 0, err);
    case OA_TAG(0x7FE0, 0x0001):
    case OA_TAG(0x7FE0, 0x0002):
        if (a->pix.drop_extended_offsets)
            return OA_OK;
        break;
    default:
        break;
    }
    return apply_element(a, el, err);
}

static oa_status on_element(void *user, const oa_element *el, oa_error *err)
{
    oa_anonymizer *a = user;
    oa_status rc;
    bool replaced;

    if (el->depth == 0) {
        rc = top_level(a, el->tag, &replaced, err);
        if (rc != OA_OK || replaced)
            return rc;
        if (a->pix_cleaned)
            return cleaned_pixels_element(a, el, err);
    }
    return apply_element(a, el, err);
}

static oa_status on_sequence_begin(void *user, const oa_element *el,
                                   oa_error *err)
{
    oa_anonymizer *a = user;
    oa_rule rule;
    oa_action act;
    oa_status rc;
    level *lv = cur_level(a, el->depth);
    unsigned mode = lv != NULL ? lv->mode : SEQ_PLAIN;
    bool replaced;

    if (el->depth == 0) {
        rc = top_level(a, el->tag, &replaced, err);
        if (rc != OA_OK)
            return rc;
        if (replaced)
            return OA_SKIP;
        if (a->pix_cleaned && el->tag == OA_TAG_PIXEL_DATA) {
            /* encapsulated (RLE) pixels cleaned: the new fragments */
            rc = oa_pixels_emit(&a->pix, el, a->wh, err);
            return rc == OA_OK ? OA_SKIP : rc;
        }
    }
    if (el->tag == OA_TAG_PIXEL_DATA && el->vr != OA_VR_SQ &&
        el->vr != OA_VR_UN)
        act = OA_ACTION_KEEP; /* encapsulated pixel data */
    else
        act = valid_action(a, el, &rule, resolve(a, el, true, &rule));
    if (el->depth == 0 && el->tag == OA_TAG(0x0010, 0x2202))
        a->animal = true; /* Patient Species Code Sequence */
    if (act == OA_ACTION_REMOVE)
        return OA_SKIP;
    if (el->depth + 1 >= sizeof(a->seq_mode) / sizeof(a->seq_mode[0]))
        return oa_error_at(err, OA_ELIMIT, el->tag, el->offset,
                           "nesting deeper than the engine's limit");
    rc = a->wh->sequence_begin(a->wh->user, el, err);
    if (rc != OA_OK)
        return rc;
    {
        /* the path the rules of its items see */
        const creator *c = find_creator(a, el->tag, el->depth);
        oa_rule_step *st = &a->seq_path[el->depth];

        st->tag = el->tag;
        st->creator = c != NULL ? (const char *)c->value : NULL;
        st->creator_len = c != NULL ? c->len : 0;
    }
    if (act == OA_ACTION_EMPTY) {
        rc = a->wh->sequence_end(a->wh->user, err);
        return rc == OA_OK ? OA_SKIP : rc;
    }
    /* D on a sequence keeps its items with dummy values inside, C cleans
     * the free text inside (see is_structural); K, U and the rest descend
     * and apply the rules there.  A nested sequence keeps the stronger. */
    if (act == OA_ACTION_DUMMY)
        mode = SEQ_DUMMY;
    else if (act == OA_ACTION_CLEAN && mode == SEQ_PLAIN)
        mode = SEQ_CLEAN;
    a->seq_mode[el->depth] = mode;
    return OA_OK;
}

static oa_status on_item_begin(void *user, const oa_item *it, oa_error *err)
{
    oa_anonymizer *a = user;
    level *lv = cur_level(a, it->depth);

    if (lv != NULL) {
        lv->n_creators = 0;
        lv->mode = it->depth >= 1 ? a->seq_mode[it->depth - 1] : SEQ_PLAIN;
    }
    return a->wh->item_begin(a->wh->user, it, err);
}

static oa_status on_item_end(void *user, oa_error *err)
{
    oa_anonymizer *a = user;
    return a->wh->item_end(a->wh->user, err);
}

static oa_status on_sequence_end(void *user, oa_error *err)
{
    oa_anonymizer *a = user;
    return a->wh->sequence_end(a->wh->user, err);
}

static oa_status on_fragment(void *user, const oa_item *f, const uint8_t *d,
                             oa_error *err)
{
    oa_anonymizer *a = user;
    return a->wh->fragment(a->wh->user, f, d, err);
}

static oa_status on_end(void *user, oa_error *err)
{
    oa_anonymizer *a = user;
    oa_status rc = flush_inserts(a, 0xFFFFFFFFu, err);
    if (rc != OA_OK)
        return rc;
    return a->wh->end(a->wh->user, err);
}

void oa_anon__rewrite_init(oa_anonymizer *a)
{
    a->handler.begin = on_begin;
    a->handler.element = on_element;
    a->handler.sequence_begin = on_sequence_begin;
    a->handler.item_begin = on_item_begin;
    a->handler.item_end = on_item_end;
    a->handler.sequence_end = on_sequence_end;
    a->handler.fragment = on_fragment;
    a->handler.end = on_end;
    a->handler.user = a;
}
