package notifier

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// socketBytes is what one idle socket costs: 15.3 KB of RSS measured with
// 10,000 and 19,000 sockets (BENCHMARKS, idle memory per socket), rounded up.
const socketBytes = 16 << 10

// reservedFiles are the descriptors a node needs besides sockets and HTTP
// connections: the Redis pool (32 connections) and its subscriber, the
// listener, peers' forwarded polls, the callback client's keep-alives and
// the runtime's own (epoll, pipes, stdio), with room to spare.
const reservedFiles = 128

// hostLimits are what the host lets the process hold; zero means unknown or
// unlimited.
type hostLimits struct {
	files  int   // RLIMIT_NOFILE, soft
	memory int64 // cgroup memory limit in bytes
}

func currentLimits() hostLimits {
	return hostLimits{files: openFileLimit(), memory: cgroupMemoryLimit()}
}

// caps are the effective connection bounds of a node; 0 means none.
type caps struct {
	sockets, perClient, httpConns int
}

// minHTTPConns is the least room for requests a node gets when an explicit
// --max-sockets leaves the HTTP cap to its default: enough for probes,
// scrapes, publishes and a few hundred long-polls at a time.
const minHTTPConns = 64

// caps turns --max-sockets, --max-sockets-per-client and --max-http-conns
// into bounds that fit the host. A 0 flag takes its default from the limits:
// HTTP connections get half the open files (less when an explicit
// --max-sockets needs more); sockets get what is left after them and the
// reserve, and no more than half the memory limit at socketBytes each (the
// other half is the heap of fan-outs, subscribes and the garbage
// collector's headroom); one client address gets a tenth of the sockets, at
// least 100, so a NAT of a hundred users is never refused. -1 turns a bound
// off. Explicit bounds that cannot fit are an error naming the flags, not a
// node that falls over at the first flood.
func (c *Config) caps(l hostLimits) (caps, error) {
	var k caps
	switch {
	case c.MaxHTTPConns > 0:
		k.httpConns = c.MaxHTTPConns
	case c.MaxHTTPConns == 0 && c.MaxSockets > 0 && l.files > 0:
		k.httpConns = min(l.files/2, l.files-c.MaxSockets-reservedFiles)
		if k.httpConns < minHTTPConns {
			return k, fmt.Errorf("--max-sockets %d leaves %d of the open-file limit (ulimit -n) of %d for HTTP connections with %d reserved for Redis and the node itself, below the %d a node needs: raise the limit or lower --max-sockets", c.MaxSockets, max(k.httpConns, 0), l.files, reservedFiles, minHTTPConns)
		}
	case c.MaxHTTPConns == 0:
		k.httpConns = l.files / 2
	}
	switch {
	case c.MaxSockets > 0:
		k.sockets = c.MaxSockets
		if need := k.sockets + k.httpConns + reservedFiles; l.files > 0 && need > l.files {
			return k, fmt.Errorf("--max-sockets %d and --max-http-conns %d need %d open files with the %d the node keeps for Redis and itself, but the limit (ulimit -n) is %d: raise the limit or lower the caps", k.sockets, k.httpConns, need, reservedFiles, l.files)
		}
		if need := int64(k.sockets) * socketBytes; l.memory > 0 && need > l.memory/2 {
			return k, fmt.Errorf("--max-sockets %d needs about %d MiB at %d KiB per socket, more than half the memory limit of %d MiB: raise the limit or lower --max-sockets", k.sockets, need>>20, socketBytes>>10, l.memory>>20)
		}
	case c.MaxSockets == 0:
		if l.files > 0 {
			k.sockets = l.files - k.httpConns - reservedFiles
			if k.sockets < 1 {
				return k, fmt.Errorf("the open-file limit (ulimit -n) of %d leaves no room for sockets beside %d HTTP connections and %d reserved: raise it, or lower --max-http-conns", l.files, k.httpConns, reservedFiles)
			}
		}
		if l.memory > 0 {
			fromMemory := int(l.memory / 2 / socketBytes)
			if k.sockets == 0 || fromMemory < k.sockets {
				k.sockets = max(fromMemory, 1)
			}
		}
	}
	switch {
	case c.MaxSocketsPerClient > 0:
		k.perClient = c.MaxSocketsPerClient
	case c.MaxSocketsPerClient == 0 && k.sockets > 0:
		k.perClient = max(k.sockets/10, 100)
	}
	return k, nil
}

// cgroupMemoryLimit is the memory limit of the process's cgroup (v2
// memory.max, or v1 memory.limit_in_bytes), 0 when there is none or it
// cannot be read: a container's limit is what the kernel kills it at.
func cgroupMemoryLimit() int64 {
	for _, path := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		return parseMemoryLimit(string(b))
	}
	return 0
}

// parseMemoryLimit reads a cgroup memory limit file: a byte count, or
// "max" for none. cgroup v1 says "none" with a huge number, which counts as
// none too.
func parseMemoryLimit(s string) int64 {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 || n >= 1<<60 {
		return 0
	}
	return n
}
