/* realpath is XSI. */
#ifndef _XOPEN_SOURCE
#define _XOPEN_SOURCE 700
#endif

#include "fileio.h"
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

static void reserve(clt_wbuf *b, size_t extra) {
  if (b->failed) return;
  if (b->len + extra <= b->cap) return;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->len + extra) {
    if (cap > SIZE_MAX / 2) {
      b->failed = true;
      return;
    }
    cap *= 2;
  }
  unsigned char *p = realloc(b->data, cap);
  if (!p) {
    b->failed = true;
    return;
  }
  b->data = p;
  b->cap = cap;
}

void clt_wbuf_bytes(clt_wbuf *b, const void *p, size_t n) {
  reserve(b, n);
  if (b->failed) return;
  memcpy(b->data + b->len, p, n);
  b->len += n;
}

void clt_wbuf_u32(clt_wbuf *b, uint32_t v) {
  unsigned char le[4];
  for (int i = 0; i < 4; i++) le[i] = (unsigned char)(v >> (8 * i));
  clt_wbuf_bytes(b, le, 4);
}

void clt_wbuf_u64(clt_wbuf *b, uint64_t v) {
  unsigned char le[8];
  for (int i = 0; i < 8; i++) le[i] = (unsigned char)(v >> (8 * i));
  clt_wbuf_bytes(b, le, 8);
}

void clt_wbuf_f64(clt_wbuf *b, double v) {
  uint64_t u;
  memcpy(&u, &v, 8);
  clt_wbuf_u64(b, u);
}

void clt_wbuf_f32s(clt_wbuf *b, const float *v, size_t n) {
  for (size_t i = 0; i < n; i++) {
    uint32_t u;
    memcpy(&u, &v[i], 4);
    clt_wbuf_u32(b, u);
  }
}

void clt_wbuf_free(clt_wbuf *b) {
  free(b->data);
  *b = (clt_wbuf){0};
}

/* "path: what: strerror(errno)" as ctx's detail (ENOMEM: out of memory). */
static clt_status fail(const clt_context *ctx, const char *what, const char *path) {
  return clt_fail(ctx, errno == ENOMEM ? CLT_ERR_OUT_OF_MEMORY : CLT_ERR_IO,
                  "%s: %s: %s", path, what, strerror(errno));
}

/* What a file that is not regular is, for messages. */
static const char *file_kind(mode_t m) {
  return S_ISDIR(m)                  ? "directory"
         : S_ISFIFO(m)               ? "FIFO"
         : S_ISSOCK(m)               ? "socket"
         : S_ISCHR(m) || S_ISBLK(m)  ? "device"
                                     : "special file";
}

clt_status clt_input_open(const clt_context *ctx, const char *path,
                          uint64_t max_bytes, int *out) {
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return fail(ctx, "cannot open", path);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return fail(ctx, "cannot inspect", path);
  }
  if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > max_bytes) {
    close(fd);
    if (!S_ISREG(st.st_mode))
      return clt_fail(ctx, CLT_ERR_IO, "%s: not a regular file (a %s): refused",
                      path, file_kind(st.st_mode));
    return clt_fail(ctx, CLT_ERR_IO,
                    "%s: %llu bytes, more than the %llu this format can hold", path,
                    (unsigned long long)st.st_size, (unsigned long long)max_bytes);
  }
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
    close(fd);
    return fail(ctx, "cannot open", path);
  }
  *out = fd;
  return CLT_OK;
}

clt_status clt_output_target(const clt_context *ctx, const char *path,
                             char **target) {
  struct stat st;
  *target = NULL;
  if (lstat(path, &st) != 0) {
    if (errno != ENOENT) return fail(ctx, "cannot inspect", path);
    *target = strdup(path); /* a new file */
  } else if (S_ISLNK(st.st_mode) && stat(path, &st) != 0) {
    return fail(ctx, "symbolic link to nothing writable", path);
  } else if (!S_ISREG(st.st_mode)) {
    return clt_fail(ctx, CLT_ERR_IO, "%s: not a regular file (a %s): refused",
                    path, file_kind(st.st_mode));
  } else {
    *target = realpath(path, NULL); /* a link's target is replaced, not the link */
  }
  if (!*target) return fail(ctx, "cannot resolve", path);
  return CLT_OK;
}

/* The temporary file of the commit in progress, for clt_output_abandon
   (a signal handler): its name is written before the file exists. */
static char pending[4096];
static volatile sig_atomic_t pending_set;

void clt_output_abandon(void) {
  if (pending_set) unlink(pending);
}

clt_status clt_wbuf_commit(const clt_context *ctx, clt_wbuf *b, const char *path) {
  clt_wbuf_u32(b, (uint32_t)crc32_z(0L, b->data, b->len));
  return clt_wbuf_write(ctx, b, path);
}

/* One commit at a time in the process: the pending name is shared
   (contexts on several threads may save checkpoints or the tuning cache
   at once). */
static pthread_mutex_t commit_lock = PTHREAD_MUTEX_INITIALIZER;
static clt_status write_locked(const clt_context *ctx, const clt_file_part *parts, size_t n,
                               const char *path);

