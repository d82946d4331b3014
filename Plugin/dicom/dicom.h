/*
 * dicom: a streaming reader and writer of DICOM Part 10 files and bare
 * datasets, for every transfer syntax.
 *
 * The reader never builds a tree.  It walks an instance held in memory and
 * hands each element to an oa_dicom_handler as it meets it (libdicom's
 * DcmParse, SAX style).  Values are borrowed pointers into the input, so an
 * untouched value (pixel data above all) is copied exactly once: by the
 * writer into its output.  The writer is itself a handler, so an identity
 * round trip is `oa_dicom_parse(in, writer handler)`, and the anonymizer is
 * a handler that sits between the two.
 *
 * This module knows nothing of Orthanc, profiles or HTTP.
 *
 * Thread safety: every object here is used by one thread at a time; there
 * is no global mutable state (the dictionary is const).
 */
#ifndef OA_DICOM_H
#define OA_DICOM_H

#include "../core/core.h"

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Value representations                                                */

/* A VR is its two ASCII characters packed big-endian into 16 bits. */
typedef uint16_t oa_vr;
#define OA_VR_CODE(a, b) ((oa_vr)(((unsigned)(a) << 8) | (unsigned)(b)))
#define OA_VR_AE OA_VR_CODE('A', 'E')
#define OA_VR_AS OA_VR_CODE('A', 'S')
#define OA_VR_AT OA_VR_CODE('A', 'T')
#define OA_VR_CS OA_VR_CODE('C', 'S')
#define OA_VR_DA OA_VR_CODE('D', 'A')
#define OA_VR_DS OA_VR_CODE('D', 'S')
#define OA_VR_DT OA_VR_CODE('D', 'T')
#define OA_VR_FD OA_VR_CODE('F', 'D')
#define OA_VR_FL OA_VR_CODE('F', 'L')
#define OA_VR_IS OA_VR_CODE('I', 'S')
#define OA_VR_LO OA_VR_CODE('L', 'O')
#define OA_VR_LT OA_VR_CODE('L', 'T')
#define OA_VR_OB OA_VR_CODE('O', 'B')
#define OA_VR_OD OA_VR_CODE('O', 'D')
#define OA_VR_OF OA_VR_CODE('O', 'F')
#define OA_VR_OL OA_VR_CODE('O', 'L')
#define OA_VR_OV OA_VR_CODE('O', 'V')
#define OA_VR_OW OA_VR_CODE('O', 'W')
#define OA_VR_PN OA_VR_CODE('P', 'N')
#define OA_VR_SH OA_VR_CODE('S', 'H')
#define OA_VR_SL OA_VR_CODE('S', 'L')
#define OA_VR_SQ OA_VR_CODE('S', 'Q')
#define OA_VR_SS OA_VR_CODE('S', 'S')
#define OA_VR_ST OA_VR_CODE('S', 'T')
#define OA_VR_SV OA_VR_CODE('S', 'V')
#define OA_VR_TM OA_VR_CODE('T', 'M')
#define OA_VR_UC OA_VR_CODE('U', 'C')
#define OA_VR_UI OA_VR_CODE('U', 'I')
#define OA_VR_UL OA_VR_CODE('U', 'L')
#define OA_VR_UN OA_VR_CODE('U', 'N')
#define OA_VR_UR OA_VR_CODE('U', 'R')
#define OA_VR_US OA_VR_CODE('U', 'S')
#define OA_VR_UT OA_VR_CODE('U', 'T')
#define OA_VR_UV OA_VR_CODE('U', 'V')

/* True if `vr` is one of the 34 VRs of PS3.5 Table 6.2-1. */
bool oa_vr_is_valid(oa_vr vr);
/* True if explicit VR encodes it with 2 reserved bytes and a 32-bit length. */
bool oa_vr_has_long_length(oa_vr vr);
/* True for character-string VRs (AE AS CS DA DS DT IS LO LT PN SH ST TM UC
 * UI UR UT). */
bool oa_vr_is_string(oa_vr vr);
/* Byte used to pad a value of this VR to even length: ' ' or '\0'. */
uint8_t oa_vr_padding(oa_vr vr);
/* Write the two letters and a NUL into out[3]. */
void oa_vr_str(oa_vr vr, char out[3]);

/* ------------------------------------------------------------------ */
/* Data dictionary (generated from PS3.6 2026b, see Resources/Scripts)  */

