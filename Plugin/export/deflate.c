/*
 * The ZIP writer's "fast" compressor: raw DEFLATE (RFC 1951) written for
 * speed on medical images, where libdeflate's fastest level spends most of
 * an export's CPU (doc/performance.md, "The ZIP on the way out").
 *
 * What it does, per block of at most BLOCK_IN input bytes:
 *   - a parse that finds only runs: 4 or more bytes equal to the bytes 1
 *     or 2 before them (a constant background of 8- or 16-bit pixels,
 *     padding, zeroed regions), everything else a literal;
 *   - the byte and symbol frequencies of that parse, counted as it goes;
 *   - Huffman codes for it (length-limited: 15 bits, 7 for the code-length
 *     code), every code complete and of at least two symbols, as zlib
 *     writes them, so that every inflater takes them;
 *   - a dynamic-Huffman block, or a stored block when that is not
 *     smaller (noise): the output is never more than the input plus
 *     5 bytes a block.
 * Most of a 16-bit image's gain is its high bytes' few values (entropy
 * coding) and its background's runs; the matches a general LZ77 search
 * would add are a few per cent of the size for most of the time, which
 * "best" (libdeflate's level 9) spends.
 *
 * Any inflater reads it: it is tested against zlib's inflate on the
 * corpus, every length of a short input, and a fuzzer's inputs.
 */
#include "export_int.h"

#include <stdlib.h>
#include <string.h>

#define BLOCK_IN 65535u           /* one stored block when it does not pay */
/* A frequency is at most a block's bytes: 16 bits, under a sort key's
 * symbol (build_code). */
_Static_assert(BLOCK_IN <= 0xFFFFu, "a block's frequencies fit 16 bits");
#define MIN_RUN 4u
#define MAX_MATCH 258u
#define MAX_SEQS (BLOCK_IN / MIN_RUN + 2u)
#define LITLEN_SYMS 286u          /* 0..255, 256 end of block, 257..285 */
#define DIST_SYMS 30u
#define CL_SYMS 19u
#define MAX_BITS 15u
#define MAX_CL_BITS 7u
#define END_OF_BLOCK 256u
/* Deepest Huffman tree the construction can give before it is limited
 * (a block's symbols are far fewer than Fibonacci's 2^32). */
#define LEN_BUCKETS 48u

/* A literal run followed by a match (len 0: the block's last run). */
typedef struct {
    uint32_t lits;
    uint16_t len;
    uint16_t dist;
} fd_seq;

typedef struct {
    uint8_t lens[LITLEN_SYMS];
    uint16_t codes[LITLEN_SYMS];  /* bit-reversed, as written */
    uint32_t both[LITLEN_SYMS];   /* codes | lens << 16: one load */
} fd_code;

struct oa_deflater {
    fd_seq seqs[MAX_SEQS];
    uint32_t litlen_freq[LITLEN_SYMS];
    uint32_t hist[4][256];        /* literals, four tables: no chain of
                                     increments of one counter */
    uint32_t dist_freq[DIST_SYMS];
    uint64_t extra_bits;          /* the matches' extra bits */
    fd_code litlen, dist, cl;
    /* RFC 1951 3.2.5, computed from its rule (oa_deflater_new) */
    uint8_t len_sym[MAX_MATCH + 1];   /* length 3..258 -> 0..28 */
    uint16_t len_base[29];
    uint8_t len_extra[29];
    uint16_t dist_base[DIST_SYMS];
    uint8_t dist_extra[DIST_SYMS];
};

/* The order of the code-length code's lengths in a block header. */
static const uint8_t cl_order[CL_SYMS] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5,
                                          11, 4, 12, 3, 13, 2, 14, 1, 15};

