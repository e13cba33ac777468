package engine

import (
	"strings"
	"testing"

	"github.com/mailsim/mailsim/internal/transport"
	"github.com/mailsim/mailsim/scenarios"
)

// TestShardRecipientsStayInShard pins what docs/distributed.md
// ("Cross-shard mail") relies on: in shard i/n, a person's internal
// recipients are users of the same shard, never of another one. Mail to a user of another shard would reach a mailbox whose
// shard recorded no deliver change for it, so no process would audit it.
func TestShardRecipientsStayInShard(t *testing.T) {
	for _, shard := range []scenarios.Shard{{Index: 1, Count: 2}, {Index: 2, Count: 2}, {Index: 3, Count: 3}} {
		t.Run(shard.String(), func(t *testing.T) {
			plan := mustPlan(t, strings.Replace(busyScenario, "count: 4", "count: 12", 1), scenarios.PlanOptions{Shard: shard})
			e, err := New(Options{Plan: plan, Endpoints: Endpoints{
				IMAP: transport.Endpoint{Addr: "127.0.0.1:1"}, POP3: transport.Endpoint{Addr: "127.0.0.1:1"},
			}})
			if err != nil {
				t.Fatal(err)
			}
			inShard := map[string]bool{}
			for _, u := range e.users {
				inShard[u.plan.Address] = true
			}
			if len(inShard) != 12/shard.Count {
				t.Fatalf("%d users in shard %s, want %d", len(inShard), shard, 12/shard.Count)
			}
			domain := strings.SplitN(e.users[0].plan.Address, "@", 2)[1]
			internal := 0
			for _, u := range e.users {
				p := newPerson(u)
				b := *p.b
				b.Send.Internal = 1
				p.b = &b
				for range 50 {
					to := p.recipient(p.rng)
					if strings.HasSuffix(to, "@"+domain) {
						internal++
						if !inShard[to] {
							t.Fatalf("%s writes to %s, a user outside shard %s", u.plan.Address, to, shard)
						}
					}
				}
			}
			if internal == 0 {
				t.Fatalf("no internal recipient drawn in shard %s", shard)
			}
		})
	}
}
