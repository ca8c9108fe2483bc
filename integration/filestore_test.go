package integration

import (
	"context"
	"testing"
	"time"

	"github.com/authfsm/authfsm/integration/tokenserver"
	"github.com/authfsm/authfsm/session"
)

// TestSharedFileStore: two OS processes, each with a plain
// session.FileStore on one path (two runs of a CLI on one workstation, as
// in cloudflare/workers-sdk#15089), against fosite rotating 1.5-second
// tokens with reuse detection, for 5 seconds. Before FileStore was safe
// across processes, one ended revoked with invalid_grant while the other
// kept writing newer pairs to the file it never read again; now they
// refresh in turns through the file's lock and adopt each other's pairs:
// both end valid, no call fails, fosite never sees a reused token, and the
// file holds the newest pair.
func TestSharedFileStore(t *testing.T) {
	const procs, run = 2, 5 * time.Second
	f := newFamily(t, coordFileStore, tokenserver.Config{AccessTokenLifespan: 1500 * time.Millisecond})
	f.start(t, procs, "-duration", run.String())
	f.wait(t, run+30*time.Second)
	c := f.srv.Counts()
	for _, p := range f.procs {
		p.checkExit(t)
		l, _ := p.final()
		if !l.endedWell() {
			t.Errorf("%s ended %s (token valid %v) with %d of %d calls failed: %s", p.id, l.State, l.TokenValid, l.Failed, l.Calls, l.Cause)
		}
	}
	if c.Reuse != 0 || c.FamilyRevocations != 0 {
		t.Errorf("fosite detected reuse %d times and revoked the family %d times", c.Reuse, c.FamilyRevocations)
	}
	refreshes := f.refreshes()
	for i, r := range refreshes {
		if r.Status != 200 {
			t.Errorf("refresh %d answered %d %s", i+1, r.Status, r.Code)
		}
	}
	if len(refreshes) < 3 {
		t.Errorf("%d refreshes reached fosite in %v, want a few cycles", len(refreshes), run)
	}
	// Every refresh was published to the file, after the login's pair.
	if gen := f.generation(t); gen != uint64(len(refreshes))+1 {
		t.Errorf("the file is at generation %d after %d refreshes", gen, len(refreshes))
	}
	saved, err := (&session.FileStore{Path: f.file}).Load(context.Background())
	if err != nil || saved.Refresh == f.initial.Refresh {
		t.Errorf("the file holds the login's pair or none: %v", err)
	}
	if t.Failed() {
		f.logOutput(t)
	}
	t.Logf("%d processes on one FileStore, %v: %d refreshes reached fosite, %d Token calls", procs, run, len(refreshes), f.row(t, 0).Calls)
}