oa_deflater *oa_deflater_new(void)
{
    oa_deflater *d = oa_calloc(1, sizeof(*d));
    unsigned i, base;

    if (d == NULL)
        return NULL;
    /* Lengths: 257..264 are 3..10, then groups of four codes with 1..5
     * extra bits, and 285 is 258. */
    for (i = 0, base = 3; i < 28; i++) {
        unsigned bits = i < 8 ? 0 : (i - 4) / 4, l;

        d->len_base[i] = (uint16_t)base;
        d->len_extra[i] = (uint8_t)bits;
        for (l = base; l < base + (1u << bits) && l <= MAX_MATCH; l++)
            d->len_sym[l] = (uint8_t)i;
        base += 1u << bits;
    }
    d->len_base[28] = MAX_MATCH;
    d->len_extra[28] = 0;
    d->len_sym[MAX_MATCH] = 28;
    /* Distances: 0..3 are 1..4, then pairs of codes with 1..13 bits. */
    for (i = 0, base = 1; i < DIST_SYMS; i++) {
        unsigned bits = i < 4 ? 0 : (i - 2) / 2;

        d->dist_base[i] = (uint16_t)base;
        d->dist_extra[i] = (uint8_t)bits;
        base += 1u << bits;
    }
    return d;
}

void oa_deflater_free(oa_deflater *d)
{
    oa_free(d);
}

size_t oa_deflate_fast_bound(size_t len)
{
    /* stored blocks: 5 bytes each, a byte of the bits before, and the
     * writer's 8-byte stores past its position */
    return len + 6 * (len / BLOCK_IN + 1) + 32;
}

/* ------------------------------------------------------------------ */
/* Huffman codes                                                        */

/* keys[0..n-1] ascending, n <= LITLEN_SYMS: an LSD radix sort, a byte a
 * pass (keys are distinct: frequency << 16 | symbol, so any sort gives the
 * same order; qsort's calls were a few per cent of an export's CPU). */
static void sort_keys(uint32_t *keys, unsigned n)
{
    uint32_t tmp[LITLEN_SYMS], *src = keys, *dst = tmp, *t;
    unsigned shift, i;

    for (shift = 0; shift < 32; shift += 8) {
        unsigned count[256] = {0}, sum = 0;

        for (i = 0; i < n; i++)
            count[(src[i] >> shift) & 0xFF]++;
        if (count[(src[0] >> shift) & 0xFF] == n)
            continue;               /* every key has this byte: in order */
        for (i = 0; i < 256; i++) {
            unsigned c = count[i];

            count[i] = sum;
            sum += c;
        }
        for (i = 0; i < n; i++)
            dst[count[(src[i] >> shift) & 0xFF]++] = src[i];
        t = src;
        src = dst;
        dst = t;
    }
    if (src != keys)
        memcpy(keys, src, n * sizeof(keys[0]));
}

/* Code lengths of a minimum-redundancy code, in place (Moffat and
 * Katajainen, 1995): w[0..n-1] ascending weights in, lengths out (w[0]
 * the longest).  n >= 2. */
static void min_redundancy(uint32_t *w, unsigned n)
{
    unsigned root = 0, leaf = 2, next, avail, used, depth;
    int r, k;

    w[0] += w[1];
    for (next = 1; next < n - 1; next++) {
        if (leaf >= n || w[root] < w[leaf]) {
            w[next] = w[root];
            w[root++] = next;
        } else {
            w[next] = w[leaf++];
        }
        if (leaf >= n || (root < next && w[root] < w[leaf])) {
            w[next] += w[root];
            w[root++] = next;
        } else {
            w[next] += w[leaf++];
        }
    }
    w[n - 2] = 0;
    for (k = (int)n - 3; k >= 0; k--)
        w[k] = w[w[k]] + 1;
    avail = 1;
    used = depth = 0;
    r = (int)n - 2;
    k = (int)n - 1;
    while (avail > 0) {
        while (r >= 0 && w[r] == depth) {
            used++;
            r--;
        }
        while (avail > used) {
            w[k--] = depth;
            avail--;
        }
        avail = 2 * used;
        depth++;
        used = 0;
    }
}

static uint16_t reverse_bits(unsigned code, unsigned len)
{
    unsigned r = 0, i;

    for (i = 0; i < len; i++) {
        r = (r << 1) | (code & 1);
        code >>= 1;
    }
    return (uint16_t)r;
}

