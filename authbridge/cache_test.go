package authbridge

import (
	"testing"
	"time"
)

func TestGrantCache(t *testing.T) {
	key := func(s string) credential { return credentialKey(s, "") }
	val := func(ttl time.Duration) callbackGrant {
		return callbackGrant{grants: compileGrants([]string{"a"}), expires: t0.Add(ttl)}
	}
	type op struct {
		put  bool
		key  string
		ttl  time.Duration // for put
		at   time.Duration // after t0
		hit  bool          // for get
		size int           // entries after the op
	}
	tests := []struct {
		name string
		max  int
		ops  []op
	}{
		{
			name: "miss then hit",
			max:  2,
			ops: []op{
				{key: "a", size: 0},
				{put: true, key: "a", ttl: time.Minute, size: 1},
				{key: "a", at: 59 * time.Second, hit: true, size: 1},
			},
		},
		{
			name: "expired at the expiry instant and dropped",
			max:  2,
			ops: []op{
				{put: true, key: "a", ttl: time.Minute, size: 1},
				{key: "a", at: time.Minute, size: 0},
			},
		},
		{
			name: "full evicts the oldest insertion",
			max:  2,
			ops: []op{
				{put: true, key: "a", ttl: time.Hour, size: 1},
				{put: true, key: "b", ttl: time.Hour, size: 2},
				{put: true, key: "c", ttl: time.Hour, size: 2},
				{key: "a", size: 2},
				{key: "b", hit: true, size: 2},
				{key: "c", hit: true, size: 2},
			},
		},
		{
			name: "put refreshes an existing key without growing",
			max:  2,
			ops: []op{
				{put: true, key: "a", ttl: time.Minute, size: 1},
				{put: true, key: "b", ttl: time.Hour, size: 2},
				{put: true, key: "a", ttl: time.Hour, size: 2},
				{put: true, key: "c", ttl: time.Hour, size: 2},
				{key: "b", size: 2},
				{key: "a", at: 2 * time.Minute, hit: true, size: 2},
			},
		},
		{
			name: "expired entries at the front go before a live one is evicted",
			max:  3,
			ops: []op{
				{put: true, key: "a", ttl: time.Second, size: 1},
				{put: true, key: "b", ttl: time.Second, size: 2},
				{put: true, key: "c", ttl: time.Hour, size: 3},
				{put: true, key: "d", ttl: time.Hour, at: time.Minute, size: 2},
				{key: "c", at: time.Minute, hit: true, size: 2},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newGrantCache(tt.max)
			for i, o := range tt.ops {
				now := t0.Add(o.at)
				if o.put {
					c.put(key(o.key), val(o.at+o.ttl), now)
				} else if _, hit := c.get(key(o.key), now); hit != o.hit {
					t.Errorf("op %d: get %q hit = %v, want %v", i, o.key, hit, o.hit)
				}
				if n := c.len(); n != o.size {
					t.Errorf("op %d: size = %d, want %d", i, n, o.size)
				}
			}
		})
	}
}
