package states

import (
	"testing"
	"time"
)

// TestServeUntil checks the instant a caller may cache the current token
// until, in each state that serves one.
func TestServeUntil(t *testing.T) {
	now := epoch.Add(10 * time.Minute)
	issued, expiry := epoch, epoch.Add(time.Hour)
	point := epoch.Add(55 * time.Minute)
	retry := now.Add(30 * time.Second)
	for _, tc := range []struct {
		name string
		d    Data
		want time.Time
	}{
		{"valid: the refresh point", Data{state: Valid, issued: issued, expiry: expiry, nextAt: point}, point},
		{"valid, no refresh ahead: expiry", Data{state: Valid, issued: issued, expiry: expiry, nextAt: expiry}, expiry},
		{"valid, point not computed yet: expiry", Data{state: Valid, issued: issued, expiry: expiry}, expiry},
		{"refreshing: now", Data{state: Refreshing, issued: issued, expiry: expiry}, now},
		{"waiting for another process: now", Data{state: Waiting, issued: issued, expiry: expiry, nextAt: retry}, now},
		{"backoff: the next attempt", Data{state: Backoff, issued: issued, expiry: expiry, nextAt: retry}, retry},
		{"backoff, retry after expiry: expiry", Data{state: Backoff, issued: issued, expiry: expiry, nextAt: expiry.Add(time.Minute)}, expiry},
		{"rejected: none", Data{state: Valid, issued: issued, expiry: expiry, nextAt: point, rejected: true}, time.Time{}},
		{"expired: none", Data{state: Expired, issued: issued, expiry: now}, time.Time{}},
		{"revoked: none", Data{state: Revoked, issued: issued, expiry: expiry}, time.Time{}},
		{"no token: none", Data{state: Expired}, time.Time{}},
	} {
		if got := tc.d.ServeUntil(now); !got.Equal(tc.want) {
			t.Errorf("%s: ServeUntil = %v, want %v", tc.name, got, tc.want)
		}
	}
}