typedef struct oa_dict_entry {
    uint32_t tag;        /* with x digits of repeating groups set to 0 */
    uint32_t mask;       /* bits that must match (0xFFFFFFFF for exact) */
    oa_vr vr;            /* first VR of multi-VR entries ("US or SS") */
    oa_vr vr_alt;        /* second VR, or 0 */
    uint8_t retired;
    const char *keyword; /* "PatientName" */
    const char *vm;      /* "1-n" */
} oa_dict_entry;

/* Edition of the generated dictionary, "2026b". */
extern const char oa_dict_edition[];

/*
 * Look up a tag.  Private tags, unknown tags: NULL.  Group length
 * (gggg,0000) and private creator (gggg,0010-00FF, odd gggg) elements are
 * answered with synthetic entries (UL, LO).  Borrowed, static.
 */
const oa_dict_entry *oa_dict_lookup(uint32_t tag);
/* Keyword lookup ("PatientName" -> tag); returns 0 on success. */
int oa_dict_find_keyword(const char *keyword, uint32_t *tag);
/* The VR used for `tag` in implicit VR: dictionary's, else UN. */
oa_vr oa_dict_vr(uint32_t tag);

/* ------------------------------------------------------------------ */
/* Transfer syntaxes                                                    */

typedef struct oa_ts {
    const char *uid;
    const char *name;
    bool explicit_vr;
    bool big_endian;
    bool deflated;
    bool encapsulated;  /* pixel data in fragments */
} oa_ts;

/* Known syntax by UID (trailing spaces/NULs ignored), or NULL. */
const oa_ts *oa_ts_find(const char *uid, size_t len);
/* Implicit VR Little Endian, the default syntax. */
const oa_ts *oa_ts_implicit_le(void);
const oa_ts *oa_ts_explicit_le(void);
const oa_ts *oa_ts_explicit_be(void);

/* ------------------------------------------------------------------ */
/* Reader                                                               */

#define OA_UNDEFINED_LENGTH 0xFFFFFFFFu

#define OA_TAG_ITEM OA_TAG(0xFFFE, 0xE000)
#define OA_TAG_ITEM_END OA_TAG(0xFFFE, 0xE00D)
#define OA_TAG_SEQ_END OA_TAG(0xFFFE, 0xE0DD)
#define OA_TAG_PIXEL_DATA OA_TAG(0x7FE0, 0x0010)
#define OA_TAG_TRANSFER_SYNTAX OA_TAG(0x0002, 0x0010)

/* One element as the reader met it.  Everything in it is borrowed and
 * valid only during the callback (the value until oa_dicom_parse returns).
 */
typedef struct oa_element {
    uint32_t tag;
    oa_vr vr;              /* from the stream, or the dictionary if implicit */
    bool undefined_length; /* SQ / item / encapsulated: length was FFFFFFFF */
    uint32_t length;       /* value length (0 when undefined) */
    const uint8_t *value;  /* `length` bytes, or NULL for SQ/undefined */
    size_t offset;         /* offset of the element header in the input */
    unsigned depth;        /* 0 = top-level dataset */
    bool big_endian;       /* value bytes are big endian */
} oa_element;

/* A sequence item or an encapsulated fragment. */
typedef struct oa_item {
    bool undefined_length;
    uint32_t length;       /* defined length or 0 */
    size_t offset;
    unsigned depth;        /* depth of the elements inside the item */
} oa_item;

/* What the reader found in the file's framing. */
typedef struct oa_parse_info {
    const oa_ts *ts;        /* dataset transfer syntax (never NULL) */
    const oa_ts *meta_ts;   /* syntax named in the meta group, or NULL */
    const char *meta_ts_uid; /* its UID as written (borrowed, trimmed, */
    uint32_t meta_ts_uid_len; /* not NUL-terminated), or NULL */
    bool has_preamble;
    bool has_meta;
    bool ts_guessed;        /* TS absent or unknown: detected from data */
    /* Media Storage SOP Class/Instance UID from the meta group, if any
     * (borrowed, not NUL-terminated). */
    const uint8_t *meta_sop_class;
    uint32_t meta_sop_class_len;
    const uint8_t *meta_sop_instance;
    uint32_t meta_sop_instance_len;
    size_t dataset_offset;  /* where the dataset starts in the input */
    unsigned defects;       /* OA_DEFECT_* bits met and repaired */
} oa_parse_info;

/*
 * Real-world defects the reader accepts and repairs (DCMTK's catalogue,
 * dcobject.h).  Each is reported in oa_parse_info.defects; the policy of
 * each is documented in README "Reader defect policies".
 */
