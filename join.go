// This file owns Join: resolving the addresses a caller gives (IP
// literals, DNS names, default ports) and contacting them in parallel, each
// a push/pull the core performs and reports back.

package memberlist

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Join contacts each of existing (an "host", "host:port" or "name/host:port",
// where host is an IP or a DNS name) and exchanges full state with it. It
// returns how many it reached; the error is nil when at least one was
// reached, and otherwise lists each address with why it failed.
func (m *Memberlist) Join(existing []string) (int, error) {
	return m.JoinContext(context.Background(), existing)
}

// JoinContext is Join with a context that can cancel it or give it a
// deadline. Addresses are resolved and contacted in parallel.
func (m *Memberlist) JoinContext(ctx context.Context, existing []string) (int, error) {
	if m.isShutdown.Load() {
		return 0, ErrShutdown
	}
	if m.onLoop() {
		return 0, ErrCalledFromDelegate // its workers would wait for this very loop
	}
	type result struct {
		ok  int
		err error
	}
	results := make([]result, len(existing))
	var wg sync.WaitGroup
	for i, ex := range existing {
		wg.Add(1)
		go func() {
			defer wg.Done()
			addrs, err := m.resolveAddr(ctx, ex)
			if err != nil {
				err = fmt.Errorf("failed to resolve %s: %w", ex, err)
				m.logger.Printf("[WARN] memberlist: %v", err)
				results[i].err = err
				return
			}
			var errs []error
			for _, a := range addrs {
				if err := m.joinOne(ctx, a); err != nil {
					err = fmt.Errorf("failed to join %s: %w", a.Addr, err)
					m.logger.Printf("[DEBUG] memberlist: %v", err)
					errs = append(errs, err)
					continue
				}
				results[i].ok++
			}
			results[i].err = errors.Join(errs...)
		}()
	}
	wg.Wait()
	n := 0
	var errs []error
	for _, r := range results {
		n += r.ok
		if r.err != nil {
			errs = append(errs, r.err)
		}
	}
	if n > 0 {
		return n, nil
	}
	if len(errs) == 0 && len(existing) == 0 {
		return 0, nil
	}
	return 0, errors.Join(errs...)
}

// joinOne joins through one address: the core starts a join exchange, and
// its outJoined says how it went.
func (m *Memberlist) joinOne(ctx context.Context, to Address) error {
	done := make(chan error, 1)
	if err := m.do(func(c *core) {
		id := c.join(time.Now(), to)
		m.joins[id] = done
		m.joinCtx[id] = ctx
	}); err != nil {
		return err
	}
	select {
	case err := <-done:
		return err
	case <-m.shutdownCh:
		return ErrShutdown
	}
}

// resolveAddr turns a Join argument into addresses: an optional "name/"
// prefix, a host that is an IP literal (IPv6 with or without zone and
// brackets) or a DNS name, qualified or not, and an optional port that
// defaults to BindPort.
func (m *Memberlist) resolveAddr(ctx context.Context, s string) ([]Address, error) {
	name := ""
	if i := strings.Index(s, "/"); i >= 0 {
		if i == 0 {
			return nil, errors.New("empty node name provided")
		}
		name, s = s[:i], s[i+1:]
	}
	host, port, err := splitHostPortDefault(s, m.config.BindPort)
	if err != nil {
		return nil, err
	}
	if addr, err := netip.ParseAddr(host); err == nil {
		return []Address{{Addr: net.JoinHostPort(addr.String(), port), Name: name}}, nil
	}
	ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return nil, err
	}
	out := make([]Address, 0, len(ips))
	for _, ip := range ips {
		out = append(out, Address{Addr: net.JoinHostPort(ip.String(), port), Name: name})
	}
	return out, nil
}

// splitHostPortDefault splits "host:port", "[v6]:port", "host", "v6" or
// "[v6]", using port def when none is given.
func splitHostPortDefault(s string, def int) (string, string, error) {
	if s == "" {
		return "", "", errors.New("empty address")
	}
	if host, port, err := net.SplitHostPort(s); err == nil {
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return "", "", fmt.Errorf("invalid port %q in %q", port, s)
		}
		return host, port, nil
	}
	host := strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	if strings.Count(host, ":") == 1 {
		return "", "", fmt.Errorf("cannot parse address %q", s)
	}
	return host, strconv.Itoa(def), nil
}
