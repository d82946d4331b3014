/*
 * Unit tests of the DICOM reader and writer: every transfer syntax, every
 * defect policy, every limit, the handler contract and out-of-memory paths.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "dicom_bytes.h"

#define T(g, e) OA_TAG(0x##g, 0x##e)
#define TS_IMPLICIT "1.2.840.10008.1.2"
#define TS_EXPLICIT "1.2.840.10008.1.2.1"
#define TS_BIG "1.2.840.10008.1.2.2"
#define TS_DEFLATE "1.2.840.10008.1.2.1.99"
#define TS_JPEG "1.2.840.10008.1.2.4.50"

/* A small dataset with a nested sequence, in the builder's encoding. */
static void small_dataset(tb *t, bool undefined_seq)
{
    tb_uid(t, T(0008, 0016), "1.2.840.10008.5.1.4.1.1.7");
    tb_uid(t, T(0008, 0018), "1.2.3.4.5.6.7.8.9.10");
    tb_str(t, T(0010, 0010), "PN", "Doe^John");
    if (undefined_seq) {
        tb_hdr(t, T(0008, 1140), "SQ", OA_UNDEFINED_LENGTH);
        tb_item(t, OA_UNDEFINED_LENGTH);
        tb_uid(t, T(0008, 1150), "1.2.840.10008.5.1.4.1.1.2");
        tb_uid(t, T(0008, 1155), "1.2.3.4.5.6.7.8.9.11");
        tb_item_end(t);
        tb_seq_end(t);
    } else {
        /* item: two UI elements of 26 + 20 bytes + headers 8 each */
        tb_hdr(t, T(0008, 1140), "SQ", 8 + 8 + 26 + 8 + 20);
        tb_item(t, 8 + 26 + 8 + 20);
        tb_uid(t, T(0008, 1150), "1.2.840.10008.5.1.4.1.1.2");
        tb_uid(t, T(0008, 1155), "1.2.3.4.5.6.7.8.9.11");
    }
    tb_el(t, T(7FE0, 0010), "OW", "\1\2\3\4", 4);
}

static void assert_roundtrip_identical(const tb *t, const char *ts_uid)
{
    uint8_t *out;
    size_t out_len, in_ds, out_ds;
    oa_parse_info info;
    oa_error err;

    oa_error_clear(&err);
    assert_int_equal(roundtrip(tb_data(t), tb_len(t), NULL, &out, &out_len,
                               &info, &err),
                     OA_OK);
    in_ds = info.dataset_offset;
    out_ds = written_dataset_offset(out, out_len);
    assert_int_equal(out_len - out_ds, tb_len(t) - in_ds);
    assert_memory_equal(out + out_ds, tb_data(t) + in_ds, out_len - out_ds);
    /* the output names the same transfer syntax */
    assert_true(out_len > 200);
    assert_non_null(memmem(out, out_ds, ts_uid, strlen(ts_uid)));
    free(out);
}

static void test_explicit_le_roundtrip_is_identical(void **state)
{
    tb t;
    (void)state;
    tb_init(&t, true, false);
    tb_meta(&t, TS_EXPLICIT, true);
    small_dataset(&t, true);
    assert_roundtrip_identical(&t, TS_EXPLICIT);
    tb_dispose(&t);
    tb_init(&t, true, false);
    tb_meta(&t, TS_EXPLICIT, true);
    small_dataset(&t, false);
    assert_roundtrip_identical(&t, TS_EXPLICIT);
    tb_dispose(&t);
}

static void test_implicit_le_roundtrip_is_identical(void **state)
{
    tb t;
    recorder r;
    (void)state;
    tb_init(&t, false, false);
    tb_meta(&t, TS_IMPLICIT, true);
    t.explicit_vr = false;
    small_dataset(&t, true);
    assert_roundtrip_identical(&t, TS_IMPLICIT);
    /* VRs come from the dictionary */
    recorder_init(&r);
    assert_int_equal(oa_dicom_parse(tb_data(&t), tb_len(&t), NULL,
                                    recorder_handler(&r), NULL, NULL),
                     OA_OK);
    assert_non_null(strstr(oa_buf_cstr(&r.trace), "0 (0010,0010) PN 8\n"));
    assert_non_null(strstr(oa_buf_cstr(&r.trace),
                           "0 (0008,1140) SQ seq undef\n"));
    assert_non_null(strstr(oa_buf_cstr(&r.trace), "1 (0008,1155) UI 20\n"));
    assert_non_null(strstr(oa_buf_cstr(&r.trace), "0 (7FE0,0010) OW 4\n"));
    recorder_dispose(&r);
    tb_dispose(&t);
}

static void test_explicit_be_roundtrip_is_identical(void **state)
{
    tb t;
    recorder r;
    oa_parse_info info;
    (void)state;
    tb_init(&t, true, false);
    tb_meta(&t, TS_BIG, true);
    t.big_endian = true;
    small_dataset(&t, true);
    assert_roundtrip_identical(&t, TS_BIG);
    recorder_init(&r);
    assert_int_equal(oa_dicom_parse(tb_data(&t), tb_len(&t), NULL,
                                    recorder_handler(&r), &info, NULL),
                     OA_OK);
    assert_true(info.ts->big_endian);
    assert_non_null(strstr(oa_buf_cstr(&r.trace), "0 (0010,0010) PN 8\n"));
    recorder_dispose(&r);
    tb_dispose(&t);
}

static void test_deflated_roundtrip_is_equal_after_inflate(void **state)
{
    tb t, ds;
    uint8_t *def, *out, *infl;
    uLongf def_len;
    size_t out_len, out_ds;
    z_stream zs;
    oa_parse_info info;
    oa_error err;
    (void)state;

    tb_init(&ds, true, false);
    small_dataset(&ds, true);
    /* raw deflate of the dataset */
    def_len = compressBound((uLong)tb_len(&ds)) + 64;
    def = malloc(def_len);
    memset(&zs, 0, sizeof(zs));
    assert_int_equal(deflateInit2(&zs, 6, Z_DEFLATED, -15, 8,
                                  Z_DEFAULT_STRATEGY), Z_OK);
    zs.next_in = (Bytef *)(uintptr_t)tb_data(&ds);
    zs.avail_in = (uInt)tb_len(&ds);
    zs.next_out = def;
    zs.avail_out = (uInt)def_len;
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    def_len = zs.total_out;
    deflateEnd(&zs);

    tb_init(&t, true, false);
    tb_meta(&t, TS_DEFLATE, true);
    tb_raw(&t, def, def_len);
    oa_error_clear(&err);
    assert_int_equal(roundtrip(tb_data(&t), tb_len(&t), NULL, &out, &out_len,
                               &info, &err), OA_OK);
    assert_true(info.ts->deflated);
    out_ds = written_dataset_offset(out, out_len);
    /* inflate the output's dataset and compare with the original */
    infl = malloc(tb_len(&ds) + 16);
    memset(&zs, 0, sizeof(zs));
    assert_int_equal(inflateInit2(&zs, -15), Z_OK);
    zs.next_in = out + out_ds;
    zs.avail_in = (uInt)(out_len - out_ds);
    zs.next_out = infl;
    zs.avail_out = (uInt)(tb_len(&ds) + 16);
    assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
    assert_int_equal(zs.total_out, tb_len(&ds));
    assert_memory_equal(infl, tb_data(&ds), tb_len(&ds));
    inflateEnd(&zs);
    free(infl);
    free(out);
    free(def);
    tb_dispose(&t);
    tb_dispose(&ds);
}

