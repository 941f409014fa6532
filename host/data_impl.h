/* Shared by the data readers (host/data.c, host/data_formats.c). */
#ifndef CLT_DATA_IMPL_H
#define CLT_DATA_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <zlib.h>

#include "cltrain.h"
#include "data.h"

/* A data file (plain or gzip, read through zlib): a regular file of at
   most 64 GiB. */
clt_status clt_data_gz_open(const char *path, gzFile *out);

/* A text file (plain or gzip) read a line at a time through a buffer that
   holds a chunk of it (grown only for a longer line), never the whole
   text. */
typedef struct clt_line_reader {
  gzFile f;
  const char *path;
  char *buf;
  size_t cap, start, len; /* buf[start .. len): read, not yet returned */
  bool eof;
} clt_line_reader;

clt_status clt_lines_open(const char *path, clt_line_reader *r);
/* The next line, without its '\n', NUL-terminated at *end and writable,
   into *line; *got false after the last one. */
clt_status clt_lines_next(clt_line_reader *r, char **line, char **end, bool *got);
/* Bytes of text read so far. */
uint64_t clt_lines_bytes(const clt_line_reader *r);
void clt_lines_close(clt_line_reader *r);

/* The blanks allowed around cells, labels and fields: space, tab, CR. */
static inline bool clt_data_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

/* The data of the svmlight line [line, *le): *le cut at a '#' comment;
   its first non-blank character, or NULL for a line without data. */
static inline char *clt_svmlight_data(char *line, char **le) {
  char *hash = memchr(line, '#', (size_t)(*le - line));
  if (hash) *le = hash;
  while (line < *le && clt_data_blank(*line)) line++;
  return line < *le ? line : NULL;
}

/* The data rows of a delimited text file, as clt_data_load_csv_rows tells
   them (clt_data_count_rows). */
clt_status clt_data_csv_count(const char *path, const clt_text_options *opt, size_t *n);

/* [*s, *e) without the blanks at its ends. */
static inline void clt_data_trim(const char **s, const char **e) {
  while (*s < *e && clt_data_blank(**s)) ++*s;
  while (*e > *s && clt_data_blank((*e)[-1])) --*e;
}

/* Whether the name s ends with suffix (".tsv", ".svm.gz"). */
static inline bool clt_data_ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* A printable excerpt of [s, e) into buf (non-printable bytes as '?', a
   long one cut with "..."), for messages; returns buf. */
const char *clt_data_excerpt(const char *s, const char *e, char *buf, size_t buflen);

/* Reports a reader's progress to the thread's clt_data_set_progress
   function, if any; rows are reported every CLT_DATA_REPORT_ROWS. */
#define CLT_DATA_REPORT_ROWS 65536
void clt_data_report(const char *path, uint64_t bytes, uint64_t rows);

/* The shape an IDX directory's pair declares, from its images header. */
clt_status clt_data_idx_dir_shape(const char *dir, int test_split, size_t *n, size_t *d);

#endif /* CLT_DATA_IMPL_H */
