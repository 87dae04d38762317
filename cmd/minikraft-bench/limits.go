package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// limits are the machine's ceilings measured in the same run: a broker on loopback cannot move
// data faster than one TCP connection does, nor persist it faster than the disk takes it.
type limits struct {
	loopbackMBps float64
	diskMBps     float64
	diskFS       string // file system type of the data directory
	machine      string
	// load is the 1-minute load average at the start and at the end of the run: other work on
	// the machine skews every figure, and the reader should be able to tell.
	loadStart, loadEnd float64
}

// loadAvg reads the 1-minute load average; -1 if it cannot.
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	var l float64
	if _, err := fmt.Sscan(string(b), &l); err != nil {
		return -1
	}
	return l
}

func measureLimits(ctx context.Context, dir string, o options) (limits, error) {
	l := limits{loadStart: loadAvg()}
	var err error
	d := min(max(o.duration/2, 300*time.Millisecond), 3*time.Second)
	if l.loopbackMBps, err = loopbackThroughput(ctx, d); err != nil {
		return l, fmt.Errorf("loopback: %w", err)
	}
	if l.diskMBps, err = diskThroughput(dir, int64(o.diskMB)*1000_000); err != nil {
		return l, fmt.Errorf("disk: %w", err)
	}
	l.diskFS = fsType(dir)
	l.machine = machine()
	return l, nil
}

// loopbackThroughput sends 1 MiB writes over one loopback TCP connection for d and reads them
// with 1 MiB reads, so neither side is the bottleneck of small buffers; the rate is what the
// receiver got over the time to its EOF.
func loopbackThroughput(ctx context.Context, d time.Duration) (float64, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	got := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- -1
			return
		}
		defer c.Close()
		buf := make([]byte, 1<<20)
		var n int64
		for {
			k, err := c.Read(buf)
			n += int64(k)
			if err != nil {
				break
			}
		}
		got <- n
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return 0, err
	}
	defer c.Close()
	buf := payload()[:1<<20]
	start := time.Now()
	for time.Since(start) < d && ctx.Err() == nil {
		if _, err := c.Write(buf); err != nil {
			return 0, err
		}
	}
	c.(*net.TCPConn).CloseWrite()
	n := <-got
	if n < 0 {
		return 0, fmt.Errorf("accept failed")
	}
	return float64(n) / time.Since(start).Seconds() / 1e6, nil
}

// diskThroughput writes n bytes sequentially in 1 MiB buffered writes to a file in dir and
// fsyncs once at the end: the way a broker that does not fsync each batch uses the disk, with
// the final fsync making sure the figure is the device's, not the page cache's.
func diskThroughput(dir string, n int64) (float64, error) {
	path := filepath.Join(dir, "disk-probe")
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer os.Remove(path)
	defer f.Close()
	start := time.Now()
	var written int64
	for written < n {
		k, err := f.Write(payload()[:min(1<<20, n-written)])
		if err != nil {
			return 0, err
		}
		written += int64(k)
	}
	if err := f.Sync(); err != nil {
		return 0, err
	}
	return float64(written) / time.Since(start).Seconds() / 1e6, nil
}

// fsType names the file system under dir: on tmpfs the disk figure is memory bandwidth, and the
// reader should know.
func fsType(dir string) string {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return "unknown"
	}
	switch uint64(st.Type) {
	case 0x01021994:
		return "tmpfs"
	case 0xEF53:
		return "ext4"
	case 0x58465342:
		return "xfs"
	case 0x9123683E:
		return "btrfs"
	case 0x794C7630:
		return "overlayfs"
	case 0x2FC12FC1:
		return "zfs"
	}
	return fmt.Sprintf("fs 0x%x", uint64(st.Type))
}

// machine describes the box: CPU model and count, kernel, Go version.
func machine() string {
	cpu := "unknown CPU"
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	kernel := "unknown kernel"
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = "Linux " + strings.TrimSpace(string(b))
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			mem = fmt.Sprintf(", %.0f GB RAM", float64(kb)/1e6)
		}
	}
	return fmt.Sprintf("%s, %d CPUs%s, %s, %s", cpu, runtime.NumCPU(), mem, kernel, runtime.Version())
}
