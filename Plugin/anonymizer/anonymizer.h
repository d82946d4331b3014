/*
 * anonymizer: profiles, the PS3.15 rule table, rule resolution and the
 * engine that applies the rules to a DICOM stream.
 *
 * Layers, bottom up:
 *
 *  1. The data: PS3.15 2026d Table E.1-1 (Basic Profile and its ten option
 *     columns), Table E.3.10-1 (safe private attributes) and our
 *     classification of UI attributes, generated from Resources/Reference/
 *     by Resources/Scripts/GenerateProfile.py into ps315_table.inc
 *     (ps315.c).
 *  2. Profiles (profile.c): a base ("Default", "Full", "Research") plus
 *     options, Keep, Remove and Replace lists, parsed from and serialized
 *     to the JSON of doc/rest-api.md (profiles); TCIA's conventions
 *     (tcia.c, generated tcia_table.inc) for "Research" and "tcia".
 *  3. Rules (rules.c): for a profile, a tag, its VR and (for private tags)
 *     the private creator in scope, the action to apply; and the "explain"
 *     table of every rule of a profile.
 *  4. The engine (engine.c, rewrite.c, leak.c, pseudonym.c): an
 *     oa_dicom_handler between the reader and the writer that calls
 *     oa_rules_resolve() for every element, at every sequence depth, and
 *     applies the action (see "Contract for the engine" at the end of this
 *     file).
 *
 * Thread safety: profiles are immutable once built and may be shared by
 * threads; every function here is reentrant.  No global mutable state.
 * Error messages name options and tags, never DICOM values.
 */
#ifndef OA_ANONYMIZER_H
#define OA_ANONYMIZER_H

#include "../core/core.h"
#include "../dicom/dicom.h"
#include "../pixels/pixels.h"

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

struct cJSON;

/* ------------------------------------------------------------------ */
/* Actions                                                              */

/*
 * What happens to one element.  The first six are PS3.15 Table E.1-1a's
 * codes; the others are ours.
 *
 *  KEEP      K: unchanged.  For a sequence: kept, and the rules are applied
 *            to the elements of its items ("cleaned", E.1-1a).
 *  REMOVE    X: removed; a sequence is removed with all its items.
 *  EMPTY     Z: zero-length value; a sequence becomes an empty sequence.
 *  DUMMY     D: a non-empty dummy value valid for the VR.  For a sequence:
 *            its items are kept and every value inside them is replaced by
 *            a dummy of its VR (recursively), so that a Type 1 sequence stays
 *            non-empty without keeping any original value.
 *  CLEAN     C: replaced by a value of similar meaning known not to hold
 *            identifying information.  For a sequence: kept, the rules are
 *            applied inside and free text inside is cleaned too.
 *  UID       U: a UID remapped consistently (HMAC of the original, see
 *            doc/architecture.md).  For a sequence (X/Z/U*): kept, and the
 *            UIDs inside are remapped by their own rules.
 *  SHIFT     a date, time or date-time moved by the patient's date offset
 *            (Retain Longitudinal Temporal Information Modified Dates).
 *  REPLACE   the fixed value oa_rule.value (profile "Replace" list, and
 *            BirthDate "clear" => 19000101).
 *  PSEUDONYM Patient's Name and Patient ID: the job's new name / ID, or one
 *            generated from the original Patient ID.
 *  HASH      TCIA's "h" (private attributes, PrivateTags "tcia"): a value
 *            made of UIDs is remapped like every UID; another text value is
 *            replaced by 16 hex digits of HMAC-SHA256(site secret, value),
 *            so equal values stay equal (oa_anon_hash_value); a binary
 *            number is emptied.
 */
typedef enum oa_action {
    OA_ACTION_KEEP = 0,
    OA_ACTION_REMOVE,
    OA_ACTION_EMPTY,
    OA_ACTION_DUMMY,
    OA_ACTION_CLEAN,
    OA_ACTION_UID,
    OA_ACTION_SHIFT,
    OA_ACTION_REPLACE,
    OA_ACTION_PSEUDONYM,
    OA_ACTION_HASH
} oa_action;

#define OA_ACTION_COUNT 10

/* "keep", "remove", "empty", "dummy", "clean", "uid", "shift", "replace",
 * "pseudonym", "hash" (the names of GET /anonymizer/profiles/{name}/rules).
 * Never NULL ("?" for an unknown value). */
const char *oa_action_name(oa_action action);

/* ------------------------------------------------------------------ */
/* PS3.15 Table E.1-1                                                   */

/* A cell of Table E.1-1: an action code of Table E.1-1a. */
typedef enum oa_ps315_code {
    OA_PS_NONE = 0, /* empty cell */
    OA_PS_X,        /* remove */
    OA_PS_Z,        /* zero length */
    OA_PS_D,        /* dummy */
    OA_PS_K,        /* keep */
    OA_PS_C,        /* clean */
    OA_PS_U,        /* new UID */
    OA_PS_Z_D,      /* Z/D    */
    OA_PS_X_Z,      /* X/Z    */
    OA_PS_X_D,      /* X/D    */
    OA_PS_X_Z_D,    /* X/Z/D  */
    OA_PS_X_Z_U     /* X/Z/U* */
} oa_ps315_code;