static void test_encapsulated_fragments_pass_through(void **state)
{
    tb t;
    recorder r;
    (void)state;
    tb_init(&t, true, false);
    tb_meta(&t, TS_JPEG, true);
    tb_uid(&t, T(0008, 0018), "1.2.3.4");
    tb_hdr(&t, T(7FE0, 0010), "OB", OA_UNDEFINED_LENGTH);
    tb_item(&t, 0); /* empty basic offset table */
    tb_item(&t, 6);
    tb_raw(&t, "\xFF\xD8\xFF\xE0\xFF\xD9", 6);
    tb_item(&t, 4);
    tb_raw(&t, "abcd", 4);
    tb_seq_end(&t);
    assert_roundtrip_identical(&t, TS_JPEG);
    recorder_init(&r);
    assert_int_equal(oa_dicom_parse(tb_data(&t), tb_len(&t), NULL,
                                    recorder_handler(&r), NULL, NULL),
                     OA_OK);
    assert_non_null(strstr(oa_buf_cstr(&r.trace),
                           "0 (7FE0,0010) OB seq undef\nfrag 0\nfrag 6\n"
                           "frag 4\nseq_end\n"));
    recorder_dispose(&r);
    tb_dispose(&t);
}

static void test_bare_dataset_without_meta_is_detected(void **state)
{
    tb t;
    oa_parse_info info;
    uint8_t *out;
    size_t out_len;
    (void)state;
    /* implicit */
    tb_init(&t, false, false);
    small_dataset(&t, true);
    assert_int_equal(roundtrip(tb_data(&t), tb_len(&t), NULL, &out, &out_len,
                               &info, NULL), OA_OK);
    assert_false(info.has_meta);
    assert_false(info.has_preamble);
    assert_true(info.defects & OA_DEFECT_NO_PREAMBLE);
    assert_false(info.ts->explicit_vr);
    assert_memory_equal(out + written_dataset_offset(out, out_len),
                        tb_data(&t), tb_len(&t));
    free(out);
    tb_dispose(&t);
    /* explicit big endian */
    tb_init(&t, true, true);
    small_dataset(&t, true);
    assert_int_equal(roundtrip(tb_data(&t), tb_len(&t), NULL, &out, &out_len,
                               &info, NULL), OA_OK);
    assert_true(info.ts->explicit_vr);
    assert_true(info.ts->big_endian);
    free(out);
    tb_dispose(&t);
}

static void test_meta_is_rebuilt_from_the_dataset(void **state)
{
    tb t;
    uint8_t *out;
    size_t out_len, ds;
    oa_parse_info info;
    (void)state;
    tb_init(&t, true, false);
    tb_meta(&t, TS_EXPLICIT, true);
    small_dataset(&t, true);
    assert_int_equal(roundtrip(tb_data(&t), tb_len(&t), NULL, &out, &out_len,
                               &info, NULL), OA_OK);
    ds = written_dataset_offset(out, out_len);
    assert_memory_equal(out + 128, "DICM", 4);
    /* dataset's SOP Instance UID and our implementation class */
    assert_non_null(memmem(out, ds, "1.2.3.4.5.6.7.8.9.10", 20));
    assert_non_null(memmem(out, ds, OA_IMPLEMENTATION_CLASS_UID,
                           strlen(OA_IMPLEMENTATION_CLASS_UID)));
    /* re-reading our output gives no defect */
    {
        oa_parse_info again;
        assert_int_equal(oa_dicom_parse(out, out_len, NULL, NULL, &again,
                                        NULL), OA_OK);
        assert_int_equal(again.defects, 0);
        assert_true(again.has_preamble);
        assert_int_equal(again.meta_sop_instance_len, 20);
    }
    free(out);
    tb_dispose(&t);
}

static void test_media_uid_override(void **state)
{
    tb t;
    oa_writer *w;
    const uint8_t *out;
    size_t out_len;
    oa_parse_info info;
    (void)state;
    tb_init(&t, true, false);
    tb_meta(&t, TS_EXPLICIT, true);
    small_dataset(&t, true);
    assert_int_equal(oa_writer_new(&w, NULL, NULL), OA_OK);
    assert_int_equal(oa_writer_set_media_uids(w, "1.2.3", "2.25.42", NULL),
                     OA_OK);
    assert_int_equal(oa_dicom_copy(w, tb_data(&t), tb_len(&t), NULL, &out,
                                   &out_len, &info, NULL), OA_OK);
    assert_non_null(memmem(out, 300, "2.25.42", 7));
    assert_null(memmem(out, 300, "1.2.3.4.5.6.7.8.9.10", 20));
    oa_writer_free(w);
    tb_dispose(&t);
}

/* ---------------- defect policies ---------------- */

static oa_status parse_info_of(const tb *t, bool strict, oa_parse_info *info,
                               oa_error *err)
{
    oa_reader_opts o;
    memset(&o, 0, sizeof(o));
    o.strict = strict;
    oa_error_clear(err);
    return oa_dicom_parse(tb_data(t), tb_len(t), &o, NULL, info, err);
}

/* Each defect: repaired by default (bit set), refused when strict. */
static void expect_defect(const tb *t, unsigned bit)
{
    oa_parse_info info;
    oa_error err;
    uint8_t *out;
    size_t out_len;
    assert_int_equal(parse_info_of(t, false, &info, &err), OA_OK);
    assert_true(info.defects & bit);
    assert_int_equal(parse_info_of(t, true, &info, &err), OA_EPARSE);
    assert_non_null(strstr(err.msg, "strict"));
    /* the repaired output reads back without that defect */
    assert_int_equal(roundtrip(tb_data(t), tb_len(t), NULL, &out, &out_len,
                               &info, NULL), OA_OK);
    assert_int_equal(oa_dicom_parse(out, out_len, NULL, NULL, &info, NULL),
                     OA_OK);
    assert_false(info.defects & bit);
    free(out);
}

/* The reader's defect cases: one row each, run by test_defect_case.
 * Builders write the input after the meta group (explicit VR LE builder).
 */

static void build_odd_length(tb *t)
{
    tb_meta(t, TS_EXPLICIT, true);
    tb_str(t, T(0010, 0010), "PN", "Doe");
    tb_uid(t, T(0020, 000D), "1.2.3");
}

static void build_sequence_delimiter_ends_item(tb *t)
{
    tb_meta(t, TS_EXPLICIT, true);
    tb_hdr(t, T(0008, 1140), "SQ", OA_UNDEFINED_LENGTH);
    tb_item(t, OA_UNDEFINED_LENGTH);
    tb_uid(t, T(0008, 1155), "1.2");
    tb_seq_end(t); /* should have been item end + seq end */
    tb_str(t, T(0010, 0010), "PN", "AB");
}

static void build_meta_without_group_length(tb *t)
{
    tb_meta(t, TS_EXPLICIT, false);
    tb_str(t, T(0010, 0010), "PN", "AB");
}

static void build_meta_without_transfer_syntax(tb *t)
{
    tb_meta(t, NULL, true);
    t->explicit_vr = false;
    tb_str(t, T(0010, 0010), "PN", "AB");
}

static void build_dataset_not_in_meta_syntax(tb *t)
{
    tb_meta(t, TS_EXPLICIT, true);
    t->explicit_vr = false; /* labelled explicit, written implicit */
    tb_str(t, T(0010, 0010), "PN", "AB");
}

