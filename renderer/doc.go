// Package renderer turns one self-contained render unit (proto.RenderUnit)
// into one piece of a job's video: a single ffmpeg process that opens every
// input range once (input-side seek), composes every window's layout in one
// filter graph, encodes H.264 (libx264, or h264_nvenc with optional CUDA
// decode/scale/overlay) into MPEG-TS with closed GOPs and in-band parameter
// sets, and writes the unit's window audio as FLAC, so units from any
// renderer join by stream copy and AAC is encoded once, at the final mix.
//
// The ffmpeg argv and filter graph come from pure functions (Build, in
// args.go and graph*.go) with golden tests; the Worker (worker.go) runs them
// on the renderers consumer with progress heartbeats, a stall watchdog, job
// cancellation, the NVENC → libx264 fallback and presence reporting.
package renderer
