// This file owns the user-facing configuration of a node: the Config struct,
// its three preset profiles (LAN, WAN, local), the CIDR allowlist helpers,
// and the checks Create runs before it trusts a Config.

package memberlist

import (
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/go-metrics"
)

// Config tunes one node. Start from DefaultLANConfig, DefaultWANConfig or
// DefaultLocalConfig and change what you need: a zero Config is not usable,
// and Create rejects values that would stop the protocol from working.
//
// Do not change a Config after handing it to Create: the node may read it at
// any time without a lock. Rotate keys through the Keyring's methods instead.
// Members of one cluster normally share one profile; a node with much
// shorter timeouts than its peers suspects them before they could answer.
type Config struct {
	// Name identifies this node in the cluster and must be unique in it:
	// two live nodes with one name fight over it, and the ConflictDelegate
	// is told. Names travel in every alive message, so keep them short.
	// Must not be empty. The presets use os.Hostname().
	Name string

	// Transport carries this node's packets and streams. When nil, Create
	// builds a NetTransport listening on BindAddr:BindPort over UDP and TCP.
	// A Transport that also implements NodeAwareTransport receives the
	// destination's node name with each send, which RequireNodeNames and
	// name-based routing need.
	Transport Transport

	// Label, when not empty, is prefixed to every packet and stream this node
	// sends, and inbound traffic must carry the same label (see
	// SkipInboundLabelCheck). It keeps clusters that share a network from
	// merging by mistake. With encryption on, the label is authenticated as
	// additional data of AES-GCM, so a forged label fails to decrypt.
	// At most 255 bytes, because its length travels in one byte.
	Label string

	// SkipInboundLabelCheck stops requiring a label header on inbound
	// traffic: packets and streams without one are taken as if they carried
	// Label (which still authenticates them when encrypted), while any that
	// do carry a header are dropped as doubly labelled. Use it when
	// something in front of this node, such as a proxy or a custom
	// Transport, already strips and checks the label. Outbound traffic is
	// still labelled.
	SkipInboundLabelCheck bool

	// BindAddr is the IP address the default NetTransport listens on, for
	// both UDP and TCP. "0.0.0.0" listens on every IPv4 interface. Ignored
	// when Transport is set.
	BindAddr string

	// BindPort is the port the default NetTransport listens on, for both UDP
	// and TCP; 0 asks the operating system for a free port. Other nodes are
	// assumed to listen on the same port unless told otherwise. Must be in
	// [0, 65535]. Ignored when Transport is set.
	BindPort int

	// AdvertiseAddr is the IP address other members are told to reach this
	// node at, for nodes behind NAT or bound to 0.0.0.0. Empty lets the
	// Transport pick one (the NetTransport uses the bound address, or a
	// private address of this host when bound to all interfaces).
	AdvertiseAddr string

	// AdvertisePort is the port other members are told to reach this node
	// at, used together with AdvertiseAddr. Must be in [0, 65535].
	AdvertisePort int

	// ProtocolVersion is the gossip protocol version this node speaks. It
	// must lie in [ProtocolVersionMin, ProtocolVersionMax]. The presets use
	// ProtocolVersion2Compatible so that nodes of older releases can still
	// join; the version is raised cluster-wide as nodes are upgraded.
	ProtocolVersion uint8

	// TCPTimeout bounds each stream exchange with another node: dialing it,
	// then every read and write of a push/pull state sync, a join, a
	// reliable user message or a fallback ping. The name is historical; it
	// applies to any Transport's streams. Must be > 0. Larger values
	// tolerate slow links and big states, at the cost of holding a stream
	// (and a goroutine) open longer for a peer that stopped answering.
	TCPTimeout time.Duration

	// IndirectChecks is how many other members are asked to probe a node
	// on our behalf when it did not answer our own probe in time. One ack
	// from any of them clears the node, so more helpers make a false
	// suspicion less likely but cost more packets per failed probe. 0
	// disables indirect probes. Must be >= 0.
	IndirectChecks int

	// RetransmitMult scales how many times each gossiped message (alive,
	// suspect, dead, user broadcast) is piggybacked before it is dropped:
	// RetransmitMult * ceil(log10(N+1)) times in a cluster of N nodes. Higher
	// values make a message more likely to reach everyone on a lossy network
	// at the cost of bandwidth. Must be >= 1, or nothing would ever be
	// gossiped.
	RetransmitMult int

	// SuspicionMult scales how long a suspected node has to refute before it
	// is declared dead. The shortest suspicion timeout is
	// SuspicionMult * max(1, log10(N)) * ProbeInterval in a cluster of N
	// nodes, reached once enough other members independently confirm the
	// suspicion. Higher values mean fewer false deaths and slower detection
	// of real ones. Must be >= 1.
	SuspicionMult int

	// SuspicionMaxTimeoutMult sets the longest suspicion timeout, as a
	// multiple of the shortest one (see SuspicionMult). A suspicion starts at
	// this longest timeout and shrinks towards the shortest as independent
	// confirmations arrive (Lifeguard). A node that is itself in trouble
	// hears few confirmations, so this bound gives it time to recover before
	// it wrongly declares others dead, while a truly isolated node still
	// makes progress. Must be >= 1; 1 turns the shrinking off.
	SuspicionMaxTimeoutMult int

	// PushPullInterval is how often this node exchanges its full member
	// table with one random member over a stream. These syncs repair what
	// lost gossip missed and let partitions heal, but each one moves the
	// whole table, so they are much more expensive than gossip. The actual
	// period grows with cluster size past 32 nodes, to bound the cluster-wide
	// load. 0 disables periodic syncs (joins still do one). Must be >= 0.
	PushPullInterval time.Duration

	// ProbeInterval is the period of the failure detector: once per interval
	// one member is probed, in a shuffled round-robin order. It is also the
	// unit of the suspicion timeout (see SuspicionMult). Shorter intervals
	// detect failures sooner and cost bandwidth. Lifeguard lengthens it while
	// this node believes itself unhealthy (see AwarenessMaxMultiplier).
	// Must be > 0.
	ProbeInterval time.Duration

	// ProbeTimeout is how long a direct probe waits for its ack before
	// indirect probes are sent. Set it near the 99th percentile round trip
	// of your network. Must be > 0. It may exceed ProbeInterval, in which
	// case the probe simply overruns its period; indirect acks are awaited
	// until the end of the period in any case.
	ProbeTimeout time.Duration

	// DisableTcpPings turns off the stream ping that is sent alongside the
	// indirect probes when a direct probe fails. That fallback saves nodes
	// whose UDP is blocked or lossy but whose TCP works from being declared
	// dead; it is tried with every member that understands protocol version
	// 3, whatever version this node speaks.
	DisableTcpPings bool

	// DisableTcpPingsForNode, when not nil, is asked for each failed probe
	// whether to skip the stream ping to that node, by name. It refines
	// DisableTcpPings, which wins when true.
	DisableTcpPingsForNode func(nodeName string) bool

	// AwarenessMaxMultiplier caps Lifeguard's local health score: each
	// missed ack or refutation makes this node less confident in its own
	// timeliness, and its probe interval and timeout are multiplied by
	// (score+1), up to this value. A slow node thus stops accusing healthy
	// ones. 1 disables the scaling. Must be >= 1.
	AwarenessMaxMultiplier int

	// GossipInterval is how often queued gossip that did not fit on probes
	// is sent to GossipNodes random members. Shorter intervals spread news
	// faster at the cost of more packets. 0 disables this extra gossip, as
	// does GossipNodes == 0; messages then spread only on probes and acks.
	// Must be >= 0.
	GossipInterval time.Duration

	// GossipNodes is how many random members receive gossip each
	// GossipInterval. More nodes spread news faster and cost bandwidth.
	// 0 disables periodic gossip. Must be >= 0.
	GossipNodes int

	// GossipToTheDeadTime is how long after a member is declared dead it may
	// still be picked as a gossip target, so that a node that was only cut
	// off hears that it was declared dead and can refute. 0 or negative
	// means dead nodes are never gossiped to.
	GossipToTheDeadTime time.Duration

	// ReconnectInterval is how often this node tries to reach a member it
	// declared dead by failure (never one that left): a push/pull with one
	// such member, picked at random, at its last address. A partition that
	// heals, or a node back from a long pause, then rejoins both sides with
	// no call from the application; the reference never re-merges such a
	// split. Like PushPullInterval it is scaled up in large clusters, and
	// it costs nothing while no member is lost. 0 disables it, as in the
	// reference, leaving re-joins to the application. Must be >= 0.
	ReconnectInterval time.Duration

	// ReconnectTimeout is how long after its failure a member is still
	// tried (see ReconnectInterval). Must be >= 0.
	ReconnectTimeout time.Duration

	// QuietJoinMerge, when true, has a joining node gossip the members it
	// learns from the answer to its join half as often as other news, and
	// only after the news it has sent fewer times: the node that answered
	// knows them already, and so, by gossip long spread or still
	// spreading, does nearly all of the cluster. In the reference every
	// joiner queues an alive message for every member it learns, each sent
	// RetransmitMult x log10(N) times: when many nodes join at once, those
	// old news fill the gossip packets and slow the spread of the joins
	// themselves. The half that remains repairs what a join racing another
	// join missed. The joiner's own alive message, and what the answering
	// node learns from the joiner, are gossiped as always. In the
	// simulator (docs/simulation.md), with 2,000 nodes joining 10 ms apart,
	// the median join reaches 99% of the nodes in 9 s instead of 13, every
	// node sees every other as soon or sooner (72 and 71 s against 74 and
	// 91 s, two seeds), and a fifth fewer bytes are sent; the slowest join
	// reaches 99% of the nodes later (27 s against 18). Leave it off when Join
	// merges two clusters that formed apart: there the members one side
	// learns are news to the rest of it. Off by default, as in the
	// reference.
	QuietJoinMerge bool

	// RelayRefutations, when true, has a node that hears gossip accusing a
	// member (a suspect or dead message) at an incarnation older than the
	// one it knows that member alive at send the member's current alive
	// message straight back to the packet's sender (at most 4 such
	// messages per GossipInterval, piggybacking gossip). A node that
	// still gossips the old accusation has missed the member's refutation;
	// when gossip is congested, as in a large cluster with a few lossy
	// nodes raising suspicions, some nodes miss refutations that way, their
	// suspicion timers run out, and they declare a healthy member dead (and
	// push/pulls between two such nodes confirm the suspicion to each
	// other, cutting the timeout to its minimum). The refutation relayed
	// to them arrives within a gossip round of their first stale message.
	// It only sends alive messages the reference already understands.
	// Off by default, as in the reference.
	RelayRefutations bool

	// SuspectBeforeDead, when true, has a node take another node's
	// declaration that a member is dead (a dead message, not a leave) as a
	// suspicion when it does not suspect that member yet, and gossip the
	// suspicion; and, while it suspects the member, ignore the declaration
	// of the node whose accusation started the suspicion, so that its own
	// suspicion timeout decides. In the reference a dead message about a
	// member nobody has suspected is taken at once: a node that loses most
	// of its packets may suspect a healthy member without its suspicion
	// reaching anyone, time it out in its own view and then get its death
	// declaration through, so the healthy member is declared dead
	// everywhere before it could refute. With this set, the member hears
	// the suspicion and refutes it in time. A death declared by an
	// independent node, once this node's suspicion has run its minimum
	// timeout, is still taken at once, so a crashed member is declared dead
	// about as fast as before wherever its suspicion had arrived (later by
	// no more than the suspicion took to come here after it came
	// elsewhere); where it had not, one suspicion timeout later at worst.
	// Sooner, or when this node holds that other node dead, the
	// declaration only confirms the suspicion. That is what a partition's
	// heal brings: each side's queued death notices about the other side
	// cross at once, from many accusers (alive, suspect or dead here),
	// seconds before the refutations they provoke, and without this set
	// they are taken as deaths of members alive all along (see
	// docs/simulation.md, Partition). Off by default, as in the reference.
	SuspectBeforeDead bool

	// RefutationsFirst, when true, has a node gossip refutations before
	// any other news, every time it sends them: its own alive message
	// when it refutes an accusation, and an alive message that ends a
	// suspicion or a death it held of another member. In the reference
	// the news sent the fewest times goes first and, among those, the
	// newest, so a refutation is buried as soon as fresher news arrives.
	// When accusations flood every queue (many nodes restarting at once,
	// or a partition's heal, each side's death notices of the other
	// crossing), refutations then take longer to reach some nodes than
	// the suspicions they answer take to time out, and healthy members
	// are declared dead. In the simulator, 2,000 nodes restarting within
	// a minute declared 8 running members dead instead of 1,360 (see
	// docs/simulation.md). Only the order of sending changes, not what is
	// sent. Off by default, as in the reference.
	RefutationsFirst bool

	// GossipVerifyIncoming, when encryption is on, rejects inbound packets
	// and streams that are not encrypted. Turned off, the node accepts
	// plaintext for its whole life, whatever its Keyring says. It is the
	// reference's way to move a cluster from plaintext to encryption, one
	// restart per node and step; Keyring.AddDecryptionKey and
	// Keyring.RejectPlaintext do the same at runtime (see Keyring).
	GossipVerifyIncoming bool

	// GossipVerifyOutgoing, when encryption is on, makes this node encrypt
	// what it sends with the Keyring's primary key. Turned off, the node
	// sends plaintext for its whole life; a Keyring without a primary key
	// (Keyring.AddDecryptionKey, Keyring.UsePlaintext) does so at runtime.
	GossipVerifyOutgoing bool

	// EnableCompression compresses outgoing packets and streams with LZW,
	// trading a little CPU for bandwidth. Receivers always understand
	// compressed messages, so nodes may differ on this setting.
	EnableCompression bool

	// SecretKey, when set, turns encryption on: Create installs it in the
	// Keyring (creating one if needed) and makes it the primary key, the one
	// used to encrypt. Its length picks AES-128, AES-192 or AES-256, so it
	// must be exactly 16, 24 or 32 bytes. Every node needs the same key.
	SecretKey []byte

	// Keyring holds every key this node can decrypt with; the primary one
	// also encrypts. Keys can be added, switched and removed at runtime to
	// rotate them without downtime, and an empty Keyring (encryption off)
	// can be moved to encryption at runtime too (see Keyring). Nil means no
	// keys unless SecretKey is set, in which case Create makes one; a node
	// created with nil and no SecretKey needs a restart to encrypt.
	Keyring *Keyring

	// Delegate lets the application ride on the protocol: supply node
	// metadata, receive user messages, add broadcasts to gossip, and take
	// part in push/pull state syncs. Nil means none of these.
	Delegate Delegate

	// DelegateProtocolVersion is the version of the application's own
	// message formats that this node speaks. It travels with the node's
	// alive messages, so the Delegate can adapt to older peers. Must lie in
	// [DelegateProtocolMin, DelegateProtocolMax]; leaving all three at 0
	// opts out of delegate version checks.
	DelegateProtocolVersion uint8

	// DelegateProtocolMin is the oldest application message version this
	// node understands. Push/pull syncs fail when some live member speaks a
	// version outside what every member understands. Must be <=
	// DelegateProtocolMax.
	DelegateProtocolMin uint8

	// DelegateProtocolMax is the newest application message version this
	// node understands. Must be >= DelegateProtocolMin.
	DelegateProtocolMax uint8

	// Events is told when members join, leave or change metadata. Nil means
	// nobody is told.
	Events EventDelegate

	// Conflict is told when a node announces itself under a known member's
	// name but from another address or port, and the known member may not
	// be replaced (see DeadNodeReclaimTime). Nil only logs it.
	Conflict ConflictDelegate

	// Merge may veto a join (the push/pull of ours or of a peer joining
	// through us) by looking at the remote side's members, for example to
	// keep two clusters apart. Nil accepts every merge.
	Merge MergeDelegate

	// Ping may add a payload to this node's acks and is given the round
	// trip time and payload of each ack it receives, for example to build
	// network coordinates. Nil means empty acks.
	Ping PingDelegate

	// Alive may reject a member when its alive message arrives, for
	// example to filter nodes by metadata. Nil accepts every member.
	Alive AliveDelegate

	// DNSConfigPath is the resolver configuration (resolv.conf format) used
	// to look up a host name given to Join over TCP, so that answers too big
	// for UDP DNS still yield every address. Tests point it elsewhere.
	DNSConfigPath string

	// LogOutput receives the node's log lines, with the standard logger's
	// date and time prefix. Nil means os.Stderr. Set at most one of
	// LogOutput, Logger and SlogLogger; Create rejects a Config with more.
	LogOutput io.Writer

	// Logger, when set, receives every log line of the node, in place of
	// LogOutput. Set at most one of LogOutput, Logger and SlogLogger;
	// Create rejects a Config with more.
	Logger *log.Logger

	// HandoffQueueDepth bounds each of the two queues in which membership
	// news (alive, suspect, dead) and user messages wait while the node
	// reads the packets that arrived together; they are then handled news
	// first, each queue newest first, so a node that falls behind spends its
	// time on the freshest news. Messages beyond it are dropped and counted
	// in memberlist.handoff.dropped. Probes and acks never wait. 0 or less
	// means the default, 1024 (the reference drops everything then).
	HandoffQueueDepth int

	// UDPBufferSize is the largest packet this node sends, in bytes: gossip
	// is piggybacked onto probes and acks until a packet reaches it. Keep it
	// under your network's path MTU minus IP and UDP headers (the default
	// 1400 fits Ethernet with room for tunnels), or packets fragment and get
	// lost more often. The name is historical; it applies to any
	// Transport's packets. Must be >= 512, so that one alive message with
	// the largest metadata still leaves room for other gossip; with the
	// default NetTransport (Transport nil) it must also be <= 65507, the
	// largest UDP payload.
	UDPBufferSize int

	// DeadNodeReclaimTime is how long after a node is declared dead its name
	// may be taken by a node at another address or port, for example when a
	// restarted container gets a new IP. 0 or negative means never: such a
	// node is reported to the ConflictDelegate instead.
	DeadNodeReclaimTime time.Duration

	// RequireNodeNames makes sends fail unless they know the destination's
	// node name, not only its address, so that a NodeAwareTransport can
	// check it is talking to the intended node.
	RequireNodeNames bool

	// CIDRsAllowed, when not empty, limits which remote IP addresses may
	// talk to this node: packets and streams from elsewhere are dropped and
	// members advertising other addresses are refused. IPv4 and IPv6 ranges
	// must be listed separately. Nil or empty allows every address. Build it
	// with ParseCIDRs.
	CIDRsAllowed []net.IPNet

	// MetricLabels are added to every metric this node emits through
	// go-metrics, for example to tell several nodes in one process apart.
	MetricLabels []metrics.Label

	// QueueCheckInterval is how often the outgoing broadcast queue's length
	// is sampled for metrics and warnings. Must be > 0.
	QueueCheckInterval time.Duration

	// MsgpackUseNewTimeFormat encodes time.Time values in the msgpack
	// timestamp extension rather than the older binary form. Leave it off
	// while any member runs a release whose decoder predates the extension;
	// decoding accepts both forms either way.
	MsgpackUseNewTimeFormat bool

	// SlogLogger, when set, receives every log line of the node as a
	// structured record, in place of LogOutput and Logger (set at most one
	// of the three). The reference-style tags become levels ([DEBUG],
	// [INFO], [WARN], [ERR] map to slog's Debug, Info, Warn, Error), the
	// message loses its tag and "memberlist:" prefix, and a peer address the
	// line names ("from=10.0.0.1:7946") becomes the attribute "from".
	// Records below the handler's level cost no formatting beyond the
	// standard logger's Printf.
	SlogLogger *slog.Logger

	// TCPOnly sends every message that would travel as a UDP packet over a
	// TCP stream instead (through the Transport's streams), for networks
	// that block UDP. Each peer gets one long-lived stream for packets,
	// opened on first use, so it costs a connection per peer, a little
	// more latency than UDP, and head-of-line blocking on lossy links. No
	// packet is sent over UDP in this mode, and inbound UDP packets are
	// dropped, so every member of a cluster must use the same setting:
	// TCP-only nodes and UDP nodes do not form one cluster.
	TCPOnly bool
}

