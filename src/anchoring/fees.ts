/** EIP-1559 fees in wei. */
export interface Fees {
  maxFeePerGas: bigint;
  maxPriorityFeePerGas: bigint;
}

/**
 * Nodes accept a replacement (same nonce) only when both fees rise by at
 * least 10% (geth's default price bump); 12.5% and one wei clear it with a
 * margin. The replacement pays the current estimate when that is higher.
 */
export function bumpedFees(previous: Fees, estimate: Fees): Fees {
  const bump = (v: bigint) => v + (v * 125n) / 1000n + 1n;
  const maxPriorityFeePerGas = max(bump(previous.maxPriorityFeePerGas), estimate.maxPriorityFeePerGas);
  const maxFeePerGas = max(bump(previous.maxFeePerGas), estimate.maxFeePerGas, maxPriorityFeePerGas);
  return { maxFeePerGas, maxPriorityFeePerGas };
}

/** Fees for a first transaction at a nonce: the estimate, or a bump over a transaction already sent with that nonce. */
export function feesFor(estimate: Fees, sentAtNonce: Fees | undefined): Fees {
  return sentAtNonce ? bumpedFees(sentAtNonce, estimate) : { ...estimate, maxFeePerGas: max(estimate.maxFeePerGas, estimate.maxPriorityFeePerGas) };
}

const max = (...values: bigint[]) => values.reduce((a, b) => (b > a ? b : a));
