// Package interop proves that github.com/swimgo/memberlist and hashicorp/memberlist
// v0.7.0 (the reference) form one cluster: same wire protocol, same behaviour seen from
// the other side. It is a separate module so that only it, never the root module,
// depends on the reference.
//
// What the tests show, each scenario run in both directions (our node seeding or acting
// with reference peers, and the reverse), on 127.0.0.1 loopback with real sockets and
// fast timings:
//
//   - join and convergence of 3+3 nodes, with identical views of names, addresses,
//     ports, metadata, states and protocol versions;
//   - crash detection, refutation of a false suspicion, graceful leave seen as left;
//   - metadata updates, best-effort and reliable user messages, delegate broadcasts,
//     push/pull user state on join and periodically;
//   - indirect probes relayed by the other implementation, and the TCP fallback ping;
//   - encryption (versions 0 and 1) with a key rotation mid-run, labels, compression on
//     one side only, 1,000-member state exchanges, protocol versions 1 to 5;
//   - replay of golden vectors captured from the reference (../testdata/golden, written
//     by cmd/wiregen) into live nodes of both implementations.
//
// Every node runs over a fabric transport that can drop UDP or refuse TCP between chosen
// nodes and that decodes all traffic with an independent decoder (internal/wire), so
// assertions can name what went over the wire, not just what the delegates saw. The
// reference's Members() hands out pointers it later mutates without locks, so its view
// is read only from copies taken in its event delegate, keeping -race reports real.
//
// Run it with:
//
//	cd interop && go test -race ./...
//
// impl_ours_test.go is generated from impl_ref_test.go (both libraries export the same
// API); after editing the template run go generate. Setting OURS_PKG to the reference's
// import path while generating runs the whole suite reference-against-reference, which
// is how the harness itself is validated.
package interop

//go:generate sh gen_ours.sh
