package sim

import (
	"math"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

// Total is a time summed over a fleet's sessions, in nanoseconds. It is
// exact far beyond time.Duration's range (about 292 years, which a
// million sessions pass in under three simulated hours), so that a
// fleet's sums are never clipped. The zero value is 0s.
type Total struct{ hi, lo uint64 }

// add adds d, which is not negative.
func (t *Total) add(d int64) {
	var c uint64
	t.lo, c = bits.Add64(t.lo, uint64(d), 0)
	t.hi += c
}

// Duration returns t as a time.Duration; ok is false when it does not fit.
func (t Total) Duration() (d time.Duration, ok bool) {
	if t.hi != 0 || t.lo > math.MaxInt64 {
		return math.MaxInt64, false
	}
	return time.Duration(t.lo), true
}

// Hours returns t in hours, as a float64.
func (t Total) Hours() float64 {
	return (float64(t.hi)*(1<<64) + float64(t.lo)) / float64(time.Hour)
}

// Round returns t rounded to the nearest multiple of m, halves away from
// zero, as time.Duration.Round does; m <= 0 returns t unchanged.
func (t Total) Round(m time.Duration) Total {
	if m <= 0 || t.hi >= uint64(m) {
		return t
	}
	q, r := bits.Div64(t.hi, t.lo, uint64(m))
	if 2*r >= uint64(m) {
		q++
	}
	hi, lo := bits.Mul64(q, uint64(m))
	return Total{hi, lo}
}

// String formats t as time.Duration.String does ("2h0m0.5s"), with as
// many hours as it takes.
func (t Total) String() string {
	if d, ok := t.Duration(); ok {
		return d.String()
	}
	h, rem := bits.Div64(t.hi, t.lo, uint64(time.Hour)) // t.hi < an hour's nanoseconds below 10^22 years
	return strconv.FormatUint(h, 10) + strings.TrimPrefix(time.Duration(rem+uint64(time.Hour)).String(), "1")
}