enum {
    OA_DEFECT_ODD_LENGTH = 1u << 0,        /* value of odd length: padded */
    OA_DEFECT_WRONG_DELIMITER = 1u << 1,   /* seq delimiter ends an item */
    OA_DEFECT_NO_META_LENGTH = 1u << 2,    /* (0002,0000) missing */
    OA_DEFECT_NO_META_TS = 1u << 3,        /* (0002,0010) missing/unknown */
    OA_DEFECT_NO_PREAMBLE = 1u << 4,       /* bare dataset or meta at 0 */
    OA_DEFECT_TS_MISMATCH = 1u << 5,       /* dataset not in the meta's TS */
    OA_DEFECT_UN_EXPLICIT = 1u << 6,       /* explicit VR inside UN seq */
    OA_DEFECT_UNDEF_OBOW = 1u << 7,        /* undefined-length non-SQ */
    OA_DEFECT_META_WRONG_LENGTH = 1u << 8, /* group length wrong */
    OA_DEFECT_STRAY_DELIMITER = 1u << 9,   /* delimiter outside a sequence */
    OA_DEFECT_BAD_VR = 1u << 10,           /* unknown VR code: dictionary */
    OA_DEFECT_TRAILING = 1u << 11,         /* garbage after last element */
    OA_DEFECT_ITEM_OVERRUN = 1u << 12,     /* defined lengths disagree */
    OA_DEFECT_NO_DELIMITER = 1u << 13      /* undefined length cut at EOF */
};

/*
 * Events.  Each callback returns OA_OK to go on or a negative status to
 * stop the parse (which then returns that status with the handler's err).
 * `sequence_begin` may return OA_SKIP: the sequence's content is then not
 * reported, and no `sequence_end` follows.  Any callback may be NULL.
 *
 * Order: begin, then for each element of the dataset in stream order:
 * either `element`, or `sequence_begin`, (`item_begin`, ...elements...,
 * `item_end`)*, `sequence_end`.  Encapsulated pixel data is
 * `sequence_begin` (tag 7FE0,0010, undefined length) + `fragment`* +
 * `sequence_end`.  An undefined-length UN element is a sequence whose
 * items are implicit VR little endian (CP-246).  Finally `end`.
 */
typedef struct oa_dicom_handler {
    oa_status (*begin)(void *user, const oa_parse_info *info, oa_error *err);
    oa_status (*element)(void *user, const oa_element *el, oa_error *err);
    oa_status (*sequence_begin)(void *user, const oa_element *el,
                                oa_error *err);
    oa_status (*item_begin)(void *user, const oa_item *item, oa_error *err);
    oa_status (*item_end)(void *user, oa_error *err);
    oa_status (*sequence_end)(void *user, oa_error *err);
    oa_status (*fragment)(void *user, const oa_item *frag,
                          const uint8_t *data, oa_error *err);
    oa_status (*end)(void *user, oa_error *err);
    void *user;
} oa_dicom_handler;

typedef struct oa_reader_opts {
    unsigned max_depth;      /* sequence nesting limit; 0 = default (64) */
    size_t max_inflated;     /* ceiling for a deflated dataset, bytes;
                                0 = default (OA_READER_DEFAULT_MAX_INFLATED) */
    bool strict;             /* refuse every defect instead of repairing */
    unsigned max_inflate_ratio; /* a deflated dataset may inflate to this
                                many times its deflated size, once past
                                OA_READER_RATIO_FLOOR; 0 = default (100) */
} oa_reader_opts;

#define OA_READER_DEFAULT_MAX_DEPTH 64u
/* Deflate bombs: 1 MB of deflated zeros inflates to 1 GB.  A dataset is
 * refused once it inflates past the absolute ceiling, or past the ratio
 * times its deflated size when it is larger than the floor (a small
 * dataset of zeros legitimately compresses a thousand times). */
#define OA_READER_DEFAULT_MAX_INFLATED ((size_t)512 << 20)
#define OA_READER_DEFAULT_INFLATE_RATIO 100u
#define OA_READER_RATIO_FLOOR ((size_t)16 << 20)

/*
 * The most a deflated dataset of `deflated` bytes may inflate to under
 * `opts` (NULL: the defaults): min(absolute ceiling, max(floor, ratio x
 * deflated)).  For callers that budget memory before a parse.
 */
size_t oa_reader_inflate_limit(const oa_reader_opts *opts, size_t deflated);

/*
 * The most memory that reading and rewriting the `len` bytes at `data`
 * may take, the input included: input + output + 1 MiB, where the output
 * of a deflated syntax (from the meta group) counts twice its
 * oa_reader_inflate_limit() (inflated dataset, output before deflate).
 * Reads the meta group only.  For budgets shared by threads.
 */
