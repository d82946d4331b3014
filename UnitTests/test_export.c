#define _GNU_SOURCE
/*
 * Unit tests of the export module without a server: path safety and
 * sanitizing, the folder and zip backends writing to a temporary folder
 * (atomic rename, abort, split archives, store vs deflate), compressed
 * DICOM detection, and the destinations (validation, secrets hidden,
 * folder paths resolved under ExportFolder); the DICOM and peer backends'
 * put of a file's bytes (store-straight, for anonymization on the way
 * out) on a fake Orthanc REST API.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cjson/cJSON.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <minizip/unzip.h>

#include "config/config.h"
#include "dicom_bytes.h"
#include "export/export.h"
#include "services/services.h"

static char tmpdir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/oa-test-export-XXXXXX");
    return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    oa_export_remove_tree(tmpdir);
    return 0;
}

static bool exists(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0;
}

static void test_sanitize(void **state)
{
    char out[16];

    (void)state;
    oa_export_sanitize(out, sizeof(out), "CT CHEST/ABD ", 13);
    assert_string_equal(out, "CT_CHEST_ABD");
    oa_export_sanitize(out, sizeof(out), "..", 2);
    assert_string_equal(out, "_.");
    oa_export_sanitize(out, sizeof(out), "", 0);
    assert_string_equal(out, "unknown");
    oa_export_sanitize(out, sizeof(out), "   ", 3);
    assert_string_equal(out, "unknown");
    oa_export_sanitize(out, sizeof(out), "abcdefghijklmnopqrstuvwxyz", 26);
    assert_string_equal(out, "abcdefghijklmno");   /* at most size - 1 */
    oa_export_sanitize(out, sizeof(out), "a\0b", 3);
    assert_string_equal(out, "a");
    oa_export_sanitize(out, sizeof(out), "\xc3\xa9t\xc3\xa9", 6);
    assert_string_equal(out, "__t__");
}

static void test_relpath_safety(void **state)
{
    (void)state;
    assert_true(oa_export_relpath_is_safe("a/b/c.dcm"));
    assert_true(oa_export_relpath_is_safe("sub folder/x"));
    assert_false(oa_export_relpath_is_safe(NULL));
    assert_false(oa_export_relpath_is_safe(""));
    assert_false(oa_export_relpath_is_safe("/etc/passwd"));
    assert_false(oa_export_relpath_is_safe("../x"));
    assert_false(oa_export_relpath_is_safe("a/../x"));
    assert_false(oa_export_relpath_is_safe("a/./x"));
    assert_false(oa_export_relpath_is_safe("a//x"));
    assert_false(oa_export_relpath_is_safe("a/"));
    assert_false(oa_export_relpath_is_safe(".hidden"));
    assert_false(oa_export_relpath_is_safe("a\\b"));
    assert_false(oa_export_relpath_is_safe("a\nb"));
}

static oa_exporter *open_backend(const char *type, oa_export_target *t,
                                 const char *name)
{
    const oa_export_backend *b = oa_export_backend_find(type);
    oa_exporter *e = NULL;
    oa_error err;

    assert_non_null(b);
    oa_error_clear(&err);
    assert_int_equal(b->ops->open(&e, t, name, &err), OA_OK);
    assert_non_null(e);
    return e;
}

static void test_folder_backend(void **state)
{
    oa_export_target t;
    oa_export_result res;
    oa_exporter *e;
    oa_error err;
    char path[512], folder[300];
    const uint8_t data[] = "DICM-ish";

    (void)state;
    snprintf(folder, sizeof(folder), "%s/out/deeper", tmpdir);
    memset(&t, 0, sizeof(t));
    t.type = "folder";
    t.url = folder;
    e = open_backend("folder", &t, "export1");
    snprintf(path, sizeof(path), "%s/export1.partial", folder);
    assert_true(exists(path));
    assert_int_equal(e->backend->ops->put(e, "P/S/R/1.dcm", data, 8, 0, &err),
                     OA_OK);
    assert_int_equal(e->backend->ops->put(e, "P/S/R/2.dcm", data, 8, 0, &err),
                     OA_OK);
    assert_int_equal(e->backend->ops->put(e, "../escape.dcm", data, 8, 0,
                                          &err),
                     OA_EINVAL);
    /* nothing under the final name before finish */
    snprintf(path, sizeof(path), "%s/export1", folder);
    assert_false(exists(path));
    oa_export_result_init(&res);
    assert_int_equal(e->backend->ops->finish(e, &res, &err), OA_OK);
    snprintf(path, sizeof(path), "%s/export1/P/S/R/2.dcm", folder);
    assert_true(exists(path));
    snprintf(path, sizeof(path), "%s/export1.partial", folder);
    assert_false(exists(path));
    snprintf(path, sizeof(path), "%s/export1", folder);
    assert_string_equal(res.location, path);
    oa_export_result_dispose(&res);
    e->backend->ops->free(e);

    /* the same name again: refused, the first export untouched */
    e = NULL;
    assert_int_equal(oa_export_backend_find("folder")->ops->open(
                         &e, &t, "export1", &err),
                     OA_ECONFLICT);
    assert_null(e);

    /* abort removes everything */
    e = open_backend("folder", &t, "export2");
    assert_int_equal(e->backend->ops->put(e, "P/S/R/1.dcm", data, 8, 0, &err),
                     OA_OK);
    e->backend->ops->abort(e);
    e->backend->ops->free(e);
    snprintf(path, sizeof(path), "%s/export2.partial", folder);
    assert_false(exists(path));
    snprintf(path, sizeof(path), "%s/export2", folder);
    assert_false(exists(path));
}

/* Names and compression methods of the entries of a ZIP. */
static int zip_entries(const char *path, char names[][128], int *methods,
                       int max)
{
    unzFile z = unzOpen64(path);
    int n = 0, rc;

    assert_non_null(z);
    for (rc = unzGoToFirstFile(z); rc == UNZ_OK && n < max;
         rc = unzGoToNextFile(z)) {
        unz_file_info64 info;

        assert_int_equal(unzGetCurrentFileInfo64(z, &info, names[n], 128,
                                                 NULL, 0, NULL, 0),
                         UNZ_OK);
        methods[n] = (int)info.compression_method;
        /* content checks out (CRC verified by reading to the end) */
        {
            char buf[4096];
            int got;

            assert_int_equal(unzOpenCurrentFile(z), UNZ_OK);
            while ((got = unzReadCurrentFile(z, buf, sizeof(buf))) > 0)
                ;
            assert_int_equal(got, 0);
            assert_int_equal(unzCloseCurrentFile(z), UNZ_OK);
        }
        n++;
    }
    unzClose(z);
    return n;
}

