import { timestampFromDate, type Timestamp } from "@bufbuild/protobuf/wkt";

/** A domain time as a contract Timestamp (unset for null). */
export const ts = (d: Date | null | undefined): Timestamp | undefined => (d ? timestampFromDate(d) : undefined);
