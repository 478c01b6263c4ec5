// Package fetcher is the farm's only door to MTS Link. A Worker takes fetch
// tasks from the fetchers consumer and, per task kind:
//
//   - resolve: fetches the recording's flow JSON through internal/mts and
//     stores it at the task key (jobs/<job>/flow.json);
//   - media: downloads one media chunk (direct HTTP with Range resume, or the
//     HLS variant through ffmpeg -c copy when the direct file lacks video),
//     validates it with ffprobe, and stores it with a probe sidecar under its
//     content-addressed key;
//   - slide: downloads one slide image and checks it decodes as an image.
//
// Every outcome is published as a proto.FetchResult before the task message
// is acked or terminated. Only http(s) URLs on allowed hosts are requested,
// and the address a name resolves to is checked when the connection is made
// (see Policy), so a flow cannot point the farm at anything else.
package fetcher
