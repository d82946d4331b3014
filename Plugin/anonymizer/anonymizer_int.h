/*
 * Private to Plugin/anonymizer/: the layout of a profile, shared by
 * profile.c (which builds it) and rules.c (which reads it), and the
 * tables of ps315.c as rules.c walks them.  Other modules use the
 * accessors of anonymizer.h.
 */
#ifndef OA_ANONYMIZER_INT_H
#define OA_ANONYMIZER_INT_H

#include "anonymizer.h"

/* One entry of the Replace list. */
typedef struct oa_replace_entry {
    uint32_t tag;
    char *value; /* NUL-terminated, owned */
} oa_replace_entry;

/* Options given explicitly in the JSON, one bit per option (profile.c's
 * option table order). */
typedef uint32_t oa_option_mask;

struct oa_profile {
    char *name;                 /* owned, "" for inline profiles */
    oa_profile_base base;
    oa_anon_options opts;
    oa_option_mask given;
    uint32_t *keep;             /* sorted, unique */
    size_t keep_count;
    uint32_t *remove;           /* sorted, unique */
    size_t remove_count;
    oa_replace_entry *replace;  /* sorted by tag, unique */
    size_t replace_count;
    /* Private blocks named by Keep or Replace: (group << 16) | block byte
     * ((gggg,xxee) -> xx), sorted, unique.  Their creators are kept. */
    uint32_t *blocks;
    size_t block_count;
    /* "PixelRules", in the order given. */
    oa_pixels_user_rule *pixel_rules;
    size_t pixel_rule_count;
    /* PS3.15 option columns turned on by opts (derived). */
    bool columns[OA_PS315_COLUMN_COUNT];
};

/* Binary search in a sorted array of tags. */
static inline bool oa_anon__tag_in(const uint32_t *tags, size_t n,
                                   uint32_t tag)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (tags[mid] == tag)
            return true;
        if (tags[mid] < tag)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

/* burned_in.c: the pixel rules of a profile as rows of the rule table
 * (oa_rules_explain_json), appended to `arr`: Tag "(7FE0,0010)", the rule's
 * label as Name, Action "blank", "flag" or "keep", Source and Condition.
 * Nothing when the profile keeps burned-in text. */
oa_status oa_anon__explain_pixels_json(struct cJSON *arr,
                                       const oa_profile *p);

/* The Replace entry for a tag, or NULL. */
const oa_replace_entry *oa_profile__replace_find(const oa_profile *p,
                                                 uint32_t tag);

/* ------------------------------------------------------------------ */
/* The PS3.15 tables (ps315.c)                                          */

/* A UI attribute Table E.1-1 does not list, and what it holds. */
typedef struct oa_uid_class {
    uint32_t tag;
    const char *keyword;
    const char *kind;
} oa_uid_class;

/* The exact row of Table E.1-1 for `tag`, or NULL. */
const oa_ps315_row *oa_ps315__exact_find(uint32_t tag);
/* The pattern row for an even-group `tag` ((50xx,xxxx)...), or NULL. */
const oa_ps315_row *oa_ps315__pattern_find(uint32_t tag);
/* The private pattern row, "(gggg,eeee) where gggg is odd". */
const oa_ps315_row *oa_ps315__private_row(void);
/* Rows 0..this-1 of oa_ps315_row_at() are exact, the others patterns. */
size_t oa_ps315__exact_count(void);

/* The UID lists: kept UIDs (well-known classes, `remap` false) and
 * instance UIDs to remap (`remap` true), each sorted by tag. */
const oa_uid_class *oa_ps315__uid_find(bool remap, uint32_t tag);
size_t oa_ps315__uid_count(bool remap);
const oa_uid_class *oa_ps315__uid_at(bool remap, size_t i);

/* What an IOD requires (iod_table.inc, generated from what dciodvfy
 * reports: Resources/Reference/iod_required.tsv). */
typedef struct oa_iod_required {
    const char *sop_class;
    uint32_t tag;
    uint8_t type;        /* 1 or 2 */
    uint8_t cond;        /* 0; 1 only when the patient is an animal; 2 a
                            Type 1C/2C whose condition is not settled */
} oa_iod_required;

