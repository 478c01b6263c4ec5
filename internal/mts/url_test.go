package mts

import (
	"errors"
	"strings"
	"testing"
)

const tok = "0123456789abcdef0123456789abcdef"

func TestParseURLForms(t *testing.T) {
	fake := "http://127.0.0.1:8089"
	cases := []struct {
		name, in string
		want     Recording
	}{
		{"regular", "https://my.mts-link.ru/1/2/record-new/123/record-file/456",
			Recording{URL: "https://my.mts-link.ru/1/2/record-new/123/record-file/456", Base: APIBase,
				Host: "my.mts-link.ru", Org: "1", Event: "2", EventSessionID: "123", RecordFileID: "456"}},
		{"quick meeting", "https://my.mts-link.ru/1/2/record-new/123",
			Recording{URL: "https://my.mts-link.ru/1/2/record-new/123", Base: APIBase,
				Host: "my.mts-link.ru", Org: "1", Event: "2", EventSessionID: "123"}},
		{"leading segment j", "https://my.mts-link.ru/j/1/2/record-new/123",
			Recording{URL: "https://my.mts-link.ru/1/2/record-new/123", Base: APIBase,
				Host: "my.mts-link.ru", Org: "1", Event: "2", EventSessionID: "123"}},
		{"org alias", "https://my.mts-link.ru/MTC/99405140/record-new/97138053",
			Recording{URL: "https://my.mts-link.ru/MTC/99405140/record-new/97138053", Base: APIBase,
				Host: "my.mts-link.ru", Org: "MTC", Event: "99405140", EventSessionID: "97138053"}},
		{"trailing slash", "https://my.mts-link.ru/1/2/record-new/123/record-file/456/",
			Recording{URL: "https://my.mts-link.ru/1/2/record-new/123/record-file/456", Base: APIBase,
				Host: "my.mts-link.ru", Org: "1", Event: "2", EventSessionID: "123", RecordFileID: "456"}},
		{"utm query and fragment dropped", "https://my.mts-link.ru/1/2/record-new/123?utm_source=moodle&utm_medium=x#t=10",
			Recording{URL: "https://my.mts-link.ru/1/2/record-new/123", Base: APIBase,
				Host: "my.mts-link.ru", Org: "1", Event: "2", EventSessionID: "123"}},
		{"token segment", "https://my.mts-link.ru/1/2/record-new/123/" + tok,
			Recording{URL: "https://my.mts-link.ru/1/2/record-new/123?recordAccessToken=" + tok, Base: APIBase,
				Host: "my.mts-link.ru", Org: "1", Event: "2", EventSessionID: "123", AccessToken: tok}},
		{"token segment after file, upper hex", "https://my.mts-link.ru/1/2/record-new/123/record-file/456/" + strings.ToUpper(tok) + "/",
			Recording{URL: "https://my.mts-link.ru/1/2/record-new/123/record-file/456?recordAccessToken=" + tok, Base: APIBase,
				Host: "my.mts-link.ru", Org: "1", Event: "2", EventSessionID: "123", RecordFileID: "456", AccessToken: tok}},
		{"token query", "https://my.mts-link.ru/1/2/record-new/123/record-file/456?utm_campaign=a&recordAccessToken=" + tok,
			Recording{URL: "https://my.mts-link.ru/1/2/record-new/123/record-file/456?recordAccessToken=" + tok, Base: APIBase,
				Host: "my.mts-link.ru", Org: "1", Event: "2", EventSessionID: "123", RecordFileID: "456", AccessToken: tok}},
		{"token in both, same", "https://my.mts-link.ru/1/2/record-new/123/" + tok + "?recordAccessToken=" + tok,
			Recording{URL: "https://my.mts-link.ru/1/2/record-new/123?recordAccessToken=" + tok, Base: APIBase,
				Host: "my.mts-link.ru", Org: "1", Event: "2", EventSessionID: "123", AccessToken: tok}},
		{"spaces, upper host, http, port 443", "  http://MY.MTS-LINK.RU:443/1/2/record-new/123\n",
			Recording{URL: "https://my.mts-link.ru/1/2/record-new/123", Base: APIBase,
				Host: "my.mts-link.ru:443", Org: "1", Event: "2", EventSessionID: "123"}},
		{"no scheme", "my.mts-link.ru/1/2/record-new/123",
			Recording{URL: "https://my.mts-link.ru/1/2/record-new/123", Base: APIBase,
				Host: "my.mts-link.ru", Org: "1", Event: "2", EventSessionID: "123"}},
		{"org subdomain", "https://hse.mts-link.ru/1/2/record-new/123/record-file/456",
			Recording{URL: "https://my.mts-link.ru/1/2/record-new/123/record-file/456", Base: APIBase,
				Host: "hse.mts-link.ru", Org: "1", Event: "2", EventSessionID: "123", RecordFileID: "456"}},
		{"old host", "https://events.webinar.ru/1/2/record-new/123",
			Recording{URL: "https://my.mts-link.ru/1/2/record-new/123", Base: APIBase,
				Host: "events.webinar.ru", Org: "1", Event: "2", EventSessionID: "123"}},
		{"double slashes", "https://my.mts-link.ru//1//2/record-new//123",
			Recording{URL: "https://my.mts-link.ru/1/2/record-new/123", Base: APIBase,
				Host: "my.mts-link.ru", Org: "1", Event: "2", EventSessionID: "123"}},
		{"configured base", fake + "/1/2/record-new/123/record-file/456",
			Recording{URL: fake + "/1/2/record-new/123/record-file/456", Base: fake,
				Host: "127.0.0.1:8089", Org: "1", Event: "2", EventSessionID: "123", RecordFileID: "456"}},
		{"configured base without scheme", "127.0.0.1:8089/j/1/2/record-new/123",
			Recording{URL: fake + "/1/2/record-new/123", Base: fake,
				Host: "127.0.0.1:8089", Org: "1", Event: "2", EventSessionID: "123"}},
		{"configured base with prefix", "http://fake.test/mts/1/2/record-new/123",
			Recording{URL: "http://fake.test/mts/1/2/record-new/123", Base: "http://fake.test/mts",
				Host: "fake.test", Org: "1", Event: "2", EventSessionID: "123"}},
	}
	p, err := NewParser(fake, "", "http://fake.test/mts/")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := p.Parse(c.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", c.in, err)
			}
			if got != c.want {
				t.Fatalf("Parse(%q)\n got %+v\nwant %+v", c.in, got, c.want)
			}
			again, err := p.Parse(got.URL)
			if err != nil || again.URL != got.URL {
				t.Fatalf("canonical URL %q does not re-parse to itself: %+v %v", got.URL, again, err)
			}
		})
	}
}

