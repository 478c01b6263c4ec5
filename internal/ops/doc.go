// Package ops is what an operator sees of one running role (coordinator,
// fetcher, renderer): Prometheus metrics at /metrics, health at /healthz
// (the process serves) and /readyz (connected to NATS and the object store),
// and the role's NATS micro service ("mtsfarm-renderer", …) whose info and
// stats `nats micro ls/info/stats` show, with the same live numbers.
//
// One Metrics value per process is the source of all three: bus.Worker
// reports every task's start and outcome to it (it is a bus.Observer), and
// the roles add what only they know (media seconds rendered, bytes fetched,
// finalize time).
package ops
