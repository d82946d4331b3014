/*
 * pixels/rules.c: the device rules generated from pydicom/deid's recipes
 * (rules_table.inc, MIT licence, see its header), their matcher, and the
 * user rules of a profile.
 *
 * Semantics (Resources/Scripts/GeneratePixelRules.py has the details):
 * a rule is lines of terms; inside a line the terms combine left to
 * right with their operator, then the lines combine left to right with
 * their leading operator (deid's evaluate_group, twice).  contains is a
 * case-insensitive search of deid's tiny regular expressions (literals,
 * `|`, postfix `+`) in the trimmed value; equals a case-insensitive
 * comparison of the trimmed value; missing / present / empty test the
 * attribute's presence and emptiness.
 */
#include "pixels_int.h"

#include <cjson/cJSON.h>

#include <string.h>

#include "rules_table.inc"


const uint32_t *oa_px_rule_tags(size_t *n)
{
    *n = sizeof oa_pixels_rule_tags / sizeof oa_pixels_rule_tags[0];
    return oa_pixels_rule_tags;
}

const oa_pixels_rule *oa_px_rules(size_t *n)
{
    *n = sizeof oa_pixels_rules / sizeof oa_pixels_rules[0];
    return oa_pixels_rules;
}

const oa_pixels_rule_op *oa_px_rule_ops(void)
{
    return oa_pixels_rule_ops;
}

size_t oa_pixels_rule_count(void)
{
    return sizeof oa_pixels_rules / sizeof oa_pixels_rules[0];
}

const oa_pixels_rule_info *oa_pixels_rule_get(size_t i)
{
    if (i >= oa_pixels_rule_count())
        return NULL;
    return &oa_pixels_rules[i].info;
}

size_t oa_pixels_rules_untranslated(void)
{
    return OA_PIXELS_GEN_UNTRANSLATED;
}

/* ------------------------------------------------------------------ */
/* The tiny regular expressions                                         */

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* Match the pattern [p, pe) at s[0..len): literals with postfix `+`. */
static bool match_here(const char *p, const char *pe, const char *s,
                       size_t len, unsigned budget)
{
    while (p < pe) {
        int c = lower((unsigned char)*p);
        bool plus = p + 1 < pe && p[1] == '+';
        if (len == 0 || lower((unsigned char)*s) != c)
            return false;
        s++;
        len--;
        if (plus) {
            /* one matched; try every longer run, longest first is not
             * needed: the rest decides. */
            const char *rest = p + 2;
            size_t k = 0;
            while (k < len && lower((unsigned char)s[k]) == c)
                k++;
            if (budget == 0)
                return false;
            for (size_t take = 0; take <= k; take++)
                if (match_here(rest, pe, s + take, len - take, budget - 1))
                    return true;
            return false;
        }
        p++;
    }
    return true;
}

bool oa_px_regex_search(const char *re, const char *s, size_t len)
{
    const char *alt = re;

    for (;;) {
        const char *end = strchr(alt, '|');
        if (end == NULL)
            end = alt + strlen(alt);
        for (size_t i = 0; i <= len; i++)
            if (match_here(alt, end, s + i, len - i, 8))
                return true;
        if (*end == '\0')
            return false;
        alt = end + 1;
    }
}

/* ------------------------------------------------------------------ */
/* Matcher                                                              */

static void trimmed(const oa_pixels_attrs *a, const oa_px_value *v,
                    const char **s, size_t *len)
{
    const char *p = oa_px_str(a, v);
    size_t b = 0, n = v->len;

    while (b < n && (p[b] == ' ' || p[b] == '\0'))
        b++;
    while (n > b && (p[n - 1] == ' ' || p[n - 1] == '\0'))
        n--;
    *s = p + b;
    *len = n - b;
}

static bool eval_term(const oa_pixels_term *t, const oa_pixels_attrs *a)
{
    const oa_px_value *v = oa_px_find(a, t->tag);
    const char *s = NULL;
    size_t len = 0, vl;
    bool r;

    if (v != NULL)
        trimmed(a, v, &s, &len);
    switch (t->pred) {
    case OA_PX_MISSING:
        return v == NULL;
    case OA_PX_PRESENT:
        return v != NULL;
    case OA_PX_EMPTY:
        return v != NULL && len == 0 && v->borrowed_len == 0;
    case OA_PX_CONTAINS:
    case OA_PX_NOTCONTAINS:
        r = v != NULL && oa_px_regex_search(t->value, s, len);
        return t->pred == OA_PX_CONTAINS ? r : !r;
    case OA_PX_EQUALS:
    case OA_PX_NOTEQUALS:
        vl = strlen(t->value);
        r = v != NULL && vl == len;
        for (size_t i = 0; r && i < len; i++)
            r = lower((unsigned char)s[i]) == lower((unsigned char)t->value[i]);
        return t->pred == OA_PX_EQUALS ? r : !r;
    default:
        return false;
    }
}

