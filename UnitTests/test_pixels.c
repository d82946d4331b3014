/*
 * Unit tests of the pixels module: the risk triage, every form of the
 * rule language on synthetic attributes, the generated table (it matches
 * its generator, the count it reports), user rules, blanking in every
 * native layout (each blanked pixel holds black, every other byte is
 * unchanged), RLE (round trips, the corpus's RLE files decoded to the
 * checksums of pydicom's decoding), the decision end to end on the
 * corpus's Mindray ultrasound (through the writer and back), an OCR hook,
 * and hostile inputs (sizes that lie, zero and huge dimensions, truncated
 * RLE segments, offsets past the data).
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pixels/pixels_int.h"

#ifndef OA_SOURCE_DIR
#error "OA_SOURCE_DIR must name the repository root"
#endif

#define T(g, e) OA_TAG(0x##g, 0x##e)

/* ------------------------------------------------------------------ */
/* Helpers                                                              */

static oa_pixels_attrs *attrs(void)
{
    oa_pixels_attrs *a = NULL;
    assert_int_equal(oa_pixels_attrs_new(&a, NULL), OA_OK);
    return a;
}

static void set(oa_pixels_attrs *a, uint32_t tag, const char *s)
{
    assert_int_equal(oa_pixels_attrs_set(a, tag, (const uint8_t *)s,
                                         strlen(s), NULL), OA_OK);
}

static void setu(oa_pixels_attrs *a, uint32_t tag, uint32_t v)
{
    assert_int_equal(oa_pixels_attrs_set_uint(a, tag, v, NULL), OA_OK);
}

/* Image attributes of a native instance. */
static void image(oa_pixels_attrs *a, uint32_t rows, uint32_t cols,
                  unsigned samples, unsigned bits, const char *pi)
{
    setu(a, T(0028, 0010), rows);
    setu(a, T(0028, 0011), cols);
    setu(a, T(0028, 0002), samples);
    setu(a, T(0028, 0100), bits);
    setu(a, T(0028, 0101), bits);
    setu(a, T(0028, 0102), bits - 1);
    setu(a, T(0028, 0103), 0);
    set(a, T(0028, 0004), pi);
    assert_int_equal(oa_pixels_attrs_set_ts(a, "1.2.840.10008.1.2.1", 19,
                                            NULL), OA_OK);
}

static uint64_t rng_state = 88172645463325252ull;
static uint8_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint8_t)(rng_state >> 24);
}

static uint8_t *random_bytes(size_t n)
{
    uint8_t *p = malloc(n ? n : 1);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = rnd();
    return p;
}

static const oa_pixels_rule *rule_named(const char *label, size_t nth)
{
    size_t n;
    const oa_pixels_rule *r = oa_px_rules(&n);
    for (size_t i = 0; i < n; i++)
        if (strcmp(r[i].info.label, label) == 0 && nth-- == 0)
            return &r[i];
    fail_msg("no rule %s", label);
    return NULL;
}

static void md5_hex(const uint8_t *p, size_t n, char out[33])
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dl = 0;
    EVP_Digest(p, n, d, &dl, EVP_md5(), NULL);
    for (unsigned i = 0; i < 16; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static bool corpus_file(const char *rel, oa_buf *buf)
{
    char path[1024];
    const char *env = getenv("OA_CORPUS");
    /* The test corpus is outside the repository: $OA_CORPUS, else
     * ../shared/corpus beside the clone; its tests are skipped without. */
    snprintf(path, sizeof path, "%s/%s",
             env && env[0] ? env : OA_SOURCE_DIR "/../shared/corpus", rel);
    if (access(path, R_OK) != 0) {
        print_message("skipped: corpus not found (%s)\n", rel);
        return false;
    }
    oa_buf_init(buf, (size_t)1 << 30);
    assert_int_equal(oa_file_read(path, buf, NULL), OA_OK);
    return true;
}

/* ------------------------------------------------------------------ */
/* Table                                                                */

static void test_table_is_generated_from_reference(void **state)
{
    char cmd[2048];
    FILE *f;
    char line[512];
    unsigned labels = 0, translated = 0, untranslated = 99;
    (void)state;

    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 %s/Resources/Scripts/GeneratePixelRules.py "
             "%s/pixels_rules_check.inc >/dev/null && cmp -s "
             "%s/pixels_rules_check.inc %s/Plugin/pixels/rules_table.inc",
             OA_SOURCE_DIR, OA_BINARY_DIR, OA_BINARY_DIR, OA_SOURCE_DIR);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s/Plugin/pixels/rules_table.inc",
             OA_SOURCE_DIR);
    f = fopen(cmd, "r");
    assert_non_null(f);
    while (fgets(line, sizeof line, f)) {
        sscanf(line, " * Labels read: %u; translated: %u", &labels,
               &translated);
        sscanf(line, " * not translated: %u.", &untranslated);
    }
    fclose(f);
    /* deid.dicom has 118 labels, deid.dicom.ultrasound 3 */
    assert_int_equal(labels, 121);
    assert_int_equal(oa_pixels_rule_count(), translated);
    assert_int_equal(oa_pixels_rules_untranslated(), untranslated);
    assert_int_equal(translated + untranslated, labels);
    assert_non_null(oa_pixels_rule_get(0));
    assert_null(oa_pixels_rule_get(oa_pixels_rule_count()));
    /* coordinates (x0,y0,x1,y1) and ctpcoordinates (x,y,w,h) */
    {
        const oa_pixels_rule *r = rule_named("LightSpeed Dose Report", 0);
        const oa_pixels_rule_op *o = oa_px_rule_ops() + r->op_first;
        assert_int_equal(r->info.kind, OA_PIXELS_RULE_MASK);
        assert_int_equal(o->x0, 0);
        assert_int_equal(o->x1, 512);
        assert_int_equal(o->y1, 121);
        r = rule_named("ATL HDI 5000", 0);
        o = oa_px_rule_ops() + r->op_first;
        assert_int_equal(r->n_ops, 2);
        assert_int_equal(o[0].x0, 40);
        assert_int_equal(o[0].x1, 240);
        assert_int_equal(o[0].y1, 40);
        assert_int_equal(o[1].x0, 240);
        assert_int_equal(o[1].x1, 430);
        r = rule_named("Clean Ultrasound Regions", 0);
        o = oa_px_rule_ops() + r->op_first;
        assert_int_equal(r->recipe, 1);
        assert_int_equal(o->kind, OA_PX_OP_US_REGIONS);
        assert_true(o->keep);
        r = rule_named("Blank Image", 0);
        o = oa_px_rule_ops() + r->op_first;
        assert_int_equal(o->kind, OA_PX_OP_ALL);
        assert_int_equal(r->n_terms, 0);
        assert_int_equal(rule_named("Stanford Blacklist Missing ImageType",
                                    0)->info.kind, OA_PIXELS_RULE_FLAG);
        assert_int_equal(rule_named("Marked as Clean Catch All", 0)->info.kind,
                         OA_PIXELS_RULE_ALLOW);
    }
}

/* ------------------------------------------------------------------ */
/* Rule language                                                        */

static void test_regex(void **state)
{
    (void)state;
    assert_true(oa_px_regex_search("GE", "GE MEDICAL", 10));
    assert_true(oa_px_regex_search("medical", "GE MEDICAL", 10));
    assert_false(oa_px_regex_search("SIEMENS", "GE MEDICAL", 10));
    assert_true(oa_px_regex_search("A400|A500", "TUS-A500", 8));
    assert_true(oa_px_regex_search("SOMATOM Definition AS+",
                                   "SOMATOM Definition AS", 21));
    assert_true(oa_px_regex_search("SOMATOM Definition AS+",
                                   "SOMATOM Definition ASS+", 23));
    assert_false(oa_px_regex_search("SOMATOM Definition AS+",
                                    "SOMATOM Definition A", 20));
    /* deid's regex: "DERIVED+SECONDARY" is not "DERIVED and SECONDARY" */
    assert_false(oa_px_regex_search("DERIVED+SECONDARY",
                                    "DERIVED\\SECONDARY", 17));
    assert_true(oa_px_regex_search("DERIVED+SECONDARY", "DERIVEDDSECONDARY",
                                   17));
    assert_true(oa_px_regex_search("x", "x", 1));
    assert_false(oa_px_regex_search("x", "", 0));
}

