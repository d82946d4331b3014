/*
 * Unit tests of the anonymization engine on hand-built instances: each
 * action, options, sequences at depth, private creators, wildcard groups,
 * keyed UIDs and pseudonyms, dates, markers, dropping and the leak check.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anonymizer/anonymizer.h"
#include "dicom_bytes.h"

#define T(g, e) OA_TAG(0x##g, 0x##e)
#define TS_EXPLICIT "1.2.840.10008.1.2.1"
#define CT_CLASS "1.2.840.10008.5.1.4.1.1.2"
#define SC_CLASS "1.2.840.10008.5.1.4.1.1.7"

/* The output as a trace: "depth tag VR value" lines (values as text). */
typedef struct trace {
    oa_buf b;
} trace;

static oa_status tr_element(void *u, const oa_element *el, oa_error *e)
{
    trace *t = u;
    char tag[12], vr[3];
    size_t n = el->length;
    (void)e;
    oa_tag_format(el->tag, tag);
    oa_vr_str(el->vr, vr);
    if (!oa_vr_is_string(el->vr) && el->vr != OA_VR_UN)
        n = 0;
    oa_buf_printf(&t->b, "%u %s %s [%.*s]\n", el->depth, tag, vr,
                  (int)oa_value_trim(el->value, n), (const char *)el->value);
    return OA_OK;
}

static oa_status tr_seq(void *u, const oa_element *el, oa_error *e)
{
    trace *t = u;
    char tag[12];
    (void)e;
    oa_tag_format(el->tag, tag);
    oa_buf_printf(&t->b, "%u %s SQ\n", el->depth, tag);
    return OA_OK;
}

static void trace_of(const uint8_t *data, size_t len, trace *t)
{
    oa_dicom_handler h;
    memset(&h, 0, sizeof(h));
    h.element = tr_element;
    h.sequence_begin = tr_seq;
    h.user = t;
    oa_buf_init(&t->b, 1 << 20);
    assert_int_equal(oa_dicom_parse(data, len, NULL, &h, NULL, NULL), OA_OK);
}

static bool has(trace *t, const char *line)
{
    return strstr(oa_buf_cstr(&t->b), line) != NULL;
}

/* A CT-like instance with identifying data in many places. */
static void ct_instance(tb *t, const char *sop_class)
{
    tb_init(t, true, false);
    tb_meta(t, TS_EXPLICIT, true);
    tb_str(t, T(0008, 0012), "DA", "20240301");
    tb_uid(t, T(0008, 0016), sop_class);
    tb_uid(t, T(0008, 0018), "1.2.3.4.5.6.7.8.1");
    tb_str(t, T(0008, 0020), "DA", "20240301");
    tb_str(t, T(0008, 0030), "TM", "101500");
    tb_str(t, T(0008, 0050), "SH", "ACC12345");
    tb_str(t, T(0008, 0060), "CS", "CT");
    tb_str(t, T(0008, 0070), "LO", "ACME");
    tb_str(t, T(0008, 0080), "LO", "St Elsewhere Hospital");
    tb_str(t, T(0008, 0090), "PN", "Welby^Marcus");
    tb_str(t, T(0008, 1030), "LO", "CHEST CT");
    /* Referenced Image Sequence: a reference to another instance */
    tb_hdr(t, T(0008, 1140), "SQ", OA_UNDEFINED_LENGTH);
    tb_item(t, OA_UNDEFINED_LENGTH);
    tb_uid(t, T(0008, 1150), CT_CLASS);
    tb_uid(t, T(0008, 1155), "1.2.3.4.5.6.7.8.2");
    tb_item_end(t);
    tb_seq_end(t);
    /* a private block: a safe one and an unsafe one */
    tb_str(t, T(0009, 0010), "LO", "ACME PRIVATE");
    tb_str(t, T(0009, 1001), "LO", "Doe secret note");
    tb_str(t, T(0010, 0010), "PN", "Doe^Jane");
    tb_str(t, T(0010, 0020), "LO", "PID-777123");
    tb_str(t, T(0010, 0030), "DA", "19650412");
    tb_str(t, T(0010, 0040), "CS", "F");
    tb_str(t, T(0010, 1010), "AS", "058Y");
    tb_str(t, T(0010, 1030), "DS", "72.5");
    /* Other Patient IDs Sequence (removed whole) */
    tb_hdr(t, T(0010, 1002), "SQ", OA_UNDEFINED_LENGTH);
    tb_item(t, OA_UNDEFINED_LENGTH);
    tb_str(t, T(0010, 0020), "LO", "OTHER-99881");
    tb_item_end(t);
    tb_seq_end(t);
    tb_uid(t, T(0020, 000D), "1.2.3.4.5.6.7.8.10");
    tb_uid(t, T(0020, 000E), "1.2.3.4.5.6.7.8.11");
    tb_uid(t, T(0020, 0052), "1.2.3.4.5.6.7.8.12");
    /* Overlay (60xx,3000) and overlay comments (60xx,4000) */
    tb_el(t, T(6002, 3000), "OW", "\1\2\3\4", 4);
    tb_str(t, T(6002, 4000), "LT", "drawn by Dr Welby");
    /* Philips PET safe private block */
    tb_str(t, T(7053, 0010), "LO", "Philips PET Private Group");
    tb_str(t, T(7053, 1000), "DS", "0.00123");
    tb_el(t, T(7FE0, 0010), "OW", "\1\2\3\4\5\6\7\x08", 8);
}

