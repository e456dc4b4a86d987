export interface RequestIdSettings {
  /** How long a request id is remembered. */
  windowMs: number;
  /** How often expired rows are deleted. */
  purgeEveryMs: number;
}

/** Ten minutes, the window the contract promises (README, "Contract conventions"): no variable changes it. */
export const requestIdSettings = (): RequestIdSettings => ({ windowMs: 10 * 60_000, purgeEveryMs: 60_000 });