static void test_zip_backend(void **state)
{
    static uint8_t big[700 * 1024], noise[700 * 1024];
    oa_export_target t;
    oa_export_result res;
    oa_exporter *e;
    oa_error err;
    char names[8][128], folder[300];
    int methods[8], i;
    uint32_t x = 12345;

    (void)state;
    for (i = 0; i < (int)sizeof(big); i++) {
        big[i] = (uint8_t)(i % 7);
        x = x * 1103515245u + 12345u;      /* deflate wins nothing here */
        noise[i] = (uint8_t)(x >> 24);
    }
    snprintf(folder, sizeof(folder), "%s/archives", tmpdir);
    memset(&t, 0, sizeof(t));
    t.type = "zip";
    t.url = folder;
    t.max_archive = 1024 * 1024;  /* 1 MiB */
    e = open_backend("zip", &t, "exp");
    assert_int_equal(e->backend->ops->put(e, "P/S/R/1.dcm", big, sizeof(big),
                                          0, &err),
                     OA_OK);
    assert_int_equal(e->backend->ops->put(e, "P/S/R/2.dcm", noise,
                                          sizeof(noise),
                                          OA_EXPORT_PUT_COMPRESSED, &err),
                     OA_OK);
    assert_int_equal(e->backend->ops->put(e, "P/S/R/3.dcm", noise,
                                          sizeof(noise), 0, &err),
                     OA_OK);
    assert_int_equal(e->backend->ops->put(e, "P/S/R/4.dcm", big, 10, 0, &err),
                     OA_OK);
    oa_export_result_init(&res);
    assert_int_equal(e->backend->ops->finish(e, &res, &err), OA_OK);
    e->backend->ops->free(e);
    /* 1 deflates to little, 2 is stored (700 KiB); 3 would pass 1 MiB:
     * a second archive, in put() order whatever the threads did */
    assert_int_equal(res.archive_count, 2);
    assert_non_null(strstr(res.archive_paths[0], "/exp.zip"));
    assert_non_null(strstr(res.archive_paths[1], "/exp-2.zip"));
    assert_int_equal(zip_entries(res.archive_paths[0], names, methods, 8), 2);
    assert_string_equal(names[0], "exp/P/S/R/1.dcm");
    assert_int_equal(methods[0], 8);   /* deflate */
    assert_string_equal(names[1], "exp/P/S/R/2.dcm");
    assert_int_equal(methods[1], 0);   /* stored: already compressed */
    assert_int_equal(zip_entries(res.archive_paths[1], names, methods, 8), 2);
    assert_string_equal(names[0], "exp/P/S/R/3.dcm");
    assert_int_equal(methods[0], 0);   /* stored: deflate would not win */
    assert_string_equal(names[1], "exp/P/S/R/4.dcm");
    oa_export_result_dispose(&res);

    /* "Compression": "store" stores everything, "best" deflates smaller
     * or equal to "fast" */
    {
        static const char *const modes[] = {"store", "fast", "best"};
        uint64_t sizes[3];
        size_t m;

        t.max_archive = 0;
        for (m = 0; m < 3; m++) {
            char name[16];

            snprintf(name, sizeof(name), "c%zu", m);
            t.compression = modes[m];
            assert_true(oa_export_compression_valid(modes[m]));
            e = open_backend("zip", &t, name);
            for (i = 0; i < 12; i++) {   /* more files than workers */
                char rel[32];

                snprintf(rel, sizeof(rel), "f%02d.dcm", i);
                assert_int_equal(e->backend->ops->put(e, rel, big,
                                                      sizeof(big) - (size_t)i,
                                                      0, &err),
                                 OA_OK);
            }
            oa_export_result_init(&res);
            assert_int_equal(e->backend->ops->finish(e, &res, &err), OA_OK);
            e->backend->ops->free(e);
            assert_int_equal(zip_entries(res.archive_paths[0], names, methods,
                                         8), 8);
            assert_string_equal(names[0], m == 0 ? "c0/f00.dcm"
                                          : m == 1 ? "c1/f00.dcm"
                                                   : "c2/f00.dcm");
            assert_int_equal(methods[0], m == 0 ? 0 : 8);
            sizes[m] = res.archive_sizes[0];
            oa_export_result_dispose(&res);
        }
        assert_true(sizes[0] > 12 * (sizeof(big) - 12));
        assert_true(sizes[2] <= sizes[1]);
        assert_false(oa_export_compression_valid("max"));
        t.compression = NULL;
    }

    /* abort leaves no archive, partial or final */
    e = open_backend("zip", &t, "gone");
    assert_int_equal(e->backend->ops->put(e, "a.dcm", big, 100, 0, &err),
                     OA_OK);
    e->backend->ops->abort(e);
    e->backend->ops->free(e);
    {
        char path[400];

        snprintf(path, sizeof(path), "%s/gone.zip", folder);
        assert_false(exists(path));
        snprintf(path, sizeof(path), "%s/gone.zip.partial", folder);
        assert_false(exists(path));
    }
}

/* More than 65,535 entries: the ZIP64 end records say how many (the
 * 16-bit count of the classic end record cannot), and a reader finds
 * every one, the last one's bytes and CRC-32 included. */
static void test_zip_many_entries(void **state)
{
    enum { N = 65600 };
    oa_export_target t;
    oa_export_result res;
    oa_exporter *e;
    oa_error err;
    unz_global_info64 gi;
    unz_file_info64 info;
    char folder[300], rel[32], name[64], buf[64];
    unzFile z;
    int i, got;

    (void)state;
    snprintf(folder, sizeof(folder), "%s/many", tmpdir);
    memset(&t, 0, sizeof(t));
    t.type = "zip";
    t.url = folder;
    t.compression = "store";
    e = open_backend("zip", &t, "m");
    for (i = 0; i < N; i++) {
        snprintf(rel, sizeof(rel), "%05d.txt", i);
        assert_int_equal(e->backend->ops->put(e, rel, (const uint8_t *)rel,
                                              strlen(rel), 0, &err),
                         OA_OK);
    }
    oa_export_result_init(&res);
    assert_int_equal(e->backend->ops->finish(e, &res, &err), OA_OK);
    e->backend->ops->free(e);
    assert_int_equal(res.archive_count, 1);
    z = unzOpen64(res.archive_paths[0]);
    assert_non_null(z);
    assert_int_equal(unzGetGlobalInfo64(z, &gi), UNZ_OK);
    assert_int_equal(gi.number_entry, N);
    assert_int_equal(unzLocateFile(z, "m/65599.txt", 1), UNZ_OK);
    assert_int_equal(unzGetCurrentFileInfo64(z, &info, name, sizeof(name),
                                             NULL, 0, NULL, 0),
                     UNZ_OK);
    assert_int_equal(info.uncompressed_size, 9);
    assert_int_equal(unzOpenCurrentFile(z), UNZ_OK);
    got = unzReadCurrentFile(z, buf, sizeof(buf));
    assert_int_equal(got, 9);
    assert_memory_equal(buf, "65599.txt", 9);
    assert_int_equal(unzCloseCurrentFile(z), UNZ_OK);   /* CRC-32 checked */
    unzClose(z);
    oa_export_result_dispose(&res);
}

