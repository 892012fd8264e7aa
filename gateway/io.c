#include "gateway/io.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/buffer.h>

enum { READ_CHUNK = 16384 };

ssize_t
gw_sock_read(struct evbuffer *in, int fd, int *err)
{
    /* A bufferevent keeps the end of its input buffer frozen outside its own read callback;
     * thaw it for the append, as libevent's read path does. */
    evbuffer_unfreeze(in, 0);
    struct evbuffer_iovec v[2];
    struct iovec iov[2];
    int nv = evbuffer_reserve_space(in, READ_CHUNK, v, 2);
    if (nv <= 0) {
        evbuffer_freeze(in, 0);
        *err = ENOMEM;
        return -1;
    }
    for (int i = 0; i < nv; i++) {
        iov[i].iov_base = v[i].iov_base;
        iov[i].iov_len = v[i].iov_len;
    }
    ssize_t n = readv(fd, iov, nv);
    if (n <= 0) {
        *err = n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR ? errno : 0;
        evbuffer_commit_space(in, v, 0);
        evbuffer_freeze(in, 0);
        return n;
    }
    size_t left = (size_t)n;
    int used = 0;
    for (int i = 0; i < nv && left; i++, used++) {
        if (v[i].iov_len > left)
            v[i].iov_len = left;
        left -= v[i].iov_len;
    }
    evbuffer_commit_space(in, v, used);
    evbuffer_freeze(in, 0);
    *err = 0;
    return n;
}

int
gw_write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        if (w == 0) {
            errno = EIO;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int
gw_read_file(const char *path, size_t max, char **buf, size_t *len)
{
    *buf = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    struct stat st;
    size_t cap = fstat(fileno(f), &st) == 0 && st.st_size > 0 ? (size_t)st.st_size + 1 : 4096;
    if (cap > max + 1)
        cap = max + 1;
    char *b = NULL;
    size_t n = 0;
    int err = 0;
    for (;;) {
        char *nb = realloc(b, cap + 1);
        if (!nb) {
            err = ENOMEM;
            break;
        }
        b = nb;
        n += fread(b + n, 1, cap - n, f);
        if (n > max) {
            err = EFBIG;
            break;
        }
        if (n < cap) { /* the end, or an error */
            if (ferror(f))
                err = EIO;
            break;
        }
        cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
    }
    fclose(f);
    if (err) {
        free(b);
        errno = err;
        return -1;
    }
    b[n] = '\0';
    *buf = b;
    *len = n;
    return 0;
}