func TestParseURLErrors(t *testing.T) {
	cases := []struct{ name, in, why string }{
		{"empty", "   ", "empty"},
		{"other host", "https://example.com/1/2/record-new/123", `host "example.com" is not an MTS Link host`},
		{"look-alike host", "https://my.mts-link.ru.evil.com/1/2/record-new/123", "not an MTS Link host"},
		{"port on real host", "https://my.mts-link.ru:8443/1/2/record-new/123", "not an MTS Link host"},
		{"unconfigured loopback", "http://127.0.0.1:9/1/2/record-new/123", "not an MTS Link host"},
		{"ftp", "ftp://my.mts-link.ru/1/2/record-new/123", `scheme "ftp"`},
		{"userinfo", "https://u:p@my.mts-link.ru/1/2/record-new/123", "user name or password"},
		{"no record-new", "https://my.mts-link.ru/1/2/record/123", "no record-new"},
		{"one segment before", "https://my.mts-link.ru/2/record-new/123", "needs /{org}/{event}/"},
		{"too many before", "https://my.mts-link.ru/a/b/1/2/record-new/123", "more than one segment"},
		{"event not numeric", "https://my.mts-link.ru/1/abc/record-new/123", `event id "abc"`},
		{"session missing", "https://my.mts-link.ru/1/2/record-new/", "numeric session id"},
		{"session not numeric", "https://my.mts-link.ru/1/2/record-new/12a", "numeric session id"},
		{"file missing", "https://my.mts-link.ru/1/2/record-new/123/record-file", "numeric file id"},
		{"file not numeric", "https://my.mts-link.ru/1/2/record-new/123/record-file/x", "numeric file id"},
		{"junk after", "https://my.mts-link.ru/1/2/record-new/123/record-file/456/extra", `unexpected "/extra"`},
		{"short token", "https://my.mts-link.ru/1/2/record-new/123/0123abcd", `unexpected "/0123abcd"`},
		{"bad token query", "https://my.mts-link.ru/1/2/record-new/123?recordAccessToken=a%20b", "recordAccessToken is not a token"},
		{"tokens differ", "https://my.mts-link.ru/1/2/record-new/123/" + tok + "?recordAccessToken=ffffffffffffffffffffffffffffffff", "differ"},
		{"org with slash-ish junk", "https://my.mts-link.ru/j/%3Cx%3E/2/record-new/123", "org \"<x>\""},
		{"leading junk", "https://my.mts-link.ru/%3C/1/2/record-new/123", "leading segment"},
		{"media URL", "https://events-storage.webinar.ru/api-storage/files/wowza/2026/03/24/a.mp4", "not an MTS Link host"},
		{"not a URL", "https://my.mts-link.ru/%zz", "does not parse"},
		{"huge", "https://my.mts-link.ru/" + strings.Repeat("a", 3000), "longer than 2048"},
		{"session id too long", "https://my.mts-link.ru/1/2/record-new/" + strings.Repeat("9", 21), "numeric session id"},
	}
	p, err := NewParser("http://127.0.0.1:8089")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := p.Parse(c.in)
			if err == nil {
				t.Fatalf("Parse(%q) accepted it", c.in)
			}
			if !errors.Is(err, ErrBadURL) {
				t.Fatalf("error does not wrap ErrBadURL: %v", err)
			}
			if !strings.Contains(err.Error(), c.why) || !strings.Contains(err.Error(), ExpectedForm) {
				t.Fatalf("error %q should say %q and show the expected form", err, c.why)
			}
		})
	}
}

