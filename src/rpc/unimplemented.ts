import type { DescService } from "@bufbuild/protobuf";
import { AnchorService } from "../../gen/ts/attesto/v1/anchor_pb.js";
import { ConnectorService } from "../../gen/ts/attesto/v1/connector_pb.js";
import { StoreVerificationService } from "../../gen/ts/attesto/v1/store_pb.js";

/**
 * Contract services with no implementation yet: every RPC answers
 * UNIMPLEMENTED (after auth), as the README's status table says. Each
 * service leaves this list when its issue lands.
 */
export const unimplementedServices: DescService[] = [
  ConnectorService,
  AnchorService,
  StoreVerificationService,
];
