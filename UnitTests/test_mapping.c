/*
 * Unit tests of the mapping files (uids.csv, patients.csv): the engine's
 * list of the UIDs it mapped (oa_anon_result.uid_pairs) on a study of two
 * series whose instances share a frame of reference and reference each
 * other at depth, its ceiling; and the collection of pairs per job
 * (Plugin/services/mapping.c): one row per distinct pair, the stored
 * form, its ceiling, the CSV and its formula guard.
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
#include "services/services.h"

#define T(g, e) OA_TAG(0x##g, 0x##e)
#define TS_EXPLICIT "1.2.840.10008.1.2.1"
#define CT_CLASS "1.2.840.10008.5.1.4.1.1.2"
#define STUDY "1.2.826.0.1.3680043.99.1"
#define FOR "1.2.826.0.1.3680043.99.7"

/* ------------------------------------------------------------------ */
/* The engine's pairs                                                   */

static void uid_of(char *out, size_t size, unsigned series, unsigned i)
{
    if (i == 0)
        snprintf(out, size, STUDY ".%u", series);
    else
        snprintf(out, size, STUDY ".%u.%u", series, i);
}

/*
 * Instance i (1 or 2) of series s (1 or 2): the study, series, instance
 * and frame of reference UIDs; a Referenced Image Sequence naming the
 * same instance of the other series; a Referenced Series Sequence >
 * Referenced Instance Sequence (depth 2) naming that instance again and
 * the study's first instance; a Source Image Sequence naming itself.
 */
static void instance(tb *t, unsigned s, unsigned i)
{
    char sop[64], series[64], other[64], first[64];

    uid_of(sop, sizeof(sop), s, i);
    uid_of(series, sizeof(series), s, 0);
    uid_of(other, sizeof(other), 3 - s, i);
    uid_of(first, sizeof(first), 1, 1);
    tb_init(t, true, false);
    tb_meta(t, TS_EXPLICIT, true);
    tb_uid(t, T(0008, 0016), CT_CLASS);
    tb_uid(t, T(0008, 0018), sop);
    tb_str(t, T(0008, 0020), "DA", "20240301");
    tb_str(t, T(0008, 0060), "CS", "CT");
    tb_hdr(t, T(0008, 1115), "SQ", OA_UNDEFINED_LENGTH);
    tb_item(t, OA_UNDEFINED_LENGTH);
    tb_hdr(t, T(0008, 114A), "SQ", OA_UNDEFINED_LENGTH);
    tb_item(t, OA_UNDEFINED_LENGTH);
    tb_uid(t, T(0008, 1150), CT_CLASS);
    tb_uid(t, T(0008, 1155), other);
    tb_item_end(t);
    tb_item(t, OA_UNDEFINED_LENGTH);
    tb_uid(t, T(0008, 1150), CT_CLASS);
    tb_uid(t, T(0008, 1155), first);
    tb_item_end(t);
    tb_seq_end(t);
    tb_uid(t, T(0020, 000E), series);
    tb_item_end(t);
    tb_seq_end(t);
    tb_hdr(t, T(0008, 1140), "SQ", OA_UNDEFINED_LENGTH);
    tb_item(t, OA_UNDEFINED_LENGTH);
    tb_uid(t, T(0008, 1150), CT_CLASS);
    tb_uid(t, T(0008, 1155), other);
    tb_item_end(t);
    tb_seq_end(t);
    tb_hdr(t, T(0008, 2112), "SQ", OA_UNDEFINED_LENGTH);
    tb_item(t, OA_UNDEFINED_LENGTH);
    tb_uid(t, T(0008, 1150), CT_CLASS);
    tb_uid(t, T(0008, 1155), sop);
    tb_item_end(t);
    tb_seq_end(t);
    tb_str(t, T(0010, 0010), "PN", "Doe^Jane");
    tb_str(t, T(0010, 0020), "LO", "PID-4242");
    tb_uid(t, T(0020, 000D), STUDY);
    tb_uid(t, T(0020, 000E), series);
    tb_uid(t, T(0020, 0052), FOR);
    tb_el(t, T(7FE0, 0010), "OW", "\1\2\3\4\5\6\7\x08", 8);
}

/* The UI values of an output, every depth (the meta's aside). */
typedef struct uis {
    char v[64][80];
    size_t n;
} uis;

static oa_status collect_ui(void *u, const oa_element *el, oa_error *e)
{
    uis *c = u;
    size_t n = oa_value_trim(el->value, el->length);

    (void)e;
    if (el->vr == OA_VR_UI && n > 0 && c->n < 64) {
        assert_true(n < sizeof(c->v[0]));
        memcpy(c->v[c->n], el->value, n);
        c->v[c->n][n] = '\0';
        c->n++;
    }
    return OA_OK;
}

