// The Go module of the generated gRPC and Protobuf code (proto/ → gen/go).
// Written by `npm run generate` after buf generate (buf cleans gen/go first);
// edit scripts/gen-go.mod.txt, not gen/go/go.mod.
module github.com/attesto-eu/attesto/gen/go

go 1.19

require (
	google.golang.org/grpc v1.33.3
	google.golang.org/protobuf v1.28.1
)