static void test_rule_forms(void **state)
{
    oa_pixels_attrs *a = attrs();
    const oa_pixels_rule *r;
    (void)state;

    /* contains + contains || (line of two terms) */
    r = rule_named("LightSpeed Dose Report", 0);
    set(a, T(0008, 1090), "LightSpeed VCT");
    set(a, T(0008, 0060), "CT");
    assert_false(oa_px_rule_matches(r, a, NULL));
    set(a, T(0008, 103E), "Dose Info");
    assert_true(oa_px_rule_matches(r, a, NULL));
    oa_pixels_attrs_reset(a);
    set(a, T(0008, 1090), "LightSpeed VCT");
    set(a, T(0008, 0060), "CT");
    set(a, T(0008, 0008), "DERIVED\\SECONDARY\\SCREEN SAVE");
    assert_true(oa_px_rule_matches(r, a, NULL));
    /* the line groups: SeriesDescription alone is not enough */
    oa_pixels_attrs_reset(a);
    set(a, T(0008, 103E), "Dose Info");
    assert_false(oa_px_rule_matches(r, a, NULL));

    /* missing || empty, + contains */
    r = rule_named("Stanford Med Reconstruction", 0);
    oa_pixels_attrs_reset(a);
    set(a, T(0008, 0008), "DERIVED\\PRIMARY");
    assert_true(oa_px_rule_matches(r, a, NULL));          /* Manufacturer missing */
    set(a, T(0008, 0070), "  ");
    assert_true(oa_px_rule_matches(r, a, NULL));          /* empty */
    set(a, T(0008, 0070), "ACME");
    assert_false(oa_px_rule_matches(r, a, NULL));

    /* equals on a number (Rows), case-insensitive contains */
    r = rule_named("Acuson Sequoia", 0);
    oa_pixels_attrs_reset(a);
    set(a, T(0008, 0060), "US");
    set(a, T(0008, 0070), "acuson");
    set(a, T(0008, 1090), "SEQUOIA");
    setu(a, T(0028, 0010), 480);
    setu(a, T(0028, 0011), 640);
    assert_true(oa_px_rule_matches(r, a, NULL));
    setu(a, T(0028, 0010), 4800);
    assert_false(oa_px_rule_matches(r, a, NULL));

    /* the typo fixed: Manfacturer -> Manufacturer */
    r = rule_named("ADAC", 0);
    oa_pixels_attrs_reset(a);
    setu(a, T(0028, 0010), 832);
    setu(a, T(0028, 0011), 1024);
    set(a, T(0008, 0070), "ADAC");
    assert_true(oa_px_rule_matches(r, a, NULL));

    /* || lines: the CTP blacklist */
    r = rule_named("Burned In Annotation", 0);
    oa_pixels_attrs_reset(a);
    set(a, T(0008, 0060), "NM");
    set(a, T(0008, 0008), "ORIGINAL");
    assert_false(oa_px_rule_matches(r, a, NULL));
    set(a, T(0028, 0301), "YES");
    assert_true(oa_px_rule_matches(r, a, NULL));

    /* present; and the predicates the data does not use */
    {
        oa_pixels_term t[] = {
            {true, OA_PX_AND, OA_PX_PRESENT, OA_PX_NO_MEMO, T(0018, 6011),
             ""},
            {true, OA_PX_AND, OA_PX_NOTCONTAINS, OA_PX_NO_MEMO,
             T(0008, 0070), "GE"},
            {false, OA_PX_OR, OA_PX_NOTEQUALS, OA_PX_NO_MEMO, T(0028, 0010),
             "512"},
        };
        oa_pixels_attrs_reset(a);
        assert_false(oa_px_terms_match(t, 1, a, NULL));
        set(a, T(0018, 6011), "");
        assert_true(oa_px_terms_match(t, 1, a, NULL));
        set(a, T(0008, 0070), "GE MEDICAL");
        setu(a, T(0028, 0010), 512);
        assert_false(oa_px_terms_match(t, 3, a, NULL));   /* GE and Rows 512 */
        setu(a, T(0028, 0010), 256);
        assert_true(oa_px_terms_match(t, 3, a, NULL));    /* notequals */
        set(a, T(0008, 0070), "SIEMENS");
        setu(a, T(0028, 0010), 512);
        assert_true(oa_px_terms_match(t, 3, a, NULL));    /* notcontains */
    }
    /* a rule that never matches as written (equals Rows 600|768) */
    r = rule_named("EPIQ_7G (CTP)", 0);
    oa_pixels_attrs_reset(a);
    set(a, T(0008, 0070), "EPIQ");
    setu(a, T(0028, 0010), 600);
    assert_false(oa_px_rule_matches(r, a, NULL));
    oa_pixels_attrs_free(a);
}

static void test_wants_tag(void **state)
{
    (void)state;
    assert_true(oa_pixels_wants_tag(T(0008, 0060)));
    assert_true(oa_pixels_wants_tag(T(0010, 0010)));
    assert_true(oa_pixels_wants_tag(T(7FE0, 0010)));
    assert_true(oa_pixels_wants_tag(T(6002, 0100)));   /* any overlay group */
    assert_true(oa_pixels_wants_tag(T(601E, 0102)));
    assert_true(oa_pixels_wants_tag(T(0018, 1016)));   /* from the rules */
    assert_false(oa_pixels_wants_tag(T(0020, 000D)));
    assert_false(oa_pixels_wants_tag(T(6001, 0100)));  /* private */
}

/* ------------------------------------------------------------------ */
/* Triage and the decision                                              */

static oa_pixels_verdict decide(oa_pixels_attrs *a,
                                const oa_pixels_policy *p,
                                oa_pixels_result *r)
{
    oa_error err;
    oa_error_clear(&err);
    oa_pixels_result_init(r);
    assert_int_equal(oa_pixels_decide(a, p, r, &err), OA_OK);
    return r->verdict;
}

static void test_triage(void **state)
{
    oa_pixels_attrs *a = attrs();
    oa_pixels_result r;
    uint8_t px[16 * 16];
    uint32_t cleared;
    (void)state;

    memset(px, 7, sizeof px);
    image(a, 16, 16, 1, 8, "MONOCHROME2");
    set(a, T(0008, 0060), "CT");
    set(a, T(0008, 0008), "ORIGINAL\\PRIMARY\\AXIAL");
    set(a, T(0008, 0016), "1.2.840.10008.5.1.4.1.1.2");
    oa_pixels_attrs_set_native(a, px, sizeof px, 1000, false);
    /* no risk: keep, nothing allocated (the first allocation would fail) */
    oa_alloc_fail_after(1);
    assert_int_equal(decide(a, NULL, &r), OA_PIXELS_KEEP);
    oa_alloc_fail_after(0);
    assert_int_equal(r.risks, 0);
    assert_null(r.value);
    assert_null(r.ops);
    oa_pixels_result_dispose(&r);
    assert_int_equal(oa_px_triage(a, &cleared), 0);

#define RISK(tag, value, bit)                                               \
    do {                                                                    \
        set(a, tag, value);                                                 \
        assert_int_equal(oa_px_triage(a, &cleared) & (bit), (bit));         \
    } while (0)
    RISK(T(0028, 0301), "YES ", OA_PIXELS_RISK_BURNED_IN);
    set(a, T(0028, 0301), "NO");
    assert_int_equal(oa_px_triage(a, &cleared), 0);
    RISK(T(0008, 0060), "US", OA_PIXELS_RISK_MODALITY);
    RISK(T(0008, 0060), "XC", OA_PIXELS_RISK_MODALITY);
    RISK(T(0008, 0060), "ES", OA_PIXELS_RISK_MODALITY);
    RISK(T(0008, 0060), "OT", OA_PIXELS_RISK_MODALITY);
    set(a, T(0008, 0060), "CT");
    RISK(T(0008, 0016), "1.2.840.10008.5.1.4.1.1.7", OA_PIXELS_RISK_SC_CLASS);
    RISK(T(0008, 0016), "1.2.840.10008.5.1.4.1.1.7.1",
         OA_PIXELS_RISK_SC_CLASS);
    RISK(T(0008, 0016), "1.2.840.10008.5.1.4.1.1.7.4\0",
         OA_PIXELS_RISK_SC_CLASS);
    set(a, T(0008, 0016), "1.2.840.10008.5.1.4.1.1.7.5");
    assert_int_equal(oa_px_triage(a, &cleared), 0);
    RISK(T(0008, 0008), "DERIVED\\SECONDARY", OA_PIXELS_RISK_IMAGE_TYPE);
    RISK(T(0008, 0008), "ORIGINAL\\PRIMARY\\SCREEN SAVE",
         OA_PIXELS_RISK_IMAGE_TYPE);
    set(a, T(0008, 0008), "DERIVED\\PRIMARY\\MPR");
    assert_int_equal(oa_px_triage(a, &cleared), 0);     /* reformat */
    RISK(T(0008, 0064), "WSD", OA_PIXELS_RISK_IMAGE_TYPE);
    set(a, T(0008, 0008), "ORIGINAL\\PRIMARY");
    RISK(T(0008, 103E), "Patient DOSE report", OA_PIXELS_RISK_DOSE);
    set(a, T(0008, 103E), "Chest");
    assert_int_equal(oa_px_triage(a, &cleared), 0);
    /* overlay in bit 15 of 12-bit data */
    setu(a, T(0028, 0100), 16);
    setu(a, T(0028, 0101), 12);
    setu(a, T(0028, 0102), 11);
    setu(a, T(6002, 0100), 16);
    setu(a, T(6002, 0102), 15);
    assert_int_equal(oa_px_triage(a, &cleared), OA_PIXELS_RISK_OVERLAY_BITS);
    assert_int_equal(cleared, 1u << 15);
    setu(a, T(6002, 0102), 11);                        /* inside the value */
    assert_int_equal(oa_px_triage(a, &cleared), 0);
    set(a, T(6002, 3000), "");                         /* separate data */
    setu(a, T(6002, 0102), 15);
    assert_int_equal(oa_px_triage(a, &cleared), 0);
#undef RISK
    oa_pixels_attrs_free(a);
}

static void test_refuse_reasons(void **state)
{
    oa_pixels_attrs *a = attrs();
    oa_pixels_result r;
    uint8_t px[64 * 64 * 3];
    (void)state;

    memset(px, 9, sizeof px);
    image(a, 64, 64, 3, 8, "RGB");
    set(a, T(0008, 0060), "US");
    set(a, T(0010, 0010), "Secret^Name");
    oa_pixels_attrs_set_native(a, px, sizeof px, 1234, false);
    assert_int_equal(decide(a, NULL, &r), OA_PIXELS_REFUSE);
    assert_non_null(strstr(r.reason, "Manufacturer (0008,0070) missing"));
    assert_non_null(strstr(r.reason, "64x64"));
    assert_non_null(strstr(r.reason, "OCR is not available"));
    assert_null(strstr(r.reason, "Secret"));
    oa_pixels_result_dispose(&r);
    /* compressed, not RLE: needs decoding, names the syntax */
    oa_pixels_attrs_set_ts(a, "1.2.840.10008.1.2.4.50", 22, NULL);
    oa_pixels_attrs_add_fragment(a, px, 0, 2000, NULL);
    oa_pixels_attrs_add_fragment(a, px, 100, 2008, NULL);
    {
        oa_pixels_user_rule u = {NULL, NULL, NULL, 0, 0, NULL, 0};
        oa_pixels_rect rc = {0, 0, 64, 10};
        oa_pixels_policy p;
        u.label = (char *)"user: test";
        u.model = (char *)"X1";
        u.rects = &rc;
        u.n_rects = 1;
        set(a, T(0008, 1090), "ACME X1");
        oa_pixels_policy_init(&p);
        p.user_rules = &u;
        p.n_user_rules = 1;
        assert_int_equal(decide(a, &p, &r), OA_PIXELS_NEEDS_DECODING);
        assert_non_null(strstr(r.reason, "1.2.840.10008.1.2.4.50"));
        assert_non_null(strstr(r.reason, "compressed"));
        oa_pixels_result_dispose(&r);
    }
    oa_pixels_attrs_free(a);
}

