/*
 * Identity burned into the pixels, in the engine: the profile's
 * BurnedInText option applied with Plugin/pixels/.
 *
 * The pre-scan hands the pixel module the top-level attributes it wants,
 * the Sequence of Ultrasound Regions and the Pixel Data (borrowed from the
 * input); at its end, one decision per instance:
 *  - no risk in the header: the pixels pass byte for byte (a few string
 *    compares, nothing allocated);
 *  - cleaned: the rewrite writes the new Pixel Data (rewrite.c), Burned
 *    In Annotation becomes NO and 113101 (Clean Pixel Data Option) joins
 *    the De-identification Method Code Sequence;
 *  - refused (a risky image no rule covers and OCR cannot clear, or
 *    BurnedInText "refuse"): the instance fails with OA_ELEAK and a reason
 *    naming what was missing, never a value;
 *  - compressed in a syntax the module does not decode: OA_EUNSUPPORTED,
 *    which the plugin answers by decoding through Orthanc and running
 *    again (the command-line tool refuses, naming the syntax).
 */
#include "engine_int.h"

#include <cjson/cJSON.h>

#include <stdio.h>
#include <string.h>

#define TAG_US_REGIONS OA_TAG(0x0018, 0x6011)

oa_status oa_anon__pixels_init(oa_anonymizer *a, const oa_pixels_ocr *ocr,
                               oa_error *err)
{
    const oa_anon_options *o = oa_profile_options(a->profile);
    size_t n;

    a->pix_mode = o->burned_in_text;
    oa_pixels_policy_init(&a->pix_policy);
    oa_pixels_result_init(&a->pix);
    a->pix_policy.user_rules = oa_profile_pixel_rules(a->profile, &n);
    a->pix_policy.n_user_rules = n;
    a->pix_policy.ocr = ocr;
    a->pix_policy.ocr_strict = a->pix_mode == OA_OPT_STRICT;
    if (a->pix_mode == OA_OPT_KEEP)
        return OA_OK;
    return oa_pixels_attrs_new(&a->pix_attrs, err);
}

void oa_anon__pixels_free(oa_anonymizer *a)
{
    oa_pixels_result_dispose(&a->pix);
    oa_pixels_attrs_free(a->pix_attrs);
    a->pix_attrs = NULL;
}

/* ------------------------------------------------------------------ */
/* The pre-scan                                                         */

static oa_status fwd_begin(void *user, const oa_parse_info *info,
                           oa_error *err)
{
    oa_anonymizer *a = user;
    const oa_dicom_handler *px = oa_pixels_attrs_handler(a->pix_attrs);

    /* the SOP class of the meta header, if the dataset has none */
    a->pix_meta_class[0] = '\0';
    if (info->meta_sop_class != NULL)
        oa_anon__copy_value(a->pix_meta_class, info->meta_sop_class,
                            info->meta_sop_class_len < UID_MAX
                                ? info->meta_sop_class_len
                                : UID_MAX);
    return px->begin != NULL ? px->begin(px->user, info, err) : OA_OK;
}

static oa_status pixels_decide(oa_anonymizer *a, oa_error *err);

/* The end of the pre-scan: decide now, while the values it borrowed are
 * alive (a deflated dataset's live in the parse's inflated buffer).  An
 * instance the profile drops is not looked at. */
static oa_status fwd_end(void *user, oa_error *err)
{
    oa_anonymizer *a = user;
    const char *cls = a->sop_class[0] ? a->sop_class : a->pix_meta_class;

    if (oa_profile_drops_sop_class(a->profile, cls, strlen(cls)))
        return OA_OK;
    return pixels_decide(a, err);
}

static oa_status fwd_item_begin(void *user, const oa_item *it, oa_error *err)
{
    oa_anonymizer *a = user;
    const oa_dicom_handler *px = oa_pixels_attrs_handler(a->pix_attrs);
    return px->item_begin != NULL ? px->item_begin(px->user, it, err) : OA_OK;
}

static oa_status fwd_item_end(void *user, oa_error *err)
{
    oa_anonymizer *a = user;
    const oa_dicom_handler *px = oa_pixels_attrs_handler(a->pix_attrs);
    return px->item_end != NULL ? px->item_end(px->user, err) : OA_OK;
}