clt_status clt_wbuf_write(const clt_context *ctx, const clt_wbuf *b, const char *path) {
  if (b->failed) {
    errno = ENOMEM;
    return fail(ctx, "cannot build the file", path);
  }
  const clt_file_part whole = {b->data, b->len};
  return clt_file_write_parts(ctx, &whole, 1, path);
}

clt_status clt_file_write_parts(const clt_context *ctx, const clt_file_part *parts, size_t n,
                                const char *path) {
  pthread_mutex_lock(&commit_lock);
  clt_status st = write_locked(ctx, parts, n, path);
  pthread_mutex_unlock(&commit_lock);
  return st;
}

static clt_status write_locked(const clt_context *ctx, const clt_file_part *parts, size_t n,
                               const char *path) {
  char *target;
  CLT_TRY(clt_output_target(ctx, path, &target));
  size_t plen = strlen(target);
  if (plen + 16 > sizeof pending) {
    free(target);
    errno = ENAMETOOLONG;
    return fail(ctx, "cannot build the file", path);
  }
  char *tmp = pending;
  snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", target);
  pending_set = 1;
  int fd = mkstemp(tmp);
  if (fd < 0) {
    pending_set = 0;
    free(target);
    return fail(ctx, "cannot create a temporary file", path);
  }
  bool written = true;
  for (size_t p = 0; written && p < n; p++) {
    const unsigned char *at = parts[p].data;
    size_t done = 0;
    while (done < parts[p].len) {
      ssize_t w = write(fd, at + done, parts[p].len - done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) break;
      done += (size_t)w;
    }
    written = done == parts[p].len;
  }
  clt_status rc = CLT_OK;
  if (!written || fsync(fd) != 0) rc = fail(ctx, "write failed", path);
  if (close(fd) != 0 && rc == CLT_OK) rc = fail(ctx, "close failed", path);
  if (rc == CLT_OK && rename(tmp, target) != 0) rc = fail(ctx, "rename failed", path);
  if (rc != CLT_OK) unlink(tmp);
  pending_set = 0;
  if (rc == CLT_OK) {
    /* Make the rename itself durable. */
    char *dir = strdup(target);
    if (dir) {
      char *slash = strrchr(dir, '/');
      const char *d = slash ? (slash == dir ? "/" : (*slash = '\0', dir)) : ".";
      int dfd = open(d, O_RDONLY);
      if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
      }
      free(dir);
    }
  }
  free(target);
  return rc;
}

clt_status clt_file_load(const clt_context *ctx, const char *path,
                         unsigned char **data, size_t *len) {
  int fd;
  CLT_TRY(clt_input_open(ctx, path, CLT_FILE_MAX_BYTES, &fd));
  FILE *f = fdopen(fd, "rb");
  if (!f) {
    close(fd);
    return fail(ctx, "cannot open", path);
  }
  unsigned char *buf = NULL;
  size_t n = 0, cap = 0;
  for (;;) {
    if (n == cap) {
      cap = cap ? cap * 2 : 1 << 16;
      unsigned char *p = realloc(buf, cap);
      if (!p) {
        free(buf);
        fclose(f);
        errno = ENOMEM;
        return fail(ctx, "cannot read", path);
      }
      buf = p;
    }
    size_t r = fread(buf + n, 1, cap - n, f);
    n += r;
    if (r == 0) break;
  }
  int bad = ferror(f);
  fclose(f);
  if (bad) {
    free(buf);
    return fail(ctx, "read error", path);
  }
  uint32_t stored = 0;
  if (n >= 4)
    for (int i = 0; i < 4; i++) stored |= (uint32_t)buf[n - 4 + (size_t)i] << (8 * i);
  if (n < 4 || stored != (uint32_t)crc32_z(0L, buf, n - 4)) {
    free(buf);
    return clt_fail(ctx, CLT_ERR_FORMAT, "%s: %s", path,
                    n < 4 ? "truncated file"
                          : "checksum mismatch (corrupted or truncated file)");
  }
  *data = buf;
  *len = n - 4;
  return CLT_OK;
}

void clt_rbuf_bytes(clt_rbuf *b, void *p, size_t n) {
  if (b->short_read || n > b->len - b->pos) {
    b->short_read = true;
    memset(p, 0, n);
    return;
  }
  memcpy(p, b->data + b->pos, n);
  b->pos += n;
}

uint32_t clt_rbuf_u32(clt_rbuf *b) {
  unsigned char le[4];
  clt_rbuf_bytes(b, le, 4);
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) v |= (uint32_t)le[i] << (8 * i);
  return v;
}

uint64_t clt_rbuf_u64(clt_rbuf *b) {
  uint64_t lo = clt_rbuf_u32(b);
  return lo | (uint64_t)clt_rbuf_u32(b) << 32;
}

double clt_rbuf_f64(clt_rbuf *b) {
  uint64_t u = clt_rbuf_u64(b);
  double v;
  memcpy(&v, &u, 8);
  return v;
}

void clt_rbuf_f32s(clt_rbuf *b, float *v, size_t n) {
  for (size_t i = 0; i < n; i++) {
    uint32_t u = clt_rbuf_u32(b);
    memcpy(&v[i], &u, 4);
  }
}

void clt_json_string(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      fprintf(f, "\\%c", c);
    else if (c < 0x20)
      fprintf(f, "\\u%04x", c);
    else
      fputc(c, f);
  }
  fputc('"', f);
}
