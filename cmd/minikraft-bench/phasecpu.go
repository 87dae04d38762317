package main

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// What limits a throughput phase. On a machine of a few cores the client and the server share
// the CPUs, so a phase is either CPU-bound (client and server together keep about every core
// busy: the figure then follows the CPU each side spends per GB, and a server can only win by
// spending less) or bound by something else (round trips, wake-ups, the disk, the client's
// in-flight limit: then CPU per GB says little about the rate). phaseCPU keeps what tells the
// two apart: each side's CPU over the phase, and for consume the share of the time the client
// waited for fetch responses (the rest it spent on its own work between them, while the server
// idled, since franz-go sends a broker's next fetch only after the previous one's records are
// buffered).
type phaseCPU struct {
	produce, consume cpuSpan
	fetchWait        float64 // share of the consume phase's wall time spent waiting for fetch responses
}

// cpuSpan is the CPU the client (this process: the servers are children) and the server used
// over one phase, its wall time and the GB of values it moved. other is the rest of the
// machine's busy CPU over the phase: mostly the kernel's work that neither process is charged
// for, such as writing dirty pages back to the disk and interrupts, and whatever else runs.
type cpuSpan struct {
	wall, client, server, other, gb float64 // seconds, seconds, seconds, seconds, 10⁹ bytes
}

// measure runs fn and records its wall time and both sides' CPU time. The client's is this
// process's (getrusage), which holds nothing else that runs during a phase.
func (c *cpuSpan) measure(s *server, fn func() error) error {
	s0, err := s.cpuSeconds()
	if err != nil {
		return err
	}
	m0, mok := machineBusySeconds()
	c0, start := selfCPUSeconds(), time.Now()
	if err := fn(); err != nil {
		return err
	}
	c.wall, c.client = time.Since(start).Seconds(), selfCPUSeconds()-c0
	s1, err := s.cpuSeconds()
	if err != nil {
		return err
	}
	c.server = s1 - s0
	if m1, ok := machineBusySeconds(); ok && mok {
		c.other = max(m1-m0-c.client-c.server, 0)
	}
	return nil
}

// otherPerGB is the rest of the machine's CPU seconds per GB of values moved (see cpuSpan).
func (c cpuSpan) otherPerGB() (float64, bool) {
	if c.gb <= 0 {
		return 0, false
	}
	return c.other / c.gb, true
}

// machineBusySeconds is the CPU time every CPU has spent busy since boot, from /proc/stat's
// first line: user, nice, system, irq and softirq (not idle, iowait or a hypervisor's steal), in
// clock ticks.
func machineBusySeconds() (float64, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, false
	}
	var ticks float64
	for _, i := range []int{1, 2, 3, 6, 7} { // user nice system irq softirq
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return 0, false
		}
		ticks += v
	}
	return ticks / clockTicks, true
}

// clientPerGB is the client's CPU seconds per GB of values moved.
func (c cpuSpan) clientPerGB() (float64, bool) {
	if c.gb <= 0 {
		return 0, false
	}
	return c.client / c.gb, true
}

// busy is how many CPUs the client and the server kept busy together, on average.
func (c cpuSpan) busy() (float64, bool) {
	if c.wall <= 0 {
		return 0, false
	}
	return (c.client + c.server) / c.wall, true
}

func selfCPUSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// fetchWaits adds up, over a consumer's fetches, the time from each request's write to the end of
// its response's read: the server's time to answer plus the transfer, during which the client
// has nothing else to do. It is kept per broker, since the consumer has one fetch in flight to
// each broker at once. It also keeps the two parts apart (to the response's first byte, the
// server answering; reading the rest, the transfer) and the span from the first request to the
// last response, for perFetch.
type fetchWaits struct {
	mu          sync.Mutex
	perNode     map[int32]time.Duration
	n           int
	wait, read  time.Duration
	first, last time.Time
}

func (w *fetchWaits) OnBrokerE2E(meta kgo.BrokerMetadata, key int16, e kgo.BrokerE2E) {
	if key != 1 || e.Err() != nil {
		return
	}
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.perNode == nil {
		w.perNode = map[int32]time.Duration{}
	}
	w.perNode[meta.NodeID] += e.ReadWait + e.TimeToRead
	if w.n == 0 {
		// The span starts at the first fetch's request, not at its end.
		w.first = now.Add(-(e.WriteWait + e.TimeToWrite + e.ReadWait + e.TimeToRead))
	}
	w.last = now
	w.n++
	w.wait += e.ReadWait
	w.read += e.TimeToRead
}

// perFetch returns, per fetch on average, the time to the response's first byte, the time
// reading the rest, and the rest of each fetch's share of the span from the first request to the
// last response: the client's own work between fetches (decoding and buffering the records,
// writing the next request).
func (w *fetchWaits) perFetch() (firstByte, reading, between time.Duration, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.n == 0 {
		return 0, 0, 0, false
	}
	n := time.Duration(w.n)
	span := w.last.Sub(w.first)
	return w.wait / n, w.read / n, (span - w.wait - w.read) / n, true
}

// share is the waiting time as a share of wall seconds, averaged over the brokers fetched from.
func (w *fetchWaits) share(wall float64) float64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	if wall <= 0 || len(w.perNode) == 0 {
		return 0
	}
	var total time.Duration
	for _, d := range w.perNode {
		total += d
	}
	return total.Seconds() / wall / float64(len(w.perNode))
}
