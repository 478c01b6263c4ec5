package mtstest

import (
	"context"
	"io"
	"net/http"
	"time"
)

func (s *Server) genError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return // the client went away
	}
	s.log.Error().Err(err).Str("path", r.URL.Path).Msg("generating media")
	http.Error(w, "fake MTS server could not generate media: "+err.Error(), http.StatusInternalServerError)
}

// truncateAt is where a corrupt_once response ends: two thirds of the way
// to the moov box (which ffmpeg writes last), so the file has no moov.
func truncateAt(content io.ReadSeeker, size int64) int64 {
	moov := size
	var off int64
	hdr := make([]byte, 16)
	for off+8 <= size {
		if _, err := content.Seek(off, io.SeekStart); err != nil {
			break
		}
		if _, err := io.ReadFull(content, hdr[:8]); err != nil {
			break
		}
		n := int64(uint32(hdr[0])<<24 | uint32(hdr[1])<<16 | uint32(hdr[2])<<8 | uint32(hdr[3]))
		if n == 1 {
			if _, err := io.ReadFull(content, hdr[8:16]); err != nil {
				break
			}
			n = 0
			for _, b := range hdr[8:16] {
				n = n<<8 | int64(b)
			}
		}
		if string(hdr[4:8]) == "moov" {
			moov = off
			break
		}
		if n < 8 {
			break
		}
		off += n
	}
	content.Seek(0, io.SeekStart)
	return max(moov*2/3, 1)
}

// readerAt adapts a ReadSeeker (an *os.File or *bytes.Reader, both
// ReaderAt already) for a SectionReader.
type readerAt struct{ rs io.ReadSeeker }

func (r readerAt) ReadAt(p []byte, off int64) (int, error) {
	if ra, ok := r.rs.(io.ReaderAt); ok {
		return ra.ReadAt(p, off)
	}
	if _, err := r.rs.Seek(off, io.SeekStart); err != nil {
		return 0, err
	}
	return io.ReadFull(r.rs, p)
}

// logWriter records the status and body size, throttles (slow) and drops
// the connection after abortAfter body bytes (reset_once).
type logWriter struct {
	http.ResponseWriter
	status     int
	n          int64
	fault      string
	rate       int
	ctx        context.Context
	abortAfter int64
}

func (w *logWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *logWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	written := 0
	for len(p) > 0 {
		piece := p
		if w.rate > 0 {
			// Push out what was written, then wait for this piece's share
			// of time before writing it. The last piece stays buffered
			// until the handler returns, so the request log has the entry
			// before the client has the last byte.
			piece = p[:min(len(p), max(w.rate/20, 512))]
			http.NewResponseController(w.ResponseWriter).Flush()
			t := time.NewTimer(time.Duration(float64(len(piece)) / float64(w.rate) * float64(time.Second)))
			select {
			case <-w.ctx.Done():
				t.Stop()
				return written, w.ctx.Err()
			case <-t.C:
			}
		}
		if w.abortAfter > 0 && w.n+int64(len(piece)) >= w.abortAfter {
			n, _ := w.ResponseWriter.Write(piece[:w.abortAfter-w.n])
			w.n += int64(n)
			w.abort()
		}
		n, err := w.ResponseWriter.Write(piece)
		w.n += int64(n)
		written += n
		if err != nil {
			return written, err
		}
		p = p[len(piece):]
	}
	return written, nil
}

// abort flushes what was written and drops the connection.
func (w *logWriter) abort() {
	http.NewResponseController(w.ResponseWriter).Flush()
	panic(http.ErrAbortHandler)
}

func (w *logWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