static void test_compressed_detection(void **state)
{
    tb t;

    (void)state;
    tb_init(&t, true, false);
    tb_meta(&t, "1.2.840.10008.1.2.4.50", true);   /* JPEG baseline */
    tb_str(&t, OA_TAG(0x0008, 0x0060), "CS", "CT");
    assert_true(oa_export_is_compressed_dicom(tb_data(&t), tb_len(&t)));
    tb_dispose(&t);
    tb_init(&t, true, false);
    tb_meta(&t, "1.2.840.10008.1.2.1", true);
    tb_str(&t, OA_TAG(0x0008, 0x0060), "CS", "CT");
    assert_false(oa_export_is_compressed_dicom(tb_data(&t), tb_len(&t)));
    tb_dispose(&t);
    assert_false(oa_export_is_compressed_dicom((const uint8_t *)"junk", 4));
}

static void assert_invalid(const char *json, const char *needle)
{
    cJSON *d = cJSON_Parse(json);
    oa_error err;

    assert_non_null(d);
    oa_error_clear(&err);
    assert_int_equal(oa_destination_validate(d, &err), OA_EINVAL);
    if (strstr(err.msg, needle) == NULL)
        fail_msg("%s: %s", json, err.msg);
    cJSON_Delete(d);
}

static void test_destination_validation(void **state)
{
    cJSON *d;
    oa_error err;

    (void)state;
    d = cJSON_Parse("{\"Type\": \"sftp\", \"Url\": \"sftp://h:22/x\", "
                    "\"HostKeySha256\": \"abc\", \"Username\": \"u\", "
                    "\"Password\": \"p\", \"Timeout\": 10}");
    assert_int_equal(oa_destination_validate(d, &err), OA_OK);
    cJSON_Delete(d);
    assert_invalid("{\"Type\": \"gopher\", \"Url\": \"x\"}", "\"Type\"");
    assert_invalid("{\"Type\": \"ftp\"}", "\"Url\" is required");
    assert_invalid("{\"Type\": \"ftp\", \"Url\": \"http://x\"}", "ftp://");
    assert_invalid("{\"Type\": \"sftp\", \"Url\": \"sftp://x\"}",
                   "KnownHosts");
    assert_invalid("{\"Type\": \"webdav\", \"Url\": \"ftp://x\"}", "http://");
    assert_invalid("{\"Type\": \"folder\", \"Url\": \"../up\"}",
                   "relative path");
    assert_invalid("{\"Type\": \"folder\", \"Url\": \"/abs\"}",
                   "relative path");
    assert_invalid("{\"Type\": \"ftp\", \"Url\": \"ftp://x\", \"Pasword\": "
                   "\"typo\"}",
                   "unknown field \"Pasword\"");
    assert_invalid("{\"Type\": \"ftp\", \"Url\": \"ftp://x\", \"Timeout\": 0}",
                   "Timeout");
    assert_invalid("{\"Type\": \"ftp\", \"Url\": 3}", "\"Url\" must be");
    /* a Type that does not match the Url's scheme, both named */
    assert_invalid("{\"Type\": \"ftp\", \"Url\": \"ftps://x/in\"}",
                   "\"Type\" \"ftp\" does not match the \"Url\" scheme "
                   "\"ftps\"");
    assert_invalid("{\"Type\": \"ftps\", \"Url\": \"ftp://x/in\"}",
                   "\"Type\" \"ftps\" does not match the \"Url\" scheme "
                   "\"ftp\"");
    assert_invalid("{\"Type\": \"sftp\", \"Url\": \"ftp://x\", "
                   "\"HostKeySha256\": \"abc\"}",
                   "scheme \"ftp\"");
    assert_invalid("{\"Type\": \"webdav\", \"Url\": \"sftp://x\"}",
                   "scheme \"sftp\"");
    /* credentials in the Url: refused, pointing at the fields */
    assert_invalid("{\"Type\": \"ftp\", \"Url\": \"ftp://u:pw@host/in\"}",
                   "\"Username\" and \"Password\" fields");
    assert_invalid("{\"Type\": \"webdav\", \"Url\": "
                   "\"https://u:p@ss@host/in\"}",
                   "\"Password\" fields");
    assert_invalid("{\"Type\": \"sftp\", \"Url\": \"sftp://u@h/x\", "
                   "\"HostKeySha256\": \"abc\"}",
                   "\"Password\" fields");
    /* a password with '/' in it is no port either */
    assert_invalid("{\"Type\": \"ftp\", \"Url\": \"ftp://u:p/w@host\"}",
                   "port");
    assert_invalid("{\"Type\": \"ftp\", \"Url\": \"ftp:///in\"}", "host");
    assert_invalid("{\"Type\": \"ftp\", \"Url\": \"ftp://h:0/in\"}",
                   "port");
    assert_invalid("{\"Type\": \"ftp\", \"Url\": \"ftp://h:99999/in\"}",
                   "port");
    /* the right pairs pass; '@' in the path is no user info */
    d = cJSON_Parse("{\"Type\": \"webdav\", \"Url\": "
                    "\"HTTPS://[::1]:8443/a@b\"}");
    assert_int_equal(oa_destination_validate(d, &err), OA_OK);
    cJSON_Delete(d);
    d = cJSON_Parse("{\"Type\": \"ftps\", \"Url\": \"ftps://h:2121/x\"}");
    assert_int_equal(oa_destination_validate(d, &err), OA_OK);
    cJSON_Delete(d);
}

static void assert_redacted(const char *url, bool keep_path,
                            const char *want)
{
    char out[256];

    oa_export_url_redact(url, keep_path, out, sizeof(out));
    assert_string_equal(out, want);
}

static void test_url_parse_and_redact(void **state)
{
    oa_export_url u;
    oa_error err;

    (void)state;
    assert_int_equal(oa_export_url_parse("FTP://u:p@ss@Host.Example/in",
                                         &u, &err),
                     OA_OK);
    assert_string_equal(u.scheme, "ftp");
    assert_string_equal(u.host, "host.example");
    assert_int_equal(u.port, 21);
    assert_true(u.has_userinfo);
    assert_int_equal(u.path_off, strlen("FTP://u:p@ss@Host.Example"));
    assert_int_equal(oa_export_url_parse("https://[::1]:8443", &u, &err),
                     OA_OK);
    assert_string_equal(u.host, "[::1]");
    assert_int_equal(u.port, 8443);
    assert_false(u.has_userinfo);
    assert_int_equal(oa_export_url_parse("sftp://h/x@y", &u, &err), OA_OK);
    assert_int_equal(u.port, 22);
    assert_false(u.has_userinfo);
    assert_int_equal(oa_export_url_parse("no-scheme", &u, &err), OA_EINVAL);
    assert_int_equal(oa_export_url_parse("ftp://h:x", &u, &err), OA_EINVAL);

    /* the user info goes up to the last '@' of the authority */
    assert_redacted("ftp://user:p@ss@host:21/in?x#y", true,
                    "ftp://host:21/in");
    assert_redacted("ftp://user:p@ss@host:21/in", false, "ftp://host:21");
    assert_redacted("https://u:pw@h/a@b", true, "https://h/a@b");
    assert_redacted("https://h/a@b", false, "https://h");
    assert_redacted("user:pw@host", false, "(a URL)");
    assert_redacted("/srv/export", true, "/srv/export");
}

