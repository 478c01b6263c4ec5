package fetcher

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"sort"
	"strings"
)

// ErrHostNotAllowed is wrapped by every refusal of a URL or an address by the
// Policy. Such a task fails at once: no request is made.
var ErrHostNotAllowed = errors.New("host not allowed")

// DefaultDomains are the MTS Link domains whose hosts are allowed by default:
// the domains themselves and every subdomain. MTS Link serves the API from
// my.mts-link.ru (and gw.mts-link.ru), direct media and slides from
// events-storage.webinar.ru and HLS from events-delivery-records.webinar.ru
// (spec §2.1, §3.3). Allowing the two registrable domains rather than the
// four names keeps a recording working when MTS moves files to another host
// of its own, while refusing everything else; hosts of these domains must
// also resolve to public addresses and use the standard ports (80, 443).
var DefaultDomains = []string{"mts-link.ru", "webinar.ru"}

// Policy decides which URLs the fetcher may request. There are two kinds of
// allowed host:
//
//   - the default MTS Link domains (DefaultDomains and their subdomains) on
//     ports 80 and 443, which must resolve to public addresses: a name that
//     resolves to a loopback, private, link-local or otherwise special
//     address is refused when the connection is made (DNS rebinding);
//   - configured hosts (the host of --mts-base-url and every --allow-host),
//     trusted by the operator: any address, and any port unless the entry
//     names one. "*.example.com" allows the subdomains of example.com.
//
// Only http and https URLs are allowed. The zero Policy allows nothing; make
// one with NewPolicy.
type Policy struct {
	domains []string
	// exact maps a configured host name or IP to its allowed port ("" any).
	exact map[string][]string
	// suffixes are configured "*.domain" entries, stored as ".domain".
	suffixes []string
}

// NewPolicy returns a Policy allowing the default MTS Link domains plus the
// configured entries. An entry is a host name or IP, optionally with a port
// ("host:8080", "[::1]:8080"), a "*.domain" wildcard, or a URL whose host
// (and explicit port) is taken.
func NewPolicy(entries ...string) (*Policy, error) {
	p := &Policy{domains: append([]string(nil), DefaultDomains...), exact: map[string][]string{}}
	for _, e := range entries {
		if err := p.add(e); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (p *Policy) add(entry string) error {
	e := strings.TrimSpace(entry)
	if e == "" {
		return nil
	}
	if strings.Contains(e, "://") {
		u, err := url.Parse(e)
		if err != nil || u.Host == "" {
			return fmt.Errorf("allowed host %q: not a URL with a host", entry)
		}
		e = u.Host
	}
	if strings.HasPrefix(e, "*.") {
		d := normHost(e[2:])
		if d == "" || strings.ContainsAny(d, "*/:") {
			return fmt.Errorf("allowed host %q: a wildcard is *.domain", entry)
		}
		p.suffixes = append(p.suffixes, "."+d)
		return nil
	}
	host, port := e, ""
	if h, pt, err := net.SplitHostPort(e); err == nil {
		host, port = h, pt
	} else if strings.HasPrefix(e, "[") && strings.HasSuffix(e, "]") {
		host = e[1 : len(e)-1]
	}
	host = normHost(host)
	if host == "" || strings.ContainsAny(host, "/*@ ") {
		return fmt.Errorf("allowed host %q: want a host name or IP, optionally with :port", entry)
	}
	if strings.Contains(host, ":") {
		if _, err := netip.ParseAddr(host); err != nil {
			return fmt.Errorf("allowed host %q: want a host name or IP, optionally with :port (IPv6 in brackets)", entry)
		}
	}
	p.exact[host] = append(p.exact[host], port)
	return nil
}

// Hosts lists the allowed hosts for messages and logs.
func (p *Policy) Hosts() []string {
	var out []string
	for _, d := range p.domains {
		out = append(out, d, "*."+d)
	}
	for h, ports := range p.exact {
		for _, pt := range ports {
			if pt == "" {
				out = append(out, h)
			} else {
				out = append(out, net.JoinHostPort(h, pt))
			}
		}
	}
	for _, s := range p.suffixes {
		out = append(out, "*"+s)
	}
	sort.Strings(out)
	return out
}

func normHost(h string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(h)), ".")
}