static void test_hostile_sizes(void **state)
{
    oa_pixels_attrs *a = attrs();
    oa_pixels_result r;
    oa_pixels_policy p;
    oa_pixels_user_rule u = {NULL, NULL, NULL, 0, 0, NULL, 0};
    oa_pixels_rect rc = {0, 0, 4, 4};
    uint8_t px[100];
    (void)state;

    u.label = (char *)"user: t";
    u.manufacturer = (char *)"ACME";
    u.rects = &rc;
    u.n_rects = 1;
    oa_pixels_policy_init(&p);
    p.user_rules = &u;
    p.n_user_rules = 1;
    memset(px, 1, sizeof px);
    image(a, 10, 10, 1, 8, "MONOCHROME2");
    set(a, T(0008, 0070), "ACME");
    set(a, T(0008, 0060), "OT");
    /* too short: 99 bytes for 10x10 */
    oa_pixels_attrs_set_native(a, px, 99, 4242, false);
    assert_int_equal(decide(a, &p, &r), OA_PIXELS_REFUSE);
    assert_non_null(strstr(r.reason, "offset 4242"));
    assert_non_null(strstr(r.reason, "needs 100"));
    oa_pixels_result_dispose(&r);
    /* frames that lie: 2 frames in 100 bytes */
    setu(a, T(0028, 0008), 2);
    oa_pixels_attrs_set_native(a, px, 100, 4242, false);
    assert_int_equal(decide(a, &p, &r), OA_PIXELS_REFUSE);
    assert_non_null(strstr(r.reason, "needs 200"));
    oa_pixels_result_dispose(&r);
    /* too long: hidden frames */
    setu(a, T(0028, 0008), 1);
    setu(a, T(0028, 0010), 5);
    assert_int_equal(decide(a, &p, &r), OA_PIXELS_REFUSE);
    assert_non_null(strstr(r.reason, "hide frames"));
    oa_pixels_result_dispose(&r);
    /* zero and huge dimensions */
    setu(a, T(0028, 0010), 0);
    assert_int_equal(decide(a, &p, &r), OA_PIXELS_REFUSE);
    oa_pixels_result_dispose(&r);
    setu(a, T(0028, 0010), 65535);
    setu(a, T(0028, 0011), 65535);
    setu(a, T(0028, 0008), 100000);
    assert_int_equal(decide(a, &p, &r), OA_PIXELS_REFUSE);
    assert_non_null(strstr(r.reason, "ceiling"));
    oa_pixels_result_dispose(&r);
    /* invalid bits */
    setu(a, T(0028, 0010), 10);
    setu(a, T(0028, 0011), 10);
    setu(a, T(0028, 0008), 1);
    setu(a, T(0028, 0100), 12);
    assert_int_equal(decide(a, &p, &r), OA_PIXELS_REFUSE);
    assert_non_null(strstr(r.reason, "Bits Allocated"));
    oa_pixels_result_dispose(&r);
    setu(a, T(0028, 0100), 8);
    setu(a, T(0028, 0102), 9);
    assert_int_equal(decide(a, &p, &r), OA_PIXELS_REFUSE);
    oa_pixels_result_dispose(&r);
    /* fuzz crash-a4dda822: empty values with NULL pointers */
    assert_int_equal(oa_pixels_attrs_set(a, T(0008, 0008), NULL, 0, NULL),
                     OA_OK);
    oa_pixels_attrs_set_native(a, NULL, 0, 77, false);
    assert_int_equal(decide(a, &p, &r), OA_PIXELS_REFUSE);
    oa_pixels_result_dispose(&r);
    oa_pixels_attrs_set_native(a, px, 100, 4242, false);
    /* a good one after all that */
    setu(a, T(0028, 0102), 7);
    assert_int_equal(decide(a, &p, &r), OA_PIXELS_CLEANED);
    assert_int_equal(r.value_len, 100);
    for (int i = 0; i < 100; i++)
        assert_int_equal(r.value[i], (i % 10 < 4 && i / 10 < 4) ? 0 : 1);
    assert_int_equal(r.n_ops, 1);
    assert_string_equal(r.ops[0].label, "user: t");
    oa_pixels_result_dispose(&r);
    oa_pixels_attrs_free(a);
}

/* ------------------------------------------------------------------ */
/* Blanking in every layout                                             */

/* The reference: word of sample s of pixel (x, y) of frame f. */
static size_t word_offset(const oa_pixels_layout *l, uint32_t f, uint32_t x,
                          uint32_t y, unsigned s)
{
    size_t fb, total, bytes = l->bits_allocated / 8u;
    size_t px = (size_t)l->rows * l->columns, i = (size_t)y * l->columns + x;
    oa_pixels_frame_bytes(l, &fb, &total);
    if (l->photometric == OA_PIXELS_YBR_FULL_422 ||
        l->photometric == OA_PIXELS_YBR_PARTIAL_422) {
        size_t pair = i / 2;
        size_t k = s == 0 ? (i & 1) : 1 + s;
        return f * fb + (pair * 4 + k) * bytes;
    }
    if (l->planar)
        return f * fb + (s * px + i) * bytes;
    return f * fb + (i * l->samples + s) * bytes;
}

static uint32_t read_word(const oa_pixels_layout *l, const uint8_t *p)
{
    unsigned b = l->bits_allocated / 8u;
    uint32_t w = 0;
    for (unsigned i = 0; i < b; i++)
        w |= (uint32_t)p[l->big_endian ? b - 1 - i : i] << (8 * i);
    return w;
}

static bool inside(const oa_pixels_rect *rs, size_t n, uint32_t x,
                   uint32_t y)
{
    for (size_t i = 0; i < n; i++)
        if (x >= rs[i].x && x < rs[i].x + rs[i].w && y >= rs[i].y &&
            y < rs[i].y + rs[i].h)
            return true;
    return false;
}

/* Blank `rects` in a random image of layout l; check every byte. */
static void check_layout(oa_pixels_layout l, const oa_pixels_rect *rects,
                         size_t n, const uint32_t black[3])
{
    size_t fb, total;
    uint8_t *orig, *img;
    oa_pixels_op ops[8];
    unsigned bytes = l.bits_allocated / 8u;
    bool is422 = l.photometric == OA_PIXELS_YBR_FULL_422 ||
                 l.photometric == OA_PIXELS_YBR_PARTIAL_422;
    unsigned words = is422 ? 3 : l.samples;
    uint8_t *touched;
    oa_error err;

    assert_int_equal(oa_pixels_frame_bytes(&l, &fb, &total), 0);
    orig = random_bytes(total);
    img = malloc(total);
    touched = calloc(total, 1);
    memcpy(img, orig, total);
    for (size_t i = 0; i < n; i++) {
        ops[i].rect = rects[i];
        ops[i].keep = false;
        ops[i].label = "t";
    }
    oa_error_clear(&err);
    if (oa_pixels_blank_native(&l, img, total, ops, n, 0, &err) != OA_OK)
        fail_msg("blank: %s", err.msg);
    for (uint32_t f = 0; f < l.frames; f++)
        for (uint32_t y = 0; y < l.rows; y++)
            for (uint32_t x = 0; x < l.columns; x++) {
                bool in = inside(rects, n, x, y);
                if (is422)   /* whole pairs */
                    in = inside(rects, n, x & ~1u, y) ||
                         inside(rects, n, x | 1u, y);
                if (l.bits_allocated == 1) {
                    size_t bit = ((size_t)f * l.rows + y) * l.columns + x;
                    unsigned v = (img[bit / 8] >> (bit % 8)) & 1u;
                    unsigned o = (orig[bit / 8] >> (bit % 8)) & 1u;
                    assert_int_equal(v, in ? black[0] : o);
                    continue;
                }
                if (!in)
                    continue;
                for (unsigned s = 0; s < words; s++) {
                    size_t off = word_offset(&l, f, x, y, s);
                    if (read_word(&l, img + off) != black[s])
                        fail_msg("pixel %u,%u frame %u sample %u: %08x, "
                                 "black %08x", x, y, f, s,
                                 read_word(&l, img + off), black[s]);
                    memset(touched + off, 1, bytes);
                }
            }
    if (l.bits_allocated != 1)
        for (size_t i = 0; i < total; i++)
            if (!touched[i] && img[i] != orig[i])
                fail_msg("byte %zu outside the boxes changed", i);
    free(orig);
    free(img);
    free(touched);
}

static oa_pixels_layout lay(uint32_t rows, uint32_t cols, uint32_t frames,
                            unsigned samples, unsigned bits, int pi)
{
    oa_pixels_layout l;
    memset(&l, 0, sizeof l);
    l.rows = rows;
    l.columns = cols;
    l.frames = frames;
    l.samples = (uint16_t)samples;
    l.bits_allocated = (uint16_t)bits;
    l.bits_stored = (uint16_t)bits;
    l.high_bit = (uint16_t)(bits - 1);
    l.photometric = pi;
    return l;
}

/* ------------------------------------------------------------------ */
/* Grayscale views (what OCR and the frame picker read)                 */

