/* A program outside the project that uses the installed cltrain. */
#include <cltrain.h>
#include <stdio.h>
#include <string.h>

int main(void) {
  clt_context_options opt = {.device = "ref"};
  clt_context *ctx = NULL;
  clt_tensor *t = NULL;
  float in[6] = {1, 2, 3, 4, 5, 6}, out[6] = {0};
  clt_status st = clt_context_create(&opt, &ctx);
  if (st == CLT_OK) st = clt_tensor_create(ctx, 2, 3, CLT_FLOAT32, &t);
  if (st == CLT_OK) st = clt_tensor_write(t, in, sizeof in);
  if (st == CLT_OK) st = clt_tensor_read(t, out, sizeof out);
  int ok = st == CLT_OK && memcmp(in, out, sizeof in) == 0 &&
           strcmp(clt_version(), CLT_VERSION_STRING) == 0;
  printf("cltrain %s on %s: %s\n", clt_version(), clt_context_device_name(ctx),
         ok ? "ok" : clt_status_str(st));
  clt_tensor_destroy(t);
  clt_context_destroy(ctx);
  return ok ? 0 : 1;
}