// Bounds that validate enforces beyond what the field types already allow.
const (
	// maxLabelLen is the longest Label: its length is sent in one byte.
	maxLabelLen = 255

	// minUDPBufferSize leaves room for one alive message carrying
	// MetaMaxSize bytes of metadata; smaller packets could carry little
	// besides a probe, and gossip would crawl.
	minUDPBufferSize = 512

	// maxUDPPayload is the largest IPv4 UDP payload: 65535 minus the
	// 20-byte IP header and the 8-byte UDP header.
	maxUDPPayload = 65507

	// maxPort is the largest TCP or UDP port number.
	maxPort = 65535
)

// DefaultLANConfig returns settings for nodes on one local network: probe
// every second with a 500ms timeout, gossip to 3 members every 200ms, full
// sync every 30s, compression on, protocol version 2 for compatibility with
// older nodes. The values favour fast convergence over bandwidth and are a
// good starting point. Name is the host name; BindAddr is all IPv4
// interfaces on port 7946.
func DefaultLANConfig() *Config {
	hostname, _ := os.Hostname()
	return &Config{
		Name:                    hostname,
		BindAddr:                "0.0.0.0",
		BindPort:                7946,
		AdvertiseAddr:           "",
		AdvertisePort:           7946,
		ProtocolVersion:         ProtocolVersion2Compatible,
		TCPTimeout:              10 * time.Second,
		IndirectChecks:          3,
		RetransmitMult:          4,
		SuspicionMult:           4,
		SuspicionMaxTimeoutMult: 6,
		PushPullInterval:        30 * time.Second,
		ProbeTimeout:            500 * time.Millisecond,
		ProbeInterval:           time.Second,
		DisableTcpPings:         false,
		AwarenessMaxMultiplier:  8,
		GossipNodes:             3,
		GossipInterval:          200 * time.Millisecond,
		GossipToTheDeadTime:     30 * time.Second,
		ReconnectInterval:       30 * time.Second,
		ReconnectTimeout:        24 * time.Hour,
		GossipVerifyIncoming:    true,
		GossipVerifyOutgoing:    true,
		EnableCompression:       true,
		SecretKey:               nil,
		Keyring:                 nil,
		DNSConfigPath:           "/etc/resolv.conf",
		HandoffQueueDepth:       1024,
		UDPBufferSize:           1400,
		CIDRsAllowed:            nil,
		QueueCheckInterval:      30 * time.Second,
	}
}