static void test_gray8_monochrome(void **state)
{
    uint8_t out[4];
    oa_error err;

    (void)state;
    /* 8-bit MONOCHROME2, windowed to its min/max. */
    uint8_t m8[4] = {10, 20, 30, 110};
    oa_pixels_layout f = lay(2, 2, 1, 1, 8, OA_PIXELS_MONOCHROME2);
    assert_int_equal(oa_pixels_gray8(&f, m8, 4, 0, out, NULL), OA_OK);
    assert_int_equal(out[0], 0);
    assert_int_equal(out[3], 255);
    assert_int_equal(out[1], 26);   /* 10/100 of 255, rounded */
    /* MONOCHROME1: inverted. */
    f.photometric = OA_PIXELS_MONOCHROME1;
    assert_int_equal(oa_pixels_gray8(&f, m8, 4, 0, out, NULL), OA_OK);
    assert_int_equal(out[0], 255);
    assert_int_equal(out[3], 0);
    /* 16-bit signed, 12 bits stored, high bits garbage: -2048 .. 2047. */
    uint8_t m16[8] = {0x00, 0xF8, 0xFF, 0x07, 0x00, 0x00, 0x00, 0xA0};
    oa_pixels_layout g = lay(2, 2, 1, 1, 16, OA_PIXELS_MONOCHROME2);
    g.bits_stored = 12;
    g.high_bit = 11;
    g.is_signed = true;
    assert_int_equal(oa_pixels_gray8(&g, m16, 8, 0, out, NULL), OA_OK);
    assert_int_equal(out[0], 0);      /* 0x800 = -2048 */
    assert_int_equal(out[1], 255);    /* 0x7FF = 2047 */
    assert_int_equal(out[2], 128);    /* 0 */
    assert_int_equal(out[3], 128);    /* 0xA000 masked: 0 */
    /* Unsigned, the same bytes: 0x800 is 2048, 0x7FF 2047. */
    g.is_signed = false;
    assert_int_equal(oa_pixels_gray8(&g, m16, 8, 0, out, NULL), OA_OK);
    assert_int_equal(out[0], 255);
    assert_int_equal(out[2], 0);
    /* Big endian (OW of Explicit VR Big Endian): 0x0010, 0x0100. */
    uint8_t be[4] = {0x00, 0x10, 0x01, 0x00};
    oa_pixels_layout h16 = lay(1, 2, 1, 1, 16, OA_PIXELS_MONOCHROME2);
    h16.big_endian = true;
    assert_int_equal(oa_pixels_gray8(&h16, be, 4, 0, out, NULL), OA_OK);
    assert_memory_equal(out, ((uint8_t[]){0, 255}), 2);
    /* A flat frame is white (black if 0), not a division by zero. */
    uint8_t flat[4] = {7, 7, 7, 7};
    f.photometric = OA_PIXELS_MONOCHROME2;
    assert_int_equal(oa_pixels_gray8(&f, flat, 4, 0, out, NULL), OA_OK);
    assert_int_equal(out[0] & out[1] & out[2] & out[3], 255);
    memset(flat, 0, sizeof flat);
    assert_int_equal(oa_pixels_gray8(&f, flat, 4, 0, out, NULL), OA_OK);
    assert_int_equal(out[0] | out[1] | out[2] | out[3], 0);
    /* 1 bit, frame 1 of a cine of 1x3 frames: it starts at bit 3. */
    uint8_t b1[2] = {0x28, 0x00};   /* bits 3 and 5 */
    oa_pixels_layout h = lay(1, 3, 3, 1, 1, OA_PIXELS_MONOCHROME2);
    assert_int_equal(oa_pixels_gray8(&h, b1, 2, 1, out, NULL), OA_OK);
    assert_memory_equal(out, ((uint8_t[]){255, 0, 255}), 3);
    /* Frames of 8-bit: the second one. */
    uint8_t two[8] = {0, 0, 0, 0, 0, 50, 100, 0};
    oa_pixels_layout t = lay(2, 2, 2, 1, 8, OA_PIXELS_MONOCHROME2);
    assert_int_equal(oa_pixels_gray8(&t, two, 8, 1, out, NULL), OA_OK);
    assert_memory_equal(out, ((uint8_t[]){0, 128, 255, 0}), 4);
    /* Too short, bad layouts, a frame past the end. */
    oa_error_clear(&err);
    assert_int_equal(oa_pixels_gray8(&f, m8, 3, 0, out, &err), OA_EPARSE);
    assert_non_null(strstr(err.msg, "3 bytes"));
    assert_int_equal(oa_pixels_gray8(&t, two, 7, 1, out, NULL), OA_EPARSE);
    assert_int_equal(oa_pixels_gray8(&t, two, 8, 2, out, NULL), OA_EINVAL);
    f.bits_stored = 9;
    assert_int_equal(oa_pixels_gray8(&f, m8, 4, 0, out, NULL), OA_EINVAL);
    f.bits_stored = 8;
    f.bits_allocated = 12;
    assert_int_equal(oa_pixels_gray8(&f, m8, 4, 0, out, NULL), OA_EINVAL);
    f.bits_allocated = 8;
    f.samples = 2;
    assert_int_equal(oa_pixels_gray8(&f, m8, 4, 0, out, NULL), OA_EINVAL);
    assert_int_equal(oa_pixels_gray8(NULL, m8, 4, 0, out, NULL), OA_EINVAL);
}

static void test_gray8_colour(void **state)
{
    uint8_t out[3];

    (void)state;
    /* RGB interleaved: white, red, blue, as Rec. 601 luma. */
    uint8_t rgb[9] = {255, 255, 255, 255, 0, 0, 0, 0, 255};
    oa_pixels_layout f = lay(1, 3, 1, 3, 8, OA_PIXELS_RGB);
    assert_int_equal(oa_pixels_gray8(&f, rgb, 9, 0, out, NULL), OA_OK);
    assert_memory_equal(out, ((uint8_t[]){255, 76, 29}), 3);
    /* The same pixels planar. */
    uint8_t rgbp[9] = {255, 255, 0, 255, 0, 0, 255, 0, 255};
    f.planar = true;
    assert_int_equal(oa_pixels_gray8(&f, rgbp, 9, 0, out, NULL), OA_OK);
    assert_memory_equal(out, ((uint8_t[]){255, 76, 29}), 3);
    /* 16 bits a sample: the high byte. */
    uint8_t rgb16[6] = {0x00, 0xFF, 0x00, 0xFF, 0x00, 0xFF};
    oa_pixels_layout w = lay(1, 1, 1, 3, 16, OA_PIXELS_RGB);
    assert_int_equal(oa_pixels_gray8(&w, rgb16, 6, 0, out, NULL), OA_OK);
    assert_int_equal(out[0], 255);
    /* YBR_FULL: Y, interleaved and planar. */
    uint8_t ybr[9] = {10, 128, 128, 200, 1, 2, 30, 3, 4};
    f.planar = false;
    f.photometric = OA_PIXELS_YBR_FULL;
    assert_int_equal(oa_pixels_gray8(&f, ybr, 9, 0, out, NULL), OA_OK);
    assert_memory_equal(out, ((uint8_t[]){10, 200, 30}), 3);
    f.planar = true;
    assert_int_equal(oa_pixels_gray8(&f, ybr, 9, 0, out, NULL), OA_OK);
    assert_memory_equal(out, ((uint8_t[]){10, 128, 128}), 3);
    /* YBR_FULL_422 of an odd width: Y0 Y1 Cb Cr, Y2 ... */
    uint8_t y422[6] = {11, 22, 128, 128, 33, 0};
    oa_pixels_layout g = lay(1, 3, 1, 3, 8, OA_PIXELS_YBR_FULL_422);
    assert_int_equal(oa_pixels_gray8(&g, y422, 6, 0, out, NULL), OA_OK);
    assert_memory_equal(out, ((uint8_t[]){11, 22, 33}), 3);
    assert_int_equal(oa_pixels_gray8(&g, y422, 5, 0, out, NULL), OA_EPARSE);
    /* 1 bit a sample in colour is not a layout. */
    f.bits_allocated = f.bits_stored = 1;
    f.high_bit = 0;
    assert_int_equal(oa_pixels_gray8(&f, ybr, 9, 0, out, NULL), OA_EINVAL);
}

