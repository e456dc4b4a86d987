// The browser example: a tenant's streams and their latest checkpoints over
// @connectrpc/connect-web, each checkpoint opened with the stream's verifier
// key and an inclusion proof of the newest event checked in the page, with
// the same verification library the server and the CLI use.
//
// Bundle it and serve the folder (any static server; the Attesto server
// allows cross-origin calls from any origin unless ATTESTO_CORS_ORIGINS says
// otherwise):
//
//   npx esbuild examples/browser/app.ts --bundle --format=iife --outfile=examples/browser/app.js
//   npx http-server examples/browser   # or python3 -m http.server -d examples/browser
//
// `#url=…&key=…` in the address fills the form and runs at once (a fragment
// never reaches a server, so the key stays out of access logs).
import { createAttestoClient } from "../../src/client/index.js";
import { equalBytes, leafHash, openNote, parseCheckpoint, parseVerifierKey, toHex, verifyInclusion } from "../../src/verify/index.js";

/** One stream as the page shows it; `data-*` attributes carry the same for tests. */
export interface StreamCheck {
  id: string;
  name: string;
  events: number;
  checkpointSize: number;
  signature: "verified" | "failed" | "none";
  inclusion: "verified" | "failed" | "none";
  detail: string;
}

/** Lists every stream of the key's tenant and checks what the server says about each. */
export async function checkStreams(baseUrl: string, apiKey: string): Promise<StreamCheck[]> {
  const attesto = createAttestoClient({ baseUrl, apiKey });
  const out: StreamCheck[] = [];
  let pageToken = "";
  do {
    const page = await attesto.proofstreams.listStreams({ pageSize: 100, pageToken });
    for (const stream of page.streams) out.push(await checkStream(attesto, stream));
    pageToken = page.nextPageToken;
  } while (pageToken);
  return out;
}

type Client = ReturnType<typeof createAttestoClient>;
type Stream = Awaited<ReturnType<Client["proofstreams"]["listStreams"]>>["streams"][number];

async function checkStream(attesto: Client, stream: Stream): Promise<StreamCheck> {
  const base = { id: stream.id, name: stream.name, events: Number(stream.treeSize), checkpointSize: 0 };
  if (stream.checkpointSize === 0n) return { ...base, signature: "none", inclusion: "none", detail: "no checkpoint yet" };
  const { checkpoint } = await attesto.proofstreams.getCheckpoint({ streamId: stream.id });
  // The checkpoint counts only if the stream's own key signed it.
  const verifier = parseVerifierKey(stream.verifierKey);
  let body;
  try {
    const opened = openNote(checkpoint!.note, [verifier]);
    if (opened.verifiedBy.length === 0) throw new Error("no signature by the stream's key");
    body = parseCheckpoint(opened.text);
  } catch (err) {
    return { ...base, signature: "failed", inclusion: "none", detail: String(err) };
  }
  const size = body.size;
  // The newest event the checkpoint covers: its leaf bytes hash to the leaf, and the path leads to the signed root.
  const { proof } = await attesto.proofstreams.getInclusionProof({ streamId: stream.id, leaf: { case: "seqNo", value: BigInt(size) }, treeSize: BigInt(size) });
  const leaf = leafHash(proof!.leaf);
  const placed = equalBytes(leaf, proof!.leafHash) && verifyInclusion(Number(proof!.leafIndex), size, leaf, proof!.auditPath, body.root);
  return {
    ...base,
    checkpointSize: size,
    signature: "verified",
    inclusion: placed ? "verified" : "failed",
    detail: `root ${toHex(body.root).slice(0, 16)}…, event ${size}`,
  };
}

function render(rows: StreamCheck[]): void {
  const table = document.querySelector<HTMLTableElement>("#streams")!;
  const tbody = table.tBodies[0]!;
  tbody.replaceChildren(
    ...rows.map((r) => {
      const tr = document.createElement("tr");
      tr.dataset.stream = r.id;
      tr.dataset.signature = r.signature;
      tr.dataset.inclusion = r.inclusion;
      tr.dataset.checkpointSize = String(r.checkpointSize);
      for (const [text, cls] of [
        [r.id, ""],
        [r.name, ""],
        [String(r.events), ""],
        [r.checkpointSize ? `size ${r.checkpointSize}` : "—", ""],
        [r.signature, r.signature === "verified" ? "ok" : r.signature === "failed" ? "bad" : ""],
        [`${r.inclusion} (${r.detail})`, r.inclusion === "verified" ? "ok" : r.inclusion === "failed" ? "bad" : ""],
      ] as const) {
        const td = document.createElement("td");
        td.textContent = text;
        if (cls) td.className = cls;
        tr.append(td);
      }
      return tr;
    }),
  );
  table.hidden = false;
}

async function run(url: string, key: string): Promise<void> {
  const status = document.querySelector<HTMLElement>("#status")!;
  status.textContent = "checking…";
  delete status.dataset.done;
  try {
    const rows = await checkStreams(url.replace(/\/+$/, ""), key);
    render(rows);
    const failed = rows.filter((r) => r.signature === "failed" || r.inclusion === "failed").length;
    status.textContent = `${rows.length} streams, ${failed} failed a check`;
    status.dataset.done = failed ? "failed" : "ok";
  } catch (err) {
    status.textContent = `error: ${err instanceof Error ? err.message : String(err)}`;
    status.dataset.done = "error";
  }
}

if (typeof document !== "undefined") {
  const form = document.querySelector<HTMLFormElement>("#connect")!;
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const data = new FormData(form);
    void run(String(data.get("url")), String(data.get("key")));
  });
  const params = new URLSearchParams(location.hash.slice(1));
  const url = params.get("url");
  const key = params.get("key");
  if (url) (form.elements.namedItem("url") as HTMLInputElement).value = url;
  if (url && key) void run(url, key);
}
