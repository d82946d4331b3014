/*
 * Clean (C): free text without identity (doc/anonymization.md, "Free
 * text").  What is taken out of a text:
 *  - every needle (needles.c: the person names of the instance, whole and
 *    by component, address fragments, identifiers, phone numbers, ...),
 *    as a whole word in any ASCII case;
 *  - patterns: dates in the usual spellings (removed, shifted with the
 *    patient's offset or kept, as the profile's "Dates" says; a date equal
 *    to an identifying date, the birth date, always removed), ages over 89
 *    ("93-year-old" -> "90+-year-old"), telephone numbers, social
 *    security-like numbers, e-mail addresses, URLs with a path, street
 *    addresses ("4417 Wrenfield Avenue", "P.O. Box 12", "Hauptstrasse 5").
 * The rest of the sentence stays.  An AS value is not text: ages of 90
 * years or more become "090Y", malformed ones are reported
 * (oa_anon__clean_age, AgesOver89).
 *
 * Linear in the text: the needles are found in one pass by the leak
 * check's Aho-Corasick automaton (match.c, with the needles' other
 * spellings and encodings; built once per instance, again only when the
 * rewrite found new needles since; charged to the instance's work budget),
 * the patterns by scanners that look a bounded distance ahead of each word
 * start and jump past what they match; the spans to remove are marked in
 * a difference array, and the output is written in one sweep.  Removing a
 * span may join two pieces into a needle (rare: "ab X cd" with needles X
 * and "ab cd" once spaces are folded): the output is searched again for
 * needles, at most CLEAN_PASSES times; the leak check has the last word.
 */
#include "engine_int.h"

#include <stdio.h>
#include <string.h>

#define CLEAN_PASSES 3
#define MAX_REPL 32          /* bytes of one replacement ("March 14, 2023") */

/* A replacement: the date or age at [start, end) written anew. */
typedef struct repl {
    size_t start, end;
    char text[MAX_REPL];
    uint8_t len;
} repl;

struct oa_clean_state {
    int32_t *diff;           /* removals: +1 at a span's start, -1 after */
    size_t diff_cap;
    repl *repls;
    size_t n_repls, cap_repls;
    oa_buf pass;             /* the output of the previous pass */
};

/* ------------------------------------------------------------------ */
/* Characters                                                           */

