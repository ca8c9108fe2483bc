package sim

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// orderModel drives a queue with random events that schedule others at
// delays crowded onto two periods (so that events meet periodic calls at
// their instants, and were scheduled at the same instant as they were),
// some of which begin chains of calls of those periods. With calls as
// events (naive: a single heap stamped in scheduling order) it records the
// order of every event; counted (closedForm), only the calls that act (or
// that a draw picks) are events, queued with pushCall when the chain's
// call before them is made, however far back, and the others are not
// there at all.
type orderModel struct {
	q          queue
	closedForm bool
	horizon    int64
	periods    []int64
	chains     []orderChain
	got        []uint64 // event identities, calls' callID
}

type orderChain struct {
	j          int // period index
	from, rank int64
	created    int64
}

func mix(a, b uint64) uint64 {
	z := a*0x9e3779b97f4a7c15 + b + 0x632be59bd9b4e019
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// delays are those of the events others schedule: the periods, multiples
// of them, none, and others.
var orderDelays = []int64{0, 0, 1, 2, 3, 3, 5, 5, 6, 10, 15, 7}

// Call identities: chain c's n-th call.
func callID(c, n int) uint64 { return 1<<62 | uint64(c)<<24 | uint64(n) }

// acts reports whether call n of chain c does something (schedules
// events); counted reports whether, doing nothing, it is not an event when
// counted in closed form.
func acts(seed uint64, c, n int) bool { return n == 0 || mix(seed, callID(c, n))%7 == 0 }
func counted(seed uint64, c, n int) bool {
	return !acts(seed, c, n) && mix(seed^1, callID(c, n))%3 != 0
}

func (m *orderModel) run(seed uint64) []uint64 {
	m.q.naive = !m.closedForm
	m.q.init(0)
	if m.closedForm {
		m.q.order.periods = m.periods
		m.q.order.lastFirst = make([]uint64, len(m.periods))
	}
	r := rand.New(rand.NewPCG(seed, 1))
	for k := range 40 {
		m.q.push(r.Int64N(m.horizon), evWake, 0, uint64(k+1))
	}
	for {
		e, ok := m.q.next(m.horizon)
		if !ok {
			return m.got
		}
		if e.k == evCall {
			m.call(seed, int(e.sess), int(e.aux), e.at)
			continue
		}
		m.got = append(m.got, e.aux)
		m.schedule(seed, e.aux, e.at)
	}
}

// schedule makes the event id, being processed at t, schedule what it
// draws: other events, and perhaps a chain.
func (m *orderModel) schedule(seed, id uint64, t int64) {
	h := mix(seed, id)
	if h%5 == 0 && len(m.chains) < 40 {
		j := int(h>>8) % len(m.periods)
		c := orderChain{j: j, from: int64(h>>16) % m.periods[j], created: t}
		if m.closedForm {
			c.rank = int64(len(m.q.order.created))
			m.q.order.created = append(m.q.order.created, t)
		}
		m.chains = append(m.chains, c)
		m.q.push(t+c.from, evCall, uint32(len(m.chains)-1), 0)
	}
	for k := range []int{0, 0, 1, 1, 2}[(h>>32)%5] {
		d := orderDelays[mix(id, uint64(k))%uint64(len(orderDelays))]
		m.q.push(t+d, evWake, 0, mix(id, uint64(k)+7)>>2)
	}
}

// call makes call n of chain c at t.
func (m *orderModel) call(seed uint64, c, n int, t int64) {
	ch := &m.chains[c]
	every := m.periods[ch.j]
	m.got = append(m.got, callID(c, n))
	if !m.closedForm {
		m.q.push(t+every, evCall, uint32(c), uint64(n+1))
	} else {
		if n == 0 {
			m.q.firstCall(ch.j, uint32(ch.rank))
		}
		next := n + 1
		for counted(seed, c, next) {
			next++
		}
		m.q.pushCall(t+int64(next-n)*every, every, uint32(ch.rank), uint32(c), uint64(next))
	}
	if acts(seed, c, n) {
		m.schedule(seed, callID(c, n), t)
	}
}

// TestOrderKeepsSchedulingOrder: counting calls in closed form, the events
// that are left pop in the order the single heap pops them.
func TestOrderKeepsSchedulingOrder(t *testing.T) {
	for seed := range uint64(300) {
		want := (&orderModel{horizon: 300, periods: []int64{3, 5}}).run(seed)
		got := (&orderModel{horizon: 300, periods: []int64{3, 5}, closedForm: true}).run(seed)
		// Drop from want the calls that were counted.
		kept := slices.DeleteFunc(slices.Clone(want), func(id uint64) bool {
			return id>>62 == 1 && counted(seed, int(id>>24&(1<<38-1)), int(id&(1<<24-1)))
		})
		if len(want) < 1000 || len(kept) == len(want) {
			t.Fatalf("seed %d: %d events, %d counted", seed, len(want), len(want)-len(kept))
		}
		for k := range min(len(kept), len(got)) {
			if kept[k] != got[k] {
				t.Fatalf("seed %d: event %d is %x, want %x\nwant %x\ngot  %x", seed, k, got[k], kept[k], kept[max(0, k-8):k+1], got[max(0, k-8):k+1])
			}
		}
		if len(kept) != len(got) {
			t.Fatalf("seed %d: %d events, want %d", seed, len(got), len(kept))
		}
	}
}