/* "X", "Z/D", "X/Z/U*", ... ("" for OA_PS_NONE). Never NULL. */
const char *oa_ps315_code_str(oa_ps315_code code);

/*
 * The action we apply for a cell.  Combined codes name alternatives chosen
 * by the attribute's Type in the IOD at hand ("X/Z: X unless Z is required
 * to maintain IOD conformance (Type 3 versus Type 2)", Table E.1-1a).  We
 * do not carry the IOD tables, and a streaming engine does not know every
 * attribute's Type at its place, so we take the alternative that is valid
 * for the strictest Type the code allows, which is always the last one:
 *
 *     Z/D -> D     X/Z -> Z     X/D -> D     X/Z/D -> D     X/Z/U* -> U
 *
 * Every alternative discards the original value, so the choice changes the
 * validity of the output, never what it reveals: removing (X) breaks a
 * Type 1 or 2 attribute, emptying (Z) a Type 1 one, while D and Z are valid
 * whatever the Type (a Type 3 attribute may be present, even empty).  The
 * cost is a dummy value where removal would have been allowed.  X/Z/U* ->
 * U keeps a reference sequence (Referenced Image, Source Image) with its
 * instance UIDs remapped, so references between the anonymized instances
 * still resolve.  (pydicom's deid and Orthanc remove instead; Karnak makes
 * the same choice as we do.)
 */
oa_action oa_ps315_code_action(oa_ps315_code code);

/* The option columns of Table E.1-1, in the table's order. */
typedef enum oa_ps315_column {
    OA_COL_RSP = 0, /* Retain Safe Private Option              113111 */
    OA_COL_RUID,    /* Retain UIDs Option                      113110 */
    OA_COL_RDI,     /* Retain Device Identity Option           113109 */
    OA_COL_RII,     /* Retain Institution Identity Option      113112 */
    OA_COL_RPC,     /* Retain Patient Characteristics Option   113108 */
    OA_COL_RLFD,    /* Retain Long. Temporal Inf. Full Dates   113106 */
    OA_COL_RLMD,    /* Retain Long. Temporal Inf. Modified Dates 113107 */
    OA_COL_CD,      /* Clean Descriptors Option                113105 */
    OA_COL_CSC,     /* Clean Structured Content Option         113104 */
    OA_COL_CG       /* Clean Graphics Option                   113103 */
} oa_ps315_column;

#define OA_PS315_COLUMN_COUNT 10

/* Short name ("rlfd"), CID 7050 code value ("113106") and code meaning
 * ("Retain Longitudinal Temporal Information Full Dates Option"). Static;
 * NULL for an unknown column. */
const char *oa_ps315_column_name(oa_ps315_column col);
const char *oa_ps315_column_code(oa_ps315_column col);
const char *oa_ps315_column_meaning(oa_ps315_column col);

/* One row of Table E.1-1 (generated; static). */
typedef struct oa_ps315_row {
    uint32_t tag;     /* with the x digits of a pattern set to 0 */
    uint32_t mask;    /* bits that must match: 0xFFFFFFFF for one tag */
    oa_vr vr;         /* dictionary VR (first of "OB or OW"); 0 if none */
    uint8_t basic;    /* oa_ps315_code of the Basic Profile column */
    uint8_t cells[OA_PS315_COLUMN_COUNT]; /* oa_ps315_code per column */
    uint8_t retired;
    const char *name;    /* "Patient's Name", as in PS3.15 */
    const char *pattern; /* "(60xx,3000)" for pattern rows, else NULL */
} oa_ps315_row;

/* "2026d": the edition of the generated tables (GET /anonymizer/info). */
const char *oa_ps315_edition(void);

/*
 * The row of Table E.1-1 for a tag: the exact row, else a pattern row
 * ((50xx,xxxx), (60xx,3000), (60xx,4000) for even groups; "(gggg,eeee)
 * where gggg is odd" for private tags), else NULL.  Borrowed, static.
 */
const oa_ps315_row *oa_ps315_lookup(uint32_t tag);

/* Iterate the table: rows 0..count-1, exact rows by tag then patterns. */
size_t oa_ps315_row_count(void);
const oa_ps315_row *oa_ps315_row_at(size_t i);

/* One row of Table E.3.10-1, Safe Private Attributes (generated; static). */
typedef struct oa_safe_private {
    uint16_t group;      /* odd group, "7053" */
    uint8_t element;     /* element in block, "xx00" -> 0x00 */
    oa_vr vr;            /* VR from the table, 0 where it gives none */
    uint8_t remap_uid;   /* VR UI holding an instance UID: remapped (U) */
    const char *creator; /* "Philips PET Private Group" */
} oa_safe_private;

/*
 * Find a safe private attribute.  `creator` is the value of the private
 * creator element reserving the block (not NUL-terminated, `len` bytes);
 * it is compared case-sensitively, as PS3.5 7.8.1 requires, after leading
 * and trailing spaces and trailing NULs are trimmed (insignificant in LO).
 * NULL if the attribute is not safe.  Borrowed, static.
 */
const oa_safe_private *oa_safe_private_find(uint16_t group, uint8_t element,
                                            const char *creator, size_t len);

/* True if some safe private attribute of `group` has this creator. */
bool oa_safe_private_has_creator(uint16_t group, const char *creator,
                                 size_t len);

size_t oa_safe_private_count(void);
const oa_safe_private *oa_safe_private_at(size_t i);

