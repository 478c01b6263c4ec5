package proto

// The finalize task.

// FinalizeTask is published on FinalizeSubject(job) once every unit is
// stored; any coordinator replica takes it.
type FinalizeTask struct {
	Type       string `json:"type"`
	Job        string `json:"job"`
	Generation int    `json:"generation"`
}

func (FinalizeTask) MessageType() string { return TypeFinalizeTask }

func (t FinalizeTask) Validate() error {
	if err := checkType(t.Type, TypeFinalizeTask); err != nil {
		return err
	}
	if t.Generation < 0 {
		return invalidf("generation is negative")
	}
	return checkJobID(t.Job)
}
