/* Variants and the tuner: variant strings, a context made from one, the
   tuning cache filled at first use and by cltrain tune, and a resume that
   keeps its checkpoint's variant. */
#define _GNU_SOURCE /* memmem */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "testutil.h"

static char dir[] = "/tmp/clt-tune-XXXXXX";
static char out[1 << 16];
static char pocl_cache[4096];

static void setup(void) {
  cr_assert_not_null(mkdtemp(dir));
  /* The tests move XDG_CACHE_HOME, where POCL keeps its kernels unless
     told otherwise: they keep using the suite's. */
  const char *pocl = getenv("POCL_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME");
  if (pocl && *pocl) snprintf(pocl_cache, sizeof pocl_cache, "%s", pocl);
  else if (xdg && *xdg) snprintf(pocl_cache, sizeof pocl_cache, "%s/pocl", xdg);
  else snprintf(pocl_cache, sizeof pocl_cache, "%s/.cache/pocl", getenv("HOME"));
}

static void teardown(void) { tu_rm_tree(dir); }

TestSuite(tune, .init = setup, .fini = teardown);

/* Runs the tool in dir with the environment env (a shell fragment: the
   cache's folder and CLT_TUNE), stdout and stderr into out. */
static int run(const char *env, const char *args) {
  char cmd[8192];
  snprintf(cmd, sizeof cmd, "cd %s && CLT_DEVICE= CLT_PROFILE= POCL_CACHE_DIR=%s %s %s %s 2>&1",
           dir, pocl_cache, env, CLT_CLI_PATH, args);
  return tu_shell(cmd, out, sizeof out);
}

/* Runs the tool: exit code code, and needle (unless NULL) in its output. */
static void expect(int code, const char *env, const char *args, const char *needle) {
  int rc = run(env, args);
  cr_assert_eq(rc, code, "%s: exit %d, wanted %d:\n%s", args, rc, code, out);
  if (needle)
    cr_assert_not_null(strstr(out, needle), "%s: output lacks '%s':\n%s", args, needle, out);
}


/* The file's text into buf; false if it cannot be read. */
static bool slurp(const char *path, char *buf, size_t len) {
  FILE *f = fopen(path, "rb");
  if (!f) return false;
  size_t n = fread(buf, 1, len - 1, f);
  buf[n] = '\0';
  fclose(f);
  return true;
}

/* The JSON string value of key in text into buf. */
static void json_string(const char *text, const char *key, char *buf, size_t len) {
  char pat[64];
  snprintf(pat, sizeof pat, "\"%s\":\"", key);
  const char *at = strstr(text, pat);
  cr_assert_not_null(at, "no %s in %s", key, text);
  at += strlen(pat);
  size_t n = strcspn(at, "\"");
  cr_assert_lt(n, len);
  memcpy(buf, at, n);
  buf[n] = '\0';
}

/* ------------------------------------------------------------ variants */

static clt_context *with_variant(const char *variant) {
  clt_context_options opt = {.variant = variant};
  return tu_context_with("cl", opt);
}