/*
 * UI attributes that Table E.1-1 does not list.  Those whose value names a
 * class or a scheme (SOP Class, Transfer Syntax, Coding Scheme, Context,
 * Mapping Resource, implementation and software versions: 29 attributes,
 * listed with the reasoning in GenerateProfile.py, UID_KEEP) are kept; every
 * other UI attribute, known or not, is remapped (U).  Returns the kind of
 * class ("SOP Class", "Transfer Syntax", ...) or NULL.  Static.
 */
const char *oa_uid_class_kind(uint32_t tag);

/*
 * True for UID values defined by DICOM itself (prefix "1.2.840.10008."):
 * SOP classes, transfer syntaxes, well-known frames of reference and color
 * palettes, coding schemes.  The engine never remaps such a value, whatever
 * the attribute that holds it.
 */
bool oa_uid_value_is_well_known(const char *uid, size_t len);

/*
 * True for SOP classes dropped by SecondaryCapturesAndReports "clear":
 * Secondary Capture (…1.1.7 and …1.1.7.1-4), every Structured Report
 * (…1.1.88.*, including Key Object Selection and dose reports) and every
 * Encapsulated document (…1.1.104.*: PDF, CDA, STL, OBJ, MTL).  Screen
 * captures and reports often carry burned-in or free-text identity that the
 * Basic Profile cannot clean.  `uid` need not be NUL-terminated; trailing
 * spaces and NULs are ignored.
 */
bool oa_sop_class_is_capture_or_report(const char *uid, size_t len);

/* ------------------------------------------------------------------ */
/* Options and profiles                                                 */

/* The values an option may take; each option accepts some of them. */
typedef enum oa_opt_value {
    OA_OPT_KEEP = 0, /* "keep"  */
    OA_OPT_CLEAR,    /* "clear" */
    OA_OPT_SHIFT,    /* "shift" (Dates) */
    OA_OPT_SAFE,     /* "safe"  (PrivateTags) */
    OA_OPT_CLEAN,    /* "clean" (Descriptions, StructuredContent) */
    OA_OPT_REMAP,    /* "remap" (Uids) */
    OA_OPT_STRICT,   /* "strict" (BurnedInText) */
    OA_OPT_REFUSE,   /* "refuse" (BurnedInText) */
    OA_OPT_TCIA,     /* "tcia" (PrivateTags) */
    OA_OPT_AGGREGATE /* "aggregate" (AgesOver89) */
} oa_opt_value;

/* "keep", "clear", ... Never NULL. */
const char *oa_opt_value_name(oa_opt_value v);

/*
 * The options of a profile (doc/rest-api.md, profiles), and the PS3.15 columns
 * they turn on:
 *
 *  BodyCharacteristics keep|clear      keep: rpc
 *  AgesOver89 aggregate|keep           aggregate (every built-in): every
 *                                      AS (Age String) value that the
 *                                      rules keep, at any depth and by any
 *                                      rule (Keep list included), is
 *                                      cleaned instead (C): an age of 90
 *                                      years or more, in any unit, is
 *                                      written "090Y" (HIPAA Safe Harbor's
 *                                      "90 or older"), a malformed value
 *                                      is removed (emptied where the IOD
 *                                      needs it) with a warning naming the
 *                                      tag; keep: AS values kept verbatim
 *  Dates keep|shift|clear              keep: rlfd; shift: rlmd (dates and
 *                                      date-times shifted; rlmd cells on
 *                                      other VRs fall back to the basic code)
 *  BirthDate keep|clear                Patient's Birth Date: keep -> K (or
 *                                      SHIFT when Dates is "shift", so ages
 *                                      stay right); clear -> "19000101" (a
 *                                      dummy, which Z allows)
 *  PrivateTags keep|safe|tcia|clear    safe: rsp (Table E.3.10-1); tcia:
 *                                      rsp with TCIA's Private Tag
 *                                      Knowledge Base as well (by creator
 *                                      and path of sequences; its h and o
 *                                      applied, see tcia.c); keep: every
 *                                      private attribute (beyond PS3.15);
 *                                      clear: none
 *  SecondaryCapturesAndReports keep|clear   clear: such instances are not
 *                                      exported (oa_profile_drops_sop_class)
 *  Descriptions keep|clean|clear       clean: cd; keep: Study, Series,
 *                                      Protocol, Performed and Requested
 *                                      Procedure descriptions cleaned (C),
 *                                      other descriptors by the basic code
 *  Uids remap|keep                     keep: ruid
 *  DeviceIdentity keep|clear           keep: rdi
 *  InstitutionIdentity keep|clear      keep: rii
 *  StructuredContent keep|clean|clear  clean: csc; keep: the csc sequences
 *                                      kept (rules still apply inside)
 *  Graphics keep|clear                 keep: cg
 *  BurnedInText clean|strict|refuse|keep   identity burned into the
 *                                      pixels (Plugin/pixels/): clean
 *                                      blanks the regions of the device
 *                                      rules, the profile's PixelRules and
 *                                      OCR word boxes that match an
 *                                      identifying value of the instance
 *                                      (Clean Pixel Data, 113101); strict
 *                                      also blanks every OCR word that is
 *                                      not a clinical term; refuse fails
 *                                      every instance whose header flags
 *                                      a risk; keep passes the pixels and
 *                                      claims nothing.  A risky instance
 *                                      that cannot be cleaned is refused.
 */
