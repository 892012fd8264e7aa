/*
 * File sink: JSON lines appended to cfg->path, rotated by size and by age. The file is local, so
 * writes are synchronous and done is always called from inside send. A batch goes in whole or
 * not at all: a failed write is cut back to the size before the batch, so the file never holds
 * half a record.
 */
#include "audit/sink.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/log.h"
#include "gateway/io.h"

/* The clock rotation ages count with (monotonic microseconds); tests replace it. */
uint64_t (*gw_sink_file_clock)(void) = gw_now_us;

struct file_sink {
    char *name; /* the sink's name, for messages */
    char *path;
    uint64_t rotate_bytes; /* 0: no size rotation */
    uint32_t rotate_ms;    /* 0: no age rotation */
    size_t keep;           /* path.1 .. path.keep; 0: a rotated file is deleted */
    int fd;                /* -1 after a failed reopen: retried on the next send */
    uint64_t opened_us;    /* monotonic time the current file's age counts from */
};

/* Opens (creating) the file for appending. 0, or -1 with a message in err. */
static int
file_open(struct file_sink *fs, char *err, size_t errlen)
{
    int fd = open(fs->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "file sink %s: cannot open %s: %s%s", fs->name, fs->path, strerror(e),
                 e == ENOENT ? " (its directory must exist)" : "");
        return -1;
    }
    fs->fd = fd;
    fs->opened_us = gw_sink_file_clock();
    return 0;
}

static void
file_free(struct file_sink *fs)
{
    if (fs->fd >= 0)
        close(fs->fd);
    free(fs->name);
    free(fs->path);
    free(fs);
}

static void *
file_sink_open(const struct gw_sink_cfg *cfg, struct event_base *base, char *err, size_t errlen)
{
    (void)base;
    if (!cfg->path || !*cfg->path) {
        snprintf(err, errlen, "file sink %s: no path", cfg->name ? cfg->name : "");
        return NULL;
    }
    struct file_sink *fs = calloc(1, sizeof(*fs));
    if (!fs) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    fs->fd = -1;
    fs->name = strdup(cfg->name ? cfg->name : "file");
    fs->path = strdup(cfg->path);
    fs->rotate_bytes = cfg->rotate_bytes;
    fs->rotate_ms = cfg->rotate_ms;
    fs->keep = cfg->keep;
    if (!fs->name || !fs->path) {
        snprintf(err, errlen, "out of memory");
        file_free(fs);
        return NULL;
    }
    /* An existing file's age counts from now: its creation time is not known portably. */
    if (file_open(fs, err, errlen) < 0) {
        file_free(fs);
        return NULL;
    }
    return fs;
}

/* Whether the file, size bytes now, must be rotated before len more bytes go in. */
static int
rotate_due(struct file_sink *fs, uint64_t size, size_t len)
{
    if (size == 0) {
        fs->opened_us =
            gw_sink_file_clock(); /* nothing to rotate: the age counts from the first write */
        return 0;
    }
    if (fs->rotate_bytes && size + len > fs->rotate_bytes)
        return 1;
    return fs->rotate_ms && gw_sink_file_clock() - fs->opened_us >= (uint64_t)fs->rotate_ms * 1000;
}

/* path.i to path.(i+1) for i = keep-1 .. 1; the oldest is replaced, so dropped. */
static void
shift_rotated(struct file_sink *fs)
{
    char from[PATH_MAX + 16], to[PATH_MAX + 16];
    for (size_t i = fs->keep - 1; i >= 1; i--) {
        snprintf(from, sizeof(from), "%s.%zu", fs->path, i);
        snprintf(to, sizeof(to), "%s.%zu", fs->path, i + 1);
        if (rename(from, to) < 0 && errno != ENOENT)
            gw_warn("file sink %s: cannot rename %s to %s: %s", fs->name, from, to,
                    strerror(errno));
    }
}

/*
 * Moves the current file away (to path.1, or deletes it when keep is 0) and opens a new one.
 * Returns 0; 1 when the file could not be moved (the batch then goes into the current file and
 * rotation is tried again next time); -1 when the new file could not be opened (message in why).
 */
static int
rotate(struct file_sink *fs, char *why, size_t cap)
{
    char to[PATH_MAX + 16];
    int r;
    if (fs->keep == 0) {
        r = unlink(fs->path);
    } else {
        shift_rotated(fs);
        snprintf(to, sizeof(to), "%s.1", fs->path);
        r = rename(fs->path, to);
    }
    if (r < 0) {
        gw_warn("file sink %s: cannot rotate %s: %s", fs->name, fs->path, strerror(errno));
        return 1;
    }
    close(fs->fd);
    fs->fd = -1;
    return file_open(fs, why, cap);
}

/* Appends the batch; on failure cuts the file back to size and says why. 0 or -1. */
static int
append_batch(struct file_sink *fs, off_t size, const char *recs, size_t len, char *why, size_t cap)
{
    if (gw_write_all(fs->fd, recs, len) == 0)
        return 0;
    int e = errno;
    int cut = ftruncate(fs->fd, size) == 0;
    snprintf(why, cap, "file sink %s: write %s: %s%s", fs->name, fs->path, strerror(e),
             cut ? "" : " (and the partial batch could not be removed)");
    return -1;
}

/* The file's size on disk (not a count of ours: someone may have truncated it). 0 or -1. */
static int
file_size(struct file_sink *fs, off_t *size, char *why, size_t cap)
{
    struct stat sb;
    if (fstat(fs->fd, &sb) < 0) {
        snprintf(why, cap, "file sink %s: stat %s: %s", fs->name, fs->path, strerror(errno));
        return -1;
    }
    *size = sb.st_size;
    return 0;
}

static void
file_sink_send(void *st, const char *recs, size_t len, size_t n, gw_sink_done_fn done, void *arg)
{
    struct file_sink *fs = st;
    char why[PATH_MAX + 256];
    off_t size;
    (void)n;
    if (fs->fd < 0 && file_open(fs, why, sizeof(why)) < 0)
        goto fail;
    if (file_size(fs, &size, why, sizeof(why)) < 0)
        goto fail;
    if (rotate_due(fs, (uint64_t)size, len)) {
        int r = rotate(fs, why, sizeof(why));
        if (r < 0 || (r == 0 && file_size(fs, &size, why, sizeof(why)) < 0))
            goto fail;
    }
    if (append_batch(fs, size, recs, len, why, sizeof(why)) < 0)
        goto fail;
    done(arg, 1, NULL);
    return;
fail:
    done(arg, 0, why);
}

static void
file_sink_close(void *st)
{
    if (st)
        file_free(st);
}

const struct gw_sink_ops gw_sink_file_ops = {
    .open = file_sink_open,
    .send = file_sink_send,
    .close = file_sink_close,
};
