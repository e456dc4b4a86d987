module github.com/attesto-eu/attesto/examples/go

go 1.19

require (
	github.com/attesto-eu/attesto/gen/go v0.0.0
	golang.org/x/mod v0.8.0
	google.golang.org/grpc v1.33.3
	google.golang.org/protobuf v1.28.1
)

// Built from this repository's generated code.
replace github.com/attesto-eu/attesto/gen/go => ../../gen/go