static oa_status fwd_sequence_end(void *user, oa_error *err)
{
    oa_anonymizer *a = user;
    const oa_dicom_handler *px = oa_pixels_attrs_handler(a->pix_attrs);
    return px->sequence_end != NULL ? px->sequence_end(px->user, err)
                                    : OA_OK;
}

static oa_status fwd_fragment(void *user, const oa_item *f, const uint8_t *d,
                              oa_error *err)
{
    oa_anonymizer *a = user;
    const oa_dicom_handler *px = oa_pixels_attrs_handler(a->pix_attrs);
    return px->fragment != NULL ? px->fragment(px->user, f, d, err) : OA_OK;
}

void oa_anon__pixels_pre_events(oa_anonymizer *a, oa_dicom_handler *pre)
{
    if (a->pix_attrs == NULL)
        return;
    oa_pixels_attrs_reset(a->pix_attrs);
    pre->begin = fwd_begin;
    pre->item_begin = fwd_item_begin;
    pre->item_end = fwd_item_end;
    pre->sequence_end = fwd_sequence_end;
    pre->fragment = fwd_fragment;
    pre->end = fwd_end;
}

oa_status oa_anon__pixels_pre_element(oa_anonymizer *a, const oa_element *el,
                                      oa_error *err)
{
    const oa_dicom_handler *px;

    if (a->pix_attrs == NULL ||
        (el->depth == 0 && !oa_pixels_wants_tag(el->tag)))
        return OA_OK;
    px = oa_pixels_attrs_handler(a->pix_attrs);
    return px->element(px->user, el, err);
}

oa_status oa_anon__pixels_pre_sequence(oa_anonymizer *a,
                                       const oa_element *el, oa_error *err)
{
    const oa_dicom_handler *px;
    oa_status rc;

    if (a->pix_attrs == NULL || el->depth != 0 ||
        (el->tag != TAG_US_REGIONS && el->tag != OA_TAG_PIXEL_DATA))
        return OA_SKIP;
    px = oa_pixels_attrs_handler(a->pix_attrs);
    rc = px->sequence_begin(px->user, el, err);
    return rc == OA_SKIP ? OA_OK : rc;
}

/* ------------------------------------------------------------------ */
/* The decision                                                         */

static void summarize(oa_anonymizer *a)
{
    oa_anon_pixels *s = &a->res->pixels;
    const oa_pixels_result *r = &a->pix;

    s->verdict = r->verdict;
    s->risks = r->risks;
    s->ocr_frames = r->ocr_frames;
    s->ocr_words = r->ocr_words;
    s->n_boxes = 0;
    for (size_t i = 0; i < r->n_ops; i++) {
        oa_anon_pixel_box *b;

        if (s->n_boxes < OA_ANON_PIXEL_BOXES) {
            b = &s->boxes[s->n_boxes];
            b->x = r->ops[i].rect.x;
            b->y = r->ops[i].rect.y;
            b->w = r->ops[i].rect.w;
            b->h = r->ops[i].rect.h;
            b->keep = r->ops[i].keep;
            snprintf(b->label, sizeof(b->label), "%s",
                     r->ops[i].label != NULL ? r->ops[i].label : "");
        }
        s->n_boxes++;
    }
}

static oa_status pixels_decide(oa_anonymizer *a, oa_error *err)
{
    oa_status rc;

    a->pix_cleaned = false;
    a->res->pixels.verdict = OA_PIXELS_KEEP;
    if (a->pix_attrs == NULL)
        return OA_OK;
    oa_pixels_result_dispose(&a->pix);
    oa_pixels_result_init(&a->pix);
    rc = oa_pixels_decide(a->pix_attrs, &a->pix_policy, &a->pix, err);
    if (rc != OA_OK)
        return rc;
    summarize(a);
    switch (a->pix.verdict) {
    case OA_PIXELS_KEEP:
        return OA_OK;
    case OA_PIXELS_CLEANED:
        if (a->pix_mode != OA_OPT_REFUSE) {
            a->pix_cleaned = true;
            return OA_OK;
        }
        a->res->pixels.verdict = OA_PIXELS_REFUSE;
        a->res->pixels.n_boxes = 0;
        return oa_error_set(err, OA_ELEAK,
                            "burned-in text: the image is at risk (%s) and "
                            "the profile's BurnedInText is \"refuse\"",
                            a->pix.reason);
    case OA_PIXELS_NEEDS_DECODING:
        return oa_error_set(err, OA_EUNSUPPORTED, "burned-in text: %s",
                            a->pix.reason);
    case OA_PIXELS_REFUSE:
    default:
        a->res->pixels.verdict = OA_PIXELS_REFUSE;
        return oa_error_set(err, OA_ELEAK, "burned-in text: %s",
                            a->pix.reason);
    }
}

