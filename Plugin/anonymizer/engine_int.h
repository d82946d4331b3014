/*
 * Private to the engine's files (anonymizer/engine.c and the passes it
 * runs: rewrite.c, leak.c, pseudonym.c): the engine's state and what one
 * pass needs of another.  The three passes over an instance are described
 * in engine.c.
 */
#ifndef OA_ENGINE_INT_H
#define OA_ENGINE_INT_H

#include "anonymizer_int.h"

#include <stdbool.h>
#include <stdint.h>

#define MAX_CREATORS 48       /* private blocks remembered per item */
#define UID_MAX 64            /* the longest UID (PS3.5) */

/* A private creator of the current dataset or item. */
typedef struct creator {
    uint16_t group;
    uint8_t block;
    uint32_t len;
    const uint8_t *value;
} creator;

/* What a sequence's own action asks of the values inside it. */
enum { SEQ_PLAIN = 0, SEQ_CLEAN = 1, SEQ_DUMMY = 2 };

/* State of one dataset or item. */
typedef struct level {
    creator creators[MAX_CREATORS];
    unsigned n_creators;
    unsigned mode;       /* SEQ_*: inside a sequence whose action is C/D */
} level;

/* An identifying value of the input (the leak check looks for it). */
typedef struct needle {
    uint32_t off;        /* in the arena (and, lowercased, in arena_lc) */
    uint16_t len;
    uint32_t tag;        /* where the value came from (for the message) */
    bool name;           /* from a person name: not searched in values of
                            controlled vocabularies (CS, codes) */
} needle;

/* Elements added to the top-level dataset, in tag order. */
enum {
    INS_PATIENT_NAME,
    INS_PATIENT_ID,
    INS_STUDY_DESCRIPTION,
    INS_IDENTITY_REMOVED,
    INS_METHOD,
    INS_METHOD_CODES,
    INS_TEMPORAL,
    INS_COUNT
};

/* The engine: set-up, then the state of the instance being run. */
struct oa_anonymizer {
    const oa_profile *profile;
    uint8_t secret[OA_ANON_MAX_SECRET];
    size_t secret_len;
    char uid_root[32];
    oa_reader_opts reader_opts;
    oa_writer *writer;
    const oa_dicom_handler *wh;
    oa_dicom_handler handler;   /* the rewrite pass */
    oa_buf scratch;             /* a transformed value */

    /* per instance */
    const oa_anon_identity *id;
    oa_anon_result *res;
    char sop_class[OA_ANON_VALUE_MAX];
    char orig_pid[OA_ANON_VALUE_MAX];
    char orig_name[OA_ANON_VALUE_MAX];
    char new_name[OA_ANON_VALUE_MAX];
    char new_id[OA_ANON_VALUE_MAX];
    int date_offset;
    bool inserted[INS_COUNT];
    unsigned seq_mode[OA_READER_DEFAULT_MAX_DEPTH + 2];
    level *levels;
    unsigned n_levels;
    unsigned skip_leak_depth;   /* leak pass: inside our own sequence */

    needle *needles;            /* grown up to MAX_NEEDLES */
    unsigned n_needles, cap_needles;
    char *arena, *arena_lc;     /* values, and their ASCII lower case */
    size_t arena_used, arena_cap;
    bool needles_overflow;      /* too many to check: fail the instance */
    oa_buf folded;              /* a text value in lower case (leak pass) */

    /* burned-in text (burned_in.c) */
    oa_opt_value pix_mode;      /* the profile's BurnedInText */
    oa_pixels_policy pix_policy;
    oa_pixels_attrs *pix_attrs; /* filled by the pre-scan */
    oa_pixels_result pix;       /* this instance's decision */
    bool pix_cleaned;           /* write pix.value for the Pixel Data */
    char pix_meta_class[OA_ANON_VALUE_MAX]; /* the meta's SOP class */

    /* the UIDs mapped in this instance (uidpairs.c) */
    oa_anon_uid_pair *pairs;
    size_t n_pairs, cap_pairs;
    uint32_t *pair_slots;       /* open addressing: index + 1, 0 = free */
    size_t n_slots;
    bool pairs_truncated;
};

/* engine.c: `n` bytes of a value, trimmed and cut to fit, as a string. */
void oa_anon__copy_value(char dst[OA_ANON_VALUE_MAX], const void *v,
                         size_t n);

/* burned_in.c: set up / free the pixel state of the engine. */
oa_status oa_anon__pixels_init(oa_anonymizer *a, const oa_pixels_ocr *ocr,
                               oa_error *err);
void oa_anon__pixels_free(oa_anonymizer *a);
/* burned_in.c: the pre-scan's events that the pixel attributes want.
 * pre_events sets begin, item and fragment events of `pre` (NULL when the
 * profile keeps burned-in text); pre_element forwards an element;
 * pre_sequence answers OA_OK to descend into a sequence they want (the
 * ultrasound regions, encapsulated Pixel Data), else OA_SKIP.  The pre-
 * scan's `end` decides; an error there refuses the instance, and
 * a->res->pixels says why. */
void oa_anon__pixels_pre_events(oa_anonymizer *a, oa_dicom_handler *pre);
oa_status oa_anon__pixels_pre_element(oa_anonymizer *a, const oa_element *el,
                                      oa_error *err);
oa_status oa_anon__pixels_pre_sequence(oa_anonymizer *a,
                                       const oa_element *el, oa_error *err);

/* uidpairs.c: note that `len` bytes of `old` became `mapped` (once per
 * original and instance; well-known and unchanged values are not noted);
 * reset per instance; the list into a->res; freed with the engine. */
void oa_anon__note_uid(oa_anonymizer *a, const char *old, size_t len,
                       const char *mapped);
void oa_anon__pairs_reset(oa_anonymizer *a);
void oa_anon__pairs_result(oa_anonymizer *a);
void oa_anon__pairs_free(oa_anonymizer *a);

/* rewrite.c: the rewrite pass's handler (a->handler), in front of the
 * writer a->wh. */
void oa_anon__rewrite_init(oa_anonymizer *a);

/* ASCII lower case (needles and text are compared without ASCII case). */
static inline uint8_t oa_anon__fold(uint8_t c)
{
    return c >= 'A' && c <= 'Z' ? (uint8_t)(c - 'A' + 'a') : c;
}

/* needles.c: the identifying values of the input ("needles"). */
/* True if a value of `tag` identifies the patient (or is a person name). */
bool oa_anon__is_identifying(uint32_t tag, oa_vr vr);
/* The value and its components become needles (a->needles); past the
 * ceilings a->needles_overflow is set. */
void oa_anon__collect_needles(oa_anonymizer *a, const oa_element *el);
/* freetext.c, Clean (C): the text of `el` without any needle, into
 * a->scratch. */
oa_status oa_anon__clean_text(oa_anonymizer *a, const oa_element *el);
/* leak.c, the leak check: read the output back; OA_ELEAK names the tag where a
 * needle was found (never the value), another error an unreadable output. */
oa_status oa_anon__leak_check(oa_anonymizer *a, const uint8_t *data,
                              size_t len, oa_error *err);

#endif /* OA_ENGINE_INT_H */
