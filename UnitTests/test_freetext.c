/*
 * Unit tests of Clean (C) on free text (Plugin/anonymizer/freetext.c) and
 * of the needles it relies on (needles.c): identity planted in free text
 * in every way issue 16 lists (person names of several roles, addresses,
 * phone numbers, e-mail addresses, URLs, social security numbers, dates in
 * each spelling, identifiers, an age of 93), in top-level attributes and
 * in SR content items, through the engine; each output also passes the
 * leak check (the run succeeds).  And Clean's time on a 2 MB text.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include "anonymizer/anonymizer.h"
#include "anonymizer/engine_int.h"
#include "dicom_bytes.h"

#define T(g, e) OA_TAG(0x##g, 0x##e)
#define TS_EXPLICIT "1.2.840.10008.1.2.1"
#define TS_IMPLICIT "1.2.840.10008.1.2"
#define CT_CLASS "1.2.840.10008.5.1.4.1.1.2"
#define SR_CLASS "1.2.840.10008.5.1.4.1.1.88.11"

/* Research-like: descriptions and structured content cleaned, dates
 * shifted, reports kept. */
#define SHIFTING                                                           \
    "{\"Base\": \"Full\", \"Descriptions\": \"clean\", "                   \
    "\"StructuredContent\": \"clean\", "                                   \
    "\"SecondaryCapturesAndReports\": \"keep\", "                          \
    "\"BodyCharacteristics\": \"keep\", \"Dates\": \"shift\", "            \
    "\"BurnedInText\": \"keep\"}"
/* The same with dates cleared. */
#define CLEARING                                                           \
    "{\"Base\": \"Full\", \"Descriptions\": \"clean\", "                   \
    "\"StructuredContent\": \"clean\", "                                   \
    "\"SecondaryCapturesAndReports\": \"keep\", \"BurnedInText\": \"keep\"}"

/* ------------------------------------------------------------------ */
/* The output                                                           */

typedef struct trace {
    oa_buf b;
} trace;

static oa_status tr_element(void *u, const oa_element *el, oa_error *e)
{
    trace *t = u;
    char tag[12];
    size_t n = el->length;
    (void)e;
    oa_tag_format(el->tag, tag);
    if (!oa_vr_is_string(el->vr))
        n = 0;
    oa_buf_printf(&t->b, "%u %s [%.*s]\n", el->depth, tag,
                  (int)oa_value_trim(el->value, n), (const char *)el->value);
    return OA_OK;
}

typedef struct run {
    oa_profile *profile;
    oa_anonymizer *a;
    oa_anon_result res;
    oa_error err;
    oa_status rc;
    trace tr;
    double seconds;
} run;