// DefaultWANConfig returns DefaultLANConfig adjusted for members spread over
// a wide-area network, where round trips are long and loss is likelier:
// slower probes (every 5s, 3s timeout), longer suspicion and stream timeouts,
// and gossip to 4 members every 500ms.
func DefaultWANConfig() *Config {
	c := DefaultLANConfig()
	c.TCPTimeout = 30 * time.Second
	c.SuspicionMult = 6
	c.PushPullInterval = 60 * time.Second
	c.ProbeTimeout = 3 * time.Second
	c.ProbeInterval = 5 * time.Second
	c.GossipNodes = 4
	c.GossipInterval = 500 * time.Millisecond
	c.GossipToTheDeadTime = 60 * time.Second
	c.ReconnectInterval = 60 * time.Second
	return c
}

// DefaultLocalConfig returns DefaultLANConfig adjusted for members on one
// host or a very fast network, such as tests and demos: short timeouts, one
// indirect probe, and faster gossip and syncs.
func DefaultLocalConfig() *Config {
	c := DefaultLANConfig()
	c.TCPTimeout = time.Second
	c.IndirectChecks = 1
	c.RetransmitMult = 2
	c.SuspicionMult = 3
	c.PushPullInterval = 15 * time.Second
	c.ProbeTimeout = 200 * time.Millisecond
	c.ProbeInterval = time.Second
	c.GossipInterval = 100 * time.Millisecond
	c.GossipToTheDeadTime = 15 * time.Second
	c.ReconnectInterval = 15 * time.Second
	return c
}