static void test_blank_layouts(void **state)
{
    /* clipped to the image, overlapping, a one-pixel box */
    const oa_pixels_rect rects[] = {{0, 0, 1000, 2}, {3, 4, 5, 3},
                                    {6, 5, 40, 40}, {1, 9, 1, 1}};
    oa_pixels_layout l;
    uint32_t black[3];
    (void)state;

    /* 8-bit MONOCHROME2 / MONOCHROME1, odd size, 3 frames */
    l = lay(11, 13, 3, 1, 8, OA_PIXELS_MONOCHROME2);
    black[0] = 0;
    check_layout(l, rects, 4, black);
    l.photometric = OA_PIXELS_MONOCHROME1;
    black[0] = 0xFF;
    check_layout(l, rects, 4, black);
    /* 16-bit unsigned 12 stored */
    l = lay(12, 9, 2, 1, 16, OA_PIXELS_MONOCHROME1);
    l.bits_stored = 12;
    l.high_bit = 11;
    black[0] = 0x0FFF;
    check_layout(l, rects, 4, black);
    /* 16-bit signed 12 stored: MONOCHROME2 -2048 sign-extended */
    l.is_signed = true;
    l.photometric = OA_PIXELS_MONOCHROME2;
    black[0] = 0xF800;
    check_layout(l, rects, 4, black);
    /* MONOCHROME1 signed: +2047 */
    l.photometric = OA_PIXELS_MONOCHROME1;
    black[0] = 0x07FF;
    check_layout(l, rects, 4, black);
    /* high bit 15, 12 stored: the value sits in the top bits */
    l = lay(10, 10, 1, 1, 16, OA_PIXELS_MONOCHROME1);
    l.bits_stored = 12;
    black[0] = 0xFFF0;
    check_layout(l, rects, 4, black);
    /* big endian 16-bit signed full */
    l = lay(10, 11, 2, 1, 16, OA_PIXELS_MONOCHROME2);
    l.is_signed = true;
    l.big_endian = true;
    black[0] = 0x8000;
    check_layout(l, rects, 4, black);
    /* 32-bit */
    l = lay(10, 10, 2, 1, 32, OA_PIXELS_MONOCHROME2);
    l.is_signed = true;
    black[0] = 0x80000000u;
    check_layout(l, rects, 4, black);
    /* palette: the darkest entry */
    l = lay(10, 10, 1, 1, 8, OA_PIXELS_PALETTE);
    l.palette_black = 3;
    black[0] = 3;
    check_layout(l, rects, 4, black);
    /* RGB, planar 0 and 1, 8 and 16 bits */
    l = lay(10, 13, 2, 3, 8, OA_PIXELS_RGB);
    black[0] = black[1] = black[2] = 0;
    check_layout(l, rects, 4, black);
    l.planar = true;
    check_layout(l, rects, 4, black);
    l = lay(10, 13, 1, 3, 16, OA_PIXELS_RGB);
    check_layout(l, rects, 4, black);
    /* YBR_FULL: Y 0, Cb Cr mid */
    l = lay(9, 11, 2, 3, 8, OA_PIXELS_YBR_FULL);
    black[0] = 0;
    black[1] = black[2] = 128;
    check_layout(l, rects, 4, black);
    l.planar = true;
    check_layout(l, rects, 4, black);
    /* YBR_FULL_422: whole pairs (odd x boxes) */
    l = lay(9, 12, 2, 3, 8, OA_PIXELS_YBR_FULL_422);
    check_layout(l, rects, 4, black);
    l.photometric = OA_PIXELS_YBR_PARTIAL_422;
    black[0] = 16;
    check_layout(l, rects, 4, black);
    /* 1-bit, frames not byte-aligned (7x5 = 35 bits) */
    l = lay(5, 7, 3, 1, 1, OA_PIXELS_MONOCHROME2);
    black[0] = 0;
    check_layout(l, rects, 4, black);
    l.photometric = OA_PIXELS_MONOCHROME1;
    black[0] = 1;
    check_layout(l, rects, 4, black);
}

/* The palette's darkest entry, from elements given to the handler. */
static void test_palette_black(void **state)
{
    oa_pixels_attrs *a = attrs();
    const oa_dicom_handler *h = oa_pixels_attrs_handler(a);
    const uint8_t desc[6] = {4, 0, 10, 0, 16, 0};   /* 4 entries from 10 */
    const uint8_t lut[3][8] = {{0xF4, 1, 20, 0, 0x2C, 1, 0x84, 3},
                               {0xF4, 1, 10, 0, 0x2C, 1, 0x84, 3},
                               {0xF4, 1, 30, 0, 5, 0, 0x84, 3}};
    oa_element el;
    oa_pixels_layout l;
    (void)state;

    image(a, 4, 4, 1, 8, "PALETTE COLOR");
    memset(&el, 0, sizeof el);
    el.tag = T(0028, 1101);
    el.vr = OA_VR_US;
    el.length = 6;
    el.value = desc;
    assert_int_equal(h->element(h->user, &el, NULL), OA_OK);
    for (int c = 0; c < 3; c++) {
        el.tag = T(0028, 1201) + (uint32_t)c;
        el.vr = OA_VR_OW;
        el.length = 8;
        el.value = lut[c];
        assert_int_equal(h->element(h->user, &el, NULL), OA_OK);
    }
    assert_int_equal(oa_px_layout(a, &l, NULL), OA_OK);
    assert_int_equal(l.photometric, OA_PIXELS_PALETTE);
    assert_int_equal(l.palette_black, 11);   /* entry 1: 20+10+30 */
    oa_pixels_attrs_free(a);
}

/* Region items through the handler, one with a nested sequence. */
static void test_region_events(void **state)
{
    oa_pixels_attrs *a = attrs();
    const oa_dicom_handler *h = oa_pixels_attrs_handler(a);
    oa_element sq, el;
    oa_item item = {true, 0, 0, 1}, inner = {true, 0, 0, 2};
    uint8_t v[4][4] = {{10, 0, 0, 0}, {20, 0, 0, 0}, {30, 0, 0, 0},
                       {40, 0, 0, 0}};
    const uint32_t tags[4] = {T(0018, 6018), T(0018, 601A), T(0018, 601C),
                              T(0018, 601E)};
    (void)state;

    memset(&sq, 0, sizeof sq);
    sq.tag = T(0018, 6011);
    sq.vr = OA_VR_SQ;
    sq.undefined_length = true;
    memset(&el, 0, sizeof el);
    el.vr = OA_VR_UL;
    el.length = 4;
    el.depth = 1;
    assert_int_equal(h->sequence_begin(h->user, &sq, NULL), OA_OK);
    for (int k = 0; k < 2; k++) {
        assert_int_equal(h->item_begin(h->user, &item, NULL), OA_OK);
        for (int i = 0; i < 4; i++) {
            if (k == 1 && i == 2) {     /* a nested sequence mid-item */
                oa_element nsq = sq;
                oa_element nel = el;
                nsq.tag = T(0018, 6030);
                nsq.depth = 1;
                nel.tag = T(0018, 601C);   /* inside: not this region's */
                nel.depth = 2;
                nel.value = v[0];
                assert_int_equal(h->sequence_begin(h->user, &nsq, NULL), 0);
                assert_int_equal(h->item_begin(h->user, &inner, NULL), 0);
                assert_int_equal(h->element(h->user, &nel, NULL), 0);
                assert_int_equal(h->item_end(h->user, NULL), 0);
                assert_int_equal(h->sequence_end(h->user, NULL), 0);
            }
            el.tag = tags[i];
            el.value = v[i];
            assert_int_equal(h->element(h->user, &el, NULL), OA_OK);
        }
        assert_int_equal(h->item_end(h->user, NULL), OA_OK);
    }
    assert_int_equal(h->sequence_end(h->user, NULL), OA_OK);
    assert_int_equal(a->n_regions, 2);
    for (int k = 0; k < 2; k++) {
        assert_int_equal(a->regions[k].have, 15);
        assert_int_equal(a->regions[k].x0, 10);
        assert_int_equal(a->regions[k].y0, 20);
        assert_int_equal(a->regions[k].x1, 30);
        assert_int_equal(a->regions[k].y1, 40);
    }
    assert_non_null(oa_px_find(a, T(0018, 6011)));
    oa_pixels_attrs_free(a);
}

static void test_blank_keep_and_overlay(void **state)
{
    oa_pixels_layout l = lay(8, 8, 1, 1, 16, OA_PIXELS_MONOCHROME2);
    uint8_t img[128];
    oa_pixels_op ops[2] = {{{0, 0, 8, 8}, false, "all"},
                           {{2, 2, 3, 3}, true, "keep"}};
    (void)state;

    l.bits_stored = 12;
    l.high_bit = 11;
    for (int i = 0; i < 64; i++) {
        img[2 * i] = 0x34;
        img[2 * i + 1] = 0x82;    /* bit 15 overlay set, value 0x234 */
    }
    assert_int_equal(oa_pixels_blank_native(&l, img, sizeof img, ops, 2,
                                            1u << 15, NULL), OA_OK);
    for (int y = 0; y < 8; y++)
        for (int x = 0; x < 8; x++) {
            int i = y * 8 + x;
            bool kept = x >= 2 && x < 5 && y >= 2 && y < 5;
            assert_int_equal(img[2 * i], kept ? 0x34 : 0);
            /* overlay plane cleared everywhere, value kept inside */
            assert_int_equal(img[2 * i + 1], kept ? 0x02 : 0);
        }
}

/* ------------------------------------------------------------------ */
/* RLE                                                                  */

static void roundtrip(uint32_t rows, uint32_t cols, uint16_t s, uint16_t b,
                      bool runs)
{
    size_t n = (size_t)rows * cols * s * b;
    uint8_t *in = random_bytes(n), *out = malloc(n);
    oa_buf enc;
    oa_error err;

    if (runs)
        for (size_t i = 0; i < n; i++)
            in[i] = (i / 37) % 3 == 0 ? 5 : in[i] & 1;
    oa_buf_init(&enc, (size_t)1 << 30);
    oa_error_clear(&err);
    assert_int_equal(oa_pixels_rle_encode(in, n, rows, cols, s, b, &enc,
                                          &err), OA_OK);
    assert_int_equal(enc.len % 2, 0);
    assert_int_equal(oa_buf_data(&enc)[0], s * b);
    assert_int_equal(oa_pixels_rle_decode(oa_buf_data(&enc), enc.len, rows,
                                          cols, s, b, out, n, &err), OA_OK);
    assert_memory_equal(in, out, n);
    oa_buf_dispose(&enc);
    free(in);
    free(out);
}

static void test_rle_roundtrip(void **state)
{
    (void)state;
    roundtrip(1, 1, 1, 1, false);
    roundtrip(7, 129, 1, 1, false);
    roundtrip(7, 300, 1, 1, true);
    roundtrip(16, 17, 1, 2, true);
    roundtrip(5, 255, 3, 1, false);
    roundtrip(5, 256, 3, 2, true);
    roundtrip(3, 3, 3, 4, false);
    roundtrip(64, 64, 1, 4, true);
}

