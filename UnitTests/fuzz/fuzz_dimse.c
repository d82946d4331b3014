/*
 * fuzz_dimse: arbitrary bytes through the parsers of the C-STORE SCU
 * (Plugin/export/dimse.c), i.e. everything it reads from a peer or a file:
 *
 *  1. oa_scu_parse_ac on the input as an A-ASSOCIATE-AC body, with the
 *     contexts an SCU would have proposed (ids 1, 3, ... 15 over a few
 *     SOP class / transfer syntax pairs);
 *  2. oa_scu_parse_response on the input as a C-STORE-RSP command set;
 *  3. oa_scu_meta on the input as a Part 10 file.
 *
 * The oracle traps on what the contracts forbid: a context accepted with a
 * non-zero result, a response with more offending tags than its array, a
 * data set offset outside the input or not after a meta group, a UID that
 * is not 1..64 digits and dots, an error without its message.  Memory
 * errors are the sanitizers' (OA_FUZZ=libfuzzer with address,undefined).
 *
 * Failures abort with __builtin_trap(), here only.  Built against
 * libFuzzer or linked with standalone_driver.c (see CMakeLists.txt).
 */
#define _POSIX_C_SOURCE 200809L

#include "export/export_int.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond))                                                         \
            __builtin_trap();                                                \
    } while (0)

static bool uid_valid(const char *u, size_t cap)
{
    size_t n = strnlen(u, cap), i;

    if (n == 0 || n > 64)
        return false;
    for (i = 0; i < n; i++)
        if (!((u[i] >= '0' && u[i] <= '9') || u[i] == '.'))
            return false;
    return true;
}

static void check_error(oa_status rc, const oa_error *err)
{
    if (rc != OA_OK) {
        CHECK(err->code == rc);
        CHECK(memchr(err->msg, '\0', sizeof(err->msg)) != NULL);
        CHECK(err->msg[0] != '\0');
    }
}

static void fuzz_ac(const uint8_t *data, size_t size)
{
    static const char *const classes[] = {"1.2.840.10008.5.1.4.1.1.2",
                                          "1.2.840.10008.5.1.4.1.1.4"};
    static const char *const syntaxes[] = {
        "1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.4.50",
        "1.2.840.10008.1.2.4.70"};
    oa_scu_context ctx[8];
    uint32_t their_max = 12345;
    oa_error err;
    oa_status rc;
    size_t i;

    memset(ctx, 0, sizeof(ctx));
    for (i = 0; i < 8; i++) {
        strcpy(ctx[i].sop_class, classes[i % 2]);
        strcpy(ctx[i].transfer_syntax, syntaxes[i / 2]);
        ctx[i].id = (uint8_t)(2 * i + 1);
        ctx[i].accepted = true;   /* must be reset */
    }
    oa_error_clear(&err);
    rc = oa_scu_parse_ac(data, size, ctx, 8, &their_max, &err);
    check_error(rc, &err);
    CHECK(rc == OA_OK || rc == OA_EPARSE);
    for (i = 0; i < 8; i++) {
        if (ctx[i].accepted)
            CHECK(rc == OA_OK && ctx[i].result == 0);
        CHECK(ctx[i].id == (uint8_t)(2 * i + 1));
    }
    if (rc != OA_OK)
        return;
    /* no context proposed: nothing accepted, and the same verdict */
    {
        uint32_t m2 = 1;
        oa_scu_context none;

        memset(&none, 0, sizeof(none));
        CHECK(oa_scu_parse_ac(data, size, &none, 0, &m2, &err) == OA_OK);
        CHECK(m2 == their_max);
    }
}

static void fuzz_response(const uint8_t *data, size_t size)
{
    oa_scu_response r;
    oa_error err;
    oa_status rc;

    oa_error_clear(&err);
    rc = oa_scu_parse_response(data, size, &r, &err);
    check_error(rc, &err);
    CHECK(rc == OA_OK || rc == OA_EPARSE);
    CHECK(r.offending_count <= OA_SCU_OFFENDING_MAX);
}

static void fuzz_meta(const uint8_t *data, size_t size)
{
    oa_scu_file f;
    oa_error err;
    oa_status rc;

    oa_error_clear(&err);
    rc = oa_scu_meta(data, size, &f, &err);
    check_error(rc, &err);
    CHECK(rc == OA_OK || rc == OA_EUNSUPPORTED);
    if (rc != OA_OK)
        return;
    CHECK(f.dataset_offset > 132 && f.dataset_offset < size);
    CHECK((size - f.dataset_offset) % 2 == 0);
    CHECK(memcmp(data + 128, "DICM", 4) == 0);
    CHECK(uid_valid(f.sop_class, sizeof(f.sop_class)));
    CHECK(uid_valid(f.sop_instance, sizeof(f.sop_instance)));
    CHECK(uid_valid(f.transfer_syntax, sizeof(f.transfer_syntax)));
    /* the data set does not start in group 0002 */
    CHECK(size - f.dataset_offset < 2 ||
          (data[f.dataset_offset] | (data[f.dataset_offset + 1] << 8)) !=
              0x0002);
    /* and a command built from it is within its ceiling and parses */
    {
        uint8_t cmd[OA_SCU_COMMAND_MAX];
        size_t n = oa_scu_store_command(cmd, f.sop_class, f.sop_instance, 7);
        oa_scu_response r;

        CHECK(n > 12 && n <= OA_SCU_COMMAND_MAX);
        /* no Status: a request is not a response */
        CHECK(oa_scu_parse_response(cmd, n, &r, &err) == OA_EPARSE);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* every input through all three: a seed of one kind is garbage to the
     * others, which is a test too */
    fuzz_ac(data, size);
    fuzz_response(data, size);
    fuzz_meta(data, size);
    return 0;
}