typedef struct oa_anon_options {
    oa_opt_value body_characteristics;
    oa_opt_value ages_over_89;
    oa_opt_value dates;
    oa_opt_value birth_date;
    oa_opt_value private_tags;
    oa_opt_value captures_and_reports;
    oa_opt_value descriptions;
    oa_opt_value uids;
    oa_opt_value device_identity;
    oa_opt_value institution_identity;
    oa_opt_value structured_content;
    oa_opt_value graphics;
    oa_opt_value burned_in_text;
} oa_anon_options;

typedef enum oa_profile_base {
    OA_BASE_DEFAULT = 0, /* "Default" */
    OA_BASE_FULL,        /* "Full" */
    OA_BASE_RESEARCH     /* "Research" */
} oa_profile_base;

/* Opaque, immutable once built.  Caller frees with oa_profile_free(). */
typedef struct oa_profile oa_profile;

/* Limits of a profile (a larger one fails with OA_ELIMIT). */
#define OA_PROFILE_MAX_TAGS 4096       /* per Keep / Remove / Replace */
#define OA_PROFILE_MAX_VALUE 1024      /* bytes of one Replace value */
#define OA_PROFILE_MAX_NAME 64
#define OA_PROFILE_MAX_PIXEL_RULES 256u  /* PixelRules entries */

/*
 * Built-in profiles.
 *
 * "Default", for PET/NM research: body characteristics kept, dates kept,
 * birth date cleared, safe private attributes kept, secondary captures and
 * reports dropped, descriptions cleaned (Clean Descriptors), UIDs remapped; device,
 * institution, structured content and graphics cleared.  Everything SUV
 * computation needs survives: patient weight, size, sex and age, the
 * Radiopharmaceutical Information Sequence (dose, start time and date-time,
 * half-life), series and acquisition dates and times, decay correction,
 * units, corrected image, and the vendors' SUV factors of Table E.3.10-1
 * (Philips (7053,xx00) and (7053,xx09)).  UnitTests/test_rules.c lists
 * them.
 *
 * "Full": the Basic Profile with every option off, private attributes,
 * secondary captures and reports removed.
 *
 * "Research", for data sent to public archives (TCIA, IDC, trials): TCIA's
 * curation conventions on top of PS3.15 (tcia.c): dates shifted per
 * patient with times kept, patient characteristics and device identity
 * kept, descriptors and structured content cleaned, private attributes of
 * TCIA's knowledge base and Table E.3.10-1 kept, secondary captures and
 * reports kept (and cleaned), burned-in text cleaned; what TCIA's list
 * removes (comments, Occupation...) removed.
 *
 * `name` is matched exactly.  OA_ENOTFOUND for another name.
 */
oa_status oa_profile_builtin(oa_profile **out, const char *name,
                             oa_error *err);

/* True for "Default", "Full" and "Research" (which cannot be replaced or
 * deleted). */
bool oa_profile_is_builtin_name(const char *name);

/* The built-in profiles' names, i in 0..oa_profile_builtin_count()-1, in
 * the order lists show them; NULL past the end.  Static. */
size_t oa_profile_builtin_count(void);
const char *oa_profile_builtin_name(size_t i);

/* True for a name a custom profile may take: 1 to OA_PROFILE_MAX_NAME
 * letters, digits, '-', '_' or '.', not starting with '.'. */
bool oa_profile_name_is_valid(const char *name);

/*
 * Build a profile from its JSON (doc/rest-api.md): an object with an optional
 * "Base" ("Default" when absent) and any options to override.  `name` (may
 * be NULL, for inline profiles) is copied; it must then satisfy
 * oa_profile_name_is_valid().  `json` is only read.
 *
 * Errors: OA_EINVAL with a message naming the option and what it accepts
 * (`option "Dates": expected "keep", "shift" or "clear"`), for a wrong type,
 * an unknown option, an unknown value, a bad or unusable tag (group 0000,
 * 0002 or FFFE, a group length, a private creator, a sequence in Replace),
 * an option given twice, a tag in two of Keep / Remove / Replace;
 * OA_ELIMIT past the limits above; OA_ENOMEM.  Messages never quote a
 * Replace value.
 */
oa_status oa_profile_from_json(oa_profile **out, const char *name,
                               const struct cJSON *json, oa_error *err);

/* Same from text (`len` bytes, need not be NUL-terminated): OA_EPARSE if
 * the text is not JSON. */
oa_status oa_profile_parse(oa_profile **out, const char *name,
                           const char *text, size_t len, oa_error *err);

/* Serialization flavours for oa_profile_to_json(). */
typedef enum oa_profile_json {
    /* "Base" and every option with its effective value, plus "Keep",
     * "Remove", "Replace" (even empty): for GET /anonymizer/profiles/{name}. */
    OA_PROFILE_JSON_EFFECTIVE = 0,
    /* "Base" and only the options given when the profile was parsed, plus
     * the non-empty lists: what the user wrote, for storage (a stored
     * custom profile follows later changes of its base). */
    OA_PROFILE_JSON_OVERRIDES
} oa_profile_json;

/*
 * Serialize.  Tags are written "GGGG,EEEE" (upper case), lists sorted.
 * oa_profile_from_json() of the result gives an equal profile.  Caller
 * frees *out with cJSON_Delete().
 */
