import { readdirSync } from "node:fs";
import path from "node:path";
import { ScalarType, type DescField, type DescMessage, type DescMethod, type DescService } from "@bufbuild/protobuf";
import { ROOT } from "../support/process.js";

/** Every service of the contract, read from the generated descriptors (a new RPC is covered without touching the suite). */
export async function contractServices(): Promise<DescService[]> {
  const services: DescService[] = [];
  for (const dir of ["gen/ts/attesto/v1", "gen/ts/attesto/admin/v1"].map((d) => path.join(ROOT, d))) {
    for (const file of readdirSync(dir).filter((f) => f.endsWith("_pb.ts"))) {
      const mod = (await import(path.join(dir, file))) as Record<string, unknown>;
      for (const value of Object.values(mod)) if ((value as DescService)?.kind === "service") services.push(value as DescService);
    }
  }
  return services.sort((a, b) => a.typeName.localeCompare(b.typeName));
}

export const rpcPath = (m: DescMethod) => `/${m.parent.typeName}/${m.name}`;

const INT64 = new Set([ScalarType.INT64, ScalarType.UINT64, ScalarType.FIXED64, ScalarType.SFIXED64, ScalarType.SINT64]);
const INT32 = new Set([ScalarType.INT32, ScalarType.UINT32, ScalarType.FIXED32, ScalarType.SFIXED32, ScalarType.SINT32]);

export type FieldKind = "string" | "bytes" | "bool" | "int32" | "int64" | "float" | "enum" | "timestamp" | "duration" | "json" | "message";

/** What JSON a field takes, coarsely: enough to generate right and wrong values for it. */
export function kindOf(field: DescField): FieldKind {
  if (field.fieldKind === "enum") return "enum";
  if (field.fieldKind === "message") {
    const t = field.message.typeName;
    if (t === "google.protobuf.Timestamp") return "timestamp";
    if (t === "google.protobuf.Duration") return "duration";
    if (t.startsWith("google.protobuf.") && /Struct|Value|ListValue/.test(t)) return "json";
    return "message";
  }
  if (field.fieldKind === "scalar" || field.fieldKind === "list") {
    const scalar = field.fieldKind === "scalar" ? field.scalar : field.scalar;
    if (scalar === undefined) return field.fieldKind === "list" && field.listKind === "message" ? "message" : "string";
    if (scalar === ScalarType.STRING) return "string";
    if (scalar === ScalarType.BYTES) return "bytes";
    if (scalar === ScalarType.BOOL) return "bool";
    if (INT64.has(scalar)) return "int64";
    if (INT32.has(scalar)) return "int32";
    return "float";
  }
  return "string";
}

export type { DescField, DescMessage, DescMethod, DescService };
