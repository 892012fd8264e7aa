/* Socket reads that bypass the bufferevent read path; blocking writes of whole buffers to files. */
#ifndef GW_IO_H
#define GW_IO_H

#include <stddef.h>
#include <sys/types.h>

struct evbuffer;

/*
 * Reads once from fd (up to 16 KiB) into the end of in, which may be a bufferevent's input
 * buffer whose read side is disabled. Returns the byte count; 0 at end of stream; -1 with
 * *err = 0 when nothing is available now, or with *err = errno on failure.
 *
 * Why: libevent's own read path asks the kernel ioctl(FIONREAD) before every readv; one
 * readv into reserved space is one syscall per readable event instead of two.
 */
ssize_t gw_sock_read(struct evbuffer *in, int fd, int *err);

/* Writes all n bytes to fd (a file), through short writes and signals. 0, or -1 with errno set
 * (EIO when the kernel wrote nothing without an error). */
int gw_write_all(int fd, const void *p, size_t n);

/* Reads the whole file at path into a new buffer (NUL-terminated; *len excludes the NUL, the
 * caller frees *buf). 0, or -1 with errno set: the open's error, EFBIG when the file holds more
 * than max bytes, ENOMEM, or EIO on a read error. */
int gw_read_file(const char *path, size_t max, char **buf, size_t *len);

#endif
