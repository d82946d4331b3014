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

/*
 * The work one instance may do, shared by all its scans (leak check,
 * Clean): one step per byte scanned, per failure link followed, per match
 * reported and per pattern byte or node built.  Past `budget` a scan
 * stops with OA_ELIMIT; `cancelled` (may be NULL) is polled every
 * OA_WORK_POLL steps (a few milliseconds) and stops it with OA_ECANCELLED.
 * The caller turns either into an error naming the tag and offset.
 */
#define OA_WORK_POLL ((uint64_t)1 << 20)
typedef struct oa_anon_work {
    uint64_t budget;        /* steps allowed for the instance */
    uint64_t used;          /* steps so far */
    uint64_t next_poll;     /* `used` at which `cancelled` is asked next */
    int (*cancelled)(void *user);   /* nonzero: stop */
    void *cancel_user;
} oa_anon_work;

/* What a needle is (needles.c says which tags give which kind). */
typedef enum oa_needle_kind {
    OA_NEEDLE_VALUE = 0,    /* another identifying value, or a part of it */
    OA_NEEDLE_NAME,         /* a person name, whole (any PN, any depth) */
    OA_NEEDLE_NAME_PART,    /* one component of a person name (family,
                               given, middle; or a word of one), >= 3 */
    OA_NEEDLE_ID,           /* an identifier: Patient ID, Other Patient
                               IDs, accession, issuers, study ID, orders */
    OA_NEEDLE_ADDRESS,      /* a whole address */
    OA_NEEDLE_ADDRESS_PART, /* a fragment of an address: "4417 Wrenfield
                               Avenue", "Wrenfield Avenue", a city, a
                               postcode */
    OA_NEEDLE_PHONE,        /* a telephone number, as written and digits
                               only */
    OA_NEEDLE_DATE,         /* an identifying date (birth date), YYYYMMDD:
                               Clean also removes it in other spellings */
    OA_NEEDLE_INSTITUTION,  /* an institution, department or organization */
    OA_NEEDLE_KIND_COUNT
} oa_needle_kind;