// rule is what the Policy says about one host:port.
type rule struct {
	// configured hosts may resolve to any address.
	configured bool
}

// match reports how host:port is allowed, or an error wrapping
// ErrHostNotAllowed.
func (p *Policy) match(host, port string) (rule, error) {
	h := normHost(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	if ports, ok := p.exact[h]; ok {
		for _, pt := range ports {
			if pt == "" || pt == port {
				return rule{configured: true}, nil
			}
		}
	}
	if _, err := netip.ParseAddr(h); err != nil { // names only below
		for _, s := range p.suffixes {
			if strings.HasSuffix(h, s) {
				return rule{configured: true}, nil
			}
		}
		for _, d := range p.domains {
			if h == d || strings.HasSuffix(h, "."+d) {
				if port != "80" && port != "443" {
					return rule{}, fmt.Errorf("%w: %s:%s is an MTS Link host on a non-standard port; allow it with --allow-host %s:%s if it is right",
						ErrHostNotAllowed, h, port, h, port)
				}
				return rule{}, nil
			}
		}
	}
	return rule{}, fmt.Errorf("%w: %s is not an MTS Link host (allowed: %s); if the recording really uses it, allow it with --allow-host %s",
		ErrHostNotAllowed, h, strings.Join(p.Hosts(), ", "), h)
}

// CheckURL checks a URL before any request is made: http or https, a host,
// no user info, and an allowed host and port.
func (p *Policy) CheckURL(u *url.URL) error {
	if u == nil {
		return fmt.Errorf("%w: no URL", ErrHostNotAllowed)
	}
	switch u.Scheme {
	case "http", "https":
	default:
		return fmt.Errorf("%w: %q is a %s: URL; only http and https are fetched", ErrHostNotAllowed, redactURL(u), u.Scheme)
	}
	if u.Host == "" || u.Hostname() == "" {
		return fmt.Errorf("%w: %q has no host", ErrHostNotAllowed, redactURL(u))
	}
	if u.User != nil {
		return fmt.Errorf("%w: %q carries user info; MTS Link URLs never do", ErrHostNotAllowed, redactURL(u))
	}
	_, err := p.match(u.Hostname(), urlPort(u))
	return err
}

// Check parses raw and checks it with CheckURL.
func (p *Policy) Check(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %q is not a URL: %v", ErrHostNotAllowed, raw, err)
	}
	if err := p.CheckURL(u); err != nil {
		return nil, err
	}
	return u, nil
}

func urlPort(u *url.URL) string {
	if pt := u.Port(); pt != "" {
		return pt
	}
	if u.Scheme == "https" {
		return "443"
	}
	return "80"
}

// checkAddr checks the address a host resolved to, at dial time.
func (r rule) checkAddr(host string, a netip.Addr) error {
	if r.configured || publicAddr(a) {
		return nil
	}
	return fmt.Errorf("%w: %s resolves to %s, a loopback, private or special address, which is refused for MTS Link hosts; if this host is yours, allow it with --allow-host %s",
		ErrHostNotAllowed, host, a, host)
}

// specialNets are ranges that are not public unicast addresses, beyond what
// netip's predicates cover.
var specialNets = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // TEST-NET-1
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // TEST-NET-2
	netip.MustParsePrefix("203.0.113.0/24"),  // TEST-NET-3
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, broadcast
	netip.MustParsePrefix("64:ff9b::/96"),    // NAT64 (could embed a private IPv4)
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("2002::/16"),       // 6to4 (could embed a private IPv4)
	netip.MustParsePrefix("100::/64"),        // discard
}

// publicAddr reports whether a is a public unicast address.
func publicAddr(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() ||
		a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() {
		return false
	}
	for _, n := range specialNets {
		if n.Contains(a) {
			return false
		}
	}
	return true
}

// redactURL drops the query (access tokens) from a URL for messages and logs.
func redactURL(u *url.URL) string {
	c := *u
	c.User = nil
	if c.RawQuery != "" {
		c.RawQuery = "…"
	}
	c.Fragment = ""
	return c.String()
}

// redact is redactURL for a raw URL.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		if i := strings.IndexAny(raw, "?#"); i >= 0 {
			return raw[:i]
		}
		return raw
	}
	return redactURL(u)
}
