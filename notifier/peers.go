package notifier

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/pushpoll/pushpoll/internal/socketio"
)

// Nodes on one Redis advertise where their peers reach them, so a polling
// request that a load balancer sends to the wrong node is forwarded to the
// node that owns its session (internal/socketio, forward.go). Each node keeps
// the key pushpoll#node:<id> = its base URL, with a TTL it refreshes well
// within; a node that dies without a word drops out when its key expires,
// one that stops cleanly deletes it. The key lies outside the topic
// namespace whatever the channel prefix: '#' is in no topic and no valid
// prefix (keys.go, ValidPrefix), so no topic's version key can be it.
const peerKeyPrefix = nodeKeyPrefix + "node:"

const (
	// peerTTL bounds how long a dead node's address is still dialled: a
	// forward to it fails fast (connection refused), so this only decides
	// whether its clients see 502 or 400 before they reconnect.
	peerTTL = 15 * time.Second
	// peerRefresh lets two refreshes fail (a Redis blip) before the key
	// lapses.
	peerRefresh = peerTTL / 3
	// peerCacheFor saves a Redis round trip on most forwarded polls (a
	// client polls at least every ping interval); a node that left is
	// noticed by the failed dial meanwhile.
	peerCacheFor = 2 * time.Second
	// peerMissFor: an id no node advertises is not asked about again for
	// this long, so forged polls naming it cost one Redis GET, not one
	// each. A new node advertises before it serves, so no real id is
	// missed in the meantime; one whose key lapsed in a Redis outage
	// re-advertises within peerRefresh, and its clients reconnect at worst.
	peerMissFor = 5 * time.Second
	// maxPeerMisses bounds the remembered misses: forged ids are free to
	// invent, and past this many the oldest are forgotten wholesale.
	maxPeerMisses = 10000
	// peerLookupTimeout: a poll waits at most this long for Redis before
	// its client is told to reconnect.
	peerLookupTimeout = time.Second
)

// peerStore keeps the advertisements: brokerPeers, in the broker's store.
type peerStore interface {
	advertise(ctx context.Context, node, url string, ttl time.Duration) error
	withdraw(ctx context.Context, node string) error
	// lookup returns the URL node advertises, or an error wrapping
	// socketio.ErrUnknownPeer.
	lookup(ctx context.Context, node string) (string, error)
}

// peers advertises this node and finds the others.
type peers struct {
	store peerStore
	self  string
	log   *slog.Logger

	mu    sync.Mutex
	cache map[string]cachedPeer // found peers only, so its size is the number of nodes seen
	// misses are ids no node advertised when last asked, until when they
	// are not asked about again (peerMissFor); at most maxPeerMisses.
	misses map[string]time.Time
	// flight makes concurrent polls naming one id share one lookup.
	flight singleflight.Group
}

type cachedPeer struct {
	url     string
	expires time.Time
}

func newPeers(store peerStore, self string, log *slog.Logger) *peers {
	return &peers{store: store, self: self, log: log, cache: map[string]cachedPeer{}, misses: map[string]time.Time{}}
}

// lookup is the wire's Config.Peer.
func (p *peers) lookup(ctx context.Context, node string) (string, error) {
	if !socketio.ValidNodeID(node) {
		return "", fmt.Errorf("malformed node id: %w", socketio.ErrUnknownPeer)
	}
	now := time.Now()
	p.mu.Lock()
	c, ok := p.cache[node]
	missed, isMiss := p.misses[node]
	p.mu.Unlock()
	if ok && now.Before(c.expires) {
		return c.url, nil
	}
	if isMiss && now.Before(missed) {
		return "", fmt.Errorf("node %s advertised nothing when last asked: %w", node, socketio.ErrUnknownPeer)
	}
	v, err, _ := p.flight.Do(node, func() (any, error) { return p.ask(ctx, node, now) })
	if err != nil {
		return "", err
	}
	return v.(string), nil
}

// ask looks node up in the store and caches the answer, found or not.
func (p *peers) ask(ctx context.Context, node string, now time.Time) (string, error) {
	// The flight serves every poll that waits on it; one of them leaving
	// must not fail the others, and the timeout still bounds it.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), peerLookupTimeout)
	defer cancel()
	u, err := p.store.lookup(ctx, node)
	if err == nil && validAdvertiseURL(u) != nil {
		// Only what a node wrote is dialled; garbage under the key is no
		// address at all.
		err = fmt.Errorf("node %s advertises a malformed URL: %w", node, socketio.ErrUnknownPeer)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		delete(p.cache, node)
		if errors.Is(err, socketio.ErrUnknownPeer) {
			p.rememberMiss(node, now)
		}
		return "", err
	}
	delete(p.misses, node)
	p.cache[node] = cachedPeer{url: u, expires: now.Add(peerCacheFor)}
	return u, nil
}

// rememberMiss records that no node advertises node. p.mu must be held.
func (p *peers) rememberMiss(node string, now time.Time) {
	if len(p.misses) >= maxPeerMisses {
		for id, until := range p.misses {
			if !now.Before(until) {
				delete(p.misses, id)
			}
		}
		if len(p.misses) >= maxPeerMisses {
			clear(p.misses)
		}
	}
	p.misses[node] = now.Add(peerMissFor)
}

// run advertises url until ctx ends, then withdraws it. ready is closed
// after the first attempt, so a node that waits for it before serving has
// its first sessions findable by its peers at once.
func (p *peers) run(ctx context.Context, url string, ready chan<- struct{}) {
	advertise := func() {
		actx, cancel := context.WithTimeout(ctx, peerLookupTimeout)
		defer cancel()
		if err := p.store.advertise(actx, p.self, url, peerTTL); err != nil && ctx.Err() == nil {
			p.log.Warn("advertise failed; polling requests for this node's sessions cannot be forwarded until it works", "err", err)
		}
	}
	advertise()
	close(ready)
	t := time.NewTicker(peerRefresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			wctx, cancel := context.WithTimeout(context.Background(), peerLookupTimeout)
			defer cancel()
			if err := p.store.withdraw(wctx, p.self); err != nil {
				p.log.Warn("withdraw failed; the advertisement expires on its own", "err", err, "ttl", peerTTL.String())
			}
			return
		case <-t.C:
			advertise()
		}
	}
}

// validAdvertiseURL accepts what a peer can be reached at: an http(s) base
// URL with a host and nothing else.
func validAdvertiseURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return errors.New("--advertise-url must be a base URL like http://10.0.0.7:8080, where the other nodes reach this one")
	}
	return nil
}

// defaultAdvertiseURL is where peers reach a node listening on addr: its
// host when the listen address names one, otherwise the first address of an
// interface that is up, which is the pod's or container's own.
func defaultAdvertiseURL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = interfaceIP()
	}
	return "http://" + net.JoinHostPort(host, port)
}

// interfaceIP is this host's first global unicast address, IPv4 first.
func interfaceIP() string {
	addrs, _ := net.InterfaceAddrs()
	var v6 string
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok || !n.IP.IsGlobalUnicast() {
			continue
		}
		if n.IP.To4() != nil {
			return n.IP.String()
		}
		if v6 == "" {
			v6 = n.IP.String()
		}
	}
	if v6 != "" {
		return v6
	}
	return "127.0.0.1"
}
