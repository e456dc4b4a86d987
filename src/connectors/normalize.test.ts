import { describe, expect, it } from "vitest";
import { AppError } from "../errors.js";
import { gitHubPush, gitLabPush, signedWebhookEvent } from "./normalize.js";

const fieldOf = (run: () => unknown) => {
  try {
    run();
  } catch (err) {
    return (err as AppError).details.field;
  }
  return undefined;
};

describe("connector normalization", () => {
  it("GitHub push keeps exactly the seed's metadata, keyed on the signed content (no unsigned delivery id)", () => {
    const body = { ref: "refs/heads/main", before: "sha-before", after: "sha-after", repository: { full_name: "owner/repository", pushed_at: 1780000000, private: true }, pusher: { email: "x@y" } };
    const e = gitHubPush(body);
    expect(e.payload).toEqual({ provider: "github", event: "push", repository: "owner/repository", ref: "refs/heads/main", before: "sha-before", after: "sha-after" });
    expect(e.sourceRef).toMatch(/^github:push:[0-9a-f]{64}$/);
    expect(e.occurredAt).toEqual(new Date(1780000000 * 1000));
    // The same push is the same event; each field that makes a push unique makes another one.
    expect(gitHubPush({ ...body, pusher: { email: "other" } }).sourceRef).toBe(e.sourceRef);
    expect(gitHubPush({ ...body, repository: { ...body.repository, pushed_at: "2026-05-28T20:26:40Z" } }).sourceRef).toBe(e.sourceRef);
    const others = [
      { ...body, ref: "refs/heads/other" },
      { ...body, before: "x" },
      { ...body, after: "x" },
      { ...body, repository: { ...body.repository, full_name: "owner/other" } },
      { ...body, repository: { ...body.repository, pushed_at: 1780000001 } },
    ];
    expect(new Set(others.map((o) => gitHubPush(o).sourceRef)).size).toBe(others.length);
    expect(others.map((o) => gitHubPush(o).sourceRef)).not.toContain(e.sourceRef);
    expect(fieldOf(() => gitHubPush({ ...body, ref: 5 }))).toBe("ref");
    for (const pushedAt of [Number.MAX_SAFE_INTEGER, 253_402_300_800, -1, 1.5]) {
      expect(fieldOf(() => gitHubPush({ ...body, repository: { ...body.repository, pushed_at: pushedAt } }))).toBe("repository.pushed_at");
    }
    expect(gitHubPush({ ...body, repository: { ...body.repository, pushed_at: 253_402_300_799 } }).occurredAt).toEqual(new Date("9999-12-31T23:59:59Z"));
    expect(fieldOf(() => gitHubPush({ ...body, repository: undefined }))).toBe("repository");
  });

  it("GitLab push keeps exactly the seed's metadata, timed by the head commit, keyed on the signed webhook-id or (legacy token) the content", () => {
    const body = {
      object_kind: "push",
      ref: "refs/heads/main",
      before: "sha-before",
      after: "sha-after",
      project: { path_with_namespace: "group/project", id: 1 },
      commits: [{ id: "sha-after", timestamp: "2026-06-07T14:00:00+02:00", message: "secret stuff" }],
    };
    const e = gitLabPush(body, "d-1");
    expect(e.payload).toEqual({ provider: "gitlab", event: "push", project_path: "group/project", ref: "refs/heads/main", before: "sha-before", after: "sha-after", delivery_id: "d-1" });
    expect(e.sourceRef).toBe("gitlab:d-1");
    expect(e.occurredAt).toEqual(new Date("2026-06-07T12:00:00Z"));
    expect(gitLabPush({ ...body, commits: [] }, "d-1").occurredAt).toBeUndefined();
    expect(fieldOf(() => gitLabPush({ ...body, project: {} }, "d"))).toBe("project.path_with_namespace");

    const legacy = gitLabPush(body, undefined);
    expect(legacy.payload).toEqual({ provider: "gitlab", event: "push", project_path: "group/project", ref: "refs/heads/main", before: "sha-before", after: "sha-after" });
    expect(legacy.sourceRef).toMatch(/^gitlab:push:[0-9a-f]{64}$/);
    expect(gitLabPush({ ...body, commits: [] }, undefined).sourceRef).toBe(legacy.sourceRef);
    expect(gitLabPush({ ...body, after: "other" }, undefined).sourceRef).not.toBe(legacy.sourceRef);
  });

  it("signed webhook bodies name their bad field", () => {
    const ok = { source_ref: "a", event_type: "x.y", occurred_at: "2026-06-07T12:00:00Z", payload: {} };
    expect(signedWebhookEvent(Buffer.from(JSON.stringify(ok))).occurredAt).toEqual(new Date("2026-06-07T12:00:00Z"));
    expect(fieldOf(() => signedWebhookEvent(Buffer.from(JSON.stringify({ ...ok, occurred_at: "2026-13-45T00:00:00Z" }))))).toBe("occurred_at");
    expect(fieldOf(() => signedWebhookEvent(Buffer.from("\xff")))).toBe("body");
  });
});