// MaxNodeNameLen is the longest node name, in bytes, that a node accepts,
// from its Config or from a peer: an alive message for a longer name is
// dropped and counted in memberlist.msg.rejected{reason="name"}, so that a
// peer cannot make every node hold names of any size. It is far above any
// name a working cluster uses (DNS names stop at 253 bytes).
const MaxNodeNameLen = 1024

// BuildVsnArray returns the six version numbers this node advertises in its
// alive messages, in wire order: protocol min, max and current, then
// delegate min, max and current. Peers use them to check that everyone can
// understand everyone.
func (c *Config) BuildVsnArray() []uint8 {
	return []uint8{
		ProtocolVersionMin,
		ProtocolVersionMax,
		c.ProtocolVersion,
		c.DelegateProtocolMin,
		c.DelegateProtocolMax,
		c.DelegateProtocolVersion,
	}
}

// EncryptionEnabled reports whether the Keyring holds at least one key, that
// is whether decryption is attempted. Whether traffic is encrypted also takes
// a primary key (a ring may hold only decryption keys, see
// Keyring.AddDecryptionKey) and GossipVerifyOutgoing.
func (c *Config) EncryptionEnabled() bool {
	if c.Keyring == nil {
		return false
	}
	return len(c.Keyring.snapshot()) > 0
}

