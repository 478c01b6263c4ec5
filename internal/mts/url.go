package mts

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// ErrBadURL is wrapped by every error for a string that is not an MTS Link
// recording URL.
var ErrBadURL = errors.New("not an MTS Link recording URL")

// ExpectedForm is the recording URL form named in parse errors.
const ExpectedForm = "https://my.mts-link.ru/{org}/{event}/record-new/{session}[/record-file/{file}]"

// APIBase is where the flow API of every real MTS Link host is asked
// (spec §2.1: the endpoints are hard-coded to my.mts-link.ru).
const APIBase = "https://my.mts-link.ru"

// Known MTS Link hosts, accepted without configuration. The choice, from
// spec §1.1 and the public downloaders it cites:
//   - my.mts-link.ru, the host of today's recording links;
//   - any org subdomain of mts-link.ru (hse.mts-link.ru, gw.mts-link.ru):
//     upstream rejects these, but they are the same platform with the same
//     ids, so the flow is asked of my.mts-link.ru;
//   - events.webinar.ru and my.webinar.ru, the pre-rebranding hosts of the
//     same links (old course pages still carry them).
//
// Every one of them is canonicalized to https://my.mts-link.ru, so the same
// recording pasted from two hosts is one job.
func isKnownHost(host string) bool {
	switch host {
	case "my.mts-link.ru", "mts-link.ru", "events.webinar.ru", "my.webinar.ru":
		return true
	}
	if sub, ok := strings.CutSuffix(host, ".mts-link.ru"); ok {
		return hostLabelRe.MatchString(sub)
	}
	return false
}

var (
	hostLabelRe = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	digitsRe    = regexp.MustCompile(`^[0-9]{1,20}$`)
	// An org segment is numeric or an alias such as "MTC" (spec §1.1, #7);
	// a leading segment ("j") has the same shape.
	segmentRe = regexp.MustCompile(`^[A-Za-z0-9_.~-]{1,64}$`)
	hex32Re   = regexp.MustCompile(`^[0-9a-fA-F]{32}$`)
	tokenRe   = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)
)

// Recording identifies one recording, parsed from a pasted URL.
type Recording struct {
	// URL is the canonical form: Base/{org}/{event}/record-new/{session}
	// [/record-file/{file}][?recordAccessToken=…]. The optional leading
	// segment, other query parameters and the fragment are dropped.
	URL string
	// Base is scheme://host[/prefix] of the API to ask: APIBase for every
	// known MTS host, or the configured base URL the link matched.
	Base string
	// Host is the host (with port, if any) of the URL as pasted, lowercased.
	Host  string
	Org   string
	Event string
	// EventSessionID is the id after record-new/.
	EventSessionID string
	// RecordFileID is the id after record-file/; empty for a quick meeting.
	RecordFileID string
	// AccessToken is the recordAccessToken of a public share link (a 32-hex
	// trailing path segment or the recordAccessToken query parameter).
	AccessToken string
}

// Parser parses recording URLs of the known MTS hosts and of extra base URLs
// (the fake server in tests, --mts-base-url in the CLI).
type Parser struct {
	bases []*url.URL
}

// NewParser returns a Parser that also accepts recording URLs under each of
// the given base URLs (scheme://host[:port][/prefix]). Empty strings are
// skipped.
func NewParser(extraBases ...string) (*Parser, error) {
	p := &Parser{}
	for _, b := range extraBases {
		b = strings.TrimSpace(b)
		if b == "" {
			continue
		}
		u, err := url.Parse(b)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return nil, fmt.Errorf("MTS base URL %q: want http(s)://host[:port][/prefix] with no query", b)
		}
		u.Host = strings.ToLower(u.Host)
		u.Path = strings.TrimRight(u.Path, "/")
		u.RawPath = ""
		p.bases = append(p.bases, u)
	}
	return p, nil
}

// ParseURL parses a recording URL, accepting the known MTS hosts and the
// given extra base URLs.
func ParseURL(raw string, extraBases ...string) (Recording, error) {
	p, err := NewParser(extraBases...)
	if err != nil {
		return Recording{}, err
	}
	return p.Parse(raw)
}

// Hosts returns the hosts (with port) of the configured extra base URLs.
func (p *Parser) Hosts() []string {
	var out []string
	for _, b := range p.bases {
		out = append(out, b.Host)
	}
	return out
}

func badURL(raw, why string) error {
	if len(raw) > 200 {
		raw = raw[:200] + "…"
	}
	return fmt.Errorf("%w: %q: %s; expected %s (a trailing /{32-hex token} or ?recordAccessToken= is allowed)",
		ErrBadURL, raw, why, ExpectedForm)
}