static void run_profile(run *r, const char *profile_json, const tb *in)
{
    oa_anonymizer_opts o;
    oa_dicom_handler h;
    struct timespec t0, t1;

    memset(r, 0, sizeof(*r));
    oa_error_clear(&r->err);
    if (oa_profile_is_builtin_name(profile_json))
        assert_int_equal(oa_profile_builtin(&r->profile, profile_json, NULL),
                         OA_OK);
    else
        assert_int_equal(oa_profile_parse(&r->profile, "test", profile_json,
                                          strlen(profile_json), &r->err),
                         OA_OK);
    memset(&o, 0, sizeof(o));
    o.secret = (const uint8_t *)"secret";
    o.secret_len = 6;
    assert_int_equal(oa_anonymizer_new(&r->a, r->profile, &o, NULL), OA_OK);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    r->rc = oa_anonymizer_run(r->a, NULL, tb_data(in), tb_len(in), &r->res,
                              &r->err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    r->seconds = (double)(t1.tv_sec - t0.tv_sec) +
                 (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    oa_buf_init(&r->tr.b, (size_t)1 << 26);
    if (r->rc != OA_OK) {
        char msg[400];
        oa_error_format(&r->err, msg, sizeof(msg));
        print_message("refused: %s\n", msg);
        return;
    }
    memset(&h, 0, sizeof(h));
    h.element = tr_element;
    h.user = &r->tr;
    assert_int_equal(oa_dicom_parse(r->res.data, r->res.len, NULL, &h, NULL,
                                    NULL),
                     OA_OK);
}

static void run_free(run *r)
{
    oa_buf_dispose(&r->tr.b);
    oa_anonymizer_free(r->a);
    oa_profile_free(r->profile);
}

/* The value of `tag` at `depth` in the output (the first), or NULL. */
static const char *value_of(run *r, unsigned depth, uint32_t tag,
                            char *buf, size_t size)
{
    char key[40];
    const char *t = oa_buf_cstr(&r->tr.b), *p, *e;

    snprintf(key, sizeof(key), "%u (%04X,%04X) [", depth, OA_TAG_GROUP(tag),
             OA_TAG_ELEMENT(tag));
    for (p = strstr(t, key); p != NULL && p != t && p[-1] != '\n';
         p = strstr(p + 1, key))
        ;
    if (p == NULL)
        return NULL;
    p += strlen(key);
    e = strstr(p, "]\n");
    snprintf(buf, size, "%.*s", (int)(e - p), p);
    return buf;
}

/* The output holds no `s` in any ASCII case. */
static void assert_gone(const run *r, const char *s)
{
    if (memmem(r->res.data, r->res.len, s, strlen(s)) != NULL ||
        strcasestr(oa_buf_cstr((oa_buf *)&r->tr.b), s) != NULL)
        fail_msg("\"%s\" is still in the output", s);
}

/* ------------------------------------------------------------------ */
/* The instance                                                         */

/* Free texts of the instance, by attribute (NULL: absent). */
typedef struct texts {
    const char *study_description;   /* (0008,1030) LO */
    const char *medical_alerts;      /* (0010,2000) LO */
    const char *history;             /* (0010,21B0) LT */
    const char *patient_comments;    /* (0010,4000) LT */
    const char *image_comments;      /* (0020,4000) LT */
    const char *procedure;           /* (0032,1060) LO */
    const char *sr_text;             /* SR TEXT at depth 1 */
    const char *sr_nested;           /* SR TEXT at depth 2 */
} texts;

/*
 * Identity of several people in the header: the patient, a referring,
 * a performing and a reading physician, an operator, the responsible
 * person, the mother, another name of the patient, and in the SR tree a
 * person observer that comes after every text; addresses, phones, IDs,
 * the birth date 1933-03-14 and the age 093Y.
 */
static void instance(tb *t, const char *sop_class, const texts *x)
{
    tb_init(t, true, false);
    tb_meta(t, TS_EXPLICIT, true);
    tb_uid(t, T(0008, 0016), sop_class);
    tb_uid(t, T(0008, 0018), "1.2.3.4.5.6.7.8.1");
    tb_str(t, T(0008, 0020), "DA", "20230320");
    tb_str(t, T(0008, 0050), "SH", "ACC99812");
    tb_str(t, T(0008, 0080), "LO", "Northshore Regional Medical Center");
    tb_str(t, T(0008, 0081), "ST", "1200 Harbor Boulevard, Duluth, MN 55802");
    tb_str(t, T(0008, 0090), "PN", "Okonkwo^Adaeze");
    tb_str(t, T(0008, 0094), "SH", "(218) 555-0142");
    if (x->study_description)
        tb_str(t, T(0008, 1030), "LO", x->study_description);
    tb_str(t, T(0008, 1050), "PN", "Lindqvist^Torbjorn");
    tb_str(t, T(0008, 1060), "PN", "Abernathy^Cornelius^^Dr.");
    tb_str(t, T(0008, 1070), "PN", "Baptiste^Marie-Claire");
    tb_str(t, T(0010, 0010), "PN", "Wrenfield^Priscilla^Jo");
    tb_str(t, T(0010, 0020), "LO", "MRN4471902");
    tb_str(t, T(0010, 0021), "LO", "NORTHSHORE");
    tb_str(t, T(0010, 0030), "DA", "19330314");
    tb_str(t, T(0010, 1000), "LO", "XR-88213");
    tb_str(t, T(0010, 1001), "PN", "Pemberton^Priscilla");
    tb_str(t, T(0010, 1010), "AS", "093Y");
    tb_str(t, T(0010, 1040), "LO",
           "4417 Wrenfield Avenue, Springfield, IL 62704");
    tb_str(t, T(0010, 1060), "PN", "Castellano^Rosa");
    if (x->medical_alerts)
        tb_str(t, T(0010, 2000), "LO", x->medical_alerts);
    tb_str(t, T(0010, 2154), "SH", "218-555-0199");
    if (x->history)
        tb_str(t, T(0010, 21B0), "LT", x->history);
    tb_str(t, T(0010, 2297), "PN", "Halvorsen^Ingrid");
    if (x->patient_comments)
        tb_str(t, T(0010, 4000), "LT", x->patient_comments);
    tb_uid(t, T(0020, 000D), "1.2.3.4.5.6.7.8.10");
    tb_uid(t, T(0020, 000E), "1.2.3.4.5.6.7.8.11");
    tb_str(t, T(0020, 0010), "SH", "ST66120");
    if (x->image_comments)
        tb_str(t, T(0020, 4000), "LT", x->image_comments);
    if (x->procedure)
        tb_str(t, T(0032, 1060), "LO", x->procedure);
    tb_str(t, T(0040, A040), "CS", "CONTAINER");
    /* Content Sequence: a TEXT item, a CONTAINER with a nested TEXT two
     * levels down, and then a PNAME observer */
    tb_hdr(t, T(0040, A730), "SQ", OA_UNDEFINED_LENGTH);
    if (x->sr_text) {
        tb_item(t, OA_UNDEFINED_LENGTH);
        tb_str(t, T(0040, A010), "CS", "CONTAINS");
        tb_str(t, T(0040, A040), "CS", "TEXT");
        tb_el(t, T(0040, A160), "UT", x->sr_text,
              (uint32_t)strlen(x->sr_text));
        tb_item_end(t);
    }
    if (x->sr_nested) {
        tb_item(t, OA_UNDEFINED_LENGTH);
        tb_str(t, T(0040, A010), "CS", "CONTAINS");
        tb_str(t, T(0040, A040), "CS", "CONTAINER");
        tb_hdr(t, T(0040, A730), "SQ", OA_UNDEFINED_LENGTH);
        tb_item(t, OA_UNDEFINED_LENGTH);
        tb_str(t, T(0040, A010), "CS", "CONTAINS");
        tb_str(t, T(0040, A040), "CS", "TEXT");
        tb_el(t, T(0040, A160), "UT", x->sr_nested,
              (uint32_t)strlen(x->sr_nested));
        tb_item_end(t);
        tb_seq_end(t);
        tb_item_end(t);
    }
    tb_item(t, OA_UNDEFINED_LENGTH);
    tb_str(t, T(0040, A010), "CS", "HAS OBS CONTEXT");
    tb_str(t, T(0040, A040), "CS", "PNAME");
    tb_str(t, T(0040, A123), "PN", "Quarrington^Beatrix");
    tb_item_end(t);
    tb_seq_end(t);
}

/* Clean `text` put in the Image Comments under `profile`: the output's
 * value into out (the run must succeed).  With `sr`, the text is an SR
 * TEXT content item two levels down instead (Text Value (0040,A160) in a
 * CONTAINER of the Content Sequence), in an SR instance. */
static void clean_one(const char *profile, const char *text, bool sr,
                      char *out, size_t size)
{
    texts x = {0};
    tb in;
    run r;

    if (sr)
        x.sr_nested = text;
    else
        x.image_comments = text;
    instance(&in, sr ? SR_CLASS : CT_CLASS, &x);
    run_profile(&r, profile, &in);
    assert_int_equal(r.rc, OA_OK);
    assert_non_null(value_of(&r, sr ? 2 : 0, sr ? T(0040, A160)
                                                : T(0020, 4000),
                             out, size));
    run_free(&r);
    tb_dispose(&in);
}

/* Every case twice: in a top-level attribute (Image Comments) and in an
 * SR content item, under the profiles that keep reports and clean their
 * content (Default drops them: its cases are top-level only). */
#define ASSERT_CLEAN(profile, text, expected)                              \
    do {                                                                   \
        char got_[2048];                                                   \
        for (int sr_ = 0; sr_ < 2; sr_++) {                                \
            if (sr_ && strcmp(profile, "Default") == 0)                    \
                break;                                                     \
            clean_one(profile, text, sr_ != 0, got_, sizeof(got_));        \
            if (strcmp(got_, expected) != 0)                               \
                fail_msg("cleaned \"%s\" (%s)\n  into \"%s\"\n  not  "     \
                         "\"%s\"", text, sr_ ? "SR content item"           \
                                              : "Image Comments",          \
                         got_, expected);                                  \
        }                                                                  \
    } while (0)

/* ------------------------------------------------------------------ */
/* Cases                                                                */

static void test_person_names_of_every_role(void **state)
{
    (void)state;
    /* the patient, whole and by component, in any case */
    ASSERT_CLEAN(CLEARING, "follow-up of Priscilla Wrenfield, WRENFIELD P",
                 "follow-up of , P");
    ASSERT_CLEAN(CLEARING, "pt Wrenfield^Priscilla^Jo; Jo's scan",
                 "pt ; Jo's scan"); /* "Jo": too short to be looked for */
    /* another name of the patient, the mother, the responsible person */
    ASSERT_CLEAN(CLEARING, "nee Pemberton; mother Rosa Castellano; "
                           "guardian Ingrid Halvorsen",
                 "nee ; mother ; guardian");
    /* physicians and the operator; the title stays ("Dr" is no one) */
    ASSERT_CLEAN(CLEARING, "ref Dr. Okonkwo (Adaeze), read by Dr Abernathy, "
                           "performed Torbjorn Lindqvist, tech "
                           "Marie-Claire Baptiste",
                 "ref Dr. (), read by Dr , performed , tech");
    /* a name part inside a longer word is not that name */
    ASSERT_CLEAN(CLEARING, "Rosary Castellanos", "Rosary Castellanos");
}

static void test_names_from_later_sequences(void **state)
{
    /* the SR observer comes after the Image Comments in the stream: the
     * pre-scan collected it at depth 1 */
    texts x = {0};
    tb in;
    run r;
    char v[256];
    (void)state;
    x.image_comments = "observer Beatrix Quarrington";
    instance(&in, SR_CLASS, &x);
    run_profile(&r, CLEARING, &in);
    assert_int_equal(r.rc, OA_OK);
    assert_string_equal(value_of(&r, 0, T(0020, 4000), v, sizeof(v)),
                        "observer");
    assert_gone(&r, "Quarrington");
    assert_gone(&r, "Beatrix");
    run_free(&r);
    tb_dispose(&in);
}

static void test_addresses(void **state)
{
    (void)state;
    /* fragments of Patient's Address, whole or in part */
    ASSERT_CLEAN(CLEARING, "Lives at 4417 Wrenfield Avenue, while",
                 "Lives at , while");
    ASSERT_CLEAN(CLEARING, "from Springfield, IL 62704 (Wrenfield Avenue)",
                 "from , ()");
    /* Institution Address */
    ASSERT_CLEAN(CLEARING, "sent to 1200 Harbor Boulevard, Duluth MN 55802",
                 "sent to ,");
    /* street addresses that the instance does not hold */
    ASSERT_CLEAN(CLEARING, "moved from 88 Juniper Lane to 12B North Oak St., "
                           "Apt 4 last year",
                 "moved from to last year");
    ASSERT_CLEAN(CLEARING, "P.O. Box 4471; Hauptstrasse 12a; Birkenweg 5",
                 "; ;");
    /* numbers that are no address */
    ASSERT_CLEAN(CLEARING, "3 lesions, 2 Drive coils, 5 mm Oak",
                 "3 lesions, 2 Drive coils, 5 mm Oak");
}

static void test_phone_numbers(void **state)
{
    (void)state;
    ASSERT_CLEAN(CLEARING, "contact Priscilla 218-555-0199",
                 "contact");
    ASSERT_CLEAN(CLEARING, "call (218) 555 0199 or 2185550199 or "
                           "+1 218 555 0142, +44 20 7946 0958, 555-0123",
                 "call or or , ,");
    ASSERT_CLEAN(CLEARING, "tel: 0301234567; Fax 030/1234567",
                 "tel: ; Fax");
    /* what a phone number is not: measurements, ratios, versions */
    ASSERT_CLEAN(CLEARING, "BP 120/80, 1.5 T, 3.2.1, 0.5 0.6 0.7 0.8 0.9, "
                           "100 200 300 400",
                 "BP 120/80, 1.5 T, 3.2.1, 0.5 0.6 0.7 0.8 0.9, "
                 "100 200 300 400");
}

static void test_mail_urls_and_ssn(void **state)
{
    (void)state;
    ASSERT_CLEAN(CLEARING, "mail p.wrenfield+scan@mail.example.org today",
                 "mail today");
    ASSERT_CLEAN(CLEARING, "see https://portal.example.org/patients/4471902?"
                           "v=1, www.example.org/p/12 and www.nih.gov.",
                 "see , and www.nih.gov.");
    ASSERT_CLEAN(CLEARING, "SSN 123-45-6789, ssn: 987654321, SS# 123 45 6789",
                 "SSN , ssn: , SS#");
}

static void test_identifiers(void **state)
{
    (void)state;
    ASSERT_CLEAN(CLEARING, "MRN4471902 (NORTHSHORE), other XR-88213, "
                           "acc ACC99812, study ST66120",
                 "(), other , acc , study");
    /* an ID inside a longer token is another token */
    ASSERT_CLEAN(CLEARING, "XMRN4471902X", "XMRN4471902X");
}

static void test_dates_removed_in_every_spelling(void **state)
{
    (void)state;
    ASSERT_CLEAN(CLEARING,
                 "seen 03/14/2023, 14.03.2023, 2023-03-14, 14 Mar 2023, "
                 "March 14, 2023, 14-MAR-2023, 20230314, 14th of March "
                 "2023, Sept. 3rd 2022, 3/4/23, 2023-03-14T10:00, March "
                 "2023; in 2023",
                 "seen , , , , , , , , , , T10:00, ; in 2023");
}

static void test_dates_shifted_with_the_patient_offset(void **state)
{
    /* the offset of the header's dates, in the spelling of the text */
    texts x = {0};
    tb in;
    run r;
    char v[512], study[16], want[512];
    (void)state;
    x.image_comments = "seen 03/20/2023, 20.03.2023, 2023-03-20, "
                       "20 Mar 2023, March 20, 2023, 20-MAR-23";
    /* the same text in an SR content item, two levels down */
    x.sr_nested = x.image_comments;
    instance(&in, SR_CLASS, &x);
    run_profile(&r, SHIFTING, &in);
    assert_int_equal(r.rc, OA_OK);
    /* the study date 20230320 shifted by the header */
    assert_non_null(value_of(&r, 0, T(0008, 0020), study, sizeof(study)));
    assert_int_equal(strlen(study), 8);
    assert_string_not_equal(study, "20230320");
    {
        static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May",
                                          "Jun", "Jul", "Aug", "Sep", "Oct",
                                          "Nov", "Dec"};
        static const char *const full[] = {
            "January", "February", "March", "April", "May", "June",
            "July", "August", "September", "October", "November",
            "December"};
        int y = atoi((char[5]){study[0], study[1], study[2], study[3], 0});
        int m = atoi((char[3]){study[4], study[5], 0});
        int d = atoi((char[3]){study[6], study[7], 0});
        char up[4];
        snprintf(up, sizeof(up), "%s", mon[m - 1]);
        for (int i = 0; up[i]; i++)
            up[i] = (char)(up[i] >= 'a' ? up[i] - 32 : up[i]);
        snprintf(want, sizeof(want),
                 "seen %02d/%02d/%04d, %02d.%02d.%04d, %04d-%02d-%02d, "
                 "%02d %s %04d, %s %02d, %04d, %02d-%s-%02d",
                 m, d, y, d, m, y, y, m, d, d, mon[m - 1], y, full[m - 1], d,
                 y, d, up, y % 100);
    }
    assert_string_equal(value_of(&r, 0, T(0020, 4000), v, sizeof(v)), want);
    assert_string_equal(value_of(&r, 2, T(0040, A160), v, sizeof(v)), want);
    run_free(&r);
    tb_dispose(&in);
}

static void test_dates_kept_where_the_profile_keeps_them(void **state)
{
    (void)state;
    /* Default keeps dates (Retain Full Dates), never the birth date, in
     * any spelling, with or without its year */
    ASSERT_CLEAN("Default",
                 "DOB 03/14/1933 (14 March 1933, 14.03.1933, March 14); "
                 "seen 03/14/2023",
                 "DOB (, , ); seen 03/14/2023");
}

static void test_ages_over_89(void **state)
{
    (void)state;
    ASSERT_CLEAN(CLEARING,
                 "A 93-year-old woman, aged 93, age: 95, 100 y/o, 91yo, "
                 "97 yrs; her 45-year-old son; 93 mm",
                 "A 90+-year-old woman, aged 90+, age: 90+, 90+ y/o, 90+yo, "
                 "90+ yrs; her 45-year-old son; 93 mm");
}

static void test_sr_text_values_at_any_depth(void **state)
{
    texts x = {0};
    tb in;
    run r;
    const char *t;
    char v[512];
    (void)state;
    x.sr_text = "Seen 03/14/2023 with Torbjorn Lindqvist; call "
                "(218) 555-0142; 93 y/o";
    x.sr_nested = "Priscilla lives at 4417 Wrenfield Avenue; e-mail "
                  "pw@example.org";
    instance(&in, SR_CLASS, &x);
    run_profile(&r, CLEARING, &in);
    assert_int_equal(r.rc, OA_OK);
    t = oa_buf_cstr(&r.tr.b);
    assert_non_null(strstr(t, "1 (0040,A160) [Seen with ; call ; 90+ y/o]"));
    assert_non_null(strstr(t, "2 (0040,A160) [lives at ; e-mail]"));
    /* the tree keeps its structure */
    assert_non_null(strstr(t, "1 (0040,A040) [TEXT]"));
    assert_non_null(strstr(t, "2 (0040,A040) [TEXT]"));
    (void)v;
    run_free(&r);
    tb_dispose(&in);
}

/* A TEXT item whose text is all identity: its Text Value is required
 * there (Type 1C), so it is never left empty (pydicom-test_files/
 * reportsi.dcm: Person Observer Name "Enter text", text "Enter text",
 * found by anon_validity under Research): Research writes the keyed hash
 * of the original (never ANONYMIZED), another profile a dummy. */
static void test_sr_text_value_left_empty_by_clean(void **state)
{
    texts x = {0};
    tb in;
    run r;
    char v[128], hash[17];
    (void)state;
    x.sr_nested = "Priscilla Wrenfield";
    instance(&in, SR_CLASS, &x);
    run_profile(&r, CLEARING, &in);
    assert_int_equal(r.rc, OA_OK);
    assert_string_equal(value_of(&r, 2, T(0040, A160), v, sizeof(v)),
                        "ANONYMIZED");
    run_free(&r);
    run_profile(&r, "Research", &in);
    assert_int_equal(r.rc, OA_OK);
    oa_anon_hash_value(r.a, x.sr_nested, strlen(x.sr_nested), hash);
    assert_string_equal(value_of(&r, 2, T(0040, A160), v, sizeof(v)), hash);
    assert_gone(&r, "Wrenfield");
    run_free(&r);
    tb_dispose(&in);
}

static void test_every_text_attribute_is_cleaned(void **state)
{
    /* the issue's example: each planted text cleaned, the instance
     * accepted by the leak check */
    texts x = {0};
    tb in;
    run r;
    char v[512];
    (void)state;
    x.study_description = "CT CHEST Priscilla Wrenfield";
    x.medical_alerts = "contact Priscilla 218-555-0199";
    x.history = "Lives at 4417 Wrenfield Avenue";
    x.patient_comments = "husband Halvorsen, SSN 123-45-6789";
    x.image_comments = "Study of 03/14/2023 for MRN4471902";
    x.procedure = "93-year-old, ref Okonkwo";
    instance(&in, CT_CLASS, &x);
    run_profile(&r, CLEARING, &in);
    assert_int_equal(r.rc, OA_OK);
    assert_string_equal(value_of(&r, 0, T(0008, 1030), v, sizeof(v)),
                        "CT CHEST");
    assert_string_equal(value_of(&r, 0, T(0010, 2000), v, sizeof(v)),
                        "contact");
    assert_string_equal(value_of(&r, 0, T(0010, 21B0), v, sizeof(v)),
                        "Lives at");
    assert_string_equal(value_of(&r, 0, T(0010, 4000), v, sizeof(v)),
                        "husband , SSN");
    assert_string_equal(value_of(&r, 0, T(0020, 4000), v, sizeof(v)),
                        "Study of for");
    assert_string_equal(value_of(&r, 0, T(0032, 1060), v, sizeof(v)),
                        "90+-year-old, ref");
    assert_gone(&r, "Wrenfield");
    assert_gone(&r, "Priscilla");
    assert_gone(&r, "4471902");
    run_free(&r);
    tb_dispose(&in);
}

static void test_default_cleans_a_description_not_refusing(void **state)
{
    /* Before: Default kept the description raw, and the leak check
     * refused the instance.  Now it is cleaned and the instance goes. */
    texts x = {0};
    tb in;
    run r;
    char v[256];
    (void)state;
    x.study_description = "PET WRENFIELD PRISCILLA MRN4471902";
    instance(&in, CT_CLASS, &x);
    run_profile(&r, "Default", &in);
    assert_int_equal(r.rc, OA_OK);
    assert_string_equal(value_of(&r, 0, T(0008, 1030), v, sizeof(v)),
                        "PET");
    assert_non_null(strstr(oa_buf_cstr(&r.tr.b), "1 (0008,0100) [113105]"));
    run_free(&r);
    tb_dispose(&in);
}

static void test_age_value_under_clean(void **state)
{
    /* an AS value cleaned (inside a cleaned sequence) stays a valid AS */
    oa_anonymizer *a;
    oa_profile *p;
    oa_anonymizer_opts o;
    oa_element el;
    (void)state;
    assert_int_equal(oa_profile_builtin(&p, "Full", NULL), OA_OK);
    memset(&o, 0, sizeof(o));
    o.secret = (const uint8_t *)"s";
    o.secret_len = 1;
    assert_int_equal(oa_anonymizer_new(&a, p, &o, NULL), OA_OK);
    memset(&el, 0, sizeof(el));
    el.tag = T(0010, 1010);
    el.vr = OA_VR_AS;
    el.value = (const uint8_t *)"093Y";
    el.length = 4;
    assert_int_equal(oa_anon__clean_text(a, &el), OA_OK);
    assert_memory_equal(oa_buf_data(&a->scratch), "090Y", 4);
    el.value = (const uint8_t *)"045Y";
    assert_int_equal(oa_anon__clean_text(a, &el), OA_OK);
    assert_memory_equal(oa_buf_data(&a->scratch), "045Y", 4);
    oa_anonymizer_free(a);
    oa_profile_free(p);
}

/* oa_anon__clean_age on every unit, the bounds and malformed values */
static void test_ages_of_90_or_more_in_every_unit(void **state)
{
    static const struct {
        const char *in;
        const char *out;      /* NULL: malformed */
    } cases[] = {
        { "093Y", "090Y" },   { "089Y", "089Y" },   { "090Y", "090Y" },
        { "120Y", "090Y" },   { "000Y", "000Y" },   { "045y", "045Y" },
        /* past three digits (not an AS, but an age): 90 years or more */
        { "1100M", "090Y" },  { "1080M", "090Y" },  { "4700W", "090Y" },
        { "4695W", "090Y" },  { "33000D", "090Y" }, { "32871D", "090Y" },
        /* the largest three-digit ages of the other units: kept */
        { "999M", "999M" },   { "999W", "999W" },   { "999D", "999D" },
        { " 045Y", "045Y" },  { "", "" },
        /* VM > 1 (Selector AS Value) */
        { "093Y\\045Y", "090Y\\045Y" },
        { "045Y\\33000D\\012M", "045Y\\090Y\\012M" },
        /* malformed: not read as ages */
        { "45Y", NULL },      { "0045Y", NULL },    { "1079M", NULL },
        { "4694W", NULL },    { "32870D", NULL },   { "93", NULL },
        { "93 Y", NULL },     { "093X", NULL },     { "Y", NULL },
        { "-93Y", NULL },     { "093Y\\", NULL },   { "093Y\\\\045Y", NULL },
        { "093YY", NULL },    { "ninety", NULL },
        { "1234567890Y", NULL },
    };
    oa_anonymizer *a;
    oa_profile *p;
    oa_anonymizer_opts o;
    oa_element el;
    (void)state;
    assert_int_equal(oa_profile_builtin(&p, "Research", NULL), OA_OK);
    memset(&o, 0, sizeof(o));
    o.secret = (const uint8_t *)"s";
    o.secret_len = 1;
    assert_int_equal(oa_anonymizer_new(&a, p, &o, NULL), OA_OK);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bool malformed = false;
        const char *got;

        memset(&el, 0, sizeof(el));
        el.tag = T(0010, 1010);
        el.vr = OA_VR_AS;
        el.value = (const uint8_t *)cases[i].in;
        el.length = (uint32_t)strlen(cases[i].in);
        assert_int_equal(oa_anon__clean_age(a, &el, &malformed), OA_OK);
        got = oa_buf_cstr(&a->scratch);
        if (cases[i].out == NULL) {
            if (!malformed)
                fail_msg("\"%s\" read as \"%s\", not malformed",
                         cases[i].in, got);
            assert_int_equal(a->scratch.len, 0);
        } else if (malformed || strcmp(got, cases[i].out) != 0) {
            fail_msg("\"%s\" gave \"%s\"%s, expected \"%s\"", cases[i].in,
                     got, malformed ? " (malformed)" : "", cases[i].out);
        }
    }
    oa_anonymizer_free(a);
    oa_profile_free(p);
}

