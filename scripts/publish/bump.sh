#!/usr/bin/env bash
# bump.sh: raise a topic's version and hint pushpoll notifiers, from a shell.
#
#   scripts/publish/bump.sh <topic> <version> [redis-url]
#
# redis-url defaults to $PUSHPOLL_REDIS_URL, then redis://127.0.0.1:6379; the
# key and channel prefix is $PUSHPOLL_CHANNEL_PREFIX (default pushpoll:).
# Prints true when the version was raised and announced, false when the stored
# version was already as new. Exit status 2 means bad arguments, 1 any other
# failure.
#
# It runs notifier/publish.lua, the script the Ruby, Node and Python helpers
# embed, so the version table only ever rises and a late or repeated bump
# announces nothing. To hint browsers by hand without touching the version
# table, a plain PUBLISH is enough:
#
#   redis-cli PUBLISH pushpoll:project:42 '{"v":1058}'
set -euo pipefail

# Character ranges such as A-Z follow the locale in bash; C keeps them ASCII,
# as the notifier's topic rule is.
export LC_ALL=C

usage() {
	echo "usage: $0 <topic> <version> [redis-url]" >&2
	exit 2
}
[[ $# -ge 2 && $# -le 3 ]] || usage

topic=$1
version=$2
url=${3:-${PUSHPOLL_REDIS_URL:-redis://127.0.0.1:6379}}
prefix=${PUSHPOLL_CHANNEL_PREFIX:-pushpoll:}

topic_re='^[A-Za-z0-9_.:/@-]{1,200}$'
if ! [[ $topic =~ $topic_re ]]; then
	echo "bump.sh: topic must be 1-200 characters of A-Z a-z 0-9 _ . : / @ - (got '$topic')" >&2
	exit 2
fi
if [[ $topic == mode ]]; then
	echo "bump.sh: the topic 'mode' is reserved" >&2
	exit 2
fi
# Versions are int64: at most 19 digits, and at 19 digits a plain string
# comparison against the maximum is exact.
version_re='^[1-9][0-9]{0,18}$'
if ! [[ $version =~ $version_re ]] || [[ ${#version} -eq 19 && $version > 9223372036854775807 ]]; then
	echo "bump.sh: version must be a positive int64 (got '$version')" >&2
	exit 2
fi

# The script is found next to this file in the repository, wherever it is
# called from.
lua="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../../notifier/publish.lua"
if [[ ! -r $lua ]]; then
	echo "bump.sh: cannot read $lua" >&2
	exit 1
fi

# ts is only for measuring hint latency. BSD date has no %N and prints it
# literally, so fall back to whole seconds there.
ts=$(date +%s%3N)
[[ $ts =~ ^[0-9]+$ ]] || ts="$(date +%s)000"

# redis-cli exits 0 on an error reply and prints it, so the reply itself is
# checked rather than the exit status alone.
reply=$(redis-cli -u "$url" --no-auth-warning --eval "$lua" "$prefix$topic" , "$version" "{\"v\":$version,\"ts\":$ts}")
case $reply in
1) echo true ;;
0) echo false ;;
*)
	echo "bump.sh: unexpected reply from Redis: $reply" >&2
	exit 1
	;;
esac
