/*
 * Every needle in one pass: an Aho-Corasick automaton over the needles
 * (ASCII-folded), used by the leak check (leak.c) and by Clean
 * (freetext.c), and the work budget that bounds both.
 *
 * The automaton: a trie of the patterns whose edges are kept sorted per
 * node in one array (binary search; the root has a full table), the
 * failure links (longest proper suffix that is a trie node) and the
 * output links (nearest node on the failure chain where a pattern ends).
 * A scan is linear in the bytes scanned: each byte moves forward once,
 * each failure link followed undoes one forward move, and each match
 * reported is one step; all are charged to the instance's work budget.
 *
 * The needle matcher (oa_anon__needle_matcher) adds, for the leak check,
 * the other spellings and encodings of a needle: a birth date in the usual
 * date formats, names and IDs in UTF-16 (both byte orders), accented
 * names in Latin-1 and UTF-8.
 */
#include "engine_int.h"

#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* The work budget                                                      */

oa_status oa_anon__work(oa_anon_work *w, uint64_t steps)
{
    if (w == NULL)
        return OA_OK;
    w->used += steps;
    if (w->budget != 0 && w->used > w->budget)
        return OA_ELIMIT;
    if (w->cancelled != NULL && w->used >= w->next_poll) {
        w->next_poll = w->used + OA_WORK_POLL;
        if (w->cancelled(w->cancel_user))
            return OA_ECANCELLED;
    }
    return OA_OK;
}

/* ------------------------------------------------------------------ */
/* The automaton                                                        */

typedef struct mnode {
    uint32_t fail;       /* failure link (node index; 0 = root) */
    uint32_t out;        /* output link: next node with patterns, 0 none */
    uint32_t pats;       /* first pattern ending here + 1, 0 none */
    uint32_t edges;      /* build: first child + 1; built: first edge */
    uint32_t sibling;    /* build: next sibling + 1 */
    uint16_t n_edges;
    uint8_t byte;        /* the edge's byte from the parent */
} mnode;

typedef struct medge {
    uint8_t byte;
    uint32_t to;
} medge;

typedef struct mpat {
    uint32_t id, variant;
    uint32_t next;       /* next pattern at the same node + 1, 0 none */
    uint16_t len;
} mpat;

struct oa_match {
    mnode *nodes;
    size_t n_nodes, cap_nodes;
    medge *edges;
    size_t cap_edges;
    mpat *pats;
    size_t n_pats, cap_pats;
    uint32_t root_next[256];
    uint32_t *queue;     /* BFS order (build) */
    size_t cap_queue;
    bool built;
};

static bool grow(void **p, size_t *cap, size_t need, size_t size)
{
    size_t ncap;
    void *g;

    if (need <= *cap)
        return true;
    ncap = *cap ? *cap : 256;
    while (ncap < need)
        ncap *= 2;
    g = oa_realloc(*p, ncap * size);
    if (g == NULL)
        return false;
    *p = g;
    *cap = ncap;
    return true;
}

oa_match *oa_match_new(void)
{
    oa_match *m = oa_calloc(1, sizeof(*m));

    if (m == NULL)
        return NULL;
    oa_match_clear(m);
    if (m->nodes == NULL) {
        oa_free(m);
        return NULL;
    }
    return m;
}

void oa_match_free(oa_match *m)
{
    if (m == NULL)
        return;
    oa_free(m->nodes);
    oa_free(m->edges);
    oa_free(m->pats);
    oa_free(m->queue);
    oa_free(m);
}

void oa_match_clear(oa_match *m)
{
    m->n_pats = 0;
    m->built = false;
    m->n_nodes = 0;
    if (!grow((void **)&m->nodes, &m->cap_nodes, 1, sizeof(mnode)))
        return;
    memset(&m->nodes[0], 0, sizeof(mnode));
    m->n_nodes = 1;
}

size_t oa_match_count(const oa_match *m)
{
    return m->n_pats;
}