/* An instance with ages at the top level, nested two levels down (in a
 * sequence no rule removes: Anatomic Region Sequence), in a private block
 * and in a multi-valued Selector AS Value. */
static void age_instance(tb *t, bool explicit_vr, const char *age,
                         const char *nested, const char *priv)
{
    tb_init(t, explicit_vr, false);
    tb_meta(t, explicit_vr ? TS_EXPLICIT : TS_IMPLICIT, true);
    tb_uid(t, T(0008, 0016), CT_CLASS);
    tb_uid(t, T(0008, 0018), "1.2.3.4.5.6.7.8.1");
    tb_hdr(t, T(0008, 2218), "SQ", OA_UNDEFINED_LENGTH);
    tb_item(t, OA_UNDEFINED_LENGTH);
    tb_str(t, T(0008, 0100), "SH", "T-D3000");
    tb_hdr(t, T(0008, 2220), "SQ", OA_UNDEFINED_LENGTH);
    tb_item(t, OA_UNDEFINED_LENGTH);
    tb_str(t, T(0010, 1010), "AS", nested);
    tb_item_end(t);
    tb_seq_end(t);
    tb_str(t, T(0010, 1010), "AS", nested);
    tb_item_end(t);
    tb_seq_end(t);
    tb_str(t, T(0009, 0010), "LO", "AGE TEST");
    tb_str(t, T(0009, 1001), "AS", priv);
    tb_str(t, T(0010, 0010), "PN", "Wrenfield^Priscilla");
    tb_str(t, T(0010, 0020), "LO", "MRN4471902");
    tb_str(t, T(0010, 0040), "CS", "F");
    tb_str(t, T(0010, 1010), "AS", age);
    tb_uid(t, T(0020, 000D), "1.2.3.4.5.6.7.8.10");
    tb_uid(t, T(0020, 000E), "1.2.3.4.5.6.7.8.11");
    tb_str(t, T(0072, 005F), "AS", "093Y\\045Y");
}