oa_status oa_profile_to_json(struct cJSON **out, const oa_profile *p,
                             oa_profile_json flavour, oa_error *err);

/* NULL-safe. */
void oa_profile_free(oa_profile *p);

/* The name given at creation ("" for an inline profile).  Borrowed. */
const char *oa_profile_name(const oa_profile *p);
oa_profile_base oa_profile_get_base(const oa_profile *p);
/* "Default" / "Full" / "Research". */
const char *oa_profile_base_name(oa_profile_base base);
/* Borrowed; valid as long as the profile. */
const oa_anon_options *oa_profile_options(const oa_profile *p);

/* True if both profiles do the same thing: same options and lists (the
 * base and the name are not compared). */
bool oa_profile_equal(const oa_profile *a, const oa_profile *b);

/*
 * The profile's own pixel rules ("PixelRules": rectangles for a
 * manufacturer, model and size, see oa_pixels_user_rule_parse), in the
 * order given.  *n receives their count.  Borrowed.
 */
const oa_pixels_user_rule *oa_profile_pixel_rules(const oa_profile *p,
                                                  size_t *n);

/* True if the PS3.15 column is turned on by the profile's options. */
bool oa_profile_column_enabled(const oa_profile *p, oa_ps315_column col);

/*
 * True if the profile retains more than PS3.15 and its options allow
 * (PrivateTags "keep", Descriptions or StructuredContent "keep", BirthDate
 * "keep", a Keep or Replace list): the engine must then not claim the Basic
 * Profile alone in (0012,0063) De-identification Method.
 */
bool oa_profile_has_deviations(const oa_profile *p);

/*
 * The CID 7050 codes (DCM) the output conforms to, for (0012,0064)
 * De-identification Method Code Sequence: "113100" first, then one code
 * per option column turned on, in column order.  Writes at most `max`
 * static strings into `codes` and returns how many there are.
 */
size_t oa_profile_method_codes(const oa_profile *p, const char **codes,
                               size_t max);

/* (0028,0303) Longitudinal Temporal Information Modified: "UNMODIFIED"
 * (Dates keep), "MODIFIED" (shift) or "REMOVED" (clear). Static. */
const char *oa_profile_temporal_marker(const oa_profile *p);

/* True if instances of this SOP class are not exported by the profile
 * (SecondaryCapturesAndReports "clear" and a capture or report class). */
bool oa_profile_drops_sop_class(const oa_profile *p, const char *uid,
                                size_t len);

/* ------------------------------------------------------------------ */
/* Rule resolution                                                      */

/* Why a rule applies (for the explain table and for tests). */
typedef enum oa_rule_source {
    OA_SRC_DEFAULT = 0,  /* not in Table E.1-1: kept */
    OA_SRC_BASIC,        /* Basic Profile column */
    OA_SRC_OPTION,       /* an option column (oa_rule.column) */
    OA_SRC_PROFILE,      /* one of our settings beyond PS3.15 (BirthDate,
                            Descriptions/StructuredContent "keep",
                            pseudonyms) */
    OA_SRC_KEEP,         /* the profile's Keep list */
    OA_SRC_REMOVE,       /* the profile's Remove list */
    OA_SRC_REPLACE,      /* the profile's Replace list */
    OA_SRC_UID_CLASS,    /* UI naming a class or scheme: kept */
    OA_SRC_UID_INSTANCE, /* UI not in Table E.1-1: remapped */
    OA_SRC_PRIVATE,      /* PrivateTags policy */
    OA_SRC_SAFE_PRIVATE, /* Table E.3.10-1 (Retain Safe Private) */
    OA_SRC_STRUCTURE,    /* group lengths, reserved private elements */
    OA_SRC_TCIA,         /* TCIA's attribute list (base "Research") */
    OA_SRC_TCIA_PRIVATE  /* TCIA's Private Tag Knowledge Base ("tcia") */
} oa_rule_source;

/* Where a rule comes from, for the explain table's "Source": "PS3.15
 * Basic Profile", "Retain Device Identity Option" (a column), "TCIA attribute
 * list", "TCIA private tag knowledge base", "PS3.15 Table E.3.10-1",
 * "profile", "Keep list"...  Never NULL.  Static. */
const char *oa_rule_source_name(oa_rule_source source, int column);

/* A resolved rule.  Everything in it is borrowed (static or from the
 * profile) and valid as long as the profile. */
typedef struct oa_rule {
    oa_action action;
    oa_rule_source source;
    uint8_t code;              /* oa_ps315_code of the deciding cell, or 0 */
    int column;                /* oa_ps315_column for OA_SRC_OPTION, or -1 */
    const char *value;         /* OA_ACTION_REPLACE: NUL-terminated value */
    const oa_ps315_row *row;   /* the Table E.1-1 row involved, or NULL */
    const char *why;           /* short static text, e.g. "Keep list" */
    /* Base "Research": TCIA's action for this attribute ("remove", "keep",
     * "incrementdate"...) when its list names it, else NULL. */
    const char *tcia;
    /* AgesOver89 "aggregate": an AS value the rule above keeps, cleaned
     * instead (action CLEAN; source, code and why stay the keeping
     * rule's, oa_rule_describe says both). */
    bool age_aggregated;
} oa_rule;

