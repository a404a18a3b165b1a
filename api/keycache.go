package api

import (
	"context"
	"sync"
	"time"

	"rapport/engine"
)

// keyCache remembers the keys that authenticated for a short while, so a
// request does not read its key from the store every time (a round trip
// or two on Redis). A key revoked through this server is forgotten at
// once; one revoked elsewhere (another replica, the CLI on a shared
// store) stops working here within the cache's lifetime.
type keyCache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[engine.KeyHash]cachedKey
}

type cachedKey struct {
	k  engine.APIKey
	at time.Time
}

// maxCachedKeys bounds the cache; a server sees few keys.
const maxCachedKeys = 10_000

func (kc *keyCache) get(ctx context.Context, store KeyStore, h engine.KeyHash) (engine.APIKey, error) {
	if kc.ttl <= 0 {
		return store.KeyByHash(ctx, h)
	}
	now := time.Now()
	kc.mu.Lock()
	c, ok := kc.m[h]
	kc.mu.Unlock()
	if ok && now.Sub(c.at) < kc.ttl {
		return c.k, nil
	}
	k, err := store.KeyByHash(ctx, h)
	if err != nil {
		return k, err // unknown keys are not cached: they are looked up every time
	}
	kc.mu.Lock()
	if kc.m == nil || len(kc.m) >= maxCachedKeys {
		kc.m = map[engine.KeyHash]cachedKey{}
	}
	kc.m[h] = cachedKey{k, now}
	kc.mu.Unlock()
	return k, nil
}

// forget drops a key (by id) from the cache.
func (kc *keyCache) forget(id string) {
	kc.mu.Lock()
	defer kc.mu.Unlock()
	for h, c := range kc.m {
		if c.k.ID == id {
			delete(kc.m, h)
		}
	}
}
