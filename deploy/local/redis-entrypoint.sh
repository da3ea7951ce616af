#!/bin/sh
# The official image builds Redis with protected mode off, so that other containers may connect without a password;
# Debian's redis-server has it on, and would refuse them: turn it off here, after the service's own arguments.
set -eu
if [ "${1:-}" = redis-server ]; then set -- "$@" --protected-mode no; fi
exec "$@"
