/*
 * The REST reference (doc/rest-api.md) documents every route of the
 * route table, and nothing else, so that the two cannot drift apart.
 *
 * Each route is a heading line "### METHOD /anonymizer/path/{param}", one
 * per method and path, `{name}` standing for a regex group.  Checked both
 * ways: every (method, route) of oa_rest_routes() has a heading whose
 * path, with its placeholders replaced by sample values, matches the
 * route's regex; every heading matches a route with its method.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dicom/dicom.h"
#include "rest/rest.h"

#define MAX_HEADINGS 128
#define MAX_PLACEHOLDERS 4

/* Values a placeholder may stand for: an ID or name, a level of the
 * shortcut routes, the optional number of an archive, a file path. */
static const char *const samples[] = {"1",  "studies", "patients",
                                      "",   "-2",      "index.html",
                                      "js/app.js"};
#define NSAMPLES (sizeof(samples) / sizeof(samples[0]))

typedef struct heading {
    unsigned method;
    char path[256];
    unsigned line;
} heading;

static unsigned method_bit(const char *s, size_t n)
{
    static const struct {
        const char *name;
        unsigned bit;
    } m[] = {{"GET", OA_HTTP_GET},
             {"POST", OA_HTTP_POST},
             {"PUT", OA_HTTP_PUT},
             {"DELETE", OA_HTTP_DELETE}};
    size_t i;

    for (i = 0; i < sizeof(m) / sizeof(m[0]); i++)
        if (strlen(m[i].name) == n && memcmp(s, m[i].name, n) == 0)
            return m[i].bit;
    return 0;
}

/* Complain into `problems` (one line each). */
static void problem(oa_buf *problems, unsigned *count, const char *fmt, ...)
    OA_PRINTF(3, 4);

static void problem(oa_buf *problems, unsigned *count, const char *fmt, ...)
{
    char line[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    (void)oa_buf_printf(problems, "%s\n", line);
    (*count)++;
}

/*
 * The route headings of `text`.  A "### " line whose first word is an
 * HTTP method must be exactly "### METHOD /anonymizer..." (no trailing
 * text); other "### " headings are sections and are ignored.
 */
static size_t parse_headings(const char *text, heading *out, size_t max,
                             oa_buf *problems, unsigned *count)
{
    const char *p = text;
    unsigned line = 0;
    size_t n = 0;

    while (*p != '\0') {
        const char *end = strchr(p, '\n');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);

        line++;
        if (len > 4 && memcmp(p, "### ", 4) == 0) {
            const char *w = p + 4, *sp = memchr(w, ' ', len - 4);
            unsigned bit = method_bit(w, sp != NULL ? (size_t)(sp - w)
                                                    : len - 4);

            if (bit != 0) {
                size_t plen = sp != NULL ? len - (size_t)(sp + 1 - p) : 0;

                if (sp == NULL || plen == 0 || plen >= sizeof(out[0].path) ||
                    strncmp(sp + 1, "/anonymizer", 11) != 0 ||
                    memchr(sp + 1, ' ', plen) != NULL ||
                    memchr(sp + 1, '`', plen) != NULL) {
                    problem(problems, count,
                            "line %u: a route heading must be \"### METHOD "
                            "/anonymizer/path/{param}\": %.*s",
                            line, (int)len, p);
                } else if (n < max) {
                    out[n].method = bit;
                    memcpy(out[n].path, sp + 1, plen);
                    out[n].path[plen] = '\0';
                    out[n].line = line;
                    n++;
                }
            }
        }
        p += len;
        if (*p == '\n')
            p++;
    }
    return n;
}

/* True if some filling of the placeholders of `path` with sample values
 * matches `re`. */
static bool heading_matches(const char *path, const regex_t *re)
{
    const char *open[MAX_PLACEHOLDERS], *close[MAX_PLACEHOLDERS];
    size_t k = 0, combos = 1, c, i;
    const char *p = path;

    while ((p = strchr(p, '{')) != NULL && k < MAX_PLACEHOLDERS) {
        const char *q = strchr(p, '}');

        if (q == NULL)
            return false;
        open[k] = p;
        close[k] = q;
        k++;
        p = q + 1;
    }
    for (i = 0; i < k; i++)
        combos *= NSAMPLES;
    for (c = 0; c < combos; c++) {
        char url[512];
        size_t len = 0, pick = c;
        const char *from = path;

        for (i = 0; i < k; i++) {
            const char *s = samples[pick % NSAMPLES];

            pick /= NSAMPLES;
            len += (size_t)snprintf(url + len, sizeof(url) - len, "%.*s%s",
                                    (int)(open[i] - from), from, s);
            from = close[i] + 1;
        }
        snprintf(url + len, sizeof(url) - len, "%s", from);
        if (regexec(re, url, 0, NULL, 0) == 0)
            return true;
    }
    return false;
}

