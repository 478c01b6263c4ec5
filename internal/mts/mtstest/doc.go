// Package mtstest is a fake MTS Link server, faithful to
// shared/spec/mts-link.md: from a scenario (webinars with participants,
// webcam, screenshare and audio streams, slides and faults) it serves the flow
// API under both endpoint spellings, wowza-shaped media chunks generated with
// ffmpeg on first use (solid colors and sine tones, cached by content), their
// HLS variants at the §3.3 path, and slide images, with byte ranges and a
// request log. It also holds the measuring helpers (SampleColor, ToneLevel,
// Probe) that end-to-end tests use to check outputs against a scenario.
//
// Tests call Start; `mtsfarm fake-mts` serves a scenario file.
package mtstest
