/*
 * The anonymization engine: the rules of a profile applied to every
 * element of an instance at every depth.
 *
 * One instance takes three passes over the input, only the second of which
 * copies values:
 *  1. a pre-scan of the dataset (every sequence read for needles, the
 *     ultrasound regions and Pixel Data for burned_in.c) that finds
 *     the SOP class (to drop captures and reports), the original Patient
 *     ID (which keys the pseudonym and the date offset, and comes after
 *     the study dates in the stream) and the identifying values to look
 *     for; then the pixels are kept, cleaned or refused (burned_in.c);
 *  2. the rewrite (rewrite.c): reader -> its handler -> writer;
 *  3. the leak check (leak.c): the output is read again and every value
 *     outside bulk data is searched for the original identifying values
 *     that the profile does not keep; a hit fails the instance (OA_ELEAK)
 *     with the tag, never the value.
 *
 * New UIDs, the generated name and ID and the date offset are keyed
 * pseudonyms (pseudonym.c): the same input and secret give the same
 * output on any server, with no lookup table.
 *
 * The engine object holds per-instance scratch state: one per thread.
 */
#include "engine_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Values                                                               */

void oa_anon__copy_value(char dst[OA_ANON_VALUE_MAX], const void *v,
                         size_t n)
{
    n = oa_value_trim(v, n);
    if (n >= OA_ANON_VALUE_MAX)
        n = OA_ANON_VALUE_MAX - 1;
    memcpy(dst, v, n);
    dst[n] = '\0';
}

void oa_anon__warn(oa_anonymizer *a, const char *fmt, ...)
{
    oa_anon_result *res = a->res;
    va_list ap;

    if (res->n_warnings < OA_ANON_WARNINGS) {
        va_start(ap, fmt);
        vsnprintf(res->warnings[res->n_warnings], OA_ANON_WARNING_MAX, fmt,
                  ap);
        va_end(ap);
    }
    res->n_warnings++;
}

/* ------------------------------------------------------------------ */
/* Pass 1: pre-scan of the top level                                    */

static oa_status pre_element(void *user, const oa_element *el, oa_error *err)
{
    oa_anonymizer *a = user;
    oa_anon_values *o = &a->res->original;
    oa_rule rule;
    oa_status rc;

    if (a->pre_foreign == 0) {
        rc = oa_anon__pixels_pre_element(a, el, err);
        if (rc != OA_OK)
            return rc;
    }
    if (el->depth != 0) {
        /* Needles at every depth before the rewrite, so that Clean takes
         * out of a text the names that come after it (an SR's observer,
         * a relative in a later item).  Private values wait for the
         * rewrite, which knows their creator. */
        if (!(OA_TAG_GROUP(el->tag) & 1) &&
            oa_anon__is_identifying(el->tag, el->vr) &&
            oa_rules_resolve(a->profile, el->tag, el->vr, NULL, 0, &rule) !=
                OA_ACTION_KEEP)
            oa_anon__collect_needles(a, el);
        return OA_OK;
    }
    switch (el->tag) {
    case OA_TAG(0x0008, 0x0016):
        oa_anon__copy_value(a->sop_class, el->value,
                   el->length < UID_MAX ? el->length : UID_MAX);
        break;
    case OA_TAG(0x0010, 0x0010):
        oa_anon__copy_value(o->patient_name, el->value, el->length);
        oa_anon__copy_value(a->orig_name, el->value, el->length);
        break;
    case OA_TAG(0x0010, 0x0020):
        oa_anon__copy_value(o->patient_id, el->value, el->length);
        oa_anon__copy_value(a->orig_pid, el->value, el->length);
        break;
    case OA_TAG(0x0020, 0x000D): oa_anon__copy_value(o->study_uid, el->value, el->length); break;
    case OA_TAG(0x0020, 0x000E): oa_anon__copy_value(o->series_uid, el->value, el->length); break;
    case OA_TAG(0x0008, 0x0018): oa_anon__copy_value(o->sop_uid, el->value, el->length); break;
    case OA_TAG(0x0008, 0x0020): oa_anon__copy_value(o->study_date, el->value, el->length); break;
    case OA_TAG(0x0008, 0x1030):
        oa_anon__copy_value(o->study_description, el->value, el->length);
        break;
    default:
        break;
    }
    if (!(OA_TAG_GROUP(el->tag) & 1) && oa_anon__is_identifying(el->tag, el->vr) &&
        oa_rules_resolve(a->profile, el->tag, el->vr, NULL, 0, &rule) !=
            OA_ACTION_KEEP)
        oa_anon__collect_needles(a, el);
    return OA_OK;
}

/*
 * The pre-scan reads every sequence but Pixel Data for needles; those
 * that the pixels do not want are "foreign": their events are not passed
 * to the pixels (a->pre_foreign counts how deep in them we are).
 */