static void test_kept_ages_over_89_become_090Y(void **state)
{
    /* every profile that keeps the age: the built-ins and a custom one
     * with body characteristics kept (and private attributes) */
    static const char *const profiles[] = {
        "Research", "Default",
        ("{\"Base\": \"Full\", \"BodyCharacteristics\": \"keep\", "
         "\"PrivateTags\": \"keep\", \"BurnedInText\": \"keep\"}"),
        /* the Keep list keeps the attribute, AgesOver89 its value */
        "{\"Base\": \"Full\", \"Keep\": [\"0010,1010\"]}",
    };
    char v[64];
    tb in;
    run r;
    (void)state;
    for (int ex = 0; ex < 2; ex++) {
        for (size_t i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++) {
            age_instance(&in, ex != 0, "093Y", "095Y", "091Y");
            run_profile(&r, profiles[i], &in);
            if (r.rc != OA_OK)
                fail_msg("%s: refused", profiles[i]);
            assert_string_equal(value_of(&r, 0, T(0010, 1010), v,
                                         sizeof(v)),
                                "090Y");
            /* Selector AS Value (rpc K, VM 1-n): each value read; Full
             * (the Keep list names only Patient's Age) gives it its
             * Basic Profile dummy */
            assert_string_equal(value_of(&r, 0, T(0072, 005F), v,
                                         sizeof(v)),
                                i != 3 ? "090Y\\045Y" : "000Y");
            if (i != 3) { /* Full removes what its Keep list does not name */
                assert_string_equal(value_of(&r, 1, T(0010, 1010), v,
                                             sizeof(v)),
                                    "090Y");
                assert_string_equal(value_of(&r, 2, T(0010, 1010), v,
                                             sizeof(v)),
                                    "090Y");
            }
            /* PrivateTags "keep": a private AS too, when its VR is
             * written (implicit VR: a private value is UN, kept as is) */
            if (i == 2 && ex)
                assert_string_equal(value_of(&r, 0, T(0009, 1001), v,
                                             sizeof(v)),
                                    "090Y");
            assert_gone(&r, "093Y");
            assert_gone(&r, "095Y");
            if (i != 2 || ex)
                assert_gone(&r, "091Y");
            assert_int_equal(r.res.n_warnings, 0);
            run_free(&r);
            tb_dispose(&in);
            /* 89 and under: kept as they are */
            age_instance(&in, ex != 0, "089Y", "045Y", "012M");
            run_profile(&r, profiles[i], &in);
            assert_int_equal(r.rc, OA_OK);
            assert_string_equal(value_of(&r, 0, T(0010, 1010), v,
                                         sizeof(v)),
                                "089Y");
            if (i != 3)
                assert_string_equal(value_of(&r, 2, T(0010, 1010), v,
                                             sizeof(v)),
                                    "045Y");
            if (i == 2 && ex)
                assert_string_equal(value_of(&r, 0, T(0009, 1001), v,
                                             sizeof(v)),
                                    "012M");
            run_free(&r);
            tb_dispose(&in);
        }
    }
}

