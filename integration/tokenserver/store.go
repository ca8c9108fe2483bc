package tokenserver

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/storage"
)

// countingStore is fosite's in-memory store with observations added, and a
// reuse grace that fosite's MemoryStore lacks (it leaves graceful rotation
// to the store; see Config.ReuseGrace).
//
// It counts lookups of inactive refresh tokens: fosite's refresh handler
// treats such a lookup (ErrInactiveToken) as reuse and revokes the token
// family, so the count is exactly "how often a client presented a refresh
// token that had been rotated away or revoked" outside the grace. It counts
// the family revocations that follow (the handler's only call of
// RevokeRefreshToken: the store's own rotation calls the MemoryStore's
// method directly), and the rotated tokens accepted inside the grace.
//
// The store outlives HTTP restarts of the Server, which is what makes a
// restart a backend pod restart rather than a new authorization server.
type countingStore struct {
	*storage.MemoryStore
	grace time.Duration

	// refreshMu makes up for fosite v0.49's MemoryStore, whose
	// RevokeRefreshToken (and so RotateRefreshToken) writes the refresh
	// token map under another mutex than GetRefreshTokenSession reads it
	// with: a refresh racing an introspection crashed the test binary
	// ("concurrent map read and map write").
	refreshMu sync.RWMutex

	mu          sync.Mutex
	rotated     map[string]time.Time // refresh token signature -> first rotation
	revoked     map[string]bool      // request ids (families) revoked for reuse
	reuse       int
	graced      int
	revocations int
}

func (s *countingStore) GetRefreshTokenSession(ctx context.Context, signature string, sess fosite.Session) (fosite.Requester, error) {
	s.refreshMu.RLock()
	req, err := s.MemoryStore.GetRefreshTokenSession(ctx, signature, sess)
	s.refreshMu.RUnlock()
	if !errors.Is(err, fosite.ErrInactiveToken) {
		return req, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	at, ok := s.rotated[signature]
	if ok && s.grace > 0 && time.Since(at) < s.grace && req != nil && !s.revoked[req.GetID()] {
		// Inside the grace: the handler goes on as for an active token,
		// and its rotation retires the pair the first use issued.
		s.graced++
		return req, nil
	}
	s.reuse++
	return req, err
}

func (s *countingStore) RotateRefreshToken(ctx context.Context, requestID, signature string) error {
	s.mu.Lock()
	if _, ok := s.rotated[signature]; !ok {
		s.rotated[signature] = time.Now()
	}
	s.mu.Unlock()
	s.refreshMu.Lock()
	defer s.refreshMu.Unlock()
	return s.MemoryStore.RotateRefreshToken(ctx, requestID, signature)
}

func (s *countingStore) RevokeRefreshToken(ctx context.Context, requestID string) error {
	s.mu.Lock()
	s.revoked[requestID] = true
	if ctx.Value(revocationKey{}) == nil { // a revocation request (RFC 7009) is no reuse
		s.revocations++
	}
	s.mu.Unlock()
	s.refreshMu.Lock()
	defer s.refreshMu.Unlock()
	return s.MemoryStore.RevokeRefreshToken(ctx, requestID)
}

// counts returns the reuse, graced and revocation counters.
func (s *countingStore) counts() (reuse, graced, revocations int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reuse, s.graced, s.revocations
}
