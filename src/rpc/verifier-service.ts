import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { BundleCheckSchema, type VerifierService } from "../../gen/ts/attesto/v1/verifier_pb.js";
import { invalidArgument } from "../errors.js";
import { requestPolicy, type Verifier } from "../verifier/module.js";
import { checkOk } from "../verify/bundle.js";
import { isTlogProof } from "../verify/tlog-proof.js";

/** VerifierService: public, offline, the same library as every other verifier (on the verifier threads). */
export function verifierService(verifier: Verifier): ServiceImpl<typeof VerifierService> {
  return {
    async verifyBundle(req) {
      if (req.tlogProof && !isTlogProof(req.tlogProof)) throw invalidArgument("tlog_proof", "must start with the line c2sp.org/tlog-proof@v1");
      const policy = requestPolicy({ verifierKey: req.verifierKey, witnessKeys: req.witnessKeys, witnessK: req.witnessK, tsaRoots: req.tsaRoots, requireAnchor: req.requireAnchor });
      const report = await verifier.verify(req.bundleJson || req.tlogProof, policy);
      return {
        valid: report.valid,
        checks: report.checks.map((c) => create(BundleCheckSchema, { name: c.name, ok: checkOk(c), detail: c.detail, status: c.status })),
        streamId: report.stream_id,
        fromSeqNo: BigInt(report.from_seq_no),
        toSeqNo: BigInt(report.to_seq_no),
        checkpointSize: BigInt(report.checkpoint_size),
        origin: report.origin,
        kind: report.kind,
        entries: BigInt(report.entries),
        anchors: BigInt(report.anchors),
      };
    },
  };
}
