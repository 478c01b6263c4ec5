package finalize

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkFinalize10Min finalizes a 10-minute job (two 5-minute units,
// 320x180) with 0, 10 and 40 audio-only tracks (2 minutes each, spread over the
// job). Besides ns/op it reports the seconds spent per stage and, where
// /usr/bin/time exists, the peak RSS of the largest ffmpeg process. Run it
// briefly: go test ./coordinator/finalize -run '^$' -bench Finalize10Min -benchtime 1x
func BenchmarkFinalize10Min(b *testing.B) {
	r := newFFmpeg(b)
	dir := b.TempDir()
	units := []UnitFiles{
		makeUnit(b, r, dir, "u0", unitSpec{secs: 300, color: "red", freq: 440, preset: "ultrafast"}),
		makeUnit(b, r, dir, "u1", unitSpec{secs: 300, color: "blue", freq: 660, preset: "veryfast"}),
	}
	var tracks []AudioTrackFile
	for i := 0; i < 40; i++ {
		path := filepath.Join(dir, fmt.Sprintf("t%02d.m4a", i))
		toneFile(b, r, path, 300+50*i, 0, 120, 48000, 1, "-c:a", "aac", "-b:a", "64k")
		tracks = append(tracks, AudioTrackFile{Path: path, Start: 12 * float64(i)})
	}
	rssLog := filepath.Join(dir, "rss.log")
	if timeBin, err := exec.LookPath("/usr/bin/time"); err == nil {
		ff, err := exec.LookPath("ffmpeg")
		if err != nil {
			b.Fatal(err)
		}
		wrapper := filepath.Join(dir, "ffmpeg-rss")
		// One line per ffmpeg process: peak RSS (KiB), user and system CPU
		// seconds, and the output (the last argument).
		script := fmt.Sprintf("#!/bin/sh\nfor out; do :; done\nexec %s -a -o %s -f \"%%M %%U %%S $out\" %s \"$@\"\n",
			timeBin, rssLog, ff)
		if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
			b.Fatal(err)
		}
		r.FFmpeg = wrapper
	}
	for _, n := range []int{0, 10, 40} {
		b.Run(fmt.Sprintf("tracks=%d", n), func(b *testing.B) {
			in := baseInput(units, 600, b.TempDir())
			in.Tracks = tracks[:n]
			stages := map[string]time.Duration{}
			os.Remove(rssLog)
			for b.Loop() {
				last, lastAt := "", time.Now()
				res, err := Run(context.Background(), r, in, func(stage string, _ float64) {
					now := time.Now()
					if last != "" {
						stages[last] += now.Sub(lastAt)
					}
					last, lastAt = stage, now
				})
				if err != nil {
					b.Fatal(err)
				}
				if res.Mixed != n {
					b.Fatalf("mixed %d tracks, want %d", res.Mixed, n)
				}
			}
			for _, s := range []string{"probe", "mix", "mux", "check"} {
				b.ReportMetric(stages[s].Seconds()/float64(b.N), s+"-s/op")
			}
			if kb, cpu := ffmpegUsage(b, rssLog); kb > 0 {
				b.ReportMetric(float64(kb)/1024, "ffmpeg-peak-MiB")
				b.ReportMetric(cpu/float64(b.N), "ffmpeg-cpu-s/op")
			}
		})
	}
}

// ffmpegUsage reads the lines the /usr/bin/time wrapper appended to path:
// the largest peak RSS (KiB) and the CPU seconds of all processes. With -v,
// it logs each process.
func ffmpegUsage(b *testing.B, path string) (peakKiB int, cpu float64) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var kb int
		var user, sys float64
		var out string
		if n, _ := fmt.Sscanf(sc.Text(), "%d %f %f %s", &kb, &user, &sys, &out); n < 3 {
			continue
		}
		peakKiB = max(peakKiB, kb)
		cpu += user + sys
		b.Logf("ffmpeg → %-24s cpu %6.2f s  peak %4d MiB", filepath.Base(out), user+sys, kb/1024)
	}
	return peakKiB, cpu
}
