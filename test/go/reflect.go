// A gRPC client that knows none of Attesto's .proto files: it asks the
// server's reflection service (grpc.reflection.v1alpha, the version
// Debian's google.golang.org/grpc ships a client for) which services there
// are and for the descriptors of one, builds its messages from them with
// protodesc and dynamicpb, and calls a method. It also asks the standard
// health service.
//
//	reflect ADDR API_KEY SERVICE METHOD   (JSON lines on stdout)
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	rpb "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "FAILED: "+format+"\n", args...)
	os.Exit(1)
}

func emit(v interface{}) {
	line, _ := json.Marshal(v)
	fmt.Println(string(line))
}

func main() {
	if len(os.Args) != 5 {
		fail("usage: reflect ADDR API_KEY SERVICE METHOD")
	}
	addr, key, serviceName, methodName := os.Args[1], os.Args[2], os.Args[3], os.Args[4]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := grpc.DialContext(ctx, addr, grpc.WithInsecure(), grpc.WithBlock())
	if err != nil {
		fail("dial: %v", err)
	}
	defer conn.Close()

	health, err := grpc_health_v1.NewHealthClient(conn).Check(ctx, &grpc_health_v1.HealthCheckRequest{})
	if err != nil {
		fail("health: %v", err)
	}
	emit(map[string]string{"health": health.GetStatus().String()})

	stream, err := rpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		fail("reflection stream: %v", err)
	}
	ask := func(req *rpb.ServerReflectionRequest) *rpb.ServerReflectionResponse {
		if err := stream.Send(req); err != nil {
			fail("reflection send: %v", err)
		}
		res, err := stream.Recv()
		if err != nil {
			fail("reflection receive: %v", err)
		}
		if e := res.GetErrorResponse(); e != nil {
			fail("reflection error %d: %s", e.ErrorCode, e.ErrorMessage)
		}
		return res
	}

	var services []string
	for _, s := range ask(&rpb.ServerReflectionRequest{MessageRequest: &rpb.ServerReflectionRequest_ListServices{}}).GetListServicesResponse().GetService() {
		services = append(services, s.GetName())
	}
	emit(map[string][]string{"services": services})

	// The file declaring the service, and every file it imports, as the server sent them.
	res := ask(&rpb.ServerReflectionRequest{MessageRequest: &rpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: serviceName}})
	set := &descriptorpb.FileDescriptorSet{}
	for _, raw := range res.GetFileDescriptorResponse().GetFileDescriptorProto() {
		file := &descriptorpb.FileDescriptorProto{}
		if err := proto.Unmarshal(raw, file); err != nil {
			fail("descriptor: %v", err)
		}
		set.File = append(set.File, file)
	}
	files, err := protodesc.NewFiles(set)
	if err != nil {
		fail("descriptors do not link: %v", err)
	}
	found, err := files.FindDescriptorByName(protoreflect.FullName(serviceName))
	if err != nil {
		fail("service %s: %v", serviceName, err)
	}
	method := found.(protoreflect.ServiceDescriptor).Methods().ByName(protoreflect.Name(methodName))
	if method == nil {
		fail("no method %s", methodName)
	}
	in := dynamicpb.NewMessage(method.Input())
	out := dynamicpb.NewMessage(method.Output())
	callCtx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+key)
	if err := conn.Invoke(callCtx, fmt.Sprintf("/%s/%s", serviceName, methodName), in, out); err != nil {
		fail("call: %v", err)
	}
	answer, err := protojson.Marshal(out)
	if err != nil {
		fail("answer: %v", err)
	}
	emit(map[string]json.RawMessage{"answer": answer})
}