static void test_ages_over_89_kept_when_the_profile_says_so(void **state)
{
    char v[64];
    tb in;
    run r;
    (void)state;
    age_instance(&in, true, "093Y", "1100M", "091Y");
    run_profile(&r, "{\"Base\": \"Research\", \"AgesOver89\": \"keep\"}",
                &in);
    assert_int_equal(r.rc, OA_OK);
    assert_string_equal(value_of(&r, 0, T(0010, 1010), v, sizeof(v)),
                        "093Y");
    assert_string_equal(value_of(&r, 2, T(0010, 1010), v, sizeof(v)),
                        "1100M");
    assert_string_equal(value_of(&r, 0, T(0072, 005F), v, sizeof(v)),
                        "093Y\\045Y");
    run_free(&r);
    /* Full removes the age whatever AgesOver89 says */
    run_profile(&r, "Full", &in);
    assert_int_equal(r.rc, OA_OK);
    assert_null(value_of(&r, 0, T(0010, 1010), v, sizeof(v)));
    run_free(&r);
    tb_dispose(&in);
}

static void test_malformed_kept_ages_are_removed(void **state)
{
    char v[64];
    tb in;
    run r;
    bool top = false, nested = false;
    (void)state;
    age_instance(&in, true, "93 years", "0093", "093Y");
    run_profile(&r, "Research", &in);
    assert_int_equal(r.rc, OA_OK);
    /* Patient's Age is Type 3 in a CT image: removed, at every depth */
    assert_null(value_of(&r, 0, T(0010, 1010), v, sizeof(v)));
    assert_null(value_of(&r, 1, T(0010, 1010), v, sizeof(v)));
    assert_null(value_of(&r, 2, T(0010, 1010), v, sizeof(v)));
    assert_gone(&r, "93 years");
    assert_gone(&r, "0093");
    /* one warning per value, naming the tag, never the value */
    assert_int_equal(r.res.n_warnings, 3);
    for (unsigned i = 0; i < r.res.n_warnings; i++) {
        const char *w = r.res.warnings[i];

        assert_non_null(strstr(w, "AgesOver89: (0010,1010)"));
        assert_null(strstr(w, "93"));
        top = top || strstr(w, "in a sequence") == NULL;
        nested = nested || strstr(w, "in a sequence") != NULL;
    }
    assert_true(top && nested);
    run_free(&r);
    tb_dispose(&in);
}