/* Build-time child of `node` by `byte` (sibling list), 0 if none. */
static uint32_t build_child(const oa_match *m, uint32_t node, uint8_t byte)
{
    uint32_t c = m->nodes[node].edges;

    while (c != 0) {
        if (m->nodes[c - 1].byte == byte)
            return c - 1;
        c = m->nodes[c - 1].sibling;
    }
    return 0;
}

oa_status oa_match_add(oa_match *m, const uint8_t *p, size_t len,
                       uint32_t id, uint32_t variant)
{
    uint32_t node = 0;
    size_t i;

    if (m->n_nodes == 0)
        return OA_ENOMEM;   /* oa_match_clear could not allocate */
    if (len == 0 || len > UINT16_MAX)
        return OA_EINVAL;
    m->built = false;
    /* the root's children: first child link is a sibling list too; the
     * lists are short in practice (the patterns' distinct next bytes) and
     * the build flattens them before any scan */
    for (i = 0; i < len; i++) {
        uint8_t b = oa_anon__fold(p[i]);
        uint32_t c = build_child(m, node, b);

        if (c == 0) {
            mnode *n;

            if (m->n_nodes >= OA_MATCH_MAX_NODES)
                return OA_ELIMIT;
            if (!grow((void **)&m->nodes, &m->cap_nodes, m->n_nodes + 1,
                      sizeof(mnode)))
                return OA_ENOMEM;
            c = (uint32_t)m->n_nodes++;
            n = &m->nodes[c];
            memset(n, 0, sizeof(*n));
            n->byte = b;
            n->sibling = m->nodes[node].edges;
            m->nodes[node].edges = c + 1;
            m->nodes[node].n_edges++;
        }
        node = c;
    }
    if (!grow((void **)&m->pats, &m->cap_pats, m->n_pats + 1, sizeof(mpat)))
        return OA_ENOMEM;
    m->pats[m->n_pats].id = id;
    m->pats[m->n_pats].variant = variant;
    m->pats[m->n_pats].len = (uint16_t)len;
    m->pats[m->n_pats].next = m->nodes[node].pats;
    m->nodes[node].pats = (uint32_t)(m->n_pats + 1);
    m->n_pats++;
    return OA_OK;
}

