// The local EVM dev chain (Hardhat Network) that tests and the embedded
// default anchor to: blocks are mined only on request (evm_mine) or on an
// interval set by whoever starts it, so confirmations are under control.
module.exports = {
  networks: {
    hardhat: {
      chainId: 31337,
      mining: { auto: true },
    },
  },
};