static oa_status descend(void *u, const oa_element *el, oa_error *e)
{
    (void)u;
    (void)el;
    (void)e;
    return OA_OK;
}

static void output_uids(const oa_anon_result *res, uis *c, char *meta,
                        size_t meta_size)
{
    oa_dicom_handler h;
    oa_parse_info info;

    memset(&h, 0, sizeof(h));
    memset(c, 0, sizeof(*c));
    h.element = collect_ui;
    h.sequence_begin = descend;
    h.user = c;
    assert_int_equal(oa_dicom_parse(res->data, res->len, NULL, &h, &info,
                                    NULL),
                     OA_OK);
    assert_non_null(info.meta_sop_instance);
    snprintf(meta, meta_size, "%.*s",
             (int)oa_value_trim(info.meta_sop_instance,
                                info.meta_sop_instance_len),
             (const char *)info.meta_sop_instance);
}

static const oa_anon_uid_pair *by_new(const oa_anon_result *res,
                                      const char *uid)
{
    size_t i;

    for (i = 0; i < res->n_uid_pairs; i++)
        if (strcmp(res->uid_pairs[i].new_uid, uid) == 0)
            return &res->uid_pairs[i];
    return NULL;
}

static void test_engine_lists_every_uid_once(void **state)
{
    oa_profile *p = NULL;
    oa_anonymizer *a = NULL;
    oa_anonymizer_opts o;
    oa_mapping *m = oa_mapping_new();
    oa_buf csv;
    unsigned s, i;
    size_t k, q;

    (void)state;
    assert_non_null(m);
    assert_int_equal(oa_profile_builtin(&p, "Full", NULL), OA_OK);
    memset(&o, 0, sizeof(o));
    o.secret = (const uint8_t *)"mapping secret";
    o.secret_len = strlen("mapping secret");
    assert_int_equal(oa_anonymizer_new(&a, p, &o, NULL), OA_OK);
    for (s = 1; s <= 2; s++) {
        for (i = 1; i <= 2; i++) {
            oa_anon_result res;
            oa_error err;
            tb in;
            uis out;
            char meta[80], sop[64], mapped[80];

            instance(&in, s, i);
            oa_error_clear(&err);
            assert_int_equal(oa_anonymizer_run(a, NULL, tb_data(&in),
                                               tb_len(&in), &res, &err),
                             OA_OK);
            /* study, series, instance, frame of reference, the other
             * series' instance and the study's first one (one of those
             * two for i = 1), once each though named up to three times;
             * CT_CLASS is well known */
            assert_false(res.uid_pairs_truncated);
            assert_int_equal(res.n_uid_pairs, i == 1 ? 5 : 6);
            for (k = 0; k < res.n_uid_pairs; k++) {
                const oa_anon_uid_pair *pr = &res.uid_pairs[k];

                assert_int_equal(oa_anon_map_uid(a, pr->old_uid,
                                                 strlen(pr->old_uid), mapped,
                                                 sizeof(mapped)),
                                 0);
                assert_string_equal(pr->new_uid, mapped);
                assert_string_not_equal(pr->old_uid, CT_CLASS);
                for (q = 0; q < k; q++)
                    assert_string_not_equal(res.uid_pairs[q].old_uid,
                                            pr->old_uid);
                oa_mapping_add(m, OA_MAPPING_UIDS, 0, pr->old_uid,
                               pr->new_uid);
            }
            /* every UID of the output maps back through the list */
            output_uids(&res, &out, meta, sizeof(meta));
            assert_true(out.n >= 9);
            for (k = 0; k < out.n; k++) {
                if (strcmp(out.v[k], CT_CLASS) == 0)
                    continue;
                assert_non_null(by_new(&res, out.v[k]));
            }
            uid_of(sop, sizeof(sop), s, i);
            assert_non_null(by_new(&res, meta));
            assert_string_equal(by_new(&res, meta)->old_uid, sop);
            assert_string_equal(by_new(&res, res.anonymized.study_uid)->old_uid,
                                STUDY);
            oa_mapping_add(m, OA_MAPPING_PATIENTS, 0, res.original.patient_id,
                           res.anonymized.patient_id);
            tb_dispose(&in);
        }
    }
    /* the job's rows: the study, 2 series, 4 instances, the frame of
     * reference, each once */
    assert_int_equal(oa_mapping_count(m, OA_MAPPING_UIDS), 1 + 2 + 4 + 1);
    assert_int_equal(oa_mapping_count(m, OA_MAPPING_PATIENTS), 1);
    assert_true(oa_mapping_complete(m));
    assert_int_equal(oa_mapping_csv(m, OA_MAPPING_UIDS, &csv, NULL), OA_OK);
    {
        const char *text = oa_buf_cstr(&csv);
        const char *olds[] = {STUDY, STUDY ".1", STUDY ".2", STUDY ".1.1",
                              STUDY ".1.2", STUDY ".2.1", STUDY ".2.2", FOR};
        char line[128];

        for (k = 0; k < sizeof(olds) / sizeof(olds[0]); k++) {
            snprintf(line, sizeof(line), "\n%s,2.25.", olds[k]);
            assert_non_null(strstr(text, line));
            assert_null(strstr(strstr(text, line) + 1, line));
        }
    }
    oa_buf_dispose(&csv);
    oa_mapping_free(m);
    oa_anonymizer_free(a);
    oa_profile_free(p);
}

