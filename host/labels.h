/* Class labels as data files write them (internal API): the readers in
   host/data.c and host/data_formats.c intern each label cell into a data
   set's names, and the classes of several sets are then unified into one
   sorted list, as scikit-learn's classes_ (numpy.unique). */
#ifndef CLT_LABELS_H
#define CLT_LABELS_H

#include <stddef.h>
#include <stdint.h>

#include "data.h"

/* The distinct labels of one file, in order of first appearance. */
typedef struct clt_label_intern {
  char **name;    /* n names, owned (NUL-terminated) */
  size_t n, cap;
  uint32_t *slot; /* open addressing: id + 1, 0 empty */
  size_t nslots;
} clt_label_intern;

/* The class id of the label cell [s, e) (blanks around it trimmed) into
   *id, interning it. A cell that is a number must be an integer (written
   "3" or "3.0", |v| < 2^53) and names the class by its value ("3.0" and
   "+3" are "3"); any other text is the label itself. Refused with
   CLT_ERR_FORMAT ("WHERE: label 'X' ..."; where says where the cell is,
   e.g. "f.csv: line 4"): an empty cell, a number that is not an integer
   (scikit-learn's "continuous" targets), a non-finite one, a text with a
   control character (NUL included). */
clt_status clt_label_cell(clt_label_intern *t, const char *s, const char *e,
                          const char *where, int32_t *id);
/* The same for an integer label (.npy label arrays). */
clt_status clt_label_int(clt_label_intern *t, int64_t v, const char *where, int32_t *id);
/* Moves the names into ds (names, classes) and empties t. */
void clt_label_intern_take(clt_label_intern *t, clt_dataset *ds);
void clt_label_intern_free(clt_label_intern *t);

#endif /* CLT_LABELS_H */
