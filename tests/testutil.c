#include "testutil.h"

#include "rng.h"
#if CLT_HAVE_OPENCL
#include "cl/cl_internal.h"
#endif

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static bool allowed(const char *name) {
  const char *env = getenv("CLT_TEST_DEVICES");
  if (!env || !*env) return true;
  size_t len = strlen(name);
  for (const char *p = env; *p;) {
    const char *end = strchr(p, ',');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    if (n == len && strncmp(p, name, n) == 0) return true;
    p += n + (end ? 1 : 0);
  }
  return false;
}

bool tu_have_opencl(void) {
  size_t count = 0;
  return allowed("cl") && clt_devices_list(NULL, 0, &count) == CLT_OK &&
         count > 0;
}

int tu_shell(const char *cmd, char *out, size_t len) {
  FILE *p = popen(cmd, "r");
  cr_assert_not_null(p, "%s", cmd);
  size_t n = fread(out, 1, len - 1, p);
  out[n] = '\0';
  int status = pclose(p);
  cr_assert(WIFEXITED(status), "%s: did not exit normally", cmd);
  return WEXITSTATUS(status);
}

size_t tu_devices(const char *specs[2]) {
  size_t n = 0;
  if (allowed("ref")) specs[n++] = "ref";
  if (tu_have_opencl()) specs[n++] = "cl";
  return n;
}

clt_context *tu_context(const char *spec) {
  return tu_context_with(spec, (clt_context_options){0});
}

clt_context *tu_context_with(const char *spec, clt_context_options opt) {
  opt.device = spec;
  if (strcmp(spec, "cl") == 0) {
    size_t index = 0;
    opt.device = clt_device_select("gpu", &index) == CLT_OK ? "gpu" : "cpu";
  }
  clt_context *ctx = NULL;
  clt_status st = clt_context_create(&opt, &ctx);
  cr_assert_eq(st, CLT_OK, "context '%s': %s: %s", spec, clt_status_str(st),
               clt_last_error(NULL));
  return ctx;
}

void tu_fill_uniform(float *x, size_t n, uint64_t seed, float lo, float hi) {
  uint64_t s = seed;
  for (size_t i = 0; i < n; i++)
    x[i] = lo + (hi - lo) * (float)((clt_splitmix64(&s) >> 40) * 0x1.0p-24);
}

void tu_fill_labels(int32_t *y, size_t n, uint64_t seed, int32_t classes) {
  uint64_t s = seed;
  for (size_t i = 0; i < n; i++)
    y[i] = (int32_t)(clt_splitmix64(&s) % (uint64_t)classes);
}

clt_tensor *tu_tensor(clt_context *ctx, size_t rows, size_t cols,
                      const float *data) {
  clt_tensor *t = NULL;
  cr_assert_eq(clt_tensor_create(ctx, rows, cols, CLT_FLOAT32, &t), CLT_OK,
               "%s", clt_last_error(ctx));
  if (data)
    cr_assert_eq(clt_tensor_write(t, data, rows * cols * 4), CLT_OK, "%s",
                 clt_last_error(ctx));
  return t;
}

clt_tensor *tu_labels(clt_context *ctx, size_t n, const int32_t *y) {
  clt_tensor *t = NULL;
  cr_assert_eq(clt_tensor_create(ctx, n, 1, CLT_INT32, &t), CLT_OK, "%s",
               clt_last_error(ctx));
  cr_assert_eq(clt_tensor_write(t, y, n * 4), CLT_OK, "%s",
               clt_last_error(ctx));
  return t;
}

float *tu_read(const clt_tensor *t) {
  size_t n = clt_tensor_rows(t) * clt_tensor_cols(t);
  float *x = malloc(n * sizeof *x);
  cr_assert_not_null(x);
  cr_assert_eq(clt_tensor_read(t, x, n * 4), CLT_OK, "%s",
               clt_last_error(clt_tensor_context(t)));
  return x;
}

void tu_expect_close(const char *what, const float *got, const double *want,
                     size_t n, double atol, double rtol) {
  for (size_t i = 0; i < n; i++) {
    double g = got[i], w = want[i];
    bool ok = fabs(g - w) <= atol + rtol * fabs(w) || (isnan(g) && isnan(w)) ||
              (isinf(w) && g == w);
    if (!ok)
      cr_assert_fail("%s[%zu]: got %.9g, want %.9g (|diff| %.3g > %.3g + "
                     "%.3g*|want|)",
                     what, i, g, w, fabs(g - w), atol, rtol);
  }
}

void tu_expect_close_f(const char *what, const float *got, const float *want,
                       size_t n, double atol, double rtol) {
  for (size_t i = 0; i < n; i++) {
    double g = got[i], w = want[i];
    if (!(fabs(g - w) <= atol + rtol * fabs(w)) && !(isnan(g) && isnan(w)))
      cr_assert_fail("%s[%zu]: got %.9g, want %.9g (|diff| %.3g > %.3g + "
                     "%.3g*|want|)",
                     what, i, g, w, fabs(g - w), atol, rtol);
  }
}

long tu_live_objects(void) {
#if CLT_HAVE_OPENCL
  return clt_cl_live_objects();
#else
  return 0;
#endif
}

#if CLT_HAVE_OPENCL
static clt_linear_path cl_path(tu_linear_path path) {
  return path == TU_LINEAR_KERNEL    ? CLT_LINEAR_KERNEL
         : path == TU_LINEAR_CLBLAST ? CLT_LINEAR_CLBLAST
                                     : CLT_LINEAR_AUTO;
}
#endif

clt_status tu_linear_forward(clt_context *ctx, const clt_tensor *X, const clt_tensor *W,
                             const clt_tensor *b, clt_tensor *S, tu_linear_path path) {
#if CLT_HAVE_OPENCL
  if (!clt_context_is_reference(ctx))
    return clt_cl_linear_forward(ctx, X, W, b, S, cl_path(path));
#endif
  (void)path;
  return clt_linear_forward(ctx, X, W, b, S);
}

clt_status tu_linear_backward(clt_context *ctx, const clt_tensor *X, const clt_tensor *W,
                              const clt_tensor *dS, clt_tensor *dW, clt_tensor *db,
                              clt_tensor *dX, tu_linear_path path) {
#if CLT_HAVE_OPENCL
  if (!clt_context_is_reference(ctx))
    return clt_cl_linear_backward(ctx, X, W, dS, dW, db, dX, cl_path(path));
#endif
  (void)path;
  return clt_linear_backward(ctx, X, W, dS, dW, db, dX);
}

void tu_rm_tree(const char *path) {
  struct stat st;
  if (lstat(path, &st) != 0)
    return;
  if (S_ISDIR(st.st_mode)) {
    DIR *d = opendir(path);
    if (d) {
      struct dirent *e;
      while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
          continue;
        char sub[1024];
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        tu_rm_tree(sub);
      }
      closedir(d);
    }
    rmdir(path);
  } else {
    unlink(path);
  }
}
