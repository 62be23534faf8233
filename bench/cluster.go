// This file owns a cluster of nodes of one library in one process: starting them,
// joining them all to the first, waiting until every node sees every other, and
// shutting every one of them down.

package main

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

type cluster struct {
	nodes []node
	evs   []*events

	stopping chan struct{} // closed when shutdown begins: no new joins
	stopOnce sync.Once
}

// startCluster starts n nodes named prefix-i with start.
func startCluster(n int, prefix string, start func(name string, ev *events) (node, error)) (*cluster, error) {
	c := &cluster{stopping: make(chan struct{})}
	for i := range n {
		name := fmt.Sprintf("%s-%d", prefix, i)
		ev := newEvents(name)
		ev.expect(n)
		nd, err := start(name, ev)
		if err != nil {
			c.shutdown()
			return nil, fmt.Errorf("start node %d of %d: %w", i+1, n, err)
		}
		c.nodes = append(c.nodes, nd)
		c.evs = append(c.evs, ev)
	}
	return c, nil
}

// joinAll has every node but the first join the first, parallel at a time, and
// returns when all joins returned.
func (c *cluster) joinAll(parallel int) error {
	seed := []string{c.nodes[0].addr()}
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for _, nd := range c.nodes[1:] {
		select {
		case sem <- struct{}{}:
		case <-c.stopping:
			wg.Wait()
			return errors.New("cluster shut down while joining")
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if _, err := nd.Join(seed); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s joining: %w", nd.name(), err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// waitConverged waits until every node has seen all the others, up to deadline,
// and returns how long after t0 the last node got there.
func (c *cluster) waitConverged(t0 time.Time, deadline time.Duration) (time.Duration, error) {
	timeout := time.NewTimer(time.Until(t0.Add(deadline)))
	defer timeout.Stop()
	var last int64
	for i, ev := range c.evs {
		select {
		case <-ev.converged:
			last = max(last, ev.convergedAt.Load())
		case <-timeout.C:
			return 0, fmt.Errorf("not converged within %v: node %d sees %d of %d members", deadline, i, ev.alive.Load()+1, len(c.nodes))
		}
	}
	return time.Duration(last - t0.UnixNano()), nil
}

// converge joins every node to the first and waits until all see all, the
// joins included, within deadline. When that fails the cluster is shut down,
// which ends joins still under way.
func (c *cluster) converge(parallel int, deadline time.Duration) (time.Duration, error) {
	t0 := time.Now()
	joined := make(chan error, 1)
	go func() { joined <- c.joinAll(parallel) }()
	d, err := c.waitConverged(t0, deadline)
	if err == nil {
		select {
		case err = <-joined:
		case <-time.After(time.Until(t0.Add(deadline))):
			err = fmt.Errorf("converged, but joins still under way after %v", deadline)
		}
	}
	if err != nil {
		c.shutdown()
		<-joined
		return 0, err
	}
	return d, nil
}

// waitGone waits until every node in observers reported name gone, up to
// deadline, and returns each observer's delay after t0.
func (c *cluster) waitGone(name string, observers []int, t0 time.Time, deadline time.Duration) ([]time.Duration, error) {
	out := make([]time.Duration, 0, len(observers))
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for _, i := range observers {
		for {
			if at, ok := c.evs[i].goneAt(name); ok {
				out = append(out, at.Sub(t0))
				break
			}
			if time.Since(t0) > deadline {
				return nil, fmt.Errorf("%s not seen gone by node %d within %v (%d of %d observers did)", name, i, deadline, len(out), len(observers))
			}
			<-tick.C
		}
	}
	return out, nil
}

// shutdown stops every node; parallel so a large cluster stops fast. Calls
// after the first do nothing.
func (c *cluster) shutdown() {
	c.stopOnce.Do(c.stop)
}

func (c *cluster) stop() {
	close(c.stopping)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for _, nd := range c.nodes {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			_ = nd.Shutdown()
		}()
	}
	wg.Wait()
}
