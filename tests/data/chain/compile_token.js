// Rebuild TestToken.json from TestToken.sol with solc-js (npm `solc`), offline:
//   cd /work/main && node tests/data/chain/compile_token.js
const fs = require("fs");
const path = require("path");
const solc = require(path.resolve("node_modules/solc"));
const src = fs.readFileSync(path.join(__dirname, "TestToken.sol"), "utf8");
const input = {
  language: "Solidity",
  sources: { "TestToken.sol": { content: src } },
  settings: { optimizer: { enabled: true, runs: 200 }, evmVersion: "paris",
              outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } } },
};
const out = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (out.errors || []).filter((e) => e.severity === "error");
if (errors.length) { console.error(errors); process.exit(1); }
const c = out.contracts["TestToken.sol"].TestToken;
fs.writeFileSync(path.join(__dirname, "TestToken.json"), JSON.stringify(
  { contractName: "TestToken", compiler: "solc-js " + solc.version(), abi: c.abi,
    bytecode: "0x" + c.evm.bytecode.object }, null, 1) + "\n");
console.log("wrote TestToken.json with", solc.version());
