package server

import (
	"fmt"
	"net/http/httptest"
	"testing"
)

// TestClientLimitsBounded: however many clients come, the state kept of
// them stays within maxClients.
func TestClientLimitsBounded(t *testing.T) {
	var c clientLimits
	c.set(0, 60)
	for i := range 3 * maxClients {
		done, err := c.admit(fmt.Sprintf("addr:client-%d", i))
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		done()
		if len(c.clients) > maxClients {
			t.Fatalf("%d clients kept after %d, past %d", len(c.clients), i+1, maxClients)
		}
	}
}

// TestClientKeyIPv6: an IPv6 client is its /64; IPv4 ones their address.
func TestClientKeyIPv6(t *testing.T) {
	s := &Server{}
	r := httptest.NewRequest("GET", "/api/v0/metadata", nil)
	a, b := s.clientKey(r, "2001:db8:1:2:aaaa::1"), s.clientKey(r, "2001:db8:1:2:bbbb::2")
	if a != b || a != "addr:2001:db8:1:2::/64" {
		t.Errorf("two addresses of one /64: %q, %q", a, b)
	}
	if k := s.clientKey(r, "192.0.2.7"); k != "addr:192.0.2.7" {
		t.Errorf("an IPv4 client: %q", k)
	}
}
