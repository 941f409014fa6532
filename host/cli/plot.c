/* --plot: the metrics CSV drawn by gnuplot, with no shell in between.

   No name the user gave ever reaches gnuplot or a shell. The CSV is copied
   into a private directory from mkdtemp under the fixed name metrics.csv,
   gnuplot runs there (fork + execvp with an argument vector) on a script
   that names only metrics.csv and plot.png, and the PNG is then copied to
   the user's path by this process. So a path holding $(...), backticks,
   quotes, semicolons or newlines is only ever a file name. The title (it
   names the data set) is written to title.txt, which gnuplot reads as
   data: no text the user gave is ever part of the script. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"

static int write_text(const char *path, const char *text);

/* The script for the metrics' columns (host/cli/cmd_train.c): 1 epoch,
   3 train_loss, 4 test_loss, 5 test_accuracy, 8 val_loss, 9 val_accuracy,
   10 train_accuracy, 11 lr; curves of absent sets left out (gnuplot
   refuses a column with no value). Only these fixed fragments go in. */
#define CURVE " with linespoints pointsize 0.5 title "

/* "plot" of the training column and, when present, the validation and
   test ones, appended to s at *at. */
static void plot_sets(char *s, size_t len, size_t *at, int train, int val, int test,
                      const clt_cli_plot_info *info) {
  int n = snprintf(s + *at, len - *at, "plot 'metrics.csv' using 1:%d" CURVE "'train'", train);
  if (n > 0) *at += (size_t)n;
  if (info->val && (n = snprintf(s + *at, len - *at, ", '' using 1:%d" CURVE "'validation'", val)) > 0)
    *at += (size_t)n;
  if (info->test && (n = snprintf(s + *at, len - *at, ", '' using 1:%d" CURVE "'test'", test)) > 0)
    *at += (size_t)n;
  if ((n = snprintf(s + *at, len - *at, "\n")) > 0) *at += (size_t)n;
}

static int write_script(const char *path, const clt_cli_plot_info *info, bool svg) {
  char s[2048];
  size_t at = (size_t)snprintf(s, sizeof s,
      "set datafile separator \"\\t\"\n"
      "stats 'title.txt' using (t = strcol(1), 0) nooutput\n"
      "set datafile separator ','\n"
      "set terminal %s size 1350,460 noenhanced\n"
      "set output 'plot.%s'\n"
      "set key autotitle columnhead\n"
      "set key below horizontal\n"
      "set grid\n"
      "set xlabel 'epoch'\n"
      "set multiplot layout 1,3 title t\n"
      "set title 'loss'\n",
      svg ? "svg" : "pngcairo", svg ? "svg" : "png");
  plot_sets(s, sizeof s, &at, 3, 8, 4, info);
  at += (size_t)snprintf(s + at, sizeof s - at, "set title 'accuracy'\nset yrange [*:1]\n");
  plot_sets(s, sizeof s, &at, 10, 9, 5, info);
  at += (size_t)snprintf(s + at, sizeof s - at,
                         "set yrange [*:*]\n"
                         "set title 'learning rate (last step of each epoch)'\n"
                         "plot 'metrics.csv' using 1:11 with lines title 'lr'\n"
                         "unset multiplot\n");
  if (at >= sizeof s) return errno = EOVERFLOW, -1;
  return write_text(path, s);
}

/* Exit status of the child when execvp finds no gnuplot (the shell's). */
#define NO_GNUPLOT 127

/* Copies the file at from into to (created or truncated). 0, or -1 with
   errno set and *which naming the side that failed. */
