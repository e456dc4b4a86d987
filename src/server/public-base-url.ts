import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";

/** The file in the data folder that keeps the embedded default's public base URL across restarts. */
export const PUBLIC_BASE_URL_FILE = "public-base-url";

/** Where the public base URL in force came from. */
export type PublicBaseUrlSource = "PUBLIC_BASE_URL" | "data folder" | "listening address";

export interface PublicBaseUrlChoice {
  url: string;
  source: PublicBaseUrlSource;
  /** Write it to the data folder (the embedded default's first start). */
  persist: boolean;
}

/**
 * Which public base URL names new streams' origins. PUBLIC_BASE_URL always
 * wins. Without it, the embedded default keeps the URL of its first start in
 * the data folder, so that restarting on another port does not give new
 * streams another origin (and checkpoint key name). With DATABASE_URL and no
 * PUBLIC_BASE_URL, the listening address is used as it is (say so at start).
 */
export function choosePublicBaseUrl(input: { configured: string | undefined; stored: string | undefined; listening: string; embedded: boolean }): PublicBaseUrlChoice {
  if (input.configured) return { url: input.configured, source: "PUBLIC_BASE_URL", persist: false };
  if (input.embedded && input.stored) return { url: input.stored, source: "data folder", persist: false };
  return { url: input.listening, source: "listening address", persist: input.embedded };
}

/** The stored URL, or undefined when there is none (or it is not a URL). */
export async function readStoredPublicBaseUrl(dataDir: string): Promise<string | undefined> {
  const text = await readFile(path.join(dataDir, PUBLIC_BASE_URL_FILE), "utf8").catch(() => undefined);
  const url = text?.trim();
  if (!url || !URL.canParse(url)) return undefined;
  return url;
}

export async function storePublicBaseUrl(dataDir: string, url: string): Promise<void> {
  await mkdir(dataDir, { recursive: true });
  await writeFile(path.join(dataDir, PUBLIC_BASE_URL_FILE), url + "\n");
}

/** The origin new streams get, with the stream id left as a placeholder. */
export const originPattern = (publicBaseUrl: string) => `${new URL(publicBaseUrl).host}/proofstreams/<stream id>`;
