/*
 * Outputs as valid as their inputs (issue 11): each slip that dciodvfy
 * found on the corpus, on a small instance built like the file that
 * showed it (UnitTests/anonymizer/validity.py runs dciodvfy itself).
 */
#define _GNU_SOURCE /* memmem */
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
#define MR_CLASS "1.2.840.10008.5.1.4.1.1.4"
#define PET_CLASS "1.2.840.10008.5.1.4.1.1.128"
#define GSPS_CLASS "1.2.840.10008.5.1.4.1.1.11.1"
#define UNKNOWN_CLASS "1.2.826.0.1.3680043.8.498.99.1"

/* The output as "depth tag VR [value]" lines (string and UN values). */
static oa_status tr_element(void *u, const oa_element *el, oa_error *e)
{
    oa_buf *b = u;
    char tag[12], vr[3];
    size_t n = el->length;
    (void)e;
    oa_tag_format(el->tag, tag);
    oa_vr_str(el->vr, vr);
    if (!oa_vr_is_string(el->vr) && el->vr != OA_VR_UN)
        n = 0;
    oa_buf_printf(b, "%u %s %s [%.*s]\n", el->depth, tag, vr, (int)n,
                  (const char *)el->value);
    return OA_OK;
}

static oa_status tr_seq(void *u, const oa_element *el, oa_error *e)
{
    oa_buf *b = u;
    char tag[12];
    (void)e;
    oa_tag_format(el->tag, tag);
    oa_buf_printf(b, "%u %s SQ\n", el->depth, tag);
    return OA_OK;
}

typedef struct run {
    oa_profile *profile;
    oa_anonymizer *a;
    oa_anon_result res;
    oa_error err;
    oa_status rc;
    oa_buf tr;
} run;

static void run_profile(run *r, const char *profile_json, const tb *in)
{
    oa_anonymizer_opts o;
    oa_dicom_handler h;

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
    o.secret = (const uint8_t *)"validity";
    o.secret_len = 8;
    assert_int_equal(oa_anonymizer_new(&r->a, r->profile, &o, NULL), OA_OK);
    r->rc = oa_anonymizer_run(r->a, NULL, tb_data(in), tb_len(in), &r->res,
                              &r->err);
    oa_buf_init(&r->tr, 1 << 20);
    assert_int_equal(r->rc, OA_OK);
    memset(&h, 0, sizeof(h));
    h.element = tr_element;
    h.sequence_begin = tr_seq;
    h.user = &r->tr;
    assert_int_equal(oa_dicom_parse(r->res.data, r->res.len, NULL, &h, NULL,
                                    NULL),
                     OA_OK);
}

static void run_free(run *r)
{
    oa_buf_dispose(&r->tr);
    oa_anonymizer_free(r->a);
    oa_profile_free(r->profile);
}

static bool has(run *r, const char *line)
{
    return strstr(oa_buf_cstr(&r->tr), line) != NULL;
}

/* The head of an instance up to (0008,0018). */
static void head(tb *t, const char *sop_class)
{
    tb_init(t, true, false);
    tb_meta(t, TS_EXPLICIT, true);
    tb_uid(t, T(0008, 0016), sop_class);
    tb_uid(t, T(0008, 0018), "1.2.3.4.5.6.7.8.1");
}

static void patient(tb *t)
{
    tb_str(t, T(0010, 0010), "PN", "Doe^Jane");
    tb_str(t, T(0010, 0020), "LO", "PID-777123");
}

/*
 * Referenced Study Sequence (0008,1110) is X/Z: the General Study module
 * gives it Type 3, so it is removed, not emptied (127 corpus files, e.g.
 * orthanc-tests/Brainix/Epi/IM-0001-0001.dcm: "Bad Sequence number of Items 0").  The
 * other combined codes follow the IOD as well: Acquisition Date (X/Z) is
 * Type 2 in a PET image (emptied) and Type 3 in a CT (removed); Series
 * Date (X/D) is Type 1 in the PET Series module (dummied), Type 3 in a
 * CT (removed).  A SOP class the table does not know keeps the strictest
 * alternative.
 */