static bool combine(bool acc, bool first, uint8_t op, bool x)
{
    if (first)
        return x;
    return op == OA_PX_OR ? (acc || x) : (acc && x);
}

bool oa_px_rule_matches(const oa_pixels_rule *r, const oa_pixels_attrs *a,
                        oa_px_memo *memo)
{
    /* deid: a rule with coordinates and no filter always matches. */
    if (r->n_terms == 0)
        return r->n_ops > 0;
    return oa_px_terms_match(oa_pixels_terms + r->term_first, r->n_terms, a,
                             memo);
}

_Static_assert(OA_PIXELS_GEN_UNIQUE_TERMS <= sizeof(((oa_px_memo *)0)->state),
               "oa_px_memo too small for the generated table");

static bool eval_memo(const oa_pixels_term *t, const oa_pixels_attrs *a,
                      oa_px_memo *memo)
{
    bool v;

    if (memo == NULL || t->uid >= sizeof memo->state)
        return eval_term(t, a);
    if (memo->state[t->uid] != 0)
        return memo->state[t->uid] == 2;
    v = eval_term(t, a);
    memo->state[t->uid] = v ? 2 : 1;
    return v;
}

bool oa_px_terms_match(const oa_pixels_term *t, size_t n,
                       const oa_pixels_attrs *a, oa_px_memo *memo)
{
    bool result = false, line = false;
    bool first_line = true;
    uint8_t line_op = OA_PX_AND;

    /* Left to right; a term whose value cannot change the outcome of its
     * line (false and ..., true or ...) is not evaluated, nor a line that
     * cannot change the rule's. */
    for (size_t i = 0; i < n; i++) {
        if (t[i].line_start) {
            if (i > 0) {
                result = combine(result, first_line, line_op, line);
                first_line = false;
            }
            line_op = t[i].op;
            if (!first_line && ((line_op == OA_PX_OR && result) ||
                                (line_op != OA_PX_OR && !result))) {
                /* skip this whole line: it cannot change `result` */
                line = result;
                line_op = OA_PX_AND;
                while (i + 1 < n && !t[i + 1].line_start)
                    i++;
                continue;
            }
            line = eval_memo(&t[i], a, memo);
        } else if ((t[i].op == OA_PX_OR) != line) {
            /* OR after false, AND after true: the term decides */
            line = eval_memo(&t[i], a, memo);
        }
    }
    return combine(result, first_line, line_op, line);
}

/* ------------------------------------------------------------------ */
/* User rules                                                           */

static bool contains_ci(const char *hay, size_t len, const char *needle)
{
    size_t n = strlen(needle);

    if (n == 0)
        return true;
    for (size_t i = 0; i + n <= len; i++) {
        size_t k = 0;
        while (k < n && lower((unsigned char)hay[i + k]) ==
                            lower((unsigned char)needle[k]))
            k++;
        if (k == n)
            return true;
    }
    return false;
}

static bool field_contains(const oa_pixels_attrs *a, uint32_t tag,
                           const char *needle)
{
    const oa_px_value *v;
    const char *s;
    size_t len;

    if (needle == NULL)
        return true;
    v = oa_px_find(a, tag);
    if (v == NULL)
        return false;
    trimmed(a, v, &s, &len);
    return contains_ci(s, len, needle);
}

bool oa_px_user_rule_matches(const oa_pixels_user_rule *r,
                             const oa_pixels_attrs *a)
{
    if (!field_contains(a, OA_TAG(0x0008, 0x0070), r->manufacturer) ||
        !field_contains(a, OA_TAG(0x0008, 0x1090), r->model))
        return false;
    if (r->rows != 0 && oa_px_uint(a, OA_TAG(0x0028, 0x0010), 0) != r->rows)
        return false;
    if (r->columns != 0 &&
        oa_px_uint(a, OA_TAG(0x0028, 0x0011), 0) != r->columns)
        return false;
    return true;
}

void oa_pixels_user_rule_dispose(oa_pixels_user_rule *r)
{
    if (r == NULL)
        return;
    oa_free(r->label);
    oa_free(r->manufacturer);
    oa_free(r->model);
    oa_free(r->rects);
    memset(r, 0, sizeof *r);
}

static oa_status get_string(const cJSON *json, const char *name, char **out,
                            oa_error *err)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(json, name);

    *out = NULL;
    if (m == NULL || cJSON_IsNull(m))
        return OA_OK;
    if (!cJSON_IsString(m) || m->valuestring == NULL ||
        m->valuestring[0] == '\0' || strlen(m->valuestring) > 256)
        return oa_error_set(err, OA_EINVAL,
                            "pixel rule: \"%s\" must be a non-empty string "
                            "of at most 256 bytes", name);
    *out = oa_strdup(m->valuestring);
    if (*out == NULL)
        return oa_error_set(err, OA_ENOMEM, "pixel rule: out of memory");
    return OA_OK;
}

