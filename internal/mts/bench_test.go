package mts_test

import (
	"testing"

	"github.com/mtsfarm/mtsfarm/internal/mts"
	"github.com/mtsfarm/mtsfarm/internal/mts/mtstest"
)

func BenchmarkParseURL(b *testing.B) {
	p, err := mts.NewParser("http://127.0.0.1:8089")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := p.Parse("https://my.mts-link.ru/j/MTC/99405140/record-new/97138053/record-file/456?utm_source=x&recordAccessToken=0123456789abcdef0123456789abcdef"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeFlow decodes the flow of the 40-participant scenario.
func BenchmarkDecodeFlow(b *testing.B) {
	sc, err := mtstest.Bundled("audio-40.json")
	if err != nil {
		b.Fatal(err)
	}
	s := mtstest.Start(b, sc)
	doc := s.Flow(0, true)
	b.SetBytes(int64(len(doc)))
	for b.Loop() {
		f, err := mts.DecodeFlow(doc)
		if err != nil || len(f.Events) < 100 {
			b.Fatal(err)
		}
	}
}