static void build_dicm_at_128_without_meta(tb *t)
{
    uint8_t filler[116];
    /* implicit dataset whose bytes 128..131 happen to read "DICM" */
    memset(filler, 'A', sizeof(filler));
    t->explicit_vr = false;
    tb_el(t, T(0010, 0010), "PN", filler, sizeof(filler)); /* 8+116=124 */
    tb_el(t, T(0010, 0020), "LO", "DICMDICM", 8);          /* 124..140 */
    assert_memory_equal(tb_data(t) + 132, "DICM", 4);
}

static void build_explicit_vr_inside_un_sequence(tb *t)
{
    tb_meta(t, TS_EXPLICIT, true);
    tb_hdr(t, T(0009, 1010), "UN", OA_UNDEFINED_LENGTH);
    tb_item(t, OA_UNDEFINED_LENGTH);
    tb_str(t, T(0010, 0010), "PN", "AB"); /* explicit, should be implicit */
    tb_item_end(t);
    tb_seq_end(t);
}

static void build_undefined_length_ob(tb *t)
{
    tb_meta(t, TS_EXPLICIT, true);
    tb_hdr(t, T(0009, 1010), "OB", OA_UNDEFINED_LENGTH);
    tb_item(t, 2);
    tb_raw(t, "ab", 2);
    tb_seq_end(t);
    tb_str(t, T(0010, 0010), "PN", "AB");
}

static void build_stray_delimiter_at_top_level(tb *t)
{
    tb_meta(t, TS_EXPLICIT, true);
    tb_str(t, T(0010, 0010), "PN", "AB");
    tb_item_end(t);
    tb_str(t, T(0010, 0020), "LO", "CD");
}

static void build_bad_vr(tb *t)
{
    tb_meta(t, TS_EXPLICIT, true);
    tb_raw(t, "\x28\x00\x20\x01  \x02\x00\x00\x00", 10); /* VR "  " */
    tb_str(t, T(0028, 1050), "DS", "40");
}

static void build_trailing_bytes(tb *t)
{
    tb_meta(t, TS_EXPLICIT, true);
    tb_str(t, T(0010, 0010), "PN", "AB");
    tb_raw(t, "\0\0\0", 3);
}

static void build_missing_delimiter_at_eof(tb *t)
{
    tb_meta(t, TS_EXPLICIT, true);
    tb_str(t, T(0010, 0010), "PN", "AB");
    tb_hdr(t, T(7FE0, 0010), "OB", OA_UNDEFINED_LENGTH);
    tb_item(t, 0);
    tb_item(t, 2);
    tb_raw(t, "ab", 2);
}

static void build_item_runs_past_sequence_length(tb *t)
{
    tb_meta(t, TS_EXPLICIT, true);
    /* the sequence's length leaves out the item delimiter (8 bytes) */
    tb_hdr(t, T(0008, 1140), "SQ", 8 + 8 + 2);
    tb_item(t, OA_UNDEFINED_LENGTH);
    tb_uid(t, T(0008, 1155), "12");
    tb_item_end(t);
    tb_str(t, T(0010, 0010), "PN", "AB");
}

static void build_length_beyond_input(tb *t)
{
    tb_meta(t, TS_EXPLICIT, true);
    tb_str(t, T(0010, 0010), "PN", "Secret^Name");
    tb_hdr(t, T(7FE0, 0010), "OW", 0xC0000000u); /* claims 3 GB */
    tb_raw(t, "abcd", 4);
}

static void build_encapsulated_ol(tb *t)
{
    tb_meta(t, TS_JPEG, true);
    tb_hdr(t, T(7FE0, 0010), "OL", OA_UNDEFINED_LENGTH);
    tb_item(t, 0);
    tb_seq_end(t);
}

typedef enum defect_policy {
    /* read with the bit set by default, refused when strict ("strict" in
     * the message); the repaired output reads back without the bit */
    REPAIRED,
    /* read with the bit set by default, refused when strict; the output
     * is the input byte for byte (naming the same transfer syntax) */
    KEPT,
    /* read by default: no defect */
    READ,
    /* refused by default: OA_EPARSE naming `err_tag` */
    REFUSED
} defect_policy;

typedef enum tri { ANY = 0, NO, YES } tri; /* ANY: not checked */

typedef struct bytes {
    const char *p;
    size_t n;
} bytes;

typedef struct defect_case {
    const char *name;
    void (*build)(tb *t);
    defect_policy policy;
    unsigned defect;          /* REPAIRED, KEPT: the OA_DEFECT_* bit */
    const char *ts_uid;       /* KEPT: the transfer syntax of the output */
    tri ts_explicit;          /* by default: info.ts->explicit_vr */
    tri ts_guessed;           /* by default: info.ts_guessed */
    tri bare;                 /* YES: no preamble, dataset at offset 0 */
    const char *trace;        /* in the recorder's trace of the input */
    const char *out_trace;    /* in the recorder's trace of the output */
    bytes out_has[2];         /* in the output */
    const char *out_meta_has; /* in the output's meta group (with its NUL) */
    uint32_t err_tag;         /* REFUSED */
    size_t err_from_end;      /* REFUSED: error offset = input length - it */
    const char *msg_has;      /* REFUSED: in the formatted error */
    const char *msg_lacks;    /* REFUSED: not in it (a value) */
} defect_case;

static const defect_case defect_cases[] = {
    {.name = "odd length is padded", .build = build_odd_length,
     .policy = REPAIRED, .defect = OA_DEFECT_ODD_LENGTH,
     .out_has = {{"Doe ", 4},      /* text: space */
                 {"1.2.3\0", 6}},  /* UI: NUL */
     .out_trace = "(0010,0010) PN 4\n"},
    {.name = "sequence delimiter ends the item",
     .build = build_sequence_delimiter_ends_item, .policy = REPAIRED,
     .defect = OA_DEFECT_WRONG_DELIMITER,
     .trace = "item_end\nseq_end\n0 (0010,0010) PN 2\n"},
    {.name = "meta without group length",
     .build = build_meta_without_group_length, .policy = REPAIRED,
     .defect = OA_DEFECT_NO_META_LENGTH},
    {.name = "meta without transfer syntax",
     .build = build_meta_without_transfer_syntax, .policy = REPAIRED,
     .defect = OA_DEFECT_NO_META_TS, .ts_explicit = NO, .ts_guessed = YES},
    {.name = "dataset not in the meta's syntax",
     .build = build_dataset_not_in_meta_syntax, .policy = REPAIRED,
     .defect = OA_DEFECT_TS_MISMATCH, .ts_explicit = NO,
     /* the output is labelled with what it really is */
     .out_meta_has = TS_IMPLICIT},
    {.name = "DICM at 128 without meta is data",
     .build = build_dicm_at_128_without_meta, .policy = READ, .bare = YES},
    {.name = "explicit VR inside a UN sequence",
     .build = build_explicit_vr_inside_un_sequence, .policy = REPAIRED,
     .defect = OA_DEFECT_UN_EXPLICIT, .trace = "1 (0010,0010) PN 2\n"},
    {.name = "undefined length OB", .build = build_undefined_length_ob,
     .policy = KEPT, .defect = OA_DEFECT_UNDEF_OBOW, .ts_uid = TS_EXPLICIT},
    {.name = "stray delimiter at top level",
     .build = build_stray_delimiter_at_top_level, .policy = REPAIRED,
     .defect = OA_DEFECT_STRAY_DELIMITER},
    {.name = "bad VR uses the dictionary", .build = build_bad_vr,
     .policy = REPAIRED, .defect = OA_DEFECT_BAD_VR,
     .trace = "0 (0028,0120) US 2\n0 (0028,1050) DS 2\n"},
    {.name = "trailing bytes", .build = build_trailing_bytes,
     .policy = REPAIRED, .defect = OA_DEFECT_TRAILING},
    {.name = "missing delimiter at end of file",
     .build = build_missing_delimiter_at_eof, .policy = REPAIRED,
     .defect = OA_DEFECT_NO_DELIMITER},
    {.name = "item runs past the sequence's length",
     .build = build_item_runs_past_sequence_length, .policy = REPAIRED,
     .defect = OA_DEFECT_ITEM_OVERRUN},
    {.name = "length beyond the input is refused with tag and offset",
     .build = build_length_beyond_input, .policy = REFUSED,
     .err_tag = T(7FE0, 0010), .err_from_end = 4 + 12,
     .msg_has = "(7FE0,0010)", .msg_lacks = "Secret"},
    {.name = "encapsulated pixel data must be OB or OW",
     .build = build_encapsulated_ol, .policy = REFUSED,
     .err_tag = T(7FE0, 0010)},
};