static bool is_digit(uint8_t c) { return c >= '0' && c <= '9'; }
static bool is_alpha(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
static bool is_alnum(uint8_t c) { return is_digit(c) || is_alpha(c); }
static bool is_upper(uint8_t c) { return c >= 'A' && c <= 'Z'; }
static bool is_blank(uint8_t c) { return c == ' ' || c == '\t'; }

/* Does the text at p (n bytes left) start with `s`, in any ASCII case? */
static bool starts_with_ci(const uint8_t *p, size_t n, const char *s)
{
    size_t i;

    for (i = 0; s[i] != '\0'; i++)
        if (i >= n || oa_anon__fold(p[i]) != (uint8_t)s[i])
            return false;
    return true;
}

/* Is the word p[0..n) (letters) one of `words`, in any ASCII case? */
static bool word_in(const uint8_t *p, size_t n, const char *const *words,
                    size_t count)
{
    size_t i;

    if (n == 0)
        return false;
    for (i = 0; i < count; i++)
        if (oa_anon__fold(p[0]) == (uint8_t)words[i][0] &&
            strlen(words[i]) == n && starts_with_ci(p, n, words[i]))
            return true;
    return false;
}

/* The digits (letters) from t[i], counted up to max + 1: a result above
 * `max` says the run is longer. */
static size_t digit_run(const uint8_t *t, size_t n, size_t i, size_t max)
{
    size_t k = 0;

    while (i + k < n && k <= max && is_digit(t[i + k]))
        k++;
    return k;
}

static size_t alpha_run(const uint8_t *t, size_t n, size_t i, size_t max)
{
    size_t k = 0;

    while (i + k < n && k <= max && is_alpha(t[i + k]))
        k++;
    return k;
}

static unsigned num(const uint8_t *p, size_t n)
{
    unsigned v = 0;
    size_t i;

    for (i = 0; i < n; i++)
        v = v * 10 + (unsigned)(p[i] - '0');
    return v;
}

/* ------------------------------------------------------------------ */
/* Needles                                                              */

typedef struct marks {
    const oa_anonymizer *a;
    int32_t *diff;
    size_t found;
} marks;

static oa_status on_hit(void *user, const oa_match_hit *hit)
{
    marks *m = user;

    /* a placeholder ("Unknown", "Anonymous") identifies no one: the text
     * keeps it, as the leak check does */
    if (hit->id < m->a->n_needles && m->a->needles[hit->id].placeholder)
        return OA_OK;
    if (hit->word_start && hit->word_end) {
        m->diff[hit->start]++;
        m->diff[hit->start + hit->len]--;
        m->found++;
    }
    return OA_OK;
}

/* Mark in diff[] every needle in t[0..n) that is a whole word (bytes
 * above 0x7F end a word: Clean removes at least what the leak check
 * finds, which uses the same automaton with its spellings); the number of
 * spans marked in *found. */
static oa_status mark_needles(oa_anonymizer *a, const uint8_t *t, size_t n,
                              int32_t *diff, size_t *found)
{
    const oa_match *m;
    marks mk = {a, diff, 0};
    oa_status rc;

    *found = 0;
    if (a->n_needles == 0)
        return OA_OK;
    rc = oa_anon__needle_matcher(a, true, &m);
    if (rc == OA_OK)
        rc = oa_match_scan(m, t, n,
                           OA_MATCH_ASCII_WORDS | OA_MATCH_WHOLE_WORDS,
                           &a->work, on_hit, &mk);
    *found = mk.found;
    return rc;
}

/* ------------------------------------------------------------------ */
/* Dates                                                                */

static const char *const month_names[12] = {
    "january", "february", "march", "april", "may", "june", "july",
    "august", "september", "october", "november", "december"};


static unsigned days_in_month(unsigned y, unsigned m)
{
    static const unsigned dm[12] = {31, 28, 31, 30, 31, 30,
                                    31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 && (leap || y == 0) ? 29 : dm[m - 1];
}

/* y 0: unknown year; d 0: unknown day. */
static bool valid_date(unsigned y, unsigned m, unsigned d)
{
    return (y == 0 || (y >= 1800 && y <= 2199)) && m >= 1 && m <= 12 &&
           d <= days_in_month(y, m) && (d >= 1 || y != 0);
}

/* A field of a date as written: where, how wide, in which style. */
typedef struct dfield {
    size_t pos, len;         /* in the span */
    uint8_t style;           /* month: 0 number, 1 abbreviation, 2 full;
                                case 0x10 UPPER, 0x20 Capitalized */
    size_t ord;              /* day: length of "st", "nd", "rd", "th" */
} dfield;

typedef struct dmatch {
    size_t end;              /* span [start, end) */
    unsigned y, m, d;        /* y or d 0 when the text has none */
    dfield fy, fm, fd;       /* fy.len 0 when no year, fd.len 0 no day */
} dmatch;

/* A month name at t[i] ("March", "Mar", "MAR.", "Sept"): its number (0
 * if none), its length with a '.' and its style (dfield). */
static unsigned month_at(const uint8_t *t, size_t n, size_t i, size_t *len,
                         uint8_t *style)
{
    static const uint8_t month_len[12] = {7, 8, 5, 5, 3, 4,
                                          4, 6, 9, 7, 8, 8};
    size_t w;
    unsigned m;

    if (i >= n || strchr("jfmasondJFMASOND", t[i]) == NULL)
        return 0;
    w = alpha_run(t, n, i, 10);
    if (w < 3 || w > 9 || (i + w < n && is_digit(t[i + w])))
        return 0;
    for (m = 0; m < 12; m++) {
        const char *name = month_names[m];
        bool full = w == month_len[m] && starts_with_ci(t + i, w, name);
        bool abbr = (w == 3 && oa_anon__fold(t[i]) == (uint8_t)name[0] &&
                     oa_anon__fold(t[i + 1]) == (uint8_t)name[1] &&
                     oa_anon__fold(t[i + 2]) == (uint8_t)name[2]) ||
                    (m == 8 && w == 4 && starts_with_ci(t + i, 4, "sept"));

        if (!full && !abbr)
            continue;
        *style = full ? 2 : 1;
        if (is_upper(t[i]) && is_upper(t[i + 1]))
            *style |= 0x10;
        else if (is_upper(t[i]))
            *style |= 0x20;
        *len = w;
        if (!full && i + w < n && t[i + w] == '.')
            *len = w + 1;
        return m + 1;
    }
    return 0;
}

/* "st", "nd", "rd", "th" after a day number. */
static size_t ordinal_at(const uint8_t *t, size_t n, size_t i)
{
    if (i + 2 <= n && (starts_with_ci(t + i, 2, "st") ||
                       starts_with_ci(t + i, 2, "nd") ||
                       starts_with_ci(t + i, 2, "rd") ||
                       starts_with_ci(t + i, 2, "th")) &&
        (i + 2 == n || !is_alnum(t[i + 2])))
        return 2;
    return 0;
}

static bool ends_token(const uint8_t *t, size_t n, size_t i)
{
    return i >= n || !is_alnum(t[i]);
}

static unsigned full_year(unsigned y, size_t width)
{
    return width == 2 ? (y < 50 ? 2000 + y : 1900 + y) : y;
}

/* Spaces (at least one, at most 3) from i; their count or 0. */
static size_t spaces(const uint8_t *t, size_t n, size_t i)
{
    size_t k = 0;

    while (i + k < n && k < 3 && is_blank(t[i + k]))
        k++;
    return k;
}

/* A year after a month name or a day: [","] spaces 4 digits. */
static size_t year_after(const uint8_t *t, size_t n, size_t i, dmatch *dm,
                         size_t start)
{
    size_t j = i, sp, w;

    if (j < n && t[j] == ',')
        j++;
    sp = spaces(t, n, j);
    if (sp == 0)
        return 0;
    j += sp;
    w = digit_run(t, n, j, 4);
    if (w != 4 || !ends_token(t, n, j + 4))
        return 0;
    dm->y = num(t + j, 4);
    dm->fy.pos = j - start;
    dm->fy.len = 4;
    return j + 4;
}

/* A date starting at the word start t[i]; its span in dm. */
static bool match_date(const uint8_t *t, size_t n, size_t i, dmatch *dm)
{
    size_t w1 = digit_run(t, n, i, 8), j;

    memset(dm, 0, sizeof(*dm));
    if (w1 == 8 && ends_token(t, n, i + 8)) {
        /* 20230314 */
        dm->y = num(t + i, 4);
        dm->m = num(t + i + 4, 2);
        dm->d = num(t + i + 6, 2);
        dm->fy = (dfield){0, 4, 0, 0};
        dm->fm = (dfield){4, 2, 0, 0};
        dm->fd = (dfield){6, 2, 0, 0};
        dm->end = i + 8;
        return dm->d >= 1 && valid_date(dm->y, dm->m, dm->d);
    }
    if (w1 == 4 && i + 4 < n &&
        (t[i + 4] == '-' || t[i + 4] == '/' || t[i + 4] == '.')) {
        /* 2023-03-14, 2023/3/14, 2023.03.14 (and 2023-03-14T10:00) */
        uint8_t sep = t[i + 4];
        size_t w2 = digit_run(t, n, i + 5, 2), w3;

        if (w2 < 1 || w2 > 2 || i + 5 + w2 >= n || t[i + 5 + w2] != sep)
            return false;
        j = i + 6 + w2;
        w3 = digit_run(t, n, j, 2);
        if (w3 < 1 || w3 > 2 ||
            !(ends_token(t, n, j + w3) ||
              (t[j + w3] == 'T' && j + w3 + 1 < n &&
               is_digit(t[j + w3 + 1]))))
            return false;
        if (sep == '.' && j + w3 + 1 < n && t[j + w3] == '.' &&
            is_digit(t[j + w3 + 1]))
            return false; /* a version number */
        dm->y = num(t + i, 4);
        dm->m = num(t + i + 5, w2);
        dm->d = num(t + j, w3);
        dm->fy = (dfield){0, 4, 0, 0};
        dm->fm = (dfield){5, w2, 0, 0};
        dm->fd = (dfield){j - i, w3, 0, 0};
        dm->end = j + w3;
        return dm->d >= 1 && valid_date(dm->y, dm->m, dm->d);
    }
    if (w1 >= 1 && w1 <= 2 && i + w1 < n &&
        (t[i + w1] == '/' || t[i + w1] == '.' || t[i + w1] == '-')) {
        uint8_t sep = t[i + w1];
        size_t w2 = digit_run(t, n, i + w1 + 1, 2), w3, mlen;
        uint8_t style;
        unsigned a1 = num(t + i, w1), m;

        j = i + w1 + 1;
        if (w2 >= 1 && w2 <= 2 && j + w2 < n && t[j + w2] == sep) {
            /* 03/14/2023, 14.03.2023, 14-03-23 */
            unsigned a2 = num(t + j, w2);
            size_t k = j + w2 + 1;

            w3 = digit_run(t, n, k, 4);
            if ((w3 != 4 && w3 != 2) || !ends_token(t, n, k + w3))
                return false;
            if (sep == '.' && k + w3 + 1 < n && t[k + w3] == '.' &&
                is_digit(t[k + w3 + 1]))
                return false;
            dm->y = full_year(num(t + k, w3), w3);
            dm->fy = (dfield){k - i, w3, 0, 0};
            /* day first unless '/' (US) or the first cannot be a day */
            if ((sep == '/' && a1 <= 12) || a2 > 12) {
                dm->m = a1;
                dm->d = a2;
                dm->fm = (dfield){0, w1, 0, 0};
                dm->fd = (dfield){j - i, w2, 0, 0};
            } else {
                dm->d = a1;
                dm->m = a2;
                dm->fd = (dfield){0, w1, 0, 0};
                dm->fm = (dfield){j - i, w2, 0, 0};
            }
            dm->end = k + w3;
            return dm->d >= 1 && valid_date(dm->y, dm->m, dm->d);
        }
        m = month_at(t, n, j, &mlen, &style);
        if (m != 0 && j + mlen < n && t[j + mlen] == sep) {
            /* 14-Mar-2023, 14-MAR-23 */
            size_t k = j + mlen + 1;

            w3 = digit_run(t, n, k, 4);
            if ((w3 != 4 && w3 != 2) || !ends_token(t, n, k + w3))
                return false;
            dm->d = a1;
            dm->m = m;
            dm->y = full_year(num(t + k, w3), w3);
            dm->fd = (dfield){0, w1, 0, 0};
            dm->fm = (dfield){j - i, mlen, style, 0};
            dm->fy = (dfield){k - i, w3, 0, 0};
            dm->end = k + w3;
            return dm->d >= 1 && valid_date(dm->y, dm->m, dm->d);
        }
        return false;
    }
    if (w1 >= 1 && w1 <= 2) {
        /* 14 Mar 2023, 14th March 2023, 14 March */
        size_t ord = ordinal_at(t, n, i + w1), sp, mlen, e;
        uint8_t style;
        unsigned m;

        if (ord == 0 && !ends_token(t, n, i + w1))
            return false;
        j = i + w1 + ord;
        sp = spaces(t, n, j);
        if (sp == 0)
            return false;
        j += sp;
        if (starts_with_ci(t + j, n - j, "of ")) {
            j += 3;
        }
        m = month_at(t, n, j, &mlen, &style);
        if (m == 0)
            return false;
        dm->d = num(t + i, w1);
        dm->m = m;
        dm->fd = (dfield){0, w1, 0, ord};
        dm->fm = (dfield){j - i, mlen, style, 0};
        e = year_after(t, n, j + mlen, dm, i);
        if (e == 0) {
            if (!(style & 0x30))
                return false; /* "5 may": a word, not a date */
            e = j + mlen;
        }
        dm->end = e;
        return dm->d >= 1 && valid_date(dm->y, dm->m, dm->d);
    }
    if (w1 == 0 && is_alpha(t[i])) {
        /* March 14, 2023; Mar 14 2023; March 14th; March 2023 */
        size_t mlen, sp, wd, e, ord;
        uint8_t style;
        unsigned m = month_at(t, n, i, &mlen, &style);

        if (m == 0)
            return false;
        j = i + mlen;
        sp = spaces(t, n, j);
        if (sp == 0)
            return false;
        wd = digit_run(t, n, j + sp, 4);
        dm->m = m;
        dm->fm = (dfield){0, mlen, style, 0};
        if (wd == 4 && ends_token(t, n, j + sp + 4)) {
            /* month and year */
            dm->y = num(t + j + sp, 4);
            dm->fy = (dfield){j + sp - i, 4, 0, 0};
            dm->end = j + sp + 4;
            return valid_date(dm->y, dm->m, 0);
        }
        if (wd < 1 || wd > 2)
            return false;
        ord = ordinal_at(t, n, j + sp + wd);
        if (ord == 0 && !ends_token(t, n, j + sp + wd))
            return false;
        dm->d = num(t + j + sp, wd);
        dm->fd = (dfield){j + sp - i, wd, 0, ord};
        e = year_after(t, n, j + sp + wd + ord, dm, i);
        if (e == 0) {
            if (!(style & 0x30))
                return false; /* "may 5": a word, not a date */
            e = j + sp + wd + ord;
        }
        dm->end = e;
        return dm->d >= 1 && valid_date(dm->y, dm->m, dm->d);
    }
    return false;
}

void oa_anon__find_dates(const uint8_t *text, size_t n, oa_anon_date_fn fn,
                         void *user)
{
    size_t i = 0;
    dmatch dm;

    while (i < n) {
        if (is_alnum(text[i]) && (i == 0 || !is_alnum(text[i - 1])) &&
            match_date(text, n, i, &dm)) {
            fn(user, i, dm.end, dm.y * 10000 + dm.m * 100 + dm.d);
            i = dm.end;
        } else {
            i++;
        }
    }
}

/* Write the date of `dm` (the span t[start..dm->end)) shifted by `offset`
 * days into r, in the spelling of the original.  False if it does not
 * fit. */
static bool shift_date(const uint8_t *t, size_t start, const dmatch *dm,
                       int offset, repl *r)
{
    long y;
    unsigned m, d;
    size_t len = dm->end - start, i = 0, o = 0;
    const dfield *fields[3] = {&dm->fy, &dm->fm, &dm->fd};

    oa_anon__civil_from_days(
        oa_anon__days_from_civil(dm->y, dm->m, dm->d) + offset, &y, &m, &d);
    if (y < 1000 || y > 9999)
        return false;
    while (i < len) {
        const dfield *f = NULL;
        char buf[16];
        int k;

        for (k = 0; k < 3; k++)
            if (fields[k]->len > 0 && fields[k]->pos == i)
                f = fields[k];
        if (f == NULL) {
            if (o + 1 >= MAX_REPL)
                return false;
            r->text[o++] = (char)t[start + i++];
            continue;
        }
        if (f == &dm->fy) {
            snprintf(buf, sizeof(buf), f->len == 2 ? "%02ld" : "%04ld",
                     f->len == 2 ? y % 100 : y);
        } else if (f == &dm->fm && (f->style & 0x0F) != 0) {
            const char *name = month_names[m - 1];
            size_t w = (f->style & 0x0F) == 2 ? strlen(name) : 3, c;

            for (c = 0; c < w; c++) {
                char ch = name[c];
                if ((f->style & 0x10) || ((f->style & 0x20) && c == 0))
                    ch = (char)(ch - 'a' + 'A');
                buf[c] = ch;
            }
            if ((f->style & 0x0F) == 1 && f->len > 3 &&
                t[start + f->pos + f->len - 1] == '.')
                buf[c++] = '.';
            buf[c] = '\0';
        } else {
            unsigned v = f == &dm->fm ? m : d;
            const char *suffix = "";

            if (f->ord > 0) {
                suffix = (v % 10 == 1 && v != 11)   ? "st"
                         : (v % 10 == 2 && v != 12) ? "nd"
                         : (v % 10 == 3 && v != 13) ? "rd"
                                                    : "th";
                if (is_upper(t[start + f->pos + f->len]))
                    suffix = suffix[0] == 's'   ? "ST"
                             : suffix[0] == 'n' ? "ND"
                             : suffix[0] == 'r' ? "RD"
                                                : "TH";
            }
            snprintf(buf, sizeof(buf), f->len == 2 ? "%02u%s" : "%u%s", v,
                     suffix);
        }
        if (o + strlen(buf) >= MAX_REPL)
            return false;
        memcpy(r->text + o, buf, strlen(buf));
        o += strlen(buf);
        i += f->len + f->ord;
    }
    r->len = (uint8_t)o;
    return true;
}

/* ------------------------------------------------------------------ */
/* Other patterns (each looks a bounded distance ahead of t[i])         */

/* An age over 89 at the word start t[i] ("93-year-old", "93 yo", "93 y/o",
 * "93yrs", "aged 93", "age: 93"): the span of its number. */
static bool match_age(const uint8_t *t, size_t n, size_t i, size_t *ds,
                      size_t *de)
{
    static const char *const units[] = {"y", "yo", "yr", "yrs", "year",
                                        "years", "yoa"};
    size_t w, j, u;

    if (is_alpha(t[i])) {
        size_t k = alpha_run(t, n, i, 5);

        if (!((k == 3 && starts_with_ci(t + i, 3, "age")) ||
              (k == 4 && starts_with_ci(t + i, 4, "aged"))))
            return false;
        j = i + k;
        while (j < n && j < i + k + 4 && (is_blank(t[j]) || t[j] == ':' ||
                                          t[j] == '='))
            j++;
        if (starts_with_ci(t + j, n - j, "of "))
            j += 3;
        w = digit_run(t, n, j, 3);
        if (w < 2 || w > 3 || !ends_token(t, n, j + w) ||
            num(t + j, w) < 90)
            return false;
        *ds = j;
        *de = j + w;
        return true;
    }
    w = digit_run(t, n, i, 3);
    if (w < 2 || w > 3 || num(t + i, w) < 90)
        return false;
    j = i + w;
    if (j < n && (t[j] == '-' || is_blank(t[j])))
        j++;
    u = alpha_run(t, n, j, 6);
    if (u == 0 || !word_in(t + j, u, units, sizeof(units) / sizeof(units[0])))
        return false;
    if (j + u < n && t[j + u] == '/' && !(u == 1 && j + u + 1 < n &&
                                          oa_anon__fold(t[j + u + 1]) == 'o'))
        return false;
    *ds = i;
    *de = i + w;
    return true;
}

/* digits groups separated by single separators: how a phone is written */
typedef struct groups {
    size_t end;
    unsigned n, digits, parens, len[8];
    uint8_t seps[9];         /* seps[k]: before group k (k >= 1) */
} groups;

static void read_groups(const uint8_t *t, size_t n, size_t i, groups *g)
{
    size_t j = i;

    memset(g, 0, sizeof(*g));
    while (g->n < 8 && j < n) {
        size_t w;
        bool paren = t[j] == '(';

        w = digit_run(t, n, j + paren, 15);
        if (w == 0 || w > 15 || (paren && (j + 1 + w >= n ||
                                          t[j + 1 + w] != ')')))
            break;
        if (!paren && j + w < n && is_alpha(t[j + w]))
            break;
        g->len[g->n++] = (unsigned)w;
        g->digits += (unsigned)w;
        g->parens += paren;
        j += w + 2 * paren;
        g->end = j;
        if (j < n && (t[j] == '-' || t[j] == '.' || t[j] == '/' ||
                      is_blank(t[j])) &&
            j + 1 < n && (is_digit(t[j + 1]) || t[j + 1] == '(')) {
            g->seps[g->n] = t[j];
            j++;
        } else if (paren && j < n && (is_digit(t[j]))) {
            g->seps[g->n] = ')';
        } else {
            break;
        }
    }
}

/* A telephone number at t[i] ('+', '(' or a digit at a word start);
 * `keyword`: after "tel", "phone", ... (any grouping of 7 digits). */
static bool match_phone(const uint8_t *t, size_t n, size_t i, bool keyword,
                        size_t *end)
{
    groups g;
    bool plus = t[i] == '+', same = true;
    unsigned k;

    read_groups(t, n, i + plus, &g);
    if (g.n == 0 || g.digits < 7 || g.digits > 15 ||
        (g.end < n && is_alnum(t[g.end])))
        return false;
    for (k = 2; k < g.n; k++)
        if (g.seps[k] != g.seps[1])
            same = false;
    *end = g.end;
    if (keyword || (plus && g.digits >= 8))
        return true;
    if (g.n < 2)
        return false;
    if (g.parens > 0 && g.digits >= 10)
        return true;
    /* 218-555-0199, 218.555.0199, 218 555 0199, 1-218-555-0199 */
    if (same && g.len[g.n - 1] == 4 && g.len[g.n - 2] == 3 &&
        ((g.n == 3 && g.len[0] == 3) || (g.n == 4 && g.len[0] == 1 &&
                                         g.len[1] == 3)))
        return true;
    /* 555-0199 */
    if (g.n == 2 && g.len[0] == 3 && g.len[1] == 4 && g.seps[1] == '-')
        return true;
    /* national numbers: 030 1234567, 0171/1234567, 020 7946 0958 */
    if (t[i] == '0' && g.len[0] >= 2 && g.digits >= 9 && g.seps[1] != '.')
        return true;
    return false;
}

/* 123-45-6789 or 123 45 6789 at a word start. */
static bool match_ssn(const uint8_t *t, size_t n, size_t i, size_t *end)
{
    uint8_t s = i + 3 < n ? t[i + 3] : 0;

    if (digit_run(t, n, i, 3) != 3 || (s != '-' && s != ' ') ||
        digit_run(t, n, i + 4, 2) != 2 || i + 6 >= n || t[i + 6] != s ||
        digit_run(t, n, i + 7, 4) != 4 || !ends_token(t, n, i + 11))
        return false;
    *end = i + 11;
    return true;
}

/* After a keyword ("tel", "SSN"): the position of what it introduces. */
static size_t after_keyword(const uint8_t *t, size_t n, size_t j)
{
    size_t k = 0;

    while (j + k < n && k < 4 &&
           (is_blank(t[j + k]) || t[j + k] == ':' || t[j + k] == '.' ||
            t[j + k] == '#' || t[j + k] == '='))
        k++;
    return j + k;
}

static const char *const street_suffixes[] = {
    "street", "st", "avenue", "ave", "av", "road", "rd", "boulevard",
    "blvd", "lane", "ln", "drive", "dr", "court", "ct", "way", "place",
    "pl", "terrace", "ter", "circle", "cir", "parkway", "pkwy", "highway",
    "hwy", "square", "sq", "trail", "trl", "crescent", "cres", "close",
    "row", "alley", "plaza", "route", "rte", "broadway"};

static const char *const unit_words[] = {"apt", "apartment", "suite", "ste",
                                         "unit", "floor", "fl", "room"};

/* "4417 Wrenfield Avenue", "12B North Oak St., Apt 4": a house number,
 * one to four capitalized words, a street type. */
static bool match_street(const uint8_t *t, size_t n, size_t i, size_t *end)
{
    size_t w = digit_run(t, n, i, 6), j, words = 0;

    if (w < 1 || w > 6)
        return false;
    j = i + w;
    if (j < n && is_alpha(t[j]) && (j + 1 >= n || !is_alnum(t[j + 1])))
        j++; /* 12B */
    if (j >= n || !is_blank(t[j]))
        return false;
    while (words < 5) {
        size_t sp = spaces(t, n, j), k;

        if (sp == 0)
            return false;
        j += sp;
        k = alpha_run(t, n, j, 30);
        if (k == 0) {
            size_t d = digit_run(t, n, j, 3);
            /* 5th Avenue */
            if (d == 0 || ordinal_at(t, n, j + d) == 0 || words > 0)
                return false;
            j += d + 2;
            words++;
            continue;
        }
        if (k > 30 || !ends_token(t, n, j + k))
            return false;
        if (words > 0 &&
            word_in(t + j, k, street_suffixes,
                    sizeof(street_suffixes) / sizeof(street_suffixes[0]))) {
            j += k;
            if (j < n && t[j] == '.')
                j++;
            break;
        }
        if (!is_upper(t[j]))
            return false;
        j += k;
        if (j < n && t[j] == '.')
            j++; /* "N." */
        words++;
    }
    if (words == 0 || words > 4)
        return false;
    /* ", Apt 4B" */
    {
        size_t k = j, u;

        if (k < n && t[k] == ',')
            k++;
        k += spaces(t, n, k);
        u = alpha_run(t, n, k, 10);
        if (u > 0 && word_in(t + k, u, unit_words,
                             sizeof(unit_words) / sizeof(unit_words[0]))) {
            size_t m = k + u, d;

            if (m < n && t[m] == '.')
                m++;
            m += spaces(t, n, m);
            if (m < n && t[m] == '#')
                m++;
            d = digit_run(t, n, m, 6);
            if (d > 0 && d <= 6) {
                m += d;
                if (m < n && is_alpha(t[m]) &&
                    (m + 1 >= n || !is_alnum(t[m + 1])))
                    m++;
                j = m;
            }
        }
    }
    *end = j;
    return true;
}

/* "P.O. Box 123", "PO Box 123", "Post Office Box 123". */
static bool match_po_box(const uint8_t *t, size_t n, size_t i, size_t *end)
{
    size_t j, d;

    if (oa_anon__fold(t[i]) != 'p')
        return false;
    if (starts_with_ci(t + i, n - i, "p.o. box") ||
        starts_with_ci(t + i, n - i, "p. o. box"))
        j = i + (t[i + 2] == ' ' ? 9 : 8);
    else if (starts_with_ci(t + i, n - i, "po box"))
        j = i + 6;
    else if (starts_with_ci(t + i, n - i, "post office box"))
        j = i + 15;
    else
        return false;
    j += spaces(t, n, j);
    d = digit_run(t, n, j, 8);
    if (d == 0 || d > 8 || !ends_token(t, n, j + d))
        return false;
    *end = j + d;
    return true;
}

/* "Hauptstrasse 12", "Hauptstraße 12a", "Birkenweg 5": a capitalized word
 * ending in a street type, and a house number. */
static bool match_street_de(const uint8_t *t, size_t n, size_t i,
                            size_t *end)
{
    static const char *const endings[] = {"strasse", "stra\xc3\x9f" "e",
                                          "stra\xdf" "e", /* Latin-1 */
                                          "str.", "gasse", "allee", "platz",
                                          "weg"};
    size_t k = 0, e, d, j;

    if (!is_upper(t[i]))
        return false;
    while (i + k < n && k < 40 && (is_alpha(t[i + k]) || t[i + k] >= 0x80 ||
                                   t[i + k] == '-'))
        k++;
    if (i + k < n && t[i + k] == '.')
        k++;
    for (e = 0; e < sizeof(endings) / sizeof(endings[0]); e++) {
        size_t m = strlen(endings[e]);

        if (k > m + 1 && starts_with_ci(t + i + k - m, m, endings[e]))
            break;
    }
    if (e == sizeof(endings) / sizeof(endings[0]))
        return false;
    j = i + k;
    if (spaces(t, n, j) != 1)
        return false;
    j++;
    d = digit_run(t, n, j, 4);
    if (d == 0 || d > 3)
        return false;
    j += d;
    if (j < n && is_alpha(t[j]) && (j + 1 >= n || !is_alnum(t[j + 1])))
        j++;
    if (!ends_token(t, n, j))
        return false;
    *end = j;
    return true;
}

/* A URL at the word start t[i]; *keep when it has no path (a bare host
 * identifies no one). */
static bool match_url(const uint8_t *t, size_t n, size_t i, size_t *end,
                      bool *keep)
{
    static const char *const schemes[] = {"https://", "http://", "ftp://",
                                          "sftp://", "www."};
    size_t j = n, k, s, host;

    if (strchr("hfswHFSW", t[i]) == NULL)
        return false;
    for (s = 0; s < sizeof(schemes) / sizeof(schemes[0]); s++)
        if (starts_with_ci(t + i, n - i, schemes[s]))
            break;
    if (s == sizeof(schemes) / sizeof(schemes[0]))
        return false;
    for (k = i; k < n; k++) {
        uint8_t c = t[k];
        if (c <= ' ' || c == '"' || c == '\'' || c == '<' || c == '>' ||
            c == '`' || c == '\\' || c >= 0x7F) {
            j = k;
            break;
        }
    }
    while (j > i && strchr(".,;:!?)]}", t[j - 1]) != NULL)
        j--;
    host = i + (s == 4 ? 0 : strlen(schemes[s]));
    while (host < j && t[host] != '/' && t[host] != '?' && t[host] != '#')
        host++;
    *end = j;
    *keep = j - host <= 1;
    return j > i + strlen(schemes[s]);
}

/* ------------------------------------------------------------------ */
/* One text                                                             */

static const char *const phone_words[] = {
    "tel", "tele", "telephone", "phone", "ph", "fax", "mobile", "mob",
    "cell", "call", "contact", "pager", "beeper", "telefon", "cellphone"};

static const char *const ssn_words[] = {"ssn", "ss", "sin", "nss"};

static void mark(int32_t *diff, size_t s, size_t e)
{
    diff[s]++;
    diff[e]--;
}

static oa_status add_repl(struct oa_clean_state *st, const repl *r)
{
    if (st->n_repls == st->cap_repls) {
        size_t ncap = st->cap_repls ? st->cap_repls * 2 : 64;
        repl *g = oa_realloc(st->repls, ncap * sizeof(*g));

        if (g == NULL)
            return OA_ENOMEM;
        st->repls = g;
        st->cap_repls = ncap;
    }
    st->repls[st->n_repls++] = *r;
    return OA_OK;
}

/* What becomes of a date found in text. */
static void on_date(oa_anonymizer *a, const uint8_t *t, size_t start,
                    const dmatch *dm, int32_t *diff, bool *replace,
                    repl *r)
{
    oa_opt_value policy = oa_profile_options(a->profile)->dates;
    unsigned k;

    *replace = false;
    for (k = 0; k < a->n_id_dates; k++) {
        unsigned nd = a->id_dates[k];
        if ((dm->y == 0 || dm->y == nd / 10000) && dm->m == nd / 100 % 100 &&
            (dm->d == 0 || dm->d == nd % 100)) {
            mark(diff, start, dm->end); /* the birth date, in any form */
            return;
        }
    }
    if (policy == OA_OPT_KEEP)
        return;
    if (policy == OA_OPT_SHIFT && dm->y != 0 && dm->d != 0) {
        r->start = start;
        r->end = dm->end;
        if (shift_date(t, start, dm, a->date_offset, r)) {
            *replace = true;
            return;
        }
    }
    mark(diff, start, dm->end);
}

/* The patterns of t[0..n): removals into diff, rewrites into st->repls
 * (in order, disjoint). */
static oa_status scan_patterns(oa_anonymizer *a, const uint8_t *t, size_t n,
                               int32_t *diff)
{
    struct oa_clean_state *st = a->clean;
    size_t i = 0, end, ds, de;
    bool keyword_phone = false, keyword_ssn = false, keep, replace;
    oa_status rc;
    dmatch dm;
    repl r;

    /* e-mail addresses, around each '@' (each byte looked at twice at
     * most: neither side goes past another '@') */
    for (i = 0; i < n; i++) {
        size_t l = i, e = i + 1, dot = 0, k;

        if (t[i] != '@')
            continue;
        while (l > 0 && (is_alnum(t[l - 1]) ||
                         (t[l - 1] != '\0' && strchr("._%+-", t[l - 1]))))
            l--;
        while (e < n && (is_alnum(t[e]) || t[e] == '.' || t[e] == '-'))
            e++;
        while (e > i + 1 && (t[e - 1] == '.' || t[e - 1] == '-'))
            e--;
        for (k = i + 1; k < e; k++)
            if (t[k] == '.')
                dot = k;
        if (l < i && dot > i + 1 && e >= dot + 3)
            mark(diff, l, e);
    }
    st->n_repls = 0;
    i = 0;
    while (i < n) {
        uint8_t c = t[i];
        bool start = i == 0 || !is_alnum(t[i - 1]);

        if (!start || !(is_alnum(c) || c == '+' || c == '(')) {
            i++;
            continue;
        }
        if (c == '+' || c == '(') {
            if ((i == 0 || !is_digit(t[i - 1])) &&
                match_phone(t, n, i, keyword_phone, &end)) {
                mark(diff, i, end);
                i = end;
            } else {
                i++;
            }
            keyword_phone = false;
            continue;
        }
        if (is_alpha(c) && match_url(t, n, i, &end, &keep)) {
            if (!keep)
                mark(diff, i, end);
            i = end;
            continue;
        }
        if (match_date(t, n, i, &dm)) {
            on_date(a, t, i, &dm, diff, &replace, &r);
            if (replace && (rc = add_repl(st, &r)) != OA_OK)
                return rc;
            i = dm.end;
            continue;
        }
        if (match_age(t, n, i, &ds, &de)) {
            r.start = ds;
            r.end = de;
            memcpy(r.text, "90+", 3);
            r.len = 3;
            if ((rc = add_repl(st, &r)) != OA_OK)
                return rc;
            i = de;
            continue;
        }
        if (is_digit(c)) {
            if (match_ssn(t, n, i, &end) ||
                match_phone(t, n, i, keyword_phone, &end) ||
                match_street(t, n, i, &end) ||
                (keyword_ssn && digit_run(t, n, i, 9) == 9 &&
                 ends_token(t, n, i + 9) && (end = i + 9, true))) {
                mark(diff, i, end);
                i = end;
                keyword_phone = keyword_ssn = false;
                continue;
            }
            keyword_phone = keyword_ssn = false;
            i += digit_run(t, n, i, 64);
            continue;
        }
        if (match_po_box(t, n, i, &end) || match_street_de(t, n, i, &end)) {
            mark(diff, i, end);
            i = end;
            continue;
        }
        {
            size_t w = alpha_run(t, n, i, 12);

            keyword_phone =
                word_in(t + i, w, phone_words,
                        sizeof(phone_words) / sizeof(phone_words[0]));
            keyword_ssn = word_in(t + i, w, ssn_words,
                                  sizeof(ssn_words) / sizeof(ssn_words[0]));
            i += w;
            while (i < n && is_alnum(t[i]))
                i++;
            if (keyword_phone || keyword_ssn) {
                size_t j = after_keyword(t, n, i);
                if (j < n && (t[j] == '+' || t[j] == '(' || is_digit(t[j])))
                    i = j; /* the number is next: keep the keyword on */
                else
                    keyword_phone = keyword_ssn = false;
            }
        }
    }
    return OA_OK;
}

/* Room for the difference array of a text of n bytes, zeroed. */
static oa_status diff_room(struct oa_clean_state *st, size_t n)
{
    if (n + 1 > st->diff_cap) {
        size_t bytes;
        int32_t *g;

        if (oa_size_mul(&bytes, n + 1, sizeof(int32_t)) != 0)
            return OA_ELIMIT;
        g = oa_realloc(st->diff, bytes);
        if (g == NULL)
            return OA_ENOMEM;
        st->diff = g;
        st->diff_cap = n + 1;
    }
    memset(st->diff, 0, (n + 1) * sizeof(int32_t));
    return OA_OK;
}

/* The text without its marked spans, with its rewrites, into out.  Blanks
 * left doubled by a removal are folded into one. */
static oa_status assemble(const struct oa_clean_state *st, const uint8_t *t,
                          size_t n, const repl *repls, size_t n_repls,
                          oa_buf *out)
{
    size_t i = 0, r = 0;
    int32_t cur = 0;
    bool removed = false;
    uint8_t *o;
    oa_status rc;

    oa_buf_reset(out);
    rc = oa_buf_reserve(out, n + n_repls * MAX_REPL);
    if (rc != OA_OK)
        return rc;
    o = oa_buf_data(out);
    while (i < n) {
        if (r < n_repls && repls[r].start == i) {
            int32_t tmp = cur;
            bool any = false;
            size_t k;

            for (k = i; k < repls[r].end; k++) {
                tmp += st->diff[k];
                any = any || tmp > 0;
            }
            if (!any) {
                memcpy(o + out->len, repls[r].text, repls[r].len);
                out->len += repls[r].len;
                removed = false;
            } else {
                removed = true;
            }
            cur = tmp;
            i = repls[r++].end;
            continue;
        }
        cur += st->diff[i];
        if (cur > 0) {
            removed = true;
        } else if (removed && is_blank(t[i]) &&
                   (out->len == 0 || is_blank(o[out->len - 1]))) {
            /* the blank after a removed span */
        } else {
            o[out->len++] = t[i];
            removed = false;
        }
        i++;
    }
    return OA_OK;
}

/*
 * Clean of an AS (Age String) value (AgesOver89, HIPAA Safe Harbor: every
 * age over 89 in one "90 or older" category).  An age is digits and a
 * unit, D(ays), W(eeks), M(onths) or Y(ears), the unit in either case;
 * PS3.5 wants exactly three digits, which no unit but Y can fill to 90
 * years, so longer numbers ("1100M", "4700W", "33000D": out of the VR
 * but read by people as ages) are read too.  One that may be 90 years or
 * more becomes "090Y" (AS cannot hold "90+"; 090Y reads as 90): in days,
 * the fewest that 90 years take (90 x 365 + 21 leap days; a week or a
 * month counted whole may hold up to 6 or 30 days more, so the weeks'
 * bound is the day bound less 6, rounded up).  A well-formed age under it
 * is kept as written (its unit upper-cased); anything else (no unit, a
 * sign, a space inside, "45Y", "0045Y" under 90 years, an empty value
 * between backslashes) is malformed.  Values of VM > 1 (Selector AS
 * Value) are read one by one.
 */
#define AGE_DAYS_90 32871u               /* 90 years: at least this many */
#define AGE_MAX_DIGITS 9                 /* a longer number: malformed */

static bool age_is_90(uint64_t v, uint8_t unit)
{
    switch (unit) {
    case 'Y': return v >= 90u;
    case 'M': return v >= 90u * 12u;                  /* 1080 */
    /* 7 x W + 6 >= AGE_DAYS_90: W >= ceil((AGE_DAYS_90 - 6) / 7) = 4695 */
    case 'W': return v >= (AGE_DAYS_90 - 6u + 6u) / 7u;
    default:  return v >= AGE_DAYS_90;                /* D */
    }
}

oa_status oa_anon__clean_age(oa_anonymizer *a, const oa_element *el,
                             bool *malformed)
{
    const uint8_t *p = el->value;
    size_t n = p != NULL ? oa_value_trim(el->value, el->length) : 0;
    size_t i = 0;
    bool first = true;
    oa_status rc = OA_OK;

    *malformed = false;
    oa_buf_reset(&a->scratch);
    /* leading spaces are insignificant in AS (PS3.5 6.2) */
    while (i < n && p[i] == ' ')
        i++;
    if (i == n)
        return OA_OK;                    /* empty: nothing to aggregate */
    while (rc == OA_OK) {
        size_t j = i, w;
        uint64_t v = 0;
        uint8_t unit;

        while (j < n && is_digit(p[j]) && j - i < AGE_MAX_DIGITS + 1) {
            v = v * 10u + (uint64_t)(p[j] - '0');
            j++;
        }
        w = j - i;
        unit = j < n ? (uint8_t)(p[j] & ~0x20) : 0; /* ASCII upper case */
        if (w == 0 || w > AGE_MAX_DIGITS ||
            !(unit == 'D' || unit == 'W' || unit == 'M' || unit == 'Y') ||
            (j + 1 < n && p[j + 1] != '\\')) {
            *malformed = true;
            oa_buf_reset(&a->scratch);
            return OA_OK;
        }
        if (!first)
            rc = oa_buf_append(&a->scratch, "\\", 1);
        first = false;
        if (rc != OA_OK)
            break;
        if (age_is_90(v, unit)) {
            rc = oa_buf_append(&a->scratch, "090Y", 4);
        } else if (w == 3) {
            rc = oa_buf_append(&a->scratch, p + i, 3);
            if (rc == OA_OK)
                rc = oa_buf_append(&a->scratch, &unit, 1);
        } else {
            *malformed = true;           /* "45Y": not an AS */
            oa_buf_reset(&a->scratch);
            return OA_OK;
        }
        if (j + 1 >= n)
            break;
        i = j + 2;                       /* past the unit and the '\\' */
        if (i >= n) {                    /* a trailing '\\' */
            *malformed = true;
            oa_buf_reset(&a->scratch);
            return OA_OK;
        }
    }
    return rc;
}

oa_status oa_anon__clean_text(oa_anonymizer *a, const oa_element *el)
{
    struct oa_clean_state *st;
    const uint8_t *t = el->value;
    size_t n = el->length, found;
    unsigned pass;
    oa_status rc;

    if (el->vr == OA_VR_AS) {
        bool malformed;

        return oa_anon__clean_age(a, el, &malformed);
    }
    if (a->clean == NULL) {
        a->clean = oa_calloc(1, sizeof(*a->clean));
        if (a->clean == NULL)
            return OA_ENOMEM;
        oa_buf_init(&a->clean->pass, a->scratch.max);
    }
    st = a->clean;
    if (t == NULL)
        n = 0;
    /* the patterns' scan, charged to the instance's work budget in steps
     * small enough for a cancel to be seen within OA_WORK_POLL */
    rc = OA_OK;
    for (size_t done = 0; done < n && rc == OA_OK; done += 8192)
        rc = oa_anon__work(&a->work, n - done < 8192 ? n - done : 8192);
    if (rc == OA_OK)
        rc = diff_room(st, n);
    if (rc == OA_OK)
        rc = scan_patterns(a, t, n, st->diff);
    if (rc == OA_OK)
        rc = mark_needles(a, t, n, st->diff, &found);
    if (rc == OA_OK)
        rc = assemble(st, t, n, st->repls, st->n_repls, &a->scratch);
    /* what a removal joined: needles again, on the output */
    for (pass = 1; rc == OA_OK && found > 0 && pass < CLEAN_PASSES; pass++) {
        oa_buf tmp;

        n = a->scratch.len;
        rc = diff_room(st, n);
        if (rc == OA_OK)
            rc = mark_needles(a, oa_buf_data(&a->scratch), n, st->diff,
                              &found);
        if (rc != OA_OK || found == 0)
            break;
        rc = assemble(st, oa_buf_data(&a->scratch), n, NULL, 0, &st->pass);
        tmp = a->scratch;
        a->scratch = st->pass;
        st->pass = tmp;
    }
    return rc;
}

void oa_anon__clean_free(oa_anonymizer *a)
{
    struct oa_clean_state *st = a->clean;

    if (st == NULL)
        return;
    oa_free(st->diff);
    oa_free(st->repls);
    oa_buf_dispose(&st->pass);
    oa_free(st);
    a->clean = NULL;
}
