package login

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/authfsm/authfsm/session"
	"github.com/authfsm/authfsm/states"
)

// TestElsewhere: a session given Elsewhere as its login, with nothing to
// refresh with, needs a login rather than being revoked, never runs it,
// and says how to log in; run by hand, the login fails the same way.
func TestElsewhere(t *testing.T) {
	ctx := context.Background()
	const hint = "run authfsm login --profile api"
	noRefresh := session.RefresherFunc(func(context.Context, session.Token) (session.Token, error) {
		return session.Token{}, session.ErrNoRefreshToken
	})
	s, err := session.New(ctx, noRefresh, session.Token{}, session.WithLogin(Elsewhere(hint)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.Token(ctx)
	var lr *session.LoginRequiredError
	if !errors.As(err, &lr) || !errors.Is(err, session.ErrLoginRequired) || lr.Hint != hint || !strings.Contains(err.Error(), hint) {
		t.Fatalf("Token = %v, want a *session.LoginRequiredError with the hint", err)
	}
	if st := s.Status(); st.State != states.NeedsLogin {
		t.Errorf("the session is %v, want %v", st.State, states.NeedsLogin)
	}
	if _, err := Elsewhere(hint).Login(ctx); !errors.Is(err, session.ErrLoginRequired) || !strings.Contains(err.Error(), hint) {
		t.Errorf("Elsewhere's Login = %v", err)
	}
}