#define N_DEFECT_CASES (sizeof(defect_cases) / sizeof(defect_cases[0]))

static void assert_trace_has(const uint8_t *p, size_t len, const char *want)
{
    recorder r;
    recorder_init(&r);
    assert_int_equal(oa_dicom_parse(p, len, NULL, recorder_handler(&r), NULL,
                                    NULL),
                     OA_OK);
    assert_non_null(strstr(oa_buf_cstr(&r.trace), want));
    recorder_dispose(&r);
}

static void assert_tri(tri want, bool got)
{
    if (want != ANY)
        assert_int_equal(got, want == YES);
}

static void test_defect_case(void **state)
{
    const defect_case *c = *state;
    oa_parse_info info;
    oa_error err;
    uint8_t *out = NULL;
    size_t out_len = 0, i;
    char msg[400];
    tb t;

    tb_init(&t, true, false);
    c->build(&t);
    switch (c->policy) {
    case REPAIRED:
        expect_defect(&t, c->defect);
        break;
    case KEPT:
        assert_int_equal(parse_info_of(&t, false, &info, &err), OA_OK);
        assert_true(info.defects & c->defect);
        assert_int_equal(parse_info_of(&t, true, &info, &err), OA_EPARSE);
        assert_roundtrip_identical(&t, c->ts_uid);
        break;
    case READ:
        assert_int_equal(parse_info_of(&t, false, &info, &err), OA_OK);
        break;
    case REFUSED:
        assert_int_equal(parse_info_of(&t, false, &info, &err), OA_EPARSE);
        assert_int_equal(err.tag, c->err_tag);
        if (c->err_from_end != 0)
            assert_int_equal(err.offset, tb_len(&t) - c->err_from_end);
        oa_error_format(&err, msg, sizeof(msg));
        if (c->msg_has != NULL)
            assert_non_null(strstr(msg, c->msg_has));
        if (c->msg_lacks != NULL)
            assert_null(strstr(msg, c->msg_lacks));
        break;
    }
    if (c->ts_explicit != ANY || c->ts_guessed != ANY || c->bare != ANY) {
        assert_int_equal(parse_info_of(&t, false, &info, &err), OA_OK);
        assert_tri(c->ts_explicit, info.ts->explicit_vr);
        assert_tri(c->ts_guessed, info.ts_guessed);
        if (c->bare == YES) {
            assert_false(info.has_preamble);
            assert_int_equal(info.dataset_offset, 0);
        }
    }
    if (c->trace != NULL)
        assert_trace_has(tb_data(&t), tb_len(&t), c->trace);
    if (c->out_trace != NULL || c->out_has[0].p != NULL ||
        c->out_meta_has != NULL) {
        assert_int_equal(roundtrip(tb_data(&t), tb_len(&t), NULL, &out,
                                   &out_len, NULL, NULL),
                         OA_OK);
        for (i = 0; i < 2 && c->out_has[i].p != NULL; i++)
            assert_non_null(memmem(out, out_len, c->out_has[i].p,
                                   c->out_has[i].n));
        if (c->out_meta_has != NULL)
            assert_non_null(memmem(out, written_dataset_offset(out, out_len),
                                   c->out_meta_has,
                                   strlen(c->out_meta_has) + 1));
        if (c->out_trace != NULL)
            assert_trace_has(out, out_len, c->out_trace);
        free(out);
    }
    tb_dispose(&t);
}

static void test_un_sequence_content_is_implicit(void **state)
{
    tb t, inner;
    recorder r;
    (void)state;
    tb_init(&t, true, false);
    tb_meta(&t, TS_EXPLICIT, true);
    tb_hdr(&t, T(0009, 1010), "UN", OA_UNDEFINED_LENGTH);
    t.explicit_vr = false;
    tb_item(&t, OA_UNDEFINED_LENGTH);
    tb_str(&t, T(0010, 0010), NULL, "AB");
    tb_item_end(&t);
    tb_seq_end(&t);
    t.explicit_vr = true;
    assert_roundtrip_identical(&t, TS_EXPLICIT);
    /* a defined-length UN holding items is read as a sequence too */
    tb_init(&inner, false, false);
    tb_item(&inner, 8 + 10);
    tb_uid(&inner, T(0020, 000D), "1.2.3.4.5");
    tb_hdr(&t, T(0009, 1011), "UN", (uint32_t)tb_len(&inner));
    tb_raw(&t, tb_data(&inner), tb_len(&inner));
    recorder_init(&r);
    assert_int_equal(oa_dicom_parse(tb_data(&t), tb_len(&t), NULL,
                                    recorder_handler(&r), NULL, NULL),
                     OA_OK);
    assert_non_null(strstr(oa_buf_cstr(&r.trace),
                           "0 (0009,1011) UN seq\nitem\n1 (0020,000D) UI 10"));
    assert_roundtrip_identical(&t, TS_EXPLICIT);
    recorder_dispose(&r);
    tb_dispose(&inner);
    tb_dispose(&t);
}

static void test_un_sequence_in_big_endian_keeps_big_endian_length(
    void **state)
{
    tb t;
    (void)state;
    /* regression: the UN header is big endian, its content little endian;
     * the back-patched length must follow the header */
    tb_init(&t, true, false);
    tb_meta(&t, TS_BIG, true);
    t.big_endian = true;
    tb_str(&t, T(0010, 0010), "PN", "AB");
    tb_hdr(&t, T(0009, 1010), "UN", 8 + 8 + 4);
    t.big_endian = false;
    t.explicit_vr = false;
    tb_item(&t, 8 + 4);
    tb_str(&t, T(0010, 0010), NULL, "Leaf");
    t.big_endian = true;
    t.explicit_vr = true;
    tb_str(&t, T(0010, 0020), "LO", "ID");
    assert_roundtrip_identical(&t, TS_BIG);
    /* undefined length: the delimiters are little endian too */
    tb_hdr(&t, T(0009, 1011), "UN", OA_UNDEFINED_LENGTH);
    t.big_endian = false;
    t.explicit_vr = false;
    tb_item(&t, OA_UNDEFINED_LENGTH);
    tb_str(&t, T(0010, 0010), NULL, "Leaf");
    tb_item_end(&t);
    tb_seq_end(&t);
    t.big_endian = true;
    t.explicit_vr = true;
    assert_roundtrip_identical(&t, TS_BIG);
    tb_dispose(&t);
}

/* Parse `in` with the recorder, then its round trip: both traces must be
 * `expect` (the writer's output is read the way its input was). */