static void test_destination_public_hides_secrets(void **state)
{
    cJSON *d = cJSON_Parse("{\"Type\": \"sftp\", \"Url\": \"sftp://h/x\", "
                           "\"Username\": \"u\", \"Password\": \"secret-pw\", "
                           "\"PrivateKey\": \"-----BEGIN\", "
                           "\"HostKeySha256\": \"abc\"}");
    cJSON *pub = oa_destination_public(d, "lab", true);
    char *text = cJSON_PrintUnformatted(pub);

    (void)state;
    assert_null(strstr(text, "secret-pw"));
    assert_null(strstr(text, "BEGIN"));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(pub, "HasPassword")));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(pub, "HasPrivateKey")));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(pub, "ReadOnly")));
    assert_string_equal(cJSON_GetObjectItem(pub, "Name")->valuestring, "lab");
    assert_string_equal(cJSON_GetObjectItem(pub, "Username")->valuestring,
                        "u");
    cJSON_free(text);
    cJSON_Delete(pub);
    cJSON_Delete(d);

    /* a password written into a Url (an old save, the configuration
     * file) is not answered either; a clean Url is answered as is */
    d = cJSON_Parse("{\"Type\": \"ftp\", \"Url\": "
                    "\"ftp://u:p@ss-pw@h:21/in?x\"}");
    pub = oa_destination_public(d, "old", false);
    assert_string_equal(cJSON_GetObjectItem(pub, "Url")->valuestring,
                        "ftp://h:21/in");
    cJSON_Delete(pub);
    cJSON_Delete(d);
    d = cJSON_Parse("{\"Type\": \"webdav\", \"Url\": "
                    "\"https://h/dav/a@b?x=1\"}");
    pub = oa_destination_public(d, "dav", false);
    assert_string_equal(cJSON_GetObjectItem(pub, "Url")->valuestring,
                        "https://h/dav/a@b?x=1");
    cJSON_Delete(pub);
    cJSON_Delete(d);
}

/* The FTP and SFTP backends themselves refuse a Url of the other scheme or with
 * user info (before any connection), should a target bypass the
 * destination checks. */
static void test_ftp_backend_scheme(void **state)
{
    const oa_export_backend *ftp = oa_export_backend_find("ftp");
    const oa_export_backend *ftps = oa_export_backend_find("ftps");
    oa_export_target t;
    oa_error err;

    (void)state;
    assert_non_null(ftp);
    assert_non_null(ftps);
    memset(&t, 0, sizeof(t));
    t.type = "ftp";
    t.url = "ftps://127.0.0.1:1/in";
    t.timeout = 1;
    oa_error_clear(&err);
    assert_int_equal(ftp->ops->test(&t, &err), OA_EINVAL);
    assert_non_null(strstr(err.msg, "ftp://"));
    t.type = "ftps";
    t.url = "ftp://127.0.0.1:1/in";
    oa_error_clear(&err);
    assert_int_equal(ftps->ops->test(&t, &err), OA_EINVAL);
    assert_non_null(strstr(err.msg, "ftps://"));
    t.type = "ftp";
    t.url = "ftp://u:pw@127.0.0.1:1/in";
    oa_error_clear(&err);
    assert_int_equal(ftp->ops->test(&t, &err), OA_EINVAL);
    assert_non_null(strstr(err.msg, "user name or password"));
    assert_null(strstr(err.msg, "pw"));
    /* sftp: the user is the Username field, never in the Url */
    t.type = "sftp";
    t.url = "sftp://root@127.0.0.1:1/in";
    t.host_key_sha256 = "abc";
    oa_error_clear(&err);
    assert_int_equal(oa_export_backend_find("sftp")->ops->test(&t, &err),
                     OA_EINVAL);
    assert_non_null(strstr(err.msg, "user name or password"));
}

static void test_destination_target(void **state)
{
    oa_config cfg;
    oa_export_target t;
    oa_error err;
    char path[300];
    cJSON *conf = cJSON_Parse("{\"Anonymizer\": {\"ExportFolder\": "
                              "\"/srv/exports/\"}}");
    cJSON *d = cJSON_Parse("{\"Type\": \"folder\", \"Url\": \"lab/in\"}");

    (void)state;
    assert_int_equal(oa_config_parse(&cfg, conf, 1, &err), OA_OK);
    assert_string_equal(cfg.export_folder, "/srv/exports");
    assert_int_equal(oa_destination_target(d, &cfg, &t, path, sizeof(path),
                                           &err),
                     OA_OK);
    assert_string_equal(t.url, "/srv/exports/lab/in");
    assert_string_equal(t.type, "folder");
    oa_config_dispose(&cfg);

    /* without ExportFolder, folder destinations are refused */
    assert_int_equal(oa_config_parse(&cfg, NULL, 1, &err), OA_OK);
    assert_int_equal(oa_destination_target(d, &cfg, &t, path, sizeof(path),
                                           &err),
                     OA_EINVAL);
    assert_non_null(strstr(err.msg, "ExportFolder"));
    oa_config_dispose(&cfg);
    cJSON_Delete(d);
    cJSON_Delete(conf);
}

