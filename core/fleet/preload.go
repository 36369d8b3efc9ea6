package fleet

import (
	"context"
	"encoding/hex"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// preload creates, idle, the entries the fleet holds for the table, then
// syncs once, so that an instance that starts (or restarts) enforces with
// the fleet's values from its first request rather than from the first
// sync after a key's first request. It reads at most the table's size of
// keys, within ctx.
func (s *Syncer) preload(ctx context.Context) error {
	limit := s.t.Def().Size
	var mu sync.Mutex // a cluster's masters are scanned at once
	keys := map[string]bool{}
	scan := func(ctx context.Context, c *redis.Client) error {
		it := c.Scan(ctx, 0, s.tprefix+"*", 1000).Iterator()
		for it.Next(ctx) {
			rest := strings.TrimPrefix(it.Val(), s.tprefix)
			k, _, ok := strings.Cut(rest, ":")
			if !ok {
				continue
			}
			mu.Lock()
			keys[k] = true
			enough := len(keys) >= limit
			mu.Unlock()
			if enough {
				break
			}
		}
		return it.Err()
	}
	var err error
	switch c := s.rdb.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, scan)
	case *redis.Client:
		err = scan(ctx, c)
	}
	if err != nil {
		return err
	}
	now := time.Now()
	for k := range keys {
		raw, err := hex.DecodeString(k)
		if err != nil {
			continue // not a key of ours
		}
		if e, err := s.t.Acquire(s.t.KeyFromRaw(raw), now); err == nil {
			s.t.Release(e, now)
		}
	}
	return s.SyncOnce(ctx, now)
}
