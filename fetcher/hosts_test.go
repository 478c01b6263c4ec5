package fetcher

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestPolicyCheck(t *testing.T) {
	p, err := NewPolicy("http://127.0.0.1:8089", "cdn.example.com", "files.example.org:8443", "*.trusted.net", "[::1]:9000")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		url        string
		ok         bool
		configured bool
		why        string // substring of the error
	}{
		{"https://events-storage.webinar.ru/api-storage/files/wowza/2026/03/24/x.mp4", true, false, ""},
		{"https://events-delivery-records.webinar.ru/record/2026/x.mp4/playlist.m3u8", true, false, ""},
		{"https://my.mts-link.ru/api/eventsessions/1/record", true, false, ""},
		{"https://gw.mts-link.ru/api/x", true, false, ""},
		{"https://WEBINAR.RU./x", true, false, ""},
		{"http://events-storage.webinar.ru/x.mp4", true, false, ""},
		{"https://events-storage.webinar.ru:8443/x.mp4", false, false, "non-standard port"},
		{"https://evilwebinar.ru/x.mp4", false, false, "not an MTS Link host"},
		{"https://webinar.ru.evil.com/x.mp4", false, false, "not an MTS Link host"},
		{"https://example.com/x.mp4", false, false, "--allow-host example.com"},
		{"http://127.0.0.1:8089/m/x.mp4", true, true, ""},
		{"http://127.0.0.1:8090/m/x.mp4", false, false, "not an MTS Link host"},
		{"http://127.0.0.1/m/x.mp4", false, false, "not an MTS Link host"},
		{"http://localhost:8089/x", false, false, "not an MTS Link host"},
		{"http://169.254.169.254/latest/meta-data", false, false, "not an MTS Link host"},
		{"https://cdn.example.com:1234/x.mp4", true, true, ""},
		{"https://files.example.org:8443/x", true, true, ""},
		{"https://files.example.org/x", false, false, "not an MTS Link host"},
		{"https://a.b.trusted.net/x", true, true, ""},
		{"https://trusted.net/x", false, false, "not an MTS Link host"},
		{"http://[::1]:9000/x", true, true, ""},
		{"http://[::1]:9001/x", false, false, "not an MTS Link host"},
		{"file:///etc/passwd", false, false, "only http and https"},
		{"ftp://events-storage.webinar.ru/x", false, false, "only http and https"},
		{"gopher://127.0.0.1:8089/x", false, false, "only http and https"},
		{"https://user:pw@events-storage.webinar.ru/x", false, false, "user info"},
		{"https:///x", false, false, "no host"},
		{"/relative/x.mp4", false, false, "only http and https"},
	}
	for _, tc := range tests {
		u, err := p.Check(tc.url)
		if tc.ok != (err == nil) {
			t.Errorf("%s: err = %v, want ok=%v", tc.url, err, tc.ok)
			continue
		}
		if err != nil {
			if !errors.Is(err, ErrHostNotAllowed) {
				t.Errorf("%s: %v does not wrap ErrHostNotAllowed", tc.url, err)
			}
			if !strings.Contains(err.Error(), tc.why) {
				t.Errorf("%s: error %q does not say %q", tc.url, err, tc.why)
			}
			continue
		}
		r, err := p.match(u.Hostname(), urlPort(u))
		if err != nil || r.configured != tc.configured {
			t.Errorf("%s: rule %+v %v, want configured=%v", tc.url, r, err, tc.configured)
		}
	}
}

func TestPolicyBadEntries(t *testing.T) {
	for _, e := range []string{"*.", "*.a/b", "a b", "http://", "::1::"} {
		if _, err := NewPolicy(e); err == nil {
			t.Errorf("entry %q accepted", e)
		}
	}
	p, err := NewPolicy("", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(p.Hosts(), ","); got != "*.mts-link.ru,*.webinar.ru,mts-link.ru,webinar.ru" {
		t.Errorf("default hosts = %s", got)
	}
}

func TestPublicAddr(t *testing.T) {
	for s, want := range map[string]bool{
		"8.8.8.8": true, "95.213.4.5": true, "2a00:1450:4010::8a": true,
		"127.0.0.1": false, "10.1.2.3": false, "172.16.0.1": false, "192.168.1.1": false,
		"169.254.169.254": false, "0.0.0.0": false, "100.64.0.1": false, "224.0.0.1": false,
		"::1": false, "fe80::1": false, "fc00::1": false, "::": false, "::ffff:127.0.0.1": false,
		"::ffff:8.8.8.8": true, "64:ff9b::a00:1": false, "2002:a00:1::1": false, "255.255.255.255": false,
		"198.18.0.1": false,
	} {
		if got := publicAddr(netip.MustParseAddr(s)); got != want {
			t.Errorf("publicAddr(%s) = %v, want %v", s, got, want)
		}
	}
}

func TestRuleCheckAddr(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	if err := (rule{}).checkAddr("events-storage.webinar.ru", lo); err == nil || !errors.Is(err, ErrHostNotAllowed) ||
		!strings.Contains(err.Error(), "resolves to 127.0.0.1") {
		t.Errorf("default host on loopback: %v", err)
	}
	if err := (rule{configured: true}).checkAddr("fake", lo); err != nil {
		t.Errorf("configured host on loopback: %v", err)
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"https://x.webinar.ru/a.mp4?token=secret#frag": "https://x.webinar.ru/a.mp4?…",
		"https://u:p@x.webinar.ru/a":                   "https://x.webinar.ru/a",
		"https://x.webinar.ru/a":                       "https://x.webinar.ru/a",
	} {
		if got := redact(in); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}