static void test_rle_hostile(void **state)
{
    uint8_t frag[80], out[16];
    oa_error err;
    (void)state;

    memset(frag, 0, sizeof frag);
    frag[0] = 1;
    frag[4] = 64;
    frag[64] = 15;                     /* 16 literal bytes follow */
    memset(frag + 65, 9, 15);          /* only 15 */
    oa_error_clear(&err);
    assert_int_equal(oa_pixels_rle_decode(frag, 80, 4, 4, 1, 1, out, 16,
                                          &err), OA_EPARSE);
    assert_non_null(strstr(err.msg, "passes its end"));
    frag[64] = 0xF1;                   /* replicate 16 */
    frag[65] = 3;
    assert_int_equal(oa_pixels_rle_decode(frag, 66, 4, 4, 1, 1, out, 16,
                                          &err), OA_OK);
    for (int i = 0; i < 16; i++)
        assert_int_equal(out[i], 3);
    frag[64] = 0xF3;                   /* replicate 14: ends early */
    assert_int_equal(oa_pixels_rle_decode(frag, 66, 4, 4, 1, 1, out, 16,
                                          &err), OA_EPARSE);
    assert_non_null(strstr(err.msg, "ends after 14 of 16"));
    frag[64] = 0xF1;
    frag[4] = 200;                     /* offset past the data */
    assert_int_equal(oa_pixels_rle_decode(frag, 66, 4, 4, 1, 1, out, 16,
                                          &err), OA_EPARSE);
    assert_non_null(strstr(err.msg, "offset 200"));
    frag[4] = 64;
    frag[0] = 2;                       /* segments do not fit the layout */
    assert_int_equal(oa_pixels_rle_decode(frag, 66, 4, 4, 1, 1, out, 16,
                                          &err), OA_EPARSE);
    frag[0] = 1;
    assert_int_equal(oa_pixels_rle_decode(frag, 40, 4, 4, 1, 1, out, 16,
                                          &err), OA_EPARSE);
    assert_int_equal(oa_pixels_rle_decode(NULL, 0, 4, 4, 1, 1, out, 16,
                                          &err), OA_EPARSE);
    assert_int_equal(oa_pixels_rle_decode(frag, 66, 0, 4, 1, 1, out, 0,
                                          &err), OA_EINVAL);
    assert_int_equal(oa_pixels_rle_decode(frag, 66, 4, 4, 1, 1, out, 15,
                                          &err), OA_EINVAL);
    frag[64] = 0x80;                   /* no-op, then nothing */
    assert_int_equal(oa_pixels_rle_decode(frag, 65, 4, 4, 1, 1, out, 16,
                                          &err), OA_EPARSE);
}

/* MD5 of pydicom 2.3's pixel_array of each file, frames x samples x rows x
 * columns, little endian (computed once with Debian's python3-pydicom,
 * see the report of the commit that added this test). */
static const struct {
    const char *path, *md5;
} rle_corpus[] = {
    {"orthanc-tests/2023-04-21-RLEPlanarConfigurationYBR_FULL.dcm",
     "f9fa077ce21e7aba888e5461bdecac8f"},
    {"orthanc-tests/2022-11-14-RLEPlanarConfiguration.dcm",
     "fa3c8e93f5f7d4705ccf12cbc0fc473c"},
    {"orthanc-tests/Formats/Rle.dcm", "ce394eb4d4de4eeef348436108101f3b"},
    {"orthanc-tests/TransferSyntaxes/1.2.840.10008.1.2.5.dcm",
     "6b5c1eff0ef65e36b0565f96507e96fd"},
    {"dcm4che/US-PAL-8-10x-echo", "1785f4d8af4717c17bfb78ba74c18ea5"},
    {"dcm4che/YBR_FULL-RLE.dcm", "fc216b9398084bac28ebe30ccac2f14d"},
    {"pydicom-data/OBXXXX1A_rle.dcm", "b1001814a1fc0b95092635d8b07b3a65"},
    {"pydicom-data/OBXXXX1A_rle_2frame.dcm",
     "791261375c22844cb49d039ceb03997a"},
    {"pydicom-data/emri_small_RLE.dcm", "35c5e95fce41d3229ada2d616dabeb2d"},
    {"pydicom-test_files/MR_small_RLE.dcm",
     "dc9943d2b303bf18ab512dfdd6df0559"},
    {"pydicom-test_files/SC_rgb_rle.dcm", "ab73406073053daf2d59464ece1fabf3"},
    {"pydicom-test_files/SC_rgb_rle_16bit.dcm",
     "c20e892b64f89c7d44b7b534c8f419ad"},
    {"pydicom-test_files/SC_rgb_rle_16bit_2frame.dcm",
     "6a70fd2446f7994f54c7f657d738c92d"},
    {"pydicom-test_files/SC_rgb_rle_2frame.dcm",
     "90f9e0ff71adc2add95c711dccb7932b"},
    {"pydicom-test_files/SC_rgb_rle_32bit.dcm",
     "6f5122b3aa8a6fb2a82620d560fe6845"},
    {"pydicom-test_files/SC_rgb_rle_32bit_2frame.dcm",
     "bd2c723bf66d8bb4cf15dbd68d6d3780"},
    {"pydicom-test_files/rtdose_rle.dcm", "5d8836986c43b4a16603c48cec2e9c2d"},
    {"pydicom-test_files/rtdose_rle_1frame.dcm",
     "8407e34ed95f127a66c01701661e0356"},
};

/* Decode every frame of a parsed RLE instance (planar, little endian). */
static uint8_t *decode_all(const oa_pixels_attrs *a, oa_pixels_layout *l,
                           size_t *len)
{
    size_t fb, total;
    uint8_t *out;
    oa_error err;

    assert_int_equal(oa_px_layout(a, l, NULL), OA_OK);
    l->planar = l->samples == 3;
    assert_int_equal(oa_pixels_frame_bytes(l, &fb, &total), 0);
    assert_int_equal(a->n_frags, (size_t)l->frames + 1);
    out = malloc(total);
    for (uint32_t f = 0; f < l->frames; f++) {
        oa_error_clear(&err);
        if (oa_pixels_rle_decode(a->frags[f + 1].data, a->frags[f + 1].len,
                                 l->rows, l->columns, l->samples,
                                 l->bits_allocated / 8, out + f * fb, fb,
                                 &err) != OA_OK)
            fail_msg("frame %u: %s", f, err.msg);
    }
    *len = total;
    return out;
}

static void test_rle_corpus(void **state)
{
    size_t done = 0;
    (void)state;

    for (size_t i = 0; i < sizeof rle_corpus / sizeof rle_corpus[0]; i++) {
        oa_buf buf;
        oa_pixels_attrs *a = attrs();
        oa_pixels_layout l;
        uint8_t *px;
        size_t len;
        char md5[33];
        oa_buf enc;

        if (!corpus_file(rle_corpus[i].path, &buf)) {
            oa_pixels_attrs_free(a);
            continue;
        }
        assert_int_equal(oa_dicom_parse(oa_buf_data(&buf), buf.len, NULL,
                                         oa_pixels_attrs_handler(a), NULL,
                                         NULL), OA_OK);
        assert_string_equal(a->ts_uid, "1.2.840.10008.1.2.5");
        px = decode_all(a, &l, &len);
        md5_hex(px, len, md5);
        if (strcmp(md5, rle_corpus[i].md5) != 0)
            fail_msg("%s: decoded md5 %s, pydicom %s", rle_corpus[i].path,
                     md5, rle_corpus[i].md5);
        /* and our encoding of it decodes to the same */
        oa_buf_init(&enc, (size_t)1 << 30);
        assert_int_equal(oa_pixels_rle_encode(px, len / l.frames, l.rows,
                                              l.columns, l.samples,
                                              l.bits_allocated / 8, &enc,
                                              NULL), OA_OK);
        {
            uint8_t *back = malloc(len / l.frames);
            assert_int_equal(oa_pixels_rle_decode(oa_buf_data(&enc), enc.len,
                                                  l.rows, l.columns,
                                                  l.samples,
                                                  l.bits_allocated / 8, back,
                                                  len / l.frames, NULL),
                             OA_OK);
            assert_memory_equal(back, px, len / l.frames);
            free(back);
        }
        oa_buf_dispose(&enc);
        free(px);
        oa_buf_dispose(&buf);
        oa_pixels_attrs_free(a);
        done++;
    }
    if (done == 0)
        skip();   /* corpus not found */
    assert_int_equal(done, sizeof rle_corpus / sizeof rle_corpus[0]);
}

/* ------------------------------------------------------------------ */
/* End to end: the Mindray ultrasound through the writer and back       */

typedef struct swap {
    const oa_dicom_handler *out;
    const oa_pixels_result *r;
} swap;

static oa_status s_begin(void *u, const oa_parse_info *i, oa_error *e)
{
    swap *s = u;
    return s->out->begin(s->out->user, i, e);
}
static oa_status s_element(void *u, const oa_element *el, oa_error *e)
{
    swap *s = u;
    if (el->tag == OA_TAG_PIXEL_DATA && el->depth == 0)
        return oa_pixels_emit(s->r, el, s->out, e);
    return s->out->element(s->out->user, el, e);
}
static int in_pixels;
static oa_status s_seq_begin(void *u, const oa_element *el, oa_error *e)
{
    swap *s = u;
    if (el->tag == OA_TAG_PIXEL_DATA && el->depth == 0) {
        in_pixels = 1;
        return oa_pixels_emit(s->r, el, s->out, e);
    }
    return s->out->sequence_begin(s->out->user, el, e);
}
static oa_status s_item_begin(void *u, const oa_item *i, oa_error *e)
{
    swap *s = u;
    return s->out->item_begin(s->out->user, i, e);
}
static oa_status s_item_end(void *u, oa_error *e)
{
    swap *s = u;
    return s->out->item_end(s->out->user, e);
}
static oa_status s_seq_end(void *u, oa_error *e)
{
    swap *s = u;
    if (in_pixels) {
        in_pixels = 0;
        return OA_OK;
    }
    return s->out->sequence_end(s->out->user, e);
}
static oa_status s_fragment(void *u, const oa_item *f, const uint8_t *d,
                            oa_error *e)
{
    (void)u;
    (void)f;
    (void)d;
    (void)e;
    return OA_OK;   /* replaced by emit */
}
static oa_status s_end(void *u, oa_error *e)
{
    swap *s = u;
    return s->out->end ? s->out->end(s->out->user, e) : OA_OK;
}

