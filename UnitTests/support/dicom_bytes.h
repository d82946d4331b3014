/*
 * Test support: build DICOM byte streams by hand (after DCMTK's
 * TAG_AND_LENGTH / ITEM / ITEM_END / SEQUENCE_END test macros), and a
 * recording handler that turns parse events into a text trace.
 */
#ifndef OA_TEST_DICOM_BYTES_H
#define OA_TEST_DICOM_BYTES_H

#include "dicom/dicom.h"

typedef struct tb {
    oa_buf b;
    bool explicit_vr;
    bool big_endian;
} tb;

void tb_init(tb *t, bool explicit_vr, bool big_endian);
void tb_dispose(tb *t);
/* Raw bytes. */
void tb_raw(tb *t, const void *p, size_t n);
/* An element: header in the builder's encoding, then the value. */
void tb_el(tb *t, uint32_t tag, const char *vr, const void *v, uint32_t len);
/* A string element (length = strlen, no padding added). */
void tb_str(tb *t, uint32_t tag, const char *vr, const char *s);
/* A UI element padded with NUL to even length. */
void tb_uid(tb *t, uint32_t tag, const char *uid);
/* Header only, with an explicit length (OA_UNDEFINED_LENGTH allowed). */
void tb_hdr(tb *t, uint32_t tag, const char *vr, uint32_t len);
/* Item / delimiters (always tag + 32-bit length). */
void tb_item(tb *t, uint32_t len);
void tb_item_end(tb *t);
void tb_seq_end(tb *t);
/* Preamble + DICM + meta group (explicit LE) naming `ts_uid` (NULL: no TS
 * element); with_group_length false omits (0002,0000). */
void tb_meta(tb *t, const char *ts_uid, bool with_group_length);
const uint8_t *tb_data(const tb *t);
size_t tb_len(const tb *t);

/* Recording handler: each event appends a line to `trace`. */
typedef struct recorder {
    oa_buf trace;
    int skip_tag_seq; /* sequence tag for which sequence_begin skips */
    uint32_t skip_tag;
} recorder;

void recorder_init(recorder *r);
void recorder_dispose(recorder *r);
const oa_dicom_handler *recorder_handler(recorder *r);

/* Parse then write; returns the output in *out (malloc'd, caller frees). */
oa_status roundtrip(const uint8_t *in, size_t len, const oa_reader_opts *o,
                    uint8_t **out, size_t *out_len, oa_parse_info *info,
                    oa_error *err);
/* Offset of the dataset in a Part 10 buffer written by our writer. */
size_t written_dataset_offset(const uint8_t *p, size_t len);

#endif