static int get_u16(const cJSON *m, uint32_t *out)
{
    if (!cJSON_IsNumber(m) || m->valuedouble < 0 || m->valuedouble > 65535 ||
        m->valuedouble != (double)(int)m->valuedouble)
        return -1;
    *out = (uint32_t)m->valuedouble;
    return 0;
}

oa_status oa_pixels_user_rule_parse(const cJSON *json,
                                    oa_pixels_user_rule *out, oa_error *err)
{
    const cJSON *m, *rect;
    oa_status rc;
    size_t n, i = 0;
    static const char *const known[] = {"Manufacturer", "Model", "Rows",
                                        "Columns", "Rectangles", "Label"};

    memset(out, 0, sizeof *out);
    if (!cJSON_IsObject(json))
        return oa_error_set(err, OA_EINVAL, "pixel rule: not a JSON object");
    cJSON_ArrayForEach(m, json) {
        bool ok = false;
        for (size_t k = 0; k < sizeof known / sizeof known[0]; k++)
            ok = ok || (m->string != NULL && strcmp(m->string, known[k]) == 0);
        if (!ok)
            return oa_error_set(err, OA_EINVAL,
                                "pixel rule: unknown member (expected "
                                "Manufacturer, Model, Rows, Columns, "
                                "Rectangles, Label)");
    }
    if ((rc = get_string(json, "Manufacturer", &out->manufacturer, err)) ||
        (rc = get_string(json, "Model", &out->model, err)) ||
        (rc = get_string(json, "Label", &out->label, err)))
        goto fail;
    if (out->manufacturer == NULL && out->model == NULL) {
        rc = oa_error_set(err, OA_EINVAL,
                          "pixel rule: \"Manufacturer\" or \"Model\" is "
                          "required");
        goto fail;
    }
    m = cJSON_GetObjectItemCaseSensitive(json, "Rows");
    if (m != NULL && get_u16(m, &out->rows) != 0) {
        rc = oa_error_set(err, OA_EINVAL,
                          "pixel rule: \"Rows\" must be an integer 0..65535");
        goto fail;
    }
    m = cJSON_GetObjectItemCaseSensitive(json, "Columns");
    if (m != NULL && get_u16(m, &out->columns) != 0) {
        rc = oa_error_set(err, OA_EINVAL,
                          "pixel rule: \"Columns\" must be an integer "
                          "0..65535");
        goto fail;
    }
    m = cJSON_GetObjectItemCaseSensitive(json, "Rectangles");
    n = cJSON_IsArray(m) ? (size_t)cJSON_GetArraySize(m) : 0;
    if (n == 0 || n > OA_PIXELS_USER_MAX_RECTS) {
        rc = oa_error_set(err, OA_EINVAL,
                          "pixel rule: \"Rectangles\" must be an array of "
                          "1 to %u [x, y, w, h]", OA_PIXELS_USER_MAX_RECTS);
        goto fail;
    }
    out->rects = oa_calloc(n, sizeof *out->rects);
    if (out->rects == NULL) {
        rc = oa_error_set(err, OA_ENOMEM, "pixel rule: out of memory");
        goto fail;
    }
    cJSON_ArrayForEach(rect, m) {
        uint32_t v[4];
        bool ok = cJSON_IsArray(rect) && cJSON_GetArraySize(rect) == 4;
        for (int k = 0; ok && k < 4; k++)
            ok = get_u16(cJSON_GetArrayItem(rect, k), &v[k]) == 0;
        if (!ok || v[2] == 0 || v[3] == 0) {
            rc = oa_error_set(err, OA_EINVAL,
                              "pixel rule: rectangle %zu must be [x, y, w, "
                              "h] with integers 0..65535 and w, h > 0", i);
            goto fail;
        }
        out->rects[i].x = v[0];
        out->rects[i].y = v[1];
        out->rects[i].w = v[2];
        out->rects[i].h = v[3];
        i++;
    }
    out->n_rects = n;
    if (out->label == NULL) {
        oa_buf b;
        oa_buf_init(&b, 1024);
        /* Device names are not patient data. */
        if (oa_buf_printf(&b, "user: %s%s%s", out->manufacturer ?
                          out->manufacturer : "", out->manufacturer &&
                          out->model ? " " : "", out->model ? out->model :
                          "") != OA_OK ||
            (out->rows && oa_buf_printf(&b, " %ux%u", (unsigned)out->rows,
                                        (unsigned)out->columns) != OA_OK)) {
            oa_buf_dispose(&b);
            rc = oa_error_set(err, OA_ENOMEM, "pixel rule: out of memory");
            goto fail;
        }
        out->label = oa_strdup(oa_buf_cstr(&b));
        oa_buf_dispose(&b);
        if (out->label == NULL) {
            rc = oa_error_set(err, OA_ENOMEM, "pixel rule: out of memory");
            goto fail;
        }
    }
    return OA_OK;
fail:
    oa_pixels_user_rule_dispose(out);
    return rc;
}
