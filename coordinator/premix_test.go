package coordinator

import "testing"

// A premix is found only for exactly the tracks, timeline and audio format
// it was made from: a retry that fetched another track, or a coordinator
// with other audio settings, mixes anew.
func TestPremixKeysNameWhatWasMixed(t *testing.T) {
	tracks := []premixTrack{{Key: "media/a.m4a", Start: 1, Duration: 3}, {Key: "media/b.m4a", Start: 2.5, Offset: 0.5}}
	a, side := premixKeys("job1", tracks, 40, 48000, 1)
	if a2, side2 := premixKeys("job1", append([]premixTrack(nil), tracks...), 40, 48000, 1); a2 != a || side2 != side {
		t.Errorf("the same input names %s and %s", a, a2)
	}
	if a[len(a)-5:] != ".flac" || side[len(side)-5:] != ".json" || a[:len("jobs/job1/audio/premix-")] != "jobs/job1/audio/premix-" {
		t.Errorf("premix keys %s, %s: want jobs/job1/audio/premix-<hash>.flac and .json", a, side)
	}
	moved := append([]premixTrack(nil), tracks...)
	moved[1].Start = 2.6
	for name, k := range map[string]string{
		"a track moved":    first(premixKeys("job1", moved, 40, 48000, 1)),
		"a track fewer":    first(premixKeys("job1", tracks[:1], 40, 48000, 1)),
		"another duration": first(premixKeys("job1", tracks, 41, 48000, 1)),
		"another rate":     first(premixKeys("job1", tracks, 40, 44100, 1)),
		"stereo":           first(premixKeys("job1", tracks, 40, 48000, 2)),
		"another job":      first(premixKeys("job2", tracks, 40, 48000, 1)),
	} {
		if k == a {
			t.Errorf("%s: the premix key stays %s", name, k)
		}
	}
}

func first(a, _ string) string { return a }