/*
 * One sequence around an element: its tag and, for a private sequence,
 * the value of the creator of its block (not NUL-terminated, `len`
 * bytes; NULL if none).  Only PrivateTags "tcia" looks at the path (TCIA's
 * knowledge base rules private attributes by where they are).
 */
typedef struct oa_rule_step {
    uint32_t tag;
    const char *creator;
    size_t creator_len;
} oa_rule_step;

/* Deepest path oa_rules_resolve_at() looks at; a deeper private attribute
 * is in no knowledge base entry (removed). */
#define OA_RULE_MAX_PATH 8

/*
 * The action for one element.
 *
 *  p            the profile
 *  tag          the element's tag (any depth: rules do not depend on it)
 *  vr           the element's VR as read (explicit VR) or from the
 *               dictionary (implicit); 0 if unknown.  Only used to remap
 *               UI attributes the tables do not list, and private UIDs.
 *  creator,len  for a private tag (odd group): the value of the private
 *               creator element that reserves its block in the current item
 *               ((gggg,00xx) for (gggg,xxee)); for a private creator element
 *               itself, its own value.  NULL if none.  Not NUL-terminated.
 *  out          if not NULL, receives the full rule
 *
 * Order, first match wins:
 *  1. the profile's Replace, Remove and Keep lists (exact tags);
 *  2. private tags (odd group): creators (gggg,0010-00FF) are kept when
 *     their block may hold a kept attribute (PrivateTags "keep", a creator
 *     of Table E.3.10-1 for "safe", for "tcia" also a block of which TCIA's
 *     knowledge base keeps something at this path, a block named in
 *     Keep/Replace); data elements by PrivateTags, with Table E.3.10-1
 *     matched on group, element in block and creator for "safe", and for
 *     "tcia" first the knowledge base's entry for the element's path
 *     (oa_rules_resolve_at: k keep, h HASH, o SHIFT); kept private UI
 *     values are remapped unless Uids is "keep"; other private elements
 *     are removed;
 *  3. group lengths (gggg,0000): kept (the writer drops or recomputes them);
 *  4. our settings: Patient's Name and Patient ID -> PSEUDONYM, Patient's
 *     Birth Date -> BirthDate;
 *  5. Table E.1-1 (exact row, then (50xx,xxxx), (60xx,3000), (60xx,4000)):
 *     the date columns first (rlmd when Dates is "shift", rlfd when
 *     "keep"), so that a date is never kept unshifted while others are
 *     shifted; then the first enabled option column with a cell (the
 *     generator checks that the other columns never disagree on a row);
 *     else the basic column.  K -> KEEP, C -> CLEAN (SHIFT for rlmd on
 *     DA/DT/TM), combined codes by oa_ps315_code_action().  Base
 *     "Research": then TCIA's attribute list (tcia.c: what it removes and
 *     the options would keep is discarded, but for Retain Device Identity
 *     and the options the profile sets itself);
 *  6. UI attributes not in the table: kept if oa_uid_class_kind(), else
 *     UID (KEEP when Uids is "keep");
 *  7. anything else: KEEP (PS3.15 only lists what must change).
 * Then, whatever decided: a KEEP of an AS value (`vr` AS, or 0 / UN with
 * a dictionary VR AS) becomes CLEAN with age_aggregated set when
 * AgesOver89 is "aggregate" (ages of 90 or more written "090Y").
 */
oa_action oa_rules_resolve(const oa_profile *p, uint32_t tag, oa_vr vr,
                           const char *creator, size_t creator_len,
                           oa_rule *out);

/*
 * The same for an element inside `depth` sequences, `path[0]` the
 * outermost (NULL and 0 at the top level).  PrivateTags "tcia" matches a
 * private attribute (and decides on a private creator) with the knowledge
 * base's entry for that path; a sequence's own rule is asked with vr
 * OA_VR_SQ (also when it was read as UN).  Other rules ignore the path.
 */
oa_action oa_rules_resolve_at(const oa_profile *p, const oa_rule_step *path,
                              size_t depth, uint32_t tag, oa_vr vr,
                              const char *creator, size_t creator_len,
                              oa_rule *out);

/* A human reason for a rule: `why` plus the code of the deciding cell,
 * e.g. "Basic Profile (X/Z)".  Always NUL-terminates. */
void oa_rule_describe(const oa_rule *rule, char *out, size_t out_size);

/* One row of the explain table. */
typedef struct oa_rule_row {
    char tag[32];        /* "(0010,0010)", "(60xx,3000)", "(7053,xx00)" */
    uint32_t sort_key;   /* tag value used for ordering */
    const char *keyword; /* dictionary keyword, "" if none.  Static. */
    const char *name;    /* PS3.15 name or a description.  Static. */
    const char *creator; /* private creator (safe private rows), or NULL */
    /* knowledge base rows: the path, as the knowledge base's key
     * ("(0008,1115)(0008,1140)(2001,\"Philips Imaging DD 001\",c1)"),
     * or NULL.  Static. */
    const char *path;
    oa_rule rule;
} oa_rule_row;

