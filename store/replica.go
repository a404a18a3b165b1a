package store

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// Shared reports whether other processes may use this store at the same
// time (Redis): then serving state is kept fresh through Publish and
// Subscribe, and jobs are coordinated through Leases.
func (db *DB) Shared() bool {
	_, ok := db.kv.(*redisKV)
	return ok
}

// Publish sends msg to every replica subscribed to channel (nothing on
// Badger: there are no other replicas).
func (db *DB) Publish(ctx context.Context, channel string, msg []byte) error {
	r, ok := db.kv.(*redisKV)
	if !ok {
		return nil
	}
	return r.rdb.Publish(ctx, r.prefix+"ch:"+channel, msg).Err()
}

// Subscribe delivers the messages published on channel until ctx ends
// (nil on Badger). Subscribed is closed once the subscription is live, so
// nothing published after it is missed.
func (db *DB) Subscribe(ctx context.Context, channel string) (msgs <-chan []byte, subscribed <-chan struct{}, err error) {
	r, ok := db.kv.(*redisKV)
	if !ok {
		return nil, nil, nil
	}
	sub := r.rdb.Subscribe(ctx, r.prefix+"ch:"+channel)
	if _, err := sub.Receive(ctx); err != nil { // the subscription's confirmation
		sub.Close()
		return nil, nil, fmt.Errorf("subscribe %s: %w", channel, err)
	}
	out, ready := make(chan []byte, 1024), make(chan struct{})
	close(ready)
	go func() {
		defer close(out)
		defer sub.Close()
		in := sub.Channel(redis.WithChannelSize(1024))
		for {
			select {
			case <-ctx.Done():
				return
			case m, ok := <-in:
				if !ok {
					return
				}
				select {
				case out <- []byte(m.Payload):
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, ready, nil
}
