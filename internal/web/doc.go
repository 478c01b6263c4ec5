// Package web is the farm's dashboard: a page (static files embedded with
// embed, plain HTML, CSS and JavaScript, no build step) and the small JSON
// and server-sent-events API behind it, served by `mtsfarm coordinator
// --http` and `mtsfarm run --http`.
//
// It reads jobs and their plans through the job API (internal/jobapi, the
// same requests as `nats req mtsfarm.api.*`), outputs from the object store,
// workers from the presence KV, and streams the job events to the page (one
// NATS subscription per open tab, gone when the tab closes). Actions
// (submit, cancel, retry) go through the job API too, and only with the
// token the server was started with (compared in constant time); without a
// token the dashboard is read-only. What reaches the page is an explicit
// view of each record with every URL redacted (proto.RedactURL): never a
// session cookie, a token or a presigned URL. The page builds its DOM with
// textContent only, under a Content-Security-Policy that allows no inline
// script, so a title from MTS Link is always shown as text.
//
// It imports proto, internal/blob and internal/jobapi; never the
// coordinator or a worker.
package web
