package redisx

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gomodule/redigo/redis"
)

// Kind says which of the URL forms a --redis-url is.
type Kind int

const (
	// Single is redis:// or rediss://: one server.
	Single Kind = iota
	// Sentinel is redis-sentinel://: a master found and followed through
	// the listed sentinels.
	Sentinel
	// Cluster is redis-cluster://: a Redis Cluster reached through any of
	// the listed nodes.
	Cluster
)

func (k Kind) String() string {
	switch k {
	case Sentinel:
		return "sentinel"
	case Cluster:
		return "cluster"
	}
	return "single"
}

// URL is a parsed --redis-url.
type URL struct {
	Kind Kind
	// Addrs is host:port of the server, of every sentinel or of every
	// cluster seed node, in the order given.
	Addrs []string
	// Username is the ACL user; empty means the default user.
	Username string
	Password string
	// DB is the database number; always 0 for a cluster, which has only 0.
	DB int
	// TLS is set by the rediss schemes, for every connection the URL leads
	// to (servers, sentinels, cluster nodes).
	TLS bool
	// Master is the master name the sentinels monitor.
	Master string
	// Creds, when set, replace Username and Password on every dial: the
	// password file may be rotated while the node runs.
	Creds *Credentials
	// TLSConfig, when set, replaces the default TLS settings (system roots,
	// server name from the address) on every TLS connection: servers,
	// masters, cluster nodes and sentinels.
	TLSConfig *tls.Config
	// SentinelCreds authenticate to the sentinels, which have their own
	// password, not the data nodes'; nil sends none.
	SentinelCreds *Credentials
}

// SameServers reports whether u and o reach the same servers the same way,
// whatever their credentials: what a running node can switch to without a
// restart.
func (u URL) SameServers(o URL) bool {
	u.Username, u.Password, u.Creds, u.TLSConfig, u.SentinelCreds = "", "", nil, nil, nil
	o.Username, o.Password, o.Creds, o.TLSConfig, o.SentinelCreds = "", "", nil, nil, nil
	return u.String() == o.String() && u.TLS == o.TLS
}

// ErrURL is wrapped by every error Parse returns.
var ErrURL = errors.New("bad --redis-url")

const forms = "redis://[[user]:password@]host:port[/db], rediss://…, " +
	"redis-sentinel://[[user]:password@]host:port[,host:port…]/<master-name>[/<db>] " +
	"or redis-cluster://[[user]:password@]host:port[,host:port…] (rediss-sentinel://, rediss-cluster:// for TLS)"

var schemes = map[string]struct {
	kind Kind
	tls  bool
}{
	"redis":           {Single, false},
	"rediss":          {Single, true},
	"redis-sentinel":  {Sentinel, false},
	"rediss-sentinel": {Sentinel, true},
	"redis-cluster":   {Cluster, false},
	"rediss-cluster":  {Cluster, true},
}

// Parse reads one of the URL forms. Errors name what is wrong but never
// repeat the URL, which may carry a password.
func Parse(raw string) (URL, error) {
	fail := func(format string, args ...any) (URL, error) {
		return URL{}, fmt.Errorf("%w: %s; want %s", ErrURL, fmt.Sprintf(format, args...), forms)
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	form, known := schemes[scheme]
	if !ok || !known {
		return fail("unknown scheme")
	}
	if strings.ContainsAny(rest, "?#") {
		return fail("query strings and fragments are not supported")
	}
	u := URL{Kind: form.kind, TLS: form.tls}
	authority, path, _ := strings.Cut(rest, "/")
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		user, pass, hasPass := strings.Cut(authority[:at], ":")
		var err error
		if u.Username, err = url.PathUnescape(user); err != nil {
			return fail("user name is not URL-encoded properly")
		}
		if hasPass {
			if u.Password, err = url.PathUnescape(pass); err != nil {
				return fail("password is not URL-encoded properly")
			}
		} else {
			// redis://secret@host is how redigo and redis-cli read a lone
			// word: the password of the default user.
			u.Username, u.Password = "", u.Username
		}
		authority = authority[at+1:]
	}
	for _, hp := range strings.Split(authority, ",") {
		host, port, err := net.SplitHostPort(hp)
		if err != nil || host == "" {
			return fail("%q is not host:port", hp)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fail("%q has no valid port", hp)
		}
		u.Addrs = append(u.Addrs, hp)
	}
	if u.Kind == Single && len(u.Addrs) > 1 {
		return fail("several hosts need redis-sentinel:// or redis-cluster://")
	}
	parts := []string{}
	if path != "" {
		parts = strings.Split(path, "/")
	}
	switch u.Kind {
	case Sentinel:
		if len(parts) == 0 || parts[0] == "" {
			return fail("the master name is missing after the sentinels")
		}
		u.Master, parts = parts[0], parts[1:]
	case Cluster:
		if len(parts) > 0 {
			return fail("a cluster has only database 0 and takes no path")
		}
	}
	switch {
	case len(parts) > 1:
		return fail("too many path segments")
	case len(parts) == 1 && parts[0] != "":
		db, err := strconv.Atoi(parts[0])
		if err != nil || db < 0 {
			return fail("database %q is not a number", parts[0])
		}
		u.DB = db
	}
	return u, nil
}

// String is the URL without its credentials, safe for logs.
func (u URL) String() string {
	scheme := "redis"
	if u.TLS {
		scheme = "rediss"
	}
	if u.Kind != Single {
		scheme += "-" + u.Kind.String()
	}
	s := scheme + "://" + strings.Join(u.Addrs, ",")
	if u.Master != "" {
		s += "/" + u.Master
	}
	if u.DB != 0 {
		s += "/" + strconv.Itoa(u.DB)
	}
	return s
}

// tlsOptions are the TLS dial options of every connection the URL leads to.
func (u URL) tlsOptions() []redis.DialOption {
	if !u.TLS {
		return []redis.DialOption{redis.DialUseTLS(false)}
	}
	opts := []redis.DialOption{redis.DialUseTLS(true)}
	if u.TLSConfig != nil {
		// redigo clones it and fills ServerName from the address when empty.
		opts = append(opts, redis.DialTLSConfig(u.TLSConfig), redis.DialTLSSkipVerify(u.TLSConfig.InsecureSkipVerify))
	}
	return opts
}

// DialOptions are the options for a data connection (a server, a master, a
// cluster node): credentials, database and TLS, plus connect and write
// timeouts. The read timeout is the caller's: a subscriber and a pooled
// connection need different ones.
func (u URL) DialOptions(readTimeout time.Duration) []redis.DialOption {
	opts := []redis.DialOption{
		redis.DialConnectTimeout(5 * time.Second),
		redis.DialWriteTimeout(5 * time.Second),
		redis.DialReadTimeout(readTimeout),
	}
	opts = append(opts, u.tlsOptions()...)
	user, password := u.Username, u.Password
	if u.Creds != nil {
		user, password = u.Creds.Get()
	}
	if user != "" {
		opts = append(opts, redis.DialUsername(user))
	}
	if password != "" {
		opts = append(opts, redis.DialPassword(password))
	}
	if u.DB != 0 {
		opts = append(opts, redis.DialDatabase(u.DB))
	}
	return opts
}