func TestNewParserRejectsBadBases(t *testing.T) {
	for _, b := range []string{"127.0.0.1:8080", "ftp://x", "http://", "http://h/?q=1", "http://u@h"} {
		if _, err := NewParser(b); err == nil || !strings.Contains(err.Error(), "MTS base URL") {
			t.Errorf("NewParser(%q) = %v, want a base URL error", b, err)
		}
		if _, err := ParseURL("https://my.mts-link.ru/1/2/record-new/3", b); err == nil {
			t.Errorf("ParseURL with base %q did not fail", b)
		}
	}
	p, err := NewParser("http://127.0.0.1:8089/", "https://Fake.Test")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(p.Hosts(), ","); got != "127.0.0.1:8089,fake.test" {
		t.Fatalf("Hosts = %q", got)
	}
}

func TestFlowURL(t *testing.T) {
	cases := []struct{ in, want string }{
		{"https://my.mts-link.ru/1/2/record-new/123",
			"https://my.mts-link.ru/api/eventsessions/123/record?withoutCuts=true"},
		{"https://hse.mts-link.ru/j/1/2/record-new/123/record-file/456",
			"https://my.mts-link.ru/api/event-sessions/123/record-files/456/flow?withoutCuts=true"},
		{"https://my.mts-link.ru/1/2/record-new/123/record-file/456/" + tok,
			"https://my.mts-link.ru/api/event-sessions/123/record-files/456/flow?withoutCuts=true&recordAccessToken=" + tok},
		{"http://127.0.0.1:8089/1/2/record-new/123?recordAccessToken=" + tok,
			"http://127.0.0.1:8089/api/eventsessions/123/record?withoutCuts=true&recordAccessToken=" + tok},
	}
	for _, c := range cases {
		r, err := ParseURL(c.in, "http://127.0.0.1:8089")
		if err != nil {
			t.Fatal(err)
		}
		if got := r.FlowURL(); got != c.want {
			t.Errorf("FlowURL(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	r, _ := ParseURL("https://my.mts-link.ru/1/2/record-new/123/" + tok)
	if strings.Contains(r.Redacted(), tok) || !strings.Contains(r.Redacted(), "<redacted>") || r.String() != r.URL {
		t.Fatalf("Redacted = %q", r.Redacted())
	}
}

func FuzzParseURL(f *testing.F) {
	for _, s := range []string{
		"https://my.mts-link.ru/1/2/record-new/123/record-file/456",
		"https://my.mts-link.ru/j/MTC/2/record-new/123/?utm_source=x",
		"https://my.mts-link.ru/1/2/record-new/123/" + tok,
		"http://127.0.0.1:8089/1/2/record-new/1?recordAccessToken=" + tok,
		"events.webinar.ru/1/2/record-new/5",
		"https://hse.mts-link.ru//1/2/record-new/5#x",
	} {
		f.Add(s)
	}
	p, err := NewParser("http://127.0.0.1:8089")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := p.Parse(s)
		if err != nil {
			if !errors.Is(err, ErrBadURL) {
				t.Fatalf("error does not wrap ErrBadURL: %v", err)
			}
			return
		}
		if !digitsRe.MatchString(r.EventSessionID) || !digitsRe.MatchString(r.Event) ||
			(r.RecordFileID != "" && !digitsRe.MatchString(r.RecordFileID)) || !segmentRe.MatchString(r.Org) {
			t.Fatalf("accepted ids are not clean: %+v", r)
		}
		again, err := p.Parse(r.URL)
		if err != nil || again.URL != r.URL || again.EventSessionID != r.EventSessionID ||
			again.RecordFileID != r.RecordFileID || again.AccessToken != r.AccessToken || again.Base != r.Base {
			t.Fatalf("canonical %q of %q re-parses to %+v, %v", r.URL, s, again, err)
		}
		if !strings.HasPrefix(r.FlowURL(), r.Base+"/api/") || !strings.Contains(r.FlowURL(), "withoutCuts=true") {
			t.Fatalf("flow URL %q", r.FlowURL())
		}
	})
}
