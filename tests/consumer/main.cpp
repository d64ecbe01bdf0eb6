// Built against an installed Trellis by tests/consumer/run.sh: proves the exported package works.
#include <trellis/fsm_catalog.hpp>
#include <trellis/version.hpp>

#include <cstdio>

int main() {
  std::printf("trellis %s, %zu machines\n", trellis::kVersion, trellis::fsm::catalog().size());
  return trellis::fsm::catalog().size() == 7 ? 0 : 1;
}