/* Check `text` against the route table; the number of problems. */
static unsigned check_doc(const char *text, oa_buf *problems)
{
    static const unsigned methods[] = {OA_HTTP_GET, OA_HTTP_POST,
                                       OA_HTTP_PUT, OA_HTTP_DELETE};
    heading *h = calloc(MAX_HEADINGS, sizeof(*h));
    regex_t *re;
    size_t nroutes, nh, i, j, m;
    const oa_route *routes = oa_rest_routes(&nroutes);
    unsigned count = 0;

    assert_non_null(h);
    re = calloc(nroutes, sizeof(*re));
    assert_non_null(re);
    for (i = 0; i < nroutes; i++) {
        char anchored[512];

        snprintf(anchored, sizeof(anchored), "^%s$", routes[i].pattern);
        assert_int_equal(regcomp(&re[i], anchored, REG_EXTENDED), 0);
    }
    nh = parse_headings(text, h, MAX_HEADINGS, problems, &count);

    /* one heading per method and path */
    for (i = 0; i < nh; i++)
        for (j = i + 1; j < nh; j++)
            if (h[i].method == h[j].method &&
                strcmp(h[i].path, h[j].path) == 0)
                problem(problems, &count, "line %u: %s %s documented twice",
                        h[j].line, oa_http_method_name(h[j].method),
                        h[j].path);

    /* every route and method has its heading */
    for (i = 0; i < nroutes; i++)
        for (m = 0; m < sizeof(methods) / sizeof(methods[0]); m++) {
            bool found = false;

            if ((routes[i].methods & methods[m]) == 0)
                continue;
            for (j = 0; j < nh && !found; j++)
                found = h[j].method == methods[m] &&
                        heading_matches(h[j].path, &re[i]);
            if (!found)
                problem(problems, &count,
                        "route %s %s has no heading \"### %s /anonymizer/...\"",
                        oa_http_method_name((oa_http_method)methods[m]),
                        routes[i].pattern,
                        oa_http_method_name((oa_http_method)methods[m]));
        }

    /* every heading is a route with that method */
    for (j = 0; j < nh; j++) {
        bool found = false;

        for (i = 0; i < nroutes && !found; i++)
            found = (routes[i].methods & h[j].method) != 0 &&
                    heading_matches(h[j].path, &re[i]);
        if (!found)
            problem(problems, &count,
                    "line %u: %s %s is no route of the table (Plugin/rest/"
                    "rest.c)",
                    h[j].line, oa_http_method_name(h[j].method), h[j].path);
    }

    for (i = 0; i < nroutes; i++)
        regfree(&re[i]);
    free(re);
    free(h);
    return count;
}

/* The whole table as headings, each route's path written by hand. */
static const char *const table_doc =
    "# API\n\n### Errors\nText.\n\n"
    "### GET /anonymizer/info\n### GET /anonymizer/app\n"
    "### GET /anonymizer/app/app/index.html\n### GET /anonymizer/app/{path}\n"
    "### GET /anonymizer/profiles\n### GET /anonymizer/profiles/{name}\n"
    "### PUT /anonymizer/profiles/{name}\n"
    "### DELETE /anonymizer/profiles/{name}\n"
    "### GET /anonymizer/profiles/{name}/rules\n"
    "### POST /anonymizer/anonymize\n"
    "### POST /anonymizer/studies/{id}/anonymize\n"
    "### POST /anonymizer/copies\n"
    "### GET /anonymizer/reports\n### GET /anonymizer/reports/{id}\n"
    "### GET /anonymizer/reports/{id}/csv\n"
    "### GET /anonymizer/reports/{id}/uids.csv\n"
    "### GET /anonymizer/reports/{id}/patients.csv\n### GET /anonymizer/jobs\n"
    "### POST /anonymizer/export\n"
    "### GET /anonymizer/exports/{id}/archive-{n}.zip\n"
    "### GET /anonymizer/destinations\n"
    "### GET /anonymizer/destinations/{name}\n"
    "### PUT /anonymizer/destinations/{name}\n"
    "### DELETE /anonymizer/destinations/{name}\n"
    "### POST /anonymizer/destinations/{name}/test\n"
    "### GET /anonymizer/audit\n";

/* The checker itself: it accepts a complete text and names what is
 * missing, extra, doubled or malformed. */
static void test_checker(void **state)
{
    oa_buf problems;
    char *text;
    const char *out;

    (void)state;
    oa_buf_init(&problems, 1 << 20);
    assert_int_equal(check_doc(table_doc, &problems), 0);

    /* drop the DELETE of profiles, add a route that does not exist, a
     * doubled one, a wrong method and a malformed heading */
    text = malloc(strlen(table_doc) + 512);
    assert_non_null(text);
    strcpy(text, table_doc);
    {
        const char *drop = "### DELETE /anonymizer/profiles/{name}\n";
        char *at = strstr(text, drop);

        memmove(at, at + strlen(drop), strlen(at + strlen(drop)) + 1);
    }
    strcat(text, "### GET /anonymizer/teapot\n"
                 "### GET /anonymizer/jobs\n"
                 "### DELETE /anonymizer/info\n"
                 "### GET `/anonymizer/info` (discovery)\n");
    oa_buf_reset(&problems);
    assert_int_equal(check_doc(text, &problems), 5);
    out = oa_buf_cstr(&problems);
    assert_non_null(strstr(out, "route DELETE /anonymizer/profiles/([^/]+)"));
    assert_non_null(strstr(out, "GET /anonymizer/teapot is no route"));
    assert_non_null(strstr(out, "GET /anonymizer/jobs documented twice"));
    assert_non_null(strstr(out, "DELETE /anonymizer/info is no route"));
    assert_non_null(strstr(out, "a route heading must be"));
    free(text);
    oa_buf_dispose(&problems);
}

static void test_rest_api_md(void **state)
{
    oa_buf file, problems;
    oa_error err;
    unsigned n;

    (void)state;
    oa_buf_init(&file, 1 << 24);
    oa_buf_init(&problems, 1 << 20);
    oa_error_clear(&err);
    if (oa_file_read(OA_SOURCE_DIR "/doc/rest-api.md", &file, &err) !=
        OA_OK) {
        fprintf(stderr, "doc/rest-api.md: %s\n", err.msg);
        fail();
    }
    n = check_doc(oa_buf_cstr(&file), &problems);
    if (n != 0)
        fprintf(stderr, "doc/rest-api.md does not match the route table:\n%s",
                oa_buf_cstr(&problems));
    assert_int_equal(n, 0);
    oa_buf_dispose(&problems);
    oa_buf_dispose(&file);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checker),
        cmocka_unit_test(test_rest_api_md),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
