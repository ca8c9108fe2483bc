package sim

import (
	"testing"
	"time"
)

// TestFamilyOf holds the exported FamilyOf to the engine's own famOf and
// famRange, for even and uneven splits.
func TestFamilyOf(t *testing.T) {
	for _, c := range []struct{ sessions, families int }{{1, 0}, {7, 0}, {40, 10}, {10, 3}, {5, 5}, {3, 7}, {1000, 7}} {
		sc := defaults()
		sc.Fleet.Sessions, sc.Fleet.Families = c.sessions, c.families
		r := &run{sc: &sc, ss: make([]session, c.sessions), fams: make([]family, sc.Families())}
		for i := range c.sessions {
			f := sc.FamilyOf(i)
			if want := int(r.famOf(uint32(i))); f != want {
				t.Errorf("%d sessions in %d families: FamilyOf(%d) = %d, engine %d", c.sessions, c.families, i, f, want)
			}
			if lo, hi := r.famRange(uint32(f)); uint32(i) < lo || uint32(i) >= hi {
				t.Errorf("%d sessions in %d families: session %d not in family %d's range [%d, %d)", c.sessions, c.families, i, f, lo, hi)
			}
		}
	}
}

// TestEachSession checks that the draws EachSession reports are the
// sessions' own: their starts and the first delay of their jitter.
func TestEachSession(t *testing.T) {
	sc := defaults()
	sc.Seed, sc.Duration = 9, time.Hour
	sc.Fleet.Sessions, sc.Fleet.StartSpread = 50, 10*time.Minute
	r := newRun(&sc, Options{})
	EachSession(&sc, func(i int, seed uint64, start time.Duration) {
		s := r.sess(uint32(i))
		if s.start != int64(start) {
			t.Errorf("session %d starts at %v, EachSession says %v", i, time.Duration(s.start), start)
		}
		var want session
		want.d.Rand.Seed(seed, seed^0x9e3779b97f4a7c15)
		if got, w := s.d.Rand.Uint64(), want.d.Rand.Uint64(); got != w {
			t.Errorf("session %d: jitter draw %d, EachSession's seed gives %d", i, got, w)
		}
	})
}