Test(tune, variants_round_trip_and_bad_ones_are_refused) {
  clt_context *ref = tu_context_with("ref", (clt_context_options){.variant = "anything"});
  cr_assert_str_eq(clt_context_variant(ref), "reference");
  clt_context_destroy(ref);
  if (!tu_have_opencl()) cr_skip_test("no OpenCL device");
  setenv("CLT_TUNE", "off", 1);
  clt_context *ctx = tu_context("cl");
  char first[1024];
  snprintf(first, sizeof first, "%s", clt_context_variant(ctx));
  cr_assert(strncmp(first, clt_context_profile(ctx), strlen(clt_context_profile(ctx))) == 0,
            "%s", first);
  clt_context_destroy(ctx);
  ctx = with_variant(first);
  cr_assert_str_eq(clt_context_variant(ctx), first);
  clt_context_destroy(ctx);
  /* another class's, in part: the rest is that class's defaults */
  ctx = with_variant("gpu:step_row_group=64");
  cr_assert_not_null(strstr(clt_context_variant(ctx), "gpu:fused_max_c=32,"));
  cr_assert_not_null(strstr(clt_context_variant(ctx), ",step_row_group=64,"));
  cr_assert_str_eq(clt_context_profile(ctx), "gpu");
  clt_context_destroy(ctx);
  const struct {
    const char *variant, *why;
  } bad[] = {
      {"", "cpu:, gpu: or generic:"},
      {"fast:prefetch=1", "cpu:, gpu: or generic:"},
      {"cpu:prefetch", "is not key=value"},
      {"cpu:prefetch=2", "prefetch=2 is outside [0, 1]"},
      {"cpu:prefetch=-1", "is not a number"},
      {"cpu:fused_max_c=33", "outside [0, 32]"},
      {"cpu:speed=11", "'speed' names no profile field"},
      {"gpu:step_row_group=96", "not a power of two"},
      {"cpu:step_gpu=1", "step_gpu=1 needs"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    clt_context_options opt = {.device = "cpu", .variant = bad[i].variant};
    size_t index;
    if (clt_device_select("cpu", &index) != CLT_OK) opt.device = "gpu";
    clt_context *none = NULL;
    cr_assert_eq(clt_context_create(&opt, &none), CLT_ERR_INVALID_ARG, "%s", bad[i].variant);
    cr_assert_null(none);
    cr_assert_not_null(strstr(clt_last_error(NULL), bad[i].why), "%s: %s", bad[i].variant,
                       clt_last_error(NULL));
  }
  unsetenv("CLT_TUNE");
}

/* The kernels a variant names are the ones that run: the GPU-shaped step
   under a cpu variant that asks for it, and its bits are its own. */
Test(tune, a_variant_chooses_the_kernels_that_run) {
  if (!tu_have_opencl()) cr_skip_test("no OpenCL device");
  setenv("CLT_TUNE", "off", 1);
  const char *variants[] = {"cpu:step_gpu=0", "cpu:step_gpu=1,step_row_group=64,step_dw_items=4096"};
  float got[2][2][70];
  for (int v = 0; v < 2; v++)
    for (int rep = 0; rep < 2; rep++) {
      clt_context_options opt = {.variant = variants[v], .record_timings = 1};
      clt_context *ctx = tu_context_with("cl", opt);
      float x[93 * 7], w[7 * 10] = {0};
      int32_t y[93];
      tu_fill_uniform(x, 93 * 7, 5, -1, 1);
      tu_fill_uniform(w, 70, 6, -1, 1);
      tu_fill_labels(y, 93, 7, 10);
      clt_tensor *X = tu_tensor(ctx, 93, 7, x), *Y = tu_labels(ctx, 93, y),
                 *W = tu_tensor(ctx, 7, 10, w), *dW = tu_tensor(ctx, 7, 10, NULL);
      clt_loss_desc ce = clt_loss_defaults(CLT_LOSS_CROSS_ENTROPY);
      double loss;
      cr_assert_eq(clt_linear_loss_grad(ctx, &ce, NULL, X, Y, W, NULL, &loss, dW, NULL), CLT_OK,
                   "%s", clt_last_error(ctx));
      cr_assert_eq(clt_tensor_read(dW, got[v][rep], sizeof got[v][rep]), CLT_OK);
      clt_timing t[64];
      size_t n = 0;
      cr_assert_eq(clt_context_timings(ctx, t, 64, &n), CLT_OK);
      bool gpu_step = false;
      for (size_t i = 0; i < n && i < 64; i++)
        gpu_step = gpu_step || strcmp(t[i].name, "clt_gstep_rows") == 0;
      cr_assert_eq(gpu_step, v == 1, "%s", variants[v]);
      clt_tensor *all[] = {X, Y, W, dW};
      for (size_t i = 0; i < 4; i++) clt_tensor_destroy(all[i]);
      clt_context_destroy(ctx);
    }
  cr_assert(memcmp(got[0][0], got[0][1], sizeof got[0][0]) == 0, "same variant, same bits");
  cr_assert(memcmp(got[1][0], got[1][1], sizeof got[1][0]) == 0, "same variant, same bits");
  unsetenv("CLT_TUNE");
}

/* ------------------------------------------------------ tuning and cache */

Test(tune, first_use_tunes_once_and_cltrain_tune_redoes_it, .timeout = 600) {
  if (!tu_have_opencl()) cr_skip_test("no OpenCL device");
  char env[4200], cache[4200], text[1 << 14], variant[1024], json_variant[1024];
  snprintf(env, sizeof env, "CLT_TUNE= XDG_CACHE_HOME=%s/xdg", dir);
  snprintf(cache, sizeof cache, "%s/xdg/cltrain/tune", dir);
  const char *train = "train --data synthetic:300,17,5 --epochs 1 --json";

  expect(0, env, "devices --json", "\"tuned\":null");
  expect(0, env, "devices", "not tuned yet (cltrain tune)");
  expect(0, env, train, "for its first use (at most 30 s");
  double secs = -1;
  const char *tuned = strstr(out, "cltrain: tuned in ");
  cr_assert_not_null(tuned, "%s", out);
  cr_assert_eq(sscanf(tuned, "cltrain: tuned in %lf s", &secs), 1);
  cr_assert_leq(secs, 30.0, "the first use's tuning took %.1f s", secs);
  cr_assert(slurp(cache, text, sizeof text), "no %s", cache);
  json_string(out, "variant", json_variant, sizeof json_variant);
  cr_assert_not_null(strstr(text, json_variant), "the run's variant %s is not the cache's:\n%s",
                     json_variant, text);
  /* a CPU device here: the tuner picks the CPU-shaped step */
  size_t index = 0;
  if (clt_device_select(NULL, &index) == CLT_OK && index != SIZE_MAX) {
    clt_device_info devs[16];
    size_t count = 0;
    clt_devices_list(devs, 16, &count);
    if (index < count && devs[index].is_cpu)
      cr_assert_not_null(strstr(json_variant, "step_gpu=0"), "%s", json_variant);
  }

  /* once: the next run and the listing read the cache */
  expect(0, env, train, "\"variant\":");
  cr_assert_null(strstr(out, "tuning"), "%s", out);
  json_string(out, "variant", variant, sizeof variant);
  cr_assert_str_eq(variant, json_variant);
  expect(0, env, "devices --json", json_variant);

  /* cltrain tune redoes it, saying every candidate's times */
  expect(0, env, "tune", "GPU-shaped fused step");
  cr_assert_not_null(strstr(out, "CPU-shaped fused step, 1 row block per unit"), "%s", out);
  cr_assert_not_null(strstr(out, "kept in: "), "%s", out);
  cr_assert_not_null(strstr(out, cache), "%s", out);
  expect(2, env, "tune --device ref", "nothing to tune");
  expect(2, env, "tune --bogus", "--bogus");
  expect(0, env, "tune --help", "CLT_TUNE=off");

  /* a cache line this version cannot read counts as untuned, and the
     tuning that follows replaces it */
  char *sp = strchr(strstr(text, "\n") + 1, ' ');
  cr_assert_not_null(sp);
  char broken[1 << 14];
  snprintf(broken, sizeof broken, "%.*s cpu:warp_speed=9 # edited\n", (int)(sp - text), text);
  FILE *f = fopen(cache, "w");
  fputs(broken, f);
  fclose(f);
  expect(0, env, "devices", "not tuned yet");
  expect(0, env, train, "for its first use");
  cr_assert(slurp(cache, text, sizeof text));
  cr_assert_null(strstr(text, "warp_speed"), "%s", text);

  /* CLT_TUNE=off: no tuning, nothing written */
  char off[8192], off_cache[4200];
  snprintf(off, sizeof off, "CLT_TUNE=off XDG_CACHE_HOME=%s/off", dir);
  snprintf(off_cache, sizeof off_cache, "%s/off/cltrain/tune", dir);
  expect(0, off, train, "\"variant\":");
  cr_assert_null(strstr(out, "tuning"), "%s", out);
  struct stat sb;
  cr_assert_neq(stat(off_cache, &sb), 0, "CLT_TUNE=off wrote %s", off_cache);

  /* CLT_TUNE=off ignores a cache line too: the class's defaults */
  f = fopen(cache, "w");
  fprintf(f, "%.16s cpu:step_max_rows=512 # test\n", strchr(text, '\n') + 1);
  fclose(f);
  snprintf(off, sizeof off, "CLT_TUNE=off XDG_CACHE_HOME=%s/xdg", dir);
  expect(0, off, train, "step_max_rows=1024,");
  expect(0, env, train, "step_max_rows=512,");

  /* a cache that cannot be written: nothing is tuned (it would be again
     by every run), the run goes on and says so */
  char ro[1024];
  snprintf(ro, sizeof ro, "%s/plain-file", dir);
  f = fopen(ro, "w");
  fclose(f);
  snprintf(off, sizeof off, "CLT_TUNE= XDG_CACHE_HOME=%s", ro);
  expect(0, off, train, "a tuning could not be kept (");
  cr_assert_null(strstr(out, "for its first use"), "%s", out);
  cr_assert_not_null(strstr(out, "profile's defaults are used"), "%s", out);
}

/* A resume runs its checkpoint's variant, whatever the cache says now:
   the same bits as an uninterrupted run of that variant, and another
   variant's differ. */
Test(tune, a_resume_keeps_the_checkpoints_variant, .timeout = 600) {
  /* the variants below are a CPU device's */
  size_t index = 0, count = 0;
  clt_device_info devs[16];
  if (!tu_have_opencl() || clt_device_select(NULL, &index) != CLT_OK || index == SIZE_MAX ||
      clt_devices_list(devs, 16, &count) != CLT_OK || index >= count || !devs[index].is_cpu)
    cr_skip_test("auto picks no OpenCL CPU device");
  char env[4200], cache[4200], text[1 << 14];
  snprintf(env, sizeof env, "CLT_TUNE= XDG_CACHE_HOME=%s/resume", dir);
  snprintf(cache, sizeof cache, "%s/resume/cltrain/tune", dir);
  expect(0, env, "tune", "kept in: ");
  cr_assert(slurp(cache, text, sizeof text));
  /* the same device's line, once with the CPU-shaped step and once with
     the GPU-shaped one */
  char *line = strchr(text, '\n') + 1;
  char key[17];
  memcpy(key, line, 16);
  key[16] = '\0';
  const char *variants[] = {"cpu:step_gpu=0", "cpu:step_gpu=1,step_row_group=64,step_dw_items=4096"};
  const char *common = "train --data synthetic:600,17,5 --batch 64 --seed 3 --schedule constant "
                       "--json --quiet";
  char args[512], straight[2][4096], resumed[4096];
  for (int v = 0; v < 2; v++) {
    FILE *f = fopen(cache, "w");
    fprintf(f, "%s %s # test\n", key, variants[v]);
    fclose(f);
    snprintf(args, sizeof args, "%s --epochs 4", common);
    expect(0, env, args, "\"variant\":");
    snprintf(straight[v], sizeof straight[v], "%s", strchr(out, '{'));
    if (v == 1) {
      snprintf(args, sizeof args, "%s --epochs 2 --checkpoint v.ckpt", common);
      expect(0, env, args, NULL);
    }
  }
  /* the cache back to the CPU-shaped step; the resume keeps the GPU one */
  FILE *f = fopen(cache, "w");
  fprintf(f, "%s %s # test\n", key, variants[0]);
  fclose(f);
  snprintf(args, sizeof args, "%s --epochs 4 --resume v.ckpt", common);
  expect(0, env, args, "step_gpu=1");
  snprintf(resumed, sizeof resumed, "%s", strchr(out, '{'));
  size_t upto = (size_t)(strstr(straight[1], "\"seconds\"") - straight[1]);
  cr_assert(strncmp(straight[1], resumed, upto) == 0, "straight %s\nresumed %s", straight[1],
            resumed);
  /* what the runs computed, after the variant */
  const char *a = strstr(straight[0], ",\"loss\":"), *b = strstr(straight[1], ",\"loss\":");
  cr_assert(a && b);
  cr_assert(strncmp(a, b, (size_t)(strstr(b, "\"seconds\"") - b)) != 0,
            "the two variants gave the same bits: the test proves nothing\n%s", a);
  /* forced onto another profile, the resume says its bits will differ */
  expect(0, "CLT_PROFILE=gpu", args, "not bit for bit");
  /* a variant this version cannot run (a value out of range, the CRC-32
     made right): the device's own runs, with a note */
  char ck_path[4200];
  snprintf(ck_path, sizeof ck_path, "%s/v.ckpt", dir);
  f = fopen(ck_path, "r+b");
  static unsigned char bytes[1 << 16];
  size_t len = fread(bytes, 1, sizeof bytes, f);
  unsigned char *at = memmem(bytes, len, "step_gpu=1", 10);
  cr_assert_not_null(at);
  at[9] = '7';
  uint32_t crc = (uint32_t)crc32(0L, bytes, (uInt)(len - 4));
  for (int i = 0; i < 4; i++) bytes[len - 4 + (size_t)i] = (unsigned char)(crc >> (8 * i));
  rewind(f);
  cr_assert_eq(fwrite(bytes, 1, len, f), len);
  fclose(f);
  expect(0, env, args, "step_gpu=7 is outside [0, 1]; the device's own variant runs");
}