static void assert_reads_and_rereads_as(const tb *in, const char *expect)
{
    recorder r;
    uint8_t *out;
    size_t out_len;
    oa_parse_info info;
    oa_error err;

    recorder_init(&r);
    oa_error_clear(&err);
    assert_int_equal(oa_dicom_parse(tb_data(in), tb_len(in), NULL,
                                    recorder_handler(&r), NULL, &err),
                     OA_OK);
    assert_string_equal(oa_buf_cstr(&r.trace), expect);
    assert_int_equal(roundtrip(tb_data(in), tb_len(in), NULL, &out,
                               &out_len, &info, &err),
                     OA_OK);
    oa_buf_reset(&r.trace);
    assert_int_equal(oa_dicom_parse(out, out_len, NULL, recorder_handler(&r),
                                    &info, &err),
                     OA_OK);
    assert_string_equal(oa_buf_cstr(&r.trace), expect);
    assert_false(info.defects & OA_DEFECT_NO_DELIMITER);
    free(out);
    recorder_dispose(&r);
}

static void test_un_value_is_a_sequence_only_within_its_length(void **state)
{
    tb t, inner;
    recorder r;
    (void)state;
    /* Fuzz crash-ecdd4ddf: whether a defined-length UN value held a
     * sequence was decided by a dry run that let an undefined-length item
     * run past the value, into the elements after it.  The answer then
     * depended on bytes the writer changes: here the 3 trailing bytes,
     * ignored at the top level but a truncated header inside the item,
     * made the value opaque in the input; without them (the writer drops
     * them) the item ran to the end of the output and swallowed (0010,0020).
     * A UN value is exactly its length: its items must end inside it. */
    tb_init(&inner, true, false);
    tb_item(&inner, OA_UNDEFINED_LENGTH);
    tb_str(&inner, T(0010, 0010), "PN", "AB"); /* explicit: UN_EXPLICIT */
    tb_init(&t, true, false);
    tb_meta(&t, TS_EXPLICIT, true);
    tb_hdr(&t, T(0009, 1010), "UN", (uint32_t)tb_len(&inner));
    tb_raw(&t, tb_data(&inner), tb_len(&inner));
    tb_str(&t, T(0010, 0020), "LO", "ID");
    tb_raw(&t, "\0\0\0", 3);
    assert_reads_and_rereads_as(&t, "begin " TS_EXPLICIT "\n"
                                    "0 (0009,1010) UN 18\n"
                                    "0 (0010,0020) LO 2\n"
                                    "end\n");
    tb_dispose(&t);

    /* The item's delimiter just after the value (left out of the UN's
     * length) does not make it a sequence either: the value is opaque and
     * the delimiter a stray one at the top level (dropped). */
    tb_init(&t, true, false);
    tb_meta(&t, TS_EXPLICIT, true);
    tb_hdr(&t, T(0009, 1010), "UN", (uint32_t)tb_len(&inner));
    tb_raw(&t, tb_data(&inner), tb_len(&inner));
    tb_item_end(&t);
    tb_str(&t, T(0010, 0020), "LO", "ID");
    expect_defect(&t, OA_DEFECT_STRAY_DELIMITER);
    assert_reads_and_rereads_as(&t, "begin " TS_EXPLICIT "\n"
                                    "0 (0009,1010) UN 18\n"
                                    "0 (0010,0020) LO 2\n"
                                    "end\n");
    tb_dispose(&t);

    /* With its delimiter inside the value, it is a sequence. */
    tb_item_end(&inner);
    tb_init(&t, true, false);
    tb_meta(&t, TS_EXPLICIT, true);
    tb_hdr(&t, T(0009, 1010), "UN", (uint32_t)tb_len(&inner));
    tb_raw(&t, tb_data(&inner), tb_len(&inner));
    tb_str(&t, T(0010, 0020), "LO", "ID");
    assert_reads_and_rereads_as(&t, "begin " TS_EXPLICIT "\n"
                                    "0 (0009,1010) UN seq\n"
                                    "item undef\n"
                                    "1 (0010,0010) PN 2\n"
                                    "item_end\n"
                                    "seq_end\n"
                                    "0 (0010,0020) LO 2\n"
                                    "end\n");
    tb_dispose(&t);

    /* A length 4 bytes short, the delimiter's tag the last 4 bytes of the
     * value and its zero length after it (fo-dicom GH626): a sequence,
     * with ITEM_OVERRUN, written back with the right length. */
    tb_init(&t, true, false);
    tb_meta(&t, TS_EXPLICIT, true);
    tb_hdr(&t, T(0009, 1010), "UN", (uint32_t)tb_len(&inner) - 4);
    tb_raw(&t, tb_data(&inner), tb_len(&inner));
    tb_str(&t, T(0010, 0020), "LO", "ID");
    expect_defect(&t, OA_DEFECT_ITEM_OVERRUN);
    assert_reads_and_rereads_as(&t, "begin " TS_EXPLICIT "\n"
                                    "0 (0009,1010) UN seq\n"
                                    "item undef\n"
                                    "1 (0010,0010) PN 2\n"
                                    "item_end\n"
                                    "seq_end\n"
                                    "0 (0010,0020) LO 2\n"
                                    "end\n");
    tb_dispose(&t);

    /* Skipping a sequence that holds such a value walks the same bytes as
     * reading it (the value is not taken for opaque bytes there). */
    tb_init(&t, true, false);
    tb_meta(&t, TS_EXPLICIT, true);
    tb_hdr(&t, T(0008, 1140), "SQ", OA_UNDEFINED_LENGTH);
    tb_item(&t, OA_UNDEFINED_LENGTH);
    tb_hdr(&t, T(0009, 1010), "UN", (uint32_t)tb_len(&inner) - 4);
    tb_raw(&t, tb_data(&inner), tb_len(&inner));
    tb_item_end(&t);
    tb_seq_end(&t);
    tb_str(&t, T(0010, 0020), "LO", "ID");
    recorder_init(&r);
    r.skip_tag = T(0008, 1140);
    assert_int_equal(oa_dicom_parse(tb_data(&t), tb_len(&t), NULL,
                                    recorder_handler(&r), NULL, NULL),
                     OA_OK);
    assert_string_equal(oa_buf_cstr(&r.trace),
                        "begin " TS_EXPLICIT "\n"
                        "0 (0008,1140) SQ seq undef\n"
                        "0 (0010,0020) LO 2\n"
                        "end\n");
    recorder_dispose(&r);
    tb_dispose(&t);
    tb_dispose(&inner);
}

static void test_elements_inside_an_opaque_un_value_do_not_count(
    void **state)
{
    tb t, inner;
    recorder r;
    oa_error err;
    (void)state;
    /* Fuzz crash-450bdb19: the dry run that found this UN value opaque
     * (its item's element runs past the item) counted the element it had
     * met, so a dataset of group lengths alone was accepted, then written
     * with no element and refused when read back. */
    tb_init(&inner, true, false);
    tb_item(&inner, 8);
    tb_hdr(&inner, T(0010, 0010), "PN", 2);
    tb_init(&t, true, false);
    tb_meta(&t, TS_EXPLICIT, true);
    tb_hdr(&t, T(0011, 0000), "UN", (uint32_t)tb_len(&inner));
    tb_raw(&t, tb_data(&inner), tb_len(&inner));
    oa_error_clear(&err);
    assert_int_equal(oa_dicom_parse(tb_data(&t), tb_len(&t), NULL, NULL,
                                    NULL, &err), OA_EPARSE);
    assert_non_null(strstr(err.msg, "no DICOM element"));
    /* with an element beside it, the file is read (the writer drops the
     * group length) */
    tb_str(&t, T(0010, 0020), "LO", "ID");
    recorder_init(&r);
    assert_int_equal(oa_dicom_parse(tb_data(&t), tb_len(&t), NULL,
                                    recorder_handler(&r), NULL, &err),
                     OA_OK);
    assert_string_equal(oa_buf_cstr(&r.trace), "begin " TS_EXPLICIT "\n"
                                                "0 (0011,0000) UN 16\n"
                                                "0 (0010,0020) LO 2\n"
                                                "end\n");
    recorder_dispose(&r);
    tb_dispose(&t);
    tb_dispose(&inner);
}

