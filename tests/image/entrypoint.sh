#!/bin/sh
# The test image's entrypoint, shaped like those of official images:
#   serve            a long-running service that is healthy once started and
#                    exits 0 on TERM, QUIT or INT (nginx, postgres and redis
#                    exit 0 on `docker stop` too);
#   exit-with CODE   a job that exits at once with CODE;
#   anything else    is run in place of the service (exec).
# Tests make a running service unhealthy with `rm /tmp/healthy`.
set -e
case "$1" in
  serve)
    trap 'echo "stopping on signal"; exit 0' TERM QUIT INT
    touch /tmp/healthy
    echo "serving on port ${APP_PORT}"
    # `wait` returns at once when a trapped signal arrives; `sleep` alone would not.
    while :; do
      sleep 3600 &
      wait $!
    done
    ;;
  exit-with)
    echo "job done, exit ${2:-0}"
    exit "${2:-0}"
    ;;
  *)
    touch /tmp/healthy
    exec "$@"
    ;;
esac