/* A length-limited canonical Huffman code for freq[0..n-1] into c. */
static void build_code(const uint32_t *freq, unsigned n, unsigned max_bits,
                       fd_code *c)
{
    uint32_t keys[LITLEN_SYMS];
    uint32_t w[LITLEN_SYMS];
    unsigned count[LEN_BUCKETS] = {0}, next_code[MAX_BITS + 2];
    unsigned used = 0, i, len, k, code;
    uint32_t total;

    memset(c->lens, 0, n);
    for (i = 0; i < n; i++)
        if (freq[i] != 0)
            keys[used++] = (freq[i] << 16) | i;
    /* At least two codes of length 1 when there are fewer symbols: a
     * complete code, which every inflater takes. */
    if (used < 2) {
        unsigned a = used == 1 ? (unsigned)(keys[0] & 0xFFFF) : 0;
        unsigned b = a == 0 ? 1 : 0;

        c->lens[a] = c->lens[b] = 1;
    } else {
        sort_keys(keys, used);
        for (i = 0; i < used; i++)
            w[i] = keys[i] >> 16;
        min_redundancy(w, used);
        for (i = 0; i < used; i++)
            count[w[i] < LEN_BUCKETS ? w[i] : LEN_BUCKETS - 1]++;
        /* Limit to max_bits: the longer codes become max_bits long, then
         * one max_bits code less and one shorter code split in two until
         * the code is complete again (the Kraft sum is 1). */
        for (len = max_bits + 1; len < LEN_BUCKETS; len++) {
            count[max_bits] += count[len];
            count[len] = 0;
        }
        for (total = 0, len = 1; len <= max_bits; len++)
            total += count[len] << (max_bits - len);
        while (total != (1u << max_bits)) {
            count[max_bits]--;
            for (len = max_bits - 1; len > 0; len--)
                if (count[len] != 0) {
                    count[len]--;
                    count[len + 1] += 2;
                    break;
                }
            total--;
        }
        /* The least frequent symbols get the longest codes. */
        for (k = 0, len = max_bits; len > 0; len--)
            for (i = 0; i < count[len]; i++)
                c->lens[keys[k++] & 0xFFFF] = (uint8_t)len;
    }
    memset(count, 0, sizeof(count));
    for (i = 0; i < n; i++)
        count[c->lens[i]]++;
    count[0] = 0;
    for (code = 0, len = 1; len <= max_bits; len++) {
        code = (code + count[len - 1]) << 1;
        next_code[len] = code;
    }
    for (i = 0; i < n; i++) {
        if (c->lens[i] != 0)
            c->codes[i] = reverse_bits(next_code[c->lens[i]]++, c->lens[i]);
        c->both[i] = c->lens[i] != 0 ? c->codes[i] | (uint32_t)c->lens[i] << 16 : 0;
    }
}

/* ------------------------------------------------------------------ */
/* The bit writer (LSB first); the caller checked the room              */

typedef struct {
    uint8_t *p;
    uint64_t bits;
    unsigned n;              /* < 8 after a flush */
} fd_writer;

static inline void put_bits(fd_writer *w, uint32_t v, unsigned n)
{
    w->bits |= (uint64_t)v << w->n;
    w->n += n;
}

/* At most 63 bits may be pending (four 14-bit literals after the 7 bits
 * a flush keeps): a flush writes 8 bytes and keeps the bits of the last
 * partial byte. */
static inline void flush_bits(fd_writer *w)
{
    unsigned bytes = w->n >> 3;

    oa_put_le64(w->p, w->bits);
    w->p += bytes;
    w->bits >>= bytes * 8;
    w->n &= 7;
}

/* The partial byte, padded with zero bits (a stored block, the end). */
static void align_bits(fd_writer *w)
{
    flush_bits(w);
    if (w->n > 0) {
        w->p++;
        w->bits = 0;
        w->n = 0;
    }
}

/* ------------------------------------------------------------------ */
/* One block                                                            */

static inline uint32_t load32(const uint8_t *p)
{
    uint32_t v;

    memcpy(&v, p, sizeof(v));
    return v;
}

static inline uint64_t load64(const uint8_t *p)
{
    uint64_t v;

    memcpy(&v, p, sizeof(v));
    return v;
}

