// Package finalize turns rendered units into the finished MP4: a stream-copy
// join of the units' video, the units' lossless audio joined and mixed with
// the audio-only tracks (never more than 8 inputs per ffmpeg), one AAC
// encode, chapters, title and faststart (finalize.go), then the output check
// (finalize_check.go). The ffmpeg command lines come from pure builders
// (finalize_args.go) with golden tests.
//
// It takes local files and an output spec (Input) and reports progress
// through a callback; it must not import NATS or know the job record.
package finalize
