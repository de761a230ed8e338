// Package netproxy is a TCP proxy for tests that must lose a dependency
// for real (Redis, Postgres, NATS) without stopping the machine's shared
// server: cut it and live connections die while new ones are accepted but
// never answered (a black hole, the worst case: clients only learn from
// their timeouts); freeze it and bytes are silently dropped.
package netproxy

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// Proxy forwards one local port to target.
type Proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	refuse bool // while cut: close new connections at once (a stopped server)
	frozen atomic.Bool
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

// Start listens on a free loopback port; the proxy stops with the test.
func Start(tb testing.TB, target string) *Proxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("proxy listen: %v", err)
	}
	p := &Proxy{ln: ln, target: target, conns: make(map[net.Conn]struct{})}
	p.wg.Add(1)
	go p.accept()
	tb.Cleanup(func() {
		_ = ln.Close()
		p.closeAll()
		p.wg.Wait()
	})
	return p
}

// Addr is the host:port clients should dial.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// SetCut cuts (true) or restores (false) the link. Either way live
// connections are closed: cutting kills them, restoring frees the
// black-holed ones so clients reconnect.
func (p *Proxy) SetCut(cut bool) {
	p.mu.Lock()
	p.cut, p.refuse = cut, false
	p.mu.Unlock()
	p.closeAll()
}

// SetDown stops (true) or restarts (false) the dependency as a stopped
// server would look: live connections die and new ones are closed at once.
func (p *Proxy) SetDown(down bool) {
	p.mu.Lock()
	p.cut, p.refuse = down, down
	p.mu.Unlock()
	p.closeAll()
}

// SetFrozen drops (true) or forwards (false) bytes on live connections
// without closing them: a link that loses everything but never errors.
func (p *Proxy) SetFrozen(frozen bool) { p.frozen.Store(frozen) }

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.conns[c] = struct{}{}
		cut, refuse := p.cut, p.refuse
		p.mu.Unlock()
		if refuse {
			_ = c.Close()
			continue
		}
		if cut {
			continue // held open, never answered
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[up] = struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(up, c)
		go p.pipe(c, up)
	}
}

func (p *Proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.frozen.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *Proxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
}