/* ------------------------------------------------------------------ */
/* The rule table                                                       */

static oa_status pixel_row(cJSON *arr, const char *name, const char *action,
                           const char *source, const char *condition,
                           const char *reason)
{
    cJSON *o = cJSON_CreateObject();

    if (o == NULL)
        return OA_ENOMEM;
    cJSON_AddItemToArray(arr, o);
    if (cJSON_AddStringToObject(o, "Tag", "(7FE0,0010)") == NULL ||
        cJSON_AddStringToObject(o, "Keyword", "PixelData") == NULL ||
        cJSON_AddStringToObject(o, "Name", name) == NULL ||
        cJSON_AddStringToObject(o, "Action", action) == NULL ||
        cJSON_AddStringToObject(o, "Reason", reason) == NULL ||
        cJSON_AddStringToObject(o, "Source", source) == NULL ||
        cJSON_AddStringToObject(o, "Condition", condition) == NULL ||
        cJSON_AddBoolToObject(o, "PixelRule", true) == NULL)
        return OA_ENOMEM;
    return OA_OK;
}

oa_status oa_anon__explain_pixels_json(cJSON *arr, const oa_profile *p)
{
    const oa_anon_options *o = oa_profile_options(p);
    const oa_pixels_user_rule *user;
    char cond[160], reason[400];
    size_t n, i, j;
    int k;

    if (o->burned_in_text == OA_OPT_KEEP)
        return OA_OK;
    user = oa_profile_pixel_rules(p, &n);
    for (i = 0; i < n; i++) {
        snprintf(cond, sizeof(cond), "Manufacturer %s, Model %s, %ux%u",
                 user[i].manufacturer ? user[i].manufacturer : "any",
                 user[i].model ? user[i].model : "any",
                 (unsigned)user[i].columns, (unsigned)user[i].rows);
        k = snprintf(reason, sizeof(reason), "the profile's rule blanks");
        for (j = 0; j < user[i].n_rects && k > 0 &&
                    (size_t)k < sizeof(reason) - 24;
             j++)
            k += snprintf(reason + k, sizeof(reason) - (size_t)k,
                          " [%u,%u,%u,%u]", (unsigned)user[i].rects[j].x,
                          (unsigned)user[i].rects[j].y,
                          (unsigned)user[i].rects[j].w,
                          (unsigned)user[i].rects[j].h);
        if (pixel_row(arr, user[i].label ? user[i].label : "profile rule",
                      "blank", "profile PixelRules", cond, reason) != OA_OK)
            return OA_ENOMEM;
    }
    for (i = 0; i < oa_pixels_rule_count(); i++) {
        const oa_pixels_rule_info *r = oa_pixels_rule_get(i);
        const char *action = r->kind == OA_PIXELS_RULE_MASK   ? "blank"
                             : r->kind == OA_PIXELS_RULE_FLAG ? "flag"
                                                              : "keep";

        snprintf(reason, sizeof(reason),
                 r->kind == OA_PIXELS_RULE_MASK
                     ? "%zu region(s) blanked on matching images"
                 : r->kind == OA_PIXELS_RULE_FLAG
                     ? "matching images are at risk: OCR or refusal"
                     : "deid calls matching images clean (%zu)",
                 r->n_ops);
        if (pixel_row(arr, r->label, action, r->source, r->condition,
                      reason) != OA_OK)
            return OA_ENOMEM;
    }
    snprintf(reason, sizeof(reason),
             "BurnedInText %s: risky images no rule covers are read by OCR "
             "and the words that match an identifying value%s are blanked; "
             "without OCR they are refused",
             oa_opt_value_name(o->burned_in_text),
             o->burned_in_text == OA_OPT_STRICT
                 ? " (strict: every word but clinical terms)"
                 : "");
    return pixel_row(arr, "OCR", o->burned_in_text == OA_OPT_REFUSE
                                     ? "refuse"
                                     : "blank",
                     "OCR (Tesseract)", "risky image, no rule", reason);
}
