package tokenserver

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/ory/fosite"
	"github.com/ory/fosite/storage"
)

// countingStore is fosite's in-memory store with one observation added: it
// counts lookups of inactive refresh tokens. fosite's refresh handler
// treats such a lookup (ErrInactiveToken) as reuse and revokes the token
// family, so the count is exactly "how often a client presented a refresh
// token that had been rotated away or revoked". The store outlives HTTP restarts of the
// Server, which is what makes a restart a backend pod restart rather than a
// new authorization server.
type countingStore struct {
	*storage.MemoryStore
	reuse atomic.Int64
}

func (s *countingStore) GetRefreshTokenSession(ctx context.Context, signature string, sess fosite.Session) (fosite.Requester, error) {
	req, err := s.MemoryStore.GetRefreshTokenSession(ctx, signature, sess)
	if errors.Is(err, fosite.ErrInactiveToken) {
		s.reuse.Add(1)
	}
	return req, err
}
