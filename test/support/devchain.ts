import { startDevChain, type DevChain } from "../../src/anchoring/devchain.js";

/**
 * An anvil dev chain on a random loopback port with automining off: a
 * transaction stays in the mempool until the test mines (`mine`), and
 * `snapshot`/`revert` (evm_snapshot / evm_revert) take mined blocks away
 * again, which is how tests make reorgs.
 */
export async function manualDevChain(): Promise<DevChain & { snapshot(): Promise<string>; revert(id: string): Promise<void>; nonceOf(address: string): Promise<number> }> {
  const chain = await startDevChain();
  await chain.rpc("evm_setAutomine", [false]);
  return Object.assign(chain, {
    snapshot: () => chain.rpc<string>("evm_snapshot"),
    async revert(id: string) {
      if (!(await chain.rpc<boolean>("evm_revert", [id]))) throw new Error(`evm_revert ${id} failed`);
    },
    async nonceOf(address: string) {
      return Number(await chain.rpc<string>("eth_getTransactionCount", [address, "latest"]));
    },
  });
}