// outboundKey returns the key to encrypt what this node sends with, or nil
// to send plaintext: no primary key in the Keyring, or GossipVerifyOutgoing
// off.
func (c *Config) outboundKey() []byte {
	if !c.GossipVerifyOutgoing {
		return nil
	}
	return c.Keyring.primaryKey()
}

// inboundKeys returns, from one read of the Keyring, the keys to try on what
// arrives and whether what none of them opens may be read as plaintext: with
// no keys, or while the ring accepts plaintext, or with GossipVerifyIncoming
// off.
func (c *Config) inboundKeys() (keys [][]byte, plaintextOK bool) {
	st := c.Keyring.load()
	if len(st.keys) == 0 {
		return nil, true
	}
	return st.keys, st.acceptPlain || !c.GossipVerifyIncoming
}

// IPMustBeChecked reports whether CIDRsAllowed restricts remote addresses,
// so callers can skip IPAllowed on the hot path when it does not.
func (c *Config) IPMustBeChecked() bool {
	return len(c.CIDRsAllowed) > 0
}

// IPAllowed returns nil when ip may talk to this node: CIDRsAllowed is empty,
// or one of its networks contains ip. Otherwise the error names the address;
// widen CIDRsAllowed if it should have been let in.
func (c *Config) IPAllowed(ip net.IP) error {
	if !c.IPMustBeChecked() {
		return nil
	}
	for i := range c.CIDRsAllowed {
		if c.CIDRsAllowed[i].Contains(ip) {
			return nil
		}
	}
	return fmt.Errorf("%s is not allowed: it is in none of the networks of Config.CIDRsAllowed", ip)
}

