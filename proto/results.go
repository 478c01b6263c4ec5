package proto

// Fetch result statuses.
const (
	FetchStored  = "stored"  // the object is stored and validated
	FetchInvalid = "invalid" // fetched but undecodable after retries: plan the source as absent
	FetchFailed  = "failed"  // could not fetch (403, 404, disallowed host, retries exhausted)
)

// FetchResult is published on ResultSubject(job, ResultFetch).
type FetchResult struct {
	Type       string     `json:"type"`
	Job        string     `json:"job"`
	Kind       string     `json:"kind"`
	Index      int        `json:"index"`
	Generation int        `json:"generation"`
	Worker     string     `json:"worker"`
	Status     string     `json:"status"`
	Key        string     `json:"key,omitempty"`
	Media      *MediaInfo `json:"media,omitempty"`
	Bytes      int64      `json:"bytes,omitempty"`
	// Cached is true when the object was already stored and nothing was
	// downloaded.
	Cached   bool    `json:"cached,omitempty"`
	Attempts int     `json:"attempts,omitempty"`
	Elapsed  float64 `json:"elapsed,omitempty"`
	// Error is a message the user can act on (Status failed or invalid).
	Error string `json:"error,omitempty"`
	// Title and Duration are set by a resolve result.
	Title    string  `json:"title,omitempty"`
	Duration float64 `json:"duration,omitempty"`
}

func (FetchResult) MessageType() string { return TypeFetchResult }

func (r FetchResult) Validate() error {
	if err := checkType(r.Type, TypeFetchResult); err != nil {
		return err
	}
	if err := checkJobID(r.Job); err != nil {
		return err
	}
	switch r.Status {
	case FetchStored:
		if err := checkKeyField("key", r.Key); err != nil {
			return err
		}
	case FetchInvalid, FetchFailed:
		if r.Error == "" {
			return invalidf("a %s fetch result needs an error", r.Status)
		}
	default:
		return invalidf("unknown fetch status %q", r.Status)
	}
	return nonNegative("duration", r.Duration)
}

// Unit result statuses.
const (
	UnitDone   = "done"
	UnitFailed = "failed"
)

// UnitResult is published on ResultSubject(job, ResultRender).
type UnitResult struct {
	Type       string `json:"type"`
	Job        string `json:"job"`
	Index      int    `json:"index"`
	Generation int    `json:"generation"`
	Worker     string `json:"worker"`
	Status     string `json:"status"`
	Encoder    string `json:"encoder,omitempty"`
	VideoKey   string `json:"video_key,omitempty"`
	AudioKey   string `json:"audio_key,omitempty"`
	// Duration is the probed duration of the rendered video.
	Duration float64 `json:"duration,omitempty"`
	Elapsed  float64 `json:"elapsed,omitempty"`
	Error    string  `json:"error,omitempty"`
}

func (UnitResult) MessageType() string { return TypeUnitResult }

func (r UnitResult) Validate() error {
	if err := checkType(r.Type, TypeUnitResult); err != nil {
		return err
	}
	if err := checkJobID(r.Job); err != nil {
		return err
	}
	if r.Worker == "" {
		return invalidf("unit result has no worker")
	}
	switch r.Status {
	case UnitDone:
		if err := checkKeyField("video_key", r.VideoKey); err != nil {
			return err
		}
		if err := checkKeyField("audio_key", r.AudioKey); err != nil {
			return err
		}
	case UnitFailed:
		if r.Error == "" {
			return invalidf("a failed unit result needs an error")
		}
	default:
		return invalidf("unknown unit status %q", r.Status)
	}
	return nonNegative("duration", r.Duration)
}