static oa_status pre_sequence(void *user, const oa_element *el, oa_error *err)
{
    oa_anonymizer *a = user;
    oa_status rc = OA_SKIP;

    if (a->pre_foreign == 0) {
        rc = oa_anon__pixels_pre_sequence(a, el, err);
        if (rc != OA_SKIP)
            return rc;
    }
    if (el->tag == OA_TAG_PIXEL_DATA)
        return OA_SKIP;
    a->pre_foreign++;
    return OA_OK;
}

static oa_status pre_item_begin(void *user, const oa_item *it, oa_error *err)
{
    oa_anonymizer *a = user;

    if (a->pre_foreign > 0 || a->pre_px.item_begin == NULL)
        return OA_OK;
    return a->pre_px.item_begin(a, it, err);
}

static oa_status pre_item_end(void *user, oa_error *err)
{
    oa_anonymizer *a = user;

    if (a->pre_foreign > 0 || a->pre_px.item_end == NULL)
        return OA_OK;
    return a->pre_px.item_end(a, err);
}

static oa_status pre_sequence_end(void *user, oa_error *err)
{
    oa_anonymizer *a = user;

    if (a->pre_foreign > 0) {
        a->pre_foreign--;
        return OA_OK;
    }
    if (a->pre_px.sequence_end == NULL)
        return OA_OK;
    return a->pre_px.sequence_end(a, err);
}

/* ------------------------------------------------------------------ */
/* Public                                                               */

oa_status oa_anonymizer_new(oa_anonymizer **out, const oa_profile *profile,
                            const oa_anonymizer_opts *opts, oa_error *err)
{
    oa_anonymizer *a;
    oa_writer_opts wo;
    oa_status rc;
    const char *root;

    *out = NULL;
    if (profile == NULL || opts == NULL || opts->secret == NULL ||
        opts->secret_len == 0 || opts->secret_len > OA_ANON_MAX_SECRET)
        return oa_error_set(err, OA_EINVAL,
                            "the anonymizer needs a profile and a secret of "
                            "1 to %d bytes", OA_ANON_MAX_SECRET);
    root = opts->uid_root ? opts->uid_root : "2.25";
    if (strlen(root) == 0 || strlen(root) > 24 ||
        strspn(root, "0123456789.") != strlen(root))
        return oa_error_set(err, OA_EINVAL,
                            "\"UidRoot\" must be digits and dots, at most 24 "
                            "characters");
    a = oa_calloc(1, sizeof(*a));
    if (a == NULL)
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    a->profile = profile;
    memcpy(a->secret, opts->secret, opts->secret_len);
    a->secret_len = opts->secret_len;
    snprintf(a->uid_root, sizeof(a->uid_root), "%s", root);
    a->reader_opts = opts->reader;
    if (a->reader_opts.max_depth == 0 ||
        a->reader_opts.max_depth > OA_READER_DEFAULT_MAX_DEPTH)
        a->reader_opts.max_depth = OA_READER_DEFAULT_MAX_DEPTH;
    a->n_levels = a->reader_opts.max_depth + 2;
    a->levels = oa_calloc(a->n_levels, sizeof(level));
    oa_buf_init(&a->scratch, (size_t)1 << 24);
    oa_buf_init(&a->folded, (size_t)1 << 30);
    memset(&wo, 0, sizeof(wo));
    wo.max_size = opts->max_output;
    rc = a->levels ? oa_writer_new(&a->writer, &wo, err) : OA_ENOMEM;
    if (rc != OA_OK) {
        oa_anonymizer_free(a);
        return oa_error_set(err, rc, "out of memory");
    }
    a->wh = oa_writer_handler(a->writer);
    rc = oa_anon__pixels_init(a, opts->ocr, err);
    if (rc != OA_OK) {
        oa_anonymizer_free(a);
        return rc;
    }
    a->work_fixed = opts->work_budget;
    a->work_per_byte = opts->work_per_byte ? opts->work_per_byte
                                           : OA_ANON_WORK_PER_BYTE;
    if (a->work_per_byte > OA_ANON_MAX_WORK_PER_BYTE)
        a->work_per_byte = OA_ANON_MAX_WORK_PER_BYTE;
    a->work.cancelled = opts->cancelled;
    a->work.cancel_user = opts->cancel_user;
    oa_anon__rewrite_init(a);
    *out = a;
    return OA_OK;
}

void oa_anonymizer_free(oa_anonymizer *a)
{
    if (a == NULL)
        return;
    oa_writer_free(a->writer);
    oa_anon__pixels_free(a);
    oa_buf_dispose(&a->scratch);
    oa_buf_dispose(&a->folded);
    oa_anon__clean_free(a);
    oa_anon__needles_free(a);
    oa_free(a->needles);
    oa_free(a->arena);
    oa_free(a->arena_lc);
    oa_match_free(a->match_plain);
    oa_match_free(a->match_leak);
    oa_free(a->levels);
    oa_anon__pairs_free(a);
    memset(a->secret, 0, sizeof(a->secret));
    oa_free(a);
}