// Parse parses one recording URL. It accepts every form users paste:
// /{org}/{event}/record-new/{session}[/record-file/{file}], an optional
// leading segment (/j/…), a non-numeric org alias (/MTC/…), a trailing
// slash, any query string (recordAccessToken is kept, utm_* and the rest
// dropped), a fragment, a trailing 32-hex access-token segment, a missing
// scheme and http:// on a known host (upgraded to https).
func (p *Parser) Parse(raw string) (Recording, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return Recording{}, badURL(raw, "it is empty")
	}
	if len(s) > 2048 {
		return Recording{}, badURL(raw, "it is longer than 2048 characters")
	}
	schemeless := !strings.Contains(s, "://")
	if schemeless {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return Recording{}, badURL(raw, "it does not parse as a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return Recording{}, badURL(raw, fmt.Sprintf("scheme %q is not http(s)", u.Scheme))
	}
	if u.User != nil {
		return Recording{}, badURL(raw, "it carries a user name or password")
	}
	host := strings.ToLower(u.Host)
	rec := Recording{Host: host}
	path := u.Path
	scheme := u.Scheme
	if schemeless {
		scheme = "" // any configured base with this host
	}
	switch base := p.matchBase(scheme, host, path); {
	case base != nil:
		rec.Base = base.Scheme + "://" + base.Host + base.Path
		path = strings.TrimPrefix(path, base.Path)
	case isKnownHost(strings.TrimSuffix(host, ":443")):
		rec.Base = APIBase
	default:
		return Recording{}, badURL(raw, fmt.Sprintf("host %q is not an MTS Link host", host))
	}

	var segs []string
	for _, seg := range strings.Split(path, "/") {
		if seg != "" {
			segs = append(segs, seg)
		}
	}
	i := indexOf(segs, "record-new")
	if i < 0 {
		return Recording{}, badURL(raw, "the path has no record-new/{session}")
	}
	switch {
	case i < 2:
		return Recording{}, badURL(raw, "the path needs /{org}/{event}/ before record-new")
	case i > 3:
		return Recording{}, badURL(raw, "the path has more than one segment before /{org}/{event}/")
	case i == 3 && !segmentRe.MatchString(segs[0]):
		return Recording{}, badURL(raw, fmt.Sprintf("leading segment %q is not a plain word", segs[0]))
	}
	rec.Org, rec.Event = segs[i-2], segs[i-1]
	if !segmentRe.MatchString(rec.Org) {
		return Recording{}, badURL(raw, fmt.Sprintf("org %q is not a number or a plain alias", rec.Org))
	}
	if !digitsRe.MatchString(rec.Event) {
		return Recording{}, badURL(raw, fmt.Sprintf("event id %q is not a number", rec.Event))
	}
	rest := segs[i+1:]
	if len(rest) == 0 || !digitsRe.MatchString(rest[0]) {
		return Recording{}, badURL(raw, "record-new/ is not followed by a numeric session id")
	}
	rec.EventSessionID, rest = rest[0], rest[1:]
	if len(rest) > 0 && rest[0] == "record-file" {
		if len(rest) < 2 || !digitsRe.MatchString(rest[1]) {
			return Recording{}, badURL(raw, "record-file/ is not followed by a numeric file id")
		}
		rec.RecordFileID, rest = rest[1], rest[2:]
	}
	if len(rest) > 0 && hex32Re.MatchString(rest[0]) {
		rec.AccessToken, rest = strings.ToLower(rest[0]), rest[1:]
	}
	if len(rest) > 0 {
		return Recording{}, badURL(raw, fmt.Sprintf("unexpected %q after the session id", "/"+strings.Join(rest, "/")))
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return Recording{}, badURL(raw, "the query string does not parse")
	}
	if tok := q.Get("recordAccessToken"); tok != "" {
		if !tokenRe.MatchString(tok) {
			return Recording{}, badURL(raw, "recordAccessToken is not a token (letters, digits, - and _)")
		}
		if hex32Re.MatchString(tok) {
			tok = strings.ToLower(tok)
		}
		if rec.AccessToken != "" && rec.AccessToken != tok {
			return Recording{}, badURL(raw, "the access token in the path and recordAccessToken differ")
		}
		rec.AccessToken = tok
	}
	rec.URL = rec.Base + "/" + rec.Org + "/" + rec.Event + "/record-new/" + rec.EventSessionID
	if rec.RecordFileID != "" {
		rec.URL += "/record-file/" + rec.RecordFileID
	}
	if rec.AccessToken != "" {
		rec.URL += "?recordAccessToken=" + rec.AccessToken
	}
	return rec, nil
}

// matchBase returns the configured base the URL lies under, if any.
func (p *Parser) matchBase(scheme, host, path string) *url.URL {
	for _, b := range p.bases {
		if (scheme != "" && b.Scheme != scheme) || b.Host != host {
			continue
		}
		if b.Path == "" || path == b.Path || strings.HasPrefix(path, b.Path+"/") {
			return b
		}
	}
	return nil
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

// FlowURL is the flow endpoint of the recording (spec §2.1, both
// spellings), always with withoutCuts=true: the full log and the full
// duration (the Leenday fork's finding; with false the API drops events
// inside cut regions).
func (r Recording) FlowURL() string {
	var u string
	if r.RecordFileID == "" {
		u = r.Base + "/api/eventsessions/" + r.EventSessionID + "/record?withoutCuts=true"
	} else {
		u = r.Base + "/api/event-sessions/" + r.EventSessionID + "/record-files/" + r.RecordFileID + "/flow?withoutCuts=true"
	}
	if r.AccessToken != "" {
		u += "&recordAccessToken=" + url.QueryEscape(r.AccessToken)
	}
	return u
}

// String is the canonical URL.
func (r Recording) String() string { return r.URL }

// Redacted is the canonical URL with the access token blanked, for logs.
func (r Recording) Redacted() string {
	if r.AccessToken == "" {
		return r.URL
	}
	return strings.Replace(r.URL, r.AccessToken, "<redacted>", 1)
}