/* Bytes from in[i] equal to those `dist` before, at most max (>= 4: the
 * first four are known equal). */
static unsigned run_length(const uint8_t *in, size_t i, unsigned dist,
                           unsigned max)
{
    unsigned len = MIN_RUN;

    while (len + 8 <= max) {
        uint64_t x = load64(in + i + len) ^ load64(in + i + len - dist);

        if (x != 0) {
#if defined(__GNUC__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
            return len + (unsigned)__builtin_ctzll(x) / 8;
#else
            break;
#endif
        }
        len += 8;
    }
    while (len < max && in[i + len] == in[i + len - dist])
        len++;
    return len;
}

/* 0x80 in each byte of x that is zero, 0 in the others (exact). */
static inline uint64_t zero_bytes(uint64_t x)
{
    const uint64_t m = 0x7F7F7F7F7F7F7F7FULL;

    return ~(((x & m) + m) | x | m);
}

static void count_literals(oa_deflater *d, const uint8_t *p, size_t n)
{
    size_t i;

    for (i = 0; i + 4 <= n; i += 4) {
        d->hist[0][p[i]]++;
        d->hist[1][p[i + 1]]++;
        d->hist[2][p[i + 2]]++;
        d->hist[3][p[i + 3]]++;
    }
    for (; i < n; i++)
        d->hist[0][p[i]]++;
}

/* The runs of in[start..end) and their frequencies; returns the number of
 * sequences (the last one without a match). */
static size_t parse_block(oa_deflater *d, const uint8_t *in, size_t start,
                          size_t end)
{
    size_t i = start, lit_start = start, nseq = 0;
    uint32_t *lf = d->litlen_freq;
    unsigned sym;

    memset(d->litlen_freq, 0, sizeof(d->litlen_freq));
    memset(d->dist_freq, 0, sizeof(d->dist_freq));
    memset(d->hist, 0, sizeof(d->hist));
    d->extra_bits = 0;
    /* the stream's first two bytes: nothing before them to repeat */
    if (i < 2)
        i = end < 2 ? end : 2;
    while (i + MIN_RUN <= end) {
        uint32_t v;
        unsigned dist, len, max;

        /* A run from in[i+k] needs in[i+k] and in[i+k+1] equal to the
         * bytes 1 (or 2) before them: without two such neighbours among
         * in[i..i+7], none starts at i..i+6. */
        if (i + 8 <= end) {
            uint64_t w = load64(in + i);
            uint64_t z1 = zero_bytes(w ^ load64(in + i - 1));
            uint64_t z2 = zero_bytes(w ^ load64(in + i - 2));

            if (((z1 & (z1 >> 8)) | (z2 & (z2 >> 8))) == 0) {
                i += 7;
                continue;
            }
        }
        v = load32(in + i);

        if (v == load32(in + i - 2))
            dist = 2;
        else if (v == load32(in + i - 1))
            dist = 1;
        else {
            i++;
            continue;
        }
        count_literals(d, in + lit_start, i - lit_start);
        max = end - i < MAX_MATCH ? (unsigned)(end - i) : MAX_MATCH;
        len = run_length(in, i, dist, max);
        d->seqs[nseq].lits = (uint32_t)(i - lit_start);
        d->seqs[nseq].len = (uint16_t)len;
        d->seqs[nseq].dist = (uint16_t)dist;
        nseq++;
        sym = d->len_sym[len];
        lf[257 + sym]++;
        d->extra_bits += d->len_extra[sym];
        d->dist_freq[dist - 1]++;   /* distances 1 and 2: codes 0 and 1 */
        i += len;
        lit_start = i;
    }
    count_literals(d, in + lit_start, end - lit_start);
    for (sym = 0; sym < 256; sym++)
        lf[sym] = d->hist[0][sym] + d->hist[1][sym] + d->hist[2][sym] +
                  d->hist[3][sym];
    d->seqs[nseq].lits = (uint32_t)(end - lit_start);
    d->seqs[nseq].len = 0;
    d->seqs[nseq].dist = 0;
    lf[END_OF_BLOCK] = 1;
    return nseq + 1;
}