/* ---------------- limits and refusals ---------------- */

static void test_nesting_limit(void **state)
{
    tb t;
    oa_error err;
    oa_reader_opts o;
    int i, levels = 100;
    (void)state;
    tb_init(&t, true, false);
    tb_meta(&t, TS_EXPLICIT, true);
    for (i = 0; i < levels; i++) {
        tb_hdr(&t, T(0040, A730), "SQ", OA_UNDEFINED_LENGTH);
        tb_item(&t, OA_UNDEFINED_LENGTH);
    }
    for (i = 0; i < levels; i++) {
        tb_item_end(&t);
        tb_seq_end(&t);
    }
    oa_error_clear(&err);
    assert_int_equal(oa_dicom_parse(tb_data(&t), tb_len(&t), NULL, NULL,
                                    NULL, &err), OA_ELIMIT);
    assert_int_equal(err.tag, T(0040, A730));
    memset(&o, 0, sizeof(o));
    o.max_depth = 200;
    assert_int_equal(oa_dicom_parse(tb_data(&t), tb_len(&t), &o, NULL, NULL,
                                    &err), OA_OK);
    tb_dispose(&t);
}

static void test_truncations_never_crash(void **state)
{
    tb t;
    size_t cut;
    (void)state;
    tb_init(&t, true, false);
    tb_meta(&t, TS_EXPLICIT, true);
    small_dataset(&t, true);
    for (cut = 0; cut < tb_len(&t); cut++) {
        oa_error err;
        oa_status rc;
        oa_error_clear(&err);
        rc = oa_dicom_parse(tb_data(&t), cut, NULL, NULL, NULL, &err);
        assert_true(rc == OA_OK || rc == OA_EPARSE);
        if (rc != OA_OK)
            assert_true(err.offset != OA_NO_OFFSET);
    }
    tb_dispose(&t);
}

static void test_inflate_ceiling(void **state)
{
    tb t;
    uint8_t *zeros, *def;
    uLongf def_len;
    z_stream zs;
    oa_reader_opts o;
    oa_error err;
    size_t n = 4u << 20;
    (void)state;
    zeros = calloc(1, n);
    def = malloc(n);
    memset(&zs, 0, sizeof(zs));
    deflateInit2(&zs, 9, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
    zs.next_in = zeros;
    zs.avail_in = (uInt)n;
    zs.next_out = def;
    zs.avail_out = (uInt)n;
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    def_len = zs.total_out;
    deflateEnd(&zs);
    tb_init(&t, true, false);
    tb_meta(&t, TS_DEFLATE, true);
    tb_raw(&t, def, def_len); /* a zip bomb: 4 MiB of zeros */
    memset(&o, 0, sizeof(o));
    o.max_inflated = 1u << 20;
    oa_error_clear(&err);
    assert_int_equal(oa_dicom_parse(tb_data(&t), tb_len(&t), &o, NULL, NULL,
                                    &err), OA_ELIMIT);
    free(zeros);
    free(def);
    tb_dispose(&t);
}

/* `total` bytes of zeros, raw-deflated a MiB at a time (a deflate bomb
 * made without holding its inflated size).  Caller frees *out. */
static size_t deflate_zeros(size_t total, uint8_t **out)
{
    static uint8_t zeros[1u << 20];
    size_t cap = total / 500 + 65536, done = 0;
    z_stream zs;

    *out = malloc(cap);
    assert_non_null(*out);
    memset(&zs, 0, sizeof(zs));
    assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, -15, 9,
                                  Z_DEFAULT_STRATEGY), Z_OK);
    zs.next_out = *out;
    zs.avail_out = (uInt)cap;
    while (done < total) {
        size_t n = total - done < sizeof(zeros) ? total - done
                                                : sizeof(zeros);
        zs.next_in = zeros;
        zs.avail_in = (uInt)n;
        done += n;
        assert_int_equal(deflate(&zs, done < total ? Z_NO_FLUSH : Z_FINISH),
                         done < total ? Z_OK : Z_STREAM_END);
        assert_int_equal(zs.avail_in, 0);
    }
    cap = zs.total_out;
    deflateEnd(&zs);
    return cap;
}

/* Issue 12, defect 3: a 1 MB deflated upload inflating to 1 GiB is
 * refused by the ratio long before the absolute ceiling, with an error
 * that names the limit; a small file of zeros (below the floor) is not. */
static void test_inflate_bomb_ratio(void **state)
{
    tb t;
    uint8_t *def;
    size_t def_len;
    oa_reader_opts o;
    oa_error err;
    (void)state;
    def_len = deflate_zeros((size_t)1 << 30, &def);
    assert_in_range(def_len, 512u << 10, 2u << 20);   /* about 1 MB */
    tb_init(&t, true, false);
    tb_meta(&t, TS_DEFLATE, true);
    tb_raw(&t, def, def_len);
    oa_error_clear(&err);
    assert_int_equal(oa_dicom_parse(tb_data(&t), tb_len(&t), NULL, NULL,
                                    NULL, &err), OA_ELIMIT);
    assert_non_null(strstr(err.msg, "MaxInflateRatio"));
    assert_non_null(strstr(err.msg, "deflate bomb"));
    assert_true(err.offset != OA_NO_OFFSET);
    /* what the budget of a job assumes for it: the ratio's bound */
    assert_int_equal(oa_reader_inflate_limit(NULL, def_len),
                     def_len * OA_READER_DEFAULT_INFLATE_RATIO);
    /* a higher ratio: now the absolute ceiling stops it, and says so */
    memset(&o, 0, sizeof(o));
    o.max_inflate_ratio = 100000;
    o.max_inflated = (size_t)64 << 20;
    oa_error_clear(&err);
    assert_int_equal(oa_dicom_parse(tb_data(&t), tb_len(&t), &o, NULL, NULL,
                                    &err), OA_ELIMIT);
    assert_non_null(strstr(err.msg, "MaxInflatedSize"));
    assert_non_null(strstr(err.msg, "64 MiB"));
    tb_dispose(&t);
    free(def);

    /* 8 MiB of zeros (ratio ~1000, below the 16 MiB floor) inflate: the
     * parse goes on to the dataset (zeros are no element: EPARSE) */
    def_len = deflate_zeros((size_t)8 << 20, &def);
    tb_init(&t, true, false);
    tb_meta(&t, TS_DEFLATE, true);
    tb_raw(&t, def, def_len);
    oa_error_clear(&err);
    assert_int_not_equal(oa_dicom_parse(tb_data(&t), tb_len(&t), NULL, NULL,
                                        NULL, &err), OA_ELIMIT);
    assert_null(strstr(err.msg, "MaxInfl"));
    tb_dispose(&t);
    free(def);
    assert_int_equal(oa_reader_inflate_limit(NULL, 1000),
                     OA_READER_RATIO_FLOOR);
    memset(&o, 0, sizeof(o));
    o.max_inflated = 1u << 20;
    assert_int_equal(oa_reader_inflate_limit(&o, 1000), 1u << 20);
}