typedef struct run {
    oa_profile *profile;
    oa_anonymizer *a;
    oa_anon_result res;
    oa_error err;
    oa_status rc;
    trace tr;
} run;

static void run_profile(run *r, const char *profile_json, const tb *in,
                        const oa_anon_identity *id, const char *secret)
{
    oa_anonymizer_opts o;

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
    o.secret = (const uint8_t *)secret;
    o.secret_len = strlen(secret);
    assert_int_equal(oa_anonymizer_new(&r->a, r->profile, &o, NULL), OA_OK);
    r->rc = oa_anonymizer_run(r->a, id, tb_data(in), tb_len(in), &r->res,
                              &r->err);
    if (r->rc == OA_OK && !r->res.dropped)
        trace_of(r->res.data, r->res.len, &r->tr);
    else
        oa_buf_init(&r->tr.b, 16);
}

static void run_free(run *r)
{
    oa_buf_dispose(&r->tr.b);
    oa_anonymizer_free(r->a);
    oa_profile_free(r->profile);
}

static void test_full_applies_the_basic_profile(void **state)
{
    tb in;
    run r;
    (void)state;
    ct_instance(&in, CT_CLASS);
    run_profile(&r, "Full", &in, NULL, "secret");
    assert_int_equal(r.rc, OA_OK);
    /* Z: accession number emptied; dates emptied (Basic) */
    assert_true(has(&r.tr, "0 (0008,0050) SH []"));
    assert_true(has(&r.tr, "0 (0008,0020) DA []"));
    /* X/Z/D: the CT IOD does not require Institution Name: X */
    assert_false(has(&r.tr, "(0008,0080)"));
    /* X: private tags, other patient IDs; birth date cleared */
    assert_false(has(&r.tr, "(0009,"));
    assert_false(has(&r.tr, "(7053,"));
    assert_false(has(&r.tr, "(0010,1002)"));
    assert_true(has(&r.tr, "0 (0010,0030) DA [19000101]"));
    /* patient characteristics removed without the option */
    assert_false(has(&r.tr, "(0010,1030)"));
    /* overlay comments removed (X for (60xx,4000)) */
    assert_false(has(&r.tr, "(6002,4000)"));
    /* pseudonyms, markers */
    assert_true(has(&r.tr, "0 (0010,0010) PN [ANON^"));
    assert_true(has(&r.tr, "0 (0010,0020) LO [ANON"));
    assert_true(has(&r.tr, "0 (0012,0062) CS [YES]"));
    assert_true(has(&r.tr, "0 (0012,0063) LO [Orthanc Anonymizer"));
    assert_true(has(&r.tr, "0 (0012,0064) SQ"));
    assert_true(has(&r.tr, "1 (0008,0100) SH [113100]"));
    assert_true(has(&r.tr, "0 (0028,0303) CS [REMOVED]"));
    /* nothing identifying left anywhere */
    assert_null(memmem(r.res.data, r.res.len, "Doe", 3));
    assert_null(memmem(r.res.data, r.res.len, "Welby", 5));
    assert_null(memmem(r.res.data, r.res.len, "PID-777123", 10));
    assert_null(memmem(r.res.data, r.res.len, "19650412", 8));
    assert_null(memmem(r.res.data, r.res.len, "1.2.3.4.5.6.7.8", 15));
    /* pixel data untouched */
    assert_non_null(memmem(r.res.data, r.res.len, "\1\2\3\4\5\6\7\x08", 8));
    run_free(&r);
    tb_dispose(&in);
}

