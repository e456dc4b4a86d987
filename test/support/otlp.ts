import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";

/** What the tests read of a span from an OTLP export. */
export interface ExportedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  /** Trace ids of the spans it links to. */
  links: string[];
  service: string;
  /** Its attributes with string, integer or boolean values. */
  attributes: Record<string, string | number | boolean>;
  /** Status code: 0 unset, 1 ok, 2 error. */
  statusCode: number;
  /** Start and end, Unix nanoseconds (to the precision of a double). */
  start: number;
  end: number;
}

/** Reads the length-delimited fields of a message, skipping the rest. */
function fields(bytes: Uint8Array, visit: (field: number, value: Uint8Array) => void, scalar?: (field: number, value: number) => void): void {
  const reader = new BinaryReader(bytes);
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (wireType === WireType.LengthDelimited) visit(field, reader.bytes());
    else if (wireType === WireType.Varint && scalar) scalar(field, reader.int32());
    else if (wireType === WireType.Bit64 && scalar) scalar(field, Number(reader.fixed64()));
    else reader.skip(wireType, field);
  }
}

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const text = (b: Uint8Array) => Buffer.from(b).toString("utf8");

/** A KeyValue (key 1, value 2 → AnyValue: string_value 1, bool_value 2, int_value 3); other value kinds are left out. */
function keyValue(bytes: Uint8Array): [string, string | number | boolean | undefined] {
  let key = "";
  let value: string | number | boolean | undefined;
  fields(bytes, (f, v) => {
    if (f === 1) key = text(v);
    if (f !== 2) return;
    const reader = new BinaryReader(v);
    while (reader.pos < reader.len) {
      const [vf, wireType] = reader.tag();
      if (vf === 1 && wireType === WireType.LengthDelimited) value = reader.string();
      else if (vf === 2 && wireType === WireType.Varint) value = reader.bool();
      else if (vf === 3 && wireType === WireType.Varint) value = Number(reader.int64());
      else reader.skip(wireType, vf);
    }
  });
  return [key, value];
}

/**
 * Decodes an OTLP/HTTP protobuf ExportTraceServiceRequest
 * (opentelemetry/proto/collector/trace/v1): resource_spans = 1 →
 * resource = 1 (attributes = 1: key 1, value 2 → string_value 1),
 * scope_spans = 2 → spans = 2 → trace_id 1, span_id 2, parent_span_id 4,
 * name 5, kind 6, start 7 and end 8 (fixed64), attributes 9 (KeyValue), links 13 (trace_id 1),
 * status 15 (code 3).
 */
export function decodeTraces(body: Uint8Array): ExportedSpan[] {
  const spans: ExportedSpan[] = [];
  fields(body, (field, resourceSpans) => {
    if (field !== 1) return;
    let service = "";
    const inResource: Array<Omit<ExportedSpan, "service">> = [];
    fields(resourceSpans, (f, value) => {
      if (f === 1)
        fields(value, (af, attribute) => {
          if (af !== 1) return;
          let key = "";
          let stringValue = "";
          fields(attribute, (kf, kv) => {
            if (kf === 1) key = text(kv);
            if (kf === 2) fields(kv, (vf, v) => vf === 1 && (stringValue = text(v)));
          });
          if (key === "service.name") service = stringValue;
        });
      if (f === 2)
        fields(value, (sf, spanBytes) => {
          if (sf !== 2) return;
          const span = { traceId: "", spanId: "", parentSpanId: "", name: "", kind: 0, links: [] as string[], attributes: {} as ExportedSpan["attributes"], statusCode: 0, start: 0, end: 0 };
          fields(
            spanBytes,
            (pf, v) => {
              if (pf === 1) span.traceId = hex(v);
              else if (pf === 2) span.spanId = hex(v);
              else if (pf === 4) span.parentSpanId = hex(v);
              else if (pf === 5) span.name = text(v);
              else if (pf === 9) {
                const [key, value] = keyValue(v);
                if (value !== undefined) span.attributes[key] = value;
              } else if (pf === 13) fields(v, (lf, lv) => lf === 1 && span.links.push(hex(lv)));
              else if (pf === 15)
                fields(
                  v,
                  () => {},
                  (sf, code) => sf === 3 && (span.statusCode = code),
                );
            },
            (pf, n) => {
              if (pf === 6) span.kind = n;
              else if (pf === 7) span.start = n;
              else if (pf === 8) span.end = n;
            },
          );
          inResource.push(span);
        });
    });
    for (const span of inResource) spans.push({ ...span, service });
  });
  return spans;
}
