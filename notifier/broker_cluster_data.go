package notifier

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/gomodule/redigo/redis"

	"github.com/pushpoll/pushpoll/internal/redisx"
)

// The cluster broker's data path: publishing to, and reading the version
// table from, the master of each topic's slot, a pipeline per master.

// eval runs the publish script for key. Under ASKING it sends the script
// itself: ASKING covers one command, and EVALSHA may need a second.
func (b *ClusterBroker) eval(ctx context.Context, c redis.Conn, asking bool, key string, args ...any) (any, error) {
	if asking {
		return redis.DoContext(c, ctx, "EVAL", append([]any{PublishScript, 1, key}, args...)...)
	}
	return b.script.DoContext(ctx, c, append([]any{key}, args...)...)
}

// Publish raises topic to v and SPUBLISHes it on the topic's shard.
func (b *ClusterBroker) Publish(ctx context.Context, topic string, v, ts int64) (bool, error) {
	key, payload := b.opt.Prefix+topic, encodeBump(v, ts)
	raised := false
	err := b.cl.OnKey(ctx, key, func(c redis.Conn, asking bool) error {
		if v == 0 {
			_, err := redis.DoContext(c, ctx, "SPUBLISH", key, payload)
			raised = err == nil
			return err
		}
		n, err := redis.Int(b.eval(ctx, c, asking, key, append([]any{v, payload}, ttlArgs("SPUBLISH", b.opt.VersionTTL)...)...))
		raised = n == 1
		return err
	})
	return raised, err
}

// PublishBatch publishes bumps shard by shard, in parallel: one pipeline
// per master. An item a redirect or error kept from its shard's pipeline
// is published on its own.
func (b *ClusterBroker) PublishBatch(ctx context.Context, bumps []Bump) (int, error) {
	byNode := map[string][]Bump{}
	for _, bp := range bumps {
		addr := b.cl.Owner(b.opt.Prefix + bp.Topic)
		byNode[addr] = append(byNode[addr], bp)
	}
	var raised atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, len(byNode))
	for addr, items := range byNode {
		wg.Add(1)
		go func() {
			defer wg.Done()
			left := items
			if addr != "" {
				left = b.pipelinePublish(ctx, addr, items, &raised)
			}
			for _, bp := range left {
				ok, err := b.Publish(ctx, bp.Topic, bp.V, bp.TS)
				if err != nil {
					errs <- err
					return
				}
				if ok {
					raised.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return int(raised.Load()), <-errs
}

// pipelinePublish sends items to one master in one round trip and returns
// the items it did not publish.
func (b *ClusterBroker) pipelinePublish(ctx context.Context, addr string, items []Bump, raised *atomic.Int64) []Bump {
	var left []Bump
	err := b.cl.OnNode(ctx, addr, func(c redis.Conn) error {
		left = nil
		// The script is loaded first in the same pipeline, so every
		// EVALSHA after it finds it even on a master just promoted.
		if err := c.Send("SCRIPT", "LOAD", PublishScript); err != nil {
			return err
		}
		for _, bp := range items {
			key, payload := b.opt.Prefix+bp.Topic, encodeBump(bp.V, bp.TS)
			var err error
			if bp.V == 0 {
				err = c.Send("SPUBLISH", key, payload)
			} else {
				err = b.script.SendHash(c, append([]any{key, bp.V, payload}, ttlArgs("SPUBLISH", b.opt.VersionTTL)...)...)
			}
			if err != nil {
				return err
			}
		}
		if err := c.Flush(); err != nil {
			return err
		}
		if _, err := c.Receive(); err != nil {
			return err
		}
		for _, bp := range items {
			n, err := redis.Int(c.Receive())
			switch {
			case err != nil && !redisx.IsReplyError(err):
				return err // the connection is gone: retry the lot
			case err != nil:
				left = append(left, bp)
			case bp.V == 0 || n == 1:
				raised.Add(1)
			}
		}
		return nil
	})
	if err != nil {
		return items
	}
	return left
}

// Versions reads the version table with one MGET per slot (a cluster
// refuses keys of several slots in one command), pipelined per master.
func (b *ClusterBroker) Versions(ctx context.Context, topics []string) (map[string]int64, error) {
	bySlot := map[int][]string{}
	for _, t := range topics {
		slot := redisx.Slot(b.opt.Prefix + t)
		bySlot[slot] = append(bySlot[slot], t)
	}
	byNode := map[string][][]string{}
	for _, group := range bySlot {
		for start := 0; start < len(group); start += mgetBatch {
			batch := group[start:min(start+mgetBatch, len(group))]
			addr := b.cl.Owner(b.opt.Prefix + batch[0])
			byNode[addr] = append(byNode[addr], batch)
		}
	}
	out := make(map[string]int64, len(topics))
	for addr, batches := range byNode {
		left := batches // what the pipeline leaves to doKey, which follows redirects
		if addr != "" {
			err := b.cl.OnNode(ctx, addr, func(c redis.Conn) error {
				left = nil
				for _, batch := range batches {
					if err := c.Send("MGET", b.keys(batch)...); err != nil {
						return err
					}
				}
				if err := c.Flush(); err != nil {
					return err
				}
				for _, batch := range batches {
					vals, err := redis.Strings(c.Receive())
					switch {
					case err != nil && !redisx.IsReplyError(err):
						return err
					case err != nil:
						left = append(left, batch)
					default:
						readVersions(out, batch, vals)
					}
				}
				return nil
			})
			if err != nil {
				left = batches
			}
		}
		for _, batch := range left {
			err := b.cl.OnKey(ctx, b.opt.Prefix+batch[0], func(c redis.Conn, _ bool) error {
				vals, err := redis.Strings(redis.DoContext(c, ctx, "MGET", b.keys(batch)...))
				readVersions(out, batch, vals)
				return err
			})
			if err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

func (b *ClusterBroker) keys(topics []string) []any {
	keys := make([]any, len(topics))
	for i, t := range topics {
		keys[i] = b.opt.Prefix + t
	}
	return keys
}

// readVersions keeps the entries of an MGET reply that are versions.
func readVersions(out map[string]int64, topics, vals []string) {
	for i, s := range vals {
		// A key that is missing or not a version (someone else's data)
		// tells us nothing.
		if v, err := strconv.ParseInt(s, 10, 64); err == nil && v > 0 && i < len(topics) {
			out[topics[i]] = v
		}
	}
}