static void test_mindray_end_to_end(void **state)
{
    oa_buf buf;
    oa_pixels_attrs *a = attrs(), *b = attrs();
    oa_pixels_result r;
    oa_pixels_layout l, l2;
    uint8_t *before, *after;
    size_t len, len2, plane;
    oa_writer *w;
    swap sw;
    oa_dicom_handler h = {s_begin, s_element, s_seq_begin, s_item_begin,
                          s_item_end, s_seq_end, s_fragment, s_end, &sw};
    const uint8_t *out;
    size_t out_len;
    oa_error err;
    (void)state;

    if (!corpus_file("orthanc-tests/2023-04-21-RLEPlanarConfigurationYBR_FULL"
                     ".dcm", &buf)) {
        oa_pixels_attrs_free(a);
        oa_pixels_attrs_free(b);
        skip();
    }
    assert_int_equal(oa_dicom_parse(oa_buf_data(&buf), buf.len, NULL,
                                    oa_pixels_attrs_handler(a), NULL, NULL),
                     OA_OK);
    assert_int_equal(a->n_regions, 1);
    assert_int_equal(a->regions[0].y0, 120);
    assert_int_equal(a->regions[0].x1, 1100);
    before = decode_all(a, &l, &len);
    /* Burned In Annotation YES, US; no device rule for a DC-30: the
     * ultrasound regions */
    assert_int_equal(decide(a, NULL, &r), OA_PIXELS_CLEANED);
    assert_true(r.risks & OA_PIXELS_RISK_BURNED_IN);
    assert_true(r.risks & OA_PIXELS_RISK_MODALITY);
    assert_true(r.encapsulated);
    assert_int_equal(r.n_fragments, 2);
    assert_int_equal(r.n_ops, 2);
    assert_false(r.ops[0].keep);
    assert_true(r.ops[1].keep);
    assert_int_equal(r.ops[1].rect.y, 120);
    assert_int_equal(r.ops[1].rect.w, 1101);
    assert_string_equal(r.ops[1].label, "Clean Ultrasound Regions");

    /* write it with the writer, read it back */
    assert_int_equal(oa_writer_new(&w, NULL, NULL), OA_OK);
    sw.out = oa_writer_handler(w);
    sw.r = &r;
    oa_error_clear(&err);
    if (oa_dicom_parse(oa_buf_data(&buf), buf.len, NULL, &h, NULL, &err) !=
        OA_OK)
        fail_msg("rewrite: %s", err.msg);
    assert_int_equal(oa_writer_finish(w, &out, &out_len, NULL), OA_OK);
    assert_int_equal(oa_dicom_parse(out, out_len, NULL,
                                    oa_pixels_attrs_handler(b), NULL, NULL),
                     OA_OK);
    assert_string_equal(b->ts_uid, "1.2.840.10008.1.2.5");
    after = decode_all(b, &l2, &len2);
    assert_int_equal(len, len2);
    plane = (size_t)l.rows * l.columns;
    for (uint32_t y = 0; y < l.rows; y++)
        for (uint32_t x = 0; x < l.columns; x++) {
            size_t i = (size_t)y * l.columns + x;
            bool kept = x <= 1100 && y >= 120;
            if (kept) {
                for (int s = 0; s < 3; s++)
                    assert_int_equal(after[s * plane + i],
                                     before[s * plane + i]);
            } else {
                assert_int_equal(after[i], 0);            /* Y */
                assert_int_equal(after[plane + i], 128);  /* Cb */
                assert_int_equal(after[2 * plane + i], 128);
            }
        }
    free(before);
    free(after);
    oa_writer_free(w);
    oa_pixels_result_dispose(&r);
    oa_buf_dispose(&buf);
    oa_pixels_attrs_free(a);
    oa_pixels_attrs_free(b);
}

static void test_device_rule_on_corpus(void **state)
{
    oa_buf buf;
    oa_pixels_attrs *a = attrs();
    oa_pixels_result r;
    (void)state;

    if (!corpus_file("dcm4che/YBR_FULL-RLE.dcm", &buf)) {
        oa_pixels_attrs_free(a);
        skip();
    }
    assert_int_equal(oa_dicom_parse(oa_buf_data(&buf), buf.len, NULL,
                                    oa_pixels_attrs_handler(a), NULL, NULL),
                     OA_OK);
    assert_int_equal(decide(a, NULL, &r), OA_PIXELS_CLEANED);
    assert_int_equal(r.n_ops, 1);
    assert_string_equal(r.ops[0].label, "Acuson Sequoia");
    assert_int_equal(r.ops[0].rect.w, 640);
    assert_int_equal(r.ops[0].rect.h, 30);
    oa_pixels_result_dispose(&r);
    oa_buf_dispose(&buf);
    oa_pixels_attrs_free(a);
}

/* ------------------------------------------------------------------ */
/* OCR hook                                                             */

/* A fake OCR: "reads" each scripted word whose box is not all black
 * (stubborn: even when it is). */
typedef struct fake_ocr {
    oa_pixels_word words[4];
    size_t n;
    unsigned calls;
    bool stubborn;
} fake_ocr;

static oa_status fake_find(void *ctx, const oa_pixels_gray *g,
                           oa_pixels_word **words, size_t *n, oa_error *err)
{
    fake_ocr *o = ctx;
    oa_pixels_word *out = calloc(o->n + 1, sizeof *out);
    size_t k = 0;
    (void)err;
    o->calls++;
    for (size_t i = 0; i < o->n; i++) {
        const oa_pixels_rect *b = &o->words[i].box;
        bool lit = false;
        for (uint32_t y = b->y; y < b->y + b->h; y++)
            for (uint32_t x = b->x; x < b->x + b->w; x++)
                lit = lit || g->pixels[y * g->width + x] != 0;
        if (lit || o->stubborn)
            out[k++] = o->words[i];
    }
    *words = out;
    *n = k;
    return OA_OK;
}

static void fake_release(void *ctx, oa_pixels_word *w, size_t n)
{
    (void)ctx;
    (void)n;
    free(w);
}

static void test_ocr_hook(void **state)
{
    oa_pixels_attrs *a = attrs();
    oa_pixels_result r;
    oa_pixels_policy p;
    fake_ocr fo = {{{{2, 2, 10, 4}, "Name:TEST,Belle", 90, 0},
                    {{20, 2, 10, 4}, "01/02/1988", 90, 0},
                    {{2, 20, 8, 4}, "ACME", 90, 1},
                    {{20, 20, 8, 4}, "Gain", 90, 1}}, 4, 0, false};
    oa_pixels_ocr hook = {fake_find, fake_release, &fo};
    uint8_t px[40 * 40];
    (void)state;

    memset(px, 200, sizeof px);
    image(a, 40, 40, 1, 8, "MONOCHROME2");
    set(a, T(0008, 0060), "US");
    set(a, T(0010, 0010), "Test^Belle");
    set(a, T(0010, 0030), "19880201");
    oa_pixels_attrs_set_native(a, px, sizeof px, 0, false);
    oa_pixels_policy_init(&p);
    p.ocr = &hook;
    assert_int_equal(decide(a, &p, &r), OA_PIXELS_CLEANED);
    assert_int_equal(r.ocr_words, 2);          /* the name and the date */
    assert_int_equal(r.n_ops, 2);
    assert_string_equal(r.ops[0].label, "OCR");
    assert_int_equal(r.ops[0].rect.x, 0);      /* margin 2 */
    assert_int_equal(r.ops[0].rect.w, 14);
    assert_int_equal(r.value[3 * 40 + 3], 0);
    assert_int_equal(r.value[21 * 40 + 3], 200);   /* "ACME" kept */
    assert_int_equal(fo.calls, 2);              /* OCR, then the proof */
    oa_pixels_result_dispose(&r);
    /* strict: every word off the whitelist */
    p.ocr_strict = true;
    assert_int_equal(decide(a, &p, &r), OA_PIXELS_CLEANED);
    assert_int_equal(r.ocr_words, 3);           /* Gain is on it */
    assert_int_equal(r.value[21 * 40 + 3], 0);
    assert_int_equal(r.value[21 * 40 + 23], 200);
    oa_pixels_result_dispose(&r);
    /* strict with terms of the policy on top of the built-in ones */
    {
        static const char *const more[] = {"acme"};
        p.ocr_whitelist = more;
        p.n_ocr_whitelist = 1;
        assert_int_equal(decide(a, &p, &r), OA_PIXELS_CLEANED);
        assert_int_equal(r.ocr_words, 2);       /* the name and the date */
        assert_int_equal(r.value[3 * 40 + 3], 0);
        assert_int_equal(r.value[21 * 40 + 3], 200);
        assert_int_equal(r.value[21 * 40 + 23], 200);
        oa_pixels_result_dispose(&r);
        p.ocr_whitelist = NULL;
        p.n_ocr_whitelist = 0;
    }
    /* proof: what a rule misses and the proof reads is blanked too; what
     * stays readable after three rounds refuses the instance */
    {
        oa_pixels_user_rule u = {NULL, NULL, NULL, 0, 0, NULL, 0};
        oa_pixels_rect rc = {20, 0, 20, 10};
        u.label = (char *)"user: x";
        u.manufacturer = (char *)"ACME";
        u.rects = &rc;
        u.n_rects = 1;
        set(a, T(0008, 0070), "ACME");
        p.ocr_strict = false;
        p.user_rules = &u;
        p.n_user_rules = 1;
        fo.calls = 0;
        assert_int_equal(decide(a, &p, &r), OA_PIXELS_CLEANED);
        assert_int_equal(r.n_ops, 2);       /* the rule, then the proof's */
        assert_string_equal(r.ops[0].label, "user: x");
        assert_string_equal(r.ops[1].label, "OCR");
        assert_int_equal(r.value[3 * 40 + 3], 0);   /* the name, blanked */
        assert_int_equal(fo.calls, 2);   /* read, blanked, read clean */
        oa_pixels_result_dispose(&r);
        fo.stubborn = true;
        fo.calls = 0;
        assert_int_equal(decide(a, &p, &r), OA_PIXELS_REFUSE);
        assert_non_null(strstr(r.reason, "still readable"));
        assert_null(strstr(r.reason, "Belle"));
        assert_int_equal(fo.calls, 3);   /* three rounds, then refused */
        oa_pixels_result_dispose(&r);
    }
    oa_pixels_attrs_free(a);
}