static void instance_with_dates(tb *t, const char *sop_class)
{
    head(t, sop_class);
    tb_str(t, T(0008, 0021), "DA", "20240301");
    tb_str(t, T(0008, 0022), "DA", "20240301");
    tb_str(t, T(0008, 0031), "TM", "101500");
    tb_hdr(t, T(0008, 1110), "SQ", OA_UNDEFINED_LENGTH);
    tb_item(t, OA_UNDEFINED_LENGTH);
    tb_uid(t, T(0008, 1150), "1.2.840.10008.3.1.2.3.1");
    tb_uid(t, T(0008, 1155), "1.2.3.4.5.6.7.8.900");
    tb_item_end(t);
    tb_seq_end(t);
    patient(t);
}

static void test_combined_codes_follow_the_iod(void **state)
{
    tb in;
    run r;
    (void)state;

    instance_with_dates(&in, CT_CLASS);
    run_profile(&r, "Full", &in);
    assert_false(has(&r, "(0008,1110)"));
    assert_false(has(&r, "(0008,0021)"));
    assert_false(has(&r, "(0008,0022)"));
    assert_false(has(&r, "(0008,0031)"));
    run_free(&r);
    tb_dispose(&in);

    instance_with_dates(&in, PET_CLASS);
    run_profile(&r, "Full", &in);
    assert_false(has(&r, "(0008,1110)"));
    assert_true(has(&r, "0 (0008,0021) DA [19000101]"));
    assert_true(has(&r, "0 (0008,0022) DA []"));
    assert_true(has(&r, "0 (0008,0031) TM [000000]"));
    run_free(&r);
    tb_dispose(&in);

    instance_with_dates(&in, UNKNOWN_CLASS);
    run_profile(&r, "Full", &in);
    assert_true(has(&r, "0 (0008,1110) SQ"));
    assert_true(has(&r, "0 (0008,0021) DA [19000101]"));
    run_free(&r);
    tb_dispose(&in);
}

/*
 * orthanc-tests/2021-02-19-MalaterreCP246.dcm: a PET whose Series Date,
 * Series Time and Patient's Name are stored with VR UN.  The dummies of
 * the two Type 1 attributes were NUL bytes, the pseudonym ended with a
 * NUL pad ("Trailing character invalid"; also orthanc-tests/2022-03-08-
 * RicSmi.dcm, pydicom-test_files/rtdose_rle.dcm).  A UN element whose tag
 * the dictionary knows is written with the dictionary's VR.
 */
static void cp246(tb *t)
{
    head(t, PET_CLASS);
    tb_el(t, T(0008, 0021), "UN", "20240301", 8);
    tb_el(t, T(0008, 0031), "UN", "101500", 6);
    tb_el(t, T(0008, 0070), "UN", "ACME\0\0", 6);
    tb_el(t, T(0010, 0010), "UN", "Doe^Jane", 8);
    tb_str(t, T(0010, 0020), "LO", "PID-777123");
}

static void test_un_elements_get_the_dictionary_vr(void **state)
{
    tb in;
    run r;
    (void)state;

    cp246(&in);
    run_profile(&r, "Full", &in);
    assert_true(has(&r, "0 (0008,0021) DA [19000101]"));
    assert_true(has(&r, "0 (0008,0031) TM [000000]"));
    /* kept, now LO without the UN's NUL padding */
    assert_true(has(&r, "0 (0008,0070) LO [ACME]"));
    /* the pseudonym padded with a space, not a NUL */
    assert_true(has(&r, "0 (0010,0010) PN [ANON^"));
    assert_null(memmem(oa_buf_cstr(&r.tr), r.tr.len, "\0]", 2));
    run_free(&r);
    tb_dispose(&in);
}

/*
 * "Dates": "shift" shifts a date whatever VR it is stored with: a Series
 * Date stored as LO or UN stayed unchanged.
 */
static void test_dates_shift_whatever_their_vr(void **state)
{
    tb in;
    run r;
    const char *t, *lo, *un;
    (void)state;

    head(&in, CT_CLASS);
    tb_str(&in, T(0008, 0020), "DA", "20240301");
    tb_str(&in, T(0008, 0021), "LO", "20240301");
    tb_el(&in, T(0008, 0023), "UN", "20240301", 8);
    patient(&in);
    run_profile(&r, "{\"Base\": \"Full\", \"Dates\": \"shift\"}", &in);
    t = oa_buf_cstr(&r.tr);
    lo = strstr(t, "0 (0008,0021) LO [");
    un = strstr(t, "0 (0008,0023) DA [");
    assert_non_null(strstr(t, "0 (0008,0020) DA ["));
    assert_non_null(lo);
    assert_non_null(un);
    assert_memory_not_equal(lo + 18, "20240301", 8);
    /* the same offset as the Study Date */
    assert_memory_equal(lo + 18, strstr(t, "0 (0008,0020) DA [") + 18, 8);
    assert_memory_equal(un + 18, lo + 18, 8);
    assert_null(memmem(r.res.data, r.res.len, "20240301", 8));
    run_free(&r);
    tb_dispose(&in);
}