static void test_default_keeps_what_pet_needs(void **state)
{
    tb in;
    run r;
    (void)state;
    ct_instance(&in, CT_CLASS);
    run_profile(&r, "Default", &in, NULL, "secret");
    assert_int_equal(r.rc, OA_OK);
    assert_true(has(&r.tr, "0 (0010,0040) CS [F]"));
    assert_true(has(&r.tr, "0 (0010,1010) AS [058Y]"));
    assert_true(has(&r.tr, "0 (0010,1030) DS [72.5]"));
    assert_true(has(&r.tr, "0 (0008,0020) DA [20240301]"));
    assert_true(has(&r.tr, "0 (0008,0030) TM [101500]"));
    assert_true(has(&r.tr, "0 (0008,1030) LO [CHEST CT]"));
    /* safe private: Philips SUV factor and its creator kept */
    assert_true(has(&r.tr, "0 (7053,0010) LO [Philips PET Private Group]"));
    assert_true(has(&r.tr, "0 (7053,1000) DS [0.00123]"));
    /* unsafe private removed, birth date cleared */
    assert_false(has(&r.tr, "(0009,"));
    assert_true(has(&r.tr, "0 (0010,0030) DA [19000101]"));
    assert_true(has(&r.tr, "0 (0028,0303) CS [UNMODIFIED]"));
    run_free(&r);
    tb_dispose(&in);
}

static void test_uids_are_keyed_and_consistent(void **state)
{
    tb in;
    run r1, r2, r3;
    char mapped[80];
    (void)state;
    ct_instance(&in, CT_CLASS);
    run_profile(&r1, "Full", &in, NULL, "secret");
    run_profile(&r2, "Full", &in, NULL, "secret");
    run_profile(&r3, "Full", &in, NULL, "another secret");
    /* same input and secret: byte-identical output */
    assert_int_equal(r1.res.len, r2.res.len);
    assert_memory_equal(r1.res.data, r2.res.data, r1.res.len);
    /* another secret: other UIDs */
    assert_false(r1.res.len == r3.res.len &&
                 memcmp(r1.res.data, r3.res.data, r1.res.len) == 0);
    /* the reference points at the mapped UID of its target */
    assert_int_equal(oa_anon_map_uid(r1.a, "1.2.3.4.5.6.7.8.2", 17, mapped,
                                     sizeof(mapped)), 0);
    assert_memory_equal(mapped, "2.25.", 5);
    {
        char line[128];
        snprintf(line, sizeof(line), "1 (0008,1155) UI [%s]", mapped);
        assert_true(has(&r1.tr, line));
    }
    /* class UIDs stay */
    assert_true(has(&r1.tr, "1 (0008,1150) UI [" CT_CLASS "]"));
    assert_true(has(&r1.tr, "0 (0008,0016) UI [" CT_CLASS "]"));
    /* meta follows the dataset */
    assert_int_equal(oa_anon_map_uid(r1.a, "1.2.3.4.5.6.7.8.1", 17, mapped,
                                     sizeof(mapped)), 0);
    assert_non_null(memmem(r1.res.data, 300, mapped, strlen(mapped)));
    assert_string_equal(r1.res.anonymized.sop_uid, mapped);
    assert_string_equal(r1.res.original.sop_uid, "1.2.3.4.5.6.7.8.1");
    /* well-known UIDs are never mapped */
    assert_int_equal(oa_anon_map_uid(r1.a, CT_CLASS, strlen(CT_CLASS),
                                     mapped, sizeof(mapped)), 0);
    assert_string_equal(mapped, CT_CLASS);
    run_free(&r1);
    run_free(&r2);
    run_free(&r3);
    tb_dispose(&in);
}

