package authbridge

import (
	"container/list"
	"sync"
	"time"
)

// credential is the SHA-256 of a subscriber's Cookie and Authorization
// headers. Keeping only the hash means the cache never holds a credential.
type credential [32]byte

// callbackGrant is one app answer: what the credential may receive, and
// until when.
type callbackGrant struct {
	grants  grants
	expires time.Time
	sub     string // who the app says the credential is; may be empty
}

// grantCache remembers callback answers per credential for their ttl. It is
// bounded: when full, the oldest insertion goes first. Expired entries are
// dropped when looked up or when they reach the front, which keeps every
// operation O(1); an expired entry that lingers still counts against the
// bound, so memory never grows past it.
type grantCache struct {
	max int

	mu      sync.Mutex // guards entries and order
	entries map[credential]*list.Element
	order   *list.List // of *cacheItem, oldest insertion at the front
}

type cacheItem struct {
	key credential
	val callbackGrant
}

func newGrantCache(max int) *grantCache {
	return &grantCache{
		max:     max,
		entries: make(map[credential]*list.Element),
		order:   list.New(),
	}
}

// get returns the answer for key if it is still valid at now.
func (c *grantCache) get(key credential, now time.Time) (callbackGrant, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[key]
	if !ok {
		return callbackGrant{}, false
	}
	it := el.Value.(*cacheItem)
	if !now.Before(it.val.expires) {
		c.remove(el)
		return callbackGrant{}, false
	}
	return it.val, true
}

// put stores val for key, evicting expired entries at the front and then,
// if still full, the oldest one.
func (c *grantCache) put(key credential, val callbackGrant, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[key]; ok {
		c.remove(el)
	}
	for front := c.order.Front(); front != nil; front = c.order.Front() {
		if len(c.entries) < c.max && now.Before(front.Value.(*cacheItem).val.expires) {
			break
		}
		c.remove(front)
	}
	c.entries[key] = c.order.PushBack(&cacheItem{key: key, val: val})
}

// len reports how many entries are held, expired or not.
func (c *grantCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// remove drops el; the caller holds mu.
func (c *grantCache) remove(el *list.Element) {
	delete(c.entries, el.Value.(*cacheItem).key)
	c.order.Remove(el)
}