/*
 * The effective rule table of a profile, sorted by tag: every row of Table
 * E.1-1 and its patterns, the private creator policy, the UI attributes
 * outside the table, Table E.3.10-1 when PrivateTags is "safe" or "tcia",
 * the knowledge base's kept attributes when it is "tcia", and the
 * tags of the Keep / Remove / Replace lists that no other row covers.
 * For `oa-anonymize --explain` and GET /anonymizer/profiles/{name}/rules.
 * Caller frees *rows with oa_free(); the rows borrow from `p`.
 */
oa_status oa_rules_explain(oa_rule_row **rows, size_t *count,
                           const oa_profile *p, oa_error *err);

/*
 * The same as a JSON array of {"Tag", "Keyword", "Name", "Action",
 * "Reason", "Source"} objects, plus "PrivateCreator", "Path" (knowledge
 * base rows), "TCIA" (TCIA's action, base "Research") and "Value" where
 * they apply.
 * Caller frees *out with cJSON_Delete().
 */
oa_status oa_rules_explain_json(struct cJSON **out, const oa_profile *p,
                                oa_error *err);

/*
 * Contract for the engine (to be implemented behind this header):
 *
 *  - The engine is an oa_dicom_handler between oa_dicom_parse() and the
 *    writer.  It tracks, per item, the private creators of each odd group
 *    (gggg,0010-00FF) to pass them to oa_rules_resolve(), and applies the
 *    resolved action at every depth: KEEP/CLEAN/UID on a sequence descend
 *    into it; REMOVE skips it (OA_SKIP); EMPTY writes an empty sequence;
 *    DUMMY descends writing dummies.
 *  - UID: 2.25 + 128 bits of HMAC-SHA256(site secret, original); values for
 *    which oa_uid_value_is_well_known() holds are never remapped.
 *  - SHIFT: whole days derived from the original Patient ID; TM values are
 *    unchanged by a whole-day shift, DT values move their date part.
 *  - PSEUDONYM: the job's NewPatientName / NewPatientID or derived ones.
 *  - Markers: (0012,0062) "YES", (0012,0063) and (0012,0064) from
 *    oa_profile_method_codes() and oa_profile_has_deviations(), (0028,0303)
 *    from oa_profile_temporal_marker().
 *  - Instances for which oa_profile_drops_sop_class() holds are skipped.
 *  - Leak check: the original identifying values must not appear in the
 *    output (leak.c, doc/architecture.md).
 */

/* ------------------------------------------------------------------ */
/* The engine: a handler between the reader and the writer             */

/*
 * What the caller says about the patient of an instance.  Empty or NULL
 * names and IDs are generated from the HMAC of the original Patient ID, so
 * one patient keeps one pseudonym across runs and servers.
 */
typedef struct oa_anon_identity {
    const char *new_patient_name;
    const char *new_patient_id;
    const char *new_study_description; /* NULL: per the profile */
} oa_anon_identity;

/* Fixed-size copies of identifying values, for reports (never logged). */
#define OA_ANON_VALUE_MAX 129
typedef struct oa_anon_values {
    char patient_name[OA_ANON_VALUE_MAX];
    char patient_id[OA_ANON_VALUE_MAX];
    char study_uid[OA_ANON_VALUE_MAX];
    char series_uid[OA_ANON_VALUE_MAX];
    char sop_uid[OA_ANON_VALUE_MAX];
    char study_date[OA_ANON_VALUE_MAX];
    char study_description[OA_ANON_VALUE_MAX];
} oa_anon_values;

/* What happened to the pixels of an instance (BurnedInText). */
#define OA_ANON_PIXEL_BOXES 16
typedef struct oa_anon_pixel_box {
    uint32_t x, y, w, h;
    bool keep;               /* kept (an ultrasound region), not blanked */
    char label[48];          /* the rule ("deid: ...", "user: ...", "OCR") */
} oa_anon_pixel_box;

typedef struct oa_anon_pixels {
    /* KEEP: no risk found in the header (or BurnedInText "keep"), the
     * pixels passed byte for byte; CLEANED: the boxes were blanked;
     * REFUSE / NEEDS_DECODING: the instance failed (see the error). */
    oa_pixels_verdict verdict;
    unsigned risks;          /* OA_PIXELS_RISK_* found by the triage */
    /* the mask's operations in order: blanked rectangles, and kept ones
     * (ultrasound regions) un-blanked after them; the first are listed */
    size_t n_boxes;
    oa_anon_pixel_box boxes[OA_ANON_PIXEL_BOXES];
    unsigned ocr_frames;     /* frames read by OCR */
    unsigned ocr_words;      /* OCR word boxes blanked */
} oa_anon_pixels;

#define OA_ANON_WARNINGS 8
#define OA_ANON_WARNING_MAX 160
/* A UID the engine mapped (an original value and its new one), for the
 * mapping files of a report (uids.csv). */
#define OA_ANON_MAX_UID_PAIRS 16384  /* per instance; past it: truncated */
typedef struct oa_anon_uid_pair {
    char old_uid[OA_ANON_VALUE_MAX];
    char new_uid[OA_ANON_VALUE_MAX];
} oa_anon_uid_pair;

