/* Files written by the library (and JSON strings for the tool and the
   benchmarks). Binary files: little-endian fields built in a
   growable buffer, a CRC-32 trailer, and an atomic replace of the target
   (temporary file in the same directory, fsync, rename, fsync of the
   directory), so a crash leaves either the old file or the new one.

   Errors follow the library's convention: a clt_status (CLT_ERR_IO,
   CLT_ERR_FORMAT, CLT_ERR_OUT_OF_MEMORY) and a detail naming the file in
   ctx, or with ctx NULL in the thread's (clt_last_error). */
#ifndef CLT_FILEIO_H
#define CLT_FILEIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cltrain.h"

typedef struct clt_wbuf {
  unsigned char *data;
  size_t len, cap;
  bool failed; /* an allocation failed: the buffer is unusable */
} clt_wbuf;

void clt_wbuf_bytes(clt_wbuf *b, const void *p, size_t n);
void clt_wbuf_u32(clt_wbuf *b, uint32_t v);
void clt_wbuf_u64(clt_wbuf *b, uint64_t v);
void clt_wbuf_f64(clt_wbuf *b, double v);
void clt_wbuf_f32s(clt_wbuf *b, const float *v, size_t n);
void clt_wbuf_free(clt_wbuf *b);

/* Appends the CRC-32 of the buffer and writes it atomically to path (to
   its target when it is a symbolic link), which must be a regular file or
   not exist yet (see clt_output_target). The temporary file is removed on
   every failure. */
clt_status clt_wbuf_commit(const clt_context *ctx, clt_wbuf *b, const char *path);
/* The same without the CRC-32: the buffer as it is (formats of others). */
clt_status clt_wbuf_write(const clt_context *ctx, const clt_wbuf *b, const char *path);
/* The parts one after another, written atomically as clt_wbuf_write does:
   a file of large arrays straight from where they are. */
typedef struct clt_file_part {
  const void *data;
  size_t len;
} clt_file_part;
clt_status clt_file_write_parts(const clt_context *ctx, const clt_file_part *parts, size_t n,
                                const char *path);

/* Where output for path goes: *target (malloc'd) the path itself for a new
   file, or the resolved regular file (through symbolic links); refused
   for a directory, device, FIFO, socket, a link to nothing, or a path
   that cannot be inspected. */
clt_status clt_output_target(const clt_context *ctx, const char *path,
                             char **target);

/* Removes the temporary file of a commit in progress, if any; async-signal
   safe, for a SIGINT/SIGTERM handler of the program. */
void clt_output_abandon(void);

typedef struct clt_rbuf {
  const unsigned char *data;
  size_t len, pos;
  bool short_read; /* a read ran past the end */
} clt_rbuf;

/* Opens path for reading into *fd: a regular file only (open would block
   on a FIFO; a device such as /dev/zero never ends), of at most
   max_bytes. */
clt_status clt_input_open(const clt_context *ctx, const char *path,
                          uint64_t max_bytes, int *fd);

/* The largest file read (data, checkpoint, optimizer or model): 64 GiB. */
#define CLT_FILE_MAX_BYTES ((uint64_t)1 << 36)

/* Reads the whole file (clt_input_open) and checks its CRC-32 trailer:
   *data malloc'd, *len excludes the trailer; CLT_ERR_FORMAT when it is
   too short or the checksum differs. */
clt_status clt_file_load(const clt_context *ctx, const char *path,
                         unsigned char **data, size_t *len);
void clt_rbuf_bytes(clt_rbuf *b, void *p, size_t n);
uint32_t clt_rbuf_u32(clt_rbuf *b);
uint64_t clt_rbuf_u64(clt_rbuf *b);
double clt_rbuf_f64(clt_rbuf *b);
void clt_rbuf_f32s(clt_rbuf *b, float *v, size_t n);

/* Writes s as a JSON string literal (quotes included; ", \ and control
   characters escaped), for the tool's and the benchmarks' JSON output. */
void clt_json_string(FILE *f, const char *s);

#endif
