package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"
)

// The archive report: archive-report.json next to the outputs, written
// after each recording ends and at the end (also on Ctrl-C and SIGTERM), and
// a table on stdout. The next run reads it to skip what is archived.

// archiveReportName is the report's file name in --out-dir.
const archiveReportName = "archive-report.json"

// The status of a recording in the report.
const (
	statusPending     = "pending"     // not started (only while running)
	statusDone        = "done"        // archived by this run
	statusSkipped     = "skipped"     // archived by an earlier run; the output passed the check
	statusFailed      = "failed"      // the job failed: see error and hint
	statusInvalid     = "invalid"     // the entry itself is wrong: see error and hint
	statusInterrupted = "interrupted" // the run stopped first: run it again
)

// archiveReport is archive-report.json.
type archiveReport struct {
	Course      string          `json:"course,omitempty"`
	Started     time.Time       `json:"started"`
	Finished    time.Time       `json:"finished,omitzero"`
	Interrupted bool            `json:"interrupted,omitempty"`
	Recordings  []archiveRecord `json:"recordings"`
}

// archiveRecord is what became of one recording.
type archiveRecord struct {
	Index  int    `json:"index"`
	URL    string `json:"url"` // secrets redacted
	Status string `json:"status"`
	Job    string `json:"job,omitempty"`
	Title  string `json:"title,omitempty"`
	// Output is the path of the MP4, relative to the report.
	Output   string   `json:"output,omitempty"`
	Duration float64  `json:"duration,omitempty"` // media seconds
	Size     int64    `json:"size,omitempty"`     // bytes
	Seconds  float64  `json:"seconds,omitempty"`  // wall time this run took for it
	Warnings []string `json:"warnings,omitempty"`
	Error    string   `json:"error,omitempty"`
	Hint     string   `json:"hint,omitempty"` // what to do about the error
}

// ended counts the recordings that are no longer pending.
func (r *archiveReport) ended() int {
	n := 0
	for _, rec := range r.Recordings {
		if rec.Status != statusPending {
			n++
		}
	}
	return n
}

// write writes the report atomically into dir.
func (r *archiveReport) write(dir string) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".archive-report-*.json")
	if err != nil {
		return fmt.Errorf("writing the archive report: %w", err)
	}
	_, werr := tmp.Write(append(data, '\n'))
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing the archive report: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, archiveReportName)); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing the archive report: %w", err)
	}
	return nil
}

// loadArchiveReport reads the last run's report in dir, by URL; none (or an
// unreadable one, which is said) is an empty map.
func loadArchiveReport(dir string, log zerolog.Logger) map[string]archiveRecord {
	out := map[string]archiveRecord{}
	data, err := os.ReadFile(filepath.Join(dir, archiveReportName))
	if err != nil {
		return out
	}
	var r archiveReport
	if err := json.Unmarshal(data, &r); err != nil {
		log.Warn().Err(err).Msg("the last archive report is unreadable: every recording is archived again")
		return out
	}
	for _, rec := range r.Recordings {
		out[rec.URL] = rec
	}
	return out
}

// printTable prints one line per recording.
func (r *archiveReport) printTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tSTATUS\tOUTPUT / ERROR\tDURATION\tTOOK")
	for _, rec := range r.Recordings {
		what := rec.Output
		if rec.Error != "" {
			what = oneLineText(rec.Error, 100)
		}
		dur, took := "", ""
		if rec.Duration > 0 {
			dur = fmtSeconds(rec.Duration)
		}
		if rec.Seconds > 0 {
			took = (time.Duration(rec.Seconds*10) * time.Second / 10).String()
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", rec.Index, rec.Status, what, dur, took)
		for _, wn := range rec.Warnings {
			fmt.Fprintf(tw, "\t\twarning: %s\t\t\n", oneLineText(wn, 100))
		}
		if rec.Hint != "" {
			fmt.Fprintf(tw, "\t\t→ %s\t\t\n", rec.Hint)
		}
	}
	tw.Flush()
}

// verdict is the exit status: nil when every recording is archived.
func (r *archiveReport) verdict(ctx context.Context) error {
	missing := 0
	for _, rec := range r.Recordings {
		if rec.Status != statusDone && rec.Status != statusSkipped {
			missing++
		}
	}
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("interrupted: %d of %d recordings not archived yet; run the same command again to resume (%s says which)",
			missing, len(r.Recordings), archiveReportName)
	case missing > 0:
		return fmt.Errorf("%d of %d recordings were not archived: see %s for why and what to do", missing, len(r.Recordings), archiveReportName)
	}
	return nil
}

// oneLineText is s on one line, cut to n characters.
func oneLineText(s string, n int) string {
	r := []rune(s)
	for i, c := range r {
		if c == '\n' || c == '\r' || c == '\t' {
			r[i] = ' '
		}
	}
	if len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return string(r)
}
