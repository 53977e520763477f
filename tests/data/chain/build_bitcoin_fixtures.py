"""Write the Bitcoin fixtures in this directory (constructed from the documented formats; see README.md).

    /tmp/cwvenv/bin/python tests/data/chain/build_bitcoin_fixtures.py

One logical chain (heights 800000..800001, tip 800002) is rendered twice: as Bitcoin Core JSON-RPC results
(`bitcoin_core_rpc.json`: "<method> <params as JSON>" -> result, getblock at verbosity 2 and 3) and as
Esplora REST bodies (`esplora.json`: path -> body). Hashes are sha256 of names, scripts are placeholders.
"""

import hashlib
import json
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).parent
TIP = 800002

BINANCE_A = "1PJiGp2yDLvUgqeBsuZVCBADArNsk6XEiw"   # binance (DefiLlama)
BINANCE_B = "1Pzaqw98PeRfyHypfqyEgg5yycJRsENrE7"   # binance (DefiLlama)
COINBASE = "12DezRFkKToAiLTDNru1g7FuvtAWMwCZ7N"    # coinbase (DefiLlama)
KRAKEN_BECH32 = "bc1q02cq8du8r7ktuy5l0ltc4cv82xnaw4upaaw8y4rq6uycdp0k5nmquljtzk"  # kraken (DefiLlama)
WHALE = "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"       # unlabelled
OTHER = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"  # unlabelled
MINER = "3Eif1JfqeMERRsQHtvGEacNN9hhuvnsfe9"       # unlabelled