static void test_config_export_options(void **state)
{
    oa_config cfg;
    oa_error err;
    cJSON *c;

    (void)state;
    c = cJSON_Parse("{\"Anonymizer\": {\"ZipMaxSize\": 2097152, "
                    "\"ZipRetention\": 120, \"ArchiveFolder\": \"/a/b\"}}");
    assert_int_equal(oa_config_parse(&cfg, c, 1, &err), OA_OK);
    assert_int_equal(cfg.zip_max_size, 2097152);
    assert_int_equal(cfg.zip_retention, 120);
    assert_string_equal(cfg.archive_folder, "/a/b");
    oa_config_dispose(&cfg);
    cJSON_Delete(c);
    c = cJSON_Parse("{\"Anonymizer\": {\"ZipMaxSize\": 5000000000}}");
    assert_int_equal(oa_config_parse(&cfg, c, 1, &err), OA_EINVAL);
    assert_non_null(strstr(err.msg, "ZipMaxSize"));
    cJSON_Delete(c);
    c = cJSON_Parse("{\"Anonymizer\": {\"ExportFolder\": \"relative\"}}");
    assert_int_equal(oa_config_parse(&cfg, c, 1, &err), OA_EINVAL);
    assert_non_null(strstr(err.msg, "ExportFolder"));
    cJSON_Delete(c);
    c = cJSON_Parse("{\"Anonymizer\": {\"ExportFolder\": \"/srv/../etc\"}}");
    assert_int_equal(oa_config_parse(&cfg, c, 1, &err), OA_EINVAL);
    cJSON_Delete(c);
    c = cJSON_Parse("{\"Anonymizer\": {\"Destinations\": []}}");
    assert_int_equal(oa_config_parse(&cfg, c, 1, &err), OA_EINVAL);
    cJSON_Delete(c);
    /* the way out's C-STORE: the plugin's SCU by default, with Orthanc's
     * DicomAet and DicomScuTimeout */
    c = cJSON_Parse("{}");
    assert_int_equal(oa_config_parse(&cfg, c, 1, &err), OA_OK);
    assert_true(cfg.own_scu);
    assert_string_equal(cfg.dicom_aet, "ORTHANC");
    assert_int_equal(cfg.scu_timeout, 10);
    oa_config_dispose(&cfg);
    cJSON_Delete(c);
    c = cJSON_Parse("{\"DicomAet\": \"HOSPITAL_PACS\", \"DicomScuTimeout\": "
                    "25, \"Anonymizer\": {\"DicomScu\": \"orthanc\"}}");
    assert_int_equal(oa_config_parse(&cfg, c, 1, &err), OA_OK);
    assert_false(cfg.own_scu);
    assert_string_equal(cfg.dicom_aet, "HOSPITAL_PACS");
    assert_int_equal(cfg.scu_timeout, 25);
    oa_config_dispose(&cfg);
    cJSON_Delete(c);
    c = cJSON_Parse("{\"Anonymizer\": {\"DicomScu\": \"dcmtk\"}}");
    assert_int_equal(oa_config_parse(&cfg, c, 1, &err), OA_EINVAL);
    assert_non_null(strstr(err.msg, "DicomScu"));
    cJSON_Delete(c);
}

