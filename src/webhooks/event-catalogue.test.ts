import { Ajv2020 } from "ajv/dist/2020.js";
import { describe, expect, it } from "vitest";
import { eventCatalogue } from "./event-catalogue.js";
import { sampleEventData, WEBHOOK_EVENT_TYPES } from "./event-types.js";

const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });

describe("the event catalogue (schemas/events/)", () => {
  it("has one entry per event type, in order, with a description and a version", () => {
    const entries = eventCatalogue();
    expect(entries.map((e) => e.name)).toEqual([...WEBHOOK_EVENT_TYPES]);
    for (const e of entries) {
      expect(e.description.length, e.name).toBeGreaterThan(20);
      expect(e.sinceVersion).toMatch(/^\d+\.\d+\.\d+$/);
      expect(e.dataSchema.$id).toBe(`https://attesto.eu/schemas/events/${e.name}.schema.json`);
    }
  });

  it("each example and each SendTestEvent sample is valid against its type's schema", () => {
    for (const e of eventCatalogue()) {
      const validate = ajv.compile(e.dataSchema);
      expect(validate(e.example), `${e.name} example: ${ajv.errorsText(validate.errors)}`).toBe(true);
      const sample = sampleEventData(e.name, "https://attesto.example");
      expect(validate(sample), `${e.name} sample: ${ajv.errorsText(validate.errors)}`).toBe(true);
    }
  });

  it("a schema refuses data of another shape (the check can fail)", () => {
    const confirmed = eventCatalogue().find((e) => e.name === "batch.confirmed")!;
    const validate = ajv.compile(confirmed.dataSchema);
    expect(validate({ ...confirmed.example, chain_id: "1" })).toBe(false);
    const { root: _, ...withoutRoot } = confirmed.example;
    expect(validate(withoutRoot)).toBe(false);
  });
});

describe("the catalogue's pages", () => {
  it("pages in order and refuses a token it did not make", async () => {
    const { eventCataloguePage } = await import("./event-catalogue.js");
    const first = eventCataloguePage({ pageSize: 4 });
    const second = eventCataloguePage({ pageSize: 4, pageToken: first.nextPageToken });
    const third = eventCataloguePage({ pageSize: 4, pageToken: second.nextPageToken });
    expect([...first.eventTypes, ...second.eventTypes, ...third.eventTypes].map((e) => e.name)).toEqual([...WEBHOOK_EVENT_TYPES]);
    expect(third.nextPageToken).toBe("");
    expect(() => eventCataloguePage({ pageToken: "bm9wZQ" })).toThrow(/page_token/);
  });
});
