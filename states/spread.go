package states

import "time"

// The refresh spread of a family's processes (Config.Coordinated).
//
// The processes of one family hold the same pair — the one the last
// holder published, with its issue and expiry times — so with one
// refresh-ahead margin they would all reach the refresh point at the same
// instant, and all but one would find the family's lease held (and, with a
// lock file, the lock taken) and wait for the holder's pair: every refresh
// of the family, a lease refusal and a few busy lock retries per process.
// So a coordinated session moves its refresh point earlier by a jitter
// drawn from its own seed (NewData) and the generation of the pair it
// holds: each process of the family draws another, and each pair again.
// The first process to reach its point refreshes alone; the others adopt
// the new pair as soon as the watch they keep for a logout reports it
// (Machine.watched), before they reach theirs.
//
// The jitter is at most a tenth of the margin in force (the time from the
// refresh point to expiry: RefreshAhead, or half the lifetime when that
// is shorter), and at most MaxRefreshSpread, in whole milliseconds: the
// refresh point moves earlier, never past expiry and never before the
// token was issued, and the outage the margin hides shrinks by a tenth at
// most. A session that is not coordinated, or refreshes at expiry (no
// margin, a postponed cycle, a short-lived token), keeps its refresh
// point exactly. Processes given one seed (session.WithSeed) draw the same
// jitter and refresh in lockstep again: give each its own, or none.

// MaxRefreshSpread bounds how much earlier than its margin's refresh point
// a coordinated session starts its refresh: 30 s, a tenth of
// DefaultRefreshAhead. The jitter is also at most a tenth of the margin
// in force (spreadDivisor).
const MaxRefreshSpread = 30 * time.Second

// spreadDivisor: the jitter is at most 1/spreadDivisor of the margin.
const spreadDivisor = 10

// spreadMix makes a session's spread key from its seed.
const spreadMix = 0x5b7e_ad5c_0ffe_e11d

// spreadKey returns the spread key of a session seeded with seed: its own
// value, apart from its random source's stream, so that the jitter draws
// nothing from the stream the retry policy draws from.
func spreadKey(seed uint64) uint32 { return uint32(mix64(seed^spreadMix) >> 32) }

// mix64 is SplitMix64's finaliser: a bijection that spreads every bit of
// its input over its output.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// refreshSpread is how much earlier than the margin's refresh point the
// session starts refreshing the pair it holds, margin being the time from
// that point to expiry: a deterministic draw from its key and the pair's
// generation in [0, min(margin/spreadDivisor, MaxRefreshSpread)),
// in whole milliseconds.
func (d *Data) refreshSpread(margin time.Duration) time.Duration {
	steps := uint64(RefreshSpreadBound(margin) / time.Millisecond)
	if steps == 0 {
		return 0
	}
	return time.Duration(mix64(uint64(d.spread)<<32^d.gen*0x9e3779b97f4a7c15)%steps) * time.Millisecond
}

// RefreshSpreadBound is the widest a coordinated session's refresh spread
// can be for a margin: min(margin/10, MaxRefreshSpread). A family's
// processes reach their refresh points within it of each other.
func RefreshSpreadBound(margin time.Duration) time.Duration {
	return min(margin/spreadDivisor, MaxRefreshSpread)
}
