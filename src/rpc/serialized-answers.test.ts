import { create, toBinary, toJsonString } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { GetCurrentTenantResponseSchema } from "../../gen/ts/attesto/v1/tenant_pb.js";
import { answerBytes, reusedAnswer } from "./serialized-answers.js";

const encoder = new TextEncoder();

function counting() {
  const calls = { n: 0 };
  const serialize = (binary: boolean) => (message: Parameters<typeof toBinary>[1]) => {
    calls.n++;
    return binary ? toBinary(GetCurrentTenantResponseSchema, message as never) : encoder.encode(toJsonString(GetCurrentTenantResponseSchema, message as never));
  };
  return { calls, serialize };
}

describe("answerBytes", () => {
  it("serializes a reused answer once per encoding, and gives the same bytes as serializing it", () => {
    const answer = reusedAnswer(create(GetCurrentTenantResponseSchema, { tenant: { id: "ten_1", name: "acme", active: true } }));
    const { calls, serialize } = counting();
    const json = answerBytes(answer, false, serialize(false));
    expect(answerBytes(answer, false, serialize(false))).toBe(json);
    const binary = answerBytes(answer, true, serialize(true));
    expect(answerBytes(answer, true, serialize(true))).toBe(binary);
    expect(calls.n).toBe(2);
    expect(new TextDecoder().decode(json)).toBe(toJsonString(GetCurrentTenantResponseSchema, answer));
    expect(binary).toEqual(toBinary(GetCurrentTenantResponseSchema, answer));
  });

  it("keeps bytes of its own, not a slice of Buffer's shared pool", () => {
    const answer = reusedAnswer(create(GetCurrentTenantResponseSchema, { tenant: { id: "ten_2" } }));
    const kept = answerBytes(answer, false, (m) => Buffer.from(toJsonString(GetCurrentTenantResponseSchema, m as never)));
    expect(kept.buffer.byteLength).toBe(kept.byteLength);
    expect(new TextDecoder().decode(kept)).toBe('{"tenant":{"id":"ten_2"}}');
  });

  it("serializes any other answer on every call", () => {
    const answer = create(GetCurrentTenantResponseSchema, { tenant: { id: "ten_1", name: "acme" } });
    const { calls, serialize } = counting();
    answerBytes(answer, false, serialize(false));
    answer.tenant!.name = "renamed";
    const again = new TextDecoder().decode(answerBytes(answer, false, serialize(false)));
    expect(calls.n).toBe(2);
    expect(again).toContain("renamed");
  });

  it("marks a message once: marking it again keeps the bytes made", () => {
    const answer = reusedAnswer(create(GetCurrentTenantResponseSchema, {}));
    const { calls, serialize } = counting();
    const first = answerBytes(answer, false, serialize(false));
    reusedAnswer(answer);
    expect(answerBytes(answer, false, serialize(false))).toBe(first);
    expect(calls.n).toBe(1);
  });
});