static int copy_file(const char *from, const char *to, const char **which) {
  int in = open(from, O_RDONLY | O_CLOEXEC);
  if (in < 0) return *which = from, -1;
  int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (out < 0) {
    int e = errno;
    close(in);
    return errno = e, *which = to, -1;
  }
  char buf[1 << 16];
  int rc = 0;
  for (;;) {
    ssize_t n = read(in, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) { *which = from, rc = -1; break; }
    if (n == 0) break;
    for (ssize_t done = 0; done < n;) {
      ssize_t w = write(out, buf + done, (size_t)(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) { *which = to, rc = -1; goto out; }
      done += w;
    }
  }
out:;
  int e = errno;
  if (close(out) != 0 && rc == 0) e = errno, *which = to, rc = -1;
  close(in);
  errno = e;
  return rc;
}

static int write_text(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return -1;
  size_t len = strlen(text);
  ssize_t w = write(fd, text, len);
  int e = errno;
  if (close(fd) != 0 && w == (ssize_t)len) return -1;
  errno = e;
  return w == (ssize_t)len ? 0 : -1;
}

/* Runs gnuplot on script.gp in dir; its first line of output goes to
   first (empty if none). Returns the child's wait status, or -1. */
static int run_gnuplot(const char *dir, char *first, size_t firstlen) {
  int out[2];
  if (pipe(out) != 0) return -1;
  pid_t pid = fork();
  if (pid < 0) {
    close(out[0]), close(out[1]);
    return -1;
  }
  if (pid == 0) {
    int null = open("/dev/null", O_RDONLY);
    if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(out[1], STDOUT_FILENO) < 0 ||
        dup2(out[1], STDERR_FILENO) < 0 || chdir(dir) != 0)
      _exit(126);
    char *const argv[] = {"gnuplot", "script.gp", NULL};
    execvp(argv[0], argv);
    _exit(errno == ENOENT ? NO_GNUPLOT : 126);
  }
  close(out[1]);
  size_t have = 0;
  char buf[4096];
  for (;;) { /* drain to EOF so gnuplot never blocks on a full pipe */
    ssize_t n = read(out[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    for (ssize_t i = 0; i < n && have + 1 < firstlen; i++) {
      if (have > 0 && first[have - 1] == '\n') break;
      first[have++] = buf[i];
    }
  }
  first[have] = '\0';
  close(out[0]);
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return -1;
  return status;
}

/* The title as one line of printable text (anything else becomes a
   space), for title.txt. */
static void title_line(const char *title, char *out, size_t len) {
  size_t k = 0;
  for (; title[k] && k + 2 < len; k++)
    out[k] = (unsigned char)title[k] < 0x20 || title[k] == 0x7f ? ' ' : title[k];
  out[k++] = '\n';
  out[k] = '\0';
}

int clt_cli_plot(const char *csv, const char *png, const clt_cli_plot_info *info) {
  const char *tmp = getenv("TMPDIR");
  char dir[4096];
  int n = snprintf(dir, sizeof dir, "%s/cltrain-plot-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (n < 0 || (size_t)n >= sizeof dir || !mkdtemp(dir)) {
    fprintf(stderr, "cltrain train: --plot %s: no temporary directory: %s\n", png,
            strerror(errno));
    return -1;
  }
  const bool svg = clt_cli_ends_with(png, ".svg");
  char data[4200], script[4200], image[4200], title_path[4200], title[1024];
  snprintf(data, sizeof data, "%s/metrics.csv", dir);
  snprintf(script, sizeof script, "%s/script.gp", dir);
  snprintf(image, sizeof image, "%s/plot.%s", dir, svg ? "svg" : "png");
  snprintf(title_path, sizeof title_path, "%s/title.txt", dir);
  title_line(info->title, title, sizeof title);

  int rc = -1;
  const char *which = NULL;
  if (copy_file(csv, data, &which) != 0 || write_text(title_path, title) != 0 ||
      write_script(script, info, svg) != 0) {
    fprintf(stderr, "cltrain train: --plot %s: %s: %s\n", png, which ? which : script,
            strerror(errno));
    goto out;
  }
  char first[512];
  int status = run_gnuplot(dir, first, sizeof first);
  if (status == -1) {
    fprintf(stderr, "cltrain train: --plot %s: cannot run gnuplot: %s\n", png,
            strerror(errno));
  } else if (WIFEXITED(status) && WEXITSTATUS(status) == NO_GNUPLOT) {
    fprintf(stderr, "cltrain train: --plot %s was not drawn: gnuplot is not installed "
                    "(Debian: gnuplot-nox)\n", png);
  } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || access(image, F_OK) != 0) {
    fprintf(stderr, "cltrain train: --plot %s was not drawn: gnuplot failed%s%s", png,
            first[0] ? ": " : "\n", first);
    if (first[0] && first[strlen(first) - 1] != '\n') fputc('\n', stderr);
  } else if (copy_file(image, png, &which) != 0) {
    fprintf(stderr, "cltrain train: --plot %s: %s\n", png, strerror(errno));
  } else {
    rc = 0;
  }
out:
  unlink(image);
  unlink(title_path);
  unlink(script);
  unlink(data);
  rmdir(dir);
  return rc;
}
