/*
 * Keyed pseudonyms: new UIDs are <root>.<decimal of 128 bits of
 * HMAC-SHA256(secret, UID)>; the generated name and ID and the date
 * offset are HMACs of the original Patient ID.  The same input and secret
 * give the same output on any server, with no lookup table.
 */
#include "engine_int.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Keyed mappings                                                       */

static void hmac(const oa_anonymizer *a, const char *domain, const void *data,
                 size_t len, uint8_t out[32])
{
    unsigned int n = 32;
    uint8_t msg[600];
    size_t dl = strlen(domain);

    /* Domain separation: UIDs (no prefix: HMAC-SHA256(secret, UID), the
     * documented contract), "patient:", "date:" and "hash:" never collide,
     * since a UID holds only digits and dots. */
    if (dl + len > sizeof(msg))
        len = sizeof(msg) - dl;
    memcpy(msg, domain, dl);
    memcpy(msg + dl, data, len);
    HMAC(EVP_sha256(), a->secret, (int)a->secret_len, msg, dl + len, out, &n);
}

int oa_anon_map_uid(const oa_anonymizer *a, const char *uid, size_t len,
                    char *out, size_t out_size)
{
    uint8_t mac[32];
    size_t root = strlen(a->uid_root);

    len = oa_value_trim((const uint8_t *)uid, len);
    if (oa_uid_value_is_well_known(uid, len) || len == 0) {
        if (len + 1 > out_size)
            return -1;
        memcpy(out, uid, len);
        out[len] = '\0';
        return 0;
    }
    hmac(a, "", uid, len, mac);
    if (root + 2 > out_size)
        return -1;
    memcpy(out, a->uid_root, root);
    out[root] = '.';
    /* first 128 bits; a leading zero digit cannot occur (no zero pad) */
    return oa_u128_decimal(mac, out + root + 1, out_size - root - 1) ? 0 : -1;
}

static void hex(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789ABCDEF";
    size_t i;
    for (i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

void oa_anon_pseudonym(const oa_anonymizer *a, const char *patient_id,
                       size_t len, char name[65], char id[65])
{
    uint8_t mac[32];
    char h[25];

    hmac(a, "patient:", patient_id, len, mac);
    hex(mac, 12, h);
    snprintf(name, 65, "ANON^%.10s", h);
    snprintf(id, 65, "ANON%.12s", h + 10);
}

void oa_anon_hash_value(const oa_anonymizer *a, const void *v, size_t n,
                        char out[17])
{
    uint8_t mac[32];

    n = oa_value_trim(v, n);
    hmac(a, "hash:", v, n, mac);
    hex(mac, 8, out);
}

int oa_anon_date_offset(const oa_anonymizer *a, const char *patient_id,
                        size_t len)
{
    uint8_t mac[32];
    uint32_t v;

    hmac(a, "date:", patient_id, len, mac);
    v = ((uint32_t)mac[0] << 24) | ((uint32_t)mac[1] << 16) |
        ((uint32_t)mac[2] << 8) | mac[3];
    /* between 1 day and about 10 years back, whole days */
    return -(int)(1 + v % 3650);
}