/* The code-length code's items for lens[0..n-1] (zlib's: each tree's
 * lengths on their own); returns how many. */
static unsigned rle_lengths(const uint8_t *lens, unsigned n, uint8_t *sym,
                            uint8_t *extra)
{
    unsigned i = 0, k = 0;

    while (i < n) {
        unsigned cur = lens[i], run = 1;

        while (i + run < n && lens[i + run] == cur)
            run++;
        i += run;
        if (cur == 0) {
            while (run >= 11) {
                unsigned r = run < 138 ? run : 138;

                sym[k] = 18;
                extra[k++] = (uint8_t)(r - 11);
                run -= r;
            }
            if (run >= 3) {
                sym[k] = 17;
                extra[k++] = (uint8_t)(run - 3);
                run = 0;
            }
        } else {
            sym[k] = (uint8_t)cur;
            extra[k++] = 0;
            run--;
            while (run >= 3) {
                unsigned r = run < 6 ? run : 6;

                sym[k] = 16;
                extra[k++] = (uint8_t)(r - 3);
                run -= r;
            }
        }
        while (run-- > 0) {
            sym[k] = (uint8_t)cur;
            extra[k++] = 0;
        }
    }
    return k;
}

static const uint8_t cl_extra_bits[CL_SYMS] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                               0, 0, 0, 0, 0, 0, 2, 3, 7};

typedef struct {
    unsigned hlit, hdist, hclen, nitems;
    uint8_t sym[LITLEN_SYMS + DIST_SYMS];
    uint8_t extra[LITLEN_SYMS + DIST_SYMS];
} fd_header;

/* The codes of the parsed block and the size of its dynamic header. */
static uint64_t plan_header(oa_deflater *d, fd_header *h)
{
    uint32_t cl_freq[CL_SYMS] = {0};
    unsigned i;
    uint64_t bits;

    build_code(d->litlen_freq, LITLEN_SYMS, MAX_BITS, &d->litlen);
    build_code(d->dist_freq, DIST_SYMS, MAX_BITS, &d->dist);
    for (h->hlit = LITLEN_SYMS; h->hlit > 257 && d->litlen.lens[h->hlit - 1] == 0;
         h->hlit--)
        ;
    for (h->hdist = DIST_SYMS; h->hdist > 1 && d->dist.lens[h->hdist - 1] == 0;
         h->hdist--)
        ;
    h->nitems = rle_lengths(d->litlen.lens, h->hlit, h->sym, h->extra);
    h->nitems += rle_lengths(d->dist.lens, h->hdist, h->sym + h->nitems,
                             h->extra + h->nitems);
    for (i = 0; i < h->nitems; i++)
        cl_freq[h->sym[i]]++;
    build_code(cl_freq, CL_SYMS, MAX_CL_BITS, &d->cl);
    for (h->hclen = CL_SYMS; h->hclen > 4 && d->cl.lens[cl_order[h->hclen - 1]] == 0;
         h->hclen--)
        ;
    bits = 5 + 5 + 4 + 3 * (uint64_t)h->hclen;
    for (i = 0; i < h->nitems; i++)
        bits += d->cl.lens[h->sym[i]] + cl_extra_bits[h->sym[i]];
    return bits;
}

/* Bits of the block's symbols with the codes built. */
static uint64_t symbol_bits(const oa_deflater *d)
{
    uint64_t bits = d->extra_bits;
    unsigned i;

    for (i = 0; i < LITLEN_SYMS; i++)
        bits += (uint64_t)d->litlen_freq[i] * d->litlen.lens[i];
    for (i = 0; i < DIST_SYMS; i++)
        bits += (uint64_t)d->dist_freq[i] * d->dist.lens[i];
    return bits;
}

