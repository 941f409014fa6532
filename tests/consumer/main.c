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
  /* The public trainer: two rows, two classes, one epoch. */
  float x[4] = {1, 0, 0, 1}, W[4];
  int32_t y[2] = {0, 1};
  clt_train_data data = {.n = 2, .d = 2, .classes = 2, .x = x, .y = y};
  clt_train_options to = {.loss = clt_loss_defaults(CLT_LOSS_CROSS_ENTROPY),
                          .optim = clt_optim_defaults(CLT_OPTIM_SGD), .batch = 2, .epochs = 1};
  to.optim.lr = 0.1f;
  to.schedule = (clt_schedule){.kind = CLT_SCHEDULE_CONSTANT, .base_lr = 0.1};
  clt_trainer *tr = NULL;
  clt_epoch_stats es;
  if (ok) st = clt_trainer_create(ctx, &to, &data, NULL, &tr);
  if (ok && st == CLT_OK) st = clt_trainer_epoch(tr, NULL, NULL, &es);
  if (ok && st == CLT_OK) st = clt_trainer_params(tr, W, NULL);
  ok = ok && st == CLT_OK && W[0] > W[1]; /* row 0 is class 0 */
  clt_trainer_destroy(tr);
  printf("cltrain %s on %s: %s\n", clt_version(), clt_context_device_name(ctx),
         ok ? "ok" : clt_status_str(st));
  clt_tensor_destroy(t);
  clt_context_destroy(ctx);
  return ok ? 0 : 1;
}