/* Built: the child of `node` by `byte`, or 0. */
static inline uint32_t child(const oa_match *m, uint32_t node, uint8_t byte)
{
    const mnode *n = &m->nodes[node];
    const medge *e = m->edges + n->edges;
    size_t lo = 0, hi = n->n_edges;

    if (node == 0)
        return m->root_next[byte];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;

        if (e[mid].byte == byte)
            return e[mid].to;
        if (e[mid].byte < byte)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

oa_status oa_match_build(oa_match *m, oa_anon_work *w)
{
    size_t head = 0, tail = 0, n_edges = 0, i;
    oa_status rc;

    if (m->n_nodes == 0)
        return OA_ENOMEM;
    rc = oa_anon__work(w, m->n_nodes);
    if (rc != OA_OK)
        return rc;
    if (!grow((void **)&m->edges, &m->cap_edges, m->n_nodes, sizeof(medge)) ||
        !grow((void **)&m->queue, &m->cap_queue, m->n_nodes,
              sizeof(uint32_t)))
        return OA_ENOMEM;
    /* 1. breadth first: flatten each node's children into sorted edges */
    m->queue[tail++] = 0;
    while (head < tail) {
        uint32_t u = m->queue[head++];
        mnode *n = &m->nodes[u];
        uint32_t c = n->edges;
        size_t first = n_edges, k;

        while (c != 0) {
            /* insertion into the sorted run [first, n_edges) */
            uint8_t b = m->nodes[c - 1].byte;

            k = n_edges++;
            while (k > first && m->edges[k - 1].byte > b) {
                m->edges[k] = m->edges[k - 1];
                k--;
            }
            m->edges[k].byte = b;
            m->edges[k].to = c - 1;
            m->queue[tail++] = c - 1;
            c = m->nodes[c - 1].sibling;
        }
        n->edges = (uint32_t)first;
    }
    rc = oa_anon__work(w, n_edges);
    if (rc != OA_OK)
        return rc;
    memset(m->root_next, 0, sizeof(m->root_next));
    for (i = 0; i < m->nodes[0].n_edges; i++)
        m->root_next[m->edges[m->nodes[0].edges + i].byte] =
            m->edges[m->nodes[0].edges + i].to;
    /* 2. failure and output links, in the same order (parents first) */
    m->nodes[0].fail = 0;
    m->nodes[0].out = 0;
    for (head = 0; head < tail; head++) {
        uint32_t u = m->queue[head];
        const mnode *n = &m->nodes[u];

        for (i = 0; i < n->n_edges; i++) {
            const medge *e = &m->edges[n->edges + i];
            mnode *cn = &m->nodes[e->to];
            uint32_t f;

            if (u == 0) {
                f = 0;
            } else {
                uint32_t g = n->fail;

                for (;;) {
                    uint32_t t = child(m, g, e->byte);

                    if (t != 0) {
                        f = t;
                        break;
                    }
                    if (g == 0) {
                        f = 0;
                        break;
                    }
                    g = m->nodes[g].fail;
                }
            }
            cn->fail = f;
            cn->out = m->nodes[f].pats ? f : m->nodes[f].out;
        }
    }
    /* the failure chains cost at most the patterns' bytes in all */
    rc = oa_anon__work(w, m->n_nodes);
    if (rc != OA_OK)
        return rc;
    m->built = true;
    return OA_OK;
}

static inline bool word_byte(uint8_t c, bool ascii)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
           (c >= 'a' && c <= 'z') || c == '_' || (!ascii && c >= 0x80);
}

/* Report the patterns of `node` and its output chain ending at `end`. */
static oa_status report(const oa_match *m, uint32_t node, const uint8_t *buf,
                        size_t n, size_t end, unsigned flags, oa_anon_work *w,
                        uint64_t *steps, oa_match_fn fn, void *user)
{
    bool ascii = (flags & OA_MATCH_ASCII_WORDS) != 0;
    bool whole = (flags & OA_MATCH_WHOLE_WORDS) != 0;
    bool word_end = end == n || !word_byte(buf[end], ascii) ||
                    !word_byte(buf[end - 1], ascii);

    /* every pattern ending here ends with the same byte: all or none end
     * a word */
    if (whole && !word_end)
        return OA_OK;
    for (; node != 0; node = m->nodes[node].out) {
        uint32_t p;

        for (p = m->nodes[node].pats; p != 0; p = m->pats[p - 1].next) {
            const mpat *pt = &m->pats[p - 1];
            oa_match_hit hit;
            oa_status rc;

            if (++*steps >= 4096) {
                rc = oa_anon__work(w, *steps);
                *steps = 0;
                if (rc != OA_OK)
                    return rc;
            }
            hit.id = pt->id;
            hit.variant = pt->variant;
            hit.start = end - pt->len;
            hit.len = pt->len;
            hit.word_start = hit.start == 0 ||
                             !word_byte(buf[hit.start - 1], ascii) ||
                             !word_byte(buf[hit.start], ascii);
            hit.word_end = word_end;
            if (whole && !hit.word_start)
                continue;
            rc = fn(user, &hit);
            if (rc != OA_OK)
                return rc;
        }
    }
    return OA_OK;
}

