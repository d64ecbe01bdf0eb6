/* stdio_floor — the physical floor for an MCP server over stdio.
 *
 * Answers every line it reads with one canned JSON-RPC result, without parsing anything:
 * what is left is the cost of the pipes and the scheduler, which no real server can beat.
 * bench/run.mjs measures it with the same driver as the real servers (stdio_driver). The
 * answers to one read are written with one write, as a fast server would batch them. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

static const char kAnswer[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"hello\"}]}}\n";

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

int main(void) {
  static char in[1 << 20];
  static char out[64 * 1024];
  const size_t answer = sizeof kAnswer - 1;
  for (;;) {
    const ssize_t n = read(STDIN_FILENO, in, sizeof in);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return 0;
    size_t used = 0;
    for (const char* p = in; (p = memchr(p, '\n', (size_t)(in + n - p))) != NULL; ++p) {
      if (used + answer > sizeof out) {
        if (write_all(out, used) != 0) return 1;
        used = 0;
      }
      memcpy(out + used, kAnswer, answer);
      used += answer;
    }
    if (used > 0 && write_all(out, used) != 0) return 1;
  }
}
