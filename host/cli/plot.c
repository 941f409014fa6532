/* --plot: the metrics CSV drawn by gnuplot, with no shell in between.

   No name the user gave ever reaches gnuplot or a shell. The CSV is copied
   into a private directory from mkdtemp under the fixed name metrics.csv,
   gnuplot runs there (fork + execvp with an argument vector) on a script
   that names only metrics.csv and plot.png, and the PNG is then copied to
   the user's path by this process. So a path holding $(...), backticks,
   quotes, semicolons or newlines is only ever a file name. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"

static const char plot_script[] =
    "set terminal pngcairo size 900,420 noenhanced\n"
    "set output 'plot.png'\n"
    "set datafile separator ','\n"
    "set key autotitle columnhead\n"
    "set multiplot layout 1,2\n"
    "set xlabel 'epoch'\n"
    "set title 'loss'\n"
    "plot 'metrics.csv' using 1:3 with linespoints title 'train', "
    "'' using 1:4 with linespoints title 'test'\n"
    "set title 'test accuracy'\n"
    "plot 'metrics.csv' using 1:5 with linespoints title 'test accuracy'\n"
    "unset multiplot\n";

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

int clt_cli_plot(const char *csv, const char *png) {
  const char *tmp = getenv("TMPDIR");
  char dir[4096];
  int n = snprintf(dir, sizeof dir, "%s/cltrain-plot-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (n < 0 || (size_t)n >= sizeof dir || !mkdtemp(dir)) {
    fprintf(stderr, "cltrain train: --plot %s: no temporary directory: %s\n", png,
            strerror(errno));
    return -1;
  }
  char data[4200], script[4200], image[4200];
  snprintf(data, sizeof data, "%s/metrics.csv", dir);
  snprintf(script, sizeof script, "%s/script.gp", dir);
  snprintf(image, sizeof image, "%s/plot.png", dir);

  int rc = -1;
  const char *which = NULL;
  if (copy_file(csv, data, &which) != 0 || write_text(script, plot_script) != 0) {
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
  unlink(script);
  unlink(data);
  rmdir(dir);
  return rc;
}
