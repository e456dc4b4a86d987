// The servers of bench:hotpaths's witnessing comparison (issue 23: appends never wait for witnesses or
// TSAs): two Attesto deployments on fresh databases with the same settings, one of them sending every
// signed checkpoint to two witnesses (two more Attesto deployments with a witness key, each trusting the
// stream's log) and to a local openssl TSA; the other with neither. Each has a tenant and one stream.
import { generateKeyPairSync } from "node:crypto";
import type { ChildProcess } from "node:child_process";
import { ed25519FromSeed, ed25519RawPublic } from "../src/crypto/note-signing.js";
import { verifierKeyString } from "../src/verify/note.js";
import { witnessPrivateKeyString } from "../src/witness/protocol.js";
import { benchDatabase, benchTenant, rpc, serveEnv, spawnNode, stop } from "./lib.js";

export interface BenchDeployment {
  url: string;
  pid: number;
  key: string;
  streamId: string;
}

function witnessKey(name: string) {
  const seed = Buffer.from(generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" }).d!, "base64url");
  const pub = ed25519RawPublic(ed25519FromSeed(seed));
  return { name, privateKey: witnessPrivateKeyString(name, seed, pub), vkey: verifierKeyString(name, pub, 0x04) };
}

/** `parts` says what the witnessed deployment is given: both (the configuration), or one of them to tell their costs apart. */
export async function startWitnessing(adminToken: string, serveArgs: string[], env: Record<string, string>, parts: { witnesses: boolean; tsa: boolean } = { witnesses: true, tsa: true }) {
  const children: ChildProcess[] = [];
  const databases: Array<{ drop(): Promise<void> }> = [];
  const tsa = await spawnNode(["bench/baselines/openssl-tsa.ts"], {}, /listening (\S+) (\S+)/);
  children.push(tsa.child);
  const [tsaUrl, tsaRoots] = [tsa.match[1]!, tsa.match[2]!];
  let tsaQueries = 0;
  tsa.child.stdout!.on("data", (d: Buffer) => {
    const m = /queries (\d+)/.exec(String(d));
    if (m) tsaQueries = Number(m[1]);
  });
  const serve = async (name: string, extra: Record<string, string>, args: string[] = []) => {
    const db = await benchDatabase();
    databases.push(db);
    const spawned = await spawnNode(["src/cli/main.ts", "--json", "serve", "--port", "0", ...args], { ...serveEnv(db.url, adminToken, name), ...env, ...extra }, /"url": "([^"]+)"/);
    children.push(spawned.child);
    return { url: spawned.match[1]!, pid: spawned.child.pid! };
  };
  const keys = [witnessKey("witness-1.bench.attesto.test/w"), witnessKey("witness-2.bench.attesto.test/w")];
  const witnesses = await Promise.all(keys.map((k, i) => serve(`witness-${i + 1}`, { ATTESTO_WITNESS_KEY: k.privateKey })));
  const deployment = async (name: string, extra: Record<string, string>): Promise<BenchDeployment> => {
    const server = await serve(name, extra, serveArgs);
    const { key } = await benchTenant(server.url, adminToken, name);
    const { stream } = await rpc<{ stream: { id: string; verifierKey: string } }>(server.url, "ProofstreamService/CreateStream", { name }, key);
    return { ...server, key, streamId: stream.id, verifierKey: stream.verifierKey } as BenchDeployment & { verifierKey: string };
  };
  const plain = await deployment("plain", {});
  const witnessed = (await deployment("witnessed", {
    ...(parts.witnesses ? { ATTESTO_WITNESSES: JSON.stringify(keys.map((k, i) => ({ key: k.vkey, url: `${witnesses[i]!.url}/witness` }))) } : {}),
    ...(parts.tsa ? { ATTESTO_TSA_URLS: tsaUrl, ATTESTO_TSA_ROOTS: tsaRoots } : {}),
  })) as BenchDeployment & { verifierKey: string };
  // Each witness trusts the witnessed stream's log, so it cosigns instead of answering 404.
  for (const w of witnesses) await rpc(w.url, "AdminService/AddWitnessedLog", { verifierKey: witnessed.verifierKey }, adminToken);

  /** The witnessed stream's latest checkpoint: its size, the cosignature lines it carries and whether it has a timestamp token. */
  const evidence = async () => {
    const { checkpoint } = await rpc<{ checkpoint: { treeSize: string; note: string; timestampToken?: string } }>(
      witnessed.url,
      "ProofstreamService/GetCheckpoint",
      { streamId: witnessed.streamId },
      witnessed.key,
    );
    const origin = checkpoint.note.split("\n")[0]!;
    const cosignatures = checkpoint.note.split("\n").filter((l) => l.startsWith("— ") && !l.startsWith(`— ${origin} `)).length;
    return { treeSize: Number(checkpoint.treeSize), cosignatures, timestamped: (checkpoint.timestampToken ?? "").length > 0 };
  };

  const close = async () => {
    await Promise.all(children.map((c) => stop(c)));
    for (const db of databases) await db.drop();
  };
  /** The TSA's requests answered, known once it stopped (after close). */
  return { plain, witnessed, tsaQueries: () => tsaQueries, evidence, close };
}
