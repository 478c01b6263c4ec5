package retry

import (
	"context"
	"errors"
	"fmt"
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
	b := Backoff{Base: 100 * time.Millisecond, Max: time.Second}
	for attempt, hi := range map[int]time.Duration{1: 100, 2: 200, 3: 400, 4: 800, 5: 1000, 30: 1000, 40: 1000} {
		hi *= time.Millisecond
		for range 50 {
			if d := b.Delay(attempt); d < hi/2 || d >= hi {
				t.Fatalf("Delay(%d) = %v, want in [%v, %v)", attempt, d, hi/2, hi)
			}
		}
	}
	if d := (Backoff{}).Delay(3); d != 0 {
		t.Fatalf("zero delays: %v", d)
	}
}

func TestBackoffUp(t *testing.T) {
	b := Backoff{Base: 2 * time.Second, Max: 60 * time.Second, Up: 0.25}
	for attempt, want := range map[int][2]time.Duration{
		1: {2 * time.Second, 2500 * time.Millisecond}, 3: {8 * time.Second, 10 * time.Second},
		6: {60 * time.Second, 60 * time.Second}, 50: {60 * time.Second, 60 * time.Second},
	} {
		for range 100 {
			if d := b.Delay(attempt); d < want[0] || d > want[1] {
				t.Fatalf("Delay(%d) = %s, want within %s..%s", attempt, d, want[0], want[1])
			}
		}
	}
}

func TestBetweenAndPermanent(t *testing.T) {
	for range 100 {
		if d := Between(time.Second, 3*time.Second); d < time.Second || d >= 3*time.Second {
			t.Fatalf("Between = %s", d)
		}
	}
	base := errors.New("bad input")
	err := fmt.Errorf("task 3: %w", Permanent(base))
	if !IsPermanent(err) || !errors.Is(err, base) || IsPermanent(base) || Permanent(nil) != nil {
		t.Fatalf("Permanent/IsPermanent: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Sleep(ctx, time.Hour) == nil || Sleep(context.Background(), time.Millisecond) != nil {
		t.Fatal("Sleep ignores its context or its duration")
	}
}
