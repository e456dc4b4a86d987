// What a tenant's Go program does with Attesto over gRPC: create a stream,
// append events, have checkpoints signed, fetch an inclusion and a
// consistency proof, and verify them with golang.org/x/mod/sumdb/note and
// tlog against the stream's verifier key, trusting nothing unchecked.
//
//	ATTESTO_ADDR=127.0.0.1:8080 ATTESTO_API_KEY=atk_… go run .
//
// Attesto serves gRPC over h2c on its one port (TLS in front of it in
// production: use credentials.NewTLS instead of insecure). Prints one JSON
// line; exits 1 when a check fails.
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	attestov1 "github.com/attesto-eu/attesto/gen/go/attesto/v1"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// apiKey sends the tenant key with every call.
type apiKey string

func (k apiKey) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(k)}, nil
}

// RequireTransportSecurity is false for the h2c example; keep it true behind TLS.
func (apiKey) RequireTransportSecurity() bool { return false }

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "FAILED: "+format+"\n", args...)
	os.Exit(1)
}

// checkpoint is a signed tlog-checkpoint opened with the pinned verifier.
type checkpoint struct {
	origin string
	size   int64
	root   tlog.Hash
}

func openCheckpoint(text string, verifiers note.Verifiers, origin string) checkpoint {
	n, err := note.Open([]byte(text), verifiers)
	if err != nil {
		fail("checkpoint signature: %v", err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 || lines[0] != origin {
		fail("checkpoint body names another origin: %q", lines[0])
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		fail("checkpoint size: %v", err)
	}
	raw, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(raw) != tlog.HashSize {
		fail("checkpoint root: %v", err)
	}
	var root tlog.Hash
	copy(root[:], raw)
	return checkpoint{origin: lines[0], size: size, root: root}
}

func hashOf(b []byte) tlog.Hash {
	var h tlog.Hash
	if len(b) != tlog.HashSize {
		fail("a hash of %d bytes", len(b))
	}
	copy(h[:], b)
	return h
}

func hashes(bs [][]byte) []tlog.Hash {
	out := make([]tlog.Hash, len(bs))
	for i, b := range bs {
		out[i] = hashOf(b)
	}
	return out
}

func main() {
	addr := os.Getenv("ATTESTO_ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	key := os.Getenv("ATTESTO_API_KEY")
	if key == "" {
		fmt.Fprintln(os.Stderr, "set ATTESTO_API_KEY to a tenant API key (npm start prints the development one)")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := grpc.DialContext(ctx, addr, grpc.WithInsecure(), grpc.WithPerRPCCredentials(apiKey(key)), grpc.WithBlock())
	if err != nil {
		fail("connect to %s: %v", addr, err)
	}
	defer conn.Close()
	streams := attestov1.NewProofstreamServiceClient(conn)

	// 1. A stream; its verifier key is what a verifier pins.
	created, err := streams.CreateStream(ctx, &attestov1.CreateStreamRequest{Name: fmt.Sprintf("go-example-%d", time.Now().UnixNano())})
	if err != nil {
		fail("CreateStream: %v", err)
	}
	stream := created.GetStream()
	verifier, err := note.NewVerifier(stream.GetVerifierKey())
	if err != nil {
		fail("verifier key: %v", err)
	}
	verifiers := note.VerifierList(verifier)

	// 2. Events, idempotent by source_ref.
	leafHashes := map[uint64]tlog.Hash{}
	appendEvent := func(n int) *attestov1.AppendEventResponse {
		payload, _ := structpb.NewStruct(map[string]interface{}{"order": fmt.Sprintf("order-%d", n), "amount": n * 100})
		res, err := streams.AppendEvent(ctx, &attestov1.AppendEventRequest{
			StreamId:   stream.GetId(),
			SourceRef:  fmt.Sprintf("order-%d", n),
			EventType:  "order.paid",
			OccurredAt: timestamppb.New(time.Date(2026, 1, n, 12, 0, 0, 0, time.UTC)),
			Payload:    payload,
		})
		if err != nil {
			fail("AppendEvent: %v", err)
		}
		leafHashes[res.GetEvent().GetSeqNo()] = hashOf(res.GetEvent().GetLeafHash())
		return res
	}
	for n := 1; n <= 5; n++ {
		appendEvent(n)
	}
	if again := appendEvent(3); !again.GetDuplicate() || again.GetEvent().GetSeqNo() != 3 {
		fail("appending order-3 again should return the original event")
	}

	// 3. A signed checkpoint of the 5 events.
	cp1, err := streams.CreateCheckpoint(ctx, &attestov1.CreateCheckpointRequest{StreamId: stream.GetId()})
	if err != nil {
		fail("CreateCheckpoint: %v", err)
	}
	first := openCheckpoint(cp1.GetCheckpoint().GetNote(), verifiers, stream.GetOrigin())
	if first.size != 5 {
		fail("first checkpoint has size %d", first.size)
	}

	// 4. Event 3 is in that tree (leaf index 2).
	inc, err := streams.GetInclusionProof(ctx, &attestov1.GetInclusionProofRequest{StreamId: stream.GetId(), Leaf: &attestov1.GetInclusionProofRequest_SeqNo{SeqNo: 3}, TreeSize: 5})
	if err != nil {
		fail("GetInclusionProof: %v", err)
	}
	if err := tlog.CheckRecord(tlog.RecordProof(hashes(inc.GetProof().GetAuditPath())), first.size, first.root, 2, leafHashes[3]); err != nil {
		fail("inclusion proof: %v", err)
	}

	// 5. Three more events, a second checkpoint, and proof that it extends the first.
	for n := 6; n <= 8; n++ {
		appendEvent(n)
	}
	cp2, err := streams.CreateCheckpoint(ctx, &attestov1.CreateCheckpointRequest{StreamId: stream.GetId()})
	if err != nil {
		fail("CreateCheckpoint: %v", err)
	}
	second := openCheckpoint(cp2.GetCheckpoint().GetNote(), verifiers, stream.GetOrigin())
	cons, err := streams.GetConsistencyProof(ctx, &attestov1.GetConsistencyProofRequest{StreamId: stream.GetId(), FromSize: uint64(first.size), ToSize: uint64(second.size)})
	if err != nil {
		fail("GetConsistencyProof: %v", err)
	}
	if err := tlog.CheckTree(tlog.TreeProof(hashes(cons.GetProof().GetConsistencyPath())), second.size, second.root, first.size, first.root); err != nil {
		fail("consistency proof: %v", err)
	}

	out, _ := json.Marshal(map[string]interface{}{
		"ok": true, "streamId": stream.GetId(), "origin": stream.GetOrigin(),
		"checkpoints": []int64{first.size, second.size}, "inclusion": "verified", "consistency": "verified",
	})
	fmt.Println(string(out))
}
