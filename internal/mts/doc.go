// Package mts talks to MTS Link (ex-Webinar.ru): it parses the recording URLs
// users paste, fetches a recording's flow JSON from the API, and decodes that
// flow tolerantly into Go types (ids as numbers or strings, data as an object
// or a list, unknown modules kept raw). The rules come from
// shared/spec/mts-link.md; the fake server in mtstest follows the same spec.
package mts
