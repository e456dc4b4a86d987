import { toJson, type DescMessage, type JsonValue, type MessageShape } from "@bufbuild/protobuf";

/** What the RPC-only tenant commands (streams, webhooks) share. */

/** The RPC's JSON (proto3 JSON, every field shown) for --json output. */
export const jsonOf = <D extends DescMessage>(schema: D, message: MessageShape<D> | undefined): JsonValue => (message === undefined ? null : toJson(schema, message, { alwaysEmitImplicit: true }));

export const positiveInt = (what: string) => (v: string) => {
  if (!/^[0-9]{1,9}$/.test(v) || Number(v) < 1) throw new Error(`${what} must be a positive integer`);
  return Number(v);
};
