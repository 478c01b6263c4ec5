package bus

// Test hooks.
var (
	ProvisionChanges = provision
	BackoffFor       = backoff
	SubjectsOverlap  = subjectsOverlap
)
