/* Checkpoint files (internal API): a model's kind and named tensors, the
   training state around it and the optimizer's record, as laid out in
   docs/CHECKPOINT.md. Version 4 is written; versions 1 to 4 are read.
   `cltrain predict` takes the same files as models. */
#ifndef CLT_CHECKPOINT_H
#define CLT_CHECKPOINT_H

#include "model.h"
#include "train.h"

#define CLT_CHECKPOINT_VERSION 4
/* The longest class label and variant stored. */
#define CLT_CHECKPOINT_LABEL_MAX 4096
#define CLT_CHECKPOINT_VARIANT_MAX 1023

typedef struct clt_ckpt_tensor {
  char name[CLT_MODEL_NAME_LEN];
  size_t rows, cols;
  float *data; /* rows*cols, owned */
} clt_ckpt_tensor;

typedef struct clt_checkpoint {
  uint32_t version; /* as read; CLT_CHECKPOINT_VERSION when written */
  const clt_model_kind *kind;
  size_t d, c;
  clt_loss_kind loss;
  clt_optim_kind optim;
  uint64_t n, batch, epochs, step, rng; /* training rows, batch, progress */
  clt_prep_stats prep;
  /* Version 3: how the model was trained, which a resume restores, and
     what its classes are called. Older versions: has_settings false, the
     settings zero, labels "0".."C-1". */
  bool has_settings;
  clt_loss_desc loss_desc;  /* its tensors NULL */
  float *class_weight;      /* c values, or NULL; owned */
  clt_reg_desc reg;
  clt_schedule schedule;
  uint64_t epochs_target, seed; /* --epochs asked for, --seed */
  double init_std;
  char svmlight_base;       /* '0', '1', or 0: not trained on svmlight */
  clt_labels labels;        /* c names, owned */
  /* Version 4: the variant of the context that trained it
     (clt_context_variant), which a resume asks for to get the same bits;
     "" in older versions. */
  char variant[CLT_CHECKPOINT_VARIANT_MAX + 1];
  /* Version 4: the shards of the training rows (clt_train_options.shards,
     at least 1), which a resume keeps, and the ranks that trained it (1
     without --distributed); 1 and 1 in older versions. */
  uint64_t shards;
  uint32_t world_size;
  size_t ntensors; /* the kind's parameters, in its order */
  clt_ckpt_tensor tensor[CLT_MODEL_MAX_PARAMS];
  const unsigned char *optim_state; /* the optimizer's record, in file */
  size_t optim_len;
  unsigned char *file; /* the file read without its CRC-32, owned */
  size_t file_len;
} clt_checkpoint;

/* Reads and checks path: its CRC-32, every field, finite values, a known
   model kind whose parameters the tensors are (names and shapes). The
   detail names path (in ctx, or the thread's with ctx NULL). */
clt_status clt_checkpoint_load(const clt_context *ctx, const char *path,
                               clt_checkpoint *out);
void clt_checkpoint_free(clt_checkpoint *ck);
/* The same from a file's bytes already read and checked (clt_checkpoint's
   file and file_len, e.g. sent by another rank): file (malloc'd) is
   taken, freed on failure; name is what messages call it. */
clt_status clt_checkpoint_from_bytes(const clt_context *ctx, const char *name,
                                     unsigned char *file, size_t len, clt_checkpoint *out);

/* Writes ck (version 4, settings included) with the optimizer's record atomically to path. */
clt_status clt_checkpoint_save(const clt_context *ctx, const char *path,
                               const clt_checkpoint *ck, const void *optim_state,
                               size_t optim_len);

/* ck's tensors from the values of m's parameters (read from the device). */
clt_status clt_checkpoint_take(clt_checkpoint *ck, const clt_model *m);
/* Whether ck holds exactly m's parameters (kind, names and shapes);
   CLT_ERR_FORMAT naming path if not. */
clt_status clt_checkpoint_fits(const clt_checkpoint *ck, const clt_model *m,
                               const char *path);
/* m's parameters from ck's tensors: refused, m untouched, unless ck fits
   m. */
clt_status clt_checkpoint_apply(const clt_checkpoint *ck, clt_model *m,
                                const char *path);
/* Whether ck holds a tensor called name (a linear model's bias "b"). */
bool clt_checkpoint_has(const clt_checkpoint *ck, const char *name);

#endif /* CLT_CHECKPOINT_H */
