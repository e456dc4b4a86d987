import { create, createFileRegistry, fromBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { ProofstreamService } from "../../gen/ts/attesto/v1/proofstream_pb.js";
import { TenantService } from "../../gen/ts/attesto/v1/tenant_pb.js";
import { ServerReflectionRequestSchema } from "../../gen/ts/grpc/reflection/v1/reflection_pb.js";
import { DescriptorIndex, reflect } from "./grpc-reflection.js";

const index = new DescriptorIndex([TenantService, ProofstreamService]);
const ask = (messageRequest: MessageInitShape<typeof ServerReflectionRequestSchema>["messageRequest"], sent = new Set<string>()) =>
  reflect(index, create(ServerReflectionRequestSchema, { messageRequest }), sent);
const filesOf = (response: ReturnType<typeof ask>) => {
  if (response.messageResponse.case !== "fileDescriptorResponse") throw new Error(`not files: ${response.messageResponse.case}`);
  return response.messageResponse.value.fileDescriptorProto.map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes));
};

describe("gRPC reflection from the compiled descriptors", () => {
  it("lists the services it was given", () => {
    const response = ask({ case: "listServices", value: "*" });
    expect(response.messageResponse.case === "listServicesResponse" && response.messageResponse.value.service.map((s) => s.name)).toEqual([
      "attesto.v1.TenantService",
      "attesto.v1.ProofstreamService",
    ]);
  });

  it("answers a symbol with its file first and every file it imports, which link into a registry", () => {
    const files = filesOf(ask({ case: "fileContainingSymbol", value: "attesto.v1.TenantService" }));
    expect(files[0]!.name).toBe("attesto/v1/tenant.proto");
    const names = files.map((f) => f.name);
    expect(names).toContain("google/protobuf/descriptor.proto");
    expect(new Set(names).size).toBe(names.length);
    // Linked as a client would: each import resolved from the files of the answer.
    const registry = createFileRegistry(files[0]!, (name) => files.find((f) => f.name === name));
    expect(registry.getService("attesto.v1.TenantService")?.methods.map((m) => m.name)).toContain("GetCurrentTenant");
  });

  it("resolves methods, messages, fields and enum values to their file; unknown names are NOT_FOUND", () => {
    for (const symbol of ["attesto.v1.ProofstreamService.AppendEvent", "attesto.v1.AppendEventRequest", "attesto.v1.AppendEventRequest.stream_id"]) {
      expect(filesOf(ask({ case: "fileContainingSymbol", value: symbol }))[0]!.name).toBe("attesto/v1/proofstream.proto");
    }
    for (const messageRequest of [
      { case: "fileContainingSymbol", value: "attesto.v1.Nothing" },
      { case: "fileByFilename", value: "../../etc/passwd" },
      { case: "fileContainingExtension", value: { containingType: "google.protobuf.FieldOptions", extensionNumber: 1 } },
      { case: "allExtensionNumbersOfType", value: "no.Such" },
    ] as const) {
      const response = ask(messageRequest);
      expect(response.messageResponse.case).toBe("errorResponse");
      expect(response.messageResponse.value).toMatchObject({ errorCode: Code.NotFound });
    }
    expect(ask({ case: undefined }).messageResponse.value).toMatchObject({ errorCode: Code.InvalidArgument });
  });

  it("finds the contract's field-rules extension by extendee and number", () => {
    const numbers = ask({ case: "allExtensionNumbersOfType", value: "google.protobuf.FieldOptions" });
    expect(numbers.messageResponse.case === "allExtensionNumbersResponse" && numbers.messageResponse.value.extensionNumber).toEqual([51001]);
    expect(filesOf(ask({ case: "fileContainingExtension", value: { containingType: "google.protobuf.FieldOptions", extensionNumber: 51001 } }))[0]!.name).toBe("attesto/v1/validate.proto");
  });

  it("sends a stream each imported file once; the requested file always", () => {
    const sent = new Set<string>();
    const first = filesOf(ask({ case: "fileByFilename", value: "attesto/v1/proofstream.proto" }, sent)).map((f) => f.name);
    const again = filesOf(ask({ case: "fileByFilename", value: "attesto/v1/tenant.proto" }, sent)).map((f) => f.name);
    expect(first).toContain("attesto/v1/validate.proto");
    expect(again[0]).toBe("attesto/v1/tenant.proto");
    for (const name of again.slice(1)) expect(first).not.toContain(name);
    expect(filesOf(ask({ case: "fileByFilename", value: "attesto/v1/proofstream.proto" }, sent)).map((f) => f.name)).toEqual(["attesto/v1/proofstream.proto"]);
  });
});
