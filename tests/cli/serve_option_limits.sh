#!/bin/sh
# Every bounded option of `trellis serve`: at each end of its range it is accepted (the server
# serves until EOF on stdin and exits 0), one past either end it is refused with a message that
# names the range.
#   serve_option_limits.sh PATH_TO_TRELLIS
set -eu
trellis=$1

accepted() {
  "$trellis" serve --stdio --log-level off "$@" </dev/null >/dev/null || { echo "refused: $*"; exit 1; }
}
refused() {
  if out=$("$trellis" serve --stdio --log-level off "$@" </dev/null 2>&1 >/dev/null); then
    echo "accepted: $*"
    exit 1
  fi
  case $out in
    *"not in range"*) ;;
    *) echo "refused without naming the range: $*: $out"; exit 1 ;;
  esac
}

accepted --worker-spin-us 0 --stdin-spin-us 0 --stdout-hold-us 0 --io-threads 1 --keep-freed-memory 0
accepted --worker-spin-us 10000 --stdin-spin-us 10000 --stdout-hold-us 1000000 --io-threads 256 --keep-freed-memory 1024
refused --worker-spin-us 10001
refused --worker-spin-us -1
refused --stdin-spin-us 10001
refused --stdin-spin-us -1
refused --stdout-hold-us 1000001
refused --stdout-hold-us -1
refused --io-threads 257
refused --io-threads 0
refused --keep-freed-memory 1025
refused --keep-freed-memory -1
echo "every limit holds"