oa_status oa_anonymizer_run(oa_anonymizer *a, const oa_anon_identity *id,
                            const uint8_t *in, size_t len,
                            oa_anon_result *res, oa_error *err)
{
    oa_dicom_handler pre;
    oa_parse_info info;
    oa_status rc;
    char gen_name[65], gen_id[65];
    const char *key;
    size_t key_len;

    memset(res, 0, sizeof(*res));
    a->id = id;
    a->res = res;
    a->sop_class[0] = a->orig_pid[0] = a->orig_name[0] = '\0';
    oa_anon__needles_reset(a);
    a->pre_foreign = 0;
    memset(a->inserted, 0, sizeof(a->inserted));
    memset(a->seq_mode, 0, sizeof(a->seq_mode));
    memset(a->levels, 0, a->n_levels * sizeof(level));
    a->skip_leak_depth = 0;
    a->work.used = 0;
    a->work.next_poll = 0;
    a->work.budget = a->work_fixed
                         ? a->work_fixed
                         : OA_ANON_WORK_FLOOR +
                               (uint64_t)a->work_per_byte * (uint64_t)len;
    a->match_plain_n = a->match_leak_n = UINT32_MAX;
    oa_anon__pairs_reset(a);

    /* 1. pre-scan */
    memset(&pre, 0, sizeof(pre));
    /* the pixels are kept, cleaned or refused at the end of the pre-scan
     * (burned_in.c), before anything is written */
    a->pix_cleaned = false;
    memset(&a->pre_px, 0, sizeof(a->pre_px));
    oa_anon__pixels_pre_events(a, &a->pre_px);
    pre = a->pre_px;
    pre.element = pre_element;
    pre.sequence_begin = pre_sequence;
    pre.item_begin = pre_item_begin;
    pre.item_end = pre_item_end;
    pre.sequence_end = pre_sequence_end;
    pre.user = a;
    rc = oa_dicom_parse(in, len, &a->reader_opts, &pre, &info, err);
    if (rc != OA_OK)
        return rc;
    res->defects = info.defects;
    if (a->sop_class[0] == '\0' && info.meta_sop_class != NULL)
        oa_anon__copy_value(a->sop_class, info.meta_sop_class,
                   info.meta_sop_class_len < UID_MAX
                       ? info.meta_sop_class_len : UID_MAX);
    if (oa_profile_drops_sop_class(a->profile, a->sop_class,
                                   strlen(a->sop_class))) {
        res->dropped = true;
        return OA_OK;
    }

    /* identity: typed by the caller, or keyed on the original ID */
    key = a->orig_pid[0] ? a->orig_pid : a->orig_name;
    key_len = strlen(key);
    oa_anon_pseudonym(a, key, key_len, gen_name, gen_id);
    snprintf(a->new_name, sizeof(a->new_name), "%s",
             id && id->new_patient_name && id->new_patient_name[0]
                 ? id->new_patient_name : gen_name);
    snprintf(a->new_id, sizeof(a->new_id), "%s",
             id && id->new_patient_id && id->new_patient_id[0]
                 ? id->new_patient_id : gen_id);
    a->date_offset = oa_anon_date_offset(a, key, key_len);

    /* 2. rewrite */
    oa_writer_reset(a->writer);
    rc = oa_dicom_parse(in, len, &a->reader_opts, &a->handler, &info, err);
    if (rc != OA_OK)
        return rc;
    if (a->res->anonymized.sop_uid[0] == '\0' && info.meta_sop_instance) {
        /* no SOP Instance UID in the dataset (DICOMDIR): remap the meta's */
        char cls[OA_ANON_VALUE_MAX], inst[UID_MAX + 8];
        oa_anon__copy_value(cls, a->sop_class, strlen(a->sop_class));
        if (oa_anon_map_uid(a, (const char *)info.meta_sop_instance,
                            info.meta_sop_instance_len, inst,
                            sizeof(inst)) == 0) {
            oa_writer_set_media_uids(a->writer, cls, inst, NULL);
            oa_anon__note_uid(a, (const char *)info.meta_sop_instance,
                              info.meta_sop_instance_len, inst);
        }
    }
    oa_anon__pairs_result(a);
    rc = oa_writer_finish(a->writer, &res->data, &res->len, err);
    if (rc != OA_OK)
        return rc;

    /* 3. leak check over the output */
    if (a->needles_overflow) {
        res->data = NULL;
        res->len = 0;
        return oa_error_set(err, OA_ELIMIT,
                            "too many identifying values to check the "
                            "output for leaks: refused");
    }
    rc = oa_anon__leak_check(a, res->data, res->len, err);
    if (rc != OA_OK) {
        res->data = NULL;
        res->len = 0;
        /* the leak check's own errors (OA_ELEAK, the work budget, a
         * cancel, memory) say what happened; a parse error is ours */
        if (rc == OA_EPARSE)
            return oa_error_set(err, rc,
                                "the anonymized output does not read back");
    }
    return rc;
}
