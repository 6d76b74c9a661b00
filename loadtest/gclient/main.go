// Command gclient is the load test's native gRPC client (`npm run loadtest:grpc`, `--client auto|go`).
//
// The grpc-js client spends 5–8 ms in each young-generation collection at 2 000 calls/s (every HTTP/2
// stream's wrapper survives the scavenge), and those pauses land in the p99 of whatever it measures,
// router and echo alike. This client measures the server instead of itself: Go's collector does not
// stop the sending goroutines for milliseconds at this rate.
//
// It speaks a line protocol with loadtest/lib/drivers.ts on stdin/stdout, one JSON object per line:
//   - "setup": the token and the lanes — a target each, with the methods of one iteration's calls and
//     their pre-encoded requests, plus where to write the iteration number into them (fixed-width
//     decimal fields such as the conversation id); iterations take the lanes in turn;
//   - "run": an open loop at a rate or a closed loop with a concurrency, for a duration, answered with
//     the latency of every measured (first) call and when it ended.
//
// Request bodies come pre-encoded from the TypeScript side, so this file needs no generated code.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protowire"

	"golang.org/x/sys/unix"
)

// rawCodec passes the pre-encoded request bytes through and hands back the reply's bytes.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	b := v.(*[]byte)
	*b = append((*b)[:0], data...)
	return nil
}
func (rawCodec) Name() string { return "raw" }

var _ encoding.Codec = rawCodec{}

// patch writes the iteration number (modulo Mod when non-zero) as Width zero-padded decimal digits
// at Offset, e.g. inside the conversation id.
type patch struct {
	Offset int    `json:"offset"`
	Width  int    `json:"width"`
	Mod    uint64 `json:"mod"`
}

// template is one call's pre-encoded request and where to write the iteration number into it.
type template struct {
	Method  string  `json:"method"`
	Bytes   []byte  `json:"bytes"` // base64 in JSON
	Patches []patch `json:"patches"`
	// CheckStatus: the reply's protobuf field 2 (EnqueueResponse.status) must equal this value.
	CheckStatus int `json:"check_status"`
}

func (t *template) render(n uint64) []byte {
	b := make([]byte, len(t.Bytes))
	copy(b, t.Bytes)
	for _, p := range t.Patches {
		v := n
		if p.Mod != 0 {
			v %= p.Mod
		}
		for i := p.Width - 1; i >= 0; i-- {
			b[p.Offset+i] = byte('0' + v%10)
			v /= 10
		}
	}
	return b
}

// lane is one target and the calls of an iteration there (e.g. one tenant's, at its owner).
type lane struct {
	Target string     `json:"target"`
	Calls  []template `json:"calls"`
	conn   *grpc.ClientConn
}

type command struct {
	Cmd         string  `json:"cmd"`
	Token       string  `json:"token"`
	CAFile      string  `json:"ca_file"` // set: TLS, trusting this PEM CA
	Lanes       []lane  `json:"lanes"`
	Start       uint64  `json:"start"`
	Rate        float64 `json:"rate"`
	Concurrency int     `json:"concurrency"`
	Millis      int     `json:"ms"`
	// Trace: also hand back each measured call's iteration number and its start and end on the
	// machine's monotonic clock (CLOCK_MONOTONIC, the clock of Node's process.hrtime), so the load test
	// can line them up with the server's own per-call times (`--trace-calls`).
	Trace bool `json:"trace"`
}

type result struct {
	Ops        int64   `json:"ops"`
	Errors     int64   `json:"errors"`
	FirstError string  `json:"first_error,omitempty"`
	Seconds    float64 `json:"seconds"`
	// LatUs and EndMs are parallel: the measured call's latency (µs) and when it ended (ms since the
	// run started).
	LatUs []float64 `json:"lat_us"`
	EndMs []float64 `json:"end_ms"`
	// With "trace": parallel to LatUs.
	Iter    []uint64 `json:"iter,omitempty"`
	StartNs []int64  `json:"start_ns,omitempty"`
	EndNs   []int64  `json:"end_ns,omitempty"`
	// Open loop: how late each iteration left after its due time, µs (p50, p99, max): a run whose calls
	// leave late measures the client's timers, not the server.
	LateP50Us float64 `json:"late_p50_us,omitempty"`
	LateP99Us float64 `json:"late_p99_us,omitempty"`
	LateMaxUs float64 `json:"late_max_us,omitempty"`
}