oa_status oa_match_scan(const oa_match *m, const uint8_t *buf, size_t n,
                        unsigned flags, oa_anon_work *w, oa_match_fn fn,
                        void *user)
{
    uint32_t s = 0;
    uint64_t steps = 0;
    size_t i;
    oa_status rc;

    if (!m->built)
        return OA_EINVAL;
    if (m->n_pats == 0)
        return oa_anon__work(w, n);
    for (i = 0; i < n; i++) {
        uint8_t c = oa_anon__fold(buf[i]);
        uint32_t t;

        while ((t = child(m, s, c)) == 0 && s != 0) {
            s = m->nodes[s].fail;
            steps++;
        }
        s = t;
        if (++steps >= 4096) {
            rc = oa_anon__work(w, steps);
            steps = 0;
            if (rc != OA_OK)
                return rc;
        }
        if (s != 0 && (m->nodes[s].pats != 0 || m->nodes[s].out != 0)) {
            rc = report(m, s, buf, n, i + 1, flags, w, &steps, fn, user);
            if (rc != OA_OK)
                return rc;
        }
    }
    return oa_anon__work(w, steps);
}

/* ------------------------------------------------------------------ */
/* The needles' automaton, with the other spellings of each             */

static oa_status add_variant(oa_match *m, const uint8_t *p, size_t n,
                             uint32_t id, uint32_t variant)
{
    return n == 0 ? OA_OK : oa_match_add(m, p, n, id, variant);
}

/* A birth date YYYYMMDD in the spellings that people and other software
 * write: 12/04/1957 (day first, Europe), 04/12/1957 (month first, US),
 * 1957-04-12 (ISO), 12.04.1957, 12-04-1957, 1957/04/12, 1957.04.12,
 * 12 Apr 1957, 12-Apr-1957, Apr 12 1957, Apr 12, 1957, 12 April 1957,
 * April 12, 1957 (days with and without a leading zero; month names
 * compared without case). */
