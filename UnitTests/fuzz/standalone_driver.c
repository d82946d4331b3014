/*
 * standalone_driver: replay files through LLVMFuzzerTestOneInput without
 * libFuzzer (libgit2's fuzzers/standalone_driver.c), so that any compiler
 * can run a fuzz target over its corpus as an ordinary ctest test.
 *
 *   fuzz_dicom_reader [-q] PATH...
 *
 * Each PATH is a file or a folder, walked recursively (hidden entries are
 * skipped).  Every file is read whole and passed to the target once.  The
 * exit status is 0 when at least one file was replayed and none could not
 * be read, 1 otherwise.  A target that finds a bug aborts the process; the
 * signal handler below names the file being replayed before it dies, so
 * the ctest log says which input to look at.
 */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_PATH_LEN 4096
#define MAX_WALK_DEPTH 32

static char current[MAX_PATH_LEN]; /* the file being replayed */
static unsigned long replayed;
static unsigned long unreadable;
static unsigned long long replayed_bytes;

/* Async-signal-safe: write(2) only, then die of the same signal. */
static void on_fatal_signal(int sig)
{
    static const char head[] = "\nstandalone_driver: crash while replaying ";
    ssize_t rc;

    rc = write(STDERR_FILENO, head, sizeof(head) - 1);
    rc = write(STDERR_FILENO, current, strlen(current));
    rc = write(STDERR_FILENO, "\n", 1);
    (void)rc;
    signal(sig, SIG_DFL);
    raise(sig);
}

static void install_handlers(void)
{
    static const int sigs[] = {SIGILL, SIGTRAP, SIGABRT, SIGSEGV, SIGBUS,
                               SIGFPE};
    struct sigaction sa;
    size_t i;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_fatal_signal;
    sigemptyset(&sa.sa_mask);
    for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sigaction(sigs[i], &sa, NULL);
}

static int read_file(const char *path, uint8_t **out, size_t *len)
{
    FILE *f;
    long size;
    uint8_t *buf;

    *out = NULL;
    *len = 0;
    f = fopen(path, "rb");
    if (f == NULL)
        return -1;
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return -1;
    }
    /* An exact-size allocation (at least 1 byte), so that ASan catches any
     * read past the end of the input. */
    buf = malloc(size > 0 ? (size_t)size : 1);
    if (buf == NULL ||
        (size > 0 && fread(buf, 1, (size_t)size, f) != (size_t)size)) {
        free(buf);
        fclose(f);
        return -1;
    }
    fclose(f);
    *out = buf;
    *len = (size_t)size;
    return 0;
}

static void replay_file(const char *path, int quiet)
{
    uint8_t *data;
    size_t len;

    snprintf(current, sizeof(current), "%s", path);
    if (read_file(path, &data, &len) != 0) {
        fprintf(stderr, "standalone_driver: cannot read %s: %s\n", path,
                strerror(errno));
        unreadable++;
        return;
    }
    if (!quiet)
        printf("  %s (%zu bytes)\n", path, len);
    LLVMFuzzerTestOneInput(data, len);
    free(data);
    replayed++;
    replayed_bytes += len;
}

static void replay_path(const char *path, int quiet, int depth)
{
    struct stat st;
    DIR *dir;
    struct dirent *de;

    if (stat(path, &st) != 0) {
        fprintf(stderr, "standalone_driver: %s: %s\n", path, strerror(errno));
        unreadable++;
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        replay_file(path, quiet);
        return;
    }
    if (depth >= MAX_WALK_DEPTH) {
        fprintf(stderr, "standalone_driver: %s: too deep\n", path);
        unreadable++;
        return;
    }
    dir = opendir(path);
    if (dir == NULL) {
        fprintf(stderr, "standalone_driver: %s: %s\n", path, strerror(errno));
        unreadable++;
        return;
    }
    while ((de = readdir(dir)) != NULL) {
        char child[MAX_PATH_LEN];
        int n;

        if (de->d_name[0] == '.')
            continue;
        n = snprintf(child, sizeof(child), "%s/%s", path, de->d_name);
        if (n < 0 || (size_t)n >= sizeof(child)) {
            fprintf(stderr, "standalone_driver: path too long under %s\n",
                    path);
            unreadable++;
            continue;
        }
        replay_path(child, quiet, depth + 1);
    }
    closedir(dir);
}

int main(int argc, char **argv)
{
    int i, first = 1, quiet = 0;

    if (argc > 1 && strcmp(argv[1], "-q") == 0) {
        quiet = 1;
        first = 2;
    }
    if (first >= argc) {
        fprintf(stderr, "usage: %s [-q] FILE_OR_FOLDER...\n", argv[0]);
        return 1;
    }
    install_handlers();
    for (i = first; i < argc; i++)
        replay_path(argv[i], quiet, 0);
    printf("standalone_driver: %lu inputs replayed (%llu bytes), "
           "%lu unreadable\n",
           replayed, replayed_bytes, unreadable);
    return replayed > 0 && unreadable == 0 ? 0 : 1;
}