typedef struct oa_anon_result {
    bool dropped;            /* SC/SR/encapsulated document dropped */
    oa_anon_pixels pixels;   /* Clean Pixel Data */
    const uint8_t *data;     /* the output; borrowed until the next run */
    size_t len;
    oa_anon_values original;
    oa_anon_values anonymized;
    unsigned defects;        /* reader defects repaired in the input */
    /* Decisions of the leak check that let a value pass (equipment
     * identity kept by the profile, placeholder words, kept dates: see
     * leak.c), as sentences naming tags, never values: n_warnings counts
     * them all, the first OA_ANON_WARNINGS are in warnings[]. */
    unsigned n_warnings;
    char warnings[OA_ANON_WARNINGS][OA_ANON_WARNING_MAX];
    /* every UID mapped in the output (any depth, the meta's too), each
     * original once; well-known UIDs (never mapped) are not listed.
     * Borrowed until the next run.  `uid_pairs_truncated`: more than
     * OA_ANON_MAX_UID_PAIRS, or an original longer than a pair holds;
     * the list then misses some (the output does not). */
    const oa_anon_uid_pair *uid_pairs;
    size_t n_uid_pairs;
    bool uid_pairs_truncated;
} oa_anon_result;

typedef struct oa_anonymizer oa_anonymizer;

/* Longest site secret the engine takes (bytes): the one limit, which the
 * configuration and the secret kept in the store are checked against. */
#define OA_ANON_MAX_SECRET 256

typedef struct oa_anonymizer_opts {
    const uint8_t *secret;   /* site secret for the HMAC; required */
    size_t secret_len;
    const char *uid_root;    /* "2.25" (default): root of new UIDs */
    oa_reader_opts reader;
    size_t max_output;       /* writer ceiling; 0 = 4 GiB - 1 */
    /* Text detection for burned-in text (oa_ocr_hook_init in
     * Plugin/pixels/pixels.h makes one per thread); NULL: risky images that no rule covers are refused.
     * Borrowed; must outlive the engine. */
    const oa_pixels_ocr *ocr;
    /* Work budget of one instance, in steps (about one per byte that the
     * leak check and Clean scan, one per match; see engine_int.h): past
     * it the instance fails with OA_ELIMIT naming the tag and offset.
     * work_budget: a fixed number of steps; 0: OA_ANON_WORK_FLOOR +
     * work_per_byte x the instance's size, work_per_byte 0 meaning
     * OA_ANON_WORK_PER_BYTE (configuration "WorkBudget"). */
    uint64_t work_budget;
    unsigned work_per_byte;
    /* Polled every few milliseconds of work (may be NULL): nonzero stops
     * the instance with OA_ECANCELLED.  Called from the engine's thread. */
    int (*cancelled)(void *user);
    void *cancel_user;
} oa_anonymizer_opts;

/* The default budget: 64 Mi steps (a fraction of a second on one core)
 * plus 16 steps per byte of the instance, so that it stays linear in the
 * instance's size: real instances use 1 to 2 steps a byte; only a crafted
 * one (values that match at every byte) reaches it. */
#define OA_ANON_WORK_FLOOR ((uint64_t)64 << 20)
#define OA_ANON_WORK_PER_BYTE 16u
#define OA_ANON_MAX_WORK_PER_BYTE 1000000u

/*
 * Create an engine for one thread.  `profile` is borrowed and must outlive
 * the engine (profiles are immutable and may be shared between engines).
 * Caller frees with oa_anonymizer_free().
 */
oa_status oa_anonymizer_new(oa_anonymizer **out, const oa_profile *profile,
                            const oa_anonymizer_opts *opts, oa_error *err);
void oa_anonymizer_free(oa_anonymizer *a);

/* True if `value` is made only of placeholder words ("unknown",
 * "Unbekannt", "n/a", ...: Resources/Reference/leak_check.tsv), which the
 * leak check never takes for identity. */
bool oa_anon_is_placeholder(const char *value);

/*
 * Anonymize one instance (`len` bytes of a Part 10 file or bare dataset).
 * On success `res` holds the output (borrowed from the engine) or
 * `dropped`.  The leak check runs on every output: OA_ELEAK, with the tag
 * where an original identifying value was found (never the value), fails
 * the instance instead of returning it.  Pixels (BurnedInText): a risky
 * image that cannot be cleaned fails with OA_ELEAK naming what was missing
 * (res->pixels.verdict REFUSE); one compressed in a syntax the engine does
 * not decode fails with OA_EUNSUPPORTED (verdict NEEDS_DECODING): the
 * plugin then decodes it to Explicit VR Little Endian and runs again.
 */
oa_status oa_anonymizer_run(oa_anonymizer *a, const oa_anon_identity *id,
                            const uint8_t *in, size_t len,
                            oa_anon_result *res, oa_error *err);

/*
 * The keyed mappings, exposed for reports and tests.  `out` receives a
 * NUL-terminated string; return 0 on success.
 */
int oa_anon_map_uid(const oa_anonymizer *a, const char *uid, size_t len,
                    char *out, size_t out_size);
void oa_anon_pseudonym(const oa_anonymizer *a, const char *patient_id,
                       size_t len, char name[65], char id[65]);
/* TCIA's "h" of a text value: 16 upper-case hex digits of
 * HMAC-SHA256(secret, "hash:" + the value without its padding). */
void oa_anon_hash_value(const oa_anonymizer *a, const void *value,
                        size_t len, char out[17]);
/* The whole-day date offset of a patient (negative). */
int oa_anon_date_offset(const oa_anonymizer *a, const char *patient_id,
                        size_t len);

#ifdef __cplusplus
}
#endif
#endif /* OA_ANONYMIZER_H */
