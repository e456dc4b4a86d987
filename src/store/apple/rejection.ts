/** Why an Apple-signed payload was not accepted; these are the answers' `error_code`s. */
export type AppleRejectionReason =
  "unsupported_algorithm" | "chain_invalid" | "signature_invalid" | "certificate_expired" | "certificate_revoked" | "app_mismatch" | "environment_mismatch" | "not_apple_signed";

/**
 * A signed payload that did not verify. It is an answer (valid = false and
 * the reason), not a failure of the call, so it is not an AppError.
 */
export class AppleJwsRejection extends Error {
  override readonly name = "AppleJwsRejection";
  constructor(
    readonly reason: AppleRejectionReason,
    message: string,
  ) {
    super(message);
  }
}