static void test_identity_from_caller_or_generated(void **state)
{
    tb in;
    run r;
    oa_anon_identity id = {"Research^Subject01", "SUBJ01", "Study A"};
    char name[65], pid[65];
    (void)state;
    ct_instance(&in, CT_CLASS);
    run_profile(&r, "Full", &in, &id, "secret");
    assert_true(has(&r.tr, "0 (0010,0010) PN [Research^Subject01]"));
    assert_true(has(&r.tr, "0 (0010,0020) LO [SUBJ01]"));
    assert_true(has(&r.tr, "0 (0008,1030) LO [Study A]"));
    assert_string_equal(r.res.original.patient_id, "PID-777123");
    assert_string_equal(r.res.anonymized.patient_id, "SUBJ01");
    /* generated: a function of the original ID only */
    oa_anon_pseudonym(r.a, "PID-777123", 10, name, pid);
    run_free(&r);
    run_profile(&r, "Full", &in, NULL, "secret");
    {
        char line[128];
        snprintf(line, sizeof(line), "0 (0010,0020) LO [%s]", pid);
        assert_true(has(&r.tr, line));
        snprintf(line, sizeof(line), "0 (0010,0010) PN [%s]", name);
        assert_true(has(&r.tr, line));
    }
    run_free(&r);
    tb_dispose(&in);
}

static void test_dates_shift_by_one_offset_per_patient(void **state)
{
    tb in;
    run r;
    int off;
    (void)state;
    ct_instance(&in, CT_CLASS);
    run_profile(&r, "{\"Base\": \"Full\", \"Dates\": \"shift\"}", &in, NULL,
                "secret");
    assert_int_equal(r.rc, OA_OK);
    off = oa_anon_date_offset(r.a, "PID-777123", 10);
    assert_true(off < 0 && off >= -3650);
    /* both dates of the study moved by the same offset: still equal */
    {
        const char *t = oa_buf_cstr(&r.tr.b);
        const char *d1 = strstr(t, "0 (0008,0012) DA [");
        const char *d2 = strstr(t, "0 (0008,0020) DA [");
        assert_non_null(d1);
        assert_non_null(d2);
        assert_memory_equal(d1 + 18, d2 + 18, 8);
        assert_memory_not_equal(d1 + 18, "20240301", 8);
    }
    assert_true(has(&r.tr, "0 (0028,0303) CS [MODIFIED]"));
    run_free(&r);
    tb_dispose(&in);
}

static void test_secondary_capture_is_dropped(void **state)
{
    tb in;
    run r;
    (void)state;
    ct_instance(&in, SC_CLASS);
    run_profile(&r, "Default", &in, NULL, "secret");
    assert_int_equal(r.rc, OA_OK);
    assert_true(r.res.dropped);
    run_free(&r);
    run_profile(&r, "{\"Base\": \"Default\", "
                    "\"SecondaryCapturesAndReports\": \"keep\", "
                    "\"BurnedInText\": \"keep\"}",
                &in, NULL, "secret");
    assert_int_equal(r.rc, OA_OK);
    assert_false(r.res.dropped);
    assert_int_equal(r.res.pixels.verdict, OA_PIXELS_KEEP);
    run_free(&r);
    /* Kept, a secondary capture is at risk of burned-in text: with no rule
     * for the device and no OCR, it is refused, never passed. */
    run_profile(&r, "{\"Base\": \"Default\", "
                    "\"SecondaryCapturesAndReports\": \"keep\"}",
                &in, NULL, "secret");
    assert_int_equal(r.rc, OA_ELEAK);
    assert_int_equal(r.res.pixels.verdict, OA_PIXELS_REFUSE);
    assert_true(r.res.pixels.risks & OA_PIXELS_RISK_SC_CLASS);
    run_free(&r);
    tb_dispose(&in);
}

static void test_keep_remove_replace_lists(void **state)
{
    tb in;
    run r;
    (void)state;
    ct_instance(&in, CT_CLASS);
    run_profile(&r,
                "{\"Base\": \"Full\", \"Keep\": [\"0008,0080\"], "
                "\"Remove\": [\"0008,0060\"], "
                "\"Replace\": {\"0008,0070\": \"Example\"}}",
                &in, NULL, "secret");
    assert_int_equal(r.rc, OA_OK);
    assert_true(has(&r.tr, "0 (0008,0080) LO [St Elsewhere Hospital]"));
    assert_false(has(&r.tr, "(0008,0060)"));
    assert_true(has(&r.tr, "0 (0008,0070) LO [Example]"));
    run_free(&r);
    tb_dispose(&in);
}

