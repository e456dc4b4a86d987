import { describe, expect, it } from "vitest";
import { wantsPrettyLogs } from "./logger.js";

describe("wantsPrettyLogs", () => {
  it("is pretty on a terminal in development, JSON in production or into a pipe", () => {
    expect(wantsPrettyLogs("auto", { isTty: true, nodeEnv: undefined })).toBe(true);
    expect(wantsPrettyLogs("auto", { isTty: true, nodeEnv: "development" })).toBe(true);
    expect(wantsPrettyLogs("auto", { isTty: true, nodeEnv: "production" })).toBe(false);
    expect(wantsPrettyLogs("auto", { isTty: false, nodeEnv: undefined })).toBe(false);
  });

  it("does what ATTESTO_LOG_FORMAT says when it is not auto", () => {
    expect(wantsPrettyLogs("json", { isTty: true, nodeEnv: undefined })).toBe(false);
    expect(wantsPrettyLogs("pretty", { isTty: false, nodeEnv: "production" })).toBe(true);
  });
});