static void test_writer_ceiling(void **state)
{
    tb t;
    oa_writer *w;
    oa_writer_opts wo;
    const uint8_t *out;
    size_t out_len;
    oa_error err;
    static uint8_t big[4096];
    (void)state;
    tb_init(&t, true, false);
    tb_meta(&t, TS_EXPLICIT, true);
    tb_el(&t, T(7FE0, 0010), "OW", big, sizeof(big));
    memset(&wo, 0, sizeof(wo));
    wo.max_size = 1024;
    assert_int_equal(oa_writer_new(&w, &wo, NULL), OA_OK);
    oa_error_clear(&err);
    assert_int_equal(oa_dicom_copy(w, tb_data(&t), tb_len(&t), NULL, &out,
                                   &out_len, NULL, &err), OA_ELIMIT);
    oa_writer_free(w);
    tb_dispose(&t);
}

static void test_handler_can_skip_a_sequence(void **state)
{
    tb t;
    recorder r;
    (void)state;
    tb_init(&t, true, false);
    tb_meta(&t, TS_EXPLICIT, true);
    small_dataset(&t, true);
    recorder_init(&r);
    r.skip_tag = T(0008, 1140);
    assert_int_equal(oa_dicom_parse(tb_data(&t), tb_len(&t), NULL,
                                    recorder_handler(&r), NULL, NULL),
                     OA_OK);
    assert_non_null(strstr(oa_buf_cstr(&r.trace),
                           "0 (0008,1140) SQ seq undef\n0 (7FE0,0010)"));
    assert_null(strstr(oa_buf_cstr(&r.trace), "(0008,1155)"));
    recorder_dispose(&r);
    tb_dispose(&t);
}

static oa_status stop_at_name(void *u, const oa_element *el, oa_error *err)
{
    (void)u;
    if (el->tag == OA_TAG(0x0010, 0x0010))
        return oa_error_at(err, OA_ECANCELLED, el->tag, el->offset, "stop");
    return OA_OK;
}

static void test_handler_error_stops_the_parse(void **state)
{
    tb t;
    oa_dicom_handler h;
    oa_error err;
    (void)state;
    tb_init(&t, true, false);
    tb_meta(&t, TS_EXPLICIT, true);
    small_dataset(&t, true);
    memset(&h, 0, sizeof(h));
    h.element = stop_at_name;
    oa_error_clear(&err);
    assert_int_equal(oa_dicom_parse(tb_data(&t), tb_len(&t), NULL, &h, NULL,
                                    &err), OA_ECANCELLED);
    assert_int_equal(err.tag, OA_TAG(0x0010, 0x0010));
    tb_dispose(&t);
}

static void test_group_lengths_are_dropped(void **state)
{
    tb t;
    uint8_t *out;
    size_t out_len;
    recorder r;
    (void)state;
    tb_init(&t, true, false);
    tb_meta(&t, TS_EXPLICIT, true);
    tb_el(&t, T(0010, 0000), "UL", "\x0a\0\0\0", 4);
    tb_str(&t, T(0010, 0010), "PN", "AB");
    assert_int_equal(roundtrip(tb_data(&t), tb_len(&t), NULL, &out, &out_len,
                               NULL, NULL), OA_OK);
    recorder_init(&r);
    assert_int_equal(oa_dicom_parse(out, out_len, NULL, recorder_handler(&r),
                                    NULL, NULL), OA_OK);
    assert_null(strstr(oa_buf_cstr(&r.trace), "(0010,0000)"));
    assert_non_null(strstr(oa_buf_cstr(&r.trace), "(0010,0010) PN 2"));
    recorder_dispose(&r);
    free(out);
    tb_dispose(&t);
}

static void test_out_of_memory_everywhere(void **state)
{
    tb t;
    long n;
    int failures = 0;
    (void)state;
    tb_init(&t, true, false);
    tb_meta(&t, TS_EXPLICIT, true);
    small_dataset(&t, true);
    for (n = 1; n < 40; n++) {
        oa_writer *w = NULL;
        const uint8_t *out;
        size_t out_len;
        oa_status rc;
        oa_alloc_fail_after(n);
        rc = oa_writer_new(&w, NULL, NULL);
        if (rc == OA_OK) {
            rc = oa_dicom_copy(w, tb_data(&t), tb_len(&t), NULL, &out,
                               &out_len, NULL, NULL);
            oa_writer_free(w);
        }
        if (rc != OA_OK) {
            assert_true(rc == OA_ENOMEM);
            failures++;
        }
    }
    oa_alloc_fail_after(0);
    assert_true(failures > 0);
    tb_dispose(&t);
}

static void test_dictionary(void **state)
{
    const oa_dict_entry *e;
    uint32_t tag;
    (void)state;
    e = oa_dict_lookup(T(0010, 0010));
    assert_non_null(e);
    assert_string_equal(e->keyword, "PatientName");
    assert_int_equal(e->vr, OA_VR_PN);
    e = oa_dict_lookup(T(6002, 3000)); /* repeating group 60xx */
    assert_non_null(e);
    assert_string_equal(e->keyword, "OverlayData");
    assert_int_equal(e->vr, OA_VR_OW);
    assert_int_equal(oa_dict_vr(T(0009, 0010)), OA_VR_LO); /* creator */
    assert_int_equal(oa_dict_vr(T(0009, 1010)), OA_VR_UN);
    assert_int_equal(oa_dict_vr(T(0028, 0106)), OA_VR_US); /* US or SS */
    assert_int_equal(oa_dict_vr(T(0040, E012)), OA_VR_UR); /* 2026d extra */
    assert_int_equal(oa_dict_find_keyword("StudyInstanceUID", &tag), 0);
    assert_int_equal(tag, T(0020, 000D));
    assert_string_equal(oa_dict_edition, "2026b");
}

static void test_transfer_syntaxes(void **state)
{
    const oa_ts *ts;
    (void)state;
    ts = oa_ts_find("1.2.840.10008.1.2\0", 18);
    assert_non_null(ts);
    assert_false(ts->explicit_vr);
    ts = oa_ts_find("1.2.840.10008.1.2.4.201", 23); /* HTJ2K */
    assert_non_null(ts);
    assert_true(ts->encapsulated);
    assert_true(ts->explicit_vr);
    ts = oa_ts_find("1.2.840.10008.1.2.1.99", 22);
    assert_true(ts->deflated);
    assert_null(oa_ts_find("1.2.3", 5));
    /* not a UID: no syntax (fuzz crash-21da4c1a) */
    assert_null(oa_ts_find("1.2.840.10008.1.2.4.\0\x08", 22));
    assert_null(oa_ts_find("1.2.840.10008.1.2.4.", 20));
    assert_null(oa_ts_find("1.2.840.10008.1.2.4.x0", 22));
}

/* ---------------- regressions from the corpus review ---------------- */

static void test_long_transfer_syntax_uid_is_unknown(void **state)
{
    tb t;
    oa_parse_info info;
    uint8_t *out;
    size_t out_len;
    char uid[90];
    (void)state;
    memset(uid, '9', sizeof(uid));
    memcpy(uid, "1.2.840.10008.1.2.4.", 20);
    uid[80] = '\0'; /* 80 characters: not a UID */
    tb_init(&t, true, false);
    tb_meta(&t, uid, true);
    tb_str(&t, T(0010, 0010), "PN", "AB");
    assert_int_equal(roundtrip(tb_data(&t), tb_len(&t), NULL, &out, &out_len,
                               &info, NULL), OA_OK);
    assert_true(info.defects & OA_DEFECT_NO_META_TS);
    assert_non_null(memmem(out, 300, TS_EXPLICIT, strlen(TS_EXPLICIT)));
    free(out);
    tb_dispose(&t);
}