// monoNs reads CLOCK_MONOTONIC (Go's own monotonic reading inside time.Time is not exposed).
func monoNs() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return ts.Nano()
}

// client takes iterations from its lanes in turn, so a rate is shared evenly among them.
type client struct {
	ctx   context.Context
	lanes []lane
	next  atomic.Uint64
}

func statusField(reply []byte) (int, error) {
	for len(reply) > 0 {
		num, typ, n := protowire.ConsumeTag(reply)
		if n < 0 {
			return 0, errors.New("bad reply")
		}
		reply = reply[n:]
		if num == 2 && typ == protowire.VarintType {
			v, m := protowire.ConsumeVarint(reply)
			if m < 0 {
				return 0, errors.New("bad reply")
			}
			return int(v), nil
		}
		m := protowire.ConsumeFieldValue(num, typ, reply)
		if m < 0 {
			return 0, errors.New("bad reply")
		}
		reply = reply[m:]
	}
	return 0, nil
}

const callTimeout = 30 * time.Second

// measured is one measured call: its iteration, latency and end, and (when tracing) its start and end
// on the monotonic clock.
type measured struct {
	n              uint64
	lat            time.Duration
	end            time.Time
	startNs, endNs int64
}

// iteration runs the calls in order; only the first is timed.
func (c *client) iteration(trace bool, rec func(m measured)) error {
	n := c.next.Add(1)
	l := &c.lanes[n%uint64(len(c.lanes))]
	for i := range l.Calls {
		t := &l.Calls[i]
		req := t.render(n)
		var reply []byte
		// A deadline, so a server that stops answering fails the run instead of hanging it.
		ctx, cancel := context.WithTimeout(c.ctx, callTimeout)
		var m0, m1 int64
		if trace && i == 0 {
			m0 = monoNs()
		}
		t0 := time.Now()
		err := l.conn.Invoke(ctx, t.Method, &req, &reply, grpc.ForceCodec(rawCodec{}))
		t1 := time.Now()
		if trace && i == 0 {
			m1 = monoNs()
		}
		cancel()
		if err != nil {
			return fmt.Errorf("%s: %w", t.Method, err)
		}
		if t.CheckStatus != 0 {
			st, err := statusField(reply)
			if err != nil {
				return err
			}
			if st != t.CheckStatus {
				return fmt.Errorf("%s answered status %d, not %d", t.Method, st, t.CheckStatus)
			}
		}
		if i == 0 {
			rec(measured{n: n, lat: t1.Sub(t0), end: t1, startNs: m0, endNs: m1})
		}
	}
	return nil
}