// ParseCIDRs parses networks in CIDR notation ("10.0.0.0/8", "fd00::/8"),
// ignoring surrounding spaces, for use as Config.CIDRsAllowed. It returns
// every network that parsed, in order, even when some did not; the error
// then names each invalid entry. The slice is never nil, so an empty input
// gives an empty allowlist (which allows every address).
func ParseCIDRs(v []string) ([]net.IPNet, error) {
	nets := make([]net.IPNet, 0, len(v))
	var errs []error
	for _, s := range v {
		_, n, err := net.ParseCIDR(strings.TrimSpace(s))
		if err != nil {
			errs = append(errs, fmt.Errorf("invalid cidr: %s (want an address and prefix length, such as 10.0.0.0/8 or fd00::/8): %w", s, err))
			continue
		}
		nets = append(nets, *n)
	}
	return nets, errors.Join(errs...)
}

// configError describes one Config field that Create cannot accept. It is
// unexported so the public API stays the reference's; callers read its
// message, tests match it with errors.As.
type configError struct {
	field string // Config field name, such as "ProbeInterval"
	value any    // the rejected value, printed with %v
	want  string // what would be accepted, such as "> 0"
}

func (e *configError) Error() string {
	return fmt.Sprintf("memberlist: invalid config: %s = %v: must be %s", e.field, e.value, e.want)
}