def h(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def spk_type(addr):
    return {"1": "pubkeyhash", "3": "scripthash"}.get(addr[0], "witness_v0_keyhash" if len(addr) == 42 else "witness_v0_scripthash")


# logical txs: (name, inputs [(addr, btc)] or "coinbase", outputs [(addr, btc)])
BLOCKS = {
    800000: [
        ("cb0", "coinbase", [(MINER, "3.20000000")]),
        ("deposit", [(WHALE, "600.00000000")], [(BINANCE_A, "500.00000000"), (WHALE, "99.99900000")]),
        ("sweep", [(BINANCE_B, "250.50000000")], [(BINANCE_A, "250.00000000"), (BINANCE_B, "0.49990000")]),
        ("small", [(WHALE, "2.00000000")], [(COINBASE, "1.50000000"), (WHALE, "0.49900000")]),
    ],
    800001: [
        ("cb1", "coinbase", [(MINER, "3.21000000")]),
        ("p2p", [(WHALE, "1000.10000000")], [(OTHER, "1000.00000000"), (COINBASE, "0.09900000")]),
        ("withdraw", [(COINBASE, "301.00000000")], [(OTHER, "300.00000000"), (COINBASE, "0.99000000")]),
        ("bech32in", [(OTHER, "150.00000000")], [(KRAKEN_BECH32, "149.99000000")]),
    ] + [(f"filler{i}", [(OTHER, "0.01000000")], [(WHALE, "0.00900000")]) for i in range(30)],
}
TIMES = {800000: 1723000000, 800001: 1723000600}


def core_spk(addr):
    return {"asm": "OP_PLACEHOLDER", "desc": f"addr({addr})#placeholder", "hex": "00" * 22,
            "address": addr, "type": spk_type(addr)}


def core_tx(name, ins, outs, height, verbosity):
    if ins == "coinbase":
        vin = [{"coinbase": "03" + h(name)[:16], "txinwitness": ["00" * 32], "sequence": 4294967295}]
    else:
        vin = []
        for k, (addr, val) in enumerate(ins):
            v = {"txid": h(f"prev-{name}-{k}"), "vout": 0, "scriptSig": {"asm": "", "hex": ""},
                 "txinwitness": ["30" * 36, "02" * 33], "sequence": 4294967293}
            if verbosity >= 3:
                v["prevout"] = {"generated": False, "height": height - 10, "value": float(Decimal(val)),
                                "scriptPubKey": core_spk(addr)}
            vin.append(v)
    vout = [{"value": float(Decimal(val)), "n": n, "scriptPubKey": core_spk(addr)} for n, (addr, val) in enumerate(outs)]
    return {"txid": h(name), "hash": h(name + "w"), "version": 2, "size": 222, "vsize": 141, "weight": 561,
            "locktime": 0, "vin": vin, "vout": vout, "hex": "02000000" + "00" * 8}


def core_block(height, verbosity):
    txs = BLOCKS[height]
    return {"hash": h(f"block{height}"), "confirmations": TIP - height + 1, "size": 1500000, "strippedsize": 800000,
            "weight": 3993000, "height": height, "version": 536870912, "versionHex": "20000000",
            "merkleroot": h(f"merkle{height}"), "tx": [core_tx(n, i, o, height, verbosity) for n, i, o in txs],
            "time": TIMES[height], "mediantime": TIMES[height] - 1800, "nonce": 12345, "bits": "17034219",
            "difficulty": 83148355189239.77, "chainwork": "00" * 32, "nTx": len(txs),
            "previousblockhash": h(f"block{height - 1}"), "nextblockhash": h(f"block{height + 1}")}


def esplora_vout(addr, val):
    return {"scriptpubkey": "00" * 22, "scriptpubkey_asm": "OP_PLACEHOLDER",
            "scriptpubkey_type": {"pubkeyhash": "p2pkh", "scripthash": "p2sh"}.get(spk_type(addr), "v0_p2wpkh"),
            "scriptpubkey_address": addr.lower() if addr.lower().startswith("bc1") else addr,
            "value": int(Decimal(val) * 100_000_000)}


def esplora_tx(name, ins, outs, height):
    if ins == "coinbase":
        vin = [{"txid": "00" * 32, "vout": 4294967295, "prevout": None, "scriptsig": "03" + h(name)[:16],
                "scriptsig_asm": "OP_PUSHBYTES_3", "witness": ["00" * 32], "is_coinbase": True, "sequence": 4294967295}]
    else:
        vin = [{"txid": h(f"prev-{name}-{k}"), "vout": 0, "prevout": esplora_vout(addr, val), "scriptsig": "",
                "scriptsig_asm": "", "witness": ["30" * 36, "02" * 33], "is_coinbase": False, "sequence": 4294967293}
               for k, (addr, val) in enumerate(ins)]
    return {"txid": h(name), "version": 2, "locktime": 0, "vin": vin,
            "vout": [esplora_vout(a, v) for a, v in outs], "size": 222, "weight": 561, "fee": 1000,
            "status": {"confirmed": True, "block_height": height, "block_hash": h(f"block{height}"),
                       "block_time": TIMES[height]}}


def main():
    rpc = {"getblockcount []": TIP}
    esplora = {"/blocks/tip/height": str(TIP)}
    for height, txs in BLOCKS.items():
        bh = h(f"block{height}")
        rpc[f"getblockhash [{height}]"] = bh
        for v in (2, 3):
            rpc[f'getblock ["{bh}", {v}]'] = core_block(height, v)
        esplora[f"/block-height/{height}"] = bh
        esplora[f"/block/{bh}"] = {"id": bh, "height": height, "version": 536870912, "timestamp": TIMES[height],
                                   "tx_count": len(txs), "size": 1500000, "weight": 3993000,
                                   "merkle_root": h(f"merkle{height}"), "previousblockhash": h(f"block{height - 1}"),
                                   "mediantime": TIMES[height] - 1800, "nonce": 12345, "bits": 386089497,
                                   "difficulty": 83148355189239.77}
        all_txs = [esplora_tx(n, i, o, height) for n, i, o in txs]
        for start in range(0, len(all_txs), 25):
            esplora[f"/block/{bh}/txs/{start}"] = all_txs[start:start + 25]
    (HERE / "bitcoin_core_rpc.json").write_text(json.dumps(rpc, indent=1) + "\n")
    (HERE / "esplora.json").write_text(json.dumps(esplora, indent=1) + "\n")


if __name__ == "__main__":
    main()