static void write_header(const oa_deflater *d, const fd_header *h,
                         fd_writer *w)
{
    unsigned i;

    put_bits(w, h->hlit - 257, 5);
    put_bits(w, h->hdist - 1, 5);
    put_bits(w, h->hclen - 4, 4);
    flush_bits(w);
    for (i = 0; i < h->hclen; i++) {
        put_bits(w, d->cl.lens[cl_order[i]], 3);
        flush_bits(w);
    }
    for (i = 0; i < h->nitems; i++) {
        unsigned s = h->sym[i];

        put_bits(w, d->cl.codes[s], d->cl.lens[s]);
        put_bits(w, h->extra[i], cl_extra_bits[s]);
        flush_bits(w);
    }
}

static inline void put_literal(const oa_deflater *d, fd_writer *w, uint8_t b)
{
    uint32_t e = d->litlen.both[b];

    put_bits(w, e & 0xFFFF, e >> 16);
}

static void write_symbols(const oa_deflater *d, size_t nseq,
                          const uint8_t *p, fd_writer *w)
{
    size_t s;
    bool four = true;
    unsigned b;

    for (b = 0; b < 256; b++)
        if (d->litlen.lens[b] > 14)
            four = false;

    for (s = 0; s < nseq; s++) {
        const fd_seq *q = &d->seqs[s];
        uint32_t n = q->lits;

        /* four literals (at most 56 bits) between flushes when no
         * literal's code is longer than 14 bits, else three (45) */
        if (four)
            for (; n >= 4; n -= 4, p += 4) {
                put_literal(d, w, p[0]);
                put_literal(d, w, p[1]);
                put_literal(d, w, p[2]);
                put_literal(d, w, p[3]);
                flush_bits(w);
            }
        for (; n >= 3; n -= 3, p += 3) {
            put_literal(d, w, p[0]);
            put_literal(d, w, p[1]);
            put_literal(d, w, p[2]);
            flush_bits(w);
        }
        for (; n > 0; n--, p++) {
            put_literal(d, w, *p);
            flush_bits(w);
        }
        if (q->len != 0) {
            unsigned ls = d->len_sym[q->len], ds = q->dist - 1u;

            put_bits(w, d->litlen.codes[257 + ls], d->litlen.lens[257 + ls]);
            put_bits(w, q->len - d->len_base[ls], d->len_extra[ls]);
            put_bits(w, d->dist.codes[ds], d->dist.lens[ds]);
            put_bits(w, q->dist - d->dist_base[ds], d->dist_extra[ds]);
            flush_bits(w);
            p += q->len;
        }
    }
    put_bits(w, d->litlen.codes[END_OF_BLOCK], d->litlen.lens[END_OF_BLOCK]);
    flush_bits(w);
}

size_t oa_deflate_fast(oa_deflater *d, const uint8_t *in, size_t len,
                       uint8_t *out, size_t cap)
{
    fd_writer w = {out, 0, 0};
    const uint8_t *out_end = out + cap;
    size_t start = 0;

    if (cap < 16)
        return 0;
    if (len == 0) {
        /* a final block of fixed codes with its end of block only */
        put_bits(&w, 1 | (1 << 1), 3);
        put_bits(&w, 0, 7);
        align_bits(&w);
        return (size_t)(w.p - out);
    }
    while (start < len) {
        size_t end = len - start > BLOCK_IN ? start + BLOCK_IN : len;
        unsigned final = end == len;
        fd_header h;
        size_t nseq = parse_block(d, in, start, end);
        uint64_t dyn = 3 + plan_header(d, &h) + symbol_bits(d);
        uint64_t stored = 3 + 7 + 32 + 8 * (uint64_t)(end - start);

        /* room for the block, the pending bits and the last 8-byte store */
        if ((uint64_t)(out_end - w.p) < (dyn < stored ? dyn : stored) / 8 + 16)
            return 0;
        if (dyn < stored) {
            put_bits(&w, final | (2 << 1), 3);
            write_header(d, &h, &w);
            write_symbols(d, nseq, in + start, &w);
        } else {
            put_bits(&w, final, 3);
            align_bits(&w);
            oa_put_le16(w.p, (uint16_t)(end - start));
            oa_put_le16(w.p + 2, (uint16_t)~(end - start));
            memcpy(w.p + 4, in + start, end - start);
            w.p += 4 + (end - start);
        }
        start = end;
    }
    align_bits(&w);
    return (size_t)(w.p - out);
}