static oa_status add_date_variants(oa_match *m, const uint8_t *p,
                                   uint32_t id)
{
    static const char *const mon[12] = {
        "Jan", "Feb", "Mar", "Apr", "May", "Jun",
        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    static const char *const month[12] = {
        "January", "February", "March", "April", "May", "June", "July",
        "August", "September", "October", "November", "December"};
    char v[24][40];
    const char *y, *mo, *d;
    char ys[5], mos[3], ds[3];
    int mi, di, n = 0, k, z;
    oa_status rc;

    memcpy(ys, p, 4);
    ys[4] = '\0';
    memcpy(mos, p + 4, 2);
    mos[2] = '\0';
    memcpy(ds, p + 6, 2);
    ds[2] = '\0';
    y = ys;
    mo = mos;
    d = ds;
    mi = (mo[0] - '0') * 10 + (mo[1] - '0');
    di = (d[0] - '0') * 10 + (d[1] - '0');
    if (mi < 1 || mi > 12 || di < 1 || di > 31)
        return OA_OK;   /* not a calendar date: the value itself only */
    snprintf(v[n++], sizeof(v[0]), "%s/%s/%s", d, mo, y);  /* 12/04/1957 */
    snprintf(v[n++], sizeof(v[0]), "%s/%s/%s", mo, d, y);  /* 04/12/1957 */
    snprintf(v[n++], sizeof(v[0]), "%s-%s-%s", y, mo, d);  /* 1957-04-12 */
    snprintf(v[n++], sizeof(v[0]), "%s.%s.%s", d, mo, y);  /* 12.04.1957 */
    snprintf(v[n++], sizeof(v[0]), "%s-%s-%s", d, mo, y);  /* 12-04-1957 */
    snprintf(v[n++], sizeof(v[0]), "%s/%s/%s", y, mo, d);  /* 1957/04/12 */
    snprintf(v[n++], sizeof(v[0]), "%s.%s.%s", y, mo, d);  /* 1957.04.12 */
    for (z = 0; z < (d[0] == '0' ? 2 : 1); z++) {
        const char *dd = z ? d + 1 : d;   /* 02 Apr and 2 Apr */

        snprintf(v[n++], sizeof(v[0]), "%s %s %s", dd, mon[mi - 1], y);
        snprintf(v[n++], sizeof(v[0]), "%s-%s-%s", dd, mon[mi - 1], y);
        snprintf(v[n++], sizeof(v[0]), "%s %s %s", mon[mi - 1], dd, y);
        snprintf(v[n++], sizeof(v[0]), "%s %s %s", dd, month[mi - 1], y);
        snprintf(v[n++], sizeof(v[0]), "%s %s, %s", mon[mi - 1], dd, y);
        snprintf(v[n++], sizeof(v[0]), "%s %s, %s", month[mi - 1], dd, y);
    }
    for (k = 0; k < n; k++) {
        rc = oa_match_add(m, (const uint8_t *)v[k], strlen(v[k]), id,
                          OA_VARIANT_DATE);
        if (rc != OA_OK)
            return rc;
    }
    return OA_OK;
}

/* Decode one UTF-8 sequence at p[0..n): the code point and its length, or
 * 0 when not well-formed. */
static size_t utf8_decode(const uint8_t *p, size_t n, uint32_t *cp)
{
    if (p[0] < 0x80) {
        *cp = p[0];
        return 1;
    }
    if ((p[0] & 0xE0) == 0xC0 && n >= 2 && (p[1] & 0xC0) == 0x80 &&
        p[0] >= 0xC2) {
        *cp = ((uint32_t)(p[0] & 0x1F) << 6) | (p[1] & 0x3F);
        return 2;
    }
    if ((p[0] & 0xF0) == 0xE0 && n >= 3 && (p[1] & 0xC0) == 0x80 &&
        (p[2] & 0xC0) == 0x80) {
        *cp = ((uint32_t)(p[0] & 0x0F) << 12) |
              ((uint32_t)(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
        return *cp >= 0x800 && (*cp < 0xD800 || *cp > 0xDFFF) ? 3 : 0;
    }
    if ((p[0] & 0xF8) == 0xF0 && n >= 4 && (p[1] & 0xC0) == 0x80 &&
        (p[2] & 0xC0) == 0x80 && (p[3] & 0xC0) == 0x80) {
        *cp = ((uint32_t)(p[0] & 0x07) << 18) |
              ((uint32_t)(p[1] & 0x3F) << 12) |
              ((uint32_t)(p[2] & 0x3F) << 6) | (p[3] & 0x3F);
        return *cp >= 0x10000 && *cp <= 0x10FFFF ? 4 : 0;
    }
    return 0;
}

/* The code points of a needle: UTF-8 when it is well-formed UTF-8, else
 * Latin-1 (one byte, one code point).  Returns the count (<= n). */
static size_t code_points(const uint8_t *p, size_t n, uint32_t *cps,
                          bool *was_utf8, bool *non_ascii)
{
    size_t i = 0, k = 0;
    bool utf8 = true;

    *non_ascii = false;
    while (i < n) {
        uint32_t cp;
        size_t l = utf8_decode(p + i, n - i, &cp);

        if (l == 0) {
            utf8 = false;
            break;
        }
        if (cp >= 0x80)
            *non_ascii = true;
        cps[k++] = cp;
        i += l;
    }
    if (!utf8) {
        for (k = 0; k < n; k++) {
            cps[k] = p[k];
            if (p[k] >= 0x80)
                *non_ascii = true;
        }
    }
    *was_utf8 = utf8;
    return k;
}

static oa_status add_encoding_variants(oa_match *m, const uint8_t *p,
                                       size_t n, uint32_t id, oa_buf *tmp)
{
    uint32_t cps[512];
    size_t k, i;
    bool utf8, non_ascii;
    uint8_t *b;
    oa_status rc;
    int order;

    if (n > sizeof(cps) / sizeof(cps[0]))
        return OA_OK;   /* needles are at most 512 bytes */
    k = code_points(p, n, cps, &utf8, &non_ascii);
    oa_buf_reset(tmp);
    if (oa_buf_reserve(tmp, 4 * n + 8) != OA_OK)
        return OA_ENOMEM;
    b = oa_buf_data(tmp);
    /* UTF-16, both byte orders (surrogate pairs above the BMP) */
    for (order = 0; order < 2; order++) {
        size_t o = 0;

        for (i = 0; i < k; i++) {
            uint32_t u[2];
            size_t nu = 1, j;

            if (cps[i] >= 0x10000) {
                u[0] = 0xD800 + ((cps[i] - 0x10000) >> 10);
                u[1] = 0xDC00 + ((cps[i] - 0x10000) & 0x3FF);
                nu = 2;
            } else {
                u[0] = cps[i];
            }
            for (j = 0; j < nu; j++) {
                b[o++] = (uint8_t)(order == 0 ? u[j] & 0xFF : u[j] >> 8);
                b[o++] = (uint8_t)(order == 0 ? u[j] >> 8 : u[j] & 0xFF);
            }
        }
        rc = add_variant(m, b, o, id,
                         order == 0 ? OA_VARIANT_UTF16LE : OA_VARIANT_UTF16BE);
        if (rc != OA_OK)
            return rc;
    }
    if (!non_ascii)
        return OA_OK;
    if (utf8) {
        /* UTF-8 -> Latin-1 when every code point fits */
        for (i = 0; i < k && cps[i] < 0x100; i++)
            b[i] = (uint8_t)cps[i];
        if (i == k)
            return add_variant(m, b, k, id, OA_VARIANT_LATIN1);
        return OA_OK;
    }
    /* Latin-1 -> UTF-8 */
    {
        size_t o = 0;

        for (i = 0; i < k; i++) {
            if (cps[i] < 0x80) {
                b[o++] = (uint8_t)cps[i];
            } else {
                b[o++] = (uint8_t)(0xC0 | (cps[i] >> 6));
                b[o++] = (uint8_t)(0x80 | (cps[i] & 0x3F));
            }
        }
        return add_variant(m, b, o, id, OA_VARIANT_UTF8);
    }
}

static bool is_date8(const uint8_t *p, size_t n)
{
    size_t i;

    if (n != 8)
        return false;
    for (i = 0; i < 8; i++)
        if (p[i] < '0' || p[i] > '9')
            return false;
    return true;
}

oa_status oa_anon__needle_matcher(oa_anonymizer *a, bool variants,
                                  const oa_match **out)
{
    oa_match **mp = variants ? &a->match_leak : &a->match_plain;
    unsigned *built_n = variants ? &a->match_leak_n : &a->match_plain_n;
    oa_buf tmp;
    oa_status rc = OA_OK;
    unsigned k;

    *out = NULL;
    if (*mp == NULL) {
        *mp = oa_match_new();
        if (*mp == NULL)
            return OA_ENOMEM;
        *built_n = UINT32_MAX;
    }
    if (*built_n == a->n_needles) {
        *out = *mp;
        return OA_OK;
    }
    oa_match_clear(*mp);
    oa_buf_init(&tmp, (size_t)1 << 16);
    rc = oa_anon__work(&a->work, a->arena_used);
    for (k = 0; k < a->n_needles && rc == OA_OK; k++) {
        const needle *nd = &a->needles[k];
        const uint8_t *p = (const uint8_t *)a->arena + nd->off;

        rc = oa_match_add(*mp, p, nd->len, k, OA_VARIANT_SAME);
        if (rc != OA_OK || !variants)
            continue;
        if (nd->tag == OA_TAG(0x0010, 0x0030) && is_date8(p, nd->len))
            rc = add_date_variants(*mp, p, k);
        if (rc == OA_OK)
            rc = add_encoding_variants(*mp, p, nd->len, k, &tmp);
    }
    oa_buf_dispose(&tmp);
    if (rc == OA_OK)
        rc = oa_match_build(*mp, &a->work);
    if (rc != OA_OK) {
        *built_n = UINT32_MAX;
        return rc;
    }
    *built_n = a->n_needles;
    *out = *mp;
    return OA_OK;
}
