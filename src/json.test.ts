import { describe, expect, it } from "vitest";
import { AppError } from "./errors.js";
import { jsonObjectOrUndefined, parseJsonObject } from "./json.js";

describe("the server's JSON body reader", () => {
  const fieldAndMessage = (f: () => unknown) => {
    try {
      f();
    } catch (err) {
      expect(err).toBeInstanceOf(AppError);
      return [(err as AppError).details.field, (err as AppError).message];
    }
    throw new Error("did not throw");
  };

  it("a provider notification nested 8 M deep is refused by its shape, naming the field, before it is built", () => {
    const body = `{"signedPayload":${"[".repeat(8_000_000)}${"]".repeat(8_000_000)}}`;
    expect(fieldAndMessage(() => parseJsonObject(body))).toEqual(["body", "body: is nested deeper than 64 levels"]);
    expect(fieldAndMessage(() => parseJsonObject(Buffer.from(body), "message.data"))).toEqual(["message.data", "message.data: is nested deeper than 64 levels"]);
  });

  it("not JSON, or not an object: 'must be a JSON object'; a subject names the part", () => {
    expect(fieldAndMessage(() => parseJsonObject("{not json"))).toEqual(["body", "body: must be a JSON object"]);
    expect(fieldAndMessage(() => parseJsonObject("[1,2]", "signed_payload", "the JWS payload"))).toEqual(["signed_payload", "signed_payload: the JWS payload must be a JSON object"]);
    expect(parseJsonObject(new TextEncoder().encode('{"é":1}'))).toEqual({ é: 1 });
    expect(jsonObjectOrUndefined("[]")).toBeUndefined();
    expect(jsonObjectOrUndefined('{"errorCode":4040010}')).toEqual({ errorCode: 4040010 });
  });
});