// validate checks the values Create depends on and returns every problem
// found, joined, or nil. It rejects only what would break the protocol or
// the default transport; unusual but workable values pass. It does not
// change c.
func (c *Config) validate() error {
	var errs []error
	bad := func(field string, value any, want string) {
		errs = append(errs, &configError{field: field, value: value, want: want})
	}

	if c.Name == "" {
		bad("Name", `""`, "a non-empty name unique in the cluster")
	}
	if len(c.Name) > MaxNodeNameLen {
		bad("Name", fmt.Sprintf("%d bytes", len(c.Name)), fmt.Sprintf("at most %d bytes (MaxNodeNameLen)", MaxNodeNameLen))
	}
	if c.ProtocolVersion < ProtocolVersionMin || c.ProtocolVersion > ProtocolVersionMax {
		bad("ProtocolVersion", c.ProtocolVersion,
			fmt.Sprintf("in [%d, %d]", ProtocolVersionMin, ProtocolVersionMax))
	}
	if len(c.Label) > maxLabelLen {
		bad("Label", fmt.Sprintf("%q (%d bytes)", c.Label, len(c.Label)),
			fmt.Sprintf("at most %d bytes", maxLabelLen))
	}
	if c.BindPort < 0 || c.BindPort > maxPort {
		bad("BindPort", c.BindPort, fmt.Sprintf("in [0, %d]", maxPort))
	}
	if c.AdvertisePort < 0 || c.AdvertisePort > maxPort {
		bad("AdvertisePort", c.AdvertisePort, fmt.Sprintf("in [0, %d]", maxPort))
	}

	// Periods and timeouts the failure detector and streams cannot do
	// without; a zero would mean instant timeouts or a busy loop.
	positive := []struct {
		field string
		value time.Duration
	}{
		{"TCPTimeout", c.TCPTimeout},
		{"ProbeInterval", c.ProbeInterval},
		{"ProbeTimeout", c.ProbeTimeout},
		{"QueueCheckInterval", c.QueueCheckInterval},
	}
	for _, p := range positive {
		if p.value <= 0 {
			bad(p.field, p.value, "> 0")
		}
	}
	// Periods where zero means "off".
	if c.PushPullInterval < 0 {
		bad("PushPullInterval", c.PushPullInterval, ">= 0 (0 disables periodic full syncs)")
	}
	if c.GossipInterval < 0 {
		bad("GossipInterval", c.GossipInterval, ">= 0 (0 disables periodic gossip)")
	}
	if c.ReconnectInterval < 0 {
		bad("ReconnectInterval", c.ReconnectInterval, ">= 0 (0 disables reconnecting to failed members)")
	}
	if c.ReconnectTimeout < 0 {
		bad("ReconnectTimeout", c.ReconnectTimeout, ">= 0 (0 disables reconnecting to failed members)")
	}

	// Multipliers and counts.
	atLeast := []struct {
		field string
		value int
		min   int
		note  string
	}{
		{"IndirectChecks", c.IndirectChecks, 0, " (0 disables indirect probes)"},
		{"GossipNodes", c.GossipNodes, 0, " (0 disables periodic gossip)"},
		{"RetransmitMult", c.RetransmitMult, 1, ""},
		{"SuspicionMult", c.SuspicionMult, 1, ""},
		{"SuspicionMaxTimeoutMult", c.SuspicionMaxTimeoutMult, 1, ""},
		{"AwarenessMaxMultiplier", c.AwarenessMaxMultiplier, 1, " (1 disables health scaling)"},
		{"UDPBufferSize", c.UDPBufferSize, minUDPBufferSize, ""},
	}
	for _, a := range atLeast {
		if a.value < a.min {
			bad(a.field, a.value, fmt.Sprintf(">= %d%s", a.min, a.note))
		}
	}
	if c.Transport == nil && c.UDPBufferSize > maxUDPPayload {
		bad("UDPBufferSize", c.UDPBufferSize,
			fmt.Sprintf("<= %d, the largest UDP payload, with the default NetTransport", maxUDPPayload))
	}

	switch len(c.SecretKey) {
	case 0, 16, 24, 32:
	default:
		bad("SecretKey", fmt.Sprintf("%d bytes", len(c.SecretKey)),
			"16, 24 or 32 bytes long (AES-128, AES-192 or AES-256), or empty")
	}

	if c.DelegateProtocolMin > c.DelegateProtocolMax {
		bad("DelegateProtocolMin", c.DelegateProtocolMin,
			fmt.Sprintf("<= DelegateProtocolMax (%d)", c.DelegateProtocolMax))
	} else if c.DelegateProtocolVersion < c.DelegateProtocolMin || c.DelegateProtocolVersion > c.DelegateProtocolMax {
		bad("DelegateProtocolVersion", c.DelegateProtocolVersion,
			fmt.Sprintf("in [DelegateProtocolMin, DelegateProtocolMax] = [%d, %d]",
				c.DelegateProtocolMin, c.DelegateProtocolMax))
	}

	if c.LogOutput != nil && c.Logger != nil {
		bad("Logger", "set together with LogOutput", "set alone: choose either Logger or LogOutput")
	}
	if c.SlogLogger != nil && (c.LogOutput != nil || c.Logger != nil) {
		bad("SlogLogger", "set together with LogOutput or Logger", "set alone: choose one of SlogLogger, Logger and LogOutput")
	}

	return errors.Join(errs...)
}

// logger returns the logger the node should write to: c.Logger when set,
// else one that feeds c.SlogLogger when that is set, otherwise a new
// standard logger on c.LogOutput, or on os.Stderr when that is nil too. Each
// call without c.Logger builds a new *log.Logger, so call it once per node.
func (c *Config) logger() *log.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	if c.SlogLogger != nil {
		return newSlogLogLogger(c.SlogLogger)
	}
	out := c.LogOutput
	if out == nil {
		out = os.Stderr
	}
	return log.New(out, "", log.LstdFlags)
}