func (c *client) run(cmd command) result {
	var mu sync.Mutex
	res := result{LatUs: make([]float64, 0, 1<<14), EndMs: make([]float64, 0, 1<<14)}
	var ops, errs atomic.Int64
	var firstErr atomic.Value
	started := time.Now()
	rec := func(m measured) {
		mu.Lock()
		res.LatUs = append(res.LatUs, float64(m.lat.Nanoseconds())/1e3)
		res.EndMs = append(res.EndMs, float64(m.end.Sub(started).Nanoseconds())/1e6)
		if cmd.Trace {
			res.Iter = append(res.Iter, m.n)
			res.StartNs = append(res.StartNs, m.startNs)
			res.EndNs = append(res.EndNs, m.endNs)
		}
		mu.Unlock()
	}
	one := func() {
		if err := c.iteration(cmd.Trace, rec); err != nil {
			errs.Add(1)
			firstErr.CompareAndSwap(nil, err.Error())
		} else {
			ops.Add(1)
		}
	}
	dur := time.Duration(cmd.Millis) * time.Millisecond
	var wg sync.WaitGroup
	if cmd.Concurrency > 0 {
		for w := 0; w < cmd.Concurrency; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Since(started) < dur {
					one()
				}
			}()
		}
	} else {
		// Open loop: iteration i starts at started + i/rate whatever the answers do. The schedule runs on
		// a locked OS thread that sleeps to absolute CLOCK_MONOTONIC deadlines (clock_nanosleep with
		// TIMER_ABSTIME, an hrtimer): time.Sleep rounds to whole milliseconds once the network poller is
		// in use, which sent calls 0.5–1 ms late and, at 2 000/s, in pairs.
		total := int(cmd.Rate * dur.Seconds())
		intervalNs := int64(float64(time.Second) / cmd.Rate)
		runtime.LockOSThread()
		var now unix.Timespec
		_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &now)
		base := now.Nano()
		late := make([]float64, 0, total)
		for i := 0; i < total; i++ {
			due := base + int64(i)*intervalNs
			ts := unix.NsecToTimespec(due)
			for unix.ClockNanosleep(unix.CLOCK_MONOTONIC, unix.TIMER_ABSTIME, &ts, nil) == unix.EINTR {
			}
			_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &now)
			late = append(late, float64(now.Nano()-due)/1e3)
			wg.Add(1)
			go func() {
				defer wg.Done()
				one()
			}()
		}
		runtime.UnlockOSThread()
		if len(late) > 0 {
			sort.Float64s(late)
			at := func(q float64) float64 { return late[int(q*float64(len(late)-1))] }
			res.LateP50Us, res.LateP99Us, res.LateMaxUs = at(0.5), at(0.99), late[len(late)-1]
		}
	}
	wg.Wait()
	res.Ops, res.Errors = ops.Load(), errs.Load()
	if v := firstErr.Load(); v != nil {
		res.FirstError = v.(string)
	}
	res.Seconds = time.Since(started).Seconds()
	return res
}

func main() {
	// One OS thread runs Go code unless GOMAXPROCS says otherwise: the load generator shares the machine
	// with the servers it measures, and spreading its goroutines over every core takes CPU from them when
	// it matters most (a 2-core VM at 2 000/s: p50 2.0–2.2 ms against 2.5–2.7 ms, p99 lower in every pair).
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<24)
	out := json.NewEncoder(os.Stdout)
	var c *client
	for in.Scan() {
		var cmd command
		if err := json.Unmarshal(in.Bytes(), &cmd); err != nil {
			fmt.Fprintln(os.Stderr, "gclient: bad command:", err)
			os.Exit(2)
		}
		switch cmd.Cmd {
		case "setup":
			if len(cmd.Lanes) == 0 {
				fmt.Fprintln(os.Stderr, "gclient: setup without lanes")
				os.Exit(2)
			}
			conns := map[string]*grpc.ClientConn{}
			creds := insecure.NewCredentials()
			if cmd.CAFile != "" {
				tlsCreds, err := credentials.NewClientTLSFromFile(cmd.CAFile, "")
				if err != nil {
					fmt.Fprintln(os.Stderr, "gclient:", err)
					os.Exit(1)
				}
				creds = tlsCreds
			}
			for i := range cmd.Lanes {
				l := &cmd.Lanes[i]
				if conns[l.Target] == nil {
					conn, err := grpc.NewClient(l.Target, grpc.WithTransportCredentials(creds))
					if err != nil {
						fmt.Fprintln(os.Stderr, "gclient:", err)
						os.Exit(1)
					}
					conns[l.Target] = conn
				}
				l.conn = conns[l.Target]
			}
			ctx := context.Background()
			if cmd.Token != "" {
				ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+cmd.Token)
			}
			c = &client{ctx: ctx, lanes: cmd.Lanes}
			c.next.Store(cmd.Start)
			_ = out.Encode(map[string]bool{"ok": true})
		case "run":
			if c == nil {
				fmt.Fprintln(os.Stderr, "gclient: run before setup")
				os.Exit(2)
			}
			_ = out.Encode(c.run(cmd))
		default:
			fmt.Fprintln(os.Stderr, "gclient: unknown command", cmd.Cmd)
			os.Exit(2)
		}
	}
}