/* Past OA_ANON_MAX_UID_PAIRS distinct UIDs the list stops, says so, and
 * the output is mapped all the same. */
static void test_engine_pairs_ceiling(void **state)
{
    oa_profile *p = NULL;
    oa_anonymizer *a = NULL;
    oa_anonymizer_opts o;
    oa_anon_result res;
    oa_error err;
    tb t;
    char uid[64];
    unsigned k, n = OA_ANON_MAX_UID_PAIRS + 10;

    (void)state;
    assert_int_equal(oa_profile_builtin(&p, "Full", NULL), OA_OK);
    memset(&o, 0, sizeof(o));
    o.secret = (const uint8_t *)"s";
    o.secret_len = 1;
    assert_int_equal(oa_anonymizer_new(&a, p, &o, NULL), OA_OK);
    tb_init(&t, true, false);
    tb_meta(&t, TS_EXPLICIT, true);
    tb_uid(&t, T(0008, 0016), CT_CLASS);
    tb_uid(&t, T(0008, 0018), STUDY ".9.9");
    tb_hdr(&t, T(0008, 1140), "SQ", OA_UNDEFINED_LENGTH);
    for (k = 0; k < n; k++) {
        snprintf(uid, sizeof(uid), STUDY ".5.%u", k);
        tb_item(&t, OA_UNDEFINED_LENGTH);
        tb_uid(&t, T(0008, 1155), uid);
        tb_item_end(&t);
    }
    tb_seq_end(&t);
    tb_str(&t, T(0010, 0020), "LO", "PID-1");
    oa_error_clear(&err);
    assert_int_equal(oa_anonymizer_run(a, NULL, tb_data(&t), tb_len(&t),
                                       &res, &err),
                     OA_OK);
    assert_true(res.uid_pairs_truncated);
    assert_int_equal(res.n_uid_pairs, OA_ANON_MAX_UID_PAIRS);
    snprintf(uid, sizeof(uid), STUDY ".5.%u", n - 1);
    assert_null(memmem(res.data, res.len, uid, strlen(uid)));
    /* the next instance starts a new list */
    tb_dispose(&t);
    tb_init(&t, true, false);
    tb_meta(&t, TS_EXPLICIT, true);
    tb_uid(&t, T(0008, 0016), CT_CLASS);
    tb_uid(&t, T(0008, 0018), STUDY ".9.8");
    tb_str(&t, T(0010, 0020), "LO", "PID-1");
    assert_int_equal(oa_anonymizer_run(a, NULL, tb_data(&t), tb_len(&t),
                                       &res, &err),
                     OA_OK);
    assert_false(res.uid_pairs_truncated);
    assert_int_equal(res.n_uid_pairs, 1);
    assert_string_equal(res.uid_pairs[0].old_uid, STUDY ".9.8");
    tb_dispose(&t);
    oa_anonymizer_free(a);
    oa_profile_free(p);
}

/* ------------------------------------------------------------------ */
/* The job's collection                                                 */