/* The Type (1 or 2) that the IOD of `sop_class` gives the top-level
 * attribute `tag` of Table E.1-1, 0 if it does not require it, -1 if the
 * table does not know the class or the attribute's condition. */
int oa_ps315__iod_type(const char *sop_class, uint32_t tag, bool animal);

/* profile.c: true if the option that turns `col` on was given in the
 * profile's own JSON (not inherited from its base). */
bool oa_profile__column_given(const oa_profile *p, oa_ps315_column col);

/* ------------------------------------------------------------------ */
/* TCIA's conventions (tcia.c, generated tcia_table.inc)                */

/* TCIA's action lists for standard attributes, in the data's order. */
typedef enum oa_tcia_action {
    OA_TCIA_REMOVE = 0,
    OA_TCIA_HASHUID,
    OA_TCIA_INCREMENTDATE,
    OA_TCIA_TIME,
    OA_TCIA_EMPTY,
    OA_TCIA_KEEP,
    OA_TCIA_PROCESS,
    OA_TCIA_LOOKUP,
    OA_TCIA_REPLACE,
    OA_TCIA_HASHNAME
} oa_tcia_action;

/* A disposition of the Private Tag Knowledge Base that keeps something
 * (the table lists no other: what it does not list is removed). */
typedef enum oa_tcia_disp {
    OA_TCIA_KB_KEEP = 1, /* k */
    OA_TCIA_KB_HASH,     /* h */
    OA_TCIA_KB_OFFSET,   /* o */
    OA_TCIA_KB_NA        /* na on a sequence: descended into */
} oa_tcia_disp;

/* One kept signature of the knowledge base (generated; static). */
typedef struct oa_tcia_kb_entry {
    const char *key;      /* canonical path, see oa_tcia__key() */
    uint8_t disp;         /* oa_tcia_disp */
    uint8_t uid;          /* seen with VR UI: a kept value is remapped */
    uint8_t seq;          /* seen as SQ or UN: may be a sequence */
    uint8_t un_removed;   /* removed when read as UN (TCIA deletes it so) */
    uint16_t group;       /* the last step: group, element in block, */
    uint8_t element;      /* creator */
    const char *creator;
    const char *name;     /* TCIA's name of the attribute */
} oa_tcia_kb_entry;

/*
 * The knowledge base's key of a private attribute (or, with `element` <
 * 0x100, the prefix of the keys of a creator's block) inside `path`:
 * each step "(gggg,eeee)" for a public sequence, "(gggg,"creator",ee)" for
 * a private one, hex in lower case, the creator trimmed of spaces and
 * trailing NULs with '\' and '"' escaped; the block prefix ends with
 * "(gggg,"creator",".  Returns the key's length, 0 when it has none (a
 * step without a creator, too deep, too long for `size`).
 */
size_t oa_tcia__key(char *buf, size_t size, const oa_rule_step *path,
                    size_t depth, uint32_t tag, const char *creator,
                    size_t creator_len);
/* The entry of a key, or NULL. */
const oa_tcia_kb_entry *oa_tcia__kb_find(const char *key);
/* True if some entry's key starts with `prefix`. */
bool oa_tcia__kb_has_prefix(const char *prefix, size_t len);
size_t oa_tcia__kb_count(void);
const oa_tcia_kb_entry *oa_tcia__kb_at(size_t i);
/* "k", "h", "o", "na". */
const char *oa_tcia__disp_name(uint8_t disp);

/* TCIA's action for a standard attribute ("remove", "keep"...), or NULL
 * when its lists do not name it. */
const char *oa_tcia__attr_action(uint32_t tag, oa_tcia_action *action);

/*
 * Base "Research": `r`, resolved by Table E.1-1 under the profile's
 * options, adjusted by TCIA's list (see tcia.c): r->tcia is set, and an
 * attribute TCIA removes that the options would keep, clean or shift is
 * discarded, unless Retain Device Identity keeps it or the option that
 * keeps it was given in the profile itself.
 */
void oa_tcia__apply(const oa_profile *p, uint32_t tag, oa_rule *r);

#endif /* OA_ANONYMIZER_INT_H */
