/* stdio_driver — a neutral load driver for MCP servers over stdio (newline-delimited JSON-RPC).
 *
 *   stdio_driver [--warmup N] [--seq N] [--pipe N] [--payload BYTES --repeat R] [--quiet] -- CMD ARGS...
 *
 * Spawns CMD, initializes it, then:
 *   --seq N      N sequential `tools/call echo {"text":"hello"}` round trips: p50, p99, mean (µs);
 *   --pipe N     N echo calls written by a writer thread while this thread reads the answers:
 *                calls per second from the first byte written to the N-th answer read;
 *   --payload B  R sequential `tools/call generate {"bytes":B}`: median seconds and MB/s.
 * Prints one JSON object with the sections asked for. It is written in C without Trellis code so
 * that it measures every server the same way, the C floor included (bench/drivers/stdio_floor.c).
 * It does not parse JSON either: a line with "id" and "result" or "error" (and no "method") is an
 * answer, anything else (notifications, requests from the server) is skipped, and a sequential
 * call accepts only the answer carrying its own id, so that a stray answer can never make a call
 * look instant. Error answers are counted and reported, never hidden. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int to_child = -1, from_child = -1;
static pid_t child = -1;

static void die(const char* what) {
  fprintf(stderr, "stdio_driver: %s\n", what);
  if (child > 0) kill(child, SIGKILL);
  exit(1);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void write_all(const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = write(to_child, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("write to the server failed (did it exit?)");
    }
    data += n;
    size -= (size_t)n;
  }
}

/* Input buffer: grows to hold the longest line; every byte is scanned for '\n' once. */
static char* buf;
static size_t buf_cap, buf_start, buf_end, buf_scanned;

/* Returns the next line (without '\n', NUL-terminated in place) and its length. */
static char* read_line(size_t* length) {
  for (;;) {
    char* nl = memchr(buf + buf_scanned, '\n', buf_end - buf_scanned);
    if (nl) {
      char* line = buf + buf_start;
      *nl = '\0';
      *length = (size_t)(nl - line);
      buf_start = buf_scanned = (size_t)(nl - buf) + 1;
      return line;
    }
    buf_scanned = buf_end;
    if (buf_start > 0) { /* compact before growing */
      memmove(buf, buf + buf_start, buf_end - buf_start);
      buf_end -= buf_start;
      buf_scanned -= buf_start;
      buf_start = 0;
    }
    if (buf_cap - buf_end < (1u << 20)) {
      buf_cap = buf_cap * 2 + (4u << 20);
      buf = realloc(buf, buf_cap);
      if (!buf) die("out of memory");
    }
    const ssize_t n = read(from_child, buf + buf_end, buf_cap - buf_end);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die("read from the server failed");
    if (n == 0) die("the server closed its output early");
    buf_end += (size_t)n;
  }
}

/* Whether `needle` occurs in the line; a long line (a payload) is only searched in its first and
 * last 256 bytes, where a JSON-RPC envelope keeps its keys, so that the check does not cost a
 * second pass over megabytes of text. */
static int has(const char* line, size_t length, const char* needle) {
  if (length <= 1024) return strstr(line, needle) != NULL;
  const size_t n = strlen(needle);
  return memmem(line, 256, needle, n) != NULL || memmem(line + length - 256, 256, needle, n) != NULL;
}

/* Whether the line carries `"id":<id>` as a whole member: in compact JSON an id is followed by
 * ',' or '}' (a longer id that starts with the same digits is not). */
static int has_id(const char* line, size_t length, long id) {
  char before_comma[32], before_brace[32];
  snprintf(before_comma, sizeof before_comma, "\"id\":%ld,", id);
  snprintf(before_brace, sizeof before_brace, "\"id\":%ld}", id);
  return has(line, length, before_comma) || has(line, length, before_brace);
}

/* Reads lines until the answer to request `id` (any answer when id < 0, for pipelined calls that
 * may be answered out of order); returns 1 when it is an error answer. An answer to another id
 * ends the run: a server that answered a notification, say, would otherwise leave an extra
 * answer behind that the next call reads at once, so that every call after it would be timed
 * with two requests in flight. */
static int read_answer(long id) {
  for (;;) {
    size_t length;
    const char* line = read_line(&length);
    if (!has(line, length, "\"id\"") || has(line, length, "\"method\"")) continue; /* notifications and requests */
    if (id >= 0 && !has_id(line, length, id)) die("an answer arrived for a request that was not sent, or out of turn");
    if (has(line, length, "\"result\"")) return 0;
    if (has(line, length, "\"error\"")) return 1;
  }
}

static int format_echo(char* out, size_t size, long id) {
  return snprintf(out, size,
                  "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\","
                  "\"arguments\":{\"text\":\"hello\"}}}\n",
                  id);
}

static long next_id = 1;

static int call_echo(void) {
  char request[256];
  const long id = next_id++;
  const int n = format_echo(request, sizeof request, id);
  write_all(request, (size_t)n);
  return read_answer(id);
}

static int compare_double(const void* a, const void* b) {
  const double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}

struct pipe_job {
  char* data;
  size_t size;
};

static void* pipe_writer(void* arg) {
  struct pipe_job* job = arg;
  for (size_t off = 0; off < job->size; off += 64 * 1024) {
    const size_t chunk = job->size - off < 64 * 1024 ? job->size - off : 64 * 1024;
    write_all(job->data + off, chunk);
  }
  return NULL;
}