/*
 * fo-dicom/OutOfBoundsOverlay.dcm (also pydicom-data/MR-SIEMENS-DICOM-
 * WithOverlays.dcm, orthanc-tests/PatientWith2studies/): Overlay Data
 * (60xx,3000) was removed and the rest of the group kept ("Missing
 * attribute Type 1 Required Element=<OverlayData>").  The group goes
 * whole, or stays whole when the profile keeps the overlay.
 */
static void overlay(tb *t)
{
    head(t, MR_CLASS);
    patient(t);
    tb_el(t, T(6000, 0010), "US", "\x08\0", 2);
    tb_el(t, T(6000, 0011), "US", "\x08\0", 2);
    tb_str(t, T(6000, 0022), "LO", "drawn");
    tb_str(t, T(6000, 0040), "CS", "G");
    tb_el(t, T(6000, 0050), "SS", "\1\0\1\0", 4);
    tb_el(t, T(6000, 0100), "US", "\1\0", 2);
    tb_el(t, T(6000, 0102), "US", "\0\0", 2);
    tb_el(t, T(6000, 3000), "OW", "\1\2\3\4\5\6\7\x08", 8);
}

static void test_overlay_groups_go_whole(void **state)
{
    tb in;
    run r;
    (void)state;

    overlay(&in);
    run_profile(&r, "Default", &in);
    assert_false(has(&r, "(6000,"));
    run_free(&r);
    run_profile(&r, "{\"Base\": \"Default\", \"Keep\": [\"(6000,3000)\"]}",
                &in);
    assert_true(has(&r, "0 (6000,0010) US"));
    assert_true(has(&r, "0 (6000,0040) CS [G"));
    assert_true(has(&r, "0 (6000,3000) OW"));
    run_free(&r);
    tb_dispose(&in);
}

/*
 * The Clinical Trial Subject module as a group: Ethics Committee Name
 * (0012,0081, D) is Type 1C, required if the Approval Number (0012,0082,
 * X) is present and not allowed otherwise; it goes with the number (14
 * outputs of the corpus and the generated instances: "Attribute present
 * when condition unsatisfied ... ClinicalTrialProtocolEthicsCommitteeName").
 */
static void test_clinical_trial_module_as_a_group(void **state)
{
    tb in;
    run r;
    (void)state;

    head(&in, CT_CLASS);
    patient(&in);
    tb_str(&in, T(0012, 0010), "LO", "Sponsor Inc");
    tb_str(&in, T(0012, 0020), "LO", "PROT-1");
    tb_str(&in, T(0012, 0040), "LO", "SUBJ-42");
    tb_str(&in, T(0012, 0081), "LO", "City Ethics Board");
    tb_str(&in, T(0012, 0082), "LO", "ETH-1234");
    run_profile(&r, "Full", &in);
    assert_true(has(&r, "0 (0012,0010) LO [ANONYMIZED]"));
    assert_true(has(&r, "0 (0012,0040) LO [ANONYMIZED]"));
    assert_false(has(&r, "(0012,0081)"));
    assert_false(has(&r, "(0012,0082)"));
    run_free(&r);
    tb_dispose(&in);
}

/*
 * orthanc-tests/HierarchicalAnonymization/2019-03-28/PR000000.dcm:
 * Presentation Creation Date and Time (X) are Type 1 in a presentation
 * state: dummied, not removed, under Full; shifted under Dates "shift".
 */
static void test_presentation_creation_dummied(void **state)
{
    tb in;
    run r;
    (void)state;

    head(&in, GSPS_CLASS);
    patient(&in);
    tb_str(&in, T(0070, 0082), "DA", "20240301");
    tb_str(&in, T(0070, 0083), "TM", "101500");
    run_profile(&r, "Full", &in);
    assert_true(has(&r, "0 (0070,0082) DA [19000101]"));
    assert_true(has(&r, "0 (0070,0083) TM [000000]"));
    run_free(&r);
    run_profile(&r, "{\"Base\": \"Full\", \"Dates\": \"shift\"}", &in);
    assert_true(has(&r, "0 (0070,0082) DA ["));
    assert_false(has(&r, "0 (0070,0082) DA [20240301]"));
    assert_false(has(&r, "0 (0070,0082) DA [19000101]"));
    run_free(&r);
    tb_dispose(&in);
}

