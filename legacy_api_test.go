package memberlist

import (
	"net"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
)

// plainTransport shows a MockTransport through the Transport interface
// alone, as a user's transport written against an older release would be:
// it has no WriteToAddress or DialAddressTimeout, so Create must serve it
// through its addresses only.
type plainTransport struct{ t *MockTransport }

func (p plainTransport) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	return p.t.FinalAdvertiseAddr(ip, port)
}
func (p plainTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	return p.t.WriteTo(b, addr)
}
func (p plainTransport) PacketCh() <-chan *Packet { return p.t.PacketCh() }
func (p plainTransport) DialTimeout(addr string, d time.Duration) (net.Conn, error) {
	return p.t.DialTimeout(addr, d)
}
func (p plainTransport) StreamCh() <-chan net.Conn { return p.t.StreamCh() }
func (p plainTransport) Shutdown() error           { return p.t.Shutdown() }

// TestPlainTransportAndDeprecatedSends runs a node whose transport is only
// a Transport beside two ordinary ones, and covers the reference's older
// ways to send a user message (SendTo, SendToAddress, SendToUDP, SendToTCP),
// which programs written against it still call: each reaches the peer's
// NotifyMsg, from and to the plain node alike. The plain node also leaves
// cleanly, and the bubble proves nothing of it outlives Shutdown.
func TestPlainTransportAndDeprecatedSends(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var dels []*msgDelegate
		nodes, logs := mockCluster(t, 3, func(c *Config) {
			d := &msgDelegate{}
			dels = append(dels, d)
			c.Delegate = d
			if c.Name == "m2" {
				_, isNodeAware := Transport(plainTransport{}).(NodeAwareTransport)
				require.False(t, isNodeAware)
				c.Transport = plainTransport{c.Transport.(*MockTransport)}
			}
		})
		defer shutdownAll(nodes)
		require.True(t, virtualUntil(allSee(nodes, 3), time.Minute), "3 nodes, one on a plain Transport, did not converge in a virtual minute")

		plain, other := nodes[2], nodes[0]
		for _, m := range nodes {
			require.Equal(t, m.config.ProtocolVersion, m.ProtocolVersion())
			require.Equal(t, m.config.Name, m.LocalNode().String())
		}
		udpAddr := func(n *Node) net.Addr { return &net.UDPAddr{IP: n.Addr, Port: int(n.Port)} }
		pairs := []struct {
			from, to *Memberlist
			d        *msgDelegate
			tag      string
		}{
			{plain, other, dels[0], "from-plain"},
			{other, plain, dels[2], "to-plain"},
		}
		for _, p := range pairs {
			to := p.to.LocalNode()
			require.NoError(t, p.from.SendTo(udpAddr(to), []byte(p.tag+"-SendTo")))
			require.NoError(t, p.from.SendToAddress(Address{Addr: to.Address()}, []byte(p.tag+"-SendToAddress")))
			require.NoError(t, p.from.SendToUDP(to, []byte(p.tag+"-SendToUDP")))
			require.NoError(t, p.from.SendToTCP(to, []byte(p.tag+"-SendToTCP")))
		}
		virtualWait(2 * time.Second)
		for _, p := range pairs {
			got := p.d.received()
			for _, how := range []string{"SendTo", "SendToAddress", "SendToUDP", "SendToTCP"} {
				require.Contains(t, got, p.tag+"-"+how)
			}
		}

		require.NoError(t, plain.Leave(time.Second))
		require.NoError(t, plain.Shutdown())
		for i := range 2 {
			require.True(t, virtualUntil(func() bool { return logs[i].has(NodeLeave, "m2") }, time.Minute), "m%d did not see the plain node leave", i)
		}
		require.True(t, virtualUntil(allSee(nodes[:2], 2), time.Minute))
		shutdownAll(nodes)
	})
}
