package blob

import (
	"encoding/json"
	"os"
	"time"
)

// sidecar is the JSON kept in meta/<key> next to an object's file. It names
// the size and modification time of the file it describes: a sidecar that
// does not match the file (a crash between the two renames, or a concurrent
// Put of the same key) is ignored rather than attached to the wrong bytes.
type sidecar struct {
	Size        int64             `json:"size"`
	ModTimeNS   int64             `json:"mod_time_ns"`
	ContentType string            `json:"content_type,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
}

// writeSidecar stores sc for key (temp file + rename, like objects). It is
// best effort: the object is already published, and a missing or stale
// sidecar only means no metadata.
func (l *Local) writeSidecar(key string, sc sidecar) {
	dst, err := l.resolve(l.meta, key)
	if err != nil {
		return
	}
	data, err := json.Marshal(sc)
	if err != nil {
		return
	}
	f, err := os.CreateTemp(l.tmp, "meta-*")
	if err != nil {
		return
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = renameInto(f.Name(), dst)
	}
	if err != nil {
		os.Remove(f.Name())
	}
}

// info builds the Info of key's file fi, with the sidecar's content type and
// metadata when the sidecar matches the file.
func (l *Local) info(key string, fi os.FileInfo) Info {
	info := Info{Key: key, Size: fi.Size(), ModTime: fi.ModTime(), ContentType: DefaultContentType}
	p, err := l.resolve(l.meta, key)
	if err != nil {
		return info
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return info
	}
	var sc sidecar
	if json.Unmarshal(data, &sc) != nil || sc.Size != fi.Size() || !time.Unix(0, sc.ModTimeNS).Equal(fi.ModTime()) {
		return info
	}
	info.ContentType = contentTypeOr(sc.ContentType)
	info.Metadata = cloneMetadata(sc.Metadata)
	return info
}
