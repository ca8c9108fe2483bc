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
		{"valid: the refresh point", Data{State: Valid, Issued: issued, Expiry: expiry, NextAt: point}, point},
		{"valid, no refresh ahead: expiry", Data{State: Valid, Issued: issued, Expiry: expiry, NextAt: expiry}, expiry},
		{"valid, point not computed yet: expiry", Data{State: Valid, Issued: issued, Expiry: expiry}, expiry},
		{"refreshing: now", Data{State: Refreshing, Issued: issued, Expiry: expiry}, now},
		{"waiting for another process: now", Data{State: Waiting, Issued: issued, Expiry: expiry, NextAt: retry}, now},
		{"backoff: the next attempt", Data{State: Backoff, Issued: issued, Expiry: expiry, NextAt: retry}, retry},
		{"backoff, retry after expiry: expiry", Data{State: Backoff, Issued: issued, Expiry: expiry, NextAt: expiry.Add(time.Minute)}, expiry},
		{"rejected: none", Data{State: Valid, Issued: issued, Expiry: expiry, NextAt: point, Rejected: true}, time.Time{}},
		{"expired: none", Data{State: Expired, Issued: issued, Expiry: now}, time.Time{}},
		{"revoked: none", Data{State: Revoked, Issued: issued, Expiry: expiry}, time.Time{}},
		{"no token: none", Data{State: Expired}, time.Time{}},
	} {
		if got := tc.d.ServeUntil(now); !got.Equal(tc.want) {
			t.Errorf("%s: ServeUntil = %v, want %v", tc.name, got, tc.want)
		}
	}
}
