// ttrpc-health serves haven.v1.Daemon/Health with containerd's own ttrpc
// server (Debian's golang-github-containerd-ttrpc-dev), answering every call
// with the exact HealthResponse bytes havend gave in the same benchmark run.
// It is the reference implementation haven-bench compares havend against.
//
//	ttrpc-health SOCKET_PATH RESPONSE_FILE
package main

import (
	"context"
	"fmt"
	"net"
	"os"

	"github.com/containerd/ttrpc"
)

// raw is an already-encoded message: ttrpc's gogo codec uses Marshal and
// Unmarshal when a message has them, so bytes pass through untouched.
type raw struct{ b []byte }

func (r *raw) Reset()                   { r.b = nil }
func (r *raw) String() string           { return fmt.Sprintf("raw(%d bytes)", len(r.b)) }
func (r *raw) ProtoMessage()            {}
func (r *raw) Marshal() ([]byte, error) { return r.b, nil }
func (r *raw) Unmarshal(b []byte) error { r.b = append(r.b[:0], b...); return nil }

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: ttrpc-health SOCKET_PATH RESPONSE_FILE")
		os.Exit(2)
	}
	response, err := os.ReadFile(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	server, err := ttrpc.NewServer()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	server.Register("haven.v1.Daemon", map[string]ttrpc.Method{
		"Health": func(ctx context.Context, unmarshal func(interface{}) error) (interface{}, error) {
			var request raw
			if err := unmarshal(&request); err != nil {
				return nil, err
			}
			return &raw{b: response}, nil
		},
	})
	os.Remove(os.Args[1])
	listener, err := net.Listen("unix", os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := server.Serve(context.Background(), listener); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