/* The rule table shows it: Patient's Age cleaned by AgesOver89 under the
 * option column that keeps it; "keep" brings the column's keep back. */
static void test_explain_shows_ages_over_89(void **state)
{
    static const struct {
        const char *profile;
        const char *action;
        bool aggregated;
    } cases[] = {
        { "{\"Base\": \"Research\"}", "clean", true },
        { "{\"Base\": \"Default\"}", "clean", true },
        { "{\"Base\": \"Research\", \"AgesOver89\": \"keep\"}", "keep",
          false },
        { "{\"Base\": \"Full\"}", "remove", false },
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        oa_profile *p = NULL;
        cJSON *rows = NULL, *row;
        const cJSON *found = NULL;

        assert_int_equal(oa_profile_parse(&p, "t", cases[i].profile,
                                          strlen(cases[i].profile), NULL),
                         OA_OK);
        assert_int_equal(oa_rules_explain_json(&rows, p, NULL), OA_OK);
        cJSON_ArrayForEach(row, rows) {
            const cJSON *tag = cJSON_GetObjectItem(row, "Tag");
            if (cJSON_IsString(tag) &&
                strcmp(tag->valuestring, "(0010,1010)") == 0)
                found = row;
        }
        assert_non_null(found);
        assert_string_equal(
            cJSON_GetObjectItem(found, "Action")->valuestring,
            cases[i].action);
        if (cases[i].aggregated) {
            const char *why =
                cJSON_GetObjectItem(found, "Reason")->valuestring;
            assert_non_null(strstr(why, "Retain Patient Characteristics"));
            assert_non_null(strstr(why, "AgesOver89 \"aggregate\""));
            assert_string_equal(
                cJSON_GetObjectItem(found, "Source")->valuestring,
                "Retain Patient Characteristics Option");
        }
        cJSON_Delete(rows);
        oa_profile_free(p);
    }
}

/* ------------------------------------------------------------------ */
/* Needles and their kinds (what the leak check is given)               */

static const needle *find_needle(const oa_anonymizer *a, const char *s)
{
    for (unsigned i = 0; i < a->n_needles; i++)
        if (a->needles[i].len == strlen(s) &&
            memcmp(a->arena + a->needles[i].off, s, strlen(s)) == 0)
            return &a->needles[i];
    return NULL;
}

static void test_needles_have_kinds(void **state)
{
    static const struct {
        const char *value;
        oa_needle_kind kind;
    } want[] = {
        {"Wrenfield^Priscilla^Jo", OA_NEEDLE_NAME},
        {"Wrenfield", OA_NEEDLE_NAME_PART},
        {"Priscilla", OA_NEEDLE_NAME_PART},
        {"Marie-Claire", OA_NEEDLE_NAME_PART},
        {"Quarrington", OA_NEEDLE_NAME_PART},   /* at depth 1 */
        {"MRN4471902", OA_NEEDLE_ID},
        {"XR-88213", OA_NEEDLE_ID},
        {"ST66120", OA_NEEDLE_ID},
        {"NORTHSHORE", OA_NEEDLE_ID},
        {"ACC99812", OA_NEEDLE_ID},
        {"19330314", OA_NEEDLE_DATE},
        {"4417 Wrenfield Avenue, Springfield, IL 62704", OA_NEEDLE_ADDRESS},
        {"4417 Wrenfield Avenue", OA_NEEDLE_ADDRESS_PART},
        {"Wrenfield Avenue", OA_NEEDLE_ADDRESS_PART},
        {"Springfield", OA_NEEDLE_ADDRESS_PART},
        {"62704", OA_NEEDLE_ADDRESS_PART},
        {"Duluth", OA_NEEDLE_ADDRESS_PART},
        {"218-555-0199", OA_NEEDLE_PHONE},
        {"2185550199", OA_NEEDLE_PHONE},
        {"Northshore Regional Medical Center", OA_NEEDLE_INSTITUTION},
    };
    /* not needles: titles, name prefixes, two-letter parts */
    static const char *const not_needles[] = {"Dr.", "Jo", "IL", "4417"};
    texts x = {0};
    tb in;
    run r;
    (void)state;
    instance(&in, SR_CLASS, &x);
    run_profile(&r, CLEARING, &in);
    assert_int_equal(r.rc, OA_OK);
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const needle *nd = find_needle(r.a, want[i].value);
        if (nd == NULL)
            fail_msg("no needle for \"%s\"", want[i].value);
        if (nd->kind != want[i].kind)
            fail_msg("\"%s\": kind %u, not %u", want[i].value, nd->kind,
                     want[i].kind);
    }
    for (size_t i = 0; i < sizeof(not_needles) / sizeof(not_needles[0]); i++)
        if (find_needle(r.a, not_needles[i]) != NULL)
            fail_msg("\"%s\" is a needle", not_needles[i]);
    run_free(&r);
    tb_dispose(&in);
}