/* A cine: the name shows only in frame 1, a change of the static area. */
static void test_ocr_cine_frames(void **state)
{
    oa_pixels_attrs *a = attrs();
    oa_pixels_result r;
    oa_pixels_policy p;
    fake_ocr fo = {{{{4, 4, 8, 4}, "BELLE", 90, 0}}, 1, 0, false};
    oa_pixels_ocr hook = {fake_find, fake_release, &fo};
    uint8_t px[5 * 32 * 32];
    (void)state;

    for (size_t i = 0; i < sizeof px; i++)
        px[i] = (i % 32) >= 16 ? (uint8_t)(i * 7) : 0;  /* moving image */
    for (int y = 4; y < 8; y++)
        for (int x = 4; x < 12; x++)
            px[1 * 1024 + y * 32 + x] = 255;              /* frame 1 text */
    image(a, 32, 32, 1, 8, "MONOCHROME2");
    setu(a, T(0028, 0008), 5);
    set(a, T(0008, 0060), "US");
    set(a, T(0010, 0010), "Test^Belle");
    oa_pixels_attrs_set_native(a, px, sizeof px, 0, false);
    oa_pixels_policy_init(&p);
    p.ocr = &hook;
    assert_int_equal(decide(a, &p, &r), OA_PIXELS_CLEANED);
    /* frames 0, 2, 4 and frame 1, where text appears (the picker compares
     * with the last frame picked: 3 is like 2), then the proof on the
     * same four */
    assert_int_equal(r.ocr_frames, 8);
    assert_int_equal(r.ocr_words, 1);
    for (int f = 0; f < 5; f++)
        assert_int_equal(r.value[f * 1024 + 5 * 32 + 5], 0);
    assert_int_equal(r.value[1024 + 20 * 32 + 20], px[1024 + 20 * 32 + 20]);
    oa_pixels_result_dispose(&r);
    /* more changing frames than allowed: refused */
    p.ocr_max_frames = 3;
    assert_int_equal(decide(a, &p, &r), OA_PIXELS_REFUSE);
    assert_non_null(strstr(r.reason, "changes in more than 3 frames"));
    oa_pixels_result_dispose(&r);
    oa_pixels_attrs_free(a);
}

/* A cine whose picture (mid-gray, like speckle) moves below a static
 * text band: not a text change, so not refused for changing in more
 * frames than allowed. */
static void test_ocr_cine_moving_picture(void **state)
{
    oa_pixels_attrs *a = attrs();
    oa_pixels_result r;
    oa_pixels_policy p;
    fake_ocr fo = {{{{4, 4, 8, 4}, "BELLE", 90, 0}}, 1, 0, false};
    oa_pixels_ocr hook = {fake_find, fake_release, &fo};
    enum { F = 8, S = 32 };
    uint8_t px[F * S * S];
    (void)state;

    memset(px, 0, sizeof px);
    for (int f = 0; f < F; f++)
        for (int y = 12; y < S; y++)
            for (int x = 0; x < S; x++) {
                /* a pattern that slides 3 pixels a frame */
                int t = (x + y + 3 * f) % 32;
                px[(f * S + y) * S + x] =
                    (uint8_t)(40 + 7 * (t < 16 ? t : 31 - t));
            }
    for (int f = 0; f < F; f++)
        for (int y = 4; y < 8; y++)
            for (int x = 4; x < 12; x++)
                px[(f * S + y) * S + x] = (uint8_t)((x + y) % 2 ? 255 : 0);
    image(a, S, S, 1, 8, "MONOCHROME2");
    setu(a, T(0028, 0008), F);
    set(a, T(0008, 0060), "US");
    set(a, T(0010, 0010), "Test^Belle");
    oa_pixels_attrs_set_native(a, px, sizeof px, 0, false);
    oa_pixels_policy_init(&p);
    p.ocr = &hook;
    p.ocr_max_frames = 3;
    assert_int_equal(decide(a, &p, &r), OA_PIXELS_CLEANED);
    assert_int_equal(r.ocr_frames, 6);   /* first, middle, last; proof */
    assert_int_equal(r.ocr_words, 3);   /* the name, on each frame read */
    for (int f = 0; f < F; f++)
        assert_int_equal(r.value[(f * S + 5) * S + 5], 0);
    assert_int_equal(r.value[(3 * S + 20) * S + 20],
                     px[(3 * S + 20) * S + 20]);
    oa_pixels_result_dispose(&r);
    oa_pixels_attrs_free(a);
}

/* ------------------------------------------------------------------ */
/* User rules                                                           */

static void test_user_rule_parse(void **state)
{
    static const char *const bad[] = {
        "[]", "{}", "{\"Model\":\"X\"}",
        "{\"Model\":\"X\",\"Rectangles\":[]}",
        "{\"Model\":\"X\",\"Rectangles\":[[0,0,0,5]]}",
        "{\"Model\":\"X\",\"Rectangles\":[[0,0,5]]}",
        "{\"Model\":\"X\",\"Rectangles\":[[0,0,5,70000]]}",
        "{\"Model\":\"X\",\"Rectangles\":[[0,-1,5,5]]}",
        "{\"Model\":\"X\",\"Rows\":1.5,\"Rectangles\":[[0,0,5,5]]}",
        "{\"Model\":\"\",\"Rectangles\":[[0,0,5,5]]}",
        "{\"Model\":\"X\",\"Colour\":1,\"Rectangles\":[[0,0,5,5]]}",
    };
    oa_pixels_user_rule u;
    oa_pixels_attrs *a = attrs();
    cJSON *j;
    oa_error err;
    (void)state;

    j = cJSON_Parse("{\"Manufacturer\":\"MINDRAY\",\"Model\":\"DC-30\","
                    "\"Rows\":910,\"Columns\":1260,"
                    "\"Rectangles\":[[0,0,1260,60],[10,70,5,5]]}");
    assert_int_equal(oa_pixels_user_rule_parse(j, &u, NULL), OA_OK);
    cJSON_Delete(j);
    assert_int_equal(u.n_rects, 2);
    assert_int_equal(u.rects[1].y, 70);
    assert_int_equal(u.rows, 910);
    assert_string_equal(u.label, "user: MINDRAY DC-30 910x1260");
    set(a, T(0008, 0070), "Mindray ");
    set(a, T(0008, 1090), "DC-30");
    setu(a, T(0028, 0010), 910);
    setu(a, T(0028, 0011), 1260);
    assert_true(oa_px_user_rule_matches(&u, a));
    setu(a, T(0028, 0011), 1024);
    assert_false(oa_px_user_rule_matches(&u, a));
    oa_pixels_user_rule_dispose(&u);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        j = cJSON_Parse(bad[i]);
        oa_error_clear(&err);
        assert_int_equal(oa_pixels_user_rule_parse(j, &u, &err), OA_EINVAL);
        assert_true(err.msg[0] != '\0');
        assert_null(u.rects);
        cJSON_Delete(j);
    }
    oa_pixels_attrs_free(a);
}

static void test_out_of_memory(void **state)
{
    oa_pixels_attrs *a = attrs();
    oa_pixels_result r;
    uint8_t px[32 * 32 * 3];
    oa_status rc;
    (void)state;

    memset(px, 5, sizeof px);
    image(a, 32, 32, 3, 8, "RGB");
    set(a, T(0008, 0060), "US");
    set(a, T(0008, 0070), "ACUSON");
    set(a, T(0008, 1090), "SEQUOIA");
    set(a, T(0018, 6011), "");
    oa_pixels_attrs_add_us_region(a, 2, 2, 20, 20, NULL);
    oa_pixels_attrs_set_native(a, px, sizeof px, 0, false);
    for (long n = 1; n < 20; n++) {
        oa_pixels_result_init(&r);
        oa_alloc_fail_after(n);
        rc = oa_pixels_decide(a, NULL, &r, NULL);
        oa_alloc_fail_after(0);
        if (rc == OA_OK) {
            assert_int_equal(r.verdict, OA_PIXELS_CLEANED);
            oa_pixels_result_dispose(&r);
            break;
        }
        assert_int_equal(rc, OA_ENOMEM);
        assert_null(r.value);
    }
    oa_pixels_attrs_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_is_generated_from_reference),
        cmocka_unit_test(test_regex),
        cmocka_unit_test(test_rule_forms),
        cmocka_unit_test(test_wants_tag),
        cmocka_unit_test(test_triage),
        cmocka_unit_test(test_refuse_reasons),
        cmocka_unit_test(test_hostile_sizes),
        cmocka_unit_test(test_blank_layouts),
        cmocka_unit_test(test_gray8_monochrome),
        cmocka_unit_test(test_gray8_colour),
        cmocka_unit_test(test_palette_black),
        cmocka_unit_test(test_region_events),
        cmocka_unit_test(test_blank_keep_and_overlay),
        cmocka_unit_test(test_rle_roundtrip),
        cmocka_unit_test(test_rle_hostile),
        cmocka_unit_test(test_rle_corpus),
        cmocka_unit_test(test_mindray_end_to_end),
        cmocka_unit_test(test_device_rule_on_corpus),
        cmocka_unit_test(test_ocr_hook),
        cmocka_unit_test(test_ocr_cine_frames),
        cmocka_unit_test(test_ocr_cine_moving_picture),
        cmocka_unit_test(test_user_rule_parse),
        cmocka_unit_test(test_out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
