package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"time"
)

// DefaultPoll is how often FileCoordinator.Wait looks at the family's file
// unless FileCoordinator.Poll says otherwise.
const DefaultPoll = 200 * time.Millisecond

// FileCoordinator is a Coordinator for the processes of one host: the
// family's pair and its coordination state live in the file at Path (mode
// 0600, replaced atomically, readable by a FileStore on the same path), and
// every operation holds an exclusive lock (flock) on Path+".lock" while it
// reads and rewrites that file. Leases are measured on the host's clock.
// Wait polls the file (Poll, with ±20 % jitter).
//
// Use it in place of a Store (WithCoordinator): each process of the family
// gets a FileCoordinator on the same Path. It needs flock (Unix); on other
// platforms every operation fails.
type FileCoordinator struct {
	// Path is the family's file; its directory must exist.
	Path string
	// Poll is Wait's polling interval; 0 means DefaultPoll.
	Poll time.Duration
}

// familyFile is the file format: a stored token plus the coordination
// state. Secrets are in clear; the file is where they belong.
type familyFile struct {
	storedToken
	Generation uint64   `json:"generation,omitempty"`
	Lease      *leaseF  `json:"lease,omitempty"`
	InFlight   *flightF `json:"in_flight,omitempty"`
}

type leaseF struct {
	Holder string    `json:"holder"`
	Until  time.Time `json:"until"`
}

type flightF struct {
	Holder     string    `json:"holder"`
	Generation uint64    `json:"generation"`
	At         time.Time `json:"at"`
}

// Read implements Coordinator.
func (c *FileCoordinator) Read(ctx context.Context) (Family, error) {
	var fam Family
	err := c.update(ctx, func(f *familyFile, now time.Time) bool {
		fam = f.family(now)
		return false
	})
	return fam, err
}

// Acquire implements Coordinator.
func (c *FileCoordinator) Acquire(ctx context.Context, holder string, ttl time.Duration) (Lease, bool, error) {
	var got Lease
	var ok bool
	err := c.update(ctx, func(f *familyFile, now time.Time) bool {
		if l := f.lease(); l.Held(now) && l.Holder != holder {
			got = l
			return false
		}
		f.Lease = &leaseF{Holder: holder, Until: now.Add(ttl)}
		got, ok = f.lease(), true
		return true
	})
	return got, ok, err
}

// MarkInFlight implements Coordinator.
func (c *FileCoordinator) MarkInFlight(ctx context.Context, holder string, gen uint64) error {
	lost := false
	err := c.update(ctx, func(f *familyFile, now time.Time) bool {
		if l := f.lease(); !l.Held(now) || l.Holder != holder {
			lost = true
			return false
		}
		// A mark on the same generation keeps its first instant: the
		// token may have been spent then, and a reuse grace runs from it.
		at := now
		if f.InFlight != nil && f.InFlight.Generation == gen {
			at = f.InFlight.At
		}
		f.InFlight = &flightF{Holder: holder, Generation: gen, At: at}
		return true
	})
	if err == nil && lost {
		err = ErrLeaseLost
	}
	return err
}

// Publish implements Coordinator.
func (c *FileCoordinator) Publish(ctx context.Context, holder string, gen uint64, pair Token) (uint64, error) {
	var moved *GenerationError
	var next uint64
	err := c.update(ctx, func(f *familyFile, now time.Time) bool {
		if f.Generation != gen {
			moved = &GenerationError{Want: gen, Got: f.Generation}
			return false
		}
		f.storedToken = toStored(pair)
		f.Generation++
		next = f.Generation
		f.InFlight = nil
		if f.Lease != nil && f.Lease.Holder == holder {
			f.Lease = nil
		}
		return true
	})
	if err == nil && moved != nil {
		err = moved
	}
	return next, err
}

// Release implements Coordinator.
func (c *FileCoordinator) Release(ctx context.Context, holder string, spent bool) error {
	return c.update(ctx, func(f *familyFile, now time.Time) bool {
		changed := false
		if f.Lease != nil && f.Lease.Holder == holder {
			f.Lease, changed = nil, true
		}
		if !spent && f.InFlight != nil && f.InFlight.Holder == holder {
			f.InFlight, changed = nil, true
		}
		return changed
	})
}

// Wait implements Coordinator: it polls the file until the generation
// differs from gen or the lease is free, or ctx ends.
func (c *FileCoordinator) Wait(ctx context.Context, gen uint64) (Family, error) {
	poll := c.Poll
	if poll <= 0 {
		poll = DefaultPoll
	}
	for {
		fam, err := c.Read(ctx)
		if err != nil || fam.Generation != gen || !fam.Lease.Held(fam.Now) {
			return fam, err
		}
		jittered := time.Duration(float64(poll) * (0.8 + 0.4*rand.Float64()))
		select {
		case <-ctx.Done():
			return fam, ctx.Err()
		case <-time.After(jittered):
		}
	}
}

// update runs fn on the family's state under the lock and writes the state
// back when fn reports a change.
func (c *FileCoordinator) update(ctx context.Context, fn func(f *familyFile, now time.Time) bool) error {
	unlock, err := lockFile(ctx, c.Path+".lock")
	if err != nil {
		return err
	}
	defer unlock()
	var f familyFile
	b, err := os.ReadFile(c.Path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("session: file coordinator: %w", err)
	default:
		if err := json.Unmarshal(b, &f); err != nil {
			// encoding/json quotes no values, but the file holds secrets:
			// keep the message generic.
			return fmt.Errorf("session: file coordinator: %s is not a family file (malformed JSON)", c.Path)
		}
	}
	if !fn(&f, time.Now()) {
		return nil
	}
	if b, err = json.Marshal(&f); err != nil {
		return fmt.Errorf("session: file coordinator: %w", err)
	}
	return writeAtomic(c.Path, b)
}

func (f *familyFile) lease() Lease {
	if f.Lease == nil {
		return Lease{}
	}
	return Lease{Holder: f.Lease.Holder, Until: f.Lease.Until}
}

func (f *familyFile) family(now time.Time) Family {
	fam := Family{Pair: f.storedToken.token(), Generation: f.Generation, Now: now}
	if l := f.lease(); l.Held(now) {
		fam.Lease = l
	}
	if f.InFlight != nil {
		fam.InFlight = InFlight{Holder: f.InFlight.Holder, Generation: f.InFlight.Generation, At: f.InFlight.At}
	}
	return fam
}

func toStored(t Token) storedToken {
	return storedToken{AccessToken: string(t.Access), RefreshToken: string(t.Refresh),
		TokenType: t.Type, Issued: t.Issued.Round(0), Expiry: t.Expiry.Round(0), Scope: t.Scope, Extra: t.ExtraMembers()}
}

func (s storedToken) token() Token {
	return Token{Access: Secret(s.AccessToken), Refresh: Secret(s.RefreshToken), Type: s.TokenType,
		Issued: s.Issued, Expiry: s.Expiry, Scope: s.Scope, extra: newExtra(s.Extra)}
}
