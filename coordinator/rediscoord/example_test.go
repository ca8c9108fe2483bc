package rediscoord_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"

	rediscoord "github.com/authfsm/authfsm/coordinator/rediscoord"
	"github.com/authfsm/authfsm/session"
)

// Two processes share one token family: the first takes the refresh lease,
// marks its refresh in flight, and publishes the new pair; the second finds
// the lease busy, waits, and adopts the pair. (The session's state machine
// makes these calls; they are spelled out here.)
func Example() {
	// A stand-in for the Redis primary that the processes share.
	srv, err := miniredis.Run()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	client := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	defer client.Close()
	ctx := context.Background()

	// One key per family; the braces keep its keys in one cluster slot.
	const key = "authfsm:family:{billing-api}"
	first := rediscoord.New(client, key)
	second := rediscoord.New(client, key, rediscoord.WithPollInterval(10*time.Millisecond))

	// The lease outlasts the refresh request's timeout plus a margin.
	if _, ok, err := first.Acquire(ctx, "process-1", 30*time.Second); err != nil || !ok {
		log.Fatal("acquire: ", ok, err)
	}
	fam, err := first.Read(ctx) // another may have published meanwhile
	if err != nil {
		log.Fatal(err)
	}
	if err := first.MarkInFlight(ctx, "process-1", fam.Generation); err != nil {
		log.Fatal(err)
	}

	lease, ok, err := second.Acquire(ctx, "process-2", 30*time.Second)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("second acquired:", ok, "- held by", lease.Holder)
	adopted := make(chan session.Family)
	go func() {
		f, err := second.Wait(ctx, fam.Generation)
		if err != nil {
			log.Fatal(err)
		}
		adopted <- f
	}()

	// … the refresh request, then:
	gen, err := first.Publish(ctx, "process-1", fam.Generation, session.Token{
		Access: "new-access-token", Refresh: "new-refresh-token", Expiry: time.Now().Add(time.Hour),
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("first published generation", gen)

	f := <-adopted
	fmt.Println("second adopts generation", f.Generation, "with refresh token", f.Pair.Refresh)
	fmt.Println("lease free:", !f.Lease.Held(f.Now))
	// Output:
	// second acquired: false - held by process-1
	// first published generation 1
	// second adopts generation 1 with refresh token [redacted sha256:c40dd1765d76]
	// lease free: true
}
