package fetcher

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"time"
)

// guardedDialer dials only addresses the Policy allows: it resolves the name
// itself, checks every address, and connects to a checked address, so a name
// that resolves to a public address when the URL is checked and to a private
// one when the connection is made (DNS rebinding) is still refused.
type guardedDialer struct {
	policy *Policy
	dialer net.Dialer
	// lookup resolves a name (net.DefaultResolver.LookupNetIP; tests
	// substitute a resolver that answers what a rebinding DNS would).
	lookup func(ctx context.Context, host string) ([]netip.Addr, error)
}

func systemLookup(ctx context.Context, host string) ([]netip.Addr, error) {
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}

func (g *guardedDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("%w: dialing %q: %v", ErrHostNotAllowed, addr, err)
	}
	r, err := g.policy.match(host, port)
	if err != nil {
		return nil, err
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		addrs, err = g.lookup(ctx, host)
		if err != nil {
			return nil, fmt.Errorf("resolving %s: %w", host, err)
		}
	}
	var refused, dialErr error
	for _, a := range addrs {
		if err := r.checkAddr(host, a); err != nil {
			refused = err
			continue
		}
		c, err := g.dialer.DialContext(ctx, network, net.JoinHostPort(a.Unmap().String(), port))
		if err == nil {
			return c, nil
		}
		dialErr = err
	}
	if dialErr != nil {
		return nil, dialErr
	}
	if refused != nil {
		return nil, refused
	}
	return nil, fmt.Errorf("resolving %s: no addresses", host)
}

// newHTTPClient returns the client every MTS request goes through: the
// guarded dialer, no proxy from the environment (a proxy would resolve names
// beyond the dial check), no transparent gzip (byte offsets must be those of
// the file, for Range resume), and every redirect re-checked with the Policy.
// There is no overall timeout (chunks are hundreds of MB); downloads watch
// for stalls instead.
func newHTTPClient(p *Policy, connectTimeout time.Duration, lookup func(context.Context, string) ([]netip.Addr, error)) *http.Client {
	if lookup == nil {
		lookup = systemLookup
	}
	d := &guardedDialer{policy: p, dialer: net.Dialer{Timeout: connectTimeout, KeepAlive: 30 * time.Second},
		lookup: lookup}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   connectTimeout,
		ResponseHeaderTimeout: 60 * time.Second,
		ExpectContinueTimeout: time.Second,
		MaxIdleConns:          32,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       90 * time.Second,
		DisableCompression:    true,
	}
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 10 {
				return errors.New("stopped after 10 redirects")
			}
			if err := p.CheckURL(req.URL); err != nil {
				return fmt.Errorf("redirected from %s: %w", redactURL(via[len(via)-1].URL), err)
			}
			return nil
		},
	}
}
