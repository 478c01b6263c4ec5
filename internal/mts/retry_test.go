package mts

import (
	"net/http"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 24, 10, 0, 0, 0, time.UTC)
	cases := map[string]time.Duration{
		"": 0, "3": 3 * time.Second, "5": 5 * time.Second, " 0 ": 0, "-5": 0, "-3": 0, "soon": 0,
		"999999": 86400 * time.Second,
		now.Add(90 * time.Second).Format(http.TimeFormat): 90 * time.Second,
		now.Add(-time.Hour).Format(http.TimeFormat):       0,
	}
	for in, want := range cases {
		if got := ParseRetryAfter(in, now); got != want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestBackoff(t *testing.T) {
	c := &Client{BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second}
	b := Backoff{Base: 100 * time.Millisecond, Max: time.Second}
	for attempt, hi := range map[int]time.Duration{1: 100, 2: 200, 3: 400, 4: 800, 5: 1000, 30: 1000, 40: 1000} {
		hi *= time.Millisecond
		for range 50 {
			if d := c.backoff(attempt); d < hi/2 || d >= hi {
				t.Fatalf("backoff(%d) = %v, want in [%v, %v)", attempt, d, hi/2, hi)
			}
			if d := b.Delay(attempt); d < hi/2 || d >= hi {
				t.Fatalf("Delay(%d) = %v, want in [%v, %v)", attempt, d, hi/2, hi)
			}
		}
	}
	if d := (&Client{}).backoff(3); d != 0 {
		t.Fatalf("zero delays: %v", d)
	}
}