static void test_meta_label_wins_when_the_data_fits_it(void **state)
{
    tb t;
    oa_parse_info info;
    oa_error err;
    (void)state;
    /* implicit VR LE whose first group read big endian looks smaller */
    tb_init(&t, false, false);
    tb_meta(&t, TS_IMPLICIT, true);
    t.explicit_vr = false;
    tb_str(&t, T(3F03, 0010), NULL, "aaabbbcccdddeeefffggghhhii");
    assert_int_equal(parse_info_of(&t, false, &info, &err), OA_OK);
    assert_false(info.defects & OA_DEFECT_TS_MISMATCH);
    assert_false(info.ts->explicit_vr);
    tb_dispose(&t);
}

static void test_dicomdir_is_read_but_not_rewritten(void **state)
{
    tb t;
    uint8_t *out;
    size_t out_len;
    oa_error err;
    (void)state;
    tb_init(&t, true, false);
    tb_meta(&t, TS_EXPLICIT, true);
    tb_uid(&t, T(0008, 0016), "1.2.840.10008.1.3.10");
    tb_el(&t, T(0004, 1200), "UL", "\0\0\0\0", 4);
    assert_int_equal(oa_dicom_parse(tb_data(&t), tb_len(&t), NULL, NULL,
                                    NULL, NULL), OA_OK);
    oa_error_clear(&err);
    assert_int_equal(roundtrip(tb_data(&t), tb_len(&t), NULL, &out, &out_len,
                               NULL, &err), OA_EUNSUPPORTED);
    assert_non_null(strstr(err.msg, "DICOMDIR"));
    tb_dispose(&t);
}

static void test_mislabelled_encapsulated_data_keeps_its_label(void **state)
{
    tb t;
    uint8_t *out;
    size_t out_len;
    oa_parse_info info, again;
    (void)state;
    /* labelled JPEG Baseline, written implicit VR with fragments */
    tb_init(&t, true, false);
    tb_meta(&t, TS_JPEG, true);
    t.explicit_vr = false;
    tb_str(&t, T(0010, 0010), NULL, "AB");
    tb_hdr(&t, T(7FE0, 0010), NULL, OA_UNDEFINED_LENGTH);
    tb_item(&t, 0);
    tb_item(&t, 4);
    tb_raw(&t, "\xFF\xD8\xFF\xD9", 4);
    tb_seq_end(&t);
    assert_int_equal(roundtrip(tb_data(&t), tb_len(&t), NULL, &out, &out_len,
                               &info, NULL), OA_OK);
    assert_true(info.defects & OA_DEFECT_TS_MISMATCH);
    assert_int_equal(oa_dicom_parse(out, out_len, NULL, NULL, &again, NULL),
                     OA_OK);
    assert_int_equal(again.defects, 0);
    assert_true(again.ts->explicit_vr);
    assert_true(again.ts->encapsulated);
    free(out);
    tb_dispose(&t);
}

static void test_meta_ends_at_its_group_length(void **state)
{
    tb t;
    recorder r;
    oa_parse_info info;
    (void)state;
    /* a big endian dataset whose first tag, (0200,1000), reads as group
     * 0002 in little endian: the meta's group length must end the meta */
    tb_init(&t, true, false);
    tb_meta(&t, TS_BIG, true);
    t.big_endian = true;
    tb_str(&t, T(0200, 1000), "LO", "AB");
    tb_str(&t, T(0010, 0010), "PN", "CD");
    assert_roundtrip_identical(&t, TS_BIG);
    recorder_init(&r);
    assert_int_equal(oa_dicom_parse(tb_data(&t), tb_len(&t), NULL,
                                    recorder_handler(&r), &info, NULL),
                     OA_OK);
    assert_non_null(strstr(oa_buf_cstr(&r.trace), "0 (0200,1000) LO 2\n"));
    assert_int_equal(info.defects, 0);
    recorder_dispose(&r);
    tb_dispose(&t);
}

static void test_no_element_is_refused(void **state)
{
    tb t;
    oa_error err;
    uint8_t zeros[128] = {0};
    (void)state;
    tb_init(&t, true, false);
    tb_meta(&t, TS_EXPLICIT, true);
    oa_error_clear(&err);
    assert_int_equal(oa_dicom_parse(tb_data(&t), tb_len(&t), NULL, NULL,
                                    NULL, &err), OA_EPARSE);
    assert_non_null(strstr(err.msg, "no DICOM element"));
    /* group lengths alone make no dataset */
    tb_el(&t, T(0008, 0000), "UL", "\0\0\0\0", 4);
    assert_int_equal(oa_dicom_parse(tb_data(&t), tb_len(&t), NULL, NULL,
                                    NULL, &err), OA_EPARSE);
    assert_int_equal(oa_dicom_parse(zeros, 0, NULL, NULL, NULL, &err),
                     OA_EPARSE);
    assert_int_equal(oa_dicom_parse(zeros, 1, NULL, NULL, NULL, &err),
                     OA_EPARSE);
    tb_dispose(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_explicit_le_roundtrip_is_identical),
        cmocka_unit_test(test_implicit_le_roundtrip_is_identical),
        cmocka_unit_test(test_explicit_be_roundtrip_is_identical),
        cmocka_unit_test(test_deflated_roundtrip_is_equal_after_inflate),
        cmocka_unit_test(test_encapsulated_fragments_pass_through),
        cmocka_unit_test(test_bare_dataset_without_meta_is_detected),
        cmocka_unit_test(test_meta_is_rebuilt_from_the_dataset),
        cmocka_unit_test(test_media_uid_override),
        cmocka_unit_test(test_un_sequence_content_is_implicit),
        cmocka_unit_test(
            test_un_sequence_in_big_endian_keeps_big_endian_length),
        cmocka_unit_test(
            test_un_value_is_a_sequence_only_within_its_length),
        cmocka_unit_test(
            test_elements_inside_an_opaque_un_value_do_not_count),
        cmocka_unit_test(test_nesting_limit),
        cmocka_unit_test(test_truncations_never_crash),
        cmocka_unit_test(test_inflate_ceiling),
        cmocka_unit_test(test_inflate_bomb_ratio),
        cmocka_unit_test(test_writer_ceiling),
        cmocka_unit_test(test_handler_can_skip_a_sequence),
        cmocka_unit_test(test_handler_error_stops_the_parse),
        cmocka_unit_test(test_group_lengths_are_dropped),
        cmocka_unit_test(test_out_of_memory_everywhere),
        cmocka_unit_test(test_dictionary),
        cmocka_unit_test(test_transfer_syntaxes),
        cmocka_unit_test(test_long_transfer_syntax_uid_is_unknown),
        cmocka_unit_test(test_meta_label_wins_when_the_data_fits_it),
        cmocka_unit_test(test_dicomdir_is_read_but_not_rewritten),
        cmocka_unit_test(test_mislabelled_encapsulated_data_keeps_its_label),
        cmocka_unit_test(test_meta_ends_at_its_group_length),
        cmocka_unit_test(test_no_element_is_refused),
    };
    struct CMUnitTest cases[N_DEFECT_CASES];
    size_t i;
    int failed;

    memset(cases, 0, sizeof(cases));
    for (i = 0; i < N_DEFECT_CASES; i++) {
        cases[i].name = defect_cases[i].name;
        cases[i].test_func = test_defect_case;
        cases[i].initial_state = (void *)&defect_cases[i];
    }
    failed = cmocka_run_group_tests(tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("reader defect cases", cases, NULL,
                                          NULL);
    return failed;
}