size_t oa_dicom_working_memory(const uint8_t *data, size_t len,
                               const oa_reader_opts *opts);

/*
 * Parse `len` bytes at `data` (a Part 10 file or a bare dataset) and report
 * it to `handler`.  `opts` may be NULL.  `info` (may be NULL) receives the
 * framing.  For a deflated syntax the dataset is inflated into a buffer
 * owned by the parse; values passed to the handler are only valid until
 * this returns.
 *
 * Errors: OA_EPARSE for malformed input, OA_ELIMIT for a ceiling, each with
 * the tag and byte offset in `err` (offsets of a deflated dataset count in
 * the inflated stream), or whatever a callback returned.
 */
oa_status oa_dicom_parse(const uint8_t *data, size_t len,
                         const oa_reader_opts *opts,
                         const oa_dicom_handler *handler,
                         oa_parse_info *info, oa_error *err);

/* ------------------------------------------------------------------ */
/* Writer                                                               */

typedef struct oa_writer oa_writer;

typedef struct oa_writer_opts {
    size_t max_size;        /* output ceiling; 0 = 4 GiB - 1 */
    size_t size_hint;       /* expected output size, to allocate once */
    int deflate_level;      /* for deflated syntaxes; 0 = default (6) */
} oa_writer_opts;

/* Our Implementation Class UID and Version Name, written in every meta. */
#define OA_IMPLEMENTATION_CLASS_UID "2.25.289970131910349702251434670450240918704"
#define OA_IMPLEMENTATION_VERSION_NAME "OA_ANONYMIZER_1"

/* Create a writer.  Caller frees with oa_writer_free(). */
oa_status oa_writer_new(oa_writer **out, const oa_writer_opts *opts,
                        oa_error *err);
void oa_writer_free(oa_writer *w);

/*
 * The writer as a handler.  Its `begin` takes the transfer syntax of the
 * output from the parse info (output = input syntax); it writes every
 * element it is given in that syntax, mirroring defined/undefined lengths
 * (defined lengths are recomputed), padding odd values to even length by
 * VR, and dropping group length elements (gggg,0000) of the dataset
 * (retired; they would be wrong after changes).  Meta group elements are
 * never given to it: it builds the meta itself at finish.
 * Borrowed; valid as long as the writer.
 */
const oa_dicom_handler *oa_writer_handler(oa_writer *w);

/*
 * Override the Media Storage SOP Class / Instance UIDs of the output meta.
 * By default they are the values of (0008,0016) and (0008,0018) seen in the
 * top-level dataset, else those of the input meta.  Copied.
 */
oa_status oa_writer_set_media_uids(oa_writer *w, const char *sop_class,
                                   const char *sop_instance, oa_error *err);

/*
 * Complete the output: prepend preamble, "DICM" and the rebuilt meta group,
 * and deflate the dataset for deflated syntaxes.  `*out` is borrowed and
 * valid until the writer is reset or freed.
 */
oa_status oa_writer_finish(oa_writer *w, const uint8_t **out, size_t *len,
                           oa_error *err);

/* Offset of the dataset in the finished output. */
size_t oa_writer_dataset_offset(const oa_writer *w);

/* Forget the output and any media UID override (keep the allocations) to
 * write another instance.  `begin` of the next parse does the same, except
 * that it keeps an override set before the parse. */
void oa_writer_reset(oa_writer *w);

/* ------------------------------------------------------------------ */
/* Convenience                                                          */

/*
 * Identity round trip: parse `in` and write it back.  `*out` is borrowed
 * from the writer.
 */
oa_status oa_dicom_copy(oa_writer *w, const uint8_t *in, size_t in_len,
                        const oa_reader_opts *opts, const uint8_t **out,
                        size_t *out_len, oa_parse_info *info, oa_error *err);

/* Read a whole file into a buffer with a ceiling (oa_buf, reused). */
oa_status oa_file_read(const char *path, oa_buf *buf, oa_error *err);
/* The same, refusing a symbolic link as the last component (O_NOFOLLOW):
 * for files of the plugin's own folders (ZIP archives to download). */
oa_status oa_file_read_nofollow(const char *path, oa_buf *buf,
                                oa_error *err);
/* Write a file atomically: to path.tmp-XXXX, fsync not forced, rename. */
oa_status oa_file_write(const char *path, const uint8_t *data, size_t len,
                        oa_error *err);

/* Trim trailing spaces and NULs of a string value: returns the new length. */
size_t oa_value_trim(const uint8_t *value, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* OA_DICOM_H */
