import { timestampDate, type Duration } from "@bufbuild/protobuf/wkt";
import type { Command } from "commander";
import type { BundleShareLink } from "../../../gen/ts/attesto/v1/proofstream_pb.js";
import type { RemoteSession } from "../remote.js";

/** What these commands need of the CLI (evidence.ts's CliIo). */
interface ShareIo {
  output: (value: unknown, human: () => string) => void;
  session: (kind: "tenant") => Promise<RemoteSession>;
}

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** "90s", "30m", "12h", "7d" (or plain seconds) as a Duration; anything else is an error naming the option. */
export function durationOf(text: string, option: string): Duration {
  const m = /^([0-9]{1,9})([smhd]?)$/.exec(text.trim());
  if (!m) throw new Error(`${option}: ${text} is not a duration (e.g. 12h, 7d)`);
  return { seconds: BigInt(Number(m[1]) * UNITS[m[2] || "s"]!), nanos: 0 } as Duration;
}

/** A share link for people and for --json. */
export const shareLinkSummary = (l: BundleShareLink) => ({
  id: l.id,
  bundle_id: l.bundleId,
  url: l.url || undefined,
  token: l.token || undefined,
  expires_at: l.expiresAt ? timestampDate(l.expiresAt).toISOString() : undefined,
  revoked_at: l.revokedAt ? timestampDate(l.revokedAt).toISOString() : undefined,
});

/** `attesto bundle share` and `attesto bundle unshare`: share links of a bundle (CreateBundleShareLink, RevokeBundleShareLink). */
export function registerBundleShareCommands(bundle: Command, io: ShareIo): void {
  bundle
    .command("share <bundleId>")
    .description("create a share link: a /verify URL anyone can open without a key, until it expires or is revoked (shown once)")
    .option("--ttl <duration>", "how long it works, e.g. 12h, 7d (default 7d, at most 30d)")
    .action(async (bundleId: string, opts: { ttl?: string }) => {
      const client = (await io.session("tenant")).client.proofstreams;
      const { shareLink } = await client.createBundleShareLink({ bundleId, ttl: opts.ttl === undefined ? undefined : durationOf(opts.ttl, "--ttl") });
      const s = shareLinkSummary(shareLink!);
      io.output(s, () => `${s.url}\nshare link ${s.id} of ${s.bundle_id}, until ${s.expires_at}; revoke it with: attesto bundle unshare ${s.id}`);
    });

  bundle
    .command("unshare <shareLinkId>")
    .description("revoke a share link: its URL stops working at once")
    .action(async (shareLinkId: string) => {
      const client = (await io.session("tenant")).client.proofstreams;
      const { shareLink } = await client.revokeBundleShareLink({ shareLinkId });
      const s = shareLinkSummary(shareLink!);
      io.output(s, () => `share link ${s.id} of ${s.bundle_id} revoked at ${s.revoked_at}`);
    });
}