static void test_leak_check_fails_the_instance_naming_the_tag(void **state)
{
    tb in;
    run r;
    char msg[400];
    (void)state;
    /* the patient's name put back into a kept attribute */
    ct_instance(&in, CT_CLASS);
    run_profile(&r,
                "{\"Base\": \"Default\", \"Replace\": "
                "{\"0008,1030\": \"follow-up of Jane\"}}",
                &in, NULL, "secret");
    assert_int_equal(r.rc, OA_ELEAK);
    assert_null(r.res.data);
    oa_error_format(&r.err, msg, sizeof(msg));
    assert_non_null(strstr(msg, "(0010,0010)"));
    assert_non_null(strstr(msg, "(0008,1030)"));
    assert_null(strstr(msg, "Jane"));
    run_free(&r);
    tb_dispose(&in);
}

/*
 * The leak check must refuse the output of `in` under `profile`; if
 * `tag` is not NULL, the message names it.  Disposes `in`.
 */
static void assert_leak(tb *in, const char *profile, const char *tag)
{
    run r;
    char msg[400];

    run_profile(&r, profile, in, NULL, "secret");
    assert_int_equal(r.rc, OA_ELEAK);
    assert_null(r.res.data);
    if (tag != NULL) {
        oa_error_format(&r.err, msg, sizeof(msg));
        assert_non_null(strstr(msg, tag));
    }
    run_free(&r);
    tb_dispose(in);
}

/* A small instance: the Patient ID `pid` (`len` bytes, may hold a NUL)
 * and a kept unknown binary value `blob`. */
static void id_and_blob(tb *in, const void *pid, size_t pid_len,
                        const void *blob, size_t blob_len)
{
    tb_init(in, true, false);
    tb_meta(in, TS_EXPLICIT, true);
    tb_uid(in, T(0008, 0016), CT_CLASS);
    tb_uid(in, T(0008, 0018), "1.2.3.4.5.6.7.8.1");
    tb_str(in, T(0010, 0010), "PN", "Doe^Jane");
    tb_el(in, T(0010, 0020), "LO", pid, (uint32_t)pid_len);
    tb_el(in, T(0052, 00FF), "UN", blob, (uint32_t)blob_len);
}

static void test_leak_check_ignores_case_in_narrative_text(void **state)
{
    tb in;
    (void)state;
    /* the name in another case in a kept comment (LT) is still found */
    ct_instance(&in, CT_CLASS);
    assert_leak(&in,
                "{\"Base\": \"Default\", \"Replace\": "
                "{\"6002,4000\": \"FOLLOW-UP OF JANE\"}}",
                "(6002,4000)");
}

static void test_leak_check_ignores_case_in_descriptions(void **state)
{
    tb in;
    (void)state;
    /* the name in capitals in a kept description (LO) is found */
    ct_instance(&in, CT_CLASS);
    assert_leak(&in,
                "{\"Base\": \"Default\", \"Replace\": "
                "{\"0008,1030\": \"REVIEW JANE\"}}",
                NULL);
}

static void test_leak_check_finds_ids_next_to_binary_bytes(void **state)
{
    /* An ID inside a kept binary value, right after a byte above 0x7F:
     * found (in text such a byte is a letter; in binary it is data). */
    static const uint8_t pid[] = "PID-777123";
    static const uint8_t blob[] = "\x01\x80PID-777123\xfe\xff";
    tb in;
    (void)state;
    id_and_blob(&in, pid, sizeof(pid) - 1, blob, sizeof(blob) - 1);
    assert_leak(&in, "Full", NULL);
}

static void test_leak_check_ids_end_at_non_ascii_bytes_in_text(void **state)
{
    /* the Patient ID followed by a non-ASCII letter in a kept description:
     * an ID is ASCII, so the next byte ends it */
    tb in;
    (void)state;
    ct_instance(&in, CT_CLASS);
    assert_leak(&in,
                "{\"Base\": \"Default\", \"Replace\": "
                "{\"0008,1030\": \"seen PID-777123\u00e9\"}}",
                NULL);
}

