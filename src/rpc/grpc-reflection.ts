import { create, fromBinary, toBinary, type DescFile, type DescService } from "@bufbuild/protobuf";
import { nestedTypes } from "@bufbuild/protobuf/reflect";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  ServerReflection,
  ServerReflectionRequestSchema,
  ServerReflectionResponseSchema,
  type ServerReflectionRequest,
  type ServerReflectionResponse,
} from "../../gen/ts/grpc/reflection/v1/reflection_pb.js";
import {
  ServerReflection as ServerReflectionV1Alpha,
  ServerReflectionRequestSchema as RequestV1AlphaSchema,
  ServerReflectionResponseSchema as ResponseV1AlphaSchema,
} from "../../gen/ts/grpc/reflection/v1alpha/reflection_pb.js";

/**
 * What reflection knows: the files of the served services and every file
 * they import (the compiled descriptors in gen/ts, nothing read from disk),
 * indexed by file name, by the full name of each symbol and by extension.
 */
export class DescriptorIndex {
  readonly #files = new Map<string, DescFile>();
  readonly #bySymbol = new Map<string, DescFile>();
  /** Extendee full name → extension number → the file declaring it. */
  readonly #extensions = new Map<string, Map<number, DescFile>>();
  /** Each file's serialized FileDescriptorProto, encoded once. */
  readonly #encoded = new Map<string, Uint8Array>();

  constructor(readonly services: readonly DescService[]) {
    for (const service of services) this.#add(service.file);
  }

  #add(file: DescFile): void {
    const name = file.proto.name;
    if (this.#files.has(name)) return;
    this.#files.set(name, file);
    this.#encoded.set(name, toBinary(FileDescriptorProtoSchema, file.proto));
    for (const service of file.services) {
      this.#bySymbol.set(service.typeName, file);
      for (const method of service.methods) this.#bySymbol.set(`${service.typeName}.${method.name}`, file);
    }
    for (const type of nestedTypes(file)) {
      this.#bySymbol.set(type.typeName, file);
      if (type.kind === "extension") {
        const numbers = this.#extensions.get(type.extendee.typeName) ?? new Map<number, DescFile>();
        numbers.set(type.number, file);
        this.#extensions.set(type.extendee.typeName, numbers);
      }
    }
    for (const dependency of file.dependencies) this.#add(dependency);
  }

  file(name: string): DescFile | undefined {
    return this.#files.get(name);
  }

  /** The file declaring a fully qualified symbol: a message, enum, service, method or extension (a field of a message resolves to its message's file). */
  fileOfSymbol(symbol: string): DescFile | undefined {
    const found = this.#bySymbol.get(symbol);
    if (found) return found;
    const dot = symbol.lastIndexOf(".");
    // A field or enum value is declared in its parent's file.
    return dot > 0 ? this.#bySymbol.get(symbol.slice(0, dot)) : undefined;
  }

  fileOfExtension(extendee: string, number: number): DescFile | undefined {
    return this.#extensions.get(extendee)?.get(number);
  }

  extensionNumbers(extendee: string): number[] | undefined {
    const numbers = this.#extensions.get(extendee);
    if (numbers) return [...numbers.keys()].sort((a, b) => a - b);
    // A known message without extensions has none; an unknown name is not found.
    return this.#bySymbol.has(extendee) ? [] : undefined;
  }

  /** The file and, after it, every file it imports (directly or not) that this stream has not been sent yet. */
  withDependencies(file: DescFile, sent: Set<string>): Uint8Array[] {
    const out: Uint8Array[] = [];
    const visit = (f: DescFile, requested: boolean) => {
      if (!requested && sent.has(f.proto.name)) return;
      sent.add(f.proto.name);
      out.push(this.#encoded.get(f.proto.name)!);
      for (const dependency of f.dependencies) visit(dependency, false);
    };
    visit(file, true);
    return out;
  }
}

/** One answer of the reflection stream; `sent` is what this stream was given already (clients cache files per stream). */
export function reflect(index: DescriptorIndex, request: ServerReflectionRequest, sent: Set<string>): ServerReflectionResponse {
  const base = { validHost: request.host, originalRequest: request };
  const files = (file: DescFile | undefined, what: string): ServerReflectionResponse =>
    file
      ? create(ServerReflectionResponseSchema, { ...base, messageResponse: { case: "fileDescriptorResponse", value: { fileDescriptorProto: index.withDependencies(file, sent) } } })
      : notFound(what);
  const notFound = (what: string) =>
    create(ServerReflectionResponseSchema, { ...base, messageResponse: { case: "errorResponse", value: { errorCode: Code.NotFound, errorMessage: `${what} not found` } } });
  const r = request.messageRequest;
  switch (r.case) {
    case "listServices":
      return create(ServerReflectionResponseSchema, { ...base, messageResponse: { case: "listServicesResponse", value: { service: index.services.map((s) => ({ name: s.typeName })) } } });
    case "fileByFilename":
      return files(index.file(r.value), "file");
    case "fileContainingSymbol":
      return files(index.fileOfSymbol(r.value), "symbol");
    case "fileContainingExtension":
      return files(index.fileOfExtension(r.value.containingType, r.value.extensionNumber), "extension");
    case "allExtensionNumbersOfType": {
      const numbers = index.extensionNumbers(r.value);
      if (!numbers) return notFound("type");
      return create(ServerReflectionResponseSchema, { ...base, messageResponse: { case: "allExtensionNumbersResponse", value: { baseTypeName: r.value, extensionNumber: numbers } } });
    }
    default:
      return create(ServerReflectionResponseSchema, {
        ...base,
        messageResponse: { case: "errorResponse", value: { errorCode: Code.InvalidArgument, errorMessage: "message_request: one of its fields must be set" } },
      });
  }
}

/** The reflection service in its two versions, v1 and v1alpha (what older clients such as grpcurl's ask first); their messages are the same on the wire. */
export function reflectionServices(index: DescriptorIndex): { v1: ServiceImpl<typeof ServerReflection>; v1alpha: ServiceImpl<typeof ServerReflectionV1Alpha> } {
  return {
    v1: {
      async *serverReflectionInfo(requests) {
        const sent = new Set<string>();
        for await (const request of requests) yield reflect(index, request, sent);
      },
    },
    v1alpha: {
      async *serverReflectionInfo(requests) {
        const sent = new Set<string>();
        for await (const request of requests) {
          const asV1 = fromBinary(ServerReflectionRequestSchema, toBinary(RequestV1AlphaSchema, request));
          yield fromBinary(ResponseV1AlphaSchema, toBinary(ServerReflectionResponseSchema, reflect(index, asV1, sent)));
        }
      },
    },
  };
}

export { ServerReflection, ServerReflectionV1Alpha };