static void test_short_name_parts_are_words_of_text(void **state)
{
    /* "Doe" (3 letters) is a needle: cleaned out of text, refused in a
     * kept text, but not looked for in binary data, where three bytes
     * meet it by chance ("xxx" in a LUT) */
    static const uint8_t blob[] = "\x01\x02" "Doe" "\x03\x04";
    tb in;
    run r;
    (void)state;
    tb_init(&in, true, false);
    tb_meta(&in, TS_EXPLICIT, true);
    tb_uid(&in, T(0008, 0016), CT_CLASS);
    tb_uid(&in, T(0008, 0018), "1.2.3.4.5.6.7.8.1");
    tb_str(&in, T(0008, 1030), "LO", "CHEST");
    tb_str(&in, T(0010, 0010), "PN", "Doe^Al");
    tb_str(&in, T(0010, 0020), "LO", "PID-5551234");
    tb_el(&in, T(0052, 00FF), "UN", blob, (uint32_t)(sizeof(blob) - 1));
    run_profile(&r, "Full", &in);
    assert_int_equal(r.rc, OA_OK);
    assert_non_null(memmem(r.res.data, r.res.len, "\x02" "Doe" "\x03", 5));
    run_free(&r);
    run_profile(&r, "{\"Base\": \"Full\", \"Replace\": "
                    "{\"0008,1030\": \"seen DOE\"}}", &in);
    assert_int_equal(r.rc, OA_ELEAK);
    run_free(&r);
    tb_dispose(&in);
}

typedef struct dates_seen {
    unsigned ymd[16];
    size_t start[16], end[16];
    unsigned n;
} dates_seen;

static void on_date(void *user, size_t start, size_t end, unsigned ymd)
{
    dates_seen *d = user;
    if (d->n < 16) {
        d->ymd[d->n] = ymd;
        d->start[d->n] = start;
        d->end[d->n++] = end;
    }
}

static void test_find_dates_spellings(void **state)
{
    static const struct {
        const char *text;
        unsigned ymd;
    } cases[] = {
        {"03/14/2023", 20230314},      {"14.03.2023", 20230314},
        {"2023-03-14", 20230314},      {"2023/3/14", 20230314},
        {"20230314", 20230314},        {"14 Mar 2023", 20230314},
        {"14 March 2023", 20230314},   {"March 14, 2023", 20230314},
        {"Mar. 14 2023", 20230314},    {"14-MAR-2023", 20230314},
        {"14-Mar-23", 20230314},       {"14/03/2023", 20230314},
        {"14th March 2023", 20230314}, {"March 14th, 2023", 20230314},
        {"14.03.23", 20230314},        {"March 2023", 20230300},
        {"March 14", 314},
    };
    static const char *const not_dates[] = {
        "1.2.840.10008", "3.2.1", "120/80", "2023", "may 5", "5 may",
        "13/13/2023", "20231399", "March14", "v1.4.2023.1"};
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        dates_seen d = {0};
        char text[64];
        snprintf(text, sizeof(text), "on %s.", cases[i].text);
        oa_anon__find_dates((const uint8_t *)text, strlen(text), on_date,
                            &d);
        if (d.n != 1 || d.ymd[0] != cases[i].ymd || d.start[0] != 3 ||
            d.end[0] != 3 + strlen(cases[i].text))
            fail_msg("\"%s\": %u dates, %u at [%zu, %zu)", cases[i].text,
                     d.n, d.n ? d.ymd[0] : 0, d.n ? d.start[0] : 0,
                     d.n ? d.end[0] : 0);
    }
    for (size_t i = 0; i < sizeof(not_dates) / sizeof(not_dates[0]); i++) {
        dates_seen d = {0};
        oa_anon__find_dates((const uint8_t *)not_dates[i],
                            strlen(not_dates[i]), on_date, &d);
        if (d.n != 0)
            fail_msg("\"%s\" is no date, found %u", not_dates[i], d.ymd[0]);
    }
}

/* Hostile and random texts: Clean reads nothing past the text (ASan),
 * always ends, and leaves no name of the instance as a word. */
static void test_clean_survives_hostile_text(void **state)
{
    static const char *const units[] = {
        "1/1/1/", "@", "a@", "@b.", "((((", "+", "+1 ", "(2) ", "http://",
        "www.", "93-", "aged ", "12 A B C D E F Street ", "P.O. Box ",
        "Mar 1", "14 Mar ", "14th of ", "Sept. ", "2023-03-", "03/14/",
        "tel ", "SSN ", "123-45-", "Wrenfield", "Priscilla Wrenfield ",
        "Strasse 1", "\xc3\x9f", "9", "99 y/", "1.2.3.4.5.6.7.8.9.10."};
    oa_anonymizer *a;
    oa_profile *p;
    oa_anonymizer_opts o;
    oa_element el;
    tb in;
    run r;
    char buf[4096];
    unsigned seed = 12345;
    (void)state;
    /* the needles of the usual instance */
    {
        texts x = {0};
        instance(&in, CT_CLASS, &x);
        run_profile(&r, SHIFTING, &in);
        assert_int_equal(r.rc, OA_OK);
    }
    a = r.a;
    (void)p;
    (void)o;
    memset(&el, 0, sizeof(el));
    el.tag = T(0020, 4000);
    el.vr = OA_VR_LT;
    for (size_t u = 0; u < sizeof(units) / sizeof(units[0]); u++) {
        size_t n = strlen(units[u]), len;
        for (len = 0; len < sizeof(buf); len++)
            buf[len] = units[u][len % n];
        for (len = 0; len <= 300; len += 1 + len / 8) {
            /* a copy of exactly len bytes: ASan sees a read past it */
            char *t = malloc(len ? len : 1);
            assert_non_null(t);
            memcpy(t, buf, len);
            el.value = (const uint8_t *)t;
            el.length = (uint32_t)len;
            assert_int_equal(oa_anon__clean_text(a, &el), OA_OK);
            assert_true(a->scratch.len <= len + 8 * (len / 2 + 1));
            /* (inside "WrenfieldWrenfield" there is no name as a word) */
            if (strcmp(units[u], "Priscilla Wrenfield ") == 0 &&
                memmem(oa_buf_data(&a->scratch), a->scratch.len,
                       "Wrenfield", 9) != NULL)
                fail_msg("a name left in \"%.20s\" x %zu", units[u], len);
            free(t);
        }
    }
    /* random bytes and random words */
    for (int k = 0; k < 2000; k++) {
        size_t len = (size_t)(rand_r(&seed) % 200), i;
        char *t = malloc(len ? len : 1);
        static const char alphabet[] = "0123456789/-.,: ()+@#aAyYoM";
        assert_non_null(t);
        for (i = 0; i < len; i++)
            t[i] = k % 2 ? (char)rand_r(&seed)
                         : alphabet[rand_r(&seed) % (sizeof(alphabet) - 1)];
        el.value = (const uint8_t *)t;
        el.length = (uint32_t)len;
        assert_int_equal(oa_anon__clean_text(a, &el), OA_OK);
        free(t);
    }
    run_free(&r);
    tb_dispose(&in);
}

