package main

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// runSoak is the steady-state check of issue 8's RSS goal: one minikraft process takes a
// moderate produce load (1 KB records, acks=all) and a consumer reads along, for o.soak; the
// server's RSS is sampled every o.soak/20 and printed with the bytes moved, so growth over time
// shows (or does not). The run is bounded in time and goes to loopback only.
func runSoak(ctx context.Context, o options) error {
	s, done, err := startOwnMinikraft(ctx, o, "minikraft-soak-")
	if err != nil {
		return err
	}
	defer done()
	if err := waitWritable(ctx, s.addrs); err != nil {
		return err
	}
	if err := createTopics(ctx, s.addrs, o.partitions, 1, []string{"soak"}); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.soak)
	defer cancel()

	var produced, consumed atomic.Int64
	prod, err := kgo.NewClient(producerOpts(s.addrs, "soak", 5*time.Millisecond)...)
	if err != nil {
		return err
	}
	defer prod.Close()
	cons, err := kgo.NewClient(kgo.SeedBrokers(s.addrs...), kgo.ConsumeTopics("soak"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return err
	}
	defer cons.Close()
	go func() {
		for ctx.Err() == nil {
			fs := cons.PollFetches(ctx)
			fs.EachRecord(func(r *kgo.Record) { consumed.Add(int64(len(r.Value))) })
		}
	}()
	go func() {
		// A fixed rate: o.rate records of 1 KB per second, in 10 ms steps.
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		per := max(1, o.rate/100)
		for i := 0; ctx.Err() == nil; {
			select {
			case <-tick.C:
			case <-ctx.Done():
				return
			}
			for j := 0; j < per; j++ {
				v := valueAt(i, 1000)
				i++
				prod.Produce(ctx, &kgo.Record{Value: v}, func(r *kgo.Record, err error) {
					if err == nil {
						produced.Add(int64(len(r.Value)))
					}
				})
			}
		}
	}()

	step := o.soak / 20
	start := time.Now()
	fmt.Printf("soak: %v at %d records/s of 1 KB, RSS every %v\n\n", o.soak, o.rate, step)
	fmt.Println("| elapsed | RSS MB | peak RSS MB | produced MB | consumed MB |")
	fmt.Println("|--:|--:|--:|--:|--:|")
	sample := func() {
		peak, cur, err := s.memory()
		if err != nil {
			fmt.Println("soak: reading RSS:", err)
			return
		}
		fmt.Printf("| %v | %.1f | %.1f | %.0f | %.0f |\n", time.Since(start).Round(time.Second),
			float64(cur)/1e6, float64(peak)/1e6, float64(produced.Load())/1e6, float64(consumed.Load())/1e6)
	}
	sample()
	t := time.NewTicker(step)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			sample()
		case <-ctx.Done():
			sample()
			return nil
		}
	}
}