/*
 * pydicom-test_files/rtstruct.dcm: the Structure Set Label (Type 1) is
 * the Study ID ("sep30"), so Clean leaves nothing of it.  Default and
 * Full write a dummy there (valid); Research keeps what the label does
 * (Type 1 with clinical meaning: never ANONYMIZED nor empty, issue 16,
 * found by anon_corpus): the keyed hash of the original, equal for equal
 * labels.  A label with more than the identifier keeps the rest.
 */
#define RTSTRUCT_CLASS "1.2.840.10008.5.1.4.1.1.481.3"

static void structure_set(tb *t, const char *label)
{
    head(t, RTSTRUCT_CLASS);
    patient(t);
    tb_str(t, T(0020, 0010), "SH", "sep30");
    tb_uid(t, T(0020, 000D), "1.2.3.4.5.6.7.8.2");
    tb_uid(t, T(0020, 000E), "1.2.3.4.5.6.7.8.3");
    tb_str(t, T(3006, 0002), "SH", label);
}

static void test_type1_label_left_empty_by_clean(void **state)
{
    tb in;
    run r;
    char line[64], hash[17];
    (void)state;

    structure_set(&in, "sep30");
    run_profile(&r, "Default", &in);
    assert_true(has(&r, "0 (3006,0002) SH [ANONYMIZED]"));
    run_free(&r);
    run_profile(&r, "Research", &in);
    oa_anon_hash_value(r.a, "sep30", 5, hash);
    snprintf(line, sizeof(line), "0 (3006,0002) SH [%s]", hash);
    assert_true(has(&r, line));
    assert_false(has(&r, "ANONYMIZED"));
    assert_false(has(&r, "sep30"));
    run_free(&r);
    tb_dispose(&in);

    structure_set(&in, "sep30 prostate");
    run_profile(&r, "Research", &in);
    assert_true(has(&r, "0 (3006,0002) SH [prostate"));
    assert_false(has(&r, "sep30"));
    run_free(&r);
    tb_dispose(&in);
}

/*
 * fo-dicom/mr_brucker.dcm, dcm4che/explicitVRwithinUNsequence.dcm,
 * orthanc-tests/Issue56-NoPixelData.dcm: Responsible Person and
 * Responsible Organization (X) are Type 2C, required for an animal
 * patient: emptied then; the Role (Type 1C, only beside a Responsible
 * Person with a value) goes.  For a human patient all three go.
 */
static void owner(tb *t, bool animal)
{
    head(t, MR_CLASS);
    patient(t);
    if (animal)
        tb_str(t, T(0010, 2201), "LO", "Canis lupus familiaris");
    tb_str(t, T(0010, 2297), "PN", "Owner^Olga");
    tb_str(t, T(0010, 2298), "CS", "OWNER");
    tb_str(t, T(0010, 2299), "LO", "Kennel Club");
}

static void test_responsible_person_of_an_animal(void **state)
{
    tb in;
    run r;
    (void)state;

    owner(&in, true);
    run_profile(&r, "Full", &in);
    assert_true(has(&r, "0 (0010,2297) PN []"));
    assert_true(has(&r, "0 (0010,2299) LO []"));
    assert_false(has(&r, "(0010,2298)"));
    assert_null(memmem(r.res.data, r.res.len, "Olga", 4));
    assert_null(memmem(r.res.data, r.res.len, "Kennel", 6));
    run_free(&r);
    tb_dispose(&in);

    owner(&in, false);
    run_profile(&r, "Full", &in);
    assert_false(has(&r, "(0010,2297)"));
    assert_false(has(&r, "(0010,2298)"));
    assert_false(has(&r, "(0010,2299)"));
    run_free(&r);
    tb_dispose(&in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_combined_codes_follow_the_iod),
        cmocka_unit_test(test_un_elements_get_the_dictionary_vr),
        cmocka_unit_test(test_dates_shift_whatever_their_vr),
        cmocka_unit_test(test_overlay_groups_go_whole),
        cmocka_unit_test(test_clinical_trial_module_as_a_group),
        cmocka_unit_test(test_presentation_creation_dummied),
        cmocka_unit_test(test_responsible_person_of_an_animal),
        cmocka_unit_test(test_type1_label_left_empty_by_clean),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