static void test_mapping_rows_json_and_csv(void **state)
{
    oa_mapping *m = oa_mapping_new(), *back = oa_mapping_new();
    const char *const studies[] = {"study-a", "study-b"};
    cJSON *json;
    oa_buf csv;
    bool found;

    (void)state;
    /* one row per distinct pair of a study */
    oa_mapping_add(m, OA_MAPPING_UIDS, 0, "1.2.3", "2.25.1");
    oa_mapping_add(m, OA_MAPPING_UIDS, 0, "1.2.3", "2.25.1");
    oa_mapping_add(m, OA_MAPPING_UIDS, 0, "1.2.4", "2.25.2");
    oa_mapping_add(m, OA_MAPPING_UIDS, 1, "1.2.3", "2.25.1");
    oa_mapping_add(m, OA_MAPPING_UIDS, 1, "1.2.5", "2.25.3");
    oa_mapping_add(m, OA_MAPPING_PATIENTS, 0, "=HYPERLINK(1)", "ANON1");
    oa_mapping_add(m, OA_MAPPING_PATIENTS, 1, "P,2", "ANON2");
    assert_int_equal(oa_mapping_count(m, OA_MAPPING_UIDS), 4);
    assert_int_equal(oa_mapping_count(m, OA_MAPPING_PATIENTS), 2);

    /* stored form: per study; merged back, one study or all */
    json = oa_mapping_to_json(m, studies, 2);
    assert_non_null(json);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(json, "Complete")));
    assert_int_equal(oa_mapping_merge_json(back, json, "study-b", &found,
                                           NULL),
                     OA_OK);
    assert_true(found);
    assert_int_equal(oa_mapping_count(back, OA_MAPPING_UIDS), 2);
    assert_int_equal(oa_mapping_merge_json(back, json, "study-z", &found,
                                           NULL),
                     OA_OK);
    assert_false(found);
    assert_int_equal(oa_mapping_merge_json(back, json, NULL, NULL, NULL),
                     OA_OK);
    /* all studies in one scope: the shared pair once */
    assert_int_equal(oa_mapping_count(back, OA_MAPPING_UIDS), 3);
    assert_int_equal(oa_mapping_csv(back, OA_MAPPING_UIDS, &csv, NULL),
                     OA_OK);
    assert_string_equal(oa_buf_cstr(&csv),
                        "id_old,id_new\r\n1.2.3,2.25.1\r\n1.2.5,2.25.3\r\n"
                        "1.2.4,2.25.2\r\n");
    oa_buf_dispose(&csv);
    /* the formula guard and quoting of the report's CSV */
    assert_int_equal(oa_mapping_csv(back, OA_MAPPING_PATIENTS, &csv, NULL),
                     OA_OK);
    assert_string_equal(oa_buf_cstr(&csv),
                        "id_old,id_new\r\n\"P,2\",ANON2\r\n"
                        "'=HYPERLINK(1),ANON1\r\n");
    oa_buf_dispose(&csv);
    cJSON_Delete(json);

    /* a damaged stored form is an error, an incomplete one carries over */
    json = cJSON_Parse("{\"Complete\": false, \"Studies\": [{\"Study\": "
                       "\"x\", \"Uids\": [[\"1\", 2]]}]}");
    assert_int_equal(oa_mapping_merge_json(back, json, NULL, NULL, NULL),
                     OA_EPARSE);
    assert_false(oa_mapping_complete(back));
    cJSON_Delete(json);
    oa_mapping_free(back);
    oa_mapping_free(m);
}

static void test_mapping_ceiling(void **state)
{
    oa_mapping *m = oa_mapping_new();
    char old[32], new_id[32], longer[OA_ANON_VALUE_MAX + 8];
    size_t i;

    (void)state;
    for (i = 0; i <= OA_MAPPING_MAX_ROWS; i++) {
        snprintf(old, sizeof(old), "1.2.%zu", i);
        snprintf(new_id, sizeof(new_id), "2.25.%zu", i);
        oa_mapping_add(m, OA_MAPPING_UIDS, 0, old, new_id);
        if (i == OA_MAPPING_MAX_ROWS - 1)
            assert_true(oa_mapping_complete(m));
    }
    assert_int_equal(oa_mapping_count(m, OA_MAPPING_UIDS),
                     OA_MAPPING_MAX_ROWS);
    assert_false(oa_mapping_complete(m));
    /* the other kind has its own ceiling */
    oa_mapping_add(m, OA_MAPPING_PATIENTS, 0, "P1", "A1");
    assert_int_equal(oa_mapping_count(m, OA_MAPPING_PATIENTS), 1);
    oa_mapping_free(m);

    m = oa_mapping_new();
    memset(longer, '1', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    oa_mapping_add(m, OA_MAPPING_UIDS, 0, longer, "2.25.1");
    assert_int_equal(oa_mapping_count(m, OA_MAPPING_UIDS), 0);
    assert_false(oa_mapping_complete(m));
    oa_mapping_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_engine_lists_every_uid_once),
        cmocka_unit_test(test_engine_pairs_ceiling),
        cmocka_unit_test(test_mapping_rows_json_and_csv),
        cmocka_unit_test(test_mapping_ceiling),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