/* An identifying value of the input (the leak check looks for it). */
typedef struct needle {
    uint32_t off;        /* in the arena (and, lowercased, in arena_lc) */
    uint16_t len;
    uint32_t tag;        /* where the value came from (for the message) */
    bool name;           /* word-like (person names and their parts,
                            address parts): not searched in values of
                            controlled vocabularies (CS, codes) */
    uint8_t kind;        /* oa_needle_kind */
    bool placeholder;    /* only placeholder words ("Unknown"): Clean
                            leaves it in text (oa_anon__needle_is_placeholder) */
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
    bool animal;                /* Patient Species seen (rewrite pass) */
    bool inserted[INS_COUNT];
    unsigned seq_mode[OA_READER_DEFAULT_MAX_DEPTH + 2];
    /* the sequences around the current element (rules' path) */
    oa_rule_step seq_path[OA_READER_DEFAULT_MAX_DEPTH + 2];
    level *levels;
    unsigned n_levels;
    unsigned skip_leak_depth;   /* leak pass: inside our own sequence */

    needle *needles;            /* grown up to MAX_NEEDLES */
    unsigned n_needles, cap_needles;
    char *arena, *arena_lc;     /* values, and their ASCII lower case */
    size_t arena_used, arena_cap;
    bool needles_overflow;      /* too many to check: fail the instance */
    uint32_t *needle_slots;     /* needles.c: hash set (index + 1, 0 free) */
    unsigned n_needle_slots;    /* a power of two, or 0 */
    unsigned id_dates[16];      /* needles.c: the OA_NEEDLE_DATE needles as */
    unsigned n_id_dates;        /* YYYYMMDD numbers (Clean's date policy) */
    struct oa_clean_state *clean; /* freetext.c: its buffers */
    oa_dicom_handler pre_px;    /* engine.c: the pixels' pre-scan events */
    unsigned pre_foreign;       /* engine.c: depth in sequences that the
                                   pre-scan reads for needles only */
    oa_buf folded;              /* a text value in lower case (leak pass) */
    /* match.c: the needles' automatons, and the instance's work budget */
    struct oa_match *match_plain, *match_leak;
    unsigned match_plain_n, match_leak_n; /* needles in each (rebuild) */
    oa_anon_work work;
    uint64_t work_fixed;        /* opts.work_budget */
    unsigned work_per_byte;     /* opts.work_per_byte (or the default) */

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

/* engine.c: a warning in the result (a sentence naming tags, never a
 * value): n_warnings counts it, the first OA_ANON_WARNINGS are kept. */
void oa_anon__warn(oa_anonymizer *a, const char *fmt, ...) OA_PRINTF(2, 3);

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

/* rewrite.c: days since 1970-01-01 of a proleptic Gregorian date and
 * back (H. Hinnant's algorithms), for date shifts in values and in text. */
long oa_anon__days_from_civil(long y, unsigned m, unsigned d);
void oa_anon__civil_from_days(long z, long *y, unsigned *m, unsigned *d);

/* rewrite.c: the rewrite pass's handler (a->handler), in front of the
 * writer a->wh. */
void oa_anon__rewrite_init(oa_anonymizer *a);

/* ASCII lower case (needles and text are compared without ASCII case). */
static inline uint8_t oa_anon__fold(uint8_t c)
{
    return c >= 'A' && c <= 'Z' ? (uint8_t)(c - 'A' + 'a') : c;
}

/* ------------------------------------------------------------------ */
/* match.c: every needle in one pass (Aho-Corasick), and the work budget */

/* Add `steps` to w->used: OA_OK, OA_ELIMIT past the budget, OA_ECANCELLED
 * when the caller cancelled (polled every OA_WORK_POLL steps). */
oa_status oa_anon__work(oa_anon_work *w, uint64_t steps);

/* A set of byte patterns, matched without ASCII case. */
typedef struct oa_match oa_match;

/* One occurrence of a pattern in the scanned buffer. */
typedef struct oa_match_hit {
    uint32_t id;            /* the pattern's id (oa_match_add) */
    uint32_t variant;       /* the pattern's variant (oa_match_add) */
    size_t start;           /* its first byte in the buffer */
    size_t len;             /* its length */
    /* Whole-word information: word_start when the match is at the start
     * of the buffer, after a non-word byte, or begins with a non-word
     * byte; word_end likewise at its end.  Word bytes: ASCII letters,
     * digits, '_' and (unless OA_MATCH_ASCII_WORDS) bytes >= 0x80. */
    bool word_start, word_end;
} oa_match_hit;

/* Called for every occurrence, overlapping ones included, in order of
 * their end (then longest first); a status other than OA_OK stops the
 * scan, which returns it. */
typedef oa_status (*oa_match_fn)(void *user, const oa_match_hit *hit);

#define OA_MATCH_ASCII_WORDS 1u   /* bytes >= 0x80 are not letters (binary) */
/* Only whole words (word_start and word_end both true): the matches
 * ending inside a word are not even walked, so that a run of letters
 * costs one step a byte however many needles end in it. */
#define OA_MATCH_WHOLE_WORDS 2u

/* NULL when out of memory. */
oa_match *oa_match_new(void);
void oa_match_free(oa_match *m);
/* Forget the patterns (the memory is kept for the next build). */
void oa_match_clear(oa_match *m);
/* Add a pattern of 1 to 65535 bytes (compared ASCII-folded); the same
 * bytes may be added under several ids.  OA_ELIMIT past the automaton's
 * ceiling (OA_MATCH_MAX_NODES), OA_ENOMEM.  Invalidates the build. */
#define OA_MATCH_MAX_NODES ((size_t)1 << 21)   /* about 80 MB at most */
oa_status oa_match_add(oa_match *m, const uint8_t *p, size_t len,
                       uint32_t id, uint32_t variant);
/* Build the automaton (linear in the patterns' bytes), charged to `w`
 * (may be NULL). */
oa_status oa_match_build(oa_match *m, oa_anon_work *w);
/* Number of patterns added. */
size_t oa_match_count(const oa_match *m);
/* One pass over `n` bytes: `fn` for each occurrence.  Linear in `n` plus
 * the occurrences; charged to `w` (may be NULL: unbounded).  OA_EINVAL if
 * not built. */
oa_status oa_match_scan(const oa_match *m, const uint8_t *buf, size_t n,
                        unsigned flags, oa_anon_work *w, oa_match_fn fn,
                        void *user);

/* Variants of a needle (oa_match_hit.variant): the needle's own bytes, or
 * another spelling or encoding of the same value. */
enum {
    OA_VARIANT_SAME = 0,    /* the needle as collected */
    OA_VARIANT_DATE,        /* a birth date as 12/04/1957, 1957-04-12, ... */
    OA_VARIANT_UTF16LE,     /* a name or ID in UTF-16LE */
    OA_VARIANT_UTF16BE,
    OA_VARIANT_LATIN1,      /* an accented UTF-8 name in Latin-1 */
    OA_VARIANT_UTF8         /* an accented Latin-1 name in UTF-8 */
};

/* The automaton of the needles a->needles[0 .. n_needles) (hit ids are
 * needle indexes), rebuilt only when needles were added since the last
 * call.  `variants`: also the other spellings and encodings above (the
 * leak check); without, the needles' bytes only.  Charged to a->work. */
oa_status oa_anon__needle_matcher(oa_anonymizer *a, bool variants,
                                  const oa_match **out);

/* leak.c: true if the value is made only of placeholder words
 * ("unknown", "anonymous", "none", "Unbekannt", ... in
 * Resources/Reference/leak_check.tsv), compared without ASCII case and
 * separated by spaces, ^ = \\ , _ ; or NUL: such a value identifies nobody. */
bool oa_anon__needle_is_placeholder(const uint8_t *p, size_t n);

/* needles.c: the identifying values of the input ("needles"). */
/* True if a value of `tag` identifies the patient (or is a person name). */
bool oa_anon__is_identifying(uint32_t tag, oa_vr vr);
/* The value and its components become needles (a->needles); past the
 * ceilings a->needles_overflow is set. */
void oa_anon__collect_needles(oa_anonymizer *a, const oa_element *el);
/* needles.c: forget the needles of the previous instance; free. */
void oa_anon__needles_reset(oa_anonymizer *a);
void oa_anon__needles_free(oa_anonymizer *a);
/* freetext.c, Clean (C): the text of `el` into a->scratch without any
 * needle (whole words, any ASCII case), person names, addresses, phone,
 * social security-like numbers, e-mail addresses, URLs with a path;
 * dates in the usual spellings removed, shifted by a->date_offset or kept
 * as the profile's Dates option says (identifying dates always removed);
 * ages over 89 as "90+".  Linear in the text's length.  OA_ELIMIT past
 * the work ceiling (the instance fails), OA_ENOMEM. */
oa_status oa_anon__clean_text(oa_anonymizer *a, const oa_element *el);
/* freetext.c: Clean of an AS value (AgesOver89 "aggregate", and AS
 * values in cleaned sequences) into a->scratch: each age of 90 years or
 * more, in any unit and however many digits ("093Y", "1100M", "4700W",
 * "33000D"), written "090Y"; a well-formed age under 90 years kept (its
 * unit in upper case); an empty value stays empty.  *malformed (scratch
 * then empty): a value that is not ages ("45Y", "93 Y", "abc"): the
 * caller removes it.  oa_anon__clean_text does the same for VR AS. */
oa_status oa_anon__clean_age(oa_anonymizer *a, const oa_element *el,
                             bool *malformed);
/* freetext.c: free Clean's buffers. */
void oa_anon__clean_free(oa_anonymizer *a);
/* freetext.c: the dates written in text[0..n) in the spellings Clean
 * knows (03/14/2023, 14.03.2023, 2023-03-14, 20230314, 14 Mar 2023,
 * March 14, 2023, ...): each found calls `fn` with its span and the date
 * as YYYYMMDD (year 0 when the text has none); the leak check may use it
 * to find a birth date in another spelling.  Linear in n. */
typedef void (*oa_anon_date_fn)(void *user, size_t start, size_t end,
                                unsigned ymd);
void oa_anon__find_dates(const uint8_t *text, size_t n, oa_anon_date_fn fn,
                         void *user);
/* leak.c, the leak check: read the output back; OA_ELEAK names the tag where a
 * needle was found (never the value), another error an unreadable output. */
oa_status oa_anon__leak_check(oa_anonymizer *a, const uint8_t *data,
                              size_t len, oa_error *err);

#endif /* OA_ENGINE_INT_H */
