/* The temporary files the harnesses write each input to (the loaders take
   paths): made once in $TMPDIR, else /dev/shm (no disk I/O per input),
   else /tmp, and removed at exit. */
#ifndef CLT_FUZZ_FILE_H
#define CLT_FUZZ_FILE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define FUZZ_FILES 3

static char fuzz_paths[FUZZ_FILES][512];
static int fuzz_nfiles;

static void fuzz_cleanup(void) {
  for (int i = 0; i < fuzz_nfiles; i++) unlink(fuzz_paths[i]);
}

/* A new temporary file named after tag: its descriptor; its path is
   fuzz_paths[the returned slot] through *path. */
static int fuzz_temp(const char *tag, const char **path) {
  if (fuzz_nfiles == FUZZ_FILES) abort();
  const char *t = getenv("TMPDIR");
  if (!t || !*t) t = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  char *p = fuzz_paths[fuzz_nfiles];
  snprintf(p, sizeof fuzz_paths[0], "%s/clt_fuzz_%s_XXXXXX", t, tag);
  int fd = mkstemp(p);
  if (fd < 0) abort(); /* harness failure, not a finding in the library */
  if (fuzz_nfiles++ == 0) atexit(fuzz_cleanup);
  *path = p;
  return fd;
}

/* The file of fd becomes exactly data[0..size). */
static void fuzz_put(int fd, const uint8_t *data, size_t size) {
  if (ftruncate(fd, 0) != 0) abort();
  size_t done = 0;
  while (done < size) {
    ssize_t w = pwrite(fd, data + done, size - done, (off_t)done);
    if (w <= 0) abort();
    done += (size_t)w;
  }
}

#endif
