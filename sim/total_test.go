package sim

import (
	"math"
	"testing"
	"time"
)

func TestTotal(t *testing.T) {
	day := int64(24 * time.Hour)
	million := func(d int64) Total {
		var t Total
		for range 1_000_000 {
			t.add(d)
		}
		return t
	}
	plus := func(t Total, d time.Duration) Total {
		t.add(int64(d))
		return t
	}
	for _, tc := range []struct {
		name  string
		t     Total
		str   string
		ms    string
		hours float64
		fits  bool
	}{
		{"zero", Total{}, "0s", "0s", 0, true},
		{"sub-second", Total{lo: 1500}, "1.5µs", "0s", 1500 / 3.6e12, true},
		{"a day", million(day / 1_000_000), "24h0m0s", "24h0m0s", 24, true},
		{"largest duration", Total{lo: math.MaxInt64}, "2562047h47m16.854775807s", "2562047h47m16.855s", float64(math.MaxInt64) / 3.6e12, true},
		{"one past it", Total{lo: math.MaxInt64 + 1}, "2562047h47m16.854775808s", "2562047h47m16.855s", float64(math.MaxInt64) / 3.6e12, false},
		{"a million sessions' day", million(day), "24000000h0m0s", "24000000h0m0s", 24e6, false},
		{"with a remainder", million(day + int64(90*time.Second) + 7), "24025000h0m0.007s", "24025000h0m0.007s", 24025000, false},
		{"round half up", plus(million(day), time.Millisecond/2), "24000000h0m0.0005s", "24000000h0m0.001s", 24e6, false},
		{"round down", plus(million(day), time.Hour-time.Millisecond/2-1), "24000000h59m59.999499999s", "24000000h59m59.999s", 24e6 + 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.t.String(); got != tc.str {
				t.Errorf("String() = %s, want %s", got, tc.str)
			}
			if got := tc.t.Round(time.Millisecond).String(); got != tc.ms {
				t.Errorf("Round(ms) = %s, want %s", got, tc.ms)
			}
			if got := tc.t.Hours(); math.Abs(got-tc.hours) > 1e-9*math.Max(1, tc.hours) {
				t.Errorf("Hours() = %v, want %v", got, tc.hours)
			}
			if _, ok := tc.t.Duration(); ok != tc.fits {
				t.Errorf("Duration() ok = %v, want %v", ok, tc.fits)
			}
		})
	}
	// Within time.Duration's range, String and Round are time.Duration's.
	for _, d := range []time.Duration{1, 999, time.Millisecond + 499*time.Microsecond, 90 * time.Minute, 1<<62 + 12345} {
		tot := Total{lo: uint64(d)}
		if tot.String() != d.String() || tot.Round(time.Millisecond).String() != d.Round(time.Millisecond).String() {
			t.Errorf("%d: String %s Round %s, want %s and %s", d, tot, tot.Round(time.Millisecond), d, d.Round(time.Millisecond))
		}
	}
}
