/**
 * Browser entry of the /verify page (bundled by esbuild, see assets.ts). It
 * runs the verification library on what the user drops or pastes; the only
 * request it may make is fetching a bundle from this same server: a share
 * link's (`#share=<token>`) or `?bundle=<id>`.
 */
import type { VerificationReport } from "../verify/bundle.js";
import { verifyWithPolicy, type VerificationPolicy } from "../verify/policy.js";

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

let loaded: { text: string; label: string } | undefined;

function show(report: VerificationReport, ms: number): void {
  const verdict = $("verdict");
  verdict.dataset.valid = String(report.valid);
  verdict.textContent = report.valid ? "✔ Valid" : report.checks.some((c) => c.status === "fail" || c.status === "missing") ? "✘ Not valid" : "⚠ Not trusted: pin the stream's verifier key";
  const range = report.from_seq_no === report.to_seq_no ? `event ${report.from_seq_no}` : `events ${report.from_seq_no}–${report.to_seq_no}`;
  const summary = $("summary");
  summary.textContent = `${report.kind === "bundle" ? "Bundle" : "tlog-proof"} of stream ${report.stream_id || "?"} (${report.origin || "unknown origin"}): ${range}, checkpoint of size ${report.checkpoint_size}, ${report.anchors} anchor receipt${report.anchors === 1 ? "" : "s"}. Checked in ${ms.toFixed(0)} ms.`;
  Object.assign(summary.dataset, { stream: report.stream_id, from: String(report.from_seq_no), to: String(report.to_seq_no), anchors: String(report.anchors) });
  const list = $("checks");
  list.replaceChildren(
    ...report.checks.map((check) => {
      const li = document.createElement("li");
      li.dataset.check = check.name;
      li.dataset.status = check.status;
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = `${check.name}: ${check.status}`;
      li.append(name, ` — ${check.detail}`);
      return li;
    }),
  );
}

/** The policy the form states: the pinned key, witnesses and k, TSA roots (PEM), a required anchor. */
function formPolicy(): VerificationPolicy {
  const witnessKeys = $<HTMLTextAreaElement>("witness-keys")
    .value.split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
  const k = $<HTMLInputElement>("witness-k").value.trim();
  const roots = $<HTMLTextAreaElement>("tsa-roots").value.trim();
  return {
    pinnedKey: $<HTMLInputElement>("key").value.trim() || undefined,
    // A k left empty asks for every listed witness.
    witnesses: witnessKeys.length > 0 ? { keys: witnessKeys, k: k === "" ? witnessKeys.length : Number(k) } : undefined,
    tsaRoots: roots ? [roots] : undefined,
    requireAnchor: $<HTMLInputElement>("require-anchor").checked,
  };
}

/** Each run gets a number, so a slow earlier one (a timestamp on WebCrypto) never overwrites a later one's report. */
let runs = 0;

async function run(): Promise<void> {
  const text = loaded?.text ?? $<HTMLTextAreaElement>("paste").value;
  if (!text.trim()) {
    $("verdict").textContent = "Drop, choose or paste a bundle or tlog-proof first.";
    return;
  }
  const mine = ++runs;
  const started = performance.now();
  const report = await verifyWithPolicy(text, formPolicy());
  if (mine === runs) show(report, performance.now() - started);
}

function load(text: string, label: string): void {
  loaded = { text, label };
  $("source").textContent = label;
  void run();
}

async function loadFile(file: File): Promise<void> {
  load(await file.text(), `${file.name} (${file.size} bytes)`);
}

const params = new URLSearchParams(location.search);
// The fragment never reaches a server (nor a Referer): a share link carries its token there, and may carry the key.
const fragment = new URLSearchParams(location.hash.slice(1));
$<HTMLInputElement>("key").value = fragment.get("key") ?? params.get("key") ?? "";
$("verify").addEventListener("click", () => void run());
$<HTMLTextAreaElement>("paste").addEventListener("input", () => (loaded = undefined));
$<HTMLInputElement>("file").addEventListener("change", (e) => {
  const file = (e.target as HTMLInputElement).files?.[0];
  if (file) void loadFile(file);
});
const drop = $("drop");
drop.addEventListener("dragover", (e) => {
  e.preventDefault();
  drop.classList.add("over");
});
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  const file = e.dataTransfer?.files[0];
  if (file) void loadFile(file);
});

// A share link: fetch its bundle with the token in a header (not in a URL any log keeps).
const shareToken = fragment.get("share");
if (shareToken) {
  $("source").textContent = "loading the shared bundle…";
  fetch("/v1/shared-bundle", { headers: { "X-Attesto-Share-Token": shareToken }, referrerPolicy: "no-referrer" }).then(
    async (res) => {
      if (res.ok) load(await res.text(), "the shared bundle, from this server");
      else {
        const problem = res.status === 404 ? "revoked, expired or unknown" : res.status === 412 ? "for a bundle that is not ready yet; try again shortly" : "not usable";
        $("source").dataset.failed = String(res.status);
        $("source").textContent = `This share link is ${problem} (HTTP ${res.status}). Ask whoever sent it for a new one.`;
      }
    },
    () => ($("source").textContent = "could not fetch the shared bundle"),
  );
}

// A verification_url names a bundle: fetch it from this server (a tenant's private bundle needs its key, so say how to get it).
const bundleId = params.get("bundle");
if (!shareToken && bundleId && /^bundle_[0-9A-HJKMNP-TV-Z]{26}$/.test(bundleId)) {
  $("source").textContent = `loading ${bundleId}…`;
  fetch(`/bundles/${bundleId}/download`).then(
    async (res) => {
      if (res.ok) load(await res.text(), `${bundleId} from this server`);
      else
        $("source").textContent =
          `${bundleId} is not downloadable without the tenant's API key (HTTP ${res.status}): download it with \`attesto bundle download ${bundleId}\` and drop the file here, or ask the tenant for a share link (\`attesto bundle share ${bundleId}\`).`;
    },
    () => ($("source").textContent = `could not fetch ${bundleId}`),
  );
}
document.body.dataset.ready = "true";