static void test_leak_check_splits_values_at_nul(void **state)
{
    /* "QZ7712345\0junk": readers see the ID QZ7712345; found in a kept
     * binary value although the whole value is not there */
    static const uint8_t pid[] = "QZ7712345\0junk-";
    static const uint8_t blob[] = "id QZ7712345 here";
    tb in;
    (void)state;
    id_and_blob(&in, pid, sizeof(pid) - 1, blob, sizeof(blob) - 1);
    assert_leak(&in, "Full", NULL);
}

static void test_rules_apply_inside_nested_sequences(void **state)
{
    tb in;
    run r;
    (void)state;
    tb_init(&in, true, false);
    tb_meta(&in, TS_EXPLICIT, true);
    tb_uid(&in, T(0008, 0016), CT_CLASS);
    tb_uid(&in, T(0008, 0018), "1.2.3.9");
    /* Request Attributes Sequence > item > a nested sequence with a PN */
    tb_hdr(&in, T(0040, 0275), "SQ", OA_UNDEFINED_LENGTH);
    tb_item(&in, OA_UNDEFINED_LENGTH);
    tb_hdr(&in, T(0040, A730), "SQ", OA_UNDEFINED_LENGTH);
    tb_item(&in, OA_UNDEFINED_LENGTH);
    tb_str(&in, T(0040, A123), "PN", "Nested^Person");
    tb_uid(&in, T(0008, 1155), "1.2.3.9.1");
    tb_item_end(&in);
    tb_seq_end(&in);
    tb_item_end(&in);
    tb_seq_end(&in);
    tb_str(&in, T(0010, 0010), "PN", "Doe^Jane");
    run_profile(&r, "{\"Base\": \"Full\", \"Keep\": [\"0040,0275\"]}", &in,
                NULL, "secret");
    assert_int_equal(r.rc, OA_OK);
    assert_null(memmem(r.res.data, r.res.len, "Nested", 6));
    assert_null(memmem(r.res.data, r.res.len, "1.2.3.9.1", 9));
    assert_true(has(&r.tr, "2 (0008,1155) UI [2.25."));
    run_free(&r);
    tb_dispose(&in);
}

static void test_bad_secret_and_root_are_refused(void **state)
{
    oa_profile *p;
    oa_anonymizer *a = NULL;
    oa_anonymizer_opts o;
    oa_error err;
    (void)state;
    assert_int_equal(oa_profile_builtin(&p, "Full", NULL), OA_OK);
    memset(&o, 0, sizeof(o));
    oa_error_clear(&err);
    assert_int_equal(oa_anonymizer_new(&a, p, &o, &err), OA_EINVAL);
    o.secret = (const uint8_t *)"s";
    o.secret_len = 1;
    o.uid_root = "2.25.x";
    assert_int_equal(oa_anonymizer_new(&a, p, &o, &err), OA_EINVAL);
    assert_non_null(strstr(err.msg, "UidRoot"));
    o.uid_root = "1.2.826.0.1.99";
    assert_int_equal(oa_anonymizer_new(&a, p, &o, &err), OA_OK);
    {
        char out[80];
        assert_int_equal(oa_anon_map_uid(a, "1.2.3", 5, out, sizeof(out)), 0);
        assert_memory_equal(out, "1.2.826.0.1.99.", 15);
        assert_true(strlen(out) <= 64);
    }
    oa_anonymizer_free(a);
    oa_profile_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_applies_the_basic_profile),
        cmocka_unit_test(test_default_keeps_what_pet_needs),
        cmocka_unit_test(test_uids_are_keyed_and_consistent),
        cmocka_unit_test(test_identity_from_caller_or_generated),
        cmocka_unit_test(test_dates_shift_by_one_offset_per_patient),
        cmocka_unit_test(test_secondary_capture_is_dropped),
        cmocka_unit_test(test_keep_remove_replace_lists),
        cmocka_unit_test(test_leak_check_fails_the_instance_naming_the_tag),
        cmocka_unit_test(test_leak_check_ignores_case_in_narrative_text),
        cmocka_unit_test(test_leak_check_ignores_case_in_descriptions),
        cmocka_unit_test(test_leak_check_finds_ids_next_to_binary_bytes),
        cmocka_unit_test(test_leak_check_ids_end_at_non_ascii_bytes_in_text),
        cmocka_unit_test(test_leak_check_splits_values_at_nul),
        cmocka_unit_test(test_rules_apply_inside_nested_sequences),
        cmocka_unit_test(test_bad_secret_and_root_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
