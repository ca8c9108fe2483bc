package session

import (
	"context"
	"fmt"
)

// This file holds how a Manager lets its sessions go — idle, beyond the
// cap, at Close — without a caller waiting for another key's shutdown.

// awaitShutdown waits until key's retired session, if any, has shut down,
// or ctx ends.
func (m *Manager) awaitShutdown(ctx context.Context, key string) error {
	m.closeMu.Lock()
	done := m.closing[key]
	m.closeMu.Unlock()
	if done == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("session: waiting for the key's evicted session to shut down: %w", ctx.Err())
	}
}

// Close stops the janitor, shuts every session down (see
// Session.Shutdown) and waits for the sessions still shutting down in the
// background after an eviction. It returns the first error among these
// shutdowns, an earlier eviction's included.
func (m *Manager) Close() error {
	m.once.Do(func() { m.closed.Store(true); close(m.stop) })
	<-m.done
	var first error
	m.each(func(key string, e *entry, _ int64) {
		if shutdown := m.retire(key, e); shutdown != nil {
			if err := shutdown(); err != nil && first == nil {
				first = err
			}
		}
	})
	for {
		m.closeMu.Lock()
		var done chan struct{}
		for _, done = range m.closing {
			break
		}
		if done == nil {
			if first == nil {
				first = m.closeErr
			}
			m.closeErr = nil
			m.closeMu.Unlock()
			return first
		}
		m.closeMu.Unlock()
		<-done
	}
}

// janitor closes idle sessions every half idle timeout. It shuts them down
// itself, one after the other: no caller waits for it.
func (m *Manager) janitor() {
	defer close(m.done)
	if m.idle <= 0 {
		<-m.stop
		return
	}
	t := m.clock.Ticker(m.idle / 2)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			cutoff := m.clock.Now().Add(-m.idle).UnixNano()
			m.each(func(key string, e *entry, used int64) {
				if created(e) && used < cutoff {
					if shutdown := m.retire(key, e); shutdown != nil {
						m.background(shutdown())
					}
				}
			})
		}
	}
}

// created reports whether e's creation has ended.
func created(e *entry) bool {
	select {
	case <-e.ready:
		return true
	default:
		return false
	}
}

// evictLRU takes the least recently used sessions other than keep (the
// caller's new one) out of the map until the cap holds, and shuts them down
// in the background. It scans every key, so a cap suits a service that
// rarely reaches it.
func (m *Manager) evictLRU(keep *entry) {
	m.evictMu.Lock()
	defer m.evictMu.Unlock()
	for m.n.Load() > int64(m.max) {
		var oldKey string
		var old *entry
		var oldUsed int64
		m.each(func(key string, e *entry, used int64) {
			if e == keep || !created(e) {
				return
			}
			if old == nil || used < oldUsed {
				oldKey, old, oldUsed = key, e, used
			}
		})
		if old == nil {
			return
		}
		if shutdown := m.retire(oldKey, old); shutdown != nil {
			go func() { m.background(shutdown()) }()
		}
	}
}

// background keeps the first error of a shutdown no caller waits for.
func (m *Manager) background(err error) {
	if err == nil {
		return
	}
	m.closeMu.Lock()
	if m.closeErr == nil {
		m.closeErr = err
	}
	m.closeMu.Unlock()
}

// retire takes key's entry out of the map, if it is still e, and returns
// the shutdown of its session for the caller to run, or nil when another
// caller retired it. Until the shutdown has run, Session waits before
// creating key's next session, and Close waits too. The count drops at
// once for a created session, so that eviction stops at the cap.
func (m *Manager) retire(key string, e *entry) func() error {
	if h := m.hash(key); !m.shardOf(h).compareAndDelete(h, e) {
		return nil
	}
	counted := created(e)
	if counted && e.s != nil {
		m.n.Add(-1)
	}
	done := make(chan struct{})
	m.closeMu.Lock()
	prev := m.closing[key]
	m.closing[key] = done
	m.closeMu.Unlock()
	return func() error {
		<-e.ready
		var err error
		if e.s != nil {
			if !counted {
				m.n.Add(-1)
			}
			err = e.s.Close()
		}
		if prev != nil {
			<-prev // an earlier session of key still shutting down
		}
		m.closeMu.Lock()
		if m.closing[key] == done {
			delete(m.closing, key)
		}
		m.closeMu.Unlock()
		close(done)
		return err
	}
}
