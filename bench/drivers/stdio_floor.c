/* stdio_floor — the physical floor for an MCP server over stdio.
 *
 * Answers every request it reads with one canned JSON-RPC result, without parsing JSON: it
 * finds the line's `"id":` and copies what follows up to the next ',' or '}' into the answer, and
 * a line without one (a notification) gets no answer, as from any MCP server. What is left is the
 * cost of the pipes and the scheduler, which no real server can beat.
 * bench/run.mjs measures it with the same driver as the real servers (stdio_driver). The
 * answers to one read are written with one write, as a fast server would batch them. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

static const char kHead[] = "{\"jsonrpc\":\"2.0\",\"id\":";
static const char kTail[] = ",\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"hello\"}]}}\n";
enum { kMaxId = 64 };

static int write_all(const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = write(STDOUT_FILENO, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    data += n;
    size -= (size_t)n;
  }
  return 0;
}

int main(int argc, char** argv) {
  /* --spin: stdin non-blocking, read in a busy loop (the core never sleeps between requests). */
  const int spin = argc > 1 && strcmp(argv[1], "--spin") == 0;
  if (spin) fcntl(STDIN_FILENO, F_SETFL, fcntl(STDIN_FILENO, F_GETFL) | O_NONBLOCK);
  static char in[1 << 20];
  static char out[64 * 1024];
  const size_t most = sizeof kHead - 1 + kMaxId + sizeof kTail - 1;
  size_t kept = 0; /* the start of a line that the last read cut off */
  for (;;) {
    if (kept == sizeof in) return 1; /* a line longer than the buffer */
    const ssize_t r = read(STDIN_FILENO, in + kept, sizeof in - kept);
    if (r < 0 && (errno == EINTR || (spin && errno == EAGAIN))) continue;
    if (r <= 0) return 0;
    const char* end = in + kept + r;
    size_t used = 0;
    const char* line = in;
    for (const char* nl; (nl = memchr(line, '\n', (size_t)(end - line))) != NULL; line = nl + 1) {
      const char* id = memmem(line, (size_t)(nl - line), "\"id\":", 5);
      if (id == NULL) continue;
      id += 5;
      size_t id_length = 0;
      while (id + id_length < nl && id[id_length] != ',' && id[id_length] != '}' && id_length < kMaxId) ++id_length;
      if (used + most > sizeof out) {
        if (write_all(out, used) != 0) return 1;
        used = 0;
      }
      memcpy(out + used, kHead, sizeof kHead - 1);
      used += sizeof kHead - 1;
      memcpy(out + used, id, id_length);
      used += id_length;
      memcpy(out + used, kTail, sizeof kTail - 1);
      used += sizeof kTail - 1;
    }
    if (used > 0 && write_all(out, used) != 0) return 1;
    kept = (size_t)(end - line);
    memmove(in, line, kept);
  }
}