/* ------------------------------------------------------------------ */
/* Linear time                                                          */

/* An instance in implicit VR with a text of `size` bytes made of `unit`
 * in Image Comments. */
static void big_instance(tb *t, const char *unit, size_t size)
{
    char *text = malloc(size);
    size_t n = strlen(unit), i;

    assert_non_null(text);
    for (i = 0; i < size; i++)
        text[i] = unit[i % n];
    tb_init(t, false, false);
    tb_meta(t, TS_IMPLICIT, true);
    tb_uid(t, T(0008, 0016), CT_CLASS);
    tb_uid(t, T(0008, 0018), "1.2.3.4.5.6.7.8.1");
    tb_str(t, T(0008, 0090), "PN", "Okonkwo^Adaeze");
    tb_str(t, T(0010, 0010), "PN", "Wrenfield^Priscilla");
    tb_str(t, T(0010, 0020), "LO", "MRN4471902");
    tb_str(t, T(0010, 0030), "DA", "19330314");
    tb_str(t, T(0010, 1040), "LO",
           "4417 Wrenfield Avenue, Springfield, IL 62704");
    tb_el(t, T(0020, 4000), NULL, text, (uint32_t)size);
    free(text);
}

/* Clean alone on `size` bytes of `unit`, with the needles of the last
 * instance `a` ran: its time printed. */
static double clean_alone(oa_anonymizer *a, const char *unit, size_t size)
{
    char *text = malloc(size);
    size_t n = strlen(unit), i;
    oa_element el;
    struct timespec t0, t1;
    double s;

    assert_non_null(text);
    for (i = 0; i < size; i++)
        text[i] = unit[i % n];
    memset(&el, 0, sizeof(el));
    el.tag = T(0020, 4000);
    el.vr = OA_VR_LT;
    el.value = (const uint8_t *)text;
    el.length = (uint32_t)size;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(oa_anon__clean_text(a, &el), OA_OK);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    s = (double)(t1.tv_sec - t0.tv_sec) +
        (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    print_message("Clean alone, %zu bytes of \"%.20s...\" (%u needles): "
                  "%.3f s, %.1f MB/s, %zu bytes left\n", size, unit,
                  a->n_needles, s, (double)size / (1 << 20) / s,
                  a->scratch.len);
    free(text);
    return s;
}

static void test_clean_is_linear_in_the_text(void **state)
{
    /* 2 MB of text, a needle or a pattern every few bytes: took 3.2 s
     * (10.5 s with a name every 10 bytes) when Clean was quadratic */
    static const char *const units[] = {
        ("Priscilla Wrenfield MRN4471902 seen by Dr Okonkwo on 03/14/2023, "
         "call 218-555-0199; lung nodule stable. "),
        "Wrenfield ",
        "no identity in this sentence at all, only words and 1.5 mm. "};
    double t2m[3];
    (void)state;
    for (size_t u = 0; u < 3; u++) {
        tb in;
        run r;
        big_instance(&in, units[u], (size_t)2 << 20);
        run_profile(&r, CLEARING, &in);
        assert_int_equal(r.rc, OA_OK);
        t2m[u] = r.seconds;
        print_message("engine (pre-scan, rewrite with Clean, leak check), "
                      "2 MB of \"%.20s...\": %.3f s\n", units[u], r.seconds);
        assert_gone(&r, "Wrenfield");
        clean_alone(r.a, units[u], (size_t)2 << 20);
        run_free(&r);
        tb_dispose(&in);
    }
    /* 4x the text: about 4x the time, not 16x (the best of 3 runs each,
     * generous for a busy machine) */
    {
        tb in;
        run r;
        double small = 1e9, large = 1e9;

        big_instance(&in, units[0], (size_t)512 << 10);
        run_profile(&r, CLEARING, &in);
        assert_int_equal(r.rc, OA_OK);
        for (int k = 0; k < 3; k++) {
            double s1 = clean_alone(r.a, units[0], (size_t)512 << 10);
            double s2 = clean_alone(r.a, units[0], (size_t)2 << 20);
            small = s1 < small ? s1 : small;
            large = s2 < large ? s2 : large;
        }
        print_message("Clean alone: 2 MB / 512 KB time ratio %.1f\n",
                      large / small);
        assert_true(large < 10 * small + 0.02);
        run_free(&r);
        tb_dispose(&in);
    }
    assert_true(t2m[1] < 5.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_person_names_of_every_role),
        cmocka_unit_test(test_names_from_later_sequences),
        cmocka_unit_test(test_addresses),
        cmocka_unit_test(test_phone_numbers),
        cmocka_unit_test(test_mail_urls_and_ssn),
        cmocka_unit_test(test_identifiers),
        cmocka_unit_test(test_dates_removed_in_every_spelling),
        cmocka_unit_test(test_dates_shifted_with_the_patient_offset),
        cmocka_unit_test(test_dates_kept_where_the_profile_keeps_them),
        cmocka_unit_test(test_ages_over_89),
        cmocka_unit_test(test_sr_text_values_at_any_depth),
        cmocka_unit_test(test_every_text_attribute_is_cleaned),
        cmocka_unit_test(test_sr_text_value_left_empty_by_clean),
        cmocka_unit_test(test_default_cleans_a_description_not_refusing),
        cmocka_unit_test(test_age_value_under_clean),
        cmocka_unit_test(test_ages_of_90_or_more_in_every_unit),
        cmocka_unit_test(test_kept_ages_over_89_become_090Y),
        cmocka_unit_test(test_ages_over_89_kept_when_the_profile_says_so),
        cmocka_unit_test(test_malformed_kept_ages_are_removed),
        cmocka_unit_test(test_explain_shows_ages_over_89),
        cmocka_unit_test(test_needles_have_kinds),
        cmocka_unit_test(test_short_name_parts_are_words_of_text),
        cmocka_unit_test(test_find_dates_spellings),
        cmocka_unit_test(test_clean_survives_hostile_text),
        cmocka_unit_test(test_clean_is_linear_in_the_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