/* Issue 12, defect 4: the archive folder is Orthanc's alone. */
static void test_archive_folder_is_ours(void **state)
{
    char dir[300], sub[340], link[340], file[400], secret[340];
    struct stat st;
    oa_error err;
    oa_buf b;
    FILE *f;

    (void)state;
    /* created 0700, parents too */
    snprintf(dir, sizeof(dir), "%s/state/archives", tmpdir);
    oa_error_clear(&err);
    assert_int_equal(oa_export_archive_folder_check(dir, &err), OA_OK);
    assert_int_equal(lstat(dir, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0700);

    /* world-writable: refused, saying so */
    assert_int_equal(chmod(dir, 0777), 0);
    assert_int_equal(oa_export_archive_folder_check(dir, &err), OA_EIO);
    assert_non_null(strstr(err.msg, "writable by every user"));
    assert_int_equal(chmod(dir, 0700), 0);
    assert_int_equal(oa_export_archive_folder_check(dir, &err), OA_OK);

    /* someone else's: refused (as root, made someone else's; otherwise
     * a folder of root's) */
    if (geteuid() == 0) {
        snprintf(sub, sizeof(sub), "%s/state/nobodys", tmpdir);
        assert_int_equal(mkdir(sub, 0700), 0);
        assert_int_equal(chown(sub, 65534, 65534), 0);
    } else {
        snprintf(sub, sizeof(sub), "/usr");
    }
    assert_int_equal(oa_export_archive_folder_check(sub, &err), OA_EIO);
    assert_non_null(strstr(err.msg, "belongs to user"));

    /* a symbolic link as the folder: refused */
    snprintf(link, sizeof(link), "%s/state/linked", tmpdir);
    assert_int_equal(symlink(dir, link), 0);
    assert_int_equal(oa_export_archive_folder_check(link, &err), OA_EIO);
    assert_non_null(strstr(err.msg, "symbolic link"));

    /* in a world-writable parent without the sticky bit: refused */
    snprintf(sub, sizeof(sub), "%s/open", tmpdir);
    assert_int_equal(mkdir(sub, 0777), 0);
    assert_int_equal(chmod(sub, 0777), 0);
    snprintf(link, sizeof(link), "%s/open/archives", tmpdir);
    assert_int_equal(oa_export_archive_folder_check(link, &err), OA_EIO);
    assert_non_null(strstr(err.msg, "every user may write"));
    assert_int_equal(chmod(sub, 01777), 0);   /* sticky, as /tmp */
    assert_int_equal(oa_export_archive_folder_check(link, &err), OA_OK);

    /* the symlink swap: an archive replaced by a link to another file is
     * not served (downloads read with O_NOFOLLOW) */
    snprintf(secret, sizeof(secret), "%s/root-only", tmpdir);
    f = fopen(secret, "w");
    assert_non_null(f);
    fputs("root only", f);
    fclose(f);
    snprintf(file, sizeof(file), "%s/swapped.zip", dir);
    assert_int_equal(symlink(secret, file), 0);
    oa_buf_init(&b, 1 << 20);
    assert_int_equal(oa_file_read_nofollow(file, &b, &err), OA_EIO);
    assert_non_null(strstr(err.msg, "symbolic link"));
    assert_int_equal(oa_file_read(file, &b, &err), OA_OK);   /* follows */
    oa_buf_dispose(&b);

    /* a ZIP export never writes through a link planted at its .partial */
    {
        oa_export_target t;
        oa_exporter *e;
        char partial[420];

        snprintf(partial, sizeof(partial), "%s/planted.zip.partial", dir);
        assert_int_equal(symlink(secret, partial), 0);
        memset(&t, 0, sizeof(t));
        t.type = "zip";
        t.url = dir;
        e = open_backend("zip", &t, "planted");   /* unlinks the link */
        e->backend->ops->abort(e);
        e->backend->ops->free(e);
        f = fopen(secret, "r");
        assert_non_null(f);
        assert_non_null(fgets(file, sizeof(file), f));
        fclose(f);
        assert_string_equal(file, "root only");
    }

    /* no folder at all (relative StorageDirectory): says what to set */
    assert_int_equal(oa_export_archive_folder_check(NULL, &err), OA_EINVAL);
    assert_non_null(strstr(err.msg, "ArchiveFolder"));
}

static void test_config_archive_default(void **state)
{
    oa_config cfg;
    oa_error err;
    cJSON *c;

    (void)state;
    c = cJSON_Parse("{\"StorageDirectory\": \"/var/lib/orthanc/db/\"}");
    assert_int_equal(oa_config_parse(&cfg, c, 1, &err), OA_OK);
    assert_string_equal(cfg.archive_folder,
                        "/var/lib/orthanc/db/anonymizer-archives");
    assert_true(cfg.archive_default);
    oa_config_dispose(&cfg);
    cJSON_Delete(c);
    /* never /tmp: a relative (or absent) StorageDirectory gives none */
    c = cJSON_Parse("{\"StorageDirectory\": \"OrthancStorage\"}");
    assert_int_equal(oa_config_parse(&cfg, c, 1, &err), OA_OK);
    assert_null(cfg.archive_folder);
    oa_config_dispose(&cfg);
    cJSON_Delete(c);
    assert_int_equal(oa_config_parse(&cfg, NULL, 1, &err), OA_OK);
    assert_null(cfg.archive_folder);
    oa_config_dispose(&cfg);
}

static void test_backend_registry(void **state)
{
    const char *names[16];
    size_t n = oa_export_backend_names(names, 16), i;

    (void)state;
    assert_int_equal(n, 7);   /* zip folder ftp ftps sftp webdav stow */
    for (i = 0; i < n; i++) {
        const oa_export_backend *b = oa_export_backend_find(names[i]);

        assert_non_null(b);
        assert_non_null(b->ops->open);
        assert_non_null(b->ops->put);
        assert_non_null(b->ops->finish);
        assert_non_null(b->ops->abort);
        assert_non_null(b->ops->free);
        assert_non_null(b->ops->test);
    }
    assert_null(oa_export_backend_find("gopher"));
    assert_null(oa_export_backend_find(NULL));
}

/* The network backends refuse a target of the wrong kind before any
 * connection, with a message that says what is expected. */
static void test_network_targets_checked(void **state)
{
    oa_export_target t;
    oa_exporter *e = NULL;
    oa_error err;

    (void)state;
    memset(&t, 0, sizeof(t));
    t.url = "http://example.invalid/";
    assert_int_equal(oa_export_backend_find("ftp")->ops->open(&e, &t, "x",
                                                              &err),
                     OA_EINVAL);
    assert_non_null(strstr(err.msg, "ftp://"));
    assert_int_equal(oa_export_backend_find("sftp")->ops->test(&t, &err),
                     OA_EINVAL);
    assert_non_null(strstr(err.msg, "sftp://"));
    t.url = "ftp://x/";
    assert_int_equal(oa_export_backend_find("webdav")->ops->test(&t, &err),
                     OA_EINVAL);
    /* SFTP without a pinned host key: refused before authenticating
     * (checked by the integration tests against a real sshd). */
    assert_null(e);
}

/* A STOW-RS answer's Failed SOP Sequence becomes an error naming the
 * refused instances and reasons; no failures, or no JSON, is no error. */
static void test_stow_answer(void **state)
{
    static const char ok[] =
        "{\"00081199\": {\"vr\": \"SQ\", \"Value\": [{\"00081155\": "
        "{\"vr\": \"UI\", \"Value\": [\"2.25.1\"]}}]}}";
    static const char failed[] =
        "{\"00081198\": {\"vr\": \"SQ\", \"Value\": ["
        "{\"00081155\": {\"vr\": \"UI\", \"Value\": [\"2.25.7\"]},"
        " \"00081197\": {\"vr\": \"US\", \"Value\": [43264]}},"
        "{\"00081155\": {\"vr\": \"UI\", \"Value\": [\"2.25.8\"]}}]}}";
    oa_error err;

    (void)state;
    oa_error_clear(&err);
    assert_int_equal(oa_export_stow_answer(ok, strlen(ok), 1, &err), OA_OK);
    assert_int_equal(oa_export_stow_answer("", 0, 1, &err), OA_OK);
    assert_int_equal(oa_export_stow_answer("<html>", 6, 1, &err), OA_OK);
    assert_int_equal(oa_export_stow_answer(failed, strlen(failed), 5, &err),
                     OA_EIO);
    assert_non_null(strstr(err.msg, "refused 2 of 5"));
    assert_non_null(strstr(err.msg, "2.25.7 (reason A900)"));
    assert_non_null(strstr(err.msg, "2.25.8 (no reason"));
}

/* ------------------------------------------------------------------ */
/* DICOMDIR                                                             */

/* A Part 10 file of `sop_class` with the keys the directory reads. */
static void dd_instance(tb *t, const char *sop_class, const char *sop,
                        const char *patient, const char *study,
                        const char *series, bool with_series)
{
    tb_init(t, true, false);
    tb_meta(t, "1.2.840.10008.1.2.1", true);
    tb_uid(t, OA_TAG(0x0008, 0x0016), sop_class);
    tb_uid(t, OA_TAG(0x0008, 0x0018), sop);
    tb_str(t, OA_TAG(0x0008, 0x0020), "DA", "20240101");
    tb_str(t, OA_TAG(0x0008, 0x0060), "CS", "SR");
    tb_str(t, OA_TAG(0x0010, 0x0010), "PN", "ANON^X");
    tb_str(t, OA_TAG(0x0010, 0x0020), "LO", patient);
    tb_uid(t, OA_TAG(0x0020, 0x000D), study);
    if (with_series)
        tb_uid(t, OA_TAG(0x0020, 0x000E), series);
    tb_str(t, OA_TAG(0x0020, 0x0013), "IS", "7");
    /* Concept Name Code Sequence, a key of SR DOCUMENT records */
    tb_hdr(t, OA_TAG(0x0040, 0xA043), "SQ", 0xFFFFFFFFu);
    tb_item(t, 0xFFFFFFFFu);
    tb_str(t, OA_TAG(0x0008, 0x0100), "SH", "18748-4");
    tb_item_end(t);
    tb_seq_end(t);
    tb_str(t, OA_TAG(0x0040, 0xA491), "CS", "COMPLETE");
}

static void test_dicomdir_writer(void **state)
{
    static const char sr[] = "1.2.840.10008.5.1.4.1.1.88.11";
    oa_dicomdir *d;
    char id[OA_DICOMDIR_FILE_ID_MAX];
    oa_error err;
    oa_buf out, again;
    tb t;

    (void)state;
    assert_true(oa_dicomdir_file_id_ok("DICOM/P0000001/I0000001"));
    assert_false(oa_dicomdir_file_id_ok("DICOM/p0000001"));      /* case */
    assert_false(oa_dicomdir_file_id_ok("DICOM/P00000001"));     /* 9 */
    assert_false(oa_dicomdir_file_id_ok("DICOM//I1"));
    assert_false(oa_dicomdir_file_id_ok("A/B/C/D/E/F/G/H/I"));   /* 9 parts */
    assert_string_equal(oa_dicomdir_record_type(sr), "SR DOCUMENT");
    assert_string_equal(oa_dicomdir_record_type(
                            "1.2.840.10008.5.1.4.1.1.481.2"), "RT DOSE");
    assert_string_equal(oa_dicomdir_record_type("1.2.840.10008.5.1.4.1.1.2"),
                        "IMAGE");
    assert_null(oa_dicomdir_record_type("1.2.840.10008.5.1.4.38.1"));

    assert_int_equal(oa_dicomdir_new(&d), OA_OK);
    oa_error_clear(&err);
    dd_instance(&t, sr, "1.2.3.1", "P1", "1.2.3.10", "1.2.3.20", true);
    assert_int_equal(oa_dicomdir_add(d, NULL, tb_data(&t), tb_len(&t), id,
                                     &err),
                     OA_OK);
    assert_string_equal(id, "DICOM/P0000001/S0000001/S0000001/I0000001");
    tb_dispose(&t);
    /* same series: the next instance of it */
    dd_instance(&t, sr, "1.2.3.2", "P1", "1.2.3.10", "1.2.3.20", true);
    assert_int_equal(oa_dicomdir_add(d, NULL, tb_data(&t), tb_len(&t), id,
                                     &err),
                     OA_OK);
    assert_string_equal(id, "DICOM/P0000001/S0000001/S0000001/I0000002");
    tb_dispose(&t);
    /* another patient */
    dd_instance(&t, sr, "1.2.3.3", "P2", "1.2.3.11", "1.2.3.21", true);
    assert_int_equal(oa_dicomdir_add(d, NULL, tb_data(&t), tb_len(&t), id,
                                     &err),
                     OA_OK);
    assert_string_equal(id, "DICOM/P0000002/S0000001/S0000001/I0000001");
    tb_dispose(&t);
    assert_int_equal(oa_dicomdir_count(d), 9);   /* 2 + 2 + 2 + 3 */
    /* no series UID: no place in the tree, said without values */
    dd_instance(&t, sr, "1.2.3.4", "P3", "1.2.3.12", NULL, false);
    assert_int_equal(oa_dicomdir_add(d, NULL, tb_data(&t), tb_len(&t), id,
                                     &err),
                     OA_EINVAL);
    assert_non_null(strstr(err.msg, "Series Instance UID"));
    assert_null(strstr(err.msg, "P3"));
    tb_dispose(&t);
    /* a top-level SOP class (a hanging protocol) */
    oa_error_clear(&err);
    dd_instance(&t, "1.2.840.10008.5.1.4.38.1", "1.2.3.5", "P1", "1.2.3.10",
                "1.2.3.20", true);
    assert_int_equal(oa_dicomdir_add(d, NULL, tb_data(&t), tb_len(&t), id,
                                     &err),
                     OA_EUNSUPPORTED);
    tb_dispose(&t);
    /* a bad file ID given by the caller */
    oa_error_clear(&err);
    dd_instance(&t, sr, "1.2.3.6", "P1", "1.2.3.10", "1.2.3.20", true);
    assert_int_equal(oa_dicomdir_add(d, "dicom/x.dcm", tb_data(&t),
                                     tb_len(&t), NULL, &err),
                     OA_EINVAL);
    tb_dispose(&t);
    assert_int_equal(oa_dicomdir_count(d), 9);

    /* the file reads back: records linked by offsets, the SR's keys with
     * its sequence re-encoded; the same bytes twice */
    oa_buf_init(&out, 1 << 20);
    oa_buf_init(&again, 1 << 20);
    oa_error_clear(&err);
    assert_int_equal(oa_dicomdir_write(d, "usb key", &out, &err), OA_OK);
    assert_int_equal(oa_dicomdir_write(d, "usb key", &again, &err), OA_OK);
    assert_int_equal(out.len, again.len);
    assert_memory_equal(oa_buf_data(&out), oa_buf_data(&again), out.len);
    assert_memory_equal(oa_buf_data(&out) + 128, "DICM", 4);
    {
        recorder r;

        recorder_init(&r);
        assert_int_equal(oa_dicom_parse(oa_buf_data(&out), out.len, NULL,
                                        recorder_handler(&r), NULL, &err),
                         OA_OK);
        assert_non_null(strstr(oa_buf_cstr(&r.trace), "(0004,1430)"));
        assert_non_null(strstr(oa_buf_cstr(&r.trace), "(0040,A043)"));
        recorder_dispose(&r);
    }
    assert_non_null(memmem(oa_buf_data(&out), out.len, "USB KEY", 7));
    assert_non_null(memmem(oa_buf_data(&out), out.len, "SR DOCUMENT", 11));
    assert_non_null(memmem(oa_buf_data(&out), out.len,
                           "DICOM\\P0000002\\S0000001", 23));
    oa_buf_dispose(&out);
    oa_buf_dispose(&again);
    oa_dicomdir_free(d);

    /* nothing to list */
    assert_int_equal(oa_dicomdir_new(&d), OA_OK);
    oa_buf_init(&out, 1 << 20);
    assert_int_equal(oa_dicomdir_write(d, NULL, &out, &err), OA_EINVAL);
    oa_buf_dispose(&out);
    oa_dicomdir_free(d);
}

/* ------------------------------------------------------------------ */
/* The Orthanc backends' put of bytes (store-straight)                  */

static struct {
    char uri[128];
    size_t body_len;
    unsigned char first;
    uint16_t status;          /* what "Orthanc" answers the POST */
    unsigned posts;
} straight;

static oa_status straight_call(bool post, const char *uri, const void *body,
                               size_t body_size, oa_buf *answer,
                               uint16_t *http_status, oa_error *err)
{
    (void)err;
    if (!post) {
        *http_status = 404;
        return OA_OK;
    }
    straight.posts++;
    snprintf(straight.uri, sizeof(straight.uri), "%s", uri);
    straight.body_len = body_size;
    straight.first = body_size > 0 ? ((const unsigned char *)body)[0] : 0;
    *http_status = straight.status;
    if (straight.status != 200 && answer != NULL) {
        const char *e = "{\"Message\": \"Error in the network protocol\", "
                        "\"Details\": \"DicomAssociation - C-STORE to AET "
                        "\\\"SCP\\\": association rejected\"}";

        oa_buf_append(answer, e, strlen(e));
    }
    return OA_OK;
}

/* The modality's settings Orthanc gives (GET .../configuration). */
static const char *scp_configuration;

static oa_status straight_get_json(const char *uri, cJSON **out,
                                   oa_error *err)
{
    (void)err;
    if (strstr(uri, "/configuration") != NULL) {
        if (scp_configuration == NULL)
            return oa_error_set(err, OA_ENOTFOUND, "HTTP 404");
        *out = cJSON_Parse(scp_configuration);
        return OA_OK;
    }
    *out = cJSON_Parse(strcmp(uri, "/modalities") == 0 ? "[\"scp\"]"
                                                         : "[\"peer\"]");
    return OA_OK;
}

static oa_status straight_peer_get(const char *name, const char *uri,
                                   unsigned timeout, uint16_t *http_status,
                                   oa_error *err)
{
    (void)name;
    (void)uri;
    (void)timeout;
    (void)err;
    *http_status = 200;   /* the peer answers: not a password problem */
    return OA_OK;
}

static void test_orthanc_put_bytes(void **state)
{
    static const oa_export_orthanc_host host = {
        straight_call, straight_get_json, straight_peer_get, NULL};
    static const uint8_t file[] = {0x44, 0x49, 0x43, 0x4d, 1, 2, 3};
    oa_export_target t;
    oa_exporter *e = NULL;
    oa_error err;
    int peer;

    (void)state;
    oa_export_orthanc_set_host(&host);
    for (peer = 0; peer < 2; peer++) {
        const oa_export_backend *b =
            peer ? &oa_export_backend_peer : &oa_export_backend_dicom;

        memset(&t, 0, sizeof(t));
        t.type = peer ? "peer" : "dicom";
        t.modality = peer ? NULL : "scp";
        t.peer = peer ? "peer" : NULL;
        oa_error_clear(&err);
        assert_int_equal(b->ops->open(&e, &t, "x", &err), OA_OK);
        /* the bytes themselves, one POST a file, to store-straight */
        memset(&straight, 0, sizeof(straight));
        straight.status = 200;
        assert_non_null(b->ops->put);
        assert_int_equal(b->ops->put(e, "P/S/R/1.dcm", file, sizeof(file), 0,
                                     &err),
                         OA_OK);
        assert_int_equal(straight.posts, 1);
        assert_string_equal(straight.uri, peer
                                              ? "/peers/peer/store-straight"
                                              : "/modalities/scp/store-straight");
        assert_int_equal(straight.body_len, sizeof(file));
        assert_int_equal(straight.first, 0x44);
        /* a refusal: a network error (retried by the sink), named */
        straight.status = 500;
        assert_int_equal(b->ops->put(e, "P/S/R/2.dcm", file, sizeof(file), 0,
                                     &err),
                         OA_ENET);
        assert_non_null(strstr(err.msg, peer ? "peer" : "modality"));
        b->ops->free(e);
        e = NULL;
    }
    oa_export_orthanc_set_host(NULL);
}

/* A port on 127.0.0.1 where nobody listens (bound, then closed). */
static int closed_port(void)
{
    struct sockaddr_in a;
    socklen_t n = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    assert_true(fd >= 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &n), 0);
    port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/* The way out to a modality: the plugin's SCU unless the modality uses
 * DICOM TLS, its settings cannot be read, or the configuration says
 * "orthanc"; the SCU's errors are its own, store-straight not called. */
static void test_orthanc_put_scu_choice(void **state)
{
    static const oa_export_orthanc_host host = {
        straight_call, straight_get_json, straight_peer_get, NULL};
    /* a minimal Part 10 file: preamble, DICM, group 0002 */
    static const uint8_t file[] = {
        [128] = 'D', [129] = 'I', [130] = 'C', [131] = 'M',
        0x02, 0x00, 0x02, 0x00, 'U', 'I', 26, 0x00,
        '1', '.', '2', '.', '8', '4', '0', '.', '1', '0', '0', '0', '8',
        '.', '5', '.', '1', '.', '4', '.', '1', '.', '1', '.', '7', 0,
        0x02, 0x00, 0x03, 0x00, 'U', 'I', 4, 0x00, '1', '.', '2', 0,
        0x02, 0x00, 0x10, 0x00, 'U', 'I', 20, 0x00,
        '1', '.', '2', '.', '8', '4', '0', '.', '1', '0', '0', '0', '8',
        '.', '1', '.', '2', '.', '1', 0,
        0x08, 0x00, 0x60, 0x00, 'C', 'S', 2, 0x00, 'O', 'T'};
    char down[300];
    const struct {
        const char *configuration; /* NULL: cannot be read */
        bool own;
        bool scu;                  /* the SCU is used */
    } cases[] = {
        {down, true, true},
        {"{\"AET\": \"SCP\", \"Host\": \"127.0.0.1\", \"Port\": 104, "
         "\"UseDicomTls\": true}", true, false},
        {NULL, true, false},
        {down, false, false},
        {"{\"AET\": \"AN-AE-TITLE-TOO-LONG\", \"Host\": \"127.0.0.1\", "
         "\"Port\": 104}", true, false},
    };
    oa_export_target t;
    oa_exporter *e = NULL;
    oa_error err;
    size_t i;

    (void)state;
    snprintf(down, sizeof(down),
             "{\"AET\": \"SCP\", \"Host\": \"127.0.0.1\", \"Port\": %d, "
             "\"LocalAet\": \"\", \"Timeout\": 2, \"UseDicomTls\": false}",
             closed_port());
    oa_export_orthanc_set_host(&host);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memset(&t, 0, sizeof(t));
        t.type = "dicom";
        t.modality = "scp";
        t.own_scu = cases[i].own;
        t.calling_aet = "ORTHANC";
        t.scu_timeout = 2;
        scp_configuration = cases[i].configuration;
        oa_error_clear(&err);
        assert_int_equal(
            oa_export_backend_dicom.ops->open(&e, &t, "x", &err), OA_OK);
        memset(&straight, 0, sizeof(straight));
        straight.status = 200;
        if (cases[i].scu) {
            /* nobody listens: the SCU's network error, retried by the
             * sink, naming the modality; Orthanc not asked */
            assert_int_equal(oa_export_backend_dicom.ops->put(
                                 e, "P/S/R/1.dcm", file, sizeof(file), 0,
                                 &err),
                             OA_ENET);
            assert_non_null(strstr(err.msg, "scp"));
            assert_int_equal(straight.posts, 0);
        } else {
            assert_int_equal(oa_export_backend_dicom.ops->put(
                                 e, "P/S/R/1.dcm", file, sizeof(file), 0,
                                 &err),
                             OA_OK);
            assert_int_equal(straight.posts, 1);
            assert_string_equal(straight.uri,
                                "/modalities/scp/store-straight");
        }
        oa_export_backend_dicom.ops->free(e);
        e = NULL;
    }
    scp_configuration = NULL;
    oa_export_orthanc_set_host(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sanitize),
        cmocka_unit_test(test_relpath_safety),
        cmocka_unit_test(test_folder_backend),
        cmocka_unit_test(test_zip_backend),
        cmocka_unit_test(test_zip_many_entries),
        cmocka_unit_test(test_compressed_detection),
        cmocka_unit_test(test_destination_validation),
        cmocka_unit_test(test_url_parse_and_redact),
        cmocka_unit_test(test_destination_public_hides_secrets),
        cmocka_unit_test(test_ftp_backend_scheme),
        cmocka_unit_test(test_destination_target),
        cmocka_unit_test(test_config_export_options),
        cmocka_unit_test(test_backend_registry),
        cmocka_unit_test(test_archive_folder_is_ours),
        cmocka_unit_test(test_config_archive_default),
        cmocka_unit_test(test_network_targets_checked),
        cmocka_unit_test(test_dicomdir_writer),
        cmocka_unit_test(test_stow_answer),
        cmocka_unit_test(test_orthanc_put_bytes),
        cmocka_unit_test(test_orthanc_put_scu_choice),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
