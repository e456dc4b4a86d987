import { readFileSync } from "node:fs";
import path from "node:path";
import { pageOf, pageWindow, type PageRequest } from "../db/pagination.js";
import { invalidArgument } from "../errors.js";
import { projectRoot } from "../paths.js";
import { WEBHOOK_EVENT_TYPES, type WebhookEventType } from "./event-types.js";

/** One event type of the catalogue (ListEventTypes, GET /v1/event-types). */
export interface EventTypeEntry {
  name: WebhookEventType;
  description: string;
  /** The JSON Schema (draft 2020-12) of the body's `data`, as in schemas/events/<name>.schema.json. */
  dataSchema: Record<string, unknown>;
  example: Record<string, unknown>;
  sinceVersion: string;
}

/** Where the schemas of the event types' `data` live (shipped with the package). */
export const eventSchemasFolder = () => path.join(projectRoot(), "schemas", "events");

let catalogue: EventTypeEntry[] | undefined;

/** The catalogue, read once from schemas/events/: one schema per type, its description, first example and since-version inside it. */
export function eventCatalogue(): EventTypeEntry[] {
  catalogue ??= WEBHOOK_EVENT_TYPES.map((name) => {
    const schema = JSON.parse(readFileSync(path.join(eventSchemasFolder(), `${name}.schema.json`), "utf8")) as Record<string, unknown> & {
      description: string;
      examples: Array<Record<string, unknown>>;
      "x-attesto-since-version": string;
    };
    return { name, description: schema.description, dataSchema: schema, example: schema.examples[0]!, sinceVersion: schema["x-attesto-since-version"] };
  });
  return catalogue;
}

/** One page of the catalogue, in its order; the token continues after the last type's name. */
export function eventCataloguePage(page: PageRequest = {}): { eventTypes: EventTypeEntry[]; nextPageToken: string } {
  const win = pageWindow(page);
  const all = eventCatalogue();
  const start = win.after === undefined ? 0 : all.findIndex((e) => e.name === win.after) + 1;
  if (start === 0 && win.after !== undefined) throw invalidArgument("page_token", "names no event type");
  const { items, nextPageToken } = pageOf(all.slice(start, start + win.fetch), win, (e) => e.name);
  return { eventTypes: items, nextPageToken };
}
