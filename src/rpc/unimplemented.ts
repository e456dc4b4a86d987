import type { DescService } from "@bufbuild/protobuf";
import { AnchorService } from "../../gen/ts/attesto/v1/anchor_pb.js";

/**
 * Contract services with no implementation yet: every RPC answers
 * UNIMPLEMENTED (after auth), as the README's status table says. Each
 * service leaves this list when its issue lands.
 */
export const unimplementedServices: DescService[] = [
  AnchorService,
];