static void spawn_server(char** argv, int quiet) {
  int in[2], out[2];
  if (pipe(in) != 0 || pipe(out) != 0) die("pipe failed");
  child = fork();
  if (child < 0) die("fork failed");
  if (child == 0) {
    dup2(in[0], STDIN_FILENO);
    dup2(out[1], STDOUT_FILENO);
    if (quiet) {
      FILE* null = freopen("/dev/null", "w", stderr);
      (void)null;
    }
    close(in[0]), close(in[1]), close(out[0]), close(out[1]);
    execvp(argv[0], argv);
    fprintf(stderr, "stdio_driver: cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  to_child = in[1];
  from_child = out[0];
}

static void stop_server(void) {
  close(to_child);
  for (int i = 0; i < 500; ++i) { /* 5 s to exit after EOF, then SIGKILL */
    if (waitpid(child, NULL, WNOHANG) == child) return;
    usleep(10000);
  }
  kill(child, SIGKILL);
  waitpid(child, NULL, 0);
}

int main(int argc, char** argv) {
  long warmup = 200, seq = 0, pipe_n = 0, payload = 0, repeat = 3;
  int quiet = 0, i = 1;
  for (; i < argc && strcmp(argv[i], "--") != 0; ++i) {
    const char* value = i + 1 < argc ? argv[i + 1] : "";
    if (strcmp(argv[i], "--warmup") == 0) warmup = atol(value), ++i;
    else if (strcmp(argv[i], "--seq") == 0) seq = atol(value), ++i;
    else if (strcmp(argv[i], "--pipe") == 0) pipe_n = atol(value), ++i;
    else if (strcmp(argv[i], "--payload") == 0) payload = atol(value), ++i;
    else if (strcmp(argv[i], "--repeat") == 0) repeat = atol(value), ++i;
    else if (strcmp(argv[i], "--quiet") == 0) quiet = 1;
    else die("usage: stdio_driver [--warmup N] [--seq N] [--pipe N] [--payload BYTES --repeat R] [--quiet] -- CMD ARGS...");
  }
  if (i + 1 >= argc) die("no server command after --");
  if (repeat < 1) repeat = 1;
  signal(SIGPIPE, SIG_IGN);
  spawn_server(argv + i + 1, quiet);

  static const char kInitialize[] =
      "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"2025-11-25\","
      "\"capabilities\":{},\"clientInfo\":{\"name\":\"stdio_driver\",\"version\":\"1\"}}}\n"
      "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n";
  write_all(kInitialize, sizeof kInitialize - 1);
  if (read_answer(0) != 0) die("initialize failed");
  for (long k = 0; k < warmup; ++k)
    if (call_echo() != 0) die("a warm-up call failed");

  printf("{");
  const char* sep = "";
  if (seq > 0) {
    double* samples = malloc(sizeof(double) * (size_t)seq);
    double total = 0;
    long errors = 0;
    for (long k = 0; k < seq; ++k) {
      const double t0 = now_s();
      errors += call_echo();
      samples[k] = (now_s() - t0) * 1e6;
      total += samples[k];
    }
    qsort(samples, (size_t)seq, sizeof(double), compare_double);
    printf("\"seq\":{\"count\":%ld,\"p50_us\":%.1f,\"p99_us\":%.1f,\"mean_us\":%.1f,\"errors\":%ld}", seq,
           samples[seq / 2], samples[(seq * 99) / 100], total / (double)seq, errors);
    sep = ",";
    free(samples);
  }
  if (pipe_n > 0) {
    struct pipe_job job = {malloc((size_t)pipe_n * 160), 0};
    for (long k = 0; k < pipe_n; ++k) job.size += (size_t)format_echo(job.data + job.size, 160, next_id++);
    pthread_t writer;
    const double t0 = now_s();
    pthread_create(&writer, NULL, pipe_writer, &job);
    long errors = 0;
    for (long k = 0; k < pipe_n; ++k) errors += read_answer(-1);
    const double seconds = now_s() - t0;
    pthread_join(writer, NULL);
    free(job.data);
    printf("%s\"pipe\":{\"count\":%ld,\"seconds\":%.4f,\"calls_per_s\":%.1f,\"errors\":%ld}", sep, pipe_n, seconds,
           (double)pipe_n / seconds, errors);
    sep = ",";
  }
  if (payload > 0) {
    double* samples = malloc(sizeof(double) * (size_t)repeat);
    long errors = 0;
    for (long k = 0; k < repeat; ++k) {
      char request[256];
      const long id = next_id++;
      const int n = snprintf(request, sizeof request,
                             "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"tools/call\",\"params\":{\"name\":\"generate\","
                             "\"arguments\":{\"bytes\":%ld}}}\n",
                             id, payload);
      const double t0 = now_s();
      write_all(request, (size_t)n);
      errors += read_answer(id);
      samples[k] = now_s() - t0;
    }
    qsort(samples, (size_t)repeat, sizeof(double), compare_double);
    const double median = samples[repeat / 2];
    printf("%s\"payload\":{\"bytes\":%ld,\"repeat\":%ld,\"median_s\":%.5f,\"mb_per_s\":%.1f,\"errors\":%ld}", sep, payload,
           repeat, median, (double)payload / 1e6 / median, errors);
    free(samples);
  }
  printf("}\n");
  fflush(stdout);
  stop_server();
  return 0;
}
